//! Reverb's error responses as [`ChannelError`]s, and the configuration errors (the shared
//! [`ConfigError`], naming the field).
//!
//! Reverb's error bodies (fact sheet §7):
//!
//! - validation: `{"message": "<summary>", "errors": {"<field>": ["<msg>", ..]}}`, documented
//!   with status **412**; 422 is used elsewhere in the API and may be used here too
//!   (unconfirmed), so 412, 422 and any other 4xx carrying an `errors` map are validation
//!   errors: `Invalid`, with the first field named ([`ChannelError::field`]) and Reverb's
//!   message plus every field error as the channel message;
//! - 401: `{"message": "..", "details": "..", "_links": {..}}` or `{"error": ".."}` → `Auth`
//!   (`CredentialsRejected`) with that message; 403 → `Auth` (`PermissionDenied`: the token
//!   lacks a scope);
//! - 404 → `NotFound`, 429 → `RateLimited` (with `Retry-After` when sent; Reverb documents no
//!   header), 5xx → `Transient`.
//!
//! Everything but 412 follows marketsync-http's [`classify()`], which already reads Reverb's
//! body shapes; 412 would otherwise be a `Conflict`.

use marketsync_core::ChannelError;
pub use marketsync_http::adapter::ConfigError;
use marketsync_http::{ErrorResponse, classify};
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

/// The keys of an `errors` object, in the order Reverb sent them.
#[derive(Default)]
struct FieldNames(Vec<String>);

impl<'de> Deserialize<'de> for FieldNames {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = FieldNames;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of field errors")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldNames, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(FieldNames(keys))
            }
        }
        d.deserialize_map(Keys)
    }
}

#[derive(Deserialize)]
struct ValidationBody {
    #[serde(default)]
    errors: FieldNames,
}

/// The field names of a Reverb validation body (`errors` object keys), in the order sent;
/// empty when the body has no `errors` object.
pub fn error_fields(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<ValidationBody>(body)
        .map(|b| b.errors.0)
        .unwrap_or_default()
}

/// Reverb's error response as a [`ChannelError`] (see the module docs). Pure.
pub fn parse_error(response: &ErrorResponse<'_>) -> ChannelError {
    let classified = classify(response);
    let status = response.status.as_u16();
    let fields = error_fields(response.body);
    let validation = match status {
        412 | 422 => true,
        401 | 403 | 404 | 408 | 410 | 429 => false,
        400..=499 => !fields.is_empty(),
        _ => false,
    };
    if !validation {
        return classified;
    }
    let mut error =
        ChannelError::invalid("Reverb rejected the request's content").with_http_status(status);
    if let Some(message) = classified.channel_message() {
        error = error.with_channel_message(message);
    }
    if let Some(field) = fields.into_iter().next() {
        error = error.with_field(field);
    }
    error
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use marketsync_core::{BrokenReason, ErrorKind};
    use marketsync_http::{HeaderMap, HeaderValue, StatusCode};

    use super::*;

    fn parse(status: u16, body: &str) -> ChannelError {
        parse_with(status, body, &HeaderMap::new())
    }

    fn parse_with(status: u16, body: &str, headers: &HeaderMap) -> ChannelError {
        parse_error(&ErrorResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.as_bytes(),
            received_at: Utc::now(),
        })
    }

    #[test]
    fn validation_412_is_invalid_with_the_field() {
        let e = parse(
            412,
            r#"{"message":"Your listing could not be saved.","errors":{"price":["must be greater than 0"],"make":["can't be blank"]}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(!e.is_temporary());
        assert_eq!(e.http_status(), Some(412));
        assert_eq!(e.field(), Some("price"), "the first field as sent");
        let m = e.channel_message().unwrap();
        assert!(m.starts_with("Your listing could not be saved."), "{m}");
        assert!(m.contains("price: must be greater than 0"), "{m}");
        assert!(m.contains("make: can't be blank"), "{m}");
    }

    #[test]
    fn validation_422_and_400_with_errors() {
        let e = parse(
            422,
            r#"{"message":"Validation failed","errors":{"inventory":["is not a number"]}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(e.field(), Some("inventory"));
        let e = parse(
            400,
            r#"{"message":"Bad","errors":{"reason":["is not included in the list"]}}"#,
        );
        assert_eq!(e.field(), Some("reason"));
        // A 412 without field errors is still a validation error, never a conflict.
        let e = parse(412, r#"{"message":"Precondition failed"}"#);
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(e.field(), None);
        assert_eq!(e.channel_message(), Some("Precondition failed"));
    }

    #[test]
    fn field_names_in_order() {
        assert_eq!(
            error_fields(br#"{"errors":{"make":["x"],"condition":["y"]}}"#),
            ["make", "condition"]
        );
        assert!(error_fields(br#"{"errors":["x"]}"#).is_empty());
        assert!(error_fields(b"not json").is_empty());
        assert!(error_fields(br#"{"message":"m"}"#).is_empty());
    }

    #[test]
    fn auth_shapes() {
        let e = parse(
            401,
            r#"{"message":"You must log in to access this endpoint","details":"Invalid token","_links":{}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert_eq!(e.broken_reason(), Some(BrokenReason::CredentialsRejected));
        assert_eq!(
            e.channel_message(),
            Some("You must log in to access this endpoint")
        );
        let e = parse(
            401,
            r#"{"error":"You must log in to access this endpoint"}"#,
        );
        assert_eq!(
            e.channel_message(),
            Some("You must log in to access this endpoint")
        );
        let e = parse(
            403,
            r#"{"message":"You are not authorized to perform this action.","error_type":null}"#,
        );
        assert_eq!(e.broken_reason(), Some(BrokenReason::PermissionDenied));
    }

    #[test]
    fn others_follow_the_shared_classification() {
        assert_eq!(
            parse(404, r#"{"message":"Not found"}"#).kind(),
            ErrorKind::NotFound
        );
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let e = parse_with(429, "", &h);
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(7)));
        assert!(parse(503, "Service Unavailable").is_temporary());
        // A 404 whose body happens to carry errors stays NotFound (a broken link).
        assert_eq!(
            parse(404, r#"{"message":"x","errors":{"id":["gone"]}}"#).kind(),
            ErrorKind::NotFound
        );
    }
}
