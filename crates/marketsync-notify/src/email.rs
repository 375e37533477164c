//! E-mail over SMTP ([`lettre`]): [`EmailConfig`] and [`EmailTransport`].
//!
//! Each message goes out as one plain-text e-mail: the subject is [`Message::subject`], the body
//! is [`Message::body`] followed by the numbered repair steps, the `Message-ID` is derived from
//! [`Message::id`] (the same on every attempt, so a mail client or a receiving script can drop
//! repeats) and the headers `X-Marketsync-Integration`, `X-Marketsync-Channel` and
//! `X-Marketsync-Notification` name the integration, its marketplace and the notification.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Mailboxes};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use marketsync_core::{DeliveryError, IntegrationId, Message, SecretString, Transport};
use marketsync_http::adapter::seconds;
use secrecy::ExposeSecret;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ConfigError;

/// The transport's name (and the config's `name`) when none is given.
pub const DEFAULT_EMAIL_NAME: &str = "email";

/// How long one delivery may take when no `timeout_secs` is given: connecting, TLS, each SMTP
/// command and the message together.
pub const DEFAULT_EMAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// The header naming the integration a message is about (its id).
pub const INTEGRATION_HEADER: &str = "X-Marketsync-Integration";

/// The header naming the integration's marketplace (`allegro`, `tradera`, …).
pub const CHANNEL_HEADER: &str = "X-Marketsync-Channel";

/// The header carrying the notification's stable id ([`Message::id`]).
pub const NOTIFICATION_HEADER: &str = "X-Marketsync-Notification";

const TRANSPORT: &str = "email";

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Security {
    /// Plain text, for a relay on the same machine or network only. Credentials are refused
    /// with it (they would cross the network readable).
    None,
    /// Plain text upgraded with `STARTTLS`, which the server must offer (the message is never
    /// sent unencrypted). Port 587 by default.
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS", implicit TLS). Port 465 by default.
    Tls,
}

impl Security {
    /// The usual port: 25 for [`None`](Self::None), 587 for [`Starttls`](Self::Starttls),
    /// 465 for [`Tls`](Self::Tls).
    pub fn default_port(self) -> u16 {
        match self {
            Security::None => 25,
            Security::Starttls => 587,
            Security::Tls => 465,
        }
    }
}

/// The configuration of the e-mail transport: which SMTP server, how to log in, who sends and
/// who receives.
///
/// Read from a config file (unknown fields are refused; the password is read, never written)
/// or built in code with [`EmailConfig::new`] and the setters. Nothing is checked until
/// [`EmailTransport::new`], which refuses what is not usable with a [`ConfigError`] naming the
/// field.
///
/// | field | default |
/// |---|---|
/// | `name` | [`DEFAULT_EMAIL_NAME`]: the transport's name in the store's delivery state |
/// | `host` | required |
/// | `port` | [`Security::default_port`] |
/// | `security` | `"starttls"` (`"none"`, `"starttls"`, `"tls"`) |
/// | `root_certificate` | none: a PEM file of a certificate authority to trust besides the system's |
/// | `username`, `password` | none; both or neither, and never with `security = "none"` |
/// | `from` | required: `"Shop alerts <alerts@shop.example>"` or `"alerts@shop.example"` |
/// | `to` | required: one address or a list |
/// | `recipients` | none: per integration id, the addresses that receive its messages instead of `to` |
/// | `timeout_secs` | [`DEFAULT_EMAIL_TIMEOUT`] |
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EmailConfig {
    #[serde(default = "default_name")]
    pub(crate) name: String,
    pub(crate) host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) port: Option<u16>,
    #[serde(default)]
    pub(crate) security: Security,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) root_certificate: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) username: Option<String>,
    #[serde(default, skip_serializing)]
    pub(crate) password: Option<SecretString>,
    pub(crate) from: String,
    #[serde(deserialize_with = "one_or_many")]
    pub(crate) to: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) recipients: BTreeMap<IntegrationId, Vec<String>>,
    #[serde(rename = "timeout_secs", default = "default_timeout", with = "seconds")]
    pub(crate) timeout: Duration,
}

fn default_name() -> String {
    DEFAULT_EMAIL_NAME.to_owned()
}

fn default_timeout() -> Duration {
    DEFAULT_EMAIL_TIMEOUT
}

/// `to = "a@x"` or `to = ["a@x", "b@x"]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("root_certificate", &self.root_certificate)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("from", &self.from)
            .field("to", &self.to)
            .field("recipients", &self.recipients)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl EmailConfig {
    /// A configuration sending from `from` to `to` through `host` with STARTTLS on port 587,
    /// without logging in; change it with the setters.
    pub fn new(
        host: impl Into<String>,
        from: impl Into<String>,
        to: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            name: default_name(),
            host: host.into(),
            port: None,
            security: Security::default(),
            root_certificate: None,
            username: None,
            password: None,
            from: from.into(),
            to: to.into_iter().map(Into::into).collect(),
            recipients: BTreeMap::new(),
            timeout: DEFAULT_EMAIL_TIMEOUT,
        }
    }

    /// The transport's name (default [`DEFAULT_EMAIL_NAME`]); two e-mail transports on one
    /// store need two names.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The port (default [`Security::default_port`]).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// How the connection is protected (default [`Security::Starttls`]).
    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// A PEM file with a certificate authority to trust besides the system's (a company CA).
    pub fn root_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.root_certificate = Some(path.into());
        self
    }

    /// Log in with this user name and password (`AUTH PLAIN` or `LOGIN`).
    pub fn credentials(mut self, username: impl Into<String>, password: SecretString) -> Self {
        self.username = Some(username.into());
        self.password = Some(password);
        self
    }

    /// Messages about `integration` go to these addresses instead of `to`.
    pub fn recipients_for(
        mut self,
        integration: IntegrationId,
        to: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.recipients
            .insert(integration, to.into_iter().map(Into::into).collect());
        self
    }

    /// How long one delivery may take (default [`DEFAULT_EMAIL_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The SMTP server's host name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port used: the one given, else [`Security::default_port`].
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(self.security.default_port())
    }
}

/// Sends each [`Message`] as a plain-text e-mail over SMTP. Made with [`EmailTransport::new`],
/// which checks the whole configuration; [`deliver`](Transport::deliver) opens one connection
/// per message, bounded by the configured timeout.
///
/// Failures ([`DeliveryError`]): a server that cannot be reached, a timeout, a TLS failure, a
/// garbled reply or a `4xx` SMTP reply are retryable; a `5xx` reply (`550` mailbox unavailable,
/// `535` credentials refused, `554` rejected) is permanent.
#[derive(Clone)]
pub struct EmailTransport {
    name: String,
    host: String,
    port: u16,
    security: Security,
    from: Mailbox,
    to: Mailboxes,
    recipients: BTreeMap<IntegrationId, Mailboxes>,
    timeout: Duration,
    password: Option<SecretString>,
    smtp: AsyncSmtpTransport<Tokio1Executor>,
}

impl fmt::Debug for EmailTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailTransport")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from.to_string())
            .field("to", &self.to.to_string())
            .field("recipients", &self.recipients.len())
            .field("timeout", &self.timeout)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

fn parse_mailbox(field: String, text: &str) -> Result<Mailbox, ConfigError> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|e| ConfigError::invalid(TRANSPORT, field, format!("not an e-mail address ({e})")))
}

fn parse_list(field: &str, list: &[String]) -> Result<Mailboxes, ConfigError> {
    if list.is_empty() {
        return Err(ConfigError::invalid(
            TRANSPORT,
            field,
            "needs at least one address",
        ));
    }
    let mut mailboxes = Mailboxes::new();
    for (i, text) in list.iter().enumerate() {
        mailboxes.push(parse_mailbox(format!("{field}[{i}]"), text)?);
    }
    Ok(mailboxes)
}

impl EmailTransport {
    /// Checks the configuration and makes the transport; nothing is sent or connected yet.
    /// Refused, naming the field: a blank name or host, port 0, a zero timeout, a malformed
    /// address in `from`, `to` or `recipients`, an empty recipient list, a user name without a
    /// password (or the reverse), credentials with [`Security::None`], a root certificate
    /// that cannot be read as PEM.
    pub fn new(config: EmailConfig) -> Result<Self, ConfigError> {
        if config.name.trim().is_empty() {
            return Err(ConfigError::invalid(TRANSPORT, "name", "must not be empty"));
        }
        let host = config.host.trim().to_owned();
        if host.is_empty() {
            return Err(ConfigError::missing(TRANSPORT, "host"));
        }
        if host.contains(char::is_whitespace) || host.contains('/') {
            return Err(ConfigError::invalid(
                TRANSPORT,
                "host",
                "must be a host name or an IP address",
            ));
        }
        let port = config.effective_port();
        if port == 0 {
            return Err(ConfigError::invalid(TRANSPORT, "port", "must not be 0"));
        }
        if config.timeout.is_zero() {
            return Err(ConfigError::invalid(
                TRANSPORT,
                "timeout_secs",
                "must be at least 1 second",
            ));
        }
        let from = parse_mailbox("from".to_owned(), &config.from)?;
        if config.to.is_empty() {
            return Err(ConfigError::missing(TRANSPORT, "to"));
        }
        let to = parse_list("to", &config.to)?;
        let mut recipients = BTreeMap::new();
        for (integration, list) in &config.recipients {
            let field = format!("recipients.{}", integration.as_uuid());
            recipients.insert(*integration, parse_list(&field, list)?);
        }
        let credentials = match (&config.username, &config.password) {
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::missing(TRANSPORT, "password")),
            (None, Some(_)) => return Err(ConfigError::missing(TRANSPORT, "username")),
            (Some(user), Some(password)) => {
                if user.trim().is_empty() {
                    return Err(ConfigError::invalid(
                        TRANSPORT,
                        "username",
                        "must not be empty",
                    ));
                }
                if password.expose_secret().is_empty() {
                    return Err(ConfigError::invalid(
                        TRANSPORT,
                        "password",
                        "must not be empty",
                    ));
                }
                if config.security == Security::None {
                    return Err(ConfigError::invalid(
                        TRANSPORT,
                        "security",
                        "a password is never sent unencrypted: use \"starttls\" or \"tls\"",
                    ));
                }
                Some(Credentials::new(
                    user.clone(),
                    password.expose_secret().to_owned(),
                ))
            }
        };

        let tls = match config.security {
            Security::None => Tls::None,
            Security::Starttls | Security::Tls => {
                marketsync_http::tls::install_default_provider();
                let mut params = TlsParameters::builder(host.clone());
                if let Some(path) = &config.root_certificate {
                    let pem = std::fs::read(path).map_err(|e| {
                        ConfigError::invalid(
                            TRANSPORT,
                            "root_certificate",
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })?;
                    let cert = Certificate::from_pem(&pem).map_err(|e| {
                        ConfigError::invalid(
                            TRANSPORT,
                            "root_certificate",
                            format!("not a PEM certificate: {e}"),
                        )
                    })?;
                    params = params.add_root_certificate(cert);
                }
                let params = params.build().map_err(|e| {
                    ConfigError::invalid(TRANSPORT, "host", format!("no TLS settings for it: {e}"))
                })?;
                if config.security == Security::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };

        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some(credentials) = credentials {
            builder = builder.credentials(credentials);
        }
        Ok(Self {
            name: config.name,
            host,
            port,
            security: config.security,
            from,
            to,
            recipients,
            timeout: config.timeout,
            password: config.password,
            smtp: builder.build(),
        })
    }

    /// Who receives messages about `integration` (as written in the `To` header): its own
    /// recipients when configured, else `to`.
    pub fn recipients(&self, integration: &IntegrationId) -> Vec<String> {
        self.mailboxes(integration)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn mailboxes(&self, integration: &IntegrationId) -> &Mailboxes {
        self.recipients.get(integration).unwrap_or(&self.to)
    }

    /// The `Message-ID` of the e-mail for the notification with this id: the same for every
    /// attempt (`<id@domain-of-from>`; an id with characters not allowed there is hex-encoded).
    pub fn message_id(&self, id: &str) -> String {
        let dot_atom = !id.is_empty()
            && !id.starts_with('.')
            && !id.ends_with('.')
            && !id.contains("..")
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let local = if dot_atom {
            id.to_owned()
        } else {
            let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
            format!("x-{hex}")
        };
        format!("<{local}@{}>", self.from.email.domain())
    }

    fn email(&self, message: &Message) -> Result<lettre::Message, DeliveryError> {
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(message.subject.clone())
            .message_id(Some(self.message_id(&message.id)))
            .date(SystemTime::from(message.created_at));
        for mailbox in self.mailboxes(&message.integration).iter() {
            builder = builder.to(mailbox.clone());
        }
        let mut email = builder
            .header(ContentType::TEXT_PLAIN)
            .body(text_body(message))
            .map_err(|e| DeliveryError::permanent(format!("the e-mail could not be built: {e}")))?;
        let headers = email.headers_mut();
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str(INTEGRATION_HEADER),
            message.integration.as_uuid().to_string(),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str(CHANNEL_HEADER),
            message.channel.as_str().to_owned(),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str(NOTIFICATION_HEADER),
            message.id.clone(),
        ));
        Ok(email)
    }

    /// What the transport saw, with the password (should a server echo it) removed.
    fn classify(&self, e: &lettre::transport::smtp::Error) -> DeliveryError {
        let mut text = e.to_string();
        if let Some(password) = &self.password {
            let password = password.expose_secret();
            if !password.is_empty() {
                text = text.replace(password, "[REDACTED]");
            }
        }
        let server = format!("{}:{}", self.host, self.port);
        if e.is_permanent() {
            DeliveryError::permanent(format!("SMTP server {server} refused the message: {text}"))
        } else if e.is_transient() {
            DeliveryError::retryable(format!("SMTP server {server} deferred the message: {text}"))
        } else if e.is_timeout() {
            DeliveryError::retryable(format!("SMTP server {server} timed out: {text}"))
        } else if e.is_client() {
            // Nothing the server can change: the configuration does not fit this server (no
            // common authentication mechanism, no STARTTLS offered).
            DeliveryError::permanent(format!(
                "cannot deliver through SMTP server {server}: {text}"
            ))
        } else {
            DeliveryError::retryable(format!("SMTP server {server} unreachable: {text}"))
        }
    }
}

/// The plain-text body of the e-mail for `message`: its body, then the numbered repair steps
/// under "What to do:", then the notification id.
pub fn text_body(message: &Message) -> String {
    let mut text = message.body.trim_end().to_owned();
    if !message.repair.is_empty() {
        text.push_str("\n\nWhat to do:\n");
        for (i, step) in message.repair.iter().enumerate() {
            text.push_str(&format!("{}. {}\n", i + 1, step.trim()));
        }
    } else {
        text.push('\n');
    }
    text.push_str(&format!("\nNotification {}\n", message.id));
    text
}

#[async_trait]
impl Transport for EmailTransport {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, message: &Message) -> Result<(), DeliveryError> {
        let email = self.email(message)?;
        match tokio::time::timeout(self.timeout, self.smtp.send(email)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(self.classify(&e)),
            Err(_elapsed) => Err(DeliveryError::retryable(format!(
                "SMTP server {}:{} did not finish within {} s",
                self.host,
                self.port,
                self.timeout.as_secs_f64()
            ))),
        }
    }
}
