//! Reverb's response bodies read exactly as the adapter reads them, without a network: the
//! functions [`ReverbChannel`](crate::ReverbChannel) calls on the bytes Reverb sent. Benchmarks,
//! fuzzers and hostile-input tests call them to exercise the real decoding path.
//!
//! A body that is not a page at all (not JSON, the wrong shape) is an error for the whole page;
//! an order that cannot be read becomes a [`RejectedOrder`] naming why, and the other orders of
//! the page are still read.

use chrono::{DateTime, Utc};
use marketsync_core::{
    ChannelError, ChannelKind, ChannelListing, ChannelListingState, ChannelOrderId, Currency,
    ErrorKind, Order, OrderState, RejectedOrder,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{convert, wire};

/// One page of `GET /api/my/orders/selling/all`, read.
#[derive(Debug, Default)]
pub struct DecodedOrders {
    /// The orders read.
    pub orders: Vec<Order>,
    /// The orders that could not be read, each with why.
    pub rejected: Vec<RejectedOrder>,
    /// `_links.next.href` as sent (not yet resolved against the base URL).
    pub next_link: Option<String>,
    /// The highest `updated_at` (else `created_at`) of the page's orders, read or not.
    pub latest_change: Option<DateTime<Utc>>,
    /// How far the order cursor may go given the page's rejected orders: never past one
    /// (see [`CursorHold`](marketsync_http::CursorHold)).
    pub hold: marketsync_http::CursorHold,
}

/// One page of `GET /api/my/listings`, read.
#[derive(Debug, Default)]
pub struct DecodedListings {
    /// The listings read, ended ones included.
    pub listings: Vec<ChannelListing>,
    /// `_links.next.href` as sent (not yet resolved against the base URL).
    pub next_link: Option<String>,
    /// `total`: how many listings the whole collection holds, when sent as a whole number.
    pub total: Option<u64>,
    /// `total_pages`: how many pages the whole collection takes, when sent as a whole number.
    pub total_pages: Option<u64>,
}

impl DecodedListings {
    /// How many pages the whole collection takes: `total_pages`, else `total` divided by this
    /// page's length (a page followed by another is full); `None` when Reverb sent neither.
    pub fn pages(&self) -> Option<u64> {
        self.total_pages.or_else(|| {
            let per_page = u64::try_from(self.listings.len()).ok()?.max(1);
            self.total.map(|t| t.div_ceil(per_page))
        })
    }
}

fn tag(e: ChannelError, operation: &'static str) -> ChannelError {
    marketsync_http::adapter::tag(e, ChannelKind::Reverb, operation)
}

fn page<T: DeserializeOwned>(body: &[u8], operation: &'static str) -> Result<T, ChannelError> {
    marketsync_http::adapter::json_body(body, ChannelKind::Reverb, operation)
}

/// When an order (as sent) was last changed: `updated_at`, else `created_at`.
fn changed_at(order: &Value) -> Option<DateTime<Utc>> {
    ["updated_at", "created_at"].iter().find_map(|k| {
        order
            .get(*k)
            .and_then(Value::as_str)
            .and_then(crate::orders::parse_time)
    })
}

fn order_number(order: &Value) -> Option<ChannelOrderId> {
    let text = match order.get("order_number")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    ChannelOrderId::new(text).ok()
}

/// How the adapter reads a listing's `state.slug` and `inventory` (for test doubles that must
/// agree with it).
pub fn listing_state(slug: &str, inventory: Option<i64>) -> ChannelListingState {
    convert::listing_state(slug, inventory)
}

/// How the adapter reads an order's `status`.
pub fn order_state(status: &str) -> OrderState {
    convert::order_state(status)
}

/// An orders page, with `USD` for orders that carry no currency (see [`orders_page_with`]).
pub fn orders_page(body: &[u8]) -> Result<DecodedOrders, ChannelError> {
    orders_page_with(body, Currency::USD)
}

/// An orders page: each order of `orders` read on its own (`default_currency` for an order
/// that carries none), `_links.next.href`, and the page's latest change time.
pub fn orders_page_with(
    body: &[u8],
    default_currency: Currency,
) -> Result<DecodedOrders, ChannelError> {
    let op = "fetch_orders";
    let page: wire::OrdersPage = page(body, op)?;
    let mut out = DecodedOrders {
        next_link: page.links.next.map(|l| l.href),
        ..DecodedOrders::default()
    };
    for value in page.orders {
        let changed = changed_at(&value);
        out.latest_change = out.latest_change.max(changed);
        let id = order_number(&value);
        let read = serde_json::from_value::<wire::Order>(value)
            .map_err(|e| {
                ChannelError::new(
                    ErrorKind::Channel,
                    format!("a Reverb order could not be read: {e}"),
                )
            })
            .and_then(|o| convert::to_order(&o, default_currency));
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

/// One order read on its own (`GET /api/my/orders/selling/{order_number}`), as
/// `fetch_orders_by_id` reads it (`default_currency` for an order that carries none). A body
/// that is not an order is an error naming why; the adapter rejects the order it asked for.
pub fn order(body: &[u8], default_currency: Currency) -> Result<Order, ChannelError> {
    let op = "fetch_orders_by_id";
    let value: Value = page(body, op)?;
    serde_json::from_value::<wire::Order>(value)
        .map_err(|e| {
            ChannelError::new(
                ErrorKind::Channel,
                format!("a Reverb order could not be read: {e}"),
            )
        })
        .and_then(|o| convert::to_order(&o, default_currency))
        .map_err(|e| tag(e, op))
}

/// A listings page: every listing (an unreadable listing fails the page, as the adapter's
/// `list_listings` does) and `_links.next.href`.
pub fn listings_page(body: &[u8]) -> Result<DecodedListings, ChannelError> {
    let op = "list_listings";
    let page: wire::ListingsPage = page(body, op)?;
    let listings = page
        .listings
        .iter()
        .map(|l| convert::to_listing(l).map_err(|e| tag(e, op)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DecodedListings {
        listings,
        next_link: page.links.next.map(|l| l.href),
        total: page.total,
        total_pages: page.total_pages,
    })
}

/// The paging link of any Reverb page (`_links.next.href`), as sent, read as the adapter reads
/// it; `None` when the body is not such a page or has no next link.
pub fn next_link(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Paged {
        #[serde(rename = "_links", default)]
        links: wire::Links,
    }
    let paged: Paged = serde_json::from_slice(body).ok()?;
    paged.links.next.map(|l| l.href)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn change_times() {
        let v = serde_json::json!({"created_at": "2026-03-01T10:00:00-06:00", "updated_at": "2026-03-02T10:00:00-06:00"});
        assert_eq!(
            changed_at(&v),
            Some(Utc.with_ymd_and_hms(2026, 3, 2, 16, 0, 0).unwrap())
        );
        let v = serde_json::json!({"created_at": "2026-03-01T10:00:00Z", "order_number": 42});
        assert_eq!(
            changed_at(&v),
            Some(Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap())
        );
        assert_eq!(order_number(&v).unwrap().as_str(), "42");
    }
}
