//! No secret (shared secret, refresh token, access tokens) reaches a `Debug`, a `Display`, an
//! error or the tracing output, through successful calls, a 401 renewal, a batch and failures
//! whose bodies echo a token.

mod common;

use async_trait::async_trait;
use common::*;
use marketsync_channeladvisor::{ChannelAdvisorChannel, offerup_credentials};
use marketsync_core::{Channel, ChannelKind, ChannelListingId, ListingUpdate, SecretString, Sku};
use marketsync_testkit::behaviour::{SecretFixture, SecretScan};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn assert_clean(what: &str, text: &str) {
    SecretScan::new(SECRETS.iter().chain(["OUSECRET-x1"].iter())).check(what, text);
}

// ChannelAdvisor's session for the testkit's secret scan: successful calls, a 401 renewal, a
// batch, failures whose bodies echo a token, and OfferUp credentials.
marketsync_testkit::fixture!(Fixture: ChannelKind::ChannelAdvisor);

#[async_trait]
impl SecretFixture for Fixture {
    fn secrets(&self) -> Vec<String> {
        SECRETS
            .iter()
            .chain(["OUSECRET-x1"].iter())
            .map(|s| (*s).to_owned())
            .collect()
    }

    async fn session(&self, scan: &SecretScan) -> Vec<String> {
        let assert_clean = |what: &str, text: &str| scan.check(what, text);
        let server = MockServer::start().await;
        mount_rotating_tokens(&server).await;
        mount_profiles_for(
            &server,
            ACCESS_1,
            ResponseTemplate::new(401).set_body_json(
                json!({"Message": format!("Authorization has been denied for token {ACCESS_1}.")}),
            ),
        )
        .await;
        Mock::given(method("GET"))
            .and(path("/v1/Profiles"))
            .respond_with(ResponseTemplate::new(400).set_body_json(
                json!({"error": {"code": "", "message": format!("bad request with {ACCESS_2}")}}),
            ))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/$batch"))
            .respond_with(multipart_response(
                "b",
                multipart_reply(
                    "b",
                    &[(
                        1,
                        "400 Bad Request",
                        r#"{"error":{"code":"","message":"nope"}}"#,
                    )],
                ),
            ))
            .mount(&server)
            .await;

        let config = builder(&server).build().unwrap();
        assert_clean("config Debug", &format!("{config:?}"));
        let ch = ChannelAdvisorChannel::new(config).unwrap();
        assert_clean("channel Debug", &format!("{ch:?}"));

        let e = ch.verify().await.unwrap_err();
        assert_clean("error Display", &e.to_string());
        assert_clean("error Debug", &format!("{e:?}"));
        let out = ch
            .update_listings(&[ListingUpdate {
                listing_id: ChannelListingId::new("1").unwrap(),
                sku: Sku::new("A").unwrap(),
                price: None,
                quantity: Some(1),
                title: None,
            }])
            .await
            .unwrap();
        assert_clean("outcome", &format!("{out:?}"));
        assert_clean("channel Debug after use", &format!("{ch:?}"));

        // A failing token endpoint that echoes the refresh token.
        let server2 = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .respond_with(ResponseTemplate::new(400).set_body_json(
                json!({"error": "invalid_grant", "error_description": format!("refresh token {REFRESH} revoked")}),
            ))
            .mount(&server2)
            .await;
        let e = ChannelAdvisorChannel::new(builder(&server2).build().unwrap())
            .unwrap()
            .verify()
            .await
            .unwrap_err();
        assert_clean("token error", &format!("{e} {e:?}"));
        assert!(e.channel_message().unwrap().contains("revoked"));

        let creds = offerup_credentials("seller-9", SecretString::from("OUSECRET-x1"));
        assert_clean("offerup credentials", &format!("{creds} {creds:?}"));
        Vec::new()
    }
}

marketsync_testkit::behaviour_tests!(Fixture => secrets);

/// Secrets a host may put in a URL: a password, a token in the query, a code in its own
/// callback. Every `Debug` that shows such a URL keeps the host and redacts these.
const URL_SECRETS: [&str; 3] = ["URLPASS-a7k1", "URLTOKEN-b8m2", "URLCODE-c9n3"];

#[tokio::test]
async fn urls_print_with_their_secrets_redacted() {
    let clean = |what: &str, text: &str| {
        assert_clean(what, text);
        for s in URL_SECRETS {
            assert!(!text.contains(s), "{what} leaks {s}: {text}");
        }
    };
    let server = MockServer::start().await;
    let builder = builder(&server)
        .base_url("https://bob:URLPASS-a7k1@api.channeladvisor.example/?access_token=URLTOKEN-b8m2")
        .redirect_uri(
            "https://seller.example.com/cb?code=URLCODE-c9n3&shop=main"
                .parse()
                .unwrap(),
        );
    let text = format!("{builder:?}");
    clean("builder Debug", &text);
    assert!(text.contains("api.channeladvisor.example"), "{text}");
    let config = builder.build().unwrap();
    // The HTTP client refuses a base URL with a password; the refusal does not show it.
    let refused = ChannelAdvisorChannel::new(config.clone()).unwrap_err();
    clean("refusal", &format!("{refused} {refused:?}"));
    let ch = ChannelAdvisorChannel::new(
        crate::builder(&server)
            .base_url("https://api.channeladvisor.example/?access_token=URLTOKEN-b8m2")
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
        clean("config Debug", &text);
        assert!(text.contains("api.channeladvisor.example"), "{text}");
        assert!(text.contains("seller.example.com/cb"), "{text}");
    }
    let start = ch
        .begin_authorization(&marketsync_core::AuthorizationRequest::default())
        .await
        .unwrap();
    let text = format!("{start:?}");
    clean("authorization start Debug", &text);
    assert!(text.contains("api.channeladvisor.example"), "{text}");
}
