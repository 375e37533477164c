//! Helpers for implementers of [`Store`]: the shared rules a backend applies inside its own
//! transactions, so every backend behaves the same (the conformance suite in
//! `marketsync-testkit` checks that it does). Hosts and the engine's users never need them.

use chrono::{DateTime, Utc};

use crate::ids::IntegrationId;

use crate::order::IdempotencyKey;

#[cfg(doc)]
use super::Store;
use super::{
    Decision, LedgerEntry, LedgerWrite, MAX_SIGHTINGS, NotImportedReason, OrderOutcome,
    OutboxEntry, OutboxItem, OutboxState, OutboxUpdate, Sighting, SightingOutcome, StoreError,
};

/// Applies one write to a ledger row (or creates it), returning the new row and the sighting's
/// outcome. This is the rule of [`Store::record_orders`]; stores call it inside their
/// transaction (the conformance suite checks they behave the same).
pub fn apply_write(
    integration_id: IntegrationId,
    existing: Option<LedgerEntry>,
    write: &LedgerWrite,
    seen_at: DateTime<Utc>,
) -> (LedgerEntry, SightingOutcome) {
    let mut entry = existing.unwrap_or_else(|| LedgerEntry {
        integration_id,
        channel_order_id: write.channel_order_id.clone(),
        outcome: OrderOutcome::NotImported {
            reason: NotImportedReason::Unreadable {
                message: "never evaluated".into(),
            },
        },
        order: None,
        imported: None,
        first_seen_at: seen_at,
        times_seen: 0,
        sightings: Vec::new(),
    });
    let outcome = if entry.outcome == OrderOutcome::Imported {
        SightingOutcome::AlreadyImported
    } else {
        match &write.decision {
            Decision::Import(imported) => {
                entry.outcome = OrderOutcome::Imported;
                entry.imported = Some(imported.clone());
                SightingOutcome::Imported
            }
            Decision::Skip { reason } => {
                entry.outcome = OrderOutcome::NotImported {
                    reason: reason.clone(),
                };
                SightingOutcome::NotImported {
                    reason: reason.clone(),
                }
            }
        }
    };
    if let Some(order) = &write.order {
        entry.order = Some(order.clone());
    }
    entry.times_seen += 1;
    entry.sightings.push(Sighting {
        at: seen_at,
        outcome: outcome.clone(),
        status_raw: write
            .order
            .as_ref()
            .map(|o| o.status.raw.clone())
            .unwrap_or_default(),
    });
    if entry.sightings.len() > MAX_SIGHTINGS {
        let extra = entry.sightings.len() - MAX_SIGHTINGS;
        entry.sightings.drain(..extra);
    }
    (entry, outcome)
}

/// The rule of [`Store::enqueue_outbox`] for a key the integration already used: `Ok` when
/// `new` is the same request as the `existing` entry's item (the existing entry is returned),
/// [`StoreError::KeyReused`] naming what differs otherwise. Stores call it inside their
/// transaction, after finding the existing entry (the conformance suite checks they behave the
/// same).
pub fn check_key_reuse(existing: &OutboxItem, new: &OutboxItem) -> Result<(), StoreError> {
    let differs = existing.differences(new);
    if differs.is_empty() {
        return Ok(());
    }
    Err(StoreError::KeyReused {
        key: existing.idempotency_key.clone(),
        existing_order: existing.order_id.clone(),
        existing_action: existing.action.name(),
        differs,
    })
}

/// The rule of [`Store::finish_outbox`] for the entry a store found under `key`: refused with
/// [`StoreError::Conflict`] unless `lease_token` still holds the entry's lease; otherwise the
/// lease is released and the update applied (sent, retry later with the error, or failed for
/// good). Stores call it inside their transaction and then write the entry back.
pub fn apply_finish(
    entry: &mut OutboxEntry,
    key: &IdempotencyKey,
    lease_token: &str,
    update: &OutboxUpdate,
) -> Result<(), StoreError> {
    if entry.lease.as_ref().map(|l| l.token.as_str()) != Some(lease_token) {
        return Err(StoreError::Conflict(format!(
            "outbox entry {key} is no longer claimed by this worker"
        )));
    }
    entry.lease = None;
    match update {
        OutboxUpdate::Sent { at } => {
            entry.state = OutboxState::Sent { at: *at };
        }
        OutboxUpdate::Retry { at, error } => {
            entry.next_attempt_at = *at;
            entry.last_error = Some(error.clone());
        }
        OutboxUpdate::Failed { at, error } => {
            entry.state = OutboxState::Failed {
                at: *at,
                error: error.clone(),
            };
            entry.last_error = Some(error.clone());
        }
    }
    Ok(())
}

/// One page of items ordered by the (unique) text `key` gives them: those after `page.after`,
/// at most `page.limit`. The provided paged reads of [`Store`] use it over a full read; a
/// backend that can should read only the page.
pub fn page_of<T>(
    mut items: Vec<T>,
    page: &super::PageRequest,
    key: impl Fn(&T) -> String,
) -> super::Page<T> {
    items.sort_by_cached_key(|i| key(i));
    let limit = page.limit.max(1);
    let rest: Vec<T> = match &page.after {
        None => items.into_iter().take(limit + 1).collect(),
        Some(after) => items
            .into_iter()
            .filter(|i| key(i).as_str() > after.as_str())
            .take(limit + 1)
            .collect(),
    };
    super::Page::from_overfetch(rest, limit, key)
}

/// One page of items by their position in `items` (the token is the position after the page).
pub fn page_by_position<T>(items: Vec<T>, page: &super::PageRequest) -> super::Page<T> {
    let limit = page.limit.max(1);
    let start: usize = page
        .after
        .as_deref()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let end = start + items.len();
    super::Page {
        items,
        next: (end < total).then(|| end.to_string()),
    }
}

/// The error for a page token a store did not give (or cannot read back): a paged read refuses
/// it rather than guess where to start. Tokens are opaque; pass [`Page::next`](super::Page::next)
/// back unchanged.
pub fn bad_page_token(read: &str, token: &str) -> StoreError {
    let shown: String = token.chars().take(64).collect();
    StoreError::NotFound(format!(
        "{read}: page token {shown:?} is not one this store gave (pass the previous page's `next` back unchanged)"
    ))
}

/// How many items one lease claim may take ([`Store::claim_outbox`],
/// [`Store::claim_deliveries`]) so that all of them can be tried one after another before the
/// lease lapses, each try taking at most `per_item`: `lease ÷ per_item`, at least 1 (a lease
/// shorter than one try still lets one item through), at most `max`; `max` when `per_item` is
/// zero.
///
/// A claim's lease ends by the store's clock, which a worker's own clock cannot be compared
/// with, so a worker cannot check before each try how much lease is left. Bounding the claim
/// instead keeps every claimed item's lease live until its turn comes.
pub fn claims_within_lease(
    lease: std::time::Duration,
    per_item: std::time::Duration,
    max: usize,
) -> usize {
    if per_item.is_zero() {
        return max.max(1);
    }
    let fits = lease.as_nanos() / per_item.as_nanos();
    usize::try_from(fits)
        .unwrap_or(usize::MAX)
        .clamp(1, max.max(1))
}

#[cfg(test)]
mod claims_within_lease_tests {
    use std::time::Duration;

    use super::claims_within_lease;

    #[test]
    fn a_claim_takes_what_fits_in_its_lease() {
        let s = Duration::from_secs;
        assert_eq!(claims_within_lease(s(300), s(120), 50), 2);
        assert_eq!(claims_within_lease(s(300), s(60), 50), 5);
        assert_eq!(claims_within_lease(s(300), s(59), 50), 5);
        assert_eq!(claims_within_lease(s(3600), s(15), 50), 50, "at most `max`");
        assert_eq!(claims_within_lease(s(2), s(120), 50), 1, "at least one");
        assert_eq!(claims_within_lease(s(300), Duration::ZERO, 50), 50);
        assert_eq!(
            claims_within_lease(s(300), s(60), 0),
            1,
            "a `max` of 0 is taken as 1"
        );
    }
}
