//! [`NotificationDispatcher`]: delivers the store's notification outbox through the registered
//! [`Transport`]s, apart from the engine's operations.
//!
//! For each transport it claims the due deliveries from the store (with a lease, so several
//! processes can share one store), renders each message ([`messages::render`](super::messages::render)),
//! calls [`Transport::deliver`] and records the outcome: delivered; a retryable error retried
//! later with exponential backoff (or at the receiver's `Retry-After`), the notification
//! waiting in the outbox with its last error; a permanent error marked failed with the error.
//! Each claim takes only as many deliveries as can be tried one after another within its lease
//! ([`NotificationDispatcher::set_attempt_time`]), so no lease lapses while a delivery waits.
//! One failing transport or message never stops the others, and never an import or a sync:
//! deliveries run only when a host (or its scheduler) calls [`NotificationDispatcher::deliver`].

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::Clock;
use crate::ids::{ChannelKind, IntegrationId};
use crate::store::support::claims_within_lease;
use crate::store::{DeliveryUpdate, NotificationDelivery, Store, StoreError};

use super::{DeliveryError, Transport, messages};

/// When a retryable failure is tried again: `first` after the first attempt, doubling with every
/// attempt, at most `max`. A receiver's `Retry-After` is honoured (at most `max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed attempt.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    /// 30 seconds, doubling, at most 1 hour.
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The wait after attempt number `attempts` (1 for the first) failed.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max);
        }
        let factor = 1u32
            .checked_shl(attempts.saturating_sub(1).min(31))
            .unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// A transport and the integrations it serves.
#[derive(Clone, Debug)]
struct Route {
    transport: Arc<dyn Transport>,
    /// `None`: every integration.
    integrations: Option<BTreeSet<IntegrationId>>,
}

/// What one delivery attempt that did not succeed ended as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryProblem {
    /// The notification.
    pub notification: String,
    /// The integration.
    pub integration: IntegrationId,
    /// The transport.
    pub transport: String,
    /// What the transport said.
    pub error: String,
    /// When it is tried again; `None` when it failed for good.
    pub retry_at: Option<DateTime<Utc>>,
}

/// What one dispatch pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Deliveries that succeeded: (notification id, transport).
    pub delivered: Vec<(String, String)>,
    /// Deliveries that failed for now and wait for a retry.
    pub retrying: Vec<DeliveryProblem>,
    /// Deliveries that failed for good.
    pub failed: Vec<DeliveryProblem>,
    /// Store failures, by transport: that transport's pass stopped; the others went on.
    pub store_errors: Vec<(String, String)>,
}

/// Delivers the store's notification outbox through the registered [`Transport`]s, apart from
/// the engine's operations.
///
/// For each transport it claims the due deliveries from the store (with a lease, so several
/// processes can share one store), renders each message ([`messages::render`](super::messages::render)),
/// calls [`Transport::deliver`] and records the outcome: delivered; a retryable error retried
/// later with exponential backoff (or at the receiver's `Retry-After`), the notification
/// waiting in the outbox with its last error; a permanent error marked failed with the error.
/// Each claim takes only as many deliveries as can be tried one after another within its lease
/// ([`NotificationDispatcher::set_attempt_time`]), so no lease lapses while a delivery waits.
/// One failing transport or message never stops the others, and never an import or a sync:
/// deliveries run only when a host (or its scheduler) calls [`NotificationDispatcher::deliver`].
pub struct NotificationDispatcher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    routes: RwLock<Vec<Route>>,
    backoff: RwLock<Backoff>,
    lease_for: Duration,
    /// The longest one [`Transport::deliver`] is taken to last: sizes the claims.
    attempt_time: RwLock<Duration>,
    /// The most deliveries one claim takes.
    batch: usize,
}

impl fmt::Debug for NotificationDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationDispatcher")
            .field("transports", &self.transport_names())
            .field("lease_for", &self.lease_for)
            .finish_non_exhaustive()
    }
}

/// The most deliveries of one transport claimed in one [`NotificationDispatcher::deliver`] call.
const MAX_PER_PASS: usize = 1000;

/// The longest one [`Transport::deliver`] is taken to last unless set otherwise
/// ([`NotificationDispatcher::set_attempt_time`]): longer than the provided transports' own
/// timeouts (e-mail 30 s, webhook 15 s).
const DEFAULT_ATTEMPT_TIME: Duration = Duration::from_secs(60);

impl NotificationDispatcher {
    /// A dispatcher over a store, deciding retry times by `clock`, with no transport yet.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        NotificationDispatcher {
            store,
            clock,
            routes: RwLock::new(Vec::new()),
            backoff: RwLock::new(Backoff::default()),
            lease_for: Duration::from_secs(300),
            attempt_time: RwLock::new(DEFAULT_ATTEMPT_TIME),
            batch: 50,
        }
    }

    /// Registers a transport for every integration. A transport registered before under the
    /// same [name](Transport::name) is replaced. Notifications written from now on get a
    /// delivery for it (older ones are not sent again through a new transport).
    pub fn register(&self, transport: Arc<dyn Transport>) {
        self.add(Route {
            transport,
            integrations: None,
        });
    }

    /// Registers a transport for these integrations only.
    pub fn register_for(
        &self,
        transport: Arc<dyn Transport>,
        integrations: impl IntoIterator<Item = IntegrationId>,
    ) {
        self.add(Route {
            transport,
            integrations: Some(integrations.into_iter().collect()),
        });
    }

    fn add(&self, route: Route) {
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes.retain(|r| r.transport.name() != route.transport.name());
        routes.push(route);
    }

    /// Sets the retry schedule.
    pub fn set_backoff(&self, backoff: Backoff) {
        *self.backoff.write().unwrap_or_else(|e| e.into_inner()) = backoff;
    }

    /// Sets the longest one [`Transport::deliver`] may take (1 minute by default; a host's own
    /// transport that may take longer says so here). Deliveries are claimed on a 5-minute lease
    /// that runs by the store's clock, which this process's clock cannot be compared with; so
    /// rather than checking before each attempt how much lease is left, each claim takes only
    /// as many deliveries as can be tried one after another within the lease (lease ÷ this
    /// time, at least 1, at most 50), and no claimed delivery's lease lapses — letting another
    /// process send it again — while it waits its turn.
    pub fn set_attempt_time(&self, attempt_time: Duration) {
        *self.attempt_time.write().unwrap_or_else(|e| e.into_inner()) = attempt_time;
    }

    /// The names of the registered transports.
    pub fn transport_names(&self) -> Vec<String> {
        self.routes()
            .iter()
            .map(|r| r.transport.name().to_owned())
            .collect()
    }

    /// The names of the transports that deliver `integration`'s notifications: what a new
    /// notification gets a delivery row for.
    pub fn transports_for(&self, integration: IntegrationId) -> Vec<String> {
        self.routes()
            .iter()
            .filter(|r| {
                r.integrations
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&integration))
            })
            .map(|r| r.transport.name().to_owned())
            .collect()
    }

    fn routes(&self) -> Vec<Route> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One pass: every transport's due deliveries, each tried once. Never fails as a whole:
    /// what went wrong is in the report.
    pub async fn deliver(&self) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        let mut names: HashMap<IntegrationId, Option<(String, ChannelKind)>> = HashMap::new();
        for route in self.routes() {
            if let Err(e) = self.deliver_one(&route, &mut names, &mut report).await {
                report
                    .store_errors
                    .push((route.transport.name().to_owned(), e.to_string()));
            }
        }
        report
    }

    async fn deliver_one(
        &self,
        route: &Route,
        names: &mut HashMap<IntegrationId, Option<(String, ChannelKind)>>,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let transport = route.transport.as_ref();
        let name = transport.name();
        let mut tried: BTreeSet<String> = BTreeSet::new();
        let attempt_time = *self.attempt_time.read().unwrap_or_else(|e| e.into_inner());
        let batch = claims_within_lease(self.lease_for, attempt_time, self.batch);
        for _ in 0..MAX_PER_PASS.div_ceil(batch) {
            let now = self.clock.now();
            let claimed = self
                .store
                .claim_deliveries(name, now, self.lease_for, batch)
                .await?;
            let full = claimed.len() >= batch;
            let mut fresh = 0;
            for delivery in claimed {
                if !tried.insert(delivery.notification.id.clone()) {
                    // Tried in this pass already (a zero backoff): give it back for later.
                    self.finish(&delivery, name, retry_now(&delivery, self.clock.now()))
                        .await?;
                    continue;
                }
                fresh += 1;
                self.attempt(transport, delivery, names, report).await?;
            }
            if !full || fresh == 0 {
                break;
            }
        }
        Ok(())
    }

    async fn attempt(
        &self,
        transport: &dyn Transport,
        delivery: NotificationDelivery,
        names: &mut HashMap<IntegrationId, Option<(String, ChannelKind)>>,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let integration = delivery.notification.integration;
        if let Entry::Vacant(slot) = names.entry(integration) {
            let found = self
                .store
                .integration(integration)
                .await?
                .map(|r| (r.name, r.channel));
            slot.insert(found);
        }
        let Some((name, channel)) = names[&integration].clone() else {
            let error = format!("integration {integration} is not in the store");
            report.failed.push(DeliveryProblem {
                notification: delivery.notification.id.clone(),
                integration,
                transport: transport.name().to_owned(),
                error: error.clone(),
                retry_at: None,
            });
            let update = DeliveryUpdate::Failed {
                at: self.clock.now(),
                error,
            };
            return self.finish(&delivery, transport.name(), update).await;
        };
        let message = messages::render(&delivery.notification, &name, channel);
        let outcome = transport.deliver(&message).await;
        let now = self.clock.now();
        let transport_name = transport.name().to_owned();
        let update = match outcome {
            Ok(()) => {
                report
                    .delivered
                    .push((delivery.notification.id.clone(), transport_name.clone()));
                DeliveryUpdate::Delivered { at: now }
            }
            Err(DeliveryError {
                retryable: true,
                message,
                retry_after,
            }) => {
                let backoff = *self.backoff.read().unwrap_or_else(|e| e.into_inner());
                let wait = backoff.delay(delivery.attempts, retry_after);
                let at = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(1));
                report.retrying.push(DeliveryProblem {
                    notification: delivery.notification.id.clone(),
                    integration,
                    transport: transport_name.clone(),
                    error: message.clone(),
                    retry_at: Some(at),
                });
                DeliveryUpdate::Retry { at, error: message }
            }
            Err(DeliveryError { message, .. }) => {
                report.failed.push(DeliveryProblem {
                    notification: delivery.notification.id.clone(),
                    integration,
                    transport: transport_name.clone(),
                    error: message.clone(),
                    retry_at: None,
                });
                DeliveryUpdate::Failed {
                    at: now,
                    error: message,
                }
            }
        };
        self.finish(&delivery, &transport_name, update).await
    }

    async fn finish(
        &self,
        delivery: &NotificationDelivery,
        transport: &str,
        update: DeliveryUpdate,
    ) -> Result<(), StoreError> {
        let Some(lease) = &delivery.lease else {
            return Ok(());
        };
        match self
            .store
            .finish_delivery(&delivery.notification.id, transport, &lease.token, &update)
            .await
        {
            // The lease lapsed and another process took the delivery over: it reports it.
            Err(StoreError::Conflict(_)) => Ok(()),
            other => other,
        }
    }
}

/// Gives a delivery claimed twice in one pass back, due at once, its last error unchanged.
fn retry_now(delivery: &NotificationDelivery, now: DateTime<Utc>) -> DeliveryUpdate {
    DeliveryUpdate::Retry {
        at: now,
        error: delivery.last_error.clone().unwrap_or_default(),
    }
}
