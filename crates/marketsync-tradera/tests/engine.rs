//! The adapter driven by the real engine (`Engine` + `MemoryStore` + `MemoryCatalog`) against
//! wiremock: the seller logs in (begin → complete through the token endpoint), orders import
//! with the cursor, a shipment goes out through the outbox, the engine warns ahead of the
//! session's hard expiry and marks the integration Broken (`LoginRequired`) once it has passed,
//! and a 401 breaks it too; reactivation starts the login again.
#![recursion_limit = "256"]

mod common;

use std::sync::Arc;

use chrono::TimeDelta;
use common::*;
use marketsync_core::lifecycle::Event;
use marketsync_core::{
    Actor, AuthorizationCallback, AuthorizationRequest, BrokenReason, ChannelKind, ChannelOrderId,
    CredentialKey, Currency, Cursor, Engine, Feature, Health, IntegrationId, IntegrationSettings,
    InventoryItem, Label, ManualClock, MemoryCatalog, MemoryNotifier, MemoryStore, Money,
    Notification, Sku, Store,
};
use marketsync_testkit::checks::{ship_through_the_outbox, tracked_shipment};
use marketsync_tradera::TraderaChannel;
use serde_json::json;
use wiremock::matchers::{body_json, header, query_param};
use wiremock::{MockServer, ResponseTemplate};

fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

struct World {
    engine: Engine,
    store: Arc<MemoryStore>,
    notifier: Arc<MemoryNotifier>,
    clock: Arc<ManualClock>,
    id: IntegrationId,
}

/// An integration created before any login, logged in through the engine, labelled, active,
/// with orders on.
async fn world(server: &MockServer) -> World {
    let clock = clock();
    let store = Arc::new(MemoryStore::new());
    let catalog = Arc::new(MemoryCatalog::new());
    for s in ["LP-ABBA-01", "LP-ABBA-02"] {
        catalog.upsert(InventoryItem {
            stock_version: None,
            sku: Sku::new(s).unwrap(),
            title: "LP".into(),
            price: Money::parse("149", "SEK").unwrap(),
            quantity: 3,
            labels: Default::default(),
        });
    }
    let notifier = Arc::new(MemoryNotifier::new());
    let engine = Engine::new(store.clone(), catalog, notifier.clone(), clock.clone())
        .with_credential_key(CredentialKey::new("k", [7; 32]));
    let channel =
        TraderaChannel::new(app_builder(server).clock(clock.clone()).build().unwrap()).unwrap();
    let id = engine
        .create_integration(
            "Tradera – Acme",
            Arc::new(channel),
            IntegrationSettings::new(ChannelKind::Tradera, Currency::SEK),
            Actor::System,
        )
        .await
        .unwrap();

    let start = engine
        .begin_authorization(id, &AuthorizationRequest::default())
        .await
        .unwrap();
    let skey = secrecy::ExposeSecret::expose_secret(&start.pending.secret).to_owned();
    app("POST", "/v4/auth/token")
        .and(body_json(json!({"userId": USER_ID, "secretKey": skey})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"authToken": TOKEN, "hardExpirationTime": "2026-04-04T09:00:00Z"}),
        ))
        .expect(1)
        .mount(server)
        .await;
    user("GET", "/v4/users/me")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": USER_ID, "alias": "acme", "currencyCode": "SEK"})),
        )
        .mount(server)
        .await;
    let info = engine
        .complete_authorization(
            id,
            &start.pending,
            &AuthorizationCallback::from_params([("userId", USER_ID.to_string())]),
            Actor::System,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.credentials_expire_at, Some(expiry()));
    for event in [
        Event::SetLabel {
            label: Some(Label::new("tradera").unwrap()),
            support_override: None,
        },
        Event::Activate,
        Event::SetFeature {
            feature: Feature::Orders,
            on: true,
            support_override: None,
        },
    ] {
        engine.apply(id, Actor::System, event).await.unwrap();
    }
    World {
        engine,
        store,
        notifier,
        clock,
        id,
    }
}

#[tokio::test]
async fn login_import_and_ship_through_the_outbox() {
    let server = MockServer::start().await;
    let w = world(&server).await;
    assert!(matches!(
        w.engine.integration(w.id).await.unwrap().lifecycle.health(),
        Health::Healthy
    ));

    user("GET", "/v4/orders")
        .and(query_param("queryDateMode", "0"))
        .and(query_param("fromDate", "2026-02-03T09:00:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            order(41_000_001, &["LP-ABBA-01"], true, "2026-03-04T10:20:00Z"),
            order(41_000_002, &["LP-ABBA-02"], true, "2026-03-04T11:00:00Z"),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let report = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(report.imported, [oid("41000001"), oid("41000002")]);
    assert_eq!(report.unmapped_shipping_imported[0].1, "PostNord Varubrev");
    assert_eq!(
        w.store.cursor(w.id).await.unwrap(),
        Some(Cursor("2026-03-04T11:00:00Z".into()))
    );

    // The next run asks by last-updated date from the cursor minus the overlap.
    user("GET", "/v4/orders")
        .and(query_param("queryDateMode", "1"))
        .and(query_param("fromDate", "2026-03-04T08:00:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([order(
            41_000_001,
            &["LP-ABBA-01"],
            true,
            "2026-03-04T10:20:00Z"
        )])))
        .expect(1)
        .mount(&server)
        .await;
    let again = w.engine.import_orders(w.id).await.unwrap();
    assert!(again.imported.is_empty());
    assert_eq!(again.already_imported, [oid("41000001")]);

    user("POST", "/v4/orders/41000001/ship")
        .and(header("x-user-token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"orderId": 41000001})))
        .expect(1)
        .mount(&server)
        .await;
    let shipment = tracked_shipment("PostNord", "PostNord Varubrev", "RR123456789SE", now());
    ship_through_the_outbox(&w.engine, w.id, &oid("41000001"), shipment).await;
}

#[tokio::test]
async fn the_engine_warns_before_the_hard_expiry_and_breaks_after_it() {
    let server = MockServer::start().await;
    let w = world(&server).await;
    // More than the 7-day warning window away: nothing yet.
    assert_eq!(w.engine.check_credentials(w.id).await.unwrap(), None);

    w.clock.set(expiry() - TimeDelta::days(3));
    assert_eq!(
        w.engine.check_credentials(w.id).await.unwrap(),
        Some(expiry())
    );
    let expiring: Vec<_> = w
        .notifier
        .all()
        .into_iter()
        .filter(|n| matches!(n, Notification::CredentialsExpiring { .. }))
        .collect();
    assert_eq!(expiring.len(), 1);
    assert!(matches!(
        expiring[0],
        Notification::CredentialsExpiring { expires_at, .. } if expires_at == expiry()
    ));

    w.clock.set(expiry() + TimeDelta::minutes(1));
    w.engine.check_credentials(w.id).await.unwrap();
    match w.engine.integration(w.id).await.unwrap().lifecycle.health() {
        Health::Broken { reason, .. } => assert_eq!(*reason, BrokenReason::LoginRequired),
        other => panic!("expected Broken, got {other:?}"),
    }

    // Repair: deactivate → reactivate starts the login again.
    w.engine.deactivate(w.id, Actor::System).await.unwrap();
    let start = w
        .engine
        .reactivate(w.id, Actor::System, &AuthorizationRequest::default())
        .await
        .unwrap();
    assert_eq!(start.url.path(), "/token-login");
    assert!(start.url.query().unwrap().contains("skey="));
}

#[tokio::test]
async fn a_401_breaks_the_integration_with_login_required() {
    let server = MockServer::start().await;
    let w = world(&server).await;
    user("GET", "/v4/orders")
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"code": "Unauthorized", "message": "The user token has expired"}}),
        ))
        .mount(&server)
        .await;
    assert!(w.engine.import_orders(w.id).await.is_err());
    match w.engine.integration(w.id).await.unwrap().lifecycle.health() {
        Health::Broken {
            reason,
            channel_message,
            ..
        } => {
            assert_eq!(*reason, BrokenReason::LoginRequired);
            assert_eq!(
                channel_message.as_deref(),
                Some("The user token has expired")
            );
        }
        other => panic!("expected Broken, got {other:?}"),
    }
    assert!(w.notifier.all().iter().any(|n| matches!(
        n,
        Notification::ConnectionBroken {
            reason: BrokenReason::LoginRequired,
            ..
        }
    )));
    // A login session is repaired by logging in again, and the notice says so.
    assert!(w.notifier.all().iter().any(|n| matches!(
        n,
        Notification::ConnectionBroken { advice, .. }
            if advice.contains("deactivate and reactivate") && advice.contains("log in")
    )));
}
