//! Local hot paths of listing sync: content fingerprints and exact mapping lookups.
//!
//! Run with `cargo bench --bench listings`. Wall-clock numbers on shared machines are noisy;
//! compare runs on the same machine only.

use std::hint::black_box;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marketsync::{
    ChannelListingId, Currency, Decimal, ListingUpdate, MappingSet, Money, ShippingMapping,
    ShippingService, Sku, SkuMapping,
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

criterion_group!(benches, fingerprints, mappings);
criterion_main!(benches);
