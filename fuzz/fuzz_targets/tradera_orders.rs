//! Fuzz target `tradera_orders`: runs `marketsync_fuzz::checks::tradera_orders` (shared with the corpus replay
//! test) on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| marketsync_fuzz::checks::tradera_orders(data));
