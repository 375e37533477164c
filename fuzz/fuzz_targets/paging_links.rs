//! Fuzz target `paging_links`: runs `marketsync_fuzz::checks::paging_links` (shared with the corpus replay
//! test) on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| marketsync_fuzz::checks::paging_links(data));
