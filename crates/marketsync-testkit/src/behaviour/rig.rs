//! [`EngineRig`]: the engine an adapter's own tests drive — memory store, catalog and notifier,
//! a given clock, a credential key, and one integration of the adapter — with the steps every
//! such test repeats (catalog items, connect, label and activate).

use std::sync::Arc;

use marketsync_core::lifecycle::{Actor, Event, Feature};
use marketsync_core::{
    Channel, Clock, CredentialKey, Credentials, Engine, IntegrationId, IntegrationSettings,
    InventoryItem, Label, MemoryCatalog, MemoryNotifier, MemoryStore, Money, Sku,
};

/// An engine on in-memory parts with one integration of an adapter.
#[derive(Debug)]
pub struct EngineRig {
    /// The engine.
    pub engine: Engine,
    /// Its store.
    pub store: Arc<MemoryStore>,
    /// Its catalog.
    pub catalog: Arc<MemoryCatalog>,
    /// The integration.
    pub id: IntegrationId,
}

impl EngineRig {
    /// An engine on a fresh memory store, catalog and notifier with `clock` and a test
    /// credential key, and the integration `name` of `channel` with `settings`.
    ///
    /// # Panics
    /// When the engine refuses the integration.
    pub async fn new(
        name: &str,
        channel: Arc<dyn Channel>,
        settings: IntegrationSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let store = Arc::new(MemoryStore::new());
        let catalog = Arc::new(MemoryCatalog::new());
        let engine = Engine::new(
            store.clone(),
            catalog.clone(),
            Arc::new(MemoryNotifier::new()),
            clock,
        )
        .with_credential_key(CredentialKey::new("k", [7; 32]));
        let id = engine
            .create_integration(name, channel, settings, Actor::System)
            .await
            .expect("the engine creates the integration");
        Self {
            engine,
            store,
            catalog,
            id,
        }
    }

    /// Puts an item in the catalog (`price` in `currency`, no labels).
    ///
    /// # Panics
    /// On an invalid SKU or price.
    pub fn item(&self, sku: &str, title: &str, price: &str, currency: &str, quantity: u32) {
        self.catalog.upsert(InventoryItem {
            stock_version: None,
            sku: Sku::new(sku).expect("a valid SKU"),
            title: title.into(),
            price: Money::parse(price, currency).expect("a valid price"),
            quantity,
            labels: Default::default(),
        });
    }

    /// Enters `credentials` and verifies the connection (the marketplace's account call must
    /// answer).
    ///
    /// # Panics
    /// When either step fails.
    pub async fn connect(&self, credentials: &Credentials) {
        self.engine
            .enter_credentials(self.id, credentials, Actor::System)
            .await
            .expect("credentials entered");
        self.engine
            .verify(self.id, Actor::System)
            .await
            .expect("the connection verifies");
    }

    /// Sets the integration's label, activates it and turns `features` on.
    ///
    /// # Panics
    /// When the engine refuses a step.
    pub async fn activate(&self, label: &str, features: &[Feature]) {
        let mut events = vec![
            Event::SetLabel {
                label: Some(Label::new(label).expect("a valid label")),
                support_override: None,
            },
            Event::Activate,
        ];
        events.extend(features.iter().map(|&feature| Event::SetFeature {
            feature,
            on: true,
            support_override: None,
        }));
        for event in events {
            self.engine
                .apply(self.id, Actor::System, event)
                .await
                .expect("the engine applies the event");
        }
    }
}
