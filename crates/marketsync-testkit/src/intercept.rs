//! [`Intercepted`]: a channel that passes every call on to another channel, except the calls a
//! test takes over through [`Intercept`] — to lose an answer after the channel applied the
//! change, hold a download until the test lets it go, count the calls in flight.
//!
//! ```ignore
//! #[derive(Debug)]
//! struct LoseTheAnswer;
//!
//! #[async_trait]
//! impl Intercept for LoseTheAnswer {
//!     async fn update_listings(&self, inner: &dyn Channel, updates: &[ListingUpdate])
//!         -> Result<Vec<ListingOutcome>, ChannelError> {
//!         inner.update_listings(updates).await?;
//!         Err(ChannelError::transient("the connection closed before the answer"))
//!     }
//! }
//!
//! let channel = Intercepted::new(MemoryChannel::new(ChannelKind::Reverb), LoseTheAnswer);
//! ```

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use marketsync_core::{
    AccountInfo, AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest,
    AuthorizationStart, CancellationRequest, Capabilities, Channel, ChannelError, ChannelKind,
    ChannelOrderId, CredentialSink, Credentials, Currency, EndListing, ListingOutcome, ListingPage,
    ListingQuery, ListingUpdate, NewListing, Operation, OrderPage, OrderQuery,
    PendingAuthorization, RefundRequest, ShipmentRequest,
};

/// The calls of an [`Intercepted`] channel a test may take over. Each is called with the inner
/// channel in place of that channel's own method; the defaults pass the call on unchanged.
#[async_trait]
pub trait Intercept: Send + Sync + Debug {
    /// Takes over `Channel::update_listings`.
    async fn update_listings(
        &self,
        inner: &dyn Channel,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        inner.update_listings(updates).await
    }

    /// Takes over `Channel::fetch_orders`.
    async fn fetch_orders(
        &self,
        inner: &dyn Channel,
        query: &OrderQuery,
    ) -> Result<OrderPage, ChannelError> {
        inner.fetch_orders(query).await
    }

    /// Takes over `Channel::ship`.
    async fn ship(
        &self,
        inner: &dyn Channel,
        request: &ShipmentRequest,
    ) -> Result<(), ChannelError> {
        inner.ship(request).await
    }
}

/// A channel that is `inner` in every respect but the calls `intercept` takes over.
#[derive(Debug)]
pub struct Intercepted<I> {
    inner: Arc<dyn Channel>,
    intercept: I,
}

impl<I: Intercept> Intercepted<I> {
    /// `inner` (a `MemoryChannel`, an adapter, …), with `intercept` taking over its calls.
    pub fn new(inner: impl Channel + 'static, intercept: I) -> Self {
        Self {
            inner: Arc::new(inner),
            intercept,
        }
    }
}

#[async_trait]
impl<I: Intercept> Channel for Intercepted<I> {
    fn kind(&self) -> ChannelKind {
        self.inner.kind()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn unsupported(&self, operation: Operation) -> ChannelError {
        self.inner.unsupported(operation)
    }
    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        self.inner.use_credentials(credentials).await
    }
    fn use_credential_sink(&self, sink: Arc<dyn CredentialSink>) {
        self.inner.use_credential_sink(sink);
    }
    async fn verify(&self) -> Result<AccountInfo, ChannelError> {
        self.inner.verify().await
    }
    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError> {
        self.inner.list_listings(query).await
    }
    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.intercept
            .update_listings(self.inner.as_ref(), updates)
            .await
    }
    async fn publish_listings(
        &self,
        listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.inner.publish_listings(listings).await
    }
    async fn end_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        self.inner.end_listings(listings).await
    }
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError> {
        self.intercept
            .fetch_orders(self.inner.as_ref(), query)
            .await
    }
    async fn fetch_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        default_currency: Currency,
    ) -> Result<OrderPage, ChannelError> {
        self.inner.fetch_orders_by_id(ids, default_currency).await
    }
    async fn acknowledge_order(&self, order: &ChannelOrderId) -> Result<(), ChannelError> {
        self.inner.acknowledge_order(order).await
    }
    async fn ship(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        self.intercept.ship(self.inner.as_ref(), request).await
    }
    async fn refund(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        self.inner.refund(request).await
    }
    async fn cancel(&self, request: &CancellationRequest) -> Result<(), ChannelError> {
        self.inner.cancel(request).await
    }
    async fn begin_authorization(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        self.inner.begin_authorization(request).await
    }
    async fn complete_authorization(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        self.inner.complete_authorization(pending, callback).await
    }
}
