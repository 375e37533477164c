//! Hostile responses served by wiremock to the real adapter through the `Channel` API: wrong
//! types, unknown enum values, negative quantities, unknown currencies, malformed dates, huge
//! pages, deeply nested JSON and truncated bodies. Each unreadable order is a typed rejection
//! naming why, the other orders are read, nothing panics; through the engine, the good orders
//! import, the bad one is recorded as not imported with its reason, and a page that cannot be
//! read stops the run without moving the cursor past it.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use common::*;
use marketsync_core::lifecycle::Event;
use marketsync_core::{
    Actor, Channel, ChannelKind, ChannelOrderId, CredentialKey, Credentials, Currency, Engine,
    ErrorKind, Feature, IntegrationSettings, InventoryItem, Label, ListingQuery, ManualClock,
    MemoryCatalog, MemoryNotifier, MemoryStore, Money, NotImportedReason, OrderPage, OrderQuery,
    OrderState, Sku, Store,
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
async fn fetch_raw(body: Vec<u8>) -> Result<OrderPage, marketsync_core::ChannelError> {
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

fn rejection<'a>(page: &'a OrderPage, id: &str) -> &'a marketsync_core::ChannelError {
    &page
        .rejected
        .iter()
        .find(|r| r.channel_order_id.as_ref().map(|o| o.as_str()) == Some(id))
        .unwrap_or_else(|| panic!("order {id} is not rejected: {:?}", page.rejected))
        .error
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

    let read: Vec<&str> = page
        .orders
        .iter()
        .map(|o| o.channel_order_id.as_str())
        .collect();
    assert_eq!(
        read,
        ["1001", "1006", "1008"],
        "the readable orders, in order"
    );
    // An unknown status is kept as Reverb's own text, never guessed into a known state.
    let unknown = &page.orders[1];
    assert_eq!(unknown.status.raw, "teleported_to_mars");
    assert_eq!(unknown.status.state, OrderState::Unknown);

    assert_eq!(page.rejected.len(), 7, "{:?}", page.rejected);
    for r in &page.rejected {
        assert_eq!(r.error.kind(), ErrorKind::Channel, "{r:?}");
        assert_eq!(r.error.channel(), Some(ChannelKind::Reverb));
        assert_eq!(r.error.operation(), Some("fetch_orders"));
    }
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
    assert_eq!(
        page.rejected
            .iter()
            .filter(|r| r.channel_order_id.is_none())
            .count(),
        2,
        "the order without a readable id and the non-object are rejected without an id"
    );
    assert!(page.next_page.is_none());
}

#[tokio::test]
async fn a_huge_page_is_read_whole() {
    let n = 50_000;
    let orders: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "order_number": (100_000 + i).to_string(),
                "created_at": "2026-03-04T08:12:44-06:00",
                "updated_at": "2026-03-04T09:12:44-06:00",
                "status": "paid",
                "sku": format!("SKU-{i}"),
                "quantity": 1,
                "amount_product": {"amount": "10.00", "currency": "USD"},
                "total": {"amount": "10.00", "currency": "USD"}
            })
        })
        .collect();
    let page = fetch(page("orders", orders, None, 1, 1)).await;
    assert_eq!(page.orders.len(), n);
    assert!(page.rejected.is_empty());
    assert_eq!(page.orders[n - 1].channel_order_id.as_str(), "149999");
    assert!(page.cursor.is_some());
}

#[tokio::test]
async fn deeply_nested_json_is_a_typed_error_not_a_crash() {
    let depth = 100_000;
    let bodies = [
        "[".repeat(depth).into_bytes(),
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
        format!(r#"{{"orders": [{}]}}"#, "{\"a\":".repeat(depth)).into_bytes(),
    ];
    for body in bodies {
        let e = fetch_raw(body).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Channel);
        assert_eq!(e.http_status(), Some(200));
        assert!(e.message().contains("could not be read"), "{e}");
    }
    // Nested inside one order only, within the parser's depth limit: that order is read (the
    // unknown field is ignored).
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
async fn a_truncated_or_misshapen_body_is_a_typed_error_for_the_page() {
    let full = page("orders", vec![good("3001"), good("3002")], None, 1, 1).to_string();
    for cut in [0, 1, full.len() / 3, full.len() / 2, full.len() - 1] {
        let e = fetch_raw(full.as_bytes()[..cut].to_vec())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Channel, "cut at {cut}");
        assert_eq!(e.channel(), Some(ChannelKind::Reverb));
        assert_eq!(e.operation(), Some("fetch_orders"));
    }
    for body in [
        json!({"orders": "none"}),
        json!({"orders": {"0": {}}}),
        json!({"orders": [], "_links": {"next": 5}}),
    ] {
        let e = fetch_raw(body.to_string().into_bytes()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Channel, "{body}");
    }
    // Not JSON at all, and not UTF-8.
    for body in [
        b"<html>502 Bad Gateway</html>".to_vec(),
        vec![0xff, 0xfe, 0x00],
    ] {
        assert_eq!(
            fetch_raw(body).await.unwrap_err().kind(),
            ErrorKind::Channel
        );
    }
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
    let q = ListingQuery {
        include_ended: true,
        ..ListingQuery::default()
    };
    let out = ch.list_listings(&q).await.unwrap();
    assert_eq!(out.listings.len(), 2);
    assert_eq!(
        out.listings[0].quantity,
        Some(0),
        "a negative stock is none"
    );
    assert_eq!(out.listings[0].price, None, "a float price is not read");
    assert_eq!(out.listings[1].raw_state, "unheard_of_state");

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
    let e = ch.list_listings(&q).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Channel);
    assert_eq!(e.operation(), Some("list_listings"));
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap()
}

#[tokio::test]
async fn through_the_engine_good_orders_import_the_bad_one_is_recorded_and_an_unreadable_page_keeps_the_cursor()
 {
    let server = MockServer::start().await;
    let store = Arc::new(MemoryStore::new());
    let catalog = Arc::new(MemoryCatalog::new());
    catalog.upsert(InventoryItem {
        sku: Sku::new("GTR-001").unwrap(),
        title: "Guitar".into(),
        price: Money::parse("1200.00", "USD").unwrap(),
        quantity: 5,
        labels: Default::default(),
    });
    let engine = Engine::new(
        store.clone(),
        catalog,
        Arc::new(MemoryNotifier::new()),
        Arc::new(ManualClock::new(now())),
    )
    .with_credential_key(CredentialKey::new("k", [7; 32]));
    let id = engine
        .create_integration(
            "Reverb",
            Arc::new(channel(&server)),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            Actor::System,
        )
        .await
        .unwrap();
    reverb("GET", "/api/shop")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1, "name": "Acme"})))
        .mount(&server)
        .await;
    engine
        .enter_credentials(id, &Credentials::api_token(TOKEN), Actor::System)
        .await
        .unwrap();
    engine.verify(id, Actor::System).await.unwrap();
    for event in [
        Event::SetLabel {
            label: Some(Label::new("reverb").unwrap()),
            support_override: None,
        },
        Event::Activate,
        Event::SetFeature {
            feature: Feature::Orders,
            on: true,
            support_override: None,
        },
    ] {
        engine.apply(id, Actor::System, event).await.unwrap();
    }

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
