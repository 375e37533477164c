//! Checks of the stock journal and targeted propagation
//! ([`marketsync_core::store::StockEvent`], [`PendingSku`]): what every [`Store`] must do so a
//! sale on one channel reaches the host once and every other channel that lists the SKU.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::task::JoinSet;

use marketsync_core::ids::{IntegrationId, Sku};
use marketsync_core::listing::ListingStatus;
use marketsync_core::store::never_due;
use marketsync_core::store::{
    LedgerWrite, NewStockEvent, NotImportedReason, OrderBatch, PendingSku, SightingOutcome,
    StockEvent, StockLine, Store, StoreError,
};

use super::{
    LONG_LEASE, add_integration, at, batch, claimed_ids, id_a, id_b, id_c, listing, oid, ok, paid,
    paid_import, skip, sku, worker,
};

/// One order's stock event as the engine asks for it: `(SKU, quantity)` lines.
fn new_event(order: &str, lines: &[(&str, u32)], minute: i64) -> NewStockEvent {
    NewStockEvent {
        channel_order_id: oid(order),
        lines: lines
            .iter()
            .map(|&(s, quantity)| StockLine {
                sku: sku(s),
                quantity,
            })
            .collect(),
        imported_at: at(minute),
    }
}

/// A batch of `writes` seen at `minute` that asks to journal `stock`.
fn stock_batch(minute: i64, writes: Vec<LedgerWrite>, stock: Vec<NewStockEvent>) -> OrderBatch {
    OrderBatch {
        stock,
        ..batch(at(minute), writes)
    }
}

fn pending(id: IntegrationId, s: &str, since_minute: i64, mark: u64) -> PendingSku {
    PendingSku {
        integration_id: id,
        sku: sku(s),
        since: at(since_minute),
        mark,
    }
}

/// Every pending event, read in one call (more than any check writes).
async fn all_pending_events(store: &dyn Store, check: &str) -> Vec<StockEvent> {
    ok(
        check,
        "pending_stock_events",
        store.pending_stock_events(1000).await,
    )
}

fn event_keys(events: &[StockEvent]) -> Vec<(IntegrationId, &str)> {
    events
        .iter()
        .map(|e| (e.integration_id, e.channel_order_id.as_str()))
        .collect()
}

fn seq_of(events: &[StockEvent], id: IntegrationId, order: &str) -> u64 {
    events
        .iter()
        .find(|e| e.integration_id == id && e.channel_order_id.as_str() == order)
        .map(|e| e.seq)
        .unwrap_or_else(|| panic!("no stock event for order {order} of {id}"))
}

/// Journals the paid order `order` of `id` (imported now) with one unit of `s`; returns its seq.
async fn journal(store: &dyn Store, check: &str, id: IntegrationId, order: &str, s: &str) -> u64 {
    let b = stock_batch(
        1,
        vec![paid_import(order, at(1))],
        vec![new_event(order, &[(s, 1)], 1)],
    );
    ok(check, "record_orders", store.record_orders(id, &b).await);
    seq_of(&all_pending_events(store, check).await, id, order)
}

/// `record_orders` journals one stock event per order that the batch newly imports, in the
/// same transaction: recording the order again (a later run, or twice in one batch) adds none;
/// an order not imported, imported before (without an event), or not among the batch's writes
/// gets none; the same channel order id in another integration is its own event. Events read
/// back exactly (integration, order, lines, time), with unique `seq`s increasing in the order
/// they were written.
pub async fn stock_journal_once_per_imported_order(store: &dyn Store) {
    const CHECK: &str = "stock_journal_once_per_imported_order";
    add_integration(store, CHECK, id_a()).await;
    add_integration(store, CHECK, id_b()).await;

    // O-4 was imported by a batch that journalled nothing.
    ok(
        CHECK,
        "record_orders(O-4 without stock)",
        store
            .record_orders(id_a(), &batch(at(1), vec![paid_import("O-4", at(1))]))
            .await,
    );
    let held = NotImportedReason::UnmappedSku {
        skus: vec![sku("GTR-3")],
    };
    let first = stock_batch(
        2,
        vec![
            paid_import("O-1", at(2)),
            paid_import("O-2", at(2)),
            skip("O-3", paid("O-3"), held.clone()),
            paid_import("O-4", at(2)),
        ],
        vec![
            new_event("O-1", &[("GTR-1", 1)], 2),
            new_event("O-2", &[("GTR-1", 2), ("AMP-7", 1)], 2),
            new_event("O-3", &[("GTR-3", 1)], 2),
            new_event("O-4", &[("GTR-4", 1)], 2),
            new_event("O-9", &[("GTR-9", 1)], 2),
        ],
    );
    let recorded = ok(
        CHECK,
        "record_orders(first)",
        store.record_orders(id_a(), &first).await,
    );
    assert_eq!(
        recorded
            .iter()
            .map(|r| r.outcome.clone())
            .collect::<Vec<_>>(),
        vec![
            SightingOutcome::Imported,
            SightingOutcome::Imported,
            SightingOutcome::NotImported { reason: held },
            SightingOutcome::AlreadyImported,
        ],
        "{CHECK}: (suite bug) the first batch's outcomes"
    );
    let events = all_pending_events(store, CHECK).await;
    assert_eq!(
        events,
        vec![
            StockEvent {
                seq: events[0].seq,
                integration_id: id_a(),
                channel_order_id: oid("O-1"),
                lines: new_event("O-1", &[("GTR-1", 1)], 2).lines,
                imported_at: at(2),
            },
            StockEvent {
                seq: events[1].seq,
                integration_id: id_a(),
                channel_order_id: oid("O-2"),
                lines: new_event("O-2", &[("GTR-1", 2), ("AMP-7", 1)], 2).lines,
                imported_at: at(2),
            },
        ],
        "{CHECK}: exactly the newly imported orders O-1 and O-2 are journalled, as given \
         (not the held O-3, the earlier-imported O-4 or O-9 that is not among the writes)"
    );
    assert!(
        events[0].seq < events[1].seq,
        "{CHECK}: seqs increase in the order events were written"
    );

    // The same batch again (another run saw the same page): nothing new.
    let again = OrderBatch {
        seen_at: at(3),
        ..first.clone()
    };
    ok(
        CHECK,
        "record_orders(again)",
        store.record_orders(id_a(), &again).await,
    );
    // O-3 imports now: journalled once, even though the batch names it twice.
    let later = stock_batch(
        4,
        vec![paid_import("O-3", at(4)), paid_import("O-3", at(4))],
        vec![
            new_event("O-3", &[("GTR-3", 1)], 4),
            new_event("O-3", &[("GTR-3", 5)], 4),
        ],
    );
    ok(
        CHECK,
        "record_orders(O-3 imported, twice in one batch)",
        store.record_orders(id_a(), &later).await,
    );
    // The same channel order id in another integration is another order.
    ok(
        CHECK,
        "record_orders(B's O-1)",
        store
            .record_orders(
                id_b(),
                &stock_batch(
                    5,
                    vec![paid_import("O-1", at(5))],
                    vec![new_event("O-1", &[("GTR-1", 3)], 5)],
                ),
            )
            .await,
    );
    let events = all_pending_events(store, CHECK).await;
    assert_eq!(
        event_keys(&events),
        vec![
            (id_a(), "O-1"),
            (id_a(), "O-2"),
            (id_a(), "O-3"),
            (id_b(), "O-1"),
        ],
        "{CHECK}: each imported order is journalled once, lowest seq first"
    );
    assert_eq!(
        events[2].lines,
        vec![StockLine {
            sku: sku("GTR-3"),
            quantity: 1
        }],
        "{CHECK}: an order named twice in one batch is journalled with its first event"
    );
    assert_eq!(
        (events[3].lines[0].quantity, events[3].imported_at),
        (3, at(5)),
        "{CHECK}: B's O-1 is its own event"
    );
    let seqs: BTreeSet<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs.len(), events.len(), "{CHECK}: seqs are unique");
    assert!(
        events.windows(2).all(|w| w[0].seq < w[1].seq),
        "{CHECK}: events come lowest seq first"
    );
}

/// Pending events come lowest `seq` first, at most `limit`; `finish_stock_events` marks exactly
/// the events it names (in any order, not as a cursor), and a marked event never comes back;
/// naming one already marked, or a `seq` that does not exist, changes nothing. A later event
/// gets a higher `seq` than every earlier one.
pub async fn stock_events_come_in_order_until_finished(store: &dyn Store) {
    const CHECK: &str = "stock_events_come_in_order_until_finished";
    add_integration(store, CHECK, id_a()).await;
    let s1 = journal(store, CHECK, id_a(), "O-1", "GTR-1").await;
    let s2 = journal(store, CHECK, id_a(), "O-2", "GTR-2").await;
    let s3 = journal(store, CHECK, id_a(), "O-3", "GTR-3").await;
    assert!(s1 < s2 && s2 < s3, "{CHECK}: seqs increase as written");

    let two = ok(
        CHECK,
        "pending_stock_events(2)",
        store.pending_stock_events(2).await,
    );
    assert_eq!(
        two.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![s1, s2],
        "{CHECK}: the lowest seqs first, up to the limit"
    );
    assert!(
        ok(
            CHECK,
            "pending_stock_events(0)",
            store.pending_stock_events(0).await
        )
        .is_empty(),
        "{CHECK}: limit 0 returns nothing"
    );

    // The middle one first: the others stay pending.
    ok(
        CHECK,
        "finish_stock_events([s2])",
        store.finish_stock_events(&[s2], &[]).await,
    );
    let seqs = |events: Vec<StockEvent>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(all_pending_events(store, CHECK).await),
        vec![s1, s3],
        "{CHECK}: only the named event is marked (no cursor)"
    );
    let unknown = s3 + 1_000_000;
    ok(
        CHECK,
        "finish_stock_events([s1, s2 again, unknown])",
        store.finish_stock_events(&[s1, s2, unknown], &[]).await,
    );
    assert_eq!(
        seqs(all_pending_events(store, CHECK).await),
        vec![s3],
        "{CHECK}: marked events never come back"
    );
    ok(
        CHECK,
        "finish_stock_events([s3])",
        store.finish_stock_events(&[s3], &[]).await,
    );
    assert!(
        all_pending_events(store, CHECK).await.is_empty(),
        "{CHECK}: every event was handed over"
    );
    let s4 = journal(store, CHECK, id_a(), "O-4", "GTR-4").await;
    assert!(s4 > s3, "{CHECK}: a later event gets a higher seq");
    assert_eq!(
        seqs(all_pending_events(store, CHECK).await),
        vec![s4],
        "{CHECK}: only the new event is pending"
    );
}

/// `finish_stock_events` marks the events and the pending (integration, SKU) pairs in one
/// transaction and makes those integrations due at once for `claim_work` (even released with
/// a far `next_due`, and still due when the work was held while it was marked). A pair marked
/// again keeps the `since` it was first marked with and its `mark` grows (the larger of the old
/// mark + 1 and the new one), even when the new mark is lower (a lower `seq` that committed
/// late); `finish_propagation` removes only the pairs whose mark it covers, so one marked again
/// meanwhile stays pending. Pending
/// SKUs come oldest `since` first, then by SKU, up to `limit`; integrations with pending SKUs
/// oldest wait first.
pub async fn stock_propagation_marks_pairs_and_makes_due(store: &dyn Store) {
    const CHECK: &str = "stock_propagation_marks_pairs_and_makes_due";
    for id in [id_a(), id_b(), id_c()] {
        add_integration(store, CHECK, id).await;
    }
    // Every integration's work is claimed and released not to be due for ages.
    let w1 = worker("w1");
    let claims = ok(
        CHECK,
        "claim_work(w1)",
        store.claim_work(&w1, at(0), LONG_LEASE, 10).await,
    );
    assert_eq!(claims.len(), 3, "{CHECK}: (suite bug) new work is due");
    for id in [id_a(), id_b(), id_c()] {
        ok(
            CHECK,
            "release_work",
            store.release_work(id, &w1, never_due()).await,
        );
    }
    let w2 = worker("w2");
    assert!(
        ok(
            CHECK,
            "claim_work(w2) before",
            store.claim_work(&w2, at(10), LONG_LEASE, 10).await
        )
        .is_empty(),
        "{CHECK}: (suite bug) nothing is due before the sale"
    );

    // A sale on A: its SKUs must reach B and C.
    let s1 = journal(store, CHECK, id_a(), "O-1", "GTR-1").await;
    ok(
        CHECK,
        "finish_stock_events(s1)",
        store
            .finish_stock_events(
                &[s1],
                &[
                    pending(id_b(), "GTR-1", 5, s1),
                    pending(id_c(), "GTR-2", 4, s1),
                    pending(id_c(), "GTR-1", 4, s1),
                ],
            )
            .await,
    );
    assert!(
        all_pending_events(store, CHECK).await.is_empty(),
        "{CHECK}: the event was handed over"
    );
    assert_eq!(
        ok(
            CHECK,
            "pending_skus(C)",
            store.pending_skus(id_c(), 10).await
        ),
        vec![
            pending(id_c(), "GTR-1", 4, s1),
            pending(id_c(), "GTR-2", 4, s1)
        ],
        "{CHECK}: C's pairs, oldest since first then by SKU"
    );
    assert_eq!(
        ok(
            CHECK,
            "pending_skus(B)",
            store.pending_skus(id_b(), 10).await
        ),
        vec![pending(id_b(), "GTR-1", 5, s1)],
        "{CHECK}: B's pair"
    );
    assert!(
        ok(
            CHECK,
            "pending_skus(A)",
            store.pending_skus(id_a(), 10).await
        )
        .is_empty(),
        "{CHECK}: nothing is pending for A"
    );
    assert_eq!(
        ok(
            CHECK,
            "integrations_with_pending_skus",
            store.integrations_with_pending_skus(10).await
        ),
        vec![id_c(), id_b()],
        "{CHECK}: integrations with pending SKUs, oldest wait first"
    );
    assert_eq!(
        ok(
            CHECK,
            "integrations_with_pending_skus(1)",
            store.integrations_with_pending_skus(1).await
        ),
        vec![id_c()],
        "{CHECK}: up to the limit"
    );
    let claims = ok(
        CHECK,
        "claim_work(w2) after",
        store.claim_work(&w2, at(10), LONG_LEASE, 10).await,
    );
    assert_eq!(
        claimed_ids(&claims),
        BTreeSet::from([id_b(), id_c()]),
        "{CHECK}: the marked integrations are due at once (A is not)"
    );

    // Another sale marks C's GTR-1 again while w2 holds C's work.
    let s2 = journal(store, CHECK, id_a(), "O-2", "GTR-1").await;
    assert!(s2 > s1, "{CHECK}: (suite bug) seqs increase");
    ok(
        CHECK,
        "finish_stock_events(s2)",
        store
            .finish_stock_events(&[s2], &[pending(id_c(), "GTR-1", 8, s2)])
            .await,
    );
    // A late, lower mark (even with an earlier since) still marks the pair again: its mark
    // grows past s2 and its since stays.
    ok(
        CHECK,
        "finish_stock_events(lower mark)",
        store
            .finish_stock_events(&[], &[pending(id_c(), "GTR-1", 1, s1)])
            .await,
    );
    assert_eq!(
        ok(
            CHECK,
            "pending_skus(C)",
            store.pending_skus(id_c(), 10).await
        ),
        vec![
            pending(id_c(), "GTR-1", 4, s2 + 1),
            pending(id_c(), "GTR-2", 4, s1)
        ],
        "{CHECK}: a pair marked again keeps its first since and its mark grows"
    );
    ok(
        CHECK,
        "release_work(C)",
        store.release_work(id_c(), &w2, never_due()).await,
    );
    let claims = ok(
        CHECK,
        "claim_work(w3)",
        store
            .claim_work(&worker("w3"), at(11), LONG_LEASE, 10)
            .await,
    );
    assert_eq!(
        claimed_ids(&claims),
        BTreeSet::from([id_c()]),
        "{CHECK}: marked while its work was held, C stays due at once after the release"
    );

    // The propagation that read C's pairs with mark s1 finishes.
    ok(
        CHECK,
        "finish_propagation(C, s1)",
        store
            .finish_propagation(id_c(), &[(sku("GTR-1"), s1), (sku("GTR-2"), s1)])
            .await,
    );
    assert_eq!(
        ok(
            CHECK,
            "pending_skus(C)",
            store.pending_skus(id_c(), 10).await
        ),
        vec![pending(id_c(), "GTR-1", 4, s2 + 1)],
        "{CHECK}: a pair marked again since it was read survives finish_propagation"
    );
    ok(
        CHECK,
        "finish_propagation(C, s2: read before the late mark)",
        store
            .finish_propagation(id_c(), &[(sku("GTR-1"), s2)])
            .await,
    );
    assert_eq!(
        ok(
            CHECK,
            "pending_skus(C)",
            store.pending_skus(id_c(), 10).await
        ),
        vec![pending(id_c(), "GTR-1", 4, s2 + 1)],
        "{CHECK}: a late event with a lower seq marked the pair again: it stays pending"
    );
    ok(
        CHECK,
        "finish_propagation(C, s2 + 1 and a SKU never pending)",
        store
            .finish_propagation(
                id_c(),
                &[(sku("GTR-1"), s2 + 1), (sku("NOT-PENDING"), s2 + 1)],
            )
            .await,
    );
    assert!(
        ok(
            CHECK,
            "pending_skus(C)",
            store.pending_skus(id_c(), 10).await
        )
        .is_empty(),
        "{CHECK}: covered by its mark, the pair is gone"
    );
    // Another integration's pairs are its own.
    assert_eq!(
        ok(
            CHECK,
            "pending_skus(B)",
            store.pending_skus(id_b(), 10).await
        ),
        vec![pending(id_b(), "GTR-1", 5, s1)],
        "{CHECK}: finishing C's propagation leaves B's pair"
    );
    assert_eq!(
        ok(
            CHECK,
            "integrations_with_pending_skus",
            store.integrations_with_pending_skus(10).await
        ),
        vec![id_b()],
        "{CHECK}: only B waits"
    );

    // Order and limit of one integration's pending SKUs.
    ok(
        CHECK,
        "finish_stock_events(more of B)",
        store
            .finish_stock_events(
                &[],
                &[
                    pending(id_b(), "AMP-9", 7, s2),
                    pending(id_b(), "AMP-1", 7, s2),
                    pending(id_b(), "ZED-0", 3, s2),
                ],
            )
            .await,
    );
    let firsts: Vec<Sku> = ok(
        CHECK,
        "pending_skus(B, 3)",
        store.pending_skus(id_b(), 3).await,
    )
    .into_iter()
    .map(|p| p.sku)
    .collect();
    assert_eq!(
        firsts,
        vec![sku("ZED-0"), sku("GTR-1"), sku("AMP-1")],
        "{CHECK}: oldest since first, then by SKU, up to the limit"
    );
    assert!(
        ok(
            CHECK,
            "pending_skus(B, 0)",
            store.pending_skus(id_b(), 0).await
        )
        .is_empty(),
        "{CHECK}: limit 0 returns nothing"
    );
}

/// `finish_stock_events` is all or nothing: when it fails (here a pair names an integration
/// the store does not know, which a store with foreign keys refuses), no event is marked and no
/// pair is written, not even the valid ones named before; when it succeeds, all are.
pub async fn stock_finish_is_atomic(store: &dyn Store) {
    const CHECK: &str = "stock_finish_is_atomic";
    add_integration(store, CHECK, id_a()).await;
    add_integration(store, CHECK, id_b()).await;
    let s1 = journal(store, CHECK, id_a(), "O-1", "GTR-1").await;
    let stranger = IntegrationId::from(uuid::Uuid::from_u128(0xFF));
    let result = store
        .finish_stock_events(
            &[s1],
            &[
                pending(id_b(), "GTR-1", 5, s1),
                pending(stranger, "GTR-1", 5, s1),
            ],
        )
        .await;
    let events = all_pending_events(store, CHECK).await;
    let b_pairs = ok(
        CHECK,
        "pending_skus(B)",
        store.pending_skus(id_b(), 10).await,
    );
    match result {
        Err(StoreError::Backend { .. } | StoreError::NotFound(_)) => {
            assert_eq!(
                events.iter().map(|e| e.seq).collect::<Vec<_>>(),
                vec![s1],
                "{CHECK}: a failed finish_stock_events marks no event"
            );
            assert!(
                b_pairs.is_empty(),
                "{CHECK}: a failed finish_stock_events writes no pair"
            );
        }
        Err(other) => panic!("{CHECK}: unexpected error {other:?}"),
        Ok(()) => {
            assert!(events.is_empty(), "{CHECK}: the event is marked");
            assert_eq!(
                b_pairs,
                vec![pending(id_b(), "GTR-1", 5, s1)],
                "{CHECK}: the pair is written"
            );
        }
    }
}

/// `listings_for_skus` returns the listing of every integration for exactly the SKUs asked
/// (matched exactly, case-sensitively), by integration then SKU, as stored.
pub async fn listings_for_skus_across_integrations(store: &dyn Store) {
    const CHECK: &str = "listings_for_skus_across_integrations";
    for id in [id_a(), id_b(), id_c()] {
        add_integration(store, CHECK, id).await;
    }
    let stored = [
        listing(id_b(), "S-3", ListingStatus::Linked, 1),
        listing(id_a(), "S-2", ListingStatus::Linked, 2),
        listing(id_a(), "S-1", ListingStatus::Linked, 3),
        listing(id_a(), "S-3", ListingStatus::Linked, 4),
        listing(id_b(), "S-2", ListingStatus::Linked, 5),
        listing(id_c(), "S-9", ListingStatus::Linked, 6),
        listing(id_c(), "s-2", ListingStatus::Linked, 7),
    ];
    for l in &stored {
        ok(CHECK, "put_listing", store.put_listing(l).await);
    }
    let got = ok(
        CHECK,
        "listings_for_skus",
        store
            .listings_for_skus(&[sku("S-3"), sku("S-2"), sku("NOT-LISTED")])
            .await,
    );
    assert_eq!(
        got,
        vec![
            stored[1].clone(),
            stored[3].clone(),
            stored[4].clone(),
            stored[0].clone(),
        ],
        "{CHECK}: A's S-2 and S-3, then B's S-2 and S-3 (not C's s-2)"
    );
    assert!(
        ok(
            CHECK,
            "listings_for_skus([])",
            store.listings_for_skus(&[]).await
        )
        .is_empty(),
        "{CHECK}: no SKUs, no listings"
    );
}

/// Many tasks record overlapping batches of the same orders at once, each batch asking to
/// journal its orders: every order is journalled exactly once.
///
/// Takes an [`Arc`] so the store can be shared by spawned tasks; run it on a multi-threaded
/// runtime to exercise real parallelism.
pub async fn concurrent_stock_journal_once(store: Arc<dyn Store>) {
    const CHECK: &str = "concurrent_stock_journal_once";
    const ORDERS: usize = 20;
    const TASKS: usize = 6;
    const ROUNDS: usize = 4;
    const WINDOW: usize = 8;
    add_integration(&*store, CHECK, id_a()).await;
    let order_id = |n: usize| format!("J-{n:03}");
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        let batches: Vec<OrderBatch> = (0..ROUNDS)
            .map(|round| {
                let orders: Vec<String> = (0..WINDOW)
                    .map(|k| order_id((task * 3 + round * 5 + k) % ORDERS))
                    .collect();
                stock_batch(
                    (round * TASKS + task) as i64,
                    orders.iter().map(|o| paid_import(o, at(1))).collect(),
                    orders
                        .iter()
                        .map(|o| new_event(o, &[("GTR-1", 1)], 1))
                        .collect(),
                )
            })
            .collect();
        tasks.spawn(async move {
            for b in batches {
                store.record_orders(id_a(), &b).await.unwrap_or_else(|e| {
                    panic!("{CHECK}: record_orders failed under concurrency: {e}")
                });
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap_or_else(|e| panic!("{CHECK}: a task panicked: {e}"));
    }
    let events = all_pending_events(&*store, CHECK).await;
    let orders: Vec<&str> = events.iter().map(|e| e.channel_order_id.as_str()).collect();
    let distinct: BTreeSet<&str> = orders.iter().copied().collect();
    assert_eq!(
        orders.len(),
        distinct.len(),
        "{CHECK}: an order was journalled twice: {orders:?}"
    );
    let expected: BTreeSet<String> = (0..TASKS)
        .flat_map(|task| {
            (0..ROUNDS).flat_map(move |round| {
                (0..WINDOW).map(move |k| order_id((task * 3 + round * 5 + k) % ORDERS))
            })
        })
        .collect();
    assert_eq!(
        distinct,
        expected.iter().map(String::as_str).collect(),
        "{CHECK}: every imported order is journalled"
    );
    assert!(
        events.windows(2).all(|w| w[0].seq < w[1].seq),
        "{CHECK}: events come lowest seq first"
    );
}
