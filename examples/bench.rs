//! End-to-end benchmark: every adapter through the engine and the SQLite store against its
//! sandbox, held to the marketplace's rate limits. See BENCHMARKS.md for what each figure means
//! and how the minimal request counts are derived.
//!
//! ```text
//! cargo run --release --example bench                         # every channel, 5 runs each
//! cargo run --release --example bench -- --channel allegro --runs 1
//! cargo run --release --example bench -- --listings 1000 --orders 1000 --runs 1   # quick
//! cargo run --release --example bench -- --rss reverb         # peak RSS of a 100k sync alone
//! ```
//!
//! Options: `--channel channeladvisor|reverb|allegro|tradera|all`, `--runs N` (5),
//! `--listings N` (10000), `--orders N` (10000), `--scale N` (per channel, see `Spec::scale`),
//! `--rss-listings N` (100000), `--no-rss`, `--guard-permille N` (the limiter's guard at window
//! edges, default `marketsync_http::DEFAULT_GUARD_PERMILLE` = 10: each permit counts 1% longer
//! than the marketplace's window, see BENCHMARKS.md "429s at the window edge"),
//! `--rss CHANNEL` (run only the RSS measurement; the normal mode runs it in a child process so
//! its peak is its own), `--rss-in-process CHANNEL` (the same with the sandbox in this process,
//! for comparison).
//!
//! **Peak RSS.** `--rss` measures the library alone. It re-invokes this program as
//! `--serve-sandbox CHANNEL --rss-listings N`, a child that seeds the sandbox, prints its base
//! URL and the credentials on stdout and serves until its stdin closes. Then two more children,
//! each handed the sandbox's line, a new SQLite file and the sandbox's pid on stdin:
//! `--rss-link` sets the integration up against the sandbox, links the listings and exits;
//! `--rss-sync`, a fresh process, opens the same file, attaches a new adapter to the stored
//! integration (as a restarted host does), resets its peak (`/proc/self/clear_refs`) and syncs.
//! The catalogue both read is made on demand from the SKU (the host's data lives in the host's
//! database, not in the library's memory). It prints the sync process's peak during the sync,
//! its RSS before and the growth, the link process's peak, and the sandbox child's peaks apart.
//! The timing runs keep the sandbox in process.
//!
//! **Scaling.** The real limits make a run long (ChannelAdvisor's 2,000 requests a minute need
//! about 15 minutes for this work; Tradera's 100 calls a day, three days). A scale factor `s`
//! shortens every rate window to `window / s` with the same count, for the adapter's limiter
//! and for the sandbox alike (the sandbox runs on a clock `s` times faster than real time), so
//! the ratio of work to budget is unchanged.
//!
//! Timings are wall clock on whatever machine runs this: compare runs on one machine only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use marketsync::sqlite::SqliteStore;
use marketsync_core::credentials::{LoginSession, OAuthTokens};
use marketsync_core::lifecycle::Event;
use marketsync_core::{
    Actor, Catalog, CatalogError, CatalogPage, Channel, Clock, CredentialKey, Credentials,
    Currency, Engine, Feature, IntegrationSettings, InventoryItem, Label, MemoryNotifier, Money,
    SecretString, Sku, Store, SystemClock,
};
use marketsync_http::{Limits, RateLimiter};
use marketsync_sandbox::{
    AllegroHarness, AllegroSandbox, ChannelAdvisorHarness, ChannelAdvisorSandbox, Counters,
    ReverbHarness, ReverbSandbox, TraderaHarness, TraderaSandbox,
};
use marketsync_testkit::channel::{ChannelHarness, Rig};
use secrecy::ExposeSecret;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A clock that runs `scale` times faster than real time, from the real time it was made at:
/// the sandbox's one-minute (or one-day) windows pass in `1/scale` of the real time.
#[derive(Debug)]
struct ScaledClock {
    origin: Instant,
    at_origin: DateTime<Utc>,
    scale: f64,
}

impl ScaledClock {
    fn new(scale: f64) -> Self {
        Self {
            origin: Instant::now(),
            at_origin: Utc::now(),
            scale,
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.origin.elapsed().mul_f64(self.scale);
        self.at_origin + TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    ChannelAdvisor,
    Reverb,
    Allegro,
    Tradera,
}

const ALL: [Which; 4] = [
    Which::ChannelAdvisor,
    Which::Reverb,
    Which::Allegro,
    Which::Tradera,
];

/// A marketplace's binding rate limit and the benchmark's defaults for it.
#[derive(Clone, Copy, Debug)]
struct Spec {
    /// Requests per window (the binding quota).
    count: u32,
    /// The real window.
    window: Duration,
    /// Requests in flight at once, if capped.
    concurrent: Option<u32>,
    /// Default scale factor.
    scale: u32,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::ChannelAdvisor => "channeladvisor",
            Which::Reverb => "reverb",
            Which::Allegro => "allegro",
            Which::Tradera => "tradera",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        ALL.into_iter().find(|w| w.name() == s)
    }

    fn spec(self) -> Spec {
        match self {
            // 2,000 requests a minute per profile (a `$batch` costs 1 + its parts), 5 at once.
            Which::ChannelAdvisor => Spec {
                count: marketsync_channeladvisor::REQUESTS_PER_MINUTE,
                window: Duration::from_secs(60),
                concurrent: Some(marketsync_channeladvisor::CONCURRENT_REQUESTS),
                scale: 10,
            },
            // Reverb publishes no limit; the adapter holds itself to 4 a second (its default),
            // tighter than the sandbox's invented 300 a minute, so 4/s is the binding quota.
            Which::Reverb => Spec {
                count: marketsync_reverb::DEFAULT_REQUESTS_PER_SECOND,
                window: Duration::from_secs(1),
                concurrent: None,
                scale: 50,
            },
            // 9,000 requests a minute per client id.
            Which::Allegro => Spec {
                count: marketsync_allegro::REQUESTS_PER_MINUTE,
                window: Duration::from_secs(60),
                concurrent: None,
                scale: 10,
            },
            // 100 calls a day per application (the default budget).
            Which::Tradera => Spec {
                count: marketsync_tradera::DEFAULT_DAILY_BUDGET,
                window: Duration::from_secs(24 * 60 * 60),
                concurrent: None,
                scale: 8640,
            },
        }
    }
}

fn scaled(window: Duration, scale: u32) -> Duration {
    window / scale.max(1)
}

/// The adapter's limits: the marketplace's quota over the window shortened by `scale`, with the
/// limiter's guard at window edges set to `guard_permille` / 1000 of it (the limiter lengthens
/// each permit by the guard itself; `--guard-permille` defaults to the library's
/// [`marketsync_http::DEFAULT_GUARD_PERMILLE`]); waits of a whole window are slept.
fn limits(spec: Spec, scale: u32, guard_permille: u32) -> Limits {
    let window = scaled(spec.window, scale);
    let guarded = window + window * guard_permille / 1000;
    let mut l = Limits::default()
        .quota(spec.count, window)
        .guard_permille(guard_permille)
        .max_wait(guarded + Duration::from_secs(5));
    if let Some(n) = spec.concurrent {
        l = l.concurrency(n as usize);
    }
    l
}

/// One started harness, whatever the marketplace.
enum Harness {
    ChannelAdvisor(ChannelAdvisorHarness),
    Reverb(ReverbHarness),
    Allegro(AllegroHarness),
    Tradera(TraderaHarness),
}

impl Harness {
    /// Starts the sandbox on a clock `scale` times faster than real time and the adapter with
    /// the same limits over windows `scale` times shorter. `limited: false` turns both off.
    async fn start(
        which: Which,
        scale: u32,
        limited: bool,
        guard_permille: u32,
    ) -> Result<Self, BoxError> {
        let spec = which.spec();
        let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(f64::from(scale.max(1))));
        let limiter = RateLimiter::new(if limited {
            limits(spec, scale, guard_permille)
        } else {
            Limits::none()
        });
        let knobs = marketsync_sandbox::Knobs {
            enforce_rate_limits: limited,
            // The log says which requests were answered 429 (Tradera's budget is the fake's own).
            log_capacity: if limited { 1_000_000 } else { 0 },
            ..Default::default()
        };
        // Tokens outlive the run on the fast clock.
        let long = Duration::from_secs(24 * 60 * 60 * u64::from(scale.max(1)));
        Ok(match which {
            Which::ChannelAdvisor => Harness::ChannelAdvisor(
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
            Which::Reverb => Harness::Reverb(
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
            Which::Allegro => Harness::Allegro(
                AllegroHarness::builder()
                    .sandbox(
                        AllegroSandbox::builder()
                            .offers(0)
                            .orders(0)
                            .clock(clock)
                            .access_ttl(TimeDelta::hours(12) * scale.max(1) as i32)
                            .command_polls(0),
                    )
                    .knobs(knobs)
                    .rate_limiter(limiter)
                    .start()
                    .await?,
            ),
            Which::Tradera => Harness::Tradera(
                TraderaHarness::builder()
                    .sandbox(
                        TraderaSandbox::builder()
                            .items(0)
                            .orders(0)
                            .clock(clock)
                            .token_lifetime(long),
                    )
                    .daily_budget(if limited { spec.count } else { u32::MAX / 2 })
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

    fn counters(&self) -> Counters {
        match self {
            Harness::ChannelAdvisor(h) => h.sandbox().counters(),
            Harness::Reverb(h) => h.sandbox().counters(),
            Harness::Allegro(h) => h.sandbox().counters(),
            Harness::Tradera(h) => h.sandbox().counters(),
        }
    }

    /// Requests answered 429 since the counters were reset (by the framework's limits or by
    /// the fake's own budget).
    fn throttled(&self, since_seq: u64) -> u64 {
        use marketsync_sandbox::{LoggedRequest, Outcome};
        let log: Vec<LoggedRequest> = match self {
            Harness::ChannelAdvisor(h) => h.sandbox().requests(),
            Harness::Reverb(h) => h.sandbox().requests(),
            Harness::Allegro(h) => h.sandbox().requests(),
            Harness::Tradera(h) => h.sandbox().requests(),
        };
        log.iter()
            .filter(|r| r.seq >= since_seq)
            .filter(|r| matches!(r.outcome, Outcome::Throttled(_) | Outcome::Handled(429)))
            .count() as u64
    }

    /// The sequence number the next request will get.
    fn next_seq(&self) -> u64 {
        let log = match self {
            Harness::ChannelAdvisor(h) => h.sandbox().requests(),
            Harness::Reverb(h) => h.sandbox().requests(),
            Harness::Allegro(h) => h.sandbox().requests(),
            Harness::Tradera(h) => h.sandbox().requests(),
        };
        log.last().map_or(0, |r| r.seq + 1)
    }

    fn reset_counters(&self) {
        match self {
            Harness::ChannelAdvisor(h) => h.sandbox().reset_counters(),
            Harness::Reverb(h) => h.sandbox().reset_counters(),
            Harness::Allegro(h) => h.sandbox().reset_counters(),
            Harness::Tradera(h) => h.sandbox().reset_counters(),
        }
    }

    /// The order pages as the marketplace serves them (the local ceiling parses these), read
    /// with a bare HTTP client; and the JSON pointer of the orders array in each.
    async fn order_pages(
        &self,
        since: DateTime<Utc>,
    ) -> Result<(Vec<Vec<u8>>, &'static str), BoxError> {
        let http = marketsync_http::client_builder()
            .build()
            .expect("an HTTP client");
        let mut pages = Vec::new();
        match self {
            Harness::ChannelAdvisor(h) => {
                let token = h.sandbox().issue_access_token();
                let mut url = format!(
                    "{}/v1/Orders?exported=false&$expand=Items&$top=100",
                    h.sandbox().base_url()
                );
                loop {
                    let body = http
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await?
                        .error_for_status()?
                        .bytes()
                        .await?
                        .to_vec();
                    let v: Value = serde_json::from_slice(&body)?;
                    pages.push(body);
                    match v["@odata.nextLink"].as_str() {
                        Some(next) => url = next.to_owned(),
                        None => break,
                    }
                }
                Ok((pages, "/value"))
            }
            Harness::Reverb(h) => {
                let mut url = format!(
                    "{}/api/my/orders/selling/all?per_page=100",
                    h.sandbox().base_url()
                );
                loop {
                    let body = http
                        .get(&url)
                        .bearer_auth(h.current_token())
                        .header("Accept-Version", "3.0")
                        .header("Accept", "application/hal+json")
                        .send()
                        .await?
                        .error_for_status()?
                        .bytes()
                        .await?
                        .to_vec();
                    let v: Value = serde_json::from_slice(&body)?;
                    pages.push(body);
                    match v["_links"]["next"]["href"].as_str() {
                        Some(next) if next.starts_with("http") => url = next.to_owned(),
                        Some(next) => url = format!("{}{next}", h.sandbox().base_url()),
                        None => break,
                    }
                }
                Ok((pages, "/orders"))
            }
            Harness::Allegro(h) => {
                let session = h.current_session();
                let token = session.token.expose_secret().to_owned();
                let mut offset = 0usize;
                loop {
                    let url = format!(
                        "{}/order/checkout-forms?limit=100&offset={offset}",
                        h.sandbox().base_url()
                    );
                    let body = http
                        .get(&url)
                        .bearer_auth(&token)
                        .header("Accept", "application/vnd.allegro.public.v1+json")
                        .send()
                        .await?
                        .error_for_status()?
                        .bytes()
                        .await?
                        .to_vec();
                    let v: Value = serde_json::from_slice(&body)?;
                    let n = v["checkoutForms"].as_array().map_or(0, Vec::len);
                    if n == 0 {
                        break;
                    }
                    pages.push(body);
                    offset += n;
                }
                Ok((pages, "/checkoutForms"))
            }
            Harness::Tradera(h) => {
                let creds = h.sandbox().credentials();
                let (token, _) = h.current_token();
                let url = format!("{}/v4/orders", h.sandbox().base_url());
                let body = http
                    .get(&url)
                    .query(&[
                        ("fromDate", since.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                        (
                            "toDate",
                            (Utc::now() + TimeDelta::days(1))
                                .format("%Y-%m-%dT%H:%M:%SZ")
                                .to_string(),
                        ),
                        ("queryDateMode", "0".to_owned()),
                    ])
                    .header("X-App-Id", creds.app_id.to_string())
                    .header("X-App-Key", creds.app_key.clone())
                    .header("X-User-Id", creds.user_id.to_string())
                    .header("X-User-Token", token)
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?
                    .to_vec();
                pages.push(body);
                Ok((pages, ""))
            }
        }
    }
}

/// Budget units a phase spent: every HTTP request the sandbox received, whatever its answer
/// (token requests, reads, 429s, 5xx and retries included), plus the parts inside batches
/// (ChannelAdvisor charges each part against the same per-minute budget).
fn cost(c: &Counters) -> u64 {
    c.total + c.batch_parts.values().sum::<u64>()
}

/// The shortest time a sliding-window quota of `count` per `window` allows for `units` (from a
/// full budget): unit `k` (0-based) can go at `floor(k / count) * window` at the earliest.
fn permitted_minimum(units: u64, count: u32, window: Duration) -> Duration {
    if units == 0 {
        return Duration::ZERO;
    }
    window * ((units - 1) / u64::from(count)) as u32
}

/// The catalog of the run: SKU, price (whole units) and quantity; a few price points and stock
/// levels, as real catalogues have (Allegro groups its commands by them). Never quantity 0.
fn item(i: usize) -> (String, String, u32) {
    (
        format!("BENCH-{i:07}"),
        format!("{}", 100 + (i * 7) % 50),
        1 + (i % 20) as u32,
    )
}

/// The fewest requests (budget units) the marketplace's API allows for syncing `n` changed
/// listings and importing `m` new orders, and how it is made up. See BENCHMARKS.md.
///
/// This is the API's floor, not what the engine happens to do: no read-back of the linked
/// listings is counted (every listing is sent, and the channels report a missing listing per
/// item on update, so an all-changed sync has nothing to read back) and no token request (the
/// run's tokens outlive it). Orders are read in the largest pages each API allows.
fn minimal(which: Which, n: usize, m: usize) -> (u64, u64, String) {
    let n64 = n as u64;
    let m64 = m as u64;
    let pages = m64.div_ceil(100);
    match which {
        Which::ChannelAdvisor => {
            // Two requests per listing (UpdateQuantity, PATCH price), 100 requests per $batch,
            // each $batch costs itself + its parts. Orders: pages of 100, then one Export per
            // order (Export cannot be batched).
            let parts = 2 * n64;
            let sync = parts.div_ceil(100) + parts;
            let import = pages + m64;
            (
                sync,
                import,
                format!("sync ceil(2n/100) + 2n = {sync}; import ceil(m/100) + m = {import}"),
            )
        }
        Which::Reverb => {
            // No batch endpoint: one PUT per listing. Orders: pages of 100.
            (
                n64,
                pages,
                format!("sync n = {n}; import ceil(m/100) = {pages}"),
            )
        }
        Which::Allegro => {
            // Per 1,000 offers: one command per distinct quantity and per distinct price, each
            // read once for its tasks. Orders: the journal position, then pages of 100.
            let mut sync = 0u64;
            let mut skus: Vec<usize> = (0..n).collect();
            skus.sort_by_key(|&i| item(i).0);
            for chunk in skus.chunks(1000) {
                let q: BTreeSet<u32> = chunk.iter().map(|&i| item(i).2).collect();
                let p: BTreeSet<String> = chunk.iter().map(|&i| item(i).1).collect();
                sync += 2 * (q.len() + p.len()) as u64;
            }
            let import = 1 + pages;
            (
                sync,
                import,
                format!(
                    "sync sum over 1000-offer chunks of 2 x (distinct quantities + distinct prices) = {sync}; import 1 + ceil(m/100) = {import}"
                ),
            )
        }
        Which::Tradera => {
            // Per 100 shop items: quantities PUT, prices PUT, one results read for the queued
            // prices. Orders: one call for the date window.
            let sync = 3 * n64.div_ceil(100);
            (sync, 1, format!("sync 3 x ceil(n/100) = {sync}; import 1"))
        }
    }
}

#[derive(Debug, Clone, Default)]
struct RunResult {
    sync_elapsed: Duration,
    sync_min: Duration,
    sync_cost: u64,
    sync_requests: u64,
    sync_sent: usize,
    import_elapsed: Duration,
    import_min: Duration,
    import_cost: u64,
    import_requests: u64,
    imported: usize,
    throttled: u64,
    ceiling_per_s: f64,
    by_operation: BTreeMap<String, u64>,
    minimal_sync: u64,
    minimal_import: u64,
    minimal_text: String,
}

impl RunResult {
    fn efficiency(&self) -> Option<f64> {
        let min = self.sync_min + self.import_min;
        let elapsed = self.sync_elapsed + self.import_elapsed;
        (!min.is_zero()).then(|| min.as_secs_f64() / elapsed.as_secs_f64())
    }

    fn economy(&self) -> f64 {
        (self.sync_cost + self.import_cost) as f64
            / (self.minimal_sync + self.minimal_import).max(1) as f64
    }

    fn orders_per_s(&self) -> f64 {
        self.imported as f64 / self.import_elapsed.as_secs_f64()
    }
}

fn temp_db(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "marketsync-bench-{}-{tag}-{}.db",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ))
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// Sets up an engine on a fresh SQLite file with `n` catalog items and `n` stale listings at
/// the channel (every one differs from the catalog), linked; and `m` importable orders.
async fn setup<'a>(
    h: &'a Harness,
    store: Arc<dyn Store>,
    n: usize,
    m: usize,
) -> Result<Rig<'a>, BoxError> {
    let harness = h.harness();
    let started = Instant::now();
    let rig = Rig::new(harness, store).await;
    let stale = Money::parse("1", harness.currency().code())?;
    for i in 0..n {
        let (sku, price, qty) = item(i);
        rig.item(&sku, &price, qty);
        harness.add_listing(&Sku::new(sku)?, stale, 100).await;
    }
    for i in 0..m {
        let (sku, _, _) = item(i % n.max(1));
        harness
            .add_order(&rig.order(&format!("bench-order-{i}"), &[sku.as_str()]))
            .await;
    }
    eprintln!(
        "  setup: {n} listings and {m} orders at the channel in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let linked = rig.engine.link_listings(rig.id).await?;
    eprintln!("  setup: linked in {:.1}s", started.elapsed().as_secs_f64());
    if linked.linked.len() != n {
        return Err(format!("linked {} of {n} listings", linked.linked.len()).into());
    }
    Ok(rig)
}

/// The local ceiling: the same order pages parsed with serde_json alone and the same number of
/// ledger rows (the order JSON) plus import-log rows inserted with bare prepared statements, one
/// transaction per page, on a SQLite file with the store's settings (WAL, synchronous FULL).
async fn ceiling(pages: &[Vec<u8>], pointer: &str) -> Result<(usize, Duration), BoxError> {
    let path = temp_db("ceiling");
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await?;
    sqlx::query(
        "CREATE TABLE ledger (integration_id TEXT NOT NULL, channel_order_id TEXT NOT NULL, \
         outcome TEXT NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (integration_id, channel_order_id)) STRICT",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "CREATE TABLE import_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, integration_id TEXT NOT NULL, \
         channel_order_id TEXT NOT NULL, imported_at TEXT NOT NULL) STRICT",
    )
    .execute(&mut conn)
    .await?;
    let started = Instant::now();
    let mut rows = 0usize;
    for body in pages {
        let v: Value = serde_json::from_slice(body)?;
        let orders = v
            .pointer(pointer)
            .and_then(Value::as_array)
            .ok_or("no orders array in the page")?;
        let mut tx = conn.begin().await?;
        for o in orders {
            let id = ["ID", "order_number", "id", "orderId"]
                .iter()
                .find_map(|k| match &o[*k] {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .ok_or("an order without an id")?;
            sqlx::query(
                "INSERT INTO ledger (integration_id, channel_order_id, outcome, entry) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind("bench")
            .bind(&id)
            .bind("imported")
            .bind(o.to_string())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO import_log (integration_id, channel_order_id, imported_at) VALUES (?1, ?2, ?3)",
            )
            .bind("bench")
            .bind(&id)
            .bind(Utc::now().to_rfc3339())
            .execute(&mut *tx)
            .await?;
            rows += 1;
        }
        tx.commit().await?;
    }
    let elapsed = started.elapsed();
    drop(conn);
    remove_db(&path);
    Ok((rows, elapsed))
}

async fn run_once(
    which: Which,
    n: usize,
    m: usize,
    scale: u32,
    guard_permille: u32,
) -> Result<RunResult, BoxError> {
    let spec = which.spec();
    let window = scaled(spec.window, scale);
    let h = Harness::start(which, scale, true, guard_permille).await?;
    let path = temp_db(which.name());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await?);
    let rig = setup(&h, store, n, m).await?;
    let since = Utc::now() - TimeDelta::days(2);
    let (pages, pointer) = h.order_pages(since).await?;

    let (minimal_sync, minimal_import, minimal_text) = minimal(which, n, m);
    let mut r = RunResult {
        minimal_sync,
        minimal_import,
        minimal_text,
        ..Default::default()
    };

    // Sync: from a full budget (a whole window after the setup's requests).
    tokio::time::sleep(window + Duration::from_millis(200)).await;
    h.reset_counters();
    let seq = h.next_seq();
    let started = Instant::now();
    let report = rig.engine.sync_listings(rig.id).await?;
    r.sync_elapsed = started.elapsed();
    let c = h.counters();
    r.sync_cost = cost(&c);
    r.sync_requests = c.total;
    r.sync_sent = report.sent.len();
    r.sync_min = permitted_minimum(r.sync_cost, spec.count, window);
    r.throttled += h.throttled(seq);
    for (op, k) in c.requests.iter().chain(c.batch_parts.iter()) {
        *r.by_operation.entry(format!("sync {op}")).or_default() += k;
    }
    if report.sent.len() != n {
        eprintln!(
            "  warning: sync sent {} of {n} (failed {}, stopped {:?})",
            report.sent.len(),
            report.failed.len(),
            report.stopped
        );
    }

    // Import, again from a full budget.
    tokio::time::sleep(window + Duration::from_millis(200)).await;
    h.reset_counters();
    let seq = h.next_seq();
    let started = Instant::now();
    let import = rig.engine.import_orders(rig.id).await?;
    r.import_elapsed = started.elapsed();
    let c = h.counters();
    r.import_cost = cost(&c);
    r.import_requests = c.total;
    r.imported = import.imported.len() + import.not_imported.len();
    r.import_min = permitted_minimum(r.import_cost, spec.count, window);
    r.throttled += h.throttled(seq);
    for (op, k) in c.requests.iter().chain(c.batch_parts.iter()) {
        *r.by_operation.entry(format!("import {op}")).or_default() += k;
    }
    if import.imported.len() != m {
        eprintln!(
            "  warning: imported {} of {m} (not imported {}, stopped {:?})",
            import.imported.len(),
            import.not_imported.len(),
            import.stopped
        );
    }

    // The local ceiling on the same bodies, in the same run.
    let (rows, took) = ceiling(&pages, pointer).await?;
    r.ceiling_per_s = rows as f64 / took.as_secs_f64();
    drop(rig);
    remove_db(&path);
    Ok(r)
}

/// Peak RSS (VmHWM) and current RSS (VmRSS) of a process (`"self"` or a pid), in KiB (Linux
/// only).
fn rss_of(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Peak RSS (VmHWM) and current RSS (VmRSS) of this process, in KiB (Linux only).
fn rss() -> Option<(u64, u64)> {
    rss_of("self")
}

/// Resets a process's peak RSS to its current RSS, so a peak read later is what came after
/// (Linux >= 4.0). False where the kernel does not allow it.
fn reset_peak(pid: &str) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The hidden `--serve-sandbox CHANNEL` mode, the child of `--rss`: starts the sandbox without
/// rate limits, seeds `n` stale listings (the SKUs of [`item`], price 1, quantity 100), prints
/// one JSON line on stdout (its base URL, the currency, and the credentials and ids the adapter
/// connects with), and serves until stdin closes. Only this process holds the fake catalogue
/// and records the requests, so the parent's memory is the library's.
async fn serve_sandbox(which: Which, n: usize) -> Result<(), BoxError> {
    let h = Harness::start(which, 1, false, 0).await?;
    let harness = h.harness();
    let currency = harness.currency();
    let stale = Money::parse("1", currency.code())?;
    let started = Instant::now();
    for i in 0..n {
        harness.add_listing(&Sku::new(item(i).0)?, stale, 100).await;
    }
    eprintln!(
        "  sandbox: {n} listings at the channel in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let mut hello = match &h {
        Harness::ChannelAdvisor(h) => {
            let c = h.sandbox().credentials();
            serde_json::json!({
                "base_url": h.sandbox().base_url(),
                "application_id": c.application_id,
                "shared_secret": c.shared_secret,
                "refresh_token": c.refresh_token,
                "profile_id": c.profile_id,
            })
        }
        Harness::Reverb(h) => serde_json::json!({
            "base_url": h.sandbox().base_url(),
            "token": h.current_token(),
        }),
        Harness::Allegro(h) => {
            let s = h.current_session();
            serde_json::json!({
                "base_url": h.sandbox().base_url(),
                "user_id": s.user_id,
                "access_token": s.token.expose_secret(),
                "expires_at": s.expires_at,
                "refresh_token": s.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
                "refresh_expires_at": s.refresh_expires_at,
            })
        }
        Harness::Tradera(h) => {
            let c = h.sandbox().credentials();
            let (token, expires_at) = h.current_token();
            serde_json::json!({
                "base_url": h.sandbox().base_url(),
                "app_id": c.app_id,
                "app_key": c.app_key,
                "user_id": c.user_id,
                "user_token": token,
                "expires_at": expires_at,
            })
        }
    };
    hello["currency"] = Value::from(currency.code());
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{hello}")?;
        out.flush()?;
    }
    // Serve until the parent closes our stdin (or dies).
    tokio::task::spawn_blocking(|| {
        use std::io::Read;
        let mut sink = Vec::new();
        let _ = std::io::stdin().lock().read_to_end(&mut sink);
    })
    .await?;
    drop(h);
    Ok(())
}

/// The child process serving the sandbox for `--rss`; closing its stdin ends it.
struct SandboxChild {
    child: std::process::Child,
    pid: String,
}

impl SandboxChild {
    /// Starts `--serve-sandbox` with `n` listings and reads its JSON line.
    async fn start(which: Which, n: usize) -> Result<(Self, Value), BoxError> {
        use std::process::{Command, Stdio};
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "--serve-sandbox",
                which.name(),
                "--rss-listings",
                &n.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let pid = child.id().to_string();
        let stdout = child
            .stdout
            .take()
            .ok_or("the sandbox child has no stdout")?;
        let line = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line)
        })
        .await??;
        let me = SandboxChild { child, pid };
        if line.trim().is_empty() {
            return Err("the sandbox child exited before it was ready".into());
        }
        Ok((me, serde_json::from_str(&line)?))
    }

    /// Closes its stdin and waits for it to exit.
    fn stop(mut self) -> Result<(), BoxError> {
        drop(self.child.stdin.take());
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("the sandbox child exited with {status}").into());
        }
        Ok(())
    }
}

impl Drop for SandboxChild {
    fn drop(&mut self) {
        // An early return (an error) must not leave the child serving.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn text<'v>(v: &'v Value, key: &str) -> Result<&'v str, BoxError> {
    v[key]
        .as_str()
        .ok_or_else(|| format!("the sandbox child's line has no {key}").into())
}

fn time(v: &Value, key: &str) -> Result<DateTime<Utc>, BoxError> {
    Ok(text(v, key)?.parse()?)
}

fn secret(v: &Value, key: &str) -> Result<SecretString, BoxError> {
    Ok(SecretString::from(text(v, key)?.to_owned()))
}

/// The adapter pointed at the sandbox child, without rate limits (memory does not depend on
/// them), configured as the in-process harness configures it; and the credentials to enter.
fn remote_channel(which: Which, v: &Value) -> Result<(Arc<dyn Channel>, Credentials), BoxError> {
    use marketsync_sandbox::{allegro, channeladvisor};
    let base = text(v, "base_url")?.to_owned();
    let limiter = RateLimiter::new(Limits::none());
    Ok(match which {
        Which::ChannelAdvisor => {
            let profile_id = v["profile_id"].as_u64().ok_or("no profile_id")?;
            let config = marketsync_channeladvisor::ChannelAdvisorConfig::builder()
                .label(channeladvisor::harness::HARNESS_LABEL)
                .base_url(base)
                .application_id(text(v, "application_id")?.to_owned())
                .shared_secret(secret(v, "shared_secret")?)
                .refresh_token(secret(v, "refresh_token")?)
                .profile_id(profile_id)
                .connection_name("Sandbox")
                .distribution_center_id(channeladvisor::harness::HARNESS_DISTRIBUTION_CENTER)
                .rate_limiter(limiter)
                .build()?;
            let credentials = Credentials::OAuth(OAuthTokens {
                access_token: None,
                access_expires_at: None,
                refresh_token: secret(v, "refresh_token")?,
                refresh_expires_at: None,
                profile_id: Some(profile_id.to_string()),
            });
            (
                Arc::new(marketsync_channeladvisor::ChannelAdvisorChannel::new(
                    config,
                )?),
                credentials,
            )
        }
        Which::Reverb => {
            let config = marketsync_reverb::ReverbConfig::builder()
                .base_url(base)
                .token(secret(v, "token")?)
                .connection_name("Sandbox")
                .default_currency(Currency::USD)
                .rate_limiter(limiter)
                .build()?;
            (
                Arc::new(marketsync_reverb::ReverbChannel::new(config)?),
                Credentials::api_token(text(v, "token")?),
            )
        }
        Which::Allegro => {
            let session = LoginSession {
                user_id: v["user_id"].as_str().map(str::to_owned),
                token: secret(v, "access_token")?,
                expires_at: time(v, "expires_at")?,
                refresh_token: Some(secret(v, "refresh_token")?),
                refresh_expires_at: Some(time(v, "refresh_expires_at")?),
            };
            let config = marketsync_allegro::AllegroConfig::builder()
                .base_url(base.clone())
                .auth_base_url(base)
                .client_id(allegro::CLIENT_ID)
                .client_secret(SecretString::from(allegro::CLIENT_SECRET.to_owned()))
                .session(session.clone())
                .connection_name("Sandbox")
                .command_polling(marketsync_allegro::CommandPolling {
                    interval: Duration::from_millis(20),
                    max_polls: 10,
                })
                .offer_template(allegro::harness::offer_template())
                .rate_limiter(limiter)
                .build()?;
            (
                Arc::new(marketsync_allegro::AllegroChannel::new(config)?),
                Credentials::LoginSession(session),
            )
        }
        Which::Tradera => {
            let user_id = v["user_id"].as_i64().ok_or("no user_id")?;
            let expires_at = time(v, "expires_at")?;
            let config = marketsync_tradera::TraderaConfig::builder()
                .base_url(base)
                .app_id(v["app_id"].as_i64().ok_or("no app_id")?)
                .app_key(secret(v, "app_key")?)
                .session(user_id, secret(v, "user_token")?, Some(expires_at))
                .connection_name("Sandbox")
                .daily_budget(u32::MAX / 2)
                .rate_limiter(limiter)
                .build()?;
            let credentials = Credentials::LoginSession(LoginSession {
                user_id: Some(user_id.to_string()),
                token: secret(v, "user_token")?,
                expires_at,
                refresh_token: None,
                refresh_expires_at: None,
            });
            (
                Arc::new(marketsync_tradera::TraderaChannel::new(config)?),
                credentials,
            )
        }
    })
}

/// The host's catalogue for the RSS measurement, made on demand: the items of [`item`] (the
/// same SKUs, titles, prices and quantities as the timing runs' catalogue, all carrying the
/// integration's label), computed from the SKU or the page position whenever the engine asks.
/// A host's catalogue lives in the host's own database, not in the library's memory; holding
/// 100,000 items in a `MemoryCatalog` (about 57 MiB) would charge the host's data to the
/// library, so this catalogue holds nothing but its size.
#[derive(Debug)]
struct GeneratedCatalog {
    n: usize,
    label: Label,
    currency: Currency,
}

impl GeneratedCatalog {
    fn make(&self, i: usize) -> Result<InventoryItem, CatalogError> {
        let (sku, price, quantity) = item(i);
        let fail = |e: &dyn std::fmt::Display| CatalogError {
            message: e.to_string(),
        };
        Ok(InventoryItem {
            stock_version: None,
            title: format!("Item {sku}"),
            sku: Sku::new(sku).map_err(|e| fail(&e))?,
            price: Money::parse(&price, self.currency.code()).map_err(|e| fail(&e))?,
            quantity,
            labels: [self.label.clone()].into_iter().collect(),
        })
    }

    /// The index of a SKU of [`item`], if it is one of this catalogue's.
    fn index(&self, sku: &str) -> Option<usize> {
        let i: usize = sku.strip_prefix("BENCH-")?.parse().ok()?;
        (i < self.n && item(i).0 == sku).then_some(i)
    }

    fn page(&self, label: &Label, after: Option<&str>, page_size: usize) -> CatalogResult {
        if *label != self.label {
            return Ok(CatalogPage::default());
        }
        // SKUs sort as their indexes (zero-padded), so "after SKU s" starts at the first index
        // whose SKU sorts above s; pages end as `MemoryCatalog`'s do.
        let start = match after {
            None => 0,
            Some(s) => match self.index(s) {
                Some(i) => i + 1,
                None => {
                    // A binary search for the first SKU above s.
                    let (mut lo, mut hi) = (0, self.n);
                    while lo < hi {
                        let mid = lo + (hi - lo) / 2;
                        if item(mid).0.as_str() <= s {
                            lo = mid + 1;
                        } else {
                            hi = mid;
                        }
                    }
                    lo
                }
            },
        };
        let end = self.n.min(start.saturating_add(page_size.max(1)));
        let items = (start..end)
            .map(|i| self.make(i))
            .collect::<Result<Vec<_>, _>>()?;
        let next = (end < self.n)
            .then(|| items.last().map(|i| i.sku.as_str().to_owned()))
            .flatten();
        Ok(CatalogPage { items, next })
    }

    fn by_sku(&self, skus: &[Sku]) -> Result<Vec<InventoryItem>, CatalogError> {
        skus.iter()
            .filter_map(|s| self.index(s.as_str()))
            .map(|i| self.make(i))
            .collect()
    }
}

type CatalogResult = Result<CatalogPage, CatalogError>;
type BoxFuture<'f, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'f>>;

// The trait is declared with `async_trait`; these are its methods written out (the answers are
// computed at once), so the example needs no macro crate of its own.
impl Catalog for GeneratedCatalog {
    fn items_with_label<'a, 'b, 'c, 'f>(
        &'a self,
        label: &'b Label,
        page: Option<&'c str>,
        page_size: usize,
    ) -> BoxFuture<'f, CatalogResult>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        Box::pin(std::future::ready(self.page(label, page, page_size)))
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
        Box::pin(std::future::ready(self.by_sku(skus)))
    }
}

/// What the coordinator of `--rss` hands its `--rss-link` and `--rss-sync` children on stdin:
/// the sandbox child's line, the SQLite file and the sandbox child's pid.
fn rss_job(hello: &Value, db: &Path, sandbox_pid: &str) -> Value {
    serde_json::json!({
        "hello": hello,
        "db": db.to_string_lossy(),
        "sandbox_pid": sandbox_pid,
    })
}

/// Reads the job line of [`rss_job`] from stdin.
async fn read_job() -> Result<(Value, PathBuf, String), BoxError> {
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await??;
    let mut job: Value = serde_json::from_str(&line)?;
    let db = PathBuf::from(text(&job, "db")?);
    let pid = text(&job, "sandbox_pid")?.to_owned();
    Ok((job["hello"].take(), db, pid))
}

/// Runs this program as `mode CHANNEL --rss-listings N` with `job` on its stdin and returns
/// the one line it prints on stdout.
async fn run_rss_child(
    which: Which,
    n: usize,
    mode: &str,
    job: &Value,
) -> Result<String, BoxError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe()?)
        .args([mode, which.name(), "--rss-listings", &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    {
        let mut stdin = child.stdin.take().ok_or("the child has no stdin")?;
        writeln!(stdin, "{job}")?;
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    if !out.status.success() {
        return Err(format!("{mode} exited with {}", out.status).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The engine of the RSS measurement on the SQLite file at `path`, reading the generated
/// catalogue; both RSS children make it alike (the same credential key).
async fn rss_engine(path: &Path, n: usize, currency: Currency) -> Result<Engine, BoxError> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).await?);
    let catalog = Arc::new(GeneratedCatalog {
        n,
        label: Label::new(RSS_LABEL)?,
        currency,
    });
    Ok(Engine::new(
        store,
        catalog,
        Arc::new(MemoryNotifier::new()),
        Arc::new(SystemClock),
    )
    .with_credential_key(CredentialKey::new("bench", [9; 32])))
}

/// The label of the RSS measurement's integration (the conformance rig's).
const RSS_LABEL: &str = "conformance";
/// The name of the RSS measurement's integration.
const RSS_INTEGRATION: &str = "bench";

/// Peak RSS while syncing `n` listings. The measured process holds only what a program using
/// the library holds: the sandbox runs in a child process ([`serve_sandbox`]), the catalogue is
/// made on demand ([`GeneratedCatalog`]: the host's data is the host's database's), and the
/// sync runs in a fresh process. This process coordinates: it starts the sandbox child, then
/// runs `--rss-link` (a child that sets the integration up on a new SQLite file as the
/// conformance rig does, links the listings and exits) and `--rss-sync` (a fresh child that
/// opens the same file, re-attaches the adapter to the stored integration as a restarted host
/// does, resets its peak and the sandbox child's, and syncs once). It prints one line: the sync
/// process's peak during the sync (`peak_kib`), its RSS before (`before_sync_kib`) and the
/// growth, the link process's figures and the sandbox child's peaks, in KiB.
async fn rss_mode(which: Which, n: usize) -> Result<(), BoxError> {
    let (child, hello) = SandboxChild::start(which, n).await?;
    let path = temp_db("rss");
    let job = rss_job(&hello, &path, &child.pid);
    let result = async {
        let link = run_rss_child(which, n, "--rss-link", &job).await?;
        let sync = run_rss_child(which, n, "--rss-sync", &job).await?;
        Ok::<_, BoxError>((link, sync))
    }
    .await;
    child.stop()?;
    remove_db(&path);
    let (link, sync) = result?;
    println!("RSS {} listings={n} {sync} {link}", which.name());
    Ok(())
}

/// The hidden `--rss-link CHANNEL` mode, the first child of `--rss`: creates the integration
/// on the job's SQLite file (credentials entered and verified, labelled, activated, the
/// channel's features on), links the `n` listings at the sandbox child and exits. Prints its
/// RSS before the link, its peak, the link's time and the sandbox child's peak so far.
async fn rss_link(which: Which, n: usize) -> Result<(), BoxError> {
    let (hello, path, sandbox_pid) = read_job().await?;
    let currency: Currency = text(&hello, "currency")?.parse()?;
    let (channel, credentials) = remote_channel(which, &hello)?;
    let engine = rss_engine(&path, n, currency).await?;
    let actor = Actor::User("bench".into());
    let caps = channel.capabilities();
    let kind = channel.kind();
    let id = engine
        .create_integration(
            RSS_INTEGRATION,
            channel,
            IntegrationSettings::new(kind, currency),
            actor.clone(),
        )
        .await?;
    engine
        .enter_credentials(id, &credentials, actor.clone())
        .await?;
    engine.verify(id, actor.clone()).await?;
    let mut events = vec![
        Event::SetLabel {
            label: Some(Label::new(RSS_LABEL)?),
            support_override: None,
        },
        Event::Activate,
    ];
    let mut features = vec![Feature::Orders, Feature::Listings];
    if caps.listings_reconcile {
        features.push(Feature::Reconciler);
    }
    events.extend(features.into_iter().map(|feature| Event::SetFeature {
        feature,
        on: true,
        support_override: None,
    }));
    for e in events {
        engine.apply(id, actor.clone(), e).await?;
    }
    let (_, before) = rss().ok_or("no /proc/self/status")?;
    let started = Instant::now();
    let linked = engine.link_listings(id).await?;
    let took = started.elapsed();
    eprintln!("  link process: linked in {:.1}s", took.as_secs_f64());
    if linked.linked.len() != n {
        return Err(format!("linked {} of {n} listings", linked.linked.len()).into());
    }
    drop(linked);
    let (peak, after) = rss().ok_or("no /proc/self/status")?;
    let (child_peak, _) = rss_of(&sandbox_pid).ok_or("no status of the sandbox child")?;
    // `setup_peak_kib` and `before_link_kib` keep their former names (the link process's).
    println!(
        "link_secs={:.1} setup_peak_kib={peak} before_link_kib={before} after_link_kib={after} sandbox_child_setup_peak_kib={child_peak}",
        took.as_secs_f64()
    );
    Ok(())
}

/// The hidden `--rss-sync CHANNEL` mode, the second child of `--rss`: a fresh process that
/// opens the job's SQLite file, finds the integration the link made, attaches a new adapter to
/// it (the stored credentials are handed over, as after a restart), resets its peak and the
/// sandbox child's, syncs once and prints its peak during the sync, its RSS before, its peak
/// before the reset (the start-up's) and the sandbox child's peak during the sync.
async fn rss_sync(which: Which, n: usize) -> Result<(), BoxError> {
    let (hello, path, sandbox_pid) = read_job().await?;
    let currency: Currency = text(&hello, "currency")?.parse()?;
    let (channel, _) = remote_channel(which, &hello)?;
    let engine = rss_engine(&path, n, currency).await?;
    let id = engine
        .store()
        .integrations()
        .await?
        .into_iter()
        .find(|r| r.name == RSS_INTEGRATION && !r.lifecycle.is_deleted())
        .ok_or("the link process left no integration")?
        .id;
    engine.attach_channel(id, channel).await?;

    let (start_peak, before) = rss().ok_or("no /proc/self/status")?;
    let reset = reset_peak("self");
    let child_reset = reset_peak(&sandbox_pid);
    let started = Instant::now();
    let report = engine.sync_listings(id).await?;
    let took = started.elapsed();
    let (peak, after) = rss().ok_or("no /proc/self/status")?;
    let (child_peak, _) = rss_of(&sandbox_pid).ok_or("no status of the sandbox child")?;
    if report.sent.len() != n {
        eprintln!(
            "  warning: sync sent {} of {n} (failed {}, stopped {:?})",
            report.sent.len(),
            report.failed.len(),
            report.stopped
        );
    }
    println!(
        "sent={} peak_kib={peak} before_sync_kib={before} sync_growth_kib={} after_sync_kib={after} peak_reset={reset} secs={:.1} sync_process_start_peak_kib={start_peak} sandbox_child_sync_peak_kib={} child_peak_reset={child_reset}",
        report.sent.len(),
        peak.saturating_sub(before),
        took.as_secs_f64(),
        if child_reset {
            child_peak.to_string()
        } else {
            "n/a".into()
        },
    );
    Ok(())
}

/// The former `--rss` mode, kept as `--rss-in-process CHANNEL` for comparison: the sandbox in
/// this process, so the growth includes the fake's own (its catalogue, its request handling).
async fn rss_in_process(which: Which, n: usize) -> Result<(), BoxError> {
    let h = Harness::start(which, 1, false, 0).await?;
    let path = temp_db("rss");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await?);
    let rig = setup(&h, store, n, 0).await?;
    let (_, before) = rss().ok_or("no /proc/self/status")?;
    let reset = reset_peak("self");
    let started = Instant::now();
    let report = rig.engine.sync_listings(rig.id).await?;
    let took = started.elapsed();
    let (peak, _) = rss().ok_or("no /proc/self/status")?;
    println!(
        "RSS (sandbox in process) {} listings={n} sent={} peak_kib={peak} before_sync_kib={before} sync_growth_kib={} peak_reset={reset} secs={:.1}",
        which.name(),
        report.sent.len(),
        peak.saturating_sub(before),
        took.as_secs_f64()
    );
    drop(rig);
    remove_db(&path);
    Ok(())
}

fn stats(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    v.sort_by(f64::total_cmp);
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    let fmt = |x: f64| {
        if x >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.3}")
        }
    };
    format!("{} ({}–{})", fmt(median), fmt(v[0]), fmt(v[v.len() - 1]))
}

struct Args {
    channels: Vec<Which>,
    runs: usize,
    listings: usize,
    orders: usize,
    scale: Option<u32>,
    rss_listings: usize,
    rss: bool,
    rss_only: Option<Which>,
    rss_in_process: Option<Which>,
    serve_sandbox: Option<Which>,
    rss_link: Option<Which>,
    rss_sync: Option<Which>,
    guard_permille: u32,
}

fn args() -> Result<Args, BoxError> {
    let mut a = Args {
        channels: ALL.to_vec(),
        runs: 5,
        listings: 10_000,
        orders: 10_000,
        scale: None,
        rss_listings: 100_000,
        rss: true,
        rss_only: None,
        rss_in_process: None,
        serve_sandbox: None,
        rss_link: None,
        rss_sync: None,
        guard_permille: marketsync_http::DEFAULT_GUARD_PERMILLE,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--channel" => {
                let v = value()?;
                a.channels = if v == "all" {
                    ALL.to_vec()
                } else {
                    vec![Which::parse(&v).ok_or_else(|| format!("unknown channel {v}"))?]
                };
            }
            "--runs" => a.runs = value()?.parse()?,
            "--listings" => a.listings = value()?.parse()?,
            "--orders" => a.orders = value()?.parse()?,
            "--scale" => a.scale = Some(value()?.parse()?),
            "--rss-listings" => a.rss_listings = value()?.parse()?,
            "--guard-permille" => a.guard_permille = value()?.parse()?,
            "--no-rss" => a.rss = false,
            "--rss" => {
                let v = value()?;
                a.rss_only = Some(Which::parse(&v).ok_or_else(|| format!("unknown channel {v}"))?);
            }
            "--rss-in-process" => {
                let v = value()?;
                a.rss_in_process =
                    Some(Which::parse(&v).ok_or_else(|| format!("unknown channel {v}"))?);
            }
            // The sandbox child of `--rss` (not for direct use).
            "--serve-sandbox" => {
                let v = value()?;
                a.serve_sandbox =
                    Some(Which::parse(&v).ok_or_else(|| format!("unknown channel {v}"))?);
            }
            // The link and sync children of `--rss` (not for direct use).
            "--rss-link" => {
                let v = value()?;
                a.rss_link = Some(Which::parse(&v).ok_or_else(|| format!("unknown channel {v}"))?);
            }
            "--rss-sync" => {
                let v = value()?;
                a.rss_sync = Some(Which::parse(&v).ok_or_else(|| format!("unknown channel {v}"))?);
            }
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(a)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let a = args()?;
    if let Some(which) = a.serve_sandbox {
        return serve_sandbox(which, a.rss_listings).await;
    }
    if let Some(which) = a.rss_link {
        return rss_link(which, a.rss_listings).await;
    }
    if let Some(which) = a.rss_sync {
        return rss_sync(which, a.rss_listings).await;
    }
    if let Some(which) = a.rss_only {
        return rss_mode(which, a.rss_listings).await;
    }
    if let Some(which) = a.rss_in_process {
        return rss_in_process(which, a.rss_listings).await;
    }
    println!(
        "marketsync end-to-end benchmark: {} changed listings, {} orders, {} run(s) per channel",
        a.listings, a.orders, a.runs
    );
    let mut table = Vec::new();
    for which in &a.channels {
        let which = *which;
        let spec = which.spec();
        let scale = a.scale.unwrap_or(spec.scale);
        println!(
            "\n== {} — {} per {:?} (scaled x{scale}: per {:?}, adapter guard {}‰){}",
            which.name(),
            spec.count,
            spec.window,
            scaled(spec.window, scale),
            a.guard_permille,
            spec.concurrent
                .map(|c| format!(", {c} at once"))
                .unwrap_or_default()
        );
        let mut results = Vec::new();
        for run in 1..=a.runs {
            let r = run_once(which, a.listings, a.orders, scale, a.guard_permille).await?;
            println!(
                "run {run}: sync {:.2}s (min {:.2}s, {} units, sent {}), import {:.2}s (min {:.2}s, {} units, {} orders), efficiency {}, economy {:.3}, 429s {}, orders/s {:.0} vs ceiling {:.0}",
                r.sync_elapsed.as_secs_f64(),
                r.sync_min.as_secs_f64(),
                r.sync_cost,
                r.sync_sent,
                r.import_elapsed.as_secs_f64(),
                r.import_min.as_secs_f64(),
                r.import_cost,
                r.imported,
                r.efficiency()
                    .map_or("n/a (within one window)".into(), |e| format!("{e:.3}")),
                r.economy(),
                r.throttled,
                r.orders_per_s(),
                r.ceiling_per_s
            );
            println!(
                "  economy by phase: sync {} units ({} requests) / minimal {}, import {} units ({} requests) / minimal {}",
                r.sync_cost,
                r.sync_requests,
                r.minimal_sync,
                r.import_cost,
                r.import_requests,
                r.minimal_import
            );
            if run == 1 {
                println!(
                    "  minimal (the API's floor; an all-changed sync needs no read-back): {}",
                    r.minimal_text
                );
                println!("  requests by operation: {:?}", r.by_operation);
            }
            results.push(r);
        }
        let rss_line = if a.rss {
            let out = std::process::Command::new(std::env::current_exe()?)
                .args([
                    "--rss",
                    which.name(),
                    "--rss-listings",
                    &a.rss_listings.to_string(),
                ])
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !out.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            }
            println!("{text}");
            text
        } else {
            String::new()
        };
        table.push((which, scale, results, rss_line));
    }

    println!("\n== summary (median (min–max) of the runs)");
    println!(
        "| channel | scale | efficiency | economy | 429s | orders/s | ceiling orders/s | ratio | peak RSS (library, sandbox apart) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (which, scale, results, rss_line) in &table {
        let eff: Vec<f64> = results.iter().filter_map(RunResult::efficiency).collect();
        let mib = |key: &str| {
            rss_line
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.parse::<f64>().ok())
                .map(|k| format!("{:.0} MiB", k / 1024.0))
        };
        let peak = match (mib("peak_kib="), mib("sync_growth_kib=")) {
            (Some(p), Some(g)) => format!("{p} (sync +{g})"),
            (Some(p), None) => p,
            _ => "n/a".into(),
        };
        println!(
            "| {} | {scale} | {} | {} | {} | {} | {} | {} | {peak} |",
            which.name(),
            stats(eff),
            stats(results.iter().map(RunResult::economy).collect()),
            stats(results.iter().map(|r| r.throttled as f64).collect()),
            stats(results.iter().map(RunResult::orders_per_s).collect()),
            stats(results.iter().map(|r| r.ceiling_per_s).collect()),
            stats(
                results
                    .iter()
                    .map(|r| r.ceiling_per_s / r.orders_per_s())
                    .collect()
            ),
        );
    }
    Ok(())
}
