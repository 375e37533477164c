#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

//! ## Source layout
//!
//! | module | what |
//! |---|---|
//! | `channel` | [`ReverbChannel`], its [`Channel`](marketsync_core::Channel) impl delegating to the three below, the capabilities and the rule texts of what Reverb cannot do |
//! | `listings` | listing reads (by SKU or the whole shop), updates, creation, ending |
//! | `orders` | order downloads (updated-since watermark), reads by number, shipments, refunds, cancellation |
//! | `auth` | the personal access token and `verify` |
//! | [`config`] | [`ReverbConfig`] (a serde type) and its builder |
//! | `client` | the HTTP calls |
//! | `wire`, `convert` | Reverb's JSON as sent, and its reading into domain types (crate-private) |
//! | `decode` | response bodies read without a network (public with the `fuzzing` feature) |
//! | [`error`] | [`parse_error`] and [`ConfigError`] |

mod auth;
mod channel;
mod client;
pub mod config;
mod convert;
#[cfg(feature = "fuzzing")]
pub mod decode;
#[cfg(not(feature = "fuzzing"))]
#[allow(unreachable_pub, dead_code)]
mod decode;
pub mod error;
mod listings;
mod orders;
mod wire;

pub use channel::{
    ACKNOWLEDGE_UNSUPPORTED, AUTHORIZATION_UNSUPPORTED, PARTIAL_CANCEL_UNSUPPORTED, ReverbChannel,
    capabilities,
};
pub use client::{ACCEPT_VERSION, HAL_JSON};
pub use config::{
    DEFAULT_BASE_URL, DEFAULT_CONNECTION_NAME, DEFAULT_ORDER_OVERLAP, DEFAULT_PAGE_SIZE,
    DEFAULT_REQUESTS_PER_SECOND, MAX_PAGE_SIZE, ReverbConfig, ReverbConfigBuilder,
    SANDBOX_BASE_URL,
};
pub use error::{ConfigError, parse_error};
