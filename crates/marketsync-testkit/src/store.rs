//! The conformance suite every [`Store`] implementation must pass.
//!
//! Each check is a public async function that takes a fresh, empty store and panics with a
//! message naming the violated guarantee. [`run_all`] runs every check, each on its own fresh
//! store, so a backend's test can be one line; running each check as its own test gives finer
//! reports.
//!
//! The checks only pass fixed times as the caller's clock (never the system clock) and always
//! insert an integration before storing anything for it, so backends with foreign keys pass too.
//! Lease expiry is the store's own clock, so the few checks that need a lease to lapse take a
//! short one (300 ms) and wait real time for it, polling; nothing asserts how long a call took. They assert what the
//! [`Store`] documentation promises and nothing about unspecified details (the order of
//! [`Store::integrations`] and [`Store::ledger`] rows, the text of lease tokens, the boundary
//! instant of a lease).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tokio::task::JoinSet;

use marketsync_core::channel::Cursor;
use marketsync_core::ids::{ChannelKind, ChannelListingId, ChannelOrderId, IntegrationId, Sku};
use marketsync_core::lifecycle::{Actor, AuditEvent, ChannelRules, Context, Lifecycle};
use marketsync_core::listing::{Fingerprint, Listing, ListingStatus};
use marketsync_core::mapping::{
    MappingSet, ShippingMapping, ShippingService, SkuMapping, SkuResolution,
};
use marketsync_core::money::{Currency, Money};
use marketsync_core::order::{
    AdjustmentReason, Buyer, Cancellation, CurrencySource, Delivery, IdempotencyKey, Management,
    Order, OrderLine, OrderState, OrderStatus, Refund, Shipment,
};
use marketsync_core::settings::IntegrationSettings;
use marketsync_core::store::support::apply_write;
use marketsync_core::store::{
    Decision, ImportedOrder, IntegrationRecord, LedgerEntry, LedgerFilter, LedgerWrite,
    MAX_SIGHTINGS, NotImportedReason, NoticeState, OrderBatch, OrderOutcome, OutboxAction,
    OutboxEntry, OutboxItem, OutboxState, OutboxUpdate, RecordedOrder, ResolvedLine,
    SightingOutcome, Store, StoreError,
};
use marketsync_core::store::{Page, PageRequest, RunTimes, WorkClaim, WorkerId, never_due};
use marketsync_core::vault::SealedCredentials;

mod stock;
pub use stock::{
    concurrent_stock_journal_once, listings_for_skus_across_integrations,
    stock_events_come_in_order_until_finished, stock_finish_is_atomic,
    stock_journal_once_per_imported_order, stock_propagation_marks_pairs_and_makes_due,
};

// ----- running everything -----

/// Runs every check of the suite, each on a fresh store from `make_store`.
///
/// `make_store` must return a new, empty store on every call (an async factory, so a backend can
/// open a database or run migrations).
pub async fn run_all<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    integrations_round_trip(&*make_store().await).await;
    update_is_optimistic_and_appends_audit(&*make_store().await).await;
    credentials_are_stored_as_given(&*make_store().await).await;
    mappings_round_trip(&*make_store().await).await;
    mappings_compare_and_swap(&*make_store().await).await;
    concurrent_mapping_edits_all_survive(make_store().await).await;
    listings_upsert_and_remove(&*make_store().await).await;
    record_orders_imports_each_order_once(&*make_store().await).await;
    held_order_imports_later(&*make_store().await).await;
    imported_never_reverts(&*make_store().await).await;
    batch_and_cursor_move_together(&*make_store().await).await;
    concurrent_record_orders_import_once(make_store().await).await;
    ledger_filters(&*make_store().await).await;
    sightings_are_capped(&*make_store().await).await;
    outbox_enqueue_is_idempotent(&*make_store().await).await;
    outbox_claim_lease_and_finish(&*make_store().await).await;
    outbox_per_integration(&*make_store().await).await;
    outbox_keys_per_integration(&*make_store().await).await;
    data_is_per_integration(&*make_store().await).await;
    credentials_versions_compare_and_swap(&*make_store().await).await;
    named_lease_is_exclusive_until_it_lapses(&*make_store().await).await;
    concurrent_named_lease_has_one_winner(make_store().await).await;
    work_is_claimed_by_one_worker(make_store().await).await;
    work_release_and_due(&*make_store().await).await;
    work_lease_lapses_by_the_store_clock(&*make_store().await).await;
    paged_reads_cover_every_item_once(&*make_store().await).await;
    notifications_are_written_with_their_change(&*make_store().await).await;
    notification_dedupe_key_is_written_once(&*make_store().await).await;
    notification_deliveries_are_claimed_once_per_transport_and_lease(&*make_store().await).await;
    notification_delivery_retry_finish_and_failed_states(&*make_store().await).await;
    message_list_order_paging_and_read_marks(&*make_store().await).await;
    stock_journal_once_per_imported_order(&*make_store().await).await;
    stock_events_come_in_order_until_finished(&*make_store().await).await;
    stock_propagation_marks_pairs_and_makes_due(&*make_store().await).await;
    stock_finish_is_atomic(&*make_store().await).await;
    listings_for_skus_across_integrations(&*make_store().await).await;
    concurrent_stock_journal_once(make_store().await).await;
}

/// Declares every check of the suite as its own test in the calling crate: one `#[tokio::test]`
/// per check (the concurrent ones on a multi-threaded runtime), each on a fresh store, so a
/// failure names the broken guarantee. Needs `tokio` (with `macros` and `rt-multi-thread`) among
/// the caller's dev-dependencies.
///
/// `$open` is an expression, evaluated once per test inside an async function (so it may
/// `.await`), giving `(store, guard)`: the store to check, and whatever must live as long as the
/// test (a temporary database file), or `()`.
///
/// ```ignore
/// mod file {
///     marketsync_testkit::store_tests!(open_temp_file_store().await);
/// }
/// mod memory {
///     marketsync_testkit::store_tests!((marketsync_core::MemoryStore::new(), ()));
/// }
/// ```
#[macro_export]
macro_rules! store_tests {
    (@each $open:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let (store, _guard) = $open;
            $crate::store::$name(&store).await;
        }
    )*};
    (@concurrent $open:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let (store, _guard) = $open;
            $crate::store::$name(::std::sync::Arc::new(store)).await;
        }
    )*};
    ($open:expr) => {
        $crate::store_tests!(@each $open;
            integrations_round_trip,
            update_is_optimistic_and_appends_audit,
            credentials_are_stored_as_given,
            mappings_round_trip,
            mappings_compare_and_swap,
            listings_upsert_and_remove,
            record_orders_imports_each_order_once,
            held_order_imports_later,
            imported_never_reverts,
            batch_and_cursor_move_together,
            ledger_filters,
            sightings_are_capped,
            outbox_enqueue_is_idempotent,
            outbox_claim_lease_and_finish,
            outbox_per_integration,
            outbox_keys_per_integration,
            data_is_per_integration,
            credentials_versions_compare_and_swap,
            named_lease_is_exclusive_until_it_lapses,
            work_release_and_due,
            work_lease_lapses_by_the_store_clock,
            paged_reads_cover_every_item_once,
            notifications_are_written_with_their_change,
            notification_dedupe_key_is_written_once,
            notification_deliveries_are_claimed_once_per_transport_and_lease,
            notification_delivery_retry_finish_and_failed_states,
            message_list_order_paging_and_read_marks,
            stock_journal_once_per_imported_order,
            stock_events_come_in_order_until_finished,
            stock_propagation_marks_pairs_and_makes_due,
            stock_finish_is_atomic,
            listings_for_skus_across_integrations,
        );
        $crate::store_tests!(@concurrent $open;
            concurrent_mapping_edits_all_survive,
            concurrent_record_orders_import_once,
            concurrent_named_lease_has_one_winner,
            work_is_claimed_by_one_worker,
            concurrent_stock_journal_once,
        );
    };
}

// ----- integrations -----

/// Inserted integrations read back exactly as given (a deleted one's tombstone included), every
/// integration is listed, a second insert of the same id is `Conflict` and changes nothing.
pub async fn integrations_round_trip(store: &dyn Store) {
    const CHECK: &str = "integrations_round_trip";
    assert!(
        ok(CHECK, "integrations()", store.integrations().await).is_empty(),
        "{CHECK}: a fresh store must list no integrations"
    );
    assert_eq!(
        ok(
            CHECK,
            "integration(unknown)",
            store.integration(id_a()).await
        ),
        None,
        "{CHECK}: an unknown integration must read as None"
    );

    let (a, a_audit) = integration(id_a(), "Reverb — main shop", ChannelKind::Reverb);
    ok(
        CHECK,
        "insert_integration(A)",
        store.insert_integration(&a, &a_audit).await,
    );

    // A deleted integration with non-default settings and notices: everything must survive.
    let (mut b, mut b_audit) = integration(id_b(), "Allegro — outlet", ChannelKind::Allegro);
    b.settings.created_within_days = None;
    b.settings.import_states.push(OrderState::PartiallyShipped);
    b.notices = NoticeState {
        credentials_expiring_for: Some(at(90 * 24 * 60)),
        connection_broken: true,
    };
    let ctx = Context::at(Actor::User("ann".into()), at(60));
    let plan = b
        .lifecycle
        .plan_delete(vec![oid("B-1")], at(60))
        .expect("plan_delete");
    b_audit.extend(b.lifecycle.delete(&ctx, plan.confirm()).expect("delete"));
    assert!(b.lifecycle.is_deleted());
    ok(
        CHECK,
        "insert_integration(B, deleted)",
        store.insert_integration(&b, &b_audit).await,
    );

    assert_eq!(
        ok(CHECK, "integration(A)", store.integration(id_a()).await),
        Some(a.clone()),
        "{CHECK}: integration A must read back exactly as inserted"
    );
    assert_eq!(
        ok(CHECK, "integration(B)", store.integration(id_b()).await),
        Some(b.clone()),
        "{CHECK}: a deleted integration (tombstone) must read back exactly as inserted"
    );
    assert_eq!(
        ok(CHECK, "audit_log(A)", store.audit_log(id_a()).await),
        a_audit,
        "{CHECK}: the audit events given to insert_integration must be stored, oldest first"
    );
    assert_eq!(
        ok(CHECK, "audit_log(B)", store.audit_log(id_b()).await),
        b_audit,
        "{CHECK}: the audit events given to insert_integration must be stored, oldest first"
    );

    let mut all = ok(CHECK, "integrations()", store.integrations().await);
    all.sort_by_key(|r| r.id);
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort_by_key(|r| r.id);
    assert_eq!(
        all, expected,
        "{CHECK}: integrations() must list every integration (deleted ones included)"
    );

    // A second insert of the same id: Conflict, and nothing changes.
    let (mut again, again_audit) = integration(id_a(), "Impostor", ChannelKind::Tradera);
    again.version = 7;
    match store.insert_integration(&again, &again_audit).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!(
            "{CHECK}: inserting an integration whose id exists must be Conflict, got {other:?}"
        ),
    }
    assert_eq!(
        ok(CHECK, "integration(A)", store.integration(id_a()).await),
        Some(a),
        "{CHECK}: a refused insert must not change the stored integration"
    );
    assert_eq!(
        ok(CHECK, "audit_log(A)", store.audit_log(id_a()).await),
        a_audit,
        "{CHECK}: a refused insert must not append its audit events"
    );
    assert!(
        ok(CHECK, "audit_log(unknown)", store.audit_log(id_c()).await).is_empty(),
        "{CHECK}: an unknown integration has an empty audit log"
    );
}

/// `update_integration` is optimistic: it succeeds only against the stored version, increments
/// the version, and appends the audit events in the same transaction; a stale version is
/// `Conflict` and changes nothing; a missing integration is `NotFound`.
pub async fn update_is_optimistic_and_appends_audit(store: &dyn Store) {
    const CHECK: &str = "update_is_optimistic_and_appends_audit";
    let (v0, created) = integration(id_a(), "Reverb", ChannelKind::Reverb);
    ok(
        CHECK,
        "insert_integration",
        store.insert_integration(&v0, &created).await,
    );
    let mut log = created.clone();

    // First update: from version 0.
    let mut next = v0.clone();
    next.name = "Reverb — renamed".into();
    let ctx = Context::at(Actor::User("ann".into()), at(10));
    let disabled = next.lifecycle.disable(&ctx).expect("disable");
    assert!(!disabled.is_empty());
    let v1 = ok(
        CHECK,
        "update_integration(v0)",
        store.update_integration(&next, &disabled).await,
    );
    assert_eq!(
        v1,
        v0.version + 1,
        "{CHECK}: update_integration must return the stored version plus one"
    );
    log.extend(disabled);
    let stored = ok(CHECK, "integration", store.integration(id_a()).await)
        .expect("the updated integration must exist");
    assert_eq!(
        stored.version, v1,
        "{CHECK}: the stored version must be the one returned"
    );
    assert_eq!(
        IntegrationRecord {
            version: v0.version,
            ..stored.clone()
        },
        next,
        "{CHECK}: the stored record must be the one given (apart from its version)"
    );
    assert_eq!(
        ok(CHECK, "audit_log", store.audit_log(id_a()).await),
        log,
        "{CHECK}: update_integration must append its audit events after the existing ones"
    );

    // A writer still holding version 0 loses.
    let mut stale = v0.clone();
    stale.name = "stale writer".into();
    let stale_events = vec![AuditEvent {
        at: at(11),
        ..created[0].clone()
    }];
    match store.update_integration(&stale, &stale_events).await {
        Err(StoreError::Conflict(_)) => {}
        other => {
            panic!("{CHECK}: an update against a stale version must be Conflict, got {other:?}")
        }
    }
    assert_eq!(
        ok(CHECK, "integration", store.integration(id_a()).await),
        Some(stored.clone()),
        "{CHECK}: a conflicting update must not change the stored record"
    );
    assert_eq!(
        ok(CHECK, "audit_log", store.audit_log(id_a()).await),
        log,
        "{CHECK}: a conflicting update must not append its audit events"
    );

    // A writer holding the current version wins.
    let mut again = stored.clone();
    let ctx = Context::at(Actor::Support("sam".into()), at(20));
    let enabled = again.lifecycle.enable(&ctx).expect("enable");
    let v2 = ok(
        CHECK,
        "update_integration(v1)",
        store.update_integration(&again, &enabled).await,
    );
    assert_eq!(
        v2,
        v1 + 1,
        "{CHECK}: versions must increase by one per update"
    );
    log.extend(enabled);
    assert_eq!(
        ok(CHECK, "audit_log", store.audit_log(id_a()).await),
        log,
        "{CHECK}: audit events must accumulate oldest first"
    );

    // An update without audit events still bumps the version.
    let mut quiet = ok(CHECK, "integration", store.integration(id_a()).await).unwrap();
    quiet.notices.connection_broken = true;
    let v3 = ok(
        CHECK,
        "update_integration(no audit)",
        store.update_integration(&quiet, &[]).await,
    );
    assert_eq!(
        v3,
        v2 + 1,
        "{CHECK}: versions must increase by one per update"
    );
    let stored = ok(CHECK, "integration", store.integration(id_a()).await).unwrap();
    assert!(stored.notices.connection_broken && stored.version == v3);
    assert_eq!(
        ok(CHECK, "audit_log", store.audit_log(id_a()).await),
        log,
        "{CHECK}: an update with no audit events must not add any"
    );

    // Updating an integration that does not exist.
    let (missing, _) = integration(id_b(), "missing", ChannelKind::Allegro);
    match store.update_integration(&missing, &[]).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{CHECK}: updating a missing integration must be NotFound, got {other:?}"),
    }
    assert_eq!(
        ok(
            CHECK,
            "integration(missing)",
            store.integration(id_b()).await
        ),
        None,
        "{CHECK}: a refused update must not create the integration"
    );
}

// ----- credentials, mappings, listings -----

/// Sealed credentials are opaque bytes: stored and read back exactly (every byte value), and
/// replaced by a later put.
pub async fn credentials_are_stored_as_given(store: &dyn Store) {
    const CHECK: &str = "credentials_are_stored_as_given";
    add_integration(store, CHECK, id_a()).await;
    assert!(
        ok(CHECK, "credentials", store.credentials(id_a()).await).is_none(),
        "{CHECK}: an integration without credentials must read None"
    );

    let first = SealedCredentials {
        key_id: "2026-03".into(),
        nonce: (0u8..24).collect(),
        // Every byte value, NULs and invalid UTF-8 included, twice.
        ciphertext: (0u8..=255).chain((0u8..=255).rev()).collect(),
    };
    ok(
        CHECK,
        "put_credentials",
        store.put_credentials(id_a(), &first).await,
    );
    assert_sealed_eq(
        CHECK,
        ok(CHECK, "credentials", store.credentials(id_a()).await),
        &first,
    );

    let second = SealedCredentials {
        key_id: "2026-11 — rotated".into(),
        nonce: vec![0xFF; 24],
        ciphertext: vec![0x00, 0xC3, 0x28, 0xFF, 0xFE, 0x00],
    };
    ok(
        CHECK,
        "put_credentials (replace)",
        store.put_credentials(id_a(), &second).await,
    );
    assert_sealed_eq(
        CHECK,
        ok(CHECK, "credentials", store.credentials(id_a()).await),
        &second,
    );
}

fn assert_sealed_eq(check: &str, got: Option<SealedCredentials>, want: &SealedCredentials) {
    let got = got.unwrap_or_else(|| panic!("{check}: stored credentials must read back"));
    assert_eq!(got.key_id, want.key_id, "{check}: key id must round-trip");
    assert_eq!(
        got.nonce, want.nonce,
        "{check}: nonce bytes must round-trip exactly"
    );
    assert_eq!(
        got.ciphertext, want.ciphertext,
        "{check}: ciphertext bytes must round-trip exactly"
    );
}

/// Mappings read back exactly (texts matched case-sensitively, so "Standard" and "standard" are
/// two mappings), a put replaces the whole set, and an integration without any has an empty set.
pub async fn mappings_round_trip(store: &dyn Store) {
    const CHECK: &str = "mappings_round_trip";
    add_integration(store, CHECK, id_a()).await;
    assert_eq!(
        ok(CHECK, "mappings", store.mappings(id_a()).await),
        MappingSet::new(),
        "{CHECK}: an integration without mappings must read an empty set"
    );

    let mut full = MappingSet::new();
    for (text, service) in [
        ("Standard", "UPS Ground"),
        ("standard", "USPS Priority"),
        ("Przesyłka kurierska  ", "DPD"),
        ("Express 2-day", "FedEx 2Day"),
    ] {
        full.insert_shipping(
            ShippingMapping::new(
                text,
                ShippingService {
                    name: service.into(),
                    carrier: Some(service.split(' ').next().unwrap().into()),
                    class: None,
                },
                at(1),
            )
            .unwrap(),
        );
    }
    for (channel, inventory) in [("GTR-1", "guitar-001"), ("gtr-1", "guitar-002")] {
        full.insert_sku(SkuMapping {
            channel_sku: sku(channel),
            inventory_sku: sku(inventory),
            created_at: at(2),
        });
    }
    ok(
        CHECK,
        "put_mappings",
        store.put_mappings(id_a(), &full).await,
    );
    assert_eq!(
        ok(CHECK, "mappings", store.mappings(id_a()).await),
        full,
        "{CHECK}: mappings must read back exactly as put"
    );

    let mut smaller = full.clone();
    smaller.remove_shipping("standard");
    smaller.remove_sku(&sku("GTR-1"));
    ok(
        CHECK,
        "put_mappings (replace)",
        store.put_mappings(id_a(), &smaller).await,
    );
    assert_eq!(
        ok(CHECK, "mappings", store.mappings(id_a()).await),
        smaller,
        "{CHECK}: put_mappings must replace the whole set, not merge into it"
    );

    ok(
        CHECK,
        "put_mappings (empty)",
        store.put_mappings(id_a(), &MappingSet::new()).await,
    );
    assert_eq!(
        ok(CHECK, "mappings", store.mappings(id_a()).await),
        MappingSet::new(),
        "{CHECK}: putting an empty set must clear the mappings"
    );
}

fn mappings_event(who: &str, before: &MappingSet, after: &MappingSet, minute: i64) -> AuditEvent {
    AuditEvent {
        at: at(minute),
        actor: Actor::User(who.into()),
        change: marketsync_core::lifecycle::Change::MappingsChanged {
            before: before.clone(),
            after: after.clone(),
        },
        support_override: None,
    }
}

fn shipping(text: &str, minute: i64) -> ShippingMapping {
    ShippingMapping::new(
        text,
        ShippingService {
            name: format!("{text} service"),
            carrier: None,
            class: None,
        },
        at(minute),
    )
    .unwrap()
}

/// Mappings are versioned: 0 while none were stored, every write increments it.
/// `replace_mappings` stores the mappings and appends the audit events only when the expected
/// version is the stored one; a stale version is `Conflict` and writes nothing (neither the
/// mappings nor the audit event); an unknown integration is `NotFound`.
pub async fn mappings_compare_and_swap(store: &dyn Store) {
    const CHECK: &str = "mappings_compare_and_swap";
    add_integration(store, CHECK, id_a()).await;
    let log0 = ok(CHECK, "audit_log", store.audit_log(id_a()).await);
    let v0 = ok(
        CHECK,
        "mappings_versioned",
        store.mappings_versioned(id_a()).await,
    );
    assert_eq!(
        v0,
        marketsync_core::store::VersionedMappings::default(),
        "{CHECK}: an integration without mappings must read an empty set at version 0"
    );

    let mut one = MappingSet::new();
    one.insert_shipping(shipping("Standard", 1));
    let e1 = mappings_event("ann", &MappingSet::new(), &one, 1);
    let v1 = ok(
        CHECK,
        "replace_mappings(0)",
        store
            .replace_mappings(id_a(), &one, 0, std::slice::from_ref(&e1))
            .await,
    );
    assert_eq!(v1, 1, "{CHECK}: the first replace must return version 1");
    let read = ok(
        CHECK,
        "mappings_versioned",
        store.mappings_versioned(id_a()).await,
    );
    assert_eq!((read.mappings, read.version), (one.clone(), 1));
    assert_eq!(ok(CHECK, "mappings", store.mappings(id_a()).await), one);
    let mut log = log0.clone();
    log.push(e1);
    assert_eq!(
        ok(CHECK, "audit_log", store.audit_log(id_a()).await),
        log,
        "{CHECK}: replace_mappings must append its audit events to the integration's log"
    );

    // A stale version (someone stored version 1 since) writes nothing at all.
    let mut lost = MappingSet::new();
    lost.insert_shipping(shipping("Express", 2));
    let stale = store
        .replace_mappings(
            id_a(),
            &lost,
            0,
            &[mappings_event("bob", &MappingSet::new(), &lost, 2)],
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict(_))),
        "{CHECK}: replace_mappings with a stale version must be Conflict, got {stale:?}"
    );
    assert_eq!(
        ok(CHECK, "mappings", store.mappings(id_a()).await),
        one,
        "{CHECK}: a refused replace must not write the mappings"
    );
    assert_eq!(
        ok(CHECK, "audit_log", store.audit_log(id_a()).await),
        log,
        "{CHECK}: a refused replace must not write its audit event"
    );

    // put_mappings (unconditional) also moves the version, so an edit read before it fails.
    ok(
        CHECK,
        "put_mappings",
        store.put_mappings(id_a(), &lost).await,
    );
    let read = ok(
        CHECK,
        "mappings_versioned",
        store.mappings_versioned(id_a()).await,
    );
    assert_eq!(
        (read.mappings, read.version),
        (lost.clone(), 2),
        "{CHECK}: put_mappings must increment the version"
    );
    let after_put = store.replace_mappings(id_a(), &one, 1, &[]).await;
    assert!(
        matches!(after_put, Err(StoreError::Conflict(_))),
        "{CHECK}: a version read before a put_mappings must be stale, got {after_put:?}"
    );
    assert_eq!(
        ok(
            CHECK,
            "replace_mappings(2)",
            store.replace_mappings(id_a(), &one, 2, &[]).await
        ),
        3
    );

    let missing = store
        .replace_mappings(id_c(), &one, 0, &[mappings_event("ann", &one, &one, 3)])
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{CHECK}: replace_mappings of an unknown integration must be NotFound, got {missing:?}"
    );
}

/// Many tasks each add their own mapping with read → compare-and-swap → retry on `Conflict`, all
/// at once: every edit survives, the version counts every write, and the audit log has one event
/// per edit, each one's `before` being what the previous one stored.
pub async fn concurrent_mapping_edits_all_survive(store: Arc<dyn Store>) {
    const CHECK: &str = "concurrent_mapping_edits_all_survive";
    const TASKS: usize = 8;
    add_integration(&*store, CHECK, id_a()).await;
    let log0 = ok(CHECK, "audit_log", store.audit_log(id_a()).await);
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            let text = format!("Method {task}");
            loop {
                let read = ok(
                    CHECK,
                    "mappings_versioned",
                    store.mappings_versioned(id_a()).await,
                );
                let mut next = read.mappings.clone();
                next.insert_shipping(shipping(&text, task as i64));
                let event = mappings_event(&format!("user {task}"), &read.mappings, &next, 5);
                match store
                    .replace_mappings(id_a(), &next, read.version, &[event])
                    .await
                {
                    Ok(_) => break,
                    Err(StoreError::Conflict(_)) => tokio::task::yield_now().await,
                    Err(e) => panic!("{CHECK}: replace_mappings failed: {e}"),
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    let read = ok(
        CHECK,
        "mappings_versioned",
        store.mappings_versioned(id_a()).await,
    );
    for task in 0..TASKS {
        assert!(
            read.mappings.shipping(&format!("Method {task}")).is_some(),
            "{CHECK}: the edit of task {task} was lost: {:?}",
            read.mappings
        );
    }
    assert_eq!(read.version, TASKS as u64, "{CHECK}: one version per edit");
    let log = ok(CHECK, "audit_log", store.audit_log(id_a()).await);
    let edits: Vec<_> = log[log0.len()..]
        .iter()
        .map(|e| match &e.change {
            marketsync_core::lifecycle::Change::MappingsChanged { before, after } => {
                (before, after)
            }
            other => panic!("{CHECK}: unexpected audit event {other:?}"),
        })
        .collect();
    assert_eq!(edits.len(), TASKS, "{CHECK}: one audit event per edit");
    let mut previous = MappingSet::new();
    for (before, after) in edits {
        assert_eq!(
            before, &previous,
            "{CHECK}: each edit's `before` must be what the previous edit stored"
        );
        previous = after.clone();
    }
    assert_eq!(previous, read.mappings);
}

/// Listing records are keyed by (integration, SKU) with exact, case-sensitive SKUs: a put inserts
/// or replaces, removing (even a missing one) succeeds, and they are listed by SKU.
pub async fn listings_upsert_and_remove(store: &dyn Store) {
    const CHECK: &str = "listings_upsert_and_remove";
    add_integration(store, CHECK, id_a()).await;
    assert!(
        ok(CHECK, "listings", store.listings(id_a()).await).is_empty(),
        "{CHECK}: a new integration has no listings"
    );

    let b2 = listing(id_a(), "B-2", ListingStatus::Linked, 1);
    let a1 = listing(id_a(), "A-1", ListingStatus::Unlinked, 2);
    let c3 = listing(id_a(), "C-3", ListingStatus::BrokenLink, 3);
    let lower = listing(id_a(), "c-3", ListingStatus::Ended, 4);
    for l in [&b2, &a1, &c3, &lower] {
        ok(CHECK, "put_listing", store.put_listing(l).await);
    }
    assert_eq!(
        ok(CHECK, "listings", store.listings(id_a()).await),
        vec![a1.clone(), b2.clone(), c3.clone(), lower.clone()],
        "{CHECK}: listings must read back exactly, one per SKU (case-sensitive), ordered by SKU"
    );

    let mut b2_new = b2.clone();
    b2_new.status = ListingStatus::Ended;
    b2_new.last_sent = Some(Fingerprint(u64::MAX));
    b2_new.channel_sku = None;
    b2_new.updated_at = at(30);
    ok(
        CHECK,
        "put_listing (replace)",
        store.put_listing(&b2_new).await,
    );
    assert_eq!(
        ok(CHECK, "listings", store.listings(id_a()).await),
        vec![a1.clone(), b2_new.clone(), c3.clone(), lower.clone()],
        "{CHECK}: a put for an existing SKU must replace its record"
    );

    ok(
        CHECK,
        "remove_listing",
        store.remove_listing(id_a(), &sku("A-1")).await,
    );
    ok(
        CHECK,
        "remove_listing (already removed)",
        store.remove_listing(id_a(), &sku("A-1")).await,
    );
    ok(
        CHECK,
        "remove_listing (never existed)",
        store.remove_listing(id_a(), &sku("NOPE")).await,
    );
    ok(
        CHECK,
        "remove_listing (other case)",
        store.remove_listing(id_a(), &sku("b-2")).await,
    );
    assert_eq!(
        ok(CHECK, "listings", store.listings(id_a()).await),
        vec![b2_new.clone(), c3.clone(), lower.clone()],
        "{CHECK}: remove_listing must remove exactly that SKU (case-sensitive) and nothing else"
    );

    // Several at once: new ones inserted, an existing one replaced, other integrations untouched.
    add_integration(store, CHECK, id_b()).await;
    let other = listing(id_b(), "B-2", ListingStatus::Linked, 5);
    ok(CHECK, "put_listing (B)", store.put_listing(&other).await);
    let mut c3_new = c3.clone();
    c3_new.status = ListingStatus::Linked;
    c3_new.last_sent = Some(Fingerprint(7));
    let d4 = listing(id_a(), "D-4", ListingStatus::Linked, 6);
    let a0 = listing(id_a(), "A-0", ListingStatus::Unlinked, 7);
    ok(
        CHECK,
        "put_listings",
        store
            .put_listings(&[d4.clone(), c3_new.clone(), a0.clone()])
            .await,
    );
    ok(CHECK, "put_listings (none)", store.put_listings(&[]).await);
    assert_eq!(
        ok(CHECK, "listings", store.listings(id_a()).await),
        vec![a0, b2_new, c3_new, d4, lower],
        "{CHECK}: put_listings must insert or replace each listing, as put_listing does"
    );
    assert_eq!(
        ok(CHECK, "listings (B)", store.listings(id_b()).await),
        vec![other],
        "{CHECK}: put_listings must not touch another integration's listings"
    );
}

// ----- the order ledger -----

/// One order recorded several times is imported once: later sightings are `AlreadyImported`, the
/// outcome and the import decision stay, the snapshot is refreshed (kept when a sighting has
/// none), `first_seen_at` stays and `times_seen` counts. Holds within one batch too, and the
/// results come one per write, in order.
pub async fn record_orders_imports_each_order_once(store: &dyn Store) {
    const CHECK: &str = "record_orders_imports_each_order_once";
    add_integration(store, CHECK, id_a()).await;
    let mut model = Model::new(id_a());
    let o1 = "1001";
    let paid = order(o1, OrderState::AwaitingShipment, "paid");
    let first_import = imported(at(1), Management::Managed);

    let r = record(
        store,
        CHECK,
        &mut model,
        batch(
            at(1),
            vec![import(o1, Some(paid.clone()), first_import.clone())],
        ),
    )
    .await;
    assert_eq!(
        r[0].outcome,
        SightingOutcome::Imported,
        "{CHECK}: first sighting"
    );
    let e = entry(store, CHECK, id_a(), o1).await;
    assert_eq!(e.outcome, OrderOutcome::Imported);
    assert_eq!(e.imported.as_ref(), Some(&first_import));
    assert_eq!(e.times_seen, 1);
    assert_eq!(e.first_seen_at, at(1));

    // Seen again, with a new snapshot and a different (ignored) import decision.
    let shipped = order(o1, OrderState::Shipped, "shipped");
    let r = record(
        store,
        CHECK,
        &mut model,
        batch(
            at(2),
            vec![import(
                o1,
                Some(shipped.clone()),
                imported(at(2), Management::ThirdPartyManaged),
            )],
        ),
    )
    .await;
    assert_eq!(
        r[0].outcome,
        SightingOutcome::AlreadyImported,
        "{CHECK}: an order imported before must be AlreadyImported when recorded again"
    );
    let e = entry(store, CHECK, id_a(), o1).await;
    assert_eq!(
        e.outcome,
        OrderOutcome::Imported,
        "{CHECK}: outcome must stay Imported"
    );
    assert_eq!(
        e.imported.as_ref(),
        Some(&first_import),
        "{CHECK}: the first import's decision must be kept, never replaced"
    );
    assert_eq!(
        e.order.as_ref(),
        Some(&shipped),
        "{CHECK}: the snapshot must be refreshed on every sighting"
    );
    assert_eq!(
        e.first_seen_at,
        at(1),
        "{CHECK}: first_seen_at must not move"
    );
    assert_eq!(e.times_seen, 2, "{CHECK}: times_seen must count sightings");

    // Seen without a readable snapshot: the last snapshot stays.
    record(
        store,
        CHECK,
        &mut model,
        batch(
            at(3),
            vec![skip(
                o1,
                None,
                NotImportedReason::Unreadable {
                    message: "bad json".into(),
                },
            )],
        ),
    )
    .await;
    let e = entry(store, CHECK, id_a(), o1).await;
    assert_eq!(
        e.order.as_ref(),
        Some(&shipped),
        "{CHECK}: a sighting without a snapshot must keep the last one"
    );
    assert_eq!(e.times_seen, 3);
    assert_eq!(
        e.sightings
            .iter()
            .map(|s| s.outcome.clone())
            .collect::<Vec<_>>(),
        vec![
            SightingOutcome::Imported,
            SightingOutcome::AlreadyImported,
            SightingOutcome::AlreadyImported
        ],
        "{CHECK}: sightings must be kept oldest first"
    );

    // The same order twice in one batch, next to other orders: one import, results in order.
    let r = record(
        store,
        CHECK,
        &mut model,
        batch(
            at(4),
            vec![
                paid_import("2001", at(4)),
                skip(
                    "2002",
                    Some(order("2002", OrderState::Unpaid, "unpaid")),
                    status_not_imported(OrderState::Unpaid, "unpaid"),
                ),
                import(
                    "2001",
                    Some(order("2001", OrderState::AwaitingShipment, "paid again")),
                    imported(at(4), Management::Managed),
                ),
                import(o1, Some(paid.clone()), imported(at(4), Management::Managed)),
            ],
        ),
    )
    .await;
    assert_eq!(
        r.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>(),
        vec![
            SightingOutcome::Imported,
            SightingOutcome::NotImported {
                reason: status_not_imported(OrderState::Unpaid, "unpaid")
            },
            SightingOutcome::AlreadyImported,
            SightingOutcome::AlreadyImported,
        ],
        "{CHECK}: an order written twice in one batch must be imported once"
    );
    let e = entry(store, CHECK, id_a(), "2001").await;
    assert_eq!(e.times_seen, 2);
    assert_eq!(
        e.order.map(|o| o.status.raw),
        Some("paid again".to_owned()),
        "{CHECK}: the later write of a batch must leave its snapshot"
    );
    model.assert_store_matches(store, CHECK).await;
}

/// An order held for a missing mapping (or not imported for any reason) imports on a later
/// sighting that decides to import it; its reason follows the latest decision meanwhile.
pub async fn held_order_imports_later(store: &dyn Store) {
    const CHECK: &str = "held_order_imports_later";
    add_integration(store, CHECK, id_a()).await;
    let mut model = Model::new(id_a());
    let o = "3001";
    let snap = order(o, OrderState::AwaitingShipment, "paid");
    let unmapped_sku = NotImportedReason::UnmappedSku {
        skus: vec![sku("GTR-1")],
    };
    let unmapped_ship = NotImportedReason::UnmappedShipping {
        text: "Standard".into(),
    };

    let r = record(
        store,
        CHECK,
        &mut model,
        batch(
            at(1),
            vec![skip(o, Some(snap.clone()), unmapped_sku.clone())],
        ),
    )
    .await;
    assert_eq!(
        r[0].outcome,
        SightingOutcome::NotImported {
            reason: unmapped_sku.clone()
        }
    );
    let e = entry(store, CHECK, id_a(), o).await;
    assert_eq!(
        e.outcome,
        OrderOutcome::NotImported {
            reason: unmapped_sku
        },
        "{CHECK}: a skipped order must be NotImported with its reason"
    );
    assert!(e.imported.is_none() && e.matches(LedgerFilter::Held));

    record(
        store,
        CHECK,
        &mut model,
        batch(
            at(2),
            vec![skip(o, Some(snap.clone()), unmapped_ship.clone())],
        ),
    )
    .await;
    assert_eq!(
        entry(store, CHECK, id_a(), o).await.outcome,
        OrderOutcome::NotImported {
            reason: unmapped_ship
        },
        "{CHECK}: a not-imported order must take the latest reason"
    );

    let decided = imported(at(3), Management::Managed);
    let r = record(
        store,
        CHECK,
        &mut model,
        batch(at(3), vec![import(o, Some(snap), decided.clone())]),
    )
    .await;
    assert_eq!(
        r[0].outcome,
        SightingOutcome::Imported,
        "{CHECK}: a held order must import once it is decided so"
    );
    let e = entry(store, CHECK, id_a(), o).await;
    assert_eq!(e.outcome, OrderOutcome::Imported);
    assert_eq!(e.imported, Some(decided));
    assert_eq!(e.times_seen, 3);
    assert_eq!(e.first_seen_at, at(1));
    assert!(!e.matches(LedgerFilter::Held));
    model.assert_store_matches(store, CHECK).await;
}

/// Once imported, an order stays imported: a later `Skip` (a cancelled status, a missing mapping)
/// is recorded as an `AlreadyImported` sighting and changes only the snapshot.
pub async fn imported_never_reverts(store: &dyn Store) {
    const CHECK: &str = "imported_never_reverts";
    add_integration(store, CHECK, id_a()).await;
    let mut model = Model::new(id_a());
    let o = "4001";
    let decided = imported(at(1), Management::Managed);
    record(
        store,
        CHECK,
        &mut model,
        batch(at(1), vec![import(o, paid(o), decided.clone())]),
    )
    .await;

    let cancelled = order(o, OrderState::Cancelled, "cancelled");
    let r = record(
        store,
        CHECK,
        &mut model,
        batch(
            at(2),
            vec![skip(
                o,
                Some(cancelled.clone()),
                status_not_imported(OrderState::Cancelled, "cancelled"),
            )],
        ),
    )
    .await;
    assert_eq!(
        r[0].outcome,
        SightingOutcome::AlreadyImported,
        "{CHECK}: skipping an imported order must be an AlreadyImported sighting"
    );
    let e = entry(store, CHECK, id_a(), o).await;
    assert_eq!(
        e.outcome,
        OrderOutcome::Imported,
        "{CHECK}: an imported order must never revert to NotImported"
    );
    assert_eq!(
        e.imported,
        Some(decided),
        "{CHECK}: the import must be kept"
    );
    assert_eq!(
        e.order,
        Some(cancelled),
        "{CHECK}: the snapshot is refreshed"
    );
    assert!(
        ok(
            CHECK,
            "ledger(NotImported)",
            store.ledger(id_a(), LedgerFilter::NotImported).await
        )
        .is_empty(),
        "{CHECK}: an imported order must not be listed as not imported"
    );

    // Import then skip within one batch.
    let r = record(
        store,
        CHECK,
        &mut model,
        batch(
            at(3),
            vec![
                paid_import("4002", at(3)),
                skip(
                    "4002",
                    paid("4002"),
                    NotImportedReason::UnmappedSku {
                        skus: vec![sku("GTR-1")],
                    },
                ),
            ],
        ),
    )
    .await;
    assert_eq!(
        r.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>(),
        vec![SightingOutcome::Imported, SightingOutcome::AlreadyImported],
        "{CHECK}: a skip after an import in the same batch must not revert it"
    );
    assert_eq!(
        entry(store, CHECK, id_a(), "4002").await.outcome,
        OrderOutcome::Imported
    );
    model.assert_store_matches(store, CHECK).await;
}

/// The cursor is written with its batch; a batch without a cursor keeps the stored one; a batch
/// with no orders may still move the cursor.
pub async fn batch_and_cursor_move_together(store: &dyn Store) {
    const CHECK: &str = "batch_and_cursor_move_together";
    add_integration(store, CHECK, id_a()).await;
    let mut model = Model::new(id_a());
    assert_eq!(
        ok(CHECK, "cursor", store.cursor(id_a()).await),
        None,
        "{CHECK}: a new integration has no cursor"
    );

    let c1 = Cursor("2026-03-01T00:00:00Z|page=1".into());
    let mut b = batch(at(1), vec![paid_import("5001", at(1))]);
    b.cursor = Some(c1.clone());
    record(store, CHECK, &mut model, b).await;
    assert_eq!(
        ok(CHECK, "cursor", store.cursor(id_a()).await),
        Some(c1.clone()),
        "{CHECK}: the cursor must be stored with its batch"
    );

    record(
        store,
        CHECK,
        &mut model,
        batch(
            at(2),
            vec![skip(
                "5002",
                None,
                NotImportedReason::Unreadable {
                    message: "truncated".into(),
                },
            )],
        ),
    )
    .await;
    assert_eq!(
        ok(CHECK, "cursor", store.cursor(id_a()).await),
        Some(c1),
        "{CHECK}: a batch without a cursor must keep the stored one"
    );

    let c2 = Cursor("opaque \u{1F680} cursor with\nnewline".into());
    let empty = OrderBatch {
        seen_at: at(3),
        writes: Vec::new(),
        cursor: Some(c2.clone()),
        notifications: Vec::new(),
        stock: Vec::new(),
    };
    let r = record(store, CHECK, &mut model, empty).await;
    assert!(r.is_empty(), "{CHECK}: an empty batch has no results");
    assert_eq!(
        ok(CHECK, "cursor", store.cursor(id_a()).await),
        Some(c2),
        "{CHECK}: an empty batch must still store its cursor (exactly as given)"
    );
    model.assert_store_matches(store, CHECK).await;
}

/// Many tasks record overlapping batches of the same orders at once (some deciding to import,
/// some to skip): every order has exactly one `Imported` sighting overall, ends `Imported`, and
/// no sighting is lost (`times_seen` equals the writes made).
///
/// Takes an [`Arc`] so the store can be shared by spawned tasks; run it on a multi-threaded
/// runtime to exercise real parallelism.
pub async fn concurrent_record_orders_import_once(store: Arc<dyn Store>) {
    const CHECK: &str = "concurrent_record_orders_import_once";
    const ORDERS: usize = 24;
    const TASKS: usize = 8;
    const ROUNDS: usize = 6;
    const WINDOW: usize = 10;
    add_integration(&*store, CHECK, id_a()).await;

    let order_id = |n: usize| format!("C-{n:03}");
    // Even tasks import, odd tasks skip (held). Windows overlap between tasks and rounds.
    let plan = |task: usize, round: usize| -> Vec<LedgerWrite> {
        (0..WINDOW)
            .map(|k| {
                let n = (task * 2 + round * 4 + k) % ORDERS;
                let id = order_id(n);
                let snap = paid(&id);
                if task.is_multiple_of(2) {
                    import(&id, snap, imported(at(round as i64), Management::Managed))
                } else {
                    skip(
                        &id,
                        snap,
                        NotImportedReason::UnmappedSku {
                            skus: vec![sku("GTR-1")],
                        },
                    )
                }
            })
            .collect()
    };
    let mut writes_per_order: HashMap<String, u64> = HashMap::new();
    let mut imports_planned: BTreeSet<String> = BTreeSet::new();
    for task in 0..TASKS {
        for round in 0..ROUNDS {
            for w in plan(task, round) {
                let key = w.channel_order_id.as_str().to_owned();
                *writes_per_order.entry(key.clone()).or_default() += 1;
                if matches!(w.decision, Decision::Import(_)) {
                    imports_planned.insert(key);
                }
            }
        }
    }
    assert_eq!(
        imports_planned.len(),
        ORDERS,
        "{CHECK}: (suite bug) every order must get an import"
    );

    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        let batches: Vec<OrderBatch> = (0..ROUNDS)
            .map(|round| OrderBatch {
                seen_at: at((round * TASKS + task) as i64),
                writes: plan(task, round),
                cursor: Some(Cursor(format!("task-{task}-round-{round}"))),
                notifications: Vec::new(),
                stock: Vec::new(),
            })
            .collect();
        tasks.spawn(async move {
            let mut results = Vec::new();
            for b in batches {
                let r = store.record_orders(id_a(), &b).await.unwrap_or_else(|e| {
                    panic!("{CHECK}: record_orders failed under concurrency: {e}")
                });
                assert_eq!(
                    r.iter().map(|r| &r.channel_order_id).collect::<Vec<_>>(),
                    b.writes
                        .iter()
                        .map(|w| &w.channel_order_id)
                        .collect::<Vec<_>>(),
                    "{CHECK}: record_orders must return one result per write, in order"
                );
                results.extend(r);
                tokio::task::yield_now().await;
            }
            results
        });
    }
    let mut imported_sightings: HashMap<String, usize> = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        let results = done.unwrap_or_else(|e| panic!("{CHECK}: a recording task failed: {e}"));
        for r in results {
            if r.outcome == SightingOutcome::Imported {
                *imported_sightings
                    .entry(r.channel_order_id.as_str().to_owned())
                    .or_default() += 1;
            }
        }
    }

    for n in 0..ORDERS {
        let id = order_id(n);
        assert_eq!(
            imported_sightings.get(&id).copied().unwrap_or(0),
            1,
            "{CHECK}: order {id} must have exactly one Imported sighting across concurrent batches"
        );
        let e = entry(&*store, CHECK, id_a(), &id).await;
        assert_eq!(
            e.outcome,
            OrderOutcome::Imported,
            "{CHECK}: order {id} must end Imported"
        );
        assert_eq!(
            e.times_seen, writes_per_order[&id],
            "{CHECK}: order {id}: times_seen must count every concurrent sighting (none lost)"
        );
        assert_eq!(
            e.sightings.len() as u64,
            e.times_seen.min(MAX_SIGHTINGS as u64),
            "{CHECK}: order {id}: sightings kept must be min(times_seen, MAX_SIGHTINGS)"
        );
        assert!(
            e.sightings
                .iter()
                .filter(|s| s.outcome == SightingOutcome::Imported)
                .count()
                <= 1,
            "{CHECK}: order {id} must not show two Imported sightings"
        );
    }
    let all = ok(
        CHECK,
        "ledger(All)",
        store.ledger(id_a(), LedgerFilter::All).await,
    );
    assert_eq!(
        all.len(),
        ORDERS,
        "{CHECK}: one ledger row per order, whatever the concurrency"
    );
    let cursor = ok(CHECK, "cursor", store.cursor(id_a()).await)
        .unwrap_or_else(|| panic!("{CHECK}: a cursor must be stored"));
    assert!(
        cursor.0.starts_with("task-"),
        "{CHECK}: the cursor must be one of the batches' cursors, got {cursor:?}"
    );
}

/// `ledger` returns exactly the rows [`LedgerEntry::matches`] selects: All, Held (waiting for a
/// mapping), NotImported (any reason), Unfulfilled (imported, managed, in an unfulfilled state).
pub async fn ledger_filters(store: &dyn Store) {
    const CHECK: &str = "ledger_filters";
    add_integration(store, CHECK, id_a()).await;
    let mut model = Model::new(id_a());
    let writes = vec![
        // Imported, managed, awaiting shipment: unfulfilled.
        import(
            "F-managed-open",
            Some(order(
                "F-managed-open",
                OrderState::AwaitingShipment,
                "paid",
            )),
            imported(at(1), Management::Managed),
        ),
        // Imported, managed, shipped: fulfilled.
        import(
            "F-managed-shipped",
            Some(order("F-managed-shipped", OrderState::Shipped, "shipped")),
            imported(at(1), Management::Managed),
        ),
        // Imported while fulfilments were off: never the seller's work through us.
        import(
            "F-third-party",
            paid("F-third-party"),
            imported(at(1), Management::ThirdPartyManaged),
        ),
        // Held for mappings.
        skip(
            "F-held-sku",
            paid("F-held-sku"),
            NotImportedReason::UnmappedSku {
                skus: vec![sku("X-1"), sku("X-2")],
            },
        ),
        skip(
            "F-held-ship",
            paid("F-held-ship"),
            NotImportedReason::UnmappedShipping {
                text: String::new(),
            },
        ),
        // Not imported for good reasons other than mappings.
        skip(
            "F-status",
            Some(order("F-status", OrderState::Unpaid, "unpaid")),
            status_not_imported(OrderState::Unpaid, "unpaid"),
        ),
        skip(
            "F-old",
            paid("F-old"),
            NotImportedReason::TooOld { created_at: at(0) },
        ),
        skip(
            "F-unreadable",
            None,
            NotImportedReason::Unreadable {
                message: "no id".into(),
            },
        ),
        skip(
            "F-no-sku",
            paid("F-no-sku"),
            NotImportedReason::LineWithoutSku {
                line_id: "7".into(),
            },
        ),
        // Imported, then shipped later: no longer unfulfilled.
        import(
            "F-later-shipped",
            Some(order(
                "F-later-shipped",
                OrderState::PartiallyShipped,
                "part",
            )),
            imported(at(1), Management::Managed),
        ),
    ];
    record(store, CHECK, &mut model, batch(at(1), writes)).await;
    record(
        store,
        CHECK,
        &mut model,
        batch(
            at(2),
            vec![skip(
                "F-later-shipped",
                Some(order("F-later-shipped", OrderState::Completed, "done")),
                status_not_imported(OrderState::Completed, "done"),
            )],
        ),
    )
    .await;

    let expected: [(LedgerFilter, &[&str]); 4] = [
        (
            LedgerFilter::All,
            &[
                "F-managed-open",
                "F-managed-shipped",
                "F-third-party",
                "F-held-sku",
                "F-held-ship",
                "F-status",
                "F-old",
                "F-unreadable",
                "F-no-sku",
                "F-later-shipped",
            ],
        ),
        (LedgerFilter::Held, &["F-held-sku", "F-held-ship"]),
        (
            LedgerFilter::NotImported,
            &[
                "F-held-sku",
                "F-held-ship",
                "F-status",
                "F-old",
                "F-unreadable",
                "F-no-sku",
            ],
        ),
        (LedgerFilter::Unfulfilled, &["F-managed-open"]),
    ];
    for (filter, ids) in expected {
        let rows = ok(CHECK, "ledger", store.ledger(id_a(), filter).await);
        for r in &rows {
            assert!(
                r.matches(filter),
                "{CHECK}: ledger({filter:?}) returned {} which does not match",
                r.channel_order_id
            );
            assert_eq!(r.integration_id, id_a());
        }
        let got: BTreeSet<&str> = rows.iter().map(|r| r.channel_order_id.as_str()).collect();
        let want: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(
            got, want,
            "{CHECK}: ledger({filter:?}) must return exactly the matching rows, once each"
        );
        assert_eq!(
            rows.len(),
            want.len(),
            "{CHECK}: ledger({filter:?}) returned a row twice"
        );
    }
    model.assert_store_matches(store, CHECK).await;
}

/// At most [`MAX_SIGHTINGS`] sightings are kept per order, the most recent, oldest first;
/// `times_seen` and `first_seen_at` keep the whole history. Holds across batches and within one.
pub async fn sightings_are_capped(store: &dyn Store) {
    const CHECK: &str = "sightings_are_capped";
    add_integration(store, CHECK, id_a()).await;
    let mut model = Model::new(id_a());
    let total = MAX_SIGHTINGS + 5;
    let o = "6001";
    for i in 0..total {
        let w = if i < 3 {
            skip(
                o,
                Some(order(o, OrderState::AwaitingShipment, &format!("s{i}"))),
                NotImportedReason::UnmappedSku {
                    skus: vec![sku("GTR-1")],
                },
            )
        } else {
            import(
                o,
                Some(order(o, OrderState::AwaitingShipment, &format!("s{i}"))),
                imported(at(i as i64), Management::Managed),
            )
        };
        record(store, CHECK, &mut model, batch(at(i as i64), vec![w])).await;
    }
    let e = entry(store, CHECK, id_a(), o).await;
    assert_eq!(
        e.times_seen, total as u64,
        "{CHECK}: times_seen must keep counting past the cap"
    );
    assert_eq!(
        e.sightings.len(),
        MAX_SIGHTINGS,
        "{CHECK}: at most MAX_SIGHTINGS sightings are kept"
    );
    let kept: Vec<DateTime<Utc>> = e.sightings.iter().map(|s| s.at).collect();
    let want: Vec<DateTime<Utc>> = (total - MAX_SIGHTINGS..total)
        .map(|i| at(i as i64))
        .collect();
    assert_eq!(
        kept, want,
        "{CHECK}: the most recent sightings must be kept, oldest first"
    );
    assert_eq!(
        e.first_seen_at,
        at(0),
        "{CHECK}: first_seen_at must not move"
    );
    assert_eq!(e.outcome, OrderOutcome::Imported);

    // Many sightings of one order in a single batch.
    let o2 = "6002";
    let writes = (0..total)
        .map(|i| {
            skip(
                o2,
                Some(order(o2, OrderState::Unpaid, &format!("u{i}"))),
                status_not_imported(OrderState::Unpaid, "unpaid"),
            )
        })
        .collect();
    record(store, CHECK, &mut model, batch(at(100), writes)).await;
    let e = entry(store, CHECK, id_a(), o2).await;
    assert_eq!(e.times_seen, total as u64);
    assert_eq!(
        e.sightings.len(),
        MAX_SIGHTINGS,
        "{CHECK}: the cap must hold within one batch too"
    );
    assert_eq!(
        e.sightings.last().map(|s| s.status_raw.as_str()),
        Some(format!("u{}", total - 1).as_str()),
        "{CHECK}: the last sighting kept must be the latest write"
    );
    model.assert_store_matches(store, CHECK).await;
}

// ----- the outbox -----

/// Enqueueing is idempotent per idempotency key: a second item with the same key and the same
/// request returns the existing entry unchanged and adds nothing; the same key with another
/// request is refused (`KeyReused`) and changes nothing. A new entry is pending, with no
/// attempts, lease or error.
pub async fn outbox_enqueue_is_idempotent(store: &dyn Store) {
    const CHECK: &str = "outbox_enqueue_is_idempotent";
    add_integration(store, CHECK, id_a()).await;
    assert!(
        ok(CHECK, "outbox", store.outbox(id_a()).await).is_empty(),
        "{CHECK}: a new integration has an empty outbox"
    );

    let item = ship_item(id_a(), "7001", "key-7001-ship", at(1));
    let first = ok(CHECK, "enqueue_outbox", store.enqueue_outbox(&item).await);
    assert_eq!(
        first.item, item,
        "{CHECK}: the entry must hold the item as given"
    );
    assert_eq!(
        first.state,
        OutboxState::Pending,
        "{CHECK}: new entries are pending"
    );
    assert_eq!(first.attempts, 0, "{CHECK}: new entries have no attempts");
    assert_eq!(first.lease, None, "{CHECK}: new entries are not claimed");
    assert_eq!(first.last_error, None, "{CHECK}: new entries have no error");
    assert_eq!(
        ok(CHECK, "outbox", store.outbox(id_a()).await),
        vec![first.clone()],
        "{CHECK}: the outbox must hold the entry returned"
    );

    // Same key, same request, recorded later: the existing entry, unchanged.
    let mut same_request = item.clone();
    same_request.created_at = at(2);
    let again = ok(
        CHECK,
        "enqueue_outbox (same key)",
        store.enqueue_outbox(&same_request).await,
    );
    assert_eq!(
        again, first,
        "{CHECK}: enqueueing an existing key must return the existing entry unchanged"
    );
    // Same key, another request: refused, nothing changes.
    let mut same_key = item.clone();
    same_key.created_at = at(2);
    same_key.action = OutboxAction::Cancel(Cancellation {
        lines: Vec::new(),
        reason: AdjustmentReason::BuyerCancelled,
    });
    match store.enqueue_outbox(&same_key).await {
        Err(StoreError::KeyReused { differs, .. }) => assert_eq!(differs, vec!["action"]),
        other => panic!(
            "{CHECK}: the same key for another action must be StoreError::KeyReused, got {other:?}"
        ),
    }
    assert_eq!(
        ok(CHECK, "outbox", store.outbox(id_a()).await),
        vec![first.clone()],
        "{CHECK}: enqueueing an existing key must not add or change an entry"
    );

    // After a claim, a re-enqueue neither resets attempts nor drops the lease.
    let claimed = ok(
        CHECK,
        "claim_outbox",
        store.claim_outbox(id_a(), at(10), LONG_LEASE, 10).await,
    );
    assert_eq!(claimed.len(), 1);
    let stored = ok(CHECK, "outbox", store.outbox(id_a()).await);
    let again = ok(
        CHECK,
        "enqueue_outbox (after claim)",
        store.enqueue_outbox(&item).await,
    );
    assert_eq!(
        vec![again.clone()],
        stored,
        "{CHECK}: re-enqueueing a claimed entry must return it as stored"
    );
    assert_eq!(again.attempts, 1);
    assert!(again.lease.is_some());
    assert_eq!(
        ok(CHECK, "outbox", store.outbox(id_a()).await),
        stored,
        "{CHECK}: re-enqueueing must not reset attempts or leases"
    );

    // A second key is a second entry, after the first.
    let refund = OutboxItem {
        action: OutboxAction::Refund(Refund {
            amount: Some(Money::from_minor_units(500, Currency::USD)),
            lines: Vec::new(),
            reason: AdjustmentReason::ShippingDamage,
            restock: false,
            note: Some("sorry".into()),
        }),
        idempotency_key: key("key-7001-refund"),
        created_at: at(3),
        ..item.clone()
    };
    ok(
        CHECK,
        "enqueue_outbox (2nd)",
        store.enqueue_outbox(&refund).await,
    );
    let all = ok(CHECK, "outbox", store.outbox(id_a()).await);
    assert_eq!(
        all.iter().map(|e| e.item.clone()).collect::<Vec<_>>(),
        vec![item, refund],
        "{CHECK}: entries must be listed oldest first, one per key"
    );
}

/// Claims take due (by the caller's clock), unclaimed pending entries oldest first, up to
/// `limit`, set the lease and count an attempt. A leased entry is not claimed again while its
/// lease holds by the store's clock, whatever the caller's clock says: neither a claimer whose
/// clock is 10 minutes ahead nor one 10 minutes behind (nor one years ahead) can take it, and a
/// lease taken by a claimer whose clock is behind holds like any other. A short lease lapses by
/// real time; then another worker may take the entry and the old token can no longer finish it
/// (`Conflict`). A retry sets `next_attempt_at` and `last_error` and the entry is not due before
/// then; sent and failed entries are never claimed again.
pub async fn outbox_claim_lease_and_finish(store: &dyn Store) {
    const CHECK: &str = "outbox_claim_lease_and_finish";
    add_integration(store, CHECK, id_a()).await;
    let e1 = ship_item(id_a(), "8001", "key-8001", at(0));
    let e2 = ship_item(id_a(), "8002", "key-8002", at(1));
    let e3 = ship_item(id_a(), "8003", "key-8003", at(2));
    for i in [&e1, &e2, &e3] {
        ok(CHECK, "enqueue_outbox", store.enqueue_outbox(i).await);
    }

    let none = ok(
        CHECK,
        "claim_outbox(limit 0)",
        store.claim_outbox(id_a(), at(20), LONG_LEASE, 0).await,
    );
    assert!(
        none.is_empty(),
        "{CHECK}: a claim with limit 0 claims nothing"
    );

    // Worker 1, whose clock is 10 minutes behind the others' (minute 10 against 20), claims
    // two, oldest first.
    let w1 = ok(
        CHECK,
        "claim_outbox (10 minutes behind)",
        store.claim_outbox(id_a(), at(10), LONG_LEASE, 2).await,
    );
    assert_eq!(
        keys_of(&w1),
        vec!["key-8001", "key-8002"],
        "{CHECK}: a claim takes up to `limit` entries, oldest first"
    );
    for e in &w1 {
        assert_eq!(e.attempts, 1, "{CHECK}: a claim counts one attempt");
        assert_eq!(e.state, OutboxState::Pending);
        let lease = e
            .lease
            .as_ref()
            .unwrap_or_else(|| panic!("{CHECK}: a claimed entry must carry its lease"));
        assert!(
            !lease.token.is_empty(),
            "{CHECK}: lease tokens must not be empty"
        );
    }
    assert_ne!(
        token(&w1[0]),
        token(&w1[1]),
        "{CHECK}: each claim must get its own token"
    );
    assert_eq!(
        entries_by_key(store, CHECK, id_a()).await["key-8001"],
        w1[0],
        "{CHECK}: the stored entry must be the claimed one"
    );

    // Worker 2, on time: only the unclaimed entry.
    let w2 = ok(
        CHECK,
        "claim_outbox",
        store.claim_outbox(id_a(), at(20), LONG_LEASE, 10).await,
    );
    assert_eq!(
        keys_of(&w2),
        vec!["key-8003"],
        "{CHECK}: a claimed entry must not be claimed again while its lease holds (the claimer's clock was 10 minutes behind)"
    );
    // Every lease is live by the store's clock: no caller's clock makes one lapse.
    let years_ahead = Utc.with_ymd_and_hms(2999, 1, 1, 0, 0, 0).unwrap();
    for (what, now) in [
        ("on time", at(20)),
        ("10 minutes ahead", at(30)),
        ("10 minutes behind", at(10)),
        ("years ahead", years_ahead),
    ] {
        let got = ok(
            CHECK,
            "claim_outbox (skewed clock)",
            store.claim_outbox(id_a(), now, LONG_LEASE, 10).await,
        );
        assert!(
            got.is_empty(),
            "{CHECK}: a claimer whose clock is {what} must not take a live lease: got {:?}",
            keys_of(&got)
        );
    }

    // Worker 1 sends e1.
    let t1 = token(&w1[0]);
    ok(
        CHECK,
        "finish_outbox(Sent)",
        store
            .finish_outbox(
                id_a(),
                &e1.idempotency_key,
                &t1,
                &OutboxUpdate::Sent { at: at(12) },
            )
            .await,
    );
    let s1 = entries_by_key(store, CHECK, id_a()).await["key-8001"].clone();
    assert_eq!(
        s1.state,
        OutboxState::Sent { at: at(12) },
        "{CHECK}: Sent is stored"
    );
    assert_eq!(s1.lease, None, "{CHECK}: finishing releases the lease");
    match store
        .finish_outbox(
            id_a(),
            &e1.idempotency_key,
            &t1,
            &OutboxUpdate::Sent { at: at(13) },
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!(
            "{CHECK}: finishing twice with the same token must be Conflict (the lease is gone), got {other:?}"
        ),
    }

    // Worker 2 gives e3 back, due at once; worker 3 takes it on a short lease.
    ok(
        CHECK,
        "finish_outbox(Retry now)",
        store
            .finish_outbox(
                id_a(),
                &e3.idempotency_key,
                &token(&w2[0]),
                &OutboxUpdate::Retry {
                    at: at(20),
                    error: "connection reset".into(),
                },
            )
            .await,
    );
    let w3 = ok(
        CHECK,
        "claim_outbox (short lease)",
        store.claim_outbox(id_a(), at(20), SHORT_LEASE, 10).await,
    );
    assert_eq!(
        keys_of(&w3),
        vec!["key-8003"],
        "{CHECK}: an entry given back due at once is claimable (the others are leased or sent)"
    );
    assert_eq!(w3[0].attempts, 2, "{CHECK}: every claim counts an attempt");
    let stale = token(&w3[0]);

    // The short lease lapses by the store's clock (real time); worker 4 takes e3, and only it
    // (worker 1's long lease on e2 still holds).
    tokio::time::sleep(SHORT_LEASE).await;
    let started = std::time::Instant::now();
    let w4 = loop {
        let got = ok(
            CHECK,
            "claim_outbox (after lapse)",
            store.claim_outbox(id_a(), at(20), LONG_LEASE, 10).await,
        );
        if !got.is_empty() {
            break got;
        }
        assert!(
            started.elapsed() < LAPSE_BOUND,
            "{CHECK}: a {SHORT_LEASE:?} outbox lease did not lapse by the store's clock within {LAPSE_BOUND:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        keys_of(&w4),
        vec!["key-8003"],
        "{CHECK}: an entry whose lease lapsed must be claimable again (live leases and sent entries never)"
    );
    assert_eq!(w4[0].attempts, 3, "{CHECK}: every claim counts an attempt");
    let new_t3 = token(&w4[0]);
    assert_ne!(new_t3, stale, "{CHECK}: a new claim must get a new token");

    // Worker 3 wakes up with its lapsed lease: refused, nothing changes.
    match store
        .finish_outbox(
            id_a(),
            &e3.idempotency_key,
            &stale,
            &OutboxUpdate::Sent { at: at(21) },
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!(
            "{CHECK}: finishing with a lease another worker took over must be Conflict, got {other:?}"
        ),
    }
    assert_eq!(
        entries_by_key(store, CHECK, id_a()).await["key-8003"],
        w4[0],
        "{CHECK}: a refused finish must not change the entry"
    );

    // Worker 4: e3 fails for now; worker 1: e2 fails for good.
    ok(
        CHECK,
        "finish_outbox(Retry)",
        store
            .finish_outbox(
                id_a(),
                &e3.idempotency_key,
                &new_t3,
                &OutboxUpdate::Retry {
                    at: at(40),
                    error: "503 Service Unavailable".into(),
                },
            )
            .await,
    );
    ok(
        CHECK,
        "finish_outbox(Failed)",
        store
            .finish_outbox(
                id_a(),
                &e2.idempotency_key,
                &token(&w1[1]),
                &OutboxUpdate::Failed {
                    at: at(21),
                    error: "400 invalid tracking number".into(),
                },
            )
            .await,
    );
    let by_key = entries_by_key(store, CHECK, id_a()).await;
    let s3 = &by_key["key-8003"];
    assert_eq!(
        s3.state,
        OutboxState::Pending,
        "{CHECK}: Retry keeps the entry pending"
    );
    assert_eq!(
        s3.next_attempt_at,
        at(40),
        "{CHECK}: Retry sets next_attempt_at"
    );
    assert_eq!(
        s3.last_error.as_deref(),
        Some("503 Service Unavailable"),
        "{CHECK}: Retry records the error"
    );
    assert_eq!(s3.lease, None, "{CHECK}: finishing releases the lease");
    assert_eq!(s3.attempts, 3, "{CHECK}: finishing does not count attempts");
    let s2 = &by_key["key-8002"];
    assert_eq!(
        s2.state,
        OutboxState::Failed {
            at: at(21),
            error: "400 invalid tracking number".into()
        },
        "{CHECK}: Failed is stored with its error"
    );
    assert_eq!(s2.lease, None);

    // Not due before next_attempt_at (the caller's clock); Sent and Failed never again.
    let early = ok(
        CHECK,
        "claim_outbox (before retry time)",
        store.claim_outbox(id_a(), at(39), LONG_LEASE, 10).await,
    );
    assert!(
        early.is_empty(),
        "{CHECK}: an entry must not be claimed before its next_attempt_at (nor sent/failed ones): got {:?}",
        keys_of(&early)
    );
    let due = ok(
        CHECK,
        "claim_outbox (at retry time)",
        store.claim_outbox(id_a(), at(40), LONG_LEASE, 10).await,
    );
    assert_eq!(
        keys_of(&due),
        vec!["key-8003"],
        "{CHECK}: a retried entry is due at its next_attempt_at"
    );
    assert_eq!(due[0].attempts, 4);
    ok(
        CHECK,
        "finish_outbox(Sent)",
        store
            .finish_outbox(
                id_a(),
                &e3.idempotency_key,
                &token(&due[0]),
                &OutboxUpdate::Sent { at: at(41) },
            )
            .await,
    );
    let later = ok(
        CHECK,
        "claim_outbox (much later)",
        store
            .claim_outbox(id_a(), at(100_000), LONG_LEASE, 10)
            .await,
    );
    assert!(
        later.is_empty(),
        "{CHECK}: sent and failed entries must never be claimed again: got {:?}",
        keys_of(&later)
    );

    // Finishing a finished entry with an old token: Conflict, the state stays.
    match store
        .finish_outbox(
            id_a(),
            &e2.idempotency_key,
            &token(&w1[1]),
            &OutboxUpdate::Sent { at: at(50) },
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{CHECK}: finishing a failed entry again must be Conflict, got {other:?}"),
    }
    let by_key = entries_by_key(store, CHECK, id_a()).await;
    assert_eq!(by_key["key-8001"].state, OutboxState::Sent { at: at(12) });
    assert_eq!(by_key["key-8003"].state, OutboxState::Sent { at: at(41) });
    assert!(matches!(
        by_key["key-8002"].state,
        OutboxState::Failed { .. }
    ));

    assert!(
        store
            .finish_outbox(
                id_a(),
                &key("key-unknown"),
                "no-token",
                &OutboxUpdate::Sent { at: at(1) }
            )
            .await
            .is_err(),
        "{CHECK}: finishing an unknown entry must be an error"
    );
}

/// Outbox entries belong to their integration: a claim for one integration never takes another's,
/// and each integration's outbox lists only its own entries.
pub async fn outbox_per_integration(store: &dyn Store) {
    const CHECK: &str = "outbox_per_integration";
    add_integration(store, CHECK, id_a()).await;
    add_integration(store, CHECK, id_b()).await;
    let a1 = ship_item(id_a(), "9001", "key-a1", at(0));
    let b1 = ship_item(id_b(), "9001", "key-b1", at(1));
    let a2 = ship_item(id_a(), "9002", "key-a2", at(2));
    let b2 = ship_item(id_b(), "9003", "key-b2", at(3));
    for i in [&a1, &b1, &a2, &b2] {
        ok(CHECK, "enqueue_outbox", store.enqueue_outbox(i).await);
    }
    let claim_b = ok(
        CHECK,
        "claim_outbox(B)",
        store.claim_outbox(id_b(), at(10), LONG_LEASE, 10).await,
    );
    assert_eq!(
        keys_of(&claim_b),
        vec!["key-b1", "key-b2"],
        "{CHECK}: a claim must take only the integration's own entries"
    );
    assert!(claim_b.iter().all(|e| e.item.integration_id == id_b()));
    let a_entries = ok(CHECK, "outbox(A)", store.outbox(id_a()).await);
    assert_eq!(
        keys_of(&a_entries),
        vec!["key-a1", "key-a2"],
        "{CHECK}: outbox(A) must list only A's entries"
    );
    assert!(
        a_entries
            .iter()
            .all(|e| e.lease.is_none() && e.attempts == 0),
        "{CHECK}: claiming B's entries must not touch A's"
    );
    let claim_a = ok(
        CHECK,
        "claim_outbox(A)",
        store.claim_outbox(id_a(), at(10), LONG_LEASE, 10).await,
    );
    assert_eq!(
        keys_of(&claim_a),
        vec!["key-a1", "key-a2"],
        "{CHECK}: A's entries must still be claimable by A"
    );
    assert!(
        ok(
            CHECK,
            "claim_outbox(C)",
            store.claim_outbox(id_c(), at(20), LONG_LEASE, 10).await
        )
        .is_empty(),
        "{CHECK}: an integration without entries claims nothing"
    );
    assert_eq!(
        keys_of(&ok(CHECK, "outbox(B)", store.outbox(id_b()).await)),
        vec!["key-b1", "key-b2"],
        "{CHECK}: outbox(B) must list only B's entries"
    );
}

/// Idempotency keys are scoped per integration: the same key in two integrations is two
/// entries, each claimed and finished on its own. Within one integration the same key with the
/// same request (a later `created_at` and `shipped_at` only) returns the existing entry, and the
/// same key with another request (other order, action, tracking number, carrier, lines, amount,
/// reason) is [`StoreError::KeyReused`] naming what differs, and changes nothing.
pub async fn outbox_keys_per_integration(store: &dyn Store) {
    const CHECK: &str = "outbox_keys_per_integration";
    add_integration(store, CHECK, id_a()).await;
    add_integration(store, CHECK, id_b()).await;

    // The same key, even for the same order id, in two integrations: two entries.
    let a = ship_item(id_a(), "1001", "ship-1001", at(0));
    let b = ship_item(id_b(), "1001", "ship-1001", at(1));
    let ea = ok(CHECK, "enqueue_outbox(A)", store.enqueue_outbox(&a).await);
    let eb = ok(CHECK, "enqueue_outbox(B)", store.enqueue_outbox(&b).await);
    assert_eq!(ea.item, a, "{CHECK}: A's entry must hold A's item as given");
    assert_eq!(
        eb.item, b,
        "{CHECK}: the same key in another integration must make that integration's own entry, not return A's"
    );
    assert_eq!(
        keys_of(&ok(CHECK, "outbox(A)", store.outbox(id_a()).await)),
        vec!["ship-1001"]
    );
    assert_eq!(
        ok(CHECK, "outbox(B)", store.outbox(id_b()).await)
            .into_iter()
            .map(|e| e.item)
            .collect::<Vec<_>>(),
        vec![b.clone()],
        "{CHECK}: B's outbox must hold B's entry"
    );

    // Each is claimed and finished on its own: finishing B's leaves A's claimed.
    let ca = ok(
        CHECK,
        "claim_outbox(A)",
        store.claim_outbox(id_a(), at(10), LONG_LEASE, 10).await,
    );
    let cb = ok(
        CHECK,
        "claim_outbox(B)",
        store.claim_outbox(id_b(), at(10), LONG_LEASE, 10).await,
    );
    assert_eq!((ca.len(), cb.len()), (1, 1), "{CHECK}: one claim each");
    ok(
        CHECK,
        "finish_outbox(B)",
        store
            .finish_outbox(
                id_b(),
                &b.idempotency_key,
                &token(&cb[0]),
                &OutboxUpdate::Sent { at: at(11) },
            )
            .await,
    );
    let a_now = ok(CHECK, "outbox(A)", store.outbox(id_a()).await);
    assert_eq!(
        a_now[0].state,
        OutboxState::Pending,
        "{CHECK}: finishing B's entry must not finish A's"
    );
    assert_eq!(a_now[0].lease, ca[0].lease, "{CHECK}: A's claim stays");
    match store
        .finish_outbox(
            id_a(),
            &a.idempotency_key,
            &token(&cb[0]),
            &OutboxUpdate::Sent { at: at(12) },
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!(
            "{CHECK}: B's lease token must not finish A's entry of the same key: got {other:?}"
        ),
    }
    ok(
        CHECK,
        "finish_outbox(A)",
        store
            .finish_outbox(
                id_a(),
                &a.idempotency_key,
                &token(&ca[0]),
                &OutboxUpdate::Sent { at: at(12) },
            )
            .await,
    );

    // The same key and the same request again (a retry, stamped later): the same entry.
    let mut retry = a.clone();
    retry.created_at = at(20);
    if let OutboxAction::Ship(s) = &mut retry.action {
        s.shipped_at = at(20);
    }
    let again = ok(
        CHECK,
        "enqueue_outbox (same key, same request)",
        store.enqueue_outbox(&retry).await,
    );
    assert_eq!(
        again,
        ok(CHECK, "outbox(A)", store.outbox(id_a()).await)[0],
        "{CHECK}: the same key with the same request must return the existing entry as stored"
    );

    // The same key with another request: a typed conflict naming what differs.
    let refund = OutboxAction::Refund(Refund {
        amount: Some(Money::from_minor_units(500, Currency::USD)),
        lines: Vec::new(),
        reason: AdjustmentReason::CustomerReturnedItem,
        restock: false,
        note: None,
    });
    let other_tracking = {
        let mut i = a.clone();
        if let OutboxAction::Ship(s) = &mut i.action {
            s.tracking_number = Some("1ZOTHER".into());
        }
        i
    };
    let other_carrier_and_lines = {
        let mut i = a.clone();
        if let OutboxAction::Ship(s) = &mut i.action {
            s.carrier = Some("DHL".into());
            s.lines = vec![marketsync_core::order::LineQuantity {
                line_id: "1001-1".into(),
                quantity: 1,
            }];
        }
        i
    };
    let cases: Vec<(&str, OutboxItem, Vec<&str>)> = vec![
        (
            "other order",
            OutboxItem {
                order_id: oid("1002"),
                ..a.clone()
            },
            vec!["order"],
        ),
        (
            "other action",
            OutboxItem {
                action: refund.clone(),
                ..a.clone()
            },
            vec!["action"],
        ),
        (
            "other tracking number",
            other_tracking,
            vec!["tracking number"],
        ),
        (
            "other carrier and lines",
            other_carrier_and_lines,
            vec!["carrier", "lines"],
        ),
    ];
    for (what, item, differs) in cases {
        match store.enqueue_outbox(&item).await {
            Err(StoreError::KeyReused {
                key: k,
                existing_order,
                differs: got,
                ..
            }) => {
                assert_eq!(
                    k, a.idempotency_key,
                    "{CHECK} ({what}): the error names the key"
                );
                assert_eq!(
                    existing_order, a.order_id,
                    "{CHECK} ({what}): the error names the order the key is used for"
                );
                assert_eq!(
                    got, differs,
                    "{CHECK} ({what}): the error says what differs"
                );
            }
            other => panic!(
                "{CHECK}: the same key with another request ({what}) must be StoreError::KeyReused, got {other:?}"
            ),
        }
    }
    // A refund under a key used for a refund of another amount or reason.
    let r1 = OutboxItem {
        action: refund.clone(),
        idempotency_key: key("refund-1001"),
        ..a.clone()
    };
    ok(
        CHECK,
        "enqueue_outbox(refund)",
        store.enqueue_outbox(&r1).await,
    );
    let r2 = OutboxItem {
        action: OutboxAction::Refund(Refund {
            amount: Some(Money::from_minor_units(700, Currency::USD)),
            lines: Vec::new(),
            reason: AdjustmentReason::ShippingDamage,
            restock: false,
            note: None,
        }),
        ..r1.clone()
    };
    match store.enqueue_outbox(&r2).await {
        Err(StoreError::KeyReused { differs, .. }) => {
            assert_eq!(differs, vec!["amount", "reason"], "{CHECK}: what differs");
        }
        other => panic!(
            "{CHECK}: a refund of another amount under the same key must be KeyReused, got {other:?}"
        ),
    }
    // The same amount written with another scale is the same request.
    let r3 = OutboxItem {
        action: OutboxAction::Refund(Refund {
            amount: Some(Money::parse("5.0", "USD").expect("money")),
            ..match &refund {
                OutboxAction::Refund(r) => r.clone(),
                _ => unreachable!(),
            }
        }),
        created_at: at(30),
        ..r1.clone()
    };
    let same = ok(
        CHECK,
        "enqueue_outbox(refund, 5.0)",
        store.enqueue_outbox(&r3).await,
    );
    assert_eq!(
        same.item, r1,
        "{CHECK}: 5.0 USD is the same amount as 5.00 USD"
    );

    // Nothing changed: A has its ship and refund entries, B its ship entry.
    let a_items: Vec<OutboxItem> = ok(CHECK, "outbox(A)", store.outbox(id_a()).await)
        .into_iter()
        .map(|e| e.item)
        .collect();
    assert_eq!(
        a_items,
        vec![a, r1],
        "{CHECK}: a refused enqueue must not add or change an entry"
    );
    assert_eq!(ok(CHECK, "outbox(B)", store.outbox(id_b()).await).len(), 1);
}

/// Nothing leaks between integrations: audit log, credentials, mappings, listings, ledger rows
/// (the same channel order id imports once per integration), cursor and outbox are all kept per
/// integration id.
pub async fn data_is_per_integration(store: &dyn Store) {
    const CHECK: &str = "data_is_per_integration";
    let a = add_integration(store, CHECK, id_a()).await;
    let b = add_integration(store, CHECK, id_b()).await;
    let a_audit_before = ok(CHECK, "audit_log(A)", store.audit_log(id_a()).await);
    let b_audit = ok(CHECK, "audit_log(B)", store.audit_log(id_b()).await);

    // Fill A.
    let mut a_next = a.clone();
    let ctx = Context::at(Actor::User("ann".into()), at(5));
    let events = a_next.lifecycle.disable(&ctx).unwrap();
    ok(
        CHECK,
        "update_integration(A)",
        store.update_integration(&a_next, &events).await,
    );
    let sealed = SealedCredentials {
        key_id: "k".into(),
        nonce: vec![1; 24],
        ciphertext: vec![2; 40],
    };
    ok(
        CHECK,
        "put_credentials(A)",
        store.put_credentials(id_a(), &sealed).await,
    );
    let mut mappings = MappingSet::new();
    mappings.insert_sku(SkuMapping {
        channel_sku: sku("GTR-1"),
        inventory_sku: sku("guitar"),
        created_at: at(1),
    });
    ok(
        CHECK,
        "put_mappings(A)",
        store.put_mappings(id_a(), &mappings).await,
    );
    let shared_listing = listing(id_a(), "SHARED", ListingStatus::Linked, 1);
    ok(
        CHECK,
        "put_listing(A)",
        store.put_listing(&shared_listing).await,
    );
    let mut a_batch = batch(at(6), vec![paid_import("SAME-1", at(6))]);
    a_batch.cursor = Some(Cursor("a-cursor".into()));
    ok(
        CHECK,
        "record_orders(A)",
        store.record_orders(id_a(), &a_batch).await,
    );
    ok(
        CHECK,
        "enqueue_outbox(A)",
        store
            .enqueue_outbox(&ship_item(id_a(), "SAME-1", "key-same-a", at(7)))
            .await,
    );

    // B sees none of it.
    let b_now = ok(CHECK, "integration(B)", store.integration(id_b()).await);
    assert_eq!(
        b_now,
        Some(b.clone()),
        "{CHECK}: updating A must not change B"
    );
    assert_eq!(
        ok(CHECK, "audit_log(B)", store.audit_log(id_b()).await),
        b_audit,
        "{CHECK}: A's audit events must not appear in B's log"
    );
    assert!(ok(CHECK, "audit_log(A)", store.audit_log(id_a()).await).len() > a_audit_before.len());
    assert!(
        ok(CHECK, "credentials(B)", store.credentials(id_b()).await).is_none(),
        "{CHECK}: A's credentials must not be B's"
    );
    assert_eq!(
        ok(CHECK, "mappings(B)", store.mappings(id_b()).await),
        MappingSet::new(),
        "{CHECK}: A's mappings must not be B's"
    );
    assert!(
        ok(CHECK, "listings(B)", store.listings(id_b()).await).is_empty(),
        "{CHECK}: A's listings must not be B's"
    );
    assert!(
        ok(
            CHECK,
            "ledger(B)",
            store.ledger(id_b(), LedgerFilter::All).await
        )
        .is_empty(),
        "{CHECK}: A's ledger rows must not be B's"
    );
    assert!(
        ok(
            CHECK,
            "ledger_entry(B)",
            store.ledger_entry(id_b(), &oid("SAME-1")).await
        )
        .is_none(),
        "{CHECK}: A's ledger row must not be readable under B"
    );
    assert_eq!(
        ok(CHECK, "cursor(B)", store.cursor(id_b()).await),
        None,
        "{CHECK}: A's cursor must not be B's"
    );
    assert!(
        ok(CHECK, "outbox(B)", store.outbox(id_b()).await).is_empty(),
        "{CHECK}: A's outbox must not be B's"
    );

    // The same ids under B are B's own.
    let b_listing = listing(id_b(), "SHARED", ListingStatus::Unlinked, 9);
    ok(CHECK, "put_listing(B)", store.put_listing(&b_listing).await);
    let mut b_batch = batch(
        at(8),
        vec![import(
            "SAME-1",
            paid("SAME-1"),
            imported(at(8), Management::ThirdPartyManaged),
        )],
    );
    b_batch.cursor = Some(Cursor("b-cursor".into()));
    let r = ok(
        CHECK,
        "record_orders(B)",
        store.record_orders(id_b(), &b_batch).await,
    );
    assert_eq!(
        r[0].outcome,
        SightingOutcome::Imported,
        "{CHECK}: the same channel order id in another integration is another order: Imported"
    );
    ok(
        CHECK,
        "remove_listing(B)",
        store.remove_listing(id_b(), &sku("SHARED")).await,
    );

    assert_eq!(
        ok(CHECK, "listings(A)", store.listings(id_a()).await),
        vec![shared_listing],
        "{CHECK}: removing B's listing must not remove A's"
    );
    let a_row = entry(store, CHECK, id_a(), "SAME-1").await;
    assert_eq!(
        a_row.times_seen, 1,
        "{CHECK}: B's sighting must not count for A"
    );
    assert_eq!(a_row.integration_id, id_a());
    assert_eq!(
        a_row.imported.map(|i| i.management),
        Some(Management::Managed)
    );
    let b_row = entry(store, CHECK, id_b(), "SAME-1").await;
    assert_eq!(b_row.integration_id, id_b());
    assert_eq!(
        b_row.imported.map(|i| i.management),
        Some(Management::ThirdPartyManaged)
    );
    assert_eq!(
        ok(CHECK, "cursor(A)", store.cursor(id_a()).await),
        Some(Cursor("a-cursor".into())),
        "{CHECK}: B's cursor must not move A's"
    );
    assert_eq!(
        ok(CHECK, "cursor(B)", store.cursor(id_b()).await),
        Some(Cursor("b-cursor".into()))
    );
    assert_eq!(
        ok(CHECK, "credentials(A)", store.credentials(id_a()).await),
        Some(sealed)
    );
    assert_eq!(
        ok(CHECK, "mappings(A)", store.mappings(id_a()).await),
        mappings
    );
}

// ----- helpers -----

/// A fixed instant: 2026-03-01 00:00 UTC plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

fn id_a() -> IntegrationId {
    IntegrationId::from(uuid::Uuid::from_u128(0x0A))
}

fn id_b() -> IntegrationId {
    IntegrationId::from(uuid::Uuid::from_u128(0x0B))
}

fn id_c() -> IntegrationId {
    IntegrationId::from(uuid::Uuid::from_u128(0x0C))
}

fn sku(s: &str) -> Sku {
    Sku::new(s).expect("valid SKU")
}

fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).expect("valid order id")
}

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::new(s).expect("valid idempotency key")
}

/// Unwraps a store result, panicking with the check and the call that failed.
#[track_caller]
fn ok<T>(check: &str, call: &str, r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("{check}: {call} failed: {e} ({e:?})"))
}

/// A new integration record (version 0) and its creation audit event.
fn integration(
    id: IntegrationId,
    name: &str,
    kind: ChannelKind,
) -> (IntegrationRecord, Vec<AuditEvent>) {
    let ctx = Context::at(Actor::User("ann".into()), at(0));
    let (lifecycle, created) = Lifecycle::create(ChannelRules::default(), &ctx);
    (
        IntegrationRecord {
            id,
            name: name.into(),
            channel: kind,
            lifecycle,
            settings: IntegrationSettings::new(kind, Currency::USD),
            notices: NoticeState::default(),
            version: 0,
        },
        vec![created],
    )
}

/// Inserts a plain integration, so backends with foreign keys accept data for it.
async fn add_integration(store: &dyn Store, check: &str, id: IntegrationId) -> IntegrationRecord {
    let (record, audit) = integration(id, &format!("integration {id}"), ChannelKind::Reverb);
    ok(
        check,
        "insert_integration",
        store.insert_integration(&record, &audit).await,
    );
    record
}

fn listing(id: IntegrationId, s: &str, status: ListingStatus, n: u64) -> Listing {
    Listing {
        integration_id: id,
        sku: sku(s),
        channel_listing_id: Some(ChannelListingId::new(format!("L-{n}")).unwrap()),
        channel_sku: Some(sku(&format!("ch-{s}"))),
        status,
        last_sent: Some(Fingerprint(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))),
        updated_at: at(n as i64),
        last_stock_version: None,
    }
}

fn order(id: &str, state: OrderState, raw: &str) -> Order {
    let price = Money::from_minor_units(129_900, Currency::USD);
    Order {
        channel_order_id: oid(id),
        marketplace_order_id: Some(format!("M-{id}")),
        site: None,
        created_at: at(0),
        updated_at: Some(at(1)),
        status: OrderStatus::new(state, raw),
        currency: Currency::USD,
        currency_source: CurrencySource::Channel,
        lines: vec![OrderLine {
            line_id: "1".into(),
            sku: Some(sku("GTR-1")),
            listing_id: None,
            title: "Guitar — sunburst".into(),
            quantity: 1,
            unit_price: price,
        }],
        shipping_method: Some("Standard".into()),
        shipping_price: None,
        tax: None,
        total: Some(price),
        shipping_address: None,
        buyer: Buyer::default(),
        local_pickup: false,
        revision: None,
    }
}

/// [`order`] paid and awaiting shipment, as a sighting carries it.
fn paid(id: &str) -> Option<Order> {
    Some(order(id, OrderState::AwaitingShipment, "paid"))
}

/// The paid order `id` imported at `when`, managed here.
fn paid_import(id: &str, when: DateTime<Utc>) -> LedgerWrite {
    import(id, paid(id), imported(when, Management::Managed))
}

fn imported(when: DateTime<Utc>, management: Management) -> ImportedOrder {
    ImportedOrder {
        imported_at: when,
        management,
        shipping_service: Some(ShippingService {
            name: "UPS Ground".into(),
            carrier: Some("UPS".into()),
            class: Some("Ground".into()),
        }),
        lines: vec![ResolvedLine {
            line_id: "1".into(),
            channel_sku: sku("GTR-1"),
            resolution: SkuResolution::Same(sku("GTR-1")),
        }],
    }
}

fn import(id: &str, order: Option<Order>, decided: ImportedOrder) -> LedgerWrite {
    LedgerWrite {
        channel_order_id: oid(id),
        order,
        decision: Decision::Import(decided),
    }
}

fn skip(id: &str, order: Option<Order>, reason: NotImportedReason) -> LedgerWrite {
    LedgerWrite {
        channel_order_id: oid(id),
        order,
        decision: Decision::Skip { reason },
    }
}

fn status_not_imported(state: OrderState, raw: &str) -> NotImportedReason {
    NotImportedReason::StatusNotImported {
        state,
        raw: raw.into(),
    }
}

fn batch(seen_at: DateTime<Utc>, writes: Vec<LedgerWrite>) -> OrderBatch {
    OrderBatch {
        seen_at,
        writes,
        cursor: None,
        notifications: Vec::new(),
        stock: Vec::new(),
    }
}

fn ship_item(id: IntegrationId, order: &str, k: &str, created_at: DateTime<Utc>) -> OutboxItem {
    OutboxItem {
        integration_id: id,
        order_id: oid(order),
        action: OutboxAction::Ship(Shipment {
            carrier: Some("UPS".into()),
            method: Some("Ground".into()),
            tracking_number: Some(format!("1Z{order}")),
            shipped_at: created_at,
            lines: Vec::new(),
            delivery: Delivery::Shipped,
        }),
        idempotency_key: key(k),
        created_at,
    }
}

fn keys_of(entries: &[OutboxEntry]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e.item.idempotency_key.as_str())
        .collect()
}

fn token(entry: &OutboxEntry) -> String {
    entry
        .lease
        .as_ref()
        .map(|l| l.token.clone())
        .expect("a claimed entry carries a lease")
}

async fn entries_by_key(
    store: &dyn Store,
    check: &str,
    id: IntegrationId,
) -> HashMap<String, OutboxEntry> {
    ok(check, "outbox", store.outbox(id).await)
        .into_iter()
        .map(|e| (e.item.idempotency_key.as_str().to_owned(), e))
        .collect()
}

async fn entry(store: &dyn Store, check: &str, id: IntegrationId, order: &str) -> LedgerEntry {
    ok(
        check,
        "ledger_entry",
        store.ledger_entry(id, &oid(order)).await,
    )
    .unwrap_or_else(|| panic!("{check}: order {order} must have a ledger row after recording"))
}

/// The reference ledger: [`apply_write`] folded over every write, as the store must behave.
struct Model {
    id: IntegrationId,
    rows: BTreeMap<ChannelOrderId, LedgerEntry>,
}

impl Model {
    fn new(id: IntegrationId) -> Self {
        Self {
            id,
            rows: BTreeMap::new(),
        }
    }

    fn apply(&mut self, batch: &OrderBatch) -> Vec<RecordedOrder> {
        batch
            .writes
            .iter()
            .map(|w| {
                let existing = self.rows.remove(&w.channel_order_id);
                let (row, outcome) = apply_write(self.id, existing, w, batch.seen_at);
                self.rows.insert(w.channel_order_id.clone(), row);
                RecordedOrder {
                    channel_order_id: w.channel_order_id.clone(),
                    outcome,
                }
            })
            .collect()
    }

    /// Every row of the store equals the model's, and there are no others.
    async fn assert_store_matches(&self, store: &dyn Store, check: &str) {
        for (order, want) in &self.rows {
            let got = ok(
                check,
                "ledger_entry",
                store.ledger_entry(self.id, order).await,
            );
            assert_eq!(
                got.as_ref(),
                Some(want),
                "{check}: the ledger row of {order} must be what apply_write gives for the writes recorded"
            );
        }
        let mut all: Vec<ChannelOrderId> = ok(
            check,
            "ledger(All)",
            store.ledger(self.id, LedgerFilter::All).await,
        )
        .into_iter()
        .map(|e| e.channel_order_id)
        .collect();
        all.sort();
        assert_eq!(
            all,
            self.rows.keys().cloned().collect::<Vec<_>>(),
            "{check}: ledger(All) must hold exactly one row per order recorded"
        );
    }
}

/// Records a batch in the store and the model; the results must agree.
async fn record(
    store: &dyn Store,
    check: &str,
    model: &mut Model,
    batch: OrderBatch,
) -> Vec<RecordedOrder> {
    let got = ok(
        check,
        "record_orders",
        store.record_orders(model.id, &batch).await,
    );
    let want = model.apply(&batch);
    assert_eq!(
        got, want,
        "{check}: record_orders must return one result per write, in order, as apply_write decides"
    );
    got
}

// ----- versioned credentials, leases, scheduled work, paged reads -----
//
// Lease expiry is the store's clock (a database's, or the process clock for embedded stores),
// so the checks below that let a lease lapse give it a short lease and wait real time for it to
// lapse (polling, with a generous bound), and never assert how long anything took. Everything
// else uses long leases, so a slow machine cannot make a lease lapse early.

/// A lease that cannot lapse during a check.
const LONG_LEASE: std::time::Duration = std::time::Duration::from_secs(600);

/// A lease short enough to wait for.
const SHORT_LEASE: std::time::Duration = std::time::Duration::from_millis(300);

/// How long a check waits for a short lease to lapse before calling the store broken.
const LAPSE_BOUND: std::time::Duration = std::time::Duration::from_secs(60);

fn worker(name: &str) -> WorkerId {
    WorkerId::from_stored(format!("conformance-{name}"))
}

fn sealed(n: u8) -> SealedCredentials {
    SealedCredentials {
        key_id: format!("key-{n}"),
        nonce: vec![n; 24],
        ciphertext: (0u8..=255).map(|b| b ^ n).collect(),
    }
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(check: &str, call: &str, r: Result<T, StoreError>) {
    match r {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{check}: {call} must be Conflict, got {other:?}"),
    }
}

/// Polls `take` (sleeping between tries) until it returns true; panics after [`LAPSE_BOUND`].
async fn wait_until_lapsed<F, Fut>(check: &str, what: &str, mut take: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    tokio::time::sleep(SHORT_LEASE).await;
    let started = std::time::Instant::now();
    while !take().await {
        assert!(
            started.elapsed() < LAPSE_BOUND,
            "{check}: {what}: a {SHORT_LEASE:?} lease did not lapse by the store's clock within {LAPSE_BOUND:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn claimed_ids(claims: &[WorkClaim]) -> BTreeSet<IntegrationId> {
    claims.iter().map(|c| c.integration).collect()
}

/// Credentials are versioned: the first stored is version 1, every write (`put_credentials`
/// too) increments it, `replace_credentials` with a stale version is `Conflict` and writes
/// nothing, with the current version it stores them and returns the next version. Versions are
/// per integration.
pub async fn credentials_versions_compare_and_swap(store: &dyn Store) {
    const CHECK: &str = "credentials_versions_compare_and_swap";
    add_integration(store, CHECK, id_a()).await;
    add_integration(store, CHECK, id_b()).await;
    assert_eq!(
        ok(
            CHECK,
            "credentials_versioned",
            store.credentials_versioned(id_a()).await
        ),
        None,
        "{CHECK}: an integration without credentials has no versioned credentials"
    );
    assert_conflict(
        CHECK,
        "replace_credentials(expected 1) with none stored",
        store.replace_credentials(id_a(), &sealed(1), 1).await,
    );
    assert!(
        ok(CHECK, "credentials", store.credentials(id_a()).await).is_none(),
        "{CHECK}: a refused replace must write nothing"
    );
    assert_eq!(
        ok(
            CHECK,
            "replace_credentials(expected 0)",
            store.replace_credentials(id_a(), &sealed(1), 0).await
        ),
        1,
        "{CHECK}: the first credentials stored are version 1"
    );
    let v1 = ok(
        CHECK,
        "credentials_versioned",
        store.credentials_versioned(id_a()).await,
    )
    .unwrap_or_else(|| panic!("{CHECK}: replaced credentials must read back"));
    assert_eq!(v1.version, 1, "{CHECK}: version after the first write");
    assert_sealed_eq(CHECK, Some(v1.sealed), &sealed(1));

    ok(
        CHECK,
        "put_credentials",
        store.put_credentials(id_a(), &sealed(2)).await,
    );
    let v2 = ok(
        CHECK,
        "credentials_versioned",
        store.credentials_versioned(id_a()).await,
    )
    .unwrap_or_else(|| panic!("{CHECK}: put credentials must read back"));
    assert_eq!(
        v2.version, 2,
        "{CHECK}: put_credentials must increment the version too"
    );
    assert_sealed_eq(CHECK, Some(v2.sealed), &sealed(2));

    assert_conflict(
        CHECK,
        "replace_credentials with a stale version",
        store.replace_credentials(id_a(), &sealed(3), 1).await,
    );
    let after_refusal = ok(
        CHECK,
        "credentials_versioned",
        store.credentials_versioned(id_a()).await,
    )
    .unwrap_or_else(|| panic!("{CHECK}: credentials must still be there"));
    assert_eq!(
        after_refusal.version, 2,
        "{CHECK}: a stale replace must not change the version"
    );
    assert_sealed_eq(CHECK, Some(after_refusal.sealed), &sealed(2));

    assert_eq!(
        ok(
            CHECK,
            "replace_credentials(current version)",
            store.replace_credentials(id_a(), &sealed(3), 2).await
        ),
        3,
        "{CHECK}: a replace at the current version returns it + 1"
    );
    let v3 = ok(
        CHECK,
        "credentials_versioned",
        store.credentials_versioned(id_a()).await,
    )
    .unwrap_or_else(|| panic!("{CHECK}: replaced credentials must read back"));
    assert_eq!(v3.version, 3);
    assert_sealed_eq(CHECK, Some(v3.sealed), &sealed(3));
    assert_sealed_eq(
        CHECK,
        ok(CHECK, "credentials", store.credentials(id_a()).await),
        &sealed(3),
    );

    ok(
        CHECK,
        "put_credentials(B)",
        store.put_credentials(id_b(), &sealed(9)).await,
    );
    assert_eq!(
        ok(
            CHECK,
            "credentials_versioned(B)",
            store.credentials_versioned(id_b()).await
        )
        .map(|v| v.version),
        Some(1),
        "{CHECK}: versions are per integration: B's first credentials are version 1"
    );
}

/// A named lease has one holder: another holder is refused while it runs, the holder takes it
/// again (extending it), a release by anyone but the holder does nothing, a release by the
/// holder frees it, and once a short lease lapses by the store's clock another holder takes it.
/// Names are independent.
pub async fn named_lease_is_exclusive_until_it_lapses(store: &dyn Store) {
    const CHECK: &str = "named_lease_is_exclusive_until_it_lapses";
    let lease = "credentials-renewal:A";
    assert!(
        ok(
            CHECK,
            "try_lease(w1)",
            store.try_lease(lease, "w1", LONG_LEASE).await
        ),
        "{CHECK}: a free lease must be taken"
    );
    assert!(
        !ok(
            CHECK,
            "try_lease(w2)",
            store.try_lease(lease, "w2", LONG_LEASE).await
        ),
        "{CHECK}: a lease held by another must be refused"
    );
    assert!(
        ok(
            CHECK,
            "try_lease(w1 again)",
            store.try_lease(lease, "w1", LONG_LEASE).await
        ),
        "{CHECK}: the holder must take its own lease again (extending it)"
    );
    assert!(
        ok(
            CHECK,
            "try_lease(other name, w2)",
            store
                .try_lease("credentials-renewal:B", "w2", LONG_LEASE)
                .await
        ),
        "{CHECK}: leases of other names are independent"
    );
    ok(
        CHECK,
        "release_lease(non-holder)",
        store.release_lease(lease, "w2").await,
    );
    assert!(
        !ok(
            CHECK,
            "try_lease(w2)",
            store.try_lease(lease, "w2", LONG_LEASE).await
        ),
        "{CHECK}: a release by a non-holder must do nothing"
    );
    ok(
        CHECK,
        "release_lease(holder)",
        store.release_lease(lease, "w1").await,
    );
    assert!(
        ok(
            CHECK,
            "try_lease(w2 after release)",
            store.try_lease(lease, "w2", LONG_LEASE).await
        ),
        "{CHECK}: a released lease must be free"
    );
    ok(
        CHECK,
        "release_lease(never held)",
        store.release_lease("never-taken", "w1").await,
    );

    let short = "credentials-renewal:C";
    assert!(
        ok(
            CHECK,
            "try_lease(short, w1)",
            store.try_lease(short, "w1", SHORT_LEASE).await
        ),
        "{CHECK}: a free lease must be taken"
    );
    wait_until_lapsed(CHECK, "try_lease(w2) after w1's lease", || async move {
        ok(
            CHECK,
            "try_lease(short, w2)",
            store.try_lease(short, "w2", LONG_LEASE).await,
        )
    })
    .await;
    assert!(
        !ok(
            CHECK,
            "try_lease(short, w1 again)",
            store.try_lease(short, "w1", LONG_LEASE).await
        ),
        "{CHECK}: once another holder took a lapsed lease, the old holder is refused"
    );
    ok(
        CHECK,
        "release_lease(old holder)",
        store.release_lease(short, "w1").await,
    );
    assert!(
        !ok(
            CHECK,
            "try_lease(short, w3)",
            store.try_lease(short, "w3", LONG_LEASE).await
        ),
        "{CHECK}: the old holder's release must not free the new holder's lease"
    );
}

/// Of 8 tasks racing for one free lease, exactly one gets it (five rounds, one name each).
pub async fn concurrent_named_lease_has_one_winner(store: Arc<dyn Store>) {
    const CHECK: &str = "concurrent_named_lease_has_one_winner";
    for round in 0..5 {
        let name = format!("contended-{round}");
        let mut tasks = JoinSet::new();
        for task in 0..8 {
            let store = Arc::clone(&store);
            let name = name.clone();
            tasks.spawn(async move {
                let holder = format!("w{task}");
                let got = ok(
                    CHECK,
                    "try_lease",
                    store.try_lease(&name, &holder, LONG_LEASE).await,
                );
                (holder, got)
            });
        }
        let mut winners = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (holder, got) = joined.expect("task");
            if got {
                winners.push(holder);
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "{CHECK}: round {round}: exactly one of 8 concurrent callers must get the lease, got {winners:?}"
        );
        let loser = if winners[0] == "w0" { "w1" } else { "w0" };
        assert!(
            !ok(
                CHECK,
                "try_lease(loser)",
                store.try_lease(&name, loser, LONG_LEASE).await
            ),
            "{CHECK}: round {round}: the lease must stay with the winner"
        );
    }
}

/// Scheduled work goes to one worker at a time: new integrations are due at once; a claim
/// respects its limit; another worker's claim skips held integrations; a worker claiming again
/// gets back what it holds; and two workers claiming concurrently (claim, release to later,
/// again) claim each of 20 integrations exactly once.
pub async fn work_is_claimed_by_one_worker(store: Arc<dyn Store>) {
    const CHECK: &str = "work_is_claimed_by_one_worker";
    let ids: BTreeSet<IntegrationId> = (0..20u128)
        .map(|i| IntegrationId::from(uuid::Uuid::from_u128(0x5EED_0000 + i * 7919)))
        .collect();
    for id in &ids {
        add_integration(&*store, CHECK, *id).await;
    }
    let (w1, w2) = (worker("w1"), worker("w2"));

    let first = ok(
        CHECK,
        "claim_work(w1, 3)",
        store.claim_work(&w1, at(0), LONG_LEASE, 3).await,
    );
    assert_eq!(
        first.len(),
        3,
        "{CHECK}: a claim must take up to its limit of due work"
    );
    assert!(
        first.iter().all(|c| c.worker == w1),
        "{CHECK}: each claim names the worker holding it"
    );
    let w1_held = claimed_ids(&first);
    assert_eq!(
        w1_held.len(),
        3,
        "{CHECK}: one claim must not return an integration twice"
    );

    let second = ok(
        CHECK,
        "claim_work(w2)",
        store.claim_work(&w2, at(0), LONG_LEASE, 100).await,
    );
    let w2_held = claimed_ids(&second);
    assert_eq!(
        second.len(),
        17,
        "{CHECK}: another worker must get every due integration not held (17 of 20)"
    );
    assert!(
        w1_held.is_disjoint(&w2_held),
        "{CHECK}: integrations w1 holds must not be claimed by w2"
    );
    assert_eq!(
        claimed_ids(&ok(
            CHECK,
            "claim_work(w1 again)",
            store.claim_work(&w1, at(0), LONG_LEASE, 100).await
        )),
        w1_held,
        "{CHECK}: a worker claiming again must get back exactly what it holds"
    );
    assert_eq!(
        claimed_ids(&ok(
            CHECK,
            "claim_work(w2 again)",
            store.claim_work(&w2, at(0), LONG_LEASE, 100).await
        )),
        w2_held,
        "{CHECK}: a worker claiming again must get back exactly what it holds"
    );
    for (w, held) in [(&w1, &w1_held), (&w2, &w2_held)] {
        for id in held {
            ok(
                CHECK,
                "release_work",
                store.release_work(*id, w, at(10)).await,
            );
        }
    }
    assert!(
        ok(
            CHECK,
            "claim_work before due",
            store.claim_work(&w1, at(9), LONG_LEASE, 100).await
        )
        .is_empty(),
        "{CHECK}: released work is not due before its next_due"
    );

    // Both workers at once: claim a few, release them to much later, repeat until none is due.
    let mut tasks = JoinSet::new();
    for w in [w1.clone(), w2.clone()] {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claims = ok(
                    CHECK,
                    "claim_work",
                    store.claim_work(&w, at(10), LONG_LEASE, 4).await,
                );
                assert!(claims.len() <= 4, "{CHECK}: a claim must respect its limit");
                if claims.is_empty() {
                    break;
                }
                for c in claims {
                    assert_eq!(c.worker, w, "{CHECK}: a claim names its worker");
                    ok(
                        CHECK,
                        "release_work",
                        store.release_work(c.integration, &w, at(1000)).await,
                    );
                    mine.push(c.integration);
                }
                tokio::task::yield_now().await;
            }
            mine
        });
    }
    let mut counts: BTreeMap<IntegrationId, usize> = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        for id in joined.expect("worker task") {
            *counts.entry(id).or_default() += 1;
        }
    }
    assert_eq!(
        counts.keys().copied().collect::<BTreeSet<_>>(),
        ids,
        "{CHECK}: every due integration must be claimed by one of the workers"
    );
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{CHECK}: concurrent workers must claim each integration once, these more often: {twice:?}"
    );
}

/// Released work is due again at its `next_due` (the caller's clock) and not before; an
/// integration updated while its lease was held stays due at once after the release; a claim
/// by a new holder clears that; run times recorded by the holder round-trip and come back
/// with the next claim; `record_run` and `release_work` by a worker not holding the lease are
/// `Conflict` and write nothing; work released as never due comes back once its integration
/// changes.
pub async fn work_release_and_due(store: &dyn Store) {
    const CHECK: &str = "work_release_and_due";
    let a = add_integration(store, CHECK, id_a()).await;
    let b = add_integration(store, CHECK, id_b()).await;
    let (w1, w2) = (worker("w1"), worker("w2"));
    let claims = ok(
        CHECK,
        "claim_work(w1)",
        store.claim_work(&w1, at(0), LONG_LEASE, 10).await,
    );
    assert_eq!(
        claimed_ids(&claims),
        BTreeSet::from([id_a(), id_b()]),
        "{CHECK}: new integrations must be due at once"
    );
    assert!(
        claims.iter().all(|c| c.runs.is_empty()),
        "{CHECK}: new work has no run times"
    );

    // Microseconds: what every store keeps of a time.
    let import_runs = RunTimes {
        last_started: Some(at(1) + TimeDelta::microseconds(123_456)),
        last_finished: Some(at(2) + TimeDelta::microseconds(654_321)),
    };
    let listing_runs = RunTimes {
        last_started: Some(at(3)),
        last_finished: None,
    };
    assert_conflict(
        CHECK,
        "record_run by a worker not holding the lease",
        store
            .record_run(id_a(), &w2, "import_orders", &listing_runs)
            .await,
    );
    ok(
        CHECK,
        "record_run(import_orders)",
        store
            .record_run(id_a(), &w1, "import_orders", &import_runs)
            .await,
    );
    ok(
        CHECK,
        "record_run(sync_listings)",
        store
            .record_run(id_a(), &w1, "sync_listings", &listing_runs)
            .await,
    );

    // B changes while w1 holds it.
    let mut b2 = b.clone();
    b2.name = "renamed while its work was held".into();
    ok(
        CHECK,
        "update_integration(B)",
        store.update_integration(&b2, &[]).await,
    );

    assert_conflict(
        CHECK,
        "release_work by a worker not holding the lease",
        store.release_work(id_a(), &w2, at(5)).await,
    );
    assert!(
        ok(
            CHECK,
            "claim_work(w2) while w1 holds both",
            store.claim_work(&w2, at(0), LONG_LEASE, 10).await
        )
        .is_empty(),
        "{CHECK}: a refused release must leave the lease with its holder"
    );
    ok(
        CHECK,
        "release_work(A)",
        store.release_work(id_a(), &w1, at(30)).await,
    );
    ok(
        CHECK,
        "release_work(B)",
        store.release_work(id_b(), &w1, at(30)).await,
    );

    assert_eq!(
        claimed_ids(&ok(
            CHECK,
            "claim_work(w2, before due)",
            store.claim_work(&w2, at(29), LONG_LEASE, 10).await
        )),
        BTreeSet::from([id_b()]),
        "{CHECK}: before next_due only B is due: it changed while its lease was held"
    );
    ok(
        CHECK,
        "release_work(B by w2)",
        store.release_work(id_b(), &w2, at(30)).await,
    );
    assert!(
        ok(
            CHECK,
            "claim_work(w2, before due again)",
            store.claim_work(&w2, at(29), LONG_LEASE, 10).await
        )
        .is_empty(),
        "{CHECK}: once claimed by a new holder and released, B's change no longer makes it due"
    );

    let due = ok(
        CHECK,
        "claim_work(w2, at due)",
        store.claim_work(&w2, at(30), LONG_LEASE, 10).await,
    );
    assert_eq!(
        claimed_ids(&due),
        BTreeSet::from([id_a(), id_b()]),
        "{CHECK}: work is due at its next_due"
    );
    let a_claim = due
        .iter()
        .find(|c| c.integration == id_a())
        .expect("A claimed");
    assert_eq!(
        a_claim.runs,
        BTreeMap::from([
            ("import_orders".to_owned(), import_runs),
            ("sync_listings".to_owned(), listing_runs),
        ]),
        "{CHECK}: recorded run times must round-trip, by operation name"
    );
    assert_conflict(
        CHECK,
        "record_run by the previous holder",
        store
            .record_run(id_a(), &w1, "import_orders", &listing_runs)
            .await,
    );
    ok(
        CHECK,
        "release_work(A, never)",
        store.release_work(id_a(), &w2, never_due()).await,
    );
    ok(
        CHECK,
        "release_work(B, never)",
        store.release_work(id_b(), &w2, never_due()).await,
    );
    let far = Utc.with_ymd_and_hms(2999, 1, 1, 0, 0, 0).unwrap();
    assert!(
        ok(
            CHECK,
            "claim_work(far future)",
            store.claim_work(&w1, far, LONG_LEASE, 10).await
        )
        .is_empty(),
        "{CHECK}: work released with never_due is not due"
    );
    ok(
        CHECK,
        "update_integration(A)",
        store.update_integration(&a, &[]).await,
    );
    let again = ok(
        CHECK,
        "claim_work(after change)",
        store.claim_work(&w1, at(0), LONG_LEASE, 10).await,
    );
    assert_eq!(
        claimed_ids(&again),
        BTreeSet::from([id_a()]),
        "{CHECK}: a changed integration is due at once, whatever its next_due"
    );
    assert_eq!(
        again[0].runs.get("import_orders"),
        Some(&import_runs),
        "{CHECK}: run times are kept across holders"
    );
}

/// A work lease lapses by the store's clock, whatever the caller's `now`: a worker whose clock
/// is far ahead does not take work another holds; once a short lease lapses, another worker
/// claims the work, and the old holder's `renew_work`, `record_run` and `release_work` are then
/// `Conflict`. The holder renews a lease it still holds.
pub async fn work_lease_lapses_by_the_store_clock(store: &dyn Store) {
    const CHECK: &str = "work_lease_lapses_by_the_store_clock";
    add_integration(store, CHECK, id_a()).await;
    let (w1, w2, w3) = (worker("w1"), worker("w2"), worker("w3"));
    let claims = ok(
        CHECK,
        "claim_work(w1, short)",
        store.claim_work(&w1, at(0), SHORT_LEASE, 10).await,
    );
    assert_eq!(claimed_ids(&claims), BTreeSet::from([id_a()]));
    add_integration(store, CHECK, id_b()).await;
    let claims = ok(
        CHECK,
        "claim_work(w3, long)",
        store.claim_work(&w3, at(0), LONG_LEASE, 10).await,
    );
    assert!(
        claimed_ids(&claims).contains(&id_b()),
        "{CHECK}: w3 must claim B"
    );
    ok(
        CHECK,
        "renew_work(B, holder)",
        store.renew_work(id_b(), &w3, LONG_LEASE).await,
    );

    // A worker whose clock runs years ahead must not take B: expiry is the store's clock.
    let skewed = Utc.with_ymd_and_hms(2999, 1, 1, 0, 0, 0).unwrap();
    let stolen = ok(
        CHECK,
        "claim_work(w2, skewed clock)",
        store.claim_work(&w2, skewed, LONG_LEASE, 10).await,
    );
    assert!(
        !claimed_ids(&stolen).contains(&id_b()),
        "{CHECK}: a lease must not lapse by the caller's clock"
    );
    for c in &stolen {
        ok(
            CHECK,
            "release_work(w2)",
            store.release_work(c.integration, &w2, at(0)).await,
        );
    }

    let taker = &w2;
    wait_until_lapsed(CHECK, "claim_work(w2) of A", || async move {
        claimed_ids(&ok(
            CHECK,
            "claim_work(w2)",
            store.claim_work(taker, at(0), LONG_LEASE, 10).await,
        ))
        .contains(&id_a())
    })
    .await;
    assert_conflict(
        CHECK,
        "renew_work by the holder whose lease lapsed and was taken",
        store.renew_work(id_a(), &w1, LONG_LEASE).await,
    );
    assert_conflict(
        CHECK,
        "record_run by the holder whose lease lapsed and was taken",
        store
            .record_run(id_a(), &w1, "import_orders", &RunTimes::default())
            .await,
    );
    assert_conflict(
        CHECK,
        "release_work by the holder whose lease lapsed and was taken",
        store.release_work(id_a(), &w1, at(60)).await,
    );
    ok(
        CHECK,
        "renew_work(A, new holder)",
        store.renew_work(id_a(), &w2, LONG_LEASE).await,
    );
    let back = ok(
        CHECK,
        "claim_work(w1)",
        store.claim_work(&w1, at(0), LONG_LEASE, 10).await,
    );
    assert!(
        !claimed_ids(&back).contains(&id_a()),
        "{CHECK}: the old holder must not get A back while w2 holds it"
    );
}

/// Reads every page of a paged read with pages of `limit`, checking each page's size and that
/// the reading ends.
async fn read_pages<T, F, Fut>(
    check: &str,
    what: &str,
    limit: usize,
    total: usize,
    mut read: F,
) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, StoreError>>,
{
    let mut all = Vec::new();
    let mut request = Some(PageRequest::first(limit));
    let mut pages = 0;
    while let Some(r) = request {
        pages += 1;
        assert!(
            pages <= total + 2,
            "{check}: {what} with pages of {limit} does not end ({pages} pages for {total} items)"
        );
        let page = ok(check, what, read(r.clone()).await);
        assert!(
            page.items.len() <= limit,
            "{check}: {what}: a page of {limit} holds {} items",
            page.items.len()
        );
        request = r.after(&page);
        all.extend(page.items);
    }
    all
}

/// A paged read with a token the store never gave: an error or an empty page, never a panic.
#[track_caller]
fn assert_bad_token<T>(check: &str, what: &str, r: Result<Page<T>, StoreError>) {
    if let Ok(page) = r {
        assert!(
            page.items.is_empty(),
            "{check}: {what} with a token the store never gave must be an error or an empty page"
        );
    }
}

/// The paged reads (integrations, listings, ledger with a filter, outbox) return every item
/// exactly once and in the documented order (integrations by id, listings by SKU, ledger rows
/// by order id, outbox entries as enqueued), with pages of 1, 3 and more than the data; pages
/// of one integration hold nothing of another; a token the store never gave is an error or
/// an empty page.
pub async fn paged_reads_cover_every_item_once(store: &dyn Store) {
    const CHECK: &str = "paged_reads_cover_every_item_once";
    let mut ids: Vec<IntegrationId> = (0..7).map(|_| IntegrationId::new()).collect();
    for id in &ids {
        add_integration(store, CHECK, *id).await;
    }
    ids.sort();
    let (a, other) = (ids[0], ids[1]);

    // SKUs whose byte order differs from case-insensitive or numeric order.
    let skus = ["b-2", "Z", "a", "10", "9", "é", "B", "a-1"];
    let listings: Vec<Listing> = skus
        .iter()
        .enumerate()
        .map(|(n, s)| listing(a, s, ListingStatus::Linked, n as u64))
        .collect();
    ok(CHECK, "put_listings", store.put_listings(&listings).await);
    ok(
        CHECK,
        "put_listing(other)",
        store
            .put_listing(&listing(other, "a-0", ListingStatus::Linked, 1))
            .await,
    );
    let mut sorted_skus: Vec<String> = skus.iter().map(|s| (*s).to_owned()).collect();
    sorted_skus.sort();

    // Ledger: imported, held and other not-imported rows interleaved.
    let held = NotImportedReason::UnmappedSku {
        skus: vec![sku("X-1")],
    };
    let mut writes = Vec::new();
    for n in 0..12 {
        let order_id = format!("ORD-{:02}", (n * 5) % 12);
        writes.push(match n % 3 {
            0 => paid_import(&order_id, at(1)),
            1 => skip(&order_id, paid(&order_id), held.clone()),
            _ => skip(
                &order_id,
                paid(&order_id),
                status_not_imported(OrderState::Cancelled, "cancelled"),
            ),
        });
    }
    ok(
        CHECK,
        "record_orders",
        store.record_orders(a, &batch(at(1), writes)).await,
    );
    ok(
        CHECK,
        "record_orders(other)",
        store
            .record_orders(other, &batch(at(1), vec![paid_import("ORD-00", at(1))]))
            .await,
    );

    // Outbox: keys enqueued out of their text order, another integration's entries between.
    let keys = ["k-9", "k-1", "k-5", "k-3", "k-7", "k-0", "k-8"];
    for (n, k) in keys.iter().enumerate() {
        ok(
            CHECK,
            "enqueue_outbox",
            store
                .enqueue_outbox(&ship_item(a, &format!("O-{n}"), k, at(n as i64)))
                .await,
        );
        ok(
            CHECK,
            "enqueue_outbox(other)",
            store
                .enqueue_outbox(&ship_item(other, &format!("P-{n}"), k, at(n as i64)))
                .await,
        );
    }

    let ledger_all: Vec<ChannelOrderId> = {
        let mut v: Vec<_> = ok(
            CHECK,
            "ledger(All)",
            store.ledger(a, LedgerFilter::All).await,
        )
        .into_iter()
        .map(|e| e.channel_order_id)
        .collect();
        v.sort();
        v
    };
    let ledger_held: Vec<ChannelOrderId> = {
        let mut v: Vec<_> = ok(
            CHECK,
            "ledger(Held)",
            store.ledger(a, LedgerFilter::Held).await,
        )
        .into_iter()
        .map(|e| e.channel_order_id)
        .collect();
        v.sort();
        v
    };
    assert_eq!(ledger_all.len(), 12);
    assert_eq!(ledger_held.len(), 4, "{CHECK}: four orders are held");

    for limit in [1, 3, 100] {
        let got: Vec<IntegrationId> = read_pages(
            CHECK,
            "integrations_page",
            limit,
            ids.len(),
            |r| async move { store.integrations_page(&r).await },
        )
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
        assert_eq!(
            got, ids,
            "{CHECK}: integrations_page({limit}) must list every integration once, by id"
        );

        let got: Vec<String> =
            read_pages(CHECK, "listings_page", limit, skus.len(), |r| async move {
                store.listings_page(a, &r).await
            })
            .await
            .into_iter()
            .map(|l| {
                assert_eq!(
                    l.integration_id, a,
                    "{CHECK}: listings_page must hold only its integration's"
                );
                l.sku.as_str().to_owned()
            })
            .collect();
        assert_eq!(
            got, sorted_skus,
            "{CHECK}: listings_page({limit}) must list every listing once, by SKU"
        );

        for (filter, want) in [
            (LedgerFilter::All, &ledger_all),
            (LedgerFilter::Held, &ledger_held),
        ] {
            let got: Vec<ChannelOrderId> =
                read_pages(CHECK, "ledger_page", limit, want.len(), |r| async move {
                    store.ledger_page(a, filter, &r).await
                })
                .await
                .into_iter()
                .map(|e| e.channel_order_id)
                .collect();
            assert_eq!(
                &got, want,
                "{CHECK}: ledger_page({filter:?}, {limit}) must list every matching row once, by order id"
            );
        }

        let got: Vec<String> =
            read_pages(CHECK, "outbox_page", limit, keys.len(), |r| async move {
                store.outbox_page(a, &r).await
            })
            .await
            .into_iter()
            .map(|e| {
                assert_eq!(
                    e.item.integration_id, a,
                    "{CHECK}: outbox_page must hold only its integration's"
                );
                e.item.idempotency_key.as_str().to_owned()
            })
            .collect();
        assert_eq!(
            got, keys,
            "{CHECK}: outbox_page({limit}) must list every entry once, as enqueued"
        );
    }

    let empty = IntegrationId::from(uuid::Uuid::from_u128(0xE0));
    add_integration(store, CHECK, empty).await;
    let page = ok(
        CHECK,
        "listings_page(no listings)",
        store.listings_page(empty, &PageRequest::first(3)).await,
    );
    assert!(
        page.items.is_empty() && page.next.is_none(),
        "{CHECK}: an integration without listings has one empty last page"
    );

    let bad = PageRequest {
        after: Some("\u{10FFFF} not a token".to_owned()),
        limit: 3,
    };
    assert_bad_token(
        CHECK,
        "integrations_page",
        store.integrations_page(&bad).await,
    );
    assert_bad_token(CHECK, "listings_page", store.listings_page(a, &bad).await);
    assert_bad_token(
        CHECK,
        "ledger_page",
        store.ledger_page(a, LedgerFilter::All, &bad).await,
    );
    assert_bad_token(CHECK, "outbox_page", store.outbox_page(a, &bad).await);
}

// ----- notifications -----

/// A notification of `id` with dedupe key `key`, written at `at(minute)`, delivered through
/// `transports`.
fn notice(
    id: IntegrationId,
    key: &str,
    minute: i64,
    transports: &[&str],
) -> marketsync_core::store::NewNotification {
    let mut n = marketsync_core::store::NewNotification::new(
        key,
        marketsync_core::notify::Notification::ConnectionRestored { integration: id },
        at(minute),
    );
    n.transports = transports.iter().map(|t| (*t).to_owned()).collect();
    n
}

/// Every message matching `query`, read in pages of `size`, newest first.
async fn every_message(
    store: &dyn Store,
    check: &str,
    query: &marketsync_core::store::MessageQuery,
    size: usize,
) -> Vec<marketsync_core::store::StoredNotification> {
    let mut out = Vec::new();
    let mut page = Some(PageRequest::first(size));
    while let Some(p) = page {
        let got = ok(check, "messages", store.messages(query, &p).await);
        assert!(
            got.items.len() <= size,
            "{check}: a page holds at most its limit"
        );
        page = p.after(&got);
        out.extend(got.items);
    }
    out
}

/// Every delivery row matching `query`.
async fn every_delivery(
    store: &dyn Store,
    check: &str,
    query: &marketsync_core::store::DeliveryQuery,
) -> Vec<marketsync_core::store::NotificationDelivery> {
    let mut out = Vec::new();
    let mut page = Some(PageRequest::first(2));
    while let Some(p) = page {
        let got = ok(check, "deliveries", store.deliveries(query, &p).await);
        page = p.after(&got);
        out.extend(got.items);
    }
    out
}

fn all_deliveries() -> marketsync_core::store::DeliveryQuery {
    marketsync_core::store::DeliveryQuery {
        state: marketsync_core::store::DeliveryFilter::All,
        ..Default::default()
    }
}

/// Notifications are written with the change that causes them or not at all:
/// `update_integration_notifying` writes them with the record (one pending delivery per named
/// transport), a conflicting update writes neither, and `record_orders` writes a batch's
/// notifications with its orders.
pub async fn notifications_are_written_with_their_change(store: &dyn Store) {
    const CHECK: &str = "notifications_are_written_with_their_change";
    use marketsync_core::store::{DeliveryState, MessageQuery};
    let record = add_integration(store, CHECK, id_a()).await;
    let first = notice(id_a(), "broken:v0", 1, &["mail", "hook"]);
    let mut next = record.clone();
    next.name = "renamed".into();
    let v = ok(
        CHECK,
        "update_integration_notifying(v0)",
        store
            .update_integration_notifying(&next, &[], std::slice::from_ref(&first))
            .await,
    );
    assert_eq!(v, 1, "{CHECK}: the update must be stored");
    let stored = ok(CHECK, "notification", store.notification(&first.id).await)
        .unwrap_or_else(|| panic!("{CHECK}: the notification must be written with the update"));
    assert_eq!(stored.integration, id_a());
    assert_eq!(stored.dedupe_key, "broken:v0");
    assert_eq!(stored.created_at, at(1));
    assert_eq!(stored.notification, first.notification);
    assert_eq!(stored.read_at, None, "{CHECK}: a new message is unread");
    let rows = every_delivery(store, CHECK, &all_deliveries()).await;
    let transports: BTreeSet<&str> = rows.iter().map(|d| d.transport.as_str()).collect();
    assert_eq!(
        transports,
        BTreeSet::from(["hook", "mail"]),
        "{CHECK}: one delivery per named transport"
    );
    for d in &rows {
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.attempts, 0);
        assert_eq!(d.notification.id, first.id);
        assert_eq!(d.last_error, None);
    }

    // A conflicting (stale) update writes nothing, its notification included.
    let lost = notice(id_a(), "broken:stale", 2, &["mail"]);
    match store
        .update_integration_notifying(&next, &[], std::slice::from_ref(&lost))
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{CHECK}: a stale update must be Conflict, got {other:?}"),
    }
    assert!(
        ok(
            CHECK,
            "notification(lost)",
            store.notification(&lost.id).await
        )
        .is_none(),
        "{CHECK}: a conflicting update must write no notification"
    );
    assert_eq!(
        every_message(store, CHECK, &MessageQuery::all(), 10)
            .await
            .len(),
        1
    );

    // Orders and their notification in one batch.
    let held = notice(id_a(), "held:0:shipping:Next Day", 3, &["mail"]);
    let mut b = batch(
        at(3),
        vec![skip(
            "H1",
            None,
            NotImportedReason::UnmappedShipping {
                text: "Next Day".into(),
            },
        )],
    );
    b.notifications = vec![held.clone()];
    ok(
        CHECK,
        "record_orders",
        store.record_orders(id_a(), &b).await,
    );
    assert!(
        ok(
            CHECK,
            "notification(held)",
            store.notification(&held.id).await
        )
        .is_some(),
        "{CHECK}: record_orders must write the batch's notifications"
    );
}

/// A dedupe key is written once per integration: a second notification with the key is
/// skipped silently (no row, no delivery), the same key in another integration is its own.
pub async fn notification_dedupe_key_is_written_once(store: &dyn Store) {
    const CHECK: &str = "notification_dedupe_key_is_written_once";
    use marketsync_core::store::MessageQuery;
    let a = add_integration(store, CHECK, id_a()).await;
    add_integration(store, CHECK, id_b()).await;
    let first = notice(id_a(), "orders-held:0:shipping:X", 1, &["mail"]);
    let again = notice(id_a(), "orders-held:0:shipping:X", 2, &["mail"]);
    let v = ok(
        CHECK,
        "update(first)",
        store
            .update_integration_notifying(&a, &[], std::slice::from_ref(&first))
            .await,
    );
    let mut a1 = a.clone();
    a1.version = v;
    ok(
        CHECK,
        "update(again)",
        store
            .update_integration_notifying(&a1, &[], std::slice::from_ref(&again))
            .await,
    );
    let mut b = batch(at(2), Vec::new());
    b.notifications = vec![notice(id_a(), "orders-held:0:shipping:X", 3, &["mail"])];
    ok(
        CHECK,
        "record_orders(again)",
        store.record_orders(id_a(), &b).await,
    );
    assert!(
        ok(
            CHECK,
            "notification(first)",
            store.notification(&first.id).await
        )
        .is_some()
    );
    assert!(
        ok(
            CHECK,
            "notification(again)",
            store.notification(&again.id).await
        )
        .is_none(),
        "{CHECK}: a second write of a dedupe key must be skipped"
    );
    assert_eq!(
        every_message(store, CHECK, &MessageQuery::all().of(id_a()), 10)
            .await
            .len(),
        1,
        "{CHECK}: one message per dedupe key"
    );
    assert_eq!(
        every_delivery(store, CHECK, &all_deliveries()).await.len(),
        1,
        "{CHECK}: a skipped notification gets no delivery"
    );
    // The same key in another integration is another cause.
    let mut other = batch(at(4), Vec::new());
    other.notifications = vec![notice(id_b(), "orders-held:0:shipping:X", 4, &["mail"])];
    ok(
        CHECK,
        "record_orders(B)",
        store.record_orders(id_b(), &other).await,
    );
    assert_eq!(
        every_message(store, CHECK, &MessageQuery::all().of(id_b()), 10)
            .await
            .len(),
        1,
        "{CHECK}: dedupe keys are per integration"
    );
}

/// Deliveries are claimed per transport, once while the lease holds (expiring by the store's
/// clock, not the caller's), only when due by the caller's clock, oldest first, each claim
/// counting an attempt; only the current lease finishes one.
pub async fn notification_deliveries_are_claimed_once_per_transport_and_lease(store: &dyn Store) {
    const CHECK: &str = "notification_deliveries_are_claimed_once_per_transport_and_lease";
    use marketsync_core::store::DeliveryUpdate;
    add_integration(store, CHECK, id_a()).await;
    let early = notice(id_a(), "k1", 1, &["mail", "hook"]);
    let late = notice(id_a(), "k2", 10, &["mail"]);
    let mut b = batch(at(1), Vec::new());
    b.notifications = vec![early.clone(), late.clone()];
    ok(
        CHECK,
        "record_orders",
        store.record_orders(id_a(), &b).await,
    );

    let got = ok(
        CHECK,
        "claim_deliveries(mail, 5)",
        store.claim_deliveries("mail", at(5), LONG_LEASE, 10).await,
    );
    assert_eq!(
        got.len(),
        1,
        "{CHECK}: only what is due by the caller's clock"
    );
    assert_eq!(got[0].notification.id, early.id);
    assert_eq!(got[0].transport, "mail");
    assert_eq!(got[0].attempts, 1, "{CHECK}: a claim counts an attempt");
    let lease = got[0]
        .lease
        .clone()
        .expect("a claimed delivery has a lease");
    assert!(
        ok(
            CHECK,
            "claim again",
            store.claim_deliveries("mail", at(5), LONG_LEASE, 10).await
        )
        .is_empty(),
        "{CHECK}: a claimed delivery is not claimed again while its lease holds"
    );
    let hook = ok(
        CHECK,
        "claim_deliveries(hook)",
        store.claim_deliveries("hook", at(5), LONG_LEASE, 10).await,
    );
    assert_eq!(
        hook.len(),
        1,
        "{CHECK}: each transport has its own delivery"
    );
    let skewed = Utc.with_ymd_and_hms(2999, 1, 1, 0, 0, 0).unwrap();
    assert!(
        ok(
            CHECK,
            "claim(hook) with a skewed clock",
            store.claim_deliveries("hook", skewed, LONG_LEASE, 10).await,
        )
        .is_empty(),
        "{CHECK}: a lease must not lapse by the caller's clock"
    );
    assert!(
        ok(
            CHECK,
            "claim(sms)",
            store.claim_deliveries("sms", at(50), LONG_LEASE, 10).await
        )
        .is_empty(),
        "{CHECK}: a transport the notification did not name has nothing"
    );
    ok(
        CHECK,
        "finish(mail)",
        store
            .finish_delivery(
                &early.id,
                "mail",
                &lease.token,
                &DeliveryUpdate::Delivered { at: at(5) },
            )
            .await,
    );

    // A short lease lapses by the store's clock and the delivery is claimed again; the old
    // holder can no longer finish it.
    let late_hook = ok(
        CHECK,
        "claim(mail, late, short)",
        store
            .claim_deliveries("mail", at(60), SHORT_LEASE, 10)
            .await,
    );
    let stale = late_hook
        .iter()
        .find(|d| d.notification.id == late.id)
        .and_then(|d| d.lease.clone())
        .unwrap_or_else(|| panic!("{CHECK}: the late notification is due at minute 60"));
    tokio::time::sleep(SHORT_LEASE).await;
    let started = std::time::Instant::now();
    let retaken = loop {
        let got = ok(
            CHECK,
            "claim(mail)",
            store.claim_deliveries("mail", at(60), LONG_LEASE, 10).await,
        );
        if let Some(d) = got.into_iter().find(|d| d.notification.id == late.id) {
            break d;
        }
        assert!(
            started.elapsed() < LAPSE_BOUND,
            "{CHECK}: a {SHORT_LEASE:?} delivery lease did not lapse by the store's clock within {LAPSE_BOUND:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        retaken.attempts, 2,
        "{CHECK}: the second claim is the second attempt"
    );
    match store
        .finish_delivery(
            &late.id,
            "mail",
            &stale.token,
            &DeliveryUpdate::Delivered { at: at(61) },
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{CHECK}: a lapsed and retaken lease must not finish: {other:?}"),
    }
    match store
        .finish_delivery(
            "no-such-notification",
            "mail",
            "t",
            &DeliveryUpdate::Delivered { at: at(61) },
        )
        .await
    {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{CHECK}: an unknown delivery must be NotFound: {other:?}"),
    }
}

/// A retry keeps the delivery pending with its last error until its time (caller's clock);
/// delivered and failed ones are never claimed again, and the listing shows each state.
pub async fn notification_delivery_retry_finish_and_failed_states(store: &dyn Store) {
    const CHECK: &str = "notification_delivery_retry_finish_and_failed_states";
    use marketsync_core::store::{DeliveryFilter, DeliveryQuery, DeliveryState, DeliveryUpdate};
    add_integration(store, CHECK, id_a()).await;
    let n1 = notice(id_a(), "k1", 0, &["mail"]);
    let n2 = notice(id_a(), "k2", 0, &["mail"]);
    let mut b = batch(at(0), Vec::new());
    b.notifications = vec![n1.clone(), n2.clone()];
    ok(
        CHECK,
        "record_orders",
        store.record_orders(id_a(), &b).await,
    );
    let claim = |minute| store.claim_deliveries("mail", at(minute), LONG_LEASE, 10);
    let got = ok(CHECK, "claim(0)", claim(0).await);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].notification.id, n1.id,
        "{CHECK}: oldest notification first"
    );
    let token = |id: &str| {
        got.iter()
            .find(|d| d.notification.id == id)
            .and_then(|d| d.lease.clone())
            .expect("leased")
            .token
    };
    ok(
        CHECK,
        "finish(n1, retry)",
        store
            .finish_delivery(
                &n1.id,
                "mail",
                &token(&n1.id),
                &DeliveryUpdate::Retry {
                    at: at(30),
                    error: "connection refused".into(),
                },
            )
            .await,
    );
    ok(
        CHECK,
        "finish(n2, failed)",
        store
            .finish_delivery(
                &n2.id,
                "mail",
                &token(&n2.id),
                &DeliveryUpdate::Failed {
                    at: at(1),
                    error: "550 no such mailbox".into(),
                },
            )
            .await,
    );
    let pending = every_delivery(store, CHECK, &DeliveryQuery::default()).await;
    assert_eq!(pending.len(), 1, "{CHECK}: the retried one waits");
    assert_eq!(pending[0].notification.id, n1.id);
    assert_eq!(pending[0].state, DeliveryState::Pending);
    assert_eq!(pending[0].next_attempt_at, at(30));
    assert_eq!(pending[0].last_error.as_deref(), Some("connection refused"));
    assert_eq!(
        pending[0].lease, None,
        "{CHECK}: a finished attempt drops its lease"
    );
    let failed = every_delivery(
        store,
        CHECK,
        &DeliveryQuery {
            state: DeliveryFilter::Failed,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].state,
        DeliveryState::Failed {
            at: at(1),
            error: "550 no such mailbox".into()
        }
    );
    assert!(
        ok(CHECK, "claim(29)", claim(29).await).is_empty(),
        "{CHECK}: a retry is not due before its time; a failed one never"
    );
    let again = ok(CHECK, "claim(30)", claim(30).await);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].notification.id, n1.id);
    assert_eq!(again[0].attempts, 2);
    let lease = again[0].lease.clone().expect("leased");
    ok(
        CHECK,
        "finish(n1, delivered)",
        store
            .finish_delivery(
                &n1.id,
                "mail",
                &lease.token,
                &DeliveryUpdate::Delivered { at: at(31) },
            )
            .await,
    );
    match store
        .finish_delivery(
            &n1.id,
            "mail",
            &lease.token,
            &DeliveryUpdate::Delivered { at: at(32) },
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{CHECK}: a finished delivery cannot be finished again: {other:?}"),
    }
    assert!(ok(CHECK, "claim(999)", claim(999).await).is_empty());
    let delivered = every_delivery(
        store,
        CHECK,
        &DeliveryQuery {
            state: DeliveryFilter::Delivered,
            integration: Some(id_a()),
            transport: Some("mail".into()),
        },
    )
    .await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].state, DeliveryState::Delivered { at: at(31) });
    assert_eq!(delivered[0].attempts, 2);
    assert!(
        every_delivery(store, CHECK, &DeliveryQuery::default())
            .await
            .is_empty(),
        "{CHECK}: nothing waits"
    );
}

/// The message list reads newest first (in the order written), per integration or all, by
/// read state, in pages covering every message once; marks read one, several or all of an
/// integration, each once.
pub async fn message_list_order_paging_and_read_marks(store: &dyn Store) {
    const CHECK: &str = "message_list_order_paging_and_read_marks";
    use marketsync_core::store::{MarkRead, MessageQuery, ReadFilter};
    add_integration(store, CHECK, id_a()).await;
    add_integration(store, CHECK, id_b()).await;
    let mut written = Vec::new();
    for i in 0..7i64 {
        let id = if i % 3 == 2 { id_b() } else { id_a() };
        let n = notice(id, &format!("k{i}"), i, &[]);
        let mut b = batch(at(i), Vec::new());
        b.notifications = vec![n.clone()];
        ok(CHECK, "record_orders", store.record_orders(id, &b).await);
        written.push(n);
    }
    let newest_first: Vec<String> = written.iter().rev().map(|n| n.id.clone()).collect();
    for size in [1, 2, 3, 10] {
        let got = every_message(store, CHECK, &MessageQuery::all(), size).await;
        let ids: Vec<String> = got.iter().map(|n| n.id.clone()).collect();
        assert_eq!(
            ids, newest_first,
            "{CHECK}: pages of {size}, newest first, each once"
        );
    }
    let of_a: Vec<String> = every_message(store, CHECK, &MessageQuery::all().of(id_a()), 2)
        .await
        .into_iter()
        .map(|n| n.id)
        .collect();
    let expected_a: Vec<String> = written
        .iter()
        .rev()
        .filter(|n| n.notification.integration() == id_a())
        .map(|n| n.id.clone())
        .collect();
    assert_eq!(of_a, expected_a, "{CHECK}: one integration's messages");

    let n = ok(
        CHECK,
        "mark_read(one)",
        store
            .mark_read(&MarkRead::one(written[0].id.clone()), at(100))
            .await,
    );
    assert_eq!(n, 1);
    let n = ok(
        CHECK,
        "mark_read(several)",
        store
            .mark_read(
                &MarkRead::Ids(vec![
                    written[0].id.clone(),
                    written[1].id.clone(),
                    "unknown".into(),
                ]),
                at(101),
            )
            .await,
    );
    assert_eq!(n, 1, "{CHECK}: only unread messages are newly marked");
    let read = every_message(
        store,
        CHECK,
        &MessageQuery {
            integration: None,
            read: ReadFilter::Read,
        },
        10,
    )
    .await;
    let read_ids: BTreeSet<String> = read.iter().map(|n| n.id.clone()).collect();
    assert_eq!(
        read_ids,
        BTreeSet::from([written[0].id.clone(), written[1].id.clone()])
    );
    let first = read.iter().find(|n| n.id == written[0].id).expect("read");
    assert_eq!(
        first.read_at,
        Some(at(100)),
        "{CHECK}: the first mark's time stays"
    );
    assert_eq!(
        every_message(store, CHECK, &MessageQuery::unread(), 3)
            .await
            .len(),
        5
    );
    let n = ok(
        CHECK,
        "mark_read(all of A)",
        store
            .mark_read(&MarkRead::Integration(id_a()), at(102))
            .await,
    );
    assert_eq!(n, 3, "{CHECK}: A's three unread messages");
    let unread: Vec<_> = every_message(store, CHECK, &MessageQuery::unread(), 3).await;
    assert!(
        unread.iter().all(|n| n.integration == id_b()) && unread.len() == 2,
        "{CHECK}: B's messages stay unread"
    );
}
