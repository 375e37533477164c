//! The [`Store`] trait: everything the engine keeps, and the guarantees every backend gives.
//!
//! Exactly-once comes from the store, never from a lock inside one process: the order ledger has
//! one row per (integration, channel order id), and [`Store::record_orders`] writes a batch of
//! order outcomes together with the cursor that covers them in one transaction. Outbox entries
//! are unique per (integration, idempotency key) — a key reused for another request is refused
//! ([`StoreError::KeyReused`]) — and claimed with leases, so several workers can share one
//! store. Mappings are versioned: [`Store::replace_mappings`] is a compare-and-swap that writes
//! the edit and its audit event together, so two concurrent edits never lose one.
//!
//! The words shown to the seller about these types (why an order did not import, what would
//! change it) live in [`explain`](crate::explain). Helpers only a store implementation needs
//! are in [`support`].

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::capability::Operation;
use crate::channel::Cursor;
use crate::ids::{ChannelKind, ChannelOrderId, IntegrationId, Sku};
use crate::lifecycle::{AuditEvent, Lifecycle};
use crate::listing::Listing;
use crate::mapping::{MappingSet, ShippingService, SkuResolution};
use crate::order::{Cancellation, IdempotencyKey, Management, Order, OrderState, Refund, Shipment};

use crate::settings::IntegrationSettings;
use crate::vault::SealedCredentials;

mod notices;
mod stock;
pub mod support;
mod work;

pub use notices::{
    DeliveryFilter, DeliveryQuery, DeliveryState, DeliveryUpdate, MarkRead, MessageQuery,
    NewNotification, NotificationDelivery, ReadFilter, StoredNotification, apply_delivery_update,
};

pub use stock::{NewStockEvent, PendingSku, StockEvent, StockLine};

pub use work::{Page, PageRequest, RunTimes, VersionedCredentials, WorkClaim, WorkerId, never_due};

/// A failure of the store itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A concurrent writer changed the record first (optimistic concurrency), or the record
    /// already exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be read back.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The integration already used this outbox idempotency key for another request (another
    /// order, action, or content: tracking number, carrier, lines, amount, reason, …). Nothing
    /// was written: a key names one request, and a retry of it must carry the same content.
    #[error(
        "idempotency key {key} is already used in this integration for the {existing_action} of order {existing_order}; this request differs in: {}",
        .differs.join(", ")
    )]
    KeyReused {
        /// The key.
        key: IdempotencyKey,
        /// The order of the entry recorded under the key.
        existing_order: ChannelOrderId,
        /// Its action: `ship`, `refund` or `cancel`.
        existing_action: &'static str,
        /// What differs, as named by [`OutboxItem::differences`].
        differs: Vec<&'static str>,
    },
    /// The backend failed (I/O, connection, a database error). Usually temporary.
    #[error("store backend failed: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    /// A stored record that does not decode. serde's message may quote the stored text (order
    /// records hold buyers' names and addresses), so only its category and position are kept.
    pub fn undecodable(what: &str, e: &serde_json::Error) -> Self {
        StoreError::Corrupt(format!(
            "{what} does not decode ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    }

    /// A stored value outside its range.
    pub fn out_of_range(what: &str) -> Self {
        StoreError::Corrupt(format!("{what} is out of range"))
    }

    /// A record that cannot be encoded as JSON (should not happen for the library's own types).
    pub fn unencodable(what: &str, e: serde_json::Error) -> Self {
        StoreError::Backend {
            message: format!("could not encode {what} as JSON"),
            source: Some(Box::new(e)),
        }
    }

    /// A backend failure with a message.
    pub fn backend(message: impl Into<String>) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: None,
        }
    }
}

/// Notices already sent for an integration, so each is sent once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeState {
    /// The credential expiry a "credentials expiring" notice was sent for.
    pub credentials_expiring_for: Option<DateTime<Utc>>,
    /// A "connection broken" notice was sent and no "restored" one since.
    #[serde(default)]
    pub connection_broken: bool,
}

/// One integration as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegrationRecord {
    /// Its id.
    pub id: IntegrationId,
    /// The seller's name for it ("Reverb — main shop").
    pub name: String,
    /// The marketplace.
    pub channel: ChannelKind,
    /// Its lifecycle.
    pub lifecycle: Lifecycle,
    /// Its settings.
    pub settings: IntegrationSettings,
    /// Notices sent.
    pub notices: NoticeState,
    /// Version for optimistic concurrency: the store increments it on every update.
    pub version: u64,
}

/// Why a downloaded order was not imported.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotImportedReason {
    /// Its status is not one the integration imports.
    StatusNotImported {
        /// Normalised state.
        state: OrderState,
        /// The channel's status text.
        raw: String,
    },
    /// Created before the "created within the last N days" window.
    TooOld {
        /// When it was created.
        created_at: DateTime<Utc>,
    },
    /// Its shipping method has no shipping mapping, and the channel requires one. Imports on a
    /// later run once the mapping exists.
    UnmappedShipping {
        /// The shipping text exactly as the channel sent it (empty when it sent none).
        text: String,
    },
    /// A line's SKU has no SKU mapping and is not in the catalog. Imports on a later run once a
    /// mapping exists (or the catalog has the SKU).
    UnmappedSku {
        /// The channel SKUs that could not be resolved.
        skus: Vec<Sku>,
    },
    /// A line carries no SKU at all.
    LineWithoutSku {
        /// The channel's line id.
        line_id: String,
    },
    /// The channel sent something the adapter could not read.
    Unreadable {
        /// What was wrong.
        message: String,
    },
}

impl NotImportedReason {
    /// Whether the order waits for a mapping and is re-evaluated on every run.
    pub fn is_held(&self) -> bool {
        matches!(
            self,
            NotImportedReason::UnmappedShipping { .. } | NotImportedReason::UnmappedSku { .. }
        )
    }
}

/// The outcome an order has in the ledger: exactly one per (integration, channel order id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OrderOutcome {
    /// Imported (once, for good).
    Imported,
    /// Not imported, and why.
    NotImported {
        /// Why.
        reason: NotImportedReason,
    },
}

/// The outcome of one sighting of an order (one time it was downloaded or re-evaluated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SightingOutcome {
    /// Imported at this sighting.
    Imported,
    /// Seen again after it had been imported; nothing imported twice.
    AlreadyImported,
    /// Not imported at this sighting.
    NotImported {
        /// Why.
        reason: NotImportedReason,
    },
}

/// One time an order was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    /// When.
    pub at: DateTime<Utc>,
    /// What happened.
    pub outcome: SightingOutcome,
    /// The channel's status at the time.
    pub status_raw: String,
}

/// How one order line was resolved to the seller's SKU at import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedLine {
    /// The channel's line id.
    pub line_id: String,
    /// The channel SKU.
    pub channel_sku: Sku,
    /// How it resolved.
    pub resolution: SkuResolution,
}

/// What an import decided and keeps, whatever mappings change later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedOrder {
    /// When.
    pub imported_at: DateTime<Utc>,
    /// Managed, or third-party-managed (fulfilments were off).
    pub management: Management,
    /// The shipping service it was mapped to, if any.
    pub shipping_service: Option<ShippingService>,
    /// Each line's SKU resolution.
    pub lines: Vec<ResolvedLine>,
}

/// The engine's decision for one order, to be recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Import it, with what was resolved.
    Import(ImportedOrder),
    /// Do not import it.
    Skip {
        /// Why.
        reason: NotImportedReason,
    },
}

/// One order to record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerWrite {
    /// The order's id.
    pub channel_order_id: ChannelOrderId,
    /// The order as downloaded (`None` when it could not be read).
    pub order: Option<Order>,
    /// The decision.
    pub decision: Decision,
}

/// A batch of order outcomes and the cursor that covers them, written in one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderBatch {
    /// When the orders were seen.
    pub seen_at: DateTime<Utc>,
    /// The orders.
    pub writes: Vec<LedgerWrite>,
    /// The cursor to store with them; `None` keeps the current one.
    pub cursor: Option<Cursor>,
    /// Notifications to write in the same transaction (each skipped when its dedupe key was
    /// written before; see [`NewNotification`]).
    #[serde(default)]
    pub notifications: Vec<NewNotification>,
    /// Stock events to journal in the same transaction, one per order of this batch that is
    /// imported ([`StockEvent`]). The store journals an event only when this batch's sighting
    /// of its order is [`SightingOutcome::Imported`] (newly imported); an event for any other
    /// order (imported before, not imported, or not among the writes) is skipped silently, and
    /// so is an order already journalled (the journal is unique per integration and channel
    /// order id).
    #[serde(default)]
    pub stock: Vec<NewStockEvent>,
}

/// What recording one order resulted in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedOrder {
    /// The order.
    pub channel_order_id: ChannelOrderId,
    /// The outcome of this sighting, as the store decided it atomically.
    pub outcome: SightingOutcome,
}

/// The most sightings kept per order (the oldest are dropped; `times_seen` keeps counting).
pub const MAX_SIGHTINGS: usize = 20;

/// The ledger row of one order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The integration.
    pub integration_id: IntegrationId,
    /// The order's id.
    pub channel_order_id: ChannelOrderId,
    /// Its one current outcome.
    pub outcome: OrderOutcome,
    /// The latest snapshot of the order, when it could be read.
    pub order: Option<Order>,
    /// What the import decided, once imported.
    pub imported: Option<ImportedOrder>,
    /// When first seen.
    pub first_seen_at: DateTime<Utc>,
    /// How many times seen.
    pub times_seen: u64,
    /// The most recent sightings, oldest first (at most [`MAX_SIGHTINGS`]).
    pub sightings: Vec<Sighting>,
}

/// Which ledger rows to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerFilter {
    /// Every row.
    All,
    /// Not imported because a mapping is missing (re-evaluated each run).
    Held,
    /// Not imported because the channel sent something that could not be read (retried by id
    /// on every run where the channel can read orders by id).
    Unreadable,
    /// Not imported for any reason.
    NotImported,
    /// Imported and managed, in a state where the seller still has work to do.
    Unfulfilled,
}

impl LedgerEntry {
    /// Whether the row matches a filter.
    pub fn matches(&self, filter: LedgerFilter) -> bool {
        match filter {
            LedgerFilter::All => true,
            LedgerFilter::Held => matches!(
                &self.outcome,
                OrderOutcome::NotImported { reason } if reason.is_held()
            ),
            LedgerFilter::Unreadable => matches!(
                &self.outcome,
                OrderOutcome::NotImported {
                    reason: NotImportedReason::Unreadable { .. }
                }
            ),
            LedgerFilter::NotImported => matches!(self.outcome, OrderOutcome::NotImported { .. }),
            LedgerFilter::Unfulfilled => {
                self.outcome == OrderOutcome::Imported
                    && self
                        .imported
                        .as_ref()
                        .is_some_and(|i| i.management == Management::Managed)
                    && self
                        .order
                        .as_ref()
                        .is_some_and(|o| o.status.state.is_unfulfilled())
            }
        }
    }
}

/// What the outbox sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OutboxAction {
    /// A shipment.
    Ship(Shipment),
    /// A refund.
    Refund(Refund),
    /// A cancellation.
    Cancel(Cancellation),
}

impl OutboxAction {
    /// `"ship"`, `"refund"` or `"cancel"`.
    pub fn name(&self) -> &'static str {
        match self {
            OutboxAction::Ship(_) => "ship",
            OutboxAction::Refund(_) => "refund",
            OutboxAction::Cancel(_) => "cancel",
        }
    }

    /// The channel operation that sends it.
    pub fn operation(&self) -> Operation {
        match self {
            OutboxAction::Ship(_) => Operation::Ship,
            OutboxAction::Refund(_) => Operation::Refund,
            OutboxAction::Cancel(_) => Operation::Cancel,
        }
    }

    /// The request's content, field by field, each value in one canonical text: what makes two
    /// requests the same request. Amounts compare by value (`5.0` is `5.00`), lines in any
    /// order. A shipment's `shipped_at` is not part of it: a host that builds the shipment
    /// again on a second click or a retry stamps it again, and it is still the same shipment.
    fn identity(&self) -> Vec<(&'static str, String)> {
        fn text<T: Serialize + ?Sized>(value: &T) -> String {
            serde_json::to_string(value).unwrap_or_default()
        }
        fn money(m: &Option<crate::money::Money>) -> String {
            text(&m.map(|m| {
                (
                    m.amount().normalize().to_string(),
                    m.currency().code().to_owned(),
                )
            }))
        }
        fn lines(l: &[crate::order::LineQuantity]) -> String {
            let mut l: Vec<(&str, u32)> =
                l.iter().map(|l| (l.line_id.as_str(), l.quantity)).collect();
            l.sort_unstable();
            text(&l)
        }
        match self {
            OutboxAction::Ship(s) => vec![
                ("carrier", text(&s.carrier)),
                ("method", text(&s.method)),
                ("tracking number", text(&s.tracking_number)),
                ("lines", lines(&s.lines)),
                ("delivery", text(&s.delivery)),
            ],
            OutboxAction::Refund(r) => {
                let mut l: Vec<(&str, Option<u32>, String)> = r
                    .lines
                    .iter()
                    .map(|l| (l.line_id.as_str(), l.quantity, money(&l.amount)))
                    .collect();
                l.sort_unstable();
                vec![
                    ("amount", money(&r.amount)),
                    ("lines", text(&l)),
                    ("reason", text(&r.reason)),
                    ("restock", text(&r.restock)),
                    ("note", text(&r.note)),
                ]
            }
            OutboxAction::Cancel(c) => {
                vec![("lines", lines(&c.lines)), ("reason", text(&c.reason))]
            }
        }
    }
}

/// A message for the channel, recorded before it is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// The integration.
    pub integration_id: IntegrationId,
    /// The order.
    pub order_id: ChannelOrderId,
    /// What to send.
    pub action: OutboxAction,
    /// Unique per item within the integration (other integrations may use the same key), and
    /// the same on every attempt.
    pub idempotency_key: IdempotencyKey,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

impl OutboxItem {
    /// What differs between two requests, by name: `integration`, `order`, `action`, then the
    /// action's content (`carrier`, `method`, `tracking number`, `lines`, `delivery` for a
    /// shipment; `amount`, `lines`, `reason`, `restock`, `note` for a refund; `lines`, `reason`
    /// for a cancellation). Empty when they are the same request: `created_at` and a
    /// shipment's `shipped_at` are not compared (a host stamps them again on a retry), amounts
    /// compare by value and lines in any order.
    pub fn differences(&self, other: &OutboxItem) -> Vec<&'static str> {
        let mut differs = Vec::new();
        if self.integration_id != other.integration_id {
            differs.push("integration");
        }
        if self.order_id != other.order_id {
            differs.push("order");
        }
        if self.action.name() != other.action.name() {
            differs.push("action");
            return differs;
        }
        for ((name, a), (_, b)) in self.action.identity().iter().zip(other.action.identity()) {
            if *a != b {
                differs.push(*name);
            }
        }
        differs
    }

    /// The default idempotency key of a request, used when the host gives none: derived from
    /// the integration, the order, the action and its whole content as
    /// [`differences`](Self::differences) compares it, so the same request made twice (a double
    /// click, a retry after a timeout) gets the same key and is one entry, and any other request
    /// gets another key. It is `auto-` and 48 hex digits of a SHA-256 over a canonical text of
    /// the request (see [`IdempotencyKey::DERIVED_PREFIX`]).
    pub fn derived_key(
        integration_id: IntegrationId,
        order_id: &ChannelOrderId,
        action: &OutboxAction,
    ) -> IdempotencyKey {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(b"marketsync outbox request v1\n");
        let text = |v: &str| serde_json::to_string(v).unwrap_or_default();
        hash.update(format!("integration={integration_id}\n").as_bytes());
        hash.update(format!("order={}\n", text(order_id.as_str())).as_bytes());
        hash.update(format!("action={}\n", action.name()).as_bytes());
        for (name, value) in action.identity() {
            hash.update(format!("{name}={value}\n").as_bytes());
        }
        let digest = hash.finalize();
        let hex: String = digest[..24].iter().map(|b| format!("{b:02x}")).collect();
        IdempotencyKey::new(format!("{}{hex}", IdempotencyKey::DERIVED_PREFIX))
            .expect("auto- and 48 hex digits is a valid key")
    }
}

/// Where an outbox entry stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be sent (or re-sent after a temporary failure).
    Pending,
    /// The channel accepted it.
    Sent {
        /// When.
        at: DateTime<Utc>,
    },
    /// The channel refused it for good.
    Failed {
        /// When.
        at: DateTime<Utc>,
        /// Why, as reported.
        error: String,
    },
}

/// A claim on an outbox entry, valid until it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The claim's token; only its holder can finish the entry.
    pub token: String,
    /// When the claim lapses and another worker may take the entry, by the store's clock (for
    /// information: it is not comparable with a worker's own clock).
    pub until: DateTime<Utc>,
}

/// An outbox row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The item.
    pub item: OutboxItem,
    /// Its state.
    pub state: OutboxState,
    /// Attempts made so far (claims).
    pub attempts: u32,
    /// Not to be tried before this time.
    pub next_attempt_at: DateTime<Utc>,
    /// The current claim, if any.
    pub lease: Option<Lease>,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum OutboxUpdate {
    /// Sent.
    Sent {
        /// When.
        at: DateTime<Utc>,
    },
    /// Failed for now; try again at `at`.
    Retry {
        /// Next attempt.
        at: DateTime<Utc>,
        /// The error.
        error: String,
    },
    /// Failed for good.
    Failed {
        /// When.
        at: DateTime<Utc>,
        /// The error.
        error: String,
    },
}

/// An integration's mappings and the version they were read at
/// ([`Store::mappings_versioned`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionedMappings {
    /// The mappings.
    pub mappings: MappingSet,
    /// Their version: 0 while none were stored, incremented by every write.
    pub version: u64,
}

/// Persistence for the engine. See the [module docs](self) for the guarantees.
///
/// Every method is required and every backend must pass the public conformance suite
/// (`marketsync_testkit::store`, crate `marketsync-testkit`).
#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// Inserts a new integration with its first audit events. `Conflict` if the id exists.
    async fn insert_integration(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError>;

    /// One integration (deleted ones included: their tombstone stays readable).
    async fn integration(&self, id: IntegrationId)
    -> Result<Option<IntegrationRecord>, StoreError>;

    /// Every integration.
    async fn integrations(&self) -> Result<Vec<IntegrationRecord>, StoreError>;

    /// Replaces the integration if the stored version equals `record.version`, stores it with the
    /// version incremented, and appends `audit` — all in one transaction. Returns the new
    /// version; `Conflict` when someone else updated it first, `NotFound` when missing.
    async fn update_integration(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
    ) -> Result<u64, StoreError>;

    /// The audit log of an integration, oldest first.
    async fn audit_log(&self, id: IntegrationId) -> Result<Vec<AuditEvent>, StoreError>;

    /// Stores sealed (encrypted) credentials, replacing any.
    async fn put_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
    ) -> Result<(), StoreError>;

    /// The sealed credentials, if any.
    async fn credentials(&self, id: IntegrationId)
    -> Result<Option<SealedCredentials>, StoreError>;

    /// Replaces the mappings.
    async fn put_mappings(
        &self,
        id: IntegrationId,
        mappings: &MappingSet,
    ) -> Result<(), StoreError>;

    /// The mappings (empty when none were stored).
    async fn mappings(&self, id: IntegrationId) -> Result<MappingSet, StoreError>;

    /// The mappings with their version, for a compare-and-swap with
    /// [`Store::replace_mappings`]. The version is 0 while none were stored, and every write
    /// ([`Store::put_mappings`] too) increments it.
    async fn mappings_versioned(&self, id: IntegrationId) -> Result<VersionedMappings, StoreError>;

    /// Replaces the mappings only if their stored version still equals `expected_version`,
    /// stores them with the version incremented and appends `audit` to the integration's audit
    /// log — in one transaction. Returns the new version; `Conflict` (nothing written) when
    /// someone else changed the mappings first, `NotFound` when the integration is missing.
    async fn replace_mappings(
        &self,
        id: IntegrationId,
        mappings: &MappingSet,
        expected_version: u64,
        audit: &[AuditEvent],
    ) -> Result<u64, StoreError>;

    /// Inserts or replaces the listing record for `(listing.integration_id, listing.sku)`.
    async fn put_listing(&self, listing: &Listing) -> Result<(), StoreError>;

    /// Inserts or replaces several listing records, as [`Store::put_listing`] does for each.
    /// Backends that can should write them in one transaction (the sync stores a batch's
    /// outcomes with one call); when it fails, none or some of them may be written, each whole.
    async fn put_listings(&self, listings: &[Listing]) -> Result<(), StoreError> {
        for l in listings {
            self.put_listing(l).await?;
        }
        Ok(())
    }

    /// Removes the listing record of a SKU. Removing a missing one is not an error.
    async fn remove_listing(&self, id: IntegrationId, sku: &Sku) -> Result<(), StoreError>;

    /// Every listing record of an integration, by SKU.
    async fn listings(&self, id: IntegrationId) -> Result<Vec<Listing>, StoreError>;

    /// Records order outcomes and the cursor in one transaction, deciding each sighting
    /// atomically:
    /// - an order imported before stays imported: this sighting is `AlreadyImported` and only its
    ///   snapshot is refreshed (never a second import, whatever runs overlap);
    /// - otherwise the row takes the batch's decision (`Imported` or `NotImported` with its
    ///   reason).
    ///
    /// Returns one result per write, in order. On error nothing is written, the cursor included.
    /// The batch's [`notifications`](OrderBatch::notifications) are written in the same
    /// transaction, as [`Store::update_integration_notifying`] writes them.
    async fn record_orders(
        &self,
        id: IntegrationId,
        batch: &OrderBatch,
    ) -> Result<Vec<RecordedOrder>, StoreError>;

    /// One order's ledger row.
    async fn ledger_entry(
        &self,
        id: IntegrationId,
        order: &ChannelOrderId,
    ) -> Result<Option<LedgerEntry>, StoreError>;

    /// Ledger rows matching a filter.
    async fn ledger(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// The stored order cursor.
    async fn cursor(&self, id: IntegrationId) -> Result<Option<Cursor>, StoreError>;

    /// Records an outbox item. Keys are scoped per integration: several integrations may use
    /// the same key, each gets its own entry. Within the item's integration, atomically (two
    /// concurrent enqueues of one key make one entry):
    /// - a new key makes a new pending entry;
    /// - a key recorded with the same request ([`OutboxItem::differences`] is empty) returns the
    ///   existing entry unchanged, whatever state it is in (an idempotent retry);
    /// - a key recorded with another request (other order, action or content) is
    ///   [`StoreError::KeyReused`] naming what differs ([`check_key_reuse`](support::check_key_reuse)), and nothing is
    ///   written. Never a silent success.
    async fn enqueue_outbox(&self, item: &OutboxItem) -> Result<OutboxEntry, StoreError>;

    /// Claims up to `limit` pending entries of an integration that are due at `now` (the
    /// caller's clock: `next_attempt_at <= now`) and not claimed, or whose claim lapsed by the
    /// store's clock, in the order they were enqueued: each gets a new lease until the store's
    /// clock passes now + `lease_for` and one more attempt counted. The caller's clock never
    /// decides a lease, so a worker whose clock is off cannot take an entry another worker
    /// holds. Of several concurrent callers, each entry goes to at most one.
    async fn claim_outbox(
        &self,
        id: IntegrationId,
        now: DateTime<Utc>,
        lease_for: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Finishes an attempt on the entry of `key` in integration `id`. Only the holder of the
    /// current lease may: otherwise `Conflict` (the lease lapsed and another worker took the
    /// entry). A holder whose lease lapsed but was not taken over may still finish: the work it
    /// reports was done. `NotFound` when the integration has no entry with the key.
    async fn finish_outbox(
        &self,
        id: IntegrationId,
        key: &IdempotencyKey,
        lease_token: &str,
        update: &OutboxUpdate,
    ) -> Result<(), StoreError>;

    /// Every outbox entry of an integration, oldest first.
    async fn outbox(&self, id: IntegrationId) -> Result<Vec<OutboxEntry>, StoreError>;

    // ----- paged reads: a worker's memory does not grow with the data -----

    /// Integrations by id, one page at a time (deleted ones included).
    async fn integrations_page(
        &self,
        page: &PageRequest,
    ) -> Result<Page<IntegrationRecord>, StoreError> {
        let all = self.integrations().await?;
        Ok(support::page_of(all, page, |r| r.id.to_string()))
    }

    /// An integration's listing records by SKU, one page at a time.
    async fn listings_page(
        &self,
        id: IntegrationId,
        page: &PageRequest,
    ) -> Result<Page<Listing>, StoreError> {
        let all = self.listings(id).await?;
        Ok(support::page_of(all, page, |l| l.sku.to_string()))
    }

    /// Ledger rows matching a filter by channel order id, one page at a time.
    async fn ledger_page(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
        page: &PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        let all = self.ledger(id, filter).await?;
        Ok(support::page_of(all, page, |e| {
            e.channel_order_id.to_string()
        }))
    }

    /// Outbox entries of an integration, oldest first, one page at a time.
    async fn outbox_page(
        &self,
        id: IntegrationId,
        page: &PageRequest,
    ) -> Result<Page<OutboxEntry>, StoreError> {
        let all = self.outbox(id).await?;
        Ok(support::page_by_position(all, page))
    }

    // ----- versioned credentials: one renewer at a time, compare-and-swap -----

    /// The sealed credentials with their version (1 for the first stored; every write,
    /// [`Store::put_credentials`] included, increments it).
    async fn credentials_versioned(
        &self,
        id: IntegrationId,
    ) -> Result<Option<VersionedCredentials>, StoreError>;

    /// Replaces the credentials only if their stored version still equals `expected_version`
    /// (0: none are stored). Returns the new version; `Conflict` (nothing written) when another
    /// writer replaced them first.
    async fn replace_credentials(
        &self,
        id: IntegrationId,
        sealed: &SealedCredentials,
        expected_version: u64,
    ) -> Result<u64, StoreError>;

    // ----- leases: what one worker holds, expiring by the store's clock -----

    /// Takes the lease `name` for `holder` until the store's clock passes now + `lease_for`, if
    /// it is free, lapsed, or already held by `holder` (then it is extended). Returns whether
    /// `holder` holds it now. Of several concurrent callers at most one gets it.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        lease_for: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease `name` back if `holder` holds it; otherwise does nothing.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    // ----- scheduled work shared by many workers -----

    /// Claims up to `limit` integrations whose scheduled work is due for `worker`:
    /// - due: never released yet, changed since ([`Store::insert_integration`] and
    ///   [`Store::update_integration`] make an integration due at once), or released with a
    ///   `next_due` at or before `now` (the caller's clock);
    /// - free: no lease, a lease lapsed by the store's clock, or a lease `worker` holds already.
    ///
    /// Each claimed integration gets (or keeps) a lease for `worker` until the store's clock
    /// passes now + `lease_for`. Most overdue first. Of several concurrent callers, each
    /// integration goes to at most one (`FOR UPDATE SKIP LOCKED` or equivalent), and an
    /// integration stays with one worker while it holds the lease, so all of an account's calls
    /// come from one process (one rate budget).
    async fn claim_work(
        &self,
        worker: &WorkerId,
        now: DateTime<Utc>,
        lease_for: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<WorkClaim>, StoreError>;

    /// Extends `worker`'s lease on an integration's work by `lease_for` (store's clock).
    /// `Conflict` when `worker` no longer holds it (it lapsed and another worker took it).
    async fn renew_work(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        lease_for: std::time::Duration,
    ) -> Result<(), StoreError>;

    /// Records the run times of one operation (by name) of an integration whose work `worker`
    /// holds. `Conflict` (nothing written) when it does not hold it.
    async fn record_run(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        operation: &str,
        times: &RunTimes,
    ) -> Result<(), StoreError>;

    /// Releases `worker`'s lease on an integration's work and makes it due again at
    /// `next_due` (caller's clock; [`never_due`] for "not until it changes"), unless the
    /// integration was changed while the lease was held (then it stays due at once). Releasing
    /// a lease `worker` does not hold is `Conflict` and writes nothing.
    async fn release_work(
        &self,
        integration: IntegrationId,
        worker: &WorkerId,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    // ----- notifications -----

    /// [`Store::update_integration`], and in the same transaction the notifications its change
    /// causes: each is written with one pending delivery row per transport it names, unless the
    /// integration already has a notification with its dedupe key (then it is skipped silently,
    /// which is how an event is raised once per cause). On `Conflict` nothing is written, the
    /// notifications included.
    async fn update_integration_notifying(
        &self,
        record: &IntegrationRecord,
        audit: &[AuditEvent],
        notifications: &[NewNotification],
    ) -> Result<u64, StoreError>;

    /// One notification by id.
    async fn notification(&self, id: &str) -> Result<Option<StoredNotification>, StoreError>;

    /// Claims up to `limit` pending deliveries of `transport` that are due at `now` (the
    /// caller's clock: `next_attempt_at <= now`) and not claimed, or whose claim lapsed by the
    /// store's clock; oldest notification first. Each gets a new lease until the store's clock
    /// passes now + `lease_for` and one more attempt counted. Of several concurrent callers,
    /// each delivery goes to at most one.
    async fn claim_deliveries(
        &self,
        transport: &str,
        now: DateTime<Utc>,
        lease_for: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<NotificationDelivery>, StoreError>;

    /// Finishes an attempt on the delivery of `notification` by `transport`
    /// ([`apply_delivery_update`]). Only the holder of the current lease may: otherwise
    /// `Conflict`. `NotFound` when there is no such delivery.
    async fn finish_delivery(
        &self,
        notification: &str,
        transport: &str,
        lease_token: &str,
        update: &DeliveryUpdate,
    ) -> Result<(), StoreError>;

    /// Delivery rows matching a query, oldest notification first (then by transport), one page
    /// at a time: what waits, and its last error.
    async fn deliveries(
        &self,
        query: &DeliveryQuery,
        page: &PageRequest,
    ) -> Result<Page<NotificationDelivery>, StoreError>;

    /// The in-app message list: notifications matching a query, newest first (in the order
    /// they were written), one page at a time.
    async fn messages(
        &self,
        query: &MessageQuery,
        page: &PageRequest,
    ) -> Result<Page<StoredNotification>, StoreError>;

    /// Marks the messages `mark` covers read at `at` (those already read keep their time).
    /// Returns how many were newly marked.
    async fn mark_read(&self, mark: &MarkRead, at: DateTime<Utc>) -> Result<usize, StoreError>;

    // ----- the stock journal and targeted propagation (module `store::stock`) -----

    /// Up to `limit` journalled stock events not yet handed to the host, lowest `seq` first.
    async fn pending_stock_events(&self, limit: usize) -> Result<Vec<StockEvent>, StoreError>;

    /// Marks the events with these `seqs` handed over and, in the same transaction, marks each
    /// (integration, SKU) of `propagate` pending (an existing pair keeps its `since` and takes
    /// a `mark` that grows: see [`PendingSku::mark`]) and makes each of those integrations due at once for
    /// [`Store::claim_work`], as a change does. Events already marked are left alone; nothing is
    /// written when the transaction fails.
    async fn finish_stock_events(
        &self,
        seqs: &[u64],
        propagate: &[PendingSku],
    ) -> Result<(), StoreError>;

    /// Up to `limit` pending SKUs of one integration, oldest `since` first (then by SKU).
    async fn pending_skus(
        &self,
        id: IntegrationId,
        limit: usize,
    ) -> Result<Vec<PendingSku>, StoreError>;

    /// Integrations with at least one pending SKU (up to `limit`, oldest wait first).
    async fn integrations_with_pending_skus(
        &self,
        limit: usize,
    ) -> Result<Vec<IntegrationId>, StoreError>;

    /// Removes each pending (integration `id`, SKU) pair whose `mark` is at most the one given
    /// (the mark it was read with); a pair marked again since stays pending.
    async fn finish_propagation(
        &self,
        id: IntegrationId,
        done: &[(Sku, u64)],
    ) -> Result<(), StoreError>;

    /// The listings of every integration for these SKUs (the catalogue's SKU), by integration
    /// then SKU.
    async fn listings_for_skus(&self, skus: &[Sku]) -> Result<Vec<Listing>, StoreError>;
}

/// Compile-time check that [`Store`] stays dyn-compatible.
fn _assert_dyn_compatible(_: &dyn Store) {}
