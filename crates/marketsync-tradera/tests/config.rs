//! A Tradera integration configured from a config file (JSON): it builds a working channel, and
//! a wrong config names its field.

#![recursion_limit = "256"]

mod common;

use common::{APP_ID, APP_KEY, PUBLIC_KEY, SECRETS, TOKEN, USER_ID, user};
use marketsync_core::{Channel, ErrorKind};
use marketsync_tradera::{TraderaChannel, TraderaConfig};
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

#[tokio::test]
async fn a_json_config_builds_a_working_channel() {
    let server = MockServer::start().await;
    user("GET", "/v4/users/me")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": USER_ID, "alias": "acme", "currencyCode": "SEK"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let session = json!({"user_id": USER_ID, "token": TOKEN, "expires_at": "2099-01-01T00:00:00Z"});
    let mut file = json!({"app_id": APP_ID, "app_key": APP_KEY, "public_key": PUBLIC_KEY});
    file["base_url"] = server.uri().into();
    file["session"] = session;
    file["daily_budget"] = 1000.into();
    let config: TraderaConfig = serde_json::from_value(file).unwrap();
    let shown = format!("{config:?} {}", serde_json::to_string(&config).unwrap());
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{shown}");
    }
    let channel = TraderaChannel::new(config).unwrap();
    assert_eq!(channel.capabilities().rate_limits.per_day, Some(1000));
    let account = channel.verify().await.unwrap();
    assert_eq!(account.account_id, USER_ID.to_string());
    assert_eq!(account.name.as_deref(), Some("acme"));
}

#[test]
fn a_wrong_config_names_its_field() {
    let unknown = serde_json::from_value::<TraderaConfig>(
        json!({"app_id": APP_ID, "app_key": APP_KEY, "appKey": APP_KEY}),
    )
    .unwrap_err();
    assert!(unknown.to_string().contains("`appKey`"), "{unknown}");
    let missing = serde_json::from_value::<TraderaConfig>(json!({"app_key": APP_KEY})).unwrap_err();
    assert!(missing.to_string().contains("app_id"), "{missing}");
    let bad: TraderaConfig =
        serde_json::from_value(json!({"app_id": -1, "app_key": APP_KEY})).unwrap();
    let e = TraderaChannel::new(bad).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.field(), Some("app_id"));
    assert!(!format!("{e:?}").contains(APP_KEY));
}
