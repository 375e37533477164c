//! Tradera's response bodies read exactly as the adapter reads them, without a network: the
//! functions [`TraderaChannel`](crate::TraderaChannel) calls on the bytes Tradera sent.
//! Benchmarks, fuzzers and hostile-input tests call them to exercise the real decoding path.
//!
//! A body that is not a page at all (not JSON, the wrong shape) is an error for the whole page;
//! an order that cannot be read becomes a [`RejectedOrder`] naming why, and the other orders of
//! the page are still read.

use chrono::{DateTime, Utc};
use marketsync_core::{ChannelError, ChannelKind, ChannelListing, ErrorKind, Order, RejectedOrder};
use serde::de::DeserializeOwned;
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
}

/// Tags an error with the channel and the operation, unless it names them already.
fn tag(e: ChannelError, operation: &'static str) -> ChannelError {
    let e = if e.channel().is_none() {
        e.with_channel(ChannelKind::Tradera)
    } else {
        e
    };
    if e.operation().is_none() {
        e.with_operation(operation)
    } else {
        e
    }
}

/// A whole response body as JSON of the expected shape (the message the HTTP client gives).
fn page<T: DeserializeOwned>(body: &[u8], operation: &'static str) -> Result<T, ChannelError> {
    serde_json::from_slice(body).map_err(|e| {
        tag(
            ChannelError::new(
                ErrorKind::Channel,
                format!("the channel's response could not be read: {e}"),
            ),
            operation,
        )
    })
}

/// An orders answer: each order read on its own (amounts are whole SEK), and the answer's
/// latest change time.
pub fn orders_page(body: &[u8]) -> Result<DecodedOrders, ChannelError> {
    let op = "fetch_orders";
    let orders: Vec<Value> = page(body, op)?;
    let mut out = DecodedOrders::default();
    for value in orders {
        out.latest_change = out.latest_change.max(crate::changed_at(&value));
        let id = crate::order_id(&value);
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
            Err(e) => out.rejected.push(RejectedOrder {
                channel_order_id: id,
                error: tag(e, op),
            }),
        }
    }
    Ok(out)
}

/// The seller's items (`GET /v4/listings/seller-items`, one JSON array) as listings judged at
/// `now`, each with its first own reference as SKU, ended ones included: the conversion the
/// adapter's `list_listings` applies to each item (an unreadable item fails the answer).
pub fn listings_page(body: &[u8], now: DateTime<Utc>) -> Result<Vec<ChannelListing>, ChannelError> {
    let op = "list_listings";
    let items: Vec<wire::Item> = page(body, op)?;
    items
        .iter()
        .map(|item| {
            let refs = convert::own_references(item.own_references.as_deref());
            convert::to_listing(item, refs.first().map(String::as_str), now).map_err(|e| tag(e, op))
        })
        .collect()
}
