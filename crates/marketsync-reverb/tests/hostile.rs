//! Hostile responses served by wiremock to the real adapter through the `Channel` API: wrong
//! types, unknown enum values, negative quantities, unknown currencies, malformed dates, huge
//! pages, deeply nested JSON and truncated bodies. Each unreadable order is a typed rejection
//! naming why, the other orders are read, nothing panics; through the engine, the good orders
//! import, the bad one is recorded as not imported with its reason, and a page that cannot be
//! read stops the run without moving the cursor past it.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use common::*;
use marketsync_core::ChannelError;
use marketsync_core::{
    Channel, ChannelKind, ChannelOrderId, Credentials, Currency, Feature, IntegrationSettings,
    ManualClock, NotImportedReason, OrderPage, OrderQuery, OrderState, Store,
};
use marketsync_testkit::behaviour::{EngineRig, RawBodyFixture};
use marketsync_testkit::checks::{
    assert_hostile_orders_read, assert_listings_unreadable, read_listings_with_a_negative_stock,
    rejection,
};
use serde_json::{Value, json};
use wiremock::matchers::{query_param, query_param_is_missing};
use wiremock::{MockServer, ResponseTemplate};

const ORDERS: &str = "/api/my/orders/selling/all";

fn query() -> OrderQuery {
    OrderQuery {
        cursor: None,
        created_since: None,
        states: Vec::new(),
        default_currency: Currency::USD,
        page: None,
        page_size: None,
    }
}

fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

/// Serves `body` (raw bytes) as the orders page and fetches it.
async fn fetch_raw(body: Vec<u8>) -> Result<OrderPage, ChannelError> {
    let server = MockServer::start().await;
    reverb("GET", ORDERS)
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/hal+json"))
        .mount(&server)
        .await;
    channel(&server).fetch_orders(&query()).await
}

async fn fetch(body: Value) -> OrderPage {
    fetch_raw(body.to_string().into_bytes()).await.unwrap()
}

fn good(n: &str) -> Value {
    order(n, "GTR-001", "paid", "2026-03-04T10:00:00-06:00")
}

#[tokio::test]
async fn each_hostile_order_is_rejected_with_why_and_the_others_are_read() {
    let mut negative = good("1002");
    negative["quantity"] = json!(-2);
    let mut currency = good("1003");
    currency["total"] = money("1344.00", "XYZ");
    let mut date = good("1004");
    date["created_at"] = json!("yesterday at noon");
    let mut wrong_type = good("1005");
    wrong_type["total"] = json!(1344.0);
    let mut unknown_status = good("1006");
    unknown_status["status"] = json!("teleported_to_mars");
    let mut mixed = good("1007");
    mixed["shipping"] = money("45.00", "EUR");
    let no_id =
        json!({"order_number": {"nested": true}, "created_at": "2026-03-04T08:12:44-06:00"});
    let page = fetch(page(
        "orders",
        vec![
            good("1001"),
            negative,
            currency,
            date,
            wrong_type,
            unknown_status,
            mixed,
            no_id,
            json!(42),
            good("1008"),
        ],
        None,
        1,
        1,
    ))
    .await;

    // Rejected: the other five, the order without a readable id and the non-object.
    assert_hostile_orders_read(&page, ChannelKind::Reverb, &["1001", "1006", "1008"], 7, 2);
    // An unknown status is kept as Reverb's own text, never guessed into a known state.
    let unknown = &page.orders[1];
    assert_eq!(unknown.status.raw, "teleported_to_mars");
    assert_eq!(unknown.status.state, OrderState::Unknown);

    assert!(rejection(&page, "1002").message().contains("-2"));
    assert!(rejection(&page, "1003").message().contains("XYZ"));
    let date = rejection(&page, "1004").message();
    assert!(date.contains("input contains invalid characters"), "{date}");
    assert!(
        rejection(&page, "1005")
            .message()
            .contains("could not be read")
    );
    assert!(rejection(&page, "1007").message().contains("EUR"));
    assert!(page.next_page.is_none());
}

// Reverb to the testkit's hostile-body behaviours (a huge page, deeply nested, truncated and
// misshapen answers): the orders list is the HAL page `{"orders": [...], "_links": ...}`.
marketsync_testkit::fixture!(Fixture: ChannelKind::Reverb);

#[async_trait]
impl RawBodyFixture for Fixture {
    async fn fetch_orders_raw(&self, body: Vec<u8>) -> Result<OrderPage, ChannelError> {
        fetch_raw(body).await
    }

    fn order(&self, n: u64) -> Value {
        json!({
            "order_number": (100_000 + n).to_string(),
            "created_at": "2026-03-04T08:12:44-06:00",
            "updated_at": "2026-03-04T09:12:44-06:00",
            "status": "paid",
            "sku": format!("SKU-{n}"),
            "quantity": 1,
            "amount_product": {"amount": "10.00", "currency": "USD"},
            "total": {"amount": "10.00", "currency": "USD"}
        })
    }

    fn page(&self, orders: Vec<Value>) -> Value {
        page("orders", orders, None, 1, 1)
    }

    fn misshapen(&self) -> Vec<Value> {
        vec![
            json!({"orders": "none"}),
            json!({"orders": {"0": {}}}),
            json!({"orders": [], "_links": {"next": 5}}),
        ]
    }

    /// The orders are read in order, and the last page of a download carries the cursor.
    fn check_page(&self, page: &OrderPage) {
        assert_eq!(
            page.orders[page.orders.len() - 1].channel_order_id.as_str(),
            "149999"
        );
        assert!(page.cursor.is_some());
    }

    /// Reverb's unreadable answer says so.
    fn check_unreadable(&self, e: &ChannelError) {
        assert!(e.message().contains("could not be read"), "{e}");
    }
}

marketsync_testkit::behaviour_tests!(Fixture => hostile);

/// Nested inside one order only, within the parser's depth limit: that order is read (the
/// unknown field is ignored).
#[tokio::test]
async fn nesting_within_the_parsers_limit_inside_one_order_is_read() {
    let mut deep = good("2001");
    let mut nest = json!(1);
    for _ in 0..100 {
        nest = json!([nest]);
    }
    deep["extra"] = nest;
    let page = fetch(page("orders", vec![deep, good("2002")], None, 1, 1)).await;
    assert_eq!(page.orders.len(), 2);
}

#[tokio::test]
async fn hostile_listings_are_a_typed_error_or_clamped() {
    let server = MockServer::start().await;
    let mut negative = listing(11, "A", "live", -5, "10.00");
    negative["price"] = json!({"amount": 10.5, "currency": "USD"});
    reverb("GET", "/api/my/listings")
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![negative, listing(12, "B", "unheard_of_state", 2, "20.00")],
            None,
            1,
            1,
        )))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let listings = read_listings_with_a_negative_stock(&ch, 2).await;
    assert_eq!(listings[0].price, None, "a float price is not read");
    assert_eq!(listings[1].raw_state, "unheard_of_state");

    server.reset().await;
    reverb("GET", "/api/my/listings")
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "listings",
            vec![json!({"id": [1]})],
            None,
            1,
            1,
        )))
        .mount(&server)
        .await;
    assert_listings_unreadable(&ch).await;
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap()
}

#[tokio::test]
async fn through_the_engine_good_orders_import_the_bad_one_is_recorded_and_an_unreadable_page_keeps_the_cursor()
 {
    let server = MockServer::start().await;
    let rig = EngineRig::new(
        "Reverb",
        Arc::new(channel(&server)),
        IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
        Arc::new(ManualClock::new(now())),
    )
    .await;
    rig.item("GTR-001", "Guitar", "1200.00", "USD", 5);
    reverb("GET", "/api/shop")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1, "name": "Acme"})))
        .mount(&server)
        .await;
    rig.connect(&Credentials::api_token(TOKEN)).await;
    rig.activate("reverb", &[Feature::Orders]).await;
    let EngineRig {
        engine, store, id, ..
    } = rig;

    // Page 1: two good orders around one with a negative quantity. Page 2: cut off.
    let next = format!("{}{ORDERS}?page=2", server.uri());
    let mut bad = good("4002");
    bad["quantity"] = json!(-1);
    reverb("GET", ORDERS)
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "orders",
            vec![good("4001"), bad, good("4003")],
            Some(&next),
            1,
            2,
        )))
        .mount(&server)
        .await;
    let page2 = page("orders", vec![good("4004")], None, 2, 2).to_string();
    reverb("GET", ORDERS)
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            page2.as_bytes()[..page2.len() / 2].to_vec(),
            "application/hal+json",
        ))
        .mount(&server)
        .await;

    let report = engine.import_orders(id).await.unwrap();
    assert_eq!(report.imported, [oid("4001"), oid("4003")]);
    assert_eq!(report.not_imported.len(), 1);
    let (bad_id, reason) = &report.not_imported[0];
    assert_eq!(bad_id, &oid("4002"));
    match reason {
        NotImportedReason::Unreadable { message } => assert!(message.contains("-1"), "{message}"),
        other => panic!("not an unreadable reason: {other:?}"),
    }
    assert!(report.stopped.is_some(), "the cut page stops the run");
    assert_eq!(
        store.cursor(id).await.unwrap(),
        None,
        "no cursor past the page that could not be read"
    );

    // Reverb answers the whole page again: the rest imports, nothing twice, the cursor moves.
    server.reset().await;
    reverb("GET", ORDERS)
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "orders",
            vec![good("4001"), good("4003"), good("4004")],
            None,
            1,
            1,
        )))
        .mount(&server)
        .await;
    let again = engine.import_orders(id).await.unwrap();
    assert_eq!(again.imported, [oid("4004")]);
    assert_eq!(again.already_imported, [oid("4001"), oid("4003")]);
    assert!(store.cursor(id).await.unwrap().is_some());
}
