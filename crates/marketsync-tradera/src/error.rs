//! Tradera's error responses as [`ChannelError`]s, and the configuration errors.
//!
//! REST v4 answers errors with `{"error": {"code": "BadRequest", "message": "…"}}` (fact sheet
//! B6); the message (or, without one, the code) becomes the channel message. Statuses:
//!
//! - 401 (missing or invalid credentials) and 403 (the user or the application lacks
//!   permission) → `Auth` with [`BrokenReason::LoginRequired`]: Tradera has no refresh, so the
//!   only repair is the seller logging in again (deactivate → reactivate). Tradera's message
//!   says when the application itself is refused;
//! - 429 → `RateLimited`. With a `Retry-After`, that wait; without one the daily budget is taken
//!   as used up and the wait is [`EXHAUSTED_WAIT`] — longer than any retry policy sleeps, so a
//!   429 is never retried in a loop;
//! - everything else follows marketsync-http's [`classify()`] (400 → `Invalid`, 404 →
//!   `NotFound`, 5xx → `Transient`).

use std::time::Duration;

use marketsync_core::{BrokenReason, ChannelError};
pub use marketsync_http::adapter::ConfigError;
use marketsync_http::{ErrorResponse, classify};

/// The wait given to a 429 that carries no `Retry-After`: a whole budget period (Tradera counts
/// 24 hours; which window it uses is unconfirmed, so this is the safe reading).
pub const EXHAUSTED_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// Tradera's error response as a [`ChannelError`] (see the module docs). Pure.
pub fn parse_error(response: &ErrorResponse<'_>) -> ChannelError {
    let classified = classify(response);
    let status = response.status.as_u16();
    let replaced = match status {
        401 | 403 => ChannelError::auth(
            BrokenReason::LoginRequired,
            "Tradera refused the login session: the seller must log in at Tradera again",
        ),
        429 => match classified.retry_after() {
            Some(_) => return classified,
            None => ChannelError::rate_limited(
                Some(EXHAUSTED_WAIT),
                "Tradera's call budget is used up (429 without Retry-After); calls resume when it renews",
            ),
        },
        _ => return classified,
    };
    let mut error = replaced.with_http_status(status);
    if let Some(m) = classified.channel_message() {
        error = error.with_channel_message(m);
    }
    error
}

/// Whether a per-item message of Tradera (a batch call's `validationErrors[].errorMessage`, a
/// queued request's result message) says the item does not exist: it names the item and says
/// it was not found or does not exist (`"Shop item 700100200 was not found."`). Any other
/// refusal — an item removed or ended, not a shop item, a bad value — is not read as a
/// missing item: the item still exists at Tradera. Pure.
pub fn says_item_missing(message: &str) -> bool {
    let m = message.to_lowercase();
    m.contains("item")
        && [
            "not found",
            "does not exist",
            "doesn't exist",
            "no longer exists",
        ]
        .iter()
        .any(|p| m.contains(p))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use marketsync_core::ErrorKind;
    use marketsync_http::{HeaderMap, HeaderValue, StatusCode};

    use super::*;

    fn parse_with(status: u16, body: &str, headers: &HeaderMap) -> ChannelError {
        parse_error(&ErrorResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.as_bytes(),
            received_at: Utc::now(),
        })
    }

    fn parse(status: u16, body: &str) -> ChannelError {
        parse_with(status, body, &HeaderMap::new())
    }

    #[test]
    fn unauthorized_and_forbidden_need_a_new_login() {
        for status in [401, 403] {
            let e = parse(
                status,
                r#"{"error":{"code":"Unauthorized","message":"Invalid user token"}}"#,
            );
            assert_eq!(e.kind(), ErrorKind::Auth);
            assert_eq!(e.broken_reason(), Some(BrokenReason::LoginRequired));
            assert_eq!(e.channel_message(), Some("Invalid user token"));
            assert_eq!(e.http_status(), Some(status));
            assert!(!e.is_temporary());
        }
        // Only a code: the code is the message.
        let e = parse(401, r#"{"error":{"code":"Unauthorized"}}"#);
        assert_eq!(e.channel_message(), Some("Unauthorized"));
    }

    #[test]
    fn too_many_requests_without_retry_after_is_an_exhausted_budget() {
        let e = parse(
            429,
            r#"{"error":{"code":"TooManyRequests","message":"Rate limit exceeded"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(EXHAUSTED_WAIT));
        assert_eq!(e.channel_message(), Some("Rate limit exceeded"));
        assert_eq!(e.http_status(), Some(429));

        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("120"));
        let e = parse_with(429, "", &h);
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    }

    #[test]
    fn others_follow_the_shared_classification() {
        let e = parse(
            400,
            r#"{"error":{"code":"BadRequest","message":"Price must be positive"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(e.channel_message(), Some("Price must be positive"));
        assert_eq!(
            parse(
                404,
                r#"{"error":{"code":"NotFound","message":"Item not found"}}"#
            )
            .kind(),
            ErrorKind::NotFound
        );
        let e = parse(
            500,
            r#"{"error":{"code":"InternalServerError","message":"x"}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert!(e.is_temporary());
    }

    #[test]
    fn a_missing_item_only_when_the_message_says_so() {
        assert!(says_item_missing("Shop item 700100200 was not found."));
        assert!(says_item_missing(
            "The item does not exist or does not belong to the seller."
        ));
        assert!(!says_item_missing("Shop item 700100200 has been removed."));
        assert!(!says_item_missing("Item 700100200 is not a shop item."));
        assert!(!says_item_missing("Category not found"));
        assert!(!says_item_missing(
            "price must be a positive whole number of SEK."
        ));
    }
}
