//! The engine: runs operations for one integration against its channel, its store, the host's
//! catalog and a notifier.
//!
//! Every operation checks the lifecycle first (and refuses with [`EngineError::Blocked`] when the
//! integration is in Setup, disabled, broken, deactivated, deleted, or the feature is off), then
//! the channel's capabilities ([`EngineError::Unsupported`], decided here without a call), calls
//! the channel, maps, persists, and returns a report of what happened. An `Auth` error from the
//! channel turns the integration's health Broken with the channel's message and a typed
//! diagnosis, notifying once per break.

mod builder;
mod factory;
mod listings;
pub mod metrics;
mod notices;
mod observe;
mod orders;
#[cfg(test)]
mod renewal_tests;
pub mod scheduler;
mod shortcuts;
pub mod stock;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::capability::{Capabilities, Operation};
use crate::channel::{AccountInfo, Channel, CredentialSink, Renewal, SavedRenewal};
use crate::clock::Clock;
use crate::credentials::{
    AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest, AuthorizationStart,
    Credentials, PendingAuthorization,
};
use crate::error::{ChannelError, ErrorKind};
use crate::ids::{ChannelOrderId, IntegrationId};
use crate::lifecycle::{
    Actor, AuditEvent, Blocked, Change, ChannelRules, Context, DeleteConfirmation, DeletePlan,
    Event, Feature, HealthKind, Lifecycle, LifecycleError,
};
use crate::mapping::MappingSet;

use crate::catalog::{Catalog, CatalogError};
use crate::notify::{Notification, Notifier};
use crate::settings::IntegrationSettings;
use crate::store::{IntegrationRecord, LedgerFilter, NoticeState, Store, StoreError, WorkerId};
use crate::vault::{CredentialKey, VaultError};
use crate::{store, vault};

pub use builder::{EPHEMERAL_KEY_ID, EngineBuilder};
pub use factory::ChannelFactory;
pub use listings::{
    DropReason, DroppedFromPlan, LinkReport, ListingFailure, PublishReport, ReconcileOutcome,
    ReconcilePlan, ReconcileReport, SyncReport,
};
pub use metrics::EngineOperation;
pub use orders::{
    ImportReport, OrderExplanation, OutboxFailure, OutboxReport, UNREADABLE_WITHOUT_ID_PREFIX,
    evaluate_order,
};
pub use stock::{PropagationReport, STOCK_LEASE, StockHandOver, StockPropagation};

/// Why an engine operation failed as a whole. Failures of single listings or orders are not
/// errors: they are in the operation's report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No such integration.
    #[error("no integration {0}")]
    UnknownIntegration(IntegrationId),
    /// The confirmed delete plan does not list every order the seller is responsible for now
    /// (orders arrived since it was made): make a new plan, show it, and confirm that one.
    #[error(
        "the delete plan is out of date: it does not list order(s) {} that the seller is responsible for; make a new plan with plan_delete and confirm it",
        missing.iter().map(|o| o.as_str()).collect::<Vec<_>>().join(", ")
    )]
    DeletePlanOutdated {
        /// The orders the confirmed plan did not list.
        missing: Vec<ChannelOrderId>,
    },
    /// The integration has no channel registered in this engine (and the engine has no
    /// [`ChannelFactory`] to make one).
    #[error(
        "no channel is registered for integration {0}: call Engine::register_channel after start-up, or give the engine a ChannelFactory"
    )]
    NoChannel(IntegrationId),
    /// The engine's [`ChannelFactory`] could not make the integration's channel: the operation
    /// that needed it did not run. Other integrations are not affected.
    #[error("integration {integration}: its channel adapter could not be made: {error}")]
    ChannelFactory {
        /// The integration.
        integration: IntegrationId,
        /// The factory's error.
        error: ChannelError,
    },
    /// The lifecycle does not allow the operation now.
    #[error("integration {integration}: {blocked}")]
    Blocked {
        /// The integration.
        integration: IntegrationId,
        /// Why.
        blocked: Blocked,
    },
    /// The channel does not support the operation (decided from its capabilities, no call made).
    #[error("{rule}")]
    Unsupported {
        /// The operation.
        operation: Operation,
        /// The channel's rule, in words.
        rule: String,
    },
    /// The channel requires shipping mappings before orders can be imported, and there are none.
    #[error(
        "{channel} requires shipping mappings before orders can be imported: add a mapping for each shipping method text the channel uses"
    )]
    ShippingMappingsRequired {
        /// The channel.
        channel: crate::ids::ChannelKind,
    },
    /// The integration has no label, which the listing operations need.
    #[error(
        "the integration has no label: set one so the engine knows which items are in its feed"
    )]
    NoLabel,
    /// A lifecycle transition was refused.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The channel failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The host's catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Credentials could not be sealed or opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The order is not in the ledger.
    #[error("order {0} has never been downloaded for this integration")]
    UnknownOrder(ChannelOrderId),
    /// The order was not imported, so nothing can be sent for it.
    #[error("order {order} was not imported: {reason}")]
    OrderNotImported {
        /// The order.
        order: ChannelOrderId,
        /// Why it was not imported.
        reason: String,
    },
    /// The order is third-party-managed: nothing is ever sent to the channel for it.
    #[error(
        "order {0} is third-party-managed (imported while fulfilments were off): nothing is sent to the channel for it"
    )]
    ThirdPartyManaged(ChannelOrderId),
    /// The reconcile plan no longer matches the integration (made for another one).
    #[error("the reconcile plan was made for another integration")]
    PlanMismatch,
    /// The reconcile plan is older than the integration's `reconcile_plan_expiry`: nothing was
    /// ended.
    #[error(
        "the reconcile plan made at {made_at} expired at {expired_at}: nothing was ended; make a new dry run (plan_reconcile) and confirm that"
    )]
    ReconcilePlanExpired {
        /// When the plan was made.
        made_at: DateTime<Utc>,
        /// When it expired.
        expired_at: DateTime<Utc>,
    },
    /// The integration's label changed after the reconcile plan was made, which re-arms the
    /// reconciler: nothing was ended.
    #[error(
        "the integration's label changed at {changed_at} (now {}), after the reconcile plan was made: nothing was ended; a new dry run is required (plan_reconcile) and must be confirmed",
        label.as_ref().map_or("none", |l| l.as_str())
    )]
    ReconcilePlanRearmed {
        /// The label now.
        label: Option<crate::ids::Label>,
        /// When it last changed.
        changed_at: DateTime<Utc>,
    },
    /// The reconcile would end more than the share of the channel's listings one run may end
    /// (the integration's `reconcile_max_end_percent`): nothing was ended.
    #[error(
        "this reconcile would end {to_end} of the channel's {listings} listings, more than the {max_percent}% one run may end: nothing was ended. An empty or partial answer from the catalogue looks like this; check it, and if the plan is right have a person confirm it with confirm_large_reconcile"
    )]
    ReconcileTooLarge {
        /// Listings the plan would end (after checking it again).
        to_end: usize,
        /// The channel's listings that are not ended.
        listings: usize,
        /// The share one run may end, in percent.
        max_percent: u8,
    },
    /// No credentials are stored.
    #[error("no credentials are stored for integration {0}")]
    NoCredentials(IntegrationId),
    /// The idempotency key was already used in this integration for another request (another
    /// order, action or content). Nothing was recorded. Use a new key for a new request, the
    /// same request to retry, or no key (the engine derives one from the request).
    #[error(
        "integration {integration}: idempotency key {key} is already used for the {existing_action} of order {existing_order}, and this request differs in {}: a key names one request; use another key for another request",
        .differs.join(", ")
    )]
    IdempotencyConflict {
        /// The integration.
        integration: IntegrationId,
        /// The key.
        key: crate::order::IdempotencyKey,
        /// The order of the entry recorded under the key.
        existing_order: ChannelOrderId,
        /// Its action: `ship`, `refund` or `cancel`.
        existing_action: &'static str,
        /// What differs: `order`, `action`, `tracking number`, `carrier`, `lines`, `amount`,
        /// `reason`, … ([`OutboxItem::differences`](store::OutboxItem::differences)).
        differs: Vec<&'static str>,
    },
    /// The same shipment, refund or cancellation, recorded without an idempotency key, was
    /// refused by the channel for good before: nothing new was recorded. Fix the cause (the
    /// channel's error says what), then record it again with a key of your own.
    #[error(
        "integration {integration}: this {action} of order {order} was refused by the channel before ({error}); nothing was recorded again: fix the cause, then record it with an idempotency key of your own"
    )]
    PreviouslyRefused {
        /// The integration.
        integration: IntegrationId,
        /// The order.
        order: ChannelOrderId,
        /// `ship`, `refund` or `cancel`.
        action: &'static str,
        /// The key derived from the request, under which the refused entry is recorded.
        key: crate::order::IdempotencyKey,
        /// The channel's error, as recorded.
        error: String,
    },
}

/// The engine. Cheap to share behind an `Arc`; every method works on one integration.
#[derive(Debug)]
pub struct Engine {
    store: Arc<dyn Store>,
    catalog: Arc<dyn Catalog>,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
    key: Option<Arc<CredentialKey>>,
    channels: RwLock<HashMap<IntegrationId, Arc<dyn Channel>>>,
    /// Makes the channels of integrations that have none registered.
    factory: Option<Arc<dyn ChannelFactory>>,
    /// One attach from the factory per integration at a time.
    attaching: std::sync::Mutex<HashMap<IntegrationId, Arc<tokio::sync::Mutex<()>>>>,
    outbox_lease: Duration,
    /// The longest one outbox send may take: sizes the outbox claims.
    outbox_send_time: Duration,
    /// Holds this engine's store leases on credential renewals.
    worker: WorkerId,
    /// How many of this engine's credential sinks are within a renewal now.
    renewals: Arc<tokio::sync::watch::Sender<usize>>,
    /// Delivers the notification outbox through the registered transports.
    notices: Arc<crate::notify::NotificationDispatcher>,
}

/// The longest one outbox send is taken to last unless the host says otherwise
/// ([`Engine::with_outbox_send_time`]): the HTTP adapters' retry budget (2 minutes: 60 s
/// attempts, retried within 120 s).
pub const DEFAULT_OUTBOX_SEND_TIME: Duration = Duration::from_secs(120);

/// How long a worker holds the renewal lease of an integration's credentials (by the store's
/// clock), from taking or extending it: at least twice a store wait (about 30 s for a pooled
/// connection) plus a token-endpoint call (30 s timeout). The lease is extended right before
/// the token endpoint is called and before each new try of saving renewed credentials.
const RENEWAL_LEASE: Duration = Duration::from_secs(180);

/// How long a worker waits, in total, for another worker's renewal of the same credentials
/// before giving up for now (a transient error; a later attempt tries again). A crashed
/// renewer's lease lapses [`RENEWAL_LEASE`] after it last extended it.
const RENEWAL_WAIT: Duration = Duration::from_secs(75);

/// The first and the longest pause between two attempts at a renewal lease.
const RENEWAL_POLL: (Duration, Duration) = (Duration::from_millis(20), Duration::from_secs(1));

/// The engine's [`CredentialSink`]: seals renewed credentials with the engine's key and stores
/// them for one integration.
///
/// Renewals are shared by every worker on the store: [`begin_renewal`] takes the store-held
/// lease `renew-credentials:{integration}` (waiting, with backoff, while another worker holds
/// it) and then hands back the stored credentials when they changed since this sink last saw
/// them, so a worker whose tokens are stale adopts the ones another worker renewed instead of
/// spending a used refresh token. [`save_renewed`] is a compare-and-swap on the version this
/// sink last loaded or saved.
///
/// [`begin_renewal`]: CredentialSink::begin_renewal
/// [`save_renewed`]: CredentialSink::save_renewed
struct VaultSink {
    store: Arc<dyn Store>,
    key: Option<Arc<CredentialKey>>,
    integration: IntegrationId,
    /// The lease holder: the engine's worker id and a random id of this sink, so that two
    /// channels registered for one integration in one process do not both hold the lease.
    holder: WorkerId,
    /// This sink is within a renewal (counted once in `renewals`).
    renewing: std::sync::atomic::AtomicBool,
    /// The engine's count of sinks within a renewal ([`Engine::renewals_idle`]).
    renewals: Arc<tokio::sync::watch::Sender<usize>>,
    /// The version of the stored credentials this sink last loaded or saved; `None` when not
    /// known (the channel's credentials did not come from the store through this engine).
    version: std::sync::Mutex<Option<u64>>,
}

impl VaultSink {
    fn lease_name(&self) -> String {
        format!("renew-credentials:{}", self.integration)
    }

    fn set_version(&self, version: Option<u64>) {
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) = version;
    }

    fn known_version(&self) -> Option<u64> {
        *self.version.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(&self) -> Result<&CredentialKey, ChannelError> {
        self.key.as_deref().ok_or_else(|| {
            ChannelError::invalid(format!(
                "renewed credentials of integration {} cannot be saved: {}",
                self.integration,
                VaultError::KeyMissing { needed: None }
            ))
        })
    }

    fn seal(&self, credentials: &Credentials) -> Result<vault::SealedCredentials, ChannelError> {
        vault::seal(self.key()?, self.integration, credentials).map_err(|e| {
            ChannelError::invalid(format!(
                "renewed credentials of integration {} cannot be sealed: {e}",
                self.integration
            ))
        })
    }

    fn store_failed(&self, what: &str, e: StoreError) -> ChannelError {
        ChannelError::transient(format!(
            "{what} of integration {} failed in the store: {e}",
            self.integration
        ))
    }

    /// The stored credentials, opened, and their version.
    async fn load(&self) -> Result<Option<(Credentials, u64)>, ChannelError> {
        let Some(stored) = self
            .store
            .credentials_versioned(self.integration)
            .await
            .map_err(|e| self.store_failed("reading the stored credentials", e))?
        else {
            return Ok(None);
        };
        let credentials = vault::open(self.key.as_deref(), self.integration, &stored.sealed)
            .map_err(|e| {
                ChannelError::invalid(format!(
                    "the stored credentials of integration {} cannot be opened: {e}",
                    self.integration
                ))
            })?;
        Ok(Some((credentials, stored.version)))
    }

    /// Waits (polling with backoff, at most [`RENEWAL_WAIT`] in all) until this worker holds
    /// the renewal lease.
    async fn take_lease(&self) -> Result<(), ChannelError> {
        let name = self.lease_name();
        let (mut pause, longest) = RENEWAL_POLL;
        let mut waited = Duration::ZERO;
        loop {
            let held = self
                .store
                .try_lease(&name, self.holder.as_str(), RENEWAL_LEASE)
                .await
                .map_err(|e| self.store_failed("taking the credential renewal lease", e))?;
            if held {
                return Ok(());
            }
            if waited >= RENEWAL_WAIT {
                return Err(ChannelError::transient(format!(
                    "another worker has been renewing the credentials of integration {} for over {} s; try again later",
                    self.integration,
                    RENEWAL_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            waited += pause;
            pause = (pause * 2).min(longest);
        }
    }
}

impl std::fmt::Debug for VaultSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of Debug output.
        f.debug_struct("VaultSink")
            .field("integration", &self.integration)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl CredentialSink for VaultSink {
    async fn save(&self, credentials: &Credentials) -> Result<(), ChannelError> {
        let sealed = self.seal(credentials)?;
        self.store
            .put_credentials(self.integration, &sealed)
            .await
            .map_err(|e| self.store_failed("storing renewed credentials", e))?;
        // Written without a compare-and-swap: the version is not known any more.
        self.set_version(None);
        Ok(())
    }

    async fn begin_renewal(&self) -> Result<Renewal, ChannelError> {
        self.take_lease().await?;
        if !self
            .renewing
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            self.renewals.send_modify(|n| *n += 1);
        }
        let loaded = match self.load().await {
            Ok(loaded) => loaded,
            Err(e) => {
                self.end_renewal().await;
                return Err(e);
            }
        };
        let known = self.known_version();
        Ok(match loaded {
            None => {
                self.set_version(Some(0));
                Renewal::Renew
            }
            Some((_, version)) if known == Some(version) => Renewal::Renew,
            Some((credentials, version)) => {
                self.set_version(Some(version));
                Renewal::UseStored(credentials)
            }
        })
    }

    async fn save_renewed(&self, credentials: &Credentials) -> Result<SavedRenewal, ChannelError> {
        let Some(expected) = self.known_version() else {
            // No renewal was begun through this sink: a plain save.
            return self.save(credentials).await.map(|()| SavedRenewal::Saved);
        };
        let sealed = self.seal(credentials)?;
        match self
            .store
            .replace_credentials(self.integration, &sealed, expected)
            .await
        {
            Ok(version) => {
                self.set_version(Some(version));
                Ok(SavedRenewal::Saved)
            }
            Err(StoreError::Conflict(_)) => match self.load().await? {
                Some((theirs, version)) => {
                    self.set_version(Some(version));
                    Ok(SavedRenewal::Superseded(theirs))
                }
                None => Err(ChannelError::transient(format!(
                    "the credentials of integration {} were removed while they were being renewed",
                    self.integration
                ))),
            },
            Err(e) => Err(self.store_failed("storing renewed credentials", e)),
        }
    }

    async fn extend_renewal(&self) -> Result<bool, ChannelError> {
        self.store
            .try_lease(&self.lease_name(), self.holder.as_str(), RENEWAL_LEASE)
            .await
            .map_err(|e| self.store_failed("extending the credential renewal lease", e))
    }

    async fn end_renewal(&self) {
        if self
            .renewing
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.renewals.send_modify(|n| *n = n.saturating_sub(1));
        }
        if let Err(e) = self
            .store
            .release_lease(&self.lease_name(), self.holder.as_str())
            .await
        {
            // The lease lapses by itself.
            tracing::warn!(integration = %self.integration, error = %e, "releasing the credential renewal lease failed");
        }
    }
}

/// A "connection broken" notice with the advice for the integration's kind of credentials
/// ([`BrokenReason::advice_for`](crate::BrokenReason::advice_for)): a login session is repaired
/// by logging in again, an entered refresh token by entering a new one. Without readable
/// credentials the general advice stays.
fn with_repair_advice(note: Notification, kind: Option<crate::CredentialKind>) -> Notification {
    match (note, kind) {
        (
            Notification::ConnectionBroken {
                integration,
                reason,
                channel_message,
                ..
            },
            Some(kind),
        ) => Notification::ConnectionBroken {
            integration,
            reason,
            channel_message,
            advice: reason.advice_for(kind).to_owned(),
        },
        (other, _) => other,
    }
}

/// The most times a lifecycle update is retried when another writer changed the integration
/// first.
const UPDATE_ATTEMPTS: usize = 5;

/// How many times a mapping edit is tried when other edits keep winning the compare-and-swap.
const MAPPING_ATTEMPTS: usize = 16;

impl Engine {
    /// An engine over a store, the host's catalog, a notifier and a clock. Credentials cannot be
    /// stored or read until a key is given ([`with_credential_key`](Self::with_credential_key)).
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Arc<dyn Catalog>,
        notifier: Arc<dyn Notifier>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let notices = Arc::new(crate::notify::NotificationDispatcher::new(
            store.clone(),
            clock.clone(),
        ));
        Self {
            notices,
            store,
            catalog,
            notifier,
            clock,
            key: None,
            channels: RwLock::new(HashMap::new()),
            factory: None,
            attaching: std::sync::Mutex::new(HashMap::new()),
            outbox_lease: Duration::from_secs(300),
            outbox_send_time: DEFAULT_OUTBOX_SEND_TIME,
            worker: WorkerId::new("engine"),
            renewals: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }

    /// Names this engine (worker process) as the holder of the store leases it takes on
    /// credential renewals; by default a fresh random id per engine.
    pub fn with_worker_id(mut self, worker: WorkerId) -> Self {
        self.worker = worker;
        self
    }

    /// The id this engine holds store leases with.
    pub fn worker_id(&self) -> &WorkerId {
        &self.worker
    }

    /// Returns once none of this engine's channels is within a credential renewal: from taking
    /// the renewal lease ([`CredentialSink::begin_renewal`]) to giving it back, which includes
    /// the background retries of saving renewed credentials the store refused (the channel has
    /// spent the stored refresh token then; stopping before the save loses the live one).
    ///
    /// A host shutting down calls this after its last call into the engine and before it stops
    /// the runtime (a channel renews in a task of its own, which nothing else waits for), with
    /// a deadline of its own: while the store stays unreachable the save is retried on.
    pub async fn renewals_idle(&self) {
        let mut rx = self.renewals.subscribe();
        // Never fails: the engine holds the sender.
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// The key credentials are sealed with at rest.
    pub fn with_credential_key(mut self, key: CredentialKey) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// How long a claimed outbox entry stays claimed before another worker may retry it (by
    /// the store's clock; 5 minutes by default). Give it at least twice the
    /// [send time](Self::with_outbox_send_time).
    pub fn with_outbox_lease(mut self, lease: Duration) -> Self {
        self.outbox_lease = lease;
        self
    }

    /// The longest one ship, refund or cancel call to the channel may take, its retries
    /// included ([`DEFAULT_OUTBOX_SEND_TIME`] by default). [`sync_orders`](Self::sync_orders)
    /// claims at most as many entries at a time as can be sent one after another within the
    /// [outbox lease](Self::with_outbox_lease) — lease ÷ send time, at least 1 — so an entry's
    /// lease does not lapse (and another worker send it again) while it waits its turn.
    pub fn with_outbox_send_time(mut self, send_time: Duration) -> Self {
        self.outbox_send_time = send_time;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn ctx(&self, actor: Actor) -> Context {
        Context::at(actor, self.now())
    }

    // ----- integrations and channels -----

    /// Creates an integration for a channel: Setup, enabled, unverified. Returns its fresh id.
    pub async fn create_integration(
        &self,
        name: impl Into<String>,
        channel: Arc<dyn Channel>,
        settings: IntegrationSettings,
        actor: Actor,
    ) -> Result<IntegrationId, EngineError> {
        let id = IntegrationId::new();
        let rules = ChannelRules::from(&channel.capabilities());
        let (lifecycle, created) = Lifecycle::create(rules, &self.ctx(actor));
        let record = IntegrationRecord {
            id,
            name: name.into(),
            channel: channel.kind(),
            lifecycle,
            settings,
            notices: NoticeState::default(),
            version: 0,
        };
        self.store.insert_integration(&record, &[created]).await?;
        self.register_channel(id, channel);
        Ok(id)
    }

    /// Registers the channel (adapter) of an existing integration, e.g. after a restart.
    ///
    /// The channel is given a [`CredentialSink`] that seals credentials it renews on its own
    /// (Allegro's rotating refresh tokens) into the store, so that what is stored is always
    /// what works.
    pub fn register_channel(&self, id: IntegrationId, channel: Arc<dyn Channel>) {
        self.register_with_version(id, channel, None);
    }

    /// [`register_channel`](Self::register_channel), the sink knowing the version of the stored
    /// credentials the channel was handed (`None`: it was handed none from the store).
    fn register_with_version(
        &self,
        id: IntegrationId,
        channel: Arc<dyn Channel>,
        version: Option<u64>,
    ) {
        channel.use_credential_sink(Arc::new(VaultSink {
            store: self.store.clone(),
            key: self.key.clone(),
            integration: id,
            // The worker id and a random suffix of this sink.
            holder: WorkerId::new(self.worker.as_str()),
            renewing: std::sync::atomic::AtomicBool::new(false),
            renewals: self.renewals.clone(),
            version: std::sync::Mutex::new(version),
        }));
        self.channels
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, channel);
    }

    /// The channel of an integration.
    pub fn channel(&self, id: IntegrationId) -> Result<Arc<dyn Channel>, EngineError> {
        self.channels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
            .ok_or(EngineError::NoChannel(id))
    }

    /// An integration's record.
    pub async fn integration(&self, id: IntegrationId) -> Result<IntegrationRecord, EngineError> {
        self.store
            .integration(id)
            .await?
            .ok_or(EngineError::UnknownIntegration(id))
    }

    /// Replaces an integration's settings on behalf of `actor`. The audit log gets a
    /// [`Change::SettingsChanged`] with who, when,
    /// and the settings before and after, in the same write; setting what is already set
    /// writes nothing.
    pub async fn set_settings(
        &self,
        id: IntegrationId,
        settings: IntegrationSettings,
        actor: Actor,
    ) -> Result<(), EngineError> {
        self.update_record(id, |rec, now| {
            if rec.settings == settings {
                return Ok(Vec::new());
            }
            let before = std::mem::replace(&mut rec.settings, settings.clone());
            Ok(vec![AuditEvent {
                at: now,
                actor: actor.clone(),
                change: Change::SettingsChanged {
                    before: Box::new(before),
                    after: Box::new(settings.clone()),
                },
                support_override: None,
            }])
        })
        .await
        .map(|_| ())
    }

    /// Applies a lifecycle event on behalf of `actor`, stores it with its audit events, and sends
    /// the notifications it implies. Returns the audit events.
    pub async fn apply(
        &self,
        id: IntegrationId,
        actor: Actor,
        event: Event,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        if let Event::Delete { confirmation } = event {
            // Deleting goes through its plan, checked against today's orders.
            return self.delete(id, confirmation, actor).await;
        }
        let ctx = self.ctx(actor);
        self.update_record(id, |rec, _| Ok(rec.lifecycle.apply(&ctx, event.clone())?))
            .await
    }

    /// Records the passing of time (Testing → Live), notifying a phase change.
    pub async fn tick(&self, id: IntegrationId) -> Result<Vec<AuditEvent>, EngineError> {
        let now = self.now();
        self.update_record(id, |rec, _| Ok(rec.lifecycle.tick(now)))
            .await
    }

    /// Loads a record, lets `change` modify it (returning audit events), stores it with
    /// optimistic concurrency (retrying on a concurrent update), then notifies.
    async fn update_record(
        &self,
        id: IntegrationId,
        change: impl FnMut(
            &mut IntegrationRecord,
            DateTime<Utc>,
        ) -> Result<Vec<AuditEvent>, EngineError>,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        self.update_record_with(id, change, Vec::new()).await
    }

    /// [`update_record`](Self::update_record), writing `extra` notifications (dedupe key,
    /// event) with the change too, when there is a change to write.
    async fn update_record_with(
        &self,
        id: IntegrationId,
        mut change: impl FnMut(
            &mut IntegrationRecord,
            DateTime<Utc>,
        ) -> Result<Vec<AuditEvent>, EngineError>,
        extra: Vec<(String, Notification)>,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut rec = self.integration(id).await?;
            let before = rec.clone();
            let now = self.now();
            let mut events = rec.lifecycle.tick(now);
            events.extend(change(&mut rec, now)?);
            let mut notes = self.notifications_for(&mut rec, &events);
            if events.is_empty() && rec == before {
                return Ok(events);
            }
            notes.extend(extra.iter().cloned());
            // The repair steps depend on the kind of credentials: read it only when needed.
            let kind = if notes.is_empty() {
                None
            } else {
                self.credentials(id).await.ok().map(|c| c.kind())
            };
            let notes: Vec<store::NewNotification> = notes
                .into_iter()
                .map(|(key, n)| self.new_notification(key, with_repair_advice(n, kind), kind))
                .collect();
            match self
                .store
                .update_integration_notifying(&rec, &events, &notes)
                .await
            {
                Ok(_) => {
                    self.notify_written(&notes).await;
                    return Ok(events);
                }
                Err(StoreError::Conflict(_)) if attempt < UPDATE_ATTEMPTS => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The notifications implied by audit events, each with its dedupe key; updates the notice
    /// state so each break is reported once and its repair once. Keys carry the record's
    /// version before this update, which only one update can win: one notice per break.
    fn notifications_for(
        &self,
        rec: &mut IntegrationRecord,
        events: &[AuditEvent],
    ) -> Vec<(String, Notification)> {
        let mut out = Vec::new();
        for e in events {
            match &e.change {
                Change::PhaseChanged { from, to } => out.push((
                    format!("phase-changed:{from:?}-{to:?}:v{}", rec.version),
                    Notification::PhaseChanged {
                        integration: rec.id,
                        from: *from,
                        to: *to,
                    },
                )),
                Change::HealthChanged {
                    to: HealthKind::Broken,
                    reason: Some(reason),
                    channel_message,
                    ..
                } => {
                    rec.notices.connection_broken = true;
                    out.push((
                        format!("connection-broken:v{}", rec.version),
                        Notification::ConnectionBroken {
                            integration: rec.id,
                            reason: *reason,
                            channel_message: channel_message.clone(),
                            advice: reason.advice().to_owned(),
                        },
                    ));
                }
                Change::HealthChanged {
                    to: HealthKind::Healthy,
                    ..
                } if rec.notices.connection_broken => {
                    rec.notices.connection_broken = false;
                    out.push((
                        format!("connection-restored:v{}", rec.version),
                        Notification::ConnectionRestored {
                            integration: rec.id,
                        },
                    ));
                }
                _ => {}
            }
        }
        out
    }
    /// Loads the record, the channel and its capabilities, and checks that `feature` may act.
    async fn gate(
        &self,
        id: IntegrationId,
        feature: Feature,
    ) -> Result<(IntegrationRecord, Arc<dyn Channel>, Capabilities), EngineError> {
        let rec = self.integration(id).await?;
        Self::note_channel(rec.channel);
        rec.lifecycle
            .check_feature(feature, self.now())
            .map_err(|blocked| EngineError::Blocked {
                integration: id,
                blocked,
            })?;
        let channel = self.channel_for(&rec).await?;
        let caps = channel.capabilities();
        Ok((rec, channel, caps))
    }

    fn require(
        caps: &Capabilities,
        channel: &dyn Channel,
        op: Operation,
    ) -> Result<(), EngineError> {
        if caps.supports(op) {
            return Ok(());
        }
        let kind = channel.kind();
        let rule = match op {
            Operation::PublishListings => format!(
                "{kind} does not support publishing listings: the listing must already exist on {kind} and be linked (run link listings)"
            ),
            Operation::EndListings => {
                format!(
                    "{kind} does not support reconciliation (ending listings that are not on the label)"
                )
            }
            Operation::Cancel => {
                format!("{kind} does not let the seller cancel orders through its API")
            }
            Operation::Refund => format!("{kind} does not support refunds through its API"),
            other => format!("{kind} does not support {other}"),
        };
        Err(EngineError::Unsupported {
            operation: op,
            rule,
        })
    }

    /// Handles a channel error: an `Auth` error breaks the connection (notifying once).
    async fn channel_failed(&self, id: IntegrationId, error: ChannelError) -> EngineError {
        if error.kind() == ErrorKind::Auth {
            let reason = error
                .broken_reason()
                .unwrap_or(crate::error::BrokenReason::CredentialsRejected);
            // Only the channel's own words: our diagnosis is the reason (and its advice).
            let message = error.channel_message().map(str::to_owned);
            let ctx = self.ctx(Actor::System);
            // A failure to record the break must not hide the channel's error.
            let _ = self
                .update_record(id, |rec, _| {
                    Ok(rec
                        .lifecycle
                        .mark_broken(&ctx, reason, message.clone())
                        .unwrap_or_default())
                })
                .await;
        }
        EngineError::Channel(error)
    }

    // ----- credentials -----

    /// Seals and stores credentials entered by the seller; health becomes Unverified.
    ///
    /// The channel gets them first ([`Channel::use_credentials`]); if it refuses them, nothing is
    /// stored.
    pub async fn enter_credentials(
        &self,
        id: IntegrationId,
        credentials: &Credentials,
        actor: Actor,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        self.hand_over(id, credentials).await?;
        self.store_credentials(id, credentials).await?;
        self.apply(id, actor, Event::CredentialsEntered).await
    }

    /// Gives the channel (when registered) credentials to use from now on.
    async fn hand_over(
        &self,
        id: IntegrationId,
        credentials: &Credentials,
    ) -> Result<(), EngineError> {
        match self.channel(id) {
            Ok(channel) => Ok(channel.use_credentials(credentials).await?),
            Err(EngineError::NoChannel(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Registers the channel of an existing integration after a restart and hands it the stored
    /// credentials, so it acts with what the seller last entered rather than what it was built
    /// with. Integrations with no stored credentials just get the channel.
    pub async fn attach_channel(
        &self,
        id: IntegrationId,
        channel: Arc<dyn Channel>,
    ) -> Result<(), EngineError> {
        self.integration(id).await?;
        // The version goes to the channel's sink: a renewal on another worker changes it, and
        // this worker then adopts the renewed credentials instead of renewing its own.
        let version = match self.store.credentials_versioned(id).await? {
            Some(stored) => {
                let credentials = vault::open(self.key.as_deref(), id, &stored.sealed)?;
                channel.use_credentials(&credentials).await?;
                Some(stored.version)
            }
            None => None,
        };
        self.register_with_version(id, channel, version);
        Ok(())
    }

    /// Stores credentials regenerated at the channel (the old secret stopped working at once);
    /// health becomes Unverified until verified.
    pub async fn rotate_credentials(
        &self,
        id: IntegrationId,
        credentials: &Credentials,
        actor: Actor,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        self.hand_over(id, credentials).await?;
        self.store_credentials(id, credentials).await?;
        self.apply(id, actor, Event::RotateCredentials).await
    }

    /// Seals and stores credentials without a lifecycle change (renewed tokens).
    pub async fn store_credentials(
        &self,
        id: IntegrationId,
        credentials: &Credentials,
    ) -> Result<(), EngineError> {
        let key = self
            .key
            .as_deref()
            .ok_or(VaultError::KeyMissing { needed: None })?;
        let sealed = vault::seal(key, id, credentials)?;
        self.store.put_credentials(id, &sealed).await?;
        Ok(())
    }

    /// Opens the stored credentials.
    pub async fn credentials(&self, id: IntegrationId) -> Result<Credentials, EngineError> {
        let sealed = self
            .store
            .credentials(id)
            .await?
            .ok_or(EngineError::NoCredentials(id))?;
        Ok(vault::open(self.key.as_deref(), id, &sealed)?)
    }

    /// Checks the credentials with the channel. Success makes the integration Healthy (a
    /// restored connection is notified); an `Auth` refusal makes it Broken with the channel's
    /// message.
    pub async fn verify(
        &self,
        id: IntegrationId,
        actor: Actor,
    ) -> Result<AccountInfo, EngineError> {
        self.observed(id, EngineOperation::Verify, self.verify_inner(id, actor))
            .await
    }

    async fn verify_inner(
        &self,
        id: IntegrationId,
        actor: Actor,
    ) -> Result<AccountInfo, EngineError> {
        let rec = self.integration(id).await?;
        Self::note_channel(rec.channel);
        if rec.lifecycle.is_deleted() {
            return Err(EngineError::Blocked {
                integration: id,
                blocked: Blocked::Deleted,
            });
        }
        let channel = self.channel_for(&rec).await?;
        match channel.verify().await {
            Ok(info) => {
                self.apply(id, actor, Event::VerificationSucceeded).await?;
                Ok(info)
            }
            Err(e) => Err(self.channel_failed(id, e).await),
        }
    }

    /// Login-type repair, step one.
    pub async fn deactivate(&self, id: IntegrationId, actor: Actor) -> Result<(), EngineError> {
        self.apply(id, actor, Event::Deactivate).await.map(|_| ())
    }

    /// Login-type repair, step two: reactivates and starts the channel's authorization, returning
    /// where to send the seller.
    pub async fn reactivate(
        &self,
        id: IntegrationId,
        actor: Actor,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, EngineError> {
        self.apply(id, actor, Event::Reactivate).await?;
        self.begin_authorization(id, request).await
    }

    /// Starts a login-type authorization (a new connection, or after reactivation).
    pub async fn begin_authorization(
        &self,
        id: IntegrationId,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationStart, EngineError> {
        let channel = self.ensure_channel(id).await?;
        Self::require(
            &channel.capabilities(),
            channel.as_ref(),
            Operation::Authorize,
        )?;
        Ok(channel.begin_authorization(request).await?)
    }

    /// Completes a login-type authorization: stores the new credentials and verifies them.
    /// Returns `Ok(None)` while a device flow is still pending (poll again later).
    pub async fn complete_authorization(
        &self,
        id: IntegrationId,
        pending: &PendingAuthorization,
        callback: &AuthorizationCallback,
        actor: Actor,
    ) -> Result<Option<AccountInfo>, EngineError> {
        let channel = self.ensure_channel(id).await?;
        match channel.complete_authorization(pending, callback).await? {
            AuthorizationOutcome::Pending { .. } => Ok(None),
            AuthorizationOutcome::Authorized(credentials) => {
                self.enter_credentials(id, &credentials, actor.clone())
                    .await?;
                self.verify(id, actor).await.map(Some)
            }
        }
    }

    /// Sends a "credentials expiring" notice once per expiry when the credentials must be
    /// renewed within the integration's warning window; once they have expired, the integration
    /// becomes Broken with the diagnosis that the seller must log in again. Returns the expiry
    /// when it is near or past.
    pub async fn check_credentials(
        &self,
        id: IntegrationId,
    ) -> Result<Option<DateTime<Utc>>, EngineError> {
        self.observed(
            id,
            EngineOperation::CheckCredentials,
            self.check_credentials_inner(id),
        )
        .await
    }

    async fn check_credentials_inner(
        &self,
        id: IntegrationId,
    ) -> Result<Option<DateTime<Utc>>, EngineError> {
        let rec = self.integration(id).await?;
        Self::note_channel(rec.channel);
        if rec.lifecycle.is_deleted() {
            return Ok(None);
        }
        let Some(at) = self.credentials(id).await?.must_renew_by() else {
            return Ok(None);
        };
        let now = self.now();
        if at <= now {
            // Expired: nothing will work until the seller logs in again (or replaces the
            // credentials), so say so now rather than at the next refused call.
            // The channel said nothing: the diagnosis (login required) is ours, and the expiry
            // is what this method returns.
            let ctx = self.ctx(Actor::System);
            self.update_record(id, |r, _| {
                Ok(r.lifecycle
                    .mark_broken(&ctx, crate::error::BrokenReason::LoginRequired, None)
                    .unwrap_or_default())
            })
            .await?;
            return Ok(Some(at));
        }
        let window = TimeDelta::from_std(rec.settings.expiry_warning).unwrap_or(TimeDelta::days(7));
        if at - now > window {
            return Ok(None);
        }
        if rec.notices.credentials_expiring_for != Some(at) {
            // Once per expiry and lead time, written with the notice state.
            let key = format!(
                "credentials-expiring:{}:lead-{}s",
                at.to_rfc3339(),
                window.num_seconds()
            );
            let note = Notification::CredentialsExpiring {
                integration: id,
                expires_at: at,
            };
            self.update_record_with(
                id,
                |r, _| {
                    r.notices.credentials_expiring_for = Some(at);
                    Ok(Vec::new())
                },
                vec![(key, note)],
            )
            .await?;
        }
        Ok(Some(at))
    }

    // ----- mappings -----

    /// The integration's mappings.
    pub async fn mappings(&self, id: IntegrationId) -> Result<MappingSet, EngineError> {
        Ok(self.store.mappings(id).await?)
    }

    /// Changes the mappings with `f` on behalf of `actor`, and returns them as stored. Mappings
    /// apply to orders downloaded (or re-evaluated) after the change; imported orders keep the
    /// mapping they were imported with.
    ///
    /// The edit is a compare-and-swap on the mappings' version ([`Store::replace_mappings`]):
    /// when another edit was stored in between, `f` runs again on the newer mappings, so two
    /// concurrent edits both survive (`f` may therefore run more than once). The audit log gets
    /// a [`Change::MappingsChanged`] with who, when,
    /// and the whole set before and after, written together with the mappings; an edit that
    /// changes nothing writes nothing.
    pub async fn edit_mappings(
        &self,
        id: IntegrationId,
        actor: Actor,
        mut f: impl FnMut(&mut MappingSet),
    ) -> Result<MappingSet, EngineError> {
        self.integration(id).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.store.mappings_versioned(id).await?;
            let mut after = current.mappings.clone();
            f(&mut after);
            if after == current.mappings {
                return Ok(after);
            }
            let ctx = self.ctx(actor.clone());
            let event = AuditEvent {
                at: ctx.at,
                actor: ctx.actor,
                change: Change::MappingsChanged {
                    before: current.mappings,
                    after: after.clone(),
                },
                support_override: None,
            };
            match self
                .store
                .replace_mappings(id, &after, current.version, &[event])
                .await
            {
                Ok(_) => return Ok(after),
                Err(StoreError::Conflict(_)) if attempt < MAPPING_ATTEMPTS => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    // ----- delete -----

    /// Step one of deleting: every order the seller is still responsible for, by kind, and
    /// what deleting means.
    ///
    /// - `unfulfilled_orders`: imported, managed here, not yet shipped or cancelled (through the
    ///   outbox or at the channel);
    /// - `held_orders`: downloaded and awaiting shipment at the channel but not imported (held
    ///   for a mapping, or unreadable) — paid orders nobody will fulfil through this integration;
    /// - `third_party_orders`: imported as third-party-managed and not yet fulfilled.
    pub async fn plan_delete(&self, id: IntegrationId) -> Result<DeletePlan, EngineError> {
        let rec = self.integration(id).await?;
        // The whole order shipped or cancelled through the outbox counts as fulfilled, even
        // before the channel reports the new status (a partial shipment does not).
        let outbox = self.store.outbox(id).await?;
        let done: std::collections::BTreeSet<ChannelOrderId> = outbox
            .iter()
            .filter(|e| matches!(e.state, store::OutboxState::Sent { .. }))
            .filter(|e| match &e.item.action {
                store::OutboxAction::Ship(s) => s.lines.is_empty(),
                store::OutboxAction::Cancel(c) => c.lines.is_empty(),
                store::OutboxAction::Refund(_) => false,
            })
            .map(|e| e.item.order_id.clone())
            .collect();
        let unsent = outbox
            .iter()
            .filter(|e| matches!(e.state, store::OutboxState::Pending))
            .count();
        let mut unfulfilled = Vec::new();
        let mut held = Vec::new();
        let mut third_party = Vec::new();
        for e in self.store.ledger(id, LedgerFilter::All).await? {
            if done.contains(&e.channel_order_id) {
                continue;
            }
            let open = e
                .order
                .as_ref()
                .is_some_and(|o| o.status.state.is_unfulfilled());
            match (&e.outcome, &e.imported) {
                (store::OrderOutcome::Imported, Some(i)) if open => match i.management {
                    crate::order::Management::Managed => unfulfilled.push(e.channel_order_id),
                    crate::order::Management::ThirdPartyManaged => {
                        third_party.push(e.channel_order_id)
                    }
                },
                // Downloaded, still open at the channel, and not imported for a reason other
                // than its status (held for a mapping, a line without SKU, too old), or
                // unreadable: an order the seller still has to fulfil.
                (store::OrderOutcome::NotImported { reason }, _)
                    if (open
                        && !matches!(
                            reason,
                            store::NotImportedReason::StatusNotImported { .. }
                        ))
                        || matches!(reason, store::NotImportedReason::Unreadable { .. }) =>
                {
                    held.push(e.channel_order_id)
                }
                _ => {}
            }
        }
        let mut plan = rec.lifecycle.plan_delete(unfulfilled, self.now())?;
        if !held.is_empty() {
            plan.notices.push(format!(
                "{} order(s) were downloaded but not imported (waiting for a mapping, or unreadable): they are still open at the channel and nobody will fulfil them through this integration.",
                held.len()
            ));
        }
        if !third_party.is_empty() {
            plan.notices.push(format!(
                "{} order(s) are managed by a third party and not yet fulfilled: you stay responsible for them with that party.",
                third_party.len()
            ));
        }
        if unsent > 0 {
            plan.notices.push(format!(
                "{unsent} shipment(s), refund(s) or cancellation(s) recorded here are not sent yet: deleting stops them; send them at the channel yourself."
            ));
        }
        plan.held_orders = held;
        plan.third_party_orders = third_party;
        Ok(plan)
    }

    /// Step two: the integration becomes a tombstone; its orders stay readable.
    ///
    /// The confirmed plan is checked against the orders the seller is responsible for now: an
    /// order that appeared since the plan (or a plan made up without
    /// [`plan_delete`](Self::plan_delete)) refuses the delete with
    /// [`EngineError::DeletePlanOutdated`], and a new plan must be shown and confirmed.
    pub async fn delete(
        &self,
        id: IntegrationId,
        confirmation: DeleteConfirmation,
        actor: Actor,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        let current = self.plan_delete(id).await?;
        let confirmed = confirmation.plan();
        let missing: Vec<ChannelOrderId> = current
            .unfulfilled_orders
            .iter()
            .chain(&current.held_orders)
            .chain(&current.third_party_orders)
            .filter(|o| {
                !confirmed.unfulfilled_orders.contains(o)
                    && !confirmed.held_orders.contains(o)
                    && !confirmed.third_party_orders.contains(o)
            })
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(EngineError::DeletePlanOutdated { missing });
        }
        let ctx = self.ctx(actor);
        self.update_record(id, |rec, _| {
            Ok(rec.lifecycle.delete(&ctx, confirmation.clone())?)
        })
        .await
    }
}
