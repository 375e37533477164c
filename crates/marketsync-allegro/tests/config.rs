//! The configuration as a config file: read with serde, checked, never printing a secret.

mod common;

use common::*;
use marketsync_allegro::{AllegroChannel, AllegroConfig, Environment};
use marketsync_core::{Channel, Credentials};
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

#[tokio::test]
async fn a_json_config_builds_a_working_channel() {
    let server = MockServer::start().await;
    allegro_with("GET", "/me", ACCESS_1)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "42", "login": "seller", "baseMarketplace": {"id": "allegro-pl"}
        })))
        .mount(&server)
        .await;
    let config: AllegroConfig = serde_json::from_value(json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "base_url": server.uri(),
        "auth_base_url": server.uri(),
        "scopes": ["allegro:api:sale:offers:read"],
        "command_polling": {"interval_secs": 2, "max_polls": 3}
    }))
    .unwrap();
    assert_eq!(config.client_id(), CLIENT_ID);
    assert_eq!(config.connection_name(), "Allegro");
    let channel = AllegroChannel::new(config).unwrap();
    channel
        .use_credentials(&Credentials::LoginSession(session()))
        .await
        .unwrap();
    let info = channel.verify().await.unwrap();
    assert_eq!(info.account_id, "42");
}

#[test]
fn the_environment_picks_the_hosts() {
    let config: AllegroConfig = serde_json::from_value(json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "environment": "sandbox"
    }))
    .unwrap();
    assert_eq!(config.environment(), Environment::Sandbox);
    assert_eq!(
        config.api_base_url().as_str(),
        "https://api.allegro.pl.allegrosandbox.pl/"
    );
}

#[test]
fn unknown_and_missing_fields_are_named() {
    let mut v = json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "polling": {"max_polls": 1}
    });
    let e = serde_json::from_value::<AllegroConfig>(v.clone()).unwrap_err();
    assert!(e.to_string().contains("polling"), "{e}");
    v.as_object_mut().unwrap().remove("polling");
    v.as_object_mut().unwrap().remove("client_secret");
    let e = serde_json::from_value::<AllegroConfig>(v.clone()).unwrap_err();
    assert!(e.to_string().contains("client_secret"), "{e}");
    v["client_secret"] = json!(CLIENT_SECRET);
    v["offer_template"] = json!([1, 2]);
    let e = serde_json::from_value::<AllegroConfig>(v.clone()).unwrap_err();
    assert!(e.to_string().contains("`offer_template`"), "{e}");
    v.as_object_mut().unwrap().remove("offer_template");
    v["command_polling"] = json!({"max_polls": 0});
    let e = serde_json::from_value::<AllegroConfig>(v).unwrap_err();
    assert!(e.to_string().contains("`command_polling`"), "{e}");
}

#[test]
fn the_secret_is_read_but_never_printed_or_written() {
    let config: AllegroConfig = serde_json::from_value(json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET
    }))
    .unwrap();
    let debug = format!("{config:?}");
    let written = serde_json::to_string(&config).unwrap();
    assert!(!debug.contains(CLIENT_SECRET), "{debug}");
    assert!(!written.contains(CLIENT_SECRET), "{written}");
    assert!(written.contains(CLIENT_ID));
    let back: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(back["environment"], "production");
    assert!(back.get("base_url").is_none());
}
