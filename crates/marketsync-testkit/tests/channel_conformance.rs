//! The channel conformance suite against MemoryChannel, in the capability shapes the real
//! adapters have, through the engine and MemoryStore.

use std::sync::Arc;

use marketsync_core::{Capabilities, ChannelKind, MemoryChannel, MemoryStore, Store};
use marketsync_testkit::channel::{self, MemoryHarness};

async fn store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

fn shapes() -> Vec<(ChannelKind, Capabilities)> {
    vec![
        // Everything supported.
        (ChannelKind::Reverb, Capabilities::all()),
        // ChannelAdvisor: no publishing, shipping mappings required, export flag.
        (
            ChannelKind::ChannelAdvisor,
            Capabilities {
                listings_publish: false,
                shipping_mappings_required: true,
                ..Capabilities::all()
            },
        ),
        // Reverb-like: a cursor feed, no seller cancellation, no reconciliation.
        (
            ChannelKind::Reverb,
            Capabilities {
                orders_acknowledge: false,
                orders_cancel: false,
                listings_reconcile: false,
                ..Capabilities::all()
            },
        ),
    ]
}

macro_rules! checks {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            for (kind, caps) in shapes() {
                let harness = MemoryHarness::new(MemoryChannel::new(kind).with_capabilities(caps));
                channel::$name(&harness, store().await).await;
            }
        }
    )*};
}

checks!(
    verify_reports_the_account,
    link_then_sync_only_changes,
    publish_or_unsupported,
    deleted_listing_becomes_broken_link,
    reconcile_plan_then_confirm,
    import_records_every_reason,
    ship_refund_cancel_exactly_once,
    temporary_failures_lose_and_duplicate_nothing,
    revoked_credentials_break_then_repair,
);

#[tokio::test]
async fn run_all_on_memory() {
    channel::run_all(
        || async { MemoryHarness::new(MemoryChannel::new(ChannelKind::Reverb)) },
        store,
    )
    .await;
}
