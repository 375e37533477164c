//! Order operations: import (with one recorded outcome per order), explain, and the outbox that
//! sends shipments, refunds and cancellations exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::capability::{Capabilities, Operation};
use crate::channel::{Channel, OrderPage, OrderQuery};
use crate::error::{ChannelError, ErrorKind};
use crate::ids::{ChannelOrderId, IntegrationId, Sku};
use crate::lifecycle::{Feature, Lifecycle};
use crate::mapping::MappingSet;
use crate::order::{
    Cancellation, CancellationRequest, IdempotencyKey, Management, Order, Refund, RefundRequest,
    Shipment, ShipmentRequest,
};

use super::notify::{MissingMapping, Notification};
use super::settings::IntegrationSettings;
use super::store::IntegrationRecord;
use super::store::{
    Decision, ImportedOrder, LedgerEntry, LedgerFilter, LedgerWrite, NotImportedReason, OrderBatch,
    OrderOutcome, OutboxAction, OutboxEntry, OutboxItem, OutboxState, OutboxUpdate, RecordedOrder,
    ResolvedLine, SightingOutcome,
};
use super::{Engine, EngineError};

/// What an import run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Orders imported in this run.
    pub imported: Vec<ChannelOrderId>,
    /// Orders seen again after being imported (nothing imported twice).
    pub already_imported: Vec<ChannelOrderId>,
    /// Orders not imported, each with its reason.
    pub not_imported: Vec<(ChannelOrderId, NotImportedReason)>,
    /// Held orders that imported now that their mapping exists.
    pub released: Vec<ChannelOrderId>,
    /// Imported orders whose shipping text has no mapping (imported with the channel's text,
    /// where the channel does not require mappings).
    pub unmapped_shipping_imported: Vec<(ChannelOrderId, String)>,
    /// Orders the channel sent that could not be read and had no id to record them under.
    pub unreadable_without_id: Vec<String>,
    /// Orders recorded but not acknowledged at the channel (retried next run).
    pub acknowledge_failed: Vec<(ChannelOrderId, String)>,
    /// Pages downloaded.
    pub pages: u32,
    /// The run stopped early, why; everything before is recorded and the cursor covers exactly
    /// that.
    pub stopped: Option<String>,
}

/// One outbox entry that did not go through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxFailure {
    /// The order.
    pub order_id: ChannelOrderId,
    /// `ship`, `refund` or `cancel`.
    pub action: String,
    /// The error.
    pub error: String,
    /// Whether it will be retried.
    pub will_retry: bool,
}

/// What an outbox run sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxReport {
    /// Sent and accepted: order and action.
    pub sent: Vec<(ChannelOrderId, String)>,
    /// Not sent.
    pub failed: Vec<OutboxFailure>,
    /// The run stopped early, why.
    pub stopped: Option<String>,
}

/// The full story of one order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderExplanation {
    /// The order.
    pub order_id: ChannelOrderId,
    /// Its ledger row, when it was ever downloaded.
    pub ledger: Option<LedgerEntry>,
    /// Its outbox entries.
    pub outbox: Vec<OutboxEntry>,
    /// The story in sentences: every sighting, the outcome and why, and what would change it.
    pub story: Vec<String>,
}

/// Decides what to do with one downloaded order, with the integration's settings, the mappings
/// in force and the catalog's answer for the order's SKUs. Pure.
///
/// Checks, in order: too old, status, shipping mapping, SKU resolution. Each line's SKU resolves
/// through a SKU mapping first, else the same SKU when the catalog has it.
pub fn evaluate_order(
    order: &Order,
    settings: &IntegrationSettings,
    capabilities: &Capabilities,
    lifecycle: &Lifecycle,
    mappings: &MappingSet,
    in_catalog: &BTreeSet<Sku>,
    now: DateTime<Utc>,
) -> Decision {
    if let Some(days) = settings.created_within_days
        && order.created_at < now - TimeDelta::days(i64::from(days))
    {
        return Decision::Skip {
            reason: NotImportedReason::TooOld {
                created_at: order.created_at,
            },
        };
    }
    if !settings.import_states.contains(&order.status.state) {
        return Decision::Skip {
            reason: NotImportedReason::StatusNotImported {
                state: order.status.state,
                raw: order.status.raw.clone(),
            },
        };
    }
    let text = order.shipping_method.clone().unwrap_or_default();
    let shipping_service = mappings.shipping(&text).map(|m| m.service.clone());
    if shipping_service.is_none() && capabilities.shipping_mappings_required {
        return Decision::Skip {
            reason: NotImportedReason::UnmappedShipping { text },
        };
    }
    let mut lines = Vec::with_capacity(order.lines.len());
    let mut unmapped = Vec::new();
    for line in &order.lines {
        let Some(sku) = &line.sku else {
            return Decision::Skip {
                reason: NotImportedReason::LineWithoutSku {
                    line_id: line.line_id.clone(),
                },
            };
        };
        let resolution = mappings.resolve_sku(sku, |s| in_catalog.contains(s));
        if resolution.sku().is_none() {
            if !unmapped.contains(sku) {
                unmapped.push(sku.clone());
            }
            continue;
        }
        lines.push(ResolvedLine {
            line_id: line.line_id.clone(),
            channel_sku: sku.clone(),
            resolution,
        });
    }
    if !unmapped.is_empty() {
        return Decision::Skip {
            reason: NotImportedReason::UnmappedSku { skus: unmapped },
        };
    }
    Decision::Import(ImportedOrder {
        imported_at: now,
        management: lifecycle.management(),
        shipping_service,
        lines,
    })
}

/// Delay before retrying an outbox entry after a temporary failure: the channel's Retry-After
/// when it gave one, else exponential from 30 s, capped at 1 h.
fn retry_delay(attempts: u32, error: &ChannelError) -> TimeDelta {
    if let Some(d) = error.retry_after() {
        return TimeDelta::from_std(d).unwrap_or(TimeDelta::hours(1));
    }
    let secs = 30_i64.saturating_mul(1_i64 << attempts.min(7));
    TimeDelta::seconds(secs.min(3600))
}

impl Engine {
    /// The catalog's SKUs among those of `orders` (one lookup for the lot).
    async fn catalog_skus(&self, orders: &[&Order]) -> Result<BTreeSet<Sku>, EngineError> {
        let skus: Vec<Sku> = orders
            .iter()
            .flat_map(|o| o.lines.iter().filter_map(|l| l.sku.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut found = BTreeSet::new();
        for chunk in skus.chunks(500) {
            found.extend(
                self.catalog
                    .items_by_sku(chunk)
                    .await?
                    .into_iter()
                    .map(|i| i.sku),
            );
        }
        Ok(found)
    }

    /// Downloads orders not yet imported and records exactly one outcome per order.
    ///
    /// Held orders (waiting for a mapping) are re-evaluated first and import once their mapping
    /// exists. Then the channel is read page by page from the stored cursor; each page's outcomes
    /// and the cursor covering them are written in one store transaction, so a failure never
    /// moves the cursor past unrecorded orders. Imported orders are acknowledged at the channel
    /// only after they are recorded.
    pub async fn import_orders(&self, id: IntegrationId) -> Result<ImportReport, EngineError> {
        let (rec, channel, caps) = self.gate(id, Feature::Orders).await?;
        Self::require(&caps, channel.as_ref(), Operation::FetchOrders)?;
        let mappings = self.store.mappings(id).await?;
        if caps.shipping_mappings_required && !mappings.has_shipping_mappings() {
            return Err(EngineError::ShippingMappingsRequired {
                channel: channel.kind(),
            });
        }
        let mut report = ImportReport::default();
        let mut newly_held: BTreeMap<MissingMapping, usize> = BTreeMap::new();

        // 1. Held orders, re-evaluated with today's mappings and catalog.
        let held = self.store.ledger(id, LedgerFilter::Held).await?;
        let held_orders: Vec<&Order> = held.iter().filter_map(|e| e.order.as_ref()).collect();
        if !held_orders.is_empty() {
            let in_catalog = self.catalog_skus(&held_orders).await?;
            let now = self.now();
            // Only decisions that changed are written: a held order still waiting on the same
            // mapping was not seen again at the channel, and is not recorded as if it were.
            let writes: Vec<LedgerWrite> = held
                .iter()
                .filter_map(|e| {
                    let o = e.order.as_ref()?;
                    let decision = evaluate_order(
                        o,
                        &rec.settings,
                        &caps,
                        &rec.lifecycle,
                        &mappings,
                        &in_catalog,
                        now,
                    );
                    let unchanged = matches!(
                        (&decision, &e.outcome),
                        (Decision::Skip { reason }, OrderOutcome::NotImported { reason: was })
                            if reason == was
                    );
                    (!unchanged).then(|| LedgerWrite {
                        channel_order_id: o.channel_order_id.clone(),
                        order: Some(o.clone()),
                        decision,
                    })
                })
                .collect();
            let recorded = self
                .store
                .record_orders(
                    id,
                    &OrderBatch {
                        seen_at: now,
                        writes,
                        cursor: None,
                    },
                )
                .await?;
            for r in recorded {
                if r.outcome == SightingOutcome::Imported {
                    report.released.push(r.channel_order_id.clone());
                    self.acknowledge(
                        id,
                        channel.as_ref(),
                        &caps,
                        &r.channel_order_id,
                        &mut report,
                    )
                    .await?;
                }
            }
        }

        // 2. New orders from the cursor on.
        let created_since = rec
            .settings
            .created_within_days
            .map(|d| self.now() - TimeDelta::days(i64::from(d)));
        let mut query = OrderQuery {
            cursor: self.store.cursor(id).await?,
            created_since,
            // Every status is downloaded so each order gets an outcome: "its status is not
            // imported" is an answer a seller can act on; a silently filtered order is not.
            states: Vec::new(),
            default_currency: rec.settings.default_currency,
            page: None,
            page_size: None,
        };
        // Acknowledged once every page is read: acknowledging drops an order from a channel's
        // "not yet exported" listing (ChannelAdvisor's `exported=false`), which would shift the
        // offset of the next page link past orders not read yet. An order recorded but not
        // acknowledged (the run failed in between) is seen again next run as already imported
        // and acknowledged then.
        let mut to_acknowledge: Vec<ChannelOrderId> = Vec::new();
        // The next page is fetched while this one is recorded (only its link is needed); a
        // failure to record still stops the run before anything of the next page is used.
        let mut fetched = channel.fetch_orders(&query).await;
        loop {
            let page = match fetched {
                Ok(p) => p,
                Err(e) if e.kind() == ErrorKind::Auth => {
                    return Err(self.channel_failed(id, e).await);
                }
                Err(e) if report.pages > 0 || !report.released.is_empty() => {
                    report.stopped = Some(e.to_string());
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            report.pages += 1;
            let now = self.now();
            let next_query = page.next_page.clone().map(|p| OrderQuery {
                page: Some(p),
                ..query.clone()
            });
            let fetch_next = async {
                match &next_query {
                    Some(q) => Some(channel.fetch_orders(q).await),
                    None => None,
                }
            };
            let (recorded, next) = tokio::join!(
                self.record_page(id, &rec, &caps, &mappings, &page, now, &mut report),
                fetch_next
            );
            let (recorded, writes) = recorded?;
            for (r, w) in recorded.iter().zip(&writes) {
                let oid = r.channel_order_id.clone();
                match &r.outcome {
                    SightingOutcome::Imported => {
                        if let Decision::Import(i) = &w.decision
                            && i.shipping_service.is_none()
                        {
                            let text = w
                                .order
                                .as_ref()
                                .and_then(|o| o.shipping_method.clone())
                                .unwrap_or_default();
                            report.unmapped_shipping_imported.push((oid.clone(), text));
                        }
                        report.imported.push(oid.clone());
                        to_acknowledge.push(oid.clone());
                    }
                    SightingOutcome::AlreadyImported => {
                        report.already_imported.push(oid.clone());
                        to_acknowledge.push(oid.clone());
                    }
                    SightingOutcome::NotImported { reason } => {
                        match reason {
                            NotImportedReason::UnmappedShipping { text } => {
                                *newly_held
                                    .entry(MissingMapping::Shipping(text.clone()))
                                    .or_default() += 1;
                            }
                            NotImportedReason::UnmappedSku { skus } => {
                                for s in skus {
                                    *newly_held
                                        .entry(MissingMapping::Sku(s.clone()))
                                        .or_default() += 1;
                                }
                            }
                            _ => {}
                        }
                        report.not_imported.push((oid, reason.clone()));
                    }
                }
            }
            match (next, next_query) {
                (Some(n), Some(q)) => {
                    fetched = n;
                    query = q;
                }
                _ => break,
            }
        }
        self.acknowledge_all(id, &channel, &caps, to_acknowledge, &mut report)
            .await?;

        // 3. One notice per missing mapping that held new orders, with how many wait on it.
        if !newly_held.is_empty() {
            let waiting = self.held_by_mapping(id).await?;
            for missing in newly_held.keys() {
                self.notifier
                    .notify(&Notification::OrdersHeld {
                        integration: id,
                        missing: missing.clone(),
                        orders: waiting.get(missing).copied().unwrap_or(0),
                    })
                    .await;
            }
        }
        Ok(report)
    }

    /// Decides every order of one page and records the decisions with the page's cursor in one
    /// store batch. Returns what was recorded and the writes, in the same order.
    #[allow(clippy::too_many_arguments)]
    async fn record_page(
        &self,
        id: IntegrationId,
        rec: &IntegrationRecord,
        caps: &Capabilities,
        mappings: &MappingSet,
        page: &OrderPage,
        now: DateTime<Utc>,
        report: &mut ImportReport,
    ) -> Result<(Vec<RecordedOrder>, Vec<LedgerWrite>), EngineError> {
        let orders: Vec<&Order> = page.orders.iter().collect();
        let in_catalog = self.catalog_skus(&orders).await?;
        let mut writes: Vec<LedgerWrite> = page
            .orders
            .iter()
            .map(|o| LedgerWrite {
                channel_order_id: o.channel_order_id.clone(),
                order: Some(o.clone()),
                decision: evaluate_order(
                    o,
                    &rec.settings,
                    caps,
                    &rec.lifecycle,
                    mappings,
                    &in_catalog,
                    now,
                ),
            })
            .collect();
        for r in &page.rejected {
            match &r.channel_order_id {
                Some(oid) => writes.push(LedgerWrite {
                    channel_order_id: oid.clone(),
                    order: None,
                    decision: Decision::Skip {
                        reason: NotImportedReason::Unreadable {
                            message: r.error.to_string(),
                        },
                    },
                }),
                None => report.unreadable_without_id.push(r.error.to_string()),
            }
        }
        let batch = OrderBatch {
            seen_at: now,
            writes,
            cursor: page.cursor.clone(),
        };
        let recorded = self.store.record_orders(id, &batch).await?;
        Ok((recorded, batch.writes))
    }

    /// Acknowledges the orders, as many at once as the channel allows in flight (one by one when
    /// it states no limit). One order's failure is reported and the others go on; an
    /// authorization failure breaks the connection and stops them all.
    async fn acknowledge_all(
        &self,
        id: IntegrationId,
        channel: &Arc<dyn Channel>,
        caps: &Capabilities,
        orders: Vec<ChannelOrderId>,
        report: &mut ImportReport,
    ) -> Result<(), EngineError> {
        if !caps.orders_acknowledge || orders.is_empty() {
            return Ok(());
        }
        let at_once = caps.rate_limits.concurrent.unwrap_or(1).max(1) as usize;
        if at_once == 1 {
            for oid in &orders {
                self.acknowledge(id, channel.as_ref(), caps, oid, report)
                    .await?;
            }
            return Ok(());
        }
        let mut in_flight = tokio::task::JoinSet::new();
        let mut queue = orders.into_iter();
        loop {
            while in_flight.len() < at_once {
                let Some(oid) = queue.next() else { break };
                let channel = Arc::clone(channel);
                in_flight.spawn(async move {
                    let result = channel.acknowledge_order(&oid).await;
                    (oid, result)
                });
            }
            let Some(done) = in_flight.join_next().await else {
                return Ok(());
            };
            match done {
                Ok((_, Ok(()))) => {}
                Ok((_, Err(e))) if e.kind() == ErrorKind::Auth => {
                    in_flight.abort_all();
                    return Err(self.channel_failed(id, e).await);
                }
                Ok((oid, Err(e))) => report.acknowledge_failed.push((oid, e.to_string())),
                // A panicking channel is a bug in the channel: surface it as such.
                Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                // Cancelled (the runtime is shutting down): the order is recorded and seen
                // again next run as already imported, and acknowledged then.
                Err(_) => {}
            }
        }
    }

    async fn acknowledge(
        &self,
        id: IntegrationId,
        channel: &dyn Channel,
        caps: &Capabilities,
        order: &ChannelOrderId,
        report: &mut ImportReport,
    ) -> Result<(), EngineError> {
        if !caps.orders_acknowledge {
            return Ok(());
        }
        match channel.acknowledge_order(order).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Auth => Err(self.channel_failed(id, e).await),
            Err(e) => {
                report
                    .acknowledge_failed
                    .push((order.clone(), e.to_string()));
                Ok(())
            }
        }
    }

    /// How many orders wait on each missing mapping.
    pub async fn held_by_mapping(
        &self,
        id: IntegrationId,
    ) -> Result<BTreeMap<MissingMapping, usize>, EngineError> {
        let mut out: BTreeMap<MissingMapping, usize> = BTreeMap::new();
        for e in self.store.ledger(id, LedgerFilter::Held).await? {
            if let OrderOutcome::NotImported { reason } = e.outcome {
                match reason {
                    NotImportedReason::UnmappedShipping { text } => {
                        *out.entry(MissingMapping::Shipping(text)).or_default() += 1;
                    }
                    NotImportedReason::UnmappedSku { skus } => {
                        for s in skus {
                            *out.entry(MissingMapping::Sku(s)).or_default() += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// The full story of one order: every time it was seen, its outcome and why, what would
    /// change it, and what was sent for it.
    pub async fn explain_order(
        &self,
        id: IntegrationId,
        order_id: &ChannelOrderId,
    ) -> Result<OrderExplanation, EngineError> {
        let rec = self.integration(id).await?;
        let ledger = self.store.ledger_entry(id, order_id).await?;
        let outbox: Vec<OutboxEntry> = self
            .store
            .outbox(id)
            .await?
            .into_iter()
            .filter(|e| &e.item.order_id == order_id)
            .collect();
        let mut story = Vec::new();
        match &ledger {
            None => {
                story.push(format!(
                    "Order {order_id} has never been downloaded for this integration."
                ));
                let cursor = self.store.cursor(id).await?;
                story.push(format!(
                    "Orders are downloaded when the integration is active, enabled, healthy and its orders switch is on{}; the current cursor is {}.",
                    rec.settings
                        .created_within_days
                        .map(|d| format!(", and only orders created within the last {d} days"))
                        .unwrap_or_default(),
                    cursor.map(|c| format!("{:?}", c.0)).unwrap_or_else(|| "not set (nothing downloaded yet)".into())
                ));
                if let Err(b) = rec.lifecycle.check_feature(Feature::Orders, self.now()) {
                    story.push(format!("Downloads are blocked right now: {b}."));
                }
            }
            Some(e) => {
                story.push(format!(
                    "First seen {}; seen {} time(s).",
                    e.first_seen_at, e.times_seen
                ));
                for s in &e.sightings {
                    let what = match &s.outcome {
                        SightingOutcome::Imported => "imported".to_owned(),
                        SightingOutcome::AlreadyImported => {
                            "already imported, nothing done".to_owned()
                        }
                        SightingOutcome::NotImported { reason } => {
                            format!("not imported: {reason}")
                        }
                    };
                    story.push(format!("{} (status {:?}): {what}.", s.at, s.status_raw));
                }
                match &e.outcome {
                    OrderOutcome::Imported => {
                        if let Some(i) = &e.imported {
                            story.push(format!(
                                "Imported at {} as {:?}, shipping service {}.",
                                i.imported_at,
                                i.management,
                                i.shipping_service
                                    .as_ref()
                                    .map(|s| format!("{:?}", s.name))
                                    .unwrap_or_else(|| "none (the channel's text was kept)".into())
                            ));
                            for l in &i.lines {
                                story.push(format!(
                                    "Line {}: channel SKU {:?} resolved {:?}.",
                                    l.line_id,
                                    l.channel_sku.as_str(),
                                    l.resolution
                                ));
                            }
                        }
                    }
                    OrderOutcome::NotImported { reason } => story.push(reason.remedy()),
                }
            }
        }
        for o in &outbox {
            story.push(format!(
                "{} {}: {} after {} attempt(s){}.",
                o.item.action.name(),
                o.item.idempotency_key,
                match &o.state {
                    OutboxState::Pending => "pending".to_owned(),
                    OutboxState::Sent { at } => format!("sent at {at}"),
                    OutboxState::Failed { error, .. } => format!("failed ({error})"),
                },
                o.attempts,
                o.last_error
                    .as_ref()
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            ));
        }
        Ok(OrderExplanation {
            order_id: order_id.clone(),
            ledger,
            outbox,
            story,
        })
    }

    async fn enqueue(
        &self,
        id: IntegrationId,
        order_id: &ChannelOrderId,
        action: OutboxAction,
        operation: Operation,
        key: Option<IdempotencyKey>,
    ) -> Result<OutboxEntry, EngineError> {
        let rec = self.integration(id).await?;
        if rec.lifecycle.is_deleted() {
            return Err(EngineError::Blocked {
                integration: id,
                blocked: crate::lifecycle::Blocked::Deleted,
            });
        }
        let channel = self.channel(id)?;
        Self::require(&channel.capabilities(), channel.as_ref(), operation)?;
        let entry = self
            .store
            .ledger_entry(id, order_id)
            .await?
            .ok_or_else(|| EngineError::UnknownOrder(order_id.clone()))?;
        match (&entry.outcome, &entry.imported) {
            (OrderOutcome::Imported, Some(i)) if i.management == Management::ThirdPartyManaged => {
                return Err(EngineError::ThirdPartyManaged(order_id.clone()));
            }
            (OrderOutcome::Imported, _) => {}
            (OrderOutcome::NotImported { reason }, _) => {
                return Err(EngineError::OrderNotImported {
                    order: order_id.clone(),
                    reason: reason.remedy(),
                });
            }
        }
        Ok(self
            .store
            .enqueue_outbox(&OutboxItem {
                integration_id: id,
                order_id: order_id.clone(),
                action,
                idempotency_key: key.unwrap_or_else(IdempotencyKey::generate),
                created_at: self.now(),
            })
            .await?)
    }

    /// Records a shipment to send (sent by [`sync_orders`](Self::sync_orders)). Giving the same
    /// `key` again returns the existing entry: a host that retries after a crash never records
    /// the shipment twice.
    pub async fn ship(
        &self,
        id: IntegrationId,
        order_id: &ChannelOrderId,
        shipment: Shipment,
        key: Option<IdempotencyKey>,
    ) -> Result<OutboxEntry, EngineError> {
        self.enqueue(
            id,
            order_id,
            OutboxAction::Ship(shipment),
            Operation::Ship,
            key,
        )
        .await
    }

    /// Records a refund to send.
    pub async fn refund(
        &self,
        id: IntegrationId,
        order_id: &ChannelOrderId,
        refund: Refund,
        key: Option<IdempotencyKey>,
    ) -> Result<OutboxEntry, EngineError> {
        self.enqueue(
            id,
            order_id,
            OutboxAction::Refund(refund),
            Operation::Refund,
            key,
        )
        .await
    }

    /// Records a cancellation to send.
    pub async fn cancel(
        &self,
        id: IntegrationId,
        order_id: &ChannelOrderId,
        cancellation: Cancellation,
        key: Option<IdempotencyKey>,
    ) -> Result<OutboxEntry, EngineError> {
        self.enqueue(
            id,
            order_id,
            OutboxAction::Cancel(cancellation),
            Operation::Cancel,
            key,
        )
        .await
    }

    /// Sends due outbox entries: each claimed with a lease, sent with its idempotency key, then
    /// marked sent. A crash between sending and marking leaves the entry claimed until the lease
    /// lapses; the retry reuses the same key, so a channel that honours keys applies it once.
    pub async fn sync_orders(&self, id: IntegrationId) -> Result<OutboxReport, EngineError> {
        let (_rec, channel, _caps) = self.gate(id, Feature::Fulfillments).await?;
        let mut report = OutboxReport::default();
        loop {
            let now = self.now();
            let lease_until =
                now + TimeDelta::from_std(self.outbox_lease).unwrap_or(TimeDelta::minutes(5));
            let claimed = self.store.claim_outbox(id, now, lease_until, 50).await?;
            if claimed.is_empty() {
                return Ok(report);
            }
            for entry in claimed {
                let token = entry
                    .lease
                    .as_ref()
                    .map(|l| l.token.clone())
                    .unwrap_or_default();
                let key = entry.item.idempotency_key.clone();
                let result = self.send(channel.as_ref(), &entry).await;
                let now = self.now();
                let (update, stop) = match &result {
                    Ok(()) => (OutboxUpdate::Sent { at: now }, None),
                    Err(e) if e.kind() == ErrorKind::Auth => (
                        OutboxUpdate::Retry {
                            at: now,
                            error: e.to_string(),
                        },
                        Some(e.to_string()),
                    ),
                    Err(e) if e.is_temporary() => (
                        OutboxUpdate::Retry {
                            at: now + retry_delay(entry.attempts, e),
                            error: e.to_string(),
                        },
                        (e.kind() == ErrorKind::RateLimited).then(|| e.to_string()),
                    ),
                    Err(e) => (
                        OutboxUpdate::Failed {
                            at: now,
                            error: e.to_string(),
                        },
                        None,
                    ),
                };
                // Losing the lease means another worker took the entry; it will finish it.
                match self.store.finish_outbox(&key, &token, &update).await {
                    Ok(()) | Err(super::store::StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                match (&update, result) {
                    (OutboxUpdate::Sent { .. }, _) => report
                        .sent
                        .push((entry.item.order_id.clone(), entry.item.action.name().into())),
                    (_, Err(e)) => {
                        report.failed.push(OutboxFailure {
                            order_id: entry.item.order_id.clone(),
                            action: entry.item.action.name().into(),
                            error: e.to_string(),
                            will_retry: matches!(update, OutboxUpdate::Retry { .. }),
                        });
                        if e.kind() == ErrorKind::Auth {
                            return Err(self.channel_failed(id, e).await);
                        }
                    }
                    (_, Ok(())) => {}
                }
                if let Some(why) = stop {
                    report.stopped = Some(why);
                    return Ok(report);
                }
            }
        }
    }

    async fn send(&self, channel: &dyn Channel, entry: &OutboxEntry) -> Result<(), ChannelError> {
        let item = &entry.item;
        match &item.action {
            OutboxAction::Ship(s) => {
                channel
                    .ship(&ShipmentRequest {
                        order_id: item.order_id.clone(),
                        shipment: s.clone(),
                        idempotency_key: item.idempotency_key.clone(),
                        resend: entry.attempts > 1,
                    })
                    .await
            }
            OutboxAction::Refund(r) => {
                channel
                    .refund(&RefundRequest {
                        order_id: item.order_id.clone(),
                        refund: r.clone(),
                        idempotency_key: item.idempotency_key.clone(),
                        resend: entry.attempts > 1,
                    })
                    .await
            }
            OutboxAction::Cancel(c) => {
                channel
                    .cancel(&CancellationRequest {
                        order_id: item.order_id.clone(),
                        cancellation: c.clone(),
                        idempotency_key: item.idempotency_key.clone(),
                        resend: entry.attempts > 1,
                    })
                    .await
            }
        }
    }
}
