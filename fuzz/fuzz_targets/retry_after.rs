//! Fuzz target `retry_after`: runs `marketsync_fuzz::checks::retry_after` (shared with the corpus replay
//! test) on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| marketsync_fuzz::checks::retry_after(data));
