//! Every request body the adapter sends, checked against the schema of its operation in the
//! official Reverb OpenAPI spec (`tests/fixtures/reverb-openapi.json`, the published 2019
//! snapshot kept in the project's API notes) with the testkit's checker
//! (`marketsync_testkit::openapi`): no field the schema does not know, every value of the
//! schema's type and enum, every required field present.

mod common;

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use common::*;
use marketsync_core::{
    Channel, ChannelKind, ChannelListingId, ChannelOrderId, Delivery, EndListing, EndReason,
    IdempotencyKey, ListingUpdate, Money, NewListing, Shipment, ShipmentRequest, Sku,
};
use marketsync_testkit::behaviour::SpecFixture;
use marketsync_testkit::behaviour::spec::{Refusal, json_spec};
use marketsync_testkit::openapi::RequestSchemas;
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

fn spec() -> RequestSchemas {
    json_spec(include_str!("fixtures/reverb-openapi.json"))
}

/// The media type the adapter sends (`Content-Type: application/hal+json`, which Reverb reads
/// as JSON: api/reverb.md, request headers) and the one the spec publishes its request schemas
/// under: the 2019 spec lists only `application/json`, which Reverb takes the same way.
const SENT_MEDIA_TYPE: &str = "application/hal+json";
const SPEC_MEDIA_TYPE: &str = "application/json";

fn assert_conforms(spec: &RequestSchemas, path: &str, method: &str, body: &Value) {
    if let Err(errors) = spec.check_request_body(method, path, SPEC_MEDIA_TYPE, body) {
        panic!("{method} {path} {body}: {errors:#?}");
    }
}

/// The JSON body of the one request received for `method path`, sent as hal+json.
async fn body_of(server: &MockServer, method: &str, path: &str) -> Value {
    let found: Vec<Value> = requests(server)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .map(|r| {
            let content_type = r
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert_eq!(content_type, SENT_MEDIA_TYPE, "{method} {path}");
            serde_json::from_slice(&r.body).expect("a JSON body")
        })
        .collect();
    assert_eq!(found.len(), 1, "one {method} {path}");
    found.into_iter().next().unwrap_or_default()
}

marketsync_testkit::fixture!(Reverb: ChannelKind::Reverb);

impl SpecFixture for Reverb {
    fn spec(&self) -> &RequestSchemas {
        static SPEC: OnceLock<RequestSchemas> = OnceLock::new();
        SPEC.get_or_init(spec)
    }

    /// Reverb's own shapes, each broken.
    fn refusals(&self) -> Vec<Refusal> {
        vec![
            Refusal::body(
                "post",
                "/my/orders/selling/{id}/ship",
                SPEC_MEDIA_TYPE,
                json!({"provider": "UPS", "tracking_numbr": "1Z"}),
            )
            .mentioning(&[
                "tracking_numbr: not in the spec",
                "send_notification: required",
            ]),
            Refusal::body(
                "put",
                "/listings/{slug}",
                SPEC_MEDIA_TYPE,
                json!({"inventory": "3", "price": {"amount": 1.5, "currency": "XXX"}}),
            )
            .count(3),
        ]
    }
}

/// The checker must not accept everything (the behaviour suite's `spec` capability).
mod checker {
    marketsync_testkit::behaviour_tests!(super::Reverb => spec);
}

#[tokio::test]
async fn every_request_body_matches_the_official_schema() {
    let spec = spec();
    let server = MockServer::start().await;
    reverb("PUT", "/api/listings/101")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"listing": listing(101, "GTR-1", "live", 2, "12.50")})),
        )
        .mount(&server)
        .await;
    reverb("POST", "/api/listings")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "message": "Your draft listing has been created.",
            "listing": listing(201, "NEW-1", "draft", 1, "999.00"),
            "errors": {}
        })))
        .mount(&server)
        .await;
    reverb("PUT", "/api/my/listings/101/state/end")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"listing": listing(101, "GTR-1", "ended", 0, "12.50")})),
        )
        .mount(&server)
        .await;
    reverb("POST", "/api/my/orders/selling/51234567/ship")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    reverb("POST", "/api/my/orders/selling/51234568/mark_picked_up")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;

    let ch = channel(&server);
    let lid = |s: &str| ChannelListingId::new(s).unwrap();
    let sku = |s: &str| Sku::new(s).unwrap();
    let usd = |s: &str| Money::parse(s, "USD").unwrap();
    let out = ch
        .update_listings(&[ListingUpdate {
            listing_id: lid("101"),
            sku: sku("GTR-1"),
            price: Some(usd("12.50")),
            quantity: Some(2),
            title: Some("Fender Stratocaster".into()),
        }])
        .await
        .unwrap();
    assert!(out[0].result.is_ok(), "{:?}", out[0].result);
    assert_conforms(
        &spec,
        "/listings/{slug}",
        "put",
        &body_of(&server, "PUT", "/api/listings/101").await,
    );

    let out = ch
        .publish_listings(&[NewListing {
            sku: sku("NEW-1"),
            title: "Gibson SG".into(),
            price: usd("999"),
            quantity: 1,
            publish: false,
        }])
        .await
        .unwrap();
    assert!(out[0].result.is_ok(), "{:?}", out[0].result);
    assert_conforms(
        &spec,
        "/listings",
        "post",
        &body_of(&server, "POST", "/api/listings").await,
    );

    let out = ch
        .end_listings(&[EndListing {
            listing_id: lid("101"),
            sku: None,
            reason: EndReason::NotOnLabel,
        }])
        .await
        .unwrap();
    assert!(out[0].result.is_ok(), "{:?}", out[0].result);
    assert_conforms(
        &spec,
        "/my/listings/{slug}/state/end",
        "put",
        &body_of(&server, "PUT", "/api/my/listings/101/state/end").await,
    );

    let shipment = |order: &str, delivery: Delivery| ShipmentRequest {
        order_id: ChannelOrderId::new(order).unwrap(),
        shipment: Shipment {
            carrier: Some("UPS".into()),
            method: None,
            tracking_number: Some("1Z999AA10123456784".into()),
            shipped_at: Utc.with_ymd_and_hms(2026, 3, 4, 15, 55, 0).unwrap(),
            lines: vec![],
            delivery,
        },
        idempotency_key: IdempotencyKey::generate(),
        resend: false,
    };
    ch.ship(&shipment("51234567", Delivery::Shipped))
        .await
        .unwrap();
    assert_conforms(
        &spec,
        "/my/orders/selling/{id}/ship",
        "post",
        &body_of(&server, "POST", "/api/my/orders/selling/51234567/ship").await,
    );
    ch.ship(&shipment("51234568", Delivery::PickedUp))
        .await
        .unwrap();
    assert_conforms(
        &spec,
        "/my/orders/selling/{id}/mark_picked_up",
        "post",
        &body_of(
            &server,
            "POST",
            "/api/my/orders/selling/51234568/mark_picked_up",
        )
        .await,
    );
}

#[test]
fn the_spec_has_no_schema_for_seller_refund_requests() {
    // The refund-request body comes from a low-confidence source (api/reverb.md); the spec
    // publishes no schema for it, so it cannot be checked here. If a later spec adds one, this
    // test fails and the refund body must be checked like the others.
    let spec = spec();
    let op = &spec.spec()["paths"]["/my/orders/selling/{order_id}/refund_requests"]["post"];
    assert!(op.is_object(), "the operation exists");
    assert!(op["requestBody"].is_null());
}
