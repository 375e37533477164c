//! Mapping and settings edits through the facade, on the SQLite store in a file: two concurrent
//! `edit_mappings` both survive, and the audit log says who changed what, when, before → after.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use chrono::{TimeZone, Utc};
use marketsync::lifecycle::Change;
use marketsync::testing::MemoryChannel;
use marketsync::{
    Actor, ChannelKind, Currency, Engine, IntegrationId, IntegrationSettings, ManualClock,
    MappingSet, MemoryCatalog, MemoryNotifier, ShippingMapping, ShippingService, SqliteStore,
    Store,
};

/// A database file removed (with its WAL) when the test ends.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!(
            "marketsync-mappings-audit-{}.db",
            uuid::Uuid::new_v4()
        )))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = self.0.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }
}

fn mapping(text: &str) -> ShippingMapping {
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    ShippingMapping::new(
        text,
        ShippingService {
            name: format!("{text} service"),
            carrier: Some("UPS".into()),
            class: Some("Ground".into()),
        },
        at,
    )
    .unwrap()
}

async fn engine(db: &TempDb) -> (Engine, Arc<SqliteStore>, IntegrationId) {
    let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap(),
    ));
    let engine = Engine::new(
        store.clone(),
        Arc::new(MemoryCatalog::new()),
        Arc::new(MemoryNotifier::new()),
        clock,
    );
    let id = engine
        .create_integration(
            "Reverb shop",
            Arc::new(MemoryChannel::new(ChannelKind::Reverb)),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            Actor::User("setup".into()),
        )
        .await
        .unwrap();
    (engine, store, id)
}

/// Runs `edit` so that both concurrent edits have read the mappings before either writes: the
/// first call of each closure waits at `barrier` for the other.
fn edit_after_both_read(
    barrier: Arc<Barrier>,
    text: &'static str,
) -> impl FnMut(&mut MappingSet) + Send + 'static {
    let waited = AtomicBool::new(false);
    move |m: &mut MappingSet| {
        if !waited.swap(true, Ordering::SeqCst) {
            barrier.wait();
        }
        m.insert_shipping(mapping(text));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_edits_both_survive_and_both_are_audited() {
    let db = TempDb::new();
    let (engine, store, id) = engine(&db).await;
    let engine = Arc::new(engine);
    let barrier = Arc::new(Barrier::new(2));

    let a = tokio::spawn({
        let engine = engine.clone();
        let edit = edit_after_both_read(barrier.clone(), "Standard");
        async move {
            engine
                .edit_mappings(id, Actor::User("alice".into()), edit)
                .await
        }
    });
    let b = tokio::spawn({
        let engine = engine.clone();
        let edit = edit_after_both_read(barrier.clone(), "Express");
        async move {
            engine
                .edit_mappings(id, Actor::User("bob".into()), edit)
                .await
        }
    });
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();

    // Both edits are in the stored mappings, also after reopening the database.
    let stored = engine.mappings(id).await.unwrap();
    assert!(stored.shipping("Standard").is_some(), "{stored:?}");
    assert!(stored.shipping("Express").is_some(), "{stored:?}");
    store.close().await;
    let reopened = SqliteStore::open(db.path()).await.unwrap();
    let stored = reopened.mappings(id).await.unwrap();
    assert!(stored.shipping("Standard").is_some() && stored.shipping("Express").is_some());

    // The audit log has both, each with who, when and before → after; the second one's
    // "before" is the first one's "after".
    let log = reopened.audit_log(id).await.unwrap();
    let changes: Vec<_> = log
        .iter()
        .filter_map(|e| match &e.change {
            Change::MappingsChanged { before, after } => Some((e, before, after)),
            _ => None,
        })
        .collect();
    assert_eq!(changes.len(), 2, "{log:?}");
    let (first, first_before, first_after) = changes[0];
    let (second, second_before, second_after) = changes[1];
    assert_eq!(first_before, &MappingSet::new());
    assert_eq!(first_after.shipping_mappings().count(), 1);
    assert_eq!(second_before, first_after);
    assert_eq!(second_after, &stored);
    let mut actors = vec![first.actor.clone(), second.actor.clone()];
    actors.sort_by_key(|a| a.to_string());
    assert_eq!(
        actors,
        vec![Actor::User("alice".into()), Actor::User("bob".into())]
    );
    assert_eq!(
        first.at,
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap()
    );
    reopened.close().await;
}

#[tokio::test]
async fn a_settings_change_is_audited_with_before_and_after() {
    let db = TempDb::new();
    let (engine, store, id) = engine(&db).await;
    let before = engine.integration(id).await.unwrap().settings;
    let mut after = before.clone();
    after.created_within_days = Some(90);
    engine
        .set_settings(id, after.clone(), Actor::Support("sam".into()))
        .await
        .unwrap();
    assert_eq!(engine.integration(id).await.unwrap().settings, after);

    let log = store.audit_log(id).await.unwrap();
    let event = log
        .iter()
        .find(|e| matches!(e.change, Change::SettingsChanged { .. }))
        .unwrap_or_else(|| panic!("no settings change in {log:?}"));
    assert_eq!(event.actor, Actor::Support("sam".into()));
    assert_eq!(
        event.change,
        Change::SettingsChanged {
            before: Box::new(before.clone()),
            after: Box::new(after.clone()),
        }
    );
    // Setting the same settings again changes nothing and records nothing.
    engine
        .set_settings(id, after, Actor::User("alice".into()))
        .await
        .unwrap();
    let again = store.audit_log(id).await.unwrap();
    assert_eq!(again.len(), log.len());
    // The event reads back from its JSON as it was written (serde-compatible).
    let json = serde_json::to_string(event).unwrap();
    assert!(json.contains("\"change\":\"settings_changed\""), "{json}");
    let back: marketsync::AuditEvent = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, event);
    store.close().await;
}
