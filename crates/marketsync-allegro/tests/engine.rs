//! The adapter driven by the real engine (`Engine` + `MemoryStore` + `MemoryCatalog`) against
//! wiremock: a device-flow login through the engine, a first import by checkout forms with the
//! journal cursor stored after the last page, the next import through events, a shipment
//! through the outbox, and the credentials-expiring notice before the refresh token's 3 months.

mod common;

use std::sync::Arc;

use chrono::TimeDelta;
use common::*;
use marketsync_allegro::{AllegroChannel, AllegroConfig};
use marketsync_core::lifecycle::Event;
use marketsync_core::{
    Actor, AuthorizationCallback, AuthorizationRequest, ChannelKind, ChannelOrderId, CredentialKey,
    Currency, Cursor, Delivery, Engine, Feature, IdempotencyKey, IntegrationSettings,
    InventoryItem, Label, ManualClock, MemoryCatalog, MemoryNotifier, MemoryStore, Money,
    Notification, SecretString, Shipment, Sku, Store,
};
use marketsync_http::{Limits, RetryPolicy};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const FORM_1: &str = "29738e61-7f6a-11e8-ac45-09db60ede9d6";
const FORM_2: &str = "4a1b2c3d-0000-11e8-ac45-09db60ede9d6";

#[tokio::test]
async fn login_import_ship_and_expiry_notice() {
    let server = MockServer::start().await;
    let clock = Arc::new(ManualClock::new(now()));
    let store = Arc::new(MemoryStore::new());
    let catalog = Arc::new(MemoryCatalog::new());
    catalog.upsert(InventoryItem {
        sku: Sku::new("GTR-001").unwrap(),
        title: "Gitara".into(),
        price: Money::parse("1299.99", "PLN").unwrap(),
        quantity: 3,
        labels: Default::default(),
    });
    let notifier = Arc::new(MemoryNotifier::new());
    let engine = Engine::new(store.clone(), catalog, notifier.clone(), clock.clone())
        .with_credential_key(CredentialKey::new("k", [7; 32]));
    // A new connection: no session yet.
    let channel = AllegroChannel::new(
        AllegroConfig::builder()
            .base_url(server.uri())
            .auth_base_url(server.uri())
            .client_id(CLIENT_ID)
            .client_secret(SecretString::from(CLIENT_SECRET))
            .retry(RetryPolicy {
                max_attempts: 1,
                ..fast_retry()
            })
            .limits(Limits::none())
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
    .unwrap();
    let id = engine
        .create_integration(
            "Allegro – Gitarownia",
            Arc::new(channel),
            IntegrationSettings::new(ChannelKind::Allegro, Currency::PLN),
            Actor::System,
        )
        .await
        .unwrap();

    // Device-flow login through the engine.
    Mock::given(method("POST"))
        .and(path("/auth/oauth/device"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "user_code": "cbt3zdu4g", "device_code": "DEVICECODE-1", "expires_in": 3600, "interval": 5,
            "verification_uri": "https://allegro.pl/skojarz-aplikacje",
            "verification_uri_complete": "https://allegro.pl/skojarz-aplikacje?code=cbt3zdu4g"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ACCESS_1, REFRESH_1)))
        .expect(1)
        .mount(&server)
        .await;
    allegro("GET", "/me")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "44455566", "login": "gitarownia"})),
        )
        .mount(&server)
        .await;
    let start = engine
        .begin_authorization(
            id,
            &AuthorizationRequest {
                redirect_uri: None,
                device_flow: true,
            },
        )
        .await
        .unwrap();
    let info = engine
        .complete_authorization(
            id,
            &start.pending,
            &AuthorizationCallback::default(),
            Actor::System,
        )
        .await
        .unwrap()
        .expect("authorized");
    assert_eq!(info.account_id, "44455566");
    let must_renew_by = engine
        .credentials(id)
        .await
        .unwrap()
        .must_renew_by()
        .unwrap();
    assert_eq!(must_renew_by, now() + chrono::Months::new(3));

    for e in [
        Event::SetLabel {
            label: Some(Label::new("allegro").unwrap()),
            support_override: None,
        },
        Event::Activate,
        Event::SetFeature {
            feature: Feature::Orders,
            on: true,
            support_override: None,
        },
    ] {
        engine.apply(id, Actor::System, e).await.unwrap();
    }

    // First import: journal position, then checkout forms (two pages); cursor after the last.
    allegro("GET", "/order/event-stats")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "latestEvent": {"id": "EV-100", "occurredAt": "2026-03-05T08:59:00.000Z"}})))
        .expect(1)
        .mount(&server)
        .await;
    allegro("GET", "/order/checkout-forms")
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "checkoutForms": [checkout_form(FORM_1, "GTR-001", "READY_FOR_PROCESSING", "NEW", "r1")],
            "count": 1, "totalCount": 2})))
        .mount(&server)
        .await;
    allegro("GET", "/order/checkout-forms")
        .and(query_param("offset", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "checkoutForms": [checkout_form(FORM_2, "GTR-001", "BOUGHT", "NEW", "r9")],
            "count": 1, "totalCount": 2})))
        .mount(&server)
        .await;
    let report = engine.import_orders(id).await.unwrap();
    assert_eq!(report.pages, 2);
    assert_eq!(report.imported, [ChannelOrderId::new(FORM_1).unwrap()]);
    assert_eq!(
        report.not_imported.len(),
        1,
        "BOUGHT (unpaid) is not imported yet"
    );
    assert_eq!(report.unmapped_shipping_imported[0].1, "Allegro Kurier DPD");
    assert_eq!(
        store.cursor(id).await.unwrap(),
        Some(Cursor("EV-100".into()))
    );

    // Next run: the journal from the cursor; the unpaid order is now paid.
    allegro("GET", "/order/events")
        .and(query_param("from", "EV-100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"events": [
            event("EV-101", "READY_FOR_PROCESSING", FORM_2)]})))
        .expect(1)
        .mount(&server)
        .await;
    allegro("GET", &format!("/order/checkout-forms/{FORM_2}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(checkout_form(
            FORM_2,
            "GTR-001",
            "READY_FOR_PROCESSING",
            "NEW",
            "r10",
        )))
        .mount(&server)
        .await;
    let report = engine.import_orders(id).await.unwrap();
    assert_eq!(report.imported, [ChannelOrderId::new(FORM_2).unwrap()]);
    assert_eq!(
        store.cursor(id).await.unwrap(),
        Some(Cursor("EV-101".into()))
    );

    // A shipment through the outbox.
    allegro("GET", &format!("/order/checkout-forms/{FORM_1}/shipments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"shipments": []})))
        .mount(&server)
        .await;
    allegro_body(
        "POST",
        &format!("/order/checkout-forms/{FORM_1}/shipments"),
        json!({"carrierId": "DPD", "waybill": "0000123456789"}),
    )
    .respond_with(
        ResponseTemplate::new(201).set_body_json(json!({"id": "s1", "waybill": "0000123456789"})),
    )
    .expect(1)
    .mount(&server)
    .await;
    allegro("GET", &format!("/order/checkout-forms/{FORM_1}"))
        .respond_with(ResponseTemplate::new(200).set_body_json(checkout_form(
            FORM_1,
            "GTR-001",
            "READY_FOR_PROCESSING",
            "NEW",
            "r1",
        )))
        .mount(&server)
        .await;
    allegro_body(
        "PUT",
        &format!("/order/checkout-forms/{FORM_1}/fulfillment"),
        json!({"status": "SENT"}),
    )
    .and(query_param("checkoutForm.revision", "r1"))
    .respond_with(ResponseTemplate::new(204))
    .expect(1)
    .mount(&server)
    .await;
    engine
        .ship(
            id,
            &ChannelOrderId::new(FORM_1).unwrap(),
            Shipment {
                carrier: Some("DPD".into()),
                method: None,
                tracking_number: Some("0000123456789".into()),
                shipped_at: now(),
                lines: vec![],
                delivery: Delivery::Shipped,
            },
            Some(IdempotencyKey::new("ship-form-1").unwrap()),
        )
        .await
        .unwrap();
    let sent = engine.sync_orders(id).await.unwrap();
    assert_eq!(sent.sent.len(), 1, "{sent:?}");
    assert!(sent.failed.is_empty());

    // Nothing to say a month in; 5 days before the refresh token's 3 months: the notice.
    clock.advance(TimeDelta::days(30));
    assert_eq!(engine.check_credentials(id).await.unwrap(), None);
    clock.set(must_renew_by - TimeDelta::days(5));
    assert_eq!(
        engine.check_credentials(id).await.unwrap(),
        Some(must_renew_by)
    );
    assert!(notifier.all().iter().any(|n| matches!(
        n,
        Notification::CredentialsExpiring { expires_at, .. } if *expires_at == must_renew_by
    )));
}
