//! Ending auction and fixed-price items (`DELETE /v4/listings/items/{itemId}`, answered with the
//! spec's `boolean`) and what the adapter reads as "gone already": a 404 from Tradera means the
//! item does not exist or is not the seller's any more, so there is nothing left to end and the
//! listing counts as ended; `false` and every other error are failures of that listing. An item
//! the adapter has not seen in a listing read is first removed as a shop item; a 404 to that is
//! not taken as "gone" until the item's own read says it is missing (or a shop item).

#![recursion_limit = "256"]

mod common;

use common::*;
use marketsync_core::{Channel, ChannelListingId, EndListing, EndReason, ErrorKind, ListingQuery};
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

fn lid(s: &str) -> ChannelListingId {
    ChannelListingId::new(s).unwrap()
}

fn end(id: &str) -> EndListing {
    EndListing {
        listing_id: lid(id),
        sku: None,
        reason: EndReason::NotOnLabel,
    }
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"error": {
        "code": "NotFound",
        "message": "The item does not exist or does not belong to the seller."
    }}))
}

/// The seller's items as one listing read shows them: an auction and a fixed-price item.
async fn mount_seller_items(server: &MockServer) {
    user("GET", "/v4/listings/seller-items")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            item(700100202, 1, &["LP-3"], 99, 1, "2026-12-31T23:59:00"),
            item(700100203, 3, &["LP-4"], 120, 1, "2026-12-31T23:59:00"),
        ])))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_404_to_ending_an_auction_or_fixed_price_item_is_gone_already() {
    let server = MockServer::start().await;
    mount_seller_items(&server).await;
    user("DELETE", "/v4/listings/items/700100202")
        .respond_with(not_found())
        .expect(1)
        .mount(&server)
        .await;
    user("DELETE", "/v4/listings/items/700100203")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(true)))
        .expect(1)
        .mount(&server)
        .await;
    let ch = channel(&server);
    ch.list_listings(&ListingQuery::default()).await.unwrap();
    let out = ch
        .end_listings(&[end("700100202"), end("700100203")])
        .await
        .unwrap();
    assert_eq!(out[0].result.as_ref().unwrap(), &lid("700100202"));
    assert_eq!(out[1].result.as_ref().unwrap(), &lid("700100203"));
    // Exactly the read and the two DELETEs: no shop-item route, no request-results poll.
    let sent: Vec<String> = requests(&server)
        .await
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        sent,
        [
            "GET /v4/listings/seller-items",
            "DELETE /v4/listings/items/700100202",
            "DELETE /v4/listings/items/700100203",
        ]
    );
}

#[tokio::test]
async fn false_or_a_refusal_to_end_an_item_is_a_failure_not_gone() {
    let server = MockServer::start().await;
    mount_seller_items(&server).await;
    user("DELETE", "/v4/listings/items/700100202")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(false)))
        .mount(&server)
        .await;
    user("DELETE", "/v4/listings/items/700100203")
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "BadRequest", "message": "Item 700100203 has bids and cannot be ended."
        }})))
        .mount(&server)
        .await;
    let ch = channel(&server);
    ch.list_listings(&ListingQuery::default()).await.unwrap();
    let out = ch
        .end_listings(&[end("700100202"), end("700100203")])
        .await
        .unwrap();
    let e = out[0].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Channel, "{e}");
    assert!(e.to_string().contains("did not end item 700100202"), "{e}");
    let e = out[1].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert_eq!(
        e.channel_message(),
        Some("Item 700100203 has bids and cannot be ended.")
    );
}

#[tokio::test]
async fn an_item_not_seen_in_a_read_is_looked_up_before_a_404_counts_as_gone() {
    let server = MockServer::start().await;
    // No listing read in this process: both are tried as shop items first.
    for id in ["700100202", "700100999"] {
        user("DELETE", &format!("/v4/listings/shop-items/{id}"))
            .respond_with(not_found())
            .expect(1)
            .mount(&server)
            .await;
    }
    // 700100202 is an auction: its read says so, and it is ended with its own route.
    user("GET", "/v4/listings/items/700100202")
        .respond_with(ResponseTemplate::new(200).set_body_json(item(
            700100202,
            1,
            &["LP-3"],
            99,
            1,
            "2026-12-31T23:59:00",
        )))
        .expect(1)
        .mount(&server)
        .await;
    user("DELETE", "/v4/listings/items/700100202")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(true)))
        .expect(1)
        .mount(&server)
        .await;
    // 700100999 does not exist: gone already.
    user("GET", "/v4/listings/items/700100999")
        .respond_with(not_found())
        .expect(1)
        .mount(&server)
        .await;
    let out = channel(&server)
        .end_listings(&[end("700100202"), end("700100999")])
        .await
        .unwrap();
    for o in &out {
        assert!(o.result.is_ok(), "{o:?}");
    }
    assert!(
        !requests(&server).await.iter().any(
            |r| r.method.as_str() == "DELETE" && r.url.path() == "/v4/listings/items/700100999"
        ),
        "a missing item is not ended"
    );
}
