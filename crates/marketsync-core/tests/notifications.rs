//! Notifications through the engine: written with their cause, raised once per cause,
//! delivered through every registered transport at least once (retried with backoff, failed
//! for good without blocking the others), and listed as in-app messages.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use common::*;
use marketsync_core::notify::{Backoff, messages};
use marketsync_core::store::{
    DeliveryFilter, DeliveryQuery, DeliveryState, MarkRead, MessageQuery, PageRequest, ReadFilter,
};
use marketsync_core::{
    Capabilities, ChannelKind, Clock, DeliveryError, Engine, EngineError, Feature, Message,
    MissingMapping, Notification, ShippingMapping, ShippingService, Transport,
};

/// A transport that records what it delivers and answers from a script (then succeeds).
#[derive(Debug)]
struct ScriptedTransport {
    name: String,
    script: Mutex<VecDeque<Result<(), DeliveryError>>>,
    /// Refuse for good every message of this event.
    refuse_event: Option<&'static str>,
    delivered: Mutex<Vec<Message>>,
    attempts: Mutex<u32>,
}

impl ScriptedTransport {
    fn new(name: &str) -> Arc<Self> {
        Arc::new(ScriptedTransport {
            name: name.into(),
            script: Mutex::new(VecDeque::new()),
            refuse_event: None,
            delivered: Mutex::new(Vec::new()),
            attempts: Mutex::new(0),
        })
    }

    fn refusing(name: &str, event: &'static str) -> Arc<Self> {
        Arc::new(ScriptedTransport {
            refuse_event: Some(event),
            ..Arc::into_inner(Self::new(name)).unwrap()
        })
    }

    fn then(&self, answer: Result<(), DeliveryError>) {
        self.script.lock().unwrap().push_back(answer);
    }

    fn delivered(&self) -> Vec<Message> {
        self.delivered.lock().unwrap().clone()
    }

    fn attempts(&self) -> u32 {
        *self.attempts.lock().unwrap()
    }
}

#[async_trait]
impl Transport for ScriptedTransport {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, message: &Message) -> Result<(), DeliveryError> {
        *self.attempts.lock().unwrap() += 1;
        if self.refuse_event == Some(message.notification.event_name()) {
            return Err(DeliveryError::permanent("550 mailbox unavailable"));
        }
        if let Some(answer) = self.script.lock().unwrap().pop_front() {
            answer?;
        }
        self.delivered.lock().unwrap().push(message.clone());
        Ok(())
    }
}

fn ca_caps() -> Capabilities {
    Capabilities {
        listings_publish: false,
        shipping_mappings_required: true,
        ..Capabilities::all()
    }
}

async fn break_connection(w: &World) {
    w.channel
        .revoke_credentials("Authorization has been denied for this request.");
    let err = w.engine.import_orders(w.id).await.unwrap_err();
    assert!(matches!(err, EngineError::Channel(_)), "{err:?}");
}

async fn repair(w: &World) {
    w.channel.restore_credentials();
    w.engine
        .enter_credentials(
            w.id,
            &marketsync_core::Credentials::api_token("new-token"),
            seller(),
        )
        .await
        .unwrap();
    w.engine.verify(w.id, seller()).await.unwrap();
}

async fn all_messages(engine: &Engine, query: MessageQuery) -> Vec<Message> {
    let mut out = Vec::new();
    let mut page = Some(PageRequest::first(2));
    while let Some(p) = page {
        let got = engine.messages(&query, &p).await.unwrap();
        page = p.after(&got);
        out.extend(got.items);
    }
    out
}

fn broken(messages: &[Message]) -> Vec<&Message> {
    messages
        .iter()
        .filter(|m| matches!(m.notification, Notification::ConnectionBroken { .. }))
        .collect()
}

#[tokio::test]
async fn three_failing_imports_of_one_broken_connection_make_one_notification_per_transport_and_one_message()
 {
    let w = world().await;
    let mail = ScriptedTransport::new("mail");
    let hook = ScriptedTransport::new("hook");
    w.engine.register_transport(mail.clone());
    w.engine.register_transport(hook.clone());
    break_connection(&w).await;
    for _ in 0..2 {
        assert!(matches!(
            w.engine.import_orders(w.id).await,
            Err(EngineError::Blocked { .. })
        ));
    }
    let report = w.engine.deliver_notifications().await;
    assert_eq!(report.delivered.len(), 2, "{report:?}");
    assert!(report.retrying.is_empty() && report.failed.is_empty());
    // A second pass has nothing left to deliver.
    assert!(w.engine.deliver_notifications().await.delivered.is_empty());
    for t in [&mail, &hook] {
        let got = t.delivered();
        assert_eq!(got.len(), 1, "{}: {got:?}", t.name);
        let m = &got[0];
        assert!(
            m.subject.contains("test") && m.subject.contains("Reverb"),
            "{}",
            m.subject
        );
        assert!(
            m.body
                .contains("Reverb said: \"Authorization has been denied for this request.\""),
            "{}",
            m.body
        );
        // Reverb's API token is entered by hand: the manual repair steps.
        assert!(
            m.repair[0].contains("Check that the credentials entered"),
            "{:?}",
            m.repair
        );
        assert!(m.repair.iter().any(|s| s.contains("activated")));
        assert!(
            m.body.contains("1. Check that the credentials"),
            "{}",
            m.body
        );
    }
    // The same notification id on both transports, so receivers can drop repeats.
    assert_eq!(mail.delivered()[0].id, hook.delivered()[0].id);
    // The host's in-process hook heard of it once too.
    let heard = w
        .notifier
        .all()
        .into_iter()
        .filter(|n| matches!(n, Notification::ConnectionBroken { .. }))
        .count();
    assert_eq!(heard, 1);
    let list = all_messages(&w.engine, MessageQuery::all()).await;
    assert_eq!(broken(&list).len(), 1, "{list:?}");
    assert_eq!(list[0].id, mail.delivered()[0].id);
}

#[tokio::test]
async fn a_notification_written_before_a_crash_is_delivered_by_the_next_process_once() {
    let w = world().await;
    let mail = ScriptedTransport::new("mail");
    w.engine.register_transport(mail.clone());
    break_connection(&w).await;
    // The process dies after the commit, before any delivery.
    let store = w.engine.store().clone();
    drop(w.engine);
    let engine = Engine::builder()
        .store(store)
        .clock(w.clock.clone())
        .credential_key(key())
        .transport(mail.clone())
        .build();
    let report = engine.deliver_notifications().await;
    assert_eq!(report.delivered.len(), 1, "{report:?}");
    assert_eq!(broken(&mail.delivered()).len(), 1);
    engine.deliver_notifications().await;
    assert_eq!(mail.delivered().len(), 1, "delivered exactly once");
}

#[tokio::test]
async fn a_retryable_failure_waits_in_the_outbox_with_its_error_and_is_delivered_after_the_backoff()
{
    let w = world().await;
    let mail = ScriptedTransport::new("mail");
    w.engine.register_transport(mail.clone());
    w.engine.notification_dispatcher().set_backoff(Backoff {
        first: Duration::from_secs(60),
        max: Duration::from_secs(3600),
    });
    mail.then(Err(DeliveryError::retryable(
        "connection refused (smtp.example:587)",
    )));
    break_connection(&w).await;

    let report = w.engine.deliver_notifications().await;
    assert_eq!(report.retrying.len(), 1, "{report:?}");
    assert_eq!(
        report.retrying[0].retry_at,
        Some(w.clock.now() + TimeDelta::seconds(60))
    );
    let waiting = w
        .engine
        .notification_outbox(&DeliveryQuery::default(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(waiting.items.len(), 1);
    let row = &waiting.items[0];
    assert_eq!(row.state, DeliveryState::Pending);
    assert_eq!(row.attempts, 1);
    assert_eq!(
        row.last_error.as_deref(),
        Some("connection refused (smtp.example:587)")
    );
    // Imports and syncs are not held up by it.
    repair(&w).await;
    w.engine.import_orders(w.id).await.unwrap();

    // Not due yet: not tried.
    w.clock.advance(TimeDelta::seconds(59));
    let before = mail.attempts();
    w.engine.deliver_notifications().await;
    assert_eq!(
        mail.attempts(),
        before + 1,
        "only the new 'restored' notice was tried"
    );
    mail.then(Err(DeliveryError::retryable(
        "connection refused (smtp.example:587)",
    )));
    // Due: tried again, fails again, and the next wait doubles.
    w.clock.advance(TimeDelta::seconds(1));
    let report = w.engine.deliver_notifications().await;
    assert_eq!(report.retrying.len(), 1, "{report:?}");
    assert_eq!(
        report.retrying[0].retry_at,
        Some(w.clock.now() + TimeDelta::seconds(120))
    );
    // The transport recovers: delivered once.
    w.clock.advance(TimeDelta::seconds(120));
    let report = w.engine.deliver_notifications().await;
    assert_eq!(report.delivered.len(), 1, "{report:?}");
    assert_eq!(broken(&mail.delivered()).len(), 1);
    let waiting = w
        .engine
        .notification_outbox(&DeliveryQuery::default(), &PageRequest::first(10))
        .await
        .unwrap();
    assert!(waiting.items.is_empty(), "{waiting:?}");
    w.clock.advance(TimeDelta::hours(2));
    w.engine.deliver_notifications().await;
    assert_eq!(broken(&mail.delivered()).len(), 1);
}

#[tokio::test]
async fn a_receivers_retry_after_is_honoured() {
    let w = world().await;
    let hook = ScriptedTransport::new("hook");
    w.engine.register_transport(hook.clone());
    hook.then(Err(DeliveryError {
        retry_after: Some(Duration::from_secs(600)),
        ..DeliveryError::retryable("429 Too Many Requests")
    }));
    break_connection(&w).await;
    let report = w.engine.deliver_notifications().await;
    assert_eq!(
        report.retrying[0].retry_at,
        Some(w.clock.now() + TimeDelta::seconds(600))
    );
    w.clock.advance(TimeDelta::seconds(599));
    assert!(w.engine.deliver_notifications().await.delivered.is_empty());
    w.clock.advance(TimeDelta::seconds(1));
    assert_eq!(w.engine.deliver_notifications().await.delivered.len(), 1);
}

#[tokio::test]
async fn a_permanent_failure_is_marked_failed_and_does_not_block_the_next_message() {
    let w = world().await;
    let mail = ScriptedTransport::refusing("mail", "connection_broken");
    let hook = ScriptedTransport::new("hook");
    w.engine.register_transport(mail.clone());
    w.engine.register_transport(hook.clone());
    break_connection(&w).await;
    repair(&w).await;
    let report = w.engine.deliver_notifications().await;
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].transport, "mail");
    assert_eq!(report.failed[0].error, "550 mailbox unavailable");
    // The "restored" notice went through the same transport, and the other transport
    // delivered both.
    assert_eq!(mail.delivered().len(), 1);
    assert!(matches!(
        mail.delivered()[0].notification,
        Notification::ConnectionRestored { .. }
    ));
    assert_eq!(hook.delivered().len(), 2);
    let failed = w
        .engine
        .notification_outbox(
            &DeliveryQuery {
                state: DeliveryFilter::Failed,
                ..DeliveryQuery::default()
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(failed.items.len(), 1);
    assert!(matches!(
        &failed.items[0].state,
        DeliveryState::Failed { error, .. } if error == "550 mailbox unavailable"
    ));
    // Failed for good: not tried again.
    let attempts = mail.attempts();
    w.clock.advance(TimeDelta::days(1));
    w.engine.deliver_notifications().await;
    assert_eq!(mail.attempts(), attempts);
}

#[tokio::test]
async fn a_transport_for_some_integrations_only_gets_theirs() {
    let w = world().await;
    let only_other = ScriptedTransport::new("other-shop-mail");
    w.engine
        .register_transport_for(only_other.clone(), [marketsync_core::IntegrationId::new()]);
    break_connection(&w).await;
    w.engine.deliver_notifications().await;
    assert!(only_other.delivered().is_empty());
}

async fn map_shipping(w: &World, text: &str) {
    let m = ShippingMapping::new(
        text,
        ShippingService {
            name: format!("svc:{text}"),
            carrier: Some("UPS".into()),
            class: Some("Ground".into()),
        },
        w.clock.now(),
    )
    .unwrap();
    w.engine
        .edit_mappings(w.id, seller(), |set| {
            set.insert_shipping(m.clone());
        })
        .await
        .unwrap();
}

fn held(notes: &[Notification]) -> Vec<&Notification> {
    notes
        .iter()
        .filter(|n| matches!(n, Notification::OrdersHeld { .. }))
        .collect()
}

#[tokio::test]
async fn orders_held_is_raised_once_per_missing_mapping_not_once_per_run() {
    let w = world_with(ChannelKind::ChannelAdvisor, ca_caps(), &[Feature::Orders]).await;
    let mail = ScriptedTransport::new("mail");
    w.engine.register_transport(mail.clone());
    w.catalog.upsert(item("A", "1", 1, true));
    map_shipping(&w, "Ground").await;
    w.channel.add_order(order("O1", t0(), &["A"], "Next Day"));
    // ChannelAdvisor offers the unacknowledged order again on every run.
    for _ in 0..5 {
        let r = w.engine.import_orders(w.id).await.unwrap();
        assert!(r.imported.is_empty());
        w.clock.advance(TimeDelta::minutes(15));
    }
    let notes = w.notifier.take();
    assert_eq!(
        held(&notes),
        [&Notification::OrdersHeld {
            integration: w.id,
            missing: MissingMapping::Shipping("Next Day".into()),
            orders: 1,
        }],
        "{notes:?}"
    );
    w.engine.deliver_notifications().await;
    assert_eq!(mail.delivered().len(), 1);
    let m = &mail.delivered()[0];
    assert!(m.subject.contains("\"Next Day\""), "{}", m.subject);
    assert!(
        m.repair[0].contains("shipping mapping for exactly the text \"Next Day\""),
        "{:?}",
        m.repair
    );

    // The mapping is added: the order imports.
    map_shipping(&w, "Next Day").await;
    let r = w.engine.import_orders(w.id).await.unwrap();
    assert_eq!(r.released, [oid("O1")]);
    // It goes missing again and holds a new order: raised again, once.
    w.engine
        .edit_mappings(w.id, seller(), |set| {
            set.remove_shipping("Next Day");
        })
        .await
        .unwrap();
    w.channel.add_order(order("O2", t0(), &["A"], "Next Day"));
    for _ in 0..3 {
        w.engine.import_orders(w.id).await.unwrap();
    }
    assert_eq!(held(&w.notifier.take()).len(), 1);
    let list = all_messages(&w.engine, MessageQuery::all().of(w.id)).await;
    let held_messages = list
        .iter()
        .filter(|m| matches!(m.notification, Notification::OrdersHeld { .. }))
        .count();
    assert_eq!(held_messages, 2, "{list:?}");
}

#[tokio::test]
async fn messages_are_listed_newest_first_paged_and_marked_read() {
    let w = world().await;
    // Only what follows is looked at: the activation's messages are marked read.
    w.engine
        .mark_read(&MarkRead::Integration(w.id))
        .await
        .unwrap();
    for _ in 0..3 {
        break_connection(&w).await;
        w.clock.advance(TimeDelta::minutes(5));
        repair(&w).await;
        w.clock.advance(TimeDelta::minutes(5));
    }
    let first = w
        .engine
        .messages(&MessageQuery::unread(), &PageRequest::first(4))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 4);
    let rest = w
        .engine
        .messages(
            &MessageQuery::unread(),
            &PageRequest::first(4).after(&first).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 2);
    assert!(rest.next.is_none());
    let all: Vec<Message> = first.items.into_iter().chain(rest.items).collect();
    let events: Vec<&str> = all.iter().map(|m| m.notification.event_name()).collect();
    assert_eq!(
        events,
        [
            "connection_restored",
            "connection_broken",
            "connection_restored",
            "connection_broken",
            "connection_restored",
            "connection_broken"
        ]
    );
    assert!(all.windows(2).all(|p| p[0].created_at > p[1].created_at));
    let restored = &all[0];
    assert!(
        restored.subject.contains("works again"),
        "{}",
        restored.subject
    );
    assert!(restored.repair.is_empty());

    // Mark one read, then the rest of the integration.
    assert_eq!(
        w.engine
            .mark_read(&MarkRead::one(&all[1].id))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        w.engine
            .mark_read(&MarkRead::one(&all[1].id))
            .await
            .unwrap(),
        0
    );
    let unread = all_messages(&w.engine, MessageQuery::unread()).await;
    assert_eq!(unread.len(), 5);
    assert!(unread.iter().all(|m| m.id != all[1].id));
    let read = all_messages(
        &w.engine,
        MessageQuery {
            integration: Some(w.id),
            read: ReadFilter::Read,
        },
    )
    .await;
    assert!(read.iter().any(|m| m.id == all[1].id));
    assert!(read.iter().all(|m| m.id != all[0].id));
    assert_eq!(
        w.engine
            .mark_read(&MarkRead::Integration(w.id))
            .await
            .unwrap(),
        5
    );
    assert!(
        all_messages(&w.engine, MessageQuery::unread())
            .await
            .is_empty()
    );
    let other = MessageQuery::all().of(marketsync_core::IntegrationId::new());
    assert!(all_messages(&w.engine, other).await.is_empty());
}

#[tokio::test]
async fn credentials_expiring_is_written_once_per_expiry() {
    let w = world().await;
    let at = w.clock.now() + TimeDelta::days(3);
    let login =
        marketsync_core::Credentials::LoginSession(marketsync_core::credentials::LoginSession {
            user_id: Some("u".into()),
            token: "t".to_owned().into(),
            expires_at: at,
            refresh_token: None,
            refresh_expires_at: None,
        });
    w.engine
        .enter_credentials(w.id, &login, seller())
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(w.engine.check_credentials(w.id).await.unwrap(), Some(at));
    }
    let list = all_messages(&w.engine, MessageQuery::all()).await;
    let expiring: Vec<&Message> = list
        .iter()
        .filter(|m| matches!(m.notification, Notification::CredentialsExpiring { .. }))
        .collect();
    assert_eq!(expiring.len(), 1, "{list:?}");
    assert!(
        expiring[0].subject.contains("must be renewed by"),
        "{}",
        expiring[0].subject
    );
    // A login session is renewed by logging in again.
    assert!(
        expiring[0].repair[0].contains("deactivate"),
        "{:?}",
        expiring[0].repair
    );
}

#[test]
fn login_oauth_and_manual_credentials_get_their_own_repair_steps() {
    use marketsync_core::store::{NewNotification, StoredNotification};
    use marketsync_core::{BrokenReason, CredentialKind, IntegrationId};
    let id = IntegrationId::new();
    let note = |kind| {
        let mut n = NewNotification::new(
            "k",
            Notification::ConnectionBroken {
                integration: id,
                reason: BrokenReason::LoginRequired,
                channel_message: None,
                advice: String::new(),
            },
            t0(),
        );
        n.credential_kind = Some(kind);
        StoredNotification::from_new(id, &n)
    };
    let login = messages::render(
        &note(CredentialKind::LoginSession),
        "Allegro shop",
        ChannelKind::Allegro,
    );
    assert!(login.repair[0].contains("deactivate"), "{:?}", login.repair);
    assert!(login.repair[1].contains("Allegro's login page"));
    assert!(login.repair[2].contains("Log in to Allegro"));
    let oauth = messages::render(
        &note(CredentialKind::OAuth),
        "CA",
        ChannelKind::ChannelAdvisor,
    );
    assert!(
        oauth.repair[0].contains("new refresh token"),
        "{:?}",
        oauth.repair
    );
    assert!(oauth.repair.iter().all(|s| !s.contains("deactivate")));
    let manual = messages::render(&note(CredentialKind::Manual), "Shop", ChannelKind::Reverb);
    assert!(manual.repair[0].contains("Check that the credentials"));
    assert!(manual.repair.iter().any(|s| s.contains("type")));
    // Without a stored kind, the channel's usual credentials decide: Tradera logs in.
    let mut unknown = note(CredentialKind::Manual);
    unknown.credential_kind = None;
    let tradera = messages::render(&unknown, "Tradera shop", ChannelKind::Tradera);
    assert!(tradera.repair[0].contains("deactivate"));
}
