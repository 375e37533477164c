#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

pub mod behaviour;
pub mod channel;
pub mod checks;
pub mod intercept;
pub mod openapi;
pub mod store;
