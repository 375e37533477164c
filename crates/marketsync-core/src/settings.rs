//! Per-integration settings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::ChannelKind;
use crate::money::Currency;
use crate::order::OrderState;

/// How often the scheduler runs each operation for an integration (its communication frequency).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frequencies {
    /// Listing sync.
    pub listings: Duration,
    /// Order import.
    pub orders: Duration,
    /// Sending shipments, refunds and cancellations.
    pub fulfillments: Duration,
    /// Checking credentials for expiry.
    pub credentials: Duration,
}

impl Frequencies {
    /// The defaults for a channel. ChannelAdvisor pulls marketplace orders about every 15
    /// minutes; Tradera's default budget of 100 calls a day allows only a few runs an hour.
    pub fn for_channel(kind: ChannelKind) -> Self {
        let min = |m: u64| Duration::from_secs(m * 60);
        match kind {
            ChannelKind::Tradera => Self {
                listings: min(240),
                orders: min(60),
                fulfillments: min(30),
                credentials: min(360),
            },
            ChannelKind::ChannelAdvisor | ChannelKind::OfferUp => Self {
                listings: min(30),
                orders: min(15),
                fulfillments: min(10),
                credentials: min(360),
            },
            _ => Self {
                listings: min(30),
                orders: min(10),
                fulfillments: min(5),
                credentials: min(360),
            },
        }
    }
}

/// The settings of one integration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationSettings {
    /// The currency used for orders the channel sends without one (the integration's "default
    /// currency").
    pub default_currency: Currency,
    /// The order states that are imported; others are recorded as not imported, with their
    /// status as the reason.
    pub import_states: Vec<OrderState>,
    /// Import only orders created within the last N days (`None`: no limit).
    pub created_within_days: Option<u32>,
    /// How long before credentials must be renewed the seller is warned.
    pub expiry_warning: Duration,
    /// How often the scheduler runs each operation.
    pub frequencies: Frequencies,
    /// How long a reconcile dry-run plan may be confirmed after it was made (by the engine's
    /// clock); an older plan is refused and a new dry run is needed. Default 24 hours.
    #[serde(default = "default_reconcile_plan_expiry")]
    pub reconcile_plan_expiry: Duration,
    /// The largest share of the channel's listings (not ended), in percent, that one reconcile
    /// may end. A plan that ends more is refused with
    /// [`EngineError::ReconcileTooLarge`](crate::EngineError::ReconcileTooLarge) until a person
    /// confirms it explicitly ([`Engine::confirm_large_reconcile`](crate::Engine::confirm_large_reconcile)),
    /// so an empty or partial catalogue answer never delists the shop. Default 50: in normal
    /// use only a few items leave the label between two runs, while a catalogue that answers
    /// with nothing (or with one page of several) asks to end all or most of the shop; a seller
    /// who really moves most of the shop off a channel confirms that once. Values above 100 act
    /// as 100.
    #[serde(default = "default_reconcile_max_end_percent")]
    pub reconcile_max_end_percent: u8,
    /// The adapter's own settings for this integration, as its config type serialises them
    /// (base URL, currency, profile id, … — never a secret: adapter configs skip their secrets
    /// when written), so that any process can rebuild the integration's adapter: the
    /// `marketsync` binary writes it at `integrations connect` and rebuilds the adapter from it,
    /// the application's secrets from its config file and the seller's from the sealed
    /// credentials. `None` for integrations a host program made with an adapter of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<serde_json::Value>,
}

fn default_reconcile_plan_expiry() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_reconcile_max_end_percent() -> u8 {
    50
}

impl IntegrationSettings {
    /// Defaults for a channel: import paid orders awaiting shipment created within 30 days, warn
    /// 7 days before credentials expire, the channel's default frequencies; a reconcile plan
    /// expires after 24 hours and one reconcile ends at most 50% of the channel's listings; no
    /// stored adapter settings.
    pub fn new(kind: ChannelKind, default_currency: Currency) -> Self {
        Self {
            default_currency,
            import_states: vec![OrderState::AwaitingShipment],
            created_within_days: Some(30),
            expiry_warning: Duration::from_secs(7 * 24 * 3600),
            frequencies: Frequencies::for_channel(kind),
            reconcile_plan_expiry: default_reconcile_plan_expiry(),
            reconcile_max_end_percent: default_reconcile_max_end_percent(),
            adapter: None,
        }
    }
}
