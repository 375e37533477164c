#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The crate root holds what a host program names: the engine and what it is built from, the
// integration's lifecycle words, credentials, the ledger, and the domain types. Everything else
// is in a module: reports (`engine`), interfaces for implementors (`channel`, `store`), test
// doubles (`testing`), and one module per adapter.

// ----- the engine and what a host hands it -----
pub use marketsync_core::{
    Catalog, CatalogError, CatalogPage, Clock, Engine, EngineBuilder, EngineError, Frequencies,
    IntegrationSettings, ManualClock, MemoryCatalog, MemoryNotifier, MemoryStore, MissingMapping,
    Notification, Notifier, ScheduledOperation, Scheduler, SystemClock,
};

// ----- integrations and their lifecycle -----
pub use marketsync_core::{
    Actor, AuditEvent, Blocked, BrokenReason, Feature, Features, Health, IntegrationId, Phase,
    SupportOverride,
};

/// The integration's record as the store keeps it ([`Engine::integration`]).
pub use marketsync_core::store::IntegrationRecord;

// ----- channels -----
pub use marketsync_core::{Capabilities, Channel, ChannelError, ChannelKind, ErrorKind, Operation};

// ----- credentials -----
pub use marketsync_core::{
    AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest, AuthorizationStart,
    CredentialKey, CredentialKind, Credentials, ExposeSecret, PendingAuthorization, SecretString,
    VaultError,
};

// ----- the store and the order ledger -----
pub use marketsync_core::{
    LedgerEntry, LedgerFilter, NotImportedReason, OrderOutcome, Store, StoreError,
};

// ----- domain types -----
pub use marketsync_core::{
    Address, AdjustmentReason, Buyer, Cancellation, ChannelListing, ChannelListingId,
    ChannelListingState, ChannelOrderId, Currency, CurrencySource, Decimal, Delivery, EndReason,
    IdempotencyKey, InventoryItem, Label, LineQuantity, Listing, ListingStatus, Management,
    MappingSet, Money, MoneyError, Order, OrderLine, OrderState, OrderStatus, Refund, RefundLine,
    Shipment, ShippingMapping, ShippingService, Sku, SkuMapping, SkuResolution, ValueError,
};

/// The lifecycle of an integration as a pure state machine: phases, switches, health, events
/// ([`lifecycle::Event`]) and the delete plan.
pub use marketsync_core::lifecycle;

/// The seller's mappings: shipping texts to shipping services, channel SKUs to the catalogue's.
pub use marketsync_core::mapping;

/// Every kind of credentials (API token, OAuth tokens, a login session, seller secrets) and the
/// authorization flows.
pub use marketsync_core::credentials;

/// What the engine's operations report, and the scheduler's records.
pub mod engine {
    pub use marketsync_core::engine::scheduler::{
        IntegrationFailure, Pass, Report, RunOutput, RunRecord, RunSummary,
    };
    pub use marketsync_core::engine::{ChannelFactory, EngineOperation, metrics};
    pub use marketsync_core::engine::{
        DropReason, DroppedFromPlan, EPHEMERAL_KEY_ID, ImportReport, LinkReport, ListingFailure,
        OrderExplanation, OutboxFailure, OutboxReport, PublishReport, ReconcileOutcome,
        ReconcilePlan, ReconcileReport, SyncReport, UNREADABLE_WITHOUT_ID_PREFIX,
    };
    pub use marketsync_core::engine::{
        PropagationReport, STOCK_LEASE, StockHandOver, StockPropagation,
    };
    pub use marketsync_core::{Engine, EngineBuilder, EngineError, Scheduler};
}

/// For adapter implementors: the [`Channel`] trait and the types in its signatures.
pub mod channel {
    pub use marketsync_core::{
        AccountInfo, CancellationRequest, Capabilities, Channel, ChannelError, CredentialSink,
        Cursor, EndListing, ErrorKind, Fingerprint, ListingOutcome, ListingPage, ListingQuery,
        ListingUpdate, NewListing, Operation, OrderPage, OrderQuery, PageToken, RateLimits,
        RefundRequest, RejectedOrder, Renewal, SavedRenewal, ShipmentRequest,
    };
}

/// For store implementors: the [`Store`] trait and the types in its signatures. A store must
/// pass the store conformance suite (`marketsync-testkit`).
pub mod store {
    /// A scheduler's identity as the holder of work leases (`Scheduler::with_worker`).
    pub use marketsync_core::store::WorkerId;
    pub use marketsync_core::store::{
        Decision, ImportedOrder, IntegrationRecord, Lease, LedgerWrite, MAX_SIGHTINGS, NoticeState,
        OrderBatch, OutboxAction, OutboxEntry, OutboxItem, OutboxState, OutboxUpdate,
        RecordedOrder, ResolvedLine, Sighting, SightingOutcome,
    };
    pub use marketsync_core::store::{
        DeliveryUpdate, NewNotification, NotificationDelivery, StoredNotification,
        apply_delivery_update,
    };
    pub use marketsync_core::store::{NewStockEvent, PendingSku, StockEvent, StockLine};
    pub use marketsync_core::{
        LedgerEntry, LedgerFilter, NotImportedReason, OrderOutcome, SealedCredentials, Store,
        StoreError, VersionedMappings,
    };
}

/// Notifications that reach a person: the in-app message list's queries, the outbox listing,
/// the [`Transport`](notify::Transport) trait transports implement (e-mail and webhook:
/// `notify_transports`, feature `notify`) and the dispatcher that delivers through them.
pub mod notify {
    pub use marketsync_core::notify::messages;
    pub use marketsync_core::notify::{
        Backoff, DeliveryError, DeliveryProblem, DeliveryReport, Message, MissingMapping,
        Notification, NotificationDispatcher, Notifier, Transport,
    };
    pub use marketsync_core::store::{
        DeliveryFilter, DeliveryQuery, DeliveryState, MarkRead, MessageQuery, NotificationDelivery,
        Page, PageRequest, ReadFilter, StoredNotification,
    };
}

/// Test doubles for a host's own tests: an in-memory channel with scripted failures, the
/// in-memory store, catalogue and notifier, and a clock the test moves.
pub mod testing {
    pub use marketsync_core::memory::{FailureRule, MemoryChannelStats};
    pub use marketsync_core::{
        ManualClock, MemoryCatalog, MemoryChannel, MemoryNotifier, MemoryStore,
    };
}

/// The names most programs use: `use marketsync::prelude::*;`.
pub mod prelude {
    pub use marketsync_core::{
        Actor, Catalog, Channel, ChannelKind, ChannelOrderId, Clock, CredentialKey, Credentials,
        Currency, Engine, EngineError, Feature, IntegrationId, IntegrationSettings, InventoryItem,
        Label, LedgerFilter, Money, Notifier, OrderOutcome, SecretString, Shipment, Sku, Store,
    };
}

#[cfg(any(
    feature = "channeladvisor",
    feature = "reverb",
    feature = "allegro",
    feature = "tradera"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "channeladvisor",
        feature = "reverb",
        feature = "allegro",
        feature = "tradera"
    )))
)]
pub mod config;
#[cfg(any(
    feature = "channeladvisor",
    feature = "reverb",
    feature = "allegro",
    feature = "tradera"
))]
pub use config::{ChannelConfig, channel_from_config};

/// The SQLite store, the embedded default: [`sqlite::SqliteStore`] (feature `sqlite`, on by
/// default).
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use marketsync_sqlite as sqlite;

/// The default store: SQLite (feature `sqlite`).
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use marketsync_sqlite::SqliteStore;

/// The PostgreSQL store, for many worker processes sharing one database:
/// [`postgres::PostgresStore`] (feature `postgres`).
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use marketsync_postgres as postgres;

/// The PostgreSQL store (feature `postgres`).
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use marketsync_postgres::PostgresStore;

/// The ChannelAdvisor adapter, and OfferUp through it (feature `channeladvisor`).
#[cfg(feature = "channeladvisor")]
#[cfg_attr(docsrs, doc(cfg(feature = "channeladvisor")))]
pub use marketsync_channeladvisor as channeladvisor;

/// The Reverb adapter (feature `reverb`).
#[cfg(feature = "reverb")]
#[cfg_attr(docsrs, doc(cfg(feature = "reverb")))]
pub use marketsync_reverb as reverb;

/// The Allegro adapter (feature `allegro`).
#[cfg(feature = "allegro")]
#[cfg_attr(docsrs, doc(cfg(feature = "allegro")))]
pub use marketsync_allegro as allegro;

/// The Tradera adapter (feature `tradera`).
#[cfg(feature = "tradera")]
#[cfg_attr(docsrs, doc(cfg(feature = "tradera")))]
pub use marketsync_tradera as tradera;

/// The notification transports (feature `notify`): e-mail over SMTP
/// ([`notify_transports::EmailTransport`]) and signed webhooks
/// ([`notify_transports::WebhookTransport`]), each a [`Transport`](marketsync_core::Transport)
/// the store's notification outbox delivers through.
#[cfg(feature = "notify")]
#[cfg_attr(docsrs, doc(cfg(feature = "notify")))]
pub use marketsync_notify as notify_transports;
