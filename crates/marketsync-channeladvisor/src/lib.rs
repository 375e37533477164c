#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
//!
//! # Layout
//!
//! - `channel`: [`ChannelAdvisorChannel`] and its [`Channel`](marketsync_core::Channel)
//!   implementation, which hands each operation to `listings`, `orders` or `auth`;
//! - `listings`, `orders`, `auth`: the operations, by concern;
//! - [`config`]: [`ChannelAdvisorConfig`] (a serde type) and its builder;
//! - `client`: the HTTP calls and the `$batch` round trip;
//! - `wire`, `convert`: ChannelAdvisor's JSON as it is sent, and its mapping onto domain types;
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

pub use auth::offerup_credentials;
pub use channel::{ChannelAdvisorChannel, PUBLISH_UNSUPPORTED};
pub use client::{CONCURRENT_REQUESTS, MAX_BATCH, REQUESTS_PER_MINUTE};
pub use config::{
    ChannelAdvisorConfig, ChannelAdvisorConfigBuilder, PriceField, QuantityUpdateType,
    ShippingMethodText,
};
pub use error::{ConfigError, parse_error};
pub use listings::{CATALOGUE_MAX_PRODUCTS, CATALOGUE_MIN_CHUNKS, LISTINGS_PER_UPDATE};
pub use orders::ORDERS_BY_ID_PER_REQUEST;
