//! The channel conformance suite (`marketsync_testkit::channel`) against every adapter and its
//! sandbox, through the engine and the SQLite store, registered with the testkit's behaviour
//! suite (`marketsync_testkit::behaviour_tests!`): one test per check, each with a fresh harness
//! and a fresh store, then `run_all`. Each fixture's `after` hook makes that marketplace's own
//! assertions (what its sandbox received); each module keeps the tests that are its own.

use std::sync::Arc;

use async_trait::async_trait;
use marketsync_core::{ChannelKind, Store};
use marketsync_sandbox::{AllegroHarness, ChannelAdvisorHarness, ReverbHarness, TraderaHarness};
use marketsync_sqlite::SqliteStore;
use marketsync_testkit::behaviour::{AdapterFixture, Check, SandboxFixture};

async fn sqlite() -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open_in_memory()
            .await
            .expect("open an in-memory SQLite store"),
    )
}

/// Implements `AdapterFixture` and the start of `SandboxFixture` for a fixture type; the
/// `after` hook is given as a closure-like block over `check` and `h`.
macro_rules! sandbox_fixture {
    ($fixture:ident, $kind:expr, $harness:ty, $start:expr, |$check:ident, $h:ident| $after:block) => {
        #[derive(Debug, Clone, Copy)]
        struct $fixture;

        impl AdapterFixture for $fixture {
            fn kind(&self) -> ChannelKind {
                $kind
            }
        }

        #[async_trait]
        impl SandboxFixture for $fixture {
            type Harness = $harness;

            async fn harness(&self) -> $harness {
                $start.await.expect("the sandbox starts")
            }

            async fn store(&self) -> Arc<dyn Store> {
                sqlite().await
            }

            #[allow(unused_variables)]
            async fn after(&self, $check: Check, $h: &$harness) $after
        }
    };
}

sandbox_fixture!(
    ChannelAdvisor,
    ChannelKind::ChannelAdvisor,
    ChannelAdvisorHarness,
    ChannelAdvisorHarness::start(),
    |check, h| {
        let counters = h.sandbox().counters();
        match check {
            // The injected 500 reached the adapter: the first shipment attempt failed and was
            // retried.
            Check::ship_refund_cancel_exactly_once => {
                assert_eq!(counters.server_errors, 1, "{counters:?}");
                assert_eq!(counters.get("orders.ship"), 2, "{counters:?}");
            }
            // Both failures were served: the sandbox's own 500 and its 429.
            Check::temporary_failures_lose_and_duplicate_nothing => {
                assert_eq!(counters.server_errors, 1, "{counters:?}");
                assert_eq!(counters.throttled, 1, "{counters:?}");
                for id in h.sandbox().order_ids() {
                    assert_eq!(h.sandbox().export_count(id), 1, "order {id} exported once");
                }
            }
            _ => {}
        }
    }
);

sandbox_fixture!(
    OfferUp,
    ChannelKind::OfferUp,
    ChannelAdvisorHarness,
    ChannelAdvisorHarness::start_offerup(),
    |check, h| {
        match check {
            Check::import_records_every_reason => assert_eq!(h.site_name(), "OfferUp"),
            Check::link_then_sync_only_changes => assert_eq!(h.label(), "OfferUp"),
            _ => {}
        }
    }
);

sandbox_fixture!(
    Reverb,
    ChannelKind::Reverb,
    ReverbHarness,
    ReverbHarness::start(),
    |check, h| {
        let counters = h.sandbox().counters();
        match check {
            // One PUT per listing on the first sync, none on the second, one on the third.
            Check::link_then_sync_only_changes => {
                let writes: Vec<String> = h
                    .sandbox()
                    .listing_writes()
                    .into_iter()
                    .map(|w| w.operation)
                    .collect();
                assert_eq!(writes, ["update", "update", "update"]);
            }
            // The listing was created at Reverb with its SKU, price and inventory.
            Check::publish_or_unsupported => {
                let id = h.sandbox().listing_id("CONF-NEW").expect("created by SKU");
                let l = h.sandbox().listing(id).expect("listing");
                assert_eq!(l["price"]["amount"], "5.00");
                assert_eq!(l["inventory"], 2);
            }
            // The injected 500 reached the adapter: the first shipment attempt failed, and the
            // engine's next run sent it again (the adapter does not repeat a POST by itself).
            // The refund and the cancellation are both refund requests (Reverb has no cancel
            // endpoint).
            Check::ship_refund_cancel_exactly_once => {
                assert_eq!(counters.server_errors, 1, "{counters:?}");
                assert_eq!(counters.get("orders.ship"), 2, "{counters:?}");
                assert_eq!(h.sandbox().shipments().len(), 1);
                assert_eq!(h.sandbox().refunds().len(), 2);
            }
            // Both failures were served: the sandbox's own 500 and its 429.
            Check::temporary_failures_lose_and_duplicate_nothing => {
                assert_eq!(counters.server_errors, 1, "{counters:?}");
                assert_eq!(counters.throttled, 1, "{counters:?}");
            }
            _ => {}
        }
    }
);

sandbox_fixture!(
    Allegro,
    ChannelKind::Allegro,
    AllegroHarness,
    AllegroHarness::start(),
    |check, h| {
        match check {
            // First sync: one quantity command per stock level and one price command per price;
            // the third sync ends CONF-B (Allegro has no stock of 0), after its price change.
            Check::link_then_sync_only_changes => {
                let kinds: Vec<String> =
                    h.sandbox().commands().into_iter().map(|c| c.kind).collect();
                assert_eq!(
                    kinds,
                    [
                        "quantity",
                        "quantity",
                        "price",
                        "price",
                        "price",
                        "publication"
                    ]
                );
            }
            // The offer was created from the template with the SKU as external id, the price in
            // the catalog's currency, the stock, as a draft (the check publishes without
            // `publish`).
            Check::publish_or_unsupported => {
                let id = h
                    .sandbox()
                    .offer_id_by_external("CONF-NEW")
                    .expect("created by external id");
                let offer = h.sandbox().offer(&id).expect("offer");
                assert_eq!(offer["sellingMode"]["price"]["amount"], "5.00");
                assert_eq!(offer["sellingMode"]["price"]["currency"], "USD");
                assert_eq!(offer["stock"]["available"], 2);
                assert_eq!(offer["publication"]["status"], "INACTIVE");
            }
            // One tracking number, one fulfilment change to SENT, one refund; no cancellation (a
            // seller cannot cancel on Allegro: refused without a call).
            Check::ship_refund_cancel_exactly_once => {
                assert_eq!(h.sandbox().shipments().len(), 1);
                let sent: Vec<String> = h
                    .sandbox()
                    .fulfillment_changes()
                    .into_iter()
                    .map(|f| f.status)
                    .collect();
                assert_eq!(sent, ["SENT"]);
                assert_eq!(h.sandbox().refunds().len(), 1);
            }
            // Both failures were served: the sandbox's own 500 and its 429.
            Check::temporary_failures_lose_and_duplicate_nothing => {
                let counters = h.sandbox().counters();
                assert_eq!(counters.server_errors, 1, "{counters:?}");
                assert_eq!(counters.throttled, 1, "{counters:?}");
            }
            _ => {}
        }
    }
);

sandbox_fixture!(
    Tradera,
    ChannelKind::Tradera,
    TraderaHarness,
    TraderaHarness::start(),
    |check, h| {
        let counters = h.sandbox().counters();
        match check {
            // The injected 500 reached the adapter and was retried; one shipment was recorded.
            // Tradera has no refund or cancellation call: the engine refused both without a
            // request.
            Check::ship_refund_cancel_exactly_once => {
                assert_eq!(counters.server_errors, 1, "{counters:?}");
                assert_eq!(counters.get("orders.ship"), 2, "{counters:?}");
                assert_eq!(h.sandbox().ships().len(), 1);
            }
            // Both failures were served: the sandbox's own 500 and its 429.
            Check::temporary_failures_lose_and_duplicate_nothing => {
                assert_eq!(counters.server_errors, 1, "{counters:?}");
                assert_eq!(counters.throttled, 1, "{counters:?}");
            }
            _ => {}
        }
    }
);

/// ChannelAdvisor: the whole suite, and the harness's own controls.
mod channeladvisor {
    use marketsync_core::{Money, OrderState, Sku};
    use marketsync_sandbox::ChannelAdvisorHarness;
    use marketsync_testkit::channel::{ChannelHarness, OrderSpec, Received};

    marketsync_testkit::behaviour_tests!(super::ChannelAdvisor => conformance);

    /// The harness's own controls, read back through the sandbox and the adapter's view.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn harness_controls_match_the_adapter() {
        let h = ChannelAdvisorHarness::start()
            .await
            .expect("the sandbox starts");
        let usd = |s: &str| Money::parse(s, "USD").expect("price");
        let sku = Sku::new("CTRL-1").expect("sku");
        let id = h.add_listing(&sku, usd("7.25"), 3).await;
        let seen = h.listing(&id).await.expect("listing");
        assert_eq!(seen.sku.as_ref(), Some(&sku));
        assert_eq!(seen.quantity, Some(3));
        assert_eq!(seen.price, Some(usd("7.25")));
        assert_eq!(seen.state, marketsync_core::ChannelListingState::Live);
        // The adapter sees the same product, live, under the same id.
        let page = h
            .channel()
            .list_listings(&marketsync_core::ListingQuery {
                skus: vec![sku.clone()],
                include_ended: true,
                ..Default::default()
            })
            .await
            .expect("list");
        assert_eq!(page.listings.len(), 1, "{page:?}");
        assert_eq!(page.listings[0].id, id);
        assert_eq!(page.listings[0].state, seen.state);
        h.delete_listing_outside(&id).await;
        assert_eq!(h.listing(&id).await, None);

        // Every state survives the round trip through ChannelAdvisor's three statuses.
        let channel = h.channel();
        let mut expected = Vec::new();
        for (i, state) in [
            OrderState::Unpaid,
            OrderState::PaymentPending,
            OrderState::AwaitingShipment,
            OrderState::PartiallyShipped,
            OrderState::Shipped,
            OrderState::Cancelled,
            OrderState::OnHold,
        ]
        .into_iter()
        .enumerate()
        {
            let spec = OrderSpec {
                name: format!("state-{i}"),
                created_at: chrono::Utc::now() - chrono::TimeDelta::hours(1),
                state,
                skus: vec![sku.clone()],
                shipping: "Ground".into(),
                unit_price: usd("4.99"),
            };
            expected.push((h.add_order(&spec).await, state));
        }
        let page = channel
            .fetch_orders(&marketsync_core::OrderQuery {
                cursor: None,
                created_since: None,
                states: Vec::new(),
                default_currency: marketsync_core::Currency::USD,
                page: None,
                page_size: None,
            })
            .await
            .expect("fetch");
        for (id, state) in expected {
            let order = page
                .orders
                .iter()
                .find(|o| o.channel_order_id == id)
                .unwrap_or_else(|| panic!("order {id} downloaded"));
            assert_eq!(order.status.state, state, "{}", order.status.raw);
            assert_eq!(order.shipping_method.as_deref(), Some("Ground"));
            assert_eq!(order.lines[0].unit_price, usd("4.99"));
            assert_eq!(h.received(&id, Received::Shipments).await, 0);
        }
    }
}

/// OfferUp through ChannelAdvisor: the checks of its own integration, and its site filter.
mod offerup {
    use chrono::TimeDelta;
    use marketsync_core::Clock;
    use marketsync_sandbox::ChannelAdvisorHarness;
    use marketsync_testkit::channel::{self, ChannelHarness};

    marketsync_testkit::behaviour_tests!(
        super::OfferUp => conformance[
            verify_reports_the_account,
            import_records_every_reason,
            ship_refund_cancel_exactly_once,
            link_then_sync_only_changes,
            run_all
        ]
    );

    /// The OfferUp integration downloads only OfferUp orders: an order of another site in the same
    /// ChannelAdvisor account is never seen (no outcome), while the OfferUp one imports.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn offerup_imports_only_offerup_orders() {
        let h = ChannelAdvisorHarness::start_offerup()
            .await
            .expect("the sandbox starts");
        let rig = channel::Rig::new(&h, super::sqlite().await).await;
        rig.item("CONF-OK", "10.00", 5);
        let ours = h.add_order(&rig.order("conf-offerup", &["CONF-OK"])).await;
        let other = h
            .sandbox()
            .add_order(marketsync_sandbox::channeladvisor::NewOrder {
                site_name: "eBay Fixed Price US".into(),
                site_id: 1,
                class: channel::SHIPPING_TEXT.into(),
                lines: vec![("CONF-OK".into(), 1, 1000)],
                created: Some(rig.clock.now() - TimeDelta::hours(1)),
                ..Default::default()
            });
        let report = rig.engine.import_orders(rig.id).await.expect("import");
        assert_eq!(report.imported, [ours], "{report:?}");
        let other = marketsync_core::ChannelOrderId::new(other.to_string()).expect("id");
        assert_eq!(rig.outcome(&other).await, None);
        assert!(!h.sandbox().is_exported(other.as_str().parse().expect("id")));
    }
}

/// Reverb: the whole suite, relative links and the seeded variety.
mod reverb {
    use marketsync_sandbox::ReverbHarness;
    use marketsync_testkit::channel::{self, ChannelHarness, Received};

    marketsync_testkit::behaviour_tests!(super::Reverb => conformance);

    /// The adapter follows host-relative `_links.next` hrefs as well as absolute ones: every check
    /// that pages still passes on a sandbox serving relative links.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relative_links_import_every_order() {
        let h = ReverbHarness::builder()
            .sandbox(
                marketsync_sandbox::ReverbSandbox::builder()
                    .listings(0)
                    .orders(0)
                    .relative_links(true)
                    .max_per_page(2),
            )
            .start()
            .await
            .expect("the Reverb sandbox starts");
        let rig = channel::Rig::new(&h, super::sqlite().await).await;
        rig.item("CONF-OK", "10.00", 5);
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                h.add_order(&rig.order(&format!("rel-{i}"), &["CONF-OK"]))
                    .await,
            );
        }
        let report = rig.engine.import_orders(rig.id).await.expect("import");
        for id in &ids {
            assert!(report.imported.contains(id), "{id}: {report:?}");
            assert_eq!(h.received(id, Received::Shipments).await, 0);
        }
        // Three pages of two, the second and third through host-relative links.
        assert!(h.sandbox().counters().get("orders.all") >= 3);
        assert!(
            h.sandbox()
                .requests()
                .iter()
                .any(|r| r.operation == "orders.all"
                    && r.query.as_deref().is_some_and(|q| q.contains("page=3"))),
            "the adapter followed the relative next links"
        );
    }

    /// The adapter reads every seeded order and listing: every status, local pickup, EUR and GBP
    /// orders, SKUs that need escaping and listings without a SKU, across pages.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn adapter_reads_the_seeded_variety() {
        use marketsync_core::{Currency, ListingQuery, OrderQuery, OrderState};
        let h = ReverbHarness::builder()
            .sandbox(marketsync_sandbox::ReverbSandbox::builder().seed(3))
            .start()
            .await
            .expect("the Reverb sandbox starts");
        let channel = h.channel();
        let mut query = OrderQuery {
            cursor: None,
            created_since: None,
            states: Vec::new(),
            default_currency: Currency::USD,
            page: None,
            page_size: Some(25),
        };
        let mut orders = Vec::new();
        loop {
            let page = channel.fetch_orders(&query).await.expect("fetch");
            assert!(page.rejected.is_empty(), "{:?}", page.rejected);
            orders.extend(page.orders);
            match page.next_page {
                Some(next) => query.page = Some(next),
                None => {
                    assert!(page.cursor.is_some(), "the last page carries the cursor");
                    break;
                }
            }
        }
        assert_eq!(orders.len(), h.sandbox().order_numbers().len());
        for status in marketsync_sandbox::reverb::seed::ORDER_STATUSES {
            let o = orders
                .iter()
                .find(|o| o.status.raw == *status)
                .unwrap_or_else(|| panic!("an order is {status}"));
            assert_ne!(o.status.state, OrderState::Unknown, "{status}");
        }
        assert!(
            orders
                .iter()
                .any(|o| o.local_pickup && o.shipping_address.is_none())
        );
        for code in ["EUR", "GBP"] {
            assert!(orders.iter().any(|o| o.currency.code() == code), "{code}");
        }
        for o in &orders {
            let wire = h
                .sandbox()
                .order(o.channel_order_id.as_str())
                .expect("order");
            assert_eq!(
                o.total.map(|m| m.amount().to_string()),
                wire["total"]["amount"].as_str().map(str::to_owned)
            );
            assert_eq!(o.lines.len(), 1);
        }

        let mut query = ListingQuery {
            include_ended: true,
            page_size: Some(10),
            ..Default::default()
        };
        let mut listings = Vec::new();
        loop {
            let page = channel.list_listings(&query).await.expect("list");
            listings.extend(page.listings);
            match page.next_page {
                Some(next) => query.page = Some(next),
                None => break,
            }
        }
        assert_eq!(listings.len(), h.sandbox().listing_ids().len());
        assert!(listings.iter().any(|l| l.sku.is_none()));
    }
}

/// Allegro: the whole suite.
mod allegro {
    marketsync_testkit::behaviour_tests!(super::Allegro => conformance);
}

/// Tradera: the whole suite (the harness declares SEK, so the checks price in whole kronor as
/// Tradera does).
mod tradera {
    marketsync_testkit::behaviour_tests!(super::Tradera => conformance);
}
