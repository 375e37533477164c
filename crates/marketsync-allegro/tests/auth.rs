//! Allegro's login-type auth: rotation persisted before use (an ordered event log through a
//! TokenStore), single-flight renewal, invalid_grant → LoginRequired (and repair through
//! use_credentials), PKCE login and the device flow through begin/complete_authorization.

mod common;

use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use common::*;
use marketsync_allegro::AllegroChannel;
use marketsync_core::credentials::LoginSession;
use marketsync_core::{
    AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest, BrokenReason, Channel,
    CredentialSink, Credentials, ErrorKind, ExposeSecret, ManualClock, SecretString,
};
use marketsync_http::TokenSet;
use serde_json::json;
use wiremock::matchers::{body_string, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn expired_session() -> LoginSession {
    LoginSession {
        expires_at: chrono::Utc::now() - TimeDelta::minutes(1),
        ..session()
    }
}

fn me() -> serde_json::Value {
    json!({"id": "44455566", "login": "gitarownia", "baseMarketplace": {"id": "allegro-pl"}})
}

async fn token_requests(server: &MockServer) -> Vec<Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| r.url.path() == "/auth/oauth/token")
        .collect()
}

/// The refresh rotates both tokens; the new pair reaches the store before any API call uses
/// the new access token, and concurrent callers share one refresh.
#[tokio::test]
async fn rotated_tokens_are_persisted_before_use() {
    let server = MockServer::start().await;
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .and(header("authorization", BASIC))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(format!(
            "grant_type=refresh_token&refresh_token={REFRESH_1}"
        )))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_body(ACCESS_2, REFRESH_2))
                .set_delay(std::time::Duration::from_millis(50)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let api_log = log.clone();
    allegro_with("GET", "/me", ACCESS_2)
        .respond_with(move |_: &Request| {
            api_log
                .lock()
                .unwrap()
                .push("api call with the new token".into());
            ResponseTemplate::new(200).set_body_json(me())
        })
        .expect(2)
        .mount(&server)
        .await;

    let store_log = log.clone();
    let store = move |t: TokenSet| {
        let store_log = store_log.clone();
        async move {
            store_log.lock().unwrap().push(format!(
                "stored {} {}",
                t.access_token.expose_secret(),
                t.refresh_token.as_ref().unwrap().expose_secret()
            ));
            Ok(())
        }
    };
    let ch = AllegroChannel::new(
        builder(&server)
            .session(expired_session())
            .token_store(Arc::new(store))
            .build()
            .unwrap(),
    )
    .unwrap();
    let (a, b) = tokio::join!(ch.verify(), ch.verify());
    a.unwrap();
    let info = b.unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            format!("stored {ACCESS_2} {REFRESH_2}"),
            "api call with the new token".to_owned(),
            "api call with the new token".to_owned(),
        ]
    );
    assert_eq!(token_requests(&server).await.len(), 1, "single-flight");
    // The 3-month window restarted with the rotation.
    let left = info.credentials_expire_at.unwrap() - chrono::Utc::now();
    assert!(left > TimeDelta::days(88), "{left}");
}

/// A store that fails keeps the new access token unused.
#[tokio::test]
async fn a_failed_store_keeps_the_new_token_unused() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_2, REFRESH_2)))
        .expect(1)
        .mount(&server)
        .await;
    let store = |_t: TokenSet| async { Err(marketsync_core::ChannelError::transient("disk full")) };
    let ch = AllegroChannel::new(
        builder(&server)
            .session(expired_session())
            .token_store(Arc::new(store))
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(ch.verify().await.is_err());
    assert!(
        requests(&server)
            .await
            .iter()
            .all(|r| r.url.path() != "/me"),
        "no API call with unstored tokens"
    );
}

/// The engine's sink: records what it was asked to save, in order with the API calls.
#[derive(Debug)]
struct RecordingSink {
    log: Arc<Mutex<Vec<String>>>,
    fail: bool,
}

#[async_trait::async_trait]
impl CredentialSink for RecordingSink {
    async fn save(&self, credentials: &Credentials) -> Result<(), marketsync_core::ChannelError> {
        let Credentials::LoginSession(s) = credentials else {
            panic!(
                "Allegro saves a login session, got {:?}",
                credentials.kind()
            );
        };
        if self.fail {
            return Err(marketsync_core::ChannelError::transient(
                "store unavailable",
            ));
        }
        self.log.lock().unwrap().push(format!(
            "saved {} {} until {}",
            s.token.expose_secret(),
            s.refresh_token.as_ref().unwrap().expose_secret(),
            s.refresh_expires_at.is_some()
        ));
        Ok(())
    }
}

/// With the engine's sink given (`use_credential_sink`), the rotated pair is saved there as a
/// login session (with the refresh token's new 3-month expiry) before the new access token is
/// used, so a restart hands the channel the live refresh token.
#[tokio::test]
async fn rotated_tokens_reach_the_engine_sink_before_use() {
    let server = MockServer::start().await;
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .and(body_string(format!(
            "grant_type=refresh_token&refresh_token={REFRESH_1}"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_2, REFRESH_2)))
        .expect(1)
        .mount(&server)
        .await;
    let api_log = log.clone();
    allegro_with("GET", "/me", ACCESS_2)
        .respond_with(move |_: &Request| {
            api_log.lock().unwrap().push("api call".into());
            ResponseTemplate::new(200).set_body_json(me())
        })
        .expect(1)
        .mount(&server)
        .await;
    let ch =
        AllegroChannel::new(builder(&server).session(expired_session()).build().unwrap()).unwrap();
    ch.use_credential_sink(Arc::new(RecordingSink {
        log: log.clone(),
        fail: false,
    }));
    ch.verify().await.unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            format!("saved {ACCESS_2} {REFRESH_2} until true"),
            "api call".to_owned()
        ]
    );
}

/// A sink that cannot save keeps the rotated pair unused: no API call with unsaved tokens.
#[tokio::test]
async fn a_failing_engine_sink_keeps_the_new_token_unused() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_2, REFRESH_2)))
        .expect(1)
        .mount(&server)
        .await;
    let ch =
        AllegroChannel::new(builder(&server).session(expired_session()).build().unwrap()).unwrap();
    ch.use_credential_sink(Arc::new(RecordingSink {
        log: Arc::default(),
        fail: true,
    }));
    let err = ch.verify().await.unwrap_err();
    assert!(err.to_string().contains("store unavailable"), "{err}");
    assert!(!err.to_string().contains(REFRESH_2), "{err}");
    assert!(
        requests(&server)
            .await
            .iter()
            .all(|r| r.url.path() != "/me"),
        "no API call with unsaved tokens"
    );
}

#[tokio::test]
async fn invalid_grant_is_login_required_until_new_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": format!("Invalid refresh token: {REFRESH_1}")
        })))
        .expect(1)
        .mount(&server)
        .await;
    allegro_with("GET", "/me", ACCESS_2)
        .respond_with(ResponseTemplate::new(200).set_body_json(me()))
        .mount(&server)
        .await;
    let ch =
        AllegroChannel::new(builder(&server).session(expired_session()).build().unwrap()).unwrap();
    let e = ch.verify().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(e.broken_reason(), Some(BrokenReason::LoginRequired));
    assert_eq!(
        e.channel_message(),
        Some("Invalid refresh token: [REDACTED]")
    );
    // Remembered: no second refresh with a dead token.
    let e = ch.verify().await.unwrap_err();
    assert_eq!(e.broken_reason(), Some(BrokenReason::LoginRequired));
    assert_eq!(token_requests(&server).await.len(), 1);

    // The seller logged in again: the new session repairs it.
    ch.use_credentials(&Credentials::LoginSession(LoginSession {
        token: SecretString::from(ACCESS_2),
        refresh_token: Some(SecretString::from(REFRESH_2)),
        ..session()
    }))
    .await
    .unwrap();
    ch.verify().await.unwrap();
    assert!(
        ch.use_credentials(&Credentials::api_token("x"))
            .await
            .is_err()
    );
}

/// A 401 refreshes once and retries; a 401 after that is LoginRequired.
#[tokio::test]
async fn unauthorized_renews_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_2, REFRESH_2)))
        .expect(1)
        .mount(&server)
        .await;
    allegro("GET", "/me")
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_token", "error_description": "Access token expired: x"})))
        .expect(1)
        .mount(&server)
        .await;
    allegro_with("GET", "/me", ACCESS_2)
        .respond_with(ResponseTemplate::new(200).set_body_json(me()))
        .expect(1)
        .mount(&server)
        .await;
    channel(&server).verify().await.unwrap();
}

#[tokio::test]
async fn pkce_login() {
    let server = MockServer::start().await;
    let clock = Arc::new(ManualClock::new(now()));
    let redirect: url::Url = "https://seller.example.com/allegro/callback"
        .parse()
        .unwrap();
    let ch = AllegroChannel::new(
        builder(&server)
            .redirect_uri(redirect.clone())
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
    .unwrap();
    let start = ch
        .begin_authorization(&AuthorizationRequest {
            redirect_uri: Some(redirect.clone()),
            device_flow: false,
        })
        .await
        .unwrap();
    assert_eq!(start.url.path(), "/auth/oauth/authorize");
    let q: std::collections::BTreeMap<String, String> =
        start.url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], redirect.as_str());
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["state"], start.pending.state);
    assert!(q["code_challenge"].len() >= 43);
    let verifier = start.pending.secret.expose_secret().to_owned();
    assert!(
        !start.url.as_str().contains(&verifier),
        "the verifier stays secret"
    );

    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .and(header("authorization", BASIC))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=AUTHCODE-1"))
        .and(body_string_contains(format!("code_verifier={verifier}")))
        .and(body_string_contains(
            "redirect_uri=https%3A%2F%2Fseller.example.com%2Fallegro%2Fcallback",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_2, REFRESH_2)))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = ch
        .complete_authorization(
            &start.pending,
            &AuthorizationCallback::from_params([
                ("code", "AUTHCODE-1"),
                ("state", start.pending.state.as_str()),
            ]),
        )
        .await
        .unwrap();
    let AuthorizationOutcome::Authorized(Credentials::LoginSession(s)) = outcome else {
        panic!("expected a login session");
    };
    assert_eq!(s.token.expose_secret(), ACCESS_2);
    assert_eq!(s.refresh_token.as_ref().unwrap().expose_secret(), REFRESH_2);
    assert_eq!(s.expires_at, now() + TimeDelta::seconds(43199));
    assert_eq!(
        s.refresh_expires_at.unwrap().to_rfc3339(),
        "2026-06-05T09:00:00+00:00",
        "3 months from the login"
    );

    // A mismatched state is refused.
    let e = ch
        .complete_authorization(
            &start.pending,
            &AuthorizationCallback::from_params([("code", "X"), ("state", "other")]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.broken_reason(), Some(BrokenReason::LoginRequired));
}

#[tokio::test]
async fn device_flow_begin_pending_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/oauth/device"))
        .and(query_param("client_id", CLIENT_ID))
        .and(header("authorization", BASIC))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "user_code": "cbt3zdu4g",
            "device_code": "DEVICECODE-645629715",
            "expires_in": "3600",
            "interval": "5",
            "verification_uri": "https://allegro.pl.allegrosandbox.pl/skojarz-aplikacje",
            "verification_uri_complete": "https://allegro.pl.allegrosandbox.pl/skojarz-aplikacje?code=cbt3zdu4g"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server);
    let start = ch
        .begin_authorization(&AuthorizationRequest {
            redirect_uri: None,
            device_flow: true,
        })
        .await
        .unwrap();
    assert_eq!(
        start.url.as_str(),
        "https://allegro.pl.allegrosandbox.pl/skojarz-aplikacje?code=cbt3zdu4g"
    );
    assert_eq!(start.user_code.as_deref(), Some("cbt3zdu4g"));
    assert_eq!(
        start.pending.poll_interval,
        Some(std::time::Duration::from_secs(5))
    );

    let poll = || {
        Mock::given(method("POST"))
            .and(path("/auth/oauth/token"))
            .and(header("authorization", BASIC))
            .and(body_string_contains(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code",
            ))
            .and(body_string_contains("device_code=DEVICECODE-645629715"))
    };
    poll()
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "authorization_pending", "error_description": "Authorization pending"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    poll()
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_2, REFRESH_2)))
        .mount(&server)
        .await;
    let none = AuthorizationCallback::default();
    match ch
        .complete_authorization(&start.pending, &none)
        .await
        .unwrap()
    {
        AuthorizationOutcome::Pending { poll_after } => {
            assert_eq!(poll_after, std::time::Duration::from_secs(5))
        }
        other => panic!("expected pending, got {other:?}"),
    }
    match ch
        .complete_authorization(&start.pending, &none)
        .await
        .unwrap()
    {
        AuthorizationOutcome::Authorized(Credentials::LoginSession(s)) => {
            assert_eq!(s.token.expose_secret(), ACCESS_2);
            assert!(s.refresh_expires_at.is_some());
        }
        other => panic!("expected a session, got {other:?}"),
    }
    // Installed: API calls use the new token.
    allegro_with("GET", "/me", ACCESS_2)
        .respond_with(ResponseTemplate::new(200).set_body_json(me()))
        .expect(1)
        .mount(&server)
        .await;
    ch.verify().await.unwrap();
}
