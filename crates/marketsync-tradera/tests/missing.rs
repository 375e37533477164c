//! A listing Tradera no longer has, in an update: the batch calls' `validationErrors` (and a
//! queued price request's result) say the item was not found, and that listing's outcome is
//! `NotFound` (the engine marks the link broken) while the others of the same call succeed. An
//! item that was removed (ended) still exists: its refusal is `Invalid`. A 404 answered to a
//! whole batch call names no item and is not `NotFound` for each.

#![recursion_limit = "256"]

mod common;

use common::*;
use marketsync_core::{
    Channel, ChannelListingId, EndListing, EndReason, ErrorKind, ListingUpdate, Money, Sku,
};
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

fn update(id: &str, sku: &str, price: Option<&str>, quantity: Option<u32>) -> ListingUpdate {
    ListingUpdate {
        listing_id: ChannelListingId::new(id).unwrap(),
        sku: Sku::new(sku).unwrap(),
        price: price.map(|p| Money::parse(p, "SEK").unwrap()),
        quantity,
        title: None,
    }
}

fn lid(id: &str) -> ChannelListingId {
    ChannelListingId::new(id).unwrap()
}

#[tokio::test]
async fn an_item_tradera_does_not_have_is_not_found_and_the_others_succeed() {
    let server = MockServer::start().await;
    // 700100201 is unknown to Tradera, 700100202 was removed (ended) by the seller; 700100200
    // and 700100203 are fine. Quantities and prices go in one call each.
    user_body(
        "PUT",
        "/v4/listings/shop-items/quantities",
        json!({"shopItems": [
            {"id": 700100200, "quantity": 7},
            {"id": 700100201, "quantity": 2},
            {"id": 700100202, "quantity": 4}
        ]}),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "successfulUpdates": 1,
        "validationErrors": [
            {"errorMessage": "Shop item 700100201 was not found.", "item": {"id": 700100201, "quantity": 2}},
            {"errorMessage": "Shop item 700100202 has been removed.", "item": {"id": 700100202, "quantity": 4}}
        ]
    })))
    .expect(1)
    .mount(&server)
    .await;
    user_body(
        "PUT",
        "/v4/listings/shop-items/prices",
        json!({"shopItems": [
            {"id": 700100200, "price": 149},
            {"id": 700100201, "price": 99},
            {"id": 700100203, "price": 250}
        ]}),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "queuedRequestResponses": [
            {"itemId": 700100200, "requestId": 91001},
            {"itemId": 700100203, "requestId": 91003}
        ],
        "validationErrors": [
            {"errorMessage": "Shop item 700100201 was not found.", "item": {"id": 700100201, "price": 99}}
        ]
    })))
    .expect(1)
    .mount(&server)
    .await;
    user("GET", "/v4/listings/request-results")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"requestId": 91001, "resultCode": 1, "message": "OK"},
            {"requestId": 91003, "resultCode": 1, "message": "OK"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let out = channel(&server)
        .update_listings(&[
            update("700100200", "LP-1", Some("149"), Some(7)),
            update("700100201", "LP-2", Some("99"), Some(2)),
            update("700100202", "LP-3", None, Some(4)),
            update("700100203", "LP-4", Some("250"), None),
        ])
        .await
        .unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].result.as_ref().unwrap(), &lid("700100200"));
    assert_eq!(out[3].result.as_ref().unwrap(), &lid("700100203"));

    let e = out[1].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(
        e.channel_message(),
        Some("Shop item 700100201 was not found.")
    );
    assert_eq!(e.operation(), Some("update_listings"));
    assert_eq!(out[1].listing_id, Some(lid("700100201")));
    assert_eq!(out[1].sku, Some(Sku::new("LP-2").unwrap()));

    // A removed (ended) item exists: it is refused, not missing.
    let e = out[2].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert_eq!(e.field(), Some("quantity"));
    assert_eq!(
        e.channel_message(),
        Some("Shop item 700100202 has been removed.")
    );
    assert_eq!(requests(&server).await.len(), 3, "two batches, one poll");
}

#[tokio::test]
async fn a_queued_price_for_a_missing_item_is_not_found() {
    let server = MockServer::start().await;
    user("PUT", "/v4/listings/shop-items/prices")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "queuedRequestResponses": [
                {"itemId": 700100200, "requestId": 91001},
                {"itemId": 700100201, "requestId": 91002}
            ],
            "validationErrors": []
        })))
        .mount(&server)
        .await;
    user("GET", "/v4/listings/request-results")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"requestId": 91001, "resultCode": 1, "message": "OK"},
            {"requestId": 91002, "resultCode": 2, "message": "The item does not exist or does not belong to the seller."}
        ])))
        .mount(&server)
        .await;
    let out = channel(&server)
        .update_listings(&[
            update("700100200", "LP-1", Some("149"), None),
            update("700100201", "LP-2", Some("99"), None),
        ])
        .await
        .unwrap();
    assert!(out[0].result.is_ok(), "{:?}", out[0].result);
    let e = out[1].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(e.field(), Some("price"));
}

#[tokio::test]
async fn a_404_to_a_whole_batch_is_not_a_missing_item() {
    let server = MockServer::start().await;
    user("PUT", "/v4/listings/shop-items/quantities")
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": {"code": "NotFound", "message": "The requested resource was not found."}}),
        ))
        .mount(&server)
        .await;
    let out = channel(&server)
        .update_listings(&[
            update("700100200", "LP-1", None, Some(1)),
            update("700100201", "LP-2", None, Some(2)),
        ])
        .await
        .unwrap();
    for o in &out {
        let e = o.result.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Channel, "{e}");
        assert_eq!(e.http_status(), Some(404));
    }
}

#[tokio::test]
async fn removing_an_item_whose_queued_removal_finds_nothing_is_done() {
    let server = MockServer::start().await;
    user("DELETE", "/v4/listings/shop-items/700100201")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"itemId": 700100201, "requestId": 92001})),
        )
        .mount(&server)
        .await;
    user("GET", "/v4/listings/request-results")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"requestId": 92001, "resultCode": 2, "message": "Shop item 700100201 was not found."}
        ])))
        .mount(&server)
        .await;
    let out = channel(&server)
        .end_listings(&[EndListing {
            listing_id: lid("700100201"),
            sku: None,
            reason: EndReason::NotOnLabel,
        }])
        .await
        .unwrap();
    assert_eq!(out[0].result.as_ref().unwrap(), &lid("700100201"));
}
