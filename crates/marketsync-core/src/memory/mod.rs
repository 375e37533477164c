//! In-memory implementations for tests and examples.

mod channel;
mod store;

pub use crate::engine::catalog::MemoryCatalog;
pub use crate::engine::notify::MemoryNotifier;
pub use channel::{FailureRule, MemoryChannel, MemoryChannelStats};
pub use store::MemoryStore;
