#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod error;
mod migrations;
mod notices;
mod pages;
mod stock;
mod store;
mod work;

pub use migrations::{MIGRATION_LOCK, SCHEMA_VERSION};
pub use sqlx::postgres::PgConnectOptions;
pub use store::{ACQUIRE_TIMEOUT, DEFAULT_POOL_SIZE, ImportLogEntry, PostgresStore};
