#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod error;
mod migrations;
mod notices;
mod stock;
mod store;
mod work;

pub use migrations::SCHEMA_VERSION;
pub use store::{DEFAULT_BUSY_TIMEOUT, ImportLogEntry, Location, SqliteOptions, SqliteStore};
