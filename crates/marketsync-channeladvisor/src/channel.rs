//! The adapter value and its [`Channel`] implementation, which hands each operation to the
//! module of its concern (`listings`, `orders`, `auth`).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use marketsync_core::{
    AccountInfo, AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest,
    AuthorizationStart, CancellationRequest, Capabilities, Channel, ChannelError, ChannelKind,
    ChannelOrderId, Credentials, Currency, EndListing, ListingOutcome, ListingPage, ListingQuery,
    ListingUpdate, Operation, OrderPage, OrderQuery, PendingAuthorization, RateLimits,
    RefundRequest, ShipmentRequest,
};

use crate::client::{CONCURRENT_REQUESTS, CaClient, MAX_BATCH, REQUESTS_PER_MINUTE};
use crate::config::ChannelAdvisorConfig;
use crate::listings::LISTINGS_PER_UPDATE;

/// A whole-page decoding error with the response's HTTP status, as the HTTP client's own JSON
/// decoding reports it.
pub(crate) fn with_status(
    e: ChannelError,
    response: &marketsync_http::HttpResponse,
) -> ChannelError {
    marketsync_http::adapter::with_status(e, response.status().as_u16())
}

/// The publish rule: products are created in ChannelAdvisor,
/// never through this integration.
pub const PUBLISH_UNSUPPORTED: &str = "ChannelAdvisor does not support publishing listings through this integration: the product must already exist in ChannelAdvisor and be linked by SKU (run link listings)";

/// The ChannelAdvisor adapter (and OfferUp through it, see
/// [`ChannelAdvisorConfig::offerup_builder`]). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ChannelAdvisorChannel {
    pub(crate) config: Arc<ChannelAdvisorConfig>,
    pub(crate) client: CaClient,
    /// Requests a read of the whole catalogue took when last seen, with and without ended
    /// products (see [`CATALOGUE_MIN_CHUNKS`](crate::CATALOGUE_MIN_CHUNKS)); `u64::MAX` when it cannot be told.
    pub(crate) catalogue_requests: Arc<Mutex<[Option<u64>; 2]>>,
    /// The profile's `CurrencyCode` as `verify` last read it: the currency of listing prices
    /// when none is configured.
    pub(crate) profile_currency: Arc<Mutex<Option<Currency>>>,
}

impl ChannelAdvisorChannel {
    /// An adapter for `config`.
    pub fn new(config: ChannelAdvisorConfig) -> Result<Self, ChannelError> {
        let client = CaClient::new(&config)?;
        Ok(Self {
            config: Arc::new(config),
            client,
            catalogue_requests: Arc::new(Mutex::new([None; 2])),
            profile_currency: Arc::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ChannelAdvisorConfig {
        &self.config
    }

    /// The capabilities for a configuration (see the crate docs for each value and why).
    pub fn capabilities_for(config: &ChannelAdvisorConfig) -> Capabilities {
        Capabilities {
            listings_link: true,
            listings_sync: true,
            listings_publish: false,
            listings_reconcile: config.label.is_some(),
            orders_get: true,
            orders_acknowledge: true,
            // One `$filter` on the ids for up to 20 orders (`fetch_orders_by_id`).
            orders_get_by_id: true,
            orders_ship: true,
            orders_refund: true,
            orders_cancel: true,
            shipping_mappings_required: true,
            fulfillment_required: false,
            login_authorization: config.kind == ChannelKind::ChannelAdvisor,
            orders_carry_currency: true,
            // Each `$batch` part of a product that no longer exists answers 404, which
            // `update_listings` gives that listing as `NotFound`.
            listings_update_reports_missing: true,
            listings_update_max_batch: LISTINGS_PER_UPDATE,
            listings_end_max_batch: MAX_BATCH as u32,
            orders_page_max: 100,
            rate_limits: RateLimits {
                per_minute: Some(REQUESTS_PER_MINUTE),
                per_day: None,
                concurrent: Some(CONCURRENT_REQUESTS),
            },
        }
    }

    /// `e` tagged with this channel and `operation` (unless it names them already).
    pub(crate) fn err(&self, e: ChannelError, operation: &'static str) -> ChannelError {
        marketsync_http::adapter::tag(e, self.config.kind, operation)
    }

    pub(crate) fn profile_clause(&self) -> String {
        format!("ProfileID eq {}", self.config.profile_id)
    }
}

#[async_trait]
impl Channel for ChannelAdvisorChannel {
    fn kind(&self) -> ChannelKind {
        self.config.kind
    }

    fn capabilities(&self) -> Capabilities {
        Self::capabilities_for(&self.config)
    }

    /// Publishing answers [`PUBLISH_UNSUPPORTED`]; every other operation is supported.
    fn unsupported(&self, operation: Operation) -> ChannelError {
        let rule = match operation {
            Operation::PublishListings => Some(PUBLISH_UNSUPPORTED),
            _ => None,
        };
        marketsync_http::adapter::unsupported(self.config.kind, operation, rule)
    }

    /// Installs credentials stored for this integration: [`Credentials::OAuth`] with the
    /// refresh token (and the access token, when one is held and its expiry known). The next
    /// request uses them, and a remembered renewal failure (a revoked refresh token) is
    /// forgotten. On OfferUp, the seller's OfferUp credential changes nothing here.
    ///
    /// The engine calls it whenever credentials are entered or rotated
    /// (`Engine::enter_credentials`, `Engine::rotate_credentials`) and when the adapter is
    /// attached after a restart (`Engine::attach_channel`). So the repair of a revoked refresh
    /// token is: a new refresh token created at ChannelAdvisor, `Engine::enter_credentials` with
    /// it, then `Engine::verify` — the adapter is neither rebuilt nor re-registered. A host that
    /// drives the adapter without the engine calls this method itself.
    ///
    /// Errors: `Invalid` for credentials of another kind, or for another profile than the
    /// configured one.
    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        self.install_credentials(credentials)
    }

    /// `GET /v1/Profiles`: the token must reach the configured profile.
    async fn verify(&self) -> Result<AccountInfo, ChannelError> {
        self.verify_profile().await
    }

    /// `GET /v1/Products` by SKU chunks, or the whole catalogue when that takes fewer requests
    /// (see [`CATALOGUE_MIN_CHUNKS`](crate::CATALOGUE_MIN_CHUNKS)).
    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError> {
        self.read_listings(query).await
    }

    /// One `$batch` per call (quantity and price requests).
    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.send_listing_updates(updates).await
    }

    /// Removes the integration's label from each product, in one `$batch`.
    async fn end_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.remove_labels(listings).await
    }

    /// The orders not yet exported, page by page.
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        self.download_orders(query).await
    }

    /// Up to 20 orders a request, exported or not.
    async fn fetch_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        self.read_orders_by_id(ids, default_currency).await
    }

    /// Sets the order's export flag.
    async fn acknowledge_order(&self, order: &ChannelOrderId) -> Result<(), ChannelError> {
        self.mark_exported(order).await
    }

    /// `POST /v1/Orders(ID)/Ship`.
    async fn ship(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        self.send_shipment(request).await
    }

    /// An order or item adjustment with `RefundOnly`.
    async fn refund(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        self.send_refund(request).await
    }

    /// An order or item adjustment of the quantity.
    async fn cancel(&self, request: &CancellationRequest) -> Result<(), ChannelError> {
        self.send_cancellation(request).await
    }

    /// ChannelAdvisor's login page with PKCE (not on OfferUp).
    async fn begin_authorization(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        self.start_login(request).await
    }

    /// The code exchanged for tokens, installed here.
    async fn complete_authorization(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        self.finish_login(pending, callback).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketsync_http::copy_error as copy;

    #[test]
    fn errors_carry_copies() {
        let e = ChannelError::not_found("x").with_http_status(404);
        assert_eq!(copy(&e).http_status(), Some(404));
    }
}
