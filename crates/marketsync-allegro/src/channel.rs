//! The adapter value and its [`Channel`] implementation, which hands each operation to the
//! module of its concern (`listings`, `orders`, `auth`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use marketsync_core::{
    AccountInfo, AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest,
    AuthorizationStart, Capabilities, Channel, ChannelError, ChannelKind, ChannelOrderId,
    CredentialSink, Credentials, Currency, EndListing, ListingOutcome, ListingPage, ListingQuery,
    ListingUpdate, NewListing, Operation, OrderPage, OrderQuery, PendingAuthorization, RateLimits,
    RefundRequest, ShipmentRequest,
};

use crate::client::AllegroClient;
use crate::config::{AllegroConfig, REQUESTS_PER_MINUTE};
use crate::listings::MAX_OFFERS_PER_COMMAND;
use crate::orders::MAX_ORDERS_PAGE;

/// Allegro's rule for cancellations: there is no seller cancellation in the API.
pub const CANCEL_UNSUPPORTED: &str = "Allegro has no seller cancellation: the buyer (or Allegro) cancels a purchase; the seller can only set the fulfilment status CANCELLED in Sales Center or refund the payment (send a refund instead)";

/// Allegro's rule for order acknowledgement: there is none.
pub const ACKNOWLEDGE_UNSUPPORTED: &str =
    "Allegro has no order acknowledgement; the order journal's cursor is the feed position";

/// The Allegro adapter. Cheap to clone; clones share the token manager, the rate limiter and
/// the commands in flight.
#[derive(Clone, Debug)]
pub struct AllegroChannel {
    pub(crate) config: Arc<AllegroConfig>,
    pub(crate) client: AllegroClient,
    /// Commands sent whose tasks were not all finished when the call returned, by content:
    /// the next call with the same content reuses the id (Allegro answers 409) and reads the
    /// tasks again instead of sending a new command.
    pub(crate) pending: Arc<Mutex<HashMap<u64, String>>>,
}

impl AllegroChannel {
    /// An adapter for `config`.
    pub fn new(config: AllegroConfig) -> Result<Self, ChannelError> {
        let client = AllegroClient::new(&config)?;
        Ok(Self {
            config: Arc::new(config),
            client,
            pending: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AllegroConfig {
        &self.config
    }

    /// When the current refresh token stops working (3 months after it was issued), when known.
    pub fn refresh_expires_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.client.refresh_expires_at()
    }

    /// The capabilities for a configuration (see the crate docs for each value and why).
    pub fn capabilities_for(config: &AllegroConfig) -> Capabilities {
        Capabilities {
            listings_link: true,
            listings_sync: true,
            listings_publish: config.can_publish(),
            listings_reconcile: true,
            orders_get: true,
            orders_acknowledge: false,
            orders_ship: true,
            orders_refund: true,
            orders_cancel: false,
            shipping_mappings_required: false,
            fulfillment_required: false,
            login_authorization: true,
            orders_carry_currency: true,
            // A task for an offer Allegro does not have fails with "The offer does not exist."
            // (`OfferNotFoundException`): `NotFound` for that offer (see `error::task_error`).
            listings_update_reports_missing: true,
            // `GET /order/checkout-forms/{id}`, one request per order (the list has no id
            // filter).
            orders_get_by_id: true,
            listings_update_max_batch: MAX_OFFERS_PER_COMMAND as u32,
            listings_end_max_batch: MAX_OFFERS_PER_COMMAND as u32,
            orders_page_max: MAX_ORDERS_PAGE,
            rate_limits: RateLimits {
                per_minute: Some(REQUESTS_PER_MINUTE),
                per_day: None,
                concurrent: None,
            },
        }
    }

    /// `e` tagged with Allegro and `operation` (unless it names them already).
    pub(crate) fn err(&self, e: ChannelError, operation: &'static str) -> ChannelError {
        marketsync_http::adapter::tag(e, ChannelKind::Allegro, operation)
    }
}

#[async_trait]
impl Channel for AllegroChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Allegro
    }

    fn capabilities(&self) -> Capabilities {
        Self::capabilities_for(&self.config)
    }

    /// Cancelling answers [`CANCEL_UNSUPPORTED`], acknowledging [`ACKNOWLEDGE_UNSUPPORTED`].
    fn unsupported(&self, operation: Operation) -> ChannelError {
        let rule = match operation {
            Operation::Cancel => Some(CANCEL_UNSUPPORTED),
            Operation::AcknowledgeOrder => Some(ACKNOWLEDGE_UNSUPPORTED),
            _ => None,
        };
        marketsync_http::adapter::unsupported(ChannelKind::Allegro, operation, rule)
    }

    /// Installs a [`Credentials::LoginSession`] (access token, its expiry, the refresh token and
    /// the refresh token's expiry) in the token manager, forgetting a remembered renewal
    /// failure: after the seller logs in again the integration works at once.
    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        self.install_session(credentials).await
    }

    /// Every renewal rotates Allegro's refresh token: the new pair is saved through this sink
    /// (the engine's vault) before the new access token is used, so a restart never hands back
    /// a spent refresh token.
    fn use_credential_sink(&self, sink: Arc<dyn CredentialSink>) {
        *self.client.sink.lock().unwrap_or_else(|e| e.into_inner()) = Some(sink);
    }

    /// `GET /me`.
    async fn verify(&self) -> Result<AccountInfo, ChannelError> {
        self.verify_account().await
    }

    /// `GET /sale/offers` by `external.id` or every offer.
    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError> {
        self.read_offers(query).await
    }

    /// Quantity and price change commands (1,000 offers each), their tasks polled.
    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.send_offer_changes(updates).await
    }

    /// `POST /sale/product-offers` from the configured offer template.
    async fn publish_listings(
        &self,
        listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.create_offers(listings).await
    }

    /// Publication command `END`, its tasks polled.
    async fn end_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.end_offers(listings).await
    }

    /// Checkout forms on the first import, the order event journal after.
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        self.download_orders(query).await
    }

    /// `GET /order/checkout-forms/{id}`, one request per order.
    async fn fetch_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        self.read_orders_by_id(ids, default_currency).await
    }

    /// The tracking number, then the fulfilment status.
    async fn ship(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        self.send_shipment(request).await
    }

    /// `POST /payments/refunds` with the idempotency key as `commandId`.
    async fn refund(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        self.send_refund(request).await
    }

    /// The device flow or the authorization code with PKCE.
    async fn begin_authorization(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        self.start_login(request).await
    }

    /// One device-flow poll, or the code exchanged; the tokens installed here.
    async fn complete_authorization(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        self.finish_login(pending, callback).await
    }
}
