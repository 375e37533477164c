//! The oversell guard: a sale on one channel reaches the host's stock and, within one
//! scheduler pass, every other channel that lists the SKU.
//!
//! What happens, in order:
//!
//! 1. **Import** ([`Engine::import_orders`]): each order newly decided for import is journalled
//!    in the same store transaction as its ledger row ([`OrderBatch::stock`]: the catalogue's
//!    SKUs after the SKU mappings, with the units sold). An order is journalled once, whatever
//!    runs overlap.
//! 2. **Hand-over** ([`Engine::propagate_stock`]): under the store's named lease
//!    [`STOCK_LEASE`] (one process at a time, so events go to the host in journal order), the
//!    pending events are given to the host's [`Catalog::orders_imported`] in journal order;
//!    then, for each event, every *other* integration that lists one of its SKUs (a linked
//!    listing) and has its listings feature on (also one that may not sync right now:
//!    Broken, Unverified or disabled; its pairs wait until it may) gets that (integration, SKU) marked pending (and the order's own integration when its
//!    listing was written after the sale: see [`Engine::propagate_stock`]); the events are
//!    marked handed over in the same store transaction ([`Store::finish_stock_events`]),
//!    which also makes those
//!    integrations due at once for the scheduler. Many orders for one SKU before the next
//!    send are one pending pair: one update (coalesced).
//! 3. **Targeted sync** ([`Engine::sync_pending_skus`]): for one integration, only the pending
//!    SKUs are read from the catalogue and sent through the channel's update path in the
//!    channel's batch sizes, with the same fingerprint bookkeeping as
//!    [`Engine::sync_listings`]. The pairs sent (or found to need nothing) are removed
//!    ([`Store::finish_propagation`]); a pair marked again meanwhile stays pending.
//!
//! The scheduler ([`Scheduler`](super::scheduler::Scheduler)) makes the hand-over once per pass,
//! before claiming, and runs the targeted sync of a claimed integration with pending SKUs
//! before its other operations. Without a scheduler, [`Engine::propagate_stock_now`] does both.
//!
//! # Safety
//!
//! - A failing host hook stops the hand-over where it is: nothing is skipped, the same events
//!   are handed over at the next call. A crash between the hook and the marking hands them
//!   over again: the host deduplicates by [`StockEvent::seq`].
//! - A quantity reaching 0 is sent even when the listing's fingerprint says nothing changed.
//! - A listing is never sent a quantity whose [`InventoryItem::stock_version`] is older than
//!   the one last sent to it ([`Listing::last_stock_version`]).
//! - A channel that refuses a SKU, fails, runs out of rate budget, or an integration that
//!   cannot sync now (Broken, disabled…) is reported per SKU; its pairs stay pending and are
//!   sent at a later run (after a repair: as soon as the integration is healthy again and
//!   claimed).
//! - Nothing is ever ended or unlinked here: the reconciler and the Live rules are untouched.
//!
//! [`OrderBatch::stock`]: crate::store::OrderBatch::stock
//! [`Store::finish_stock_events`]: crate::store::Store::finish_stock_events
//! [`Store::finish_propagation`]: crate::store::Store::finish_propagation
//! [`Catalog::orders_imported`]: crate::catalog::Catalog::orders_imported

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::capability::Operation;
use crate::ids::{IntegrationId, Sku};
use crate::lifecycle::{Blocked, Feature};
use crate::listing::{InventoryItem, Listing, ListingStatus, ListingUpdate};
use crate::store::{PendingSku, StockEvent};

use super::listings::{ListingFailure, Pending, SyncReport, is_older};
use super::{Engine, EngineError};

/// The name of the store lease ([`Store::try_lease`](crate::store::Store::try_lease)) under
/// which one process at a time hands stock events over.
pub const STOCK_LEASE: &str = "stock-events";

/// How long the hand-over lease is taken for (renewed after every batch of events).
const STOCK_LEASE_FOR: Duration = Duration::from_secs(60);

/// How many events one hook call receives at most.
const HAND_OVER_BATCH: usize = 100;

/// How many pending SKUs a targeted sync reads at once.
const PENDING_PAGE: usize = 1_000;

/// What one hand-over ([`Engine::propagate_stock`]) did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockHandOver {
    /// Another process holds the hand-over lease ([`STOCK_LEASE`]): nothing was done here.
    pub busy: bool,
    /// The journal positions ([`StockEvent::seq`]) of the events handed to the host, in order.
    pub events: Vec<u64>,
    /// The (integration, SKU) pairs marked pending for a targeted sync.
    pub marked: Vec<(IntegrationId, Sku)>,
}

/// What a targeted sync ([`Engine::sync_pending_skus`]) did for one integration. SKUs in
/// `sent`, `unchanged`, `older`, `not_listed`, `missing_from_catalog`, `not_on_label` and
/// `broken` are done (no longer pending); those in `failed` and `waiting` stay pending.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropagationReport {
    /// SKUs whose update the channel accepted.
    pub sent: Vec<Sku>,
    /// SKUs whose listing already shows the catalogue's content (quantity above 0).
    pub unchanged: Vec<Sku>,
    /// SKUs not sent because the catalogue's quantity is older (by stock version) than the one
    /// already sent to the listing.
    pub older: Vec<Sku>,
    /// SKUs the integration no longer lists (no linked listing).
    pub not_listed: Vec<Sku>,
    /// SKUs no longer in the catalogue (left to the regular sync and the reconciler).
    pub missing_from_catalog: Vec<Sku>,
    /// SKUs whose item no longer carries the integration's label (left to the reconciler).
    pub not_on_label: Vec<Sku>,
    /// SKUs whose channel listing no longer exists: now broken links.
    pub broken: Vec<Sku>,
    /// SKUs the channel refused or could not take, each with its reason: still pending.
    pub failed: Vec<ListingFailure>,
    /// SKUs not tried in this run (the integration is blocked, or the run stopped): still
    /// pending.
    pub waiting: Vec<Sku>,
    /// Why nothing was sent: the integration may not sync listings now (Broken, disabled…).
    pub blocked: Option<Blocked>,
    /// Why the run stopped early (the rate budget is spent, the channel failed as a whole).
    pub stopped: Option<String>,
}

/// What [`Engine::propagate_stock_now`] did.
#[derive(Debug, Default)]
pub struct StockPropagation {
    /// The hand-over.
    pub hand_over: StockHandOver,
    /// Each integration with pending SKUs and its targeted sync.
    pub syncs: Vec<(IntegrationId, Result<PropagationReport, EngineError>)>,
}

/// One pending pair with what is needed to send it.
struct ToSend {
    pending: Pending,
    /// The listing as stored before the send.
    before: Listing,
    mark: u64,
}

impl Engine {
    /// Hands the journalled stock events to the host and marks the SKUs to send to the other
    /// channels (steps 2 of the [module docs](self)). In order:
    ///
    /// 1. takes the store lease [`STOCK_LEASE`] (held by another process: returns at once with
    ///    [`StockHandOver::busy`]);
    /// 2. reads up to 100 pending events, lowest `seq` first, and gives them to
    ///    [`Catalog::orders_imported`](crate::Catalog::orders_imported) — an error stops here
    ///    (`Err`, nothing marked: the same events come again at the next call);
    /// 3. reads the listings of their SKUs ([`Store::listings_for_skus`](crate::store::Store::listings_for_skus))
    ///    and, for each event, marks each linked listing of another integration with listings
    ///    on (one blocked now keeps them pending until it may sync), and the order's own listing when it was written (linked or sent) after
    ///    the order was placed, within a 5-minute margin for the two clocks: the channel lowered
    ///    its own quantity when it sold, but an absolute quantity sent after that (another
    ///    channel's sale, a sync) did not count this sale yet and overwrote the decrease;
    ///    marks the events handed over in the same store transaction, which makes
    ///    the marked integrations due at once;
    /// 4. repeats with the next events while there are any, renewing the lease; releases it.
    ///
    /// The lease is taken for 60 s and renewed after each batch: a hook call that takes longer
    /// may let another process hand the same events over again (the host deduplicates by
    /// [`StockEvent::seq`]). Safe to call at any time and from any number of processes; the
    /// scheduler calls it once per pass.
    pub async fn propagate_stock(&self) -> Result<StockHandOver, EngineError> {
        // A holder of its own for each call: a lease is re-entrant for its holder, and two
        // hand-overs in one process (a scheduler and a direct call) must not both go on.
        let holder = crate::store::WorkerId::new(self.worker.as_str());
        let holder = holder.as_str();
        let mut report = StockHandOver::default();
        if !self
            .store
            .try_lease(STOCK_LEASE, holder, STOCK_LEASE_FOR)
            .await?
        {
            report.busy = true;
            return Ok(report);
        }
        let result = self.hand_over_events(holder, &mut report).await;
        if let Err(e) = self.store.release_lease(STOCK_LEASE, holder).await {
            tracing::warn!(error = %e, "releasing the stock hand-over lease failed; it will lapse");
        }
        result.map(|()| report)
    }

    async fn hand_over_events(
        &self,
        holder: &str,
        report: &mut StockHandOver,
    ) -> Result<(), EngineError> {
        // Whether each integration syncs listings (not deleted, listings on), read once per call.
        let mut eligible: HashMap<IntegrationId, bool> = HashMap::new();
        loop {
            let events = self.store.pending_stock_events(HAND_OVER_BATCH).await?;
            if events.is_empty() {
                return Ok(());
            }
            self.catalog.orders_imported(&events).await?;
            let propagate = self.to_propagate(&events, &mut eligible).await?;
            let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
            self.store.finish_stock_events(&seqs, &propagate).await?;
            report.events.extend(seqs);
            report
                .marked
                .extend(propagate.into_iter().map(|p| (p.integration_id, p.sku)));
            if events.len() < HAND_OVER_BATCH {
                return Ok(());
            }
            if !self
                .store
                .try_lease(STOCK_LEASE, holder, STOCK_LEASE_FOR)
                .await?
            {
                // Another process took the lapsed lease over: it hands the rest over.
                return Ok(());
            }
        }
    }

    /// The pairs the events make pending: each linked listing of one of an event's SKUs on
    /// another integration with listings on, with the highest `seq` that marks it.
    async fn to_propagate(
        &self,
        events: &[StockEvent],
        eligible: &mut HashMap<IntegrationId, bool>,
    ) -> Result<Vec<PendingSku>, EngineError> {
        let skus: Vec<Sku> = events
            .iter()
            .flat_map(|e| e.lines.iter().map(|l| l.sku.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let mut listed: HashMap<Sku, Vec<IntegrationId>> = HashMap::new();
        // When each listing was last written (linked or sent), for the rule on the order's own
        // integration below.
        let mut written: HashMap<(IntegrationId, Sku), DateTime<Utc>> = HashMap::new();
        for l in self.store.listings_for_skus(&skus).await? {
            if l.status != ListingStatus::Linked || l.channel_listing_id.is_none() {
                continue;
            }
            let ok = match eligible.get(&l.integration_id) {
                Some(ok) => *ok,
                None => {
                    // Every integration that syncs listings, also one that may not right now
                    // (Broken, Unverified, disabled…): its pairs wait, pending, until it may,
                    // and a repaired integration is sent the sales it missed at once.
                    let ok = self
                        .store
                        .integration(l.integration_id)
                        .await?
                        .is_some_and(|r| {
                            !r.lifecycle.is_deleted() && r.lifecycle.features().listings
                        });
                    eligible.insert(l.integration_id, ok);
                    ok
                }
            };
            if ok {
                written.insert((l.integration_id, l.sku.clone()), l.updated_at);
                listed.entry(l.sku).or_default().push(l.integration_id);
            }
        }
        let mut marks: BTreeMap<(IntegrationId, Sku), u64> = BTreeMap::new();
        for e in events {
            let mut placed_at: Option<Option<DateTime<Utc>>> = None;
            for line in &e.lines {
                for other in listed.get(&line.sku).into_iter().flatten() {
                    if *other == e.integration_id {
                        // The channel lowered its own quantity when it sold, so its listing
                        // needs nothing — unless a quantity was sent to it after the sale
                        // (another channel's sale propagated, a sync): that absolute quantity
                        // did not count this sale yet and overwrote the channel's own decrease.
                        let written_at = written.get(&(*other, line.sku.clone())).copied();
                        let placed = match placed_at {
                            Some(p) => p,
                            None => {
                                let p = self
                                    .store
                                    .ledger_entry(e.integration_id, &e.channel_order_id)
                                    .await?
                                    .and_then(|entry| entry.order)
                                    .map(|o| o.created_at);
                                placed_at = Some(p);
                                p
                            }
                        };
                        if !written_after_sale(written_at, placed) {
                            continue;
                        }
                    }
                    let mark = marks.entry((*other, line.sku.clone())).or_insert(e.seq);
                    *mark = (*mark).max(e.seq);
                }
            }
        }
        Ok(marks
            .into_iter()
            .map(|((integration_id, sku), mark)| PendingSku {
                integration_id,
                sku,
                since: now,
                mark,
            })
            .collect())
    }

    /// Sends one integration's pending SKUs (step 3 of the [module docs](self)) and only those.
    /// In order:
    ///
    /// 1. checks the lifecycle: an integration that may not sync listings now (Broken,
    ///    disabled, deactivated, listings off…) sends nothing and reports its pending SKUs as
    ///    [`waiting`](PropagationReport::waiting) with the reason
    ///    ([`blocked`](PropagationReport::blocked)); they stay pending;
    /// 2. reads the pending SKUs (oldest first), their linked listings of this integration and
    ///    their catalogue items;
    /// 3. decides per SKU: not listed, missing from the catalogue, off the label, or older than
    ///    the quantity already sent ([`Listing::last_stock_version`]) → done, nothing sent;
    ///    unchanged (same fingerprint as last sent) and quantity above 0 → done; otherwise
    ///    sent (a quantity of 0 always is);
    /// 4. forgets the listings' last fingerprints (as [`Engine::sync_listings`] does: what
    ///    the channel holds is unknown until it answers), sends the updates in the channel's
    ///    batch sizes, stores each outcome (sent: the new fingerprint and stock version; gone:
    ///    a broken link);
    /// 5. removes the pairs done, each only if no newer sale marked it meanwhile.
    ///
    /// A SKU the channel refuses stays pending (reported in
    /// [`failed`](PropagationReport::failed)); when the rate budget is spent or the channel
    /// fails as a whole, the run stops and the rest stays pending
    /// ([`stopped`](PropagationReport::stopped), [`waiting`](PropagationReport::waiting)); an
    /// `Auth` failure also turns the integration Broken, as every operation does.
    pub async fn sync_pending_skus(
        &self,
        id: IntegrationId,
    ) -> Result<PropagationReport, EngineError> {
        self.observed(
            id,
            super::EngineOperation::SyncPendingSkus,
            self.sync_pending_skus_inner(id),
        )
        .await
    }

    async fn sync_pending_skus_inner(
        &self,
        id: IntegrationId,
    ) -> Result<PropagationReport, EngineError> {
        let mut report = PropagationReport::default();
        let (rec, channel, caps) = match self.gate(id, Feature::Listings).await {
            Ok(g) => g,
            Err(EngineError::Blocked { blocked, .. }) => {
                report.waiting = self
                    .store
                    .pending_skus(id, PENDING_PAGE)
                    .await?
                    .into_iter()
                    .map(|p| p.sku)
                    .collect();
                report.blocked = Some(blocked);
                return Ok(report);
            }
            Err(e) => return Err(e),
        };
        Self::require(&caps, channel.as_ref(), Operation::UpdateListings)?;
        let label = rec.lifecycle.label().cloned().ok_or(EngineError::NoLabel)?;
        let batch_size = caps.update_batch();
        let mut seen: BTreeSet<Sku> = BTreeSet::new();
        loop {
            let page = self.store.pending_skus(id, PENDING_PAGE).await?;
            let full = page.len() == PENDING_PAGE;
            let pending: Vec<PendingSku> = page
                .into_iter()
                .filter(|p| !seen.contains(&p.sku))
                .collect();
            if pending.is_empty() {
                break;
            }
            seen.extend(pending.iter().map(|p| p.sku.clone()));
            let skus: Vec<Sku> = pending.iter().map(|p| p.sku.clone()).collect();
            let listings: HashMap<Sku, Listing> = self
                .store
                .listings_for_skus(&skus)
                .await?
                .into_iter()
                .filter(|l| {
                    l.integration_id == id
                        && l.status == ListingStatus::Linked
                        && l.channel_listing_id.is_some()
                })
                .map(|l| (l.sku.clone(), l))
                .collect();
            let items: HashMap<Sku, InventoryItem> = self
                .catalog
                .items_by_sku(&skus)
                .await?
                .into_iter()
                .map(|i| (i.sku.clone(), i))
                .collect();

            let mut done: Vec<(Sku, u64)> = Vec::new();
            let mut to_send: Vec<ToSend> = Vec::new();
            for p in pending {
                let linked = listings
                    .get(&p.sku)
                    .and_then(|l| l.channel_listing_id.clone().map(|c| (l, c)));
                let Some((l, listing_id)) = linked else {
                    report.not_listed.push(p.sku.clone());
                    done.push((p.sku, p.mark));
                    continue;
                };
                let Some(item) = items.get(&p.sku) else {
                    report.missing_from_catalog.push(p.sku.clone());
                    done.push((p.sku, p.mark));
                    continue;
                };
                if !item.has_label(&label) {
                    report.not_on_label.push(p.sku.clone());
                    done.push((p.sku, p.mark));
                    continue;
                }
                if is_older(item, l) {
                    report.older.push(p.sku.clone());
                    done.push((p.sku, p.mark));
                    continue;
                }
                let update = ListingUpdate::from_item(listing_id, item);
                if l.last_sent == Some(update.fingerprint()) && item.quantity > 0 {
                    report.unchanged.push(p.sku.clone());
                    done.push((p.sku, p.mark));
                    continue;
                }
                to_send.push(ToSend {
                    pending: (
                        Listing {
                            last_sent: None,
                            ..l.clone()
                        },
                        update,
                        item.stock_version,
                    ),
                    before: l.clone(),
                    mark: p.mark,
                });
            }
            drop(listings);
            drop(items);

            // Until the channel answers, what it holds is unknown (see `sync_listings`).
            let forget: Vec<Listing> = to_send
                .iter()
                .filter(|t| t.before.last_sent.is_some())
                .map(|t| t.pending.0.clone())
                .collect();
            self.store.put_listings(&forget).await?;
            drop(forget);

            let now = self.now();
            let marks: HashMap<Sku, u64> = to_send
                .iter()
                .map(|t| (t.before.sku.clone(), t.mark))
                .collect();
            let mut stopped_at: Option<usize> = None;
            for (n, chunk) in to_send.chunks(batch_size).enumerate() {
                let batch: Vec<Pending> = chunk.iter().map(|t| t.pending.clone()).collect();
                let mut sub = SyncReport::default();
                let mut refused = Vec::new();
                match self
                    .send_batch(id, channel.as_ref(), &batch, now, &mut sub, &mut refused)
                    .await
                {
                    Ok((more, outcomes)) => {
                        self.store.put_listings(&outcomes).await?;
                        // A sale handed over while this batch was sent stays pending.
                        self.recheck_sent(id, &batch, &outcomes).await?;
                        for sku in sub.sent.iter().chain(&sub.broken) {
                            if let Some(mark) = marks.get(sku) {
                                done.push((sku.clone(), *mark));
                            }
                        }
                        report.sent.extend(sub.sent);
                        report.broken.extend(sub.broken);
                        if !more {
                            // The rate budget is spent: this batch was not taken, nor the
                            // rest.
                            report
                                .waiting
                                .extend(chunk.iter().map(|t| t.before.sku.clone()));
                            report.stopped = sub.stopped;
                            stopped_at = Some((n + 1) * batch_size);
                            break;
                        }
                        report.failed.extend(sub.failed);
                    }
                    Err(e) => {
                        // The integration is Broken now (an `Auth` failure).
                        report
                            .waiting
                            .extend(chunk.iter().map(|t| t.before.sku.clone()));
                        report.stopped = Some(e.to_string());
                        stopped_at = Some((n + 1) * batch_size);
                        break;
                    }
                }
            }
            if let Some(from) = stopped_at {
                let rest = to_send.get(from..).unwrap_or_default();
                report
                    .waiting
                    .extend(rest.iter().map(|t| t.before.sku.clone()));
                // Not sent: they keep their last fingerprint.
                let restore: Vec<Listing> = rest
                    .iter()
                    .filter(|t| t.before.last_sent.is_some())
                    .map(|t| t.before.clone())
                    .collect();
                self.store.put_listings(&restore).await?;
            }
            self.store.finish_propagation(id, &done).await?;
            if report.stopped.is_some() || !full {
                break;
            }
        }
        Ok(report)
    }

    /// The hand-over ([`Engine::propagate_stock`]) and then the targeted sync
    /// ([`Engine::sync_pending_skus`]) of every integration with pending SKUs whose channel is
    /// registered in this engine, one after the other: for a host that runs no
    /// [`Scheduler`](super::scheduler::Scheduler) (the scheduler does both itself, each
    /// integration's sync in the worker holding its lease). A failed hand-over is returned as
    /// `Err` before any sync; an integration's failure is reported with it and never stops the
    /// others.
    pub async fn propagate_stock_now(&self) -> Result<StockPropagation, EngineError> {
        let hand_over = self.propagate_stock().await?;
        let mut out = StockPropagation {
            hand_over,
            syncs: Vec::new(),
        };
        let ids = self
            .store
            .integrations_with_pending_skus(usize::MAX)
            .await?;
        for id in ids {
            // Without a factory only the integrations whose channel is registered here; with
            // one, every integration (its adapter is made on demand).
            if !self.has_channel_factory() && self.channel(id).is_err() {
                continue;
            }
            let result = self.sync_pending_skus(id).await;
            out.syncs.push((id, result));
        }
        Ok(out)
    }
}

/// How far the channel's clock (an order's `created_at`) and the engine's (a listing's
/// `updated_at`) may disagree: a listing written up to this long before the sale counts as
/// written after it.
const CLOCK_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Whether a listing written at `written_at` may have been sent a quantity after the sale
/// placed at `placed_at` (then the order's own channel must be sent the quantity again). An
/// unknown sale time counts as after; a listing never written, as before.
fn written_after_sale(written_at: Option<DateTime<Utc>>, placed_at: Option<DateTime<Utc>>) -> bool {
    match (written_at, placed_at) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(w), Some(p)) => w + CLOCK_MARGIN > p,
    }
}
