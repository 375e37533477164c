//! The token manager and the OAuth helpers against a wiremock token endpoint.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use marketsync_core::{
    BrokenReason, ChannelError, ChannelKind, ErrorKind, ExposeSecret, ManualClock, SecretString,
};
use marketsync_http::{
    DevicePoll, HttpClient, OAuthClient, OAuthConfig, RetryPolicy, TokenManager, TokenOptions,
    TokenSet, TokenStore, Url,
};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CLIENT_ID: &str = "app-1";
const CLIENT_SECRET: &str = "app-secret-1";

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap(),
    ))
}

fn oauth(server: &MockServer, clock: Arc<ManualClock>) -> OAuthClient {
    let base = Url::parse(&server.uri()).unwrap();
    let config = OAuthConfig::new(
        CLIENT_ID,
        Some(SecretString::from(CLIENT_SECRET)),
        base.join("/auth/oauth/token").unwrap(),
    )
    .with_authorize_url(base.join("/auth/oauth/authorize").unwrap())
    .with_device_authorization_url(base.join("/auth/oauth/device").unwrap())
    .with_redirect_url(Url::parse("https://seller.example/callback").unwrap());
    OAuthClient::new(config).unwrap().with_clock(clock)
}

fn expired_tokens(clock: &ManualClock) -> TokenSet {
    use marketsync_core::Clock;
    TokenSet {
        access_token: SecretString::from("access-old"),
        expires_at: Some(clock.now() - TimeDelta::seconds(10)),
        refresh_token: Some(SecretString::from("refresh-old")),
        scopes: Vec::new(),
    }
}

fn token_body(access: &str, refresh: Option<&str>) -> String {
    let mut v = serde_json::json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": 43199,
        "scope": "allegro_api",
        "allegro_api": true,
        "jti": "abc"
    });
    if let Some(r) = refresh {
        v["refresh_token"] = r.into();
    }
    v.to_string()
}

/// The token endpoint's answer: `access` (and `refresh`) as JSON.
fn token_answer(access: &str, refresh: Option<&str>) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/json")
        .set_body_string(token_body(access, refresh))
}

/// The token endpoint, answering `access` (and `refresh`) exactly once.
async fn token_endpoint_once(server: &MockServer, access: &str, refresh: Option<&str>) {
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(token_answer(access, refresh))
        .expect(1)
        .mount(server)
        .await;
}

/// Tokens without an expiry time.
fn token_set(access: &str, refresh: &str) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(access),
        expires_at: None,
        refresh_token: Some(SecretString::from(refresh)),
        scopes: Vec::new(),
    }
}

/// A token manager for `server`'s token endpoint on `clock`, starting from `tokens`, saving
/// renewed ones to `store`.
fn manager(
    server: &MockServer,
    clock: &Arc<ManualClock>,
    tokens: TokenSet,
    store: impl TokenStore + 'static,
) -> TokenManager {
    TokenManager::with_options(
        oauth(server, clock.clone()),
        tokens,
        store,
        TokenOptions {
            clock: clock.clone(),
            ..TokenOptions::default()
        },
    )
}

fn basic_auth() -> String {
    // base64("app-1:app-secret-1")
    "Basic YXBwLTE6YXBwLXNlY3JldC0x".to_owned()
}

type Log = Arc<Mutex<Vec<String>>>;

fn noop_store() -> impl TokenStore {
    |_t: TokenSet| async { Ok::<(), ChannelError>(()) }
}

#[tokio::test]
async fn fifty_concurrent_callers_cause_one_refresh() {
    let server = MockServer::start().await;
    let clock = clock();
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .and(header("authorization", basic_auth().as_str()))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=refresh-old"))
        .respond_with(
            token_answer("access-new", Some("refresh-new"))
                // Slow enough that every caller finds the renewal in flight.
                .set_delay(Duration::from_millis(300)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/sale/offers"))
        .and(header("authorization", "Bearer access-new"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .expect(50)
        .mount(&server)
        .await;

    let stores = Arc::new(AtomicUsize::new(0));
    let counter = stores.clone();
    let tokens = manager(
        &server,
        &clock,
        expired_tokens(&clock),
        move |_t: TokenSet| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<(), ChannelError>(())
            }
        },
    );
    let client = HttpClient::builder(&format!("{}/api", server.uri()))
        .channel(ChannelKind::Allegro)
        .oauth(tokens.clone())
        .build()
        .unwrap();

    let calls: Vec<_> = (0..50)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.get("sale/offers").send().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    let token_requests = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/auth/oauth/token")
        .count();
    assert_eq!(token_requests, 1);
    assert_eq!(stores.load(Ordering::SeqCst), 1);
    assert_eq!(
        tokens.expires_at(),
        Some(Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap() + TimeDelta::seconds(43199))
    );
    // Fresh now: no further refresh.
    assert_eq!(
        tokens.access_token().await.unwrap().expose_secret(),
        "access-new"
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_is_stored_before_the_new_access_token_is_used() {
    let server = MockServer::start().await;
    let clock = clock();
    let log: Log = Arc::new(Mutex::new(Vec::new()));

    let token_log = log.clone();
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(move |r: &Request| {
            let body = String::from_utf8_lossy(&r.body).to_string();
            token_log.lock().unwrap().push(format!(
                "token endpoint: refresh_token={}",
                body.split("refresh_token=").last().unwrap_or("")
            ));
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json;charset=UTF-8")
                .set_body_string(token_body("access-new", Some("refresh-new")))
        })
        .mount(&server)
        .await;
    let api_log = log.clone();
    Mock::given(method("GET"))
        .and(path("/api/order/events"))
        .respond_with(move |r: &Request| {
            let auth = r
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            api_log.lock().unwrap().push(format!("api: {auth}"));
            ResponseTemplate::new(200).set_body_string("{}")
        })
        .mount(&server)
        .await;

    let store_log = log.clone();
    let tokens = manager(
        &server,
        &clock,
        expired_tokens(&clock),
        move |t: TokenSet| {
            let store_log = store_log.clone();
            async move {
                // A slow store: nobody may use the new access token meanwhile.
                tokio::time::sleep(Duration::from_millis(200)).await;
                store_log.lock().unwrap().push(format!(
                    "stored: refresh={} access={}",
                    t.refresh_token.as_ref().unwrap().expose_secret(),
                    t.access_token.expose_secret()
                ));
                Ok::<(), ChannelError>(())
            }
        },
    );
    let client = HttpClient::builder(&format!("{}/api", server.uri()))
        .oauth(tokens)
        .build()
        .unwrap();

    let calls: Vec<_> = (0..5)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.get("order/events").send().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    let log = log.lock().unwrap().clone();
    assert_eq!(
        log[..2],
        [
            "token endpoint: refresh_token=refresh-old".to_owned(),
            "stored: refresh=refresh-new access=access-new".to_owned(),
        ]
    );
    assert_eq!(log.len(), 7);
    assert!(
        log[2..].iter().all(|l| l == "api: Bearer access-new"),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_failed_store_keeps_the_new_token_from_being_used_and_is_retried() {
    let server = MockServer::start().await;
    let clock = clock();
    token_endpoint_once(&server, "access-new", Some("refresh-new")).await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = attempts.clone();
    let tokens = manager(
        &server,
        &clock,
        expired_tokens(&clock),
        move |_t: TokenSet| {
            let a = a.clone();
            async move {
                if a.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(ChannelError::transient("database locked"))
                } else {
                    Ok(())
                }
            }
        },
    );
    let e = tokens.access_token().await.unwrap_err();
    assert!(e.is_temporary());
    // Until they are stored, callers get a temporary error and no second refresh starts; the
    // manager stores the same (already rotated) tokens again in the background.
    let mut stored = None;
    for _ in 0..100 {
        match tokens.access_token().await {
            Ok(t) => {
                stored = Some(t);
                break;
            }
            Err(e) => {
                assert!(e.is_temporary(), "{e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    let t = stored.expect("the renewed tokens are stored by the retry");
    assert_eq!(t.expose_secret(), "access-new");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failing_refresh_is_an_auth_error_with_the_endpoints_message() {
    let server = MockServer::start().await;
    let clock = clock();
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("content-type", "application/json")
                .set_body_string(
                    r#"{"error":"invalid_grant","error_description":"Invalid refresh token: refresh-old"}"#,
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let tokens = manager(&server, &clock, expired_tokens(&clock), noop_store());
    let client = HttpClient::builder(&format!("{}/api", server.uri()))
        .channel(ChannelKind::Allegro)
        .oauth(tokens.clone())
        .retry(RetryPolicy {
            min_delay: Duration::from_millis(10),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();

    let e = client
        .get("sale/offers")
        .operation("list_listings")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.broken_reason(), Some(BrokenReason::LoginRequired));
    assert!(!e.is_temporary());
    assert_eq!(e.http_status(), Some(400));
    assert_eq!(e.channel(), Some(ChannelKind::Allegro));
    assert_eq!(e.operation(), Some("list_listings"));
    // The endpoint's own words, with the refresh token it echoed redacted.
    assert_eq!(
        e.channel_message(),
        Some("Invalid refresh token: [REDACTED]")
    );
    assert_eq!(e.attempts(), 1);

    // Remembered: the token endpoint is not asked again (expect(1)).
    let again = tokens.access_token().await.unwrap_err();
    assert_eq!(again.broken_reason(), Some(BrokenReason::LoginRequired));
    assert_eq!(again.channel_message(), e.channel_message());

    // A fresh login clears it.
    tokens.set_tokens(token_set("access-relogin", "refresh-relogin"));
    assert_eq!(
        tokens.access_token().await.unwrap().expose_secret(),
        "access-relogin"
    );
}

#[tokio::test]
async fn bad_client_credentials_are_credentials_rejected() {
    let server = MockServer::start().await;
    let clock = clock();
    // ChannelAdvisor: a 400 for a bad application id / secret, body in ASP.NET style.
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_string(r#"{"error":"invalid_client"}"#))
        .mount(&server)
        .await;
    let e = oauth(&server, clock.clone())
        .refresh(&SecretString::from("refresh-old"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.broken_reason(), Some(BrokenReason::CredentialsRejected));
    assert_eq!(e.channel_message(), Some("invalid_client"));

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string(
                r#"{"Message":"Authorization has been denied for this request."}"#,
            ),
        )
        .mount(&server)
        .await;
    let e = oauth(&server, clock)
        .refresh(&SecretString::from("refresh-old"))
        .await
        .unwrap_err();
    assert_eq!(e.broken_reason(), Some(BrokenReason::CredentialsRejected));
    assert_eq!(
        e.channel_message(),
        Some("Authorization has been denied for this request.")
    );
}

#[tokio::test]
async fn a_temporary_token_endpoint_failure_is_retried_by_the_request() {
    let server = MockServer::start().await;
    let clock = clock();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(move |_: &Request| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                ResponseTemplate::new(503).set_body_string("<html>busy</html>")
            } else {
                token_answer("access-new", None)
            }
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(1)/Ship"))
        .and(header("authorization", "Bearer access-new"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let stored: Arc<Mutex<Vec<TokenSet>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = stored.clone();
    let tokens = manager(
        &server,
        &clock,
        expired_tokens(&clock),
        move |t: TokenSet| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(t);
                Ok::<(), ChannelError>(())
            }
        },
    );
    let client = HttpClient::builder(&format!("{}/v1/", server.uri()))
        .oauth(tokens.clone())
        .retry(RetryPolicy {
            min_delay: Duration::from_millis(10),
            jitter: false,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    // Even a POST: nothing had been sent when the renewal failed.
    let r = client.post("Orders(1)/Ship").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // ChannelAdvisor's refresh tokens do not rotate: the answer has none, the old one is kept.
    let stored = stored.lock().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].access_token.expose_secret(), "access-new");
    assert_eq!(
        stored[0].refresh_token.as_ref().unwrap().expose_secret(),
        "refresh-old"
    );
}

#[tokio::test]
async fn a_401_renews_the_token_once_and_retries() {
    let server = MockServer::start().await;
    let clock = clock();
    token_endpoint_once(&server, "access-2", Some("refresh-2")).await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer access-1"))
        .respond_with(ResponseTemplate::new(401).set_body_string(
            r#"{"error":"invalid_token","error_description":"Access token expired"}"#,
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer access-2"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = manager(
        &server,
        &clock,
        token_set("access-1", "refresh-1"),
        noop_store(),
    );
    // Even with retries off: the re-authentication is not a retry of a failure.
    let client = HttpClient::builder(&format!("{}/api", server.uri()))
        .oauth(tokens)
        .retry(RetryPolicy::never())
        .build()
        .unwrap();
    client.get("me").send().await.unwrap();

    // A second 401 with the fresh token is the channel's answer: no loop.
    let server2 = MockServer::start().await;
    token_endpoint_once(&server2, "access-3", None).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server2)
        .await;
    let tokens = manager(
        &server2,
        &clock,
        token_set("access-1", "refresh-1"),
        noop_store(),
    );
    let client = HttpClient::builder(&format!("{}/api", server2.uri()))
        .oauth(tokens)
        .build()
        .unwrap();
    let e = client.get("me").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.attempts(), 2);
}

#[tokio::test]
async fn authorization_code_with_pkce() {
    let server = MockServer::start().await;
    let client = oauth(&server, clock());
    let start = client.authorize(&["allegro:api:sale:offers:read"]).unwrap();
    let query: std::collections::HashMap<String, String> =
        start.url.query_pairs().into_owned().collect();
    assert_eq!(start.url.path(), "/auth/oauth/authorize");
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], "https://seller.example/callback");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["scope"], "allegro:api:sale:offers:read");
    assert_eq!(query["state"], start.state);
    assert!(start.state.len() >= 16);
    // base64url(sha256) is 43 characters; the verifier itself never leaves.
    assert_eq!(query["code_challenge"].len(), 43);
    let verifier = start.pkce_verifier.expose_secret().to_owned();
    assert!((43..=128).contains(&verifier.len()));
    assert!(!start.url.as_str().contains(&verifier));
    assert_ne!(query["code_challenge"], verifier);
    // A second start has a new state and challenge.
    let again = client.authorize(&[]).unwrap();
    assert_ne!(again.state, start.state);

    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .and(header("authorization", basic_auth().as_str()))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=the-code"))
        .and(body_string_contains(
            format!("code_verifier={verifier}").as_str(),
        ))
        .and(body_string_contains(
            "redirect_uri=https%3A%2F%2Fseller.example%2Fcallback",
        ))
        .respond_with(token_answer("access-a", Some("refresh-a")))
        .expect(1)
        .mount(&server)
        .await;

    // A state that is not ours is refused before any request.
    let e = client
        .exchange_code(
            &SecretString::from("the-code"),
            "forged",
            &start.state,
            &start.pkce_verifier,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);

    let tokens = client
        .exchange_code(
            &SecretString::from("the-code"),
            &start.state,
            &start.state,
            &start.pkce_verifier,
        )
        .await
        .unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "access-a");
    assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "refresh-a");
    assert_eq!(tokens.scopes, vec!["allegro_api".to_owned()]);
}

#[tokio::test]
async fn device_flow_begin_and_poll() {
    let server = MockServer::start().await;
    let client = oauth(&server, clock());
    // Allegro's documented sample sends the numbers as strings.
    Mock::given(method("POST"))
        .and(path("/auth/oauth/device"))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string(
                    r#"{"user_code":"cbt3zdu4g","device_code":"dev-code-1","expires_in":"3600","interval":"5","verification_uri":"https://allegro.pl/skojarz-aplikacje","verification_uri_complete":"https://allegro.pl/skojarz-aplikacje?code=cbt3zdu4g"}"#,
                ),
        )
        .mount(&server)
        .await;
    let device = client.begin_device(&[]).await.unwrap();
    assert_eq!(device.user_code, "cbt3zdu4g");
    assert_eq!(
        device.verification_uri,
        "https://allegro.pl/skojarz-aplikacje"
    );
    assert_eq!(
        device.verification_uri_complete.as_deref(),
        Some("https://allegro.pl/skojarz-aplikacje?code=cbt3zdu4g")
    );
    assert_eq!(device.device_code.expose_secret(), "dev-code-1");
    assert_eq!(device.expires_in, Duration::from_secs(3600));
    assert_eq!(device.interval, Duration::from_secs(5));

    let step = Arc::new(AtomicUsize::new(0));
    let s = step.clone();
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .and(body_string_contains("device_code=dev-code-1"))
        .and(body_string_contains(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code",
        ))
        .respond_with(move |_: &Request| {
            let json = |body: &str, status| {
                ResponseTemplate::new(status)
                    .insert_header("content-type", "application/json")
                    .set_body_string(body.to_owned())
            };
            match s.fetch_add(1, Ordering::SeqCst) {
                0 => json(r#"{"error":"authorization_pending"}"#, 400),
                1 => json(r#"{"error":"slow_down"}"#, 400),
                2 => json(&token_body("access-d", Some("refresh-d")), 200),
                _ => json(r#"{"error":"access_denied"}"#, 400),
            }
        })
        .mount(&server)
        .await;

    let poll = || client.poll_device(&device.device_code, device.interval);
    match poll().await.unwrap() {
        DevicePoll::Pending { poll_after } => assert_eq!(poll_after, Duration::from_secs(5)),
        other => panic!("{other:?}"),
    }
    match poll().await.unwrap() {
        DevicePoll::Pending { poll_after } => assert_eq!(poll_after, Duration::from_secs(10)),
        other => panic!("{other:?}"),
    }
    match poll().await.unwrap() {
        DevicePoll::Authorized(t) => assert_eq!(t.access_token.expose_secret(), "access-d"),
        other => panic!("{other:?}"),
    }
    let e = poll().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.broken_reason(), Some(BrokenReason::LoginRequired));
    // Each poll is exactly one request: oauth2 never loops or sleeps.
    assert_eq!(step.load(Ordering::SeqCst), 4);
}
