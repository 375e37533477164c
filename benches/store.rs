//! Recording a page of orders in the SQLite store: `Store::record_orders` with a batch of 100
//! new imported orders and their cursor, one transaction, as the engine writes each page it
//! downloads. The store is a file (WAL, synchronous FULL: every commit is an fsync), as in
//! production.
//!
//! Run with `cargo bench --bench store`. Wall-clock numbers on shared machines are noisy (and
//! the fsync depends on the disk); compare runs on the same machine only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use marketsync::channel::Cursor;
use marketsync::sqlite::SqliteStore;
use marketsync::store::{
    Decision, ImportedOrder, LedgerWrite, OrderBatch, ResolvedLine, SightingOutcome,
};
use marketsync::testing::MemoryChannel;
use marketsync::{
    Actor, Address, Buyer, ChannelKind, ChannelOrderId, Currency, CurrencySource, Decimal, Engine,
    IntegrationId, IntegrationSettings, Management, MemoryCatalog, MemoryNotifier, Money, Order,
    OrderLine, OrderState, OrderStatus, Sku, SkuResolution, Store, SystemClock,
};

const BATCH: usize = 100;

/// A realistic order: two lines, shipping, tax, total, address and buyer.
fn order(n: u64) -> Order {
    let usd = |cents: i64| Money::new(Decimal::new(cents, 2), Currency::USD);
    let created = Utc::now() - TimeDelta::hours(2);
    Order {
        channel_order_id: ChannelOrderId::new(format!("{}", 100_000_000 + n)).unwrap(),
        marketplace_order_id: Some(format!("MP-{n:010}")),
        site: Some("eBay Fixed Price US".into()),
        created_at: created,
        updated_at: Some(created),
        status: OrderStatus::new(
            OrderState::AwaitingShipment,
            "Completed / Cleared / Unshipped",
        ),
        currency: Currency::USD,
        currency_source: CurrencySource::Channel,
        lines: (0..2)
            .map(|i| OrderLine {
                line_id: format!("{}", 500_000_000 + n * 2 + i),
                sku: Some(Sku::new(format!("SKU-{:06}", (n * 7 + i) % 100_000)).unwrap()),
                listing_id: None,
                title: format!("Product {n} line {i} with a realistic title length"),
                quantity: 1 + i as u32,
                unit_price: usd(1999 + (n % 500) as i64),
            })
            .collect(),
        shipping_method: Some("Standard Shipping".into()),
        shipping_price: Some(usd(599)),
        tax: Some(usd(412)),
        total: Some(usd(6009)),
        shipping_address: Some(Address {
            name: Some("Ada Lovelace".into()),
            company: None,
            line1: Some("12 Analytical Engine Way".into()),
            line2: None,
            city: Some("Springfield".into()),
            region: Some("IL".into()),
            postal_code: Some("62701".into()),
            country: Some("US".into()),
            phone: Some("+1 555 0100".into()),
        }),
        buyer: Buyer {
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.com".into()),
            ..Buyer::default()
        },
        local_pickup: false,
        revision: None,
    }
}

fn batch(first: u64) -> OrderBatch {
    let now = Utc::now();
    OrderBatch {
        seen_at: now,
        writes: (first..first + BATCH as u64)
            .map(|n| {
                let o = order(n);
                let lines = o
                    .lines
                    .iter()
                    .map(|l| ResolvedLine {
                        line_id: l.line_id.clone(),
                        channel_sku: l.sku.clone().unwrap(),
                        resolution: SkuResolution::Same(l.sku.clone().unwrap()),
                    })
                    .collect();
                LedgerWrite {
                    channel_order_id: o.channel_order_id.clone(),
                    order: Some(o),
                    decision: Decision::Import(ImportedOrder {
                        imported_at: now,
                        management: Management::Managed,
                        shipping_service: None,
                        lines,
                    }),
                }
            })
            .collect(),
        cursor: Some(Cursor(format!("cursor-{first}"))),
        notifications: Vec::new(),
        stock: Vec::new(),
    }
}

async fn open(dir: &std::path::Path) -> (Arc<dyn Store>, IntegrationId) {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.join("bench.db"))
            .await
            .expect("open the store"),
    );
    let engine = Engine::new(
        store.clone(),
        Arc::new(MemoryCatalog::new()),
        Arc::new(MemoryNotifier::new()),
        Arc::new(SystemClock),
    );
    let id = engine
        .create_integration(
            "bench",
            Arc::new(MemoryChannel::new(ChannelKind::ChannelAdvisor)),
            IntegrationSettings::new(ChannelKind::ChannelAdvisor, Currency::USD),
            Actor::User("bench".into()),
        )
        .await
        .expect("an integration");
    (store, id)
}

fn record_orders(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = std::env::temp_dir().join(format!("marketsync-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let (store, id) = rt.block_on(open(&dir));
    let next = AtomicU64::new(0);

    // Sanity: a fresh batch imports every order once.
    let first = rt
        .block_on(store.record_orders(id, &batch(next.fetch_add(BATCH as u64, Ordering::SeqCst))))
        .expect("record");
    assert!(
        first.iter().all(|r| r.outcome == SightingOutcome::Imported),
        "a new batch must import every order"
    );

    let mut g = c.benchmark_group("sqlite");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("record_orders: 100 new orders + cursor", |b| {
        b.to_async(&rt).iter_batched(
            || batch(next.fetch_add(BATCH as u64, Ordering::SeqCst)),
            |batch| {
                let store = store.clone();
                async move { store.record_orders(id, &batch).await.expect("record") }
            },
            BatchSize::SmallInput,
        )
    });
    // The same orders seen again (a re-run overlapping the last one): AlreadyImported, only
    // the snapshot refreshed.
    let seen = batch(0);
    g.bench_function("record_orders: 100 orders seen again", |b| {
        b.to_async(&rt)
            .iter(|| async { store.record_orders(id, &seen).await.expect("record") })
    });
    g.finish();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, record_orders);
criterion_main!(benches);
