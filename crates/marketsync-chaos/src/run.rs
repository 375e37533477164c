//! The parent: hosts the four sandboxes, sets up the integrations in the run's store (a SQLite
//! file, or a fresh schema of a PostgreSQL database), then, for the run's duration, keeps one or
//! several worker processes running at once (this binary with `worker`) and SIGKILLs each at
//! its own seeded random moments, while the sandboxes inject faults and a background task acts
//! outside (new orders, orders edited, listings deleted, tokens revoked and repaired). Then it
//! runs one drain worker with the faults off and checks the store against the sandboxes' own
//! records.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use marketsync_core::lifecycle::Event;
use marketsync_core::mapping::{ShippingMapping, ShippingService};
use marketsync_core::store::OutboxState;
use marketsync_core::{
    Actor, Capabilities, ChannelListingId, ChannelOrderId, CredentialKey, Engine, Feature, Health,
    IntegrationId, IntegrationSettings, Label, LedgerFilter, MemoryCatalog, MemoryNotifier, Money,
    OrderOutcome, OrderState, Sku, Store, SystemClock,
};
use marketsync_sandbox::allegro::AllegroSandbox;
use marketsync_sandbox::{
    AllegroHarness, ChannelAdvisorHarness, Counters, DetRng, Fault, Knobs, ReverbHarness,
    TraderaHarness,
};
use marketsync_testkit::channel::{ChannelHarness, OrderSpec, Received, SHIPPING_TEXT};

use crate::{
    FINAL_QUANTITY, LABEL, LISTINGS, Market, PRICE, Plan, PlanEntry, RunStore, StoreLocation,
    UNKNOWN_SKU, action_for, expected_received, hex, sku,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Tradera's daily call budget in a chaos run, for the sandbox and the adapter alike: Tradera's
/// default of 100 calls a day would stop a run within seconds (a real account asks Tradera for
/// more), so the run is given a budget it never reaches.
pub const TRADERA_DAILY_BUDGET: u32 = 1_000_000;

/// How long the Allegro sandbox's access tokens live in a chaos run. Seconds, not Allegro's
/// 12 hours: every renewal rotates the single-use refresh token, so the run renews all the time,
/// from every worker at once, and the sandbox refuses and counts any refresh token used twice.
pub const ALLEGRO_ACCESS_TTL: Duration = Duration::from_secs(10);

/// How long before its access token expires the worker's Allegro adapter renews it.
pub const ALLEGRO_REFRESH_MARGIN: Duration = Duration::from_secs(3);

/// Share of requests answered with the marketplace's own 5xx.
pub const SERVER_ERROR_RATIO: f64 = 0.20;
/// Share of requests answered with the marketplace's own 429.
pub const THROTTLE_RATIO: f64 = 0.05;
/// Share of requests whose connection is closed without an answer.
pub const DROP_RATIO: f64 = 0.02;

/// Panics in this process (the sandboxes' tasks included), counted by the hook [`run`] installs.
static PARENT_PANICS: AtomicU64 = AtomicU64::new(0);

/// How a chaos run is driven.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Seed of every random choice (kill moments, outside actions, fault draws).
    pub seed: u64,
    /// How long workers are killed and restarted.
    pub duration: Duration,
    /// Where the plan, the worker log and (by default) the SQLite database go (created; reused
    /// files are replaced).
    pub dir: PathBuf,
    /// The store: `None` for the SQLite file `chaos.db` in [`dir`](Self::dir); a PostgreSQL
    /// URL gets a new schema for each run.
    pub store: Option<StoreLocation>,
    /// How many workers run at the same time in the kill phase, each killed and restarted on
    /// its own (the drain is one worker).
    pub workers: usize,
    /// The worker executable (this binary).
    pub worker_exe: PathBuf,
    /// A new order at each marketplace about this often.
    pub order_every: Duration,
    /// A worker is killed between this long after its start…
    pub kill_min: Duration,
    /// …and this long.
    pub kill_max: Duration,
    /// Fewer kills than this fails the run.
    pub min_kills: u32,
}

impl RunOptions {
    /// Defaults for a seed and a duration: the SQLite file in `dir`, one worker at a time, an
    /// order per marketplace every 700 ms, kills 100 ms to 2.5 s after a worker starts, at least
    /// 50 kills over all workers (the kill phase runs on past the duration, up to twice as long,
    /// until there were that many).
    pub fn new(seed: u64, duration: Duration, dir: PathBuf, worker_exe: PathBuf) -> Self {
        Self {
            seed,
            duration,
            dir,
            store: None,
            workers: 1,
            worker_exe,
            order_every: Duration::from_millis(700),
            kill_min: Duration::from_millis(100),
            kill_max: Duration::from_millis(2500),
            min_kills: 50,
        }
    }
}

// ----- the sandboxes -----

enum Harness {
    ChannelAdvisor(ChannelAdvisorHarness),
    Reverb(ReverbHarness),
    Allegro(AllegroHarness),
    Tradera(TraderaHarness),
}

/// Runs `$body` with `$s` bound to the running sandbox of any marketplace.
macro_rules! with_sandbox {
    ($h:expr, $s:ident => $body:expr) => {
        match $h {
            Harness::ChannelAdvisor(h) => {
                let $s = h.sandbox();
                $body
            }
            Harness::Reverb(h) => {
                let $s = h.sandbox();
                $body
            }
            Harness::Allegro(h) => {
                let $s = h.sandbox();
                $body
            }
            Harness::Tradera(h) => {
                let $s = h.sandbox();
                $body
            }
        }
    };
}

impl Harness {
    async fn start(market: Market) -> std::io::Result<Self> {
        Ok(match market {
            Market::ChannelAdvisor => {
                Harness::ChannelAdvisor(ChannelAdvisorHarness::start().await?)
            }
            Market::Reverb => Harness::Reverb(ReverbHarness::start().await?),
            Market::Allegro => Harness::Allegro(
                AllegroHarness::builder()
                    .sandbox(
                        AllegroSandbox::builder()
                            .offers(0)
                            .orders(0)
                            .command_polls(0)
                            .access_ttl(TimeDelta::from_std(ALLEGRO_ACCESS_TTL).unwrap_or_default())
                            // A refresh token used twice is refused at once (no grace) and
                            // counted.
                            .refuse_reused_refresh_tokens(),
                    )
                    .start()
                    .await?,
            ),
            Market::Tradera => Harness::Tradera(
                TraderaHarness::builder()
                    .daily_budget(TRADERA_DAILY_BUDGET)
                    .start()
                    .await?,
            ),
        })
    }

    fn dynh(&self) -> &dyn ChannelHarness {
        match self {
            Harness::ChannelAdvisor(h) => h,
            Harness::Reverb(h) => h,
            Harness::Allegro(h) => h,
            Harness::Tradera(h) => h,
        }
    }

    fn base_url(&self) -> String {
        with_sandbox!(self, s => s.base_url())
    }

    fn counters(&self) -> Counters {
        with_sandbox!(self, s => s.counters())
    }

    fn set_knobs(&self, knobs: Knobs) {
        with_sandbox!(self, s => s.set_knobs(knobs))
    }

    fn inject(&self, fault: Fault) {
        with_sandbox!(self, s => s.inject(fault))
    }

    fn clear_faults(&self) {
        with_sandbox!(self, s => s.clear_faults())
    }

    /// Refresh tokens used again after their first use (Allegro's rotate; the others have none
    /// that rotate, 0).
    fn refresh_token_reuses(&self) -> u64 {
        match self {
            Harness::Allegro(h) => h.sandbox().refresh_token_reuses(),
            _ => 0,
        }
    }

    /// Requests to the token endpoint where refresh tokens rotate (Allegro: renewals tried,
    /// faults included; 0 for the others).
    fn token_calls(&self) -> u64 {
        match self {
            Harness::Allegro(h) => h.sandbox().counters().get("oauth.token"),
            _ => 0,
        }
    }

    /// Whether each renewal replaces the refresh token (then the seller's only repair is a new
    /// login: the last one's refresh token was spent by a worker since).
    fn rotates_refresh_tokens(&self) -> bool {
        matches!(self, Harness::Allegro(_))
    }

    /// Edits an order outside the API, as the buyer or the marketplace would: its update time
    /// moves to now (and on Allegro it gets a new revision and a `BUYER_MODIFIED` event), so
    /// the next download sees it again.
    fn edit_order_outside(&self, order: &ChannelOrderId) -> bool {
        let id = order.as_str();
        match self {
            Harness::ChannelAdvisor(h) => {
                id.parse().is_ok_and(|n| h.sandbox().edit_order(n, |_| {}))
            }
            Harness::Reverb(h) => h.sandbox().set_order_updated_at(id, Utc::now()),
            Harness::Allegro(h) => h.sandbox().buyer_modifies_order(id).is_some(),
            Harness::Tradera(h) => id
                .parse()
                .is_ok_and(|n| h.sandbox().set_order_last_updated(n, Utc::now())),
        }
    }
}

// ----- the world the background task acts on -----

/// What the parent did to one marketplace.
#[derive(Clone, Debug, Default)]
struct Acts {
    orders: Vec<(ChannelOrderId, bool)>,
    listings: Vec<(Sku, ChannelListingId, bool)>,
    revocations: u32,
    repairs: u32,
    repeat_repairs: u32,
    failed_repairs: u32,
    deletions: u32,
    edits: u32,
    throttles: u64,
    /// Revoked, not repaired yet.
    revoked: bool,
    /// A repair with the current credentials is under way.
    repairing: bool,
}

struct World {
    markets: Vec<(Market, Harness, IntegrationId)>,
    engine: Engine,
    acts: Mutex<Vec<Acts>>,
    stop: AtomicBool,
}

impl World {
    fn acts(&self) -> std::sync::MutexGuard<'_, Vec<Acts>> {
        self.acts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn seller() -> Actor {
    Actor::User("chaos".into())
}

fn money(market: Market) -> Money {
    Money::parse(PRICE, market.currency().code()).expect("a valid price")
}

/// The seller repairs a connection: enters credentials (fresh ones from the marketplace, or
/// the current ones again) and verifies them, retrying through injected faults.
async fn repair(world: &World, k: usize, fresh: bool) -> bool {
    let (market, h, id) = &world.markets[k];
    let credentials = if fresh {
        h.dynh().new_credentials().await
    } else {
        h.dynh().credentials()
    };
    for _ in 0..30 {
        match world
            .engine
            .enter_credentials(*id, &credentials, seller())
            .await
        {
            Ok(_) => match world.engine.verify(*id, seller()).await {
                Ok(_) => return true,
                Err(e) => eprintln!("[parent] {market} verify after repair: {e}"),
            },
            Err(e) => eprintln!("[parent] {market} enter credentials: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

fn is_broken(health: &Health) -> bool {
    matches!(health, Health::Broken { .. })
}

/// The outside world while the workers run: new orders, faults, edits, deletions, revocations
/// and repairs, at seeded moments.
async fn outside(world: Arc<World>, seed: u64, order_every: Duration, duration: Duration) {
    let mut rng = DetRng::new(seed ^ 0x005E_ED0F_C4A0);
    let start = Instant::now();
    let n = world.markets.len();
    let secs = |rng: &mut DetRng, lo: f64, hi: f64| {
        Duration::from_secs_f64(lo + rng.unit() * (hi - lo).max(0.0))
    };
    let third = duration.as_secs_f64() / 3.0;
    let mut next_order = vec![start; n];
    let mut next_revoke: Vec<Instant> = (0..n)
        .map(|_| start + secs(&mut rng, 2.0, third.max(3.0)))
        .collect();
    let mut repair_at: Vec<Option<Instant>> = vec![None; n];
    let mut next_delete: Vec<Instant> = (0..n)
        .map(|_| start + secs(&mut rng, 2.0, (third * 1.5).max(3.0)))
        .collect();
    let mut last_monitor = start;
    let mut serial = 0u64;
    let mut repairs: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    while !world.stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = Instant::now();
        for k in 0..n {
            let (market, h, _) = &world.markets[k];
            let market = *market;
            // The 429s: one queued for every twentieth request received.
            let total = h.counters().total;
            {
                let mut acts = world.acts();
                while (acts[k].throttles as f64) < total as f64 * THROTTLE_RATIO {
                    h.inject(Fault::Throttled);
                    acts[k].throttles += 1;
                }
            }
            if now >= next_order[k] {
                serial += 1;
                let importable = rng.below(10) != 0;
                let order_sku = if importable {
                    sku(market, rng.below(LISTINGS as u64) as usize)
                } else {
                    Sku::new(UNKNOWN_SKU).expect("a valid SKU")
                };
                let spec = OrderSpec {
                    name: format!("chaos-{market}-{serial}"),
                    created_at: Utc::now(),
                    state: OrderState::AwaitingShipment,
                    skus: vec![order_sku],
                    shipping: SHIPPING_TEXT.into(),
                    unit_price: money(market),
                };
                let id = h.dynh().add_order(&spec).await;
                world.acts()[k].orders.push((id, importable));
                next_order[k] = now + secs(&mut rng, 0.5, 1.5).mul_f64(order_every.as_secs_f64());
            }
            // An order edited outside, about every four seconds per marketplace.
            if rng.chance(0.025) {
                let picked = {
                    let acts = world.acts();
                    let orders = &acts[k].orders;
                    (!orders.is_empty())
                        .then(|| orders[rng.below(orders.len() as u64) as usize].0.clone())
                };
                if let Some(order) = picked
                    && h.edit_order_outside(&order)
                {
                    world.acts()[k].edits += 1;
                }
            }
            // A listing deleted outside, while more than half remain.
            if now >= next_delete[k] {
                next_delete[k] = now + secs(&mut rng, 15.0, 45.0);
                let picked = {
                    let acts = world.acts();
                    let live: Vec<_> = acts[k].listings.iter().filter(|l| !l.2).collect();
                    (live.len() > LISTINGS / 2)
                        .then(|| live[rng.below(live.len() as u64) as usize].1.clone())
                };
                if let Some(listing) = picked {
                    h.dynh().delete_listing_outside(&listing).await;
                    let mut acts = world.acts();
                    acts[k].deletions += 1;
                    if let Some(l) = acts[k].listings.iter_mut().find(|l| l.1 == listing) {
                        l.2 = true;
                    }
                }
            }
            // A token revoked at the marketplace, repaired by the seller a few seconds later (in
            // its own task: orders keep coming meanwhile).
            let busy = {
                let acts = world.acts();
                acts[k].revoked || acts[k].repairing
            };
            if repair_at[k].is_none() && !busy && now >= next_revoke[k] {
                h.dynh().revoke_credentials().await;
                {
                    let mut acts = world.acts();
                    acts[k].revocations += 1;
                    acts[k].revoked = true;
                }
                eprintln!("[parent] {market}: credentials revoked");
                repair_at[k] = Some(now + secs(&mut rng, 1.0, 4.0));
            }
            if let Some(at) = repair_at[k]
                && now >= at
            {
                repair_at[k] = None;
                next_revoke[k] = now + secs(&mut rng, 10.0, 30.0);
                let w = world.clone();
                repairs.push(tokio::spawn(async move {
                    let ok = repair(&w, k, true).await;
                    let mut acts = w.acts();
                    acts[k].revoked = false;
                    if ok {
                        acts[k].repairs += 1;
                    } else {
                        acts[k].failed_repairs += 1;
                    }
                }));
            }
        }
        // The seller notices a connection broken by a worker that still held the revoked
        // credentials when the repair landed, and enters the current ones again.
        if now.duration_since(last_monitor) >= Duration::from_secs(1) {
            last_monitor = now;
            for k in 0..n {
                let busy = {
                    let acts = world.acts();
                    acts[k].revoked || acts[k].repairing
                };
                if busy {
                    continue;
                }
                let broken = match world.engine.integration(world.markets[k].2).await {
                    Ok(rec) => is_broken(rec.lifecycle.health()),
                    Err(_) => false,
                };
                if broken {
                    world.acts()[k].repairing = true;
                    let w = world.clone();
                    // Where refresh tokens rotate, the credentials of the last login are spent
                    // (a worker renewed them since): the seller logs in again.
                    let fresh = world.markets[k].1.rotates_refresh_tokens();
                    repairs.push(tokio::spawn(async move {
                        let ok = repair(&w, k, fresh).await;
                        let mut acts = w.acts();
                        acts[k].repairing = false;
                        if ok {
                            acts[k].repeat_repairs += 1;
                        } else {
                            acts[k].failed_repairs += 1;
                        }
                    }));
                }
            }
        }
        repairs.retain(|t| !t.is_finished());
    }
    for task in repairs {
        let _ = task.await;
    }
}

// ----- setup -----

async fn setup(
    world_markets: &[(Market, Harness, IntegrationId)],
    engine: &Engine,
) -> Result<(), BoxError> {
    let label = Label::new(LABEL)?;
    for (market, h, id) in world_markets {
        let settings = IntegrationSettings {
            // Every order the run creates is imported whatever the drain run's clock says.
            created_within_days: None,
            ..IntegrationSettings::new(h.dynh().channel().kind(), market.currency())
        };
        engine.set_settings(*id, settings, seller()).await?;
        engine
            .enter_credentials(*id, &h.dynh().credentials(), seller())
            .await?;
        engine.verify(*id, seller()).await?;
        engine
            .apply(
                *id,
                seller(),
                Event::SetLabel {
                    label: Some(label.clone()),
                    support_override: None,
                },
            )
            .await?;
        engine.apply(*id, seller(), Event::Activate).await?;
        for feature in [Feature::Orders, Feature::Listings, Feature::Fulfillments] {
            engine
                .apply(
                    *id,
                    seller(),
                    Event::SetFeature {
                        feature,
                        on: true,
                        support_override: None,
                    },
                )
                .await?;
        }
        let caps = h.dynh().channel().capabilities();
        if caps.shipping_mappings_required {
            let mapping = ShippingMapping::new(
                SHIPPING_TEXT,
                ShippingService {
                    name: format!("svc {SHIPPING_TEXT}"),
                    carrier: None,
                    class: None,
                },
                Utc::now(),
            )?;
            engine
                .edit_mappings(*id, seller(), |set| {
                    set.insert_shipping(mapping.clone());
                })
                .await?;
        }
    }
    Ok(())
}

// ----- the figures -----

/// What one marketplace went through, and what the final check found.
#[derive(Clone, Debug, Default)]
pub struct MarketReport {
    /// The marketplace.
    pub market: Option<Market>,
    /// Orders created at the sandbox.
    pub orders: usize,
    /// Of which importable (a catalog SKU).
    pub importable: usize,
    /// Orders imported (ledger `Imported`).
    pub imported: usize,
    /// Orders recorded as not imported.
    pub not_imported: usize,
    /// Orders the sandbox has that the database does not (or that should have imported and did
    /// not), with why.
    pub lost: Vec<String>,
    /// Orders imported more than once (import log), or imported though they must not be.
    pub duplicates: Vec<String>,
    /// Shipments, refunds and cancellations the sandbox should have received.
    pub actions_expected: [usize; 3],
    /// What it received.
    pub actions_received: [usize; 3],
    /// Orders whose received actions differ from the expected ones.
    pub action_mismatches: Vec<String>,
    /// Repeated calls that only set a flag again (Tradera's "mark shipped"): no effect, not
    /// counted as duplicates, reported.
    pub flag_resends: usize,
    /// Outbox entries that failed for good, or are still pending.
    pub outbox_not_sent: Vec<String>,
    /// Outbox entries recorded with a host key (numbered per integration: the same keys in
    /// every integration).
    pub host_keyed: usize,
    /// Outbox entries recorded without a key (the default key derived from the request), each
    /// submitted at least twice.
    pub keyless: usize,
    /// Listings (not deleted outside) whose quantity is not the drain run's.
    pub listings_out_of_step: Vec<String>,
    /// The sandbox's counters (requests, injected 5xx, drops, 429s).
    pub counters: Counters,
    /// 429s queued by the run (the rest of `counters.throttled` came from the rate limits).
    pub throttles_injected: u64,
    /// Orders edited outside.
    pub edits: u32,
    /// Listings deleted outside.
    pub deletions: u32,
    /// Credentials revoked.
    pub revocations: u32,
    /// Repairs with fresh credentials.
    pub repairs: u32,
    /// Repairs with the same credentials again (a worker broke the connection with the revoked
    /// ones after the repair).
    pub repeat_repairs: u32,
    /// Repairs that did not succeed.
    pub failed_repairs: u32,
    /// Refresh tokens used again after their first use (the sandbox counts them and refuses
    /// them; only Allegro's rotate): a renewal made twice.
    pub token_reuses: u64,
    /// Requests to the token endpoint where refresh tokens rotate (renewals tried).
    pub token_calls: u64,
}

impl MarketReport {
    fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.duplicates.is_empty()
            && self.action_mismatches.is_empty()
            && self.outbox_not_sent.is_empty()
            && self.listings_out_of_step.is_empty()
            && self.failed_repairs == 0
            && self.token_reuses == 0
    }
}

/// The result of a run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// The store (any password hidden).
    pub store: String,
    /// Workers running at the same time in the kill phase.
    pub workers_at_once: usize,
    /// Wall time of the kill phase.
    pub duration: Duration,
    /// Wall time of the whole run.
    pub total: Duration,
    /// Workers started in the kill phase.
    pub workers: u32,
    /// Workers killed with SIGKILL (over all the workers running at once, those still running
    /// when the kill phase ends included).
    pub kills: u32,
    /// Kill-phase workers that got to work (store open, adapters attached); the other kills
    /// landed in start-up.
    pub workers_up: u64,
    /// Passes over one integration finished, by every worker (the drain's included).
    pub passes: u64,
    /// Workers that exited by themselves in the kill phase (they never should), with status.
    pub early_exits: Vec<String>,
    /// The drain run ended quiet.
    pub drained: bool,
    /// Panics: in workers (their log) and in this process.
    pub panics: u64,
    /// Secrets found in the worker log (every error the workers met, as displayed).
    pub secrets_in_log: Vec<String>,
    /// The fewest kills the run had to reach.
    pub min_kills: u32,
    /// Per marketplace.
    pub markets: Vec<MarketReport>,
    /// Host keys used by more than one integration (each integration got its own entry).
    pub shared_keys: usize,
    /// Host keys reused for another request that the engine accepted instead of refusing
    /// (worker log).
    pub key_reuse_undetected: u64,
}

impl Summary {
    /// Every check passed.
    pub fn ok(&self) -> bool {
        self.kills >= self.min_kills
            && self.early_exits.is_empty()
            && self.drained
            && self.panics == 0
            && self.secrets_in_log.is_empty()
            && self.markets.iter().all(MarketReport::ok)
            // The run exercised both keyings, and shared keys across integrations.
            && self.shared_keys > 0
            && self.markets.iter().map(|m| m.keyless).sum::<usize>() > 0
            && self.key_reuse_undetected == 0
    }

    /// Refresh tokens used twice, over every marketplace.
    pub fn token_reuses(&self) -> u64 {
        self.markets.iter().map(|m| m.token_reuses).sum()
    }

    fn lost(&self) -> usize {
        self.markets.iter().map(|m| m.lost.len()).sum()
    }

    fn duplicates(&self) -> usize {
        self.markets
            .iter()
            .map(|m| m.duplicates.len() + m.action_mismatches.len())
            .sum()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chaos run: seed {} | {} | {} worker(s) at once | kill phase {:.0} s | total {:.0} s | workers started {} ({} got to work) | SIGKILLs {} | passes {} | early exits {} | drain {}",
            self.seed,
            self.store,
            self.workers_at_once,
            self.duration.as_secs_f64(),
            self.total.as_secs_f64(),
            self.workers,
            self.workers_up,
            self.kills,
            self.passes,
            self.early_exits.len(),
            if self.drained { "quiet" } else { "NOT QUIET" }
        )?;
        writeln!(
            f,
            "{:<8} {:>6} {:>8} {:>8} {:>6} {:>8} {:>6} {:>6} {:>6} {:>5} {:>5} {:>7} {:>16} {:>16}",
            "market",
            "orders",
            "imported",
            "not-imp",
            "reqs",
            "5xx",
            "drops",
            "429s",
            "edits",
            "dels",
            "revk",
            "repairs",
            "ship/ref/canc exp",
            "ship/ref/canc got"
        )?;
        for m in &self.markets {
            writeln!(
                f,
                "{:<8} {:>6} {:>8} {:>8} {:>6} {:>8} {:>6} {:>6} {:>6} {:>5} {:>5} {:>7} {:>16} {:>16}",
                m.market.map(|m| m.code()).unwrap_or("?"),
                m.orders,
                m.imported,
                m.not_imported,
                m.counters.total,
                m.counters.server_errors,
                m.counters.dropped,
                m.counters.throttled,
                m.edits,
                m.deletions,
                m.revocations,
                format!("{}+{}", m.repairs, m.repeat_repairs),
                format!(
                    "{}/{}/{}",
                    m.actions_expected[0], m.actions_expected[1], m.actions_expected[2]
                ),
                format!(
                    "{}/{}/{}",
                    m.actions_received[0], m.actions_received[1], m.actions_received[2]
                ),
            )?;
            let problems = [
                ("lost", &m.lost),
                ("duplicated", &m.duplicates),
                ("actions", &m.action_mismatches),
                ("outbox", &m.outbox_not_sent),
                ("listings", &m.listings_out_of_step),
            ];
            for (what, list) in problems {
                for p in list.iter().take(10) {
                    writeln!(f, "  {what}: {p}")?;
                }
                if list.len() > 10 {
                    writeln!(f, "  {what}: … {} more", list.len() - 10)?;
                }
            }
            if m.flag_resends > 0 {
                writeln!(
                    f,
                    "  mark-shipped flag set again (no effect, not a duplicate): {}",
                    m.flag_resends
                )?;
            }
            if m.failed_repairs > 0 {
                writeln!(f, "  repairs failed: {}", m.failed_repairs)?;
            }
            if m.token_calls > 0 || m.token_reuses > 0 {
                writeln!(
                    f,
                    "  token endpoint calls (rotating refresh tokens): {}, refresh tokens used twice: {}",
                    m.token_calls, m.token_reuses
                )?;
            }
        }
        for e in &self.early_exits {
            writeln!(f, "  worker exited by itself: {e}")?;
        }
        for e in &self.secrets_in_log {
            writeln!(f, "  secret in the worker log: {e}")?;
        }
        writeln!(
            f,
            "outbox keys: {} entries with host keys, {} host keys used by more than one integration, {} entries without a key (each submitted at least twice), {} reused keys accepted for another request",
            self.markets.iter().map(|m| m.host_keyed).sum::<usize>(),
            self.shared_keys,
            self.markets.iter().map(|m| m.keyless).sum::<usize>(),
            self.key_reuse_undetected
        )?;
        let faults: u64 = self
            .markets
            .iter()
            .map(|m| m.counters.server_errors + m.counters.dropped + m.counters.throttled)
            .sum();
        write!(
            f,
            "RESULT {} seed={} workers={} kills={} orders={} faults={} shared_keys={} keyless={} lost={} duplicates={} token_calls={} token_reuses={} panics={}",
            if self.ok() { "ok" } else { "FAILED" },
            self.seed,
            self.workers_at_once,
            self.kills,
            self.markets.iter().map(|m| m.orders).sum::<usize>(),
            faults,
            self.shared_keys,
            self.markets.iter().map(|m| m.keyless).sum::<usize>(),
            self.lost(),
            self.duplicates(),
            self.markets.iter().map(|m| m.token_calls).sum::<u64>(),
            self.token_reuses(),
            self.panics
        )
    }
}

async fn check(
    world: &World,
    store: &RunStore,
    caps: &[Capabilities],
) -> Result<Vec<MarketReport>, BoxError> {
    let acts = world.acts().clone();
    let mut reports = Vec::new();
    for (k, (market, h, id)) in world.markets.iter().enumerate() {
        let a = &acts[k];
        let mut r = MarketReport {
            market: Some(*market),
            orders: a.orders.len(),
            importable: a.orders.iter().filter(|o| o.1).count(),
            counters: h.counters(),
            throttles_injected: a.throttles,
            edits: a.edits,
            deletions: a.deletions,
            revocations: a.revocations,
            repairs: a.repairs,
            repeat_repairs: a.repeat_repairs,
            failed_repairs: a.failed_repairs,
            token_reuses: h.refresh_token_reuses(),
            token_calls: h.token_calls(),
            ..Default::default()
        };
        let ledger: BTreeMap<ChannelOrderId, OrderOutcome> = store
            .dyn_store()
            .ledger(*id, LedgerFilter::All)
            .await?
            .into_iter()
            .map(|e| (e.channel_order_id, e.outcome))
            .collect();
        let imports = store.import_counts(*id).await?;
        for (order, n) in &imports {
            if *n > 1 {
                r.duplicates.push(format!("{order} imported {n} times"));
            }
        }
        for (order, importable) in &a.orders {
            let outcome = ledger.get(order);
            match (outcome, importable) {
                (None, _) => r.lost.push(format!("{order}: never recorded")),
                (Some(OrderOutcome::Imported), true) => r.imported += 1,
                (Some(OrderOutcome::NotImported { reason }), true) => {
                    r.not_imported += 1;
                    r.lost
                        .push(format!("{order}: not imported ({})", reason.remedy()));
                }
                (Some(OrderOutcome::Imported), false) => {
                    r.imported += 1;
                    r.duplicates
                        .push(format!("{order}: imported with an unknown SKU"));
                }
                (Some(OrderOutcome::NotImported { .. }), false) => r.not_imported += 1,
            }
            let imported = matches!(outcome, Some(OrderOutcome::Imported));
            if imported && imports.get(order).copied().unwrap_or(0) != 1 {
                r.lost.push(format!(
                    "{order}: imported but {} rows in the import log",
                    imports.get(order).copied().unwrap_or(0)
                ));
            }
            let action = if imported {
                action_for(order, &caps[k])
            } else {
                None
            };
            let expected = expected_received(*market, action);
            let mut got = [0usize; 3];
            for (i, what) in [
                Received::Shipments,
                Received::Refunds,
                Received::Cancellations,
            ]
            .into_iter()
            .enumerate()
            {
                got[i] = h.dynh().received(order, what).await;
                // Tradera's "mark shipped" sets a flag and carries no key, and its orders do
                // not say whether they are marked (only seller transactions, by date range), so
                // a resend after a kill between Tradera's answer and the outbox record cannot be
                // avoided cheaply. Setting the flag again changes nothing: the check counts the
                // effect (marked once) and reports the repeated calls apart.
                if *market == Market::Tradera && what == Received::Shipments && got[i] > 1 {
                    r.flag_resends += got[i] - 1;
                    got[i] = 1;
                }
                r.actions_expected[i] += expected[i];
                r.actions_received[i] += got[i];
            }
            if got != expected {
                r.action_mismatches.push(format!(
                    "{order} ({action:?}): ship/refund/cancel expected {expected:?}, received {got:?}"
                ));
            }
        }
        let ours: std::collections::BTreeSet<&ChannelOrderId> =
            a.orders.iter().map(|o| &o.0).collect();
        for order in ledger.keys().filter(|o| !ours.contains(o)) {
            r.duplicates
                .push(format!("{order}: in the ledger but never created"));
        }
        let outbox = store.dyn_store().outbox(*id).await?;
        // One entry per order and action, however often and with whichever key it was
        // submitted.
        let mut per_action: BTreeMap<(ChannelOrderId, &'static str), usize> = BTreeMap::new();
        for e in &outbox {
            *per_action
                .entry((e.item.order_id.clone(), e.item.action.name()))
                .or_default() += 1;
            if e.item.idempotency_key.is_derived() {
                r.keyless += 1;
            } else {
                r.host_keyed += 1;
            }
        }
        for ((order, action), n) in &per_action {
            if *n > 1 {
                r.duplicates
                    .push(format!("{order}: {n} outbox entries for its {action}"));
            }
        }
        for e in &outbox {
            match &e.state {
                OutboxState::Sent { .. } => {}
                OutboxState::Failed { error, .. } => r.outbox_not_sent.push(format!(
                    "{} {}: failed: {error}",
                    e.item.order_id,
                    e.item.action.name()
                )),
                OutboxState::Pending => r.outbox_not_sent.push(format!(
                    "{} {}: still pending ({} attempts, last error {:?})",
                    e.item.order_id,
                    e.item.action.name(),
                    e.attempts,
                    e.last_error
                )),
            }
        }
        for (sku, listing, deleted) in &a.listings {
            if *deleted {
                continue;
            }
            let seen = h.dynh().listing(listing).await;
            let quantity = seen.as_ref().and_then(|l| l.quantity);
            if quantity != Some(FINAL_QUANTITY) {
                r.listings_out_of_step.push(format!(
                    "{sku} ({listing}): quantity {quantity:?}, state {:?}",
                    seen.map(|l| l.state)
                ));
            }
        }
        reports.push(r);
    }
    Ok(reports)
}

/// Host keys found in the outbox of more than one integration.
async fn shared_keys(world: &World, store: &dyn Store) -> Result<usize, BoxError> {
    let mut integrations_by_key: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, id) in &world.markets {
        let keys: std::collections::BTreeSet<String> = store
            .outbox(*id)
            .await?
            .into_iter()
            .filter(|e| !e.item.idempotency_key.is_derived())
            .map(|e| e.item.idempotency_key.as_str().to_owned())
            .collect();
        for k in keys {
            *integrations_by_key.entry(k).or_default() += 1;
        }
    }
    Ok(integrations_by_key.values().filter(|n| **n > 1).count())
}

// ----- the run -----

/// Lines of the worker log containing `marker`.
fn count_lines(log: &Path, marker: &str) -> u64 {
    std::fs::read_to_string(log)
        .map(|t| t.lines().filter(|l| l.contains(marker)).count() as u64)
        .unwrap_or(0)
}

/// The secrets of the run found in a log: the sandboxes' application secrets and starting
/// tokens, the shapes of the tokens they issue, and the credential key.
fn secrets_in(log: &Path, key_hex: &str, db_password: Option<&str>) -> Vec<String> {
    use marketsync_sandbox::{allegro, channeladvisor, reverb, tradera};
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let needles = [
        (
            "ChannelAdvisor shared secret",
            channeladvisor::SHARED_SECRET,
        ),
        ("ChannelAdvisor refresh token", "sandbox-refresh-token"),
        ("ChannelAdvisor access token", "sbx-at-"),
        ("Reverb token", reverb::TOKEN),
        ("Reverb token", "sandbox-reverb-token-"),
        ("Allegro client secret", allegro::CLIENT_SECRET),
        ("Allegro refresh token", "sandbox-allegro-refresh-"),
        (
            "Allegro access token",
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0",
        ),
        ("Tradera app key", tradera::APP_KEY),
        ("Tradera user token", tradera::USER_TOKEN),
        ("credential key", key_hex),
    ];
    let password = db_password.map(|p| ("database password", p));
    needles
        .iter()
        .chain(password.iter())
        .filter(|(_, needle)| text.contains(needle))
        .map(|(what, _)| (*what).to_owned())
        .collect()
}

fn status_text(s: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => format!("{s}"),
    }
}

/// A worker of the kill phase and the moment it is to be killed.
struct Running {
    child: std::process::Child,
    kill_at: Instant,
}

impl Running {
    /// SIGKILLs the worker (a kill), or records how it exited by itself (it never should).
    fn stop(&mut self, summary: &mut Summary) -> std::io::Result<()> {
        match self.child.try_wait()? {
            Some(status) => summary.early_exits.push(status_text(status)),
            None => {
                self.child.kill()?;
                self.child.wait()?;
                summary.kills += 1;
            }
        }
        Ok(())
    }
}

/// Runs a chaos run and checks it. The summary says whether every check passed
/// ([`Summary::ok`]).
pub fn run(opts: &RunOptions) -> Result<Summary, BoxError> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PARENT_PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
    let started = Instant::now();
    std::fs::create_dir_all(&opts.dir)?;
    if opts.workers == 0 {
        return Err("a run needs at least one worker".into());
    }
    let location = opts
        .store
        .clone()
        .unwrap_or_else(|| StoreLocation::Sqlite(opts.dir.join("chaos.db")));
    let worker_log = opts.dir.join("worker.log");
    let plan_path = opts.dir.join("plan");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // The credential key: derived from the seed, never printed.
    let mut key_rng = DetRng::new(opts.seed ^ 0x00C0_FFEE);
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(8) {
        chunk.copy_from_slice(&key_rng.next_u64().to_le_bytes());
    }
    let key_hex = hex(&key);

    let (world, store, caps) = rt.block_on(async {
        // A fresh store: the file deleted first, or a new PostgreSQL schema.
        let (store, run_location) = RunStore::create(&location, opts.seed).await?;
        let engine = Engine::new(
            store.dyn_store(),
            Arc::new(MemoryCatalog::new()),
            Arc::new(MemoryNotifier::new()),
            Arc::new(SystemClock),
        )
        .with_credential_key(CredentialKey::from_hex("chaos", &key_hex)?);
        let mut markets = Vec::new();
        let mut acts = Vec::new();
        let mut caps = Vec::new();
        for market in Market::ALL {
            let h = Harness::start(market).await?;
            let channel = h.dynh().channel();
            caps.push(channel.capabilities());
            let kind = channel.kind();
            let id = engine
                .create_integration(
                    format!("chaos {market}"),
                    channel,
                    IntegrationSettings::new(kind, market.currency()),
                    seller(),
                )
                .await?;
            let mut a = Acts::default();
            for i in 0..LISTINGS {
                let listing = h
                    .dynh()
                    .add_listing(&sku(market, i), money(market), 3)
                    .await;
                a.listings.push((sku(market, i), listing, false));
            }
            acts.push(a);
            markets.push((market, h, id));
        }
        setup(&markets, &engine).await?;
        let plan = Plan {
            store: run_location,
            key_hex: key_hex.clone(),
            workers: opts.workers,
            integrations: markets
                .iter()
                .map(|(market, h, id)| PlanEntry {
                    market: *market,
                    id: *id,
                    base_url: h.base_url(),
                })
                .collect(),
        };
        plan.write(&plan_path)?;
        for (k, (_, h, _)) in markets.iter().enumerate() {
            h.set_knobs(Knobs {
                server_error_ratio: SERVER_ERROR_RATIO,
                drop_ratio: DROP_RATIO,
                fault_seed: opts.seed.wrapping_add(k as u64),
                ..Knobs::default()
            });
        }
        let world = Arc::new(World {
            markets,
            engine,
            acts: Mutex::new(acts),
            stop: AtomicBool::new(false),
        });
        Ok::<_, BoxError>((world, store, caps))
    })?;

    let outside_task = rt.spawn(outside(
        world.clone(),
        opts.seed,
        opts.order_every,
        opts.duration,
    ));

    // The kill phase: `workers` processes at once, each killed at its own seeded moment and
    // replaced at once. Every worker appends to the one log (each line in one write).
    let log_file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&worker_log)?;
    drop(log_file);
    let log_file = OpenOptions::new().append(true).open(&worker_log)?;
    let mut rng = DetRng::new(opts.seed ^ 0x0000_D1E5);
    let mut summary = Summary {
        seed: opts.seed,
        store: location.to_string(),
        workers_at_once: opts.workers,
        min_kills: opts.min_kills,
        ..Summary::default()
    };
    let kill_started = Instant::now();
    let span = opts.kill_max.saturating_sub(opts.kill_min).as_millis() as u64;
    let spawn = |summary: &mut Summary, rng: &mut DetRng| -> Result<Running, BoxError> {
        let child = Command::new(&opts.worker_exe)
            .arg("worker")
            .arg("--plan")
            .arg(&plan_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file.try_clone()?))
            .spawn()?;
        summary.workers += 1;
        if summary.workers.is_multiple_of(50) {
            eprintln!(
                "[parent] {:.0} s: {} workers, {} killed",
                kill_started.elapsed().as_secs_f64(),
                summary.workers,
                summary.kills
            );
        }
        // Half the kills land early (start-up, the first import), half anywhere later.
        let delay = if rng.chance(0.5) {
            opts.kill_min + Duration::from_millis(rng.below(span / 4 + 1))
        } else {
            opts.kill_min + Duration::from_millis(rng.below(span + 1))
        };
        Ok(Running {
            child,
            kill_at: Instant::now() + delay,
        })
    };
    let mut running = Vec::with_capacity(opts.workers);
    for _ in 0..opts.workers {
        running.push(spawn(&mut summary, &mut rng)?);
    }
    // Past the duration only while the kills are short of the minimum (at most twice as long).
    while kill_started.elapsed() < opts.duration
        || (summary.kills < opts.min_kills && kill_started.elapsed() < opts.duration * 2)
    {
        // The next worker due to be killed (the earliest moment; ties by slot).
        let (slot, kill_at) = running
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.kill_at))
            .min_by_key(|(i, at)| (*at, *i))
            .expect("at least one worker");
        std::thread::sleep(kill_at.saturating_duration_since(Instant::now()));
        running[slot].stop(&mut summary)?;
        running[slot] = spawn(&mut summary, &mut rng)?;
    }
    // The workers still running are killed too (SIGKILL at a moment none of them chose).
    for mut r in running {
        r.stop(&mut summary)?;
    }
    summary.duration = kill_started.elapsed();

    // The marketplaces recover: no more faults or outside actions, every connection repaired.
    world.stop.store(true, Ordering::SeqCst);
    rt.block_on(async {
        let _ = outside_task.await;
        for (k, (market, h, id)) in world.markets.iter().enumerate() {
            h.set_knobs(Knobs::default());
            h.clear_faults();
            let rec = world.engine.integration(*id).await?;
            let revoked = world.acts()[k].revoked;
            if revoked || !matches!(rec.lifecycle.health(), Health::Healthy) {
                // Revoked and not repaired yet, or broken again by a worker: fresh credentials
                // repair either.
                let ok = repair(&world, k, true).await;
                eprintln!("[parent] {market}: final repair ({ok})");
                let mut acts = world.acts();
                acts[k].revoked = false;
                if ok {
                    acts[k].repairs += 1;
                } else {
                    acts[k].failed_repairs += 1;
                }
            }
        }
        Ok::<_, BoxError>(())
    })?;

    // The drain run.
    eprintln!(
        "[parent] {:.0} s: kill phase over, connections repaired; draining",
        started.elapsed().as_secs_f64()
    );
    let drain = Command::new(&opts.worker_exe)
        .arg("worker")
        .arg("--plan")
        .arg(&plan_path)
        .arg("--drain")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file.try_clone()?))
        .status()?;
    summary.drained = drain.success();
    if !summary.drained {
        eprintln!("[parent] drain run: {}", status_text(drain));
    }

    eprintln!(
        "[parent] {:.0} s: drained; checking",
        started.elapsed().as_secs_f64()
    );
    summary.markets = rt.block_on(check(&world, &store, &caps))?;
    summary.shared_keys = rt.block_on(shared_keys(&world, store.dyn_store().as_ref()))?;
    summary.key_reuse_undetected = count_lines(&worker_log, crate::worker::KEY_REUSE_UNDETECTED);
    summary.panics = count_lines(&worker_log, "panicked at") + PARENT_PANICS.load(Ordering::SeqCst);
    // The drain worker's lines are in the log too: one `up`, its passes.
    summary.workers_up = count_lines(&worker_log, crate::worker::UP).saturating_sub(1);
    summary.passes = count_lines(&worker_log, crate::worker::PASS);
    summary.secrets_in_log = secrets_in(&worker_log, &key_hex, location.password().as_deref());
    summary.total = started.elapsed();
    rt.block_on(store.close());
    Ok(summary)
}
