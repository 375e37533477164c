//! Every engine operation runs in a tracing span and ends with one event saying its outcome,
//! and is counted in the [metrics](super::metrics).
//!
//! The span is `marketsync.operation` with the fields `integration` (its id), `channel` (its
//! kind, filled in as soon as the engine knows it) and `operation` ([`EngineOperation`]). The
//! last event in it is `operation finished` with `outcome` (`ok` or `failed`), `duration_ms`,
//! and either `summary` (the report's counts, e.g. `imported=2 held=1 …`) or `error` (the
//! error's message, which never carries a secret).

use std::future::Future;
use std::time::Instant;

use tracing::Instrument;

use super::listings::{
    LinkReport, PublishReport, ReconcileOutcome, ReconcilePlan, ReconcileReport, SyncReport,
};
use super::metrics::{self, EngineOperation, channel_label};
use super::orders::{ImportReport, OutboxReport};
use super::stock::PropagationReport;
use super::{Engine, EngineError};
use crate::ids::{ChannelKind, IntegrationId};
use crate::notify::DeliveryReport;

tokio::task_local! {
    /// The channel kind of the operation running in this task, once the engine knows it.
    static OPERATION_CHANNEL: std::cell::Cell<Option<ChannelKind>>;
}

/// The counts an operation's report gives in its outcome event.
pub(crate) trait Outcome {
    /// `name=count` pairs, space separated.
    fn summary(&self) -> String;
    /// Counts what the report says into the metrics (besides the operation itself).
    fn count(&self, _channel: &'static str) {}
}

impl Outcome for ImportReport {
    fn summary(&self) -> String {
        format!(
            "imported={} released={} already_imported={} held={} unreadable_without_id={} acknowledge_failed={} pages={}{}",
            self.imported.len(),
            self.released.len(),
            self.already_imported.len(),
            self.not_imported.len(),
            self.unreadable_without_id.len(),
            self.acknowledge_failed.len(),
            self.pages,
            stopped(&self.stopped)
        )
    }

    fn count(&self, channel: &'static str) {
        metrics::orders_counted(
            channel,
            (self.imported.len() + self.released.len()) as u64,
            self.not_imported.len() as u64,
        );
    }
}

impl Outcome for OutboxReport {
    fn summary(&self) -> String {
        format!(
            "sent={} failed={}{}",
            self.sent.len(),
            self.failed.len(),
            stopped(&self.stopped)
        )
    }
}

impl Outcome for LinkReport {
    fn summary(&self) -> String {
        format!(
            "linked={} already_linked={} channel_listings_without_item={} items_without_listing={} broken_not_relinked={} duplicates={}",
            self.linked.len(),
            self.already_linked,
            self.channel_listings_without_item.len(),
            self.items_without_listing.len(),
            self.broken_not_relinked.len(),
            self.duplicates.len()
        )
    }
}

impl Outcome for PropagationReport {
    fn summary(&self) -> String {
        format!(
            "sent={} unchanged={} older={} failed={} waiting={} broken={}{}{}",
            self.sent.len(),
            self.unchanged.len(),
            self.older.len(),
            self.failed.len(),
            self.waiting.len(),
            self.broken.len(),
            if self.blocked.is_some() {
                " blocked"
            } else {
                ""
            },
            stopped(&self.stopped)
        )
    }
}

impl Outcome for SyncReport {
    fn summary(&self) -> String {
        format!(
            "sent={} unchanged={} failed={} broken={} ended={} not_on_label={} missing_from_catalog={}{}",
            self.sent.len(),
            self.unchanged,
            self.failed.len(),
            self.broken.len(),
            self.ended.len(),
            self.not_on_label.len(),
            self.missing_from_catalog.len(),
            stopped(&self.stopped)
        )
    }
}

impl Outcome for PublishReport {
    fn summary(&self) -> String {
        format!(
            "published={} linked={} failed={}",
            self.published.len(),
            self.linked.len(),
            self.failed.len()
        )
    }
}

impl Outcome for ReconcilePlan {
    fn summary(&self) -> String {
        format!("to_end={}", self.listings.len())
    }
}

impl Outcome for ReconcileReport {
    fn summary(&self) -> String {
        format!(
            "ended={} failed={} dropped={}",
            self.ended.len(),
            self.failed.len(),
            self.dropped.len()
        )
    }
}

impl Outcome for ReconcileOutcome {
    fn summary(&self) -> String {
        match self {
            ReconcileOutcome::AwaitingConfirmation(plan) => {
                format!("awaiting_confirmation {}", plan.summary())
            }
            ReconcileOutcome::Done(report) => report.summary(),
        }
    }
}

impl Outcome for crate::channel::AccountInfo {
    fn summary(&self) -> String {
        "verified".to_owned()
    }
}

impl Outcome for Option<chrono::DateTime<chrono::Utc>> {
    fn summary(&self) -> String {
        match self {
            Some(at) => format!("must_renew_by={}", at.to_rfc3339()),
            None => "no_expiry_near".to_owned(),
        }
    }
}

fn stopped(stopped: &Option<String>) -> &'static str {
    if stopped.is_some() {
        " stopped_early"
    } else {
        ""
    }
}

impl Engine {
    /// Runs one operation on an integration in its span, then says and counts its outcome.
    pub(super) async fn observed<T: Outcome>(
        &self,
        id: IntegrationId,
        operation: EngineOperation,
        run: impl Future<Output = Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        let known = self.channel(id).ok().map(|c| c.kind());
        let span = tracing::info_span!(
            "marketsync.operation",
            integration = %id,
            channel = tracing::field::Empty,
            operation = operation.as_str(),
        );
        if let Some(kind) = known {
            span.record("channel", kind.as_str());
        }
        let started = Instant::now();
        let (result, kind) = OPERATION_CHANNEL
            .scope(std::cell::Cell::new(known), async {
                let result = run.await;
                (result, OPERATION_CHANNEL.with(|k| k.get()))
            })
            .instrument(span.clone())
            .await;
        let channel = channel_label(kind);
        let duration_ms = started.elapsed().as_millis() as u64;
        let _in = span.enter();
        let ok = match &result {
            Ok(report) => {
                tracing::info!(outcome = metrics::OUTCOME_OK, duration_ms, summary = %report.summary(), "operation finished");
                report.count(channel);
                true
            }
            // An integration without stored credentials has nothing to check.
            Err(EngineError::NoCredentials(_))
                if operation == EngineOperation::CheckCredentials =>
            {
                tracing::info!(
                    outcome = metrics::OUTCOME_OK,
                    duration_ms,
                    summary = "no_credentials",
                    "operation finished"
                );
                true
            }
            Err(error) => {
                tracing::warn!(outcome = metrics::OUTCOME_FAILED, duration_ms, error = %error, "operation finished");
                false
            }
        };
        metrics::operation_finished(channel, operation, ok);
        result
    }

    /// Notes the channel kind of the operation running now: in its span and for its metrics.
    pub(super) fn note_channel(kind: ChannelKind) {
        tracing::Span::current().record("channel", kind.as_str());
        let _ = OPERATION_CHANNEL.try_with(|k| k.set(Some(kind)));
    }

    /// [`deliver_notifications`](Self::deliver_notifications) in its span, with its outcome.
    pub(super) async fn observed_delivery(
        &self,
        run: impl Future<Output = DeliveryReport>,
    ) -> DeliveryReport {
        let span = tracing::info_span!(
            "marketsync.operation",
            operation = EngineOperation::DeliverNotifications.as_str(),
        );
        let started = Instant::now();
        let report = run.instrument(span.clone()).await;
        let _in = span.enter();
        // A pass with nothing to deliver says so only at debug level: the scheduler makes one
        // every pass, and a service's log should show deliveries, not their absence.
        let idle = report.delivered.is_empty()
            && report.retrying.is_empty()
            && report.failed.is_empty()
            && report.store_errors.is_empty();
        let duration_ms = started.elapsed().as_millis() as u64;
        if idle {
            tracing::debug!(
                outcome = metrics::OUTCOME_OK,
                duration_ms,
                delivered = 0,
                "operation finished"
            );
            return report;
        }
        tracing::info!(
            outcome = if report.store_errors.is_empty() {
                metrics::OUTCOME_OK
            } else {
                metrics::OUTCOME_FAILED
            },
            duration_ms,
            delivered = report.delivered.len(),
            retrying = report.retrying.len(),
            failed = report.failed.len(),
            store_errors = report.store_errors.len(),
            "operation finished"
        );
        report
    }
}
