//! Listing operations: link, sync (with broken-link detection), publish, reconcile, unlink,
//! relink.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::capability::Operation;
use crate::channel::{Channel, ListingQuery};
use crate::error::{ChannelError, ErrorKind};
use crate::ids::{ChannelListingId, IntegrationId, Label, Sku};
use crate::lifecycle::{Actor, Change, Feature};
use crate::listing::{
    ChannelListing, ChannelListingState, EndListing, EndReason, InventoryItem, Listing,
    ListingStatus, ListingUpdate, NewListing,
};
use crate::mapping::MappingSet;
use crate::store::{PageRequest, Store, StoreError};

use super::{Engine, EngineError};

const CATALOG_PAGE: usize = 500;

/// How many records one paged store read asks for.
pub(super) const STORE_PAGE: usize = 500;

/// An integration's linked listings (linked, with a channel listing id), read from the store a
/// page at a time, in SKU order.
struct LinkedPages {
    id: IntegrationId,
    /// The next page to read; `None` after the last.
    page: Option<PageRequest>,
    /// Linked listings read and not yet taken.
    buffer: std::collections::VecDeque<Listing>,
}

impl LinkedPages {
    fn new(id: IntegrationId) -> Self {
        Self {
            id,
            page: Some(PageRequest::first(STORE_PAGE)),
            buffer: Default::default(),
        }
    }

    /// The next (up to) `n` linked listings; empty after the last.
    async fn next_chunk(
        &mut self,
        store: &dyn Store,
        n: usize,
    ) -> Result<Vec<Listing>, StoreError> {
        while self.buffer.len() < n {
            let Some(request) = self.page.take() else {
                break;
            };
            let page = store.listings_page(self.id, &request).await?;
            self.page = request.after(&page);
            self.buffer.extend(
                page.items.into_iter().filter(|l| {
                    l.status == ListingStatus::Linked && l.channel_listing_id.is_some()
                }),
            );
        }
        let take = n.min(self.buffer.len());
        Ok(self.buffer.drain(..take).collect())
    }
}

/// One listing that failed, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingFailure {
    /// The seller's SKU.
    pub sku: Sku,
    /// The kind of failure.
    pub kind: ErrorKind,
    /// The message, with the channel's own words where it gave some.
    pub message: String,
    /// The field a validation error is about, where the channel said.
    pub field: Option<String>,
}

impl ListingFailure {
    fn new(sku: Sku, e: &ChannelError) -> Self {
        Self {
            sku,
            kind: e.kind(),
            message: e.to_string(),
            field: e.field().map(str::to_owned),
        }
    }
}

/// What linking found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkReport {
    /// Newly linked: SKU and channel listing.
    pub linked: Vec<(Sku, ChannelListingId)>,
    /// Already linked before this run.
    pub already_linked: usize,
    /// Channel listings with no labelled item (their channel SKU, after mapping, when they
    /// have one).
    pub channel_listings_without_item: Vec<(ChannelListingId, Option<Sku>)>,
    /// Labelled items with no channel listing.
    pub items_without_listing: Vec<Sku>,
    /// Items whose link is broken: not relinked automatically (unlink and relink them).
    pub broken_not_relinked: Vec<Sku>,
    /// Channel listings matching an item that is already linked to another listing.
    pub duplicates: Vec<(Sku, ChannelListingId)>,
}

/// What a sync sent and found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// SKUs whose changes the channel accepted.
    pub sent: Vec<Sku>,
    /// Linked listings with nothing changed since the last successful send.
    pub unchanged: usize,
    /// SKUs the channel refused, each with its reason; the others were still sent.
    pub failed: Vec<ListingFailure>,
    /// Linked listings whose channel product no longer exists: now broken links.
    pub broken: Vec<Sku>,
    /// Linked listings ended on the channel.
    pub ended: Vec<Sku>,
    /// Linked items that no longer carry the label (left to reconcile).
    pub not_on_label: Vec<Sku>,
    /// Linked SKUs no longer in the catalog.
    pub missing_from_catalog: Vec<Sku>,
    /// The run stopped early (rate limit budget exhausted): why; the rest is sent next run.
    pub stopped: Option<String>,
}

/// What publishing created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishReport {
    /// Newly created listings.
    pub published: Vec<(Sku, ChannelListingId)>,
    /// Listings an earlier publish created although its answer was lost (a timeout, a dropped
    /// connection, a crash): found at the channel by SKU and linked instead of created again.
    #[serde(default)]
    pub linked: Vec<(Sku, ChannelListingId)>,
    /// Items the channel refused, or whose outcome is unknown (a temporary failure: the next
    /// publish looks them up before creating them).
    pub failed: Vec<ListingFailure>,
}

/// The dry-run plan of a reconcile: every channel listing that would be ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcilePlan {
    /// The integration.
    pub integration: IntegrationId,
    /// The label the plan was made against.
    pub label: Label,
    /// When it was made.
    pub made_at: DateTime<Utc>,
    /// The listings to end.
    pub listings: Vec<EndListing>,
}

/// What carrying out a reconcile plan did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileReport {
    /// Listings ended.
    pub ended: Vec<ChannelListingId>,
    /// Listings the channel refused to end, with the reason.
    pub failed: Vec<(ChannelListingId, String)>,
    /// Listings of the plan left alone because checking the plan again at confirmation showed
    /// it no longer applies to them.
    #[serde(default)]
    pub dropped: Vec<DroppedFromPlan>,
}

/// A listing taken out of a reconcile plan when the plan was checked again at confirmation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedFromPlan {
    /// The channel listing.
    pub listing_id: ChannelListingId,
    /// Its SKU on the channel, when it has one.
    pub sku: Option<Sku>,
    /// Why it was left alone.
    pub reason: DropReason,
}

/// Why a listing was taken out of a reconcile plan at confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DropReason {
    /// Its item carries the integration's label now (labelled after the plan was made).
    NowLabelled,
    /// The channel no longer has it, or it is ended already.
    NotOnChannel,
}

/// Whether a failed publish certainly created nothing: the channel answered and said no. A
/// temporary failure (a 5xx, a timeout, a dropped connection) or an answer the adapter could
/// not read may hide a listing the channel created.
fn refused_cleanly(e: &ChannelError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Auth
            | ErrorKind::RateLimited
            | ErrorKind::NotFound
            | ErrorKind::Invalid
            | ErrorKind::Conflict
            | ErrorKind::Unsupported
    )
}

/// Refuses a reconcile that ends more than `max_percent` of the channel's `listings`.
fn check_share(to_end: usize, listings: usize, max_percent: u8) -> Result<(), EngineError> {
    let max_percent = max_percent.min(100);
    if to_end > 0 && to_end.saturating_mul(100) > usize::from(max_percent).saturating_mul(listings)
    {
        return Err(EngineError::ReconcileTooLarge {
            to_end,
            listings,
            max_percent,
        });
    }
    Ok(())
}

/// The result of a scheduled reconcile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReconcileOutcome {
    /// The reconciler was just switched on: here is the dry-run plan; nothing was removed until
    /// the host confirms it.
    AwaitingConfirmation(ReconcilePlan),
    /// Carried out.
    Done(ReconcileReport),
}

/// Why a linked listing is read back after the sends, reported once the read-back has shown it
/// still exists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Deferred {
    Unchanged,
    MissingFromCatalog,
    NotOnLabel,
    /// Sent and refused: already reported as failed.
    Refused,
}

/// What the read-back says of a linked listing: `None` while it is there and not ended,
/// otherwise the status it now has.
fn gone_status(present: &HashMap<ChannelListingId, bool>, l: &Listing) -> Option<ListingStatus> {
    match l.channel_listing_id.as_ref().and_then(|c| present.get(c)) {
        None => Some(ListingStatus::BrokenLink),
        Some(true) => Some(ListingStatus::Ended),
        Some(false) => None,
    }
}

/// A linked listing to send: its record, the update, and the stock version of the item it was
/// made from ([`InventoryItem::stock_version`]).
pub(super) type Pending = (Listing, ListingUpdate, Option<u64>);

/// Whether `item`'s quantity is older than the one last sent to `l` (both versioned, the
/// item's lower): it is never sent.
pub(super) fn is_older(item: &InventoryItem, l: &Listing) -> bool {
    matches!(
        (item.stock_version, l.last_stock_version),
        (Some(item), Some(sent)) if item < sent
    )
}

/// Reports a listing found broken or ended and returns its record with that status.
pub(super) fn mark_gone(
    report: &mut SyncReport,
    l: &Listing,
    status: ListingStatus,
    now: DateTime<Utc>,
) -> Listing {
    match status {
        ListingStatus::Ended => report.ended.push(l.sku.clone()),
        _ => report.broken.push(l.sku.clone()),
    }
    Listing {
        status,
        updated_at: now,
        ..l.clone()
    }
}

impl Deferred {
    fn report(self, report: &mut SyncReport, l: &Listing) {
        match self {
            Deferred::Unchanged => report.unchanged += 1,
            Deferred::MissingFromCatalog => report.missing_from_catalog.push(l.sku.clone()),
            Deferred::NotOnLabel => report.not_on_label.push(l.sku.clone()),
            Deferred::Refused => {}
        }
    }
}

impl Engine {
    async fn labelled_items(&self, label: &Label) -> Result<Vec<InventoryItem>, EngineError> {
        let mut items = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let p = self
                .catalog
                .items_with_label(label, page.as_deref(), CATALOG_PAGE)
                .await?;
            items.extend(p.items);
            match p.next {
                Some(n) => page = Some(n),
                None => return Ok(items),
            }
        }
    }

    async fn all_channel_listings(
        &self,
        id: IntegrationId,
        channel: &dyn Channel,
        skus: Vec<Sku>,
        include_ended: bool,
    ) -> Result<Vec<ChannelListing>, EngineError> {
        let mut out = Vec::new();
        let mut query = ListingQuery {
            skus,
            include_ended,
            page: None,
            page_size: None,
        };
        loop {
            let page = match channel.list_listings(&query).await {
                Ok(p) => p,
                Err(e) => return Err(self.channel_failed(id, e).await),
            };
            out.extend(page.listings);
            match page.next_page {
                Some(p) => query.page = Some(p),
                None => return Ok(out),
            }
        }
    }

    /// The inventory SKU a channel listing's SKU stands for, after SKU mapping.
    fn inventory_sku(mappings: &MappingSet, channel_sku: &Sku) -> Sku {
        mappings
            .sku(channel_sku)
            .map(|m| m.inventory_sku.clone())
            .unwrap_or_else(|| channel_sku.clone())
    }

    /// Links existing channel listings to labelled items by SKU (after SKU mapping). Broken links
    /// are never relinked automatically.
    pub async fn link_listings(&self, id: IntegrationId) -> Result<LinkReport, EngineError> {
        self.observed(
            id,
            super::EngineOperation::LinkListings,
            self.link_listings_inner(id),
        )
        .await
    }

    async fn link_listings_inner(&self, id: IntegrationId) -> Result<LinkReport, EngineError> {
        let (rec, channel, caps) = self.gate(id, Feature::Listings).await?;
        Self::require(&caps, channel.as_ref(), Operation::ListListings)?;
        let label = rec.lifecycle.label().cloned().ok_or(EngineError::NoLabel)?;
        // Only which SKUs carry the label matters here, not the items themselves.
        let items: BTreeSet<Sku> = self
            .labelled_items(&label)
            .await?
            .into_iter()
            .map(|i| i.sku)
            .collect();
        let mappings = self.store.mappings(id).await?;
        let mut links: BTreeMap<Sku, Listing> = self
            .store
            .listings(id)
            .await?
            .into_iter()
            .map(|l| (l.sku.clone(), l))
            .collect();
        let mut report = LinkReport::default();
        let mut matched: BTreeSet<Sku> = BTreeSet::new();
        let now = self.now();
        // The channel's listings page by page; each page's new links stored in one batch.
        let mut query = ListingQuery {
            skus: Vec::new(),
            include_ended: false,
            page: None,
            page_size: None,
        };
        loop {
            let page = match channel.list_listings(&query).await {
                Ok(p) => p,
                Err(e) => return Err(self.channel_failed(id, e).await),
            };
            let mut new_links = Vec::new();
            for cl in page.listings {
                let Some(channel_sku) = &cl.sku else {
                    report.channel_listings_without_item.push((cl.id, None));
                    continue;
                };
                let sku = Self::inventory_sku(&mappings, channel_sku);
                if !items.contains(&sku) {
                    report
                        .channel_listings_without_item
                        .push((cl.id, Some(sku)));
                    continue;
                }
                matched.insert(sku.clone());
                match links.get(&sku) {
                    Some(l) if l.status == ListingStatus::BrokenLink => {
                        if !report.broken_not_relinked.contains(&sku) {
                            report.broken_not_relinked.push(sku);
                        }
                    }
                    Some(l)
                        if !l.is_unlinked() && l.channel_listing_id.as_ref() == Some(&cl.id) =>
                    {
                        report.already_linked += 1;
                    }
                    // Linked to another listing, before or earlier in this run.
                    Some(l) if !l.is_unlinked() => {
                        report.duplicates.push((sku, cl.id));
                    }
                    _ => {
                        let l = Listing {
                            integration_id: id,
                            sku: sku.clone(),
                            channel_listing_id: Some(cl.id.clone()),
                            channel_sku: Some(channel_sku.clone()),
                            status: ListingStatus::Linked,
                            last_sent: None,
                            updated_at: now,
                            last_stock_version: None,
                        };
                        new_links.push(l.clone());
                        links.insert(sku.clone(), l);
                        report.linked.push((sku, cl.id));
                    }
                }
            }
            self.store.put_listings(&new_links).await?;
            match page.next_page {
                Some(p) => query.page = Some(p),
                None => break,
            }
        }
        report.items_without_listing = items
            .iter()
            .filter(|s| !matched.contains(*s))
            .filter(|s| links.get(*s).is_none_or(Listing::is_unlinked))
            .cloned()
            .collect();
        Ok(report)
    }

    /// What the channel still has of the given channel SKUs: each listing id it answered, and
    /// whether that listing is ended. Read page by page; only the ids in `wanted` are kept, so
    /// the memory is one small entry per linked listing, whatever the channel sends.
    async fn channel_presence(
        &self,
        id: IntegrationId,
        channel: &dyn Channel,
        skus: Vec<Sku>,
        wanted: &HashSet<&str>,
    ) -> Result<HashMap<ChannelListingId, bool>, EngineError> {
        let mut present = HashMap::new();
        if skus.is_empty() {
            return Ok(present);
        }
        let mut query = ListingQuery {
            skus,
            include_ended: true,
            page: None,
            page_size: None,
        };
        loop {
            let page = match channel.list_listings(&query).await {
                Ok(p) => p,
                Err(e) => return Err(self.channel_failed(id, e).await),
            };
            for l in page.listings {
                if wanted.contains(l.id.as_str()) {
                    present.insert(l.id, l.state == ChannelListingState::Ended);
                }
            }
            match page.next_page {
                Some(p) => query.page = Some(p),
                None => return Ok(present),
            }
        }
    }

    /// Sends what changed since the last successful send for every linked listing, batched to
    /// the channel's maximum. A linked listing gone from the channel becomes a broken link; one
    /// listing's failure never stops the others.
    ///
    /// Broken links are found by reading the linked listings back from the channel. Where the
    /// channel's update reports a missing listing per item
    /// ([`Capabilities::listings_update_reports_missing`](crate::Capabilities)), the listings sent
    /// are checked by the write itself and only the others are read back, after the sends.
    /// Listings are taken a chunk at a time (catalog items, updates, stored outcomes), so memory
    /// stays one small entry per linked listing.
    pub async fn sync_listings(&self, id: IntegrationId) -> Result<SyncReport, EngineError> {
        self.observed(
            id,
            super::EngineOperation::SyncListings,
            self.sync_listings_inner(id),
        )
        .await
    }

    async fn sync_listings_inner(&self, id: IntegrationId) -> Result<SyncReport, EngineError> {
        let (rec, channel, caps) = self.gate(id, Feature::Listings).await?;
        Self::require(&caps, channel.as_ref(), Operation::UpdateListings)?;
        let label = rec.lifecycle.label().cloned().ok_or(EngineError::NoLabel)?;
        let batch_size = caps.update_batch();
        let chunk_size = CATALOG_PAGE.div_ceil(batch_size).max(1) * batch_size;
        // The linked listings, read from the store a page at a time.
        let mut linked = LinkedPages::new(id);
        let mut next_chunk = Some(linked.next_chunk(self.store.as_ref(), chunk_size).await?);
        let mut report = SyncReport::default();
        if next_chunk.as_ref().is_none_or(Vec::is_empty) {
            return Ok(report);
        }
        let now = self.now();
        let write_checks = caps.listings_update_reports_missing;
        let channel_sku = |l: &Listing| l.channel_sku.clone().unwrap_or_else(|| l.sku.clone());

        // Unless the writes find broken links themselves, read every linked listing back first
        // (keeping only their channel SKUs and listing ids).
        let before: Option<HashMap<ChannelListingId, bool>> = if write_checks {
            None
        } else {
            let mut skus: BTreeSet<Sku> = BTreeSet::new();
            let mut ids: HashSet<String> = HashSet::new();
            let mut all = LinkedPages::new(id);
            loop {
                let chunk = all.next_chunk(self.store.as_ref(), chunk_size).await?;
                if chunk.is_empty() {
                    break;
                }
                for l in &chunk {
                    skus.insert(channel_sku(l));
                    ids.extend(l.channel_listing_id.as_ref().map(|c| c.to_string()));
                }
            }
            let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
            Some(
                self.channel_presence(id, channel.as_ref(), skus.into_iter().collect(), &wanted)
                    .await?,
            )
        };

        // Linked listings not sent, to read back after the sends (`write_checks` only).
        let mut deferred: Vec<(Listing, Deferred)> = Vec::new();
        // Listings the channel refused (not as missing): read back too, so one ended at the
        // channel, which refuses changes, is found ended rather than failing every run.
        let mut refused: Vec<Listing> = Vec::new();
        'chunks: loop {
            let chunk = match next_chunk.take() {
                Some(c) => c,
                None => linked.next_chunk(self.store.as_ref(), chunk_size).await?,
            };
            if chunk.is_empty() {
                break;
            }
            let skus: Vec<Sku> = chunk.iter().map(|l| l.sku.clone()).collect();
            let items: HashMap<Sku, InventoryItem> = self
                .catalog
                .items_by_sku(&skus)
                .await?
                .into_iter()
                .map(|i| (i.sku.clone(), i))
                .collect();
            drop(skus);

            let mut gone: Vec<Listing> = Vec::new();
            let mut pending: Vec<Pending> = Vec::new();
            for l in &chunk {
                if let Some(present) = &before
                    && let Some(status) = gone_status(present, l)
                {
                    gone.push(mark_gone(&mut report, l, status, now));
                    continue;
                }
                let kind = match items.get(&l.sku) {
                    None => Deferred::MissingFromCatalog,
                    Some(item) if !item.has_label(&label) => Deferred::NotOnLabel,
                    Some(item) => {
                        let Some(listing_id) = l.channel_listing_id.clone() else {
                            continue;
                        };
                        let update = ListingUpdate::from_item(listing_id, item);
                        // An item read older than the quantity last sent is not sent back.
                        if l.last_sent == Some(update.fingerprint()) || is_older(item, l) {
                            Deferred::Unchanged
                        } else {
                            pending.push((l.clone(), update, item.stock_version));
                            continue;
                        }
                    }
                };
                if write_checks {
                    deferred.push((l.clone(), kind));
                } else {
                    kind.report(&mut report, l);
                }
            }
            drop(items);
            self.store.put_listings(&gone).await?;

            // Until the channel answers, what it holds is unknown: an update it applied before
            // failing (or before this process died) must not make a later change back to the
            // last value look unchanged. So the chunk's last fingerprints are forgotten first,
            // in one write, and its outcomes stored together after its batches: a crash in
            // between only sends values again, which changes nothing at the channel.
            let forget: Vec<Listing> = pending
                .iter()
                .filter(|(l, _, _)| l.last_sent.is_some())
                .map(|(l, _, _)| Listing {
                    last_sent: None,
                    ..l.clone()
                })
                .collect();
            self.store.put_listings(&forget).await?;
            drop(forget);
            let mut done: Vec<Listing> = Vec::with_capacity(pending.len());
            let mut tried = 0;
            let mut go_on = true;
            for batch in pending.chunks(batch_size) {
                tried += batch.len();
                match self
                    .send_batch(id, channel.as_ref(), batch, now, &mut report, &mut refused)
                    .await
                {
                    Ok((more, outcomes)) => {
                        done.extend(outcomes);
                        if !more {
                            go_on = false;
                            break;
                        }
                    }
                    Err(e) => {
                        self.store.put_listings(&done).await?;
                        return Err(e);
                    }
                }
            }
            if !go_on {
                // Not sent (the budget is spent): they keep their last fingerprint.
                done.extend(
                    pending[tried..]
                        .iter()
                        .filter(|(l, _, _)| l.last_sent.is_some())
                        .map(|(l, _, _)| l.clone()),
                );
            }
            self.store.put_listings(&done).await?;
            self.recheck_sent(id, &pending, &done).await?;
            if !go_on {
                break 'chunks;
            }
        }

        let mut check: Vec<(&Listing, Deferred)> = deferred.iter().map(|(l, k)| (l, *k)).collect();
        if write_checks {
            check.extend(refused.iter().map(|l| (l, Deferred::Refused)));
        }
        if check.is_empty() {
            return Ok(report);
        }
        if report.stopped.is_some() {
            // The budget is spent: the read-back waits for the next run.
            for (l, kind) in check {
                kind.report(&mut report, l);
            }
            return Ok(report);
        }
        let skus: BTreeSet<Sku> = check.iter().map(|(l, _)| channel_sku(l)).collect();
        let wanted: HashSet<&str> = check
            .iter()
            .filter_map(|(l, _)| l.channel_listing_id.as_ref().map(|c| c.as_str()))
            .collect();
        let present = self
            .channel_presence(id, channel.as_ref(), skus.into_iter().collect(), &wanted)
            .await?;
        let mut gone = Vec::new();
        for (l, kind) in check {
            let Some(status) = gone_status(&present, l) else {
                kind.report(&mut report, l);
                continue;
            };
            if kind == Deferred::Refused {
                // Its refusal is explained by what the read-back found.
                report.failed.retain(|f| f.sku != l.sku);
            }
            gone.push(mark_gone(&mut report, l, status, now));
        }
        self.store.put_listings(&gone).await?;
        Ok(report)
    }

    /// After a chunk was sent: the catalogue was read before the sends, and a sale handed over
    /// meanwhile (the host lowered its stock) is not in what was sent — nor is it sent by the
    /// targeted propagation when this is the sale's own channel (see
    /// [`Engine::propagate_stock`]), whose own decrease the send just overwrote. So the items
    /// sent are read again, and each whose quantity (or stock version) changed since is marked
    /// pending for a targeted sync ([`Store::finish_stock_events`] without events), which the
    /// scheduler runs at once. One catalogue read per chunk; no channel call when nothing
    /// changed.
    pub(super) async fn recheck_sent(
        &self,
        id: IntegrationId,
        pending: &[Pending],
        done: &[Listing],
    ) -> Result<(), EngineError> {
        let sent: HashMap<&Sku, &Listing> = done
            .iter()
            .filter(|l| l.last_sent.is_some())
            .map(|l| (&l.sku, l))
            .collect();
        let sent_updates: Vec<&Pending> = pending
            .iter()
            .filter(|(l, u, _)| {
                sent.get(&l.sku)
                    .is_some_and(|d| d.last_sent == Some(u.fingerprint()))
            })
            .collect();
        if sent_updates.is_empty() {
            return Ok(());
        }
        let skus: Vec<Sku> = sent_updates.iter().map(|(l, _, _)| l.sku.clone()).collect();
        let now_items: HashMap<Sku, InventoryItem> = self
            .catalog
            .items_by_sku(&skus)
            .await?
            .into_iter()
            .map(|i| (i.sku.clone(), i))
            .collect();
        let now = self.now();
        let changed: Vec<crate::store::PendingSku> = sent_updates
            .iter()
            .filter(|(l, u, version)| {
                now_items.get(&l.sku).is_some_and(|item| {
                    u.quantity.is_some_and(|q| q != item.quantity) || item.stock_version > *version
                })
            })
            .map(|(l, _, _)| crate::store::PendingSku {
                integration_id: id,
                sku: l.sku.clone(),
                since: now,
                mark: 0,
            })
            .collect();
        if !changed.is_empty() {
            self.store.finish_stock_events(&[], &changed).await?;
        }
        Ok(())
    }

    /// Sends one batch of updates. Returns whether to go on (`false`: the rate budget is spent)
    /// and the listings to store for the outcomes (a sent one with its new fingerprint and the
    /// item's stock version).
    pub(super) async fn send_batch(
        &self,
        id: IntegrationId,
        channel: &dyn Channel,
        batch: &[Pending],
        now: DateTime<Utc>,
        report: &mut SyncReport,
        refused: &mut Vec<Listing>,
    ) -> Result<(bool, Vec<Listing>), EngineError> {
        let updates: Vec<ListingUpdate> = batch.iter().map(|(_, u, _)| u.clone()).collect();
        let outcomes = match channel.update_listings(&updates).await {
            Ok(o) => o,
            Err(e) if e.kind() == ErrorKind::Auth => {
                return Err(self.channel_failed(id, e).await);
            }
            Err(e) => {
                for (l, _, _) in batch {
                    report.failed.push(ListingFailure::new(l.sku.clone(), &e));
                }
                if e.kind() == ErrorKind::RateLimited {
                    report.stopped = Some(e.to_string());
                    return Ok((false, Vec::new()));
                }
                return Ok((true, Vec::new()));
            }
        };
        let mut done = Vec::with_capacity(batch.len());
        for ((l, u, version), outcome) in batch.iter().zip(outcomes) {
            match outcome.result {
                Ok(_) => {
                    done.push(Listing {
                        last_sent: Some(u.fingerprint()),
                        updated_at: now,
                        last_stock_version: l.last_stock_version.max(*version),
                        ..l.clone()
                    });
                    report.sent.push(l.sku.clone());
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    done.push(mark_gone(report, l, ListingStatus::BrokenLink, now));
                }
                Err(e) => {
                    report.failed.push(ListingFailure::new(l.sku.clone(), &e));
                    // As stored before the send: its last fingerprint forgotten.
                    refused.push(Listing {
                        last_sent: None,
                        ..l.clone()
                    });
                }
            }
        }
        Ok((true, done))
    }

    /// Creates channel listings for labelled items that have none (drafts unless `publish`).
    /// Where the channel cannot publish, fails with [`EngineError::Unsupported`] and its rule.
    ///
    /// Published once: before the channel is asked to create a listing, the item's record is
    /// stored as [`ListingStatus::Publishing`]. When the answer is lost (a timeout, a dropped
    /// connection, a crash), the record stays, and the next publish first looks the SKU up at the
    /// channel: the listing found is linked ([`PublishReport::linked`]) instead of created again;
    /// when there is none, it is created. A publish the channel refused (validation, conflict,
    /// credentials, rate limit) leaves the record as it was. A channel that cannot list listings
    /// by SKU gets the create again.
    pub async fn publish_listings(
        &self,
        id: IntegrationId,
        publish: bool,
    ) -> Result<PublishReport, EngineError> {
        self.observed(
            id,
            super::EngineOperation::PublishListings,
            self.publish_listings_inner(id, publish),
        )
        .await
    }

    async fn publish_listings_inner(
        &self,
        id: IntegrationId,
        publish: bool,
    ) -> Result<PublishReport, EngineError> {
        let (rec, channel, caps) = self.gate(id, Feature::Listings).await?;
        Self::require(&caps, channel.as_ref(), Operation::PublishListings)?;
        let label = rec.lifecycle.label().cloned().ok_or(EngineError::NoLabel)?;
        let links: BTreeMap<Sku, Listing> = self
            .store
            .listings(id)
            .await?
            .into_iter()
            .map(|l| (l.sku.clone(), l))
            .collect();
        let items: Vec<InventoryItem> = self
            .labelled_items(&label)
            .await?
            .into_iter()
            .filter(|i| links.get(&i.sku).is_none_or(Listing::is_unlinked))
            .collect();
        let mut report = PublishReport::default();
        let now = self.now();

        // Items an earlier publish may have created: look them up by SKU before creating.
        let pending: BTreeSet<Sku> = items
            .iter()
            .filter(|i| {
                links
                    .get(&i.sku)
                    .is_some_and(|l| l.status == ListingStatus::Publishing)
            })
            .map(|i| i.sku.clone())
            .collect();
        let mut found: BTreeMap<Sku, ChannelListingId> = BTreeMap::new();
        if !pending.is_empty() && caps.supports(Operation::ListListings) {
            let listings = self
                .all_channel_listings(
                    id,
                    channel.as_ref(),
                    pending.iter().cloned().collect(),
                    false,
                )
                .await?;
            for cl in listings {
                if cl.state == ChannelListingState::Ended {
                    continue;
                }
                if let Some(s) = cl.sku.filter(|s| pending.contains(s)) {
                    found.entry(s).or_insert(cl.id);
                }
            }
            let relinked: Vec<Listing> = found
                .iter()
                .map(|(sku, listing_id)| Listing {
                    integration_id: id,
                    sku: sku.clone(),
                    channel_listing_id: Some(listing_id.clone()),
                    channel_sku: Some(sku.clone()),
                    status: ListingStatus::Linked,
                    // Its content at the channel is not known: the next sync sends it.
                    last_sent: None,
                    updated_at: now,
                    last_stock_version: None,
                })
                .collect();
            self.store.put_listings(&relinked).await?;
            report.linked = found.iter().map(|(s, l)| (s.clone(), l.clone())).collect();
        }

        let todo: Vec<NewListing> = items
            .into_iter()
            .filter(|i| !found.contains_key(&i.sku))
            .map(|i| NewListing {
                sku: i.sku,
                title: i.title,
                price: i.price,
                quantity: i.quantity,
                publish,
            })
            .collect();
        for batch in todo.chunks(caps.update_batch()) {
            // The intent, stored before the call.
            let intents: Vec<Listing> = batch
                .iter()
                .map(|n| Listing {
                    integration_id: id,
                    sku: n.sku.clone(),
                    channel_listing_id: None,
                    channel_sku: Some(n.sku.clone()),
                    status: ListingStatus::Publishing,
                    last_sent: None,
                    updated_at: now,
                    last_stock_version: None,
                })
                .collect();
            self.store.put_listings(&intents).await?;
            let outcomes = match channel.publish_listings(batch).await {
                Ok(o) => o,
                Err(e) => {
                    // A whole-batch error says nothing of the items before it: a channel that
                    // creates one listing per call may have created the first ones before a
                    // 429 or a lapsed login stopped the rest. Only a one-item batch refused
                    // cleanly is known not to exist; every other intent stays, and the next
                    // publish looks its SKU up before creating.
                    if batch.len() == 1 && refused_cleanly(&e) {
                        for n in batch {
                            self.clear_intent(id, &n.sku, links.get(&n.sku)).await?;
                        }
                    }
                    if e.kind() == ErrorKind::Auth {
                        return Err(self.channel_failed(id, e).await);
                    }
                    report
                        .failed
                        .extend(batch.iter().map(|n| ListingFailure::new(n.sku.clone(), &e)));
                    continue;
                }
            };
            let mut done = Vec::with_capacity(batch.len());
            for (n, outcome) in batch.iter().zip(outcomes) {
                match outcome.result {
                    Ok(listing_id) => {
                        let fp = ListingUpdate {
                            listing_id: listing_id.clone(),
                            sku: n.sku.clone(),
                            price: Some(n.price),
                            quantity: Some(n.quantity),
                            title: Some(n.title.clone()),
                        }
                        .fingerprint();
                        done.push(Listing {
                            integration_id: id,
                            sku: n.sku.clone(),
                            channel_listing_id: Some(listing_id.clone()),
                            channel_sku: Some(n.sku.clone()),
                            status: ListingStatus::Linked,
                            last_sent: Some(fp),
                            updated_at: now,
                            last_stock_version: None,
                        });
                        report.published.push((n.sku.clone(), listing_id));
                    }
                    Err(e) => {
                        // Refused: nothing was created. Otherwise the intent stays, and the next
                        // publish looks the SKU up first.
                        if refused_cleanly(&e) {
                            self.clear_intent(id, &n.sku, links.get(&n.sku)).await?;
                        }
                        report.failed.push(ListingFailure::new(n.sku.clone(), &e));
                    }
                }
            }
            self.store.put_listings(&done).await?;
        }
        Ok(report)
    }

    /// Undoes the intent of a publish the channel refused: the record is as before the publish,
    /// or gone when there was none (an earlier intent is gone too: the lookup found nothing).
    async fn clear_intent(
        &self,
        id: IntegrationId,
        sku: &Sku,
        before: Option<&Listing>,
    ) -> Result<(), EngineError> {
        match before {
            Some(l) if l.status == ListingStatus::Unlinked => self.store.put_listing(l).await?,
            _ => self.store.remove_listing(id, sku).await?,
        }
        Ok(())
    }

    /// Removes the link of a SKU (e.g. a broken link), so it can be relinked.
    pub async fn unlink(&self, id: IntegrationId, sku: &Sku) -> Result<(), EngineError> {
        self.integration(id).await?;
        let mut found = None;
        let mut next = Some(PageRequest::first(STORE_PAGE));
        while let Some(request) = next.take() {
            let page = self.store.listings_page(id, &request).await?;
            next = request.after(&page);
            found = page.items.into_iter().find(|l| &l.sku == sku);
            if found.is_some() {
                break;
            }
        }
        if let Some(mut l) = found {
            l.status = ListingStatus::Unlinked;
            l.channel_listing_id = None;
            l.channel_sku = None;
            l.last_sent = None;
            l.updated_at = self.now();
            self.store.put_listing(&l).await?;
        }
        Ok(())
    }

    /// Links a SKU to a given channel listing explicitly (after an unlink). Its content is sent on
    /// the next sync.
    pub async fn relink(
        &self,
        id: IntegrationId,
        sku: &Sku,
        listing_id: ChannelListingId,
        channel_sku: Option<Sku>,
    ) -> Result<(), EngineError> {
        self.integration(id).await?;
        self.store
            .put_listing(&Listing {
                integration_id: id,
                sku: sku.clone(),
                channel_listing_id: Some(listing_id),
                channel_sku: channel_sku.or_else(|| Some(sku.clone())),
                status: ListingStatus::Linked,
                last_sent: None,
                updated_at: self.now(),
                last_stock_version: None,
            })
            .await?;
        Ok(())
    }

    /// The dry run of a reconcile: every channel listing (not ended) whose SKU, after mapping,
    /// is not a labelled item. Nothing is changed.
    pub async fn plan_reconcile(&self, id: IntegrationId) -> Result<ReconcilePlan, EngineError> {
        self.observed(id, super::EngineOperation::PlanReconcile, async {
            Ok(self.plan_with_count(id).await?.0)
        })
        .await
    }

    /// The plan, with the number of the channel's listings that are not ended.
    async fn plan_with_count(
        &self,
        id: IntegrationId,
    ) -> Result<(ReconcilePlan, usize), EngineError> {
        let (rec, channel, caps) = self.gate(id, Feature::Reconciler).await?;
        Self::require(&caps, channel.as_ref(), Operation::EndListings)?;
        let label = rec.lifecycle.label().cloned().ok_or(EngineError::NoLabel)?;
        let labelled: BTreeSet<Sku> = self
            .labelled_items(&label)
            .await?
            .into_iter()
            .map(|i| i.sku)
            .collect();
        let mappings = self.store.mappings(id).await?;
        let listings: Vec<ChannelListing> = self
            .all_channel_listings(id, channel.as_ref(), Vec::new(), false)
            .await?
            .into_iter()
            .filter(|cl| cl.state != ChannelListingState::Ended)
            .collect();
        let count = listings.len();
        let to_end = listings
            .into_iter()
            .filter(|cl| match &cl.sku {
                Some(s) => !labelled.contains(&Self::inventory_sku(&mappings, s)),
                None => true,
            })
            .map(|cl| EndListing {
                listing_id: cl.id,
                sku: cl.sku,
                reason: EndReason::NotOnLabel,
            })
            .collect();
        Ok((
            ReconcilePlan {
                integration: id,
                label,
                made_at: self.now(),
                listings: to_end,
            },
            count,
        ))
    }

    /// Carries out `plan` once it is checked again (and records that the reconciler's first
    /// plan was confirmed). Nothing irreversible happens on stale information:
    ///
    /// - a plan older than the integration's `reconcile_plan_expiry` (24 hours by default) is
    ///   refused with [`EngineError::ReconcilePlanExpired`];
    /// - a plan made before the integration's label last changed is refused with
    ///   [`EngineError::ReconcilePlanRearmed`]: a new dry run is required;
    /// - the plan is checked against the current catalogue and the channel's listings: a listing
    ///   whose item carries the label now, or that the channel no longer has, is left alone and
    ///   reported in [`ReconcileReport::dropped`]; a catalogue that fails ends nothing;
    /// - a plan that ends more than the integration's `reconcile_max_end_percent` (50% by
    ///   default) of the channel's listings is refused with [`EngineError::ReconcileTooLarge`]
    ///   (an empty or partial catalogue answer looks like this); a person confirms such a plan
    ///   with [`confirm_large_reconcile`](Self::confirm_large_reconcile).
    pub async fn confirm_reconcile(
        &self,
        id: IntegrationId,
        plan: &ReconcilePlan,
        actor: Actor,
    ) -> Result<ReconcileReport, EngineError> {
        self.confirm_checked(id, plan, actor, false).await
    }

    /// The explicit confirmation of a plan that ends more than the share of the channel's
    /// listings one reconcile may end: checked again as [`confirm_reconcile`](Self::confirm_reconcile)
    /// does (expiry, label, catalogue), then carried out whatever its share. Only a person can
    /// give it: for [`Actor::System`] the share still applies.
    pub async fn confirm_large_reconcile(
        &self,
        id: IntegrationId,
        plan: &ReconcilePlan,
        actor: Actor,
    ) -> Result<ReconcileReport, EngineError> {
        let large = actor != Actor::System;
        self.confirm_checked(id, plan, actor, large).await
    }

    async fn confirm_checked(
        &self,
        id: IntegrationId,
        plan: &ReconcilePlan,
        actor: Actor,
        large: bool,
    ) -> Result<ReconcileReport, EngineError> {
        self.observed(
            id,
            super::EngineOperation::ConfirmReconcile,
            self.confirm_checked_inner(id, plan, actor, large),
        )
        .await
    }

    async fn confirm_checked_inner(
        &self,
        id: IntegrationId,
        plan: &ReconcilePlan,
        actor: Actor,
        large: bool,
    ) -> Result<ReconcileReport, EngineError> {
        if plan.integration != id {
            return Err(EngineError::PlanMismatch);
        }
        let (rec, channel, caps) = self.gate(id, Feature::Reconciler).await?;
        Self::require(&caps, channel.as_ref(), Operation::EndListings)?;
        let now = self.now();

        // The label: the plan is re-armed by any change after it was made.
        let label = rec.lifecycle.label().cloned();
        let changed_at = self
            .store
            .audit_log(id)
            .await?
            .into_iter()
            .rev()
            .find(|e| matches!(e.change, Change::LabelChanged { .. }))
            .map(|e| e.at);
        if label.as_ref() != Some(&plan.label) || changed_at.is_some_and(|t| t > plan.made_at) {
            return Err(EngineError::ReconcilePlanRearmed {
                label,
                changed_at: changed_at.unwrap_or(plan.made_at),
            });
        }

        // Expiry, by the engine's clock.
        let expired_at = TimeDelta::from_std(rec.settings.reconcile_plan_expiry)
            .ok()
            .and_then(|d| plan.made_at.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if now >= expired_at {
            return Err(EngineError::ReconcilePlanExpired {
                made_at: plan.made_at,
                expired_at,
            });
        }

        // The plan against the catalogue and the channel as they are now.
        let labelled: BTreeSet<Sku> = self
            .labelled_items(&plan.label)
            .await?
            .into_iter()
            .map(|i| i.sku)
            .collect();
        let mappings = self.store.mappings(id).await?;
        let current: HashMap<ChannelListingId, ChannelListing> = self
            .all_channel_listings(id, channel.as_ref(), Vec::new(), false)
            .await?
            .into_iter()
            .filter(|cl| cl.state != ChannelListingState::Ended)
            .map(|cl| (cl.id.clone(), cl))
            .collect();
        let mut to_end = Vec::new();
        let mut dropped = Vec::new();
        for e in &plan.listings {
            let reason = match current.get(&e.listing_id) {
                None => Some(DropReason::NotOnChannel),
                Some(cl) => cl
                    .sku
                    .as_ref()
                    .filter(|s| labelled.contains(&Self::inventory_sku(&mappings, s)))
                    .map(|_| DropReason::NowLabelled),
            };
            match reason {
                Some(reason) => dropped.push(DroppedFromPlan {
                    listing_id: e.listing_id.clone(),
                    sku: current
                        .get(&e.listing_id)
                        .and_then(|cl| cl.sku.clone())
                        .or_else(|| e.sku.clone()),
                    reason,
                }),
                None => to_end.push(e.clone()),
            }
        }
        if !large {
            check_share(
                to_end.len(),
                current.len(),
                rec.settings.reconcile_max_end_percent,
            )?;
        }
        if !rec.lifecycle.reconcile_plan_confirmed() {
            self.apply(id, actor, crate::lifecycle::Event::ConfirmReconcilePlan)
                .await?;
        }
        let mut report = self
            .end_planned(id, channel.as_ref(), &caps, &to_end)
            .await?;
        report.dropped = dropped;
        Ok(report)
    }

    /// Ends the listings, batched to the channel's maximum, and records the linked ones as
    /// ended.
    async fn end_planned(
        &self,
        id: IntegrationId,
        channel: &dyn Channel,
        caps: &crate::capability::Capabilities,
        listings: &[EndListing],
    ) -> Result<ReconcileReport, EngineError> {
        let mut report = ReconcileReport::default();
        // The stored records of the listings to end, read a page at a time.
        let ending: HashSet<&ChannelListingId> = listings.iter().map(|b| &b.listing_id).collect();
        let mut links: BTreeMap<ChannelListingId, Listing> = BTreeMap::new();
        let mut next = Some(PageRequest::first(STORE_PAGE));
        while let Some(request) = next.take() {
            let page = self.store.listings_page(id, &request).await?;
            next = request.after(&page);
            for l in page.items {
                if let Some(c) = l.channel_listing_id.clone()
                    && ending.contains(&c)
                {
                    links.insert(c, l);
                }
            }
        }
        for batch in listings.chunks(caps.end_batch()) {
            let outcomes = match channel.end_listings(batch).await {
                Ok(o) => o,
                Err(e) if e.kind() == ErrorKind::Auth => {
                    return Err(self.channel_failed(id, e).await);
                }
                Err(e) => {
                    report
                        .failed
                        .extend(batch.iter().map(|b| (b.listing_id.clone(), e.to_string())));
                    continue;
                }
            };
            for (b, outcome) in batch.iter().zip(outcomes) {
                match outcome.result {
                    Ok(_) => {
                        if let Some(l) = links.get(&b.listing_id) {
                            let mut l = l.clone();
                            l.status = ListingStatus::Ended;
                            l.updated_at = self.now();
                            self.store.put_listing(&l).await?;
                        }
                        report.ended.push(b.listing_id.clone());
                    }
                    Err(e) => report.failed.push((b.listing_id.clone(), e.to_string())),
                }
            }
        }
        Ok(report)
    }

    /// A scheduled reconcile: the first run after the reconciler is switched on, or after the
    /// label changed, only returns the plan for the host to confirm; later runs plan and carry
    /// out, never more than the integration's `reconcile_max_end_percent` of the channel's
    /// listings in one run ([`EngineError::ReconcileTooLarge`] otherwise: nothing is ended, and
    /// a person confirms the plan with [`confirm_large_reconcile`](Self::confirm_large_reconcile)).
    /// A catalogue that fails ends nothing.
    pub async fn run_reconcile(&self, id: IntegrationId) -> Result<ReconcileOutcome, EngineError> {
        self.observed(
            id,
            super::EngineOperation::Reconcile,
            self.run_reconcile_inner(id),
        )
        .await
    }

    async fn run_reconcile_inner(
        &self,
        id: IntegrationId,
    ) -> Result<ReconcileOutcome, EngineError> {
        let (plan, count) = self.plan_with_count(id).await?;
        let (rec, channel, caps) = self.gate(id, Feature::Reconciler).await?;
        if !rec.lifecycle.reconcile_plan_confirmed() {
            return Ok(ReconcileOutcome::AwaitingConfirmation(plan));
        }
        if rec.lifecycle.label() != Some(&plan.label) {
            // The label changed while planning: plan again next run.
            return Err(EngineError::ReconcilePlanRearmed {
                label: rec.lifecycle.label().cloned(),
                changed_at: self.now(),
            });
        }
        // Made just now from a fresh read: checking it again would read the same.
        check_share(
            plan.listings.len(),
            count,
            rec.settings.reconcile_max_end_percent,
        )?;
        Ok(ReconcileOutcome::Done(
            self.end_planned(id, channel.as_ref(), &caps, &plan.listings)
                .await?,
        ))
    }
}
