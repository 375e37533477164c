//! [`ReverbChannel`]: the adapter's struct, its capabilities, and the [`Channel`] impl, which
//! delegates to `listings`, `orders` and `auth`.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use marketsync_core::{
    AccountInfo, CancellationRequest, Capabilities, Channel, ChannelError, ChannelKind,
    ChannelListingId, ChannelOrderId, Credentials, Currency, EndListing, ErrorKind, ListingOutcome,
    ListingPage, ListingQuery, ListingUpdate, NewListing, Operation, OrderPage, OrderQuery,
    RateLimits, RefundRequest, ShipmentRequest, Sku,
};

use crate::client::ReverbClient;
use crate::config::{MAX_PAGE_SIZE, ReverbConfig};

/// Why `acknowledge_order` is unsupported.
pub const ACKNOWLEDGE_UNSUPPORTED: &str = "Reverb has no flag to mark an order as taken: the adapter's order cursor (an updated-since watermark) is the position in Reverb's order feed";

/// Why the login-type authorization flow is unsupported.
pub const AUTHORIZATION_UNSUPPORTED: &str = "Reverb connects with a personal access token (Reverb > Settings > API & Integrations): to reauthorise, enter the new token with Engine::rotate_credentials (the engine hands it to the adapter) and verify";

/// Why a cancellation of some lines is unsupported.
pub const PARTIAL_CANCEL_UNSUPPORTED: &str = "Reverb has no cancel endpoint: an order (one listing) is cancelled as a whole, by a full refund; refund part of it instead";

/// What the adapter supports (see the crate docs for each value and why).
pub fn capabilities() -> Capabilities {
    Capabilities {
        listings_link: true,
        listings_sync: true,
        listings_publish: true,
        listings_reconcile: true,
        orders_get: true,
        orders_acknowledge: false,
        orders_ship: true,
        orders_refund: true,
        orders_cancel: true,
        shipping_mappings_required: false,
        fulfillment_required: false,
        login_authorization: false,
        orders_carry_currency: true,
        // An update of a listing Reverb no longer has is answered 404: that listing's outcome
        // is `NotFound` (tests/channel.rs). An update of an *ended* listing is not refused (the
        // sandbox answers 200 and the listing stays ended; Reverb documents nothing), so an
        // ended listing is found by the read-back of a later run in which it is not sent.
        listings_update_reports_missing: true,
        // `GET /api/my/orders/selling/{order_number}`: one request per order.
        orders_get_by_id: true,
        // Reverb has no batch endpoint: one request per listing.
        listings_update_max_batch: 1,
        listings_end_max_batch: 1,
        orders_page_max: MAX_PAGE_SIZE,
        // Reverb publishes no rate limit (it answers 429 when exceeded).
        rate_limits: RateLimits::default(),
    }
}

/// The Reverb adapter. Cheap to clone; clones share the token, the rate limiter and the
/// connection pool.
#[derive(Clone, Debug)]
pub struct ReverbChannel {
    pub(crate) config: Arc<ReverbConfig>,
    pub(crate) client: Arc<ReverbClient>,
}

/// Errors that concern the whole account, not one listing: returned for the whole call.
fn whole_call(e: &ChannelError) -> bool {
    matches!(e.kind(), ErrorKind::Auth | ErrorKind::RateLimited)
}

impl ReverbChannel {
    /// An adapter for `config`, once [checked](ReverbConfig::checked): a config read from a
    /// file is refused here with an `Invalid` error naming the field that is wrong
    /// ([`ChannelError::field`]).
    pub fn new(config: ReverbConfig) -> Result<Self, ChannelError> {
        let config = Arc::new(config.checked()?);
        let client = ReverbClient::new(config.clone())?;
        Ok(Self {
            config,
            client: Arc::new(client),
        })
    }

    /// The configuration (its token is the one the adapter was built with; see
    /// [`Channel::use_credentials`]).
    pub fn config(&self) -> &ReverbConfig {
        &self.config
    }

    /// `e` with this channel and `operation` as its context, unless it names them already.
    pub(crate) fn err(&self, e: ChannelError, operation: &'static str) -> ChannelError {
        marketsync_http::adapter::tag(e, ChannelKind::Reverb, operation)
    }

    /// One call per listing, in order (Reverb has no batch endpoint). An error that concerns the
    /// account fails the whole call; any other is that listing's outcome. The outcome's listing
    /// id is `listing_id`, else the one the call answered.
    pub(crate) async fn one_by_one<'a, T, F>(
        &self,
        items: &'a [T],
        operation: &'static str,
        key: impl Fn(&'a T) -> (Option<ChannelListingId>, Option<Sku>),
        call: impl Fn(&'a T) -> F,
    ) -> Result<Vec<ListingOutcome>, ChannelError>
    where
        F: Future<Output = Result<ChannelListingId, ChannelError>>,
    {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let (listing_id, sku) = key(item);
            let result = match call(item).await {
                Err(e) if whole_call(&e) => return Err(self.err(e, operation)),
                r => r.map_err(|e| self.err(e, operation)),
            };
            out.push(ListingOutcome {
                listing_id: listing_id.or_else(|| result.as_ref().ok().cloned()),
                sku,
                result,
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl Channel for ReverbChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Reverb
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    /// Reverb's rules: [`ACKNOWLEDGE_UNSUPPORTED`], [`AUTHORIZATION_UNSUPPORTED`].
    fn unsupported(&self, operation: Operation) -> ChannelError {
        let rule = match operation {
            Operation::AcknowledgeOrder => Some(ACKNOWLEDGE_UNSUPPORTED),
            Operation::Authorize => Some(AUTHORIZATION_UNSUPPORTED),
            _ => None,
        };
        marketsync_http::adapter::unsupported(ChannelKind::Reverb, operation, rule)
    }

    /// Replaces the personal access token ([`Credentials::ApiToken`]) for every later request,
    /// in this adapter and all its clones. The engine calls this when credentials are entered
    /// or rotated: to reauthorise, the seller makes a new token at Reverb
    /// (`reverb.com/my/api_settings`), the host enters it with `Engine::rotate_credentials`
    /// (the engine hands it to this adapter, then seals it; the integration is Unverified from
    /// then on) and calls `Engine::verify`. A host that uses the adapter without the engine
    /// calls this method itself.
    ///
    /// Errors: `Invalid` for credentials of another kind or an empty token.
    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        self.use_token(credentials)
    }

    /// `GET /api/shop`: the token's own shop (needs the `read_profile` scope). A refused token
    /// is an `Auth` error carrying Reverb's message.
    async fn verify(&self) -> Result<AccountInfo, ChannelError> {
        self.read_shop().await
    }

    /// Every listing of the shop: `GET /api/my/listings?state=all&per_page=..`, following
    /// `_links.next`.
    ///
    /// With SKUs, only the listings whose SKU is exactly one of them (whether Reverb's `sku`
    /// filter matches exactly is unconfirmed), read the cheaper of two ways:
    ///
    /// - one SKU: `GET /api/my/listings?state=all&sku=<sku>&per_page=..`;
    /// - more: the first page of the whole shop (`state=all&per_page=100`). Reverb's
    ///   `total_pages` then tells what reading the rest costs; when the pages left are fewer
    ///   than the SKUs, the shop is read to the end and the SKUs asked for are kept (10,000
    ///   SKUs of a 10,000-listing shop: 100 requests, not 10,000). A SKU not seen in a read of
    ///   more than one page is then looked up on its own, so that a listing that moved between
    ///   pages while they were read is not taken for a deleted one. Otherwise (a shop much
    ///   larger than the SKUs asked for, or of unknown size) that first page is dropped and the
    ///   SKUs are looked up one by one.
    ///
    /// Ended listings are left out unless asked for.
    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError> {
        self.read_listings(query).await
    }

    /// One `PUT /api/listings/{id}` per listing with `inventory` and
    /// `price: {amount, currency}` (and `title` when configured). 404 → `NotFound` (the listing
    /// is gone: a broken link), 412/422 → `Invalid` with the field, per listing. An `Auth` or
    /// `RateLimited` error concerns the account and fails the whole call.
    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.one_by_one(
            updates,
            "update_listings",
            |u| (Some(u.listing_id.clone()), Some(u.sku.clone())),
            |u| self.update_one(u),
        )
        .await
    }

    /// One `POST /api/listings` per listing with `sku`, `title`, `price`, `inventory`,
    /// `has_inventory`, the configured `shipping_profile_id` and `publish` (a draft unless the
    /// engine asks to publish). The new listing's id is the outcome. Sent once: a create is
    /// not repeated after a lost answer (a duplicate listing is worse than a failure that the
    /// next link run clears up by SKU).
    async fn publish_listings(
        &self,
        listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.one_by_one(
            listings,
            "publish_listings",
            |n| (None, Some(n.sku.clone())),
            |n| self.publish_one(n),
        )
        .await
    }

    /// One `PUT /api/my/listings/{id}/state/end` with `{"reason": "not_sold"}` per listing. A
    /// 404 means the listing is gone already: done.
    async fn end_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.one_by_one(
            listings,
            "end_listings",
            |l| (Some(l.listing_id.clone()), l.sku.clone()),
            |l| self.end_one(l),
        )
        .await
    }

    /// `GET /api/my/orders/selling/all` with `updated_start_date` = the cursor minus the
    /// overlap, `created_start_date` = the engine's window, and `per_page`, then
    /// `_links.next.href` until Reverb sends none. The cursor is the highest `updated_at`
    /// returned (never lower than the previous one), given only with the last page, so it is
    /// stored only once every page is recorded. It never passes an order that could not be
    /// read: it stops at the oldest `updated_at` of the download's rejected orders, or stays
    /// where it was when a rejected order has no readable time, so the next run downloads the
    /// order again.
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        self.download_orders(query).await
    }

    /// `GET /api/my/orders/selling/{order_number}`, one request per order (Reverb has no read
    /// of several orders by number). An order Reverb does not know (404) is left out; one it
    /// sends but that cannot be read is rejected with its number. Any other failure fails the
    /// call. A number that cannot be a Reverb order number is one Reverb does not know.
    async fn fetch_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        self.reread_orders(ids, default_currency).await
    }

    /// `POST /api/my/orders/selling/{order_number}/ship` with `provider` (Reverb's name for the
    /// carrier, `Other` when Reverb does not know it), `tracking_number` (required) and
    /// `send_notification`; for a pickup ([`Delivery::PickedUp`](marketsync_core::Delivery)),
    /// `POST …/mark_picked_up` with the pickup `date`. A Reverb order is one listing, so a
    /// shipment always covers the whole order and its lines are not sent.
    async fn ship(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        self.ship_order(request).await
    }

    /// A seller-initiated refund: `POST /api/my/orders/selling/{order_number}/refund_requests`
    /// with `{"state": "approved", "reason": .., "refund_amount": {amount, currency}}` (body from
    /// a third-party summary of Reverb's docs: only these fields are sent). The amount is the
    /// refund's, else the sum of its line amounts, else (a full refund) the order's `total`
    /// read first with `GET /api/my/orders/selling/{order_number}` — an order already refunded
    /// or cancelled is then left alone. `restock` and `note` are not sent: Reverb keeps its
    /// own inventory, and no note field is known.
    async fn refund(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        self.refund_order(request).await
    }

    /// Reverb has no cancel endpoint; an order is cancelled by a full refund: the order is read
    /// (`GET /api/my/orders/selling/{order_number}`) and, unless already refunded or cancelled,
    /// its `total` refunded as in [`refund`](Channel::refund). Cancelling some lines is
    /// `Unsupported` ([`PARTIAL_CANCEL_UNSUPPORTED`]).
    async fn cancel(&self, request: &CancellationRequest) -> Result<(), ChannelError> {
        self.cancel_order(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_values() {
        let c = capabilities();
        assert!(c.listings_publish && c.listings_reconcile && c.orders_cancel);
        assert!(!c.orders_acknowledge && !c.shipping_mappings_required);
        assert_eq!(c.update_batch(), 1);
        assert_eq!(c.orders_page_max, 100);
        assert!(c.listings_update_reports_missing);
        assert_eq!(c.rate_limits, RateLimits::default());
    }
}
