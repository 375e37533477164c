//! Hostile responses served by wiremock to the real adapter through the `Channel` API: wrong
//! types, unknown enum values, negative quantities, unknown currencies, malformed dates, huge
//! pages, deeply nested JSON, truncated bodies and `$batch` replies cut short or nested without
//! end. Each unreadable order is a typed rejection naming why, each unanswered batch request a
//! typed error of its own listing, the rest is processed, nothing panics; through the engine,
//! the good orders import and are exported, the bad one is recorded as not imported with its
//! reason and never marked exported.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use common::*;
use marketsync_channeladvisor::decode;
use marketsync_core::ChannelError;
use marketsync_core::{
    Channel, ChannelKind, ChannelListingId, ChannelOrderId, Credentials, Currency, ErrorKind,
    Feature, IntegrationSettings, ListingUpdate, ManualClock, NotImportedReason, OrderPage,
    OrderQuery, OrderState, SecretString, Sku,
};
use marketsync_testkit::behaviour::pages::{assert_rejected_by_fetch, read_ids};
use marketsync_testkit::behaviour::{EngineRig, RawBodyFixture};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

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

fn order(id: u64) -> Value {
    json!({
        "ID": id, "ProfileID": PROFILE, "SiteName": "OfferUp", "SiteOrderID": format!("OU-{id}"),
        "Currency": "USD", "CreatedDateUtc": "2026-03-04T10:00:00Z",
        "CheckoutStatus": "Completed", "PaymentStatus": "Cleared", "ShippingStatus": "Unshipped",
        "RequestedShippingCarrier": "UPS", "RequestedShippingClass": "Ground",
        "TotalPrice": 25.0, "TotalTaxPrice": 0, "TotalShippingPrice": 5.0,
        "Items": [{"ID": id * 10, "ProductID": 101, "Sku": "A", "Title": "Tee", "Quantity": 2, "UnitPrice": 10.0}],
        "Fulfillments": []
    })
}

/// Serves `body` (raw bytes) as the orders page and fetches it.
async fn fetch_raw(body: Vec<u8>) -> Result<OrderPage, ChannelError> {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    channel(&server).fetch_orders(&query()).await
}

async fn fetch(body: Value) -> OrderPage {
    fetch_raw(body.to_string().into_bytes()).await.unwrap()
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
    let mut negative = order(5002);
    negative["Items"][0]["Quantity"] = json!(-3);
    let mut currency = order(5003);
    currency["Currency"] = json!("XYZ");
    let mut date = order(5004);
    date["CreatedDateUtc"] = json!("31/02/2026 25:00");
    let mut wrong_type = order(5005);
    wrong_type["TotalPrice"] = json!("lots");
    let mut unknown = order(5006);
    unknown["CheckoutStatus"] = json!("Teleported");
    unknown["PaymentStatus"] = json!("PaidInSeashells");
    let mut items_type = order(5007);
    items_type["Items"] = json!({"0": "not a list"});
    let page = fetch(json!({"value": [
        order(5001), negative, currency, date, wrong_type, unknown, items_type,
        {"ID": "five thousand"}, null, order(5008)
    ]}))
    .await;

    assert_eq!(read_ids(&page), ["5001", "5006", "5008"]);
    assert_eq!(page.orders[1].status.state, OrderState::Unknown);
    assert!(page.orders[1].status.raw.contains("Teleported"));

    assert_rejected_by_fetch(&page, ChannelKind::ChannelAdvisor, 7);
    assert!(rejection(&page, "5002").message().contains("-3"));
    assert!(rejection(&page, "5003").message().contains("XYZ"));
    assert!(
        rejection(&page, "5004")
            .message()
            .contains("could not be read")
    );
    let wrong = rejection(&page, "5005").message();
    assert!(wrong.contains("could not be read"), "{wrong}");
    assert!(
        rejection(&page, "5007")
            .message()
            .contains("could not be read")
    );
    assert_eq!(
        page.rejected
            .iter()
            .filter(|r| r.channel_order_id.is_none())
            .count(),
        2
    );
}

// ChannelAdvisor to the testkit's hostile-body behaviours (a huge page, deeply nested,
// truncated and misshapen answers): the orders list is the OData page `{"value": [...]}`.
marketsync_testkit::fixture!(Fixture: ChannelKind::ChannelAdvisor);

#[async_trait]
impl RawBodyFixture for Fixture {
    async fn fetch_orders_raw(&self, body: Vec<u8>) -> Result<OrderPage, ChannelError> {
        fetch_raw(body).await
    }

    fn order(&self, n: u64) -> Value {
        json!({
            "ID": 100_000 + n, "Currency": "USD", "CreatedDateUtc": "2026-03-04T10:00:00Z",
            "CheckoutStatus": "Completed", "PaymentStatus": "Cleared",
            "ShippingStatus": "Unshipped", "TotalPrice": 10.0,
            "Items": [{"ID": n, "Sku": "A", "Title": "T", "Quantity": 1, "UnitPrice": 10.0}]
        })
    }

    fn page(&self, orders: Vec<Value>) -> Value {
        json!({ "value": orders })
    }

    fn misshapen(&self) -> Vec<Value> {
        vec![
            json!({"value": "none"}),
            json!({"value": {"0": {}}}),
            json!({"value": [], "@odata.nextLink": 7}),
        ]
    }
}

marketsync_testkit::behaviour_tests!(Fixture => hostile);

fn update(id: &str, qty: u32) -> ListingUpdate {
    ListingUpdate {
        listing_id: ChannelListingId::new(id).unwrap(),
        sku: Sku::new(format!("S{id}")).unwrap(),
        price: None,
        quantity: Some(qty),
        title: None,
    }
}

async fn update_with_reply(
    content_type: &str,
    body: Vec<u8>,
) -> Vec<Result<ChannelListingId, marketsync_core::ChannelError>> {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/$batch"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, content_type))
        .mount(&server)
        .await;
    channel(&server)
        .update_listings(&[update("1", 1), update("2", 2), update("3", 3)])
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.result)
        .collect()
}

#[tokio::test]
async fn a_batch_reply_cut_short_fails_only_the_unanswered_listings() {
    let full = multipart_reply(
        "b",
        &[
            (1, "204 No Content", ""),
            (
                2,
                "400 Bad Request",
                r#"{"error":{"message":"Quantity must not be negative."}}"#,
            ),
            (3, "204 No Content", ""),
        ],
    );
    // Cut inside the second answer's body: the first is answered, the others are not.
    let cut = full.find("must not").unwrap();
    let out = update_with_reply(
        "multipart/mixed; boundary=b",
        full.as_bytes()[..cut].to_vec(),
    )
    .await;
    assert!(out[0].is_ok());
    for r in &out[1..] {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert!(e.is_temporary());
        assert!(e.message().contains("no answer"));
        assert_eq!(e.operation(), Some("update_listings"));
    }
    // Whole, the second answer is that listing's own error.
    let out = update_with_reply("multipart/mixed; boundary=b", full.into_bytes()).await;
    assert!(out[0].is_ok() && out[2].is_ok());
    let e = out[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.channel_message(), Some("Quantity must not be negative."));
}

#[tokio::test]
async fn hostile_batch_replies_give_one_typed_outcome_per_listing() {
    // Change sets nested 20,000 deep: the parser stops at a fixed depth instead of exhausting
    // the stack, and every listing gets an outcome.
    // 20,000 levels overflowed the test thread's stack before the parser had a depth limit.
    let depth = 20_000;
    let mut deep = String::new();
    for i in 0..depth {
        deep.push_str(&format!(
            "--b{i}x\r\nContent-Type: multipart/mixed; boundary=b{}x\r\n\r\n",
            i + 1
        ));
    }
    for i in (0..depth).rev() {
        deep.push_str(&format!("\r\n--b{i}x--\r\n"));
    }
    let out = update_with_reply("multipart/mixed; boundary=b0x", deep.into_bytes()).await;
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|r| r.is_err()));
    let direct = decode::batch_results("multipart/mixed; boundary=b0", b"--b0\r\n", 3).unwrap();
    assert_eq!(direct.len(), 3);

    // Garbage Content-IDs, statuses and bodies: matched by position, or not at all.
    let garbage = "--b\r\nContent-Type: application/http\r\nContent-ID: 99999999999999999999999\r\n\r\nHTTP/1.1 99999 Huge\r\n\r\n\r\n--b\r\nContent-Type: application/http\r\nContent-ID: -1\r\n\r\nHTTP/1.1 abc\r\n\r\n\r\n--b--\r\n";
    let out = update_with_reply("multipart/mixed; boundary=b", garbage.as_bytes().to_vec()).await;
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|r| r.is_err()), "{out:?}");

    // No boundary, another content type, JSON cut short, not UTF-8: every listing fails with the
    // reason, none is reported done.
    for (ct, body) in [
        ("multipart/mixed", b"--b\r\n".to_vec()),
        ("text/html", b"<html>502</html>".to_vec()),
        (
            "application/json",
            br#"{"responses":[{"id":"1","status":204}"#.to_vec(),
        ),
        (
            "multipart/mixed; boundary=b",
            vec![0xff, 0xfe, 0x2d, 0x2d, 0x62],
        ),
    ] {
        let out = update_with_reply(ct, body).await;
        assert_eq!(out.len(), 3, "{ct}");
        for r in &out {
            let e = r.as_ref().unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::Channel | ErrorKind::Transient),
                "{ct}: {e:?}"
            );
        }
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap()
}

#[tokio::test]
async fn through_the_engine_the_bad_order_is_recorded_and_never_exported() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let rig = EngineRig::new(
        "ca",
        Arc::new(channel(&server)),
        IntegrationSettings::new(ChannelKind::ChannelAdvisor, Currency::USD),
        Arc::new(ManualClock::new(now())),
    )
    .await;
    rig.item("A", "Tee", "10.00", "USD", 5);
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"ID": PROFILE, "AccountName": "acme", "CurrencyCode": "USD"}]
        })))
        .mount(&server)
        .await;
    rig.connect(&Credentials::OAuth(
        marketsync_core::credentials::OAuthTokens {
            access_token: None,
            access_expires_at: None,
            refresh_token: SecretString::from(REFRESH),
            refresh_expires_at: None,
            profile_id: Some(PROFILE.to_string()),
        },
    ))
    .await;
    rig.activate("eBay Feed", &[Feature::Orders]).await;
    let EngineRig { engine, id, .. } = rig;
    map_ground_to_ups(&engine, id, now()).await;

    // Page 1: good, bad (negative quantity), good; page 2: cut off.
    let next = format!("{}/v1/Orders?$skip=3", server.uri());
    let mut bad = order(7002);
    bad["Items"][0]["Quantity"] = json!(-1);
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .and(query_param_is_missing("$skip"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [order(7001), bad, order(7003)], "@odata.nextLink": next
        })))
        .mount(&server)
        .await;
    let page2 = json!({"value": [order(7004)]}).to_string();
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .and(query_param("$skip", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            page2.as_bytes()[..page2.len() / 2].to_vec(),
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/Orders\(\d+\)/Export$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;

    let report = engine.import_orders(id).await.unwrap();
    assert_eq!(report.imported, [oid("7001"), oid("7003")]);
    assert_eq!(report.not_imported.len(), 1);
    let (bad_id, reason) = &report.not_imported[0];
    assert_eq!(bad_id, &oid("7002"));
    match reason {
        NotImportedReason::Unreadable { message } => assert!(message.contains("-1"), "{message}"),
        other => panic!("not an unreadable reason: {other:?}"),
    }
    assert!(report.stopped.is_some(), "the cut page stops the run");
    let mut exported: Vec<String> = api_requests(&server)
        .await
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| r.url.path().to_owned())
        .collect();
    exported.sort();
    assert_eq!(
        exported,
        ["/v1/Orders(7001)/Export", "/v1/Orders(7003)/Export"],
        "only recorded, imported orders are marked exported"
    );
}
