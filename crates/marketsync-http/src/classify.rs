//! Error classification: an HTTP error response (status, headers, body) becomes a
//! [`ChannelError`] with the right kind, retryability and the channel's own message.
//!
//! [`classify`] is the default every client uses. An adapter whose marketplace needs something
//! else (Reverb answers validation errors with 412, not 409) supplies its own
//! [`ParseError`] function, usually one that calls [`classify`] and adjusts the result.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use marketsync_core::{BrokenReason, ChannelError, ErrorKind};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::retry::retry_after;

/// The longest channel message kept from a body that is not one of the known JSON shapes.
pub const MAX_RAW_MESSAGE_CHARS: usize = 300;

/// An error response, as handed to [`classify`] or an adapter's [`ParseError`] function.
///
/// The body has already had every secret the client knows (the access token, sensitive header
/// values) replaced by `[REDACTED]`, in case the channel echoes one.
#[derive(Clone, Copy)]
pub struct ErrorResponse<'a> {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: &'a HeaderMap,
    /// The response body.
    pub body: &'a [u8],
    /// When the response arrived (wall clock), to resolve an HTTP-date `Retry-After`.
    pub received_at: DateTime<Utc>,
}

/// Header names only (a response can set cookies or echo tokens in its headers) and the body's
/// length, never its bytes.
impl std::fmt::Debug for ErrorResponse<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorResponse")
            .field("status", &self.status)
            .field(
                "headers",
                &self.headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .field("received_at", &self.received_at)
            .finish()
    }
}

/// An adapter's error parser: the pure function that turns an error response into a
/// [`ChannelError`]. It must never put the request, a credential or an authorization header into
/// the error.
pub type ParseError = Arc<dyn Fn(&ErrorResponse<'_>) -> ChannelError + Send + Sync>;

/// The default classification of an error response.
///
/// | status | kind | temporary |
/// |---|---|---|
/// | 400, 406, 413, 414, 415, 422 | `Invalid` | no |
/// | 401 | `Auth` (`CredentialsRejected`) | no |
/// | 403 | `Auth` (`PermissionDenied`) | no |
/// | 404, 410 | `NotFound` | no |
/// | 409, 412 | `Conflict` | no |
/// | 429 | `RateLimited`, with `Retry-After` | yes |
/// | 408, 5xx except 501 | `Transient` (with `Retry-After` when sent) | yes |
/// | 501 | `Unsupported` | no |
/// | anything else | `Channel` | no |
///
/// The channel's own message comes from [`channel_message`]; the HTTP status is attached.
pub fn classify(response: &ErrorResponse<'_>) -> ChannelError {
    let status = response.status.as_u16();
    let wait = retry_after(response.headers, response.received_at);
    let mut error = match status {
        400 | 406 | 413 | 414 | 415 | 422 => {
            ChannelError::invalid("the channel rejected the request's content")
        }
        401 => ChannelError::auth(
            BrokenReason::CredentialsRejected,
            "the channel refused the credentials",
        ),
        403 => ChannelError::auth(
            BrokenReason::PermissionDenied,
            "the credentials lack a permission this request needs",
        ),
        404 | 410 => ChannelError::not_found("the channel has no such resource"),
        409 | 412 => ChannelError::conflict("the request conflicts with the channel's state"),
        429 => ChannelError::rate_limited(wait, "the channel's rate limit was exceeded"),
        408 => ChannelError::transient("the channel timed out waiting for the request"),
        501 => ChannelError::unsupported("the channel does not implement this request"),
        500..=599 => {
            let e = ChannelError::transient("the channel had a temporary server error");
            match wait {
                Some(w) => e.with_retry_after(w),
                None => e,
            }
        }
        _ => ChannelError::new(
            ErrorKind::Channel,
            format!("the channel answered with unexpected HTTP status {status}"),
        ),
    }
    .with_http_status(status);
    if let Some(message) = channel_message(response.body) {
        error = error.with_channel_message(message);
    }
    error
}

/// The channel's own message from an error body, trying the shapes the marketplaces use:
///
/// - OData and Tradera: `{"error": {"code": .., "message": ..}}` → the message (or the code);
/// - OAuth: `{"error": "..", "error_description": ".."}` → the description (or the error);
/// - Allegro: `{"errors": [{"code", "message", "userMessage", ..}]}` → each `userMessage` (or
///   `message`, or `code`), joined with `"; "`;
/// - ASP.NET: `{"Message": ..}`;
/// - Reverb: `{"message": .., "errors": {"field": ["..", ..]}}` → the message followed by the
///   field errors in parentheses;
/// - anything else: the raw text, whitespace collapsed, cut to [`MAX_RAW_MESSAGE_CHARS`].
///
/// `None` for an empty body.
pub fn channel_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text)
        && let Some(message) = message_from_json(&map)
    {
        return Some(message);
    }
    Some(truncate(
        &text.split_whitespace().collect::<Vec<_>>().join(" "),
    ))
}

fn message_from_json(map: &serde_json::Map<String, Value>) -> Option<String> {
    // OData / Tradera: {"error": {"code", "message"}}
    if let Some(Value::Object(inner)) = map.get("error") {
        if let Some(m) = non_empty(inner.get("message")) {
            return Some(m);
        }
        if let Some(c) = non_empty(inner.get("code")) {
            return Some(c);
        }
    }
    // OAuth: {"error": "...", "error_description": "..."}; Reverb legacy {"error": "..."}
    if let Some(d) = non_empty(map.get("error_description")) {
        return Some(d);
    }
    // Allegro: {"errors": [{"userMessage", "message", "code"}]}
    if let Some(Value::Array(items)) = map.get("errors") {
        let parts: Vec<String> = items
            .iter()
            .filter_map(|item| {
                non_empty(item.get("userMessage"))
                    .or_else(|| non_empty(item.get("message")))
                    .or_else(|| non_empty(item.get("code")))
            })
            .collect();
        if !parts.is_empty() {
            return Some(parts.join("; "));
        }
    }
    // Reverb: {"message": "...", "errors": {"field": ["..."]}}; ASP.NET: {"Message": "..."}
    if let Some(m) = non_empty(map.get("message")).or_else(|| non_empty(map.get("Message"))) {
        if let Some(Value::Object(fields)) = map.get("errors") {
            let details: Vec<String> = fields
                .iter()
                .filter_map(|(field, v)| {
                    let msgs: Vec<String> = match v {
                        Value::Array(a) => a.iter().filter_map(|x| non_empty(Some(x))).collect(),
                        other => non_empty(Some(other)).into_iter().collect(),
                    };
                    (!msgs.is_empty()).then(|| format!("{field}: {}", msgs.join(", ")))
                })
                .collect();
            if !details.is_empty() {
                return Some(format!("{m} ({})", details.join("; ")));
            }
        }
        return Some(m);
    }
    non_empty(map.get("error"))
}

fn non_empty(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_RAW_MESSAGE_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_RAW_MESSAGE_CHARS).collect();
    cut.push('…');
    cut
}

/// Replaces every occurrence of each secret (at least 4 characters long) in `text` with
/// `[REDACTED]`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(s) {
            out = out.replace(s, "[REDACTED]");
        }
    }
    out
}

/// [`redact`] for a body: returns it unchanged unless it is text containing a secret.
pub(crate) fn redact_body(body: Vec<u8>, secrets: &[&str]) -> Vec<u8> {
    match std::str::from_utf8(&body) {
        Ok(text) if secrets.iter().any(|s| s.len() >= 4 && text.contains(s)) => {
            redact(text, secrets).into_bytes()
        }
        _ => body,
    }
}

/// Counts a `429 Too Many Requests` answer from `channel` (a
/// [`ChannelKind`](marketsync_core::ChannelKind) name) in `marketsync_http_429_total{channel}`
/// ([`metrics`](marketsync_core::engine::metrics)).
pub(crate) fn count_429(channel: &'static str) {
    metrics::counter!(marketsync_core::engine::metrics::HTTP_429_TOTAL, "channel" => channel)
        .increment(1);
}
