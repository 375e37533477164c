//! The adapter driven by the real engine (`Engine` + `MemoryStore` + `MemoryCatalog`) against
//! wiremock: a device-flow login through the engine, a first import by checkout forms with the
//! journal cursor stored after the last page, the next import through events, a shipment
//! through the outbox, the credentials-expiring notice before the refresh token's 3 months, and
//! rotated refresh tokens sealed into the store so that a restart renews with the live one.

mod common;

use std::sync::Arc;

use chrono::TimeDelta;
use common::*;
use marketsync_allegro::{AllegroChannel, AllegroConfig};
use marketsync_core::lifecycle::Event;
use marketsync_core::{
    Actor, AuthorizationCallback, AuthorizationRequest, ChannelKind, ChannelOrderId, Clock,
    CredentialKey, Currency, Cursor, Delivery, Engine, Feature, IdempotencyKey,
    IntegrationSettings, InventoryItem, Label, ManualClock, MemoryCatalog, MemoryNotifier,
    MemoryStore, Money, Notification, SecretString, Shipment, Sku, Store,
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
        stock_version: None,
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
    ready_form(FORM_2, "r10").mount(&server).await;
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
    ready_form(FORM_1, "r1").mount(&server).await;
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

fn allegro_channel(server: &MockServer, clock: Arc<ManualClock>) -> AllegroChannel {
    AllegroChannel::new(
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
            .clock(clock)
            .build()
            .unwrap(),
    )
    .unwrap()
}

/// Allegro answers `grant_type=refresh_token` with `refresh` only; any other (spent) refresh
/// token gets `invalid_grant`.
async fn mount_refresh(server: &MockServer, refresh: &str, access_out: &str, refresh_out: &str) {
    Mock::given(method("POST"))
        .and(path("/auth/oauth/token"))
        .and(wiremock::matchers::body_string(format!(
            "grant_type=refresh_token&refresh_token={refresh}"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(access_out, refresh_out)))
        .expect(1)
        .mount(server)
        .await;
}

fn stored_refresh(
    credentials: &marketsync_core::Credentials,
) -> (String, Option<chrono::DateTime<chrono::Utc>>) {
    use marketsync_core::ExposeSecret;
    let marketsync_core::Credentials::LoginSession(s) = credentials else {
        panic!("a login session is stored");
    };
    (
        s.refresh_token.as_ref().unwrap().expose_secret().to_owned(),
        s.refresh_expires_at,
    )
}

/// A renewal rotates the refresh token; the engine's sink seals the new pair into the store
/// before it is used, so after a restart the adapter renews with the live token (not the
/// spent one), and the expiry notice follows the new 3-month window.
#[tokio::test]
async fn rotated_refresh_tokens_are_stored_and_survive_a_restart() {
    const ACCESS_3: &str = "ACCESSTOKEN-c3z7";
    const REFRESH_3: &str = "REFRESHTOKEN-r3n5";
    let server = MockServer::start().await;
    let clock = Arc::new(ManualClock::new(now()));
    let store = Arc::new(MemoryStore::new());
    let catalog = Arc::new(MemoryCatalog::new());
    let notifier = Arc::new(MemoryNotifier::new());
    let key = || CredentialKey::new("k", [7; 32]);
    let engine = Engine::new(
        store.clone(),
        catalog.clone(),
        notifier.clone(),
        clock.clone(),
    )
    .with_credential_key(key());
    let id = engine
        .create_integration(
            "Allegro – Gitarownia",
            Arc::new(allegro_channel(&server, clock.clone())),
            IntegrationSettings::new(ChannelKind::Allegro, Currency::PLN),
            Actor::System,
        )
        .await
        .unwrap();
    let first = marketsync_core::credentials::LoginSession {
        user_id: None,
        token: SecretString::from(ACCESS_1),
        expires_at: now() + TimeDelta::hours(12),
        refresh_token: Some(SecretString::from(REFRESH_1)),
        refresh_expires_at: Some(now() + chrono::Months::new(3)),
    };
    engine
        .enter_credentials(
            id,
            &marketsync_core::Credentials::LoginSession(first),
            Actor::System,
        )
        .await
        .unwrap();
    allegro_with("GET", "/me", ACCESS_2)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "44455566"})))
        .mount(&server)
        .await;
    allegro_with("GET", "/me", ACCESS_3)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "44455566"})))
        .mount(&server)
        .await;

    // Twelve hours on, the access token is due: one renewal with REFRESH_1.
    mount_refresh(&server, REFRESH_1, ACCESS_2, REFRESH_2).await;
    clock.advance(TimeDelta::hours(12));
    engine.verify(id, Actor::System).await.unwrap();
    let renewed_at = clock.now();
    assert_eq!(
        stored_refresh(&engine.credentials(id).await.unwrap()),
        (
            REFRESH_2.to_owned(),
            Some(renewed_at + chrono::Months::new(3))
        )
    );

    // A restart: a new engine on the same store, a new adapter attached with what is stored.
    let restarted =
        Engine::new(store.clone(), catalog, notifier, clock.clone()).with_credential_key(key());
    restarted
        .attach_channel(id, Arc::new(allegro_channel(&server, clock.clone())))
        .await
        .unwrap();
    mount_refresh(&server, REFRESH_2, ACCESS_3, REFRESH_3).await;
    clock.advance(TimeDelta::hours(12));
    restarted.verify(id, Actor::System).await.unwrap();
    assert_eq!(
        stored_refresh(&restarted.credentials(id).await.unwrap()).0,
        REFRESH_3
    );
    // The expiry notice follows the newest window, not the first login's.
    assert_eq!(
        restarted.credentials(id).await.unwrap().must_renew_by(),
        Some(clock.now() + chrono::Months::new(3))
    );
    let refreshes: Vec<String> = requests(&server)
        .await
        .iter()
        .filter(|r| r.url.path() == "/auth/oauth/token")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(
        refreshes,
        [
            format!("grant_type=refresh_token&refresh_token={REFRESH_1}"),
            format!("grant_type=refresh_token&refresh_token={REFRESH_2}"),
        ],
        "each refresh token used once, the spent one never again"
    );
}
