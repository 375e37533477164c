//! Assertions and steps an adapter's own tests share outside the behaviour suite: how a page of
//! hostile orders must be read, how hostile listings answers end, and a shipment sent through
//! the engine's outbox.

use chrono::{DateTime, Utc};
use marketsync_core::{
    Channel, ChannelError, ChannelKind, ChannelListing, ChannelOrderId, Delivery, Engine,
    ErrorKind, IdempotencyKey, IntegrationId, ListingQuery, OrderPage, Shipment,
};

use crate::behaviour::pages::{assert_rejected_by_fetch, read_ids, rejected_ids};

/// The rejection of order `id` in `page`.
///
/// # Panics
/// When `page` rejected no order `id`.
pub fn rejection<'a>(page: &'a OrderPage, id: &str) -> &'a ChannelError {
    &page
        .rejected
        .iter()
        .find(|r| r.channel_order_id.as_ref().map(|o| o.as_str()) == Some(id))
        .unwrap_or_else(|| panic!("order {id} is not rejected: {:?}", page.rejected))
        .error
}

/// Asserts how `channel` read a page of hostile orders: the readable orders `read` (their ids,
/// in order), `rejected` orders refused each as an error of `fetch_orders` naming the channel
/// ([`assert_rejected_by_fetch`]) and of kind `Channel` (the channel's answer, not an invalid
/// value), `without_id` of them refused without an id (no readable id, or not an object).
///
/// # Panics
/// When the page is otherwise.
pub fn assert_hostile_orders_read(
    page: &OrderPage,
    channel: ChannelKind,
    read: &[&str],
    rejected: usize,
    without_id: usize,
) {
    assert_eq!(
        read_ids(page),
        read,
        "the readable orders, in order: {:?}",
        page.rejected
    );
    assert_rejected_by_fetch(page, channel, rejected);
    assert!(
        page.rejected
            .iter()
            .all(|r| r.error.kind() == ErrorKind::Channel),
        "{:?}",
        page.rejected
    );
    assert_eq!(
        rejected_ids(page).iter().filter(|id| id.is_none()).count(),
        without_id,
        "the orders without a readable id and the non-objects are rejected without an id"
    );
}

/// Reads every listing of `channel` (ended ones too) from an answer of `count` listings whose
/// first has a negative stock, asserts they are all read and that stock reads as none (0), and
/// returns them.
///
/// # Panics
/// When the read fails or is otherwise.
pub async fn read_listings_with_a_negative_stock(
    channel: &dyn Channel,
    count: usize,
) -> Vec<ChannelListing> {
    let page = channel
        .list_listings(&every_listing())
        .await
        .expect("a hostile listing is clamped, not an error");
    assert_eq!(page.listings.len(), count);
    assert_eq!(
        page.listings[0].quantity,
        Some(0),
        "a negative stock is none"
    );
    page.listings
}

/// Asserts that reading every listing of `channel` from an answer it cannot read is a typed
/// `Channel` error of `list_listings`.
///
/// # Panics
/// When the read succeeds or fails otherwise.
pub async fn assert_listings_unreadable(channel: &dyn Channel) {
    let e = channel
        .list_listings(&every_listing())
        .await
        .expect_err("an unreadable listings answer is an error");
    assert_eq!(e.kind(), ErrorKind::Channel);
    assert_eq!(e.operation(), Some("list_listings"));
}

fn every_listing() -> ListingQuery {
    ListingQuery {
        include_ended: true,
        ..ListingQuery::default()
    }
}

/// A whole shipment (every line), shipped by `carrier`'s `method` with `tracking` at
/// `shipped_at`.
pub fn tracked_shipment(
    carrier: &str,
    method: &str,
    tracking: &str,
    shipped_at: DateTime<Utc>,
) -> Shipment {
    Shipment {
        carrier: Some(carrier.into()),
        method: Some(method.into()),
        tracking_number: Some(tracking.into()),
        shipped_at,
        lines: Vec::new(),
        delivery: Delivery::Shipped,
    }
}

/// Records `shipment` of `order` in the outbox of integration `id` under the key
/// `ship-{order}`, sends the outbox, and asserts the shipment went out and nothing failed.
///
/// # Panics
/// When the engine refuses the shipment or it does not go out.
pub async fn ship_through_the_outbox(
    engine: &Engine,
    id: IntegrationId,
    order: &ChannelOrderId,
    shipment: Shipment,
) {
    let key = IdempotencyKey::new(format!("ship-{order}")).expect("a valid key");
    engine
        .ship(id, order, shipment, Some(key))
        .await
        .expect("the engine records the shipment");
    let report = engine.sync_orders(id).await.expect("the outbox is sent");
    assert_eq!(report.sent.len(), 1, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
}
