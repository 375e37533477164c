//! Local hot paths of listing sync: content fingerprints and exact mapping lookups, and change
//! detection over a catalogue of a million listings.
//!
//! Run with `cargo bench --bench listings`. Wall-clock numbers on shared machines are noisy;
//! compare runs on the same machine only.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marketsync::channel::{Fingerprint, ListingUpdate};
use marketsync::{
    ChannelListingId, Currency, Decimal, MappingSet, Money, ShippingMapping, ShippingService, Sku,
    SkuMapping,
};

fn updates(n: usize) -> Vec<ListingUpdate> {
    (0..n)
        .map(|i| ListingUpdate {
            listing_id: ChannelListingId::new(format!("{}", 10_000_000 + i)).unwrap(),
            sku: Sku::new(format!("SKU-{i:07}")).unwrap(),
            price: Some(Money::new(
                Decimal::new(1999 + (i as i64 % 500), 2),
                Currency::USD,
            )),
            quantity: Some((i % 37) as u32),
            title: Some(format!("Product number {i} with a realistic title length")),
        })
        .collect()
}

fn fingerprints(c: &mut Criterion) {
    let batch = updates(10_000);
    let mut g = c.benchmark_group("fingerprint");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("10k listing updates", |b| {
        b.iter(|| {
            for u in &batch {
                black_box(u.fingerprint());
            }
        })
    });
    g.finish();
}

fn mappings(c: &mut Criterion) {
    let mut set = MappingSet::new();
    let now = Utc::now();
    for i in 0..10_000 {
        set.insert_sku(SkuMapping {
            channel_sku: Sku::new(format!("CH-{i}")).unwrap(),
            inventory_sku: Sku::new(format!("INV-{i}")).unwrap(),
            created_at: now,
        });
    }
    for i in 0..50 {
        set.insert_shipping(
            ShippingMapping::new(
                format!("Shipping method {i}"),
                ShippingService {
                    name: format!("svc-{i}"),
                    carrier: None,
                    class: None,
                },
                now,
            )
            .unwrap(),
        );
    }
    let probes: Vec<Sku> = (0..10_000)
        .map(|i| Sku::new(format!("CH-{}", i * 7 % 12_000)).unwrap())
        .collect();
    let mut g = c.benchmark_group("mapping");
    g.throughput(Throughput::Elements(probes.len() as u64));
    g.bench_function("resolve 10k SKUs", |b| {
        b.iter(|| {
            for p in &probes {
                black_box(set.resolve_sku(p, |_| false));
            }
        })
    });
    g.finish();
    // One lookup per iteration: its own group, so no throughput of 10k is claimed for it.
    let mut one = c.benchmark_group("mapping-single");
    one.bench_function("shipping lookup", |b| {
        b.iter(|| black_box(set.shipping(black_box("Shipping method 42"))))
    });
    one.finish();
}

/// Listings in the large benchmarks.
const MILLION: usize = 1_000_000;

/// Change detection as a sync does it, over a million listings: each listing's fingerprint
/// against the one last sent (one in ten changed since).
fn change_detection(c: &mut Criterion) {
    let batch = updates(MILLION);
    let last_sent: HashMap<Sku, Fingerprint> = batch
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let mut sent = u.clone();
            if i % 10 == 0 {
                sent.quantity = sent.quantity.map(|q| q + 1);
            }
            (u.sku.clone(), sent.fingerprint())
        })
        .collect();
    let changed = batch
        .iter()
        .filter(|u| last_sent.get(&u.sku) != Some(&u.fingerprint()))
        .count();
    assert_eq!(changed, MILLION / 10, "one in ten listings changed");
    let mut g = c.benchmark_group("change-detection");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(MILLION as u64));
    g.bench_function("1M listings, fingerprint + compare", |b| {
        b.iter(|| {
            batch
                .iter()
                .filter(|u| last_sent.get(&u.sku) != Some(&u.fingerprint()))
                .count()
        })
    });
    g.finish();
}

/// SKU resolution with a million SKU mappings, and shipping lookups, a million each.
fn mappings_1m(c: &mut Criterion) {
    let mut set = MappingSet::new();
    let now = Utc::now();
    for i in 0..MILLION {
        set.insert_sku(SkuMapping {
            channel_sku: Sku::new(format!("CH-{i}")).unwrap(),
            inventory_sku: Sku::new(format!("INV-{i}")).unwrap(),
            created_at: now,
        });
    }
    let texts: Vec<String> = (0..50).map(|i| format!("Shipping method {i}")).collect();
    for (i, t) in texts.iter().enumerate() {
        set.insert_shipping(
            ShippingMapping::new(
                t.clone(),
                ShippingService {
                    name: format!("svc-{i}"),
                    carrier: None,
                    class: None,
                },
                now,
            )
            .unwrap(),
        );
    }
    // One probe in six has no mapping (7 * i % 1.2M lands past the last mapping).
    let probes: Vec<Sku> = (0..MILLION)
        .map(|i| Sku::new(format!("CH-{}", i * 7 % 1_200_000)).unwrap())
        .collect();
    let mut g = c.benchmark_group("mapping-1m");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(MILLION as u64));
    g.bench_function("resolve 1M SKUs among 1M mappings", |b| {
        b.iter(|| {
            for p in &probes {
                black_box(set.resolve_sku(p, |_| false));
            }
        })
    });
    g.bench_function("1M shipping lookups among 50 mappings", |b| {
        b.iter(|| {
            for i in 0..MILLION {
                black_box(set.shipping(&texts[i % 50]));
            }
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    fingerprints,
    mappings,
    change_detection,
    mappings_1m
);
criterion_main!(benches);
