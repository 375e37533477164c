//! An import of more orders than one page through the engine: acknowledging (`Export`) drops
//! orders from ChannelAdvisor's `exported=false` listing, so acknowledging page by page would
//! shift the next page link's `$skip` past orders not read yet. Every order must import in one
//! run, and be exported exactly once.

use std::sync::Arc;

use marketsync_core::{MemoryStore, Store};
use marketsync_sandbox::{ChannelAdvisorHarness, ChannelAdvisorSandbox};
use marketsync_testkit::channel::{ChannelHarness, Rig};

#[tokio::test]
async fn one_run_imports_every_page_although_exporting_shrinks_the_listing() {
    let harness = ChannelAdvisorHarness::builder()
        .sandbox(
            ChannelAdvisorSandbox::builder()
                .products(0)
                .orders(0)
                .orders_page_size(10),
        )
        .start()
        .await
        .expect("the ChannelAdvisor sandbox starts");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let rig = Rig::new(&harness, store).await;
    rig.item("PAGE-SKU", "10.00", 1_000);
    for i in 0..35 {
        harness
            .add_order(&rig.order(&format!("paged-{i}"), &["PAGE-SKU"]))
            .await;
    }
    let report = rig.engine.import_orders(rig.id).await.expect("import");
    assert_eq!(
        report.imported.len(),
        35,
        "every page in one run: {report:?}"
    );
    assert_eq!(report.pages, 4, "35 orders in pages of 10");
    assert!(report.acknowledge_failed.is_empty(), "{report:?}");
    let sandbox = harness.sandbox();
    assert_eq!(sandbox.exported_orders().len(), 35);
    for id in sandbox.order_ids() {
        assert_eq!(sandbox.export_count(id), 1, "order {id} exported once");
    }
    // Nothing is left to import.
    let again = rig.engine.import_orders(rig.id).await.expect("import");
    assert!(
        again.imported.is_empty() && again.already_imported.is_empty(),
        "{again:?}"
    );
}
