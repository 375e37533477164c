//! Fuzz target `channeladvisor_orders`: runs `marketsync_fuzz::checks::channeladvisor_orders` (shared with the corpus replay
//! test) on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| marketsync_fuzz::checks::channeladvisor_orders(data));
