//! Every request body the adapter sends, checked against the schema of its operation in the
//! official Reverb OpenAPI spec (`tests/fixtures/reverb-openapi.json`, the published 2019
//! snapshot kept in the project's API notes): no field the schema does not know, every value of
//! the schema's type and enum, every required field present.

mod common;

use chrono::{TimeZone, Utc};
use common::*;
use marketsync_core::{
    Channel, ChannelListingId, ChannelOrderId, Delivery, EndListing, EndReason, IdempotencyKey,
    ListingUpdate, Money, NewListing, Shipment, ShipmentRequest, Sku,
};
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

fn spec() -> Value {
    serde_json::from_str(include_str!("fixtures/reverb-openapi.json")).expect("valid spec JSON")
}

/// The request-body schema of `method path` in the spec.
fn schema(spec: &Value, path: &str, method: &str) -> Value {
    spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
}

/// Checks `value` against an OpenAPI 3.0 schema (the subset the spec uses for request bodies:
/// type, properties, required, enum, items), collecting every violation.
fn check(schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let ty = schema["type"].as_str().unwrap_or("");
    let ok = match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    };
    if !ok {
        errors.push(format!("{at}: expected {ty}, got {value}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(props), Some(object)) = (schema["properties"].as_object(), value.as_object()) {
        for (key, v) in object {
            match props.get(key) {
                Some(s) => check(s, v, &format!("{at}.{key}"), errors),
                None => errors.push(format!("{at}.{key}: not in the spec's schema")),
            }
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            if let Some(name) = required.as_str()
                && !object.contains_key(name)
            {
                errors.push(format!("{at}.{name}: required by the spec, missing"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            check(items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

fn assert_conforms(spec: &Value, path: &str, method: &str, body: &Value) {
    let schema = schema(spec, path, method);
    assert!(
        schema.is_object(),
        "the spec has no request schema for {method} {path}"
    );
    let mut errors = Vec::new();
    check(&schema, body, "body", &mut errors);
    assert!(errors.is_empty(), "{method} {path} {body}: {errors:#?}");
}

/// The JSON body of the one request received for `method path`.
async fn body_of(server: &MockServer, method: &str, path: &str) -> Value {
    let found: Vec<Value> = requests(server)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .map(|r| serde_json::from_slice(&r.body).expect("a JSON body"))
        .collect();
    assert_eq!(found.len(), 1, "one {method} {path}");
    found.into_iter().next().unwrap_or_default()
}

#[test]
fn the_checker_catches_what_it_must() {
    let spec = spec();
    let s = schema(&spec, "/my/orders/selling/{id}/ship", "post");
    let mut errors = Vec::new();
    check(
        &s,
        &json!({"provider": "UPS", "tracking_numbr": "1Z"}),
        "body",
        &mut errors,
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("tracking_numbr: not in the spec")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("send_notification: required")),
        "{errors:?}"
    );
    let s = schema(&spec, "/listings/{slug}", "put");
    let mut errors = Vec::new();
    check(
        &s,
        &json!({"inventory": "3", "price": {"amount": 1.5, "currency": "XXX"}}),
        "body",
        &mut errors,
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
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
    let op = &spec["paths"]["/my/orders/selling/{order_id}/refund_requests"]["post"];
    assert!(op.is_object(), "the operation exists");
    assert!(op["requestBody"].is_null());
}
