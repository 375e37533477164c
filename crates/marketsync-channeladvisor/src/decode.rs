//! ChannelAdvisor's response bodies read exactly as the adapter reads them, without a network:
//! the functions [`ChannelAdvisorChannel`](crate::ChannelAdvisorChannel) calls on the bytes
//! ChannelAdvisor sent. Benchmarks, fuzzers and hostile-input tests call them to exercise the
//! real decoding path.
//!
//! A body that is not a page at all (not JSON, the wrong shape) is an error for the whole page;
//! an order that cannot be read becomes a [`RejectedOrder`] naming why, and the other orders of
//! the page are still read. Errors here name no channel (ChannelAdvisor or OfferUp is the
//! integration's configuration); the adapter adds it.
//!
//! Public only with the crate feature `fuzzing`.
#![cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub, dead_code))]

use marketsync_core::{
    ChannelError, ChannelListing, ChannelOrderId, Currency, ErrorKind, Order, RejectedOrder,
};
use marketsync_http::batch::{self, BatchResponse};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::{PriceField, ShippingMethodText};
use crate::error::part_error;
use crate::{convert, wire};

/// How orders are read: the integration's settings that decoding depends on.
#[derive(Clone, Copy, Debug)]
pub struct OrderOptions {
    /// The currency of orders that carry none.
    pub default_currency: Currency,
    /// Which fields make the shipping method text.
    pub shipping_method_text: ShippingMethodText,
}

impl Default for OrderOptions {
    /// `USD` and [`ShippingMethodText::Class`].
    fn default() -> Self {
        Self {
            default_currency: Currency::USD,
            shipping_method_text: ShippingMethodText::default(),
        }
    }
}

/// One page of `GET /v1/Orders?$expand=Items,Fulfillments`, read.
#[derive(Debug, Default)]
pub struct DecodedOrders {
    /// The orders read.
    pub orders: Vec<Order>,
    /// The orders that could not be read, each with why.
    pub rejected: Vec<RejectedOrder>,
    /// Orders whose `Items` ChannelAdvisor cut at 20 (`Items@odata.nextLink`): the adapter
    /// reads each of them on its own (`GET /v1/Orders(ID)`), so they are in neither list.
    pub items_cut: Vec<ChannelOrderId>,
    /// `@odata.nextLink` as sent.
    pub next_link: Option<String>,
}

/// One order of a page, in the page's order.
pub(crate) enum Entry {
    /// Read.
    Read(Box<Order>),
    /// Could not be read.
    Rejected(RejectedOrder),
    /// Its items were cut: it must be read on its own.
    ItemsCut(Box<wire::Order>),
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

/// The order's id as sent, when it can be read.
fn order_id(value: &Value) -> Option<ChannelOrderId> {
    value
        .get("ID")
        .and_then(Value::as_u64)
        .and_then(|id| ChannelOrderId::new(id.to_string()).ok())
}

/// One order value as the adapter reads it (without following a cut item list).
pub(crate) fn entry(value: Value, options: OrderOptions) -> Entry {
    let id = order_id(&value);
    let reject = |error: ChannelError| {
        Entry::Rejected(RejectedOrder {
            channel_order_id: id.clone(),
            error: if error.operation().is_none() {
                error.with_operation("fetch_orders")
            } else {
                error
            },
        })
    };
    let order: wire::Order = match serde_json::from_value(value) {
        Ok(o) => o,
        Err(e) => {
            return reject(ChannelError::new(
                ErrorKind::Channel,
                format!("a ChannelAdvisor order could not be read: {e}"),
            ));
        }
    };
    if order.items_next_link.is_some() {
        return Entry::ItemsCut(Box::new(order));
    }
    match convert::to_order(
        &order,
        options.default_currency,
        options.shipping_method_text,
    ) {
        Ok(o) => Entry::Read(Box::new(o)),
        Err(e) => reject(e),
    }
}

/// An orders page as entries in the page's order, and `@odata.nextLink`.
pub(crate) fn order_entries(
    body: &[u8],
    options: OrderOptions,
) -> Result<(Vec<Entry>, Option<String>), ChannelError> {
    let page: wire::Page<Value> = page(body)?;
    let entries = page.value.into_iter().map(|v| entry(v, options)).collect();
    Ok((entries, page.next_link))
}

/// An orders page with the default [`OrderOptions`] (see [`orders_page_with`]).
pub fn orders_page(body: &[u8]) -> Result<DecodedOrders, ChannelError> {
    orders_page_with(body, OrderOptions::default())
}

/// An orders page: each order of `value` read on its own, and `@odata.nextLink`.
pub fn orders_page_with(body: &[u8], options: OrderOptions) -> Result<DecodedOrders, ChannelError> {
    let (entries, next_link) = order_entries(body, options)?;
    let mut out = DecodedOrders {
        next_link,
        ..DecodedOrders::default()
    };
    for e in entries {
        match e {
            Entry::Read(o) => out.orders.push(*o),
            Entry::Rejected(r) => out.rejected.push(r),
            Entry::ItemsCut(o) => out
                .items_cut
                .extend(ChannelOrderId::new(o.id.to_string()).ok()),
        }
    }
    Ok(out)
}

/// One order read on its own (`GET /v1/Orders(ID)?$expand=Items,Fulfillments`), as the adapter
/// reads an order whose items a page cut.
pub fn order(body: &[u8], options: OrderOptions) -> Result<Order, ChannelError> {
    let order: wire::Order = page(body)?;
    convert::to_order(
        &order,
        options.default_currency,
        options.shipping_method_text,
    )
}

/// One page of `GET /v1/Products`, read.
#[derive(Debug, Default)]
pub struct DecodedListings {
    /// The products as listings (a product whose id is unusable is left out), ended ones
    /// included.
    pub listings: Vec<ChannelListing>,
    /// `@odata.nextLink` as sent.
    pub next_link: Option<String>,
    /// How many products the page held (those left out of `listings` included): the server's
    /// page size when there is a next link.
    pub returned: usize,
    /// `@odata.count` (the products the whole query matches), when `$count=true` was asked.
    pub count: Option<u64>,
}

/// A products page, states judged by the integration's `label` (see the adapter's
/// `list_listings`).
///
/// Each listing's price is the value of `price_field` in `currency` (ChannelAdvisor products
/// carry prices without a currency); no price without a currency.
pub fn listings_page(
    body: &[u8],
    label: Option<&str>,
    price_field: PriceField,
    currency: Option<Currency>,
) -> Result<DecodedListings, ChannelError> {
    let page: wire::Page<wire::Product> = page(body)?;
    Ok(DecodedListings {
        listings: page
            .value
            .iter()
            .filter_map(|p| convert::to_listing(p, label, (price_field, currency)))
            .collect(),
        next_link: page.next_link,
        returned: page.value.len(),
        count: page.count,
    })
}

/// The paging link of any OData collection page (`@odata.nextLink`), as sent, read as the
/// adapter reads it; `None` when the body is not such a page or has no next link.
pub fn next_link(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Paged {
        #[serde(rename = "@odata.nextLink", default)]
        next_link: Option<String>,
    }
    serde_json::from_slice::<Paged>(body).ok()?.next_link
}

/// The answer to one request of a `$batch`, as read from the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAnswer {
    /// The `Content-ID` echoed, when there was one.
    pub content_id: Option<String>,
    /// The part's HTTP status.
    pub status: u16,
    /// The part's body.
    pub body: Vec<u8>,
}

/// Reads a `$batch` reply: `multipart/mixed` (parts and change sets) or the JSON form
/// `{"responses":[{"id","status","body"}]}`. Only complete parts are answers: a reply cut off
/// loses the part being cut and every later one. An error when the reply cannot be read at
/// all (no boundary, another content type, JSON that does not parse).
pub fn batch_reply(content_type: &str, body: &[u8]) -> Result<Vec<BatchAnswer>, ChannelError> {
    Ok(read_batch(content_type, body)?
        .into_iter()
        .map(|p| BatchAnswer {
            content_id: p.content_id,
            status: p.status,
            body: p.body,
        })
        .collect())
}

fn read_batch(content_type: &str, body: &[u8]) -> Result<Vec<BatchResponse>, ChannelError> {
    batch::decode_responses(content_type, body)
        .map_err(|e| ChannelError::new(ErrorKind::Channel, e.to_string()))
}

/// The outcome of each of the `requests` requests of a `$batch`, in order, from the reply, as
/// the adapter judges them: `Ok` for a 2xx answer, the answer's classified error otherwise, and
/// a `Transient` error for a request the reply has no answer for (cut off or unreadable).
/// Answers are matched by `Content-ID` (1-based) when every part echoes one, else by position.
/// An error when the reply cannot be read at all.
pub fn batch_results(
    content_type: &str,
    body: &[u8],
    requests: usize,
) -> Result<Vec<Result<(), ChannelError>>, ChannelError> {
    let parts = read_batch(content_type, body)?;
    let by_id = !parts.is_empty() && parts.iter().all(|p| p.content_id.is_some());
    let mut answers: Vec<Option<BatchResponse>> = vec![None; requests];
    for (pos, part) in parts.into_iter().enumerate() {
        let index = if by_id {
            part.content_id
                .as_deref()
                .and_then(|id| id.trim().parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1))
        } else {
            Some(pos)
        };
        if let Some(slot) = index.and_then(|i| answers.get_mut(i)) {
            *slot = Some(part);
        }
    }
    Ok(answers
        .into_iter()
        .map(|answer| match answer {
            Some(p) if (200..300).contains(&p.status) => Ok(()),
            Some(p) => Err(part_error(p.status, &p.body)),
            None => Err(ChannelError::transient(
                "the $batch reply has no answer for this request (cut off or unreadable); it is sent again on the next sync",
            )),
        })
        .collect())
}
