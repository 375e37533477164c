//! No personal access token (the configured one or a replacement) reaches a `Debug`, a
//! `Display`, an error or the tracing output — through successful calls, a 401 and a validation
//! failure whose bodies echo the token, and a token replacement.

mod common;

use async_trait::async_trait;
use common::*;
use marketsync_core::{Channel, ChannelKind, ChannelListingId, Credentials, ListingUpdate, Sku};
use marketsync_reverb::{ReverbChannel, ReverbConfig};
use marketsync_testkit::behaviour::{SecretFixture, SecretScan};
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

fn assert_clean(what: &str, text: &str) {
    SecretScan::new(SECRETS).check(what, text);
}

// Reverb's session for the testkit's secret scan: successful calls, a 401 and a validation
// failure whose bodies echo the token, and a token replacement.
marketsync_testkit::fixture!(Fixture: ChannelKind::Reverb);

#[async_trait]
impl SecretFixture for Fixture {
    fn secrets(&self) -> Vec<String> {
        SECRETS.iter().map(|s| (*s).to_owned()).collect()
    }

    async fn session(&self, scan: &SecretScan) -> Vec<String> {
        let assert_clean = |what: &str, text: &str| scan.check(what, text);
        let server = MockServer::start().await;
        reverb_with("GET", "/api/shop", TOKEN)
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "message": format!("Invalid token {TOKEN}"),
                "details": format!("X-Auth-Token {TOKEN} not accepted")
            })))
            .mount(&server)
            .await;
        reverb_with("GET", "/api/shop", TOKEN_2)
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"id": 1, "name": "Acme"})),
            )
            .mount(&server)
            .await;
        reverb_with("PUT", "/api/listings/101", TOKEN_2)
            .respond_with(ResponseTemplate::new(422).set_body_json(json!({
                "message": format!("Bad request for {TOKEN_2}"),
                "errors": {"inventory": [format!("token {TOKEN_2} cannot do that")]}
            })))
            .mount(&server)
            .await;

        let builder = builder(&server);
        assert_clean("builder Debug", &format!("{builder:?}"));
        let config = builder.build().unwrap();
        assert_clean("config Debug", &format!("{config:?}"));
        let ch = ReverbChannel::new(config).unwrap();
        assert_clean("channel Debug", &format!("{ch:?}"));

        let e = ch.verify().await.unwrap_err();
        assert_clean("auth error Display", &e.to_string());
        assert_clean("auth error Debug", &format!("{e:?}"));
        assert!(e.channel_message().unwrap().contains("[REDACTED]"));

        let creds = Credentials::api_token(TOKEN_2);
        assert_clean("credentials", &format!("{creds} {creds:?}"));
        ch.use_credentials(&creds).await.unwrap();
        assert_clean("channel Debug after replacement", &format!("{ch:?}"));
        ch.verify().await.unwrap();
        let out = ch
            .update_listings(&[ListingUpdate {
                listing_id: ChannelListingId::new("101").unwrap(),
                sku: Sku::new("A").unwrap(),
                price: None,
                quantity: Some(1),
                title: None,
            }])
            .await
            .unwrap();
        let e = out[0].result.as_ref().unwrap_err();
        assert_eq!(e.field(), Some("inventory"));
        assert_clean("validation error", &format!("{e} {e:?}"));
        assert_clean("outcome", &format!("{out:?}"));

        // A configuration error names what is missing, never the token.
        let e = ReverbConfig::builder()
            .base_url("not a url")
            .token(marketsync_core::SecretString::from(TOKEN))
            .build()
            .unwrap_err();
        assert_clean("config error", &format!("{e} {e:?}"));
        Vec::new()
    }
}

marketsync_testkit::behaviour_tests!(Fixture => secrets);

#[tokio::test]
async fn base_urls_print_with_their_secrets_redacted() {
    let url_secrets = ["URLPASS-a7k1", "URLTOKEN-b8m2"];
    let server = MockServer::start().await;
    let builder = builder(&server)
        .base_url("https://bob:URLPASS-a7k1@api.reverb.example/api?access_token=URLTOKEN-b8m2");
    let builder_text = format!("{builder:?}");
    let config = builder.build().unwrap();
    // The HTTP client refuses a base URL with a password; the refusal does not show it.
    let refused = ReverbChannel::new(config.clone()).unwrap_err();
    assert_clean("refusal", &format!("{refused} {refused:?}"));
    let ch = ReverbChannel::new(
        crate::builder(&server)
            .base_url("https://api.reverb.example/api?access_token=URLTOKEN-b8m2")
            .build()
            .unwrap(),
    )
    .unwrap();
    for text in [
        builder_text,
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{ch:?}"),
    ] {
        assert_clean("Debug", &text);
        for s in url_secrets {
            assert!(!text.contains(s), "Debug leaks {s}: {text}");
        }
        assert!(text.contains("api.reverb.example"), "{text}");
    }
}
