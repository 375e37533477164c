//! The oversell guard: a sale imported on one channel reaches the host's stock through the
//! catalogue hook, once, in journal order, and then exactly the sold SKUs are sent to every
//! other channel that lists them.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use common::{activate, channel_listing, item, key, oid, order, seller, sku, t0};
use marketsync_core::engine::scheduler::RunOutput;
use marketsync_core::lifecycle::{Health, HealthKind};
use marketsync_core::{
    Capabilities, ChannelKind, Clock, Currency, Engine, EngineError, ErrorKind, Feature,
    IntegrationId, IntegrationSettings, InventoryItem, ListingUpdate, ManualClock, MemoryCatalog,
    MemoryChannel, MemoryNotifier, MemoryStore, Operation, ScheduledOperation, Scheduler, Sku,
    SkuMapping, Store,
};

/// The SKUs every channel lists.
const SKUS: [&str; 8] = ["S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7"];

/// Three integrations (A, B, C) listing the same SKUs, linked and synced once, on one store and
/// one catalogue.
struct Shop {
    engine: Arc<Engine>,
    store: Arc<MemoryStore>,
    catalog: Arc<MemoryCatalog>,
    notifier: Arc<MemoryNotifier>,
    clock: Arc<ManualClock>,
    ids: Vec<IntegrationId>,
    channels: Vec<MemoryChannel>,
    /// How many update batches each channel had received when the shop was set up.
    baseline: Vec<usize>,
}

fn versioned(s: &str, quantity: u32) -> InventoryItem {
    InventoryItem {
        stock_version: Some(1),
        ..item(s, "10.00", quantity, true)
    }
}

/// Reverb-like channels taking at most 2 updates per call.
fn caps() -> Capabilities {
    Capabilities {
        orders_acknowledge: false,
        listings_update_max_batch: 2,
        ..Capabilities::all()
    }
}

fn engine_on(
    store: &Arc<MemoryStore>,
    catalog: &Arc<MemoryCatalog>,
    notifier: &Arc<MemoryNotifier>,
    clock: &Arc<ManualClock>,
) -> Arc<Engine> {
    Arc::new(
        Engine::new(
            store.clone(),
            catalog.clone(),
            notifier.clone(),
            clock.clone(),
        )
        .with_credential_key(key()),
    )
}

async fn shop() -> Shop {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(MemoryStore::new());
    let catalog = Arc::new(MemoryCatalog::new());
    let notifier = Arc::new(MemoryNotifier::new());
    for s in SKUS {
        catalog.upsert(versioned(s, 10));
    }
    let engine = engine_on(&store, &catalog, &notifier, &clock);
    let mut ids = Vec::new();
    let mut channels = Vec::new();
    for name in ["A", "B", "C"] {
        let channel = MemoryChannel::new(ChannelKind::Reverb)
            .with_capabilities(caps())
            .with_clock(clock.clone());
        for s in SKUS {
            channel.add_listing(channel_listing(&format!("{name}-{s}"), s));
        }
        let id = engine
            .create_integration(
                name,
                Arc::new(channel.clone()),
                IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
                seller(),
            )
            .await
            .unwrap();
        activate(&engine, id, &[Feature::Listings, Feature::Orders]).await;
        let linked = engine.link_listings(id).await.unwrap();
        assert_eq!(linked.linked.len(), SKUS.len());
        let synced = engine.sync_listings(id).await.unwrap();
        assert_eq!(synced.sent.len(), SKUS.len());
        ids.push(id);
        channels.push(channel);
    }
    let baseline = channels.iter().map(|c| c.update_batches().len()).collect();
    // The sales (`sold_at`) come after the set-up's sync: a listing written after its own
    // channel's sale would be sent again.
    clock.advance(TimeDelta::hours(2));
    Shop {
        engine,
        store,
        catalog,
        notifier,
        clock,
        ids,
        channels,
        baseline,
    }
}

impl Shop {
    /// The update batches channel `n` received since the set-up.
    fn new_batches(&self, n: usize) -> Vec<Vec<ListingUpdate>> {
        self.channels[n].update_batches()[self.baseline[n]..].to_vec()
    }

    /// The updates channel `n` received since the set-up: SKU → quantities sent, in order.
    fn new_quantities(&self, n: usize) -> BTreeMap<Sku, Vec<u32>> {
        let mut out: BTreeMap<Sku, Vec<u32>> = BTreeMap::new();
        for u in self.new_batches(n).into_iter().flatten() {
            out.entry(u.sku.clone()).or_default().extend(u.quantity);
        }
        out
    }

    fn quantity(&self, s: &str) -> u32 {
        self.catalog.item(&sku(s)).unwrap().quantity
    }

    async fn pending(&self, n: usize) -> Vec<Sku> {
        self.store
            .pending_skus(self.ids[n], 1_000)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.sku)
            .collect()
    }
}

/// When the test orders were placed: an hour after the set-up's sync, an hour before now.
fn sold_at() -> DateTime<Utc> {
    t0() + TimeDelta::hours(1)
}

fn skus(list: &[&str]) -> Vec<Sku> {
    list.iter().map(|s| sku(s)).collect()
}

#[tokio::test]
async fn a_sale_is_sent_to_exactly_the_other_channels_that_list_the_sku() {
    let shop = shop().await;
    let (a, b, c) = (shop.ids[0], shop.ids[1], shop.ids[2]);
    shop.channels[0].add_order(order("O1", sold_at(), &["S1"], "Std"));
    shop.channels[0].add_order(order("O2", sold_at(), &["S3", "S5"], "Std"));
    shop.channels[0].add_order(order("O3", sold_at(), &["S3"], "Std"));
    let imported = shop.engine.import_orders(a).await.unwrap();
    assert_eq!(imported.imported, [oid("O1"), oid("O2"), oid("O3")]);
    // Nothing reaches the host or another channel before the hand-over.
    assert_eq!(shop.quantity("S3"), 10);
    assert!(shop.pending(1).await.is_empty());

    let hand_over = shop.engine.propagate_stock().await.unwrap();
    assert!(!hand_over.busy);
    assert_eq!(hand_over.events.len(), 3);
    // The hook saw each order once, in journal order, with the catalogue's SKUs.
    let seen = shop.catalog.stock_events_seen();
    assert_eq!(
        seen.iter()
            .map(|e| (e.integration_id, e.channel_order_id.clone(), e.seq))
            .collect::<Vec<_>>(),
        [
            (a, oid("O1"), hand_over.events[0]),
            (a, oid("O2"), hand_over.events[1]),
            (a, oid("O3"), hand_over.events[2]),
        ]
    );
    assert!(hand_over.events.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(seen[1].lines.len(), 2);
    assert_eq!(
        (
            shop.quantity("S1"),
            shop.quantity("S3"),
            shop.quantity("S5")
        ),
        (9, 8, 9)
    );
    // Both other integrations, the three SKUs each (S3's two orders: one pair).
    let mut marked = hand_over.marked.clone();
    marked.sort();
    let mut expected: Vec<(IntegrationId, Sku)> = [b, c]
        .iter()
        .flat_map(|id| skus(&["S1", "S3", "S5"]).into_iter().map(move |s| (*id, s)))
        .collect();
    expected.sort();
    assert_eq!(marked, expected);
    let mut waiting = shop.store.integrations_with_pending_skus(10).await.unwrap();
    waiting.sort();
    let mut others = vec![b, c];
    others.sort();
    assert_eq!(waiting, others);

    for n in [1, 2] {
        let report = shop.engine.sync_pending_skus(shop.ids[n]).await.unwrap();
        assert_eq!(report.sent, skus(&["S1", "S3", "S5"]), "{report:?}");
        assert!(report.failed.is_empty() && report.waiting.is_empty());
        // In the channel's batch size (2), only the sold SKUs, at the catalogue's quantity.
        let batches = shop.new_batches(n);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [2, 1],
            "{batches:?}"
        );
        assert_eq!(
            shop.new_quantities(n),
            BTreeMap::from([
                (sku("S1"), vec![9]),
                (sku("S3"), vec![8]),
                (sku("S5"), vec![9])
            ])
        );
        assert!(shop.pending(n).await.is_empty());
    }
    // Nothing to the channel the orders came from.
    let own = shop.engine.sync_pending_skus(a).await.unwrap();
    assert!(own.sent.is_empty());
    assert!(shop.new_batches(0).is_empty());
    assert!(
        shop.store
            .integrations_with_pending_skus(10)
            .await
            .unwrap()
            .is_empty()
    );
    // The regular sync finds what the targeted one sent already sent (same bookkeeping).
    let bulk = shop.engine.sync_listings(b).await.unwrap();
    assert!(bulk.sent.is_empty(), "{bulk:?}");
    let stored = shop.store.listings(b).await.unwrap();
    let s3 = stored.iter().find(|l| l.sku == sku("S3")).unwrap();
    assert_eq!(s3.last_stock_version, Some(3), "two sales after version 1");
    // A second hand-over has nothing to give.
    let again = shop.engine.propagate_stock().await.unwrap();
    assert!(again.events.is_empty() && again.marked.is_empty());
    assert_eq!(shop.catalog.stock_events_seen().len(), 3);
    // A second import sees the orders again and journals nothing.
    shop.engine.import_orders(a).await.unwrap();
    assert!(
        shop.store
            .pending_stock_events(10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_scheduler_hands_over_and_sends_before_the_other_operations() {
    let shop = shop().await;
    let (a, b, c) = (shop.ids[0], shop.ids[1], shop.ids[2]);
    let scheduler = Scheduler::new(shop.engine.clone(), 4);
    // The first pass runs everything once; nothing is pending yet.
    let first = scheduler.tick().await.unwrap();
    for run in first.runs {
        let run = run.await.unwrap();
        assert_ne!(run.operation, ScheduledOperation::PropagateStock);
    }
    let baseline: Vec<usize> = shop
        .channels
        .iter()
        .map(|c| c.update_batches().len())
        .collect();

    shop.channels[0].add_order(order("O1", sold_at(), &["S2", "S6"], "Std"));
    shop.engine.import_orders(a).await.unwrap();
    // Every operation is due again too: the targeted sync must go first.
    shop.clock.advance(TimeDelta::days(2));
    let pass = scheduler.tick().await.unwrap();
    let stock = pass.stock.expect("a hand-over each pass").unwrap();
    assert_eq!(stock.events.len(), 1);
    let mut propagated = BTreeMap::new();
    let mut bulk = BTreeMap::new();
    for run in pass.runs {
        let run = run.await.unwrap();
        match run.result.unwrap() {
            RunOutput::Propagation(report) => {
                assert_eq!(run.operation, ScheduledOperation::PropagateStock);
                propagated.insert(run.integration, report);
            }
            RunOutput::Sync(report) => {
                bulk.insert(run.integration, report);
            }
            _ => {}
        }
    }
    assert_eq!(
        propagated.keys().copied().collect::<Vec<_>>(),
        {
            let mut v = vec![b, c];
            v.sort();
            v
        },
        "only the other integrations have pending SKUs"
    );
    for id in [b, c] {
        assert_eq!(propagated[&id].sent, skus(&["S2", "S6"]));
        assert!(
            bulk[&id].sent.is_empty(),
            "the bulk sync ran after the targeted one and found it sent: {:?}",
            bulk[&id]
        );
    }
    for n in [1, 2] {
        let new: Vec<ListingUpdate> = shop.channels[n].update_batches()[baseline[n]..]
            .iter()
            .flatten()
            .cloned()
            .collect();
        assert_eq!(
            new.iter()
                .map(|u| (u.sku.clone(), u.quantity))
                .collect::<Vec<_>>(),
            [(sku("S2"), Some(9)), (sku("S6"), Some(9))]
        );
    }
    assert!(shop.pending(1).await.is_empty() && shop.pending(2).await.is_empty());
}

#[tokio::test]
async fn a_crash_between_import_and_hand_over_propagates_once() {
    let shop = shop().await;
    let (a, b, c) = (shop.ids[0], shop.ids[1], shop.ids[2]);
    shop.channels[0].add_order(order("O1", sold_at(), &["S4"], "Std"));
    shop.engine.import_orders(a).await.unwrap();
    // The process dies here (its engine is never used again): a new engine on the same
    // store takes over.
    let (store, catalog, notifier, clock) =
        (&shop.store, &shop.catalog, &shop.notifier, &shop.clock);
    let restarted = engine_on(store, catalog, notifier, clock);
    for (id, channel) in shop.ids.iter().zip(&shop.channels) {
        restarted.register_channel(*id, Arc::new(channel.clone()));
    }
    let done = restarted.propagate_stock_now().await.unwrap();
    assert_eq!(done.hand_over.events.len(), 1);
    assert_eq!(done.syncs.len(), 2);
    for (id, result) in &done.syncs {
        assert!([b, c].contains(id));
        assert_eq!(result.as_ref().unwrap().sent, skus(&["S4"]));
    }
    // Once: another restart has nothing left to do.
    let again = engine_on(store, catalog, notifier, clock);
    for (id, channel) in shop.ids.iter().zip(&shop.channels) {
        again.register_channel(*id, Arc::new(channel.clone()));
    }
    let nothing = again.propagate_stock_now().await.unwrap();
    assert!(nothing.hand_over.events.is_empty() && nothing.syncs.is_empty());
    assert_eq!(shop.catalog.stock_events_seen().len(), 1);
    assert_eq!(shop.quantity("S4"), 9);
    for n in [1, 2] {
        assert_eq!(
            shop.new_quantities(n),
            BTreeMap::from([(sku("S4"), vec![9])])
        );
    }
    assert!(shop.new_batches(0).is_empty());
}

#[tokio::test]
async fn a_failing_hook_skips_nothing_and_is_retried() {
    let shop = shop().await;
    let a = shop.ids[0];
    shop.channels[0].add_order(order("O1", sold_at(), &["S1"], "Std"));
    shop.channels[0].add_order(order("O2", sold_at(), &["S2"], "Std"));
    shop.engine.import_orders(a).await.unwrap();
    shop.catalog.fail_orders_imported(2);
    for _ in 0..2 {
        let err = shop.engine.propagate_stock().await.unwrap_err();
        assert!(matches!(err, EngineError::Catalog(_)), "{err}");
    }
    // Nothing applied, nothing marked, both events still waiting.
    assert_eq!(shop.store.pending_stock_events(10).await.unwrap().len(), 2);
    assert!(shop.pending(1).await.is_empty());
    assert_eq!(shop.quantity("S1"), 10);
    // A later order joins the queue behind them.
    shop.channels[0].add_order(order("O3", sold_at(), &["S1"], "Std"));
    shop.engine.import_orders(a).await.unwrap();
    let done = shop.engine.propagate_stock().await.unwrap();
    assert_eq!(done.events.len(), 3);
    let seen: Vec<_> = shop
        .catalog
        .stock_events_seen()
        .into_iter()
        .map(|e| e.channel_order_id)
        .collect();
    assert_eq!(seen, [oid("O1"), oid("O2"), oid("O3")]);
    assert_eq!((shop.quantity("S1"), shop.quantity("S2")), (8, 9));
    assert_eq!(shop.pending(1).await, skus(&["S1", "S2"]));
    // The lease was given back after the failures too: another holder could take it now.
    assert!(
        shop.store
            .try_lease(
                marketsync_core::engine::STOCK_LEASE,
                "other",
                std::time::Duration::from_secs(5)
            )
            .await
            .unwrap()
    );
    let busy = shop.engine.propagate_stock().await.unwrap();
    assert!(busy.busy);
}

#[tokio::test]
async fn the_same_sku_sold_on_two_channels_ends_right_everywhere_and_never_goes_back() {
    let shop = shop().await;
    let (a, b) = (shop.ids[0], shop.ids[1]);
    shop.channels[0].add_order(order("OA", sold_at(), &["S2"], "Std"));
    shop.channels[1].add_order(order("OB", sold_at(), &["S2"], "Std"));
    shop.engine.import_orders(a).await.unwrap();
    shop.engine.import_orders(b).await.unwrap();
    let done = shop.engine.propagate_stock_now().await.unwrap();
    assert_eq!(done.hand_over.events.len(), 2);
    assert_eq!(shop.quantity("S2"), 8);
    // A gets B's sale, B gets A's, C both as one update: everyone ends at 8.
    for n in 0..3 {
        assert_eq!(
            shop.new_quantities(n),
            BTreeMap::from([(sku("S2"), vec![8])]),
            "channel {n}"
        );
    }

    // A stale catalogue read (an older stock version) is never sent.
    shop.channels[0].add_order(order("OA2", sold_at(), &["S2"], "Std"));
    shop.engine.import_orders(a).await.unwrap();
    shop.engine.propagate_stock().await.unwrap();
    assert_eq!(shop.quantity("S2"), 7);
    let current = shop.catalog.item(&sku("S2")).unwrap();
    shop.catalog.upsert(InventoryItem {
        quantity: 10,
        stock_version: Some(1),
        ..current.clone()
    });
    let stale = shop.engine.sync_pending_skus(b).await.unwrap();
    assert_eq!(stale.older, skus(&["S2"]));
    assert!(stale.sent.is_empty());
    let bulk = shop.engine.sync_listings(b).await.unwrap();
    assert!(bulk.sent.is_empty(), "the bulk sync neither: {bulk:?}");
    // The newer read goes out.
    shop.catalog.upsert(current);
    let bulk = shop.engine.sync_listings(b).await.unwrap();
    assert_eq!(bulk.sent, skus(&["S2"]));
    assert_eq!(shop.new_quantities(1)[&sku("S2")], [8, 7]);
}

#[tokio::test]
async fn a_quantity_reaching_zero_is_sent_even_when_the_fingerprint_says_unchanged() {
    let shop = shop().await;
    let (a, b) = (shop.ids[0], shop.ids[1]);
    shop.catalog.upsert(versioned("S7", 1));
    shop.engine.sync_listings(b).await.unwrap();
    let before = shop.channels[1].update_batches().len();
    shop.channels[0].add_order(order("O1", sold_at(), &["S7", "S0"], "Std"));
    shop.engine.import_orders(a).await.unwrap();
    shop.engine.propagate_stock().await.unwrap();
    assert_eq!(shop.quantity("S7"), 0);
    // The regular sync gets there first and sends both: the fingerprints match now.
    let bulk = shop.engine.sync_listings(b).await.unwrap();
    assert_eq!(bulk.sent, skus(&["S0", "S7"]));
    let report = shop.engine.sync_pending_skus(b).await.unwrap();
    assert_eq!(report.sent, skus(&["S7"]), "0 goes out again");
    assert_eq!(report.unchanged, skus(&["S0"]));
    let last: Vec<ListingUpdate> = shop.channels[1].update_batches()[before..]
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last.iter()
            .map(|u| (u.sku.clone(), u.quantity))
            .collect::<Vec<_>>(),
        [(sku("S7"), Some(0))]
    );
    assert!(shop.pending(1).await.is_empty());
}

#[tokio::test]
async fn a_refusing_or_broken_channel_keeps_its_skus_pending_until_it_takes_them() {
    let shop = shop().await;
    let (a, b, c) = (shop.ids[0], shop.ids[1], shop.ids[2]);
    shop.channels[0].add_order(order("O1", sold_at(), &["S1", "S3"], "Std"));
    shop.engine.import_orders(a).await.unwrap();
    shop.engine.propagate_stock().await.unwrap();

    // C refuses the batch: reported per SKU, still pending, sent at the next run.
    shop.channels[2].fail_next(Operation::UpdateListings, 1, ErrorKind::Invalid);
    let refused = shop.engine.sync_pending_skus(c).await.unwrap();
    assert_eq!(
        refused
            .failed
            .iter()
            .map(|f| f.sku.clone())
            .collect::<Vec<_>>(),
        skus(&["S1", "S3"])
    );
    assert_eq!(shop.pending(2).await, skus(&["S1", "S3"]));
    let retried = shop.engine.sync_pending_skus(c).await.unwrap();
    assert_eq!(retried.sent, skus(&["S1", "S3"]));
    assert!(shop.pending(2).await.is_empty());

    // B's credentials are revoked: the send breaks it; its SKUs wait.
    shop.channels[1].revoke_credentials("token revoked");
    let broke = shop.engine.sync_pending_skus(b).await.unwrap();
    assert!(broke.stopped.is_some());
    assert_eq!(broke.waiting, skus(&["S1", "S3"]));
    let rec = shop.engine.integration(b).await.unwrap();
    assert_eq!(rec.lifecycle.health().kind(), HealthKind::Broken);
    let blocked = shop.engine.sync_pending_skus(b).await.unwrap();
    assert!(blocked.blocked.is_some(), "{blocked:?}");
    assert_eq!(blocked.waiting, skus(&["S1", "S3"]));
    // A sale while it is broken marks it too: the SKU waits with the others until it can sync.
    shop.channels[0].add_order(order("O2", sold_at(), &["S5"], "Std"));
    shop.engine.import_orders(a).await.unwrap();
    shop.engine.propagate_stock().await.unwrap();
    assert_eq!(shop.pending(1).await, skus(&["S1", "S3", "S5"]));

    // Repaired: the scheduler claims it (a change makes it due) and sends them first.
    shop.channels[1].restore_credentials();
    shop.engine.verify(b, seller()).await.unwrap();
    assert!(matches!(
        shop.engine.integration(b).await.unwrap().lifecycle.health(),
        Health::Healthy
    ));
    let scheduler = Scheduler::new(shop.engine.clone(), 4);
    let pass = scheduler.tick().await.unwrap();
    let mut sent_to_b = None;
    for run in pass.runs {
        let run = run.await.unwrap();
        if run.integration == b
            && let Ok(RunOutput::Propagation(report)) = run.result
        {
            sent_to_b = Some(report.sent);
        }
    }
    assert_eq!(sent_to_b, Some(skus(&["S1", "S3", "S5"])));
    assert!(shop.pending(1).await.is_empty());
    let q = shop.new_quantities(1);
    assert_eq!(q[&sku("S1")].last(), Some(&9));
    assert_eq!(q[&sku("S3")].last(), Some(&9));
    assert_eq!(q[&sku("S5")].last(), Some(&9));
}

#[tokio::test]
async fn the_journal_carries_the_catalogues_skus_and_a_held_order_counts_when_released() {
    let shop = shop().await;
    let (a, b) = (shop.ids[0], shop.ids[1]);
    let mut o = order("O1", sold_at(), &["CH-S6"], "Std");
    o.lines[0].quantity = 3;
    shop.channels[0].add_order(o);
    // No mapping yet: the order is held, nothing is journalled.
    let held = shop.engine.import_orders(a).await.unwrap();
    assert!(held.imported.is_empty());
    assert!(
        shop.store
            .pending_stock_events(10)
            .await
            .unwrap()
            .is_empty()
    );
    let mapping = SkuMapping {
        channel_sku: sku("CH-S6"),
        inventory_sku: sku("S6"),
        created_at: shop.clock.now(),
    };
    shop.engine
        .edit_mappings(a, seller(), |set| {
            set.insert_sku(mapping.clone());
        })
        .await
        .unwrap();
    let released = shop.engine.import_orders(a).await.unwrap();
    assert_eq!(released.released, [oid("O1")]);
    let events = shop.store.pending_stock_events(10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]
            .lines
            .iter()
            .map(|l| (l.sku.clone(), l.quantity))
            .collect::<Vec<_>>(),
        [(sku("S6"), 3)]
    );
    shop.engine.propagate_stock().await.unwrap();
    assert_eq!(shop.quantity("S6"), 7);
    let report = shop.engine.sync_pending_skus(b).await.unwrap();
    assert_eq!(report.sent, skus(&["S6"]));
    assert_eq!(
        shop.new_quantities(1),
        BTreeMap::from([(sku("S6"), vec![7])])
    );
}

/// A channel lowers its own quantity when it sells, so the order's own integration is normally
/// sent nothing. But a quantity sent to it after the sale (here: a host's stock change synced
/// before the order was imported) did not count the sale and overwrote the channel's own
/// decrease: then the hand-over marks the order's own integration too, and it ends at the
/// catalogue's quantity.
#[tokio::test]
async fn the_orders_own_channel_is_sent_again_when_it_was_written_after_the_sale() {
    let shop = shop().await;
    let a = shop.ids[0];
    shop.channels[0].add_order(order("O1", sold_at(), &["S4"], "Std"));
    shop.channels[0].add_order(order("O2", sold_at(), &["S2"], "Std"));
    // After the sales (by the clock), before their import: the host restocks S4 to 12 and A is
    // synced, so A's S4 listing is written after its sale.
    shop.catalog.update(&sku("S4"), |i| i.quantity = 12);
    let synced = shop.engine.sync_listings(a).await.unwrap();
    assert_eq!(synced.sent, [sku("S4")]);

    shop.engine.import_orders(a).await.unwrap();
    shop.engine.propagate_stock().await.unwrap();
    // S4 was written after its sale: pending on A too. S2 was not: only on the others.
    assert_eq!(shop.pending(0).await, [sku("S4")]);
    assert!(shop.pending(1).await.contains(&sku("S2")));
    let report = shop.engine.sync_pending_skus(a).await.unwrap();
    assert_eq!(report.sent, [sku("S4")]);
    assert_eq!(shop.quantity("S4"), 11);
    assert_eq!(shop.new_quantities(0)[&sku("S4")], [12, 11]);
    assert!(!shop.new_quantities(0).contains_key(&sku("S2")));
}

/// A catalogue in which a sale is handed over (the host lowers S1) just after a listing sync
/// read its items: the sync sends what it read.
#[derive(Debug)]
struct SaleDuringSync {
    inner: Arc<MemoryCatalog>,
    sold: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl marketsync_core::Catalog for SaleDuringSync {
    async fn items_with_label(
        &self,
        label: &marketsync_core::Label,
        page: Option<&str>,
        page_size: usize,
    ) -> Result<marketsync_core::CatalogPage, marketsync_core::CatalogError> {
        self.inner.items_with_label(label, page, page_size).await
    }

    async fn items_by_sku(
        &self,
        skus: &[Sku],
    ) -> Result<Vec<InventoryItem>, marketsync_core::CatalogError> {
        let read = self.inner.items_by_sku(skus).await?;
        // The sync's read comes first; the sale is applied right after it.
        if !self.sold.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.inner.update(&sku("S1"), |i| {
                i.quantity -= 1;
                i.stock_version = i.stock_version.map(|v| v + 1);
            });
        }
        Ok(read)
    }
}

/// A listing sync reads the catalogue, then sends: a sale the host applied in between is not
/// in what it sent (and if the listing is the sale's own channel, the send overwrote the
/// channel's own decrease). The sync reads the sent items again and leaves each that changed
/// pending for a targeted sync, which sends the newer quantity.
#[tokio::test]
async fn a_sale_applied_while_a_sync_sends_is_sent_after_it() {
    let shop = shop().await;
    let a = shop.ids[0];
    shop.catalog.update(&sku("S1"), |i| {
        i.quantity = 12;
        i.stock_version = Some(2);
    });
    let catalog = Arc::new(SaleDuringSync {
        inner: shop.catalog.clone(),
        sold: false.into(),
    });
    let engine = Arc::new(
        Engine::new(
            shop.store.clone(),
            catalog,
            shop.notifier.clone(),
            shop.clock.clone(),
        )
        .with_credential_key(key()),
    );
    engine
        .attach_channel(a, Arc::new(shop.channels[0].clone()))
        .await
        .unwrap();

    let synced = engine.sync_listings(a).await.unwrap();
    assert_eq!(synced.sent, [sku("S1")], "the sync sent what it read");
    assert_eq!(shop.quantity("S1"), 11, "the sale was applied meanwhile");
    assert_eq!(shop.pending(0).await, [sku("S1")], "left pending");

    let report = engine.sync_pending_skus(a).await.unwrap();
    assert_eq!(report.sent, [sku("S1")]);
    assert_eq!(shop.new_quantities(0)[&sku("S1")], [12, 11]);
    assert!(shop.pending(0).await.is_empty());
}
