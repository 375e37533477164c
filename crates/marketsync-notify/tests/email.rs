//! The e-mail transport against a real SMTP server process (Python's aiosmtpd, started by the
//! test; `tests/smtp_server.py`): the message as received, TLS, authentication, failures and
//! their classification.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Helper, TempDir, free_port, have_openssl, have_python, message};
use marketsync_core::{IntegrationId, SecretString, Transport};
use marketsync_notify::{EmailConfig, EmailTransport, Security};
use serde::Deserialize;

const PASSWORD: &str = "s3cret-smtp-pass-8f2a";

/// A running SMTP server and the directory it saves messages to.
struct Smtp {
    dir: TempDir,
    port: u16,
    _server: Helper,
}

fn start_smtp(port: u16, security: &str, certs: Option<&Certs>, user: Option<&str>) -> Smtp {
    let dir = TempDir::new("smtp");
    let port_text = port.to_string();
    let dir_text = dir.path().display().to_string();
    let mut args = vec![
        "--port",
        &port_text,
        "--dir",
        &dir_text,
        "--security",
        security,
    ];
    let (cert, key);
    if let Some(certs) = certs {
        cert = certs.server_cert.display().to_string();
        key = certs.server_key.display().to_string();
        args.extend(["--cert", &cert, "--key", &key]);
    }
    if let Some(user) = user {
        args.extend(["--user", user]);
    }
    let server = Helper::start("smtp_server.py", &args, &[("SMTP_TEST_PASSWORD", PASSWORD)]);
    Smtp {
        dir,
        port,
        _server: server,
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    mail_from: String,
    rcpt_tos: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Parsed {
    headers: BTreeMap<String, Vec<String>>,
    body: String,
}

impl Parsed {
    fn header(&self, name: &str) -> &str {
        match self.headers.get(name).map(Vec::as_slice) {
            Some([one]) => one,
            other => panic!("header {name}: {other:?}"),
        }
    }
}

impl Smtp {
    /// How many messages the server has accepted.
    fn received(&self) -> usize {
        (1..)
            .take_while(|n| self.dir.path().join(format!("{n}.json")).exists())
            .count()
    }

    /// The `n`th message received (from 1): its envelope and the message as Python's e-mail
    /// parser reads it.
    fn message(&self, n: usize) -> (Envelope, Parsed) {
        let envelope: Envelope = serde_json::from_slice(
            &std::fs::read(self.dir.path().join(format!("{n}.json"))).expect("an envelope"),
        )
        .expect("envelope JSON");
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
        (
            envelope,
            serde_json::from_slice(&out.stdout).expect("parsed JSON"),
        )
    }
}

/// A certificate authority and a server certificate for 127.0.0.1 signed by it, made with the
/// `openssl` command.
struct Certs {
    _dir: TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

fn make_certs() -> Certs {
    let dir = TempDir::new("certs");
    let p = |name: &str| dir.path().join(name);
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=marketsync test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        p("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions file");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    Certs {
        ca: p("ca.pem"),
        server_cert: p("server.pem"),
        server_key: p("server.key"),
        _dir: dir,
    }
}

fn plain_config(port: u16) -> EmailConfig {
    EmailConfig::new(
        "127.0.0.1",
        "Shop alerts <alerts@shop.example>",
        ["owner@shop.example", "Ops <ops@shop.example>"],
    )
    .security(Security::None)
    .port(port)
    .timeout(Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_received_message_has_the_headers_and_the_body() {
    if !have_python(&["aiosmtpd"], "the SMTP tests") {
        return;
    }
    let smtp = start_smtp(free_port(), "none", None, None);
    let integration = IntegrationId::new();
    let other = IntegrationId::new();
    let transport = EmailTransport::new(
        plain_config(smtp.port).recipients_for(other, ["allegro-team@shop.example"]),
    )
    .expect("a usable config");
    assert_eq!(transport.name(), "email");

    let msg = message("ntf-0001", integration);
    transport.deliver(&msg).await.expect("delivered");

    assert_eq!(smtp.received(), 1);
    let (envelope, email) = smtp.message(1);
    assert_eq!(envelope.mail_from, "alerts@shop.example");
    assert_eq!(
        envelope.rcpt_tos,
        ["owner@shop.example", "ops@shop.example"]
    );
    assert_eq!(email.header("from"), "Shop alerts <alerts@shop.example>");
    assert_eq!(
        email.header("to"),
        "owner@shop.example, Ops <ops@shop.example>"
    );
    assert_eq!(
        email.header("subject"),
        "Allegro: połączenie przerwane (Sklep Łódź)"
    );
    assert_eq!(email.header("message-id"), "<ntf-0001@shop.example>");
    assert_eq!(email.header("date"), "Mon, 07 Dec 2026 10:15:00 +0000");
    assert_eq!(
        email.header("x-marketsync-integration"),
        integration.as_uuid().to_string()
    );
    assert_eq!(email.header("x-marketsync-channel"), "allegro");
    assert_eq!(email.header("x-marketsync-notification"), "ntf-0001");
    assert!(email.header("content-type").starts_with("text/plain"));
    assert_eq!(
        // The SMTP dialogue ends the data with a line break of its own.
        email.body.replace("\r\n", "\n").trim_end(),
        "The connection to Allegro is broken.\n\
         Allegro said: invalid_grant: refresh token expired\n\
         \n\
         What to do:\n\
         1. Deactivate the integration.\n\
         2. Activate it again.\n\
         3. Log in at Allegro.\n\
         \n\
         Notification ntf-0001"
    );

    // The same notification again (a retry after a lost answer): the same Message-ID, so the
    // receiver can drop it.
    transport.deliver(&msg).await.expect("delivered again");
    assert_eq!(smtp.received(), 2);
    assert_eq!(
        smtp.message(2).1.header("message-id"),
        "<ntf-0001@shop.example>"
    );

    // An integration with its own recipients; an id that is not a dot-atom is hex-encoded.
    transport
        .deliver(&message("ntf 2/ü", other))
        .await
        .expect("delivered");
    let (envelope, email) = smtp.message(3);
    assert_eq!(envelope.rcpt_tos, ["allegro-team@shop.example"]);
    assert_eq!(email.header("to"), "allegro-team@shop.example");
    assert_eq!(
        email.header("message-id"),
        "<x-6e746620322fc3bc@shop.example>"
    );
    assert_eq!(email.header("x-marketsync-notification"), "ntf 2/ü");
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_with_login_and_a_wrong_password() {
    if !have_python(&["aiosmtpd"], "the SMTP tests") || !have_openssl() {
        return;
    }
    let certs = make_certs();
    let smtp = start_smtp(free_port(), "starttls", Some(&certs), Some("shop"));
    let config = |password: &str| {
        plain_config(smtp.port)
            .security(Security::Starttls)
            .root_certificate(&certs.ca)
            .credentials("shop", SecretString::from(password.to_owned()))
    };

    let transport = EmailTransport::new(config(PASSWORD)).expect("a usable config");
    transport
        .deliver(&message("ntf-tls-1", IntegrationId::new()))
        .await
        .expect("delivered over STARTTLS after logging in");
    assert_eq!(smtp.received(), 1);
    assert_eq!(
        smtp.message(1).1.header("message-id"),
        "<ntf-tls-1@shop.example>"
    );

    // 535 (credentials refused) is a 5xx reply: permanent, and the error holds no password.
    let wrong = "wrong-pass-77c1";
    let transport = EmailTransport::new(config(wrong)).expect("a usable config");
    let e = transport
        .deliver(&message("ntf-tls-2", IntegrationId::new()))
        .await
        .expect_err("the server refuses the login");
    assert!(!e.retryable, "{e:?}");
    assert!(e.to_string().contains("535"), "{e}");
    for text in [e.to_string(), format!("{e:?}"), format!("{transport:?}")] {
        assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");
    }
    assert_eq!(smtp.received(), 1);

    // Without the test CA the server's certificate is not trusted: retryable (a renewed
    // certificate may fix it), nothing sent.
    let untrusting = EmailTransport::new(
        plain_config(smtp.port)
            .security(Security::Starttls)
            .credentials("shop", SecretString::from(PASSWORD.to_owned())),
    )
    .expect("a usable config");
    let e = untrusting
        .deliver(&message("ntf-tls-3", IntegrationId::new()))
        .await
        .expect_err("the certificate is not trusted");
    assert!(e.retryable, "{e:?}");
    assert_eq!(smtp.received(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn implicit_tls() {
    if !have_python(&["aiosmtpd"], "the SMTP tests") || !have_openssl() {
        return;
    }
    let certs = make_certs();
    let smtp = start_smtp(free_port(), "tls", Some(&certs), Some("shop"));
    let transport = EmailTransport::new(
        plain_config(smtp.port)
            .security(Security::Tls)
            .root_certificate(&certs.ca)
            .credentials("shop", SecretString::from(PASSWORD.to_owned())),
    )
    .expect("a usable config");
    transport
        .deliver(&message("ntf-smtps", IntegrationId::new()))
        .await
        .expect("delivered over implicit TLS");
    let (_, email) = smtp.message(1);
    assert_eq!(email.header("message-id"), "<ntf-smtps@shop.example>");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_is_down_gives_a_retryable_error_then_one_delivery() {
    if !have_python(&["aiosmtpd"], "the SMTP tests") {
        return;
    }
    let port = free_port();
    let transport = EmailTransport::new(plain_config(port)).expect("a usable config");
    let msg = message("ntf-down", IntegrationId::new());

    let e = transport.deliver(&msg).await.expect_err("nothing listens");
    assert!(e.retryable, "{e:?}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");

    let smtp = start_smtp(port, "none", None, None);
    transport
        .deliver(&msg)
        .await
        .expect("delivered once the server is up");
    assert_eq!(smtp.received(), 1);
    assert_eq!(
        smtp.message(1).1.header("message-id"),
        "<ntf-down@shop.example>"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_replies_are_classified_by_their_code() {
    if !have_python(&["aiosmtpd"], "the SMTP tests") {
        return;
    }
    let smtp = start_smtp(free_port(), "none", None, None);
    let to = |address: &str| {
        EmailTransport::new(
            EmailConfig::new("127.0.0.1", "alerts@shop.example", [address])
                .security(Security::None)
                .port(smtp.port),
        )
        .expect("a usable config")
    };
    let msg = message("ntf-codes", IntegrationId::new());

    // 452 mailbox full: a 4xx reply, retryable.
    let e = to("full@shop.example")
        .deliver(&msg)
        .await
        .expect_err("deferred");
    assert!(e.retryable, "{e:?}");
    assert!(e.to_string().contains("452"), "{e}");

    // 550 mailbox unavailable: a 5xx reply, permanent.
    let e = to("nobody@shop.example")
        .deliver(&msg)
        .await
        .expect_err("refused");
    assert!(!e.retryable, "{e:?}");
    assert!(e.to_string().contains("550"), "{e}");

    assert_eq!(smtp.received(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_greets_times_out_as_retryable() {
    // A listener that accepts connections (the kernel's backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = silent.local_addr().expect("an address").port();
    let transport = EmailTransport::new(plain_config(port).timeout(Duration::from_secs(1)))
        .expect("a usable config");
    let e = transport
        .deliver(&message("ntf-silent", IntegrationId::new()))
        .await
        .expect_err("no greeting");
    assert!(e.retryable, "{e:?}");
    drop(silent);
}
