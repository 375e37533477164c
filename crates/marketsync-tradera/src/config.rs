//! The adapter's configuration: where Tradera is, the developer application's credentials (app
//! id, app key, public key), the seller's login session when one exists already, the daily call
//! budget, and how listings and orders are exchanged.
//!
//! Built with [`TraderaConfig::builder`]. `Debug` is written by hand and never prints the app
//! key or the user token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use marketsync_core::{Clock, SecretString, SystemClock};
use marketsync_http::{Limits, RateLimiter, RetryPolicy};
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
/// expiry).
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) user_id: i64,
    pub(crate) token: SecretString,
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
#[derive(Clone)]
pub struct TraderaConfig {
    pub(crate) base_url: Url,
    pub(crate) login_url: Url,
    pub(crate) app_id: i64,
    pub(crate) app_key: SecretString,
    pub(crate) public_key: Option<String>,
    pub(crate) session: Option<Session>,
    pub(crate) connection_name: String,
    pub(crate) daily_budget: u32,
    pub(crate) category_id: Option<i32>,
    pub(crate) poll_queued: bool,
    pub(crate) order_overlap: Duration,
    pub(crate) first_window: Duration,
    pub(crate) order_window: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    pub(crate) limits: Limits,
    pub(crate) rate_limiter: Option<RateLimiter>,
    pub(crate) clock: Arc<dyn Clock>,
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
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl TraderaConfig {
    /// A builder. The app id and the app key are required.
    pub fn builder() -> TraderaConfigBuilder {
        TraderaConfigBuilder::default()
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
            clock: Arc::new(SystemClock),
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

    /// The configuration, or what is missing or wrong.
    pub fn build(self) -> Result<TraderaConfig, ConfigError> {
        let base_url = http_url(&self.base_url).map_err(ConfigError::InvalidBaseUrl)?;
        let login_url =
            Url::parse(&self.login_url).map_err(|e| ConfigError::InvalidLoginUrl(e.to_string()))?;
        if !matches!(login_url.scheme(), "http" | "https") {
            return Err(ConfigError::InvalidLoginUrl(
                "it must be an http or https URL".into(),
            ));
        }
        let app_id = self.app_id.ok_or(ConfigError::Missing("app id"))?;
        if app_id <= 0 {
            return Err(ConfigError::Invalid("the app id must be a positive number"));
        }
        let app_key = self.app_key.ok_or(ConfigError::Missing("app key"))?;
        if secrecy::ExposeSecret::expose_secret(&app_key)
            .trim()
            .is_empty()
        {
            return Err(ConfigError::Invalid("the app key must not be empty"));
        }
        if self
            .public_key
            .as_deref()
            .is_some_and(|k| k.trim().is_empty())
        {
            return Err(ConfigError::Invalid("the public key must not be empty"));
        }
        if let Some(s) = &self.session
            && (s.user_id <= 0
                || secrecy::ExposeSecret::expose_secret(&s.token)
                    .trim()
                    .is_empty())
        {
            return Err(ConfigError::Invalid(
                "the session needs a positive user id and a token",
            ));
        }
        let connection_name = match self.connection_name {
            Some(n) if n.trim().is_empty() => {
                return Err(ConfigError::Invalid(
                    "the connection name must not be empty",
                ));
            }
            Some(n) => n,
            None => DEFAULT_CONNECTION_NAME.to_owned(),
        };
        if self.daily_budget == 0 {
            return Err(ConfigError::Invalid(
                "the daily budget must be at least one call",
            ));
        }
        if self.order_window.is_some_and(|w| w.is_zero()) {
            return Err(ConfigError::Invalid("the order window must not be zero"));
        }
        let limits = self.limits.unwrap_or_else(|| {
            Limits::default()
                .per_day(self.daily_budget)
                .max_wait(DEFAULT_MAX_WAIT)
        });
        Ok(TraderaConfig {
            base_url,
            login_url,
            app_id,
            app_key,
            public_key: self.public_key,
            session: self.session,
            connection_name,
            daily_budget: self.daily_budget,
            category_id: self.category_id,
            poll_queued: self.poll_queued,
            order_overlap: self.order_overlap,
            first_window: self.first_window,
            order_window: self.order_window,
            retry: self.retry,
            limits,
            rate_limiter: self.rate_limiter,
            clock: self.clock,
        })
    }
}

fn http_url(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err("it must be an http or https URL".into());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
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
        assert_eq!(c.limits.quotas().len(), 1);
        assert_eq!(c.limits.quotas()[0].count.get(), DEFAULT_DAILY_BUDGET);
        assert_eq!(c.limits.quotas()[0].period, Duration::from_secs(86_400));
        assert_eq!(c.limits.max_wait_duration(), DEFAULT_MAX_WAIT);
        let c = base().daily_budget(10_000).build().unwrap();
        assert_eq!(c.limits.quotas()[0].count.get(), 10_000);
    }

    #[test]
    fn what_is_missing() {
        assert_eq!(
            TraderaConfig::builder()
                .app_key(SecretString::from("k"))
                .build()
                .unwrap_err(),
            ConfigError::Missing("app id")
        );
        assert_eq!(
            TraderaConfig::builder().app_id(1).build().unwrap_err(),
            ConfigError::Missing("app key")
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
}
