//! Fuzz target `ca_multipart`: runs `marketsync_fuzz::checks::ca_multipart` (shared with the corpus replay
//! test) on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| marketsync_fuzz::checks::ca_multipart(data));
