//! The configuration as a config file: read with serde, checked, never printing a secret.

mod common;

use common::*;
use marketsync_channeladvisor::{
    ChannelAdvisorChannel, ChannelAdvisorConfig, PriceField, ShippingMethodText,
};
use marketsync_core::{Channel, ChannelKind};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn file(server: &MockServer) -> serde_json::Value {
    json!({
        "base_url": server.uri(),
        "application_id": APP_ID,
        "shared_secret": SHARED_SECRET,
        "refresh_token": REFRESH,
        "profile_id": PROFILE,
        "label": "eBay Feed",
        "distribution_center_id": 3,
        "price_field": "RetailPrice",
        "shipping_method_text": "carrier_and_class"
    })
}

#[tokio::test]
async fn a_json_config_builds_a_working_channel() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_1}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"ID": PROFILE, "AccountName": "acme-us", "CurrencyCode": "USD"}]
        })))
        .mount(&server)
        .await;
    let config: ChannelAdvisorConfig = serde_json::from_value(file(&server)).unwrap();
    assert_eq!(config.kind(), ChannelKind::ChannelAdvisor);
    assert_eq!(config.profile_id(), PROFILE);
    assert_eq!(config.label(), Some("eBay Feed"));
    assert_eq!(config.price_field(), PriceField::RetailPrice);
    assert_eq!(
        config.shipping_method_text(),
        ShippingMethodText::CarrierAndClass
    );
    let channel = ChannelAdvisorChannel::new(config).unwrap();
    let info = channel.verify().await.unwrap();
    assert_eq!(info.account_id, PROFILE.to_string());
}

#[test]
fn offerup_takes_its_defaults() {
    let config: ChannelAdvisorConfig = serde_json::from_value(json!({
        "kind": "offer_up",
        "application_id": APP_ID,
        "shared_secret": SHARED_SECRET,
        "refresh_token": REFRESH,
        "profile_id": PROFILE
    }))
    .unwrap();
    assert_eq!(config.kind(), ChannelKind::OfferUp);
    assert_eq!(config.label(), Some("OfferUp"));
    assert_eq!(config.site_name(), Some("OfferUp"));
    assert_eq!(
        config.base_url().as_str(),
        "https://api.channeladvisor.com/"
    );
}

#[test]
fn unknown_and_missing_fields_are_named() {
    let server_uri = "http://127.0.0.1:9";
    let mut v = json!({
        "base_url": server_uri,
        "application_id": APP_ID,
        "shared_secret": SHARED_SECRET,
        "refresh_token": REFRESH,
        "profile_id": PROFILE,
        "lable": "typo"
    });
    let e = serde_json::from_value::<ChannelAdvisorConfig>(v.clone()).unwrap_err();
    assert!(e.to_string().contains("lable"), "{e}");
    v.as_object_mut().unwrap().remove("lable");
    v.as_object_mut().unwrap().remove("refresh_token");
    let e = serde_json::from_value::<ChannelAdvisorConfig>(v.clone()).unwrap_err();
    assert!(e.to_string().contains("refresh_token"), "{e}");
    v["refresh_token"] = json!(REFRESH);
    v["label"] = json!("  ");
    let e = serde_json::from_value::<ChannelAdvisorConfig>(v.clone()).unwrap_err();
    assert!(e.to_string().contains("`label`"), "{e}");
    v["label"] = json!("x");
    v["base_url"] = json!("ftp://example.test");
    let e = serde_json::from_value::<ChannelAdvisorConfig>(v).unwrap_err();
    assert!(e.to_string().contains("base_url"), "{e}");
}

#[test]
fn secrets_are_read_but_never_printed_or_written() {
    let config: ChannelAdvisorConfig = serde_json::from_value(json!({
        "application_id": APP_ID,
        "shared_secret": SHARED_SECRET,
        "refresh_token": REFRESH,
        "profile_id": PROFILE
    }))
    .unwrap();
    let debug = format!("{config:?}");
    let written = serde_json::to_string(&config).unwrap();
    for secret in [SHARED_SECRET, REFRESH] {
        assert!(!debug.contains(secret), "{debug}");
        assert!(!written.contains(secret), "{written}");
    }
    assert!(written.contains(APP_ID));
    assert!(!written.contains("shared_secret"));
}
