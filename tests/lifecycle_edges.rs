//! Deleting and Live-only changes at the seller's edges, through the facade: delete goes only
//! through a plan that lists every order the seller is still responsible for; only support
//! makes the changes Live reserves to support; a broken connection keeps the channel's own
//! words apart from ours.

mod common;

use chrono::TimeDelta;
use common::*;
use marketsync::lifecycle::{DeletePlan, Event, LifecycleError};
use marketsync::{
    Actor, BrokenReason, EngineError, ErrorKind, Feature, Health, Label, Management, Operation,
    OrderOutcome, Phase, Store, SupportOverride,
};

fn delete_with(plan: DeletePlan) -> Event {
    Event::Delete {
        confirmation: plan.confirm(),
    }
}

fn empty_plan() -> DeletePlan {
    DeletePlan {
        unfulfilled_orders: Vec::new(),
        held_orders: Vec::new(),
        third_party_orders: Vec::new(),
        notices: Vec::new(),
        planned_at: t0(),
    }
}

/// One third-party-managed order (fulfilments off when imported), one managed unfulfilled
/// order, and one held for an unmapped shipping text.
async fn world_with_open_orders() -> World {
    let w = world(export_flag_caps()).await;
    let fulfilments = |on: bool| Event::SetFeature {
        feature: Feature::Fulfillments,
        on,
        support_override: None,
    };
    w.engine
        .apply(w.id, seller(), fulfilments(false))
        .await
        .unwrap();
    w.channel.add_order(order("TP-1", t0(), "A", "Standard"));
    w.engine.import_orders(w.id).await.unwrap();
    w.engine
        .apply(w.id, seller(), fulfilments(true))
        .await
        .unwrap();
    w.channel.add_order(order("M-1", t0(), "A", "Standard"));
    w.channel.add_order(order("H-1", t0(), "A", "Courier"));
    w.engine.import_orders(w.id).await.unwrap();
    let tp = w
        .store
        .ledger_entry(w.id, &oid("TP-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        tp.imported.unwrap().management,
        Management::ThirdPartyManaged
    );
    assert!(matches!(
        outcome(&w, "H-1").await,
        OrderOutcome::NotImported { .. }
    ));
    w
}

#[tokio::test]
async fn the_delete_plan_lists_every_order_the_seller_is_responsible_for_by_kind() {
    let w = world_with_open_orders().await;
    let plan = w.engine.plan_delete(w.id).await.unwrap();
    assert_eq!(plan.unfulfilled_orders, vec![oid("M-1")]);
    assert_eq!(plan.held_orders, vec![oid("H-1")]);
    assert_eq!(plan.third_party_orders, vec![oid("TP-1")]);
    assert!(
        plan.notices.iter().any(|n| n.contains("not imported")),
        "{:?}",
        plan.notices
    );
    assert!(
        plan.notices.iter().any(|n| n.contains("third party")),
        "{:?}",
        plan.notices
    );
}

#[tokio::test]
async fn apply_delete_with_a_plan_that_lists_no_orders_is_refused() {
    let w = world_with_open_orders().await;
    let err = w
        .engine
        .apply(w.id, seller(), delete_with(empty_plan()))
        .await
        .unwrap_err();
    let EngineError::DeletePlanOutdated { missing } = &err else {
        panic!("expected DeletePlanOutdated, got {err:?}")
    };
    assert_eq!(missing.len(), 3, "{missing:?}");
    assert!(err.to_string().contains("plan_delete"), "{err}");
    assert!(
        !w.engine
            .integration(w.id)
            .await
            .unwrap()
            .lifecycle
            .is_deleted()
    );

    // The plan made now goes through, and the audit names the unfulfilled orders.
    let plan = w.engine.plan_delete(w.id).await.unwrap();
    let events = w
        .engine
        .apply(w.id, seller(), delete_with(plan))
        .await
        .unwrap();
    assert!(
        w.engine
            .integration(w.id)
            .await
            .unwrap()
            .lifecycle
            .is_deleted()
    );
    assert!(
        events.iter().any(|e| matches!(
            &e.change,
            marketsync::lifecycle::Change::Deleted { unfulfilled_orders } if unfulfilled_orders == &vec![oid("M-1")]
        )),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_plan_made_before_a_new_order_arrived_is_out_of_date() {
    let w = world_with_open_orders().await;
    let plan = w.engine.plan_delete(w.id).await.unwrap();
    w.channel.add_order(order("M-2", t0(), "A", "Standard"));
    w.engine.import_orders(w.id).await.unwrap();
    let err = w
        .engine
        .delete(w.id, plan.confirm(), seller())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::DeletePlanOutdated { missing } if missing == &vec![oid("M-2")]),
        "{err:?}"
    );
}

async fn live_world() -> World {
    let w = world(cursor_caps()).await;
    w.clock.advance(TimeDelta::days(31));
    w.engine.tick(w.id).await.unwrap();
    let rec = w.engine.integration(w.id).await.unwrap();
    assert_eq!(rec.lifecycle.phase(w.clock.as_ref().now_utc()), Phase::Live);
    w
}

trait NowUtc {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc>;
}

impl NowUtc for marketsync::ManualClock {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        use marketsync::Clock;
        self.now()
    }
}

#[tokio::test]
async fn in_live_a_user_cannot_write_a_support_override() {
    let w = live_world().await;
    let change = |by: Actor| {
        let engine = &w.engine;
        async move {
            engine
                .apply(
                    w.id,
                    by,
                    Event::SetLabel {
                        label: Some(Label::new("other-feed").unwrap()),
                        support_override: Some(SupportOverride::new(
                            "sam from support",
                            "seller asked, ticket 42",
                        )),
                    },
                )
                .await
        }
    };
    let err = change(seller()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            EngineError::Lifecycle(LifecycleError::SupportOnly { change }) if change == "changing the label"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("only support"), "{err}");
    let rec = w.engine.integration(w.id).await.unwrap();
    assert_eq!(rec.lifecycle.label(), Some(&Label::new("feed").unwrap()));

    // Support can.
    change(Actor::Support("sam".into())).await.unwrap();
    let rec = w.engine.integration(w.id).await.unwrap();
    assert_eq!(
        rec.lifecycle.label(),
        Some(&Label::new("other-feed").unwrap())
    );
}

#[tokio::test]
async fn a_broken_connection_keeps_only_the_channels_words_as_its_message() {
    // The channel said something: exactly that.
    let w = world(cursor_caps()).await;
    w.channel
        .revoke_credentials("The access token was revoked by the account owner.");
    w.engine.import_orders(w.id).await.unwrap_err();
    let rec = w.engine.integration(w.id).await.unwrap();
    let Health::Broken {
        reason,
        channel_message,
        ..
    } = rec.lifecycle.health()
    else {
        panic!("expected Broken, got {:?}", rec.lifecycle.health())
    };
    assert_eq!(*reason, BrokenReason::CredentialsRejected);
    assert_eq!(
        channel_message.as_deref(),
        Some("The access token was revoked by the account owner.")
    );

    // The channel said nothing: no message, our diagnosis is the reason.
    let w = world(cursor_caps()).await;
    w.channel
        .fail_next(Operation::FetchOrders, 1, ErrorKind::Auth);
    w.engine.import_orders(w.id).await.unwrap_err();
    let rec = w.engine.integration(w.id).await.unwrap();
    let Health::Broken {
        channel_message, ..
    } = rec.lifecycle.health()
    else {
        panic!("expected Broken, got {:?}", rec.lifecycle.health())
    };
    assert_eq!(channel_message, &None);
}

#[tokio::test]
async fn a_partial_shipment_leaves_the_order_in_the_plan_and_unsent_entries_are_named() {
    let w = world_with_open_orders().await;
    let shipment = |lines: Vec<marketsync::LineQuantity>| marketsync::Shipment {
        carrier: Some("UPS".into()),
        method: Some("Ground".into()),
        tracking_number: Some("1Z-M1".into()),
        shipped_at: t0(),
        lines,
        delivery: Default::default(),
    };
    // One of the order's lines shipped (its only line, but named: a partial shipment as far
    // as the outbox can tell is any shipment that lists lines).
    w.engine
        .ship(
            w.id,
            &oid("M-1"),
            shipment(vec![marketsync::LineQuantity {
                line_id: "M-1-1".into(),
                quantity: 1,
            }]),
            None,
        )
        .await
        .unwrap();
    let sent = w.engine.sync_orders(w.id).await.unwrap();
    assert_eq!(sent.sent.len(), 1, "{sent:?}");
    let plan = w.engine.plan_delete(w.id).await.unwrap();
    assert_eq!(plan.unfulfilled_orders, vec![oid("M-1")], "{plan:?}");

    // The whole order shipped but not sent yet: the plan says it will not be sent.
    w.engine
        .ship(w.id, &oid("M-1"), shipment(Vec::new()), None)
        .await
        .unwrap();
    let plan = w.engine.plan_delete(w.id).await.unwrap();
    assert!(
        plan.notices.iter().any(|n| n.contains("not sent yet")),
        "{:?}",
        plan.notices
    );
}
