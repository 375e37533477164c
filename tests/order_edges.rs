//! Orders at the seller's edges, through the facade the way a host program uses it: the SQLite
//! store on a file, the engine, a `MemoryChannel` standing in for the marketplace.
//!
//! - a held order stays importable whatever its age once downloaded;
//! - a held order is decided on its latest state at the channel, never on an old snapshot;
//! - an unreadable order is never skipped by the cursor and stays visible in the ledger until it
//!   reads.

mod common;

use chrono::TimeDelta;
use common::*;
use marketsync::{
    Capabilities, LedgerFilter, NotImportedReason, Operation, Order, OrderOutcome, OrderState,
    OrderStatus, Store,
};

// ----- 1. a held order never ages out -----

async fn held_order_imports_after_the_age_window(caps: Capabilities) {
    let w = world(caps).await;
    w.channel.add_order(order("O-1", t0(), "A", "Express"));
    let first = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(
        first.not_imported,
        vec![(
            oid("O-1"),
            NotImportedReason::UnmappedShipping {
                text: "Express".into()
            }
        )]
    );
    // 40 days later (the window is 30), the seller adds the mapping.
    w.clock.advance(TimeDelta::days(40));
    map_shipping(&w, "Express").await;
    let later = w.engine.import_orders(w.id).await.unwrap();
    let imported: Vec<_> = later.released.iter().chain(&later.imported).collect();
    assert_eq!(imported, vec![&oid("O-1")], "{later:?}");
    assert_eq!(outcome(&w, "O-1").await, OrderOutcome::Imported);
    // And only once.
    let again = w.engine.import_orders(w.id).await.unwrap();
    assert!(
        again.released.is_empty() && again.imported.is_empty(),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_held_order_imports_once_mapped_after_the_age_window_cursor_channel() {
    held_order_imports_after_the_age_window(cursor_caps()).await;
}

#[tokio::test]
async fn a_held_order_imports_once_mapped_after_the_age_window_export_flag_channel() {
    // Here the held order is downloaded again on every run (it is never acknowledged), so the
    // fresh download itself must not call it too old.
    held_order_imports_after_the_age_window(export_flag_caps()).await;
}

#[tokio::test]
async fn a_held_order_without_a_read_by_id_imports_after_the_age_window() {
    held_order_imports_after_the_age_window(Capabilities {
        orders_get_by_id: false,
        ..cursor_caps()
    })
    .await;
}

// ----- 2. a held order is decided on its latest state -----

async fn cancelled_held_order_is_not_imported(caps: Capabilities, in_feed: bool) {
    let w = world(caps).await;
    w.channel.add_order(order("O-2", t0(), "A", "Express"));
    w.engine.import_orders(w.id).await.unwrap();
    // The buyer cancels at the channel.
    let cancel = |o: &mut Order| o.status = OrderStatus::new(OrderState::Cancelled, "cancelled");
    if in_feed {
        // The change shows in the order feed (an updated-since cursor, an unexported order).
        assert!(w.channel.edit_order_outside(&oid("O-2"), cancel));
    } else {
        // The feed does not show it again (a journal that reported the order once): only a
        // read by id sees it.
        assert!(w.channel.edit_order_in_place(&oid("O-2"), cancel));
    }
    let by_id_before = w.channel.calls(Operation::FetchOrdersById);
    map_shipping(&w, "Express").await;
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert!(
        r.released.is_empty() && r.imported.is_empty(),
        "a cancelled order must not import: {r:?}"
    );
    let now = outcome(&w, "O-2").await;
    assert!(
        matches!(
            now,
            OrderOutcome::NotImported {
                reason: NotImportedReason::StatusNotImported {
                    state: OrderState::Cancelled,
                    ..
                }
            }
        ),
        "{now:?}"
    );
    if !in_feed {
        assert_eq!(
            w.channel.calls(Operation::FetchOrdersById),
            by_id_before + 1,
            "read by id once, before it would have been imported"
        );
    }
}

#[tokio::test]
async fn a_held_order_cancelled_since_is_not_imported_cursor_channel() {
    cancelled_held_order_is_not_imported(cursor_caps(), true).await;
}

#[tokio::test]
async fn a_held_order_cancelled_since_is_not_imported_export_flag_channel() {
    cancelled_held_order_is_not_imported(export_flag_caps(), true).await;
}

#[tokio::test]
async fn a_held_order_cancelled_behind_the_feed_is_read_by_id_and_not_imported() {
    cancelled_held_order_is_not_imported(cursor_caps(), false).await;
}

#[tokio::test]
async fn a_held_order_still_paid_is_read_by_id_once_and_imported() {
    let w = world(cursor_caps()).await;
    w.channel.add_order(order("O-4", t0(), "A", "Express"));
    w.engine.import_orders(w.id).await.unwrap();
    let by_id_before = w.channel.calls(Operation::FetchOrdersById);
    // Nothing would import: no read by id.
    w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(w.channel.calls(Operation::FetchOrdersById), by_id_before);
    map_shipping(&w, "Express").await;
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.released, vec![oid("O-4")], "{r:?}");
    assert_eq!(
        w.channel.calls(Operation::FetchOrdersById),
        by_id_before + 1
    );
}

#[tokio::test]
async fn a_held_order_is_not_imported_when_the_read_by_id_fails() {
    let w = world(cursor_caps()).await;
    w.channel.add_order(order("O-6", t0(), "A", "Express"));
    w.engine.import_orders(w.id).await.unwrap();
    map_shipping(&w, "Express").await;
    w.channel.fail_next(
        Operation::FetchOrdersById,
        1,
        marketsync::ErrorKind::Transient,
    );
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert!(r.released.is_empty(), "nothing on a stale snapshot: {r:?}");
    assert!(r.stopped.is_some());
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.released, vec![oid("O-6")]);
}

// ----- 3. unreadable orders are never skipped -----

#[tokio::test]
async fn an_unreadable_order_behind_newer_good_orders_is_retried_by_id_until_it_reads() {
    let w = world(cursor_caps()).await;
    w.channel.add_order(order("BAD", t0(), "A", "Standard"));
    w.channel.add_order(order("GOOD", t0(), "A", "Standard"));
    assert!(
        w.channel
            .make_order_unreadable(&oid("BAD"), "missing field `amount`", true)
    );
    let first = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(first.imported, vec![oid("GOOD")]);
    // Visible in the ledger meanwhile.
    let unreadable = w
        .store
        .ledger(w.id, LedgerFilter::Unreadable)
        .await
        .unwrap();
    assert_eq!(unreadable.len(), 1);
    assert_eq!(unreadable[0].channel_order_id, oid("BAD"));
    // Still unreadable: nothing imported, still visible.
    let second = w.engine.import_orders(w.id).await.unwrap();
    assert!(second.imported.is_empty() && second.released.is_empty());
    assert_eq!(
        w.store
            .ledger(w.id, LedgerFilter::Unreadable)
            .await
            .unwrap()
            .len(),
        1
    );
    // The channel fixes it: it imports, once.
    w.channel.make_order_readable(&oid("BAD"));
    let third = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(third.released, vec![oid("BAD")], "{third:?}");
    assert_eq!(outcome(&w, "BAD").await, OrderOutcome::Imported);
    let fourth = w.engine.import_orders(w.id).await.unwrap();
    assert!(fourth.released.is_empty() && fourth.imported.is_empty());
}

#[tokio::test]
async fn an_order_the_feed_cannot_read_but_a_read_by_id_can_imports_in_the_same_run() {
    let w = world(cursor_caps()).await;
    w.channel.add_order(order("ODD", t0(), "A", "Standard"));
    w.channel.add_order(order("GOOD", t0(), "A", "Standard"));
    assert!(
        w.channel
            .make_order_unreadable_in_feed(&oid("ODD"), "unexpected shape of `shipping`")
    );
    let first = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(first.imported, vec![oid("GOOD")], "{first:?}");
    assert_eq!(first.released, vec![oid("ODD")], "{first:?}");
    assert_eq!(outcome(&w, "ODD").await, OrderOutcome::Imported);
    assert!(
        w.store
            .ledger(w.id, LedgerFilter::Unreadable)
            .await
            .unwrap()
            .is_empty()
    );
    // Still unreadable in the feed: seen again, never imported twice, no more reads by id.
    let by_id = w.channel.calls(Operation::FetchOrdersById);
    let again = w.engine.import_orders(w.id).await.unwrap();
    assert!(
        again.imported.is_empty() && again.released.is_empty(),
        "{again:?}"
    );
    assert_eq!(w.channel.calls(Operation::FetchOrdersById), by_id);
}

#[tokio::test]
async fn an_unreadable_order_on_a_channel_without_read_by_id_holds_the_cursor() {
    let w = world(Capabilities {
        orders_get_by_id: false,
        ..cursor_caps()
    })
    .await;
    w.channel.add_order(order("BAD", t0(), "A", "Standard"));
    w.channel.add_order(order("GOOD", t0(), "A", "Standard"));
    w.channel
        .make_order_unreadable(&oid("BAD"), "missing field `amount`", true);
    let first = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(first.imported, vec![oid("GOOD")]);
    w.channel.make_order_readable(&oid("BAD"));
    // The cursor waited before it, so the download sends it again (with the good order after
    // it, seen again and not imported twice); it imports as an order that waited.
    let second = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(second.released, vec![oid("BAD")], "{second:?}");
    assert!(second.imported.is_empty(), "{second:?}");
    assert_eq!(second.already_imported, vec![oid("GOOD")]);
    assert_eq!(
        w.channel.calls(Operation::FetchOrdersById),
        0,
        "this channel cannot read by id"
    );
}

#[tokio::test]
async fn an_unreadable_order_without_an_id_stays_visible_until_it_reads() {
    let w = world(cursor_caps()).await;
    w.channel.add_order(order("NOID", t0(), "A", "Standard"));
    w.channel.add_order(order("GOOD", t0(), "A", "Standard"));
    w.channel
        .make_order_unreadable(&oid("NOID"), "no order number", false);
    let first = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(first.imported, vec![oid("GOOD")]);
    assert_eq!(first.unreadable_without_id.len(), 1);
    let rows = w
        .store
        .ledger(w.id, LedgerFilter::Unreadable)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let placeholder = rows[0].channel_order_id.clone();
    assert!(
        placeholder
            .as_str()
            .starts_with(marketsync::engine::UNREADABLE_WITHOUT_ID_PREFIX)
    );
    // Seen again on the next run (the cursor waits before it): the same row, not a new one.
    w.engine.import_orders(w.id).await.unwrap();
    let rows = w
        .store
        .ledger(w.id, LedgerFilter::Unreadable)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].times_seen, 2);
    // It reads: imported under its own id; the placeholder says it is no longer sent.
    w.channel.make_order_readable(&oid("NOID"));
    let third = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(third.imported, vec![oid("NOID")], "{third:?}");
    let explained = w.engine.explain_order(w.id, &placeholder).await.unwrap();
    assert!(
        explained
            .story
            .iter()
            .any(|s| s.contains("no longer sends")),
        "{:?}",
        explained.story
    );
}

#[tokio::test]
async fn held_orders_are_released_while_the_order_list_is_failing() {
    let w = world(cursor_caps()).await;
    w.channel.add_order(order("O-7", t0(), "A", "Express"));
    w.engine.import_orders(w.id).await.unwrap();
    map_shipping(&w, "Express").await;
    w.channel
        .fail_next(Operation::FetchOrders, 1, marketsync::ErrorKind::Transient);
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.released, vec![oid("O-7")], "{r:?}");
    assert!(
        r.stopped.is_some(),
        "the failed download is reported: {r:?}"
    );
    // With nothing to release, a failing list is the run's error, as before.
    w.channel
        .fail_next(Operation::FetchOrders, 1, marketsync::ErrorKind::Transient);
    assert!(w.engine.import_orders(w.id).await.is_err());
}
