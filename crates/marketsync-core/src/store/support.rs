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
