//! No app key, user token or login secret key reaches a `Debug`, a `Display`, an error or the
//! tracing output — through successful calls, a login, a 401 and a validation failure whose
//! bodies echo the secrets, and a credentials swap.
#![recursion_limit = "256"]

mod common;

use async_trait::async_trait;
use common::*;
use marketsync_core::credentials::LoginSession;
use marketsync_core::{
    AuthorizationCallback, AuthorizationRequest, Channel, ChannelKind, ChannelListingId,
    Credentials, ListingUpdate, SecretString, Sku,
};
use marketsync_testkit::behaviour::{SecretFixture, SecretScan};
use marketsync_tradera::{TraderaChannel, TraderaConfig};
use secrecy::ExposeSecret;
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

// Tradera's session for the testkit's secret scan: successful calls, a login, a 401 and a
// validation failure whose bodies echo the secrets, and a credentials swap.
marketsync_testkit::fixture!(Fixture: ChannelKind::Tradera);

#[async_trait]
impl SecretFixture for Fixture {
    fn secrets(&self) -> Vec<String> {
        SECRETS.iter().map(|s| (*s).to_owned()).collect()
    }

    async fn session(&self, scan: &SecretScan) -> Vec<String> {
        let assert_clean =
            |what: &str, text: &str, extra: &[&str]| scan.with(extra).check(what, text);
        let server = MockServer::start().await;
        let builder = builder(&server);
        assert_clean("builder Debug", &format!("{builder:?}"), &[]);
        let config = builder.build().unwrap();
        assert_clean("config Debug", &format!("{config:?}"), &[]);
        let ch = TraderaChannel::new(config).unwrap();
        assert_clean("channel Debug", &format!("{ch:?}"), &[]);

        // A login: the secret key is in the URL the seller opens (by design) but nowhere else.
        let start = ch
            .begin_authorization(&AuthorizationRequest::default())
            .await
            .unwrap();
        let skey = start.pending.secret.expose_secret().to_owned();
        assert!(start.url.as_str().contains(&skey), "the URL carries it");
        assert_clean("pending Debug", &format!("{:?}", start.pending), &[&skey]);
        // Its Debug (and pretty Debug) keeps the login page readable but not the secret key.
        for text in [format!("{start:?}"), format!("{start:#?}")] {
            assert_clean("start Debug", &text, &[&skey]);
            let page = start.url.as_str().split('?').next().unwrap().to_owned();
            assert!(
                text.contains(&page),
                "the login page stays readable: {text}"
            );
            assert!(text.contains("skey=[REDACTED]"), "{text}");
        }
        app("POST", "/v4/auth/token")
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "error": {"code": "BadRequest", "message": format!("Secret key {skey} already used (app key {APP_KEY})")}
            })))
            .mount(&server)
            .await;
        let callback = AuthorizationCallback::from_params([
            ("userId", USER_ID.to_string()),
            ("token", TOKEN.to_owned()),
        ]);
        assert_clean("callback Debug", &format!("{callback:?}"), &[]);
        let e = ch
            .complete_authorization(&start.pending, &callback)
            .await
            .unwrap_err();
        assert_clean("token error", &format!("{e} {e:?}"), &[]);
        assert!(e.channel_message().unwrap().contains("[REDACTED]"));
        // The secret key is not a header, so the client cannot redact it from an echo; the message
        // is Tradera's own and the key is single-use. It never appears in our own text or traces.

        user("GET", "/v4/users/me")
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "error": {"code": "Unauthorized", "message": format!("Token {TOKEN} for app key {APP_KEY} is invalid")}
            })))
            .mount(&server)
            .await;
        let e = ch.verify().await.unwrap_err();
        assert_clean("auth error", &format!("{e} {e:?}"), &[]);
        assert!(e.channel_message().unwrap().contains("[REDACTED]"));

        let creds = Credentials::LoginSession(LoginSession {
            user_id: Some(USER_ID.to_string()),
            token: SecretString::from(TOKEN_2),
            expires_at: expiry(),
            refresh_token: None,
            refresh_expires_at: None,
        });
        assert_clean("credentials", &format!("{creds} {creds:?}"), &[]);
        ch.use_credentials(&creds).await.unwrap();
        assert_clean("channel Debug after swap", &format!("{ch:?}"), &[]);
        user_with("PUT", "/v4/listings/shop-items/quantities", TOKEN_2)
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "error": {"code": "BadRequest", "message": format!("bad request for {TOKEN_2}")}
            })))
            .mount(&server)
            .await;
        let out = ch
            .update_listings(&[ListingUpdate {
                listing_id: ChannelListingId::new("700100200").unwrap(),
                sku: Sku::new("LP-1").unwrap(),
                price: None,
                quantity: Some(1),
                title: None,
            }])
            .await
            .unwrap();
        let e = out[0].result.as_ref().unwrap_err();
        assert_clean("validation error", &format!("{e} {e:?}"), &[]);
        assert_clean("outcome", &format!("{out:?}"), &[]);

        let e = TraderaConfig::builder()
            .base_url("not a url")
            .app_id(APP_ID)
            .app_key(SecretString::from(APP_KEY))
            .build()
            .unwrap_err();
        assert_clean("config error", &format!("{e} {e:?}"), &[]);
        vec![skey.to_string()]
    }
}

marketsync_testkit::behaviour_tests!(Fixture => secrets);
