//! The webhook transport against a real HTTP receiver process (`tests/webhook_receiver.py`),
//! which verifies each signature with Python's standard library: an implementation of
//! Standard Webhooks independent of the crate's.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{TimeZone, Utc};
use common::{Helper, TempDir, free_port, have_python, message};
use marketsync_core::{IntegrationId, ManualClock, SecretString, Transport};
use marketsync_notify::{WebhookConfig, WebhookPayload, WebhookTransport};
use serde::Deserialize;

/// 32 key bytes, written the Standard Webhooks way.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Debug, Deserialize)]
struct Recorded {
    path: String,
    headers: std::collections::BTreeMap<String, String>,
    body_b64: String,
    verified: bool,
}

impl Recorded {
    fn body(&self) -> Vec<u8> {
        BASE64.decode(&self.body_b64).expect("base64 body")
    }
}

struct Receiver {
    dir: TempDir,
    port: u16,
    _server: Helper,
}

fn start_receiver() -> Receiver {
    let dir = TempDir::new("webhook");
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
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

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

    fn transport(&self, path: &str) -> WebhookTransport {
        WebhookTransport::new(
            WebhookConfig::new(self.url(path), SecretString::from(SECRET.to_owned()))
                .timeout(Duration::from_secs(5)),
        )
        .expect("a usable config")
    }
}

/// Asks the Python verifier whether this signature is valid for this body.
fn python_verifies(id: &str, timestamp: &str, signature: &str, body: &[u8]) -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhook_receiver.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg("verify")
        .env("WEBHOOK_TEST_SECRET", SECRET)
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let request = serde_json::json!({
        "id": id,
        "timestamp": timestamp,
        "signature": signature,
        "body_b64": BASE64.encode(body),
    });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("written");
    child.wait().expect("the verifier ends").success()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivered_webhook_carries_a_signature_an_independent_verifier_accepts() {
    if !have_python(&[], "the webhook tests") {
        return;
    }
    let receiver = start_receiver();
    let signed_at = Utc.with_ymd_and_hms(2026, 12, 7, 10, 16, 40).unwrap();
    let transport = receiver
        .transport("/hooks/marketsync?token=abc")
        .with_clock(Arc::new(ManualClock::new(signed_at)));
    assert_eq!(transport.name(), "webhook");
    let integration = IntegrationId::new();
    let msg = message("ntf-hook-1", integration);

    transport.deliver(&msg).await.expect("200 is delivered");

    assert_eq!(receiver.count(), 1);
    let request = receiver.request(1);
    assert!(
        request.verified,
        "the receiver's own check failed: {request:?}"
    );
    assert_eq!(request.path, "/hooks/marketsync?token=abc");
    assert_eq!(request.headers["webhook-id"], "ntf-hook-1");
    assert_eq!(
        request.headers["webhook-timestamp"],
        signed_at.timestamp().to_string()
    );
    assert_eq!(request.headers["content-type"], "application/json");
    let signature = &request.headers["webhook-signature"];
    assert!(signature.starts_with("v1,"), "{signature}");

    // The documented JSON shape.
    let body = request.body();
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(json["type"], "connection_broken");
    assert_eq!(json["timestamp"], "2026-12-07T10:15:00Z");
    assert_eq!(json["data"]["id"], "ntf-hook-1");
    assert_eq!(
        json["data"]["integration"]["id"],
        integration.as_uuid().to_string()
    );
    assert_eq!(json["data"]["integration"]["name"], "Sklep Łódź");
    assert_eq!(json["data"]["integration"]["channel"], "allegro");
    assert_eq!(json["data"]["subject"], msg.subject.as_str());
    assert_eq!(json["data"]["repair"][2], "Log in at Allegro.");
    assert_eq!(json["data"]["notification"]["event"], "connection_broken");
    assert_eq!(json["data"]["notification"]["reason"], "login_required");
    let payload: WebhookPayload = serde_json::from_slice(&body).expect("reads back");
    assert_eq!(payload, WebhookPayload::from_message(&msg));

    // Verified again outside the receiver, then with the body tampered with, another id, or
    // another timestamp: each change breaks the signature.
    let ts = &request.headers["webhook-timestamp"];
    assert!(python_verifies("ntf-hook-1", ts, signature, &body));
    let tampered = String::from_utf8(body.clone())
        .expect("UTF-8")
        .replace("Log in at Allegro.", "Send your password to x.");
    assert_ne!(tampered.as_bytes(), body.as_slice());
    assert!(!python_verifies(
        "ntf-hook-1",
        ts,
        signature,
        tampered.as_bytes()
    ));
    assert!(!python_verifies("ntf-hook-2", ts, signature, &body));
    assert!(!python_verifies("ntf-hook-1", "1", signature, &body));
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_are_classified() {
    if !have_python(&[], "the webhook tests") {
        return;
    }
    let receiver = start_receiver();
    let msg = message("ntf-hook-codes", IntegrationId::new());

    receiver
        .transport("/status/204")
        .deliver(&msg)
        .await
        .expect("2xx is delivered");

    let e = receiver
        .transport("/status/500")
        .deliver(&msg)
        .await
        .expect_err("500");
    assert!(e.retryable && e.retry_after.is_none(), "{e:?}");
    assert!(e.to_string().contains("500"), "{e}");

    let e = receiver
        .transport("/status/503")
        .deliver(&msg)
        .await
        .expect_err("503");
    assert!(e.retryable, "{e:?}");

    let e = receiver
        .transport("/status/429")
        .deliver(&msg)
        .await
        .expect_err("429");
    assert!(e.retryable, "{e:?}");
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));

    let e = receiver
        .transport("/status/408")
        .deliver(&msg)
        .await
        .expect_err("408");
    assert!(e.retryable, "{e:?}");

    let e = receiver
        .transport("/status/400")
        .deliver(&msg)
        .await
        .expect_err("400");
    assert!(!e.retryable, "{e:?}");
    assert!(e.to_string().contains("400"), "{e}");

    let e = receiver
        .transport("/status/410")
        .deliver(&msg)
        .await
        .expect_err("410");
    assert!(!e.retryable, "{e:?}");

    // A redirect is not followed: the endpoint's configuration is wrong.
    let e = receiver
        .transport("/status/301")
        .deliver(&msg)
        .await
        .expect_err("301");
    assert!(!e.retryable, "{e:?}");

    // Every attempt arrived signed, each verifiable.
    assert_eq!(receiver.count(), 8);
    for n in 1..=8 {
        let request = receiver.request(n);
        assert!(request.verified, "{request:?}");
        assert_eq!(request.headers["webhook-id"], "ntf-hook-codes");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_never_answers_times_out_as_retryable() {
    if !have_python(&[], "the webhook tests") {
        return;
    }
    let receiver = start_receiver();
    let transport = WebhookTransport::new(
        WebhookConfig::new(receiver.url("/hang"), SecretString::from(SECRET.to_owned()))
            .timeout(Duration::from_secs(1)),
    )
    .expect("a usable config");
    let e = transport
        .deliver(&message("ntf-hang", IntegrationId::new()))
        .await
        .expect_err("no answer");
    assert!(e.retryable, "{e:?}");
    assert!(e.to_string().contains("did not answer"), "{e}");
    assert_eq!(
        receiver.count(),
        1,
        "the request arrived; the answer did not"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_nobody_listens_on_is_retryable() {
    let port = free_port();
    let transport = WebhookTransport::new(WebhookConfig::new(
        format!("http://127.0.0.1:{port}/hook?token=url-secret-55"),
        SecretString::from(SECRET.to_owned()),
    ))
    .expect("a usable config");
    let e = transport
        .deliver(&message("ntf-nobody", IntegrationId::new()))
        .await
        .expect_err("connection refused");
    assert!(e.retryable, "{e:?}");
    assert!(e.to_string().contains("unreachable"), "{e}");
    // The error names the endpoint, without the URL's token or the signing secret.
    assert!(
        e.to_string().contains(&format!("127.0.0.1:{port}/hook")),
        "{e}"
    );
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains("url-secret-55"), "{text}");
        assert!(
            !text.contains(SECRET.trim_start_matches("whsec_")),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_integration_filter_sends_only_the_chosen_integrations() {
    if !have_python(&[], "the webhook tests") {
        return;
    }
    let receiver = start_receiver();
    let chosen = IntegrationId::new();
    let transport = WebhookTransport::new(
        WebhookConfig::new(receiver.url("/"), SecretString::from(SECRET.to_owned()))
            .integrations([chosen]),
    )
    .expect("a usable config");

    transport
        .deliver(&message("ntf-other", IntegrationId::new()))
        .await
        .expect("filtered out: nothing to deliver here");
    transport
        .deliver(&message("ntf-chosen", chosen))
        .await
        .expect("delivered");

    assert_eq!(receiver.count(), 1);
    assert_eq!(receiver.request(1).headers["webhook-id"], "ntf-chosen");
}
