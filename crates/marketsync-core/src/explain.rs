//! The words marketsync shows a seller about an order: why it did not import, what would change
//! that, and its whole story (see [`Engine::explain_order`](crate::Engine::explain_order)).
//!
//! Every such text is kept here, next to the others, rather than beside the types it describes,
//! so the wording stays consistent and can be localised in one place later.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::channel::Cursor;
use crate::ids::ChannelOrderId;
use crate::lifecycle::Blocked;
use crate::store::{
    LedgerEntry, NotImportedReason, OrderOutcome, OutboxEntry, OutboxState, SightingOutcome,
};

impl NotImportedReason {
    /// What would change the outcome, in words.
    pub fn remedy(&self) -> String {
        match self {
            NotImportedReason::StatusNotImported { state, raw } => format!(
                "Its status is {raw:?} ({state:?}), which this integration does not import: add the status to the imported statuses, or wait until the order reaches one."
            ),
            NotImportedReason::TooOld { created_at } => format!(
                "It was created at {created_at}, before the import window: increase \"created within the last N days\"."
            ),
            NotImportedReason::UnmappedShipping { text } => format!(
                "Its shipping method {text:?} has no shipping mapping: add a mapping for exactly that text; the order imports on the next run."
            ),
            NotImportedReason::UnmappedSku { skus } => format!(
                "SKU(s) {} are neither mapped nor in the catalog: add SKU mappings (or the items); the order imports on the next run.",
                skus.iter()
                    .map(|s| format!("{:?}", s.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            NotImportedReason::LineWithoutSku { line_id } => format!(
                "Line {line_id} carries no SKU on the channel: give the listing a SKU at the channel."
            ),
            NotImportedReason::Unreadable { message } => format!(
                "The channel sent data that could not be read ({message}). It is read again on every run (by its id where the channel allows it; otherwise the order cursor waits before it) and imports once it reads; if it never does, check the order at the channel."
            ),
        }
    }
}

impl fmt::Display for NotImportedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotImportedReason::StatusNotImported { raw, .. } => {
                write!(f, "status {raw:?} is not imported")
            }
            NotImportedReason::TooOld { created_at } => {
                write!(f, "too old (created {created_at})")
            }
            NotImportedReason::UnmappedShipping { text } => {
                write!(f, "no shipping mapping for {text:?}")
            }
            NotImportedReason::UnmappedSku { skus } => write!(
                f,
                "no SKU mapping for {}",
                skus.iter()
                    .map(|s| format!("{:?}", s.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            NotImportedReason::LineWithoutSku { line_id } => {
                write!(f, "line {line_id} has no SKU")
            }
            NotImportedReason::Unreadable { message } => write!(f, "unreadable: {message}"),
        }
    }
}

/// The story's opening for an order the integration never downloaded: what downloads need, the
/// import window, and where the order cursor stands.
pub(crate) fn never_downloaded(
    order_id: &ChannelOrderId,
    created_within_days: Option<u32>,
    cursor: Option<&Cursor>,
) -> Vec<String> {
    vec![
        format!("Order {order_id} has never been downloaded for this integration."),
        format!(
            "Orders are downloaded when the integration is active, enabled, healthy and its orders switch is on{}; the current cursor is {}.",
            created_within_days
                .map(|d| format!(", and only orders created within the last {d} days"))
                .unwrap_or_default(),
            cursor
                .map(|c| format!("{:?}", c.0))
                .unwrap_or_else(|| "not set (nothing downloaded yet)".into())
        ),
    ]
}

/// Why downloads cannot run right now.
pub(crate) fn downloads_blocked(blocked: &Blocked) -> String {
    format!("Downloads are blocked right now: {blocked}.")
}

/// The story of a ledger row: when it was first seen, every sighting, and its outcome (what it
/// was imported as, or what would change it).
pub(crate) fn ledger_story(e: &LedgerEntry) -> Vec<String> {
    let mut story = vec![format!(
        "First seen {}; seen {} time(s).",
        e.first_seen_at, e.times_seen
    )];
    for s in &e.sightings {
        let what = match &s.outcome {
            SightingOutcome::Imported => "imported".to_owned(),
            SightingOutcome::AlreadyImported => "already imported, nothing done".to_owned(),
            SightingOutcome::NotImported { reason } => format!("not imported: {reason}"),
        };
        story.push(format!("{} (status {:?}): {what}.", s.at, s.status_raw));
    }
    match &e.outcome {
        OrderOutcome::Imported => {
            if let Some(i) = &e.imported {
                story.push(imported_as(
                    i.imported_at,
                    &i.management,
                    i.shipping_service.as_ref().map(|s| s.name.as_str()),
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
    story
}

fn imported_as(
    at: DateTime<Utc>,
    management: &impl fmt::Debug,
    shipping_service: Option<&str>,
) -> String {
    format!(
        "Imported at {at} as {management:?}, shipping service {}.",
        shipping_service
            .map(|s| format!("{s:?}"))
            .unwrap_or_else(|| "none (the channel's text was kept)".into())
    )
}

/// One line of the story for an outbox entry of the order: what, its key, where it stands.
pub(crate) fn outbox_line(o: &OutboxEntry) -> String {
    format!(
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
    )
}
