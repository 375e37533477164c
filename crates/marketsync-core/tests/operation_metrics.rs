//! Engine operations are counted in the metrics (`marketsync_operations_total`), and imports
//! count the orders they imported and held (`marketsync_orders_imported_total`,
//! `marketsync_orders_held_total`).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use marketsync_core::MemoryCatalog;
use marketsync_core::engine::metrics::{
    OPERATIONS_TOTAL, ORDERS_HELD_TOTAL, ORDERS_IMPORTED_TOTAL,
};

// ----- a small metrics recorder -----

#[derive(Default)]
struct Recorded {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

struct Handle(Arc<AtomicU64>);

impl metrics::CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::SeqCst);
    }
}

/// `name{label=value,…}` with the labels sorted.
fn key_text(key: &metrics::Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl metrics::Recorder for Recorded {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let cell = self
            .counters
            .lock()
            .unwrap()
            .entry(key_text(key))
            .or_default()
            .clone();
        metrics::Counter::from_arc(Arc::new(Handle(cell)))
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

impl Recorded {
    fn get(&self, key: &str) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .get(key)
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }
}

#[test]
fn an_import_counts_the_operation_and_the_orders_imported_and_held() {
    let recorder = Recorded::default();
    // The recorder is this thread's: the engine runs on a runtime on this thread.
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let w = world().await;
                w.catalog.upsert(item("A", "10.00", 5, true));
                w.channel.add_order(order("O1", t0(), &["A"], "Std"));
                w.channel.add_order(order("O2", t0(), &["A"], "Std"));
                let mut without_sku = order("O3", t0(), &["A"], "Std");
                without_sku.lines[0].sku = None;
                w.channel.add_order(without_sku);
                w.engine.import_orders(w.id).await.unwrap();
                // Seen again: nothing newly imported or held.
                w.engine.import_orders(w.id).await.unwrap();
                // A failing import is counted as failed.
                let other = marketsync_core::Engine::builder()
                    .catalog(Arc::new(MemoryCatalog::new()))
                    .build();
                let _ = other.import_orders(w.id).await.unwrap_err();
            });
    });
    let ok = format!("{OPERATIONS_TOTAL}{{channel=reverb,operation=import_orders,outcome=ok}}");
    assert_eq!(
        recorder.get(&ok),
        2,
        "{:?}",
        recorder.counters.lock().unwrap().keys()
    );
    let failed =
        format!("{OPERATIONS_TOTAL}{{channel=unknown,operation=import_orders,outcome=failed}}");
    assert_eq!(
        recorder.get(&failed),
        1,
        "{:?}",
        recorder.counters.lock().unwrap().keys()
    );
    assert_eq!(
        recorder.get(&format!("{ORDERS_IMPORTED_TOTAL}{{channel=reverb}}")),
        2
    );
    assert_eq!(
        recorder.get(&format!("{ORDERS_HELD_TOTAL}{{channel=reverb}}")),
        1
    );
}
