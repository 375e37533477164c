#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub use marketsync_core::*;

/// The SQLite store, the embedded default: [`sqlite::SqliteStore`] (feature `sqlite`, on by
/// default).
#[cfg(feature = "sqlite")]
pub use marketsync_sqlite as sqlite;

/// The default store: SQLite (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub use marketsync_sqlite::SqliteStore;

/// The ChannelAdvisor adapter, and OfferUp through it (feature `channeladvisor`).
#[cfg(feature = "channeladvisor")]
pub use marketsync_channeladvisor as channeladvisor;

/// The Reverb adapter (feature `reverb`).
#[cfg(feature = "reverb")]
pub use marketsync_reverb as reverb;

/// The Allegro adapter (feature `allegro`).
#[cfg(feature = "allegro")]
pub use marketsync_allegro as allegro;

/// The Tradera adapter (feature `tradera`).
#[cfg(feature = "tradera")]
pub use marketsync_tradera as tradera;
