//! Orders that must not be lost: the updated-since cursor never passes an order that could not
//! be read, and orders are read again by number (`fetch_orders_by_id`), against a wiremock
//! Reverb: the exact requests and realistic answers, errors included.

mod common;

use common::*;
use marketsync_core::{
    Channel, ChannelOrderId, Currency, Cursor, ErrorKind, OrderQuery, OrderState,
};
use serde_json::json;
use wiremock::matchers::{query_param, query_param_is_missing};
use wiremock::{MockServer, ResponseTemplate};

fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

fn orders_query(cursor: Option<&str>) -> OrderQuery {
    OrderQuery {
        cursor: cursor.map(|c| Cursor(c.to_owned())),
        created_since: None,
        states: Vec::new(),
        default_currency: Currency::USD,
        page: None,
        page_size: None,
    }
}

/// An order Reverb sends but the adapter cannot read (an amount as a number, not a string).
fn malformed(number: &str, updated_at: Option<&str>) -> serde_json::Value {
    let mut o = order(number, "GTR-009", "paid", updated_at.unwrap_or("x"));
    o["total"] = json!({"amount": 1344.0, "currency": "USD"});
    match updated_at {
        Some(_) => {}
        None => {
            o.as_object_mut().unwrap().remove("updated_at");
            o["created_at"] = json!("yesterday");
        }
    }
    o
}

async fn one_page(server: &MockServer, orders: Vec<serde_json::Value>) {
    reverb("GET", "/api/my/orders/selling/all")
        .respond_with(ResponseTemplate::new(200).set_body_json(page("orders", orders, None, 1, 1)))
        .mount(server)
        .await;
}

// ----- the cursor never passes an unreadable order -----

/// The bug of issue 17: the malformed order (updated 10:00) is older than the newest good order
/// of the page (12:00). The cursor used to move to 12:00, the next run asked from 11:55 and
/// never saw the malformed order again. The cursor now stops at 10:00, and the next run asks
/// from 09:55.
#[tokio::test]
async fn the_cursor_stops_at_an_unreadable_order_older_than_the_newest_good_one() {
    let server = MockServer::start().await;
    one_page(
        &server,
        vec![
            order("51234567", "GTR-001", "paid", "2026-03-04T12:00:00Z"),
            malformed("51234570", Some("2026-03-04T10:00:00Z")),
            order("51234568", "GTR-002", "paid", "2026-03-04T11:00:00Z"),
        ],
    )
    .await;
    let ch = channel(&server);
    let got = ch
        .fetch_orders(&orders_query(Some("2026-03-04T09:00:00Z")))
        .await
        .unwrap();
    assert_eq!(got.orders.len(), 2);
    assert_eq!(got.rejected.len(), 1);
    assert_eq!(got.rejected[0].channel_order_id, Some(oid("51234570")));
    assert_eq!(got.cursor, Some(Cursor("2026-03-04T10:00:00Z".into())));

    // The next run, from that cursor, asks from 09:55: the order is downloaded again.
    server.reset().await;
    reverb("GET", "/api/my/orders/selling/all")
        .and(query_param(
            "updated_start_date",
            "2026-03-04T09:55:00-00:00",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "orders",
            vec![malformed("51234570", Some("2026-03-04T10:00:00Z"))],
            None,
            1,
            1,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let again = ch
        .fetch_orders(&orders_query(got.cursor.as_ref().map(|c| c.0.as_str())))
        .await
        .unwrap();
    assert_eq!(again.rejected[0].channel_order_id, Some(oid("51234570")));
    assert_eq!(
        again.cursor,
        Some(Cursor("2026-03-04T10:00:00Z".into())),
        "held until it reads"
    );
}

#[tokio::test]
async fn an_unreadable_order_without_a_readable_time_keeps_the_cursor_where_it_was() {
    let server = MockServer::start().await;
    one_page(
        &server,
        vec![
            order("51234567", "GTR-001", "paid", "2026-03-04T12:00:00Z"),
            malformed("51234570", None),
        ],
    )
    .await;
    let ch = channel(&server);
    let got = ch
        .fetch_orders(&orders_query(Some("2026-03-04T09:00:00Z")))
        .await
        .unwrap();
    assert_eq!(got.rejected.len(), 1);
    assert_eq!(got.cursor, Some(Cursor("2026-03-04T09:00:00Z".into())));

    // A first run (no cursor yet) gives none: the next run is a first run again.
    let first = ch.fetch_orders(&orders_query(None)).await.unwrap();
    assert_eq!(first.rejected.len(), 1);
    assert_eq!(first.cursor, None);
}

#[tokio::test]
async fn the_hold_is_carried_across_pages_to_the_last_one() {
    let server = MockServer::start().await;
    let uri = server.uri();
    reverb("GET", "/api/my/orders/selling/all")
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "orders",
            vec![
                malformed("51234570", Some("2026-03-04T10:00:00Z")),
                order("51234567", "GTR-001", "paid", "2026-03-04T10:30:00Z"),
            ],
            Some(&format!(
                "{uri}/api/my/orders/selling/all?page=2&per_page=2"
            )),
            1,
            2,
        )))
        .expect(1)
        .mount(&server)
        .await;
    reverb("GET", "/api/my/orders/selling/all")
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "orders",
            vec![order("51234568", "GTR-002", "paid", "2026-03-04T12:00:00Z")],
            None,
            2,
            2,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server);
    let mut query = orders_query(Some("2026-03-04T09:00:00Z"));
    let first = ch.fetch_orders(&query).await.unwrap();
    assert_eq!(first.cursor, None);
    query.page = first.next_page;
    let last = ch.fetch_orders(&query).await.unwrap();
    assert_eq!(last.rejected.len(), 0);
    assert_eq!(last.cursor, Some(Cursor("2026-03-04T10:00:00Z".into())));
}

#[tokio::test]
async fn with_every_order_read_the_cursor_is_the_newest_change() {
    let server = MockServer::start().await;
    one_page(
        &server,
        vec![
            order("51234567", "GTR-001", "paid", "2026-03-04T12:00:00Z"),
            order("51234568", "GTR-002", "paid", "2026-03-04T11:00:00Z"),
        ],
    )
    .await;
    let got = channel(&server)
        .fetch_orders(&orders_query(Some("2026-03-04T09:00:00Z")))
        .await
        .unwrap();
    assert_eq!(got.cursor, Some(Cursor("2026-03-04T12:00:00Z".into())));
}

// ----- fetch_orders_by_id -----

#[tokio::test]
async fn orders_are_read_again_one_request_per_number() {
    let server = MockServer::start().await;
    order_read("51234567", "GTR-001", "cancelled", "2026-03-05T09:00:00Z")
        .expect(1)
        .mount(&server)
        .await;
    reverb("GET", "/api/my/orders/selling/51234570")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(malformed("51234570", Some("2026-03-05T09:00:00Z"))),
        )
        .expect(1)
        .mount(&server)
        .await;
    reverb("GET", "/api/my/orders/selling/51234599")
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"message": "The requested resource could not be found."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    reverb("GET", "/api/my/orders/selling/51234571")
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server);
    let got = ch
        .fetch_orders_by_id(
            &[
                oid("51234567"),
                oid("51234570"),
                oid("51234599"),
                oid("51234571"),
            ],
            Currency::USD,
        )
        .await
        .unwrap();
    assert_eq!(got.orders.len(), 1);
    let o = &got.orders[0];
    assert_eq!(o.channel_order_id, oid("51234567"));
    assert_eq!(o.status.state, OrderState::Cancelled, "its latest state");
    let rejected: Vec<_> = got
        .rejected
        .iter()
        .map(|r| r.channel_order_id.clone())
        .collect();
    assert_eq!(
        rejected,
        vec![Some(oid("51234570")), Some(oid("51234571"))],
        "unreadable orders are rejected with their number; the unknown one is left out"
    );
    assert!(
        got.rejected
            .iter()
            .all(|r| r.error.kind() == ErrorKind::Channel)
    );
    assert_eq!(got.next_page, None);
    assert_eq!(got.cursor, None, "a read by number never moves the cursor");

    let paths: Vec<String> = requests(&server)
        .await
        .iter()
        .map(|r| format!("{} {}?{}", r.method, r.url.path(), raw_query(r)))
        .collect();
    assert_eq!(
        paths,
        vec![
            "GET /api/my/orders/selling/51234567?",
            "GET /api/my/orders/selling/51234570?",
            "GET /api/my/orders/selling/51234599?",
            "GET /api/my/orders/selling/51234571?",
        ]
    );
}

#[tokio::test]
async fn a_refused_token_fails_the_read_by_number() {
    let server = MockServer::start().await;
    reverb("GET", "/api/my/orders/selling/51234567")
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"message": "This request requires authentication"})),
        )
        .mount(&server)
        .await;
    let e = channel(&server)
        .fetch_orders_by_id(&[oid("51234567")], Currency::USD)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(
        e.channel_message(),
        Some("This request requires authentication")
    );
}

#[tokio::test]
async fn a_number_reverb_cannot_have_is_not_sent() {
    let server = MockServer::start().await;
    let got = channel(&server)
        .fetch_orders_by_id(&[oid("12/../x")], Currency::USD)
        .await
        .unwrap();
    assert!(got.orders.is_empty() && got.rejected.is_empty());
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn the_capability_is_reported() {
    assert!(marketsync_reverb::capabilities().orders_get_by_id);
}
