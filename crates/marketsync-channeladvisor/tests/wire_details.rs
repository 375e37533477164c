//! Wire details checked against the fact sheet (`api/channeladvisor.md`), each with the exact
//! request ChannelAdvisor expects:
//!
//! - `Ship` always carries `ShippingCarrier` and `ShippingClass`: a shipment without its own
//!   (no shipping service mapped) is sent with the order's `RequestedShippingCarrier` /
//!   `RequestedShippingClass`; with none anywhere nothing is sent and the error names the field;
//! - `POST Orders(ID)/Export` has no body but says so with `Content-Length: 0` (IIS front ends
//!   answer a POST without it with 411);
//! - the listing read selects the configured price field and reports it as the listing's price,
//!   in the configured currency or, once `verify` ran, the profile's.

mod common;

use chrono::{TimeZone, Utc};
use common::*;
use marketsync_channeladvisor::{ChannelAdvisorChannel, PriceField};
use marketsync_core::{
    Channel, ChannelOrderId, Currency, ErrorKind, IdempotencyKey, ListingQuery, Money, Shipment,
    ShipmentRequest, Sku,
};
use rust_decimal::Decimal;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn shipment(carrier: Option<&str>, class: Option<&str>) -> ShipmentRequest {
    ShipmentRequest {
        order_id: ChannelOrderId::new("5001").unwrap(),
        shipment: Shipment {
            carrier: carrier.map(str::to_owned),
            method: class.map(str::to_owned),
            tracking_number: Some("1Z999".into()),
            shipped_at: Utc.with_ymd_and_hms(2026, 3, 3, 14, 0, 0).unwrap(),
            lines: Vec::new(),
            delivery: Default::default(),
        },
        idempotency_key: IdempotencyKey::new("ship-key-1").unwrap(),
        resend: false,
    }
}

async fn mount_requested(server: &MockServer, carrier: Option<&str>, class: Option<&str>) {
    Mock::given(method("GET"))
        .and(path("/v1/Orders(5001)"))
        .and(query_param(
            "$select",
            "ID,RequestedShippingCarrier,RequestedShippingClass",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://api.channeladvisor.com/v1/$metadata#Orders/$entity",
            "ID": 5001,
            "RequestedShippingCarrier": carrier,
            "RequestedShippingClass": class
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn ship_without_a_mapped_method_sends_the_orders_requested_class() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    mount_requested(&server, Some("UPS"), Some("Ground")).await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(5001)/Ship"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"Value": {
            "ShippedDateUtc": "2026-03-03T14:00:00Z",
            "TrackingNumber": "1Z999",
            "ShippingCarrier": "FedEx",
            "ShippingClass": "Ground",
            "DistributionCenterID": 3,
            "DeliveryStatus": "Complete",
            "SellerFulfillmentID": "ship-key-1"
        }})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    // The host names the carrier it used but maps no class: the buyer's class is sent.
    channel(&server)
        .ship(&shipment(Some("FedEx"), None))
        .await
        .unwrap();
}

#[tokio::test]
async fn ship_with_carrier_and_class_reads_nothing_first() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(5001)/Ship"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    channel(&server)
        .ship(&shipment(Some("UPS"), Some("Next Day")))
        .await
        .unwrap();
    let reqs = api_requests(&server).await;
    assert_eq!(reqs.len(), 1, "only the Ship");
    let body: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(body["Value"]["ShippingCarrier"], "UPS");
    assert_eq!(body["Value"]["ShippingClass"], "Next Day");
}

#[tokio::test]
async fn ship_with_no_class_anywhere_is_refused_before_the_ship() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    mount_requested(&server, Some("UPS"), None).await;
    let e = channel(&server)
        .ship(&shipment(None, Some("  ")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert_eq!(e.field(), Some("method"));
    assert_eq!(e.operation(), Some("ship"));
    assert!(
        !api_requests(&server)
            .await
            .iter()
            .any(|r| r.url.path().ends_with("/Ship")),
        "no Ship was sent"
    );
}

#[tokio::test]
async fn export_says_its_empty_body_with_content_length_zero() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(5001)/Export"))
        .and(header("content-length", "0"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    channel(&server)
        .acknowledge_order(&ChannelOrderId::new("5001").unwrap())
        .await
        .unwrap();
    let reqs = api_requests(&server).await;
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].body.is_empty());
    assert_eq!(
        reqs[0]
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some("0")
    );
}

async fn mount_products(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v1/Products"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://api.channeladvisor.com/v1/$metadata#Products",
            "value": [
                {"ID": 101, "Sku": "A", "Title": "Tee A", "TotalAvailableQuantity": 4,
                 "BuyItNowPrice": 19.99, "RetailPrice": 24.5,
                 "Labels": [{"ProductID": 101, "ProfileID": PROFILE, "Name": "eBay Feed"}]},
                {"ID": 102, "Sku": "B", "Title": "Tee B", "TotalAvailableQuantity": 1,
                 "BuyItNowPrice": null,
                 "Labels": [{"ProductID": 102, "ProfileID": PROFILE, "Name": "eBay Feed"}]}
            ]
        })))
        .mount(server)
        .await;
}

fn by_sku() -> ListingQuery {
    ListingQuery {
        skus: vec![Sku::new("A").unwrap(), Sku::new("B").unwrap()],
        include_ended: true,
        page: None,
        page_size: None,
    }
}

#[tokio::test]
async fn the_listing_read_selects_and_reports_the_configured_price() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    mount_products(&server).await;
    let ch = ChannelAdvisorChannel::new(
        builder(&server)
            .price_currency(Currency::USD)
            .build()
            .unwrap(),
    )
    .unwrap();
    let page = ch.list_listings(&by_sku()).await.unwrap();
    assert_eq!(
        page.listings[0].price,
        Some(Money::new(Decimal::new(1999, 2), Currency::USD))
    );
    assert_eq!(page.listings[1].price, None, "no value, no price");
    let reqs = api_requests(&server).await;
    assert_eq!(
        param(&reqs[0], "$select").as_deref(),
        Some("ID,Sku,Title,TotalAvailableQuantity,BuyItNowPrice")
    );

    // Another price field is selected and read instead.
    let ch = ChannelAdvisorChannel::new(
        builder(&server)
            .price_field(PriceField::RetailPrice)
            .price_currency(Currency::EUR)
            .build()
            .unwrap(),
    )
    .unwrap();
    let page = ch.list_listings(&by_sku()).await.unwrap();
    assert_eq!(
        page.listings[0].price,
        Some(Money::new(Decimal::new(245, 1), Currency::EUR))
    );
    let reqs = api_requests(&server).await;
    assert_eq!(
        param(reqs.last().unwrap(), "$select").as_deref(),
        Some("ID,Sku,Title,TotalAvailableQuantity,RetailPrice")
    );
}

#[tokio::test]
async fn without_a_configured_currency_the_profiles_is_used_once_verified() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    mount_products(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Profiles"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"ID": PROFILE, "AccountName": "acme-ca", "CompanyName": "Acme", "CurrencyCode": "CAD"}]
        })))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let before = ch.list_listings(&by_sku()).await.unwrap();
    assert_eq!(
        before.listings[0].price, None,
        "the currency is not known yet"
    );
    ch.verify().await.unwrap();
    let after = ch.list_listings(&by_sku()).await.unwrap();
    assert_eq!(
        after.listings[0].price,
        Some(Money::new(
            Decimal::new(1999, 2),
            Currency::new("CAD").unwrap()
        ))
    );
}
