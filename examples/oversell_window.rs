//! The oversell window (issue 21, BENCHMARKS.md "Oversell window"): how long after an order
//! becomes visible at one marketplace the other marketplaces show the lower quantity, with the
//! oversell guard, against the scheduled-sync baseline.
//!
//! ```text
//! cargo run --release --example oversell_window
//! cargo run --release --example oversell_window -- --orders 1000 --skus 100 --rate 10 --import-interval-ms 2000
//! ```
//!
//! Options: `--orders N` (1000), `--skus N` (100), `--rate N` (orders a second, 10),
//! `--import-interval-ms N` (the source integration's order import frequency, 2000),
//! `--pass-ms N` (the scheduler's pass interval, 50), `--seed N` (1).
//!
//! **Set-up.** Channel A is Reverb: buyers' orders appear in its sandbox (which lowers its own
//! listing, as Reverb does). B, C, D are ChannelAdvisor, Allegro and Tradera, each listing the
//! same SKUs, linked and synced. One engine on a SQLite file, driven by the [`Scheduler`] (a
//! pass every `--pass-ms`); A's orders are imported every `--import-interval-ms` (its
//! configured frequency); B, C and D import nothing and sync listings at their default
//! frequencies. The catalogue is priced in whole SEK, which the three destinations take;
//! Reverb's listings are not synced in this run (Reverb takes only its shop's currency).
//!
//! **Limits.** Every marketplace's real rate limit applies, scaled as in `examples/bench.rs`: a
//! destination's window is shortened by its scale factor (ChannelAdvisor ×10, Allegro ×10,
//! Tradera ×8,640 — 100 calls a day become 100 calls in 10 s) for the adapter's limiter and the
//! sandbox (on a clock that runs that much faster) alike. Reverb, the source, runs unscaled (its
//! 4 requests a second).
//!
//! **Measured.** For each order, from the moment the sandbox created it (the order is visible
//! at A) to the moment each destination's sandbox holds a quantity at or below the catalogue's
//! quantity after that order (a watcher reads the three sandboxes' state every 2 ms, so times
//! are late by up to that). The window of an order is the latest of B, C and D.
//!
//! **Baseline** (computed, not run: it would take hours). Without the guard, a destination
//! learns the new quantity at its next scheduled listing sync after the import. For each order:
//! its import delay measured in this run (visible at A → handed to the catalogue) plus, for
//! each destination, the wait for its next sync at the default communication frequency
//! (`Frequencies::for_channel`: 30 minutes, Tradera 4 hours), drawn from the seed uniformly over
//! the frequency (an order arrives at no particular point of a sync cycle); the window is the
//! latest of the three. The sync's own duration is left out (it favours the baseline).
//!
//! Timings are wall clock on whatever machine runs this: compare runs on one machine only.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use marketsync::engine::Report;
use marketsync::lifecycle::Event;
use marketsync::mapping::{ShippingMapping, ShippingService};
use marketsync::store::StockEvent;
use marketsync::{
    Actor, Catalog, CatalogError, CatalogPage, ChannelKind, ChannelOrderId, Clock, CredentialKey,
    Engine, Feature, Frequencies, IntegrationId, IntegrationSettings, InventoryItem, Label,
    MemoryCatalog, MemoryNotifier, Money, OrderState, Scheduler, Sku, SqliteStore, SystemClock,
};
use marketsync_http::{Limits, RateLimiter};
use marketsync_sandbox::channeladvisor::harness::HARNESS_DISTRIBUTION_CENTER;
use marketsync_sandbox::{
    AllegroHarness, AllegroSandbox, ChannelAdvisorHarness, ChannelAdvisorSandbox, DetRng,
    ReverbHarness, TraderaHarness, TraderaSandbox,
};
use marketsync_testkit::channel::{ChannelHarness, OrderSpec, SHIPPING_TEXT};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// When an order became visible at A, and its id there (`None` until created).
type Visible = Option<(Instant, ChannelOrderId)>;

/// Units of each SKU at the start (enough that no listing sells out in a run).
const START: u32 = 100_000;

/// A clock that runs `scale` times faster than real time (as in `examples/bench.rs`).
#[derive(Debug)]
struct ScaledClock {
    origin: Instant,
    at_origin: DateTime<Utc>,
    scale: f64,
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.origin.elapsed().mul_f64(self.scale);
        self.at_origin + TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX)
    }
}

/// A destination marketplace: its binding quota and the scale its windows are shortened by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Dest {
    ChannelAdvisor,
    Allegro,
    Tradera,
}

const DESTS: [Dest; 3] = [Dest::ChannelAdvisor, Dest::Allegro, Dest::Tradera];

impl Dest {
    /// (requests, real window, scale).
    fn quota(self) -> (u32, Duration, u32) {
        match self {
            Dest::ChannelAdvisor => (
                marketsync::channeladvisor::REQUESTS_PER_MINUTE,
                Duration::from_secs(60),
                10,
            ),
            Dest::Allegro => (
                marketsync::allegro::REQUESTS_PER_MINUTE,
                Duration::from_secs(60),
                10,
            ),
            Dest::Tradera => (
                marketsync::tradera::DEFAULT_DAILY_BUDGET,
                Duration::from_secs(24 * 60 * 60),
                8640,
            ),
        }
    }

    fn kind(self) -> ChannelKind {
        match self {
            Dest::ChannelAdvisor => ChannelKind::ChannelAdvisor,
            Dest::Allegro => ChannelKind::Allegro,
            Dest::Tradera => ChannelKind::Tradera,
        }
    }

    /// The rate-limit floor: the scaled window over its count (the spacing of requests the
    /// quota allows on average).
    fn floor(self) -> Duration {
        let (count, window, scale) = self.quota();
        window / scale / count
    }

    fn clock(self) -> Arc<dyn Clock> {
        Arc::new(ScaledClock {
            origin: Instant::now(),
            at_origin: Utc::now(),
            scale: f64::from(self.quota().2),
        })
    }

    fn limiter(self) -> RateLimiter {
        let (count, window, scale) = self.quota();
        let window = window / scale;
        let mut l = Limits::default()
            .quota(count, window)
            .max_wait(window * 2 + Duration::from_secs(5));
        if self == Dest::ChannelAdvisor {
            l = l.concurrency(marketsync::channeladvisor::CONCURRENT_REQUESTS as usize);
        }
        RateLimiter::new(l)
    }
}

/// The four sandboxes with their adapters.
struct Sandboxes {
    reverb: ReverbHarness,
    ca: ChannelAdvisorHarness,
    allegro: AllegroHarness,
    tradera: TraderaHarness,
}

impl Sandboxes {
    async fn start() -> Result<Self, BoxError> {
        let knobs = marketsync_sandbox::Knobs {
            enforce_rate_limits: true,
            ..Default::default()
        };
        let long = |d: Dest| Duration::from_secs(24 * 60 * 60 * u64::from(d.quota().2));
        Ok(Self {
            reverb: ReverbHarness::builder()
                .knobs(knobs.clone())
                .start()
                .await?,
            ca: ChannelAdvisorHarness::builder()
                .sandbox(
                    ChannelAdvisorSandbox::builder()
                        .products(0)
                        .orders(0)
                        .clock(Dest::ChannelAdvisor.clock())
                        .token_ttl(long(Dest::ChannelAdvisor)),
                )
                .knobs(knobs.clone())
                .rate_limiter(Dest::ChannelAdvisor.limiter())
                .start()
                .await?,
            allegro: AllegroHarness::builder()
                .sandbox(
                    AllegroSandbox::builder()
                        .offers(0)
                        .orders(0)
                        .clock(Dest::Allegro.clock())
                        .access_ttl(TimeDelta::hours(12) * Dest::Allegro.quota().2 as i32)
                        .command_polls(0),
                )
                .knobs(knobs.clone())
                .rate_limiter(Dest::Allegro.limiter())
                .start()
                .await?,
            tradera: TraderaHarness::builder()
                .sandbox(
                    TraderaSandbox::builder()
                        .items(0)
                        .orders(0)
                        .clock(Dest::Tradera.clock())
                        .token_lifetime(long(Dest::Tradera)),
                )
                .daily_budget(Dest::Tradera.quota().0)
                .knobs(knobs)
                .rate_limiter(Dest::Tradera.limiter())
                .start()
                .await?,
        })
    }

    fn dest(&self, d: Dest) -> &dyn ChannelHarness {
        match d {
            Dest::ChannelAdvisor => &self.ca,
            Dest::Allegro => &self.allegro,
            Dest::Tradera => &self.tradera,
        }
    }

    /// The quantity a destination shows for a listing now (its sandbox's state).
    fn quantity(&self, d: Dest, listing: &str) -> Option<i64> {
        match d {
            Dest::ChannelAdvisor => self
                .ca
                .sandbox()
                .dc_quantity(listing.parse().ok()?, HARNESS_DISTRIBUTION_CENTER as i64),
            Dest::Allegro => self.allegro.sandbox().offer(listing)?["stock"]["available"].as_i64(),
            Dest::Tradera => self.tradera.sandbox().quantity(listing.parse().ok()?),
        }
    }
}

type BoxFuture<'f, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'f>>;

/// The host's catalogue, noting when each order was handed to it (the end of its import delay).
#[derive(Debug)]
struct Timed {
    stock: Arc<MemoryCatalog>,
    handed: Arc<Mutex<HashMap<ChannelOrderId, Instant>>>,
}

// The trait is declared with `async_trait`; its methods written out, so the example needs no
// macro crate of its own.
impl Catalog for Timed {
    fn items_with_label<'a, 'b, 'c, 'f>(
        &'a self,
        label: &'b Label,
        page: Option<&'c str>,
        page_size: usize,
    ) -> BoxFuture<'f, Result<CatalogPage, CatalogError>>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        self.stock.items_with_label(label, page, page_size)
    }

    fn items_by_sku<'a, 'b, 'f>(
        &'a self,
        skus: &'b [Sku],
    ) -> BoxFuture<'f, Result<Vec<InventoryItem>, CatalogError>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        self.stock.items_by_sku(skus)
    }

    fn orders_imported<'a, 'b, 'f>(
        &'a self,
        events: &'b [StockEvent],
    ) -> BoxFuture<'f, Result<(), CatalogError>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            self.stock.orders_imported(events).await?;
            let now = Instant::now();
            let mut handed = self.handed.lock().unwrap_or_else(|e| e.into_inner());
            for e in events {
                handed.entry(e.channel_order_id.clone()).or_insert(now);
            }
            Ok(())
        })
    }
}

struct Args {
    orders: usize,
    skus: usize,
    rate: f64,
    import_interval: Duration,
    pass: Duration,
    seed: u64,
}

fn args() -> Result<Args, BoxError> {
    let mut a = Args {
        orders: 1000,
        skus: 100,
        rate: 10.0,
        import_interval: Duration::from_millis(2000),
        pass: Duration::from_millis(50),
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--orders" => a.orders = value()?.parse()?,
            "--skus" => a.skus = value()?.parse()?,
            "--rate" => a.rate = value()?.parse()?,
            "--import-interval-ms" => a.import_interval = Duration::from_millis(value()?.parse()?),
            "--pass-ms" => a.pass = Duration::from_millis(value()?.parse()?),
            "--seed" => a.seed = value()?.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if a.skus == 0 || a.orders == 0 || a.rate <= 0.0 {
        return Err("--orders, --skus and --rate must be above 0".into());
    }
    Ok(a)
}

fn seller() -> Actor {
    Actor::User("bench".into())
}

fn sku(i: usize) -> Sku {
    Sku::new(format!("OW-{i:04}")).expect("a valid SKU")
}

async fn event(engine: &Engine, id: IntegrationId, e: Event) -> Result<(), BoxError> {
    engine.apply(id, seller(), e).await?;
    Ok(())
}

/// Creates, verifies, labels and activates an integration with the given features, maps the
/// shipping text when the channel needs it, and links its listings.
async fn integrate(
    engine: &Engine,
    h: &dyn ChannelHarness,
    label: &Label,
    features: &[Feature],
    orders_every: Option<Duration>,
) -> Result<IntegrationId, BoxError> {
    let channel = h.channel();
    let caps = channel.capabilities();
    let kind = channel.kind();
    let mut settings = IntegrationSettings::new(kind, h.currency());
    if let Some(every) = orders_every {
        settings.frequencies.orders = every;
    }
    let id = engine
        .create_integration(&format!("{kind:?}"), channel, settings, seller())
        .await?;
    engine
        .enter_credentials(id, &h.credentials(), seller())
        .await?;
    engine.verify(id, seller()).await?;
    event(
        engine,
        id,
        Event::SetLabel {
            label: Some(label.clone()),
            support_override: None,
        },
    )
    .await?;
    event(engine, id, Event::Activate).await?;
    for feature in features {
        event(
            engine,
            id,
            Event::SetFeature {
                feature: *feature,
                on: true,
                support_override: None,
            },
        )
        .await?;
    }
    if caps.shipping_mappings_required {
        let m = ShippingMapping::new(
            SHIPPING_TEXT,
            ShippingService {
                name: "Standard".into(),
                carrier: None,
                class: None,
            },
            Utc::now(),
        )?;
        engine
            .edit_mappings(id, seller(), |set| {
                set.insert_shipping(m.clone());
            })
            .await?;
    }
    Ok(id)
}

/// Median, p95 and max of durations, in seconds.
fn stats(v: &[Duration]) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let at = |q: f64| s[((s.len() as f64 * q).ceil() as usize).clamp(1, s.len()) - 1];
    (at(0.5), at(0.95), s[s.len() - 1])
}

fn human(secs: f64) -> String {
    if secs >= 120.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{secs:.3} s")
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let a = args()?;
    let started_setup = Instant::now();
    let s = Arc::new(Sandboxes::start().await?);
    let dir = std::env::temp_dir().join(format!(
        "marketsync-oversell-window-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(SqliteStore::open(dir.join("store.db")).await?);
    let stock = Arc::new(MemoryCatalog::new());
    let handed = Arc::new(Mutex::new(HashMap::new()));
    let label = Label::new("oversell-window")?;
    let price = Money::parse("199", "SEK")?;
    for i in 0..a.skus {
        stock.upsert(InventoryItem {
            stock_version: None,
            sku: sku(i),
            title: format!("Item {}", sku(i)),
            price,
            quantity: START,
            labels: [label.clone()].into_iter().collect(),
        });
    }
    let engine = Arc::new(
        Engine::new(
            store,
            Arc::new(Timed {
                stock: stock.clone(),
                handed: handed.clone(),
            }),
            Arc::new(MemoryNotifier::new()),
            Arc::new(SystemClock),
        )
        .with_credential_key(CredentialKey::new("oversell-window", [7; 32])),
    );

    // A: Reverb, orders only, imported every `--import-interval-ms`.
    integrate(
        &engine,
        &s.reverb,
        &label,
        &[Feature::Orders],
        Some(a.import_interval),
    )
    .await?;
    for i in 0..a.skus {
        s.reverb
            .add_listing(&sku(i), Money::parse("19", "USD")?, START)
            .await;
    }
    // B, C, D: listings, linked and synced once.
    let mut listings: BTreeMap<Dest, Vec<String>> = BTreeMap::new();
    for d in DESTS {
        let h = s.dest(d);
        let id = integrate(&engine, h, &label, &[Feature::Listings], None).await?;
        let mut ids = Vec::with_capacity(a.skus);
        for i in 0..a.skus {
            ids.push(h.add_listing(&sku(i), price, START).await.to_string());
        }
        listings.insert(d, ids);
        let linked = engine.link_listings(id).await?;
        if linked.linked.len() != a.skus {
            return Err(format!("{d:?}: linked {} of {}", linked.linked.len(), a.skus).into());
        }
        let synced = engine.sync_listings(id).await?;
        if !synced.failed.is_empty() {
            return Err(format!("{d:?}: the first sync failed: {:?}", synced.failed[0]).into());
        }
    }

    // The scheduler; its first passes run each integration's first scheduled operations.
    let scheduler = Arc::new(Scheduler::new(engine.clone(), 8));
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let (reports_tx, mut reports_rx) = tokio::sync::mpsc::channel::<Report>(1024);
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let drain = {
        let failures = failures.clone();
        tokio::spawn(async move {
            while let Some(r) = reports_rx.recv().await {
                let failed = match &r {
                    Report::Run(run) => run
                        .result
                        .as_ref()
                        .err()
                        .map(|e| format!("{:?}: {e}", run.operation)),
                    Report::Failed(f) => Some(format!("{f:?}")),
                };
                if let Some(f) = failed {
                    failures.lock().unwrap_or_else(|e| e.into_inner()).push(f);
                }
            }
        })
    };
    let runner = {
        let scheduler = scheduler.clone();
        let pass = a.pass;
        tokio::spawn(async move {
            scheduler
                .run(
                    pass,
                    async {
                        let _ = shutdown_rx.await;
                    },
                    reports_tx,
                )
                .await
        })
    };
    while scheduler.passes() < 3 || scheduler.runs_in_flight() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "set-up: {} SKUs on 4 marketplaces in {:.1}s",
        a.skus,
        started_setup.elapsed().as_secs_f64()
    );

    // The orders, their SKUs drawn from the seed, and the catalogue quantity after each.
    let mut rng = DetRng::new(a.seed);
    let mut sold: HashMap<usize, u32> = HashMap::new();
    let plan: Vec<(usize, i64)> = (0..a.orders)
        .map(|_| {
            let i = rng.below(a.skus as u64) as usize;
            let n = sold.entry(i).or_default();
            *n += 1;
            (i, i64::from(START - *n))
        })
        .collect();
    let visible: Arc<Mutex<Vec<Visible>>> = Arc::new(Mutex::new(vec![None; a.orders]));
    let accepted: Arc<Mutex<BTreeMap<Dest, Vec<Option<Instant>>>>> = Arc::new(Mutex::new(
        DESTS
            .into_iter()
            .map(|d| (d, vec![None; a.orders]))
            .collect(),
    ));

    // The watcher: every 2 ms, each destination's quantity of each SKU with orders waiting.
    let watcher = {
        let s = s.clone();
        let visible = visible.clone();
        let accepted = accepted.clone();
        let plan = plan.clone();
        let listings = listings.clone();
        tokio::spawn(async move {
            loop {
                let seen: Vec<usize> = {
                    let v = visible.lock().unwrap_or_else(|e| e.into_inner());
                    (0..v.len()).filter(|k| v[*k].is_some()).collect()
                };
                let done = {
                    let mut acc = accepted.lock().unwrap_or_else(|e| e.into_inner());
                    let now = Instant::now();
                    let mut open = 0;
                    for d in DESTS {
                        let mut quantities: HashMap<usize, Option<i64>> = HashMap::new();
                        let row = acc.get_mut(&d).expect("every destination");
                        for &k in &seen {
                            if row[k].is_some() {
                                continue;
                            }
                            let (i, target) = plan[k];
                            let q = *quantities
                                .entry(i)
                                .or_insert_with(|| s.quantity(d, &listings[&d][i]));
                            if q.is_some_and(|q| q <= target) {
                                row[k] = Some(now);
                            } else {
                                open += 1;
                            }
                        }
                    }
                    seen.len() == plan.len() && open == 0
                };
                if done {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };

    // The buyers: one order every 1/rate seconds at A.
    // What the destinations receive from here on.
    s.ca.sandbox().reset_counters();
    s.allegro.sandbox().reset_counters();
    s.tradera.sandbox().reset_counters();
    let allegro_mark = s.allegro.sandbox().commands().len();
    let tradera_mark = s.tradera.sandbox().quantity_updates().len();
    let started = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / a.rate);
    for (k, (i, _)) in plan.iter().enumerate() {
        let at = started + gap * k as u32;
        tokio::time::sleep_until(at.into()).await;
        let id = s
            .reverb
            .add_order(&OrderSpec {
                name: format!("buyer-{k}"),
                created_at: Utc::now(),
                state: OrderState::AwaitingShipment,
                skus: vec![sku(*i)],
                shipping: SHIPPING_TEXT.into(),
                unit_price: Money::parse("19", "USD")?,
            })
            .await;
        visible.lock().unwrap_or_else(|e| e.into_inner())[k] = Some((Instant::now(), id));
    }
    let created_in = started.elapsed();
    let limit = a.import_interval * 10 + Duration::from_secs(60);
    let finished = tokio::time::timeout(limit, watcher).await.is_ok();
    let _ = shutdown_tx.send(());
    let summary = runner.await?;
    drain.await?;
    let _ = std::fs::remove_dir_all(&dir);

    // Windows.
    let visible = visible.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let accepted = accepted.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let handed = handed.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut per_dest: BTreeMap<Dest, Vec<Duration>> = BTreeMap::new();
    let mut window = Vec::new();
    let mut import_delay = Vec::new();
    let mut missing = 0usize;
    for (k, v) in visible.iter().enumerate() {
        let Some((at, id)) = v else { continue };
        let mut latest = Duration::ZERO;
        let mut complete = true;
        for d in DESTS {
            match accepted[&d][k] {
                Some(t) => {
                    let w = t.saturating_duration_since(*at);
                    per_dest.entry(d).or_default().push(w);
                    latest = latest.max(w);
                }
                None => complete = false,
            }
        }
        if complete {
            window.push(latest);
        } else {
            missing += 1;
        }
        if let Some(h) = handed.get(id) {
            import_delay.push((k, h.saturating_duration_since(*at), *h));
        }
    }

    // The baseline: the measured import delay, then each destination's next scheduled sync at
    // its default frequency. Orders arrive at no particular point of a destination's sync
    // cycle: the wait is drawn for each order and destination, uniform over the frequency.
    let mut rng = DetRng::new(a.seed ^ 0x5eed);
    let mut baseline = Vec::new();
    for (_, delay, _) in &import_delay {
        let mut latest = Duration::ZERO;
        for d in DESTS {
            let every = Frequencies::for_channel(d.kind()).listings;
            latest = latest.max(*delay + every.mul_f64(rng.unit()));
        }
        baseline.push(latest);
    }
    // The engine's part: from the hand-over to the catalogue to the latest destination.
    let after_import: Vec<Duration> = import_delay
        .iter()
        .filter_map(|(k, _, handed_at)| {
            DESTS
                .iter()
                .map(|d| accepted[d][*k])
                .collect::<Option<Vec<Instant>>>()
                .and_then(|ts| ts.into_iter().max())
                .map(|t| t.saturating_duration_since(*handed_at))
        })
        .collect();

    let (m, p95, max) = stats(&window);
    let (bm, bp95, bmax) = stats(&baseline);
    let (dm, dp95, dmax) = stats(&import_delay.iter().map(|(_, d, _)| *d).collect::<Vec<_>>());
    println!(
        "\n== Oversell window: {} orders at Reverb over {:.1}s ({}/s), {} SKUs, import every {:?}, scheduler pass {:?}",
        a.orders,
        created_in.as_secs_f64(),
        a.rate,
        a.skus,
        a.import_interval,
        a.pass
    );
    println!(
        "   import delay (visible at A → handed to the catalogue): median {}, p95 {}, max {}",
        human(dm),
        human(dp95),
        human(dmax)
    );
    let (em, ep95, emax) = stats(&after_import);
    println!(
        "   after the import (handed to the catalogue → the latest of B, C, D): median {}, p95 {}, max {}",
        human(em),
        human(ep95),
        human(emax)
    );
    // The goal: one import interval, plus the rate-limit floor of each channel on the way — the
    // source's (the import's request to A, Reverb unscaled) and the destination's.
    let source_floor = Duration::from_secs(1) / marketsync::reverb::DEFAULT_REQUESTS_PER_SECOND;
    println!(
        "| | median | p95 | max | goal (import interval + A's floor {:.0} ms + the destination's floor) |",
        source_floor.as_secs_f64() * 1000.0
    );
    println!("|---|---|---|---|---|");
    for d in DESTS {
        let (m, p95, max) = stats(per_dest.get(&d).map(Vec::as_slice).unwrap_or_default());
        let goal = (a.import_interval + source_floor + d.floor()).as_secs_f64();
        println!(
            "| {d:?} (×{} scale; floor {:.1} ms) | {} | {} | {} | {} {} |",
            d.quota().2,
            d.floor().as_secs_f64() * 1000.0,
            human(m),
            human(p95),
            human(max),
            human(goal),
            if max <= goal {
                "met (max)"
            } else if p95 <= goal {
                "met at p95, NOT at the max"
            } else {
                "NOT met (p95)"
            }
        );
    }
    println!(
        "| **B, C, D (the latest)** | **{}** | **{}** | **{}** | |",
        human(m),
        human(p95),
        human(max)
    );
    println!(
        "| baseline: scheduled sync at the default frequency (computed) | {} | {} | {} | |",
        human(bm),
        human(bp95),
        human(bmax)
    );
    println!(
        "| ratio baseline / guard | {:.0}× | {:.0}× | {:.0}× | goal ≥ 10× |",
        bm / m,
        bp95 / p95,
        bmax / max
    );
    let ca = s.ca.sandbox().counters();
    let allegro_quantity_commands = s.allegro.sandbox().commands()[allegro_mark..]
        .iter()
        .filter(|c| c.kind == "quantity")
        .count();
    println!(
        "   sent: ChannelAdvisor {} $batch ({} quantity parts), Allegro {} quantity commands, Tradera {} quantity calls, for {} orders; 429s: ChannelAdvisor {}, Allegro {}, Tradera {}",
        ca.requests
            .iter()
            .filter(|(op, _)| op.contains("batch"))
            .map(|(_, k)| k)
            .sum::<u64>(),
        ca.part("products.update_quantity"),
        allegro_quantity_commands,
        s.tradera.sandbox().quantity_updates().len() - tradera_mark,
        a.orders,
        ca.throttled,
        s.allegro.sandbox().counters().throttled,
        s.tradera.sandbox().counters().throttled,
    );
    println!(
        "   orders measured {} of {} (not reached everywhere: {missing}); scheduler passes {}; run failures {}",
        window.len(),
        a.orders,
        summary.passes,
        failures.lock().unwrap_or_else(|e| e.into_inner()).len()
    );
    for f in failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .take(5)
    {
        println!("   failure: {f}");
    }
    if !finished {
        return Err("some orders never reached every destination within the time limit".into());
    }
    Ok(())
}
