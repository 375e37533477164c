//! The adapter's configuration: which Allegro environment, the application's credentials, the
//! seller's login session, and how commands are polled.
//!
//! Built with [`AllegroConfig::builder`]. `Debug` is written by hand and never prints the client
//! secret or a token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use marketsync_core::credentials::LoginSession;
use marketsync_core::{Clock, SecretString, SystemClock};
use marketsync_http::{Limits, RateLimiter, RetryPolicy, TokenStore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::error::ConfigError;

/// Allegro's global limit: 9,000 requests a minute per client id.
pub const REQUESTS_PER_MINUTE: u32 = 9000;

/// How long before its expiry the access token is renewed by default.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(600);

/// Which Allegro environment the adapter talks to (A1 of the fact sheet).
/// In a config file: `production` or `sandbox`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Environment {
    /// `https://api.allegro.pl` (REST) and `https://allegro.pl` (login and tokens).
    #[default]
    Production,
    /// `https://api.allegro.pl.allegrosandbox.pl` and `https://allegro.pl.allegrosandbox.pl`.
    Sandbox,
}

impl Environment {
    /// The REST API host.
    pub fn api_base_url(&self) -> &'static str {
        match self {
            Environment::Production => "https://api.allegro.pl/",
            Environment::Sandbox => "https://api.allegro.pl.allegrosandbox.pl/",
        }
    }

    /// The host of the login page and the token endpoints (not the API host).
    pub fn auth_base_url(&self) -> &'static str {
        match self {
            Environment::Production => "https://allegro.pl/",
            Environment::Sandbox => "https://allegro.pl.allegrosandbox.pl/",
        }
    }
}

/// How the adapter waits for an asynchronous batch command (price, quantity, publication) to
/// finish: it reads the command's tasks, then again after `interval`, at most `max_polls` times
/// in all. Offers still unprocessed after that are reported as a temporary failure; the next
/// sync reuses the same command id, gets 409 ("already used") and reads the tasks again.
///
/// In a config file: `{"interval_secs": 1, "max_polls": 10}` (either may be left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandPolling {
    /// The wait between two reads of a command's tasks.
    #[serde(rename = "interval_secs", with = "marketsync_http::adapter::seconds")]
    pub interval: Duration,
    /// The most reads per command and call.
    pub max_polls: u32,
}

impl Default for CommandPolling {
    /// A read at once, then every second, 10 reads in all.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            max_polls: 10,
        }
    }
}

/// The configuration of one Allegro integration.
///
/// Built with [`builder`](Self::builder), or read from a config file: it is a serde type.
/// Unknown fields are refused; the client secret is read but never written; every value is
/// checked as [`AllegroConfigBuilder::build`] checks it, and an error names the field. The
/// seller's login session is not part of it: the engine hands it over
/// (`Channel::use_credentials`). The fields (only the first two are required):
///
/// | field | default |
/// |---|---|
/// | `client_id` | required |
/// | `client_secret` | required; read, never written |
/// | `environment` | `"production"` (`"sandbox"`) |
/// | `base_url` | the environment's API host |
/// | `auth_base_url` | the environment's login host |
/// | `redirect_uri` | none (the device flow only) |
/// | `scopes` | none (every scope the application declares) |
/// | `connection_name` | `"Allegro"` |
/// | `refresh_margin_secs` | 600 |
/// | `command_polling` | [`CommandPolling::default`] |
/// | `offer_template` | none (publishing unsupported) |
///
/// The retry policy, the limits, a shared rate limiter, a token store and the clock are set in
/// code (the builder).
///
/// ```
/// # use marketsync_allegro::{AllegroChannel, AllegroConfig};
/// let config: AllegroConfig = serde_json::from_str(r#"{
///     "client_id": "my-client-id",
///     "client_secret": "my-client-secret",
///     "environment": "sandbox"
/// }"#)?;
/// let channel = AllegroChannel::new(config)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct AllegroConfig {
    pub(crate) environment: Environment,
    pub(crate) api_base_url: Url,
    pub(crate) auth_base_url: Url,
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
    pub(crate) session: Option<LoginSession>,
    pub(crate) redirect_uri: Option<Url>,
    pub(crate) scopes: Vec<String>,
    pub(crate) connection_name: String,
    pub(crate) retry: RetryPolicy,
    pub(crate) limits: Limits,
    pub(crate) rate_limiter: Option<RateLimiter>,
    pub(crate) token_store: Option<Arc<dyn TokenStore>>,
    pub(crate) refresh_margin: Duration,
    pub(crate) polling: CommandPolling,
    pub(crate) offer_template: Option<serde_json::Value>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl fmt::Debug for AllegroConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllegroConfig")
            .field("environment", &self.environment)
            .field(
                "api_base_url",
                &marketsync_core::redact::RedactedUrl(&self.api_base_url),
            )
            .field(
                "auth_base_url",
                &marketsync_core::redact::RedactedUrl(&self.auth_base_url),
            )
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field(
                "session",
                &self.session.as_ref().map(|s| {
                    format!(
                        "login session expiring {} (tokens [REDACTED])",
                        s.expires_at
                    )
                }),
            )
            .field(
                "redirect_uri",
                &marketsync_core::redact::redact_opt_url(self.redirect_uri.as_ref()),
            )
            .field("scopes", &self.scopes)
            .field("connection_name", &self.connection_name)
            .field("retry", &self.retry)
            .field("refresh_margin", &self.refresh_margin)
            .field("polling", &self.polling)
            .field("publishing", &self.offer_template.is_some())
            .finish_non_exhaustive()
    }
}

impl AllegroConfig {
    /// A builder (production hosts by default).
    pub fn builder() -> AllegroConfigBuilder {
        AllegroConfigBuilder::new()
    }

    /// The environment.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The REST API host (ending in `/`).
    pub fn api_base_url(&self) -> &Url {
        &self.api_base_url
    }

    /// The login and token host (ending in `/`).
    pub fn auth_base_url(&self) -> &Url {
        &self.auth_base_url
    }

    /// The application's client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The connection's display name.
    pub fn connection_name(&self) -> &str {
        &self.connection_name
    }

    /// Whether new offers can be published (an offer template is configured).
    pub fn can_publish(&self) -> bool {
        self.offer_template.is_some()
    }

    fn auth_url(&self, path: &str) -> Result<Url, ConfigError> {
        self.auth_base_url
            .join(path)
            .map_err(|e| ConfigError::InvalidBaseUrl(e.to_string()))
    }

    pub(crate) fn token_url(&self) -> Result<Url, ConfigError> {
        self.auth_url("auth/oauth/token")
    }

    pub(crate) fn authorize_url(&self) -> Result<Url, ConfigError> {
        self.auth_url("auth/oauth/authorize")
    }

    /// The device endpoint, with `client_id` in the query as Allegro's own curl sample sends it
    /// (the request also carries HTTP Basic client authentication).
    pub(crate) fn device_url(&self) -> Result<Url, ConfigError> {
        let mut url = self.auth_url("auth/oauth/device")?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id);
        Ok(url)
    }
}

/// Builds an [`AllegroConfig`]; [`build`](Self::build) reports what is missing.
pub struct AllegroConfigBuilder {
    environment: Environment,
    api_base_url: Option<String>,
    auth_base_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    session: Option<LoginSession>,
    redirect_uri: Option<Url>,
    scopes: Vec<String>,
    connection_name: Option<String>,
    retry: RetryPolicy,
    limits: Limits,
    rate_limiter: Option<RateLimiter>,
    token_store: Option<Arc<dyn TokenStore>>,
    refresh_margin: Duration,
    polling: CommandPolling,
    offer_template: Option<serde_json::Value>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for AllegroConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllegroConfigBuilder")
            .field("environment", &self.environment)
            .field(
                "api_base_url",
                &self
                    .api_base_url
                    .as_deref()
                    .map(marketsync_core::redact::redact_url_str),
            )
            .field(
                "auth_base_url",
                &self
                    .auth_base_url
                    .as_deref()
                    .map(marketsync_core::redact::redact_url_str),
            )
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("session", &self.session.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

impl AllegroConfigBuilder {
    fn new() -> Self {
        Self {
            environment: Environment::default(),
            api_base_url: None,
            auth_base_url: None,
            client_id: None,
            client_secret: None,
            session: None,
            redirect_uri: None,
            scopes: Vec::new(),
            connection_name: None,
            retry: RetryPolicy::default(),
            limits: Limits::default().per_minute(REQUESTS_PER_MINUTE),
            rate_limiter: None,
            token_store: None,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            polling: CommandPolling::default(),
            offer_template: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Production (default) or sandbox: sets both hosts.
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// Overrides the REST API host (tests point it at a mock server).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.api_base_url = Some(url.into());
        self
    }

    /// Overrides the login and token host (tests point it at a mock server).
    pub fn auth_base_url(mut self, url: impl Into<String>) -> Self {
        self.auth_base_url = Some(url.into());
        self
    }

    /// The application's client id (required).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// The application's client secret (required: HTTP Basic at the token endpoint).
    pub fn client_secret(mut self, secret: SecretString) -> Self {
        self.client_secret = Some(secret);
        self
    }

    /// The seller's login session as stored (optional: a new connection has none until
    /// `complete_authorization`).
    pub fn session(mut self, session: LoginSession) -> Self {
        self.session = Some(session);
        self
    }

    /// The redirect URI registered for the application (needed for the authorization-code
    /// flow).
    pub fn redirect_uri(mut self, uri: Url) -> Self {
        self.redirect_uri = Some(uri);
        self
    }

    /// The scopes asked for at login (default none: every scope the application declares).
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The connection's display name (default `Allegro`).
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = Some(name.into());
        self
    }

    /// The retry policy (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The limits of the adapter's own rate limiter (default 9,000 a minute).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// A rate limiter shared by every integration of the same application (keyed by client
    /// id), since Allegro's 9,000 a minute are per client id, not per seller.
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// Where renewed tokens are persisted. Allegro's refresh tokens are single-use: every
    /// renewal returns a new pair, which is handed to this store before the new access token is
    /// used; an error from the store keeps the new token unused. Turn the tokens into stored
    /// credentials with [`login_session`](crate::convert::login_session).
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.token_store = Some(store);
        self
    }

    /// Renew the access token when it has less than this left (default 10 minutes).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// How batch commands are polled (default [`CommandPolling::default`]).
    pub fn command_polling(mut self, polling: CommandPolling) -> Self {
        self.polling = polling;
        self
    }

    /// The body new offers start from in `POST /sale/product-offers` (category, `productSet`,
    /// delivery, after-sales services, location …: what Allegro requires of a listing and the
    /// engine does not know). The adapter sets `name`, `external.id`, `sellingMode.price`,
    /// `stock.available` and `publication.status` in it. Without a template publishing is not
    /// supported.
    pub fn offer_template(mut self, template: serde_json::Value) -> Self {
        self.offer_template = Some(template);
        self
    }

    /// The wall clock (token expiry, the refresh token's 3-month life).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration, or what is missing or wrong.
    pub fn build(self) -> Result<AllegroConfig, ConfigError> {
        let api_base_url = base(
            self.api_base_url
                .as_deref()
                .unwrap_or(self.environment.api_base_url()),
        )?;
        let auth_base_url = base(
            self.auth_base_url
                .as_deref()
                .unwrap_or(self.environment.auth_base_url()),
        )?;
        let client_id = self
            .client_id
            .filter(|s| !s.trim().is_empty())
            .ok_or(ConfigError::Missing("client_id"))?;
        let client_secret = self
            .client_secret
            .ok_or(ConfigError::Missing("client_secret"))?;
        if self.offer_template.as_ref().is_some_and(|t| !t.is_object()) {
            return Err(ConfigError::Invalid {
                field: "offer_template",
                reason: "must be a JSON object",
            });
        }
        if self.polling.max_polls == 0 {
            return Err(ConfigError::Invalid {
                field: "command_polling",
                reason: "needs at least one read (`max_polls`)",
            });
        }
        Ok(AllegroConfig {
            environment: self.environment,
            api_base_url,
            auth_base_url,
            client_id,
            client_secret,
            session: self.session,
            redirect_uri: self.redirect_uri,
            scopes: self.scopes,
            connection_name: self.connection_name.unwrap_or_else(|| "Allegro".to_owned()),
            retry: self.retry,
            limits: self.limits,
            rate_limiter: self.rate_limiter,
            token_store: self.token_store,
            refresh_margin: self.refresh_margin,
            polling: self.polling,
            offer_template: self.offer_template,
            clock: self.clock,
        })
    }
}

fn base(url: &str) -> Result<Url, ConfigError> {
    marketsync_http::adapter::base_url(url).map_err(ConfigError::InvalidBaseUrl)
}

/// A configuration as a config file holds it (see [`AllegroConfig`]).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    environment: Environment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth_base_url: Option<String>,
    client_id: String,
    #[serde(skip_serializing)]
    client_secret: SecretString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<Url>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connection_name: Option<String>,
    #[serde(
        rename = "refresh_margin_secs",
        default = "default_refresh_margin",
        with = "marketsync_http::adapter::seconds"
    )]
    refresh_margin: Duration,
    #[serde(default)]
    command_polling: CommandPolling,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offer_template: Option<serde_json::Value>,
}

fn default_refresh_margin() -> Duration {
    DEFAULT_REFRESH_MARGIN
}

impl<'de> Deserialize<'de> for AllegroConfig {
    /// Reads a config file's fields (see [`AllegroConfig`]) and checks them as
    /// [`AllegroConfigBuilder::build`] does.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let f = ConfigFile::deserialize(deserializer)?;
        let mut b = AllegroConfig::builder()
            .environment(f.environment)
            .client_id(f.client_id)
            .client_secret(f.client_secret)
            .scopes(f.scopes)
            .refresh_margin(f.refresh_margin)
            .command_polling(f.command_polling);
        b.api_base_url = f.base_url;
        b.auth_base_url = f.auth_base_url;
        b.redirect_uri = f.redirect_uri;
        b.connection_name = f.connection_name;
        b.offer_template = f.offer_template;
        b.build().map_err(serde::de::Error::custom)
    }
}

impl Serialize for AllegroConfig {
    /// Writes the config file's fields, without the client secret.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let own = |url: &Url, default: &str| (url.as_str() != default).then(|| url.to_string());
        ConfigFile {
            environment: self.environment,
            base_url: own(&self.api_base_url, self.environment.api_base_url()),
            auth_base_url: own(&self.auth_base_url, self.environment.auth_base_url()),
            client_id: self.client_id.clone(),
            client_secret: SecretString::from(""),
            redirect_uri: self.redirect_uri.clone(),
            scopes: self.scopes.clone(),
            connection_name: Some(self.connection_name.clone()),
            refresh_margin: self.refresh_margin,
            command_polling: self.polling,
            offer_template: self.offer_template.clone(),
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_per_environment() {
        let c = AllegroConfig::builder()
            .client_id("cid")
            .client_secret(SecretString::from("sec"))
            .environment(Environment::Sandbox)
            .build()
            .unwrap();
        assert_eq!(
            c.api_base_url().as_str(),
            "https://api.allegro.pl.allegrosandbox.pl/"
        );
        assert_eq!(
            c.token_url().unwrap().as_str(),
            "https://allegro.pl.allegrosandbox.pl/auth/oauth/token"
        );
        assert_eq!(
            c.device_url().unwrap().as_str(),
            "https://allegro.pl.allegrosandbox.pl/auth/oauth/device?client_id=cid"
        );
        let p = AllegroConfig::builder()
            .client_id("cid")
            .client_secret(SecretString::from("sec"))
            .build()
            .unwrap();
        assert_eq!(
            p.authorize_url().unwrap().as_str(),
            "https://allegro.pl/auth/oauth/authorize"
        );
        assert_eq!(p.api_base_url().as_str(), "https://api.allegro.pl/");
        assert!(matches!(
            AllegroConfig::builder().client_id("x").build(),
            Err(ConfigError::Missing("client_secret"))
        ));
    }
}
