//! Orders that must not be lost: the last-updated cursor never passes an order that could not
//! be read, and orders are read again by id (`fetch_orders_by_id`, one call for many), against
//! a wiremock Tradera: the exact requests and realistic answers, errors included.
#![recursion_limit = "256"]

mod common;

use chrono::{TimeZone, Utc};
use common::*;
use marketsync_core::{
    Channel, ChannelOrderId, Currency, Cursor, ErrorKind, OrderQuery, OrderState,
};
use marketsync_tradera::TraderaChannel;
use serde_json::json;
use wiremock::matchers::query_param;
use wiremock::{MockServer, ResponseTemplate};

fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

fn orders_query(cursor: Option<&str>) -> OrderQuery {
    OrderQuery {
        cursor: cursor.map(|c| Cursor(c.to_owned())),
        created_since: Some(Utc.with_ymd_and_hms(2026, 2, 3, 9, 0, 0).unwrap()),
        states: Vec::new(),
        default_currency: Currency::SEK,
        page: None,
        page_size: None,
    }
}

/// An order Tradera sends but the adapter cannot read (a price that is not whole kronor).
fn malformed(id: i64, last_updated: Option<&str>) -> serde_json::Value {
    let mut o = order(id, &["LP-9"], true, last_updated.unwrap_or("x"));
    o["items"][0]["unitPrice"] = json!("149 kr");
    if last_updated.is_none() {
        o.as_object_mut().unwrap().remove("lastUpdatedDate");
        o["createdDate"] = json!("igår");
    }
    o
}

/// The bug Reverb had, in Tradera's watermark: the unreadable order (updated 06:00) is older
/// than the newest good order (08:00). The cursor used to move to 08:00 and the next run asked
/// from 05:00 (the 3-hour overlap), never seeing it again if it was older than that. The cursor
/// now stops at 06:00.
#[tokio::test]
async fn the_cursor_stops_at_an_unreadable_order_older_than_the_newest_good_one() {
    let server = MockServer::start().await;
    user("GET", "/v4/orders")
        .and(query_param("queryDateMode", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            order(41_000_001, &["LP-1"], true, "2026-03-05T08:00:00"),
            malformed(41_000_002, Some("2026-03-04T22:00:00")),
            order(41_000_003, &["LP-3"], true, "2026-03-05T07:00:00"),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let page = channel(&server)
        .fetch_orders(&orders_query(Some("2026-03-04T20:00:00Z")))
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 2);
    assert_eq!(page.rejected.len(), 1);
    assert_eq!(page.rejected[0].channel_order_id, Some(oid("41000002")));
    assert_eq!(page.cursor, Some(Cursor("2026-03-04T22:00:00Z".into())));
}

#[tokio::test]
async fn an_unreadable_order_without_a_readable_time_keeps_the_cursor_where_it_was() {
    let server = MockServer::start().await;
    user("GET", "/v4/orders")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            order(41_000_001, &["LP-1"], true, "2026-03-05T08:00:00"),
            malformed(41_000_002, None),
        ])))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let page = ch
        .fetch_orders(&orders_query(Some("2026-03-04T20:00:00Z")))
        .await
        .unwrap();
    assert_eq!(page.rejected.len(), 1);
    assert_eq!(page.cursor, Some(Cursor("2026-03-04T20:00:00Z".into())));
    let first = ch.fetch_orders(&orders_query(None)).await.unwrap();
    assert_eq!(first.cursor, None, "a first run stays a first run");
}

#[tokio::test]
async fn the_hold_is_carried_across_windows_to_the_last_one() {
    let server = MockServer::start().await;
    user("GET", "/v4/orders")
        .and(query_param("fromDate", "2026-03-04T17:00:00Z"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([malformed(41_000_002, Some("2026-03-04T22:00:00")),])),
        )
        .expect(1)
        .mount(&server)
        .await;
    user("GET", "/v4/orders")
        .and(query_param("fromDate", "2026-03-05T05:00:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([order(
            41_000_001,
            &["LP-1"],
            true,
            "2026-03-05T08:00:00"
        ),])))
        .expect(1)
        .mount(&server)
        .await;
    let ch = TraderaChannel::new(
        builder(&server)
            .order_window(std::time::Duration::from_secs(12 * 3600))
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut query = orders_query(Some("2026-03-04T20:00:00Z"));
    let first = ch.fetch_orders(&query).await.unwrap();
    assert_eq!(first.cursor, None);
    query.page = first.next_page;
    let last = ch.fetch_orders(&query).await.unwrap();
    assert_eq!(last.next_page, None);
    assert_eq!(last.cursor, Some(Cursor("2026-03-04T22:00:00Z".into())));
}

// ----- fetch_orders_by_id -----

#[tokio::test]
async fn orders_are_read_again_in_one_call() {
    let server = MockServer::start().await;
    // 41000099 is unknown to Tradera: it is simply not in the answer.
    user("GET", "/v4/orders/41000001,41000002,41000099")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            order(41_000_001, &["LP-1"], false, "2026-03-05T08:00:00"),
            malformed(41_000_002, Some("2026-03-05T08:00:00")),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let page = channel(&server)
        .fetch_orders_by_id(
            &[oid("41000001"), oid("41000002"), oid("41000099")],
            Currency::SEK,
        )
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    assert_eq!(page.orders[0].channel_order_id, oid("41000001"));
    assert_eq!(page.orders[0].status.state, OrderState::Unpaid);
    assert_eq!(page.rejected.len(), 1);
    assert_eq!(page.rejected[0].channel_order_id, Some(oid("41000002")));
    assert_eq!(page.rejected[0].error.kind(), ErrorKind::Channel);
    assert_eq!(page.cursor, None, "a read by id never moves the cursor");
    assert_eq!(page.next_page, None);
    assert_eq!(
        requests(&server).await.len(),
        1,
        "one call of the daily budget"
    );
}

#[tokio::test]
async fn an_unreadable_order_without_its_id_rejects_the_ids_not_accounted_for() {
    let server = MockServer::start().await;
    let mut no_id = malformed(41_000_002, Some("2026-03-05T08:00:00"));
    no_id["orderId"] = json!(null);
    user("GET", "/v4/orders/41000001,41000002")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            order(41_000_001, &["LP-1"], true, "2026-03-05T08:00:00"),
            no_id,
        ])))
        .mount(&server)
        .await;
    let page = channel(&server)
        .fetch_orders_by_id(&[oid("41000001"), oid("41000002")], Currency::SEK)
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    let rejected: Vec<_> = page
        .rejected
        .iter()
        .map(|r| r.channel_order_id.clone())
        .collect();
    assert_eq!(rejected, vec![Some(oid("41000002"))]);
}

#[tokio::test]
async fn a_404_of_several_ids_is_split_to_find_the_known_ones() {
    let server = MockServer::start().await;
    user("GET", "/v4/orders/41000001,41000099")
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"message": "Order 41000099 was not found."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    user("GET", "/v4/orders/41000001")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([order(
            41_000_001,
            &["LP-1"],
            true,
            "2026-03-05T08:00:00"
        ),])))
        .expect(1)
        .mount(&server)
        .await;
    user("GET", "/v4/orders/41000099")
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"message": "Order 41000099 was not found."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let page = channel(&server)
        .fetch_orders_by_id(&[oid("41000001"), oid("41000099")], Currency::SEK)
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    assert!(page.rejected.is_empty());
}

#[tokio::test]
async fn ids_that_cannot_be_tradera_orders_are_not_sent() {
    let server = MockServer::start().await;
    let page = channel(&server)
        .fetch_orders_by_id(&[oid("not-a-number")], Currency::SEK)
        .await
        .unwrap();
    assert!(page.orders.is_empty() && page.rejected.is_empty());
    assert!(
        requests(&server).await.is_empty(),
        "no call of the budget spent"
    );
}

#[tokio::test]
async fn a_refused_token_and_a_malformed_answer_fail_the_call() {
    let server = MockServer::start().await;
    user("GET", "/v4/orders/41000001")
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "Invalid user token."})),
        )
        .mount(&server)
        .await;
    user("GET", "/v4/orders/41000002")
        .respond_with(
            ResponseTemplate::new(200).set_body_string("<html>Service Unavailable</html>"),
        )
        .mount(&server)
        .await;
    let ch = channel(&server);
    let e = ch
        .fetch_orders_by_id(&[oid("41000001")], Currency::SEK)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    let e = ch
        .fetch_orders_by_id(&[oid("41000002")], Currency::SEK)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Channel, "{e}");
}

#[tokio::test]
async fn many_ids_are_read_fifty_a_call() {
    let server = MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path_regex(r"^/v4/orders/[0-9,]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let ids: Vec<ChannelOrderId> = (0..120)
        .map(|n| oid(&(41_000_000 + n).to_string()))
        .collect();
    channel(&server)
        .fetch_orders_by_id(&ids, Currency::SEK)
        .await
        .unwrap();
    let sent: Vec<usize> = requests(&server)
        .await
        .iter()
        .map(|r| {
            r.url
                .path()
                .trim_start_matches("/v4/orders/")
                .split(',')
                .count()
        })
        .collect();
    assert_eq!(sent, vec![50, 50, 20]);
}

#[tokio::test]
async fn the_capability_is_reported() {
    assert!(marketsync_tradera::capabilities(100).orders_get_by_id);
}
