//! Opening a database written by an earlier schema version upgrades it in place, keeping its
//! data; a database from a newer version is refused and left alone.

mod common;

use std::borrow::Cow;
use std::sync::Arc;

use common::{TempDb, order, raw_pool, t0};
use marketsync_core::lifecycle::{ChannelRules, Context, Lifecycle};
use marketsync_core::store::support::apply_write;
use marketsync_core::store::{
    Decision, ImportedOrder, IntegrationRecord, LedgerFilter, LedgerWrite, NotImportedReason,
    NoticeState, OrderBatch, OrderOutcome, SightingOutcome,
};
use marketsync_core::{
    Actor, Capabilities, ChannelKind, ChannelOrderId, Currency, IntegrationId, IntegrationSettings,
    Management, Money, Sku, Store, StoreError,
};
use marketsync_sqlite::{SCHEMA_VERSION, SqliteStore};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// The schema as version 0.1.0 of this crate shipped it: migration 0001 only.
fn schema_v1() -> Migrator {
    Migrator::with_migrations(vec![Migration::new(
        1,
        Cow::Borrowed("initial"),
        MigrationType::Simple,
        include_str!("../migrations/0001_initial.sql").into_sql_str(),
        false,
    )])
}

fn record(id: IntegrationId) -> IntegrationRecord {
    let (lifecycle, _) = Lifecycle::create(
        ChannelRules::from(&Capabilities::all()),
        &Context::at(Actor::System, t0()),
    );
    IntegrationRecord {
        id,
        name: "Allegro — outlet".into(),
        channel: ChannelKind::Allegro,
        lifecycle,
        settings: IntegrationSettings::new(ChannelKind::Allegro, Currency::PLN),
        notices: NoticeState::default(),
        version: 3,
    }
}

fn imported() -> Decision {
    Decision::Import(ImportedOrder {
        imported_at: t0(),
        management: Management::Managed,
        shipping_service: None,
        lines: vec![],
    })
}

#[tokio::test]
async fn a_version_1_database_is_upgraded_in_place() {
    let db = TempDb::new("migrate");
    let id = IntegrationId::new();
    let price = Money::parse("1234567890.123456789", "PLN").unwrap();

    // A database as the first schema wrote it, with data.
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db.path())
                .create_if_missing(true)
                .foreign_keys(true),
        )
        .await
        .unwrap();
    schema_v1().run(&pool).await.unwrap();
    let rec = record(id);
    sqlx::query("INSERT INTO integrations (id, version, record) VALUES (?1, ?2, ?3)")
        .bind(id.to_string())
        .bind(3_i64)
        .bind(serde_json::to_string(&rec).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    let mut ledger = Vec::new();
    for (oid, decision) in [
        ("V1-imported", imported()),
        (
            "V1-held",
            Decision::Skip {
                reason: NotImportedReason::UnmappedSku {
                    skus: vec![Sku::new("GTR-1").unwrap()],
                },
            },
        ),
    ] {
        let o = order(oid, "GTR-1", price);
        let write = LedgerWrite {
            channel_order_id: o.channel_order_id.clone(),
            order: Some(o),
            decision,
        };
        let (entry, _) = apply_write(id, None, &write, t0());
        sqlx::query(
            "INSERT INTO ledger (integration_id, channel_order_id, entry) VALUES (?1, ?2, ?3)",
        )
        .bind(id.to_string())
        .bind(oid)
        .bind(serde_json::to_string(&entry).unwrap())
        .execute(&pool)
        .await
        .unwrap();
        ledger.push(entry);
    }
    sqlx::query("INSERT INTO cursors (integration_id, cursor) VALUES (?1, 'page-7')")
        .bind(id.to_string())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    // Opening with the store migrates it to the current schema.
    let store = SqliteStore::open(db.path()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);

    // The data is all there.
    assert_eq!(store.integration(id).await.unwrap(), Some(rec));
    assert_eq!(
        store.cursor(id).await.unwrap().map(|c| c.0),
        Some("page-7".to_owned())
    );
    ledger.sort_by(|a, b| a.channel_order_id.cmp(&b.channel_order_id));
    let mut all = store.ledger(id, LedgerFilter::All).await.unwrap();
    all.sort_by(|a, b| a.channel_order_id.cmp(&b.channel_order_id));
    assert_eq!(all, ledger);
    let held = store.ledger(id, LedgerFilter::Held).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].channel_order_id.as_str(), "V1-held");
    assert_eq!(
        held[0].order.as_ref().unwrap().lines[0].unit_price,
        price,
        "money survives the upgrade exactly"
    );

    // The new schema: the outcome column is backfilled and indexed, the import log holds the
    // order imported before the upgrade.
    let raw = raw_pool(db.path()).await;
    let outcomes: Vec<(String, String)> =
        sqlx::query_as("SELECT channel_order_id, outcome FROM ledger ORDER BY channel_order_id")
            .fetch_all(&raw)
            .await
            .unwrap();
    assert_eq!(
        outcomes,
        vec![
            ("V1-held".to_owned(), "not_imported".to_owned()),
            ("V1-imported".to_owned(), "imported".to_owned()),
        ]
    );
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN \
         ('ledger_by_outcome', 'import_log_by_order') ORDER BY name",
    )
    .fetch_all(&raw)
    .await
    .unwrap();
    assert_eq!(indexes, ["import_log_by_order", "ledger_by_outcome"]);
    raw.close().await;
    let log = store.import_log(id).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].channel_order_id.as_str(), "V1-imported");
    assert_eq!(log[0].imported_at, t0());

    // And the upgraded database works: the old import stays the only one, the held order
    // imports now.
    let writes = ["V1-imported", "V1-held"]
        .map(|oid| {
            let o = order(oid, "GTR-1", price);
            LedgerWrite {
                channel_order_id: o.channel_order_id.clone(),
                order: Some(o),
                decision: imported(),
            }
        })
        .to_vec();
    let r = store
        .record_orders(
            id,
            &OrderBatch {
                seen_at: t0(),
                writes,
                cursor: None,
                notifications: Vec::new(),
                stock: Vec::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(r[0].outcome, SightingOutcome::AlreadyImported);
    assert_eq!(r[1].outcome, SightingOutcome::Imported);
    assert!(
        store
            .ledger(id, LedgerFilter::Held)
            .await
            .unwrap()
            .is_empty()
    );
    let held_now = store
        .ledger_entry(id, &ChannelOrderId::new("V1-held").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held_now.outcome, OrderOutcome::Imported);
    assert_eq!(store.import_log(id).await.unwrap().len(), 2);
    store.integrity_check().await.unwrap();
    store.close().await;

    // Opening again finds nothing to do.
    let again = SqliteStore::open(db.path()).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(again.import_log(id).await.unwrap().len(), 2);
    again.close().await;
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused_and_left_alone() {
    let db = TempDb::new("newer");
    let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
    store.close().await;
    let raw = raw_pool(db.path()).await;
    // What this build applied (migration numbers are assigned ahead, so there may be gaps).
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&raw)
            .await
            .unwrap();
    assert_eq!(applied.last(), Some(&SCHEMA_VERSION));
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', TRUE, x'00', 0)",
    )
    .execute(&raw)
    .await
    .unwrap();
    raw.close().await;
    match SqliteStore::open(db.path()).await {
        Err(StoreError::Backend { message, .. }) => {
            assert!(message.contains("newer marketsync"), "{message}");
            assert!(message.contains("99"), "{message}");
        }
        other => panic!("expected a clear refusal, got {other:?}"),
    }
    let raw = raw_pool(db.path()).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&raw)
            .await
            .unwrap();
    let want: Vec<i64> = applied.into_iter().chain([99]).collect();
    assert_eq!(versions, want);
    raw.close().await;
}

/// The schema as version 2 left it: migrations 0001 and 0002 (outbox keys unique in the whole
/// table).
fn schema_v2() -> Migrator {
    Migrator::with_migrations(
        [
            (1, "initial", include_str!("../migrations/0001_initial.sql")),
            (
                2,
                "ledger outcome and import log",
                include_str!("../migrations/0002_ledger_outcome_and_import_log.sql"),
            ),
        ]
        .into_iter()
        .map(|(v, d, sql)| {
            Migration::new(
                v,
                Cow::Borrowed(d),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect(),
    )
}

fn ship(
    id: IntegrationId,
    order: &str,
    key: &str,
    tracking: &str,
) -> marketsync_core::store::OutboxItem {
    marketsync_core::store::OutboxItem {
        integration_id: id,
        order_id: ChannelOrderId::new(order).unwrap(),
        action: marketsync_core::store::OutboxAction::Ship(marketsync_core::Shipment {
            carrier: Some("UPS".into()),
            method: None,
            tracking_number: Some(tracking.into()),
            shipped_at: t0(),
            lines: vec![],
            delivery: Default::default(),
        }),
        idempotency_key: marketsync_core::IdempotencyKey::new(key).unwrap(),
        created_at: t0(),
    }
}

#[tokio::test]
async fn a_version_2_outbox_keeps_its_entries_and_scopes_keys_per_integration() {
    use marketsync_core::store::{OutboxEntry, OutboxState};
    let db = TempDb::new("migrate-v2-outbox");
    let (a, b) = (IntegrationId::new(), IntegrationId::new());
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db.path())
                .create_if_missing(true)
                .foreign_keys(true),
        )
        .await
        .unwrap();
    schema_v2().run(&pool).await.unwrap();
    for id in [a, b] {
        sqlx::query("INSERT INTO integrations (id, version, record) VALUES (?1, ?2, ?3)")
            .bind(id.to_string())
            .bind(3_i64)
            .bind(serde_json::to_string(&record(id)).unwrap())
            .execute(&pool)
            .await
            .unwrap();
    }
    // A's two entries, the first already sent, as version 2 wrote them.
    let mut before = Vec::new();
    for (order, key, sent) in [("V2-1", "ship-V2-1", true), ("V2-2", "ship-V2-2", false)] {
        let entry = OutboxEntry {
            item: ship(a, order, key, "1ZV2"),
            state: if sent {
                OutboxState::Sent { at: t0() }
            } else {
                OutboxState::Pending
            },
            attempts: u32::from(sent),
            next_attempt_at: t0(),
            lease: None,
            last_error: None,
        };
        sqlx::query(
            "INSERT INTO outbox (idempotency_key, integration_id, state, entry) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(key)
        .bind(a.to_string())
        .bind(if sent { "sent" } else { "pending" })
        .bind(serde_json::to_string(&entry).unwrap())
        .execute(&pool)
        .await
        .unwrap();
        before.push(entry);
    }
    // Version 2 refused the same key in another integration.
    assert!(
        sqlx::query(
            "INSERT INTO outbox (idempotency_key, integration_id, state, entry) VALUES ('ship-V2-1', ?1, 'pending', '{}')",
        )
        .bind(b.to_string())
        .execute(&pool)
        .await
        .is_err(),
        "version 2's keys are unique in the whole table"
    );
    pool.close().await;

    let store = SqliteStore::open(db.path()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.outbox(a).await.unwrap(),
        before,
        "every entry survives the upgrade, in order"
    );
    // The pending one is still claimable, and only it.
    let claimed = store
        .claim_outbox(a, t0(), std::time::Duration::from_secs(300), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].item.order_id.as_str(), "V2-2");

    // Keys are per integration now: B uses A's key for its own order.
    let b_item = ship(b, "V2-1", "ship-V2-1", "1ZB");
    let b_entry = store.enqueue_outbox(&b_item).await.unwrap();
    assert_eq!(b_entry.item, b_item);
    assert_eq!(store.outbox(b).await.unwrap().len(), 1);
    // And within A the same key with other content is refused.
    match store
        .enqueue_outbox(&ship(a, "V2-1", "ship-V2-1", "1ZOTHER"))
        .await
    {
        Err(StoreError::KeyReused { differs, .. }) => assert_eq!(differs, ["tracking number"]),
        other => panic!("expected KeyReused, got {other:?}"),
    }
    let raw = raw_pool(db.path()).await;
    let unique: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, \"unique\" FROM pragma_index_list('outbox') ORDER BY name")
            .fetch_all(&raw)
            .await
            .unwrap();
    assert!(
        unique.contains(&("outbox_key_per_integration".to_owned(), 1)),
        "{unique:?}"
    );
    assert!(
        !unique
            .iter()
            .any(|(n, _)| n.starts_with("sqlite_autoindex")),
        "no unique constraint on the key alone is left: {unique:?}"
    );
    raw.close().await;
    store.integrity_check().await.unwrap();
    store.close().await;
}

/// Migration 0004: mappings stored before it keep their content and start at version 0, so the
/// first compare-and-swap edit expects 0 and a stale one is refused.
#[tokio::test]
async fn mappings_stored_before_versioning_start_at_version_0() {
    use marketsync_core::mapping::{MappingSet, ShippingMapping, ShippingService};
    use marketsync_core::store::Store as _;

    let db = TempDb::new("mappings-version");
    let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
    let engine = marketsync_core::Engine::new(
        store.clone(),
        Arc::new(marketsync_core::MemoryCatalog::new()),
        Arc::new(marketsync_core::MemoryNotifier::new()),
        Arc::new(marketsync_core::ManualClock::new(chrono::Utc::now())),
    );
    let id = engine
        .create_integration(
            "Reverb",
            Arc::new(marketsync_core::MemoryChannel::new(
                marketsync_core::ChannelKind::Reverb,
            )),
            marketsync_core::IntegrationSettings::new(
                marketsync_core::ChannelKind::Reverb,
                marketsync_core::Currency::USD,
            ),
            marketsync_core::Actor::System,
        )
        .await
        .unwrap();
    store.close().await;
    // A row written without a version, as every row from before 0004 is: the column's
    // default (what `ALTER TABLE .. ADD COLUMN` gives existing rows) applies.
    let raw = raw_pool(db.path()).await;
    let mut set = MappingSet::new();
    set.insert_shipping(
        ShippingMapping::new(
            "Standard",
            ShippingService {
                name: "UPS Ground".into(),
                carrier: None,
                class: None,
            },
            chrono::Utc::now(),
        )
        .unwrap(),
    );
    sqlx::query("INSERT INTO mappings (integration_id, mappings) VALUES (?1, ?2)")
        .bind(id.to_string())
        .bind(serde_json::to_string(&set).unwrap())
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    let store = SqliteStore::open(db.path()).await.unwrap();
    let read = store.mappings_versioned(id).await.unwrap();
    assert_eq!((read.mappings, read.version), (set.clone(), 0));
    assert!(matches!(
        store.replace_mappings(id, &MappingSet::new(), 1, &[]).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .replace_mappings(id, &MappingSet::new(), 0, &[])
            .await
            .unwrap(),
        1
    );
    store.close().await;
}
