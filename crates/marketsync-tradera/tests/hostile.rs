//! Hostile responses served by wiremock to the real adapter through the `Channel` API: wrong
//! types, unknown values, negative quantities, malformed dates, huge answers, deeply nested JSON
//! and truncated bodies. Each unreadable order is a typed rejection naming why, the other orders
//! are read, nothing panics; through the engine, an answer that cannot be read stores no cursor,
//! and once it can, the good orders import and the bad one is recorded as not imported with its
//! reason.
#![recursion_limit = "256"]

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use marketsync_core::{
    Actor, AuthorizationCallback, AuthorizationRequest, Channel, ChannelError, ChannelKind,
    ChannelOrderId, Currency, Feature, IntegrationSettings, NotImportedReason, OrderPage,
    OrderQuery, Store,
};
use marketsync_testkit::behaviour::{EngineRig, RawBodyFixture};
use marketsync_testkit::checks::{
    assert_hostile_orders_read, assert_listings_unreadable, read_listings_with_a_negative_stock,
    rejection,
};
use marketsync_tradera::TraderaChannel;
use serde_json::{Value, json};
use wiremock::matchers::body_json;
use wiremock::{MockServer, ResponseTemplate};

fn query() -> OrderQuery {
    OrderQuery {
        cursor: None,
        created_since: None,
        states: Vec::new(),
        default_currency: Currency::SEK,
        page: None,
        page_size: None,
    }
}

fn good(id: i64) -> Value {
    order(id, &["LP-ABBA-01"], true, "2026-03-04T10:30:00")
}

/// Serves `body` (raw bytes) as the orders answer and fetches it.
async fn fetch_raw(body: Vec<u8>) -> Result<OrderPage, ChannelError> {
    let server = MockServer::start().await;
    user("GET", "/v4/orders")
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    channel(&server).fetch_orders(&query()).await
}

async fn fetch(orders: Vec<Value>) -> OrderPage {
    fetch_raw(Value::Array(orders).to_string().into_bytes())
        .await
        .unwrap()
}

#[tokio::test]
async fn each_hostile_order_is_rejected_with_why_and_the_others_are_read() {
    let mut negative = good(41_000_002);
    negative["items"][0]["quantity"] = json!(-2);
    let mut date = good(41_000_003);
    date["createdDate"] = json!("den fjärde mars");
    let mut wrong_type = good(41_000_004);
    wrong_type["items"][0]["unitPrice"] = json!("149 kr");
    let mut fraction = good(41_000_005);
    fraction["shippingCost"] = json!(59.5);
    let mut unknown = good(41_000_006);
    unknown["items"][0]["type"] = json!(999);
    unknown["shippingType"] = json!("Teleportation");
    let page = fetch(vec![
        good(41_000_001),
        negative,
        date,
        wrong_type,
        fraction,
        unknown,
        json!({"orderId": [1]}),
        json!(null),
        good(41_000_007),
    ])
    .await;

    // Read: 41000001, 41000006 (unknown values kept), 41000007; rejected: the other four, the
    // order without a readable id and the null.
    assert_hostile_orders_read(
        &page,
        ChannelKind::Tradera,
        &["41000001", "41000006", "41000007"],
        6,
        2,
    );
    assert_eq!(
        page.orders[1].shipping_method.as_deref(),
        Some("Teleportation"),
        "an unknown shipping type is kept as Tradera's text"
    );
    assert!(rejection(&page, "41000002").message().contains("-2"));
    let date = rejection(&page, "41000003").message();
    assert!(date.contains("created"), "{date}");
    assert!(rejection(&page, "41000004").message().contains("149 kr"));
    assert!(rejection(&page, "41000005").message().contains("59.5"));
}

// Tradera to the testkit's hostile-body behaviours (a huge answer, deeply nested, truncated and
// misshapen answers): the orders answer is a bare JSON array.
marketsync_testkit::fixture!(Fixture: ChannelKind::Tradera);

#[async_trait]
impl RawBodyFixture for Fixture {
    async fn fetch_orders_raw(&self, body: Vec<u8>) -> Result<OrderPage, ChannelError> {
        fetch_raw(body).await
    }

    fn order(&self, n: u64) -> Value {
        json!({
            "orderId": 50_000_000 + n, "createdDate": "2026-03-04T10:15:00",
            "lastUpdatedDate": "2026-03-04T10:30:00",
            "items": [{"itemId": n, "ownReferences": ["A"], "quantity": 1, "title": "T", "unitPrice": 10}],
            "subTotal": 10
        })
    }

    fn page(&self, orders: Vec<Value>) -> Value {
        Value::Array(orders)
    }

    fn misshapen(&self) -> Vec<Value> {
        vec![json!({"orders": []}), json!("just a string")]
    }
}

marketsync_testkit::behaviour_tests!(Fixture => hostile);

#[tokio::test]
async fn hostile_items_are_clamped_or_a_typed_error() {
    let server = MockServer::start().await;
    let mut negative = item(700_100_200, 4, &["LP-1"], 149, -3, "2026-06-01T12:00:00");
    negative["statusId"] = json!(424_242);
    user("GET", "/v4/listings/seller-items")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([negative])))
        .mount(&server)
        .await;
    let listings = read_listings_with_a_negative_stock(&channel(&server), 1).await;
    assert!(listings[0].raw_state.contains("424242"));

    let server = MockServer::start().await;
    user("GET", "/v4/listings/seller-items")
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(b"[{\"id\": 1,".to_vec(), "application/json"),
        )
        .mount(&server)
        .await;
    assert_listings_unreadable(&channel(&server)).await;
}

#[tokio::test]
async fn through_the_engine_an_unreadable_answer_keeps_the_cursor_and_a_bad_order_is_recorded() {
    let server = MockServer::start().await;
    let clock = clock();
    let channel =
        TraderaChannel::new(app_builder(&server).clock(clock.clone()).build().unwrap()).unwrap();
    let rig = EngineRig::new(
        "Tradera",
        Arc::new(channel),
        IntegrationSettings::new(ChannelKind::Tradera, Currency::SEK),
        clock.clone(),
    )
    .await;
    rig.item("LP-ABBA-01", "LP", "149", "SEK", 3);
    let EngineRig {
        engine, store, id, ..
    } = &rig;
    let id = *id;
    let start = engine
        .begin_authorization(id, &AuthorizationRequest::default())
        .await
        .unwrap();
    let skey = secrecy::ExposeSecret::expose_secret(&start.pending.secret).to_owned();
    app("POST", "/v4/auth/token")
        .and(body_json(json!({"userId": USER_ID, "secretKey": skey})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"authToken": TOKEN, "hardExpirationTime": "2026-04-04T09:00:00Z"}),
        ))
        .mount(&server)
        .await;
    user("GET", "/v4/users/me")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": USER_ID, "alias": "acme", "currencyCode": "SEK"})),
        )
        .mount(&server)
        .await;
    engine
        .complete_authorization(
            id,
            &start.pending,
            &AuthorizationCallback::from_params([("userId", USER_ID.to_string())]),
            Actor::System,
        )
        .await
        .unwrap()
        .unwrap();
    rig.activate("tradera", &[Feature::Orders]).await;

    // Cut off: nothing is recorded, no cursor.
    let mut bad = good(42_000_002);
    bad["items"][0]["quantity"] = json!(-1);
    let answer = Value::Array(vec![good(42_000_001), bad, good(42_000_003)]).to_string();
    let cut = user("GET", "/v4/orders")
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            answer.as_bytes()[..answer.len() / 2].to_vec(),
            "application/json",
        ))
        .mount_as_scoped(&server)
        .await;
    let e = engine.import_orders(id).await.unwrap_err();
    assert!(e.to_string().contains("could not be read"), "{e}");
    assert_eq!(store.cursor(id).await.unwrap(), None);
    drop(cut);

    // Whole: the good orders import, the bad one is recorded with why, the cursor is stored.
    user("GET", "/v4/orders")
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(answer.into_bytes(), "application/json"),
        )
        .mount(&server)
        .await;
    let report = engine.import_orders(id).await.unwrap();
    assert_eq!(
        report.imported,
        [
            ChannelOrderId::new("42000001").unwrap(),
            ChannelOrderId::new("42000003").unwrap()
        ]
    );
    assert_eq!(report.not_imported.len(), 1);
    let (bad_id, reason) = &report.not_imported[0];
    assert_eq!(bad_id.as_str(), "42000002");
    match reason {
        NotImportedReason::Unreadable { message } => assert!(message.contains("-1"), "{message}"),
        other => panic!("not an unreadable reason: {other:?}"),
    }
    assert!(store.cursor(id).await.unwrap().is_some());
}
