//! The adapter's configuration: where Tradera is, the developer application's credentials (app
//! id, app key, public key), the seller's login session when one exists already, the daily call
//! budget, and how listings and orders are exchanged.
//!
//! Built with [`TraderaConfig::builder`], or read from a config file: [`TraderaConfig`] is a
//! serde type (unknown fields are refused; the app key and the session are read but never
//! written), checked when the adapter is made
//! ([`TraderaChannel::new`](crate::TraderaChannel::new)). `Debug` is written by hand and never
//! prints the app key or the user token.
//!
//! ```
//! # use marketsync_tradera::{TraderaChannel, TraderaConfig};
//! let config: TraderaConfig = serde_json::from_str(r#"{
//!     "app_id": 1234,
//!     "app_key": "00000000-0000-0000-0000-000000000000",
//!     "public_key": "pk-1",
//!     "daily_budget": 5000
//! }"#)?;
//! let channel = TraderaChannel::new(config)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use marketsync_core::{ChannelKind, Clock, SecretString, SystemClock};
use marketsync_http::adapter::{deserialize_base_url, opt_seconds, seconds};
use marketsync_http::{Limits, RateLimiter, RetryPolicy};
use secrecy::ExposeSecret;
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use crate::error::ConfigError;

/// The production host. Every path the adapter calls starts with `v4/`.
pub const DEFAULT_BASE_URL: &str = "https://api.tradera.com/";

/// The page where the seller logs in and approves the application (the 2026 path used by
/// Tradera's own tooling; the older `tokenlogin.aspx` takes the same parameters).
pub const DEFAULT_LOGIN_URL: &str = "https://api.tradera.com/token-login";

/// The connection name used when none is given.
pub const DEFAULT_CONNECTION_NAME: &str = "Tradera";

/// Tradera's documented default quota: 100 calls per 24 hours for all methods, per
/// application. Raised by Tradera on request (apiadmin@tradera.com).
pub const DEFAULT_DAILY_BUDGET: u32 = 100;

/// How long a request may wait for a permit of the daily budget before it is refused with
/// `RateLimited` (carrying the time until the budget renews). A daily budget renews in hours,
/// never in seconds, so this is short: an exhausted budget stops the operation at once.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5);

/// How far before the stored order cursor the next download starts. Three hours: Tradera's
/// date-times may be Swedish local time without an offset (unconfirmed; the adapter reads a
/// date-time without offset as UTC), which is one or two hours off; the engine drops orders it
/// has already seen, and the overlap costs no call.
pub const DEFAULT_ORDER_OVERLAP: Duration = Duration::from_secs(3 * 60 * 60);

/// The window of the first order download when the engine gives no created-since time.
pub const DEFAULT_FIRST_WINDOW: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The most listings one batch call carries (quantities and prices of shop items). Tradera's
/// maximum is unconfirmed; large batches save calls from the daily budget.
pub const MAX_BATCH: u32 = 100;

/// The listings ended per engine batch: one `DELETE` each, and their queued results polled once
/// per batch.
pub const END_BATCH: u32 = 25;

/// The retry policy by default: every retry spends a call of the daily budget, so at most one
/// retry, and a `Retry-After` slept only up to 30 s.
pub fn default_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        max_retry_after: Duration::from_secs(30),
        ..RetryPolicy::default()
    }
}

/// The login session the adapter acts with (Tradera's user id and token, with the token's hard
/// expiry). In a config file: `{"user_id": .., "token": "..", "expires_at": ".."}`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Session {
    pub(crate) user_id: i64,
    pub(crate) token: SecretString,
    #[serde(default)]
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The configuration of one Tradera integration.
///
/// As a config file (every field but `app_id` and `app_key` may be left out):
///
/// | field | default |
/// |---|---|
/// | `base_url` | [`DEFAULT_BASE_URL`] |
/// | `login_url` | [`DEFAULT_LOGIN_URL`] |
/// | `app_id` | required |
/// | `app_key` | required; read, never written |
/// | `public_key` | none (needed to start a login) |
/// | `session` | none; `{"user_id", "token", "expires_at"}`, read, never written |
/// | `connection_name` | [`DEFAULT_CONNECTION_NAME`] |
/// | `daily_budget` | [`DEFAULT_DAILY_BUDGET`] |
/// | `category_id` | none |
/// | `poll_queued` | `true` |
/// | `order_overlap_secs` | [`DEFAULT_ORDER_OVERLAP`] |
/// | `first_window_secs` | [`DEFAULT_FIRST_WINDOW`] |
/// | `order_window_secs` | none |
///
/// The retry policy, the rate limits, a shared rate limiter and the clock are set in code
/// ([`TraderaConfigBuilder`]).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TraderaConfig {
    #[serde(
        default = "default_base_url",
        deserialize_with = "deserialize_base_url"
    )]
    pub(crate) base_url: Url,
    #[serde(
        default = "default_login_url",
        deserialize_with = "deserialize_login_url"
    )]
    pub(crate) login_url: Url,
    pub(crate) app_id: i64,
    #[serde(skip_serializing)]
    pub(crate) app_key: SecretString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) public_key: Option<String>,
    #[serde(default, skip_serializing)]
    pub(crate) session: Option<Session>,
    #[serde(default = "default_connection_name")]
    pub(crate) connection_name: String,
    #[serde(default = "default_daily_budget")]
    pub(crate) daily_budget: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) category_id: Option<i32>,
    #[serde(default = "yes")]
    pub(crate) poll_queued: bool,
    #[serde(
        rename = "order_overlap_secs",
        default = "default_order_overlap",
        with = "seconds"
    )]
    pub(crate) order_overlap: Duration,
    #[serde(
        rename = "first_window_secs",
        default = "default_first_window",
        with = "seconds"
    )]
    pub(crate) first_window: Duration,
    #[serde(
        rename = "order_window_secs",
        default,
        with = "opt_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) order_window: Option<Duration>,
    #[serde(skip, default = "default_retry")]
    pub(crate) retry: RetryPolicy,
    /// `None`: derived from the daily budget ([`TraderaConfig::limits`]).
    #[serde(skip)]
    pub(crate) limits: Option<Limits>,
    #[serde(skip)]
    pub(crate) rate_limiter: Option<RateLimiter>,
    #[serde(skip, default = "system_clock")]
    pub(crate) clock: Arc<dyn Clock>,
}

fn default_base_url() -> Url {
    Url::parse(DEFAULT_BASE_URL).expect("the default base URL parses")
}

fn default_login_url() -> Url {
    Url::parse(DEFAULT_LOGIN_URL).expect("the default login URL parses")
}

fn login_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("it must be an http or https URL".into());
    }
    Ok(url)
}

fn deserialize_login_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let text = String::deserialize(d)?;
    login_url(&text).map_err(|e| serde::de::Error::custom(format!("login_url `{text}`: {e}")))
}

fn default_connection_name() -> String {
    DEFAULT_CONNECTION_NAME.to_owned()
}

fn default_daily_budget() -> u32 {
    DEFAULT_DAILY_BUDGET
}

fn yes() -> bool {
    true
}

fn default_order_overlap() -> Duration {
    DEFAULT_ORDER_OVERLAP
}

fn default_first_window() -> Duration {
    DEFAULT_FIRST_WINDOW
}

fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

impl fmt::Debug for TraderaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraderaConfig")
            .field(
                "base_url",
                &marketsync_core::redact::RedactedUrl(&self.base_url),
            )
            .field(
                "login_url",
                &marketsync_core::redact::RedactedUrl(&self.login_url),
            )
            .field("app_id", &self.app_id)
            .field("app_key", &"[REDACTED]")
            .field("public_key", &self.public_key)
            .field("session", &self.session)
            .field("connection_name", &self.connection_name)
            .field("daily_budget", &self.daily_budget)
            .field("category_id", &self.category_id)
            .field("poll_queued", &self.poll_queued)
            .field("order_overlap", &self.order_overlap)
            .field("order_window", &self.order_window)
            .field("retry", &self.retry)
            .field("limits", &self.limits())
            .finish_non_exhaustive()
    }
}

impl TraderaConfig {
    /// A builder. The app id and the app key are required.
    pub fn builder() -> TraderaConfigBuilder {
        TraderaConfigBuilder::default()
    }

    /// The configuration if every value is usable, else the field that is not.
    /// [`TraderaConfigBuilder::build`] and [`TraderaChannel::new`](crate::TraderaChannel::new)
    /// check with it.
    pub fn checked(self) -> Result<Self, ConfigError> {
        let wrong =
            |field, reason: &str| Err(ConfigError::invalid(ChannelKind::Tradera, field, reason));
        if self.app_id <= 0 {
            return wrong("app_id", "must be a positive number");
        }
        if self.app_key.expose_secret().trim().is_empty() {
            return wrong("app_key", "must not be empty");
        }
        if self
            .public_key
            .as_deref()
            .is_some_and(|k| k.trim().is_empty())
        {
            return wrong("public_key", "must not be empty");
        }
        if let Some(s) = &self.session
            && (s.user_id <= 0 || s.token.expose_secret().trim().is_empty())
        {
            return wrong("session", "needs a positive user id and a token");
        }
        if self.connection_name.trim().is_empty() {
            return wrong("connection_name", "must not be empty");
        }
        if self.daily_budget == 0 {
            return wrong("daily_budget", "must be at least one call");
        }
        if self.order_window.is_some_and(|w| w.is_zero()) {
            return wrong("order_window_secs", "must not be zero");
        }
        Ok(self)
    }

    /// The limits of the adapter's own rate limiter: those set with
    /// [`TraderaConfigBuilder::limits`], else the daily budget with [`DEFAULT_MAX_WAIT`].
    pub(crate) fn limits(&self) -> Limits {
        self.limits.clone().unwrap_or_else(|| {
            Limits::default()
                .per_day(self.daily_budget)
                .max_wait(DEFAULT_MAX_WAIT)
        })
    }

    /// The API host (ending in `/`).
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The token-login page.
    pub fn login_url(&self) -> &Url {
        &self.login_url
    }

    /// The application's id (`X-App-Id`).
    pub fn app_id(&self) -> i64 {
        self.app_id
    }

    /// The connection's display name.
    pub fn connection_name(&self) -> &str {
        &self.connection_name
    }

    /// Calls allowed per 24 hours.
    pub fn daily_budget(&self) -> u32 {
        self.daily_budget
    }

    /// The category new shop items are created in, when set.
    pub fn category_id(&self) -> Option<i32> {
        self.category_id
    }

    /// Whether queued requests (prices, new and removed shop items) are confirmed with one
    /// `GET /v4/listings/request-results` per batch.
    pub fn poll_queued(&self) -> bool {
        self.poll_queued
    }

    /// How far before the stored cursor an order download starts.
    pub fn order_overlap(&self) -> Duration {
        self.order_overlap
    }

    /// The longest date range of one order call, when limited.
    pub fn order_window(&self) -> Option<Duration> {
        self.order_window
    }
}

/// Builds a [`TraderaConfig`]; [`build`](Self::build) reports what is missing.
pub struct TraderaConfigBuilder {
    base_url: String,
    login_url: String,
    app_id: Option<i64>,
    app_key: Option<SecretString>,
    public_key: Option<String>,
    session: Option<Session>,
    connection_name: Option<String>,
    daily_budget: u32,
    category_id: Option<i32>,
    poll_queued: bool,
    order_overlap: Duration,
    first_window: Duration,
    order_window: Option<Duration>,
    retry: RetryPolicy,
    limits: Option<Limits>,
    rate_limiter: Option<RateLimiter>,
    clock: Arc<dyn Clock>,
}

impl Default for TraderaConfigBuilder {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            login_url: DEFAULT_LOGIN_URL.to_owned(),
            app_id: None,
            app_key: None,
            public_key: None,
            session: None,
            connection_name: None,
            daily_budget: DEFAULT_DAILY_BUDGET,
            category_id: None,
            poll_queued: true,
            order_overlap: DEFAULT_ORDER_OVERLAP,
            first_window: DEFAULT_FIRST_WINDOW,
            order_window: None,
            retry: default_retry(),
            limits: None,
            rate_limiter: None,
            clock: system_clock(),
        }
    }
}

impl fmt::Debug for TraderaConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraderaConfigBuilder")
            .field(
                "base_url",
                &marketsync_core::redact::redact_url_str(&self.base_url),
            )
            .field(
                "login_url",
                &marketsync_core::redact::redact_url_str(&self.login_url),
            )
            .field("app_id", &self.app_id)
            .field("app_key", &self.app_key.as_ref().map(|_| "[REDACTED]"))
            .field("public_key", &self.public_key)
            .field("session", &self.session)
            .field("connection_name", &self.connection_name)
            .field("daily_budget", &self.daily_budget)
            .finish_non_exhaustive()
    }
}

impl TraderaConfigBuilder {
    /// The API host (default [`DEFAULT_BASE_URL`]); tests point it at a mock server.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The token-login page (default [`DEFAULT_LOGIN_URL`]).
    pub fn login_url(mut self, url: impl Into<String>) -> Self {
        self.login_url = url.into();
        self
    }

    /// The application's id (required): Tradera Developer Center → the application (`AppId`).
    pub fn app_id(mut self, app_id: i64) -> Self {
        self.app_id = Some(app_id);
        self
    }

    /// The application's service key (required; a GUID), sent as `X-App-Key`.
    pub fn app_key(mut self, key: SecretString) -> Self {
        self.app_key = Some(key);
        self
    }

    /// The application's public key (`pkey` of the token-login URL); needed to start a login.
    pub fn public_key(mut self, key: impl Into<String>) -> Self {
        self.public_key = Some(key.into());
        self
    }

    /// A login session obtained earlier (the seller's Tradera user id, the token and its hard
    /// expiry). Usually handed over by the engine instead
    /// ([`Channel::use_credentials`](marketsync_core::Channel::use_credentials)).
    pub fn session(
        mut self,
        user_id: i64,
        token: SecretString,
        expires_at: Option<DateTime<Utc>>,
    ) -> Self {
        self.session = Some(Session {
            user_id,
            token,
            expires_at,
        });
        self
    }

    /// The connection's display name (default [`DEFAULT_CONNECTION_NAME`]).
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = Some(name.into());
        self
    }

    /// Calls allowed per 24 hours (default [`DEFAULT_DAILY_BUDGET`]): what Tradera granted the
    /// application. Reported in the capabilities and enforced by the rate limiter.
    pub fn daily_budget(mut self, calls: u32) -> Self {
        self.daily_budget = calls;
        self
    }

    /// The Tradera category new shop items are created in (`categoryId`).
    pub fn category_id(mut self, id: i32) -> Self {
        self.category_id = Some(id);
        self
    }

    /// Whether queued requests are confirmed with one `GET /v4/listings/request-results` per
    /// batch (default `true`; `false` saves that call).
    pub fn poll_queued(mut self, poll: bool) -> Self {
        self.poll_queued = poll;
        self
    }

    /// How far before the stored cursor an order download starts (default
    /// [`DEFAULT_ORDER_OVERLAP`]).
    pub fn order_overlap(mut self, overlap: Duration) -> Self {
        self.order_overlap = overlap;
        self
    }

    /// The window of the first order download when the engine gives none (default
    /// [`DEFAULT_FIRST_WINDOW`]).
    pub fn first_window(mut self, window: Duration) -> Self {
        self.first_window = window;
        self
    }

    /// The longest date range of one order call (default: none, one call per download).
    /// Tradera's maximum range is unconfirmed; set this if it refuses long ranges.
    pub fn order_window(mut self, window: Duration) -> Self {
        self.order_window = Some(window);
        self
    }

    /// The retry policy (default [`default_retry`]). Every attempt spends a call of the budget.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces the limits derived from the daily budget (`Limits::per_day(budget)` with
    /// [`DEFAULT_MAX_WAIT`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// A rate limiter shared with the other integrations of the same application: Tradera
    /// counts the budget per application, and the adapter keys it by app id. Replaces
    /// [`limits`](Self::limits).
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// The wall clock used to check the session's hard expiry (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration, or the field that is missing or wrong.
    pub fn build(self) -> Result<TraderaConfig, ConfigError> {
        TraderaConfig {
            base_url: marketsync_http::adapter::base_url(&self.base_url)
                .map_err(|e| ConfigError::invalid(ChannelKind::Tradera, "base_url", e))?,
            login_url: login_url(&self.login_url)
                .map_err(|e| ConfigError::invalid(ChannelKind::Tradera, "login_url", e))?,
            app_id: self
                .app_id
                .ok_or(ConfigError::missing(ChannelKind::Tradera, "app_id"))?,
            app_key: self
                .app_key
                .ok_or(ConfigError::missing(ChannelKind::Tradera, "app_key"))?,
            public_key: self.public_key,
            session: self.session,
            connection_name: self.connection_name.unwrap_or_else(default_connection_name),
            daily_budget: self.daily_budget,
            category_id: self.category_id,
            poll_queued: self.poll_queued,
            order_overlap: self.order_overlap,
            first_window: self.first_window,
            order_window: self.order_window,
            retry: self.retry,
            limits: self.limits,
            rate_limiter: self.rate_limiter,
            clock: self.clock,
        }
        .checked()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> TraderaConfigBuilder {
        TraderaConfig::builder()
            .app_id(1234)
            .app_key(SecretString::from("app-key-1"))
    }

    #[test]
    fn defaults() {
        let c = base().build().unwrap();
        assert_eq!(c.base_url().as_str(), DEFAULT_BASE_URL);
        assert_eq!(c.login_url().as_str(), DEFAULT_LOGIN_URL);
        assert_eq!(c.connection_name(), DEFAULT_CONNECTION_NAME);
        assert_eq!(c.daily_budget(), DEFAULT_DAILY_BUDGET);
        assert!(c.poll_queued());
        assert_eq!(c.order_overlap(), DEFAULT_ORDER_OVERLAP);
        assert_eq!(c.order_window(), None);
        assert_eq!(c.limits().quotas().len(), 1);
        assert_eq!(c.limits().quotas()[0].count.get(), DEFAULT_DAILY_BUDGET);
        assert_eq!(c.limits().quotas()[0].period, Duration::from_secs(86_400));
        assert_eq!(c.limits().max_wait_duration(), DEFAULT_MAX_WAIT);
        let c = base().daily_budget(10_000).build().unwrap();
        assert_eq!(c.limits().quotas()[0].count.get(), 10_000);
    }

    #[test]
    fn what_is_missing() {
        assert_eq!(
            TraderaConfig::builder()
                .app_key(SecretString::from("k"))
                .build()
                .unwrap_err(),
            ConfigError::missing(ChannelKind::Tradera, "app_id")
        );
        assert_eq!(
            TraderaConfig::builder().app_id(1).build().unwrap_err(),
            ConfigError::missing(ChannelKind::Tradera, "app_key")
        );
        assert!(base().app_key(SecretString::from(" ")).build().is_err());
        assert!(base().app_id(0).build().is_err());
        assert!(base().base_url("ftp://x").build().is_err());
        assert!(base().login_url("nope").build().is_err());
        assert!(base().public_key("").build().is_err());
        assert!(base().daily_budget(0).build().is_err());
        assert!(base().connection_name(" ").build().is_err());
        assert!(
            base()
                .session(0, SecretString::from("t"), None)
                .build()
                .is_err()
        );
        assert!(base().order_window(Duration::ZERO).build().is_err());
    }

    #[test]
    fn a_config_file_reads_with_defaults_and_writes_no_secret() {
        let c: TraderaConfig = serde_json::from_str(
            r#"{"app_id": 77, "app_key": "app-key-secret-5", "public_key": "pk",
                "session": {"user_id": 42, "token": "user-token-secret-6", "expires_at": "2027-01-01T00:00:00Z"},
                "daily_budget": 5000, "order_window_secs": 86400}"#,
        )
        .unwrap();
        let c = c.checked().unwrap();
        assert_eq!(c.app_id(), 77);
        assert_eq!(c.base_url().as_str(), DEFAULT_BASE_URL);
        assert_eq!(c.login_url().as_str(), DEFAULT_LOGIN_URL);
        assert_eq!(c.daily_budget(), 5000);
        assert_eq!(c.limits().quotas()[0].count.get(), 5000);
        assert_eq!(c.order_window(), Some(Duration::from_secs(86_400)));
        assert_eq!(c.order_overlap(), DEFAULT_ORDER_OVERLAP);
        assert!(c.poll_queued());
        assert_eq!(c.session.as_ref().map(|s| s.user_id), Some(42));
        let written = serde_json::to_string(&c).unwrap();
        for secret in ["app-key-secret-5", "user-token-secret-6"] {
            assert!(!written.contains(secret), "{written}");
            assert!(!format!("{c:?}").contains(secret));
        }
        assert!(!written.contains("app_key") && !written.contains("session"));
        assert!(written.contains("\"order_window_secs\":86400"), "{written}");
    }

    #[test]
    fn a_config_file_names_the_field_that_is_wrong() {
        let unknown = serde_json::from_str::<TraderaConfig>(
            r#"{"app_id": 1, "app_key": "k", "dayly_budget": 5}"#,
        )
        .unwrap_err();
        assert!(unknown.to_string().contains("dayly_budget"), "{unknown}");
        let missing = serde_json::from_str::<TraderaConfig>(r#"{"app_id": 1}"#).unwrap_err();
        assert!(missing.to_string().contains("app_key"), "{missing}");
        let url = serde_json::from_str::<TraderaConfig>(
            r#"{"app_id": 1, "app_key": "k", "login_url": "nope"}"#,
        )
        .unwrap_err();
        assert!(url.to_string().contains("login_url"), "{url}");
        let zero: TraderaConfig =
            serde_json::from_str(r#"{"app_id": 1, "app_key": "k", "daily_budget": 0}"#).unwrap();
        assert_eq!(zero.checked().unwrap_err().field(), "daily_budget");
    }
}
