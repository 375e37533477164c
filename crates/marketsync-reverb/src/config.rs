//! The adapter's configuration: where Reverb is, the personal access token, the connection's
//! name and default currency (what a seller sets up for a Reverb connection), and how listings and orders are
//! exchanged.
//!
//! Built with [`ReverbConfig::builder`], or read from a config file: [`ReverbConfig`] is a
//! serde type (unknown fields are refused; the token is read but never written), checked when
//! the adapter is made ([`ReverbChannel::new`](crate::ReverbChannel::new)). `Debug` is written by
//! hand and never prints the token.
//!
//! ```
//! # use marketsync_reverb::{ReverbChannel, ReverbConfig};
//! let config: ReverbConfig = serde_json::from_str(r#"{
//!     "token": "my-personal-access-token",
//!     "default_currency": "USD",
//!     "shipping_profile_id": "1234",
//!     "order_overlap_secs": 600
//! }"#)?;
//! let channel = ReverbChannel::new(config)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Duration;

use marketsync_core::{ChannelKind, Currency, SecretString};
use marketsync_http::adapter::{deserialize_base_url, seconds};
use marketsync_http::{Limits, RateLimiter, RetryPolicy};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::ConfigError;

/// The production host. Every path the adapter calls starts with `api/` (Reverb's base path is
/// `https://api.reverb.com/api`).
pub const DEFAULT_BASE_URL: &str = "https://api.reverb.com/";

/// The sandbox host: separate accounts and separate tokens (made at
/// `sandbox.reverb.com/my/api_settings`). Whether it is still up is unconfirmed.
pub const SANDBOX_BASE_URL: &str = "https://sandbox.reverb.com/";

/// The connection name used when none is given.
pub const DEFAULT_CONNECTION_NAME: &str = "Reverb";

/// How far before the stored order cursor the next download starts (the engine drops orders it
/// has already seen): covers clock granularity and orders updated while a download was running.
pub const DEFAULT_ORDER_OVERLAP: Duration = Duration::from_secs(5 * 60);

/// The page size asked for when the engine does not ask for one (`per_page`): the largest
/// sent, [`MAX_PAGE_SIZE`], so that downloading `m` orders costs `ceil(m / 100)` requests
/// (Reverb's own default is 24).
pub const DEFAULT_PAGE_SIZE: u32 = MAX_PAGE_SIZE;

/// The largest `per_page` sent. Reverb documents no maximum (unconfirmed); its own plugins and
/// other clients use 50 to 100. Were Reverb to cap it lower, it would answer smaller pages with
/// `_links.next`, which the adapter follows: nothing is missed.
pub const MAX_PAGE_SIZE: u32 = 100;

/// Requests per second the adapter allows itself by default. Reverb publishes no rate limit;
/// the fact sheet recommends at most about 4 requests a second with backoff on 429 (a client
/// practice, low confidence). Change it with [`ReverbConfigBuilder::limits`].
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 4;

/// The configuration of one Reverb integration.
///
/// As a config file (every field but `token` and `default_currency` may be left out):
///
/// | field | default |
/// |---|---|
/// | `base_url` | [`DEFAULT_BASE_URL`] |
/// | `token` | required; read, never written |
/// | `connection_name` | [`DEFAULT_CONNECTION_NAME`] |
/// | `default_currency` | required (`"USD"`) |
/// | `shipping_profile_id` | none |
/// | `send_notification` | `true` |
/// | `sync_titles` | `false` |
/// | `order_overlap_secs` | [`DEFAULT_ORDER_OVERLAP`] |
/// | `page_size` | [`DEFAULT_PAGE_SIZE`] |
///
/// The retry policy, the rate limits and a shared rate limiter are set in code
/// ([`ReverbConfigBuilder`]).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReverbConfig {
    #[serde(
        default = "default_base_url",
        deserialize_with = "deserialize_base_url"
    )]
    pub(crate) base_url: Url,
    #[serde(skip_serializing)]
    pub(crate) token: SecretString,
    #[serde(default = "default_connection_name")]
    pub(crate) connection_name: String,
    pub(crate) default_currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shipping_profile_id: Option<String>,
    #[serde(default = "yes")]
    pub(crate) send_notification: bool,
    #[serde(default)]
    pub(crate) sync_titles: bool,
    #[serde(
        rename = "order_overlap_secs",
        default = "default_order_overlap",
        with = "seconds"
    )]
    pub(crate) order_overlap: Duration,
    #[serde(default = "default_page_size")]
    pub(crate) page_size: u32,
    #[serde(skip)]
    pub(crate) retry: RetryPolicy,
    #[serde(skip, default = "default_limits")]
    pub(crate) limits: Limits,
    #[serde(skip)]
    pub(crate) rate_limiter: Option<RateLimiter>,
}

fn default_base_url() -> Url {
    Url::parse(DEFAULT_BASE_URL).expect("the default base URL parses")
}

fn default_connection_name() -> String {
    DEFAULT_CONNECTION_NAME.to_owned()
}

fn yes() -> bool {
    true
}

fn default_order_overlap() -> Duration {
    DEFAULT_ORDER_OVERLAP
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

fn default_limits() -> Limits {
    Limits::default().per_second(DEFAULT_REQUESTS_PER_SECOND)
}

impl fmt::Debug for ReverbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReverbConfig")
            .field(
                "base_url",
                &marketsync_core::redact::RedactedUrl(&self.base_url),
            )
            .field("token", &"[REDACTED]")
            .field("connection_name", &self.connection_name)
            .field("default_currency", &self.default_currency)
            .field("shipping_profile_id", &self.shipping_profile_id)
            .field("send_notification", &self.send_notification)
            .field("sync_titles", &self.sync_titles)
            .field("order_overlap", &self.order_overlap)
            .field("page_size", &self.page_size)
            .field("retry", &self.retry)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ReverbConfig {
    /// A builder. The token and the default currency are required.
    pub fn builder() -> ReverbConfigBuilder {
        ReverbConfigBuilder::default()
    }

    /// The configuration if every value is usable (the token and the names not blank, a page
    /// size of at least 1, larger ones lowered to [`MAX_PAGE_SIZE`]), else the field that is
    /// not. [`ReverbConfigBuilder::build`] and [`ReverbChannel::new`](crate::ReverbChannel::new)
    /// check with it.
    pub fn checked(mut self) -> Result<Self, ConfigError> {
        let blank =
            |field, reason: &str| Err(ConfigError::invalid(ChannelKind::Reverb, field, reason));
        if self.token.expose_secret().trim().is_empty() {
            return blank("token", "must not be empty");
        }
        if self.connection_name.trim().is_empty() {
            return blank("connection_name", "must not be empty");
        }
        if self
            .shipping_profile_id
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return blank("shipping_profile_id", "must not be empty");
        }
        if self.page_size == 0 {
            return blank("page_size", "must be at least 1");
        }
        self.page_size = self.page_size.min(MAX_PAGE_SIZE);
        Ok(self)
    }

    /// The API host (ending in `/`).
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The connection's display name ("the name for this integration").
    pub fn connection_name(&self) -> &str {
        &self.connection_name
    }

    /// The currency of listings and of orders that carry none ("Default currency").
    pub fn default_currency(&self) -> Currency {
        self.default_currency
    }

    /// The shipping profile new listings are created with, when set.
    pub fn shipping_profile_id(&self) -> Option<&str> {
        self.shipping_profile_id.as_deref()
    }

    /// Whether Reverb e-mails the buyer when a shipment is reported.
    pub fn send_notification(&self) -> bool {
        self.send_notification
    }

    /// Whether listing updates also send the title.
    pub fn sync_titles(&self) -> bool {
        self.sync_titles
    }

    /// How far before the stored cursor an order download starts.
    pub fn order_overlap(&self) -> Duration {
        self.order_overlap
    }

    /// The page size used when the engine asks for none.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }
}

/// Builds a [`ReverbConfig`]; [`build`](Self::build) reports what is missing.
pub struct ReverbConfigBuilder {
    base_url: String,
    token: Option<SecretString>,
    connection_name: Option<String>,
    default_currency: Option<Currency>,
    shipping_profile_id: Option<String>,
    send_notification: bool,
    sync_titles: bool,
    order_overlap: Duration,
    page_size: u32,
    retry: RetryPolicy,
    limits: Limits,
    rate_limiter: Option<RateLimiter>,
}

impl Default for ReverbConfigBuilder {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            token: None,
            connection_name: None,
            default_currency: None,
            shipping_profile_id: None,
            send_notification: true,
            sync_titles: false,
            order_overlap: DEFAULT_ORDER_OVERLAP,
            page_size: DEFAULT_PAGE_SIZE,
            retry: RetryPolicy::default(),
            limits: default_limits(),
            rate_limiter: None,
        }
    }
}

impl fmt::Debug for ReverbConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReverbConfigBuilder")
            .field(
                "base_url",
                &marketsync_core::redact::redact_url_str(&self.base_url),
            )
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("connection_name", &self.connection_name)
            .field("default_currency", &self.default_currency)
            .field("shipping_profile_id", &self.shipping_profile_id)
            .finish_non_exhaustive()
    }
}

impl ReverbConfigBuilder {
    /// The API host (default [`DEFAULT_BASE_URL`]; [`SANDBOX_BASE_URL`] for the sandbox); tests
    /// point it at a mock server.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The personal access token (required): Reverb → Settings → API & Integrations
    /// (`reverb.com/my/api_settings`). It needs at least the scopes `read_listings
    /// write_listings read_orders write_orders read_profile`.
    pub fn token(mut self, token: SecretString) -> Self {
        self.token = Some(token);
        self
    }

    /// The connection's display name (default [`DEFAULT_CONNECTION_NAME`]).
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = Some(name.into());
        self
    }

    /// The currency of listings and of orders that carry none (required).
    pub fn default_currency(mut self, currency: Currency) -> Self {
        self.default_currency = Some(currency);
        self
    }

    /// The shop's shipping profile new listings are created with (`shipping_profile_id`; list
    /// them with `GET /api/shops/{shop_id}/shipping_profiles`). Without one, Reverb uses the
    /// shop's defaults or asks for shipping rates before the listing can go live.
    pub fn shipping_profile_id(mut self, id: impl Into<String>) -> Self {
        self.shipping_profile_id = Some(id.into());
        self
    }

    /// Whether Reverb e-mails the buyer when a shipment is reported (default `true`).
    pub fn send_notification(mut self, send: bool) -> Self {
        self.send_notification = send;
        self
    }

    /// Whether listing updates also send the inventory item's title (default `false`: the
    /// title on Reverb is left as the seller wrote it there).
    pub fn sync_titles(mut self, sync: bool) -> Self {
        self.sync_titles = sync;
        self
    }

    /// How far before the stored cursor an order download starts (default
    /// [`DEFAULT_ORDER_OVERLAP`]).
    pub fn order_overlap(mut self, overlap: Duration) -> Self {
        self.order_overlap = overlap;
        self
    }

    /// The page size used when the engine asks for none (default [`DEFAULT_PAGE_SIZE`], at most
    /// [`MAX_PAGE_SIZE`]).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// The retry policy of every request (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The limits of this adapter's own rate limiter (default
    /// [`DEFAULT_REQUESTS_PER_SECOND`] a second; `Limits::none()` for none).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// A rate limiter shared with other integrations (keyed by connection name); replaces
    /// [`limits`](Self::limits).
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// The configuration, or the field that is missing or wrong.
    pub fn build(self) -> Result<ReverbConfig, ConfigError> {
        ReverbConfig {
            base_url: marketsync_http::adapter::base_url(&self.base_url)
                .map_err(|e| ConfigError::invalid(ChannelKind::Reverb, "base_url", e))?,
            token: self
                .token
                .ok_or(ConfigError::missing(ChannelKind::Reverb, "token"))?,
            connection_name: self.connection_name.unwrap_or_else(default_connection_name),
            default_currency: self.default_currency.ok_or(ConfigError::missing(
                ChannelKind::Reverb,
                "default_currency",
            ))?,
            shipping_profile_id: self.shipping_profile_id,
            send_notification: self.send_notification,
            sync_titles: self.sync_titles,
            order_overlap: self.order_overlap,
            page_size: self.page_size,
            retry: self.retry,
            limits: self.limits,
            rate_limiter: self.rate_limiter,
        }
        .checked()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ReverbConfigBuilder {
        ReverbConfig::builder()
            .token(SecretString::from("tok-123456"))
            .default_currency(Currency::USD)
    }

    #[test]
    fn defaults() {
        let c = base().build().unwrap();
        assert_eq!(c.base_url().as_str(), DEFAULT_BASE_URL);
        assert_eq!(c.connection_name(), DEFAULT_CONNECTION_NAME);
        assert_eq!(c.page_size(), DEFAULT_PAGE_SIZE);
        assert_eq!(c.page_size(), 100, "orders are read 100 a page");
        assert!(c.send_notification());
        assert!(!c.sync_titles());
        assert_eq!(c.order_overlap(), DEFAULT_ORDER_OVERLAP);
        let c = base()
            .base_url("https://sandbox.reverb.com")
            .page_size(500)
            .build()
            .unwrap();
        assert_eq!(c.base_url().as_str(), SANDBOX_BASE_URL);
        assert_eq!(c.page_size(), MAX_PAGE_SIZE);
    }

    #[test]
    fn what_is_missing() {
        assert_eq!(
            ReverbConfig::builder()
                .default_currency(Currency::USD)
                .build()
                .unwrap_err(),
            ConfigError::missing(ChannelKind::Reverb, "token")
        );
        assert_eq!(
            ReverbConfig::builder()
                .token(SecretString::from("t"))
                .build()
                .unwrap_err(),
            ConfigError::missing(ChannelKind::Reverb, "default_currency")
        );
        assert!(base().token(SecretString::from(" ")).build().is_err());
        assert!(base().base_url("ftp://x").build().is_err());
        assert!(base().connection_name("").build().is_err());
        assert!(base().shipping_profile_id(" ").build().is_err());
        assert!(base().page_size(0).build().is_err());
    }

    #[test]
    fn a_config_file_reads_with_defaults_and_writes_no_token() {
        let c: ReverbConfig = serde_json::from_str(
            r#"{"token": "tok-secret-9", "default_currency": "EUR", "base_url": "https://sandbox.reverb.com", "order_overlap_secs": 60}"#,
        )
        .unwrap();
        let c = c.checked().unwrap();
        assert_eq!(c.base_url().as_str(), SANDBOX_BASE_URL);
        assert_eq!(c.default_currency(), Currency::EUR);
        assert_eq!(c.connection_name(), DEFAULT_CONNECTION_NAME);
        assert_eq!(c.order_overlap(), Duration::from_secs(60));
        assert_eq!(c.page_size(), DEFAULT_PAGE_SIZE);
        assert!(c.send_notification() && !c.sync_titles());
        let written = serde_json::to_value(&c).unwrap();
        assert!(written.get("token").is_none(), "{written}");
        assert_eq!(written["order_overlap_secs"], 60);
        assert!(!written.to_string().contains("tok-secret-9"));
        assert!(!format!("{c:?}").contains("tok-secret-9"));
        assert!(format!("{c:?}").contains("[REDACTED]"));
    }

    #[test]
    fn a_config_file_names_the_field_that_is_wrong() {
        let unknown = serde_json::from_str::<ReverbConfig>(
            r#"{"token": "t", "default_currency": "USD", "tokne": "x"}"#,
        )
        .unwrap_err();
        assert!(unknown.to_string().contains("tokne"), "{unknown}");
        let missing =
            serde_json::from_str::<ReverbConfig>(r#"{"default_currency": "USD"}"#).unwrap_err();
        assert!(missing.to_string().contains("token"), "{missing}");
        let url = serde_json::from_str::<ReverbConfig>(
            r#"{"token": "t", "default_currency": "USD", "base_url": "ftp://x"}"#,
        )
        .unwrap_err();
        assert!(url.to_string().contains("base_url"), "{url}");
        let zero: ReverbConfig =
            serde_json::from_str(r#"{"token": "t", "default_currency": "USD", "page_size": 0}"#)
                .unwrap();
        assert_eq!(zero.checked().unwrap_err().field(), "page_size");
    }
}
