//! Notifications on a SQLite file: written with the break that causes them, they survive a
//! process that dies before sending them, and are delivered after the restart exactly once per
//! transport; a delivery that fails waits in the file with its last error.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use common::{TempDb, ready_integration, t0};
use marketsync_core::notify::Backoff;
use marketsync_core::store::{DeliveryQuery, MessageQuery, PageRequest};
use marketsync_core::{
    ChannelKind, CredentialKey, DeliveryError, Engine, EngineError, ManualClock, MemoryChannel,
    Message, Notification, Transport,
};
use marketsync_sqlite::SqliteStore;

/// Records what it delivers; fails retryably while `down` is set.
#[derive(Debug)]
struct Recorder {
    name: &'static str,
    down: Mutex<bool>,
    delivered: Mutex<Vec<Message>>,
}

impl Recorder {
    fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Recorder {
            name,
            down: Mutex::new(false),
            delivered: Mutex::new(Vec::new()),
        })
    }

    fn set_down(&self, down: bool) {
        *self.down.lock().unwrap() = down;
    }

    fn delivered(&self) -> Vec<Message> {
        self.delivered.lock().unwrap().clone()
    }
}

#[async_trait]
impl Transport for Recorder {
    fn name(&self) -> &str {
        self.name
    }

    async fn deliver(&self, message: &Message) -> Result<(), DeliveryError> {
        if *self.down.lock().unwrap() {
            return Err(DeliveryError::retryable("connection refused"));
        }
        self.delivered.lock().unwrap().push(message.clone());
        Ok(())
    }
}

fn key() -> CredentialKey {
    CredentialKey::new("k1", [7; 32])
}

/// A process: an engine on the database file with the given transports.
async fn process(db: &TempDb, clock: &Arc<ManualClock>, transports: &[Arc<Recorder>]) -> Engine {
    let store = Arc::new(SqliteStore::open(db.path()).await.unwrap());
    let mut builder = Engine::builder()
        .store(store)
        .clock(clock.clone())
        .credential_key(key());
    for t in transports {
        builder = builder.transport(t.clone());
    }
    let engine = builder.build();
    engine.notification_dispatcher().set_backoff(Backoff {
        first: Duration::from_secs(60),
        max: Duration::from_secs(600),
    });
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_written_before_a_crash_is_delivered_after_the_restart_exactly_once() {
    let db = TempDb::new("notifications");
    let clock = Arc::new(ManualClock::new(t0()));
    let mail = Recorder::new("mail");
    let hook = Recorder::new("hook");

    // The first process: three failing imports of one broken connection, then it dies before
    // any delivery.
    let (id, note) = {
        let engine = process(&db, &clock, &[mail.clone(), hook.clone()]).await;
        let channel = MemoryChannel::new(ChannelKind::Reverb);
        let id = ready_integration(&engine, channel.clone()).await;
        channel.revoke_credentials("Invalid API token");
        for _ in 0..3 {
            assert!(matches!(
                engine.import_orders(id).await,
                Err(EngineError::Channel(_) | EngineError::Blocked { .. })
            ));
        }
        let list = engine
            .store()
            .messages(&MessageQuery::all(), &PageRequest::first(10))
            .await
            .unwrap();
        let broken: Vec<_> = list
            .items
            .iter()
            .filter(|n| matches!(n.notification, Notification::ConnectionBroken { .. }))
            .collect();
        assert_eq!(broken.len(), 1, "one notification for one break");
        (id, broken[0].id.clone())
    };
    // Of each transport's deliveries, those of the break.
    let of_break = |t: &Recorder| -> Vec<Message> {
        t.delivered().into_iter().filter(|m| m.id == note).collect()
    };
    assert!(mail.delivered().is_empty() && hook.delivered().is_empty());

    // The restarted process delivers it once per transport, with the mail transport down at
    // first: it waits in the file with its error.
    mail.set_down(true);
    {
        let engine = process(&db, &clock, &[mail.clone(), hook.clone()]).await;
        let report = engine.deliver_notifications().await;
        assert!(
            report
                .retrying
                .iter()
                .any(|p| p.notification == note && p.transport == "mail"),
            "{report:?}"
        );
        assert!(
            report
                .delivered
                .contains(&(note.clone(), "hook".to_owned()))
        );
        let waiting = engine
            .notification_outbox(&DeliveryQuery::default(), &PageRequest::first(10))
            .await
            .unwrap();
        let mail_rows: Vec<_> = waiting
            .items
            .iter()
            .filter(|d| d.transport == "mail" && d.notification.id == note)
            .collect();
        assert_eq!(mail_rows.len(), 1, "{waiting:?}");
        assert_eq!(
            mail_rows[0].last_error.as_deref(),
            Some("connection refused")
        );
        assert_eq!(mail_rows[0].attempts, 1);
    }

    // Another restart after the server came back and the backoff passed.
    mail.set_down(false);
    clock.advance(TimeDelta::seconds(60));
    let engine = process(&db, &clock, &[mail.clone(), hook.clone()]).await;
    let report = engine.deliver_notifications().await;
    assert!(
        report
            .delivered
            .contains(&(note.clone(), "mail".to_owned())),
        "{report:?}"
    );
    assert!(engine.deliver_notifications().await.delivered.is_empty());
    for t in [&mail, &hook] {
        let got = of_break(t);
        assert_eq!(got.len(), 1, "{}: exactly once", t.name);
        assert_eq!(got[0].integration, id);
        assert!(got[0].subject.contains("test shop"), "{}", got[0].subject);
        assert!(got[0].body.contains("Invalid API token"), "{}", got[0].body);
    }
    let messages = engine
        .messages(&MessageQuery::unread().of(id), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        messages.items[0].id, note,
        "the newest message is the break"
    );
}
