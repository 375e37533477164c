//! The scheduler: runs each integration's due operations at its communication frequency, with a
//! global concurrency limit.
//!
//! A pass ([`Scheduler::tick`]) starts every due operation that is not already running and
//! returns at once: a slow or failing integration never delays the others, and the same
//! operation never runs twice at once for one integration (in this process; across processes,
//! the store's guarantees make overlapping runs safe). Disabled, broken, deactivated, deleted and
//! not-yet-active integrations are skipped.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::ids::IntegrationId;
use crate::lifecycle::Feature;

use super::listings::{ReconcileOutcome, SyncReport};
use super::orders::{ImportReport, OutboxReport};
use super::{Engine, EngineError};
use crate::store::IntegrationRecord;

/// An operation the scheduler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScheduledOperation {
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

/// What one scheduled run produced.
#[derive(Debug)]
pub enum RunOutput {
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

/// One finished run.
#[derive(Debug)]
pub struct RunRecord {
    /// The integration.
    pub integration: IntegrationId,
    /// The operation.
    pub operation: ScheduledOperation,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its report or error.
    pub result: Result<RunOutput, EngineError>,
}

type Key = (IntegrationId, ScheduledOperation);

/// Runs due operations. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Scheduler {
    engine: Arc<Engine>,
    permits: Arc<Semaphore>,
    running: Arc<Mutex<HashSet<Key>>>,
    last_started: Arc<Mutex<HashMap<Key, DateTime<Utc>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Scheduler {
    /// A scheduler running at most `max_concurrent` operations at once across all integrations.
    pub fn new(engine: Arc<Engine>, max_concurrent: usize) -> Self {
        Self {
            engine,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            running: Arc::new(Mutex::new(HashSet::new())),
            last_started: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The operations due for an integration at `now`, by its lifecycle, switches and
    /// frequencies (ignoring what is running).
    pub fn due(&self, rec: &IntegrationRecord, now: DateTime<Utc>) -> Vec<ScheduledOperation> {
        if rec.lifecycle.is_deleted() {
            return Vec::new();
        }
        let f = rec.settings.frequencies;
        let mut wanted = vec![(ScheduledOperation::CheckCredentials, f.credentials)];
        if rec.lifecycle.check_exchange(now).is_ok() {
            let features = rec.lifecycle.features();
            if features.orders {
                wanted.push((ScheduledOperation::ImportOrders, f.orders));
            }
            if features.listings {
                wanted.push((ScheduledOperation::SyncListings, f.listings));
            }
            if features.reconciler {
                wanted.push((ScheduledOperation::Reconcile, f.listings));
            }
            if rec
                .lifecycle
                .check_feature(Feature::Fulfillments, now)
                .is_ok()
            {
                wanted.push((ScheduledOperation::SyncOrders, f.fulfillments));
            }
        }
        let last = lock(&self.last_started);
        wanted
            .into_iter()
            .filter(|(op, every)| {
                last.get(&(rec.id, *op)).is_none_or(|t| {
                    now - *t >= TimeDelta::from_std(*every).unwrap_or(TimeDelta::MAX)
                })
            })
            .map(|(op, _)| op)
            .collect()
    }

    /// One pass: records phase changes, then starts every due operation not already running.
    /// Returns the started runs' handles without waiting for them.
    pub async fn tick(&self) -> Result<Vec<JoinHandle<RunRecord>>, EngineError> {
        let mut handles = Vec::new();
        for rec in self.engine.store().integrations().await? {
            if rec.lifecycle.is_deleted() {
                continue;
            }
            // Testing → Live is recorded (and notified) even for idle integrations.
            self.engine.tick(rec.id).await?;
            let now = self.engine.now();
            for op in self.due(&rec, now) {
                let key = (rec.id, op);
                if !lock(&self.running).insert(key) {
                    continue;
                }
                lock(&self.last_started).insert(key, now);
                let this = self.clone();
                handles.push(tokio::spawn(async move { this.run_one(key, now).await }));
            }
        }
        Ok(handles)
    }

    async fn run_one(&self, key: Key, started_at: DateTime<Utc>) -> RunRecord {
        let (id, op) = key;
        let result = match self.permits.clone().acquire_owned().await {
            Ok(_permit) => {
                let e = &self.engine;
                match op {
                    ScheduledOperation::ImportOrders => {
                        e.import_orders(id).await.map(RunOutput::Import)
                    }
                    ScheduledOperation::SyncListings => {
                        e.sync_listings(id).await.map(RunOutput::Sync)
                    }
                    ScheduledOperation::Reconcile => {
                        e.run_reconcile(id).await.map(RunOutput::Reconcile)
                    }
                    ScheduledOperation::SyncOrders => {
                        e.sync_orders(id).await.map(RunOutput::Outbox)
                    }
                    ScheduledOperation::CheckCredentials => match e.check_credentials(id).await {
                        // Integrations without stored credentials have nothing to check.
                        Err(EngineError::NoCredentials(_)) => Ok(RunOutput::Credentials(None)),
                        other => other.map(RunOutput::Credentials),
                    },
                }
            }
            Err(_) => Err(EngineError::Store(crate::store::StoreError::backend(
                "scheduler shut down",
            ))),
        };
        lock(&self.running).remove(&key);
        if let Err(e) = &result {
            tracing::warn!(integration = %id, operation = ?op, error = %e, "scheduled run failed");
        }
        RunRecord {
            integration: id,
            operation: op,
            started_at,
            result,
        }
    }

    /// Whether an operation is running for an integration.
    pub fn is_running(&self, id: IntegrationId, op: ScheduledOperation) -> bool {
        lock(&self.running).contains(&(id, op))
    }

    /// Runs passes every `interval` until `shutdown` completes. Finished runs are dropped; use
    /// [`tick`](Self::tick) to collect them.
    pub async fn run(&self, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "scheduler pass failed");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}
