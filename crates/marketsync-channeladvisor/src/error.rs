//! ChannelAdvisor's error responses as [`ChannelError`]s, and the configuration errors.
//!
//! ChannelAdvisor answers errors in two shapes, both read here (through
//! [`marketsync_http::channel_message`]):
//!
//! - OData: `{"error":{"code":"","message":"..."}}` (action and entity errors, `$batch` parts);
//! - ASP.NET Web API: `{"$id":"1","Message":"..."}` (routing errors, some 401s).
//!
//! Status → kind: 400 `Invalid` (with ChannelAdvisor's message), 401 `Auth`
//! (`CredentialsRejected`: an expired, revoked or under-scoped token, after one renewal was
//! tried), 403 `Auth` (`PermissionDenied`), 404 `NotFound`, 429 `RateLimited` (ChannelAdvisor
//! documents no `Retry-After`, so the client backs off exponentially), 5xx `Transient`. The
//! token endpoint answers bad or revoked credentials with 400; marketsync-http classifies those
//! as `Auth` with the endpoint's own message.

use chrono::Utc;
use marketsync_core::ChannelError;
use marketsync_http::{ErrorResponse, HeaderMap, StatusCode, classify};

/// What is missing or wrong in a [`ChannelAdvisorConfig`](crate::ChannelAdvisorConfig); each
/// names the field (as spelled in a config file, [`field`](Self::field)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No profile id (`profile_id`) was given. Every request is scoped to one ChannelAdvisor
    /// profile.
    #[error(
        "the ChannelAdvisor profile id (`profile_id`) is required: it is the number after `?apid=` in the ChannelAdvisor UI, or under Account Authorizations"
    )]
    MissingProfileId,
    /// A required value was not given: the field.
    #[error("the ChannelAdvisor configuration needs `{0}`")]
    Missing(&'static str),
    /// The base URL (`base_url`) is not usable.
    #[error("invalid ChannelAdvisor `base_url`: {0}")]
    InvalidBaseUrl(String),
    /// A value is not usable.
    #[error("invalid ChannelAdvisor configuration: `{field}` {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl ConfigError {
    /// The field that is missing or wrong.
    pub fn field(&self) -> &'static str {
        match self {
            Self::MissingProfileId => "profile_id",
            Self::Missing(field) | Self::Invalid { field, .. } => field,
            Self::InvalidBaseUrl(_) => "base_url",
        }
    }
}

impl From<ConfigError> for ChannelError {
    /// An `Invalid` error naming the field.
    fn from(e: ConfigError) -> Self {
        ChannelError::invalid(e.to_string()).with_field(e.field())
    }
}

/// ChannelAdvisor's error response as a [`ChannelError`]: the shared classification (see the
/// module docs), which already reads both of ChannelAdvisor's body shapes. Pure.
pub fn parse_error(response: &ErrorResponse<'_>) -> ChannelError {
    classify(response)
}

/// The error of one `$batch` part: its status and body, classified like a whole response.
pub fn part_error(status: u16, body: &[u8]) -> ChannelError {
    let headers = HeaderMap::new();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    parse_error(&ErrorResponse {
        status,
        headers: &headers,
        body,
        received_at: Utc::now(),
    })
}

#[cfg(test)]
mod tests {
    use marketsync_core::{BrokenReason, ErrorKind};

    use super::*;

    #[test]
    fn odata_shape() {
        let e = part_error(
            400,
            br#"{"error":{"code":"","message":"The Quantity field is required."}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(e.channel_message(), Some("The Quantity field is required."));
        assert_eq!(e.http_status(), Some(400));
    }

    #[test]
    fn aspnet_shape() {
        let e = part_error(
            404,
            br#"{"$id":"1","Message":"No HTTP resource was found that matches the request URI 'https://api.channeladvisor.com/v1/Productz'."}"#,
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.channel_message().unwrap().starts_with("No HTTP resource"));
    }

    #[test]
    fn denied_part_is_auth() {
        let e = part_error(
            401,
            br#"{"error":{"code":"","message":"Authorization has been denied for this request."}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert_eq!(e.broken_reason(), Some(BrokenReason::CredentialsRejected));
        assert_eq!(
            e.channel_message(),
            Some("Authorization has been denied for this request.")
        );
    }

    #[test]
    fn throttled_and_server_errors_are_temporary() {
        assert_eq!(part_error(429, b"").kind(), ErrorKind::RateLimited);
        assert!(part_error(503, b"Service Unavailable").is_temporary());
    }
}
