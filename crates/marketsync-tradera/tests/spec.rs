//! Every request the adapter sends, checked against Tradera's official REST v4 OpenAPI document
//! (`tests/fixtures/tradera-v4-openapi.json`, the copy kept in the project's API notes) with the
//! testkit's checker (`marketsync_testkit::openapi`): the operation exists, a body conforms
//! to its schema for the request's `Content-Type` (no field the schema does not know — Tradera's
//! schemas say `additionalProperties: false` — every value of the schema's type and `int32`
//! range, nullable only where the schema allows), and an operation without a request body in
//! the spec gets none.
//!
//! Each test drives the adapter through the public `Channel` API against wiremock and checks
//! *every* request it received, so a body the adapter starts sending later is checked too.

#![recursion_limit = "256"]

mod common;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use common::*;
use marketsync_core::{
    AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest, Channel, ChannelKind,
    ChannelListingId, Delivery, EndListing, EndReason, ListingQuery, ListingUpdate, Money,
    NewListing, Shipment, Sku,
};
use marketsync_testkit::behaviour::SpecFixture;
use marketsync_testkit::behaviour::spec::{
    Refusal, SentRequest, assert_all_ok, check_sent, json_spec, operations, ship_request,
};
use marketsync_testkit::openapi::RequestSchemas;
use marketsync_tradera::TraderaChannel;
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

/// The official document, parsed once for all tests.
fn spec() -> &'static RequestSchemas {
    static SPEC: OnceLock<RequestSchemas> = OnceLock::new();
    SPEC.get_or_init(|| json_spec(include_str!("fixtures/tradera-v4-openapi.json")))
}

/// The media type the adapter sends bodies as; the spec lists it (beside `text/json` and
/// `application/*+json`) for every request body.
const JSON: &str = "application/json";

/// Checks every request `server` received against the spec (every body sent as [`JSON`]) and
/// returns the operations, as `METHOD template`, each marked with whether it carried a body.
async fn assert_requests_conform(server: &MockServer) -> BTreeSet<String> {
    let mut sent = Vec::new();
    for r in requests(server).await {
        let content_type = r.headers.get("content-type").and_then(|v| v.to_str().ok());
        if !r.body.is_empty() {
            assert_eq!(content_type, Some(JSON), "{} {}", r.method, r.url.path());
        }
        sent.push(SentRequest {
            method: r.method.to_string(),
            path: r.url.path().to_owned(),
            content_type: content_type.map(str::to_owned),
            body: r.body,
        });
    }
    check_sent(spec(), sent).marked
}

marketsync_testkit::fixture!(Tradera: ChannelKind::Tradera);

impl SpecFixture for Tradera {
    fn spec(&self) -> &RequestSchemas {
        spec()
    }

    /// Tradera's own shapes, each broken once.
    fn refusals(&self) -> Vec<Refusal> {
        vec![
            Refusal::body(
                "PUT",
                "/v4/listings/shop-items/quantities",
                JSON,
                json!({"shopItems": [{"id": 700100200, "quantity": 7, "delta": true}, {"id": "700100201", "quantity": 3_000_000_000_u64}]}),
            )
            .exactly(&[
                "$.shopItems[0].delta: not in the spec's schema",
                "$.shopItems[1].id: expected integer, got \"700100201\"",
                "$.shopItems[1].quantity: 3000000000 does not fit the format int32",
            ]),
            Refusal::body(
                "POST",
                "/v4/listings/shop-items",
                "text/json",
                json!({"title": null, "ownReferences": ["LP-1", 2], "price": 149.5, "activateDate": "tomorrow"}),
            )
            .exactly(&[
                "$.activateDate: \"tomorrow\" is not an RFC 3339 date-time",
                "$.ownReferences[1]: expected string, got 2",
                "$.price: expected integer, got 149.5",
            ]),
            // The token fetch: `userId` is not nullable, `secretKey` is.
            Refusal::body(
                "POST",
                "/v4/auth/token",
                JSON,
                json!({"userId": null, "secretKey": null}),
            )
            .exactly(&["$.userId: expected integer, got null"]),
            // Marking an order shipped has no body in the spec: sending one is caught.
            Refusal::raw("POST", "/v4/orders/41000001/ship", JSON, b"{}")
                .mentioning(&["no request-body schema"]),
        ]
    }
}

/// The checker must not accept everything (the behaviour suite's `spec` capability).
mod checker {
    marketsync_testkit::behaviour_tests!(super::Tradera => spec);
}

/// The token login: `POST /v4/auth/token` with the user id and the secret key.
#[tokio::test]
async fn token_fetch_conforms() {
    let server = MockServer::start().await;
    app("POST", "/v4/auth/token")
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"authToken": TOKEN, "hardExpirationTime": "2026-09-01T12:00:00Z"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let ch = TraderaChannel::new(app_builder(&server).build().unwrap()).unwrap();
    let start = ch
        .begin_authorization(&AuthorizationRequest::default())
        .await
        .unwrap();
    let callback = AuthorizationCallback::from_params([("userId", USER_ID.to_string())]);
    let outcome = ch
        .complete_authorization(&start.pending, &callback)
        .await
        .unwrap();
    assert!(matches!(outcome, AuthorizationOutcome::Authorized(_)));
    assert_eq!(
        assert_requests_conform(&server).await,
        operations(&["POST /v4/auth/token (body)"])
    );
}

fn update(id: &str, sku: &str, price: Option<&str>, quantity: Option<u32>) -> ListingUpdate {
    ListingUpdate {
        listing_id: ChannelListingId::new(id).unwrap(),
        sku: Sku::new(sku).unwrap(),
        price: price.map(|p| Money::parse(p, "SEK").unwrap()),
        quantity,
        title: Some("Abba – Arrival (LP)".into()),
    }
}

/// Quantities and prices: one batch each for several shop items (a quantity of 0 too), the
/// queued price changes confirmed.
#[tokio::test]
async fn quantity_and_price_batches_conform() {
    let server = MockServer::start().await;
    user("PUT", "/v4/listings/shop-items/quantities")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"successfulUpdates": 3, "validationErrors": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    user("PUT", "/v4/listings/shop-items/prices")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "queuedRequestResponses": [
                {"itemId": 700100200, "requestId": 91001},
                {"itemId": 700100202, "requestId": 91002}
            ],
            "validationErrors": []
        })))
        .expect(1)
        .mount(&server)
        .await;
    user("GET", "/v4/listings/request-results")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"requestId": 91001, "resultCode": 1, "message": "OK"},
            {"requestId": 91002, "resultCode": 1, "message": "OK"}
        ])))
        .mount(&server)
        .await;
    let out = channel(&server)
        .update_listings(&[
            update("700100200", "LP-ABBA-01", Some("149.00"), Some(7)),
            update("700100201", "LP-ABBA-02", None, Some(0)),
            update("700100202", "LP-ABBA-03", Some("1250"), None),
            update("700100203", "LP-ABBA-04", None, Some(120)),
        ])
        .await
        .unwrap();
    assert_all_ok(&out);
    assert_eq!(
        assert_requests_conform(&server).await,
        operations(&[
            "GET /v4/listings/request-results",
            "PUT /v4/listings/shop-items/prices (body)",
            "PUT /v4/listings/shop-items/quantities (body)",
        ])
    );
}

/// Publishing shop items, with and without a configured category.
#[tokio::test]
async fn new_shop_items_conform() {
    let server = MockServer::start().await;
    user("POST", "/v4/listings/shop-items")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"itemId": 700200300, "requestId": 92001})),
        )
        .expect(3)
        .mount(&server)
        .await;
    user("GET", "/v4/listings/request-results")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"requestId": 92001, "resultCode": 1, "message": null}
        ])))
        .mount(&server)
        .await;
    let new = |sku: &str, title: &str, price: &str, quantity| NewListing {
        sku: Sku::new(sku).unwrap(),
        title: title.into(),
        price: Money::parse(price, "SEK").unwrap(),
        quantity,
        publish: true,
    };
    let in_category =
        TraderaChannel::new(builder(&server).category_id(302_460).build().unwrap()).unwrap();
    let out = in_category
        .publish_listings(&[
            new("LP-ABBA-01", "Abba – Arrival (LP, 1976)", "149", 5),
            new("LP-ABBA-02", "Abba – Voulez-Vous (LP)", "199.00", 1),
        ])
        .await
        .unwrap();
    assert_all_ok(&out);
    let out = channel(&server)
        .publish_listings(&[new("LP-X", "Okänd skiva", "10", 1)])
        .await
        .unwrap();
    assert!(out[0].result.is_ok(), "{:?}", out[0].result);
    assert_eq!(
        assert_requests_conform(&server).await,
        operations(&[
            "GET /v4/listings/request-results",
            "POST /v4/listings/shop-items (body)",
        ])
    );
    let bodies: Vec<Value> = requests(&server)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(bodies[0]["categoryId"].is_i64(), "{}", bodies[0]);
    assert!(bodies[2].get("categoryId").is_none(), "{}", bodies[2]);
}

/// Ending a shop item and an auction, and marking an order shipped: operations the spec gives
/// no request body, and the adapter sends none.
#[tokio::test]
async fn body_less_calls_send_no_body() {
    let server = MockServer::start().await;
    let answers = [
        (
            "GET",
            "/v4/listings/seller-items",
            json!([
                item(700100200, 4, &["LP-1"], 149, 8, "2026-12-31T23:59:00"),
                item(700100202, 1, &["LP-3"], 99, 1, "2026-12-31T23:59:00"),
            ]),
        ),
        (
            "DELETE",
            "/v4/listings/shop-items/700100200",
            json!({"itemId": 700100200, "requestId": 93001}),
        ),
        ("DELETE", "/v4/listings/items/700100202", json!(true)),
        (
            "GET",
            "/v4/listings/request-results",
            json!([{"requestId": 93001, "resultCode": 1, "message": "Removed"}]),
        ),
        (
            "POST",
            "/v4/orders/41000001/ship",
            json!({"orderId": 41000001}),
        ),
    ];
    for (method, path, answer) in answers {
        user(method, path)
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&server)
            .await;
    }
    let ch = channel(&server);
    ch.list_listings(&ListingQuery::default()).await.unwrap();
    let end = |id: &str| EndListing {
        listing_id: ChannelListingId::new(id).unwrap(),
        sku: None,
        reason: EndReason::NotOnLabel,
    };
    let out = ch
        .end_listings(&[end("700100200"), end("700100202")])
        .await
        .unwrap();
    assert_all_ok(&out);
    ch.ship(&ship_request(
        "41000001",
        Shipment {
            carrier: Some("PostNord".into()),
            method: Some("PostNord Varubrev".into()),
            tracking_number: Some("RR123456789SE".into()),
            shipped_at: now(),
            lines: Vec::new(),
            delivery: Delivery::Shipped,
        },
    ))
    .await
    .unwrap();
    assert_eq!(
        assert_requests_conform(&server).await,
        operations(&[
            "DELETE /v4/listings/items/{itemId}",
            "DELETE /v4/listings/shop-items/{itemId}",
            "GET /v4/listings/request-results",
            "GET /v4/listings/seller-items",
            "POST /v4/orders/{orderId}/ship",
        ])
    );
}
