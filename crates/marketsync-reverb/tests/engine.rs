//! The adapter driven by the real engine (`Engine` + `MemoryStore` + `MemoryCatalog`) against
//! wiremock: two pages of orders import with the cursor stored only once the last page is
//! recorded; the next run starts from that cursor minus the overlap; a shipment goes out through
//! the outbox.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use common::*;
use marketsync_core::{
    ChannelKind, ChannelOrderId, Credentials, Currency, Cursor, Feature, Health,
    IntegrationSettings, ManualClock, Store,
};
use marketsync_testkit::behaviour::EngineRig;
use marketsync_testkit::checks::{ship_through_the_outbox, tracked_shipment};
use serde_json::json;
use wiremock::matchers::{query_param, query_param_is_missing};
use wiremock::{MockServer, ResponseTemplate};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap()
}

fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

async fn world(server: &MockServer) -> EngineRig {
    let rig = EngineRig::new(
        "Reverb – Acme Guitars",
        Arc::new(channel(server)),
        IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
        Arc::new(ManualClock::new(now())),
    )
    .await;
    for s in ["GTR-001", "GTR-002", "GTR-003"] {
        rig.item(s, "Guitar", "1200.00", "USD", 1);
    }
    reverb("GET", "/api/shop")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 98765, "name": "Acme Guitars", "currency": "USD"})),
        )
        .mount(server)
        .await;
    rig.connect(&Credentials::api_token(TOKEN)).await;
    rig.activate("reverb", &[Feature::Orders]).await;
    rig
}

/// Page 1 (absolute next link) holds the download's highest `updated_at` (16:00 UTC); page 2
/// (the last) answers `last_page`.
async fn mount_two_pages(server: &MockServer, last_page: ResponseTemplate) {
    let next = format!(
        "{}/api/my/orders/selling/all?created_start_date=2026-02-03T09%3A00%3A00-00%3A00&page=2&per_page=100",
        server.uri()
    );
    reverb("GET", "/api/my/orders/selling/all")
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "orders",
            vec![
                order("51234567", "GTR-001", "paid", "2026-03-04T10:00:00-06:00"),
                order("51234568", "GTR-002", "paid", "2026-03-04T08:00:00-06:00"),
            ],
            Some(&next),
            1,
            2,
        )))
        .mount(server)
        .await;
    reverb("GET", "/api/my/orders/selling/all")
        .and(query_param("page", "2"))
        .respond_with(last_page)
        .mount(server)
        .await;
}

fn last_page() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(page(
        "orders",
        vec![order(
            "51234569",
            "GTR-003",
            "paid",
            "2026-03-04T09:00:00-06:00",
        )],
        None,
        2,
        2,
    ))
}

#[tokio::test]
async fn two_pages_import_and_the_cursor_is_stored_after_the_last() {
    let server = MockServer::start().await;
    let w = world(&server).await;
    mount_two_pages(&server, last_page()).await;

    let report = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(report.pages, 2);
    assert_eq!(
        report.imported,
        [oid("51234567"), oid("51234568"), oid("51234569")]
    );
    assert!(report.stopped.is_none());
    assert!(report.acknowledge_failed.is_empty(), "never acknowledged");
    // Reverb's text, imported unmapped (mappings are not required).
    assert_eq!(report.unmapped_shipping_imported.len(), 3);
    assert_eq!(report.unmapped_shipping_imported[0].1, "shipped");
    assert_eq!(
        w.store.cursor(w.id).await.unwrap(),
        Some(Cursor("2026-03-04T16:00:00Z".into())),
        "the highest updated_at, from page 1, stored with page 2"
    );
    let reqs = requests(&server).await;
    let orders: Vec<_> = reqs
        .iter()
        .filter(|r| r.url.path() == "/api/my/orders/selling/all")
        .collect();
    assert_eq!(
        raw_query(orders[0]),
        "created_start_date=2026-02-03T09%3A00%3A00-00%3A00&per_page=100",
        "the engine's 30-day window, first run"
    );
    assert!(
        !reqs.iter().any(|r| r.method.as_str() == "POST"),
        "no acknowledgement call"
    );

    // The next run: from the cursor minus five minutes; everything seen again is deduplicated.
    server.reset().await;
    reverb("GET", "/api/my/orders/selling/all")
        .and(query_param(
            "updated_start_date",
            "2026-03-04T15:55:00-00:00",
        ))
        .and(query_param(
            "created_start_date",
            "2026-02-03T09:00:00-00:00",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "orders",
            vec![order(
                "51234567",
                "GTR-001",
                "paid",
                "2026-03-04T10:00:00-06:00",
            )],
            None,
            1,
            1,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let again = w.engine.import_orders(w.id).await.unwrap();
    assert!(again.imported.is_empty());
    assert_eq!(again.already_imported, [oid("51234567")]);
    assert_eq!(
        w.store.cursor(w.id).await.unwrap(),
        Some(Cursor("2026-03-04T16:00:00Z".into()))
    );
}

#[tokio::test]
async fn a_failed_last_page_stores_no_cursor() {
    let server = MockServer::start().await;
    let w = world(&server).await;
    mount_two_pages(
        &server,
        ResponseTemplate::new(500).set_body_string("Internal Server Error"),
    )
    .await;

    let report = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(report.pages, 1);
    assert_eq!(report.imported, [oid("51234567"), oid("51234568")]);
    assert!(report.stopped.is_some(), "stopped at page 2");
    assert_eq!(
        w.store.cursor(w.id).await.unwrap(),
        None,
        "no cursor past the unread page"
    );

    // Once Reverb answers, the run reads both pages again from the same window: page 1 is
    // deduplicated, page 2 imports, and the cursor is stored.
    server.reset().await;
    reverb("GET", "/api/shop")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 98765})))
        .mount(&server)
        .await;
    mount_two_pages(&server, last_page()).await;
    let report = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(report.imported, [oid("51234569")]);
    assert_eq!(report.already_imported.len(), 2);
    assert_eq!(
        w.store.cursor(w.id).await.unwrap(),
        Some(Cursor("2026-03-04T16:00:00Z".into()))
    );
}

#[tokio::test]
async fn a_revoked_token_breaks_the_integration_with_reverbs_message() {
    let server = MockServer::start().await;
    let w = world(&server).await;
    reverb("GET", "/api/my/orders/selling/all")
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"message": "You must log in to access this endpoint"})),
        )
        .mount(&server)
        .await;
    assert!(w.engine.import_orders(w.id).await.is_err());
    let rec = w.engine.integration(w.id).await.unwrap();
    match rec.lifecycle.health() {
        Health::Broken {
            channel_message, ..
        } => assert_eq!(
            channel_message.as_deref(),
            Some("You must log in to access this endpoint")
        ),
        other => panic!("expected Broken, got {other:?}"),
    }
}

#[tokio::test]
async fn a_shipment_goes_out_through_the_outbox() {
    let server = MockServer::start().await;
    let w = world(&server).await;
    mount_two_pages(&server, last_page()).await;
    w.engine.import_orders(w.id).await.unwrap();
    reverb_body(
        "POST",
        "/api/my/orders/selling/51234567/ship",
        json!({"provider": "UPS", "tracking_number": "1Z999AA10123456784", "send_notification": true}),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
    .expect(1)
    .mount(&server)
    .await;
    let shipment = tracked_shipment("UPS", "Ground", "1Z999AA10123456784", now());
    ship_through_the_outbox(&w.engine, w.id, &oid("51234567"), shipment).await;
}
