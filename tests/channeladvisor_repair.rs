//! A ChannelAdvisor connection broken by a revoked refresh token: the engine's advice names the
//! route that repairs it (a new refresh token, entered, then verified), and following exactly
//! that route — through the engine, the ChannelAdvisor adapter and its sandbox — makes the
//! integration Healthy and exchanging data again.

use std::sync::Arc;

use marketsync::lifecycle::{Blocked, Health};
use marketsync::{
    Actor, BrokenReason, CredentialKind, EngineError, Notification, SqliteStore, Store,
};
use marketsync_sandbox::ChannelAdvisorHarness;
use marketsync_testkit::channel::{ChannelHarness, Rig};

fn seller() -> Actor {
    Actor::User("seller".into())
}

#[tokio::test]
async fn the_advised_route_repairs_a_revoked_refresh_token() {
    let harness = ChannelAdvisorHarness::start().await.expect("sandbox");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().await.expect("store"));
    let rig = Rig::new(&harness, store).await;
    assert_eq!(harness.credentials().kind(), CredentialKind::OAuth);

    // The seller revokes the refresh token at ChannelAdvisor (or it lapses): the token endpoint
    // refuses it and the integration is Broken, diagnosed as "log in again".
    harness.revoke_credentials().await;
    let err = rig.engine.verify(rig.id, seller()).await.unwrap_err();
    assert!(matches!(err, EngineError::Channel(_)), "{err}");
    let rec = rig.engine.integration(rig.id).await.unwrap();
    assert!(
        matches!(
            rec.lifecycle.health(),
            Health::Broken {
                reason: BrokenReason::LoginRequired,
                ..
            }
        ),
        "{:?}",
        rec.lifecycle.health()
    );

    // The notice tells the seller the ChannelAdvisor way: a new refresh token, then verify —
    // not the login-session way (deactivate, reactivate, log in).
    let advice = rig
        .notifier
        .all()
        .into_iter()
        .find_map(|n| match n {
            Notification::ConnectionBroken { advice, .. } => Some(advice),
            _ => None,
        })
        .expect("a connection-broken notice");
    assert!(advice.contains("new refresh token"), "{advice}");
    assert!(advice.contains("verify"), "{advice}");
    assert!(!advice.contains("deactivate"), "{advice}");
    assert_eq!(
        advice,
        BrokenReason::LoginRequired.advice_for(CredentialKind::OAuth)
    );

    // Nothing is exchanged while broken.
    assert!(matches!(
        rig.engine.import_orders(rig.id).await,
        Err(EngineError::Blocked {
            blocked: Blocked::Broken { .. },
            ..
        })
    ));

    // The advised route, exactly: a new refresh token created at ChannelAdvisor, entered, then
    // verified. The engine hands the new token to the adapter (`Channel::use_credentials`); the
    // adapter was built with the revoked one and is not rebuilt or re-registered.
    let fresh = harness.new_credentials().await;
    rig.engine
        .enter_credentials(rig.id, &fresh, seller())
        .await
        .expect("enter the new refresh token");
    let account = rig
        .engine
        .verify(rig.id, seller())
        .await
        .expect("verify with the new refresh token");
    assert!(!account.account_id.is_empty());
    let rec = rig.engine.integration(rig.id).await.unwrap();
    assert!(
        matches!(rec.lifecycle.health(), Health::Healthy),
        "{:?}",
        rec.lifecycle.health()
    );
    rig.engine
        .import_orders(rig.id)
        .await
        .expect("orders import again after the repair");
    assert!(
        rig.notifier
            .all()
            .iter()
            .any(|n| matches!(n, Notification::ConnectionRestored { .. }))
    );
}
