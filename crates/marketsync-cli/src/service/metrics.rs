//! The service's metrics: the Prometheus recorder, what the service records about each
//! scheduled run, and the gauges it reads from the store after each scheduler pass.
//!
//! The engine's and the HTTP plumbing's counters (`marketsync_operations_total`,
//! `marketsync_orders_imported_total`, …) are named in `marketsync::engine::metrics`; this
//! module adds:
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `marketsync_scheduler_passes_total` | counter | | scheduler passes made |
//! | `marketsync_scheduler_runs_in_flight` | gauge | | scheduled runs going now |
//! | `marketsync_scheduler_runs_total` | counter | `channel`, `operation`, `outcome` | scheduled runs finished (`ok`/`failed`) |
//! | `marketsync_scheduler_run_duration_seconds` | summary | `channel`, `operation` | how long scheduled runs took |
//! | `marketsync_scheduler_integration_failures_total` | counter | `channel` | claimed integrations that could not be prepared |
//! | `marketsync_outbox_depth` | gauge | `channel` | outbox entries waiting to be sent |
//! | `marketsync_notification_backlog` | gauge | | notification deliveries waiting |
//! | `marketsync_integration_health` | gauge | `integration`, `channel`, `health` | 1 for the integration's current health (`unverified`, `healthy`, `broken`), 0 for the others |
//! | `marketsync_orders_held` | gauge | `channel` | orders held for a missing mapping now |

use std::collections::{BTreeMap, BTreeSet};

use marketsync::engine::RunRecord;
use marketsync::engine::metrics::{OUTCOME_FAILED, OUTCOME_OK, UNKNOWN_CHANNEL};
use marketsync::notify::{DeliveryQuery, PageRequest};
use marketsync::store::OutboxState;
use marketsync::{Health, IntegrationId, LedgerFilter, Store, StoreError};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::error::CliError;

/// `marketsync_scheduler_passes_total`: scheduler passes made.
pub const SCHEDULER_PASSES_TOTAL: &str = "marketsync_scheduler_passes_total";
/// `marketsync_scheduler_runs_in_flight`: scheduled runs going now.
pub const SCHEDULER_RUNS_IN_FLIGHT: &str = "marketsync_scheduler_runs_in_flight";
/// `marketsync_scheduler_runs_total{channel,operation,outcome}`: scheduled runs finished.
pub const SCHEDULER_RUNS_TOTAL: &str = "marketsync_scheduler_runs_total";
/// `marketsync_scheduler_run_duration_seconds{channel,operation}`: how long runs took.
pub const SCHEDULER_RUN_DURATION: &str = "marketsync_scheduler_run_duration_seconds";
/// `marketsync_scheduler_integration_failures_total{channel}`: integrations not prepared.
pub const SCHEDULER_INTEGRATION_FAILURES_TOTAL: &str =
    "marketsync_scheduler_integration_failures_total";
/// `marketsync_outbox_depth{channel}`: outbox entries waiting to be sent.
pub const OUTBOX_DEPTH: &str = "marketsync_outbox_depth";
/// `marketsync_notification_backlog`: notification deliveries waiting.
pub const NOTIFICATION_BACKLOG: &str = "marketsync_notification_backlog";
/// `marketsync_integration_health{integration,channel,health}`: 1 for the current health.
pub const INTEGRATION_HEALTH: &str = "marketsync_integration_health";
/// `marketsync_orders_held{channel}`: orders held for a missing mapping.
pub const ORDERS_HELD: &str = "marketsync_orders_held";

/// The page size of the store reads behind the gauges.
const PAGE: usize = 500;

/// The three `health` label values.
const HEALTHS: [&str; 3] = ["unverified", "healthy", "broken"];

/// Installs the process's Prometheus recorder (once) and describes the service's metrics.
pub fn install() -> Result<PrometheusHandle, CliError> {
    let handle = PrometheusBuilder::new().install_recorder().map_err(|e| {
        CliError::Other(format!(
            "cannot install the metrics recorder: {e}; run one `marketsync run` per process"
        ))
    })?;
    describe();
    Ok(handle)
}

fn describe() {
    use marketsync::engine::metrics as core;
    metrics::describe_counter!(core::OPERATIONS_TOTAL, "Engine operations finished.");
    metrics::describe_counter!(
        core::ORDERS_IMPORTED_TOTAL,
        "Orders imported by import runs."
    );
    metrics::describe_counter!(
        core::ORDERS_HELD_TOTAL,
        "Orders import runs recorded as not imported."
    );
    metrics::describe_counter!(
        core::RATE_LIMIT_WAITS_TOTAL,
        "HTTP requests that waited for a rate-limit permit."
    );
    metrics::describe_gauge!(
        core::RATE_LIMIT_WAIT_SECONDS_TOTAL,
        "Seconds requests spent waiting for a rate-limit permit."
    );
    metrics::describe_counter!(core::HTTP_429_TOTAL, "429 answers from a channel.");
    metrics::describe_counter!(SCHEDULER_PASSES_TOTAL, "Scheduler passes made.");
    metrics::describe_gauge!(SCHEDULER_RUNS_IN_FLIGHT, "Scheduled runs going now.");
    metrics::describe_counter!(SCHEDULER_RUNS_TOTAL, "Scheduled runs finished.");
    metrics::describe_histogram!(
        SCHEDULER_RUN_DURATION,
        metrics::Unit::Seconds,
        "How long scheduled runs took."
    );
    metrics::describe_counter!(
        SCHEDULER_INTEGRATION_FAILURES_TOTAL,
        "Claimed integrations whose runs could not be prepared."
    );
    metrics::describe_gauge!(OUTBOX_DEPTH, "Outbox entries waiting to be sent.");
    metrics::describe_gauge!(NOTIFICATION_BACKLOG, "Notification deliveries waiting.");
    metrics::describe_gauge!(
        INTEGRATION_HEALTH,
        "1 for the integration's current health, 0 for the others."
    );
    metrics::describe_gauge!(ORDERS_HELD, "Orders held for a missing mapping.");
}

/// Records one finished scheduled run.
pub fn record_run(run: &RunRecord) {
    let channel = run.channel.as_str();
    let operation = run.operation.as_str();
    let outcome = if run.is_ok() {
        OUTCOME_OK
    } else {
        OUTCOME_FAILED
    };
    metrics::counter!(
        SCHEDULER_RUNS_TOTAL,
        "channel" => channel,
        "operation" => operation,
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(
        SCHEDULER_RUN_DURATION,
        "channel" => channel,
        "operation" => operation
    )
    .record(run.duration.as_secs_f64());
}

/// Records one claimed integration that could not be prepared (its `channel` when known).
pub fn record_failure(channel: Option<&'static str>) {
    metrics::counter!(
        SCHEDULER_INTEGRATION_FAILURES_TOTAL,
        "channel" => channel.unwrap_or(UNKNOWN_CHANNEL)
    )
    .increment(1);
}

/// Sets the scheduler's own gauges.
pub fn record_scheduler(passes: u64, runs_in_flight: usize) {
    metrics::counter!(SCHEDULER_PASSES_TOTAL).absolute(passes);
    metrics::gauge!(SCHEDULER_RUNS_IN_FLIGHT).set(runs_in_flight as f64);
}

/// The label sets the store gauges were last set for, so that a series whose cause went away
/// (an integration deleted, a channel's outbox emptied) drops to 0 instead of keeping its last
/// value.
#[derive(Debug, Default)]
pub struct StoreGauges {
    channels: BTreeSet<&'static str>,
    integrations: BTreeMap<IntegrationId, &'static str>,
}

impl StoreGauges {
    /// Reads the outbox depth, the notification backlog, the integrations' health and the
    /// held orders from the store and sets their gauges. On a store error the gauges keep
    /// their last values.
    pub async fn refresh(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        let mut outbox: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut held: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut health: BTreeMap<IntegrationId, (&'static str, &'static str)> = BTreeMap::new();
        let mut page = Some(PageRequest::first(PAGE));
        while let Some(request) = page {
            let integrations = store.integrations_page(&request).await?;
            for rec in &integrations.items {
                if rec.lifecycle.is_deleted() {
                    continue;
                }
                let channel = rec.channel.as_str();
                let state = match rec.lifecycle.health() {
                    Health::Unverified => "unverified",
                    Health::Healthy => "healthy",
                    Health::Broken { .. } => "broken",
                };
                health.insert(rec.id, (channel, state));
                *outbox.entry(channel).or_default() += pending_outbox(store, rec.id).await?;
                *held.entry(channel).or_default() += held_orders(store, rec.id).await?;
            }
            page = request.after(&integrations);
        }
        let backlog = pending_deliveries(store).await?;

        metrics::gauge!(NOTIFICATION_BACKLOG).set(backlog as f64);
        let channels: BTreeSet<&'static str> = outbox.keys().copied().collect();
        for channel in self.channels.union(&channels) {
            let depth = outbox.get(channel).copied().unwrap_or(0);
            let on_hold = held.get(channel).copied().unwrap_or(0);
            metrics::gauge!(OUTBOX_DEPTH, "channel" => *channel).set(depth as f64);
            metrics::gauge!(ORDERS_HELD, "channel" => *channel).set(on_hold as f64);
        }
        for (id, channel) in &self.integrations {
            if !health.contains_key(id) {
                set_health(*id, channel, None);
            }
        }
        for (id, (channel, state)) in &health {
            set_health(*id, channel, Some(state));
        }
        self.channels = channels.union(&self.channels).copied().collect();
        self.integrations = health.iter().map(|(id, (c, _))| (*id, *c)).collect();
        Ok(())
    }
}

/// 1 for `current`, 0 for the other health values (all 0 for `None`: the integration is gone).
fn set_health(id: IntegrationId, channel: &'static str, current: Option<&str>) {
    for state in HEALTHS {
        let value = if current == Some(state) { 1.0 } else { 0.0 };
        metrics::gauge!(
            INTEGRATION_HEALTH,
            "integration" => id.to_string(),
            "channel" => channel,
            "health" => state
        )
        .set(value);
    }
}

async fn pending_outbox(store: &dyn Store, id: IntegrationId) -> Result<u64, StoreError> {
    let mut count = 0;
    let mut page = Some(PageRequest::first(PAGE));
    while let Some(request) = page {
        let entries = store.outbox_page(id, &request).await?;
        count += entries
            .items
            .iter()
            .filter(|e| matches!(e.state, OutboxState::Pending))
            .count() as u64;
        page = request.after(&entries);
    }
    Ok(count)
}

async fn held_orders(store: &dyn Store, id: IntegrationId) -> Result<u64, StoreError> {
    let mut count = 0;
    let mut page = Some(PageRequest::first(PAGE));
    while let Some(request) = page {
        let rows = store.ledger_page(id, LedgerFilter::Held, &request).await?;
        count += rows.items.len() as u64;
        page = request.after(&rows);
    }
    Ok(count)
}

async fn pending_deliveries(store: &dyn Store) -> Result<u64, StoreError> {
    let query = DeliveryQuery::default();
    let mut count = 0;
    let mut page = Some(PageRequest::first(PAGE));
    while let Some(request) = page {
        let rows = store.deliveries(&query, &request).await?;
        count += rows.items.len() as u64;
        page = request.after(&rows);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use marketsync::store::{OutboxAction, OutboxItem};
    use marketsync::testing::MemoryChannel;
    use marketsync::{
        Actor, AdjustmentReason, Cancellation, ChannelKind, ChannelOrderId, Engine, IdempotencyKey,
        IntegrationSettings, MemoryStore,
    };

    use super::*;

    /// The value of the series `name` whose labels include all of `labels`.
    fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
        text.lines()
            .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
            .find_map(|l| l.rsplit_once(' ')?.1.parse().ok())
    }

    fn cancel(id: IntegrationId, order: &str) -> OutboxItem {
        OutboxItem {
            integration_id: id,
            order_id: ChannelOrderId::new(order).unwrap(),
            action: OutboxAction::Cancel(Cancellation {
                lines: Vec::new(),
                reason: AdjustmentReason::GeneralAdjustment,
            }),
            idempotency_key: IdempotencyKey::new(format!("cancel-{order}")).unwrap(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn store_gauges_count_what_waits_and_drop_deleted_integrations_to_zero() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let engine = Engine::builder().store(store.clone()).build();
        let actor = Actor::User("test".into());
        let (reverb, allegro) = runtime.block_on(async {
            let mut ids = Vec::new();
            for kind in [ChannelKind::Reverb, ChannelKind::Allegro] {
                let id = engine
                    .create_integration(
                        kind.as_str(),
                        Arc::new(MemoryChannel::new(kind)),
                        IntegrationSettings::new(kind, "USD".parse().unwrap()),
                        actor.clone(),
                    )
                    .await
                    .unwrap();
                ids.push(id);
            }
            for order in ["1", "2"] {
                store.enqueue_outbox(&cancel(ids[0], order)).await.unwrap();
            }
            (ids[0], ids[1])
        });

        let mut gauges = StoreGauges::default();
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(gauges.refresh(store.as_ref())).unwrap();
        });
        let text = handle.render();
        let reverb_label = format!("integration=\"{reverb}\"");
        let allegro_label = format!("integration=\"{allegro}\"");
        assert_eq!(
            value(&text, OUTBOX_DEPTH, &["channel=\"reverb\""]),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            value(&text, OUTBOX_DEPTH, &["channel=\"allegro\""]),
            Some(0.0)
        );
        assert_eq!(
            value(&text, ORDERS_HELD, &["channel=\"reverb\""]),
            Some(0.0)
        );
        assert_eq!(value(&text, NOTIFICATION_BACKLOG, &[]), Some(0.0));
        for id in [&reverb_label, &allegro_label] {
            let health = |state: &str| {
                value(
                    &text,
                    INTEGRATION_HEALTH,
                    &[id.as_str(), &format!("health=\"{state}\"")],
                )
            };
            assert_eq!(health("unverified"), Some(1.0), "{text}");
            assert_eq!(health("healthy"), Some(0.0));
            assert_eq!(health("broken"), Some(0.0));
        }

        // The Allegro integration is deleted: its health series drop to 0, the others stay.
        runtime.block_on(async {
            let plan = engine.plan_delete(allegro).await.unwrap();
            engine
                .delete(allegro, plan.confirm(), actor.clone())
                .await
                .unwrap();
        });
        metrics::with_local_recorder(&recorder, || {
            runtime.block_on(gauges.refresh(store.as_ref())).unwrap();
        });
        let text = handle.render();
        for state in ["unverified", "healthy", "broken"] {
            let state = format!("health=\"{state}\"");
            assert_eq!(
                value(&text, INTEGRATION_HEALTH, &[&allegro_label, &state]),
                Some(0.0),
                "{text}"
            );
        }
        assert_eq!(
            value(
                &text,
                INTEGRATION_HEALTH,
                &[&reverb_label, "health=\"unverified\""]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&text, OUTBOX_DEPTH, &["channel=\"allegro\""]),
            Some(0.0)
        );
    }
}
