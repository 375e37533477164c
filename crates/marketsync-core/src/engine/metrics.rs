//! The metrics marketsync records, through the [`metrics`] facade.
//!
//! The engine and the HTTP plumbing only record; a host installs the recorder (the `marketsync`
//! binary exports them for Prometheus at `/metrics`). Without a recorder nothing is kept.
//!
//! | name | kind | labels | counts |
//! |---|---|---|---|
//! | [`OPERATIONS_TOTAL`] `marketsync_operations_total` | counter | `channel`, `operation`, `outcome` (`ok`/`failed`) | engine operations finished, scheduled or called directly |
//! | [`ORDERS_IMPORTED_TOTAL`] `marketsync_orders_imported_total` | counter | `channel` | orders an import run imported (new ones and ones released from hold) |
//! | [`ORDERS_HELD_TOTAL`] `marketsync_orders_held_total` | counter | `channel` | orders an import run recorded as not imported (held for a mapping, unreadable, …) |
//! | [`RATE_LIMIT_WAITS_TOTAL`] `marketsync_rate_limit_waits_total` | counter | `channel` | HTTP requests that waited for a rate-limit permit |
//! | [`RATE_LIMIT_WAIT_SECONDS_TOTAL`] `marketsync_rate_limit_wait_seconds_total` | gauge, only grows | `channel` | seconds requests spent waiting for a rate-limit permit (a gauge because facade counters count whole numbers) |
//! | [`HTTP_429_TOTAL`] `marketsync_http_429_total` | counter | `channel` | `429 Too Many Requests` answers from a channel |
//!
//! `channel` is the [`ChannelKind`] name (`reverb`, `allegro`, …;
//! `unknown` when an operation failed before its integration's channel was known, or an HTTP
//! client was built without a channel kind). `operation` is an [`EngineOperation`] name.

use crate::ids::ChannelKind;

/// `marketsync_operations_total{channel,operation,outcome}`: engine operations finished.
pub const OPERATIONS_TOTAL: &str = "marketsync_operations_total";
/// `marketsync_orders_imported_total{channel}`: orders imported by import runs.
pub const ORDERS_IMPORTED_TOTAL: &str = "marketsync_orders_imported_total";
/// `marketsync_orders_held_total{channel}`: orders import runs recorded as not imported.
pub const ORDERS_HELD_TOTAL: &str = "marketsync_orders_held_total";
/// `marketsync_rate_limit_waits_total{channel}`: requests that waited for a rate-limit permit.
pub const RATE_LIMIT_WAITS_TOTAL: &str = "marketsync_rate_limit_waits_total";
/// `marketsync_rate_limit_wait_seconds_total{channel}`: seconds spent waiting for permits.
pub const RATE_LIMIT_WAIT_SECONDS_TOTAL: &str = "marketsync_rate_limit_wait_seconds_total";
/// `marketsync_http_429_total{channel}`: `429 Too Many Requests` answers.
pub const HTTP_429_TOTAL: &str = "marketsync_http_429_total";

/// The `channel` label when the channel kind is not known.
pub const UNKNOWN_CHANNEL: &str = "unknown";

/// The `outcome` label of a successful operation.
pub const OUTCOME_OK: &str = "ok";
/// The `outcome` label of a failed operation.
pub const OUTCOME_FAILED: &str = "failed";

/// An engine operation, as named in spans (`operation` field) and metrics (`operation` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EngineOperation {
    /// [`Engine::import_orders`](super::Engine::import_orders).
    ImportOrders,
    /// [`Engine::sync_orders`](super::Engine::sync_orders): the outbox.
    SyncOrders,
    /// [`Engine::link_listings`](super::Engine::link_listings).
    LinkListings,
    /// [`Engine::sync_listings`](super::Engine::sync_listings).
    SyncListings,
    /// [`Engine::publish_listings`](super::Engine::publish_listings).
    PublishListings,
    /// [`Engine::plan_reconcile`](super::Engine::plan_reconcile).
    PlanReconcile,
    /// [`Engine::confirm_reconcile`](super::Engine::confirm_reconcile) and
    /// [`confirm_large_reconcile`](super::Engine::confirm_large_reconcile).
    ConfirmReconcile,
    /// [`Engine::run_reconcile`](super::Engine::run_reconcile).
    Reconcile,
    /// [`Engine::verify`](super::Engine::verify).
    Verify,
    /// [`Engine::check_credentials`](super::Engine::check_credentials).
    CheckCredentials,
    /// [`Engine::deliver_notifications`](super::Engine::deliver_notifications).
    DeliverNotifications,
    /// [`Engine::sync_pending_skus`](super::Engine::sync_pending_skus): the targeted sync
    /// after a sale on another channel.
    SyncPendingSkus,
}

impl EngineOperation {
    /// Its stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineOperation::ImportOrders => "import_orders",
            EngineOperation::SyncOrders => "sync_orders",
            EngineOperation::LinkListings => "link_listings",
            EngineOperation::SyncListings => "sync_listings",
            EngineOperation::PublishListings => "publish_listings",
            EngineOperation::PlanReconcile => "plan_reconcile",
            EngineOperation::ConfirmReconcile => "confirm_reconcile",
            EngineOperation::Reconcile => "reconcile",
            EngineOperation::Verify => "verify",
            EngineOperation::CheckCredentials => "check_credentials",
            EngineOperation::DeliverNotifications => "deliver_notifications",
            EngineOperation::SyncPendingSkus => "sync_pending_skus",
        }
    }
}

impl std::fmt::Display for EngineOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `channel` label of a channel kind (or [`UNKNOWN_CHANNEL`]).
pub fn channel_label(kind: Option<ChannelKind>) -> &'static str {
    kind.map_or(UNKNOWN_CHANNEL, |k| k.as_str())
}

/// Counts one finished operation.
pub(crate) fn operation_finished(channel: &'static str, operation: EngineOperation, ok: bool) {
    ::metrics::counter!(
        OPERATIONS_TOTAL,
        "channel" => channel,
        "operation" => operation.as_str(),
        "outcome" => if ok { OUTCOME_OK } else { OUTCOME_FAILED }
    )
    .increment(1);
}

/// Counts what one import run imported and held.
pub(crate) fn orders_counted(channel: &'static str, imported: u64, held: u64) {
    // Incremented by 0 too, so that both series exist once a channel imported.
    ::metrics::counter!(ORDERS_IMPORTED_TOTAL, "channel" => channel).increment(imported);
    ::metrics::counter!(ORDERS_HELD_TOTAL, "channel" => channel).increment(held);
}
