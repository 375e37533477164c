#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

pub mod email;
pub mod error;
pub mod webhook;

pub use email::{EmailConfig, EmailTransport, Security};
pub use error::ConfigError;
pub use webhook::{WebhookConfig, WebhookPayload, WebhookSecret, WebhookTransport};
