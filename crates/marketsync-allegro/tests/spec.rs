//! Every request body the adapter sends, checked against the schema of its operation and
//! media type in Allegro's official OpenAPI document (`tests/fixtures/allegro-openapi.yaml`, the
//! copy of developer.allegro.pl/swagger.yaml kept in the project's API notes) with the testkit's
//! checker (`marketsync_testkit::openapi`): no field the schema does not know, every value
//! of the schema's type, enum, format and bounds, every required field present.
//!
//! Each test drives the adapter through the public `Channel` API against wiremock and checks
//! *every* request that carried a body, looked up by its path and `Content-Type`, so a body the
//! adapter starts sending later is checked too (or fails for having no schema).

mod common;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use common::*;
use marketsync_core::{
    AdjustmentReason, Channel, ChannelKind, ChannelListingId, ChannelOrderId, Delivery, EndListing,
    EndReason, IdempotencyKey, LineQuantity, ListingUpdate, Money, NewListing, Refund, RefundLine,
    RefundRequest, Shipment, ShipmentRequest, Sku,
};
use marketsync_testkit::behaviour::SpecFixture;
use marketsync_testkit::behaviour::spec::{
    Refusal, SentRequest, assert_all_ok, check_sent, operations, ship_request, yaml_spec,
};
use marketsync_testkit::openapi::RequestSchemas;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The official document, parsed once for all tests.
fn spec() -> &'static RequestSchemas {
    static SPEC: OnceLock<RequestSchemas> = OnceLock::new();
    SPEC.get_or_init(|| yaml_spec(include_str!("fixtures/allegro-openapi.yaml")))
}

/// Every request `server` received, checked against the spec: its operation must exist, and a
/// body must conform to the operation's schema for the request's `Content-Type`. Returns the
/// operations that carried a body, as `METHOD template`.
async fn assert_bodies_conform(server: &MockServer) -> BTreeSet<String> {
    let sent = requests(server).await.into_iter().map(|r| SentRequest {
        method: r.method.to_string(),
        path: r.url.path().to_owned(),
        content_type: r
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: r.body,
    });
    check_sent(spec(), sent).with_body
}

marketsync_testkit::fixture!(Allegro: ChannelKind::Allegro);

impl SpecFixture for Allegro {
    fn spec(&self) -> &RequestSchemas {
        spec()
    }

    /// Allegro's own shapes, each broken once.
    fn refusals(&self) -> Vec<Refusal> {
        let command = "/sale/offer-price-change-commands/{commandId}";
        vec![
            Refusal::body(
                "PUT",
                command,
                VND,
                json!({
                    "modification": {"type": "FIXED_PRICE", "price": {"amount": 19.99, "currency": "PLN"}},
                    "offerCriteria": [{"offers": [{"id": "1"}], "type": "CONTAINS_ALL"}]
                }),
            )
            .exactly(&[
                "$.modification.price.amount: expected string, got 19.99",
                "$.offerCriteria[0].type: \"CONTAINS_ALL\" is not one of \"CONTAINS_OFFERS\"",
            ]),
            // The media type matters: the schema is published under Allegro's vendor type only.
            Refusal::body("PUT", command, "application/json", json!({}))
                .mentioning(&["no request-body schema"]),
            Refusal::body(
                "POST",
                "/payments/refunds",
                VND,
                json!({
                    "payment": {"id": "0f8f1d13-7e9e-11e8-9b00-c5b0dfb78ea6"},
                    "order": {"id": "29738e61-7f6a-11e8-ac45-09db60ede9d6"},
                    "reason": "CHANGED_MIND",
                    "lineItems": [{"id": "line-1", "type": "QUANTITY", "quantity": "1"}],
                    "sellerComent": "x"
                }),
            )
            .sorted(&[
                "$.commandId: required by the spec, missing",
                "$.lineItems[0].id: \"line-1\" is not a hyphenated UUID",
                "$.lineItems[0].quantity: expected number, got \"1\"",
                "$.reason: \"CHANGED_MIND\" is not one of \"REFUND\", \"COMPLAINT\", \"PRODUCT_NOT_AVAILABLE\", \"PAID_VALUE_TOO_LOW\", \"OVERPAID\", \"CANCELLED_BY_BUYER\", \"NOT_COLLECTED\"",
                "$.sellerComent: not in the spec's schema",
            ]),
            Refusal::body(
                "POST",
                "/order/checkout-forms/{id}/shipments",
                VND,
                json!({"carrierId": "OTHER", "waybill": "X".repeat(65), "carrierName": "Kurier"}),
            )
            .exactly(&["$.waybill: 65 characters, more than maxLength 64"]),
        ]
    }
}

/// The checker must not accept everything (the behaviour suite's `spec` capability).
mod checker {
    marketsync_testkit::behaviour_tests!(super::Allegro => spec);
}

/// Commands (any id): 201 with a report; their tasks: every offer done.
async fn mount_commands(server: &MockServer, offers: &[&str]) {
    Mock::given(method("PUT"))
        .and(path_regex(
            "^/sale/offer-(price|quantity)-change-commands/[0-9a-f-]{36}$|^/sale/offer-publication-commands/[0-9a-f-]{36}$",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(report("x")))
        .mount(server)
        .await;
    let tasks: Vec<Value> = offers
        .iter()
        .map(|o| task(o, "SUCCESS", "stock.available"))
        .collect();
    Mock::given(method("GET"))
        .and(path_regex("^/sale/offer-.*-commands/.*/tasks$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tasks": tasks})))
        .mount(server)
        .await;
}

fn update(id: &str, sku: &str, price: Option<&str>, quantity: Option<u32>) -> ListingUpdate {
    ListingUpdate {
        listing_id: ChannelListingId::new(id).unwrap(),
        sku: Sku::new(sku).unwrap(),
        price: price.map(|p| Money::parse(p, "PLN").unwrap()),
        quantity,
        title: Some("Gitara akustyczna Yamaha F310".into()),
    }
}

/// Price and quantity change commands for several offers (shared and distinct values), and an
/// END publication command for a quantity of 0.
#[tokio::test]
async fn change_commands_conform() {
    let server = MockServer::start().await;
    mount_commands(
        &server,
        &["7763155620", "7763155621", "7763155622", "7763155623"],
    )
    .await;
    let out = channel(&server)
        .update_listings(&[
            update("7763155620", "GTR-001", Some("1299.99"), Some(5)),
            update("7763155621", "GTR-002", Some("1299.99"), Some(5)),
            update("7763155622", "GTR-003", Some("89.5"), None),
            update("7763155623", "GTR-004", None, Some(0)),
        ])
        .await
        .unwrap();
    assert_all_ok(&out);
    assert_eq!(
        assert_bodies_conform(&server).await,
        operations(&[
            "PUT /sale/offer-price-change-commands/{commandId}",
            "PUT /sale/offer-publication-commands/{commandId}",
            "PUT /sale/offer-quantity-change-commands/{commandId}",
        ])
    );
    let puts = requests(&server)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT")
        .count();
    assert_eq!(puts, 4, "quantity 5, price 1299.99, price 89.5, END");
}

/// Ending offers: one END publication command for all of them.
#[tokio::test]
async fn end_commands_conform() {
    let server = MockServer::start().await;
    mount_commands(&server, &["7763155620", "7763155621"]).await;
    let end = |id: &str, sku: Option<&str>, reason| EndListing {
        listing_id: ChannelListingId::new(id).unwrap(),
        sku: sku.map(|s| Sku::new(s).unwrap()),
        reason,
    };
    let out = channel(&server)
        .end_listings(&[
            end("7763155620", Some("GTR-001"), EndReason::NotOnLabel),
            end("7763155621", None, EndReason::SoldElsewhere),
        ])
        .await
        .unwrap();
    assert_all_ok(&out);
    assert_eq!(
        assert_bodies_conform(&server).await,
        operations(&["PUT /sale/offer-publication-commands/{commandId}"])
    );
}

/// Publishing through product offers from a realistic template: a draft and an active offer.
#[tokio::test]
async fn product_offers_conform() {
    let server = MockServer::start().await;
    allegro("POST", "/sale/product-offers")
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": "7763159999", "name": "x"})),
        )
        .expect(2)
        .mount(&server)
        .await;
    let ch = marketsync_allegro::AllegroChannel::new(
        builder(&server)
            .offer_template(json!({
                "productSet": [{
                    "product": {"id": "c9e39cae-9cb6-11e9-a2a3-2a2ae2dbcce4"},
                    "quantity": {"value": 1}
                }],
                "category": {"id": "257931"},
                "sellingMode": {"format": "BUY_NOW"},
                "delivery": {"shippingRates": {"id": "7d4b0a2e-0d0b-4e0c-9b0a-2f6c1e0e9a11"}, "handlingTime": "PT24H"},
                "afterSalesServices": {
                    "impliedWarranty": {"id": "0b7c7b5e-8a4e-4c2e-9d3f-1a2b3c4d5e6f"},
                    "returnPolicy": {"id": "1c8d8c6f-9b5f-4d3f-ae4a-2b3c4d5e6f70"}
                },
                "location": {"city": "Poznań", "countryCode": "PL", "postCode": "60-166", "province": "WIELKOPOLSKIE"},
                "payments": {"invoice": "VAT"},
                "language": "pl-PL"
            }))
            .build()
            .unwrap(),
    )
    .unwrap();
    let listing = |sku: &str, title: &str, price: &str, quantity, publish| NewListing {
        sku: Sku::new(sku).unwrap(),
        title: title.into(),
        price: Money::parse(price, "PLN").unwrap(),
        quantity,
        publish,
    };
    let out = ch
        .publish_listings(&[
            listing(
                "GTR-009",
                "Gitara akustyczna Yamaha F310 natural",
                "499.00",
                2,
                false,
            ),
            listing(
                "GTR-010",
                "Gitara klasyczna Admira Alba 4/4",
                "649",
                1,
                true,
            ),
        ])
        .await
        .unwrap();
    assert_all_ok(&out);
    assert_eq!(
        assert_bodies_conform(&server).await,
        operations(&["POST /sale/product-offers"])
    );
}

const FORM: &str = "29738e61-7f6a-11e8-ac45-09db60ede9d6";
const LINE_1: &str = "62ae358b-8f65-4fc4-9c77-bedf604a2e2b";
const LINE_2: &str = "73bf469c-9076-4ad5-8d88-cfe0715b3f3c";

/// The checkout form with two lines (the second: two pieces at 45.00).
fn two_line_form(fulfillment: &str) -> Value {
    let mut form = checkout_form(FORM, "GTR-001", "READY_FOR_PROCESSING", fulfillment, "r1");
    let mut second = form["lineItems"][0].clone();
    second["id"] = json!(LINE_2);
    second["quantity"] = json!(2);
    second["price"] = json!({"amount": "45.00", "currency": "PLN"});
    second["offer"]["external"]["id"] = json!("STR-010");
    form["lineItems"]
        .as_array_mut()
        .expect("line items")
        .push(second);
    form
}

async fn mount_order(server: &MockServer) {
    allegro("GET", &format!("/order/checkout-forms/{FORM}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(two_line_form("NEW")))
        .mount(server)
        .await;
    allegro("GET", &format!("/order/checkout-forms/{FORM}/shipments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"shipments": []})))
        .mount(server)
        .await;
    allegro("POST", &format!("/order/checkout-forms/{FORM}/shipments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "c0a8b7e2-1f3d-4c5b-9a8e-7d6c5b4a3f2e", "waybill": "0000123456789",
            "carrierId": "DPD", "carrierName": null, "lineItems": [],
            "createdAt": "2026-03-05T09:00:00.000Z"})))
        .mount(server)
        .await;
    allegro("PUT", &format!("/order/checkout-forms/{FORM}/fulfillment"))
        .respond_with(ResponseTemplate::new(204))
        .mount(server)
        .await;
    allegro("POST", "/payments/refunds")
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "b8d3f2c1-0e9a-4b7c-8d6e-5f4a3b2c1d0e",
            "payment": {"id": "0f8f1d13-7e9e-11e8-9b00-c5b0dfb78ea6"},
            "reason": "REFUND", "status": "NEW", "createdAt": "2026-03-05T09:00:00.000Z",
            "totalValue": {"amount": "45.00", "currency": "PLN"}})))
        .mount(server)
        .await;
}

fn shipment(
    carrier: Option<&str>,
    method: Option<&str>,
    tracking: Option<&str>,
    lines: Vec<LineQuantity>,
    delivery: Delivery,
) -> ShipmentRequest {
    ship_request(
        FORM,
        Shipment {
            carrier: carrier.map(Into::into),
            method: method.map(Into::into),
            tracking_number: tracking.map(Into::into),
            shipped_at: now(),
            lines,
            delivery,
        },
    )
}

/// Shipments: a known carrier for the whole order (waybill, then fulfilment status `SENT`),
/// another carrier by name for one line (waybill with line items), and a pickup without a
/// tracking number (status `PICKED_UP` only).
#[tokio::test]
async fn shipments_and_fulfilment_conform() {
    let server = MockServer::start().await;
    mount_order(&server).await;
    let ch = channel(&server);
    ch.ship(&shipment(
        Some("DPD"),
        Some("Allegro Kurier DPD"),
        Some("0000123456789"),
        vec![],
        Delivery::Shipped,
    ))
    .await
    .unwrap();
    ch.ship(&shipment(
        None,
        Some("Kurier lokalny Poznań"),
        Some("XY-0001"),
        vec![LineQuantity {
            line_id: LINE_2.into(),
            quantity: 2,
        }],
        Delivery::Shipped,
    ))
    .await
    .unwrap();
    ch.ship(&shipment(None, None, None, vec![], Delivery::PickedUp))
        .await
        .unwrap();
    assert_eq!(
        assert_bodies_conform(&server).await,
        operations(&[
            "POST /order/checkout-forms/{id}/shipments",
            "PUT /order/checkout-forms/{id}/fulfillment",
        ])
    );
    let bodies: Vec<Value> = requests(&server)
        .await
        .into_iter()
        .filter(|r| !r.body.is_empty())
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b["lineItems"].is_array() && b["carrierName"].is_string()),
        "the partial shipment's waybill names its lines and carrier: {bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| b == &json!({"status": "PICKED_UP"})),
        "{bodies:?}"
    );
}

fn refund(lines: Vec<RefundLine>, reason: AdjustmentReason, note: Option<&str>) -> RefundRequest {
    RefundRequest {
        order_id: ChannelOrderId::new(FORM).unwrap(),
        refund: Refund {
            amount: None,
            lines,
            reason,
            restock: false,
            note: note.map(Into::into),
        },
        idempotency_key: IdempotencyKey::generate(),
        resend: false,
    }
}

/// Refunds: the whole order (every line by quantity, and the delivery), and a partial refund
/// of one line by quantity and another by amount, with a note; each reason Allegro is sent.
#[tokio::test]
async fn refunds_conform() {
    let server = MockServer::start().await;
    mount_order(&server).await;
    let ch = channel(&server);
    ch.refund(&refund(vec![], AdjustmentReason::BuyerCancelled, None))
        .await
        .unwrap();
    ch.refund(&refund(
        vec![
            RefundLine {
                line_id: LINE_1.into(),
                quantity: Some(1),
                amount: None,
            },
            RefundLine {
                line_id: LINE_2.into(),
                quantity: None,
                amount: Some(Money::parse("45.00", "PLN").unwrap()),
            },
        ],
        AdjustmentReason::ShippingDamage,
        Some("Uszkodzenie w transporcie, zwrot części kwoty"),
    ))
    .await
    .unwrap();
    ch.refund(&refund(
        vec![RefundLine {
            line_id: LINE_2.into(),
            quantity: Some(1),
            amount: None,
        }],
        AdjustmentReason::ItemNotAvailable,
        None,
    ))
    .await
    .unwrap();
    ch.refund(&refund(
        vec![RefundLine {
            line_id: LINE_1.into(),
            quantity: Some(1),
            amount: None,
        }],
        AdjustmentReason::GeneralAdjustment,
        None,
    ))
    .await
    .unwrap();
    assert_eq!(
        assert_bodies_conform(&server).await,
        operations(&["POST /payments/refunds"])
    );
    let bodies: Vec<Value> = requests(&server)
        .await
        .into_iter()
        .filter(|r| r.url.path() == "/payments/refunds")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 4);
    assert!(bodies[0]["delivery"].is_object(), "{}", bodies[0]);
    assert_eq!(bodies[1]["lineItems"][1]["type"], "AMOUNT", "{}", bodies[1]);
    assert!(bodies[1]["sellerComment"].is_string(), "{}", bodies[1]);
}
