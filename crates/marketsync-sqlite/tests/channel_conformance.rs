//! The channel conformance suite (`marketsync_testkit::channel`) with the in-memory
//! reference harness (`MemoryHarness`), through the engine and a `SqliteStore` on a temporary
//! file: every check runs against the SQLite store, not only the in-memory one.

mod common;

use std::sync::{Arc, Mutex};

use common::TempDb;
use marketsync_core::{Capabilities, ChannelKind, MemoryChannel, Store};
use marketsync_sqlite::SqliteStore;
use marketsync_testkit::channel::{self, MemoryHarness};

/// A fresh store on a fresh temporary file; the files are removed when the test ends.
async fn open(dbs: &Mutex<Vec<TempDb>>) -> Arc<dyn Store> {
    let db = TempDb::new("channel-conformance");
    let store = SqliteStore::open(db.path())
        .await
        .expect("open a file store");
    dbs.lock().unwrap_or_else(|e| e.into_inner()).push(db);
    Arc::new(store)
}

#[tokio::test]
async fn run_all_on_sqlite_file() {
    let dbs = Mutex::new(Vec::new());
    channel::run_all(
        || async { MemoryHarness::new(MemoryChannel::new(ChannelKind::Reverb)) },
        || open(&dbs),
    )
    .await;
}

#[tokio::test]
async fn run_all_on_sqlite_file_channeladvisor_shape() {
    // ChannelAdvisor's shape: no publishing, shipping mappings required.
    let caps = Capabilities {
        listings_publish: false,
        shipping_mappings_required: true,
        ..Capabilities::all()
    };
    let dbs = Mutex::new(Vec::new());
    channel::run_all(
        move || async move {
            MemoryHarness::new(
                MemoryChannel::new(ChannelKind::ChannelAdvisor).with_capabilities(caps),
            )
        },
        || open(&dbs),
    )
    .await;
}
