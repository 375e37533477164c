//! `ChannelConfig` / `channel_from_config`: a config file's entry for each adapter, read through
//! serde and made into the adapter, with secrets kept out of `Debug`. Nothing reaches the network.

use marketsync::{ChannelConfig, ChannelKind, channel_from_config};

fn read(json: &str) -> ChannelConfig {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[test]
fn every_adapter_is_made_from_its_config() {
    let cases = [
        (
            r#"{ "channel": "channeladvisor", "application_id": "app-1",
                 "shared_secret": "ca-shared-secret-1", "refresh_token": "ca-refresh-token-1",
                 "profile_id": 12345, "label": "eBay", "distribution_center_id": 1 }"#,
            ChannelKind::ChannelAdvisor,
            ["ca-shared-secret-1", "ca-refresh-token-1"],
        ),
        (
            r#"{ "channel": "channeladvisor", "kind": "offer_up", "application_id": "app-2",
                 "shared_secret": "ou-shared-secret-2", "refresh_token": "ou-refresh-token-2",
                 "profile_id": 12345 }"#,
            ChannelKind::OfferUp,
            ["ou-shared-secret-2", "ou-refresh-token-2"],
        ),
        (
            r#"{ "channel": "reverb", "token": "reverb-token-3", "default_currency": "USD",
                 "base_url": "https://sandbox.reverb.com/" }"#,
            ChannelKind::Reverb,
            ["reverb-token-3", "reverb-token-3"],
        ),
        (
            r#"{ "channel": "allegro", "environment": "sandbox", "client_id": "client-4",
                 "client_secret": "allegro-client-secret-4" }"#,
            ChannelKind::Allegro,
            ["allegro-client-secret-4", "allegro-client-secret-4"],
        ),
        (
            r#"{ "channel": "tradera", "app_id": 1234,
                 "app_key": "tradera-app-key-5", "public_key": "pk-1", "daily_budget": 5000 }"#,
            ChannelKind::Tradera,
            ["tradera-app-key-5", "tradera-app-key-5"],
        ),
    ];
    for (json, kind, secrets) in cases {
        let config = read(json);
        let debug = format!("{config:?}");
        for secret in secrets {
            assert!(!debug.contains(secret), "Debug shows a secret: {debug}");
        }
        let channel = channel_from_config(config).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(channel.kind(), kind, "{json}");
        let debug = format!("{channel:?}");
        for secret in secrets {
            assert!(!debug.contains(secret), "Debug shows a secret: {debug}");
        }
    }
}

#[test]
fn a_config_names_a_known_channel_and_only_its_fields() {
    for json in [
        // No channel named.
        r#"{ "token": "t", "default_currency": "USD" }"#,
        // A channel there is no adapter for.
        r#"{ "channel": "ebay", "token": "t" }"#,
        // A field Reverb's config does not have.
        r#"{ "channel": "reverb", "token": "t", "default_currency": "USD", "colour": "red" }"#,
        // A required field missing.
        r#"{ "channel": "tradera", "app_key": "k" }"#,
    ] {
        let err = serde_json::from_str::<ChannelConfig>(json).unwrap_err();
        assert!(!err.to_string().is_empty(), "{json}");
    }
}

#[test]
fn an_invalid_value_is_refused_when_the_channel_is_made() {
    // The base URL must be http(s): refused when read or when the adapter is made, never later.
    let json = r#"{ "channel": "reverb", "token": "t", "default_currency": "USD",
                    "base_url": "ftp://api.reverb.com/" }"#;
    if let Ok(config) = serde_json::from_str::<ChannelConfig>(json) {
        assert!(channel_from_config(config).is_err());
    }
}
