//! Exactly-once across processes: importers killed with SIGKILL at random moments, and two
//! processes importing the same orders into one database file.
//!
//! The child process is this test binary run again with `MARKETSYNC_SQLITE_CHILD_DB` set: it
//! opens the store on the file, rebuilds the same `MemoryChannel` (the orders are a pure function
//! of their number, so every child sees the same feed; what carries over between children is the
//! ledger in the database), runs `Engine::import_orders` once and prints what it imported.

#![cfg(unix)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use common::{TempDb, order, raw_pool, ready_integration, t0};
use marketsync_core::store::{LedgerFilter, MAX_SIGHTINGS, OrderOutcome, SightingOutcome};
use marketsync_core::{
    Capabilities, ChannelKind, ChannelOrderId, CredentialKey, Engine, IntegrationId, InventoryItem,
    ManualClock, MemoryCatalog, MemoryChannel, MemoryNotifier, Money, Order, Sku, SkuMapping,
    Store,
};
use marketsync_sqlite::SqliteStore;

const CHILD_DB: &str = "MARKETSYNC_SQLITE_CHILD_DB";
const CHILD_ORDERS: &str = "MARKETSYNC_SQLITE_CHILD_ORDERS";
const CHILD_MODE: &str = "MARKETSYNC_SQLITE_CHILD_MODE";
const CHILD_MAPPED: &str = "MARKETSYNC_SQLITE_CHILD_MAPPED";
const CHILD_GO: &str = "MARKETSYNC_SQLITE_CHILD_GO";
const RESULT_PREFIX: &str = "CHILD-RESULT";
const IMPORTING: &str = "CHILD-IMPORTING";
/// SIGKILL's number (9 on every Unix); `Child::kill` sends it.
const SIGKILL: i32 = 9;

/// Orders a page: small, so an import is many transactions and a kill lands between or inside
/// them.
const PAGE: usize = 6;
const CATALOG: [&str; 4] = ["SKU-A", "SKU-B", "SKU-C", "SKU-D"];
/// Every tenth order carries this SKU, which is not in the catalog: it is held until a child adds
/// a SKU mapping for it, then released.
const RARE: &str = "RARE-1";

// ----- the child -----

/// Order number `n` (1-based; the `MemoryChannel` gives it feed position `n`).
fn feed_order(n: u64) -> Order {
    let sku = if n.is_multiple_of(10) {
        RARE
    } else {
        CATALOG[(n % 4) as usize]
    };
    let price = Money::parse(&format!("{}.{:02}", 10 + n % 90, n % 100), "USD").unwrap();
    order(&order_id(n), sku, price)
}

fn order_id(n: u64) -> String {
    format!("ORD-{n:05}")
}

/// How an importer reads the feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// From the stored cursor on (orders after it only).
    Cursor,
    /// Every order this process has not acknowledged yet, i.e. all of them again after a
    /// restart (ChannelAdvisor's export flag): every imported order is seen again.
    Acknowledge,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Cursor => "cursor",
            Mode::Acknowledge => "ack",
        }
    }
}

/// Runs the child when this process is one, then exits; returns at once otherwise.
fn maybe_child() {
    let Ok(db) = std::env::var(CHILD_DB) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(child(PathBuf::from(db))) {
        Ok(line) => {
            println!("{RESULT_PREFIX} {line}");
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("child failed: {e}");
            std::process::exit(3)
        }
    }
}

async fn child(db: PathBuf) -> Result<String, Box<dyn std::error::Error>> {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let orders: u64 = env(CHILD_ORDERS).parse()?;
    let mode = if env(CHILD_MODE) == "ack" {
        Mode::Acknowledge
    } else {
        Mode::Cursor
    };
    let store = Arc::new(SqliteStore::open(&db).await?);
    let engine = Engine::new(
        store.clone(),
        catalog(),
        Arc::new(MemoryNotifier::new()),
        Arc::new(ManualClock::new(t0())),
    );
    let id = store.integrations().await?[0].id;
    let channel = MemoryChannel::new(ChannelKind::Reverb)
        .with_capabilities(Capabilities {
            orders_acknowledge: mode == Mode::Acknowledge,
            ..Capabilities::all()
        })
        .with_page_size(PAGE);
    for n in 1..=orders {
        channel.add_order(feed_order(n));
    }
    engine.register_channel(id, Arc::new(channel));
    if env(CHILD_MAPPED) == "1" {
        engine
            .edit_mappings(id, marketsync_core::Actor::System, |m| {
                m.insert_sku(rare_mapping());
            })
            .await?;
    }
    let go = env(CHILD_GO);
    if !go.is_empty() {
        while !Path::new(&go).exists() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    // Unbuffered: a parent that kills this process knows whether the import had begun.
    eprintln!("{IMPORTING}");
    let began = micros_since_epoch();
    let report = engine.import_orders(id).await?;
    Ok(format!(
        "imported={} released={} already={} not_imported={} began={began} ended={}",
        report.imported.len(),
        report.released.len(),
        report.already_imported.len(),
        report.not_imported.len(),
        micros_since_epoch()
    ))
}

fn micros_since_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn catalog() -> Arc<MemoryCatalog> {
    let catalog = Arc::new(MemoryCatalog::new());
    for sku in CATALOG {
        catalog.upsert(InventoryItem {
            stock_version: None,
            sku: Sku::new(sku).unwrap(),
            title: format!("Item {sku}"),
            price: Money::parse("10.00", "USD").unwrap(),
            quantity: 100,
            labels: Default::default(),
        });
    }
    catalog
}

fn rare_mapping() -> SkuMapping {
    SkuMapping {
        channel_sku: Sku::new(RARE).unwrap(),
        inventory_sku: Sku::new(CATALOG[0]).unwrap(),
        created_at: t0() - TimeDelta::days(2),
    }
}

// ----- the parent -----

struct ChildSpec<'a> {
    test: &'a str,
    db: &'a Path,
    orders: u64,
    mode: Mode,
    mapped: bool,
    go: Option<&'a Path>,
}

fn spawn(spec: &ChildSpec<'_>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        spec.test,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(CHILD_DB, spec.db)
    .env(CHILD_ORDERS, spec.orders.to_string())
    .env(CHILD_MODE, spec.mode.as_str())
    .env(CHILD_MAPPED, if spec.mapped { "1" } else { "0" })
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(go) = spec.go {
        cmd.env(CHILD_GO, go);
    }
    cmd.spawn().expect("spawn the child")
}

#[derive(Debug, Default, Clone, Copy)]
struct ChildReport {
    imported: usize,
    released: usize,
    already: usize,
    not_imported: usize,
    /// When its import began and ended (µs since the epoch).
    began: u64,
    ended: u64,
}

/// Waits for a child that must finish by itself, and reads its report.
fn finish(child: Child) -> ChildReport {
    let out = child.wait_with_output().expect("wait for the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed ({:?}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .unwrap_or_else(|| panic!("no report from the child:\n{stdout}"));
    let mut r = ChildReport::default();
    for field in line.split_whitespace() {
        let (k, v) = field.split_once('=').expect("key=value");
        let v: u64 = v.parse().expect("a number");
        let count = v as usize;
        match k {
            "imported" => r.imported = count,
            "released" => r.released = count,
            "already" => r.already = count,
            "not_imported" => r.not_imported = count,
            "began" => r.began = v,
            "ended" => r.ended = v,
            _ => panic!("unknown field {k}"),
        }
    }
    r
}

/// A database with one integration ready to import (credentials, verified, active, orders on)
/// and, when `mapped`, the SKU mapping that releases the rare orders.
async fn setup(db: &TempDb, mapped: bool) -> IntegrationId {
    let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
    let engine = Engine::new(
        store.clone(),
        catalog(),
        Arc::new(MemoryNotifier::new()),
        Arc::new(ManualClock::new(t0())),
    )
    .with_credential_key(CredentialKey::new("k", [3; 32]));
    let id = ready_integration(&engine, MemoryChannel::new(ChannelKind::Reverb)).await;
    if mapped {
        engine
            .edit_mappings(id, marketsync_core::Actor::System, |m| {
                m.insert_sku(rare_mapping());
            })
            .await
            .unwrap();
    }
    store.close().await;
    id
}

/// What the database says, checked for consistency. Returns how many orders are imported.
async fn check_consistent(db: &Path, id: IntegrationId) -> usize {
    let store = SqliteStore::open(db).await.expect("reopen after the crash");
    store
        .integrity_check()
        .await
        .expect("PRAGMA integrity_check");
    let raw = raw_pool(db).await;
    let fk: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&raw)
        .await
        .unwrap();
    assert!(fk.is_empty(), "foreign key violations: {fk:?}");
    raw.close().await;

    let ledger: BTreeMap<String, _> = store
        .ledger(id, LedgerFilter::All)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.channel_order_id.as_str().to_owned(), e))
        .collect();
    // Exactly once: one import-log row per imported order, none for the others, none twice.
    let mut imports: BTreeMap<String, usize> = BTreeMap::new();
    for entry in store.import_log(id).await.unwrap() {
        *imports
            .entry(entry.channel_order_id.as_str().to_owned())
            .or_default() += 1;
    }
    let twice: Vec<_> = imports.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "orders imported more than once: {twice:?}"
    );
    let imported: BTreeSet<&String> = ledger
        .iter()
        .filter(|(_, e)| e.outcome == OrderOutcome::Imported)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        imported,
        imports.keys().collect::<BTreeSet<_>>(),
        "the import log and the ledger's Imported rows must be the same orders"
    );
    for (k, e) in &ledger {
        let imported_sightings = e
            .sightings
            .iter()
            .filter(|s| s.outcome == SightingOutcome::Imported)
            .count();
        assert!(imported_sightings <= 1, "{k}: two Imported sightings");
        if e.times_seen as usize <= MAX_SIGHTINGS && e.outcome == OrderOutcome::Imported {
            assert_eq!(imported_sightings, 1, "{k}: its import must be a sighting");
        }
        assert_eq!(
            e.sightings.len() as u64,
            e.times_seen.min(MAX_SIGHTINGS as u64)
        );
    }
    // The cursor never runs ahead of the orders it covers: every order up to it is recorded
    // (orders and cursor commit together).
    if let Some(cursor) = store.cursor(id).await.unwrap() {
        let upto: u64 = cursor.0.parse().expect("a feed position");
        for n in 1..=upto {
            assert!(
                ledger.contains_key(&order_id(n)),
                "the cursor is at {upto} but order {n} is not in the ledger"
            );
        }
    }
    store.close().await;
    imported.len()
}

/// A small xorshift generator: kill moments need no cryptography, and the seed is printed so a
/// failing schedule can be replayed (`MARKETSYNC_CRASH_SEED`).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkill_at_random_moments_never_imports_twice() {
    maybe_child();
    let kills_wanted: u32 = env_or("MARKETSYNC_CRASH_KILLS", 120);
    let seed: u64 = env_or(
        "MARKETSYNC_CRASH_SEED",
        uuid::Uuid::new_v4().as_u64_pair().0 | 1,
    );
    let max_delay_ms: u64 = env_or("MARKETSYNC_CRASH_MAX_DELAY_MS", 250);
    let mut rng = Rng(seed);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = TempDb::new("crash");
    let id = rt.block_on(setup(&db, false));
    let started = Instant::now();

    let (mut killed, mut finished, mut attempt) = (0u32, 0u32, 0u64);
    // Kills that landed after the child had begun importing (the others hit its start-up).
    let mut killed_importing = 0u32;
    let orders_at = |attempt: u64| 60 + 4 * attempt;
    while killed < kills_wanted {
        assert!(
            attempt < u64::from(kills_wanted) * 5,
            "too few children were killed before finishing ({killed} of {attempt}): raise MARKETSYNC_CRASH_MAX_DELAY_MS"
        );
        // The feed grows (new orders arrive between runs); a third of the runs read from the
        // cursor, the others re-download everything; the rare SKU's mapping appears halfway.
        let spec = ChildSpec {
            test: "sigkill_at_random_moments_never_imports_twice",
            db: db.path(),
            orders: orders_at(attempt),
            mode: if attempt % 3 == 0 {
                Mode::Cursor
            } else {
                Mode::Acknowledge
            },
            mapped: attempt >= u64::from(kills_wanted) / 2,
            go: None,
        };
        let mut child = spawn(&spec);
        std::thread::sleep(Duration::from_micros(rng.below(max_delay_ms * 1000)));
        match child.try_wait().expect("poll the child") {
            Some(_) => {
                finish(child);
                finished += 1;
            }
            None => {
                child.kill().expect("SIGKILL");
                let out = child.wait_with_output().expect("reap the child");
                if out.status.signal() == Some(SIGKILL) {
                    killed += 1;
                    if String::from_utf8_lossy(&out.stderr).contains(IMPORTING) {
                        killed_importing += 1;
                    }
                } else {
                    assert!(
                        out.status.success(),
                        "child failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    finished += 1;
                }
            }
        }
        // After every run, killed or not, the database is consistent and nothing imported twice.
        rt.block_on(check_consistent(db.path(), id));
        attempt += 1;
    }

    // Reopen and finish: everything imports, each order exactly once.
    let total = orders_at(attempt);
    let last = finish(spawn(&ChildSpec {
        test: "sigkill_at_random_moments_never_imports_twice",
        db: db.path(),
        orders: total,
        mode: Mode::Acknowledge,
        mapped: true,
        go: None,
    }));
    let imported = rt.block_on(check_consistent(db.path(), id));
    assert_eq!(
        imported as u64, total,
        "every order must end imported (last run: {last:?})"
    );
    rt.block_on(async {
        let store = SqliteStore::open(db.path()).await.unwrap();
        let log = store.import_log(id).await.unwrap();
        assert_eq!(log.len() as u64, total, "exactly one import per order");
        for n in 1..=total {
            let e = store
                .ledger_entry(id, &ChannelOrderId::new(order_id(n)).unwrap())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("order {n} missing"));
            assert_eq!(e.outcome, OrderOutcome::Imported);
        }
        store.close().await;
    });
    eprintln!(
        "crash test: seed {seed}, {attempt} runs, {killed} killed with SIGKILL ({killed_importing} of them while importing), {finished} finished by themselves, {total} orders imported once each, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        killed_importing >= kills_wanted / 2,
        "only {killed_importing} of {killed} kills landed while importing: raise MARKETSYNC_CRASH_MAX_DELAY_MS"
    );
}

#[test]
fn two_processes_on_one_file_never_import_an_order_twice() {
    maybe_child();
    const ORDERS: u64 = 240;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut overlapped = false;
    for round in 0..3 {
        let db = TempDb::new("two-processes");
        let id = rt.block_on(setup(&db, true));
        let mut go = db.path().as_os_str().to_owned();
        go.push(".go");
        let go = PathBuf::from(go);
        let spec = ChildSpec {
            test: "two_processes_on_one_file_never_import_an_order_twice",
            db: db.path(),
            orders: ORDERS,
            mode: Mode::Acknowledge,
            mapped: false,
            go: Some(&go),
        };
        let (a, b) = (spawn(&spec), spawn(&spec));
        // Both open the store and rebuild the feed, then start importing at the same moment.
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&go, b"go").unwrap();
        let (a, b) = (finish(a), finish(b));
        let _ = std::fs::remove_file(&go);

        // Each process saw every order once; between them each order was imported once.
        for r in [a, b] {
            assert_eq!(r.imported + r.already, ORDERS as usize, "{r:?}");
        }
        assert_eq!(
            a.imported + b.imported,
            ORDERS as usize,
            "two processes imported {} + {} of {ORDERS} orders",
            a.imported,
            b.imported
        );
        assert_eq!(
            rt.block_on(check_consistent(db.path(), id)),
            ORDERS as usize
        );
        eprintln!(
            "two processes, round {round}: A imported {}, B imported {} (of {ORDERS})",
            a.imported, b.imported
        );
        // The two imports ran at the same time (their intervals overlap), so the database's
        // locking, not their timing, kept each order to one import.
        if a.began < b.ended && b.began < a.ended {
            overlapped = true;
            break;
        }
    }
    assert!(
        overlapped,
        "in three rounds the two processes never imported at the same time"
    );
}
