//! Orders that must not be lost: the order journal's cursor never passes an order that was not
//! recorded (every unreadable order carries its id, so it is retried by id; one without an id
//! holds the cursor), and orders are read again by id (`fetch_orders_by_id`), against wiremock:
//! the exact requests and realistic answers, errors included.

mod common;

use common::*;
use marketsync_core::{
    Channel, ChannelOrderId, Currency, Cursor, ErrorKind, OrderQuery, OrderState,
};
use serde_json::json;
use wiremock::matchers::query_param;
use wiremock::{MockServer, ResponseTemplate};

const FORM_A: &str = "29738e61-7f6a-11e8-ac45-09db60ede9d6";
const FORM_B: &str = "4a1b2c3d-0000-11e8-ac45-09db60ede9d6";
const FORM_C: &str = "5c2d3e4f-0000-11e8-ac45-09db60ede9d6";

fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

fn order_query(cursor: Option<&str>) -> OrderQuery {
    OrderQuery {
        cursor: cursor.map(|c| Cursor(c.into())),
        created_since: Some(now() - chrono::TimeDelta::days(30)),
        states: vec![],
        default_currency: Currency::PLN,
        page: None,
        page_size: None,
    }
}

fn form(id: &str, status: &str) -> serde_json::Value {
    checkout_form(id, "GTR-001", status, "NEW", "8a3b")
}

// ----- the journal cursor -----

/// A checkout form whose own `id` cannot be read used to be rejected without an id: the
/// engine could not record it, and the journal cursor moved past its events. It is now
/// rejected with the id the journal named, so it is recorded as unreadable and retried by id.
#[tokio::test]
async fn an_unreadable_form_of_the_journal_is_rejected_with_the_journals_id() {
    let server = MockServer::start().await;
    allegro("GET", "/order/events")
        .and(query_param("from", "EV-0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"events": [
            event("EV-1", "BOUGHT", FORM_A),
            event("EV-2", "READY_FOR_PROCESSING", FORM_B),
            event("EV-3", "READY_FOR_PROCESSING", FORM_C),
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let mut bad = form(FORM_A, "READY_FOR_PROCESSING");
    bad["id"] = json!(29738);
    bad["lineItems"] = json!("nope");
    allegro("GET", &format!("/order/checkout-forms/{FORM_A}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(bad))
        .expect(1)
        .mount(&server)
        .await;
    allegro("GET", &format!("/order/checkout-forms/{FORM_B}"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", VND)
                .set_body_string(
                    "{\"id\": \"4a1b2c3d-0000-11e8-ac45-09db60ede9d6\", \"lineItems\": [",
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    allegro("GET", &format!("/order/checkout-forms/{FORM_C}"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(form(FORM_C, "READY_FOR_PROCESSING")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let page = channel(&server)
        .fetch_orders(&order_query(Some("EV-0")))
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    let rejected: Vec<_> = page
        .rejected
        .iter()
        .map(|r| r.channel_order_id.clone())
        .collect();
    assert_eq!(rejected, vec![Some(oid(FORM_A)), Some(oid(FORM_B))]);
    assert_eq!(page.cursor, Some(Cursor("EV-3".into())));
}

/// The first import reads checkout forms; its cursor is the journal position taken before. A
/// form rejected without an id cannot be recorded or retried by id, and the journal holds no
/// later event for it: the cursor is held (none given), so the next run is a first import
/// again, until the form reads.
#[tokio::test]
async fn a_first_import_with_a_form_without_an_id_gives_no_cursor() {
    let server = MockServer::start().await;
    allegro("GET", "/order/event-stats")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "latestEvent": {"id": "MTEzMjQzODU3NA", "occurredAt": "2026-03-05T08:59:00.000Z"}})))
        .mount(&server)
        .await;
    allegro("GET", "/order/checkout-forms")
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "checkoutForms": [form(FORM_A, "READY_FOR_PROCESSING"), {"lineItems": "nope"}],
            "count": 2, "totalCount": 3})))
        .mount(&server)
        .await;
    allegro("GET", "/order/checkout-forms")
        .and(query_param("offset", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "checkoutForms": [form(FORM_B, "READY_FOR_PROCESSING")],
            "count": 1, "totalCount": 3})))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let q = order_query(None);
    let p1 = ch.fetch_orders(&q).await.unwrap();
    assert_eq!(p1.rejected.len(), 1);
    assert_eq!(p1.rejected[0].channel_order_id, None);
    assert_eq!(p1.cursor, None);
    let p2 = ch
        .fetch_orders(&OrderQuery {
            page: p1.next_page.clone(),
            ..q
        })
        .await
        .unwrap();
    assert_eq!(p2.orders.len(), 1);
    assert!(p2.next_page.is_none());
    assert_eq!(
        p2.cursor, None,
        "held: the journal position would pass the order that could not be recorded"
    );
}

/// A form rejected *with* its id is recorded as unreadable and retried by id: the first
/// import's cursor is given as before.
#[tokio::test]
async fn a_first_import_with_an_unreadable_form_with_its_id_gives_the_cursor() {
    let server = MockServer::start().await;
    allegro("GET", "/order/event-stats")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "latestEvent": {"id": "MTEzMjQzODU3NA", "occurredAt": "2026-03-05T08:59:00.000Z"}})))
        .mount(&server)
        .await;
    allegro("GET", "/order/checkout-forms")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "checkoutForms": [form(FORM_A, "READY_FOR_PROCESSING"), {"id": FORM_B, "lineItems": "nope"}],
            "count": 2, "totalCount": 2})))
        .mount(&server)
        .await;
    let page = channel(&server)
        .fetch_orders(&order_query(None))
        .await
        .unwrap();
    assert_eq!(page.rejected[0].channel_order_id, Some(oid(FORM_B)));
    assert_eq!(page.cursor, Some(Cursor("MTEzMjQzODU3NA".into())));
}

// ----- fetch_orders_by_id -----

#[tokio::test]
async fn orders_are_read_again_one_checkout_form_each() {
    let server = MockServer::start().await;
    allegro("GET", &format!("/order/checkout-forms/{FORM_A}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(form(FORM_A, "CANCELLED")))
        .expect(1)
        .mount(&server)
        .await;
    allegro("GET", &format!("/order/checkout-forms/{FORM_B}"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"errors": [{
            "code": "NOT_FOUND", "message": "Checkout form not found", "details": null,
            "path": null, "userMessage": "Nie znaleziono formularza"}]})))
        .expect(1)
        .mount(&server)
        .await;
    let mut bad = form(FORM_C, "READY_FOR_PROCESSING");
    bad["summary"] = json!({"totalToPay": {"amount": 1311.99, "currency": "PLN"}});
    bad["lineItems"] = json!("nope");
    allegro("GET", &format!("/order/checkout-forms/{FORM_C}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(bad))
        .expect(1)
        .mount(&server)
        .await;
    let page = channel(&server)
        .fetch_orders_by_id(&[oid(FORM_A), oid(FORM_B), oid(FORM_C)], Currency::PLN)
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    assert_eq!(page.orders[0].channel_order_id, oid(FORM_A));
    assert_eq!(
        page.orders[0].status.state,
        OrderState::Cancelled,
        "its latest state"
    );
    assert_eq!(page.rejected.len(), 1, "the unknown form is left out");
    assert_eq!(page.rejected[0].channel_order_id, Some(oid(FORM_C)));
    assert_eq!(page.rejected[0].error.kind(), ErrorKind::Channel);
    assert_eq!(page.next_page, None);
    assert_eq!(page.cursor, None, "a read by id never moves the cursor");
    let sent: Vec<String> = requests(&server)
        .await
        .iter()
        .map(|r| format!("{} {}?{}", r.method, r.url.path(), raw_query(r)))
        .collect();
    assert_eq!(
        sent,
        vec![
            format!("GET /order/checkout-forms/{FORM_A}?"),
            format!("GET /order/checkout-forms/{FORM_B}?"),
            format!("GET /order/checkout-forms/{FORM_C}?"),
        ]
    );
}

#[tokio::test]
async fn an_id_is_sent_percent_encoded() {
    let server = MockServer::start().await;
    let page = channel(&server)
        .fetch_orders_by_id(&[oid("a/../b")], Currency::PLN)
        .await
        .unwrap();
    assert!(page.orders.is_empty() && page.rejected.is_empty());
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    assert!(
        !reqs[0].url.path().contains("/../"),
        "{}",
        reqs[0].url.path()
    );
}

#[tokio::test]
async fn a_refused_token_fails_the_read_by_id() {
    let server = MockServer::start().await;
    allegro("GET", &format!("/order/checkout-forms/{FORM_A}"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_token", "error_description": "Access token expired: ACCESSTOKEN"})))
        .mount(&server)
        .await;
    // The adapter renews the token on a 401 once; the token endpoint refuses too.
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/auth/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": "Invalid refresh token"})))
        .mount(&server)
        .await;
    let e = channel(&server)
        .fetch_orders_by_id(&[oid(FORM_A)], Currency::PLN)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
}

#[tokio::test]
async fn the_capability_is_reported() {
    let server = MockServer::start().await;
    assert!(channel(&server).capabilities().orders_get_by_id);
}
