//! Order operations: import (with one recorded outcome per order), explain, and the outbox that
//! sends shipments, refunds and cancellations exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::capability::{Capabilities, Operation};
use crate::channel::{Channel, OrderPage, OrderQuery};
use crate::error::{ChannelError, ErrorKind};
use crate::explain;
use crate::ids::{ChannelOrderId, IntegrationId, Sku};
use crate::lifecycle::{Feature, Lifecycle};
use crate::mapping::MappingSet;
use crate::order::{
    Cancellation, CancellationRequest, IdempotencyKey, Management, Order, Refund, RefundRequest,
    Shipment, ShipmentRequest,
};

use super::{Engine, EngineError};
use crate::notify::MissingMapping;
use crate::settings::IntegrationSettings;
use crate::store::IntegrationRecord;
use crate::store::{
    Decision, ImportedOrder, LedgerEntry, LedgerFilter, LedgerWrite, NewStockEvent,
    NotImportedReason, OrderBatch, OrderOutcome, OutboxAction, OutboxEntry, OutboxItem,
    OutboxState, OutboxUpdate, RecordedOrder, ResolvedLine, SightingOutcome, StockLine,
};

/// What an import run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Orders imported in this run.
    pub imported: Vec<ChannelOrderId>,
    /// Orders seen again after being imported (nothing imported twice).
    pub already_imported: Vec<ChannelOrderId>,
    /// Orders not imported, each with its reason.
    pub not_imported: Vec<(ChannelOrderId, NotImportedReason)>,
    /// Orders downloaded in an earlier run (held for a mapping, or unreadable then) that
    /// imported in this one.
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
    decide(
        order,
        settings,
        capabilities,
        lifecycle,
        mappings,
        in_catalog,
        now,
        AgeCheck::Apply,
    )
}

/// Whether the "created within the last N days" window applies to a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AgeCheck {
    /// A first download: the window decides which orders are taken at all.
    Apply,
    /// An order downloaded before (held, or unreadable then): it stays importable whatever its
    /// age, so a mapping added after N days still imports it.
    Skip,
}

/// [`evaluate_order`], with the age window optional.
#[allow(clippy::too_many_arguments)]
fn decide(
    order: &Order,
    settings: &IntegrationSettings,
    capabilities: &Capabilities,
    lifecycle: &Lifecycle,
    mappings: &MappingSet,
    in_catalog: &BTreeSet<Sku>,
    now: DateTime<Utc>,
    age: AgeCheck,
) -> Decision {
    if age == AgeCheck::Apply
        && let Some(days) = settings.created_within_days
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

/// The most outbox entries one claim of [`Engine::sync_orders`] takes.
const OUTBOX_BATCH: usize = 50;

/// Delay before retrying an outbox entry after a temporary failure: the channel's Retry-After
/// when it gave one, else exponential from 30 s, capped at 1 h.
fn retry_delay(attempts: u32, error: &ChannelError) -> TimeDelta {
    if let Some(d) = error.retry_after() {
        return TimeDelta::from_std(d).unwrap_or(TimeDelta::hours(1));
    }
    let secs = 30_i64.saturating_mul(1_i64 << attempts.min(7));
    TimeDelta::seconds(secs.min(3600))
}

/// Counts an order under each mapping it waits for (none unless it is held for one).
pub(super) fn count_missing(
    reason: &NotImportedReason,
    counts: &mut BTreeMap<MissingMapping, usize>,
) {
    match reason {
        NotImportedReason::UnmappedShipping { text } => {
            *counts
                .entry(MissingMapping::Shipping(text.clone()))
                .or_default() += 1;
        }
        NotImportedReason::UnmappedSku { skus } => {
            for s in skus {
                *counts.entry(MissingMapping::Sku(s.clone())).or_default() += 1;
            }
        }
        _ => {}
    }
}

/// The prefix of the ledger rows that stand for orders the channel sent without a readable id.
pub const UNREADABLE_WITHOUT_ID_PREFIX: &str = "unreadable-without-id-";

/// The ledger row that stands for an order sent without a readable id: keyed by the channel's
/// error (the same unreadable order gives the same row on every run, while the cursor waits
/// before it), so it stays visible in the ledger until it reads.
fn unreadable_placeholder(message: &str) -> ChannelOrderId {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(message.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    ChannelOrderId::new(format!("{UNREADABLE_WITHOUT_ID_PREFIX}{hex}"))
        .expect("a fixed prefix and hex digits are a valid order id")
}

/// The reason written on a placeholder row once a whole download no longer shows that unreadable
/// order: it read (and has its own row under its id), or it left the download (the age window,
/// or deleted at the channel) — which of the two cannot be told without an id.
const NO_LONGER_SENT: &str = "the channel no longer sends this unreadable order: if it became readable it was recorded under its own id; otherwise (it left the download window, or was deleted) check the order at the channel";

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
    /// The channel is read page by page from the stored cursor; each page's outcomes and the
    /// cursor covering them are written in one store transaction, so a failure never moves the
    /// cursor past unrecorded orders. Then the orders downloaded before that still wait — held
    /// for a mapping, or unreadable then — and were not in this download are revisited: a held
    /// order that would import now is first read again by id where the channel can
    /// ([`Capabilities::orders_get_by_id`]), so it is imported on its latest state (a buyer's
    /// cancellation since is seen, and nothing is imported); an unreadable order is read again
    /// by id until it reads. Where the channel cannot read by id, its order cursor shows a
    /// changed order again and the download above has already re-evaluated it. An order
    /// downloaded once stays importable whatever its age: the "created within the last N days"
    /// window decides only what is downloaded. Imported orders are acknowledged at the channel
    /// only after they are recorded.
    pub async fn import_orders(&self, id: IntegrationId) -> Result<ImportReport, EngineError> {
        self.observed(
            id,
            super::EngineOperation::ImportOrders,
            self.import_orders_inner(id),
        )
        .await
    }

    async fn import_orders_inner(&self, id: IntegrationId) -> Result<ImportReport, EngineError> {
        let (rec, channel, caps) = self.gate(id, Feature::Orders).await?;
        Self::require(&caps, channel.as_ref(), Operation::FetchOrders)?;
        let mappings = self.store.mappings(id).await?;
        if caps.shipping_mappings_required && !mappings.has_shipping_mappings() {
            return Err(EngineError::ShippingMappingsRequired {
                channel: channel.kind(),
            });
        }
        let mut report = ImportReport::default();
        // Every order id this download recorded a sighting for, and those it could read.
        let mut seen: BTreeSet<ChannelOrderId> = BTreeSet::new();
        let mut read: BTreeSet<ChannelOrderId> = BTreeSet::new();
        // The orders that wait from earlier runs (held for a mapping, or unreadable): revisited
        // after the download unless it sees them again, and "released" when they import.
        let held = self.store.ledger(id, LedgerFilter::Held).await?;
        let unreadable = self.store.ledger(id, LedgerFilter::Unreadable).await?;
        let waiting: BTreeSet<ChannelOrderId> = held
            .iter()
            .chain(&unreadable)
            .map(|e| e.channel_order_id.clone())
            .collect();

        // 1. New and changed orders from the cursor on.
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
        let mut first_page_failed: Option<ChannelError> = None;
        loop {
            let page = match fetched {
                Ok(p) => p,
                Err(e) if e.kind() == ErrorKind::Auth => {
                    return Err(self.channel_failed(id, e).await);
                }
                Err(e) if report.pages > 0 => {
                    report.stopped = Some(e.to_string());
                    break;
                }
                Err(e) => {
                    // Nothing downloaded: the orders waiting from earlier runs are still
                    // revisited (their mapping may exist now); the run fails if none imports.
                    first_page_failed = Some(e);
                    break;
                }
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
            seen.extend(writes.iter().map(|w| w.channel_order_id.clone()));
            read.extend(page.orders.iter().map(|o| o.channel_order_id.clone()));
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
                        if waiting.contains(&oid) {
                            report.released.push(oid.clone());
                        } else {
                            report.imported.push(oid.clone());
                        }
                        to_acknowledge.push(oid.clone());
                    }
                    SightingOutcome::AlreadyImported => {
                        report.already_imported.push(oid.clone());
                        to_acknowledge.push(oid.clone());
                    }
                    SightingOutcome::NotImported { reason } => {
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
        // 2. Orders downloaded before that still wait, and were not in this download.
        let held = held
            .into_iter()
            .filter(|e| !seen.contains(&e.channel_order_id))
            .collect();
        // Unreadable now: those from before this download did not read, and those it could
        // not read itself (read again by id at once where the channel can, rather than only
        // when the cursor brings them back).
        let unreadable = if unreadable.is_empty() && read.len() == seen.len() {
            unreadable
        } else {
            self.store
                .ledger(id, LedgerFilter::Unreadable)
                .await?
                .into_iter()
                .filter(|e| {
                    let oid = &e.channel_order_id;
                    // A placeholder (no id to read it by) sent again is simply still there.
                    let placeholder_sent_again =
                        oid.as_str().starts_with(UNREADABLE_WITHOUT_ID_PREFIX)
                            && seen.contains(oid);
                    !read.contains(oid) && !placeholder_sent_again
                })
                .collect()
        };
        self.revisit(
            id,
            &rec,
            &channel,
            &caps,
            &mappings,
            held,
            unreadable,
            &mut to_acknowledge,
            &mut report,
        )
        .await?;
        if let Some(e) = first_page_failed {
            if report.released.is_empty() {
                return Err(e.into());
            }
            report.stopped.get_or_insert_with(|| e.to_string());
        }
        self.acknowledge_all(id, &channel, &caps, to_acknowledge, &mut report)
            .await?;

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
        // Outside the age window, but downloaded before (and not imported): still importable.
        for w in &mut writes {
            if let Decision::Skip {
                reason: NotImportedReason::TooOld { .. },
            } = &w.decision
                && let Some(known) = self.store.ledger_entry(id, &w.channel_order_id).await?
                && !matches!(
                    &known.outcome,
                    OrderOutcome::NotImported {
                        reason: NotImportedReason::TooOld { .. }
                    }
                )
                && let Some(o) = &w.order
            {
                w.decision = decide(
                    o,
                    &rec.settings,
                    caps,
                    &rec.lifecycle,
                    mappings,
                    &in_catalog,
                    now,
                    AgeCheck::Skip,
                );
            }
        }
        for r in &page.rejected {
            let message = r.error.to_string();
            let oid = match &r.channel_order_id {
                Some(oid) => oid.clone(),
                None => {
                    report.unreadable_without_id.push(message.clone());
                    unreadable_placeholder(&message)
                }
            };
            writes.push(LedgerWrite {
                channel_order_id: oid,
                order: None,
                decision: Decision::Skip {
                    reason: NotImportedReason::Unreadable { message },
                },
            });
        }
        // "Orders held" is written with the orders it is about, once per missing mapping.
        let notifications = self.held_notifications(id, &writes).await?;
        let stock = stock_events(&writes);
        let batch = OrderBatch {
            seen_at: now,
            writes,
            cursor: page.cursor.clone(),
            notifications,
            stock,
        };
        let recorded = self.store.record_orders(id, &batch).await?;
        self.notify_written(&batch.notifications).await;
        Ok((recorded, batch.writes))
    }

    /// Revisits the orders downloaded before that still wait and were not in this download
    /// (`held`, `unreadable`):
    /// held orders (re-evaluated with today's mappings and catalog) and unreadable ones (read
    /// again by id). Nothing is imported on a stale snapshot where the channel can read the
    /// order again: a held order that would import now is read by id first and decided on what
    /// the channel says today. Only decisions that changed are written.
    #[allow(clippy::too_many_arguments)]
    async fn revisit(
        &self,
        id: IntegrationId,
        rec: &IntegrationRecord,
        channel: &Arc<dyn Channel>,
        caps: &Capabilities,
        mappings: &MappingSet,
        held: Vec<LedgerEntry>,
        unreadable: Vec<LedgerEntry>,
        to_acknowledge: &mut Vec<ChannelOrderId>,
        report: &mut ImportReport,
    ) -> Result<(), EngineError> {
        if held.is_empty() && unreadable.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let by_id = caps.supports(Operation::FetchOrdersById);
        let snapshots: Vec<&Order> = held.iter().filter_map(|e| e.order.as_ref()).collect();
        let in_catalog = self.catalog_skus(&snapshots).await?;
        let decide_now = |o: &Order, in_catalog: &BTreeSet<Sku>| {
            decide(
                o,
                &rec.settings,
                caps,
                &rec.lifecycle,
                mappings,
                in_catalog,
                now,
                AgeCheck::Skip,
            )
        };
        let same = |decision: &Decision, outcome: &OrderOutcome| {
            matches!(
                (decision, outcome),
                (Decision::Skip { reason }, OrderOutcome::NotImported { reason: was })
                    if reason == was
            )
        };

        let mut writes: Vec<LedgerWrite> = Vec::new();
        // Held orders that would import now (to be read again first, where the channel can).
        let mut to_read: Vec<ChannelOrderId> = Vec::new();
        for e in &held {
            let Some(o) = &e.order else { continue };
            let decision = decide_now(o, &in_catalog);
            if same(&decision, &e.outcome) {
                continue;
            }
            if by_id && matches!(decision, Decision::Import(_)) {
                to_read.push(e.channel_order_id.clone());
            } else {
                // Either it still waits (on another mapping now: nothing irreversible), or the
                // channel cannot read orders by id and its cursor would have shown a change.
                writes.push(LedgerWrite {
                    channel_order_id: e.channel_order_id.clone(),
                    order: Some(o.clone()),
                    decision,
                });
            }
        }
        let mut placeholders_gone = Vec::new();
        for e in &unreadable {
            if e.channel_order_id
                .as_str()
                .starts_with(UNREADABLE_WITHOUT_ID_PREFIX)
            {
                // Sent without an id: nothing to read it by. Once a whole download no longer
                // shows it, say so on its row (once).
                let still = matches!(
                    &e.outcome,
                    OrderOutcome::NotImported { reason: NotImportedReason::Unreadable { message } }
                        if message != NO_LONGER_SENT
                );
                if still && report.stopped.is_none() {
                    placeholders_gone.push(e.channel_order_id.clone());
                }
            } else if by_id {
                to_read.push(e.channel_order_id.clone());
            }
        }
        for oid in placeholders_gone {
            writes.push(LedgerWrite {
                channel_order_id: oid,
                order: None,
                decision: Decision::Skip {
                    reason: NotImportedReason::Unreadable {
                        message: NO_LONGER_SENT.to_owned(),
                    },
                },
            });
        }

        // Read again by id, a page at a time; decide on what the channel says today.
        let chunk = caps.orders_page_max.max(1) as usize;
        for ids in to_read.chunks(chunk) {
            let page = match channel
                .fetch_orders_by_id(ids, rec.settings.default_currency)
                .await
            {
                Ok(p) => p,
                Err(e) if e.kind() == ErrorKind::Auth => {
                    return Err(self.channel_failed(id, e).await);
                }
                Err(e) => {
                    // Not read: nothing is decided on the old snapshot; next run tries again.
                    report.stopped.get_or_insert_with(|| e.to_string());
                    break;
                }
            };
            let fresh: Vec<&Order> = page
                .orders
                .iter()
                .filter(|o| ids.contains(&o.channel_order_id))
                .collect();
            let in_catalog = self.catalog_skus(&fresh).await?;
            for o in fresh {
                let decision = decide_now(o, &in_catalog);
                let was = held
                    .iter()
                    .chain(&unreadable)
                    .find(|e| e.channel_order_id == o.channel_order_id);
                if was.is_some_and(|e| same(&decision, &e.outcome) && e.order.as_ref() == Some(o)) {
                    continue;
                }
                writes.push(LedgerWrite {
                    channel_order_id: o.channel_order_id.clone(),
                    order: Some(o.clone()),
                    decision,
                });
            }
            for r in page.rejected {
                // Still unreadable: the row says so with the channel's latest words.
                if let Some(oid) = r.channel_order_id.filter(|o| ids.contains(o)) {
                    let reason = NotImportedReason::Unreadable {
                        message: r.error.to_string(),
                    };
                    let unchanged = unreadable.iter().any(|e| {
                        e.channel_order_id == oid
                            && matches!(&e.outcome, OrderOutcome::NotImported { reason: was } if *was == reason)
                    });
                    if !unchanged {
                        writes.push(LedgerWrite {
                            channel_order_id: oid,
                            order: None,
                            decision: Decision::Skip { reason },
                        });
                    }
                }
            }
        }
        if writes.is_empty() {
            return Ok(());
        }
        let notifications = self.held_notifications(id, &writes).await?;
        let stock = stock_events(&writes);
        let batch = OrderBatch {
            seen_at: now,
            writes,
            cursor: None,
            notifications,
            stock,
        };
        let recorded = self.store.record_orders(id, &batch).await?;
        self.notify_written(&batch.notifications).await;
        for r in recorded {
            match r.outcome {
                SightingOutcome::Imported => {
                    report.released.push(r.channel_order_id.clone());
                    to_acknowledge.push(r.channel_order_id);
                }
                SightingOutcome::AlreadyImported => {}
                SightingOutcome::NotImported { reason } => {
                    report.not_imported.push((r.channel_order_id, reason));
                }
            }
        }
        Ok(())
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
            if let OrderOutcome::NotImported { reason } = &e.outcome {
                count_missing(reason, &mut out);
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
        // The order's outbox entries, oldest first, read a page at a time.
        let mut outbox: Vec<OutboxEntry> = Vec::new();
        let mut next = Some(crate::store::PageRequest::first(
            super::listings::STORE_PAGE,
        ));
        while let Some(request) = next.take() {
            let page = self.store.outbox_page(id, &request).await?;
            next = request.after(&page);
            outbox.extend(
                page.items
                    .into_iter()
                    .filter(|e| &e.item.order_id == order_id),
            );
        }
        let mut story = Vec::new();
        match &ledger {
            None => {
                let cursor = self.store.cursor(id).await?;
                story.extend(explain::never_downloaded(
                    order_id,
                    rec.settings.created_within_days,
                    cursor.as_ref(),
                ));
                if let Err(b) = rec.lifecycle.check_feature(Feature::Orders, self.now()) {
                    story.push(explain::downloads_blocked(&b));
                }
            }
            Some(e) => story.extend(explain::ledger_story(e)),
        }
        story.extend(outbox.iter().map(explain::outbox_line));
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
        key: Option<IdempotencyKey>,
    ) -> Result<OutboxEntry, EngineError> {
        let operation = action.operation();
        let rec = self.integration(id).await?;
        if rec.lifecycle.is_deleted() {
            return Err(EngineError::Blocked {
                integration: id,
                blocked: crate::lifecycle::Blocked::Deleted,
            });
        }
        let channel = self.ensure_channel(id).await?;
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
        let derived = key.is_none();
        let idempotency_key = key.unwrap_or_else(|| OutboxItem::derived_key(id, order_id, &action));
        let item = OutboxItem {
            integration_id: id,
            order_id: order_id.clone(),
            action,
            idempotency_key,
            created_at: self.now(),
        };
        match self.store.enqueue_outbox(&item).await {
            // The same request, made without a key, after the channel refused it for good: say
            // so rather than answer with the old failure as if it were this request's success.
            Ok(OutboxEntry {
                state: OutboxState::Failed { error, .. },
                ..
            }) if derived => Err(EngineError::PreviouslyRefused {
                integration: id,
                order: order_id.clone(),
                action: item.action.name(),
                key: item.idempotency_key,
                error,
            }),
            Ok(entry) => Ok(entry),
            Err(crate::store::StoreError::KeyReused {
                key,
                existing_order,
                existing_action,
                differs,
            }) => Err(EngineError::IdempotencyConflict {
                integration: id,
                key,
                existing_order,
                existing_action,
                differs,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Records a shipment to send (sent by [`sync_orders`](Self::sync_orders)) and returns its
    /// outbox entry.
    ///
    /// Idempotency keys are scoped per integration ([`IdempotencyKey`]):
    /// - `Some(key)`: the same key with the same request returns the existing entry (a host that
    ///   retries after a crash never records the shipment twice); the same key with another
    ///   request (other order, action, tracking number, carrier, lines, …) is
    ///   [`EngineError::IdempotencyConflict`] naming what differs. Other integrations may use
    ///   the same key.
    /// - `None`: the key is derived from the request ([`OutboxItem::derived_key`]: integration,
    ///   order, action and its whole content except `shipped_at`), so the same shipment recorded
    ///   twice — a double click, a retry after a timeout — is one entry and one shipment at the
    ///   channel. Another tracking number or other lines make another entry. When the channel
    ///   refused that same request for good before, the answer is
    ///   [`EngineError::PreviouslyRefused`] with the channel's error: once its cause is fixed,
    ///   send it again under a key of your own.
    pub async fn ship(
        &self,
        id: IntegrationId,
        order_id: &ChannelOrderId,
        shipment: Shipment,
        key: Option<IdempotencyKey>,
    ) -> Result<OutboxEntry, EngineError> {
        self.enqueue(id, order_id, OutboxAction::Ship(shipment), key)
            .await
    }

    /// Records a refund to send and returns its outbox entry. Keys as for
    /// [`ship`](Self::ship): with `None` the key is derived from the request (amount, lines,
    /// reason, restock, note), so the same refund recorded twice is one refund. A host that
    /// really means a second refund of the same amount passes its own key for each.
    pub async fn refund(
        &self,
        id: IntegrationId,
        order_id: &ChannelOrderId,
        refund: Refund,
        key: Option<IdempotencyKey>,
    ) -> Result<OutboxEntry, EngineError> {
        self.enqueue(id, order_id, OutboxAction::Refund(refund), key)
            .await
    }

    /// Records a cancellation to send and returns its outbox entry. Keys as for
    /// [`ship`](Self::ship): with `None` the key is derived from the request (lines, reason).
    pub async fn cancel(
        &self,
        id: IntegrationId,
        order_id: &ChannelOrderId,
        cancellation: Cancellation,
        key: Option<IdempotencyKey>,
    ) -> Result<OutboxEntry, EngineError> {
        self.enqueue(id, order_id, OutboxAction::Cancel(cancellation), key)
            .await
    }

    /// Sends due outbox entries: each claimed with a lease, sent with its idempotency key, then
    /// marked sent. A crash between sending and marking leaves the entry claimed until the lease
    /// lapses; the retry reuses the same key, so a channel that honours keys applies it once.
    ///
    /// The lease runs by the store's clock, which the engine's clock cannot be compared with,
    /// so rather than checking before each send how much lease is left, each claim takes only
    /// as many entries as can be sent one after another within the lease: outbox lease ÷
    /// [send time](Self::with_outbox_send_time), at least 1, at most 50. The others wait for
    /// the next claim of the same run.
    pub async fn sync_orders(&self, id: IntegrationId) -> Result<OutboxReport, EngineError> {
        self.observed(
            id,
            super::EngineOperation::SyncOrders,
            self.sync_orders_inner(id),
        )
        .await
    }

    async fn sync_orders_inner(&self, id: IntegrationId) -> Result<OutboxReport, EngineError> {
        let (_rec, channel, _caps) = self.gate(id, Feature::Fulfillments).await?;
        let mut report = OutboxReport::default();
        let batch = crate::store::support::claims_within_lease(
            self.outbox_lease,
            self.outbox_send_time,
            OUTBOX_BATCH,
        );
        loop {
            let now = self.now();
            let claimed = self
                .store
                .claim_outbox(id, now, self.outbox_lease, batch)
                .await?;
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
                match self.store.finish_outbox(id, &key, &token, &update).await {
                    Ok(()) | Err(crate::store::StoreError::Conflict(_)) => {}
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

/// The stock journal entries of a batch: one per order decided [`Decision::Import`], with the
/// catalogue's SKU of each resolved line (after the SKU mappings) and the units sold, lines of
/// one SKU added up. The store journals each only when the order is imported at this sighting
/// and was not journalled before ([`OrderBatch::stock`]).
fn stock_events(writes: &[LedgerWrite]) -> Vec<NewStockEvent> {
    writes
        .iter()
        .filter_map(|w| {
            let Decision::Import(imported) = &w.decision else {
                return None;
            };
            let order = w.order.as_ref()?;
            let mut lines: Vec<StockLine> = Vec::new();
            for resolved in &imported.lines {
                let Some(sku) = resolved.resolution.sku() else {
                    continue;
                };
                let quantity: u32 = order
                    .lines
                    .iter()
                    .filter(|l| l.line_id == resolved.line_id)
                    .map(|l| l.quantity)
                    .fold(0, u32::saturating_add);
                if quantity == 0 {
                    continue;
                }
                match lines.iter_mut().find(|l| &l.sku == sku) {
                    Some(line) => line.quantity = line.quantity.saturating_add(quantity),
                    None => lines.push(StockLine {
                        sku: sku.clone(),
                        quantity,
                    }),
                }
            }
            Some(NewStockEvent {
                channel_order_id: w.channel_order_id.clone(),
                lines,
                imported_at: imported.imported_at,
            })
        })
        .collect()
}
