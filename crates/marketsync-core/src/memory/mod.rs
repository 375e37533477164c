//! In-memory implementations for tests and examples.

mod catalog;
mod channel;
mod notices;
mod notify;
mod store;

pub use catalog::MemoryCatalog;
pub use channel::{FailureRule, MemoryChannel, MemoryChannelStats};
pub use notify::MemoryNotifier;
pub use store::MemoryStore;
