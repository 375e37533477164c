//! What a channel can do: which operations are supported, not supported or required, plus the
//! channel's batch sizes and rate limits.

use serde::{Deserialize, Serialize};

/// The rate limits a channel enforces, as documented by the marketplace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    /// Requests allowed per minute for one account, when limited.
    pub per_minute: Option<u32>,
    /// Requests allowed per 24 hours for one account, when limited (Tradera: 100 by default).
    pub per_day: Option<u32>,
    /// Requests allowed in flight at once, when limited (ChannelAdvisor: 5).
    pub concurrent: Option<u32>,
}

/// What a channel supports. One `Copy` value; a new flag starts out unsupported everywhere
/// because adapters build it with `..Capabilities::default()`.
///
/// Naming: `<area>_<operation>` for operations, `<area>_<operation>_max_batch` for limits. The
/// engine checks these before calling a channel and answers
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Match existing channel listings to inventory items by SKU.
    pub listings_link: bool,
    /// Send price, quantity and other changes for linked listings.
    pub listings_sync: bool,
    /// Create a channel listing for an item that has none.
    pub listings_publish: bool,
    /// End or delist channel listings that are not on the integration's label.
    pub listings_reconcile: bool,
    /// Download orders.
    pub orders_get: bool,
    /// Tell the channel an order has been taken (ChannelAdvisor's export flag). Channels that
    /// track nothing of the kind leave it off and the engine relies on its cursor alone.
    pub orders_acknowledge: bool,
    /// Send shipments (tracking number, carrier, method).
    pub orders_ship: bool,
    /// Send refunds.
    pub orders_refund: bool,
    /// Send cancellations.
    pub orders_cancel: bool,
    /// Orders cannot be imported until at least one shipping mapping exists
    /// (ChannelAdvisor); an unmapped shipping text holds the order.
    pub shipping_mappings_required: bool,
    /// Orders of this channel must be fulfilled through the integration: the fulfilments switch
    /// cannot be turned off.
    pub fulfillment_required: bool,
    /// The channel's credential is login-type (the seller logs in at the channel's own page):
    /// repair is deactivate → reactivate, which starts the login again.
    pub login_authorization: bool,
    /// The channel's orders always carry a currency; when false the integration's default
    /// currency is used.
    pub orders_carry_currency: bool,
    /// A listing update reports, per listing, a listing the channel no longer has as
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound). The sync then needs no read-back of
    /// the listings it sends to find broken links (the write finds them); it reads back only the
    /// linked listings it leaves alone. Off, every sync reads back every linked listing first.
    /// The price of on: a listing ended at the channel (not deleted) that is sent anyway is
    /// reported as the channel answers the write (Reverb, for one, accepts it), and found ended
    /// at the first sync that does not send it.
    #[serde(default)]
    pub listings_update_reports_missing: bool,
    /// Orders can be read again by id ([`Channel::fetch_orders_by_id`](crate::Channel)), in
    /// their latest state. The engine re-reads a held order this way before it imports it (so a
    /// buyer's cancellation since the first download is seen), and retries an unreadable order
    /// by id until it reads. Off, it relies on the channel's order cursor showing changed orders
    /// again.
    #[serde(default)]
    pub orders_get_by_id: bool,
    /// Most listing updates one call can carry (0 = one per call).
    pub listings_update_max_batch: u32,
    /// Most listings one end/delist call can carry (0 = one per call).
    pub listings_end_max_batch: u32,
    /// Most orders one page of a download can carry.
    pub orders_page_max: u32,
    /// The channel's rate limits.
    pub rate_limits: RateLimits,
}

impl Capabilities {
    /// Everything supported, with generous limits: the shape of a fully capable channel, used by
    /// `MemoryChannel` and tests. Restrict it with struct update syntax.
    pub fn all() -> Self {
        Self {
            listings_link: true,
            listings_sync: true,
            listings_publish: true,
            listings_reconcile: true,
            orders_get: true,
            orders_acknowledge: true,
            orders_ship: true,
            orders_refund: true,
            orders_cancel: true,
            shipping_mappings_required: false,
            fulfillment_required: false,
            login_authorization: false,
            orders_carry_currency: true,
            listings_update_reports_missing: false,
            orders_get_by_id: true,
            listings_update_max_batch: 100,
            listings_end_max_batch: 100,
            orders_page_max: 100,
            rate_limits: RateLimits::default(),
        }
    }

    /// Whether `op` is supported.
    pub fn supports(&self, op: Operation) -> bool {
        match op {
            Operation::Verify => true,
            Operation::ListListings => self.listings_link || self.listings_sync,
            Operation::UpdateListings => self.listings_sync,
            Operation::PublishListings => self.listings_publish,
            Operation::EndListings => self.listings_reconcile,
            Operation::FetchOrders => self.orders_get,
            Operation::FetchOrdersById => self.orders_get && self.orders_get_by_id,
            Operation::AcknowledgeOrder => self.orders_acknowledge,
            Operation::Ship => self.orders_ship,
            Operation::Refund => self.orders_refund,
            Operation::Cancel => self.orders_cancel,
            Operation::Authorize => self.login_authorization,
        }
    }

    /// The batch size to use for listing updates (at least 1).
    pub fn update_batch(&self) -> usize {
        self.listings_update_max_batch.max(1) as usize
    }

    /// The batch size to use for ending listings (at least 1).
    pub fn end_batch(&self) -> usize {
        self.listings_end_max_batch.max(1) as usize
    }
}

/// The operations of the [`Channel`](crate::Channel) trait, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// `verify`.
    Verify,
    /// `list_listings`.
    ListListings,
    /// `update_listings`.
    UpdateListings,
    /// `publish_listings`.
    PublishListings,
    /// `end_listings`.
    EndListings,
    /// `fetch_orders`.
    FetchOrders,
    /// `fetch_orders_by_id`.
    FetchOrdersById,
    /// `acknowledge_order`.
    AcknowledgeOrder,
    /// `ship`.
    Ship,
    /// `refund`.
    Refund,
    /// `cancel`.
    Cancel,
    /// `begin_authorization` / `complete_authorization`.
    Authorize,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 12] = [
        Operation::Verify,
        Operation::ListListings,
        Operation::UpdateListings,
        Operation::PublishListings,
        Operation::EndListings,
        Operation::FetchOrders,
        Operation::FetchOrdersById,
        Operation::AcknowledgeOrder,
        Operation::Ship,
        Operation::Refund,
        Operation::Cancel,
        Operation::Authorize,
    ];

    /// The method name, as used in errors and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Operation::Verify => "verify",
            Operation::ListListings => "list_listings",
            Operation::UpdateListings => "update_listings",
            Operation::PublishListings => "publish_listings",
            Operation::EndListings => "end_listings",
            Operation::FetchOrders => "fetch_orders",
            Operation::FetchOrdersById => "fetch_orders_by_id",
            Operation::AcknowledgeOrder => "acknowledge_order",
            Operation::Ship => "ship",
            Operation::Refund => "refund",
            Operation::Cancel => "cancel",
            Operation::Authorize => "authorize",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
