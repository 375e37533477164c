//! Signed webhooks ([Standard Webhooks](https://www.standardwebhooks.com/)): [`WebhookConfig`],
//! [`WebhookTransport`], [`WebhookSecret`] and the JSON body, [`WebhookPayload`].
//!
//! Each message is one `POST` of a JSON body ([`WebhookPayload`]) with three headers:
//!
//! | header | value |
//! |---|---|
//! | `webhook-id` | [`Message::id`]: the same on every attempt, so the receiver can drop repeats |
//! | `webhook-timestamp` | when this attempt was signed, in Unix seconds |
//! | `webhook-signature` | `v1,` + base64 of HMAC-SHA256(key, `"{id}.{timestamp}.{body}"`) |
//!
//! The key is the secret's bytes: the secret is written `whsec_` + base64 of them.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use marketsync_core::redact::RedactedUrl;
use marketsync_core::{
    ChannelKind, Clock, DeliveryError, IntegrationId, Message, Notification, SecretString,
    SystemClock, Transport,
};
use marketsync_http::adapter::seconds;
use marketsync_http::{HeaderMap, StatusCode};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::ConfigError;

/// The transport's name (and the config's `name`) when none is given.
pub const DEFAULT_WEBHOOK_NAME: &str = "webhook";

/// How long one delivery may take when no `timeout_secs` is given (connecting, sending, the
/// receiver's answer). Receivers should answer at once and do their work afterwards.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// The prefix of a secret in its written form.
pub const SECRET_PREFIX: &str = "whsec_";

const TRANSPORT: &str = "webhook";

type HmacSha256 = hmac::Hmac<sha2_hmac::Sha256>;

/// A webhook signing secret: the key bytes behind `whsec_<base64>`. Never printed.
#[derive(Clone)]
pub struct WebhookSecret(SecretSlice<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

impl WebhookSecret {
    /// Reads the written form, `whsec_` followed by the base64 (standard alphabet, padded) of
    /// at least 16 key bytes.
    pub fn parse(text: &SecretString) -> Result<Self, ConfigError> {
        let text = text.expose_secret().trim();
        let Some(encoded) = text.strip_prefix(SECRET_PREFIX) else {
            return Err(ConfigError::invalid(
                TRANSPORT,
                "secret",
                format!("must start with `{SECRET_PREFIX}`"),
            ));
        };
        let key = BASE64.decode(encoded).map_err(|_| {
            ConfigError::invalid(
                TRANSPORT,
                "secret",
                format!("must be `{SECRET_PREFIX}` followed by base64"),
            )
        })?;
        if key.len() < 16 {
            return Err(ConfigError::invalid(
                TRANSPORT,
                "secret",
                "must hold at least 16 bytes",
            ));
        }
        Ok(Self(key.into()))
    }

    /// The `webhook-signature` value for one request: `v1,` followed by the base64 of
    /// HMAC-SHA256(key, `"{id}.{timestamp}.{body}"`).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The configuration of one webhook endpoint.
///
/// Read from a config file (unknown fields are refused; the secret is read, never written, and
/// the URL is written with secret query values redacted) or
/// built with [`WebhookConfig::new`] and the setters; checked by [`WebhookTransport::new`].
///
/// | field | default |
/// |---|---|
/// | `name` | [`DEFAULT_WEBHOOK_NAME`]: the transport's name in the store's delivery state |
/// | `url` | required, `http` or `https` |
/// | `secret` | required, `whsec_<base64>` |
/// | `timeout_secs` | [`DEFAULT_WEBHOOK_TIMEOUT`] |
/// | `integrations` | all: when given, only messages about these integration ids are sent |
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebhookConfig {
    #[serde(default = "default_name")]
    pub(crate) name: String,
    /// Written with the values of secret query parameters redacted.
    #[serde(serialize_with = "serialize_redacted_url")]
    pub(crate) url: String,
    #[serde(skip_serializing)]
    pub(crate) secret: SecretString,
    #[serde(rename = "timeout_secs", default = "default_timeout", with = "seconds")]
    pub(crate) timeout: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) integrations: Option<Vec<IntegrationId>>,
}

fn serialize_redacted_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&marketsync_core::redact::redact_url_str(url).to_string())
}

fn default_name() -> String {
    DEFAULT_WEBHOOK_NAME.to_owned()
}

fn default_timeout() -> Duration {
    DEFAULT_WEBHOOK_TIMEOUT
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &marketsync_core::redact::redact_url_str(&self.url))
            .field("secret", &"[REDACTED]")
            .field("timeout", &self.timeout)
            .field("integrations", &self.integrations)
            .finish()
    }
}

impl WebhookConfig {
    /// A configuration posting to `url`, signed with `secret` (`whsec_<base64>`).
    pub fn new(url: impl Into<String>, secret: SecretString) -> Self {
        Self {
            name: default_name(),
            url: url.into(),
            secret,
            timeout: DEFAULT_WEBHOOK_TIMEOUT,
            integrations: None,
        }
    }

    /// The transport's name (default [`DEFAULT_WEBHOOK_NAME`]); two webhooks on one store
    /// need two names.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How long one delivery may take (default [`DEFAULT_WEBHOOK_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Send only messages about these integrations (default: all).
    pub fn integrations(mut self, integrations: impl IntoIterator<Item = IntegrationId>) -> Self {
        self.integrations = Some(integrations.into_iter().collect());
        self
    }
}

/// The JSON body of a webhook request, in the shape Standard Webhooks recommends: an event
/// `type`, a `timestamp` and the `data`. Stable: fields may be added, none removed or renamed.
///
/// ```json
/// {
///   "type": "connection_broken",
///   "timestamp": "2026-12-07T10:15:00Z",
///   "data": {
///     "id": "7a0c…",
///     "integration": { "id": "3f5e…", "name": "My Allegro shop", "channel": "allegro" },
///     "subject": "…",
///     "body": "…",
///     "repair": ["Deactivate the integration", "Activate it again", "Log in at Allegro"],
///     "notification": { "event": "connection_broken", "integration": "3f5e…", … }
///   }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookPayload {
    /// The event: `connection_broken`, `connection_restored`, `credentials_expiring`,
    /// `phase_changed`, `orders_held` (the `event` of [`Notification`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// When the cause happened ([`Message::created_at`]), RFC 3339 in UTC.
    pub timestamp: DateTime<Utc>,
    /// The message.
    pub data: WebhookData,
}

/// The `data` of a [`WebhookPayload`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookData {
    /// The notification's stable id (also the `webhook-id` header).
    pub id: String,
    /// Which integration.
    pub integration: WebhookIntegration,
    /// One line: what happened, and where.
    pub subject: String,
    /// Plain text: what happened, the channel's own words, what to do.
    pub body: String,
    /// The repair steps, in order (empty when nothing needs doing).
    pub repair: Vec<String>,
    /// The structured event, tagged by `event`.
    pub notification: Notification,
}

/// The integration a [`WebhookData`] is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookIntegration {
    /// Its id.
    pub id: IntegrationId,
    /// Its name, as the seller gave it.
    pub name: String,
    /// Its marketplace.
    pub channel: ChannelKind,
}

impl WebhookPayload {
    /// The body sent for `message`.
    pub fn from_message(message: &Message) -> Self {
        let kind = serde_json::to_value(&message.notification)
            .ok()
            .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| "notification".to_owned());
        Self {
            kind,
            timestamp: message.created_at,
            data: WebhookData {
                id: message.id.clone(),
                integration: WebhookIntegration {
                    id: message.integration,
                    name: message.integration_name.clone(),
                    channel: message.channel,
                },
                subject: message.subject.clone(),
                body: message.body.clone(),
                repair: message.repair.clone(),
                notification: message.notification.clone(),
            },
        }
    }
}

/// Posts each [`Message`] to one endpoint as a signed JSON request. Made with
/// [`WebhookTransport::new`], which checks the URL and the secret.
///
/// | receiver's answer | result |
/// |---|---|
/// | 2xx | delivered |
/// | 5xx, 408, 429 (with its `Retry-After`) | retryable |
/// | timeout, no connection | retryable |
/// | other 4xx, 3xx (redirects are not followed) | permanent |
#[derive(Clone)]
pub struct WebhookTransport {
    name: String,
    url: Url,
    secret: WebhookSecret,
    timeout: Duration,
    integrations: Option<BTreeSet<IntegrationId>>,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for WebhookTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookTransport")
            .field("name", &self.name)
            .field("url", &RedactedUrl(&self.url))
            .field("secret", &self.secret)
            .field("timeout", &self.timeout)
            .field("integrations", &self.integrations)
            .finish_non_exhaustive()
    }
}

impl WebhookTransport {
    /// Checks the configuration and makes the transport. Refused, naming the field: a blank
    /// name, a URL that does not parse or is not `http`/`https`, a secret not in the
    /// `whsec_<base64>` form, a zero timeout.
    pub fn new(config: WebhookConfig) -> Result<Self, ConfigError> {
        if config.name.trim().is_empty() {
            return Err(ConfigError::invalid(TRANSPORT, "name", "must not be empty"));
        }
        if config.url.trim().is_empty() {
            return Err(ConfigError::missing(TRANSPORT, "url"));
        }
        let url = Url::parse(config.url.trim())
            .map_err(|e| ConfigError::invalid(TRANSPORT, "url", format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::invalid(
                TRANSPORT,
                "url",
                "must be an http or https URL with a host",
            ));
        }
        let secret = WebhookSecret::parse(&config.secret)?;
        if config.timeout.is_zero() {
            return Err(ConfigError::invalid(
                TRANSPORT,
                "timeout_secs",
                "must be at least 1 second",
            ));
        }
        let client = marketsync_http::tls::client_builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(marketsync_http::USER_AGENT)
            .build()
            .map_err(|e| {
                ConfigError::invalid(TRANSPORT, "url", format!("no HTTP client for it: {e}"))
            })?;
        Ok(Self {
            name: config.name,
            url,
            secret,
            timeout: config.timeout,
            integrations: config.integrations.map(|ids| ids.into_iter().collect()),
            client,
            clock: Arc::new(SystemClock),
        })
    }

    /// Signs with this clock's time (default: the system clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether messages about `integration` are sent here (the `integrations` filter).
    pub fn sends_for(&self, integration: &IntegrationId) -> bool {
        self.integrations
            .as_ref()
            .is_none_or(|ids| ids.contains(integration))
    }

    fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> DeliveryError {
        let text = format!("webhook {} answered {status}", RedactedUrl(&self.url));
        if status.is_server_error()
            || status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
        {
            let mut e = DeliveryError::retryable(text);
            e.retry_after = marketsync_http::retry_after(headers, self.clock.now());
            e
        } else {
            DeliveryError::permanent(text)
        }
    }

    fn classify_error(&self, e: reqwest::Error) -> DeliveryError {
        let url = RedactedUrl(&self.url);
        let e = e.without_url();
        if e.is_timeout() {
            DeliveryError::retryable(format!(
                "webhook {url} did not answer within {} s",
                self.timeout.as_secs_f64()
            ))
        } else if e.is_connect() {
            DeliveryError::retryable(format!("webhook {url} unreachable: {}", source_chain(&e)))
        } else {
            DeliveryError::retryable(format!("webhook {url} failed: {}", source_chain(&e)))
        }
    }
}

/// The error and its causes, joined.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl Transport for WebhookTransport {
    fn name(&self) -> &str {
        &self.name
    }

    /// Posts the message; a message about an integration outside the `integrations` filter is
    /// not sent and counts as delivered (there is nothing to deliver to this endpoint).
    async fn deliver(&self, message: &Message) -> Result<(), DeliveryError> {
        if !self.sends_for(&message.integration) {
            return Ok(());
        }
        let body = serde_json::to_vec(&WebhookPayload::from_message(message)).map_err(|e| {
            DeliveryError::permanent(format!("the webhook body could not be written: {e}"))
        })?;
        let timestamp = self.clock.now().timestamp();
        let signature = self.secret.sign(&message.id, timestamp, &body);
        let request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", message.id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(self.classify_response(response.status(), response.headers())),
            Err(e) => Err(self.classify_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_specifications_test_vector() {
        // The example secret, message and signature published with Standard Webhooks.
        let secret = WebhookSecret::parse(&SecretString::from(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ))
        .expect("parses");
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
