//! The stock journal and targeted propagation: how a sale on one channel reaches the host's
//! stock and then every other channel that lists the SKU, through the store so a crash neither
//! skips nor repeats a step.
//!
//! 1. [`Store::record_orders`] writes one [`StockEvent`] per order that becomes imported, in the
//!    same transaction as its ledger row ([`OrderBatch::stock`](super::OrderBatch::stock)); the
//!    journal is unique per (integration, channel order id), so an order is journalled once
//!    whatever runs overlap.
//! 2. The engine hands pending events to the host's catalogue in journal order, then
//!    [`Store::finish_stock_events`] marks them handed over and, in the same transaction,
//!    records which (integration, SKU) pairs must be sent again ([`PendingSku`]) and makes those
//!    integrations due at once.
//! 3. The engine sends exactly those SKUs to each integration and
//!    [`Store::finish_propagation`] removes the pairs it covered — unless a sale marked one
//!    again meanwhile (its [`PendingSku::mark`] grew), which then stays pending.
//!
//! Events are marked one by one, never with a cursor: with concurrent writers an event with a
//! lower sequence number may commit after one with a higher number, and a cursor would skip it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ChannelOrderId, IntegrationId, Sku};

/// One stock line of an imported order: the catalogue's SKU and how many units sold.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StockLine {
    /// The catalogue's SKU (after the seller's SKU mappings).
    pub sku: Sku,
    /// Units sold.
    pub quantity: u32,
}

/// What the engine asks the store to journal for one imported order
/// ([`OrderBatch::stock`](super::OrderBatch::stock)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStockEvent {
    /// The order (of the batch's integration).
    pub channel_order_id: ChannelOrderId,
    /// Its stock lines (lines whose SKU did not resolve are left out).
    pub lines: Vec<StockLine>,
    /// When it was imported.
    pub imported_at: DateTime<Utc>,
}

/// One journalled imported order, as the host's catalogue receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockEvent {
    /// Its position in the store-wide journal: increasing in the order events were written,
    /// unique, never reused. A host that applies events in its own transaction can record the
    /// `seq`s it applied there and skip an event it sees again after a crash — by its own
    /// `seq`, not by comparing with the highest applied: with concurrent writers an event with
    /// a lower `seq` can commit (and be handed over) after one with a higher `seq`.
    pub seq: u64,
    /// The integration the order came from.
    pub integration_id: IntegrationId,
    /// The order.
    pub channel_order_id: ChannelOrderId,
    /// Its stock lines.
    pub lines: Vec<StockLine>,
    /// When it was imported.
    pub imported_at: DateTime<Utc>,
}

/// One (integration, SKU) pair whose quantity must be sent again outside the regular sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSku {
    /// The integration to send to.
    pub integration_id: IntegrationId,
    /// The catalogue's SKU.
    pub sku: Sku,
    /// When it first became pending (kept when marked again: the oldest wait).
    pub since: DateTime<Utc>,
    /// Grows every time the pair is marked: a new pair takes the marking event's `seq`, and
    /// marking it again sets the larger of its mark + 1 and the event's `seq`. A targeted sync
    /// that read the pair with one mark removes it only if it was not marked since
    /// ([`Store::finish_propagation`](super::Store::finish_propagation)) — even by an event
    /// with a lower `seq` that committed late (on a store with concurrent writers a lower `seq`
    /// can commit after a higher one).
    pub mark: u64,
}
