//! Ending Tradera auction and fixed-price items through the adapter against the sandbox, which
//! serves `DELETE /v4/listings/items/{itemId}` as the v4 spec describes it (the item ends, the
//! answer is the boolean `true`): the items are really ended at the sandbox, not merely answered
//! 404 and counted as "gone already".

use marketsync_core::{
    Channel, ChannelListingId, Clock, EndListing, EndReason, ListingQuery, SystemClock,
};
use marketsync_sandbox::TraderaHarness;
use marketsync_sandbox::tradera::{TraderaBuilder, seed};

fn end(id: i64) -> EndListing {
    EndListing {
        listing_id: ChannelListingId::new(id.to_string()).unwrap(),
        sku: None,
        reason: EndReason::NotOnLabel,
    }
}

/// The harness with seeded items, their dates around the system clock's now (the clock the
/// harness's sandbox and adapter both use), so some auctions and fixed-price items are live.
async fn seeded() -> TraderaHarness {
    TraderaHarness::builder()
        .sandbox(
            TraderaBuilder::default()
                .items(30)
                .orders(0)
                .anchor(SystemClock.now()),
        )
        .start()
        .await
        .expect("the Tradera sandbox starts")
}

/// An active item of `item_type` as the sandbox holds it.
fn active_item(h: &TraderaHarness, item_type: i64) -> i64 {
    let sb = h.sandbox();
    sb.item_ids()
        .into_iter()
        .find(|id| {
            sb.item(*id)
                .is_some_and(|i| i["itemType"] == item_type && i["statusId"] == 1)
        })
        .unwrap_or_else(|| panic!("the seed has an active item of type {item_type}"))
}

#[tokio::test]
async fn an_auction_and_a_fixed_price_item_end_at_tradera() {
    let h = seeded().await;
    let auction = active_item(&h, seed::AUCTION);
    let fixed = active_item(&h, seed::FIXED_PRICE);
    let ch = h.adapter();
    // A listing read tells the adapter which items are not shop items.
    ch.list_listings(&ListingQuery::default()).await.unwrap();
    let out = ch.end_listings(&[end(auction), end(fixed)]).await.unwrap();
    for o in &out {
        assert!(o.result.is_ok(), "{o:?}");
    }
    let ended: Vec<(i64, i64, bool)> = h
        .sandbox()
        .ended_items()
        .iter()
        .map(|e| (e.item_id, e.item_type, e.was_active))
        .collect();
    assert_eq!(
        ended,
        [
            (auction, seed::AUCTION, true),
            (fixed, seed::FIXED_PRICE, true)
        ]
    );
    for id in [auction, fixed] {
        assert_eq!(
            h.sandbox().item(id).unwrap()["statusId"],
            2,
            "item {id} ended"
        );
    }
    assert!(h.sandbox().deletions().is_empty(), "no shop-item removal");
    assert_eq!(h.sandbox().counters().get("items.end"), 2);

    // Ending them again is answered `true` again: done, nothing changes.
    let out = ch.end_listings(&[end(auction), end(fixed)]).await.unwrap();
    assert!(out.iter().all(|o| o.result.is_ok()), "{out:?}");
    assert!(h.sandbox().ended_items()[2..].iter().all(|e| !e.was_active));
}

#[tokio::test]
async fn an_item_the_adapter_has_not_read_is_ended_with_its_own_route() {
    let h = seeded().await;
    let auction = active_item(&h, seed::AUCTION);
    // No listing read: the adapter tries the shop-item removal first (404, not a shop item),
    // reads the item, and ends it as the auction it is.
    let out = h.adapter().end_listings(&[end(auction)]).await.unwrap();
    assert!(out[0].result.is_ok(), "{out:?}");
    assert_eq!(h.sandbox().ended_items().len(), 1);
    assert_eq!(h.sandbox().item(auction).unwrap()["statusId"], 2);
}

#[tokio::test]
async fn an_item_gone_from_tradera_counts_as_ended() {
    let h = seeded().await;
    let fixed = active_item(&h, seed::FIXED_PRICE);
    let ch = h.adapter();
    ch.list_listings(&ListingQuery::default()).await.unwrap();
    assert!(
        h.sandbox().delete_item(fixed),
        "removed in Tradera's web UI"
    );
    let out = ch.end_listings(&[end(fixed)]).await.unwrap();
    assert!(out[0].result.is_ok(), "404: gone already, {out:?}");
    assert!(h.sandbox().ended_items().is_empty());
    assert_eq!(
        h.sandbox().counters().get("items.end"),
        1,
        "one DELETE, answered 404"
    );
}
