//! Allegro's error responses as [`ChannelError`]s, and the configuration errors.
//!
//! Allegro answers errors in two shapes (A4 of the fact sheet), both read here:
//!
//! - `ErrorsHolder`: `{"errors":[{"code","message","details","path","userMessage","metadata"}]}`
//!   on most 4xx; the channel message is each `userMessage` (else `message`, else `code`), and
//!   the first non-empty `path` names the field;
//! - OAuth `AuthError`: `{"error":"invalid_token","error_description":"…"}` on 401 (and at the
//!   token endpoint, which marketsync-http classifies: `invalid_grant` → `Auth` /
//!   `LoginRequired`).
//!
//! Status → kind: 400/422 `Invalid`, 401 `Auth` / `LoginRequired` (the request was already
//! retried once with a renewed token, so the login itself is gone: revoked by a password
//! change, a logout of all devices, more than 20 sessions …), 403 `Auth` / `PermissionDenied`
//! (a scope the application lacks), 404 `NotFound`, 409 `Conflict` (a command id already used,
//! an outdated checkout-form revision), 429 `RateLimited` (Allegro blocks the client id for a
//! minute and sends no `Retry-After`, so the client waits 60 s unless told otherwise), 5xx
//! `Transient`.

use std::time::Duration;

use marketsync_core::{BrokenReason, ChannelError, ErrorKind};
use marketsync_http::{ErrorResponse, classify};
use serde_json::Value;

/// What is missing or wrong in an [`AllegroConfig`](crate::AllegroConfig); each names the field
/// (as spelled in a config file, [`field`](Self::field)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required value was not given: the field.
    #[error("the Allegro configuration needs `{0}`")]
    Missing(&'static str),
    /// A host (`base_url` or `auth_base_url`) is not usable.
    #[error("invalid Allegro base URL (`base_url` or `auth_base_url`): {0}")]
    InvalidBaseUrl(String),
    /// A value is not usable.
    #[error("invalid Allegro configuration: `{field}` {reason}")]
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

/// How long Allegro blocks a client id that exceeded 9,000 requests a minute.
pub const RATE_LIMIT_BLOCK: Duration = Duration::from_secs(60);

/// Allegro's error response as a [`ChannelError`] (see the module docs). Pure.
pub fn parse_error(response: &ErrorResponse<'_>) -> ChannelError {
    let status = response.status.as_u16();
    let mut error = classify(response);
    match status {
        401 => {
            let mut e = ChannelError::auth(
                BrokenReason::LoginRequired,
                "Allegro refused the access token even after renewing it: the seller must log in again",
            )
            .with_http_status(status);
            if let Some(m) = error.channel_message() {
                e = e.with_channel_message(m);
            }
            error = e;
        }
        429 if error.retry_after().is_none() => {
            error = error.with_retry_after(RATE_LIMIT_BLOCK);
        }
        _ => {}
    }
    if error.field().is_none()
        && let Some(field) = error_path(response.body)
    {
        error = error.with_field(field);
    }
    error
}

/// The first non-empty `path` of an `ErrorsHolder` body.
fn error_path(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .get("errors")?
        .as_array()?
        .iter()
        .filter_map(|e| e.get("path")?.as_str())
        .find(|p| !p.trim().is_empty())
        .map(str::to_owned)
}

/// The error of one failed task of a batch command (`tasks[].message` and `errors[]`): `NotFound`
/// when Allegro says the offer does not exist (a broken link), else `Invalid`.
pub(crate) fn task_error(message: Option<&str>, errors: &[crate::wire::ApiError]) -> ChannelError {
    let texts: Vec<String> = errors
        .iter()
        .filter_map(|e| {
            e.user_message
                .clone()
                .or_else(|| e.message.clone())
                .or_else(|| e.code.clone())
        })
        .filter(|s| !s.trim().is_empty())
        .collect();
    let channel_message = match (message, texts.is_empty()) {
        (Some(m), true) => m.to_owned(),
        (Some(m), false) => format!("{m} ({})", texts.join("; ")),
        (None, false) => texts.join("; "),
        (None, true) => "the task failed without a reason".to_owned(),
    };
    let not_found = says_offer_missing(&channel_message)
        || errors.iter().any(|e| {
            e.code.as_deref().is_some_and(|c| {
                let c = c.replace('_', "").to_ascii_lowercase();
                c == "offernotfoundexception" || c == "offernotfound"
            })
        });
    let mut e = if not_found {
        ChannelError::not_found("Allegro has no such offer (ended and archived, or removed)")
    } else {
        ChannelError::invalid("Allegro rejected the change for this offer")
    }
    .with_channel_message(channel_message);
    if let Some(path) = errors
        .iter()
        .filter_map(|e| e.path.as_deref())
        .find(|p| !p.trim().is_empty())
    {
        e = e.with_field(path);
    }
    e
}

/// Whether a task's text says that the offer itself does not exist: "offer", an optional id,
/// then "does not exist" / "not found" ("The offer does not exist.", "Offer 7763155620 not
/// found"). Anything else that was not found (a category, shipping rates, "the offer's
/// product …") is not a missing offer, and an ended offer ("has ended", "cannot be modified")
/// exists. Pure.
pub fn says_offer_missing(text: &str) -> bool {
    const MISSING: [&str; 7] = [
        "does not exist",
        "doesn't exist",
        "no longer exists",
        "not found",
        "was not found",
        "is not found",
        "has not been found",
    ];
    let lower = text.to_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("offer") {
        rest = &rest[at + "offer".len()..];
        let mut after = rest.trim_start();
        if let Some(s) = after.strip_prefix("with id") {
            after = s.trim_start();
        }
        // An optional id: `7763155620`, `"7763155620"`, `#7763155620`.
        let id_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '"' | '\'' | '#' | '-')))
            .unwrap_or(after.len());
        let (token, tail) = after.split_at(id_len);
        let candidates = if token.chars().any(|c| c.is_ascii_digit()) {
            [after, tail.trim_start()]
        } else {
            [after, after]
        };
        if candidates
            .iter()
            .any(|c| MISSING.iter().any(|m| c.starts_with(m)))
        {
            return true;
        }
    }
    false
}

/// Whether an error concerns the whole account rather than one request (stop the call).
pub(crate) fn is_account_wide(e: &ChannelError) -> bool {
    matches!(e.kind(), ErrorKind::Auth | ErrorKind::RateLimited)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use marketsync_http::{HeaderMap, StatusCode};

    use super::*;

    fn parse(status: u16, body: &str) -> ChannelError {
        let headers = HeaderMap::new();
        parse_error(&ErrorResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: &headers,
            body: body.as_bytes(),
            received_at: Utc::now(),
        })
    }

    #[test]
    fn errors_holder_shape() {
        let e = parse(
            422,
            r#"{"errors":[{"code":"VALIDATION_ERROR","message":"Invalid price","details":null,"path":"modification.price.amount","userMessage":"The price must be greater than 0","metadata":{}}]}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(
            e.channel_message(),
            Some("The price must be greater than 0")
        );
        assert_eq!(e.field(), Some("modification.price.amount"));
        let e = parse(
            406,
            r#"{"errors":[{"code":"NotAcceptableException","message":"Not acceptable representation requested. Please check 'Accept' request header","details":"","path":"","userMessage":"The request contains incorrect data. Contact the author of the application.","metadata":{}}]}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(e.field(), None);
        let e = parse(
            409,
            r#"{"errors":[{"code":"CONFLICT","message":"Command id was already used","userMessage":"Command id was already used"}]}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Conflict);
    }

    #[test]
    fn oauth_shape() {
        let e = parse(
            401,
            r#"{"error":"invalid_token","error_description":"Access token expired: eyJhbGciOi"}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert_eq!(e.broken_reason(), Some(BrokenReason::LoginRequired));
        assert_eq!(
            e.channel_message(),
            Some("Access token expired: eyJhbGciOi")
        );
        let e = parse(
            403,
            r#"{"errors":[{"code":"AccessDenied","message":"Access is denied","userMessage":"Access is denied"}]}"#,
        );
        assert_eq!(e.broken_reason(), Some(BrokenReason::PermissionDenied));
    }

    #[test]
    fn throttling_waits_out_the_block() {
        let e = parse(429, "");
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(RATE_LIMIT_BLOCK));
        assert!(parse(503, "Service Unavailable").is_temporary());
    }

    #[test]
    fn task_errors() {
        let e = task_error(Some("The offer does not exist."), &[]);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = task_error(Some("Offer 7763155620 not found"), &[]);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = task_error(
            Some("Validation failed"),
            &[crate::wire::ApiError {
                code: Some("OfferNotFoundException".into()),
                message: Some("Requested offer id which was not found".into()),
                path: None,
                user_message: None,
            }],
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        // Something else not found, or an offer that has ended, is not a missing offer.
        for text in [
            "Shipping rates not found",
            "The offer's product was not found",
            "Offer 7763155620 has ended and cannot be modified",
            "Category 257931 does not exist",
        ] {
            assert_eq!(
                task_error(Some(text), &[]).kind(),
                ErrorKind::Invalid,
                "{text}"
            );
        }
        let e = task_error(
            Some("Validation failed"),
            &[crate::wire::ApiError {
                code: Some("IllegalArgumentException".into()),
                message: Some("stock must be positive".into()),
                path: Some("stock.available".into()),
                user_message: None,
            }],
        );
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(
            e.channel_message(),
            Some("Validation failed (stock must be positive)")
        );
        assert_eq!(e.field(), Some("stock.available"));
    }
}
