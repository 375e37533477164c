#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

pub mod adapter;
pub mod batch;
pub mod classify;
pub mod client;
pub mod cursor;
pub mod limit;
pub mod oauth;
pub mod retry;
pub mod tls;

pub use classify::{ErrorResponse, ParseError, channel_message, classify};
pub use client::{
    Auth, HttpClient, HttpClientBuilder, HttpResponse, RequestBuilder, USER_AGENT, copy_error,
};
pub use cursor::CursorHold;
pub use limit::{DEFAULT_GUARD_PERMILLE, Limits, Permit, Quota, RateLimiter};
pub use oauth::{
    AuthorizationCodeStart, ClientAuth, DeviceAuthorization, DevicePoll, OAuthClient, OAuthConfig,
    TokenManager, TokenOptions, TokenSet, TokenStore, classify_token_error,
};
pub use retry::{RetryNotice, RetryPolicy, parse_retry_after, retry_after};
pub use tls::client_builder;

/// Re-exported so adapters name the same HTTP types as this crate.
pub use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
pub use reqwest::{Method, StatusCode};
pub use url::Url;
