//! The one error type every channel operation returns.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::credentials::CredentialKind;
use crate::ids::ChannelKind;

/// What kind of failure a [`ChannelError`] is. Decides what the engine does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The channel refused the credentials (or their renewal). The integration becomes Broken.
    Auth,
    /// The channel's rate limit, or our own budget for it, is exhausted. See
    /// [`ChannelError::retry_after`].
    RateLimited,
    /// A temporary failure: a 5xx, a timeout, a dropped connection. Worth retrying.
    Transient,
    /// The thing asked for does not exist on the channel (a deleted product, an unknown order).
    NotFound,
    /// The channel rejected the request's content (validation errors).
    Invalid,
    /// The request conflicts with the channel's current state (an outdated revision, an
    /// idempotency key already used).
    Conflict,
    /// The channel (or this adapter) does not support the operation.
    Unsupported,
    /// The channel answered with an error that fits no other kind.
    Channel,
}

impl ErrorKind {
    /// Whether an error of this kind is temporary by default.
    pub fn is_temporary_by_default(&self) -> bool {
        matches!(self, ErrorKind::RateLimited | ErrorKind::Transient)
    }

    fn describe(&self) -> &'static str {
        match self {
            ErrorKind::Auth => "authentication failed",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Transient => "temporary failure",
            ErrorKind::NotFound => "not found",
            ErrorKind::Invalid => "invalid request",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Channel => "channel error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why a connection is broken: a typed diagnosis a host can act on.
///
/// Carried by [`ErrorKind::Auth`] errors and by
/// [`Health::Broken`](crate::lifecycle::Health::Broken).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BrokenReason {
    /// The channel refused the credentials as they are (wrong, revoked or regenerated elsewhere).
    /// Repair: enter the right credentials and verify them.
    CredentialsRejected,
    /// A credential that is renewed or expires (a login session, an OAuth refresh token) could
    /// not be renewed, or expired. Repair depends on the credentials
    /// ([`advice_for`](Self::advice_for)): a login session (Allegro, Tradera) by deactivating and
    /// reactivating the integration, which sends the seller to the channel's login page again;
    /// entered OAuth tokens (ChannelAdvisor's refresh token) by entering a new one and verifying.
    LoginRequired,
    /// The credentials are valid but lack a permission (scope) the operation needs.
    PermissionDenied,
    /// The channel says the account cannot be used this way (not activated, wrong account type).
    AccountNotUsable,
}

impl BrokenReason {
    /// What the seller should do about it, in one sentence, when the kind of credentials is not
    /// known. [`advice_for`](Self::advice_for) is precise where it is.
    pub fn advice(&self) -> &'static str {
        match self {
            BrokenReason::CredentialsRejected => {
                "The channel refused the credentials: check them against the channel, enter them again and verify."
            }
            BrokenReason::LoginRequired => {
                "The login with the channel has expired or could not be renewed: log in again (deactivate, reactivate and log in), or, for credentials entered by hand such as a ChannelAdvisor refresh token, enter new ones and verify."
            }
            BrokenReason::PermissionDenied => {
                "The credentials lack a permission this operation needs: grant it at the channel and verify again."
            }
            BrokenReason::AccountNotUsable => {
                "The channel says this account cannot be used through its API (for example not activated, or the wrong account type)."
            }
        }
    }
}

impl BrokenReason {
    /// What the seller should do about it, for the kind of credentials the integration has: the
    /// route that repairs it.
    ///
    /// For [`LoginRequired`](Self::LoginRequired): a [login session](CredentialKind::LoginSession)
    /// is renewed by logging in again (deactivate, reactivate, log in); [OAuth
    /// tokens](CredentialKind::OAuth) entered by hand (ChannelAdvisor's refresh token) by
    /// entering a new refresh token and verifying; other entered credentials by entering new
    /// ones and verifying. The other reasons do not depend on the kind.
    pub fn advice_for(&self, credentials: CredentialKind) -> &'static str {
        match (self, credentials) {
            (BrokenReason::LoginRequired, CredentialKind::LoginSession) => {
                "The login with the channel has expired or could not be renewed: deactivate and reactivate the integration, then log in again."
            }
            (BrokenReason::LoginRequired, CredentialKind::OAuth) => {
                "The channel no longer accepts the refresh token (revoked or expired): create a new refresh token at the channel, enter it, then verify."
            }
            (BrokenReason::LoginRequired, _) => {
                "The channel no longer accepts the credentials: enter new ones, then verify."
            }
            _ => self.advice(),
        }
    }
}

impl fmt::Display for BrokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokenReason::CredentialsRejected => "credentials rejected",
            BrokenReason::LoginRequired => "login required",
            BrokenReason::PermissionDenied => "permission denied",
            BrokenReason::AccountNotUsable => "account not usable",
        })
    }
}

/// The error of every [`Channel`](crate::Channel) operation.
///
/// It has a [`kind`](Self::kind) that decides what happens next, a temporary/permanent flag,
/// the time to wait when rate limited, and context: the channel, the operation, the HTTP status
/// and the channel's own message, exactly as the channel said it. It never carries a request
/// body, a credential or an authorization header.
pub struct ChannelError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    temporary: bool,
    message: String,
    channel: Option<ChannelKind>,
    operation: Option<&'static str>,
    http_status: Option<u16>,
    channel_message: Option<String>,
    retry_after: Option<Duration>,
    broken_reason: Option<BrokenReason>,
    field: Option<String>,
    attempts: u32,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ChannelError {
    /// An error of `kind` with a message written for a person. Temporary when the kind is
    /// temporary by default ([`ErrorKind::is_temporary_by_default`]).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            temporary: kind.is_temporary_by_default(),
            message: message.into(),
            channel: None,
            operation: None,
            http_status: None,
            channel_message: None,
            retry_after: None,
            broken_reason: match kind {
                ErrorKind::Auth => Some(BrokenReason::CredentialsRejected),
                _ => None,
            },
            field: None,
            attempts: 0,
            source: None,
        }))
    }

    /// An authentication error with its diagnosis.
    pub fn auth(reason: BrokenReason, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message).with_broken_reason(reason)
    }

    /// A rate-limit error, retryable after `retry_after` when known.
    pub fn rate_limited(retry_after: Option<Duration>, message: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorKind::RateLimited, message);
        e.0.retry_after = retry_after;
        e
    }

    /// A temporary failure.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// The channel has no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// The request's content was rejected.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// The request conflicts with the channel's state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// The operation is not supported; `rule` says why, in the channel's terms.
    pub fn unsupported(rule: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, rule)
    }

    /// Sets the channel.
    pub fn with_channel(mut self, channel: ChannelKind) -> Self {
        self.0.channel = Some(channel);
        self
    }

    /// Sets the operation (`"fetch_orders"`, `"ship"`, …).
    pub fn with_operation(mut self, operation: &'static str) -> Self {
        self.0.operation = Some(operation);
        self
    }

    /// Sets the HTTP status of the response.
    pub fn with_http_status(mut self, status: u16) -> Self {
        self.0.http_status = Some(status);
        self
    }

    /// Sets the channel's own message, exactly as it was sent.
    pub fn with_channel_message(mut self, message: impl Into<String>) -> Self {
        self.0.channel_message = Some(message.into());
        self
    }

    /// Sets how long to wait before trying again.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.0.retry_after = Some(retry_after);
        self
    }

    /// Sets the diagnosis of an authentication failure.
    pub fn with_broken_reason(mut self, reason: BrokenReason) -> Self {
        self.0.broken_reason = Some(reason);
        self
    }

    /// Names the field a validation error is about (`"price.amount"`, `"sku"`).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.0.field = Some(field.into());
        self
    }

    /// Marks the error temporary (worth retrying) or permanent.
    pub fn set_temporary(mut self, temporary: bool) -> Self {
        self.0.temporary = temporary;
        self
    }

    /// Records how many attempts were made before giving up.
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.0.attempts = attempts;
        self
    }

    /// Attaches the underlying cause. It must not contain secrets.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// Whether trying again later may succeed.
    pub fn is_temporary(&self) -> bool {
        self.0.temporary
    }

    /// Our message, written for a person.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The channel, when known.
    pub fn channel(&self) -> Option<ChannelKind> {
        self.0.channel
    }

    /// The operation, when known.
    pub fn operation(&self) -> Option<&'static str> {
        self.0.operation
    }

    /// The HTTP status of the channel's response, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        self.0.http_status
    }

    /// The channel's own message, exactly as it was sent.
    pub fn channel_message(&self) -> Option<&str> {
        self.0.channel_message.as_deref()
    }

    /// How long to wait before trying again, when the channel (or our limiter) said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// The diagnosis of an authentication failure.
    pub fn broken_reason(&self) -> Option<BrokenReason> {
        self.0.broken_reason
    }

    /// The field a validation error is about, when the channel said.
    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// How many attempts were made (0 when not recorded).
    pub fn attempts(&self) -> u32 {
        self.0.attempts
    }
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(channel) = self.0.channel {
            write!(f, "{channel}")?;
            if let Some(op) = self.0.operation {
                write!(f, " {op}")?;
            }
            f.write_str(": ")?;
        } else if let Some(op) = self.0.operation {
            write!(f, "{op}: ")?;
        }
        write!(f, "{}: {}", self.0.kind, self.0.message)?;
        if let Some(field) = &self.0.field {
            write!(f, " (field {field})")?;
        }
        if let Some(status) = self.0.http_status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(msg) = &self.0.channel_message {
            write!(f, "; the channel said: {msg:?}")?;
        }
        if let Some(wait) = self.0.retry_after {
            write!(f, "; retry after {}s", wait.as_secs())?;
        }
        if self.0.attempts > 1 {
            write!(f, "; gave up after {} attempts", self.0.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ChannelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_carries_context() {
        let e = ChannelError::rate_limited(Some(Duration::from_secs(30)), "quota exhausted")
            .with_channel(ChannelKind::Tradera)
            .with_operation("fetch_orders")
            .with_http_status(429)
            .with_channel_message("Rate limit exceeded")
            .with_attempts(3);
        let s = e.to_string();
        assert_eq!(
            s,
            "Tradera fetch_orders: rate limited: quota exhausted (HTTP 429); the channel said: \"Rate limit exceeded\"; retry after 30s; gave up after 3 attempts"
        );
        assert!(e.is_temporary());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn auth_defaults() {
        let e = ChannelError::new(ErrorKind::Auth, "refused");
        assert!(!e.is_temporary());
        assert_eq!(e.broken_reason(), Some(BrokenReason::CredentialsRejected));
        let e = ChannelError::auth(BrokenReason::LoginRequired, "invalid_grant");
        assert_eq!(e.broken_reason(), Some(BrokenReason::LoginRequired));
        assert!(!BrokenReason::LoginRequired.advice().is_empty());
    }

    #[test]
    fn login_required_advice_follows_the_credentials() {
        let login = BrokenReason::LoginRequired.advice_for(CredentialKind::LoginSession);
        assert!(login.contains("deactivate and reactivate"), "{login}");
        let oauth = BrokenReason::LoginRequired.advice_for(CredentialKind::OAuth);
        assert!(oauth.contains("new refresh token"), "{oauth}");
        assert!(!oauth.contains("deactivate"), "{oauth}");
        let other = BrokenReason::LoginRequired.advice_for(CredentialKind::ApiToken);
        assert!(other.contains("enter new ones") && !other.contains("deactivate"));
        assert_eq!(
            BrokenReason::CredentialsRejected.advice_for(CredentialKind::OAuth),
            BrokenReason::CredentialsRejected.advice()
        );
    }
}
