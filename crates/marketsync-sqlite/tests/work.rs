//! Migration 0005 and work shared by several stores on one file: a version 4 database keeps
//! its credentials (now version 1) and its integrations' work is due at once; workers on
//! separate stores (separate connection pools, as separate processes have) claim each
//! integration once and race for a named lease with one winner.

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{TempDb, t0};
use marketsync_core::lifecycle::{ChannelRules, Context, Lifecycle};
use marketsync_core::store::{IntegrationRecord, NoticeState, WorkerId};
use marketsync_core::vault::SealedCredentials;
use marketsync_core::{
    Actor, ChannelKind, Currency, IntegrationId, IntegrationSettings, Store, StoreError,
};
use marketsync_sqlite::SqliteStore;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use tokio::task::JoinSet;

const LEASE: Duration = Duration::from_secs(600);

/// The schema as it was before migration 0005.
fn schema_v4() -> Migrator {
    let sql = [
        (1, include_str!("../migrations/0001_initial.sql")),
        (
            2,
            include_str!("../migrations/0002_ledger_outcome_and_import_log.sql"),
        ),
        (
            3,
            include_str!("../migrations/0003_outbox_keys_per_integration.sql"),
        ),
        (4, include_str!("../migrations/0004_mappings_version.sql")),
    ];
    let names = [
        "initial",
        "ledger outcome and import log",
        "outbox keys per integration",
        "mappings version",
    ];
    Migrator::with_migrations(
        sql.iter()
            .zip(names)
            .map(|(&(version, sql), name)| {
                Migration::new(
                    version,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

fn record(id: IntegrationId) -> IntegrationRecord {
    let (lifecycle, _) =
        Lifecycle::create(ChannelRules::default(), &Context::at(Actor::System, t0()));
    IntegrationRecord {
        id,
        name: format!("shop {id}"),
        channel: ChannelKind::Reverb,
        lifecycle,
        settings: IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
        notices: NoticeState::default(),
        version: 0,
    }
}

#[tokio::test]
async fn a_version_4_database_gets_versioned_credentials_and_due_work() {
    let db = TempDb::new("v4-work");
    let (with_credentials, without) = (IntegrationId::new(), IntegrationId::new());
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
    schema_v4().run(&pool).await.unwrap();
    for id in [with_credentials, without] {
        sqlx::query("INSERT INTO integrations (id, version, record) VALUES (?1, 0, ?2)")
            .bind(id.to_string())
            .bind(serde_json::to_string(&record(id)).unwrap())
            .execute(&pool)
            .await
            .unwrap();
    }
    let sealed = SealedCredentials {
        key_id: "2026-11".into(),
        nonce: vec![7; 24],
        ciphertext: vec![0, 1, 2, 255],
    };
    sqlx::query(
        "INSERT INTO credentials (integration_id, key_id, nonce, ciphertext) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(with_credentials.to_string())
    .bind(&sealed.key_id)
    .bind(&sealed.nonce)
    .bind(&sealed.ciphertext)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = SqliteStore::open(db.path()).await.unwrap();
    let read = store
        .credentials_versioned(with_credentials)
        .await
        .unwrap()
        .expect("credentials kept");
    assert_eq!(
        (read.sealed.ciphertext.clone(), read.version),
        (sealed.ciphertext.clone(), 1)
    );
    assert!(matches!(
        store
            .replace_credentials(with_credentials, &sealed, 0)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .replace_credentials(with_credentials, &sealed, 1)
            .await
            .unwrap(),
        2
    );
    let worker = WorkerId::new("upgraded");
    let mut claimed: Vec<IntegrationId> = store
        .claim_work(&worker, t0(), LEASE, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.integration)
        .collect();
    claimed.sort();
    let mut both = vec![with_credentials, without];
    both.sort();
    assert_eq!(
        claimed, both,
        "every integration from before 0005 is due at once"
    );
    store.integrity_check().await.unwrap();
    store.close().await;
}

/// Four workers, two on each of two stores opened on one file, claim 30 integrations
/// concurrently (claim a few, release them to later, repeat): each is claimed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_on_separate_stores_claim_each_integration_once() {
    let db = TempDb::new("work-two-stores");
    let first = Arc::new(SqliteStore::open(db.path()).await.unwrap());
    let second = Arc::new(SqliteStore::open(db.path()).await.unwrap());
    let mut ids = Vec::new();
    for _ in 0..30 {
        let id = IntegrationId::new();
        first.insert_integration(&record(id), &[]).await.unwrap();
        ids.push(id);
    }
    let later = t0() + chrono::TimeDelta::hours(1);
    let mut tasks = JoinSet::new();
    for n in 0..4 {
        let store = if n % 2 == 0 {
            Arc::clone(&first)
        } else {
            Arc::clone(&second)
        };
        tasks.spawn(async move {
            let worker = WorkerId::new(&format!("worker-{n}"));
            let mut mine = Vec::new();
            loop {
                let claims = store.claim_work(&worker, t0(), LEASE, 3).await.unwrap();
                if claims.is_empty() {
                    return mine;
                }
                for c in claims {
                    store
                        .release_work(c.integration, &worker, later)
                        .await
                        .unwrap();
                    mine.push(c.integration);
                }
            }
        });
    }
    let mut counts: BTreeMap<IntegrationId, usize> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        for id in done.unwrap() {
            *counts.entry(id).or_default() += 1;
        }
    }
    assert_eq!(counts.len(), ids.len(), "every integration must be claimed");
    assert!(
        counts.values().all(|n| *n == 1),
        "each integration must be claimed once: {counts:?}"
    );

    // A named lease raced from both stores: one winner.
    let mut racers = JoinSet::new();
    for n in 0..8 {
        let store = if n % 2 == 0 {
            Arc::clone(&first)
        } else {
            Arc::clone(&second)
        };
        racers.spawn(async move {
            store
                .try_lease("renew-credentials", &format!("racer-{n}"), LEASE)
                .await
                .unwrap()
        });
    }
    let mut winners = 0;
    while let Some(won) = racers.join_next().await {
        winners += usize::from(won.unwrap());
    }
    assert_eq!(winners, 1, "exactly one racer must get the lease");
    first.close().await;
    second.close().await;
}
