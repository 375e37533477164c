//! Allegro's response bodies read exactly as the adapter reads them, without a network: the
//! functions [`AllegroChannel`](crate::AllegroChannel) calls on the bytes Allegro sent.
//! Benchmarks, fuzzers and hostile-input tests call them to exercise the real decoding path.
//!
//! A body that is not a page at all (not JSON, the wrong shape) is an error for the whole page;
//! an order (checkout form) that cannot be read becomes a [`RejectedOrder`] naming why, and the
//! other orders of the page are still read.
//!
//! Public only with the crate feature `fuzzing`.
#![cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub, dead_code))]

use marketsync_core::{
    ChannelError, ChannelKind, ChannelListing, ChannelOrderId, Currency, ErrorKind, Order,
    RejectedOrder,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::convert;
use crate::wire::{self, CheckoutForm};

/// One page of `GET /order/checkout-forms`, read.
#[derive(Debug, Default)]
pub struct DecodedOrders {
    /// The orders read.
    pub orders: Vec<Order>,
    /// The orders that could not be read, each with why.
    pub rejected: Vec<RejectedOrder>,
    /// How many checkout forms the page held (read or not): the next page's offset step.
    pub forms: u64,
    /// `totalCount`: how many orders match the query in all.
    pub total_count: Option<u64>,
}

/// One page of `GET /sale/offers`, read.
#[derive(Debug, Default)]
pub struct DecodedListings {
    /// The offers as listings, ended ones included.
    pub listings: Vec<ChannelListing>,
    /// How many offers the page held: the next page's offset step.
    pub offers: u64,
    /// `totalCount`: how many offers match the query in all.
    pub total_count: Option<u64>,
}

/// Tags an error with the channel and the operation, unless it names them already.
fn tag(e: ChannelError, operation: &'static str) -> ChannelError {
    let e = if e.channel().is_none() {
        e.with_channel(ChannelKind::Allegro)
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
fn page<T: DeserializeOwned>(body: &[u8]) -> Result<T, ChannelError> {
    serde_json::from_slice(body).map_err(|e| {
        ChannelError::new(
            ErrorKind::Channel,
            format!("the channel's response could not be read: {e}"),
        )
    })
}

/// One checkout form, as JSON already parsed: the order, or why it cannot be read.
pub(crate) fn read_form(value: Value, default_currency: Currency) -> Result<Order, RejectedOrder> {
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| ChannelOrderId::new(s).ok());
    serde_json::from_value::<CheckoutForm>(value)
        .map_err(|e| {
            ChannelError::new(
                ErrorKind::Channel,
                format!("an Allegro checkout form could not be read: {e}"),
            )
        })
        .and_then(|form| convert::to_order(&form, default_currency))
        .map_err(|e| RejectedOrder {
            channel_order_id: id,
            error: tag(e, "fetch_orders"),
        })
}

/// A checkout-forms page, with `PLN` for orders that carry no currency (see
/// [`orders_page_with`]).
pub fn orders_page(body: &[u8]) -> Result<DecodedOrders, ChannelError> {
    orders_page_with(body, Currency::PLN)
}

/// A checkout-forms page: each form of `checkoutForms` read on its own (`default_currency` for
/// an order that carries none), and the counts that drive paging.
pub fn orders_page_with(
    body: &[u8],
    default_currency: Currency,
) -> Result<DecodedOrders, ChannelError> {
    let page: wire::CheckoutForms = page(body)?;
    let mut out = DecodedOrders {
        forms: page.checkout_forms.len() as u64,
        total_count: page.total_count,
        ..DecodedOrders::default()
    };
    for value in page.checkout_forms {
        match read_form(value, default_currency) {
            Ok(o) => out.orders.push(o),
            Err(r) => out.rejected.push(r),
        }
    }
    Ok(out)
}

/// One checkout form read on its own (`GET /order/checkout-forms/{id}`, as the journal download
/// reads each order): the order, or why it cannot be read (a body that is not JSON is rejected
/// without an id; the adapter names the journal's id then).
pub fn checkout_form(body: &[u8], default_currency: Currency) -> Result<Order, RejectedOrder> {
    let value: Value = page(body).map_err(|e| RejectedOrder {
        channel_order_id: None,
        error: tag(e, "fetch_orders"),
    })?;
    read_form(value, default_currency)
}

/// A page of the order journal (`GET /order/events`): how many events it holds.
pub fn events_page(body: &[u8]) -> Result<usize, ChannelError> {
    events(body).map(|page| page.events.len())
}

/// A page of the order journal (`GET /order/events`), as the adapter reads it.
pub(crate) fn events(body: &[u8]) -> Result<wire::EventList, ChannelError> {
    page(body).map_err(|e| tag(e, "fetch_orders"))
}

/// One offer (`GET /sale/offers/{id}` or an entry of an offers page) as the adapter reads it.
pub fn offer(value: Value) -> Result<ChannelListing, ChannelError> {
    let offer: wire::Offer = serde_json::from_value(value).map_err(|e| {
        ChannelError::new(
            ErrorKind::Channel,
            format!("Allegro sent an offer that could not be read: {e}"),
        )
    })?;
    convert::to_listing(&offer).map_err(|e| tag(e, "list_listings"))
}

/// An offers page: every offer (an unreadable offer fails the page, as the adapter's
/// `list_listings` does) and the counts that drive paging.
pub fn listings_page(body: &[u8]) -> Result<DecodedListings, ChannelError> {
    let op = "list_listings";
    let page: wire::OfferList = page(body).map_err(|e| tag(e, op))?;
    let listings = page
        .offers
        .iter()
        .map(convert::to_listing)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tag(e, op))?;
    Ok(DecodedListings {
        listings,
        offers: page.offers.len() as u64,
        total_count: page.total_count,
    })
}
