//! [`Engine::builder`]: an engine with defaults for whatever the host does not hand it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chacha20poly1305::aead::Generate;

use super::Engine;
use crate::{
    Catalog, Clock, CredentialKey, MemoryCatalog, MemoryNotifier, MemoryStore, Notifier, Store,
    SystemClock,
};

/// The name of the key [`EngineBuilder::build`] makes up for an engine on its default in-memory
/// store.
pub const EPHEMERAL_KEY_ID: &str = "ephemeral";

/// Builds an [`Engine`]; every part has a default.
///
/// | part | default |
/// |---|---|
/// | [`store`](Self::store) | a fresh [`MemoryStore`] (everything is lost when the process ends) |
/// | [`catalog`](Self::catalog) | an empty [`MemoryCatalog`] |
/// | [`notifier`](Self::notifier) | a [`MemoryNotifier`] (keeps what it hears; nobody is told) |
/// | [`clock`](Self::clock) | [`SystemClock`] |
/// | [`credential_key`](Self::credential_key) | see below |
/// | [`outbox_lease`](Self::outbox_lease) | 5 minutes |
/// | [`outbox_send_time`](Self::outbox_send_time) | [`DEFAULT_OUTBOX_SEND_TIME`](super::DEFAULT_OUTBOX_SEND_TIME) |
/// | [`channel_factory`](Self::channel_factory) | none: every channel is registered by the host |
///
/// **The credential key.** Credentials are sealed with it before they reach the store. There is
/// never a built-in key:
/// - on the default in-memory store, an engine without a key gets a fresh random key of its own
///   ([`EPHEMERAL_KEY_ID`]): the credentials live exactly as long as the store, so nothing is
///   lost and nothing readable outlives the process;
/// - on a store the host gives ([`store`](Self::store)), an engine without a key has none:
///   entering, renewing or reading credentials fails with
///   [`VaultError::KeyMissing`](crate::VaultError::KeyMissing) until the host gives the key it
///   keeps (a random key there would make every stored credential unreadable after a restart).
///
/// ```
/// use std::sync::Arc;
/// use marketsync_core::{CredentialKey, Engine, MemoryStore};
///
/// // Everything in memory: tests, demos.
/// let engine = Engine::builder().build();
/// # let _ = engine;
///
/// // A host's store and the key it keeps (from the environment or a secrets manager).
/// let engine = Engine::builder()
///     .store(Arc::new(MemoryStore::new()))
///     .credential_key(CredentialKey::new("2026-11", [7; 32]))
///     .build();
/// # let _ = engine;
/// ```
#[must_use = "an EngineBuilder does nothing until `build` is called"]
pub struct EngineBuilder {
    store: Option<Arc<dyn Store>>,
    catalog: Option<Arc<dyn Catalog>>,
    notifier: Option<Arc<dyn Notifier>>,
    clock: Option<Arc<dyn Clock>>,
    key: Option<CredentialKey>,
    outbox_lease: Option<Duration>,
    outbox_send_time: Option<Duration>,
    transports: Vec<Arc<dyn crate::notify::Transport>>,
    factory: Option<Arc<dyn super::ChannelFactory>>,
}

impl fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `CredentialKey`'s Debug is redacted; the key's name is enough here.
        f.debug_struct("EngineBuilder")
            .field("store", &self.store)
            .field("catalog", &self.catalog)
            .field("notifier", &self.notifier)
            .field("clock", &self.clock)
            .field("credential_key", &self.key.as_ref().map(CredentialKey::id))
            .field("outbox_lease", &self.outbox_lease)
            .field("outbox_send_time", &self.outbox_send_time)
            .field("transports", &self.transports)
            .field("channel_factory", &self.factory)
            .finish()
    }
}

impl Engine {
    /// A builder with a default for every part ([`EngineBuilder`] lists them, and says what
    /// happens to credentials without a key).
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            store: None,
            catalog: None,
            notifier: None,
            clock: None,
            key: None,
            outbox_lease: None,
            outbox_send_time: None,
            transports: Vec::new(),
            factory: None,
        }
    }
}

impl EngineBuilder {
    /// The store integrations, ledgers and sealed credentials are kept in.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The seller's catalogue: what is listed, at which price and quantity.
    pub fn catalog(mut self, catalog: Arc<dyn Catalog>) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// A transport that delivers the notification outbox to people (e-mail, webhook: see the
    /// `marketsync-notify` crate), for every integration; call once per transport.
    /// [`Engine::register_transport_for`] limits one to some integrations.
    pub fn transport(mut self, transport: Arc<dyn crate::notify::Transport>) -> Self {
        self.transports.push(transport);
        self
    }

    /// Who hears of broken connections, expiring credentials, held orders, in process, right
    /// after the change is stored (the transports deliver them durably).
    pub fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Where the engine reads the time ([`ManualClock`](crate::ManualClock) in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The key credentials are sealed with at rest.
    pub fn credential_key(mut self, key: CredentialKey) -> Self {
        self.key = Some(key);
        self
    }

    /// How long a claimed outbox entry stays claimed before another worker may retry it.
    pub fn outbox_lease(mut self, lease: Duration) -> Self {
        self.outbox_lease = Some(lease);
        self
    }

    /// The longest one ship, refund or cancel call may take; sizes the outbox claims
    /// ([`Engine::with_outbox_send_time`]).
    pub fn outbox_send_time(mut self, send_time: Duration) -> Self {
        self.outbox_send_time = Some(send_time);
        self
    }

    /// Makes the channel (adapter) of an integration on demand, when an operation needs it and
    /// none is registered ([`ChannelFactory`](super::ChannelFactory)).
    pub fn channel_factory(mut self, factory: Arc<dyn super::ChannelFactory>) -> Self {
        self.factory = Some(factory);
        self
    }

    /// The engine.
    pub fn build(self) -> Engine {
        let in_memory = self.store.is_none();
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::new()) as Arc<dyn Store>);
        let catalog = self
            .catalog
            .unwrap_or_else(|| Arc::new(MemoryCatalog::new()) as Arc<dyn Catalog>);
        let notifier = self
            .notifier
            .unwrap_or_else(|| Arc::new(MemoryNotifier::new()) as Arc<dyn Notifier>);
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock) as Arc<dyn Clock>);
        let mut engine = Engine::new(store, catalog, notifier, clock);
        let key = match self.key {
            Some(key) => Some(key),
            None if in_memory => Some(ephemeral_key()),
            None => None,
        };
        if let Some(key) = key {
            engine = engine.with_credential_key(key);
        }
        if let Some(lease) = self.outbox_lease {
            engine = engine.with_outbox_lease(lease);
        }
        if let Some(send_time) = self.outbox_send_time {
            engine = engine.with_outbox_send_time(send_time);
        }
        if let Some(factory) = self.factory {
            engine = engine.with_channel_factory(factory);
        }
        for transport in self.transports {
            engine.register_transport(transport);
        }
        engine
    }
}

/// A random key from the operating system's generator, for an engine whose store dies with it.
fn ephemeral_key() -> CredentialKey {
    let bytes = zeroize::Zeroizing::new(<[u8; 32]>::from(chacha20poly1305::Key::generate()));
    CredentialKey::new(EPHEMERAL_KEY_ID, *bytes)
}
