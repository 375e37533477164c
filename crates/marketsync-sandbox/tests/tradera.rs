//! The Tradera REST v4 fake's wire behaviour, through a plain reqwest client: app and user
//! headers, token fetch and expiry, absolute quantity updates, queued creates and their results,
//! orders by date and by ids, ship records, the daily budget, seeding.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use marketsync_core::{Clock, ManualClock};
use marketsync_sandbox::tradera::{self, NewOrder, TraderaBuilder, default_anchor};
use marketsync_sandbox::{Sandbox, TraderaSandbox};
use reqwest::Method;
use serde_json::{Value, json};

type Tr = Sandbox<TraderaSandbox>;

fn client() -> reqwest::Client {
    marketsync_http::client_builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(default_anchor()))
}

async fn start(builder: TraderaBuilder, clock: &Arc<ManualClock>) -> Tr {
    builder
        .clock(clock.clone())
        .build()
        .start()
        .await
        .expect("sandbox starts")
}

/// A request with the app headers and the default user's headers.
fn req(c: &reqwest::Client, method: Method, url: &str) -> reqwest::RequestBuilder {
    c.request(method, url)
        .header("X-App-Id", tradera::APP_ID.to_string())
        .header("X-App-Key", tradera::APP_KEY)
        .header("X-User-Id", tradera::USER_ID.to_string())
        .header("X-User-Token", tradera::USER_TOKEN)
        .header("Accept", "application/json")
}

async fn read(resp: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = resp.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(c: &reqwest::Client, url: &str) -> (u16, Value) {
    read(req(c, Method::GET, url)).await
}

async fn send(c: &reqwest::Client, method: Method, url: &str, body: Value) -> (u16, Value) {
    read(req(c, method, url).json(&body)).await
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn app_headers_are_required_on_every_call() {
    let clock = clock();
    let sb = start(TraderaSandbox::builder(), &clock).await;
    let c = client();
    let url = format!("{}/v4/users/me", sb.base_url());

    let (status, body) = get(&c, &url).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], tradera::USER_ID);
    assert_eq!(body["alias"], tradera::USER_ALIAS);

    // No app headers at all.
    let (status, body) = read(c.get(&url)).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "Unauthorized");
    assert!(body["error"]["message"].is_string());

    // Wrong key.
    let (status, body) = read(
        c.get(&url)
            .header("X-App-Id", tradera::APP_ID.to_string())
            .header("X-App-Key", "00000000-0000-0000-0000-000000000000")
            .header("X-User-Id", tradera::USER_ID.to_string())
            .header("X-User-Token", tradera::USER_TOKEN),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "Unauthorized");

    // The token endpoint needs the app headers too.
    let (status, _) = read(
        c.post(format!("{}/v4/auth/token", sb.base_url()))
            .json(&json!({"userId": tradera::USER_ID, "secretKey": "x"})),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn user_headers_are_checked() {
    let clock = clock();
    let sb = start(TraderaSandbox::builder(), &clock).await;
    let c = client();
    let url = format!("{}/v4/listings/seller-items", sb.base_url());
    let app_only = |m: Method| {
        c.request(m, &url)
            .header("X-App-Id", tradera::APP_ID.to_string())
            .header("X-App-Key", tradera::APP_KEY)
    };

    let (status, body) = read(app_only(Method::GET)).await;
    assert_eq!(status, 401, "missing user headers");
    assert_eq!(error_code(&body), "Unauthorized");

    let (status, body) = read(
        app_only(Method::GET)
            .header("X-User-Id", tradera::USER_ID.to_string())
            .header("X-User-Token", "not-a-token"),
    )
    .await;
    assert_eq!(status, 403, "invalid token");
    assert_eq!(error_code(&body), "Forbidden");

    let (status, _) = read(
        app_only(Method::GET)
            .header("X-User-Id", "42")
            .header("X-User-Token", tradera::USER_TOKEN),
    )
    .await;
    assert_eq!(status, 403, "token of another user");

    let (token, _) = sb.issue_user_token();
    let with = |t: &str| {
        app_only(Method::GET)
            .header("X-User-Id", tradera::USER_ID.to_string())
            .header("X-User-Token", t.to_owned())
    };
    assert_eq!(read(with(&token)).await.0, 200);
    assert!(sb.revoke_user_token(&token));
    assert_eq!(read(with(&token)).await.0, 403, "revoked");
}

#[tokio::test]
async fn token_fetch_good_unknown_and_used_key_then_hard_expiry() {
    let clock = clock();
    let sb = start(
        TraderaSandbox::builder().token_lifetime(std::time::Duration::from_secs(7 * 24 * 3600)),
        &clock,
    )
    .await;
    let c = client();
    let url = format!("{}/v4/auth/token", sb.base_url());
    let fetch = |key: &str| {
        c.post(&url)
            .header("X-App-Id", tradera::APP_ID.to_string())
            .header("X-App-Key", tradera::APP_KEY)
            .json(&json!({"userId": tradera::USER_ID, "secretKey": key}))
    };
    let skey = "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b";

    let (status, body) = read(fetch(skey)).await;
    assert_eq!(status, 400, "not logged in yet");
    assert_eq!(error_code(&body), "BadRequest");

    sb.login_with_secret_key(skey);
    let (status, body) = read(fetch(skey)).await;
    assert_eq!(status, 200, "{body}");
    let token = body["authToken"].as_str().expect("authToken").to_owned();
    let expires: DateTime<Utc> = body["hardExpirationTime"]
        .as_str()
        .expect("hardExpirationTime")
        .parse()
        .expect("a date-time");
    assert_eq!(expires, default_anchor() + TimeDelta::days(7));

    let (status, body) = read(fetch(skey)).await;
    assert_eq!(status, 400, "a used key");
    assert_eq!(error_code(&body), "BadRequest");

    let me = format!("{}/v4/users/me", sb.base_url());
    let call = || {
        c.get(&me)
            .header("X-App-Id", tradera::APP_ID.to_string())
            .header("X-App-Key", tradera::APP_KEY)
            .header("X-User-Id", tradera::USER_ID.to_string())
            .header("X-User-Token", token.clone())
    };
    assert_eq!(read(call()).await.0, 200);
    clock.advance(TimeDelta::days(7) - TimeDelta::seconds(1));
    assert_eq!(read(call()).await.0, 200, "a second before expiry");
    clock.advance(TimeDelta::seconds(1));
    let (status, body) = read(call()).await;
    assert_eq!(status, 403, "expired");
    assert_eq!(error_code(&body), "Forbidden");

    // The helper expires a token at once.
    let (other, _) = sb.issue_user_token();
    assert!(sb.expire_user_token(&other));
    let (status, _) = read(
        c.get(&me)
            .header("X-App-Id", tradera::APP_ID.to_string())
            .header("X-App-Key", tradera::APP_KEY)
            .header("X-User-Id", tradera::USER_ID.to_string())
            .header("X-User-Token", other),
    )
    .await;
    assert_eq!(status, 403);
}

/// A seeded, active shop item's id.
fn active_shop_item(items: &Value) -> i64 {
    items
        .as_array()
        .expect("array")
        .iter()
        .find(|i| i["itemType"] == tradera::seed::SHOP_ITEM && i["statusId"] == 1)
        .and_then(|i| i["id"].as_i64())
        .expect("an active shop item")
}

#[tokio::test]
async fn quantities_are_absolute_and_recorded() {
    let clock = clock();
    let sb = start(TraderaSandbox::builder(), &clock).await;
    let c = client();
    let base = sb.base_url();
    let (status, items) = get(&c, &format!("{base}/v4/listings/seller-items")).await;
    assert_eq!(status, 200);
    assert!(
        items
            .as_array()
            .expect("array")
            .iter()
            .all(|i| i["ownReferences"].is_array())
    );
    let id = active_shop_item(&items);

    let url = format!("{base}/v4/listings/shop-items/quantities");
    let body = json!({"shopItems": [{"id": id, "quantity": 7}]});
    for _ in 0..2 {
        let (status, result) = send(&c, Method::PUT, &url, body.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(result["successfulUpdates"], 1);
        assert_eq!(result["validationErrors"], json!([]));
        assert_eq!(sb.quantity(id), Some(7), "absolute, not a delta");
    }
    let (_, item) = get(&c, &format!("{base}/v4/listings/items/{id}")).await;
    assert_eq!(item["remainingQuantity"], 7);

    // Per-item validation errors; the good item is still applied.
    let (status, result) = send(
        &c,
        Method::PUT,
        &url,
        json!({"shopItems": [{"id": id, "quantity": 3}, {"id": 1, "quantity": 5}, {"id": id, "quantity": -1}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(result["successfulUpdates"], 1);
    let errors = result["validationErrors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["item"], json!({"id": 1, "quantity": 5}));
    assert!(errors[0]["errorMessage"].is_string());
    assert_eq!(sb.quantity(id), Some(3));

    let (status, body) = send(&c, Method::PUT, &url, json!({"shopItems": []})).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "BadRequest");

    let records = sb.quantity_updates();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].items, vec![(id, 7)]);
    assert_eq!(records[2].errors.len(), 2);
    assert_eq!(sb.counters().get("shop_items.quantities"), 4);
}

#[tokio::test]
async fn queued_create_price_and_delete_with_request_results() {
    let clock = clock();
    let sb = start(TraderaSandbox::builder(), &clock).await;
    let c = client();
    let base = sb.base_url();

    let (status, queued) = send(
        &c,
        Method::POST,
        &format!("{base}/v4/listings/shop-items"),
        json!({"title": "Kristallvas Kosta Boda", "price": 650, "absoluteQuantity": 4,
               "ownReferences": ["HYLLA 9/vas"], "vat": 25}),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    let request_id = queued["requestId"].as_i64().expect("requestId");
    let item_id = queued["itemId"].as_i64().expect("itemId");

    let (status, results) = get(
        &c,
        &format!("{base}/v4/listings/request-results?requestIds={request_id}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(results[0]["requestId"], request_id);
    assert_eq!(results[0]["resultCode"], 1);
    assert_eq!(sb.item_id_by_reference("HYLLA 9/vas"), Some(item_id));
    assert_eq!(sb.quantity(item_id), Some(4));

    // First-step validation: both quantity forms at once.
    let (status, body) = send(
        &c,
        Method::POST,
        &format!("{base}/v4/listings/shop-items"),
        json!({"title": "X", "price": 10, "quantity": 1, "absoluteQuantity": 1}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "BadRequest");

    // Prices are queued too.
    let (status, result) = send(
        &c,
        Method::PUT,
        &format!("{base}/v4/listings/shop-items/prices"),
        json!({"shopItems": [{"id": item_id, "price": 700}, {"id": item_id, "price": 0}]}),
    )
    .await;
    assert_eq!(status, 200);
    let price_request = result["queuedRequestResponses"][0]["requestId"]
        .as_i64()
        .expect("queued");
    assert_eq!(result["validationErrors"].as_array().map(Vec::len), Some(1));
    assert_eq!(sb.price(item_id), Some(700));
    assert_eq!(sb.price_updates()[0].request_ids, vec![price_request]);

    // A second-step failure.
    sb.fail_next_queued(2, "Category is not allowed for shop items");
    let (_, failed) = send(
        &c,
        Method::POST,
        &format!("{base}/v4/listings/shop-items"),
        json!({"title": "Trasig", "price": 10}),
    )
    .await;
    let failed_id = failed["requestId"].as_i64().expect("requestId");

    // Removal.
    let (status, removed) = send(
        &c,
        Method::DELETE,
        &format!("{base}/v4/listings/shop-items/{item_id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let delete_request = removed["requestId"].as_i64().expect("requestId");
    assert_eq!(sb.deletions()[0].item_id, item_id);

    let (_, results) = get(
        &c,
        &format!(
            "{base}/v4/listings/request-results?requestIds={price_request}&requestIds={failed_id},{delete_request}"
        ),
    )
    .await;
    let results = results.as_array().expect("array");
    assert_eq!(results.len(), 3);
    assert_eq!(results[1]["resultCode"], 2);
    assert_eq!(
        results[1]["message"],
        "Category is not allowed for shop items"
    );
    let (_, item) = get(&c, &format!("{base}/v4/listings/items/{item_id}")).await;
    assert_eq!(item["statusId"], 2, "removed items are inactive");
    let (status, _) = send(
        &c,
        Method::PUT,
        &format!("{base}/v4/listings/shop-items/quantities"),
        json!({"shopItems": [{"id": item_id, "quantity": 1}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sb.quantity_updates()[0].successful, 0);

    // Deleted outside the API: 404 by id.
    let other = sb.item_ids()[0];
    assert!(sb.delete_item(other));
    let (status, body) = get(&c, &format!("{base}/v4/listings/items/{other}")).await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "NotFound");
}

#[tokio::test]
async fn orders_by_created_and_last_updated_date_and_by_ids() {
    let clock = clock();
    let sb = start(TraderaSandbox::builder(), &clock).await;
    let c = client();
    let base = sb.base_url();
    let anchor = default_anchor();
    let from = (anchor - TimeDelta::days(60)).format("%Y-%m-%dT%H:%M:%S");
    let to = anchor.format("%Y-%m-%dT%H:%M:%S");

    let (status, all) = get(
        &c,
        &format!("{base}/v4/orders?fromDate={from}&toDate={to}&queryDateMode=0"),
    )
    .await;
    assert_eq!(status, 200);
    let all = all.as_array().expect("array").clone();
    assert_eq!(all.len(), sb.order_ids().len());
    for o in &all {
        assert!(
            o["subTotal"].is_i64() && o["shippingCost"].is_i64(),
            "integer SEK"
        );
        assert!(o["shippingType"].is_string());
        let items = o["items"].as_array().expect("items");
        let sum: i64 = items
            .iter()
            .map(|i| i["unitPrice"].as_i64().expect("int") * i["quantity"].as_i64().expect("int"))
            .sum();
        assert_eq!(o["subTotal"], sum);
        assert!(items.iter().all(|i| i["ownReferences"].is_array()));
    }
    assert!(
        all.iter()
            .any(|o| o["items"].as_array().map(Vec::len) > Some(1))
    );
    assert!(all.iter().any(|o| o["sellerOrderPayments"].is_null()));
    assert!(all.iter().any(|o| o["sellerOrderPayments"].is_array()));
    let types: std::collections::BTreeSet<&str> = all
        .iter()
        .filter_map(|o| o["shippingType"].as_str())
        .collect();
    assert!(types.len() >= 4);

    // An old order edited now shows up by last-updated date, not by created date.
    clock.advance(TimeDelta::hours(1));
    let now = clock.now();
    let old = all[0]["orderId"].as_i64().expect("orderId");
    assert!(sb.set_order_last_updated(old, now));
    let window = |mode: u8| {
        format!(
            "{base}/v4/orders?fromDate={}&toDate={}&queryDateMode={mode}",
            (now - TimeDelta::minutes(5)).to_rfc3339(),
            (now + TimeDelta::minutes(5)).to_rfc3339()
        )
        .replace('+', "%2B")
    };
    let (_, created) = get(&c, &window(0)).await;
    assert_eq!(created, json!([]));
    let (_, updated) = get(&c, &window(1)).await;
    assert_eq!(updated.as_array().map(Vec::len), Some(1));
    assert_eq!(updated[0]["orderId"], old);

    let new_id = sb.add_order(NewOrder {
        items: vec![(sb.item_ids()[0], 2)],
        paid: false,
        ..NewOrder::default()
    });
    let (_, created) = get(&c, &window(0)).await;
    assert_eq!(created[0]["orderId"], new_id);
    assert!(created[0]["sellerOrderPayments"].is_null());

    let (status, body) = get(&c, &format!("{base}/v4/orders?toDate={to}")).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), "BadRequest");

    let second = all[1]["orderId"].as_i64().expect("orderId");
    let (status, by_ids) = get(&c, &format!("{base}/v4/orders/{old},{second},999")).await;
    assert_eq!(status, 200);
    assert_eq!(by_ids.as_array().map(Vec::len), Some(2));
    assert_eq!(by_ids[1], all[1]);
}

#[tokio::test]
async fn ship_is_recorded() {
    let clock = clock();
    let sb = start(TraderaSandbox::builder(), &clock).await;
    let c = client();
    let id = sb.order_ids()[3];
    let (status, body) = send(
        &c,
        Method::POST,
        &format!("{}/v4/orders/{id}/ship", sb.base_url()),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"orderId": id}));
    let ships = sb.ships();
    assert_eq!(ships.len(), 1);
    assert_eq!(ships[0].order_id, id);
    assert_eq!(ships[0].at, default_anchor());
    let (status, _) = send(
        &c,
        Method::POST,
        &format!("{}/v4/orders/1/ship", sb.base_url()),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(sb.counters().get("orders.ship"), 2);
}

#[tokio::test]
async fn daily_budget_answers_429_on_call_101() {
    let clock = clock();
    let sb = start(TraderaSandbox::builder().orders(2).items(3), &clock).await;
    let c = client();
    let url = format!("{}/v4/users/me", sb.base_url());
    for n in 1..=100 {
        let (status, _) = get(&c, &url).await;
        assert_eq!(status, 200, "call {n}");
    }
    let resp = req(&c, Method::GET, &url).send().await.expect("request");
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_none());
    let body: Value = resp.json().await.expect("json");
    assert_eq!(error_code(&body), "TooManyRequests");
    assert!(body["error"]["message"].is_string());

    // The window slides by the injected clock.
    clock.advance(TimeDelta::hours(24));
    assert_eq!(get(&c, &url).await.0, 200);
}

#[tokio::test]
async fn budget_is_configurable_with_optional_retry_after() {
    let clock = clock();
    let sb = start(
        TraderaSandbox::builder()
            .daily_budget(Some(3))
            .retry_after_header(true),
        &clock,
    )
    .await;
    let c = client();
    let url = format!("{}/v4/users/me", sb.base_url());
    for _ in 0..3 {
        assert_eq!(get(&c, &url).await.0, 200);
        clock.advance(TimeDelta::hours(1));
    }
    let resp = req(&c, Method::GET, &url).send().await.expect("request");
    assert_eq!(resp.status().as_u16(), 429);
    let wait = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    assert_eq!(wait, Some(21 * 3600));
    sb.reset_daily_budget();
    assert_eq!(get(&c, &url).await.0, 200);
}

#[tokio::test]
async fn seeding_is_deterministic() {
    async fn snapshot(seed: u64) -> (Value, Value) {
        let clock = clock();
        let sb = start(TraderaSandbox::builder().seed(seed), &clock).await;
        let c = client();
        let base = sb.base_url();
        let (_, items) = get(&c, &format!("{base}/v4/listings/seller-items")).await;
        let (_, orders) = get(
            &c,
            &format!("{base}/v4/orders?fromDate=2025-01-01&toDate=2025-12-31&queryDateMode=1"),
        )
        .await;
        (items, orders)
    }
    let a = snapshot(7).await;
    let b = snapshot(7).await;
    let other = snapshot(8).await;
    assert_eq!(a, b);
    assert_ne!(a, other);
    assert!(a.0.as_array().map(Vec::len) > Some(10));
    assert!(a.1.as_array().map(Vec::len) > Some(10));
    let refs: Vec<&Value> =
        a.0.as_array()
            .expect("array")
            .iter()
            .map(|i| &i["ownReferences"])
            .collect();
    assert!(refs.iter().any(|r| r.as_array().map(Vec::len) == Some(0)));
    assert!(refs.iter().any(|r| r.as_array().map(Vec::len) > Some(1)));
}
