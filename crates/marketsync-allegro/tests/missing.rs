//! A listing Allegro no longer has, in an update: the change commands' tasks for that offer fail
//! with "The offer does not exist." (`CommandTask.message`, the official spec's example), and
//! that offer's outcome is `NotFound` (the engine marks the link broken) while the other offers
//! of the same call succeed. An offer that has *ended* still exists: its refusal is `Invalid`.
//! A 404 answered to a whole command names no offer and is not `NotFound` for each.

mod common;

use common::*;
use marketsync_core::{
    Channel, ChannelListingId, EndListing, EndReason, ErrorKind, ListingUpdate, Money, Sku,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn update(id: &str, sku: &str, amount: &str, quantity: u32) -> ListingUpdate {
    ListingUpdate {
        listing_id: ChannelListingId::new(id).unwrap(),
        sku: Sku::new(sku).unwrap(),
        price: Some(Money::parse(amount, "PLN").unwrap()),
        quantity: Some(quantity),
        title: None,
    }
}

/// A failed task exactly as the spec's `CommandTask` example shows an unknown offer.
fn missing(offer: &str, field: &str) -> Value {
    json!({
        "offer": {"id": offer},
        "field": field,
        "status": "FAIL",
        "message": "The offer does not exist.",
        "errors": []
    })
}

/// A failed task for an offer that has ended (it exists; Allegro refuses to change it).
fn ended(offer: &str, field: &str) -> Value {
    json!({
        "offer": {"id": offer},
        "field": field,
        "status": "FAIL",
        "message": format!("Offer {offer} has ended and cannot be modified"),
        "errors": [{"code": "IllegalOfferStateException", "message": "The offer is ended", "details": null, "path": null, "userMessage": "You cannot change an ended offer.", "metadata": {}}]
    })
}

fn ok(offer: &str, field: &str) -> Value {
    json!({"offer": {"id": offer}, "field": field, "status": "SUCCESS", "message": null, "errors": []})
}

/// Every command of `kind` is registered (201), and its tasks are `tasks` (the adapter keeps
/// the tasks of the offers each command carried).
async fn commands(server: &MockServer, kind: &str, tasks: Vec<Value>) {
    Mock::given(method("PUT"))
        .and(path_regex(format!(
            "^/sale/offer-{kind}-commands/[0-9a-f-]{{36}}$"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(report("x")))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!(
            "^/sale/offer-{kind}-commands/[0-9a-f-]{{36}}/tasks$"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "tasks": tasks })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn an_offer_allegro_does_not_have_is_not_found_and_the_others_succeed() {
    let server = MockServer::start().await;
    // Offer 2 is unknown to Allegro, offer 3 has ended; 1 and 4 are fine. 1, 2 and 3 share a
    // quantity and a price, so they travel in the same two commands.
    commands(
        &server,
        "quantity-change",
        vec![
            ok("1", "stock.available"),
            missing("2", "stock.available"),
            ended("3", "stock.available"),
            ok("4", "stock.available"),
        ],
    )
    .await;
    commands(
        &server,
        "price-change",
        vec![
            ok("1", "sellingMode.price"),
            missing("2", "sellingMode.price"),
            ended("3", "sellingMode.price"),
            ok("4", "sellingMode.price"),
        ],
    )
    .await;
    let ch = channel(&server);
    let out = ch
        .update_listings(&[
            update("1", "A", "19.99", 5),
            update("2", "B", "19.99", 5),
            update("3", "C", "19.99", 5),
            update("4", "D", "25.00", 7),
        ])
        .await
        .unwrap();
    assert_eq!(out.len(), 4);

    assert_eq!(
        out[0].result.as_ref().unwrap(),
        &ChannelListingId::new("1").unwrap()
    );
    assert_eq!(
        out[3].result.as_ref().unwrap(),
        &ChannelListingId::new("4").unwrap()
    );

    let e = out[1].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(e.channel_message(), Some("The offer does not exist."));
    assert_eq!(e.operation(), Some("update_listings"));
    assert_eq!(out[1].listing_id, Some(ChannelListingId::new("2").unwrap()));
    assert_eq!(out[1].sku, Some(Sku::new("B").unwrap()));

    // An ended offer exists: it is refused, not missing.
    let e = out[2].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert!(
        e.channel_message().unwrap().contains("has ended"),
        "{:?}",
        e.channel_message()
    );

    let puts = requests(&server)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == "PUT")
        .count();
    assert_eq!(puts, 4, "quantities 5 and 7, prices 19.99 and 25.00");
}

#[tokio::test]
async fn a_missing_offer_set_to_quantity_zero_is_not_found_too() {
    let server = MockServer::start().await;
    commands(
        &server,
        "price-change",
        vec![
            ok("1", "sellingMode.price"),
            missing("2", "sellingMode.price"),
        ],
    )
    .await;
    commands(
        &server,
        "publication",
        vec![
            ok("1", "publication.status"),
            missing("2", "publication.status"),
        ],
    )
    .await;
    let ch = channel(&server);
    let out = ch
        .update_listings(&[update("1", "A", "10.00", 0), update("2", "B", "10.00", 0)])
        .await
        .unwrap();
    assert!(out[0].result.is_ok(), "{:?}", out[0].result);
    let e = out[1].result.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // Ending it is done: there is nothing left to end.
    let ended = ch
        .end_listings(&[EndListing {
            listing_id: ChannelListingId::new("2").unwrap(),
            sku: None,
            reason: EndReason::NotOnLabel,
        }])
        .await
        .unwrap();
    assert!(ended[0].result.is_ok(), "{:?}", ended[0].result);
}

#[tokio::test]
async fn a_404_to_a_whole_command_is_not_a_missing_offer() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path_regex(
            "^/sale/offer-publication-commands/[0-9a-f-]{36}$",
        ))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"errors": [{
            "code": "NotFoundException", "message": "Not Found", "details": null, "path": null,
            "userMessage": "Not Found", "metadata": {}}]})))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let ends: Vec<EndListing> = ["1", "2"]
        .iter()
        .map(|id| EndListing {
            listing_id: ChannelListingId::new(*id).unwrap(),
            sku: None,
            reason: EndReason::NotOnLabel,
        })
        .collect();
    let out = ch.end_listings(&ends).await.unwrap();
    for o in &out {
        let e = o.result.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Channel, "{e}");
        assert_eq!(e.http_status(), Some(404));
    }
    let out = ch
        .update_listings(&[ListingUpdate {
            price: None,
            ..update("1", "A", "1", 0)
        }])
        .await
        .unwrap();
    assert_eq!(
        out[0].result.as_ref().unwrap_err().kind(),
        ErrorKind::Channel
    );
}
