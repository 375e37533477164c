//! The scheduler: runs each integration's due operations at its communication frequency, with a
//! global concurrency limit, sharing the work with any number of other workers through the
//! store.
//!
//! # Work is claimed from the store
//!
//! Every scheduler has a [`WorkerId`]. A pass ([`Scheduler::tick`]) asks the store for
//! integrations whose work is due ([`Store::claim_work`](crate::store::Store::claim_work)), a
//! bounded page at a time and never more than the scheduler's [`with_max_held`] at once (a
//! claim that would exceed it is released at once, due at once, for another worker or a later
//! pass), so a worker's memory does not grow with the number of integrations. The store gives each
//! integration to one worker at a time, with a lease whose expiry the store's clock decides
//! (never a worker's own clock, which may be skewed). For each integration it claimed, the pass:
//!
//! 1. reads its record, and records the passing of time (Testing → Live, [`Engine::tick`]);
//! 2. decides which operations are due ([`Scheduler::due`]) from its lifecycle, switches and
//!    frequencies and the run times the store keeps per operation
//!    ([`WorkClaim::runs`](crate::store::WorkClaim::runs)): an operation is due when it never
//!    ran, when its frequency has passed since its last start (by the engine's clock), or when
//!    its last start has no finish after it (its worker died or lost its lease mid-run);
//! 3. records each start in the store ([`Store::record_run`](crate::store::Store::record_run))
//!    before it starts the operation, so no other worker starts it again (a start is recorded
//!    with no finish: "no finish after the start" is what marks a run as interrupted, whatever
//!    the clock of the worker that stamped the previous finish);
//! 4. runs them (at most `max_concurrent` operations at once across all integrations of this
//!    scheduler), renewing the lease every third of its length while any of the integration's
//!    runs is in flight (a failed renewal is tried again after 1 s, then 2 s, 4 s…), records
//!    each finish, and releases the integration
//!    ([`Store::release_work`](crate::store::Store::release_work)) once its last run finished,
//!    due again at the earliest time one of its operations is next due (the engine's clock;
//!    "never" for deleted integrations; at once when the integration changed meanwhile).
//!
//! A pass starts the runs and returns at once: a slow or failing integration never delays the
//! others, and one integration's error (its record unreadable, a run failing) never stops the
//! pass: each is reported on its own ([`Pass::failed`], [`RunRecord::result`]). An integration
//! stays with its worker until all its runs finished, so one slow operation of an integration
//! holds back that integration's other operations (never another integration's).
//!
//! Disabled, broken, deactivated and not-yet-active integrations only get their credentials
//! checked; deleted ones are never scheduled.
//!
//! # Notifications
//!
//! After claiming, each pass also makes one delivery pass over the notification outbox
//! ([`Engine::deliver_notifications`]) through the engine's registered transports, outside the
//! claim (runs that finish meanwhile are not held up by it). A transport that fails leaves its
//! notifications waiting in the outbox for a later pass; the failures are logged and reported
//! ([`Pass::notifications`]), never stopping the pass. A notification raised by a run of this
//! pass is delivered by the next one.
//!
//! # The oversell guard
//!
//! Each pass first hands the stock journal over once ([`Engine::propagate_stock`]: the host's
//! [`Catalog::orders_imported`](crate::Catalog::orders_imported) hook, then the SKUs to send
//! to the other channels marked pending, which makes those integrations due at once), before
//! it claims, so an integration marked by the hand-over is claimed in the same pass. A failing
//! hook is logged and reported ([`Pass::stock`]); the events wait for the next pass. A claimed
//! integration with pending SKUs that may sync listings now runs
//! [`ScheduledOperation::PropagateStock`] ([`Engine::sync_pending_skus`]) before its other due
//! operations: they wait until it finished, so the targeted sync takes the channel's rate
//! budget first and the bulk sync ([`ScheduledOperation::SyncListings`]) gets what is left.
//! Its pending SKUs that could not be sent are tried again at the integration's next run.
//!
//! # A lost lease
//!
//! A worker keeps running an integration's operations only while it knows it holds the lease.
//! It notes when its last successful renewal (or the claim) was sent; when that is older than
//! the lease minus a margin (a sixth of the lease) because renewals keep failing, or when a
//! renewal or a recorded finish finds the lease gone (another worker took the integration
//! over), it stops that integration's runs where they are, records no finish for them and
//! drops the integration without releasing it. Each stopped run is reported with a
//! [`StoreError::Conflict`] error. The next holder sees the runs unfinished and runs them
//! again; what a stopped run already sent is sent, and the engine's operations are safe to
//! repeat (orders are imported once, outbox entries sent once, publishes looked up before a
//! create). The margin covers the time the store takes to answer a renewal and the difference
//! between this worker's timer and the store's clock over one lease.
//!
//! # One rate budget per marketplace account
//!
//! Issue 19 asks for one rate budget per account whichever worker sends. The answer here is the
//! lease: all of one integration's operations run in the worker holding its lease, and only one
//! worker holds it at a time, so every call for one account comes from one process and goes
//! through that process's rate limiter (the HTTP layer's limiter, keyed per account). The
//! limiter's window therefore does not need to live in the store.
//!
//! # As a service
//!
//! [`Scheduler::run`] runs passes until told to stop, delivering every finished run and every
//! integration that failed to a channel of [`Report`]s; on shutdown it stops claiming, waits for
//! the runs in flight up to the drain timeout, then stops what is left, releases its leases,
//! waits (again up to the drain timeout) for the credential renewals under way in the engine's
//! channels ([`Engine::renewals_idle`]: a renewal stopped halfway can lose the live refresh
//! token) and returns a [`RunSummary`].
//!
//! Each [`RunRecord`] names the integration, its channel kind, the operation, when it started,
//! how long it ran and its report or error: enough for a host's metrics and logs.
//!
//! # Adapters on demand
//!
//! When the engine has a [`ChannelFactory`](super::ChannelFactory), the scheduler needs no
//! adapter registered beforehand: the first operation of a claimed integration makes and
//! attaches it, and the scheduler detaches it ([`Engine::detach_channel`]) when it gives the
//! integration back (or loses it), so a worker keeps only the adapters of the integrations it
//! holds, and integrations connected by another process are run too. A factory that fails
//! fails that integration's runs ([`EngineError::ChannelFactory`]), reported like any other
//! run error. Without a factory, registered channels stay as they are.
//!
//! [`with_max_held`]: Scheduler::with_max_held

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

use crate::ids::{ChannelKind, IntegrationId};
use crate::lifecycle::Feature;
use crate::notify::DeliveryReport;
use crate::store::{RunTimes, StoreError, WorkClaim, WorkerId, never_due};

use super::listings::{ReconcileOutcome, SyncReport};
use super::orders::{ImportReport, OutboxReport};
use super::stock::{PropagationReport, StockHandOver};
use super::{Engine, EngineError};
use crate::store::IntegrationRecord;

/// How long a claimed integration stays with its worker unless renewed, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How many integrations one claim asks the store for, by default.
pub const DEFAULT_CLAIM_BATCH: usize = 32;

/// How long [`Scheduler::run`] waits for runs in flight after shutdown, by default.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The wait before trying a failed lease renewal again (doubled after each further failure, at
/// most a third of the lease; shorter for leases under 12 s).
const RENEW_RETRY: Duration = Duration::from_secs(1);

/// An operation the scheduler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScheduledOperation {
    /// [`Engine::sync_pending_skus`]: the targeted sync of the SKUs a sale elsewhere changed.
    /// Not run at a frequency: whenever the integration has pending SKUs, before its other
    /// operations.
    PropagateStock,
    /// [`Engine::import_orders`].
    ImportOrders,
    /// [`Engine::sync_listings`].
    SyncListings,
    /// [`Engine::run_reconcile`].
    Reconcile,
    /// [`Engine::sync_orders`] (the outbox).
    SyncOrders,
    /// [`Engine::check_credentials`].
    CheckCredentials,
}

impl ScheduledOperation {
    /// Every operation, in the order a pass considers them.
    pub const ALL: [ScheduledOperation; 6] = [
        ScheduledOperation::PropagateStock,
        ScheduledOperation::CheckCredentials,
        ScheduledOperation::ImportOrders,
        ScheduledOperation::SyncListings,
        ScheduledOperation::Reconcile,
        ScheduledOperation::SyncOrders,
    ];

    /// Its stable name, as stored ([`RunTimes`] are kept by it).
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduledOperation::PropagateStock => "propagate_stock",
            ScheduledOperation::ImportOrders => "import_orders",
            ScheduledOperation::SyncListings => "sync_listings",
            ScheduledOperation::Reconcile => "reconcile",
            ScheduledOperation::SyncOrders => "sync_orders",
            ScheduledOperation::CheckCredentials => "check_credentials",
        }
    }
}

/// What one scheduled run produced.
#[derive(Debug)]
pub enum RunOutput {
    /// A targeted sync of pending SKUs.
    Propagation(PropagationReport),
    /// An import.
    Import(ImportReport),
    /// A listing sync.
    Sync(SyncReport),
    /// A reconcile.
    Reconcile(ReconcileOutcome),
    /// An outbox run.
    Outbox(OutboxReport),
    /// A credentials check: the expiry when near.
    Credentials(Option<DateTime<Utc>>),
}

/// One finished run (or one that could not start: its start could not be recorded).
#[derive(Debug)]
pub struct RunRecord {
    /// The integration.
    pub integration: IntegrationId,
    /// The operation.
    pub operation: ScheduledOperation,
    /// The integration's channel kind (the `channel` label of the metrics).
    pub channel: ChannelKind,
    /// When it started (the engine's clock).
    pub started_at: DateTime<Utc>,
    /// How long it ran, waiting for a concurrency permit included (zero for a run that could
    /// not start).
    pub duration: Duration,
    /// Its report or error.
    pub result: Result<RunOutput, EngineError>,
}

impl RunRecord {
    /// Whether the run succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// A claimed integration whose operations could not be prepared: its record could not be read,
/// or the passing of time could not be recorded. The other integrations are not affected.
#[derive(Debug)]
pub struct IntegrationFailure {
    /// The integration.
    pub integration: IntegrationId,
    /// What failed.
    pub error: EngineError,
}

/// What one pass ([`Scheduler::tick`]) did.
#[derive(Debug, Default)]
pub struct Pass {
    /// How many integrations it claimed from the store.
    pub claimed: usize,
    /// The runs it started, each delivering its [`RunRecord`] when finished (its finish recorded
    /// and, for an integration's last run, the integration released).
    pub runs: Vec<JoinHandle<RunRecord>>,
    /// Integrations whose preparation failed (their runs, if any, still started).
    pub failed: Vec<IntegrationFailure>,
    /// The notification delivery pass made after the claim.
    pub notifications: DeliveryReport,
    /// The stock hand-over made before the claim ([`Engine::propagate_stock`]); `None` only in
    /// a pass made by hand ([`Pass::default`]).
    pub stock: Option<Result<StockHandOver, EngineError>>,
}

/// What [`Scheduler::run`] delivers.
#[derive(Debug)]
pub enum Report {
    /// A run finished (or could not start).
    Run(RunRecord),
    /// A claimed integration could not be prepared.
    Failed(IntegrationFailure),
}

/// What [`Scheduler::run`] did, returned when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Passes made.
    pub passes: u64,
    /// Runs in flight when shutdown was asked for.
    pub in_flight: usize,
    /// Of those, the runs that finished within the drain timeout.
    pub drained: usize,
    /// Of those, the runs still going at the drain timeout: stopped, their finish not recorded
    /// (the next holder of the integration runs them again).
    pub abandoned: usize,
    /// Whether a credential renewal of one of the engine's channels was still under way when
    /// the wait for it ([`Engine::renewals_idle`], up to the drain timeout) ended.
    pub renewal_unfinished: bool,
}

/// Where a pass delivers its runs.
enum Sink<'a> {
    /// As handles in the pass.
    Handles(&'a mut Vec<JoinHandle<RunRecord>>),
    /// To a channel.
    Channel(&'a mpsc::Sender<Report>),
}

/// An integration this scheduler holds the lease of, with runs in flight.
struct Held {
    id: IntegrationId,
    /// Its channel kind, for the run records.
    channel: ChannelKind,
    /// Its operations with their frequencies, as decided when claimed.
    wanted: Vec<(ScheduledOperation, TimeDelta)>,
    state: Mutex<HeldState>,
    lease_lost: AtomicBool,
    /// Set to `true` when the lease is lost (or may be): the runs stop.
    stop: watch::Sender<bool>,
    /// `true` once no targeted sync ([`ScheduledOperation::PropagateStock`]) is to run or it
    /// finished: the other runs wait for it.
    propagated: watch::Sender<bool>,
}

impl Held {
    /// The lease is lost or may be: no finish is recorded any more, the runs stop.
    fn lose_lease(&self) {
        self.lease_lost.store(true, Ordering::SeqCst);
        self.stop.send_replace(true);
    }

    /// Completes once the targeted sync, if any, finished.
    async fn propagation_done(&self) {
        let mut rx = self.propagated.subscribe();
        // The sender lives in `self`: waiting cannot fail while `self` is borrowed.
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Completes once the lease is lost.
    async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        // The sender lives in `self`: waiting cannot fail while `self` is borrowed.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

struct HeldState {
    /// The run times, as claimed and updated with this worker's starts and finishes.
    runs: BTreeMap<String, RunTimes>,
    /// The operations in flight.
    running: BTreeSet<ScheduledOperation>,
    /// The run tasks, to stop them when abandoned.
    tasks: Vec<AbortHandle>,
    /// The renewal task.
    renewal: Option<AbortHandle>,
}

/// State shared by a scheduler's clones and its tasks.
struct Shared {
    permits: Arc<Semaphore>,
    held: Mutex<HashMap<IntegrationId, Arc<Held>>>,
    /// Taken by a pass while it claims and prepares, and by a release: an integration is never
    /// claimed again by this worker while its release is under way.
    claiming: tokio::sync::Mutex<()>,
    /// Woken whenever an integration is released.
    released: Notify,
    /// Passes finished ([`Scheduler::passes`]).
    passes: AtomicU64,
    /// When the last pass finished, by the engine's clock ([`Scheduler::last_pass_at`]).
    last_pass: Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("held", &lock(&self.held).len())
            .finish_non_exhaustive()
    }
}

/// Runs due operations, sharing the work with other workers through the store. See the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct Scheduler {
    engine: Arc<Engine>,
    worker: WorkerId,
    lease: Duration,
    claim_batch: usize,
    max_held: usize,
    drain_timeout: Duration,
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Scheduler {
    /// A scheduler running at most `max_concurrent` operations at once across all integrations,
    /// as a fresh worker (`scheduler-` and a random suffix), with the default lease
    /// ([`DEFAULT_LEASE`]), claim batch ([`DEFAULT_CLAIM_BATCH`]), drain timeout
    /// ([`DEFAULT_DRAIN_TIMEOUT`]) and at most `4 × max_concurrent` integrations held at once
    /// (at least 8).
    pub fn new(engine: Arc<Engine>, max_concurrent: usize) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Self {
            engine,
            worker: WorkerId::new("scheduler"),
            lease: DEFAULT_LEASE,
            claim_batch: DEFAULT_CLAIM_BATCH,
            max_held: (max_concurrent * 4).max(8),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            shared: Arc::new(Shared {
                permits: Arc::new(Semaphore::new(max_concurrent)),
                held: Mutex::new(HashMap::new()),
                claiming: tokio::sync::Mutex::new(()),
                released: Notify::new(),
                passes: AtomicU64::new(0),
                last_pass: Mutex::new(None),
            }),
        }
    }

    /// Uses `worker` as this scheduler's id (unique per process start: two schedulers with one
    /// id are one worker to the store). Set it before the first pass.
    pub fn with_worker(mut self, worker: WorkerId) -> Self {
        self.worker = worker;
        self
    }

    /// How long a claimed integration stays with this worker unless renewed (renewed every
    /// third of it while runs are in flight; its runs are stopped when no renewal succeeded for
    /// five sixths of it). A worker that dies keeps its integrations this long at most. At
    /// least 3 ms.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(3));
        self
    }

    /// How many integrations one claim asks the store for (at least 1).
    pub fn with_claim_batch(mut self, batch: usize) -> Self {
        self.claim_batch = batch.max(1);
        self
    }

    /// The most integrations this scheduler holds at once (claimed, with runs in flight; at
    /// least 1). A pass claims no more once it holds this many; the rest stay for other
    /// workers or a later pass.
    pub fn with_max_held(mut self, max: usize) -> Self {
        self.max_held = max.max(1);
        self
    }

    /// How long [`run`](Self::run) waits for runs in flight after shutdown.
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// This scheduler's worker id: the holder of its leases in the store.
    pub fn worker(&self) -> &WorkerId {
        &self.worker
    }

    /// The lease length.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// An integration's operations with their frequencies, by its lifecycle and switches at
    /// `now` (none when deleted).
    fn wanted(rec: &IntegrationRecord, now: DateTime<Utc>) -> Vec<(ScheduledOperation, TimeDelta)> {
        if rec.lifecycle.is_deleted() {
            return Vec::new();
        }
        let every = |d: Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
        let f = rec.settings.frequencies;
        let mut wanted = vec![(ScheduledOperation::CheckCredentials, every(f.credentials))];
        if rec.lifecycle.check_exchange(now).is_ok() {
            let features = rec.lifecycle.features();
            if features.orders {
                wanted.push((ScheduledOperation::ImportOrders, every(f.orders)));
            }
            if features.listings {
                wanted.push((ScheduledOperation::SyncListings, every(f.listings)));
            }
            if features.reconciler {
                wanted.push((ScheduledOperation::Reconcile, every(f.listings)));
            }
            if rec
                .lifecycle
                .check_feature(Feature::Fulfillments, now)
                .is_ok()
            {
                wanted.push((ScheduledOperation::SyncOrders, every(f.fulfillments)));
            }
        }
        wanted
    }

    fn is_due(times: Option<&RunTimes>, every: TimeDelta, now: DateTime<Utc>) -> bool {
        let Some(started) = times.and_then(|t| t.last_started) else {
            return true;
        };
        // A start with no finish after it: its worker died or lost the lease mid-run.
        let interrupted = times
            .and_then(|t| t.last_finished)
            .is_none_or(|finished| finished < started);
        interrupted || now - started >= every
    }

    /// The operations due for an integration at `now` (the engine's clock), by its lifecycle,
    /// switches and frequencies and the run times the store keeps for it (by
    /// [`ScheduledOperation::as_str`]): those that never ran, whose frequency has passed since
    /// their last start, or whose last start has no finish after it.
    pub fn due(
        rec: &IntegrationRecord,
        runs: &BTreeMap<String, RunTimes>,
        now: DateTime<Utc>,
    ) -> Vec<ScheduledOperation> {
        Self::wanted(rec, now)
            .into_iter()
            .filter(|(op, every)| Self::is_due(runs.get(op.as_str()), *every, now))
            .map(|(op, _)| op)
            .collect()
    }

    /// When the earliest of `wanted` is next due after the runs recorded: its last start plus
    /// its frequency (`now` for one never started); [`never_due`] when nothing is wanted.
    fn next_due(
        wanted: &[(ScheduledOperation, TimeDelta)],
        runs: &BTreeMap<String, RunTimes>,
        now: DateTime<Utc>,
    ) -> DateTime<Utc> {
        wanted
            .iter()
            .map(|(op, every)| {
                match runs.get(op.as_str()).and_then(|t| t.last_started) {
                    Some(started) => started.checked_add_signed(*every).unwrap_or(never_due()),
                    None => now,
                }
                .min(never_due())
            })
            .min()
            .unwrap_or(never_due())
    }

    /// One pass: claims due integrations from the store and starts their due operations.
    /// Returns the started runs' handles without waiting for them, and the integrations whose
    /// preparation failed. `Err` only when the store refused the first claim.
    pub async fn tick(&self) -> Result<Pass, EngineError> {
        let mut runs = Vec::new();
        let stock = self.hand_over_stock().await;
        let claimed = self.pass(&mut Sink::Handles(&mut runs)).await;
        // Delivered even when the claim failed: the outbox does not depend on it.
        let notifications = self.deliver_notifications().await;
        self.pass_finished();
        let (claimed, failed) = claimed?;
        Ok(Pass {
            claimed,
            runs,
            failed,
            notifications,
            stock: Some(stock),
        })
    }

    /// One hand-over of the stock journal ([`Engine::propagate_stock`]); a failure is logged
    /// (the events wait for the next pass).
    async fn hand_over_stock(&self) -> Result<StockHandOver, EngineError> {
        let result = self.engine.propagate_stock().await;
        match &result {
            Err(e) => {
                tracing::warn!(worker = %self.worker, error = %e, "handing the stock journal over failed; it is tried again at the next pass");
            }
            Ok(r) if !r.events.is_empty() => {
                tracing::debug!(worker = %self.worker, events = r.events.len(), marked = r.marked.len(), "stock events handed over");
            }
            Ok(_) => {}
        }
        result
    }

    /// One delivery pass over the notification outbox; what failed is logged (it waits in the
    /// outbox for a later pass).
    async fn deliver_notifications(&self) -> DeliveryReport {
        let report = self.engine.deliver_notifications().await;
        for p in report.retrying.iter().chain(&report.failed) {
            tracing::warn!(
                worker = %self.worker,
                integration = %p.integration,
                notification = %p.notification,
                transport = %p.transport,
                error = %p.error,
                retry_at = ?p.retry_at,
                "delivering a notification failed"
            );
        }
        for (transport, error) in &report.store_errors {
            tracing::warn!(worker = %self.worker, transport = %transport, error = %error, "the notification outbox could not be read or updated");
        }
        if !report.delivered.is_empty() {
            tracing::debug!(worker = %self.worker, delivered = report.delivered.len(), "notifications delivered");
        }
        report
    }

    async fn pass(
        &self,
        sink: &mut Sink<'_>,
    ) -> Result<(usize, Vec<IntegrationFailure>), EngineError> {
        let _claiming = self.shared.claiming.lock().await;
        let mut claimed = 0;
        let mut failed = Vec::new();
        loop {
            let held = lock(&self.shared.held).len();
            let room = self.max_held.saturating_sub(held);
            if room == 0 {
                break;
            }
            // The store hands this worker's own leases back too (those held here, with runs
            // in flight, are skipped below): ask for that many more, so that a page always
            // has room for integrations not held yet.
            let limit = room.min(self.claim_batch) + held;
            // The leases run from (at the latest) the moment the claim is sent.
            let asked = Instant::now();
            let claims = match self
                .engine
                .store()
                .claim_work(&self.worker, self.engine.now(), self.lease, limit)
                .await
            {
                Ok(c) => c,
                Err(e) if claimed == 0 => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(worker = %self.worker, error = %e, "claiming more work failed; the pass ends here");
                    break;
                }
            };
            let got = claims.len();
            let mut new = 0;
            for claim in claims {
                // Already held with runs in flight (the store hands a worker's own leases
                // back): it is released when they finish.
                if lock(&self.shared.held).contains_key(&claim.integration) {
                    continue;
                }
                new += 1;
                if new > room {
                    // Own held rows sorted after new ones: taking this one would hold more
                    // than `max_held`. Given back at once, still due.
                    self.release(claim.integration, self.engine.now()).await;
                    continue;
                }
                claimed += 1;
                self.prepare(claim, asked, sink, &mut failed).await;
            }
            if got < limit || new == 0 {
                break;
            }
        }
        Ok((claimed, failed))
    }

    /// Delivers a record at once (a run that could not start).
    fn deliver_now(sink: &mut Sink<'_>, record: RunRecord) {
        match sink {
            Sink::Handles(h) => h.push(tokio::spawn(async move { record })),
            Sink::Channel(tx) => {
                let tx = (*tx).clone();
                tokio::spawn(async move {
                    let _ = tx.send(Report::Run(record)).await;
                });
            }
        }
    }

    /// Releases an integration with no runs to start. A failure is logged: the lease lapses.
    /// With a [`ChannelFactory`](super::ChannelFactory) its channel is detached from the engine.
    async fn release(&self, id: IntegrationId, next_due: DateTime<Utc>) {
        self.detach(id);
        if let Err(e) = self
            .engine
            .store()
            .release_work(id, &self.worker, next_due)
            .await
        {
            tracing::warn!(integration = %id, worker = %self.worker, error = %e, "releasing the integration's work failed; its lease will lapse");
        }
    }

    /// Prepares and starts one claimed integration's due runs.
    async fn prepare(
        &self,
        claim: WorkClaim,
        claimed_at: Instant,
        sink: &mut Sink<'_>,
        failed: &mut Vec<IntegrationFailure>,
    ) {
        let id = claim.integration;
        let store = self.engine.store().clone();
        let rec = match store.integration(id).await {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                self.release(id, never_due()).await;
                return;
            }
            Err(e) => {
                tracing::warn!(integration = %id, error = %e, "reading a claimed integration failed");
                failed.push(IntegrationFailure {
                    integration: id,
                    error: e.into(),
                });
                self.release(id, self.engine.now()).await;
                return;
            }
        };
        if rec.lifecycle.is_deleted() {
            self.release(id, never_due()).await;
            return;
        }
        // Testing → Live is recorded (and notified) even for idle integrations.
        if let Err(e) = self.engine.tick(id).await {
            tracing::warn!(integration = %id, error = %e, "recording the passing of time failed");
            failed.push(IntegrationFailure {
                integration: id,
                error: e,
            });
        }
        let now = self.engine.now();
        let wanted = Self::wanted(&rec, now);
        let mut runs = claim.runs;
        let mut to_run = Vec::new();
        for (op, every) in &wanted {
            if !Self::is_due(runs.get(op.as_str()), *every, now) {
                continue;
            }
            // No finish: a previous finish stamped by a worker whose clock runs ahead could be
            // later than this start and make this run look finished if it is interrupted.
            let times = RunTimes {
                last_started: Some(now),
                last_finished: None,
            };
            match store
                .record_run(id, &self.worker, op.as_str(), &times)
                .await
            {
                Ok(()) => {
                    runs.insert(op.as_str().to_owned(), times);
                    to_run.push(*op);
                }
                Err(StoreError::Conflict(m)) => {
                    // Another worker holds it now: start nothing more, release nothing.
                    tracing::warn!(integration = %id, worker = %self.worker, reason = %m, "lease lost before the runs started; nothing started");
                    return;
                }
                Err(e) => {
                    tracing::warn!(integration = %id, operation = ?op, error = %e, "recording a start failed; the run is not started");
                    Self::deliver_now(
                        sink,
                        RunRecord {
                            integration: id,
                            operation: *op,
                            channel: rec.channel,
                            started_at: now,
                            duration: Duration::ZERO,
                            result: Err(e.into()),
                        },
                    );
                }
            }
        }
        // SKUs a sale on another channel changed go first (the oversell guard).
        if rec.lifecycle.check_feature(Feature::Listings, now).is_ok() {
            match store.pending_skus(id, 1).await {
                Ok(pending) if !pending.is_empty() => {
                    to_run.insert(0, ScheduledOperation::PropagateStock);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(integration = %id, error = %e, "reading the pending SKUs failed; they are sent at a later run");
                }
            }
        }
        if to_run.is_empty() {
            self.release(id, Self::next_due(&wanted, &runs, now)).await;
            return;
        }
        let held = Arc::new(Held {
            id,
            channel: rec.channel,
            wanted,
            state: Mutex::new(HeldState {
                runs,
                running: to_run.iter().copied().collect(),
                tasks: Vec::new(),
                renewal: None,
            }),
            lease_lost: AtomicBool::new(false),
            stop: watch::Sender::new(false),
            propagated: watch::Sender::new(!to_run.contains(&ScheduledOperation::PropagateStock)),
        });
        lock(&self.shared.held).insert(id, held.clone());
        let renewal = self.spawn_renewal(held.clone(), claimed_at);
        let mut tasks = Vec::new();
        for op in to_run {
            let this = self.clone();
            let held = held.clone();
            let run = async move { this.run_one(held, op, now).await };
            tasks.push(match sink {
                Sink::Handles(h) => {
                    let handle = tokio::spawn(run);
                    let abort = handle.abort_handle();
                    h.push(handle);
                    abort
                }
                Sink::Channel(tx) => {
                    let tx = (*tx).clone();
                    tokio::spawn(async move {
                        let record = run.await;
                        let _ = tx.send(Report::Run(record)).await;
                    })
                    .abort_handle()
                }
            });
        }
        let mut state = lock(&held.state);
        state.tasks.extend(tasks);
        state.renewal = Some(renewal);
    }

    /// How long before the lease would end, counted from the last successful renewal, the
    /// runs are stopped when no renewal succeeded since.
    fn lease_margin(lease: Duration) -> Duration {
        lease / 6
    }

    /// Renews the lease every third of its length until stopped or lost. A failed renewal is
    /// tried again after [`RENEW_RETRY`], doubled after each further failure. When no renewal
    /// succeeded for the lease minus [`lease_margin`](Self::lease_margin) (counted from when the
    /// last successful one, or the claim, was sent), or the store says another worker holds
    /// the lease, the integration's runs are stopped.
    fn spawn_renewal(&self, held: Arc<Held>, claimed_at: Instant) -> AbortHandle {
        let store = self.engine.store().clone();
        let worker = self.worker.clone();
        let lease = self.lease;
        let margin = Self::lease_margin(lease);
        let first_retry = RENEW_RETRY.min(lease / 12);
        tokio::spawn(async move {
            let mut last_ok = claimed_at;
            let mut retry: Option<Duration> = None;
            loop {
                let deadline = last_ok + (lease - margin);
                let next = match retry {
                    None => last_ok + lease / 3,
                    Some(wait) => Instant::now() + wait,
                };
                if next >= deadline {
                    tokio::time::sleep_until(deadline).await;
                    tracing::warn!(integration = %held.id, worker = %worker, "the lease could not be renewed in time; the integration's runs are stopped, their finishes not recorded");
                    held.lose_lease();
                    return;
                }
                tokio::time::sleep_until(next).await;
                let sent = Instant::now();
                match tokio::time::timeout_at(deadline, store.renew_work(held.id, &worker, lease))
                    .await
                {
                    Ok(Ok(())) => {
                        last_ok = sent;
                        retry = None;
                    }
                    Ok(Err(StoreError::Conflict(m))) => {
                        tracing::warn!(integration = %held.id, worker = %worker, reason = %m, "lease lost while runs are in flight; they are stopped, their finishes not recorded");
                        held.lose_lease();
                        return;
                    }
                    Ok(Err(e)) => {
                        let wait = retry.map_or(first_retry, |w| (w * 2).min(lease / 3));
                        tracing::warn!(integration = %held.id, worker = %worker, error = %e, retry_in = ?wait, "renewing the lease failed; trying again");
                        retry = Some(wait);
                    }
                    Err(_) => {
                        tracing::warn!(integration = %held.id, worker = %worker, "renewing the lease took too long; the integration's runs are stopped, their finishes not recorded");
                        held.lose_lease();
                        return;
                    }
                }
            }
        })
        .abort_handle()
    }

    async fn execute(
        &self,
        id: IntegrationId,
        op: ScheduledOperation,
    ) -> Result<RunOutput, EngineError> {
        let Ok(_permit) = self.shared.permits.clone().acquire_owned().await else {
            return Err(EngineError::Store(StoreError::backend(
                "scheduler shut down",
            )));
        };
        let e = &self.engine;
        match op {
            ScheduledOperation::PropagateStock => {
                e.sync_pending_skus(id).await.map(RunOutput::Propagation)
            }
            ScheduledOperation::ImportOrders => e.import_orders(id).await.map(RunOutput::Import),
            ScheduledOperation::SyncListings => e.sync_listings(id).await.map(RunOutput::Sync),
            ScheduledOperation::Reconcile => e.run_reconcile(id).await.map(RunOutput::Reconcile),
            ScheduledOperation::SyncOrders => e.sync_orders(id).await.map(RunOutput::Outbox),
            ScheduledOperation::CheckCredentials => match e.check_credentials(id).await {
                // Integrations without stored credentials have nothing to check.
                Err(EngineError::NoCredentials(_)) => Ok(RunOutput::Credentials(None)),
                other => other.map(RunOutput::Credentials),
            },
        }
    }

    async fn run_one(
        &self,
        held: Arc<Held>,
        op: ScheduledOperation,
        started_at: DateTime<Utc>,
    ) -> RunRecord {
        let id = held.id;
        let began = Instant::now();
        let result = tokio::select! {
            result = async {
                if op != ScheduledOperation::PropagateStock {
                    held.propagation_done().await;
                }
                self.execute(id, op).await
            } => result,
            () = held.stopped() => Err(EngineError::Store(StoreError::Conflict(format!(
                "the work lease on integration {id} was lost (or could not be renewed in time): the run was stopped"
            )))),
        };
        if op == ScheduledOperation::PropagateStock {
            held.propagated.send_replace(true);
        }
        if let Err(e) = &result {
            tracing::warn!(integration = %id, operation = ?op, error = %e, "scheduled run failed");
        }
        let times = RunTimes {
            last_started: Some(started_at),
            last_finished: Some(self.engine.now()),
        };
        if held.lease_lost.load(Ordering::SeqCst) {
            tracing::warn!(integration = %id, operation = ?op, worker = %self.worker, "the lease was lost during the run: its finish is not recorded");
        } else {
            match self
                .engine
                .store()
                .record_run(id, &self.worker, op.as_str(), &times)
                .await
            {
                Ok(()) => {
                    lock(&held.state).runs.insert(op.as_str().to_owned(), times);
                }
                Err(StoreError::Conflict(m)) => {
                    held.lose_lease();
                    tracing::warn!(integration = %id, operation = ?op, worker = %self.worker, reason = %m, "the lease was lost during the run: its finish is not recorded, the integration's other runs are stopped");
                }
                Err(e) => {
                    tracing::warn!(integration = %id, operation = ?op, error = %e, "recording a finish failed");
                }
            }
        }
        let last = {
            let mut state = lock(&held.state);
            state.running.remove(&op);
            state.running.is_empty()
        };
        if last {
            self.finish_integration(&held).await;
        }
        RunRecord {
            integration: id,
            operation: op,
            channel: held.channel,
            started_at,
            duration: began.elapsed(),
            result,
        }
    }

    /// After an integration's last run: stops the renewals and releases it, due again when its
    /// first operation is next due.
    async fn finish_integration(&self, held: &Arc<Held>) {
        let _claiming = self.shared.claiming.lock().await;
        let next_due = {
            let mut state = lock(&held.state);
            if let Some(renewal) = state.renewal.take() {
                renewal.abort();
            }
            state.tasks.clear();
            Self::next_due(&held.wanted, &state.runs, self.engine.now())
        };
        if !held.lease_lost.load(Ordering::SeqCst) {
            self.release(held.id, next_due).await;
        }
        self.forget(held);
    }

    /// With a [`ChannelFactory`](super::ChannelFactory), an integration this worker no longer
    /// holds keeps no adapter here: the next claim makes a new one.
    fn detach(&self, id: IntegrationId) {
        if self.engine.has_channel_factory() {
            self.engine.detach_channel(id);
        }
    }

    fn forget(&self, held: &Arc<Held>) {
        let mut all = lock(&self.shared.held);
        if all.get(&held.id).is_some_and(|h| Arc::ptr_eq(h, held)) {
            all.remove(&held.id);
            self.detach(held.id);
        }
        drop(all);
        self.shared.released.notify_waiters();
    }

    /// Whether an operation is running for an integration in this scheduler.
    pub fn is_running(&self, id: IntegrationId, op: ScheduledOperation) -> bool {
        lock(&self.shared.held)
            .get(&id)
            .is_some_and(|h| lock(&h.state).running.contains(&op))
    }

    /// How many runs are in flight in this scheduler.
    pub fn runs_in_flight(&self) -> usize {
        lock(&self.shared.held)
            .values()
            .map(|h| lock(&h.state).running.len())
            .sum()
    }

    /// How many integrations this scheduler holds (claimed, with runs in flight).
    pub fn held(&self) -> usize {
        lock(&self.shared.held).len()
    }

    /// How many passes this scheduler (and its clones) finished, by [`tick`](Self::tick) or
    /// [`run`](Self::run): a pass counts whether its claim succeeded or not (a failed claim is
    /// logged), so a service can tell that its scheduler is still going.
    pub fn passes(&self) -> u64 {
        self.shared.passes.load(Ordering::SeqCst)
    }

    /// When the last pass finished, by the engine's clock; `None` before the first.
    pub fn last_pass_at(&self) -> Option<DateTime<Utc>> {
        *lock(&self.shared.last_pass)
    }

    fn pass_finished(&self) {
        *lock(&self.shared.last_pass) = Some(self.engine.now());
        self.shared.passes.fetch_add(1, Ordering::SeqCst);
    }

    /// Waits until this scheduler holds no integration.
    async fn idle(&self) {
        loop {
            let released = self.shared.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if lock(&self.shared.held).is_empty() {
                return;
            }
            released.await;
        }
    }

    /// Stops every run still in flight and releases their integrations, due again at once.
    /// Returns how many runs were stopped.
    async fn abandon(&self) -> usize {
        let _claiming = self.shared.claiming.lock().await;
        let held: Vec<Arc<Held>> = lock(&self.shared.held).values().cloned().collect();
        let mut stopped = 0;
        for h in held {
            {
                let mut state = lock(&h.state);
                stopped += state.running.len();
                state.running.clear();
                let renewal = state.renewal.take();
                for t in state.tasks.drain(..).chain(renewal) {
                    t.abort();
                }
            }
            tracing::warn!(integration = %h.id, worker = %self.worker, "runs stopped at the drain timeout; the integration is released due at once");
            if !h.lease_lost.load(Ordering::SeqCst) {
                self.release(h.id, self.engine.now()).await;
            }
            self.forget(&h);
        }
        stopped
    }

    /// Runs passes every `interval` until `shutdown` completes, delivering every finished run
    /// and every integration that could not be prepared to `reports` (waiting for room when the
    /// channel is full; dropped when its receiver is gone). On shutdown it stops claiming,
    /// waits for the runs in flight up to the drain timeout
    /// ([`with_drain_timeout`](Self::with_drain_timeout)), stops those still going, releases
    /// its leases, waits up to the drain timeout again for the credential renewals under way
    /// in the engine's channels ([`Engine::renewals_idle`]), and returns what it did. A pass that fails as a whole (the store refused the
    /// claim) is logged and the next one tried after `interval`.
    pub async fn run(
        &self,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
        reports: mpsc::Sender<Report>,
    ) -> RunSummary {
        tokio::pin!(shutdown);
        let mut summary = RunSummary::default();
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = std::future::ready(()) => {}
            }
            summary.passes += 1;
            // Errors are logged; the events wait for the next pass.
            let _ = self.hand_over_stock().await;
            // A stop asked for during the hand-over (a slow hook, a backlog): claim nothing.
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = std::future::ready(()) => {}
            }
            match self.pass(&mut Sink::Channel(&reports)).await {
                Ok((_, failed)) => {
                    for f in failed {
                        let _ = reports.send(Report::Failed(f)).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(worker = %self.worker, error = %e, "scheduler pass failed");
                }
            }
            self.deliver_notifications().await;
            self.pass_finished();
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
        summary.in_flight = self.runs_in_flight();
        let _ = tokio::time::timeout(self.drain_timeout, self.idle()).await;
        summary.abandoned = self.abandon().await;
        summary.drained = summary.in_flight.saturating_sub(summary.abandoned);
        // A channel renews its credentials in a task of its own, which the runs do not wait
        // for (an abandoned run leaves it going).
        if tokio::time::timeout(self.drain_timeout, self.engine.renewals_idle())
            .await
            .is_err()
        {
            summary.renewal_unfinished = true;
            tracing::warn!(worker = %self.worker, "a credential renewal was still under way at the drain timeout");
        }
        tracing::info!(worker = %self.worker, drained = summary.drained, abandoned = summary.abandoned, "scheduler stopped");
        summary
    }
}
