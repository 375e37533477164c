//! The Tradera sandbox's RESPONSES checked against Tradera's official REST v4 OpenAPI document
//! (`marketsync-tradera/tests/fixtures/tradera-v4-openapi.json`, the copy of the project's
//! `api/specs/tradera-v4-openapi.json`): each main route is driven with a plain reqwest client —
//! the token login, the profile, listings read (all and by id), shop-item writes (create,
//! quantities, prices, removal), ending auction and fixed-price items, queued results, orders
//! read (by date and by ids) and ship — and every JSON body is checked against the response
//! schema of its operation, status and content type (every field known to the schema — its
//! schemas say `additionalProperties: false` — of the schema's type and `int32` range, `null`
//! only where `nullable`).
//!
//! The document describes only `200` answers: Tradera's error bodies (`{"error": {"code",
//! "message"}}`, fact sheet B6) are not in it, so errors are checked against that shape here.

mod spec_check;

use std::sync::{Arc, OnceLock};

use marketsync_core::ManualClock;
use marketsync_sandbox::tradera::{self, default_anchor, seed};
use marketsync_sandbox::{Sandbox, TraderaSandbox};
use marketsync_testkit::openapi::RequestSchemas;
use reqwest::Method;
use serde_json::{Value, json};
use spec_check::Responses;

fn spec() -> &'static RequestSchemas {
    static SPEC: OnceLock<RequestSchemas> = OnceLock::new();
    SPEC.get_or_init(|| {
        RequestSchemas::from_json(
            serde_json::from_str(include_str!(
                "../../marketsync-tradera/tests/fixtures/tradera-v4-openapi.json"
            ))
            .expect("valid spec JSON"),
        )
    })
}

fn user(c: &reqwest::Client, method: Method, url: &str) -> reqwest::RequestBuilder {
    c.request(method, url)
        .header("X-App-Id", tradera::APP_ID.to_string())
        .header("X-App-Key", tradera::APP_KEY)
        .header("X-User-Id", tradera::USER_ID.to_string())
        .header("X-User-Token", tradera::USER_TOKEN)
        .header("Accept", "application/json")
}

/// Tradera's error shape (fact sheet B6): `{"error": {"code": "<text>", "message": "<text>"}}`
/// and nothing else.
fn assert_tradera_error(status: u16, body: &Value, expected_status: u16) {
    assert_eq!(status, expected_status, "{body}");
    let error = body["error"].as_object().expect("an error object");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    assert_eq!(error.len(), 2, "{body}");
    assert!(
        error["code"].is_string() && error["message"].is_string(),
        "{body}"
    );
}

fn item_of_type(items: &Value, item_type: i64) -> i64 {
    items
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["itemType"] == item_type && i["statusId"] == 1)
        .and_then(|i| i["id"].as_i64())
        .unwrap_or_else(|| panic!("an active item of type {item_type}"))
}

#[tokio::test]
async fn every_answer_of_the_main_routes_matches_the_spec() {
    let clock = Arc::new(ManualClock::new(default_anchor()));
    let sb: Sandbox<TraderaSandbox> = TraderaSandbox::builder()
        .clock(clock)
        .build()
        .start()
        .await
        .expect("sandbox starts");
    let base = sb.base_url();
    let mut r = Responses::new(spec());
    let c = r.client().clone();

    // Login: the token fetch (app headers only).
    sb.login_with_secret_key("secret-key-1");
    let (status, _) = r
        .send(
            c.post(format!("{base}/v4/auth/token"))
                .header("X-App-Id", tradera::APP_ID.to_string())
                .header("X-App-Key", tradera::APP_KEY)
                .json(&json!({"userId": tradera::USER_ID, "secretKey": "secret-key-1"})),
        )
        .await;
    assert_eq!(status, 200);
    r.send(user(&c, Method::GET, &format!("{base}/v4/users/me")))
        .await;

    // Listings read.
    let (_, items) = r
        .send(user(
            &c,
            Method::GET,
            &format!("{base}/v4/listings/seller-items"),
        ))
        .await;
    let shop = item_of_type(&items, seed::SHOP_ITEM);
    let auction = item_of_type(&items, seed::AUCTION);
    let fixed = item_of_type(&items, seed::FIXED_PRICE);
    for id in [shop, auction, fixed] {
        r.send(user(
            &c,
            Method::GET,
            &format!("{base}/v4/listings/items/{id}"),
        ))
        .await;
    }

    // Writes.
    let (_, queued) = r
        .send(
            user(&c, Method::POST, &format!("{base}/v4/listings/shop-items")).json(&json!({
                "title": "Kristallvas Kosta Boda", "price": 650, "absoluteQuantity": 4,
                "ownReferences": ["HYLLA 9/vas"], "vat": 25
            })),
        )
        .await;
    let created = queued["itemId"].as_i64().expect("itemId");
    let create_request = queued["requestId"].as_i64().expect("requestId");
    r.send(
        user(
            &c,
            Method::PUT,
            &format!("{base}/v4/listings/shop-items/quantities"),
        )
        .json(&json!({"shopItems": [{"id": created, "quantity": 7}, {"id": 1, "quantity": 1}]})),
    )
    .await;
    let (_, prices) = r
        .send(
            user(
                &c,
                Method::PUT,
                &format!("{base}/v4/listings/shop-items/prices"),
            )
            .json(
                &json!({"shopItems": [{"id": created, "price": 700}, {"id": created, "price": 0}]}),
            ),
        )
        .await;
    assert_eq!(prices["validationErrors"].as_array().map(Vec::len), Some(1));
    let (_, removed) = r
        .send(user(
            &c,
            Method::DELETE,
            &format!("{base}/v4/listings/shop-items/{shop}"),
        ))
        .await;
    let remove_request = removed["requestId"].as_i64().expect("requestId");
    r.send(user(
        &c,
        Method::GET,
        &format!("{base}/v4/listings/request-results?requestIds={create_request},{remove_request}"),
    ))
    .await;

    // Ending an auction and a fixed-price item: the spec's boolean.
    for id in [auction, fixed] {
        let (status, ended) = r
            .send(user(
                &c,
                Method::DELETE,
                &format!("{base}/v4/listings/items/{id}"),
            ))
            .await;
        assert_eq!((status, ended), (200, json!(true)));
        let (_, item) = r
            .send(user(
                &c,
                Method::GET,
                &format!("{base}/v4/listings/items/{id}"),
            ))
            .await;
        assert_eq!(item["statusId"], 2, "ended: {item}");
    }

    // Orders read and ship.
    let (_, orders) = r
        .send(user(
            &c,
            Method::GET,
            &format!(
                "{base}/v4/orders?fromDate=2020-01-01T00:00:00Z&toDate=2030-01-01T00:00:00Z&queryDateMode=0"
            ),
        ))
        .await;
    let ids: Vec<String> = orders
        .as_array()
        .expect("orders")
        .iter()
        .filter_map(|o| o["orderId"].as_i64())
        .map(|id| id.to_string())
        .collect();
    assert!(!ids.is_empty(), "the seed has orders");
    r.send(user(
        &c,
        Method::GET,
        &format!("{base}/v4/orders/{}", ids.join(",")),
    ))
    .await;
    r.send(user(
        &c,
        Method::POST,
        &format!("{base}/v4/orders/{}/ship", ids[0]),
    ))
    .await;

    r.assert_all_conform(&[
        "POST /v4/auth/token → 200",
        "GET /v4/users/me → 200",
        "GET /v4/listings/seller-items → 200",
        "GET /v4/listings/items/{itemId} → 200",
        "POST /v4/listings/shop-items → 200",
        "PUT /v4/listings/shop-items/quantities → 200",
        "PUT /v4/listings/shop-items/prices → 200",
        "DELETE /v4/listings/shop-items/{itemId} → 200",
        "DELETE /v4/listings/items/{itemId} → 200",
        "GET /v4/listings/request-results → 200",
        "GET /v4/orders → 200",
        "GET /v4/orders/{orderIds} → 200",
        "POST /v4/orders/{orderId}/ship → 200",
    ]);

    // Errors (not in the spec): Tradera's own shape.
    let errors = [
        user(&c, Method::GET, &format!("{base}/v4/listings/items/1")),
        user(&c, Method::DELETE, &format!("{base}/v4/listings/items/1")),
        user(
            &c,
            Method::DELETE,
            &format!("{base}/v4/listings/items/{created}"),
        ),
        user(
            &c,
            Method::PUT,
            &format!("{base}/v4/listings/shop-items/quantities"),
        )
        .json(&json!({"shopItems": []})),
        user(&c, Method::GET, &format!("{base}/v4/orders?fromDate=soon")),
        c.get(format!("{base}/v4/users/me")),
    ];
    let expected = [404, 404, 400, 400, 400, 401];
    for (request, want) in errors.into_iter().zip(expected) {
        let response = request.send().await.expect("the sandbox answers");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON error body");
        assert_tradera_error(status, &body, want);
    }
}
