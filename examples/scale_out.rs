//! Scale-out benchmark: many integrations in one PostgreSQL store, worked by 1, 2 and 4 worker
//! processes at once, each a [`Scheduler`] with its own worker id. See BENCHMARKS.md
//! ("Scale-out (PostgreSQL, many workers)") for what each figure means.
//!
//! ```text
//! eval "$(.ci/postgres.sh)"      # a throwaway server; the program reads MARKETSYNC_TEST_POSTGRES_URL
//! cargo build --release --example scale_out --features postgres,channeladvisor,reverb,allegro,tradera
//! cp target/release/examples/scale_out /tmp/ && /tmp/scale_out
//! /tmp/scale_out --integrations 200 --workers 1,2 --runs 1     # quick
//! ```
//!
//! Options: `--integrations N` (1000), `--workers LIST` (`1,2,4`), `--runs N` (3), `--listings N`
//! and `--orders N` per integration (3 each), `--concurrency N` (operations at once per worker,
//! 8), `--threads N` (runtime threads per worker, 1), `--store-only LIST` (integration counts for
//! the store-only part, `1000,10000`), `--skip-sandbox`, `--skip-store-only`.
//!
//! **Sandbox part.** Each run makes a fresh schema, starts one sandbox server per integration
//! (the sandboxes serve one account each; integrations are spread round-robin over ChannelAdvisor,
//! Reverb, Allegro and Tradera), on a clock running faster by each marketplace's scale factor,
//! with the adapters' limits scaled alike (as `examples/bench.rs`). It sets every integration up
//! (credentials entered and verified, activated, orders, listings and fulfilments on, stale
//! listings linked, importable orders waiting) through the engine, then starts the workers: each
//! attaches the real adapters to the stored integrations and runs [`Scheduler::run`] until told to
//! stop. Every operation due once (frequencies of a day) is the fixed amount of work; the time
//! from "start" until the last run is reported is the elapsed time. The workers report every run
//! (start and end times, worker); the program checks that each operation ran once, that no
//! integration's runs on two workers overlapped in time, and counts the 429s the sandboxes sent.
//!
//! **Store-only part.** Integrations without channels or credentials (created with a
//! [`MemoryChannel`] that no worker registers): the scheduler's only operation is the credentials
//! check, which finds nothing to check, so each operation costs the store calls of a pass
//! (claim, record read, start and finish recorded, release) and a few reads. It measures, at each
//! integration count: one `claim_work` of a page (32) and the store calls per scheduled operation
//! (timed in this process, one caller), then one worker process working every integration once,
//! with its peak RSS (`VmHWM`).
//!
//! Workers are this program started again with `--worker`; what they need (the store's URL, the
//! integrations' sandboxes) comes on stdin, never in arguments.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use marketsync::postgres::PostgresStore;
use marketsync_core::engine::scheduler::Report;
use marketsync_core::lifecycle::Event;
use marketsync_core::store::WorkerId;
use marketsync_core::{
    Actor, Channel, ChannelKind, Clock, CredentialKey, Currency, Engine, Feature, Frequencies,
    IntegrationId, IntegrationSettings, InventoryItem, Label, MemoryCatalog, MemoryChannel,
    MemoryNotifier, Money, OrderState, Scheduler, SecretString, ShippingMapping, ShippingService,
    Sku, Store, SystemClock,
};
use marketsync_http::{Limits, RateLimiter};
use marketsync_sandbox::{
    AllegroHarness, AllegroSandbox, ChannelAdvisorHarness, ChannelAdvisorSandbox, Counters,
    LoggedRequest, Outcome, ReverbHarness, ReverbSandbox, TraderaHarness, TraderaSandbox,
};
use marketsync_testkit::channel::{ChannelHarness, OrderSpec, SHIPPING_TEXT};
use secrecy::ExposeSecret;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The variable naming the PostgreSQL database (a URL; it may hold a password, so it is never
/// printed nor passed in arguments).
const URL_VAR: &str = "MARKETSYNC_TEST_POSTGRES_URL";

/// The benchmark's credential key (test data only).
fn key() -> CredentialKey {
    CredentialKey::new("scale-out", [7; 32])
}

/// The label of every integration and catalog item (the ChannelAdvisor harness's feed label).
const LABEL: &str = marketsync_sandbox::channeladvisor::harness::HARNESS_LABEL;

/// How many integrations one `claim_work` asks for (the scheduler's default page).
const PAGE: usize = marketsync_core::engine::scheduler::DEFAULT_CLAIM_BATCH;

fn seller() -> Actor {
    Actor::User("scale-out".into())
}

// ----- marketplaces, limits and sandboxes -----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Market {
    ChannelAdvisor,
    Reverb,
    Allegro,
    Tradera,
}

const MARKETS: [Market; 4] = [
    Market::ChannelAdvisor,
    Market::Reverb,
    Market::Allegro,
    Market::Tradera,
];

impl Market {
    fn name(self) -> &'static str {
        match self {
            Market::ChannelAdvisor => "channeladvisor",
            Market::Reverb => "reverb",
            Market::Allegro => "allegro",
            Market::Tradera => "tradera",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        MARKETS.into_iter().find(|m| m.name() == s)
    }

    /// SKU prefix: each marketplace's items have its currency.
    fn prefix(self) -> &'static str {
        match self {
            Market::ChannelAdvisor => "CA",
            Market::Reverb => "RV",
            Market::Allegro => "AL",
            Market::Tradera => "TR",
        }
    }

    fn currency(self) -> &'static str {
        match self {
            Market::ChannelAdvisor | Market::Reverb => "USD",
            Market::Allegro => "PLN",
            Market::Tradera => "SEK",
        }
    }

    /// The binding limit (count per real window, in flight at once) and the scale factor, as in
    /// `examples/bench.rs`.
    fn spec(self) -> (u32, Duration, Option<u32>, u32) {
        match self {
            Market::ChannelAdvisor => (
                marketsync_channeladvisor::REQUESTS_PER_MINUTE,
                Duration::from_secs(60),
                Some(marketsync_channeladvisor::CONCURRENT_REQUESTS),
                10,
            ),
            Market::Reverb => (
                marketsync_reverb::DEFAULT_REQUESTS_PER_SECOND,
                Duration::from_secs(1),
                None,
                50,
            ),
            Market::Allegro => (
                marketsync_allegro::REQUESTS_PER_MINUTE,
                Duration::from_secs(60),
                None,
                10,
            ),
            Market::Tradera => (
                marketsync_tradera::DEFAULT_DAILY_BUDGET,
                Duration::from_secs(24 * 60 * 60),
                None,
                8640,
            ),
        }
    }

    fn scale(self) -> u32 {
        self.spec().3
    }

    /// The adapter's limits: the marketplace's quota over its window shortened by the scale.
    fn limits(self) -> Limits {
        let (count, window, concurrent, scale) = self.spec();
        let window = window / scale;
        let mut l = Limits::default()
            .quota(count, window)
            .max_wait(window * 2 + Duration::from_secs(5));
        if let Some(n) = concurrent {
            l = l.concurrency(n as usize);
        }
        l
    }
}

/// A clock `scale` times faster than real time (the sandbox's windows pass `scale` times sooner).
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

/// One sandbox server with its harness.
enum Harness {
    ChannelAdvisor(ChannelAdvisorHarness),
    Reverb(ReverbHarness),
    Allegro(AllegroHarness),
    Tradera(TraderaHarness),
}

macro_rules! with_sandbox {
    ($h:expr, $s:ident => $e:expr) => {
        match $h {
            Harness::ChannelAdvisor(h) => {
                let $s = h.sandbox();
                $e
            }
            Harness::Reverb(h) => {
                let $s = h.sandbox();
                $e
            }
            Harness::Allegro(h) => {
                let $s = h.sandbox();
                $e
            }
            Harness::Tradera(h) => {
                let $s = h.sandbox();
                $e
            }
        }
    };
}

impl Harness {
    async fn start(market: Market) -> Result<Self, BoxError> {
        let scale = market.scale();
        let clock: Arc<dyn Clock> = Arc::new(ScaledClock {
            origin: Instant::now(),
            at_origin: Utc::now(),
            scale: f64::from(scale),
        });
        let limiter = RateLimiter::new(market.limits());
        let knobs = marketsync_sandbox::Knobs {
            enforce_rate_limits: true,
            // The log says which requests were answered 429 (Tradera's budget is the fake's own).
            log_capacity: 10_000,
            ..Default::default()
        };
        let long = Duration::from_secs(24 * 60 * 60 * u64::from(scale));
        Ok(match market {
            Market::ChannelAdvisor => Harness::ChannelAdvisor(
                ChannelAdvisorHarness::builder()
                    .sandbox(
                        ChannelAdvisorSandbox::builder()
                            .products(0)
                            .orders(0)
                            .clock(clock)
                            .token_ttl(long)
                            .orders_page_size(100),
                    )
                    .knobs(knobs)
                    .rate_limiter(limiter)
                    .start()
                    .await?,
            ),
            Market::Reverb => Harness::Reverb(
                ReverbHarness::builder()
                    .sandbox(
                        ReverbSandbox::builder()
                            .listings(0)
                            .orders(0)
                            .clock(clock)
                            .max_per_page(100),
                    )
                    .knobs(knobs)
                    .rate_limiter(limiter)
                    .start()
                    .await?,
            ),
            Market::Allegro => Harness::Allegro(
                AllegroHarness::builder()
                    .sandbox(
                        AllegroSandbox::builder()
                            .offers(0)
                            .orders(0)
                            .clock(clock)
                            .access_ttl(TimeDelta::hours(12) * scale as i32)
                            .command_polls(0),
                    )
                    .knobs(knobs)
                    .rate_limiter(limiter)
                    .start()
                    .await?,
            ),
            Market::Tradera => Harness::Tradera(
                TraderaHarness::builder()
                    .sandbox(
                        TraderaSandbox::builder()
                            .items(0)
                            .orders(0)
                            .clock(clock)
                            .token_lifetime(long),
                    )
                    .daily_budget(marketsync_tradera::DEFAULT_DAILY_BUDGET)
                    .knobs(knobs)
                    .rate_limiter(limiter)
                    .start()
                    .await?,
            ),
        })
    }

    fn harness(&self) -> &dyn ChannelHarness {
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

    /// Requests answered 429: by the framework's limits or by the fake's own budget.
    fn throttled(&self) -> u64 {
        let counters: Counters = with_sandbox!(self, s => s.counters());
        let log: Vec<LoggedRequest> = with_sandbox!(self, s => s.requests());
        let handled_429 = log
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Handled(429)))
            .count() as u64;
        counters.throttled + handled_429
    }

    fn requests(&self) -> u64 {
        with_sandbox!(self, s => s.counters()).total
    }
}

/// The adapter of an integration, pointed at its sandbox, as a worker builds it: the sandbox's
/// application credentials (constants of the sandbox crate) and the scaled limits; the seller's
/// credentials come from the store when the engine attaches it.
fn build_channel(market: Market, base: &str) -> Result<Arc<dyn Channel>, BoxError> {
    use marketsync_sandbox::{allegro, channeladvisor, reverb, tradera};
    let limiter = RateLimiter::new(market.limits());
    Ok(match market {
        Market::ChannelAdvisor => {
            let config = marketsync_channeladvisor::ChannelAdvisorConfig::builder()
                .label(LABEL)
                .base_url(base)
                .application_id(channeladvisor::APPLICATION_ID)
                .shared_secret(SecretString::from(channeladvisor::SHARED_SECRET))
                .refresh_token(SecretString::from(channeladvisor::REFRESH_TOKEN))
                .profile_id(u64::try_from(channeladvisor::PROFILE_ID)?)
                .connection_name("Scale-out")
                .distribution_center_id(channeladvisor::harness::HARNESS_DISTRIBUTION_CENTER)
                .rate_limiter(limiter)
                .build()?;
            Arc::new(marketsync_channeladvisor::ChannelAdvisorChannel::new(
                config,
            )?)
        }
        Market::Reverb => {
            let config = marketsync_reverb::ReverbConfig::builder()
                .base_url(base)
                .token(SecretString::from(reverb::TOKEN))
                .connection_name("Scale-out")
                .default_currency(Currency::new(market.currency())?)
                .rate_limiter(limiter)
                .build()?;
            Arc::new(marketsync_reverb::ReverbChannel::new(config)?)
        }
        Market::Allegro => {
            let config = marketsync_allegro::AllegroConfig::builder()
                .base_url(base)
                .auth_base_url(base)
                .client_id(allegro::CLIENT_ID)
                .client_secret(SecretString::from(allegro::CLIENT_SECRET))
                .connection_name("Scale-out")
                .rate_limiter(limiter)
                .build()?;
            Arc::new(marketsync_allegro::AllegroChannel::new(config)?)
        }
        Market::Tradera => {
            let config = marketsync_tradera::TraderaConfig::builder()
                .base_url(base)
                .app_id(i64::from(tradera::APP_ID))
                .app_key(SecretString::from(tradera::APP_KEY))
                .connection_name("Scale-out")
                .daily_budget(marketsync_tradera::DEFAULT_DAILY_BUDGET)
                .rate_limiter(limiter)
                .build()?;
            Arc::new(marketsync_tradera::TraderaChannel::new(config)?)
        }
    })
}

/// The catalog every engine (parent and workers) reads: `per_market` items per marketplace, in
/// its currency, labelled.
fn catalog(per_market: usize) -> Result<Arc<MemoryCatalog>, BoxError> {
    let catalog = Arc::new(MemoryCatalog::new());
    let label = Label::new(LABEL)?;
    for market in MARKETS {
        for j in 0..per_market {
            catalog.upsert(InventoryItem {
                stock_version: None,
                sku: Sku::new(format!("{}-{j:04}", market.prefix()))?,
                title: format!("Item {j}"),
                price: Money::parse(&format!("{}", 20 + j), market.currency())?,
                quantity: 1 + (j % 5) as u32,
                labels: [label.clone()].into_iter().collect(),
            });
        }
    }
    Ok(catalog)
}

// ----- the store -----

/// Creates the schema `schema` (digits, letters and underscores of this program's making) and
/// returns the URL of a connection to it.
async fn create_schema(url: &str, schema: &str) -> Result<SecretString, BoxError> {
    let pool = sqlx::PgPool::connect(url)
        .await
        .map_err(|e| format!("PostgreSQL: connecting failed: {e}"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .map_err(|e| format!("PostgreSQL: creating the schema failed: {e}"))?;
    pool.close().await;
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(SecretString::from(format!(
        "{url}{separator}options=-c%20search_path%3D{schema}"
    )))
}

async fn drop_schema(url: &str, schema: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(url).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

fn settings(kind: ChannelKind, currency: &str) -> Result<IntegrationSettings, BoxError> {
    let day = Duration::from_secs(24 * 60 * 60);
    Ok(IntegrationSettings {
        created_within_days: None,
        frequencies: Frequencies {
            listings: day,
            orders: day,
            fulfillments: day,
            credentials: day,
        },
        ..IntegrationSettings::new(kind, Currency::new(currency)?)
    })
}

/// How many operations the scheduler will run for the integrations, each once (none ran yet).
async fn due_operations(store: &dyn Store, ids: &[IntegrationId]) -> Result<usize, BoxError> {
    let now = Utc::now();
    let mut n = 0;
    for id in ids {
        let rec = store.integration(*id).await?.ok_or("integration missing")?;
        n += Scheduler::due(&rec, &BTreeMap::new(), now).len();
    }
    Ok(n)
}

/// Sets one sandbox integration up: created, credentials entered and verified, labelled,
/// activated, orders/listings/fulfilments on, `listings` stale listings linked, `orders`
/// importable orders waiting.
async fn setup_one(
    engine: &Engine,
    market: Market,
    n: usize,
    listings: usize,
    orders: usize,
) -> Result<(Harness, IntegrationId), BoxError> {
    let h = Harness::start(market).await?;
    let harness = h.harness();
    let channel = harness.channel();
    let caps = channel.capabilities();
    let kind = channel.kind();
    let id = engine
        .create_integration(
            format!("scale {} {n}", market.name()),
            channel,
            settings(kind, market.currency())?,
            seller(),
        )
        .await?;
    engine
        .enter_credentials(id, &harness.credentials(), seller())
        .await?;
    engine.verify(id, seller()).await?;
    engine
        .apply(
            id,
            seller(),
            Event::SetLabel {
                label: Some(Label::new(LABEL)?),
                support_override: None,
            },
        )
        .await?;
    engine.apply(id, seller(), Event::Activate).await?;
    for feature in [Feature::Orders, Feature::Listings, Feature::Fulfillments] {
        engine
            .apply(
                id,
                seller(),
                Event::SetFeature {
                    feature,
                    on: true,
                    support_override: None,
                },
            )
            .await?;
    }
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
            .edit_mappings(id, seller(), |set| {
                set.insert_shipping(mapping.clone());
            })
            .await?;
    }
    let stale = Money::parse("1", market.currency())?;
    for j in 0..listings {
        let sku = Sku::new(format!("{}-{j:04}", market.prefix()))?;
        harness.add_listing(&sku, stale, 100).await;
    }
    for k in 0..orders {
        let sku = Sku::new(format!("{}-{:04}", market.prefix(), k % listings.max(1)))?;
        harness
            .add_order(&OrderSpec {
                name: format!("scale-{n}-{k}"),
                created_at: Utc::now() - TimeDelta::hours(1),
                state: OrderState::AwaitingShipment,
                skus: vec![sku],
                shipping: SHIPPING_TEXT.into(),
                unit_price: Money::parse("10.00", market.currency())?,
            })
            .await;
    }
    if listings > 0 {
        engine.link_listings(id).await?;
    }
    Ok((h, id))
}

// ----- workers -----

/// A worker process as the parent sees it.
struct WorkerProc {
    child: Child,
    stdin: ChildStdin,
}

/// A line from a worker's stdout: (worker index, line).
type Line = (usize, String);

fn spawn_worker(
    index: usize,
    url: &SecretString,
    plan: &[(Market, IntegrationId, String)],
    opts: &Opts,
    lines: &tokio::sync::mpsc::UnboundedSender<Line>,
) -> Result<WorkerProc, BoxError> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args([
            "--worker",
            "--concurrency",
            &opts.concurrency.to_string(),
            "--threads",
            &opts.threads.to_string(),
            "--listings",
            &opts.listings.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut text = format!("STORE {}\n", url.expose_secret());
    for (market, id, base) in plan {
        text.push_str(&format!("CH {} {id} {base}\n", market.name()));
    }
    text.push_str("GO\n");
    stdin.write_all(text.as_bytes())?;
    stdin.flush()?;
    let tx = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((index, line)).is_err() {
                break;
            }
        }
    });
    Ok(WorkerProc { child, stdin })
}

fn tell(workers: &mut [WorkerProc], what: &str) {
    for w in workers.iter_mut() {
        let _ = w.stdin.write_all(format!("{what}\n").as_bytes());
        let _ = w.stdin.flush();
    }
}

/// One run reported by a worker.
#[derive(Clone, Debug)]
struct RunLine {
    worker: usize,
    integration: String,
    operation: String,
    start_us: i64,
    end_us: i64,
    ok: bool,
    error: String,
}

/// What one scale-out run measured.
#[derive(Clone, Debug, Default)]
struct Measured {
    ops: usize,
    expected: usize,
    elapsed: Duration,
    failed: usize,
    duplicates: usize,
    overlaps: usize,
    throttled: u64,
    requests: u64,
    rss_kib: Vec<u64>,
    per_worker: Vec<usize>,
    first_errors: Vec<String>,
}

impl Measured {
    fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Starts `n` workers over `ids`, waits until every one is ready, starts them at once and waits
/// until `expected` runs were reported (or `timeout`); then stops them and checks the runs.
async fn drive(
    n: usize,
    url: &SecretString,
    plan: &[(Market, IntegrationId, String)],
    expected: usize,
    opts: &Opts,
    timeout: Duration,
) -> Result<Measured, BoxError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Line>();
    let mut workers = Vec::new();
    for i in 0..n {
        workers.push(spawn_worker(i, url, plan, opts, &tx)?);
    }
    drop(tx);
    let mut ready = 0;
    while ready < n {
        let (i, line) = rx
            .recv()
            .await
            .ok_or("a worker exited before it was ready")?;
        if line == "READY" {
            ready += 1;
        } else {
            eprintln!("  worker {i}: {line}");
        }
    }
    let started = Instant::now();
    tell(&mut workers, "START");
    let mut runs: Vec<RunLine> = Vec::new();
    let mut last = started;
    let deadline = tokio::time::Instant::now() + timeout;
    while runs.len() < expected {
        let line = tokio::select! {
            l = rx.recv() => l,
            _ = tokio::time::sleep_until(deadline) => None,
        };
        let Some((i, line)) = line else { break };
        if let Some(rest) = line.strip_prefix("RUN ") {
            let f: Vec<&str> = rest.splitn(6, ' ').collect();
            if f.len() >= 5 {
                runs.push(RunLine {
                    worker: i,
                    integration: f[0].to_owned(),
                    operation: f[1].to_owned(),
                    start_us: f[2].parse().unwrap_or(0),
                    end_us: f[3].parse().unwrap_or(0),
                    ok: f[4] == "ok",
                    error: f.get(5).unwrap_or(&"").to_string(),
                });
                last = Instant::now();
            }
        } else {
            eprintln!("  worker {i}: {line}");
        }
    }
    let elapsed = last - started;
    tell(&mut workers, "STOP");
    let mut m = Measured {
        expected,
        elapsed,
        per_worker: vec![0; n],
        ..Default::default()
    };
    // Late runs (there should be none) and the workers' summaries.
    let mut done = 0;
    let stop_deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while done < n {
        let line = tokio::select! {
            l = rx.recv() => l,
            _ = tokio::time::sleep_until(stop_deadline) => None,
        };
        let Some((i, line)) = line else { break };
        if let Some(rest) = line.strip_prefix("DONE ") {
            done += 1;
            if let Some(hwm) = rest.split(' ').next().and_then(|v| v.parse().ok()) {
                m.rss_kib.push(hwm);
            }
        } else if let Some(rest) = line.strip_prefix("RUN ") {
            let f: Vec<&str> = rest.splitn(6, ' ').collect();
            if f.len() >= 5 {
                runs.push(RunLine {
                    worker: i,
                    integration: f[0].to_owned(),
                    operation: f[1].to_owned(),
                    start_us: f[2].parse().unwrap_or(0),
                    end_us: f[3].parse().unwrap_or(0),
                    ok: f[4] == "ok",
                    error: f.get(5).unwrap_or(&"").to_string(),
                });
            }
        } else {
            eprintln!("  worker {i}: {line}");
        }
    }
    for mut w in workers {
        drop(w.stdin);
        let _ = w.child.wait();
    }
    // The checks: each operation once, no integration's runs on two workers at once.
    let mut by_op: HashMap<(String, String), usize> = HashMap::new();
    let mut by_integration: HashMap<String, Vec<(i64, i64, usize)>> = HashMap::new();
    for r in &runs {
        m.per_worker[r.worker] += 1;
        *by_op
            .entry((r.integration.clone(), r.operation.clone()))
            .or_default() += 1;
        by_integration
            .entry(r.integration.clone())
            .or_default()
            .push((r.start_us, r.end_us, r.worker));
        if !r.ok {
            m.failed += 1;
            if m.first_errors.len() < 5 {
                m.first_errors
                    .push(format!("{} {}: {}", r.operation, r.integration, r.error));
            }
        }
    }
    m.ops = runs.len();
    m.duplicates = by_op.values().map(|k| k - 1).sum();
    for spans in by_integration.values_mut() {
        spans.sort();
        for (a, b) in spans.iter().zip(spans.iter().skip(1)) {
            // Overlap: the later start before the earlier end, on another worker.
            if a.2 != b.2 && b.0 < a.1 {
                m.overlaps += 1;
            }
        }
    }
    Ok(m)
}

/// The worker process: reads its plan on stdin, attaches the adapters, runs a scheduler from
/// "START" until "STOP" (or stdin closes), reporting every run; prints its peak RSS at the end.
fn worker(opts: &Opts) -> Result<(), BoxError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut builder = if opts.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(opts.threads);
        b
    };
    let rt = builder.enable_all().build()?;
    rt.block_on(async move {
        let mut url = None;
        let mut plan = Vec::new();
        while let Some(line) = rx.recv().await {
            if let Some(u) = line.strip_prefix("STORE ") {
                url = Some(SecretString::from(u.to_owned()));
            } else if let Some(rest) = line.strip_prefix("CH ") {
                let f: Vec<&str> = rest.splitn(3, ' ').collect();
                let market = Market::parse(f[0]).ok_or("unknown marketplace")?;
                let id: IntegrationId = f[1].parse().map_err(|_| "bad integration id")?;
                plan.push((market, id, f[2].to_owned()));
            } else if line == "GO" {
                break;
            }
        }
        let url = url.ok_or("no store given")?;
        let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url).await?);
        let worker = WorkerId::new("scale");
        let engine = Engine::new(
            store,
            catalog(opts.listings)?,
            Arc::new(MemoryNotifier::new()),
            Arc::new(SystemClock),
        )
        .with_credential_key(key())
        .with_worker_id(worker.clone());
        for (market, id, base) in &plan {
            engine
                .attach_channel(*id, build_channel(*market, base)?)
                .await?;
        }
        let scheduler = Scheduler::new(Arc::new(engine), opts.concurrency).with_worker(worker);
        println!("READY");
        loop {
            match rx.recv().await {
                Some(line) if line == "START" => break,
                Some(_) => continue,
                None => return Ok(()),
            }
        }
        // The peak from here on is the scheduler's (the adapters are attached).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let (reports_tx, mut reports) = tokio::sync::mpsc::channel::<Report>(1024);
        let stop = async move {
            while let Some(line) = rx.recv().await {
                if line == "STOP" {
                    break;
                }
            }
        };
        let printer = tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                let line = match report {
                    Report::Run(r) => {
                        let end = Utc::now().timestamp_micros();
                        let (ok, error) = match &r.result {
                            Ok(_) => ("ok", String::new()),
                            Err(e) => ("err", e.to_string().replace('\n', " ")),
                        };
                        format!(
                            "RUN {} {} {} {end} {ok} {error}",
                            r.integration,
                            r.operation.as_str(),
                            r.started_at.timestamp_micros(),
                        )
                    }
                    Report::Failed(f) => format!("FAILED {} {}", f.integration, f.error),
                };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        });
        let summary = scheduler
            .run(Duration::from_millis(5), stop, reports_tx)
            .await;
        let _ = printer.await;
        let (hwm, rss) = rss_self().unwrap_or((0, 0));
        println!("DONE {hwm} {rss} passes={}", summary.passes);
        Ok::<(), BoxError>(())
    })
}

/// Peak RSS (VmHWM) and current RSS (VmRSS) of this process, in KiB (Linux only).
fn rss_self() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

// ----- the two parts -----

/// One sandbox run: fresh schema and sandboxes, `opts.integrations` integrations, `n` workers.
async fn sandbox_run(
    url: &str,
    n: usize,
    opts: &Opts,
    tag: &str,
) -> Result<(Measured, Duration), BoxError> {
    let schema = format!("scale_{}_{tag}", std::process::id());
    let run_url = create_schema(url, &schema).await?;
    let result = async {
        let pg = PostgresStore::connect(&run_url).await?;
        let store: Arc<dyn Store> = Arc::new(pg.clone());
        let engine = Arc::new(
            Engine::new(
                store.clone(),
                catalog(opts.listings)?,
                Arc::new(MemoryNotifier::new()),
                Arc::new(SystemClock),
            )
            .with_credential_key(key()),
        );
        let setup_started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let mut made = Vec::new();
        for i in 0..opts.integrations {
            let market = MARKETS[i % MARKETS.len()];
            let engine = engine.clone();
            let (l, o) = (opts.listings, opts.orders);
            tasks.spawn(async move { (market, setup_one(&engine, market, i, l, o).await) });
            while tasks.len() >= 16 {
                let (market, r) = tasks.join_next().await.ok_or("setup")??;
                made.push((market, r?));
            }
        }
        while let Some(r) = tasks.join_next().await {
            let (market, r) = r?;
            made.push((market, r?));
        }
        let setup = setup_started.elapsed();
        let ids: Vec<IntegrationId> = made.iter().map(|(_, (_, id))| *id).collect();
        let expected = due_operations(store.as_ref(), &ids).await?;
        let plan: Vec<(Market, IntegrationId, String)> = made
            .iter()
            .map(|(m, (h, id))| (*m, *id, h.base_url()))
            .collect();
        let before: u64 = made.iter().map(|(_, (h, _))| h.throttled()).sum();
        let requests_before: u64 = made.iter().map(|(_, (h, _))| h.requests()).sum();
        let mut m = drive(n, &run_url, &plan, expected, opts, Duration::from_secs(600)).await?;
        m.throttled = made.iter().map(|(_, (h, _))| h.throttled()).sum::<u64>() - before;
        m.requests = made.iter().map(|(_, (h, _))| h.requests()).sum::<u64>() - requests_before;
        drop(made);
        pg.close().await;
        Ok::<_, BoxError>((m, setup))
    }
    .await;
    drop_schema(url, &schema).await;
    result
}

/// Store-call timings at one integration count.
#[derive(Clone, Debug, Default)]
struct StoreTimes {
    claim_page: Vec<Duration>,
    per_op: Vec<Duration>,
}

/// The store-only part at `count` integrations: claim and per-operation store costs timed in
/// this process, then one worker working every integration once (its peak RSS).
async fn store_only(
    url: &str,
    count: usize,
    opts: &Opts,
) -> Result<(StoreTimes, Measured), BoxError> {
    let schema = format!("scale_{}_store_{count}", std::process::id());
    let run_url = create_schema(url, &schema).await?;
    let result = async {
        let pg = PostgresStore::connect(&run_url).await?;
        let store: Arc<dyn Store> = Arc::new(pg.clone());
        let engine = Arc::new(
            Engine::new(
                store.clone(),
                Arc::new(MemoryCatalog::new()),
                Arc::new(MemoryNotifier::new()),
                Arc::new(SystemClock),
            )
            .with_credential_key(key()),
        );
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let mut ids = Vec::new();
        for i in 0..count {
            let engine = engine.clone();
            tasks.spawn(async move {
                let kind = MARKETS[i % 4];
                let channel: Arc<dyn Channel> = Arc::new(MemoryChannel::new(match kind {
                    Market::ChannelAdvisor => ChannelKind::ChannelAdvisor,
                    Market::Reverb => ChannelKind::Reverb,
                    Market::Allegro => ChannelKind::Allegro,
                    Market::Tradera => ChannelKind::Tradera,
                }));
                let k = channel.kind();
                engine
                    .create_integration(
                        format!("store-only {i}"),
                        channel,
                        settings(k, kind.currency())?,
                        seller(),
                    )
                    .await
                    .map_err(BoxError::from)
            });
            while tasks.len() >= 32 {
                ids.push(tasks.join_next().await.ok_or("setup")???);
            }
        }
        while let Some(r) = tasks.join_next().await {
            ids.push(r??);
        }
        eprintln!(
            "  store-only {count}: registered in {:.1}s",
            started.elapsed().as_secs_f64()
        );

        // The scheduler's store calls, one caller: claim a page, then per integration the
        // start and the finish recorded and the release (due again at once, so the next claim
        // finds a full page; the most overdue first, so it walks the whole table).
        let mut times = StoreTimes::default();
        let probe = WorkerId::new("probe");
        let lease = Duration::from_secs(60);
        for _ in 0..40 {
            let now = Utc::now();
            let t = Instant::now();
            let claims = store.claim_work(&probe, now, lease, PAGE).await?;
            let claim = t.elapsed();
            let t = Instant::now();
            for c in &claims {
                let start = marketsync_core::store::RunTimes {
                    last_started: Some(now),
                    last_finished: None,
                };
                store
                    .record_run(c.integration, &probe, "probe", &start)
                    .await?;
                let finish = marketsync_core::store::RunTimes {
                    last_started: Some(now),
                    last_finished: Some(Utc::now()),
                };
                store
                    .record_run(c.integration, &probe, "probe", &finish)
                    .await?;
                store.release_work(c.integration, &probe, now).await?;
            }
            let rest = t.elapsed();
            let k = claims.len().max(1) as u32;
            times.claim_page.push(claim);
            times.per_op.push(claim / k + rest / k);
        }
        // Start the worker part from a clean slate: the probe's run times out of the way.
        // (The probe's operation name is not one the scheduler runs; every integration is due.)
        let expected = due_operations(store.as_ref(), &ids).await?;
        let m = drive(1, &run_url, &[], expected, opts, Duration::from_secs(900)).await?;
        pg.close().await;
        Ok::<_, BoxError>((times, m))
    }
    .await;
    drop_schema(url, &schema).await;
    result
}

// ----- options and summary -----

#[derive(Clone, Debug)]
struct Opts {
    integrations: usize,
    workers: Vec<usize>,
    runs: usize,
    listings: usize,
    orders: usize,
    concurrency: usize,
    threads: usize,
    store_only: Vec<usize>,
    skip_sandbox: bool,
    skip_store_only: bool,
    worker: bool,
}

fn parse_opts() -> Result<Opts, BoxError> {
    let mut o = Opts {
        integrations: 1000,
        workers: vec![1, 2, 4],
        runs: 3,
        listings: 3,
        orders: 3,
        concurrency: 8,
        threads: 1,
        store_only: vec![1000, 10_000],
        skip_sandbox: false,
        skip_store_only: false,
        worker: false,
    };
    let list = |s: &str| -> Result<Vec<usize>, BoxError> {
        s.split(',')
            .map(|v| v.trim().parse::<usize>().map_err(BoxError::from))
            .collect()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--integrations" => o.integrations = value()?.parse()?,
            "--workers" => o.workers = list(&value()?)?,
            "--runs" => o.runs = value()?.parse()?,
            "--listings" => o.listings = value()?.parse()?,
            "--orders" => o.orders = value()?.parse()?,
            "--concurrency" => o.concurrency = value()?.parse()?,
            "--threads" => o.threads = value()?.parse()?,
            "--store-only" => o.store_only = list(&value()?)?,
            "--skip-sandbox" => o.skip_sandbox = true,
            "--skip-store-only" => o.skip_store_only = true,
            "--worker" => o.worker = true,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(o)
}

fn median_min_max(mut v: Vec<f64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() -> Result<(), BoxError> {
    let opts = parse_opts()?;
    if opts.worker {
        return worker(&opts);
    }
    let url = std::env::var(URL_VAR).map_err(|_| {
        format!("{URL_VAR} is not set: start a server with `eval \"$(.ci/postgres.sh)\"`")
    })?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        if !opts.skip_sandbox {
            let mut results: BTreeMap<usize, Vec<Measured>> = BTreeMap::new();
            for run in 0..opts.runs {
                // The configurations side by side in each repetition.
                for &n in &opts.workers {
                    eprintln!(
                        "sandbox run {} of {}, {n} worker(s), {} integrations",
                        run + 1,
                        opts.runs,
                        opts.integrations
                    );
                    let (m, setup) = sandbox_run(&url, n, &opts, &format!("{run}_{n}")).await?;
                    println!(
                        "RESULT sandbox workers={n} run={} ops={}/{} elapsed={:.2}s ops/s={:.1} failed={} duplicates={} overlaps={} 429s={} requests={} per_worker={:?} worker_peak_rss_kib={:?} setup={:.1}s",
                        run + 1,
                        m.ops,
                        m.expected,
                        m.elapsed.as_secs_f64(),
                        m.ops_per_s(),
                        m.failed,
                        m.duplicates,
                        m.overlaps,
                        m.throttled,
                        m.requests,
                        m.per_worker,
                        m.rss_kib,
                        setup.as_secs_f64()
                    );
                    for e in &m.first_errors {
                        println!("  error: {e}");
                    }
                    results.entry(n).or_default().push(m);
                }
            }
            let base = results
                .get(&1)
                .map(|v| median_min_max(v.iter().map(Measured::ops_per_s).collect()).0);
            println!("\nSUMMARY sandbox ({} integrations)", opts.integrations);
            println!("| workers | ops/s median (min–max) | speed-up | failed | twice | overlaps | 429s |");
            for (n, v) in &results {
                let (med, min, max) = median_min_max(v.iter().map(Measured::ops_per_s).collect());
                let speedup = base.map_or(f64::NAN, |b| med / b);
                println!(
                    "| {n} | {med:.1} ({min:.1}–{max:.1}) | {speedup:.2} | {} | {} | {} | {} |",
                    v.iter().map(|m| m.failed).sum::<usize>(),
                    v.iter().map(|m| m.duplicates).sum::<usize>(),
                    v.iter().map(|m| m.overlaps).sum::<usize>(),
                    v.iter().map(|m| m.throttled).sum::<u64>(),
                );
            }
        }
        if !opts.skip_store_only {
            println!("\nSUMMARY store only");
            println!("| integrations | claim of a page of {PAGE}: median (min–max) | store calls per operation: median (min–max) | one worker: ops/s | worker peak RSS |");
            for &count in &opts.store_only {
                eprintln!("store-only, {count} integrations");
                let (t, m) = store_only(&url, count, &opts).await?;
                let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
                let (c, cmin, cmax) = median_min_max(t.claim_page.iter().map(ms).collect());
                let (p, pmin, pmax) = median_min_max(t.per_op.iter().map(ms).collect());
                println!(
                    "RESULT store-only integrations={count} ops={}/{} elapsed={:.2}s ops/s={:.1} failed={} duplicates={} overlaps={} worker_peak_rss_kib={:?}",
                    m.ops,
                    m.expected,
                    m.elapsed.as_secs_f64(),
                    m.ops_per_s(),
                    m.failed,
                    m.duplicates,
                    m.overlaps,
                    m.rss_kib
                );
                for e in &m.first_errors {
                    println!("  error: {e}");
                }
                println!(
                    "| {count} | {c:.2} ms ({cmin:.2}–{cmax:.2}) | {p:.3} ms ({pmin:.3}–{pmax:.3}) | {:.1} | {:?} KiB |",
                    m.ops_per_s(),
                    m.rss_kib
                );
            }
        }
        Ok::<(), BoxError>(())
    })
}
