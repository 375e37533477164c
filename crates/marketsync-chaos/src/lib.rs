#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

pub mod run;
pub mod store;
pub mod worker;

use std::fmt;
use std::path::Path;

pub use store::{RunStore, StoreLocation};

use marketsync_core::{
    Capabilities, ChannelOrderId, Currency, IdempotencyKey, IntegrationId, InventoryItem, Label,
    Money, Sku,
};

/// The integrations' label, also the ChannelAdvisor product label the harness's listings carry
/// (`marketsync_sandbox::channeladvisor::harness::HARNESS_LABEL`).
pub const LABEL: &str = "conformance";

/// Listings per marketplace, SKUs [`sku`]`(market, 0..LISTINGS)`.
pub const LISTINGS: usize = 12;

/// The SKU of the orders that must not import (not in the catalog, no SKU mapping).
pub const UNKNOWN_SKU: &str = "CHAOS-UNKNOWN";

/// The quantity every catalog item has in the drain run, which the final check finds on every
/// listing that was not deleted outside. No pass of the kill phase uses it (they cycle through
/// 1–9), so the drain sends it to every listing: a sale lowers the stock at the marketplace
/// (Reverb's fake does, as Reverb does), and a listing whose last send already carried the final
/// value would rightly not be sent again (the host's catalogue did not change), keeping the
/// lowered stock.
pub const FINAL_QUANTITY: u32 = 20;

/// The catalog price of every item, in the marketplace's currency.
pub const PRICE: &str = "10.00";

/// The marketplaces of a chaos run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Market {
    /// ChannelAdvisor (`marketsync-channeladvisor`).
    ChannelAdvisor,
    /// Reverb (`marketsync-reverb`).
    Reverb,
    /// Allegro (`marketsync-allegro`).
    Allegro,
    /// Tradera (`marketsync-tradera`).
    Tradera,
}

impl Market {
    /// Every marketplace, in a stable order.
    pub const ALL: [Market; 4] = [
        Market::ChannelAdvisor,
        Market::Reverb,
        Market::Allegro,
        Market::Tradera,
    ];

    /// A short code (plan files, idempotency keys, logs).
    pub fn code(self) -> &'static str {
        match self {
            Market::ChannelAdvisor => "ca",
            Market::Reverb => "reverb",
            Market::Allegro => "allegro",
            Market::Tradera => "tradera",
        }
    }

    /// The marketplace of a [`code`](Self::code).
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.code() == code)
    }

    /// The currency its listings and orders are in (the harness's).
    pub fn currency(self) -> Currency {
        match self {
            Market::ChannelAdvisor | Market::Reverb => Currency::USD,
            Market::Allegro => Currency::PLN,
            Market::Tradera => Currency::SEK,
        }
    }
}

impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The SKU of a marketplace's listing `i` (each marketplace has its own items: the catalog
/// is shared, and each prices in its own currency).
pub fn sku(market: Market, i: usize) -> Sku {
    Sku::new(format!("CHAOS-{}-{i:03}", market.code().to_uppercase())).expect("a valid SKU")
}

/// The catalog item of listing `i` with a quantity.
pub fn catalog_item(market: Market, i: usize, quantity: u32) -> InventoryItem {
    InventoryItem {
        stock_version: None,
        sku: sku(market, i),
        title: format!("Chaos item {i}"),
        price: Money::parse(PRICE, market.currency().code()).expect("a valid price"),
        quantity,
        labels: [Label::new(LABEL).expect("a valid label")]
            .into_iter()
            .collect(),
    }
}

/// What the worker sends back for an imported order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A whole-order shipment.
    Ship,
    /// A full refund.
    Refund,
    /// A whole-order cancellation.
    Cancel,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Ship => "ship",
            Action::Refund => "refund",
            Action::Cancel => "cancel",
        }
    }
}

/// FNV-1a: a stable hash of an order id, the same in every process and every build.
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The action for an imported order, decided from its id alone (so a restarted worker and the
/// final check decide the same): three in eight are shipped, one refunded, one cancelled, three
/// left alone; `None` when the channel does not support the action.
pub fn action_for(order: &ChannelOrderId, caps: &Capabilities) -> Option<Action> {
    let action = match stable_hash(order.as_str()) % 8 {
        0..=2 => Action::Ship,
        3 => Action::Refund,
        4 => Action::Cancel,
        _ => return None,
    };
    let supported = match action {
        Action::Ship => caps.orders_ship,
        Action::Refund => caps.orders_refund,
        Action::Cancel => caps.orders_cancel,
    };
    supported.then_some(action)
}

/// How the worker keys an order's action, decided from the order's id alone (so a restarted
/// worker decides the same): about half the orders with a host key, the others with none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keying {
    /// A key the host numbers per integration, [`host_key`]: every integration uses the same
    /// keys (`chaos-ship-1`, `chaos-refund-2`, …), which the outbox scopes per integration.
    Host,
    /// No key: the engine's default key, derived from the request's content.
    Derived,
}

/// The keying of an order's action (see [`Keying`]).
pub fn keying_for(order: &ChannelOrderId) -> Keying {
    // Other bits than `action_for`'s, so every action gets both keyings.
    if (stable_hash(order.as_str()) >> 16) & 1 == 0 {
        Keying::Host
    } else {
        Keying::Derived
    }
}

/// The host key of an integration's `n`-th outbox entry, `chaos-{action}-{n}`: numbered per
/// integration, as a shop system numbers its own fulfilments, so the same keys appear in every
/// integration of the run.
pub fn host_key(action: Action, n: usize) -> IdempotencyKey {
    IdempotencyKey::new(format!("chaos-{}-{n}", action.name())).expect("a valid idempotency key")
}

/// What the sandbox must have recorded for an order given its action: shipments, refunds and
/// cancellations (the harness's `Received` kinds). Reverb cancels with a full refund, so both a
/// refund and a cancellation there are one refund request that refunded the whole order.
pub fn expected_received(market: Market, action: Option<Action>) -> [usize; 3] {
    match (market, action) {
        (_, None) => [0, 0, 0],
        (_, Some(Action::Ship)) => [1, 0, 0],
        (Market::Reverb, Some(Action::Refund | Action::Cancel)) => [0, 1, 1],
        (_, Some(Action::Refund)) => [0, 1, 0],
        (_, Some(Action::Cancel)) => [0, 0, 1],
    }
}

/// One integration of a run, as the worker needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanEntry {
    /// The marketplace.
    pub market: Market,
    /// The integration.
    pub id: IntegrationId,
    /// The sandbox's base URL.
    pub base_url: String,
}

/// What the parent tells its workers: the store, the credential key, the integrations.
///
/// Written to a file in the run's directory (never printed: it holds the credential key, and a
/// PostgreSQL URL may hold a password).
#[derive(Clone, PartialEq, Eq)]
pub struct Plan {
    /// The store (for PostgreSQL, the URL of the run's own schema).
    pub store: StoreLocation,
    /// The credential key, hex.
    pub key_hex: String,
    /// How many workers run at once in the kill phase (the drain is one).
    pub workers: usize,
    /// The integrations.
    pub integrations: Vec<PlanEntry>,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("store", &self.store)
            .field("key_hex", &"[REDACTED]")
            .field("workers", &self.workers)
            .field("integrations", &self.integrations)
            .finish()
    }
}

/// A plan file could not be read.
#[derive(Debug)]
pub struct PlanError(String);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chaos plan: {}", self.0)
    }
}

impl std::error::Error for PlanError {}

impl Plan {
    /// Writes the plan (one `key value` per line).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut text = format!(
            "store {}\nkey {}\nworkers {}\n",
            self.store.to_plan_text(),
            self.key_hex,
            self.workers
        );
        for e in &self.integrations {
            text.push_str(&format!(
                "integration {} {} {}\n",
                e.market.code(),
                e.id,
                e.base_url
            ));
        }
        std::fs::write(path, text)
    }

    /// Reads a plan written by [`write`](Self::write).
    pub fn read(path: &Path) -> Result<Self, PlanError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PlanError(format!("{}: {e}", path.display())))?;
        let (mut store, mut key_hex, mut integrations) = (None, None, Vec::new());
        let mut workers = 1;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line
                .split_once(' ')
                .ok_or_else(|| PlanError(format!("bad line {line:?}")))?;
            match k {
                "store" => store = Some(StoreLocation::parse(v)),
                "key" => key_hex = Some(v.to_owned()),
                "workers" => {
                    workers = v
                        .parse()
                        .map_err(|_| PlanError(format!("bad worker count {v:?}")))?;
                }
                "integration" => {
                    let parts: Vec<&str> = v.split(' ').collect();
                    let [market, id, base_url] = parts.as_slice() else {
                        return Err(PlanError(format!("bad integration {v:?}")));
                    };
                    integrations.push(PlanEntry {
                        market: Market::parse(market)
                            .ok_or_else(|| PlanError(format!("unknown market {market:?}")))?,
                        id: id
                            .parse()
                            .map_err(|_| PlanError(format!("bad integration id {id:?}")))?,
                        base_url: (*base_url).to_owned(),
                    });
                }
                other => return Err(PlanError(format!("unknown key {other:?}"))),
            }
        }
        Ok(Plan {
            store: store.ok_or_else(|| PlanError("no store".into()))?,
            key_hex: key_hex.ok_or_else(|| PlanError("no key".into()))?,
            workers,
            integrations,
        })
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn actions_follow_capabilities_and_spread_over_orders() {
        let all = Capabilities::all();
        let mut seen = [0usize; 4];
        for n in 0..800 {
            let id = ChannelOrderId::new(format!("{n}")).unwrap();
            match action_for(&id, &all) {
                Some(Action::Ship) => seen[0] += 1,
                Some(Action::Refund) => seen[1] += 1,
                Some(Action::Cancel) => seen[2] += 1,
                None => seen[3] += 1,
            }
            // The same id always gets the same action.
            assert_eq!(action_for(&id, &all), action_for(&id, &all));
        }
        assert!(seen.iter().all(|n| *n > 50), "{seen:?}");
        let ship_only = Capabilities {
            orders_refund: false,
            orders_cancel: false,
            ..Capabilities::all()
        };
        for n in 0..100 {
            let id = ChannelOrderId::new(format!("{n}")).unwrap();
            assert!(matches!(
                action_for(&id, &ship_only),
                None | Some(Action::Ship)
            ));
        }
    }

    #[test]
    fn plan_round_trips_and_hides_the_key() {
        let plan = Plan {
            store: StoreLocation::Sqlite(PathBuf::from("run/chaos.db")),
            key_hex: "00ff".repeat(16),
            workers: 3,
            integrations: vec![PlanEntry {
                market: Market::Allegro,
                id: IntegrationId::new(),
                base_url: "http://127.0.0.1:1234".into(),
            }],
        };
        let dir = std::env::temp_dir().join(format!("chaos-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plan");
        plan.write(&path).unwrap();
        assert_eq!(Plan::read(&path).unwrap(), plan);
        assert!(!format!("{plan:?}").contains("00ff00ff"));
        let on_postgres = Plan {
            store: StoreLocation::Postgres("postgres://chaos:pw-9f2e@db.example/x".into()),
            ..plan.clone()
        };
        on_postgres.write(&path).unwrap();
        assert_eq!(Plan::read(&path).unwrap(), on_postgres);
        assert!(!format!("{on_postgres:?}").contains("pw-9f2e"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn host_keys_are_the_same_in_every_integration_and_keyings_spread() {
        assert_eq!(host_key(Action::Ship, 7).as_str(), "chaos-ship-7");
        assert_ne!(host_key(Action::Ship, 7), host_key(Action::Refund, 7));
        assert_ne!(host_key(Action::Ship, 7), host_key(Action::Ship, 8));
        let mut host = [0usize; 3];
        let mut derived = [0usize; 3];
        for n in 0..800 {
            let id = ChannelOrderId::new(format!("{n}")).unwrap();
            assert_eq!(keying_for(&id), keying_for(&id));
            let Some(action) = action_for(&id, &Capabilities::all()) else {
                continue;
            };
            let i = action as usize;
            match keying_for(&id) {
                Keying::Host => host[i] += 1,
                Keying::Derived => derived[i] += 1,
            }
        }
        assert!(
            host.iter().chain(&derived).all(|n| *n > 20),
            "{host:?} {derived:?}"
        );
    }
}
