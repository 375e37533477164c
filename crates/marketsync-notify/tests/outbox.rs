//! End to end, as a host runs it: an engine over a SQLite file, a connection that breaks at
//! the channel, and the notification outbox delivering through the real transports to a real
//! SMTP server (aiosmtpd, `tests/smtp_server.py`) and a real webhook receiver
//! (`tests/webhook_receiver.py`, which verifies each signature with its own implementation),
//! plus the in-app message list.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{TimeDelta, TimeZone, Utc};
use common::{Helper, TempDir, free_port, have_python};
use marketsync_core::lifecycle::Event;
use marketsync_core::notify::Backoff;
use marketsync_core::store::{
    DeliveryFilter, DeliveryQuery, DeliveryState, MessageQuery, PageRequest,
};
use marketsync_core::{
    Actor, Capabilities, ChannelKind, Clock, CredentialKey, Credentials, Currency, Engine,
    EngineError, Feature, IntegrationId, IntegrationSettings, Label, ManualClock, MemoryCatalog,
    MemoryChannel, MemoryNotifier, Message, Notification, SecretString, Store, Transport,
};
use marketsync_notify::{
    EmailConfig, EmailTransport, Security, WebhookConfig, WebhookPayload, WebhookTransport,
};
use marketsync_sqlite::SqliteStore;
use serde::Deserialize;

/// 32 key bytes, written the Standard Webhooks way.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// What the channel says when it refuses the revoked credentials.
const CHANNEL_SAID: &str = "Authorization has been denied for this request.";

// ----- the real SMTP server -----

struct Smtp {
    dir: TempDir,
    port: u16,
    _server: Helper,
}

fn start_smtp(port: u16) -> Smtp {
    let dir = TempDir::new("outbox-smtp");
    let port_text = port.to_string();
    let dir_text = dir.path().display().to_string();
    let server = Helper::start(
        "smtp_server.py",
        &[
            "--port",
            &port_text,
            "--dir",
            &dir_text,
            "--security",
            "none",
        ],
        &[],
    );
    Smtp {
        dir,
        port,
        _server: server,
    }
}

#[derive(Debug, Deserialize)]
struct Email {
    headers: BTreeMap<String, Vec<String>>,
    body: String,
}

impl Email {
    fn header(&self, name: &str) -> &str {
        match self.headers.get(name).map(Vec::as_slice) {
            Some([one]) => one,
            other => panic!("header {name}: {other:?}"),
        }
    }
}

impl Smtp {
    fn received(&self) -> usize {
        (1..)
            .take_while(|n| self.dir.path().join(format!("{n}.json")).exists())
            .count()
    }

    /// The `n`th message received (from 1), read by Python's e-mail parser.
    fn message(&self, n: usize) -> Email {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let out = Command::new("python3")
            .arg(script)
            .arg("parse")
            .arg(self.dir.path().join(format!("{n}.eml")))
            .output()
            .expect("python3 parses the message");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("parsed JSON")
    }
}

// ----- the real webhook receiver -----

#[derive(Debug, Deserialize)]
struct Recorded {
    headers: BTreeMap<String, String>,
    body_b64: String,
    verified: bool,
}

struct Receiver {
    dir: TempDir,
    port: u16,
    _server: Helper,
}

fn start_receiver() -> Receiver {
    let dir = TempDir::new("outbox-webhook");
    let dir_text = dir.path().display().to_string();
    let server = Helper::start(
        "webhook_receiver.py",
        &["serve", "--dir", &dir_text],
        &[("WEBHOOK_TEST_SECRET", SECRET)],
    );
    let port = server.ready.parse().expect("the receiver's port");
    Receiver {
        dir,
        port,
        _server: server,
    }
}

impl Receiver {
    fn count(&self) -> usize {
        (1..)
            .take_while(|n| self.dir.path().join(format!("{n}.json")).exists())
            .count()
    }

    fn request(&self, n: usize) -> Recorded {
        serde_json::from_slice(
            &std::fs::read(self.dir.path().join(format!("{n}.json"))).expect("a request"),
        )
        .expect("request JSON")
    }
}

// ----- the host: an engine over a SQLite file -----

fn seller() -> Actor {
    Actor::User("ana".into())
}

fn key() -> CredentialKey {
    CredentialKey::new("test-key", [42; 32])
}

/// The transports as a host configures them.
fn email(port: u16) -> Arc<EmailTransport> {
    Arc::new(
        EmailTransport::new(
            EmailConfig::new(
                "127.0.0.1",
                "Shop alerts <alerts@shop.example>",
                ["owner@shop.example"],
            )
            .security(Security::None)
            .port(port)
            .timeout(Duration::from_secs(10)),
        )
        .expect("a usable e-mail config"),
    )
}

fn webhook(port: u16, clock: Arc<ManualClock>) -> Arc<WebhookTransport> {
    Arc::new(
        WebhookTransport::new(
            WebhookConfig::new(
                format!("http://127.0.0.1:{port}/hooks/marketsync"),
                SecretString::from(SECRET.to_owned()),
            )
            .timeout(Duration::from_secs(10)),
        )
        .expect("a usable webhook config")
        .with_clock(clock),
    )
}

/// One process of the host: its engine, the store file and the channel of the integration.
struct Host {
    engine: Engine,
    clock: Arc<ManualClock>,
    channel: MemoryChannel,
    id: IntegrationId,
}

async fn open_engine(
    db: &Path,
    clock: Arc<ManualClock>,
    transports: &[Arc<dyn Transport>],
) -> Engine {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db).await.expect("the SQLite file"));
    let mut builder = Engine::builder()
        .store(store)
        .catalog(Arc::new(MemoryCatalog::new()))
        .notifier(Arc::new(MemoryNotifier::new()))
        .clock(clock)
        .credential_key(key());
    for t in transports {
        builder = builder.transport(t.clone());
    }
    builder.build()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap(),
    ))
}

/// A Reverb integration (an API token entered by hand) importing orders, on a fresh SQLite
/// file; then the host turns notifications on with these transports (what was raised during
/// the set-up stays in the in-app list only).
async fn host(db: &Path, clock: Arc<ManualClock>, transports: &[Arc<dyn Transport>]) -> Host {
    let engine = open_engine(db, clock.clone(), &[]).await;
    let channel = MemoryChannel::new(ChannelKind::Reverb)
        .with_capabilities(Capabilities {
            orders_acknowledge: false,
            ..Capabilities::all()
        })
        .with_clock(clock.clone());
    let id = engine
        .create_integration(
            "Guitar shop",
            Arc::new(channel.clone()),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    engine
        .enter_credentials(id, &Credentials::api_token("tok-secret"), seller())
        .await
        .unwrap();
    engine.verify(id, seller()).await.unwrap();
    for event in [
        Event::SetLabel {
            label: Some(Label::new("reverb-feed").unwrap()),
            support_override: None,
        },
        Event::Activate,
        Event::SetFeature {
            feature: Feature::Orders,
            on: true,
            support_override: None,
        },
    ] {
        engine.apply(id, seller(), event).await.unwrap();
    }
    engine.import_orders(id).await.expect("a healthy import");
    for t in transports {
        engine.register_transport(t.clone());
    }
    Host {
        engine,
        clock,
        channel,
        id,
    }
}

/// The seller revokes the token at the channel; the next import fails and the connection is
/// Broken.
async fn break_connection(h: &Host) {
    h.channel.revoke_credentials(CHANNEL_SAID);
    let err = h.engine.import_orders(h.id).await.unwrap_err();
    assert!(matches!(err, EngineError::Channel(_)), "{err:?}");
}

async fn messages(engine: &Engine) -> Vec<Message> {
    engine
        .messages(&MessageQuery::all(), &PageRequest::first(50))
        .await
        .unwrap()
        .items
}

fn broken(messages: &[Message]) -> Vec<&Message> {
    messages
        .iter()
        .filter(|m| matches!(m.notification, Notification::ConnectionBroken { .. }))
        .collect()
}

/// The e-mail about the break, as received: headers and body.
fn assert_broken_email(email: &Email, h: &Host, id: &str) {
    assert_eq!(
        email.header("subject"),
        "Guitar shop (Reverb): the connection is broken"
    );
    assert_eq!(email.header("from"), "Shop alerts <alerts@shop.example>");
    assert_eq!(email.header("to"), "owner@shop.example");
    assert_eq!(email.header("x-marketsync-notification"), id);
    assert_eq!(
        email.header("x-marketsync-integration"),
        h.id.as_uuid().to_string()
    );
    assert_eq!(email.header("x-marketsync-channel"), "reverb");
    let body = email.body.replace("\r\n", "\n");
    assert!(
        body.contains("The connection of Guitar shop to Reverb stopped working."),
        "{body}"
    );
    assert!(
        body.contains(&format!("Reverb said: \"{CHANNEL_SAID}\"")),
        "{body}"
    );
    // An API token entered by hand: the manual repair steps, numbered.
    assert!(
        body.contains("What to do:\n1. Check that the credentials entered"),
        "{body}"
    );
    assert!(
        body.contains("2. Check at Reverb that the account is activated"),
        "{body}"
    );
    assert!(body.contains(&format!("Notification {id}")), "{body}");
    assert!(!body.contains("tok-secret"), "{body}");
}

/// The webhook about the break, as received: signed (checked by the receiver's own verifier),
/// keyed by the notification id, the payload naming the integration and the channel's words.
fn assert_broken_webhook(request: &Recorded, h: &Host, id: &str) {
    assert!(
        request.verified,
        "the receiver's verifier refused {request:?}"
    );
    assert_eq!(request.headers["webhook-id"], id);
    assert_eq!(
        request.headers["webhook-timestamp"],
        h.clock.now().timestamp().to_string()
    );
    let body = BASE64.decode(&request.body_b64).expect("base64 body");
    let payload: WebhookPayload = serde_json::from_slice(&body).expect("the payload");
    assert_eq!(payload.kind, "connection_broken");
    assert_eq!(payload.data.id, id);
    assert_eq!(payload.data.integration.id, h.id);
    assert_eq!(payload.data.integration.name, "Guitar shop");
    assert_eq!(payload.data.integration.channel, ChannelKind::Reverb);
    assert_eq!(
        payload.data.subject,
        "Guitar shop (Reverb): the connection is broken"
    );
    assert!(
        payload
            .data
            .body
            .contains(&format!("Reverb said: \"{CHANNEL_SAID}\"")),
        "{}",
        payload.data.body
    );
    assert!(
        payload.data.repair[0].contains("Check that the credentials entered"),
        "{:?}",
        payload.data.repair
    );
    assert!(!String::from_utf8_lossy(&body).contains("tok-secret"));
}

#[tokio::test(flavor = "multi_thread")]
async fn three_failing_imports_of_one_broken_connection_make_one_email_one_webhook_one_message() {
    if !have_python(&["aiosmtpd"], "the end-to-end notification tests") {
        return;
    }
    let dir = TempDir::new("outbox-db");
    let smtp = start_smtp(free_port());
    let receiver = start_receiver();
    let clock = clock();
    let transports: Vec<Arc<dyn Transport>> =
        vec![email(smtp.port), webhook(receiver.port, clock.clone())];
    // The webhook signs with the engine's clock.
    let h = host(&dir.path().join("shop.db"), clock, &transports).await;

    break_connection(&h).await;
    for _ in 0..2 {
        let err = h.engine.import_orders(h.id).await.unwrap_err();
        assert!(matches!(err, EngineError::Blocked { .. }), "{err:?}");
    }
    // Nothing is sent by the imports themselves: it waits in the outbox.
    assert_eq!(smtp.received(), 0);
    assert_eq!(receiver.count(), 0);

    let report = h.engine.deliver_notifications().await;
    assert_eq!(report.delivered.len(), 2, "{report:?}");
    assert!(
        report.retrying.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    // A second pass finds nothing left.
    assert!(h.engine.deliver_notifications().await.delivered.is_empty());

    let list = messages(&h.engine).await;
    assert_eq!(broken(&list).len(), 1, "{list:?}");
    let id = broken(&list)[0].id.clone();
    assert_eq!(smtp.received(), 1, "exactly one e-mail");
    assert_broken_email(&smtp.message(1), &h, &id);
    assert_eq!(receiver.count(), 1, "exactly one webhook");
    assert_broken_webhook(&receiver.request(1), &h, &id);

    let unread = h
        .engine
        .messages(&MessageQuery::unread(), &PageRequest::first(50))
        .await
        .unwrap()
        .items;
    assert_eq!(broken(&unread).len(), 1);
    let m = broken(&unread)[0];
    assert_eq!(m.integration_name, "Guitar shop");
    assert!(
        m.repair[0].contains("Check that the credentials entered"),
        "{:?}",
        m.repair
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_broken_while_the_smtp_server_is_down_is_mailed_once_after_it_comes_back() {
    if !have_python(&["aiosmtpd"], "the end-to-end notification tests") {
        return;
    }
    let dir = TempDir::new("outbox-db");
    // Nothing listens on this port yet.
    let port = free_port();
    let transports: Vec<Arc<dyn Transport>> = vec![email(port)];
    let h = host(&dir.path().join("shop.db"), clock(), &transports).await;
    h.engine.notification_dispatcher().set_backoff(Backoff {
        first: Duration::from_secs(60),
        max: Duration::from_secs(3600),
    });

    break_connection(&h).await;
    let report = h.engine.deliver_notifications().await;
    assert!(report.delivered.is_empty(), "{report:?}");
    assert_eq!(report.retrying.len(), 1, "{report:?}");
    assert_eq!(
        report.retrying[0].retry_at,
        Some(h.clock.now() + TimeDelta::seconds(60))
    );

    // It waits in the outbox with its last error, visible to the host.
    let waiting = h
        .engine
        .notification_outbox(&DeliveryQuery::default(), &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let row = &waiting[0];
    assert_eq!(row.transport, "email");
    assert_eq!(row.state, DeliveryState::Pending);
    assert_eq!(row.attempts, 1);
    let error = row.last_error.as_deref().expect("the last error is kept");
    assert!(!error.is_empty());
    assert!(matches!(
        row.notification.notification,
        Notification::ConnectionBroken { .. }
    ));

    // The server comes back; before the backoff has passed nothing is tried.
    let smtp = start_smtp(port);
    let report = h.engine.deliver_notifications().await;
    assert!(
        report.delivered.is_empty() && report.retrying.is_empty(),
        "{report:?}"
    );
    assert_eq!(smtp.received(), 0);

    h.clock.advance(TimeDelta::seconds(61));
    let report = h.engine.deliver_notifications().await;
    assert_eq!(report.delivered.len(), 1, "{report:?}");
    assert_eq!(smtp.received(), 1);
    let id = broken(&messages(&h.engine).await)[0].id.clone();
    assert_broken_email(&smtp.message(1), &h, &id);

    // Delivered once: later passes send nothing more.
    h.clock.advance(TimeDelta::hours(2));
    assert!(h.engine.deliver_notifications().await.delivered.is_empty());
    assert_eq!(smtp.received(), 1);
    let delivered = h
        .engine
        .notification_outbox(
            &DeliveryQuery {
                state: DeliveryFilter::Delivered,
                ..DeliveryQuery::default()
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].attempts, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_stopped_between_the_commit_and_the_send_delivers_after_the_restart() {
    if !have_python(&["aiosmtpd"], "the end-to-end notification tests") {
        return;
    }
    let dir = TempDir::new("outbox-db");
    let db = dir.path().join("shop.db");
    let smtp = start_smtp(free_port());
    let receiver = start_receiver();
    let clock = clock();
    let transports: Vec<Arc<dyn Transport>> =
        vec![email(smtp.port), webhook(receiver.port, clock.clone())];
    let h = host(&db, clock.clone(), &transports).await;

    // The failing import commits the break and its notification; the process ends before
    // any delivery.
    break_connection(&h).await;
    let Host {
        engine,
        channel,
        id,
        ..
    } = h;
    drop(engine);
    assert_eq!(smtp.received(), 0);
    assert_eq!(receiver.count(), 0);

    // A new process on the same file, with the same transports configured.
    let engine = open_engine(&db, clock.clone(), &transports).await;
    engine
        .attach_channel(id, Arc::new(channel.clone()))
        .await
        .unwrap();
    let report = engine.deliver_notifications().await;
    assert_eq!(report.delivered.len(), 2, "{report:?}");
    assert!(engine.deliver_notifications().await.delivered.is_empty());

    let h = Host {
        engine,
        clock,
        channel,
        id,
    };
    let list = messages(&h.engine).await;
    assert_eq!(broken(&list).len(), 1, "{list:?}");
    let nid = broken(&list)[0].id.clone();
    assert_eq!(smtp.received(), 1, "exactly one e-mail");
    assert_broken_email(&smtp.message(1), &h, &nid);
    assert_eq!(receiver.count(), 1, "exactly one webhook");
    assert_broken_webhook(&receiver.request(1), &h, &nid);
}
