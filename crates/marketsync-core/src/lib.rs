#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

pub mod capability;
pub mod catalog;
pub mod channel;
pub mod clock;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod explain;
pub mod ids;
pub mod lifecycle;
pub mod listing;
pub mod mapping;
pub mod memory;
pub mod money;
pub mod notify;
pub mod order;
pub mod redact;
pub mod settings;
pub mod store;
pub mod vault;

pub use capability::{Capabilities, Operation, RateLimits};
pub use catalog::{Catalog, CatalogError, CatalogPage};
pub use channel::{
    AccountInfo, Channel, CredentialSink, Cursor, ListingPage, ListingQuery, OrderPage, OrderQuery,
    PageToken, RejectedOrder, Renewal, SavedRenewal,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credentials::{
    AuthorizationCallback, AuthorizationOutcome, AuthorizationRequest, AuthorizationStart,
    CredentialKind, Credentials, PendingAuthorization,
};
pub use engine::scheduler::{ScheduledOperation, Scheduler};
pub use engine::stock::{PropagationReport, StockHandOver, StockPropagation};
pub use engine::{ChannelFactory, Engine, EngineBuilder, EngineError};
pub use error::{BrokenReason, ChannelError, ErrorKind};
pub use ids::{
    ChannelKind, ChannelListingId, ChannelOrderId, IntegrationId, Label, Sku, ValueError,
};
pub use lifecycle::{
    Actor, AuditEvent, Blocked, Context, Feature, Features, Health, Lifecycle, LifecycleError,
    Phase, SupportOverride, Switch,
};
pub use listing::{
    ChannelListing, ChannelListingState, EndListing, EndReason, Fingerprint, InventoryItem,
    Listing, ListingOutcome, ListingStatus, ListingUpdate, NewListing,
};
pub use mapping::{MappingSet, ShippingMapping, ShippingService, SkuMapping, SkuResolution};
pub use memory::{MemoryCatalog, MemoryChannel, MemoryNotifier, MemoryStore};
pub use money::{Currency, Money, MoneyError};
pub use notify::{
    DeliveryError, DeliveryReport, Message, MissingMapping, Notification, NotificationDispatcher,
    Notifier, Transport,
};
pub use order::{
    Address, AdjustmentReason, Buyer, Cancellation, CancellationRequest, CurrencySource, Delivery,
    IdempotencyKey, LineQuantity, Management, Order, OrderLine, OrderState, OrderStatus, Refund,
    RefundLine, RefundRequest, Shipment, ShipmentRequest,
};
pub use settings::{Frequencies, IntegrationSettings};
pub use store::{
    LedgerEntry, LedgerFilter, NotImportedReason, OrderOutcome, Store, StoreError,
    VersionedMappings,
};
pub use vault::{CredentialKey, SealedCredentials, VaultError};

/// Re-exported so users name the same `Decimal` and secret types as the library.
pub use rust_decimal::Decimal;
pub use secrecy::{ExposeSecret, SecretString};
