//! Several pools (as several worker processes would have) on one PostgreSQL schema at once:
//! every guarantee holds across them, because the database keeps it.
//!
//! Each test works in a fresh schema of the database `MARKETSYNC_TEST_POSTGRES_URL` names and
//! returns at once (saying so) without it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::TestSchema;
use marketsync_core::Store;
use marketsync_core::ids::{ChannelKind, ChannelOrderId, IntegrationId, Sku};
use marketsync_core::lifecycle::{Actor, ChannelRules, Context, Lifecycle};
use marketsync_core::money::Currency;
use marketsync_core::order::{Delivery, IdempotencyKey, Management, Shipment};
use marketsync_core::settings::IntegrationSettings;
use marketsync_core::store::{
    Decision, ImportedOrder, IntegrationRecord, LedgerWrite, NewStockEvent, NoticeState,
    OrderBatch, OutboxAction, OutboxItem, PendingSku, SightingOutcome, StockLine, StoreError,
    WorkerId,
};
use marketsync_core::vault::SealedCredentials;
use marketsync_postgres::{PostgresStore, SCHEMA_VERSION};
use secrecy::SecretString;
use tokio::task::JoinSet;

/// A fixed instant: 2026-03-01 00:00 UTC plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

async fn add_integration(store: &dyn Store, n: u128) -> IntegrationId {
    let id = IntegrationId::from(uuid::Uuid::from_u128(n));
    let ctx = Context::at(Actor::User("ann".into()), at(0));
    let (lifecycle, created) = Lifecycle::create(ChannelRules::default(), &ctx);
    let record = IntegrationRecord {
        id,
        name: format!("shop {n}"),
        channel: ChannelKind::Reverb,
        lifecycle,
        settings: IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
        notices: NoticeState::default(),
        version: 0,
    };
    store
        .insert_integration(&record, &[created])
        .await
        .expect("insert_integration");
    id
}

fn order_id(n: usize) -> String {
    format!("ORD-{n:04}")
}

fn import_write(n: usize, when: DateTime<Utc>) -> LedgerWrite {
    LedgerWrite {
        channel_order_id: ChannelOrderId::new(order_id(n)).unwrap(),
        order: None,
        decision: Decision::Import(ImportedOrder {
            imported_at: when,
            management: Management::Managed,
            shipping_service: None,
            lines: Vec::new(),
        }),
    }
}

fn ship_item(id: IntegrationId, n: usize) -> OutboxItem {
    OutboxItem {
        integration_id: id,
        order_id: ChannelOrderId::new(order_id(n)).unwrap(),
        action: OutboxAction::Ship(Shipment {
            carrier: Some("UPS".into()),
            method: Some("Ground".into()),
            tracking_number: Some(format!("1Z{n:06}")),
            shipped_at: at(1),
            lines: Vec::new(),
            delivery: Delivery::Shipped,
        }),
        idempotency_key: IdempotencyKey::new(format!("ship-{n}")).unwrap(),
        created_at: at(1),
    }
}

/// Two stores (two pools) on one fresh schema, or `None` without a test database.
async fn two_pools() -> Option<(Arc<PostgresStore>, Arc<PostgresStore>, TestSchema)> {
    let schema = TestSchema::create().await?;
    let a = Arc::new(schema.open().await);
    let b = Arc::new(schema.open().await);
    Some((a, b, schema))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_recording_the_same_pages_import_each_order_once() {
    let Some((a, b, _schema)) = two_pools().await else {
        return;
    };
    const ORDERS: usize = 60;
    const PAGE: usize = 10;
    const TASKS_PER_POOL: usize = 4;
    const ROUNDS: usize = 3;
    let id = add_integration(&*a, 1).await;

    // Every task records every order, page by page, each starting at another page, as workers
    // re-reading the same channel pages would.
    let mut tasks = JoinSet::new();
    for (p, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        for t in 0..TASKS_PER_POOL {
            let store = store.clone();
            tasks.spawn(async move {
                let mut results = Vec::new();
                for round in 0..ROUNDS {
                    for page in 0..ORDERS / PAGE {
                        let first = ((page + t + p * 3 + round) % (ORDERS / PAGE)) * PAGE;
                        let seen_at = at((round * 100 + page) as i64);
                        let batch = OrderBatch {
                            seen_at,
                            writes: (first..first + PAGE)
                                .map(|n| import_write(n, seen_at))
                                .collect(),
                            cursor: Some(marketsync_core::channel::Cursor(format!(
                                "pool-{p}-task-{t}"
                            ))),
                            notifications: Vec::new(),
                            stock: Vec::new(),
                        };
                        results.extend(
                            store
                                .record_orders(id, &batch)
                                .await
                                .expect("record_orders under concurrency"),
                        );
                    }
                }
                results
            });
        }
    }
    let mut imported: BTreeMap<String, usize> = BTreeMap::new();
    let mut sightings = 0;
    while let Some(done) = tasks.join_next().await {
        for r in done.expect("a recording task") {
            sightings += 1;
            if r.outcome == SightingOutcome::Imported {
                *imported
                    .entry(r.channel_order_id.as_str().to_owned())
                    .or_default() += 1;
            }
        }
    }
    assert_eq!(sightings, 2 * TASKS_PER_POOL * ROUNDS * ORDERS);
    for n in 0..ORDERS {
        assert_eq!(
            imported.get(&order_id(n)),
            Some(&1),
            "order {} must be imported exactly once across both pools",
            order_id(n)
        );
    }
    let log = b.import_log(id).await.expect("import_log");
    assert_eq!(
        log.len(),
        ORDERS,
        "the import log holds exactly one import per order"
    );
    let distinct: BTreeSet<&str> = log.iter().map(|e| e.channel_order_id.as_str()).collect();
    assert_eq!(distinct.len(), ORDERS);
    for n in [0, ORDERS / 2, ORDERS - 1] {
        let entry = a
            .ledger_entry(id, &ChannelOrderId::new(order_id(n)).unwrap())
            .await
            .expect("ledger_entry")
            .expect("a row");
        assert_eq!(
            entry.times_seen,
            (2 * TASKS_PER_POOL * ROUNDS) as u64,
            "no sighting is lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_enqueued_by_two_pools_makes_one_entry_and_each_is_claimed_once() {
    let Some((a, b, _schema)) = two_pools().await else {
        return;
    };
    const ENTRIES: usize = 40;
    let id = add_integration(&*a, 2).await;

    // Both pools enqueue every key at once: one entry per key, both get it back.
    let mut enqueues = JoinSet::new();
    for store in [a.clone(), b.clone()] {
        for n in 0..ENTRIES {
            let store = store.clone();
            enqueues.spawn(async move { store.enqueue_outbox(&ship_item(id, n)).await });
        }
    }
    while let Some(done) = enqueues.join_next().await {
        let entry = done.expect("an enqueue task").expect("enqueue_outbox");
        assert_eq!(entry.attempts, 0, "an enqueue returns the pending entry");
    }
    let stored = a.outbox(id).await.expect("outbox");
    assert_eq!(
        stored.len(),
        ENTRIES,
        "one entry per key, whoever enqueued it"
    );

    // Eight claimers, four per pool, each taking three at a time until nothing is left.
    let mut claimers = JoinSet::new();
    for store in [a.clone(), b.clone()] {
        for _ in 0..4 {
            let store = store.clone();
            claimers.spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = store
                        .claim_outbox(id, at(10), Duration::from_secs(3600), 3)
                        .await
                        .expect("claim_outbox");
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|e| e.item.idempotency_key));
                    tokio::task::yield_now().await;
                }
            });
        }
    }
    let mut claimed: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(done) = claimers.join_next().await {
        for key in done.expect("a claiming task") {
            *claimed.entry(key.as_str().to_owned()).or_default() += 1;
        }
    }
    assert_eq!(claimed.len(), ENTRIES, "every entry is claimed");
    assert!(
        claimed.values().all(|&c| c == 1),
        "each entry is claimed by one claimer only: {claimed:?}"
    );
    for e in b.outbox(id).await.expect("outbox") {
        assert_eq!(e.attempts, 1, "each entry counts one claim");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_concurrent_opens_migrate_once() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let schema = Arc::new(schema);
    let mut opens = JoinSet::new();
    for _ in 0..4 {
        let schema = schema.clone();
        opens.spawn(async move {
            PostgresStore::connect_with(schema.options(), 2)
                .await
                .expect("each concurrent open succeeds")
        });
    }
    let mut stores = Vec::new();
    while let Some(done) = opens.join_next().await {
        stores.push(done.expect("an opening task"));
    }
    for store in &stores {
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(stores[0].pool())
        .await
        .unwrap();
    assert_eq!(applied, SCHEMA_VERSION, "each migration is applied once");
    // And the schema works from every store.
    let id = add_integration(&stores[1], 3).await;
    assert!(stores[3].integration(id).await.unwrap().is_some());
    for store in &stores {
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn work_is_claimed_once_across_pools_and_skewed_clocks_take_nothing_held() {
    let Some((a, b, _schema)) = two_pools().await else {
        return;
    };
    const INTEGRATIONS: u128 = 30;
    let mut all = BTreeSet::new();
    for n in 0..INTEGRATIONS {
        all.insert(add_integration(&*a, 100 + n).await);
    }
    let hour = Duration::from_secs(3600);
    let now = Utc::now();

    // Eight workers (four per pool) claim at once, twice: four, then up to a hundred (a
    // holder's own due work comes back to it, with whatever else is free).
    let mut workers = JoinSet::new();
    for (p, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        for w in 0..4 {
            let store = store.clone();
            workers.spawn(async move {
                let worker = WorkerId::new(&format!("pool{p}-w{w}"));
                let mut mine = Vec::new();
                for limit in [4, 100] {
                    let got = store
                        .claim_work(&worker, now, hour, limit)
                        .await
                        .expect("claim_work");
                    mine.extend(got.into_iter().map(|c| (c.integration, c.worker)));
                    tokio::task::yield_now().await;
                }
                mine
            });
        }
    }
    let mut holder_of: BTreeMap<IntegrationId, BTreeSet<WorkerId>> = BTreeMap::new();
    while let Some(done) = workers.join_next().await {
        for (integration, worker) in done.expect("a worker task") {
            holder_of.entry(integration).or_default().insert(worker);
        }
    }
    assert_eq!(
        holder_of.keys().copied().collect::<BTreeSet<_>>(),
        all,
        "every due integration is claimed"
    );
    assert!(
        holder_of.values().all(|w| w.len() == 1),
        "each integration goes to one worker: {holder_of:?}"
    );

    // Workers whose clocks are ten minutes ahead or behind: the leases are the database's,
    // an hour long, so they take nothing.
    for skew in [TimeDelta::minutes(10), TimeDelta::minutes(-10)] {
        let skewed = WorkerId::new("skewed");
        let got = b
            .claim_work(&skewed, now + skew, hour, 100)
            .await
            .expect("claim_work");
        assert!(
            got.is_empty(),
            "a worker with a clock skewed by {skew} takes no held work: {got:?}"
        );
        let (integration, holder) = holder_of.iter().next().unwrap();
        match b.renew_work(*integration, &skewed, hour).await {
            Err(StoreError::Conflict(_)) => {}
            other => panic!("renewing work another worker holds is Conflict, got {other:?}"),
        }
        // The holder still holds it.
        let holder = holder.iter().next().unwrap();
        a.renew_work(*integration, holder, hour)
            .await
            .expect("the holder renews");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_named_lease_and_a_credentials_version_have_one_winner_across_pools() {
    let Some((a, b, _schema)) = two_pools().await else {
        return;
    };
    let id = add_integration(&*a, 4).await;
    let sealed = |n: u8| SealedCredentials {
        key_id: "k1".into(),
        nonce: vec![n; 24],
        ciphertext: vec![n; 40],
    };
    a.put_credentials(id, &sealed(0)).await.unwrap();
    let v = a.credentials_versioned(id).await.unwrap().unwrap().version;

    let mut tasks = JoinSet::new();
    for (p, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        for t in 0..4u8 {
            let store = store.clone();
            tasks.spawn(async move {
                let holder = format!("pool{p}-t{t}");
                let leased = store
                    .try_lease("renew-allegro", &holder, Duration::from_secs(600))
                    .await
                    .expect("try_lease");
                let swapped = store
                    .replace_credentials(id, &sealed(t + 1 + p as u8 * 4), v)
                    .await;
                (leased, swapped)
            });
        }
    }
    let (mut leases, mut swaps, mut conflicts) = (0, 0, 0);
    while let Some(done) = tasks.join_next().await {
        let (leased, swapped) = done.expect("a task");
        leases += usize::from(leased);
        match swapped {
            Ok(new) => {
                assert_eq!(new, v + 1);
                swaps += 1;
            }
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("replace_credentials: {e}"),
        }
    }
    assert_eq!(
        leases, 1,
        "one holder of the renewal lease across both pools"
    );
    assert_eq!(swaps, 1, "one compare-and-swap wins per version");
    assert_eq!(conflicts, 7);
    assert_eq!(
        b.credentials_versioned(id).await.unwrap().unwrap().version,
        v + 1
    );
}

#[tokio::test]
async fn the_url_password_never_shows() {
    const PASSWORD: &str = "s3cret-pw-7f3a";
    // A URL that does not parse, and a server that is not there: the errors leave it out.
    for url in [
        format!("postgres://ann:{PASSWORD}@127.0.0.1:notaport/db"),
        format!("postgres://ann:{PASSWORD}@127.0.0.1:1/db"),
    ] {
        let err = PostgresStore::connect(&SecretString::from(url))
            .await
            .expect_err("no store");
        assert!(!format!("{err}").contains(PASSWORD), "{err}");
        assert!(!format!("{err:?}").contains(PASSWORD));
    }
    // A store opened with a password (the test server trusts it) does not print it.
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let options = schema.options().password(PASSWORD);
    let store = PostgresStore::connect_with(options, 1)
        .await
        .expect("open with a password");
    assert!(!format!("{store:?}").contains(PASSWORD));
    store.close().await;
}

#[tokio::test]
async fn opening_says_what_is_wrong_with_the_schema() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    // A search path naming no existing schema.
    let missing = schema
        .options()
        .options([("search_path", "no_such_schema_here")]);
    let err = PostgresStore::connect_with(missing, 1)
        .await
        .expect_err("no schema to migrate");
    assert!(
        err.to_string().contains("create the schema first"),
        "the error says the schema is missing: {err}"
    );

    // A schema migrated by a newer build is refused, naming the unknown migration.
    let store = schema.open().await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations \
         (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', true, '\\x00', 0)",
    )
    .execute(store.pool())
    .await
    .expect("record a future migration");
    store.close().await;
    let err = PostgresStore::connect_with(schema.options(), 1)
        .await
        .expect_err("a newer schema is refused");
    assert!(
        err.to_string().contains("newer marketsync") && err.to_string().contains("9999"),
        "the error names the newer schema: {err}"
    );
}

fn stock_event(n: usize, when: DateTime<Utc>) -> NewStockEvent {
    NewStockEvent {
        channel_order_id: ChannelOrderId::new(order_id(n)).unwrap(),
        lines: vec![StockLine {
            sku: Sku::new(format!("SKU-{:02}", n % 7)).unwrap(),
            quantity: 1 + (n % 3) as u32,
        }],
        imported_at: when,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_recording_the_same_pages_journal_each_order_once() {
    let Some((a, b, _schema)) = two_pools().await else {
        return;
    };
    const ORDERS: usize = 60;
    const PAGE: usize = 10;
    const TASKS_PER_POOL: usize = 4;
    const ROUNDS: usize = 2;
    let id = add_integration(&*a, 5).await;

    // Every task records every page with its stock events, each starting at another page.
    let mut tasks = JoinSet::new();
    for (p, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        for t in 0..TASKS_PER_POOL {
            let store = store.clone();
            tasks.spawn(async move {
                for round in 0..ROUNDS {
                    for page in 0..ORDERS / PAGE {
                        let first = ((page + t + p * 3 + round) % (ORDERS / PAGE)) * PAGE;
                        let seen_at = at((round * 100 + page) as i64);
                        let batch = OrderBatch {
                            seen_at,
                            writes: (first..first + PAGE)
                                .map(|n| import_write(n, seen_at))
                                .collect(),
                            cursor: None,
                            notifications: Vec::new(),
                            stock: (first..first + PAGE)
                                .map(|n| stock_event(n, seen_at))
                                .collect(),
                        };
                        store
                            .record_orders(id, &batch)
                            .await
                            .expect("record_orders under concurrency");
                    }
                }
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a recording task");
    }
    let events = b.pending_stock_events(10 * ORDERS).await.expect("pending");
    let orders: Vec<&str> = events.iter().map(|e| e.channel_order_id.as_str()).collect();
    let distinct: BTreeSet<&str> = orders.iter().copied().collect();
    assert_eq!(
        orders.len(),
        ORDERS,
        "one stock event per order across both pools: {orders:?}"
    );
    assert_eq!(distinct.len(), ORDERS, "no order is journalled twice");
    assert!(
        events.windows(2).all(|w| w[0].seq < w[1].seq),
        "events come lowest seq first"
    );
    for e in &events {
        let n: usize = e.channel_order_id.as_str()[4..].parse().unwrap();
        assert_eq!(
            e.lines,
            stock_event(n, at(0)).lines,
            "the order's own lines"
        );
        assert_eq!(e.integration_id, id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_marking_the_same_pairs_keep_one_row_with_a_growing_mark() {
    let Some((a, b, _schema)) = two_pools().await else {
        return;
    };
    const SKUS: usize = 30;
    const TASKS_PER_POOL: usize = 4;
    let targets = [add_integration(&*a, 6).await, add_integration(&*a, 7).await];
    let hour = Duration::from_secs(3600);
    // Nothing is due before the marks.
    let w = WorkerId::new("setup");
    a.claim_work(&w, at(0), hour, 10).await.expect("claim_work");
    for id in targets {
        a.release_work(id, &w, marketsync_core::store::never_due())
            .await
            .expect("release_work");
    }

    // Every task marks every pair of both integrations at once, in its own order (forward,
    // backward), with its own mark and since.
    let mut tasks = JoinSet::new();
    for (p, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        for t in 0..TASKS_PER_POOL {
            let store = store.clone();
            let k = (p * TASKS_PER_POOL + t) as u64;
            let mut pairs: Vec<PendingSku> = targets
                .iter()
                .flat_map(|&id| {
                    (0..SKUS).map(move |s| PendingSku {
                        integration_id: id,
                        sku: Sku::new(format!("SKU-{s:02}")).unwrap(),
                        since: at(10 + k as i64),
                        mark: 100 + k,
                    })
                })
                .collect();
            if k % 2 == 1 {
                pairs.reverse();
            }
            tasks.spawn(async move {
                for _ in 0..3 {
                    store
                        .finish_stock_events(&[], &pairs)
                        .await
                        .expect("finish_stock_events under concurrency");
                }
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a marking task");
    }
    let last = 100 + (2 * TASKS_PER_POOL - 1) as u64;
    for id in targets {
        let pending = b.pending_skus(id, 1000).await.expect("pending_skus");
        assert_eq!(pending.len(), SKUS, "one pending pair per SKU");
        let sinces: BTreeSet<DateTime<Utc>> =
            (0..2 * TASKS_PER_POOL as i64).map(|k| at(10 + k)).collect();
        // Each marking grows the mark (at least to the marking's own), so after 24 markings it
        // is at least the largest given.
        assert!(
            pending
                .iter()
                .all(|p| p.mark >= last && sinces.contains(&p.since)),
            "every pair's mark grew to at least the largest and keeps a since it was marked with: {pending:?}"
        );
    }
    let claimed: BTreeSet<IntegrationId> = b
        .claim_work(&WorkerId::new("after"), at(1), hour, 10)
        .await
        .expect("claim_work")
        .into_iter()
        .map(|c| c.integration)
        .collect();
    assert_eq!(
        claimed,
        targets.into_iter().collect(),
        "the marked integrations are due"
    );

    // A propagation finishing with the mark it read races one more marking: whichever commits
    // first, the pair ends pending (kept with a grown mark, or marked afresh after the
    // removal), so the newer sale is still sent.
    let sku0 = Sku::new("SKU-00").unwrap();
    // The mark the propagation read the pair with; the new sale's event has an older seq (it
    // committed late), which must still count.
    let read = a
        .pending_skus(targets[0], 1000)
        .await
        .expect("pending_skus")
        .into_iter()
        .find(|p| p.sku == sku0)
        .expect("SKU-00 pending")
        .mark;
    let newer = last - 1;
    let remark = {
        let a = a.clone();
        let pair = PendingSku {
            integration_id: targets[0],
            sku: sku0.clone(),
            since: at(50),
            mark: newer,
        };
        tokio::spawn(async move { a.finish_stock_events(&[], &[pair]).await })
    };
    let finish = {
        let b = b.clone();
        let sku0 = sku0.clone();
        tokio::spawn(async move { b.finish_propagation(targets[0], &[(sku0, read)]).await })
    };
    remark.await.unwrap().expect("finish_stock_events");
    finish.await.unwrap().expect("finish_propagation");
    let left: Vec<PendingSku> = a
        .pending_skus(targets[0], 1000)
        .await
        .expect("pending_skus")
        .into_iter()
        .filter(|p| p.sku == sku0)
        .collect();
    assert_eq!(
        left.len(),
        1,
        "the pair marked again stays pending: {left:?}"
    );
    assert!(
        left[0].mark > read || left[0].mark == newer,
        "marked again after it was read (kept with a grown mark, or marked afresh after the removal): {left:?}"
    );
}
