//! In-memory implementations for tests and examples.

mod channel;

pub use channel::{FailureRule, MemoryChannel, MemoryChannelStats};
