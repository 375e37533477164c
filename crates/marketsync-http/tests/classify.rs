//! The classifier on the real error bodies of the fact sheets in `shared/api/`, `Retry-After`
//! parsing and the retry timing rule.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use marketsync_core::{BrokenReason, ErrorKind};
use marketsync_http::{
    ErrorResponse, HeaderMap, HeaderValue, RetryPolicy, StatusCode, channel_message, classify,
    classify_token_error, parse_retry_after,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 7, 27, 30).unwrap()
}

fn classify_body(status: u16, body: &str) -> marketsync_core::ChannelError {
    classify_with(status, &HeaderMap::new(), body)
}

fn classify_with(status: u16, headers: &HeaderMap, body: &str) -> marketsync_core::ChannelError {
    classify(&ErrorResponse {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: body.as_bytes(),
        received_at: now(),
    })
}

#[test]
fn channeladvisor_odata_401_is_auth_with_the_message() {
    let e = classify_body(
        401,
        r#"{"error":{"code":"","message":"Authorization has been denied for this request."}}"#,
    );
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.broken_reason(), Some(BrokenReason::CredentialsRejected));
    assert!(!e.is_temporary());
    assert_eq!(e.http_status(), Some(401));
    assert_eq!(
        e.channel_message(),
        Some("Authorization has been denied for this request.")
    );
}

#[test]
fn channeladvisor_aspnet_404_is_not_found() {
    let e = classify_body(
        404,
        r#"{"$id":"1","Message":"No HTTP resource was found that matches the request URI 'https://api.channeladvisor.com/v1/Prodcts'."}"#,
    );
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.channel_message(),
        Some(
            "No HTTP resource was found that matches the request URI 'https://api.channeladvisor.com/v1/Prodcts'."
        )
    );
}

#[test]
fn channeladvisor_ship_400_is_invalid() {
    let e = classify_body(
        400,
        r#"{"error":{"message":"The ShippingCarrier 'XYZ' is not valid for this account."}}"#,
    );
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(!e.is_temporary());
    assert_eq!(
        e.channel_message(),
        Some("The ShippingCarrier 'XYZ' is not valid for this account.")
    );
}

#[test]
fn allegro_errors_holder_prefers_user_message() {
    let body = r#"{"errors":[{"code":"NotAcceptableException","message":"Not acceptable representation requested. Please check 'Accept' request header","details":"","path":"","userMessage":"The request contains incorrect data. Contact the author of the application.","metadata":{}}]}"#;
    let e = classify_body(406, body);
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(
        e.channel_message(),
        Some("The request contains incorrect data. Contact the author of the application.")
    );

    let two = r#"{"errors":[{"code":"VALIDATION_ERROR","message":"price must be positive","path":"sellingMode.price","userMessage":""},{"code":"VALIDATION_ERROR","message":"name too long","userMessage":"Offer title is too long"}]}"#;
    let e = classify_body(422, two);
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(
        e.channel_message(),
        Some("price must be positive; Offer title is too long")
    );

    let e = classify_body(
        409,
        r#"{"errors":[{"code":"ConflictException","message":"Previous edit is still processing","userMessage":"Previous edit is still processing"}]}"#,
    );
    assert_eq!(e.kind(), ErrorKind::Conflict);
}

#[test]
fn allegro_auth_error_401() {
    let e = classify_body(
        401,
        r#"{"error":"invalid_token","error_description":"Access token expired: abc"}"#,
    );
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.channel_message(), Some("Access token expired: abc"));
    let e = classify_body(
        401,
        r#"{"error":"unauthorized","error_description":"Full authentication is required to access this resource"}"#,
    );
    assert_eq!(
        e.channel_message(),
        Some("Full authentication is required to access this resource")
    );
}

#[test]
fn tradera_shapes_and_statuses() {
    let e = classify_body(
        400,
        r#"{"error":{"code":"BadRequest","message":"The field Quantity must be between 0 and 10000."}}"#,
    );
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(
        e.channel_message(),
        Some("The field Quantity must be between 0 and 10000.")
    );

    let e = classify_body(403, r#"{"error":{"code":"Forbidden","message":""}}"#);
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.broken_reason(), Some(BrokenReason::PermissionDenied));
    assert_eq!(e.channel_message(), Some("Forbidden"));

    let mut headers = HeaderMap::new();
    headers.insert("retry-after", HeaderValue::from_static("3600"));
    let e = classify_with(
        429,
        &headers,
        r#"{"error":{"code":"TooManyRequests","message":"Rate limit exceeded, wait before retrying"}}"#,
    );
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert!(e.is_temporary());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(
        e.channel_message(),
        Some("Rate limit exceeded, wait before retrying")
    );
}

#[test]
fn reverb_shapes() {
    // Validation: 412 with a field map. The default says Conflict (a Reverb adapter overrides
    // it with its parse_error; see the retry tests); the message carries the field errors.
    let e = classify_body(
        412,
        r#"{"message":"Validation failed","errors":{"title":["can't be blank"],"price":["must be greater than 0","is invalid"]}}"#,
    );
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.channel_message(),
        Some(
            "Validation failed (price: must be greater than 0, is invalid; title: can't be blank)"
        )
    );

    let e = classify_body(
        401,
        r#"{"message":"Invalid token","details":"Invalid token. Please check your X-Auth-Token header.","_links":{}}"#,
    );
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.channel_message(), Some("Invalid token"));

    let e = classify_body(
        401,
        r#"{"error": "You must log in to access this endpoint"}"#,
    );
    assert_eq!(
        e.channel_message(),
        Some("You must log in to access this endpoint")
    );

    let e = classify_body(
        403,
        r#"{"message": "You are not authorized to perform this action.", "error_type": null}"#,
    );
    assert_eq!(e.broken_reason(), Some(BrokenReason::PermissionDenied));
    assert_eq!(
        e.channel_message(),
        Some("You are not authorized to perform this action.")
    );
}

#[test]
fn statuses_without_a_known_body() {
    let e = classify_body(
        502,
        "<html><body>\n  <h1>502 Bad Gateway</h1>\n</body></html>",
    );
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(e.is_temporary());
    assert_eq!(
        e.channel_message(),
        Some("<html><body> <h1>502 Bad Gateway</h1> </body></html>")
    );

    let e = classify_body(500, "");
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert_eq!(e.channel_message(), None);

    let long = "x".repeat(1000);
    let e = classify_body(500, &long);
    let m = e.channel_message().unwrap();
    assert_eq!(m.chars().count(), 301);
    assert!(m.ends_with('…'));

    assert_eq!(classify_body(408, "").kind(), ErrorKind::Transient);
    assert!(classify_body(408, "").is_temporary());
    assert_eq!(classify_body(410, "").kind(), ErrorKind::NotFound);
    assert_eq!(classify_body(501, "").kind(), ErrorKind::Unsupported);
    assert!(!classify_body(501, "").is_temporary());
    assert_eq!(classify_body(418, "").kind(), ErrorKind::Channel);
    assert!(!classify_body(418, "").is_temporary());

    let mut headers = HeaderMap::new();
    headers.insert("retry-after", HeaderValue::from_static("120"));
    let e = classify_with(503, &headers, "down for maintenance");
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));

    // 429 without Retry-After: rate limited, no wait known.
    let e = classify_body(429, "");
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), None);
}

#[test]
fn channel_message_fallbacks() {
    assert_eq!(channel_message(b"   "), None);
    assert_eq!(channel_message(b"plain text"), Some("plain text".into()));
    // JSON without a known field: the raw text.
    assert_eq!(
        channel_message(br#"{"foo":1}"#),
        Some(r#"{"foo":1}"#.into())
    );
    // Non-UTF-8 does not panic.
    assert!(channel_message(&[0xff, 0xfe, b'a']).is_some());
}

fn token_error(status: u16, body: &str) -> marketsync_core::ChannelError {
    classify_token_error(&ErrorResponse {
        status: StatusCode::from_u16(status).unwrap(),
        headers: &HeaderMap::new(),
        body: body.as_bytes(),
        received_at: now(),
    })
}

#[test]
fn token_endpoint_errors() {
    let e = token_error(
        400,
        r#"{"error":"invalid_grant","error_description":"Invalid refresh token: [REDACTED]"}"#,
    );
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.broken_reason(), Some(BrokenReason::LoginRequired));
    assert_eq!(
        e.channel_message(),
        Some("Invalid refresh token: [REDACTED]")
    );

    let e = token_error(401, r#"{"error":"invalid_client"}"#);
    assert_eq!(e.broken_reason(), Some(BrokenReason::CredentialsRejected));
    assert_eq!(e.channel_message(), Some("invalid_client"));

    // ChannelAdvisor: a bare 400 for bad Basic credentials or a bad refresh token.
    let e = token_error(400, r#"{"error":"invalid_request"}"#);
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.broken_reason(), Some(BrokenReason::CredentialsRejected));

    let e = token_error(
        401,
        r#"{"Message":"Full authentication is required to access this resource"}"#,
    );
    assert_eq!(e.broken_reason(), Some(BrokenReason::CredentialsRejected));
    assert_eq!(
        e.channel_message(),
        Some("Full authentication is required to access this resource")
    );

    assert_eq!(
        token_error(400, r#"{"error":"invalid_scope"}"#).broken_reason(),
        Some(BrokenReason::PermissionDenied)
    );
    let e = token_error(503, "upstream unavailable");
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(e.is_temporary());
    assert_eq!(token_error(429, "").kind(), ErrorKind::RateLimited);
}

#[test]
fn retry_after_delta_seconds() {
    assert_eq!(
        parse_retry_after("120", now()),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        parse_retry_after(" 7 ", now()),
        Some(Duration::from_secs(7))
    );
    assert_eq!(parse_retry_after("0", now()), Some(Duration::ZERO));
    // Absurdly large: saturates rather than being ignored.
    assert_eq!(
        parse_retry_after("99999999999999999999999", now()),
        Some(Duration::from_secs(u64::MAX))
    );
}

#[test]
fn retry_after_http_date() {
    // now() is 07:27:30 on Mon, 02 Mar 2026.
    assert_eq!(
        parse_retry_after("Mon, 02 Mar 2026 07:28:00 GMT", now()),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse_retry_after("Mon, 02 Mar 2026 08:27:30 +0000", now()),
        Some(Duration::from_secs(3600))
    );
    // A date in the past: retry now.
    assert_eq!(
        parse_retry_after("Sun, 01 Mar 2026 07:28:00 GMT", now()),
        Some(Duration::ZERO)
    );
}

#[test]
fn retry_after_garbage() {
    for value in [
        "",
        "soon",
        "-5",
        "1.5",
        "12s",
        "Mon, 99 Foo 2026",
        "tomorrow 10:00",
    ] {
        assert_eq!(parse_retry_after(value, now()), None, "{value:?}");
    }
}

#[test]
fn retry_timing_rule_caps() {
    let policy = RetryPolicy {
        max_retry_after: Duration::from_secs(60),
        max_elapsed: Duration::from_secs(120),
        ..RetryPolicy::default()
    };
    let backoff = Duration::from_secs(1);
    // Retry-After replaces the backoff, exactly.
    assert_eq!(
        policy.delay_after(Some(Duration::from_secs(7)), backoff, Duration::ZERO),
        Some(Duration::from_secs(7))
    );
    // Up to the cap it is slept; beyond, the retries end.
    assert_eq!(
        policy.delay_after(Some(Duration::from_secs(60)), backoff, Duration::ZERO),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        policy.delay_after(Some(Duration::from_secs(61)), backoff, Duration::ZERO),
        None
    );
    assert_eq!(
        policy.delay_after(Some(Duration::from_secs(u64::MAX)), backoff, Duration::ZERO),
        None
    );
    // Without Retry-After: the backoff.
    assert_eq!(
        policy.delay_after(None, backoff, Duration::ZERO),
        Some(backoff)
    );
    // The elapsed-time cap.
    assert_eq!(
        policy.delay_after(None, Duration::from_secs(5), Duration::from_secs(115)),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        policy.delay_after(None, Duration::from_secs(5), Duration::from_secs(116)),
        None
    );
}
