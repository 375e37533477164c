#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
//!
//! # Layout
//!
//! - `channel`: [`AllegroChannel`] and its [`Channel`](marketsync_core::Channel)
//!   implementation, which hands each operation to `listings`, `orders` or `auth`;
//! - `listings`, `orders`, `auth`: the operations, by concern;
//! - [`config`]: [`AllegroConfig`] (a serde type) and its builder;
//! - `client`: the HTTP calls and the token manager;
//! - `wire`, `convert`: Allegro's JSON as it is sent, and its mapping onto domain types;
//! - `decode`: whole response bodies to domain types (public with the `fuzzing` feature);
//! - [`error`]: `parse_error` and [`ConfigError`].

mod auth;
mod channel;
mod client;
pub mod config;
pub(crate) mod convert;
#[cfg(feature = "fuzzing")]
pub mod decode;
#[cfg(not(feature = "fuzzing"))]
pub(crate) mod decode;
pub mod error;
mod listings;
mod orders;
pub(crate) mod wire;

pub use channel::{ACKNOWLEDGE_UNSUPPORTED, AllegroChannel, CANCEL_UNSUPPORTED};
pub use config::{
    AllegroConfig, AllegroConfigBuilder, CommandPolling, Environment, REQUESTS_PER_MINUTE,
};
pub use convert::login_session;
pub use error::{ConfigError, parse_error};
pub use listings::{MAX_EXTERNAL_IDS, MAX_OFFERS_PAGE, MAX_OFFERS_PER_COMMAND};
pub use orders::{MAX_ORDERS_PAGE, ORDER_EVENT_TYPES};
