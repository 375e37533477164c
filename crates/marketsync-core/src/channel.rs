//! The [`Channel`] trait: what every marketplace adapter implements.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::capability::{Capabilities, Operation};
use crate::credentials::{
    AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest, AuthorizationStart,
    Credentials, PendingAuthorization,
};
use crate::error::ChannelError;
use crate::ids::{ChannelKind, ChannelOrderId, Sku};
use crate::listing::{ChannelListing, EndListing, ListingOutcome, ListingUpdate, NewListing};
use crate::money::Currency;
use crate::order::{CancellationRequest, Order, OrderState, RefundRequest, ShipmentRequest};

/// What [`Channel::verify`] learns about the account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// The channel's id of the account (profile id, shop id, user id).
    pub account_id: String,
    /// The account's display name.
    pub name: Option<String>,
    /// The account's currency, where the channel has one.
    pub currency: Option<Currency>,
    /// When the credentials used stop working, where the channel says.
    pub credentials_expire_at: Option<DateTime<Utc>>,
}

/// An opaque position inside one listing or order download (a next link, an offset). Valid only
/// for the download that produced it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PageToken(pub String);

/// An opaque, durable position in a channel's order feed (a last-seen event id, a timestamp
/// watermark). The engine stores it in the same transaction as the orders it covers and hands it
/// back on the next run.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

/// Which channel listings to read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingQuery {
    /// Only these SKUs (empty = every listing).
    pub skus: Vec<Sku>,
    /// Include ended listings.
    pub include_ended: bool,
    /// Continue a download.
    pub page: Option<PageToken>,
    /// Preferred page size; the adapter caps it at the channel's maximum.
    pub page_size: Option<u32>,
}

/// One page of channel listings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingPage {
    /// The listings.
    pub listings: Vec<ChannelListing>,
    /// The next page, when there is one.
    pub next_page: Option<PageToken>,
}

/// Which orders to download.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderQuery {
    /// Where the previous run stopped (`None` on the first run).
    pub cursor: Option<Cursor>,
    /// Only orders created at or after this time, where the channel can filter by it.
    pub created_since: Option<DateTime<Utc>>,
    /// States the engine imports. A hint: an adapter may filter by them on the channel's side,
    /// and the engine still checks every order it receives.
    pub states: Vec<OrderState>,
    /// The currency to use for orders that carry none (the integration's default).
    pub default_currency: Currency,
    /// Continue a download.
    pub page: Option<PageToken>,
    /// Preferred page size; the adapter caps it at the channel's maximum.
    pub page_size: Option<u32>,
}

/// An order the channel sent that could not be read. It is reported, never silently dropped, and
/// does not stop the other orders of the page.
#[derive(Debug)]
pub struct RejectedOrder {
    /// The order's id, when it could be read.
    pub channel_order_id: Option<ChannelOrderId>,
    /// What was wrong.
    pub error: ChannelError,
}

/// One page of downloaded orders.
#[derive(Debug, Default)]
pub struct OrderPage {
    /// Orders read successfully.
    pub orders: Vec<Order>,
    /// Orders that could not be read.
    pub rejected: Vec<RejectedOrder>,
    /// The next page of this download, when there is one.
    pub next_page: Option<PageToken>,
    /// The cursor that is safe to store once this page's orders (and every earlier page's) are
    /// recorded. `None` means: keep the previous cursor.
    pub cursor: Option<Cursor>,
}

/// Where a channel saves credentials it renewed on its own, so that they outlive the process.
///
/// Login-type credentials can change without the seller: Allegro's refresh tokens are single-use
/// and every renewal rotates them. The engine gives each channel a sink
/// ([`Channel::use_credential_sink`]) that seals the renewed credentials into the store, so a
/// restart hands the channel the live refresh token rather than a spent one.
///
/// A channel saves before it uses what it renewed: when [`save`](Self::save) fails, the renewed
/// credentials must not be used yet (the channel keeps them and tries to save again).
///
/// # Several workers
///
/// When several processes run the same integration over one store, a single-use refresh token
/// must be spent by one of them only. A channel that renews credentials of that kind therefore
/// brackets each renewal:
///
/// 1. [`begin_renewal`](Self::begin_renewal): waits until this worker may renew, and answers
///    either [`Renewal::Renew`] or [`Renewal::UseStored`] with the credentials now stored
///    (another worker may have renewed them meanwhile: the channel adopts them instead of
///    renewing when they differ from its own);
/// 2. [`extend_renewal`](Self::extend_renewal) right before the renewal at the channel: when
///    it answers `false` (or fails) this worker no longer holds the renewal, and must not renew;
/// 3. the renewal at the channel, if still needed;
/// 4. [`save_renewed`](Self::save_renewed): stores the result unless someone else stored other
///    credentials since step 1 ([`SavedRenewal::Superseded`]: use those instead);
/// 5. [`end_renewal`](Self::end_renewal), once, whatever happened after a successful step 1 —
///    except while renewed credentials are not saved yet: the renewal stays held (call
///    [`extend_renewal`](Self::extend_renewal) before each new try of
///    [`save_renewed`](Self::save_renewed)) until they are saved or superseded, because the
///    credentials stored still hold the refresh token the channel has spent.
///
/// The default bodies are right for a single process: renew at once, save with
/// [`save`](Self::save), nothing to release. The engine's sink implements them over the store
/// (a store-held renewal lease and a compare-and-swap on the credentials' version).
#[async_trait]
pub trait CredentialSink: Send + Sync + Debug {
    /// Persists the channel's current credentials.
    async fn save(&self, credentials: &Credentials) -> Result<(), ChannelError>;

    /// Called before renewing: returns when this worker may renew (it holds the renewal until
    /// [`end_renewal`](Self::end_renewal)). An error means: do not renew now (nothing was
    /// taken, so do not call `end_renewal`). The default renews at once.
    async fn begin_renewal(&self) -> Result<Renewal, ChannelError> {
        Ok(Renewal::Renew)
    }

    /// Persists credentials just renewed, within a renewal begun with
    /// [`begin_renewal`](Self::begin_renewal). Answers [`SavedRenewal::Superseded`] (nothing
    /// written) when other credentials were stored since the renewal began; the channel then
    /// uses those. The default saves with [`save`](Self::save).
    async fn save_renewed(&self, credentials: &Credentials) -> Result<SavedRenewal, ChannelError> {
        self.save(credentials).await.map(|()| SavedRenewal::Saved)
    }

    /// Extends the renewal begun with [`begin_renewal`](Self::begin_renewal): `Ok(true)` when
    /// this worker still holds it (for as long again as `begin_renewal` gave), `Ok(false)` when
    /// it lapsed and may be held by another worker now. Called right before the renewal at the
    /// channel, which must not happen unless this answers `Ok(true)`, and before every new try
    /// of saving renewed credentials. The default answers `Ok(true)`.
    async fn extend_renewal(&self) -> Result<bool, ChannelError> {
        Ok(true)
    }

    /// Ends a renewal begun with [`begin_renewal`](Self::begin_renewal), after saving or on
    /// failure: another worker may renew from now on. The default does nothing.
    async fn end_renewal(&self) {}
}

/// What a channel about to renew its credentials does ([`CredentialSink::begin_renewal`]).
/// Debug output shows no secret (the credentials' own Debug redacts them).
#[derive(Debug)]
pub enum Renewal {
    /// Renew at the channel now.
    Renew,
    /// The credentials stored now, which another worker may have renewed since this channel
    /// got its own: when they differ from the channel's, the channel uses them instead of
    /// renewing (and renews them only if they too need it).
    UseStored(Credentials),
}

/// The outcome of [`CredentialSink::save_renewed`].
#[derive(Debug)]
pub enum SavedRenewal {
    /// The renewed credentials are stored.
    Saved,
    /// Nothing was written: other credentials were stored since the renewal began (another
    /// worker renewed them, or the seller entered new ones). Use these.
    Superseded(Credentials),
}

/// A marketplace, as an adapter presents it.
///
/// Small and object-safe, held as `Arc<dyn Channel>`. The reads every channel has are required;
/// the operations a marketplace may lack (publishing, ending, acknowledging, shipping, refunds,
/// cancellations, login-type authorization, reading orders by id) have default bodies answering
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) through
/// [`unsupported`](Self::unsupported), which an adapter overrides once to give the channel's rule
/// in its own words. An adapter reports what it supports in
/// [`capabilities`](Self::capabilities) so the engine never calls the rest. Convenience lives in
/// the engine, not here.
///
/// Retry, rate limiting and token renewal happen inside the adapter (through the shared HTTP
/// layer); an error returned here is final for this call.
#[async_trait]
pub trait Channel: Send + Sync + Debug {
    /// Which marketplace.
    fn kind(&self) -> ChannelKind;

    /// What it supports, its batch sizes and rate limits.
    fn capabilities(&self) -> Capabilities;

    /// The error an operation this channel does not support answers with: kind
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported), naming the channel and the
    /// operation. Every default body below returns it. Adapters override it to state the
    /// marketplace's rule (why it cannot, and what to do instead).
    fn unsupported(&self, operation: Operation) -> ChannelError {
        ChannelError::unsupported(format!(
            "{} does not support {}",
            self.kind(),
            operation.as_str()
        ))
        .with_channel(self.kind())
        .with_operation(operation.as_str())
    }

    /// Hands the channel the integration's current credentials: those the seller just entered or
    /// rotated, or those stored when the host attaches the channel after a restart. The channel
    /// uses them for every later call and forgets any earlier refusal, so entering new
    /// credentials and verifying them repairs a broken connection.
    ///
    /// Credentials of a kind the channel cannot use are refused with
    /// [`ErrorKind::Invalid`](crate::ErrorKind::Invalid), and the engine then stores nothing.
    async fn use_credentials(&self, credentials: &Credentials) -> Result<(), ChannelError>;

    /// Gives the channel where to save credentials it renews on its own (a rotated refresh
    /// token). Called by the engine when the channel is registered; the default ignores it,
    /// which is right for channels whose credentials never change without the seller (API
    /// keys, access tokens entered by hand).
    fn use_credential_sink(&self, sink: Arc<dyn CredentialSink>) {
        let _ = sink;
    }

    /// Checks the credentials against the account and returns what the channel says of it.
    /// An [`ErrorKind::Auth`](crate::ErrorKind::Auth) error carries the channel's own message.
    async fn verify(&self) -> Result<AccountInfo, ChannelError>;

    /// One page of the channel's listings. Requires `listings_link` or `listings_sync`.
    async fn list_listings(&self, query: &ListingQuery) -> Result<ListingPage, ChannelError>;

    /// Sends changes for linked listings, at most `listings_update_max_batch` per call. Returns
    /// one outcome per update, in order; one listing's failure does not fail the others.
    /// Requires `listings_sync`.
    async fn update_listings(
        &self,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError>;

    /// Creates listings, one outcome per listing. Requires `listings_publish`.
    async fn publish_listings(
        &self,
        listings: &[NewListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let _ = listings;
        Err(self.unsupported(Operation::PublishListings))
    }

    /// Ends or delists listings, at most `listings_end_max_batch` per call, one outcome per
    /// listing. Requires `listings_reconcile`.
    async fn end_listings(
        &self,
        listings: &[EndListing],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let _ = listings;
        Err(self.unsupported(Operation::EndListings))
    }

    /// One page of orders. Requires `orders_get`.
    async fn fetch_orders(&self, query: &OrderQuery) -> Result<OrderPage, ChannelError>;

    /// Reads the given orders again by id, in their latest state at the channel. Requires
    /// [`Capabilities::orders_get_by_id`](crate::Capabilities); the default answers
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    ///
    /// Returns one page: the orders read (`orders`), and those the channel sent but could not be
    /// read (`rejected`, each with its id). An id the channel does not know is in neither (the
    /// engine keeps what it has for it). `next_page` and `cursor` are always `None`: this read
    /// never moves the order cursor. The engine asks for at most `orders_page_max` ids at once;
    /// `default_currency` is the integration's, for channels whose orders carry none.
    async fn fetch_orders_by_id(
        &self,
        ids: &[ChannelOrderId],
        default_currency: crate::money::Currency,
    ) -> Result<OrderPage, ChannelError> {
        let _ = (ids, default_currency);
        Err(self.unsupported(Operation::FetchOrdersById))
    }

    /// Tells the channel the order has been recorded (ChannelAdvisor's export flag). Called only
    /// after the engine has stored the order. Requires `orders_acknowledge`.
    async fn acknowledge_order(&self, order: &ChannelOrderId) -> Result<(), ChannelError> {
        let _ = order;
        Err(self.unsupported(Operation::AcknowledgeOrder))
    }

    /// Reports a shipment. Requires `orders_ship`.
    async fn ship(&self, request: &ShipmentRequest) -> Result<(), ChannelError> {
        let _ = request;
        Err(self.unsupported(Operation::Ship))
    }

    /// Sends a refund. Requires `orders_refund`.
    async fn refund(&self, request: &RefundRequest) -> Result<(), ChannelError> {
        let _ = request;
        Err(self.unsupported(Operation::Refund))
    }

    /// Cancels an order or some of its lines. Requires `orders_cancel`.
    async fn cancel(&self, request: &CancellationRequest) -> Result<(), ChannelError> {
        let _ = request;
        Err(self.unsupported(Operation::Cancel))
    }

    /// Starts a login-type authorization: the URL of the channel's login page and the state to
    /// keep. Requires `login_authorization`.
    async fn begin_authorization(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, ChannelError> {
        let _ = request;
        Err(self.unsupported(Operation::Authorize))
    }

    /// Finishes a login-type authorization with what the channel handed back, giving new
    /// credentials (or, in a device flow, "not yet"). Requires `login_authorization`.
    async fn complete_authorization(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
    ) -> Result<AuthorizationOutcome, ChannelError> {
        let _ = (pending, callback);
        Err(self.unsupported(Operation::Authorize))
    }
}

/// Compile-time check that [`Channel`] stays dyn-compatible.
fn _assert_dyn_compatible(_: &dyn Channel) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::LoginSession;

    #[test]
    fn renewal_outcomes_show_no_secret_in_debug() {
        let session = || {
            Credentials::LoginSession(LoginSession {
                user_id: Some("seller".into()),
                token: "ACCESS-SECRET-1".into(),
                expires_at: DateTime::<Utc>::UNIX_EPOCH,
                refresh_token: Some("REFRESH-SECRET-1".into()),
                refresh_expires_at: None,
            })
        };
        for text in [
            format!("{:?}", Renewal::UseStored(session())),
            format!("{:?}", SavedRenewal::Superseded(session())),
        ] {
            assert!(text.contains("seller"), "{text}");
            assert!(!text.contains("ACCESS-SECRET-1"), "{text}");
            assert!(!text.contains("REFRESH-SECRET-1"), "{text}");
        }
    }
}
