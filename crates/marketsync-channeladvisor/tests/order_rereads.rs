//! Orders read again by id (`fetch_orders_by_id`): one `$filter` on the ids per 20 orders,
//! against a wiremock ChannelAdvisor: the exact requests and realistic answers, errors
//! included. (The feed position is the export flag: an unreadable order is never exported, so
//! `exported=false` lists it again; see tests/engine.rs.)

mod common;

use common::*;
use marketsync_core::{Channel, ChannelOrderId, Currency, ErrorKind, OrderState};
use marketsync_testkit::behaviour::pages::rejected_ids;
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

fn order_json(id: u64, site: &str, shipping: &str) -> serde_json::Value {
    json!({
        "ID": id, "ProfileID": PROFILE, "SiteID": 640, "SiteName": site,
        "SiteOrderID": format!("OU-{id}"), "SellerOrderID": null, "Currency": "USD",
        "CreatedDateUtc": "2026-03-02T10:15:30Z", "ImportDateUtc": "2026-03-02T10:30:00.123Z",
        "UpdatedDateUtc": "2026-03-04T08:00:00Z",
        "CheckoutStatus": "Completed", "PaymentStatus": "Cleared", "ShippingStatus": shipping,
        "RequestedShippingCarrier": "UPS", "RequestedShippingClass": "Ground",
        "TotalPrice": 47.5, "TotalTaxPrice": 2.5, "TotalShippingPrice": 5.0,
        "BuyerUserId": "buyer42", "BuyerEmailAddress": "b@example.com",
        "ShippingFirstName": "Ana", "ShippingLastName": "Lind", "ShippingAddressLine1": "1 Main St",
        "ShippingCity": "Austin", "ShippingStateOrProvince": "TX", "ShippingPostalCode": "73301",
        "ShippingCountry": "US",
        "Items": [
            {"ID": 9001, "OrderID": id, "ProductID": 101, "Sku": "A", "Title": "Tee", "Quantity": 2, "UnitPrice": 10.0}
        ],
        "Fulfillments": []
    })
}

#[tokio::test]
async fn orders_are_read_again_with_one_filter_on_their_ids() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let next = format!(
        "{}/v1/Orders?$filter=ProfileID%20eq%2012345678%20and%20(ID%20eq%205001%20or%20ID%20eq%205002%20or%20ID%20eq%205099%20or%20ID%20eq%205003)&$expand=Items,Fulfillments&$skip=2",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .and(query_param("$skip", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [order_json(5003, "eBay", "Shipped")]})))
        .expect(1)
        .mount(&server)
        .await;
    let mut broken = order_json(5002, "eBay", "Unshipped");
    broken["Items"][0]["Quantity"] = json!("two");
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .and(query_param(
            "$filter",
            "ProfileID eq 12345678 and (ID eq 5001 or ID eq 5002 or ID eq 5099 or ID eq 5003)",
        ))
        .and(query_param("$expand", "Items,Fulfillments"))
        .and(query_param_is_missing("exported"))
        .and(query_param_is_missing("$skip"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://api.channeladvisor.com/v1/$metadata#Orders",
            "value": [order_json(5001, "eBay", "Unshipped"), broken],
            "@odata.nextLink": next
        })))
        .expect(1)
        .mount(&server)
        .await;
    let page = channel(&server)
        .fetch_orders_by_id(
            &[oid("5001"), oid("5002"), oid("5099"), oid("5003")],
            Currency::EUR,
        )
        .await
        .unwrap();
    let read: Vec<&str> = page
        .orders
        .iter()
        .map(|o| o.channel_order_id.as_str())
        .collect();
    assert_eq!(read, ["5001", "5003"], "every page of the answer is read");
    assert_eq!(
        page.orders[1].status.state,
        OrderState::Shipped,
        "its latest state"
    );
    assert_eq!(page.rejected.len(), 1, "5099 is unknown: left out");
    assert_eq!(page.rejected[0].channel_order_id, Some(oid("5002")));
    assert_eq!(page.rejected[0].error.kind(), ErrorKind::Channel);
    assert_eq!(page.next_page, None);
    assert_eq!(page.cursor, None);
    let reqs = api_requests(&server).await;
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        raw_query(&reqs[0]),
        "$filter=ProfileID%20eq%2012345678%20and%20%28ID%20eq%205001%20or%20ID%20eq%205002%20or%20ID%20eq%205099%20or%20ID%20eq%205003%29&$expand=Items%2CFulfillments"
    );
}

#[tokio::test]
async fn twenty_ids_a_request_and_none_that_is_not_a_number() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&server)
        .await;
    let mut ids: Vec<ChannelOrderId> = (0..45).map(|n| oid(&(7000 + n).to_string())).collect();
    ids.push(oid("OU-1"));
    let page = channel(&server)
        .fetch_orders_by_id(&ids, Currency::USD)
        .await
        .unwrap();
    assert!(page.orders.is_empty() && page.rejected.is_empty());
    let counts: Vec<usize> = api_requests(&server)
        .await
        .iter()
        .map(|r| param(r, "$filter").unwrap().split(" or ").count())
        .collect();
    assert_eq!(counts, [20, 20, 5]);
}

#[tokio::test]
async fn offerup_reads_by_id_on_its_site_only() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [order_json(7001, "OfferUp", "Unshipped")]})))
        .mount(&server)
        .await;
    let ch = offerup_channel(&server);
    assert!(ch.capabilities().orders_get_by_id);
    let page = ch
        .fetch_orders_by_id(&[oid("7001")], Currency::USD)
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    assert_eq!(
        param(&api_requests(&server).await[0], "$filter").unwrap(),
        "ProfileID eq 12345678 and SiteName eq 'OfferUp' and (ID eq 7001)"
    );
}

#[tokio::test]
async fn an_unreadable_order_without_its_id_rejects_the_ids_not_accounted_for() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [order_json(5001, "eBay", "Unshipped"), {"Nonsense": true}]})))
        .mount(&server)
        .await;
    let page = channel(&server)
        .fetch_orders_by_id(&[oid("5001"), oid("5002")], Currency::USD)
        .await
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    assert_eq!(rejected_ids(&page), [Some(oid("5002"))]);
}

#[tokio::test]
async fn a_refused_grant_and_a_malformed_answer_fail_the_call() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .mount(&server)
        .await;
    let e = channel(&server)
        .fetch_orders_by_id(&[oid("5001")], Currency::USD)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");

    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string("<html>Service Unavailable</html>"),
        )
        .mount(&server)
        .await;
    let e = channel(&server)
        .fetch_orders_by_id(&[oid("5001")], Currency::USD)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Channel, "{e}");
}

#[tokio::test]
async fn an_order_with_more_than_twenty_items_is_read_on_its_own() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let mut cut = order_json(6001, "eBay", "Unshipped");
    cut["Items@odata.nextLink"] = json!(format!("{}/v1/Orders(6001)/Items?$skip=20", server.uri()));
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [cut]})))
        .mount(&server)
        .await;
    let mut full = order_json(6001, "eBay", "Unshipped");
    full["Items"].as_array_mut().unwrap().push(
        json!({"ID": 9003, "ProductID": 103, "Sku": "C", "Title": "Sock", "Quantity": 1, "UnitPrice": 3.0}),
    );
    Mock::given(method("GET"))
        .and(path("/v1/Orders(6001)"))
        .respond_with(ResponseTemplate::new(200).set_body_json(full))
        .expect(1)
        .mount(&server)
        .await;
    let page = channel(&server)
        .fetch_orders_by_id(&[oid("6001")], Currency::USD)
        .await
        .unwrap();
    assert_eq!(page.orders[0].lines.len(), 2);
}
