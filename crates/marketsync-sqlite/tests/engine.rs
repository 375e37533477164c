//! The engine over a `SqliteStore` file: credentials at rest are ciphertext only and a wrong or
//! missing key reads nothing and changes nothing; money round-trips exactly; orders import once.

mod common;

use std::sync::Arc;

use common::{TempDb, order, raw_pool, ready_integration, t0};
use marketsync_core::store::{Decision, ImportedOrder, LedgerWrite, OrderBatch, SightingOutcome};
use marketsync_core::{
    Capabilities, ChannelKind, ChannelOrderId, CredentialKey, Credentials, Engine, EngineError,
    ExposeSecret, Management, ManualClock, MemoryCatalog, MemoryChannel, MemoryNotifier, Money,
    Store, StoreError, VaultError,
};
use marketsync_sqlite::{SqliteOptions, SqliteStore};

fn engine(store: &Arc<SqliteStore>, key: Option<CredentialKey>) -> Engine {
    let e = Engine::new(
        store.clone(),
        Arc::new(MemoryCatalog::new()),
        Arc::new(MemoryNotifier::new()),
        Arc::new(ManualClock::new(t0())),
    );
    match key {
        Some(k) => e.with_credential_key(k),
        None => e,
    }
}

type Row = (String, Vec<u8>, Vec<u8>);

async fn credentials_row(db: &TempDb) -> Row {
    let pool = raw_pool(db.path()).await;
    let row: Row = sqlx::query_as("SELECT key_id, nonce, ciphertext FROM credentials")
        .fetch_one(&pool)
        .await
        .expect("one credentials row");
    pool.close().await;
    row
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_ciphertext_and_a_wrong_or_missing_key_changes_nothing() {
    let db = TempDb::new("credentials");
    let key = || CredentialKey::new("k1", [7; 32]);
    let id = {
        let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
        let id = ready_integration(
            &engine(&store, Some(key())),
            MemoryChannel::new(ChannelKind::Reverb),
        )
        .await;
        store.close().await;
        id
    };

    // At rest: the key id, a 24-byte nonce and ciphertext; the secret is in no file of the
    // database (main file, WAL, shared memory).
    let sealed = credentials_row(&db).await;
    assert_eq!(sealed.0, "k1");
    assert_eq!(sealed.1.len(), 24);
    for file in db.files() {
        if let Ok(bytes) = std::fs::read(&file) {
            assert!(
                !contains(&bytes, b"tok-SECRET-4711"),
                "the plaintext secret is in {}",
                file.display()
            );
        }
    }

    // A restarted host without the key, or with another key: clear errors, nothing decrypted.
    let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
    let no_key = engine(&store, None);
    match no_key.credentials(id).await {
        Err(EngineError::Vault(VaultError::KeyMissing { needed })) => {
            assert_eq!(needed.as_deref(), Some("k1"));
        }
        other => panic!("expected KeyMissing, got {other:?}"),
    }
    match no_key
        .store_credentials(id, &Credentials::api_token("overwrite-attempt"))
        .await
    {
        Err(EngineError::Vault(VaultError::KeyMissing { .. })) => {}
        other => panic!("storing without a key must be KeyMissing, got {other:?}"),
    }
    let wrong_name = engine(&store, Some(CredentialKey::new("k2", [7; 32])));
    match wrong_name.credentials(id).await {
        Err(EngineError::Vault(VaultError::WrongKey {
            supplied,
            sealed_with,
        })) => {
            assert_eq!((supplied.as_str(), sealed_with.as_str()), ("k2", "k1"));
        }
        other => panic!("expected WrongKey, got {other:?}"),
    }
    let wrong_bytes = engine(&store, Some(CredentialKey::new("k1", [8; 32])));
    assert!(matches!(
        wrong_bytes.credentials(id).await,
        Err(EngineError::Vault(VaultError::DecryptionFailed { .. }))
    ));
    store.close().await;
    assert_eq!(
        credentials_row(&db).await,
        sealed,
        "a missing or wrong key must leave the stored row byte-for-byte unchanged"
    );

    // The right key opens them.
    let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
    let Credentials::ApiToken(token) = engine(&store, Some(key())).credentials(id).await.unwrap()
    else {
        panic!("an API token was stored")
    };
    assert_eq!(token.token.expose_secret(), "tok-SECRET-4711");
    store.close().await;
    assert_eq!(credentials_row(&db).await, sealed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_round_trips_exactly_through_the_file() {
    let db = TempDb::new("money");
    let amounts = [
        "1234567890.123456789",
        "0.10",
        "0.1",
        "-0.000000000000000000000000001",
        "79228162514264337593543950335",
    ];
    let id = {
        let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
        let id = ready_integration(
            &engine(&store, Some(CredentialKey::new("k", [1; 32]))),
            MemoryChannel::new(ChannelKind::Allegro),
        )
        .await;
        let writes = amounts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let o = order(
                    &format!("PLN-{i}"),
                    "SKU-1",
                    Money::parse(a, "PLN").unwrap(),
                );
                LedgerWrite {
                    channel_order_id: o.channel_order_id.clone(),
                    order: Some(o),
                    decision: Decision::Import(ImportedOrder {
                        imported_at: t0(),
                        management: Management::Managed,
                        shipping_service: None,
                        lines: vec![],
                    }),
                }
            })
            .collect();
        store
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
        store.close().await;
        id
    };

    // Stored as decimal text, never a float.
    let pool = raw_pool(db.path()).await;
    let json: String =
        sqlx::query_scalar("SELECT entry FROM ledger WHERE channel_order_id = 'PLN-0'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert!(
        json.contains(r#""amount":"1234567890.123456789","currency":"PLN""#),
        "{json}"
    );

    // Read back from disk by a new store: exactly the same amounts, digits and scale included.
    let store = SqliteStore::open(db.path()).await.unwrap();
    for (i, a) in amounts.iter().enumerate() {
        let entry = store
            .ledger_entry(id, &ChannelOrderId::new(format!("PLN-{i}")).unwrap())
            .await
            .unwrap()
            .expect("recorded");
        let line = &entry.order.as_ref().unwrap().lines[0];
        assert_eq!(line.unit_price, Money::parse(a, "PLN").unwrap());
        assert_eq!(line.unit_price.amount().to_string(), *a);
        assert_eq!(line.unit_price.currency().to_string(), "PLN");
        assert_eq!(entry.order.as_ref().unwrap().total, Some(line.unit_price));
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_imports_once_and_reads_back_after_reopening() {
    let db = TempDb::new("engine");
    // A cursor-driven feed (no acknowledgement), three orders a page.
    let channel = MemoryChannel::new(ChannelKind::Reverb)
        .with_capabilities(Capabilities {
            orders_acknowledge: false,
            ..Capabilities::all()
        })
        .with_page_size(3);
    let catalog = Arc::new(MemoryCatalog::new());
    catalog.upsert(marketsync_core::InventoryItem {
        stock_version: None,
        sku: marketsync_core::Sku::new("SKU-1").unwrap(),
        title: "thing".into(),
        price: Money::parse("10.00", "USD").unwrap(),
        quantity: 5,
        labels: Default::default(),
    });
    let id = {
        let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
        let engine = Engine::new(
            store.clone(),
            catalog.clone(),
            Arc::new(MemoryNotifier::new()),
            Arc::new(ManualClock::new(t0())),
        )
        .with_credential_key(CredentialKey::new("k", [1; 32]));
        let id = ready_integration(&engine, channel.clone()).await;
        for n in 0..10 {
            channel.add_order(order(
                &format!("E-{n}"),
                "SKU-1",
                Money::parse("10.00", "USD").unwrap(),
            ));
        }
        let report = engine.import_orders(id).await.unwrap();
        assert_eq!(report.imported.len(), 10);
        store.close().await;
        id
    };

    // A restarted process: the ledger and the cursor are on disk; nothing imports twice even
    // when every order is downloaded again.
    let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
    let engine = Engine::new(
        store.clone(),
        catalog,
        Arc::new(MemoryNotifier::new()),
        Arc::new(ManualClock::new(t0())),
    );
    engine.register_channel(id, Arc::new(channel.clone()));
    assert_eq!(
        store.cursor(id).await.unwrap(),
        Some(marketsync_core::Cursor("10".into()))
    );
    let again = engine.import_orders(id).await.unwrap();
    assert!(again.imported.is_empty());
    let replay = store
        .record_orders(
            id,
            &OrderBatch {
                seen_at: t0(),
                writes: channel
                    .orders()
                    .into_iter()
                    .map(|o| LedgerWrite {
                        channel_order_id: o.channel_order_id.clone(),
                        order: Some(o),
                        decision: Decision::Import(ImportedOrder {
                            imported_at: t0(),
                            management: Management::Managed,
                            shipping_service: None,
                            lines: vec![],
                        }),
                    })
                    .collect(),
                cursor: None,
                notifications: Vec::new(),
                stock: Vec::new(),
            },
        )
        .await
        .unwrap();
    assert!(
        replay
            .iter()
            .all(|r| r.outcome == SightingOutcome::AlreadyImported)
    );
    let log = store.import_log(id).await.unwrap();
    assert_eq!(log.len(), 10, "one import per order: {log:?}");
    store.integrity_check().await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_a_temporary_error_and_writes_nothing() {
    let db = TempDb::new("busy");
    let store = Arc::new(
        SqliteStore::open_with(
            SqliteOptions::file(db.path()).busy_timeout(std::time::Duration::from_millis(100)),
        )
        .await
        .unwrap(),
    );
    let id = ready_integration(
        &engine(&store, Some(CredentialKey::new("k", [1; 32]))),
        MemoryChannel::new(ChannelKind::Reverb),
    )
    .await;
    let o = order(
        "LOCKED-ORDER-77",
        "SKU-1",
        Money::parse("1.00", "USD").unwrap(),
    );
    let batch = OrderBatch {
        seen_at: t0(),
        writes: vec![LedgerWrite {
            channel_order_id: o.channel_order_id.clone(),
            order: Some(o),
            decision: Decision::Import(ImportedOrder {
                imported_at: t0(),
                management: Management::Managed,
                shipping_service: None,
                lines: vec![],
            }),
        }],
        cursor: Some(marketsync_core::Cursor("cursor-secret-position".into())),
        notifications: Vec::new(),
        stock: Vec::new(),
    };

    // Another process holds the write lock.
    let raw = raw_pool(db.path()).await;
    let holder = raw.begin_with("BEGIN IMMEDIATE").await.unwrap();
    match store.record_orders(id, &batch).await {
        Err(StoreError::Backend { message, source }) => {
            assert!(
                message.contains("busy") && message.contains("temporary"),
                "{message}"
            );
            let source = source.expect("the sqlx error is the source").to_string();
            for text in [&message, &source] {
                assert!(
                    !text.contains("LOCKED-ORDER-77") && !text.contains("cursor-secret"),
                    "errors must not carry bound values: {text}"
                );
            }
        }
        other => panic!("expected a temporary backend error, got {other:?}"),
    }
    holder.rollback().await.unwrap();
    raw.close().await;

    // Nothing was written, the cursor included; once the lock is free the batch records.
    assert_eq!(store.cursor(id).await.unwrap(), None);
    assert!(
        store
            .ledger(id, marketsync_core::LedgerFilter::All)
            .await
            .unwrap()
            .is_empty()
    );
    let r = store.record_orders(id, &batch).await.unwrap();
    assert_eq!(r[0].outcome, SightingOutcome::Imported);
    assert_eq!(
        store.cursor(id).await.unwrap().map(|c| c.0),
        Some("cursor-secret-position".to_owned())
    );
    store.close().await;
}
