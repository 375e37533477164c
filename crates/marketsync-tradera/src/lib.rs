#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

//! ## Source layout
//!
//! | module | what |
//! |---|---|
//! | `channel` | [`TraderaChannel`], its [`Channel`](marketsync_core::Channel) impl delegating to the three below, the capabilities and the rule texts of what Tradera cannot do |
//! | `listings` | the seller-items read, batched updates, shop item creation, ending, queued results |
//! | `orders` | order downloads by date window, reads by id, shipments |
//! | `auth` | token login, the login session, `verify` |
//! | [`config`] | [`TraderaConfig`] (a serde type) and its builder |
//! | `client` | the HTTP calls and the daily budget |
//! | `wire`, `convert` | Tradera's JSON as sent, and its reading into domain types (crate-private) |
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
    ACKNOWLEDGE_UNSUPPORTED, CANCEL_UNSUPPORTED, REFUND_UNSUPPORTED, TraderaChannel, capabilities,
};
pub use client::JSON;
pub use config::{
    DEFAULT_BASE_URL, DEFAULT_CONNECTION_NAME, DEFAULT_DAILY_BUDGET, DEFAULT_FIRST_WINDOW,
    DEFAULT_LOGIN_URL, DEFAULT_MAX_WAIT, DEFAULT_ORDER_OVERLAP, END_BATCH, MAX_BATCH,
    TraderaConfig, TraderaConfigBuilder, default_retry,
};
pub use error::{ConfigError, EXHAUSTED_WAIT, parse_error};
pub use listings::{QueuedResult, RESULT_OK};
pub use orders::ORDERS_BY_ID_BATCH;
