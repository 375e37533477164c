//! Hostile responses served by wiremock to the real adapter through the `Channel` API: wrong
//! types, unknown enum values, negative quantities, unknown currencies, malformed dates, huge
//! pages, deeply nested JSON and truncated bodies, on both order downloads (checkout forms, and
//! the journal with one checkout form per order). Each unreadable order is a typed rejection
//! naming why, the other orders are read, nothing panics, and the cursor (the journal position)
//! is given only with a page that was read.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use marketsync_core::{
    Channel, ChannelError, ChannelKind, ChannelOrderId, Credentials, Cursor, ErrorKind, Feature,
    IntegrationSettings, ListingQuery, ManualClock, NotImportedReason, OrderPage, OrderQuery,
    OrderState, Store,
};
use marketsync_testkit::behaviour::pages::{assert_rejected_by_fetch, read_ids};
use marketsync_testkit::behaviour::{EngineRig, RawBodyFixture};
use serde_json::{Value, json};
use wiremock::matchers::query_param;
use wiremock::{MockServer, ResponseTemplate};

fn query(cursor: Option<&str>) -> OrderQuery {
    OrderQuery {
        cursor: cursor.map(|c| Cursor(c.to_owned())),
        created_since: None,
        states: Vec::new(),
        default_currency: marketsync_core::Currency::PLN,
        page: None,
        page_size: None,
    }
}

fn form(id: &str) -> Value {
    checkout_form(id, "GTR-001", "READY_FOR_PROCESSING", "NEW", "r1")
}

/// Serves `body` (raw bytes) as the first checkout-forms page and fetches it.
async fn fetch_raw(body: Vec<u8>) -> Result<OrderPage, ChannelError> {
    let server = MockServer::start().await;
    allegro("GET", "/order/event-stats")
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"latestEvent": {"id": "E-9"}})),
        )
        .mount(&server)
        .await;
    allegro("GET", "/order/checkout-forms")
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, VND))
        .mount(&server)
        .await;
    channel(&server).fetch_orders(&query(None)).await
}

async fn fetch(forms: Vec<Value>) -> OrderPage {
    let n = forms.len();
    let body = json!({"checkoutForms": forms, "count": n, "totalCount": n});
    fetch_raw(body.to_string().into_bytes()).await.unwrap()
}

fn rejection<'a>(page: &'a OrderPage, id: &str) -> &'a ChannelError {
    &page
        .rejected
        .iter()
        .find(|r| r.channel_order_id.as_ref().map(|o| o.as_str()) == Some(id))
        .unwrap_or_else(|| panic!("order {id} is not rejected: {:?}", page.rejected))
        .error
}

#[tokio::test]
async fn each_hostile_order_is_rejected_with_why_and_the_others_are_read() {
    let mut negative = form("f-2");
    negative["lineItems"][0]["quantity"] = json!(-2);
    let mut currency = form("f-3");
    currency["lineItems"][0]["price"] = json!({"amount": "1299.99", "currency": "XYZ"});
    let mut date = form("f-4");
    date["lineItems"][0]["boughtAt"] = json!("04.03.2026 14:25");
    let mut wrong_type = form("f-5");
    wrong_type["lineItems"][0]["price"]["amount"] = json!(1299.99);
    let mut unknown = form("f-6");
    unknown["status"] = json!("BEAMED_UP");
    unknown["fulfillment"]["status"] = json!("IN_ORBIT");
    let mut mixed = form("f-7");
    mixed["delivery"]["cost"] = json!({"amount": "12.00", "currency": "EUR"});
    let page = fetch(vec![
        form("f-1"),
        negative,
        currency,
        date,
        wrong_type,
        unknown,
        mixed,
        json!({"id": 7}),
        json!("a string"),
        form("f-8"),
    ])
    .await;

    assert_eq!(
        read_ids(&page),
        ["f-1", "f-4", "f-6", "f-8"],
        "{:?}",
        page.rejected
    );
    // A purchase time that cannot be read falls back to the form's update time (as a missing
    // one does).
    assert_eq!(
        page.orders[1].created_at.to_rfc3339(),
        "2026-03-04T14:30:00+00:00"
    );
    assert_eq!(page.orders[2].status.state, OrderState::Unknown);
    assert!(page.orders[2].status.raw.contains("BEAMED_UP"));

    assert_rejected_by_fetch(&page, ChannelKind::Allegro, 6);
    assert!(rejection(&page, "f-2").message().contains("-2"));
    assert!(rejection(&page, "f-3").message().contains("XYZ"));
    assert!(
        rejection(&page, "f-5")
            .message()
            .contains("could not be read")
    );
    assert!(rejection(&page, "f-7").message().contains("EUR"));
    assert_eq!(
        page.rejected
            .iter()
            .filter(|r| r.channel_order_id.is_none())
            .count(),
        2
    );
    assert!(page.next_page.is_none(), "the last page");
    assert_eq!(
        page.cursor, None,
        "two forms were rejected without an id: the first import gives no cursor, so the next \
         run imports by checkout forms again (tests/order_rereads.rs)"
    );
}

// Allegro to the testkit's hostile-body behaviours (a huge page, deeply nested, truncated and
// misshapen answers): the orders list is the checkout-forms page `{"checkoutForms": [...]}`.
marketsync_testkit::fixture!(Fixture: ChannelKind::Allegro);

#[async_trait]
impl RawBodyFixture for Fixture {
    async fn fetch_orders_raw(&self, body: Vec<u8>) -> Result<OrderPage, ChannelError> {
        fetch_raw(body).await
    }

    fn order(&self, n: u64) -> Value {
        json!({
            "id": format!("f-{n}"), "status": "READY_FOR_PROCESSING",
            "lineItems": [{"id": format!("l-{n}"), "offer": {"id": "1", "external": {"id": "A"}},
                "quantity": 1, "price": {"amount": "10.00", "currency": "PLN"},
                "boughtAt": "2026-03-04T14:25:07.000Z"}],
            "summary": {"totalToPay": {"amount": "10.00", "currency": "PLN"}}
        })
    }

    fn page(&self, forms: Vec<Value>) -> Value {
        let n = forms.len();
        json!({"checkoutForms": forms, "count": n, "totalCount": n})
    }

    fn misshapen(&self) -> Vec<Value> {
        vec![
            json!({"checkoutForms": "none"}),
            json!({"checkoutForms": [], "totalCount": -1}),
        ]
    }
}

marketsync_testkit::behaviour_tests!(Fixture => hostile);

/// The journal download reads each order's checkout form on its own: a form answered with a
/// truncated body, a nested-to-death body or a hostile form is rejected under the journal's
/// id; the others are read; the cursor moves to the last event (every event was answered).
#[tokio::test]
async fn journal_orders_with_hostile_forms_are_rejected_one_by_one() {
    let server = MockServer::start().await;
    let events: Vec<Value> = ["g-1", "cut-1", "deep-1", "neg-1", "g-2"]
        .iter()
        .enumerate()
        .map(|(i, f)| event(&format!("E-{}", i + 1), "READY_FOR_PROCESSING", f))
        .collect();
    allegro("GET", "/order/events")
        .and(query_param("from", "E-0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "events": events })))
        .mount(&server)
        .await;
    for id in ["g-1", "g-2"] {
        allegro("GET", &format!("/order/checkout-forms/{id}"))
            .respond_with(ResponseTemplate::new(200).set_body_json(form(id)))
            .mount(&server)
            .await;
    }
    let cut = form("cut-1").to_string();
    allegro("GET", "/order/checkout-forms/cut-1")
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(cut.as_bytes()[..cut.len() / 2].to_vec(), VND),
        )
        .mount(&server)
        .await;
    allegro("GET", "/order/checkout-forms/deep-1")
        .respond_with(ResponseTemplate::new(200).set_body_raw("[".repeat(100_000), VND))
        .mount(&server)
        .await;
    let mut neg = form("neg-1");
    neg["lineItems"][0]["quantity"] = json!(-5);
    allegro("GET", "/order/checkout-forms/neg-1")
        .respond_with(ResponseTemplate::new(200).set_body_json(neg))
        .mount(&server)
        .await;

    let page = channel(&server)
        .fetch_orders(&query(Some("E-0")))
        .await
        .unwrap();
    assert_eq!(read_ids(&page), ["g-1", "g-2"]);
    let mut rejected: Vec<&str> = page
        .rejected
        .iter()
        .map(|r| r.channel_order_id.as_ref().unwrap().as_str())
        .collect();
    rejected.sort();
    assert_eq!(rejected, ["cut-1", "deep-1", "neg-1"]);
    for r in &page.rejected {
        assert_eq!(r.error.kind(), ErrorKind::Channel, "{r:?}");
    }
    assert_eq!(page.cursor, Some(Cursor("E-5".into())));
}

#[tokio::test]
async fn hostile_offers_are_clamped_or_a_typed_error() {
    let server = MockServer::start().await;
    let mut negative = offer("100", "A", "ACTIVE", -4, "10.00");
    negative["stock"]["sold"] = json!(-1);
    allegro("GET", "/sale/offers")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "offers": [negative, offer("101", "B", "WORMHOLE", 2, "20.00")],
            "count": 2, "totalCount": 2
        })))
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
        out.listings[0].quantity, None,
        "a negative stock is not a quantity"
    );
    assert!(out.listings[1].raw_state.contains("WORMHOLE"));

    server.reset().await;
    allegro("GET", "/sale/offers")
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"{\"offers\": [".to_vec(), VND))
        .mount(&server)
        .await;
    let e = ch.list_listings(&q).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Channel);
    assert_eq!(e.operation(), Some("list_listings"));
    assert_eq!(e.http_status(), Some(200));
}

#[tokio::test]
async fn through_the_engine_good_orders_import_the_bad_one_is_recorded_and_an_unreadable_page_keeps_the_cursor()
 {
    let server = MockServer::start().await;
    let rig = EngineRig::new(
        "Allegro",
        Arc::new(channel(&server)),
        IntegrationSettings::new(ChannelKind::Allegro, marketsync_core::Currency::PLN),
        Arc::new(ManualClock::new(now())),
    )
    .await;
    rig.item("GTR-001", "Gitara", "1299.99", "PLN", 3);
    allegro("GET", "/me")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "44455566", "login": "gitarownia"})),
        )
        .mount(&server)
        .await;
    rig.connect(&Credentials::LoginSession(session())).await;
    rig.activate("allegro", &[Feature::Orders]).await;
    let EngineRig {
        engine, store, id, ..
    } = rig;

    // Page 1: good, mixed currencies, good; page 2: cut off.
    allegro("GET", "/order/event-stats")
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"latestEvent": {"id": "E-9"}})),
        )
        .mount(&server)
        .await;
    let mut bad = form("m-2");
    bad["delivery"]["cost"] = json!({"amount": "12.00", "currency": "EUR"});
    allegro("GET", "/order/checkout-forms")
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "checkoutForms": [form("m-1"), bad, form("m-3")], "count": 3, "totalCount": 4
        })))
        .mount(&server)
        .await;
    let page2 = json!({"checkoutForms": [form("m-4")], "count": 1, "totalCount": 4}).to_string();
    let cut = allegro("GET", "/order/checkout-forms")
        .and(query_param("offset", "3"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(page2.as_bytes()[..page2.len() / 2].to_vec(), VND),
        )
        .mount_as_scoped(&server)
        .await;

    let report = engine.import_orders(id).await.unwrap();
    let oid = |s: &str| ChannelOrderId::new(s).unwrap();
    assert_eq!(report.imported, [oid("m-1"), oid("m-3")]);
    assert_eq!(report.not_imported.len(), 1);
    let (bad_id, reason) = &report.not_imported[0];
    assert_eq!(bad_id, &oid("m-2"));
    match reason {
        NotImportedReason::Unreadable { message } => {
            assert!(message.contains("more than one currency"), "{message}")
        }
        other => panic!("not an unreadable reason: {other:?}"),
    }
    assert!(report.stopped.is_some(), "the cut page stops the run");
    assert_eq!(
        store.cursor(id).await.unwrap(),
        None,
        "no journal position before every page is recorded"
    );

    // The last page answers whole: it imports, and the journal position is stored.
    drop(cut);
    allegro("GET", "/order/checkout-forms")
        .and(query_param("offset", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(page2.into_bytes(), VND))
        .mount(&server)
        .await;
    let again = engine.import_orders(id).await.unwrap();
    assert_eq!(again.imported, [oid("m-4")]);
    assert_eq!(again.already_imported, [oid("m-1"), oid("m-3")]);
    assert_eq!(store.cursor(id).await.unwrap(), Some(Cursor("E-9".into())));
}
