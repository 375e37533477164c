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
//! `--rss-listings N` (100000), `--no-rss`, `--guard-permille N` (10: the adapter's windows are
//! 1% longer than the marketplace's, see BENCHMARKS.md "429s at the window edge"), `--rss CHANNEL` (run only the RSS measurement, in
//! this process; the normal mode runs it in a child process so its peak is its own).
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
use marketsync_core::testkit::channel::{ChannelHarness, Rig};
use marketsync_core::{Clock, Money, Sku, Store};
use marketsync_http::{Limits, RateLimiter};
use marketsync_sandbox::{
    AllegroHarness, AllegroSandbox, ChannelAdvisorHarness, ChannelAdvisorSandbox, Counters,
    ReverbHarness, ReverbSandbox, TraderaHarness, TraderaSandbox,
};
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

/// The adapter's limits with the window shortened by `scale` and lengthened by a guard of
/// `guard_permille` / 1000 of it; waits of a whole window are slept.
fn limits(spec: Spec, scale: u32, guard_permille: u32) -> Limits {
    let window = scaled(spec.window, scale);
    let guarded = window + window * guard_permille / 1000;
    let mut l = Limits::default()
        .quota(spec.count, guarded)
        .max_wait(window + Duration::from_secs(5));
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
        let http = reqwest::Client::new();
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

/// Budget units a phase spent: HTTP requests plus the parts inside batches (ChannelAdvisor
/// charges each part against the same per-minute budget).
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
    sync_sent: usize,
    import_elapsed: Duration,
    import_min: Duration,
    import_cost: u64,
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

/// Peak RSS (VmHWM) and current RSS (VmRSS) of this process, in KiB (Linux only).
fn rss() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Syncs `n` listings without rate limits (memory does not depend on them) and prints the peak
/// RSS of the whole process and the sync's own growth over the RSS before it.
async fn rss_mode(which: Which, n: usize) -> Result<(), BoxError> {
    let h = Harness::start(which, 1, false, 0).await?;
    let path = temp_db("rss");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await?);
    let rig = setup(&h, store, n, 0).await?;
    let (_, before) = rss().ok_or("no /proc/self/status")?;
    // Reset the peak to the current RSS, so the peak read after is the sync's own (Linux >= 4.0).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let started = Instant::now();
    let report = rig.engine.sync_listings(rig.id).await?;
    let took = started.elapsed();
    let (peak, _) = rss().ok_or("no /proc/self/status")?;
    println!(
        "RSS {} listings={n} sent={} peak_kib={peak} before_sync_kib={before} sync_growth_kib={} peak_reset={reset} secs={:.1}",
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
        guard_permille: 10,
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
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(a)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let a = args()?;
    if let Some(which) = a.rss_only {
        return rss_mode(which, a.rss_listings).await;
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
            if run == 1 {
                println!("  minimal: {}", r.minimal_text);
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
        "| channel | scale | efficiency | economy | 429s | orders/s | ceiling orders/s | ratio | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (which, scale, results, rss_line) in &table {
        let eff: Vec<f64> = results.iter().filter_map(RunResult::efficiency).collect();
        let peak = rss_line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("peak_kib="))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or("n/a".into(), |k| format!("{:.0} MiB", k / 1024.0));
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
