//! Fuzz target `allegro_orders`: runs `marketsync_fuzz::checks::allegro_orders` (shared with the corpus replay
//! test) on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| marketsync_fuzz::checks::allegro_orders(data));
