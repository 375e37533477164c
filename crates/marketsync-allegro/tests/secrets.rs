//! No secret (client secret, access and refresh tokens, PKCE verifier, device code) reaches a
//! `Debug`, a `Display`, an error or the tracing output: through a rotation, a PKCE start, a
//! token endpoint echoing the refresh token, and an API error echoing the access token.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use marketsync_allegro::AllegroChannel;
use marketsync_core::{AuthorizationRequest, Channel, Credentials, ExposeSecret};
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn assert_clean(what: &str, text: &str, extra: &[&str]) {
    for s in SECRETS.iter().chain(extra) {
        assert!(!text.contains(s), "{what} leaks {s}: {text}");
    }
}

#[tokio::test]
async fn no_secret_in_debug_errors_or_traces() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    // A 401 echoing the access token → a renewal (rotation) → a 400 echoing the new token.
    allegro("GET", "/me")
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_token", "error_description": format!("Access token expired: {ACCESS_1}")})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_2, REFRESH_2)))
        .mount(&server)
        .await;
    allegro_with("GET", "/me", ACCESS_2)
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"errors": [{
            "code": "BAD", "message": format!("bad token {ACCESS_2}"), "userMessage": format!("token {ACCESS_2}")}]})))
        .mount(&server)
        .await;

    let config = builder(&server)
        .redirect_uri("https://seller.example.com/cb".parse().unwrap())
        .build()
        .unwrap();
    assert_clean("config Debug", &format!("{config:?}"), &[]);
    let ch = AllegroChannel::new(config).unwrap();
    assert_clean("channel Debug", &format!("{ch:?}"), &[]);
    let e = ch.verify().await.unwrap_err();
    assert_clean("error", &format!("{e} {e:?}"), &[]);
    assert_clean("channel Debug after rotation", &format!("{ch:?}"), &[]);

    // PKCE: the verifier is in no Debug of the start, nor in the URL.
    let start = ch
        .begin_authorization(&AuthorizationRequest {
            redirect_uri: None,
            device_flow: false,
        })
        .await
        .unwrap();
    let verifier = start.pending.secret.expose_secret().to_owned();
    assert_clean(
        "authorization start",
        &format!("{start:?} {}", start.url),
        &[&verifier],
    );

    // The token endpoint echoes the refresh token in invalid_grant.
    let server2 = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": format!("Invalid refresh token: {REFRESH_1}")})))
        .mount(&server2)
        .await;
    let expired = marketsync_core::credentials::LoginSession {
        expires_at: chrono::Utc::now() - chrono::TimeDelta::hours(1),
        ..session()
    };
    let ch2 =
        AllegroChannel::new(builder(&server2).session(expired.clone()).build().unwrap()).unwrap();
    let e = ch2.verify().await.unwrap_err();
    assert_clean("token error", &format!("{e} {e:?}"), &[]);
    let creds = Credentials::LoginSession(expired);
    assert_clean("credentials", &format!("{creds} {creds:?}"), &[]);

    let traces = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        traces.contains("marketsync_http.request"),
        "tracing was captured"
    );
    assert!(traces.contains("marketsync_http.token_request"));
    assert_clean("traces", &traces, &[&verifier]);
}
