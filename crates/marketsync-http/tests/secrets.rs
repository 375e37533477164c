//! No secret reaches the tracing output, a `Debug` or an error: a full run of requests,
//! refreshes and failures with distinctive secrets, captured by a subscriber writing to a
//! buffer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use marketsync_core::{ChannelError, ChannelKind, ManualClock, SecretString};
use marketsync_http::{
    HttpClient, OAuthClient, OAuthConfig, RetryPolicy, TokenManager, TokenOptions, TokenSet, Url,
};
use marketsync_testkit::behaviour::{SecretScan, TraceCapture};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_SECRET: &str = "CLIENTSECRET-q81zx";
const REFRESH_OLD: &str = "REFRESHOLD-x7kd2";
const REFRESH_NEW: &str = "REFRESHNEW-m4pp0";
const ACCESS_OLD: &str = "ACCESSOLD-k2aa9";
const ACCESS_NEW: &str = "ACCESSNEW-p9bb3";
const STATIC_TOKEN: &str = "STATICTOKEN-w3cc7";
const HEADER_SECRET: &str = "HEADERSECRET-v5dd1";
const QUERY_TOKEN: &str = "QUERYTOKEN-c8ee4";
const DEVICE_CODE: &str = "DEVICECODE-j6ff5";
const AUTH_CODE: &str = "AUTHCODE-h1gg8";

const SECRETS: [&str; 10] = [
    CLIENT_SECRET,
    REFRESH_OLD,
    REFRESH_NEW,
    ACCESS_OLD,
    ACCESS_NEW,
    STATIC_TOKEN,
    HEADER_SECRET,
    QUERY_TOKEN,
    DEVICE_CODE,
    AUTH_CODE,
];

fn assert_clean(what: &str, text: &str) {
    SecretScan::new(SECRETS).check(what, text);
}

fn json(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/json")
        .set_body_string(body.to_owned())
}

fn token_body(access: &str, refresh: &str) -> String {
    format!(
        r#"{{"access_token":"{access}","token_type":"bearer","expires_in":3600,"refresh_token":"{refresh}"}}"#
    )
}

// current_thread: the subscriber is the thread's default, and every task (including the token
// renewal the manager spawns) runs on this thread.
#[tokio::test(flavor = "current_thread")]
async fn no_secret_in_traces_debug_or_errors() {
    let (capture, _guard) = TraceCapture::start();

    let server = MockServer::start().await;
    let base = Url::parse(&server.uri()).unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap(),
    ));

    // Token endpoint: the first refresh rotates; the second is refused with a message that
    // echoes the refresh token (as Allegro's does) and the client secret.
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(body_string_contains(REFRESH_OLD))
        .respond_with(json(200, &token_body(ACCESS_NEW, REFRESH_NEW)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(body_string_contains(REFRESH_NEW))
        .respond_with(json(
            400,
            &format!(
                r#"{{"error":"invalid_grant","error_description":"Invalid refresh token: {REFRESH_NEW} for client secret {CLIENT_SECRET}"}}"#
            ),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(body_string_contains(DEVICE_CODE))
        .respond_with(json(
            400,
            &format!(r#"{{"error":"access_denied","error_description":"device code {DEVICE_CODE} denied"}}"#),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .and(body_string_contains(AUTH_CODE))
        .respond_with(json(
            400,
            &format!(r#"{{"error":"invalid_grant","error_description":"code {AUTH_CODE} used"}}"#),
        ))
        .mount(&server)
        .await;
    // The API: a success with the new token, then a 401 echoing it.
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_NEW}").as_str(),
        ))
        .respond_with(json(200, r#"{"value":[]}"#))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/Products"))
        .respond_with(json(
            401,
            &format!(
                r#"{{"error":{{"code":"","message":"Token {ACCESS_NEW} has been revoked"}}}}"#
            ),
        ))
        .mount(&server)
        .await;
    // A static-token client getting a 500 that echoes both its secrets.
    Mock::given(method("GET"))
        .and(path("/api/my/listings"))
        .respond_with(json(
            500,
            &format!(r#"{{"message":"bad token {STATIC_TOKEN} / {HEADER_SECRET}"}}"#),
        ))
        .mount(&server)
        .await;

    let config = OAuthConfig::new(
        "app-id-1",
        Some(SecretString::from(CLIENT_SECRET)),
        base.join("/oauth2/token").unwrap(),
    )
    .with_authorize_url(base.join("/oauth2/authorize").unwrap())
    .with_redirect_url(Url::parse("https://seller.example/cb").unwrap());
    let oauth = OAuthClient::new(config.clone())
        .unwrap()
        .with_clock(clock.clone());
    let stored = Arc::new(Mutex::new(Vec::<TokenSet>::new()));
    let sink = stored.clone();
    let tokens = TokenManager::with_options(
        oauth.clone(),
        TokenSet {
            access_token: SecretString::from(ACCESS_OLD),
            expires_at: Some(Utc.with_ymd_and_hms(2026, 3, 2, 11, 0, 0).unwrap()),
            refresh_token: Some(SecretString::from(REFRESH_OLD)),
            scopes: Vec::new(),
        },
        move |t: TokenSet| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(t);
                Ok::<(), ChannelError>(())
            }
        },
        TokenOptions {
            refresh_margin: Duration::from_secs(60),
            clock: clock.clone(),
        },
    );
    let fast = RetryPolicy {
        min_delay: Duration::from_millis(5),
        max_attempts: 2,
        ..RetryPolicy::default()
    };
    let ca = HttpClient::builder(&format!("{}/v1/", server.uri()))
        .channel(ChannelKind::ChannelAdvisor)
        .oauth(tokens.clone())
        .retry(fast.clone())
        .build()
        .unwrap();
    let reverb = HttpClient::builder(&format!("{}/api", server.uri()))
        .channel(ChannelKind::Reverb)
        .bearer(SecretString::from(STATIC_TOKEN))
        .sensitive_header("X-User-Token", SecretString::from(HEADER_SECRET))
        .retry(fast)
        .build()
        .unwrap();

    let mut errors: Vec<ChannelError> = Vec::new();

    // 1. Refresh (rotating) and a successful request, with a secret in the query string.
    ca.get("Orders")
        .query([("access_token", QUERY_TOKEN), ("exported", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(stored.lock().unwrap().len(), 1);
    // 2. A 401 echoing the token → invalidate → refresh refused (invalid_grant echoing secrets).
    errors.push(ca.get("Products").send().await.unwrap_err());
    // 3. A static-token client: 500s echoing its token and its sensitive header.
    errors.push(reverb.get("my/listings").send().await.unwrap_err());
    // 4. Device poll and code exchange refused, echoing their codes.
    errors.push(
        oauth
            .poll_device(&SecretString::from(DEVICE_CODE), Duration::from_secs(5))
            .await
            .unwrap_err(),
    );
    let start = oauth.authorize(&[]).unwrap();
    errors.push(
        oauth
            .exchange_code(
                &SecretString::from(AUTH_CODE),
                &start.state,
                &start.state,
                &start.pkce_verifier,
            )
            .await
            .unwrap_err(),
    );
    // 5. A link to another host is refused before anything is sent.
    errors.push(
        ca.request_href(
            marketsync_http::Method::GET,
            &format!("https://evil.example/v1/Orders?access_token={QUERY_TOKEN}"),
        )
        .send()
        .await
        .unwrap_err(),
    );

    // The run did what it should, so the captured output is meaningful.
    assert_eq!(errors[0].kind(), marketsync_core::ErrorKind::Auth);
    assert_eq!(
        errors[0].channel_message(),
        Some("Invalid refresh token: [REDACTED] for client secret [REDACTED]")
    );
    assert_eq!(
        errors[1].channel_message(),
        Some("bad token [REDACTED] / [REDACTED]")
    );
    assert_eq!(
        errors[2].channel_message(),
        Some("device code [REDACTED] denied")
    );
    assert_eq!(errors[3].channel_message(), Some("code [REDACTED] used"));

    let output = capture.text();
    assert!(output.contains("marketsync_http.request"), "{output}");
    assert!(output.contains("marketsync_http.token_request"), "{output}");
    assert!(output.contains("path=/v1/Orders"), "{output}");
    assert!(output.contains("status=401"), "{output}");
    assert!(output.contains("attempt=2"), "{output}");
    assert!(output.contains("retrying"), "{output}");
    assert_clean("tracing output", &output);

    // Debug and Display of everything that holds or saw a secret.
    for e in &errors {
        assert_clean("error Display", &e.to_string());
        assert_clean("error Debug", &format!("{e:?}"));
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            assert_clean("error source", &format!("{s} {s:?}"));
            source = s.source();
        }
    }
    assert_clean("client Debug", &format!("{ca:?} {reverb:?}"));
    assert_clean("token manager Debug", &format!("{tokens:?}"));
    assert_clean("oauth Debug", &format!("{oauth:?} {config:?}"));
    assert_clean("token set Debug", &format!("{:?}", stored.lock().unwrap()));
    assert_clean(
        "authorization start Debug",
        &format!("{start:?}").replace(&start.state, ""),
    );
    assert!(
        !format!("{start:?}").contains(marketsync_core::ExposeSecret::expose_secret(
            &start.pkce_verifier
        ))
    );
    let device = marketsync_http::DeviceAuthorization {
        verification_uri: "https://allegro.pl/skojarz-aplikacje".into(),
        verification_uri_complete: None,
        user_code: "abc".into(),
        device_code: SecretString::from(DEVICE_CODE),
        expires_in: Duration::from_secs(3600),
        interval: Duration::from_secs(5),
    };
    assert_clean("device Debug", &format!("{device:?}"));
}

#[test]
fn urls_in_oauth_types_and_clients_print_redacted() {
    use marketsync_http::{AuthorizationCodeStart, DeviceAuthorization};
    let config = OAuthConfig::new(
        "app-1",
        Some(SecretString::from(CLIENT_SECRET)),
        Url::parse(&format!(
            "https://auth.example/oauth/token?client_secret={CLIENT_SECRET}"
        ))
        .unwrap(),
    )
    .with_authorize_url(
        Url::parse(&format!(
            "https://auth.example/authorize?api_key={STATIC_TOKEN}"
        ))
        .unwrap(),
    )
    .with_device_authorization_url(
        Url::parse(&format!("https://bob:{HEADER_SECRET}@auth.example/device")).unwrap(),
    )
    .with_redirect_url(
        Url::parse(&format!("https://seller.example/cb?token={QUERY_TOKEN}")).unwrap(),
    );
    let client = OAuthClient::new(config.clone()).unwrap();
    for text in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{client:?}"),
    ] {
        assert_clean("OAuthConfig Debug", &text);
        assert!(text.contains("https://auth.example/oauth/token"), "{text}");
        assert!(text.contains("seller.example/cb"), "{text}");
    }

    let start = AuthorizationCodeStart {
        url: Url::parse(&format!(
            "https://auth.example/authorize?client_id=app-1&state=s-1&code_challenge=c&redirect_uri=https%3A%2F%2Fseller.example%2Fcb%3Ftoken%3D{QUERY_TOKEN}"
        ))
        .unwrap(),
        state: "s-1".into(),
        pkce_verifier: SecretString::from(AUTH_CODE),
    };
    let text = format!("{start:?}");
    assert_clean("AuthorizationCodeStart Debug", &text);
    assert!(text.contains("client_id=app-1&state=s-1"), "{text}");

    let device = DeviceAuthorization {
        verification_uri: format!("https://auth.example/device?session={ACCESS_OLD}"),
        verification_uri_complete: Some(format!(
            "https://auth.example/device?user_code=ABCD&device_code={DEVICE_CODE}"
        )),
        user_code: "ABCD".into(),
        device_code: SecretString::from(DEVICE_CODE),
        expires_in: Duration::from_secs(600),
        interval: Duration::from_secs(5),
    };
    let text = format!("{device:?}");
    assert_clean("DeviceAuthorization Debug", &text);
    assert!(text.contains("user_code=ABCD"), "{text}");

    // A base URL with a password (the query and fragment are dropped when it is parsed).
    let builder = HttpClient::builder(&format!(
        "https://bob:{HEADER_SECRET}@api.example/v1/?access_token={QUERY_TOKEN}"
    ));
    let builder_text = format!("{builder:?}");
    assert_clean("HttpClientBuilder Debug", &builder_text);
    // A base URL with credentials is refused, without showing them.
    let refused = builder.build().unwrap_err();
    assert_clean("refusal", &format!("{refused} {refused:?}"));
    let http = HttpClient::builder(&format!(
        "https://api.example/v1/?access_token={QUERY_TOKEN}"
    ))
    .build()
    .unwrap();
    let text = format!("{http:?}");
    assert_clean("HttpClient Debug", &text);
    assert!(text.contains("api.example/v1/"), "{text}");
}

#[test]
fn an_error_response_prints_header_names_but_no_header_values_or_body() {
    use marketsync_http::{ErrorResponse, HeaderMap, HeaderValue, StatusCode};
    let mut headers = HeaderMap::new();
    headers.insert(
        "set-cookie",
        HeaderValue::from_static("session=cookie-secret-1234; HttpOnly"),
    );
    headers.insert("x-echoed-token", HeaderValue::from_static(STATIC_TOKEN));
    let body = format!("{{\"error\":\"bad token {STATIC_TOKEN}\"}}");
    let response = ErrorResponse {
        status: StatusCode::UNAUTHORIZED,
        headers: &headers,
        body: body.as_bytes(),
        received_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    };
    let printed = format!("{response:?}");
    assert!(!printed.contains("cookie-secret-1234"), "{printed}");
    assert_clean("ErrorResponse Debug", &printed);
    assert!(
        printed.contains("set-cookie") && printed.contains("401"),
        "{printed}"
    );
}
