//! [`TraderaChannel`]: the adapter's struct, its capabilities, and the [`Channel`] impl, which
//! delegates to `listings`, `orders` and `auth`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use marketsync_core::{
    AccountInfo, AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest,
    AuthorizationStart, Capabilities, Channel, ChannelError, ChannelKind, ChannelOrderId,
    Credentials, Currency, EndListing, ListingOutcome, ListingPage, ListingQuery, ListingUpdate,
    NewListing, Operation, OrderPage, OrderQuery, PendingAuthorization, RateLimits,
    ShipmentRequest,
};

use crate::client::TraderaClient;
use crate::config::{END_BATCH, MAX_BATCH, TraderaConfig};

/// Why `acknowledge_order` is unsupported.
pub const ACKNOWLEDGE_UNSUPPORTED: &str = "Tradera has no flag to mark an order as taken: the adapter's order cursor (a last-updated watermark) is the position in Tradera's orders";

/// Why refunds are unsupported.
pub const REFUND_UNSUPPORTED: &str = "Tradera's REST API v4 has no refund call (refunds are made in TraderaPay or by the seller directly)";

/// Why cancellations are unsupported.
pub const CANCEL_UNSUPPORTED: &str = "Tradera's REST API v4 has no order cancellation call";

/// What the adapter supports with a daily budget of `daily_budget` calls (see the crate docs
/// for each value and why).
pub fn capabilities(daily_budget: u32) -> Capabilities {
    Capabilities {
        listings_link: true,
        listings_sync: true,
        listings_publish: true,
        listings_reconcile: true,
        orders_get: true,
        orders_acknowledge: false,
        // `GET /v4/orders/{orderIds}`: up to 50 orders a call, each call one of the day's.
        orders_get_by_id: true,
        orders_ship: true,
        orders_refund: false,
        orders_cancel: false,
        shipping_mappings_required: false,
        fulfillment_required: false,
        login_authorization: true,
        // Tradera's money is SEK by definition.
        orders_carry_currency: true,
        // The batch calls' validation errors name an item Tradera does not have ("… was not
        // found"): `NotFound` for that listing (see `refused`).
        listings_update_reports_missing: true,
        listings_update_max_batch: MAX_BATCH,
        listings_end_max_batch: END_BATCH,
        // No paging: a date window comes back in one answer.
        orders_page_max: u32::MAX,
        rate_limits: RateLimits {
            per_day: Some(daily_budget),
            ..RateLimits::default()
        },
    }
}

/// The Tradera adapter. Cheap to clone; clones share the session, the daily budget and the
/// connection pool.
#[derive(Clone, Debug)]
pub struct TraderaChannel {
    pub(crate) config: Arc<TraderaConfig>,
    pub(crate) client: Arc<TraderaClient>,
    /// The auctions and fixed-price items seen in listing reads (their ids), to end each item
    /// with the right call; every other item is a shop item.
    pub(crate) non_shop_items: Arc<Mutex<HashSet<i64>>>,
}

impl TraderaChannel {
    /// An adapter for `config`, once [checked](TraderaConfig::checked): a config read from a
    /// file is refused here with an `Invalid` error naming the field that is wrong
    /// ([`ChannelError::field`]).
    pub fn new(config: TraderaConfig) -> Result<Self, ChannelError> {
        let config = Arc::new(config.checked()?);
        let client = TraderaClient::new(config.clone())?;
        Ok(Self {
            config,
            client: Arc::new(client),
            non_shop_items: Arc::default(),
        })
    }

    /// The configuration (its session is the one the adapter was built with, if any).
    pub fn config(&self) -> &TraderaConfig {
        &self.config
    }

    /// `e` with this channel and `operation` as its context, unless it names them already.
    pub(crate) fn err(&self, e: ChannelError, operation: &'static str) -> ChannelError {
        marketsync_http::adapter::tag(e, ChannelKind::Tradera, operation)
    }
}

#[async_trait]
impl Channel for TraderaChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Tradera
    }

    fn capabilities(&self) -> Capabilities {
        capabilities(self.config.daily_budget)
    }

    /// Tradera's rules: [`ACKNOWLEDGE_UNSUPPORTED`], [`REFUND_UNSUPPORTED`],
    /// [`CANCEL_UNSUPPORTED`].
    fn unsupported(&self, operation: Operation) -> ChannelError {
        let rule = match operation {
            Operation::AcknowledgeOrder => Some(ACKNOWLEDGE_UNSUPPORTED),
            Operation::Refund => Some(REFUND_UNSUPPORTED),
            Operation::Cancel => Some(CANCEL_UNSUPPORTED),
            _ => None,
        };
        marketsync_http::adapter::unsupported(ChannelKind::Tradera, operation, rule)
    }

    /// Uses a login session ([`Credentials::LoginSession`] with the seller's Tradera user id)
    /// for every later call, in this adapter and all its clones. The engine calls this
    /// when credentials are entered, after a login, and when the
    /// channel is attached after a restart.
    ///
    /// Errors: `Invalid` for credentials of another kind, a missing or non-numeric user id, or
    /// an empty token.
    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        self.use_session(credentials)
    }

    /// `GET /v4/users/me`: the seller's user id, alias and currency; the session's hard expiry
    /// is `credentials_expire_at`. One call of the budget.
    async fn verify(&self) -> Result<AccountInfo, ChannelError> {
        self.read_user().await
    }

    /// One `GET /v4/listings/seller-items` (no query: every item) for the whole read, whatever
    /// the SKUs asked for — Tradera has no filter by own reference, and one call is all the
    /// budget allows. Items are matched by own reference (`ownReferences`, exactly); ended ones
    /// are left out unless asked for. One page. The answer (every item of the seller: it has no
    /// paging) is read as a stream (`decode::seller_items`): only the listings asked for are
    /// kept, and the body is dropped as soon as it is read.
    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError> {
        self.read_listings(query).await
    }

    /// At most two batch calls for the whole batch: `PUT /v4/listings/shop-items/quantities`
    /// with `{"shopItems": [{"id", "quantity"}]}` — the quantity is the **absolute** stock (the
    /// request type has no delta field; `ShopItemData.quantity`, a delta, is never used) — and
    /// `PUT /v4/listings/shop-items/prices` with whole SEK prices, which Tradera queues; their
    /// results are polled with one `GET /v4/listings/request-results` when configured. Tradera's
    /// `validationErrors` and failed queued results are `Invalid` for their listing only; a
    /// price that is not whole SEK is `Invalid` before any call. Titles are not synced.
    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.send_updates(updates).await
    }

    /// One `POST /v4/listings/shop-items` per listing with `title`, `ownReferences: [sku]`,
    /// `price` (whole SEK), `absoluteQuantity` (never the delta `quantity`) and the configured
    /// `categoryId`. Tradera queues the creation and answers the new item's id; the results are
    /// polled once for the batch when configured. Tradera has no drafts: a shop item is live.
    /// Sent once: a creation is not repeated after a lost answer (a duplicate listing is worse
    /// than a failure the next link run clears up by own reference).
    async fn publish_listings(
        &self,
        listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.create_listings(listings).await
    }

    /// One call per listing: `DELETE /v4/listings/items/{id}` for an auction or fixed-price item
    /// (item type 1 or 3, as seen in a listing read), else
    /// `DELETE /v4/listings/shop-items/{id}` (queued; results polled once for the batch when
    /// configured). Where the removal of an item not seen in a listing read answers 404, the
    /// item is read (`GET /v4/listings/items/{id}`): an auction or fixed-price item is ended
    /// with its own route, a missing one is gone. What counts as gone already (done, not an
    /// error) is `gone_already`.
    async fn end_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.remove_listings(listings).await
    }

    /// One `GET /v4/orders?fromDate=..&toDate=..&queryDateMode=..` per date window (one window
    /// per download unless [`TraderaConfigBuilder::order_window`](crate::TraderaConfigBuilder::order_window) limits it). The first run
    /// (no cursor) asks by creation date (`queryDateMode=0`) from the engine's created-since
    /// time; later runs ask by last-updated date (`queryDateMode=1`, mapping assumed) from the
    /// cursor minus the overlap, to now. The cursor — the highest `lastUpdatedDate` seen, never
    /// lower than the previous one — is returned only with the last window. It never passes an
    /// order that could not be read: it stops at the oldest `lastUpdatedDate` of the
    /// download's rejected orders, or stays where it was when a rejected order has no readable
    /// time, so the next run downloads the order again.
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        self.download_orders(query).await
    }

    /// `GET /v4/orders/{orderIds}` (comma-separated), [`ORDERS_BY_ID_BATCH`](crate::ORDERS_BY_ID_BATCH) orders a call,
    /// each call one of the day's budget. Tradera leaves an order it does not know out of the
    /// answer, and so does this read. Should Tradera answer 404 for several orders, the orders
    /// are asked again in two halves until the unknown ones are alone (each half one more
    /// call). An order of the answer that cannot be read is rejected with its id; when its id
    /// cannot be read either, every asked order missing from the answer is rejected (one of
    /// them is that order). An id that cannot be a Tradera order (not a positive number) is
    /// not sent. A refused token, a rate limit or an answer that is not a list of orders fails
    /// the call. Tradera's money is SEK: `default_currency` is not used.
    async fn fetch_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        _default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        self.reread_orders(ids).await
    }

    /// `POST /v4/orders/{orderId}/ship` without a body: Tradera's call takes only the order id,
    /// so the carrier, tracking number and lines are not sent (the whole order is marked
    /// shipped). Marking an order shipped twice changes nothing, so a temporary failure is
    /// retried.
    async fn ship(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        self.ship_order(request).await
    }

    /// The token-login URL (`<login_url>?appId=..&pkey=..&skey=..`) with a freshly generated
    /// secret key (a UUID, 36 characters), kept as the pending secret. No call is made. Where
    /// Tradera sends the seller afterwards is the application's Accept URL, set at Tradera, so
    /// `redirect_uri` is not used.
    async fn begin_authorization(
        &self,
        _request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        self.start_login()
    }

    /// `POST /v4/auth/token` with `{"userId", "secretKey"}` (application headers only): the
    /// user id from the callback's `userId` (Tradera appends it to the Accept URL), else the
    /// current session's; the secret key from the pending flow. The answer's `authToken` and
    /// `hardExpirationTime` become a [`Credentials::LoginSession`] with that hard expiry and
    /// no refresh token — the engine warns before it and the seller logs in again.
    async fn complete_authorization(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        self.fetch_token(pending, callback).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_values() {
        let c = capabilities(100);
        assert!(c.login_authorization && c.listings_publish && c.listings_reconcile);
        assert!(!c.orders_refund && !c.orders_cancel && !c.orders_acknowledge);
        assert_eq!(c.rate_limits.per_day, Some(100));
        assert_eq!(capabilities(5000).rate_limits.per_day, Some(5000));
        assert_eq!(c.update_batch(), MAX_BATCH as usize);
    }
}
