//! Opening a database written by an earlier schema version upgrades it in place, keeping its
//! data; a database from a newer version is refused and left alone.

mod common;

use std::borrow::Cow;
use std::sync::Arc;

use common::{TempDb, order, raw_pool, t0};
use marketsync_core::engine::store::{
    Decision, ImportedOrder, IntegrationRecord, LedgerFilter, LedgerWrite, NotImportedReason,
    NoticeState, OrderBatch, OrderOutcome, SightingOutcome, apply_write,
};
use marketsync_core::lifecycle::{ChannelRules, Context, Lifecycle};
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
    assert_eq!(SCHEMA_VERSION, 2);
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
    assert_eq!(versions, [1, 2, 99]);
    raw.close().await;
}
