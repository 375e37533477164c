//! Tradera's response bodies read exactly as the adapter reads them, without a network: the
//! functions [`TraderaChannel`](crate::TraderaChannel) calls on the bytes Tradera sent.
//! Benchmarks, fuzzers and hostile-input tests call them to exercise the real decoding path.
//!
//! A body that is not a page at all (not JSON, the wrong shape) is an error for the whole page;
//! an order that cannot be read becomes a [`RejectedOrder`] naming why, and the other orders of
//! the page are still read.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use marketsync_core::{
    ChannelError, ChannelKind, ChannelListing, ChannelListingState, ChannelOrderId, ErrorKind,
    Money, Order, RejectedOrder,
};
use serde::Deserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;

use crate::{convert, wire};

/// One answer of `GET /v4/orders` (a JSON array of seller orders), read.
#[derive(Debug, Default)]
pub struct DecodedOrders {
    /// The orders read.
    pub orders: Vec<Order>,
    /// The orders that could not be read, each with why.
    pub rejected: Vec<RejectedOrder>,
    /// The highest `lastUpdatedDate` (else `createdDate`) of the answer's orders, read or not.
    pub latest_change: Option<DateTime<Utc>>,
    /// How far the order cursor may go given the page's rejected orders: never past one
    /// (see [`CursorHold`](marketsync_http::CursorHold)).
    pub hold: marketsync_http::CursorHold,
}

fn tag(e: ChannelError, operation: &'static str) -> ChannelError {
    marketsync_http::adapter::tag(e, ChannelKind::Tradera, operation)
}

fn page<T: DeserializeOwned>(body: &[u8], operation: &'static str) -> Result<T, ChannelError> {
    marketsync_http::adapter::json_body(body, ChannelKind::Tradera, operation)
}

/// When an order (as sent) was last changed: `lastUpdatedDate`, else `createdDate`.
fn changed_at(order: &Value) -> Option<DateTime<Utc>> {
    ["lastUpdatedDate", "createdDate"].iter().find_map(|k| {
        order
            .get(*k)
            .and_then(Value::as_str)
            .and_then(convert::parse_time)
    })
}

fn order_id(order: &Value) -> Option<ChannelOrderId> {
    let text = match order.get("orderId")? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    ChannelOrderId::new(text).ok()
}

/// How the adapter reads a Tradera date-time (RFC 3339; one without an offset is taken as UTC),
/// for test doubles that must agree with it.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    convert::parse_time(text)
}

/// A whole-kronor amount as the adapter reads it: SEK money.
pub fn sek(kronor: i64) -> Money {
    convert::sek(kronor)
}

/// An orders answer: each order read on its own (amounts are whole SEK), and the answer's
/// latest change time.
pub fn orders_page(body: &[u8]) -> Result<DecodedOrders, ChannelError> {
    read_orders(body, "fetch_orders")
}

/// An orders answer read for `operation` (`fetch_orders`, or `fetch_orders_by_id` for the
/// answer of `GET /v4/orders/{orderIds}`, which has the same shape).
pub(crate) fn read_orders(
    body: &[u8],
    operation: &'static str,
) -> Result<DecodedOrders, ChannelError> {
    let op = operation;
    let orders: Vec<Value> = page(body, op)?;
    let mut out = DecodedOrders::default();
    for value in orders {
        let changed = changed_at(&value);
        out.latest_change = out.latest_change.max(changed);
        let id = order_id(&value);
        let read = serde_json::from_value::<wire::SellerOrder>(value)
            .map_err(|e| {
                ChannelError::new(
                    ErrorKind::Channel,
                    format!("a Tradera order could not be read: {e}"),
                )
            })
            .and_then(|o| convert::to_order(&o));
        match read {
            Ok(o) => out.orders.push(o),
            Err(e) => {
                out.hold = out.hold.reject(changed);
                out.rejected.push(RejectedOrder {
                    channel_order_id: id,
                    error: tag(e, op),
                });
            }
        }
    }
    Ok(out)
}

/// What [`seller_items`] keeps of a seller-items answer.
#[derive(Clone, Copy, Debug, Default)]
pub struct ItemFilter<'q> {
    /// Keep only the items with one of these own references (exactly, after trimming), each
    /// with that reference as its SKU; `None` keeps every item, with its first own reference as
    /// SKU.
    pub skus: Option<&'q HashSet<&'q str>>,
    /// Keep the items that have ended (`endDate` passed) too.
    pub include_ended: bool,
}

/// A seller-items answer, read by [`seller_items`].
#[derive(Debug, Default)]
pub struct SellerItems {
    /// The items kept, as listings, in Tradera's order.
    pub listings: Vec<ChannelListing>,
    /// The ids of every item of the answer (kept or not) that is an auction or a fixed-price
    /// item (the non-shop item types): they end with another call than shop items.
    pub non_shop_items: Vec<i64>,
    /// How many items the answer held.
    pub items: u64,
}

/// The seller's items (`GET /v4/listings/seller-items`, one JSON array, no paging: every item
/// of the seller) as listings judged at `now`, read as a stream: each item is decoded on its
/// own, its strings borrowed from `body`, and dropped once judged, so only the listings kept
/// outlive the call — never the whole answer as parsed items. The conversion is the adapter's
/// `list_listings` (an unreadable item fails the answer).
pub fn seller_items(
    body: &[u8],
    now: DateTime<Utc>,
    filter: ItemFilter<'_>,
) -> Result<SellerItems, ChannelError> {
    let op = "list_listings";
    let mut out = SellerItems::default();
    let mut failed = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = ItemsSeed {
        now,
        filter,
        out: &mut out,
        failed: &mut failed,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(e) = failed {
        return Err(tag(e, op));
    }
    read.map_err(|e| {
        tag(
            ChannelError::new(
                ErrorKind::Channel,
                format!("the channel's response could not be read: {e}"),
            ),
            op,
        )
    })?;
    Ok(out)
}

/// Reads the items of a seller-items array one at a time into a [`SellerItems`].
struct ItemsSeed<'o, 'q> {
    now: DateTime<Utc>,
    filter: ItemFilter<'q>,
    out: &'o mut SellerItems,
    failed: &'o mut Option<ChannelError>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of seller items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<wire::Item<'de>>()? {
            self.out.items += 1;
            if item
                .item_type
                .is_some_and(|t| convert::NON_SHOP_ITEM_TYPES.contains(&t))
            {
                self.out.non_shop_items.push(item.id);
            }
            let sku = match self.filter.skus {
                None => None,
                Some(wanted) => match item.references().find(|r| wanted.contains(r)) {
                    Some(r) => Some(r),
                    None => continue,
                },
            };
            match convert::to_listing(&item, sku, self.now) {
                Ok(l) if !self.filter.include_ended && l.state == ChannelListingState::Ended => {}
                Ok(l) => self.out.listings.push(l),
                Err(e) => {
                    let why = e.to_string();
                    *self.failed = Some(e);
                    return Err(de::Error::custom(why));
                }
            }
        }
        Ok(())
    }
}

/// The seller's items (`GET /v4/listings/seller-items`, one JSON array) as listings judged at
/// `now`, each with its first own reference as SKU, ended ones included: [`seller_items`]
/// keeping every item.
pub fn listings_page(body: &[u8], now: DateTime<Utc>) -> Result<Vec<ChannelListing>, ChannelError> {
    seller_items(
        body,
        now,
        ItemFilter {
            skus: None,
            include_ended: true,
        },
    )
    .map(|items| items.listings)
}
