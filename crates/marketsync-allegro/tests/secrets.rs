//! No secret (client secret, access and refresh tokens, PKCE verifier, device code) reaches a
//! `Debug`, a `Display`, an error or the tracing output: through a rotation, a PKCE start, a
//! token endpoint echoing the refresh token, and an API error echoing the access token.

mod common;

use async_trait::async_trait;
use common::*;
use marketsync_allegro::AllegroChannel;
use marketsync_core::{AuthorizationRequest, Channel, ChannelKind, Credentials, ExposeSecret};
use marketsync_testkit::behaviour::{SecretFixture, SecretScan};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn assert_clean(what: &str, text: &str, extra: &[&str]) {
    SecretScan::new(SECRETS).with(extra).check(what, text);
}

// Allegro's session for the testkit's secret scan: a rotation, a PKCE start, a token endpoint
// echoing the refresh token, and an API error echoing the access token.
marketsync_testkit::fixture!(Fixture: ChannelKind::Allegro);

#[async_trait]
impl SecretFixture for Fixture {
    fn secrets(&self) -> Vec<String> {
        SECRETS.iter().map(|s| (*s).to_owned()).collect()
    }

    fn spans(&self) -> Vec<&'static str> {
        vec!["marketsync_http.request", "marketsync_http.token_request"]
    }

    async fn session(&self, scan: &SecretScan) -> Vec<String> {
        let assert_clean =
            |what: &str, text: &str, extra: &[&str]| scan.with(extra).check(what, text);
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
        let ch2 = AllegroChannel::new(builder(&server2).session(expired.clone()).build().unwrap())
            .unwrap();
        let e = ch2.verify().await.unwrap_err();
        assert_clean("token error", &format!("{e} {e:?}"), &[]);
        let creds = Credentials::LoginSession(expired);
        assert_clean("credentials", &format!("{creds} {creds:?}"), &[]);
        vec![verifier.to_string()]
    }
}

marketsync_testkit::behaviour_tests!(Fixture => secrets);

/// Secrets a host may put in a URL: a password, a token in the query, a code in its own
/// callback. Every `Debug` that shows such a URL keeps the host and redacts these.
const URL_SECRETS: [&str; 3] = ["URLPASS-a7k1", "URLTOKEN-b8m2", "URLCODE-c9n3"];

#[tokio::test]
async fn urls_print_with_their_secrets_redacted() {
    let server = MockServer::start().await;
    let builder = builder(&server)
        .base_url("https://bob:URLPASS-a7k1@api.allegro.example/?access_token=URLTOKEN-b8m2")
        .auth_base_url("https://allegro.example/?api_key=URLTOKEN-b8m2")
        .redirect_uri(
            "https://seller.example.com/cb?code=URLCODE-c9n3&shop=main"
                .parse()
                .unwrap(),
        );
    let text = format!("{builder:?}");
    assert_clean("builder Debug", &text, &URL_SECRETS);
    assert!(text.contains("api.allegro.example"), "{text}");
    let config = builder.build().unwrap();
    // The HTTP client refuses a base URL with a password; the refusal does not show it.
    let refused = AllegroChannel::new(config.clone()).unwrap_err();
    assert_clean("refusal", &format!("{refused} {refused:?}"), &URL_SECRETS);
    let ch = AllegroChannel::new(
        crate::builder(&server)
            .base_url("https://api.allegro.example/?access_token=URLTOKEN-b8m2")
            .auth_base_url("https://allegro.example/?api_key=URLTOKEN-b8m2")
            .redirect_uri(
                "https://seller.example.com/cb?code=URLCODE-c9n3"
                    .parse()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    )
    .unwrap();
    for text in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{ch:?}"),
    ] {
        assert_clean("config Debug", &text, &URL_SECRETS);
        assert!(text.contains("api.allegro.example"), "{text}");
        assert!(text.contains("seller.example.com/cb"), "{text}");
    }
    // The login page URL of an authorization start, with a code in the host's redirect.
    let start = ch
        .begin_authorization(&AuthorizationRequest {
            redirect_uri: Some(
                "https://seller.example.com/cb?code=URLCODE-c9n3"
                    .parse()
                    .unwrap(),
            ),
            device_flow: false,
        })
        .await
        .unwrap();
    let text = format!("{start:?}");
    assert_clean("authorization start Debug", &text, &URL_SECRETS);
    assert!(text.contains("allegro.example"), "{text}");
}
