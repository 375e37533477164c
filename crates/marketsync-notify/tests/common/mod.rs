//! What the transport tests share: messages as the outbox hands them over, the Python helper
//! processes (a real SMTP server, a real HTTP receiver) and the rule for a missing tool: fail
//! in CI (`CI=true`), skip with a notice elsewhere.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use marketsync_core::{BrokenReason, IntegrationId, Message, Notification};
use serde_json::json;

/// A message about a broken Allegro connection, as the store's outbox renders it.
pub fn message(id: &str, integration: IntegrationId) -> Message {
    let notification = Notification::ConnectionBroken {
        integration,
        reason: BrokenReason::LoginRequired,
        channel_message: Some("invalid_grant: refresh token expired".to_owned()),
        advice: "Log in at Allegro again.".to_owned(),
    };
    serde_json::from_value(json!({
        "id": id,
        "created_at": "2026-12-07T10:15:00Z",
        "integration": integration,
        "integration_name": "Sklep Łódź",
        "channel": "allegro",
        "subject": "Allegro: połączenie przerwane (Sklep Łódź)",
        "body": "The connection to Allegro is broken.\nAllegro said: invalid_grant: refresh token expired",
        "repair": [
            "Deactivate the integration.",
            "Activate it again.",
            "Log in at Allegro.",
        ],
        "notification": notification,
    }))
    .expect("a message")
}

/// Whether the tests can run `python3` with these modules. When not: in CI (`CI=true`) the
/// test fails with what is missing; elsewhere it prints a notice and the test returns early.
pub fn have_python(modules: &[&str], what: &str) -> bool {
    let imports = if modules.is_empty() {
        "pass".to_owned()
    } else {
        format!("import {}", modules.join(", "))
    };
    let ok = Command::new("python3")
        .args(["-c", &imports])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    missing_unless(
        ok,
        &format!(
            "{what}: python3 with {modules:?} is needed (`python3 -m pip install aiosmtpd==1.4.6`; .ci/run installs it)"
        ),
    )
}

/// Whether the `openssl` command runs (certificates for the TLS tests); same rule as
/// [`have_python`].
pub fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    missing_unless(ok, "the TLS tests: the `openssl` command is needed")
}

fn missing_unless(ok: bool, message: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    // Straight to the process's standard error: the test harness captures `eprintln!`.
    let _ = writeln!(std::io::stderr(), "SKIPPED (not in CI): {message}");
    false
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "marketsync-notify-{label}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// A helper process that runs until dropped (its standard input is closed, then it is killed).
pub struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The rest of the line after `ready` (the receiver's port).
    pub ready: String,
}

impl Helper {
    /// Starts `python3 script args…` with `env` and waits until it prints `ready`.
    pub fn start(script: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(script);
        let mut child = Command::new("python3")
            .arg(&script)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the helper's first line");
        let Some(rest) = line.trim().strip_prefix("ready") else {
            let _ = child.kill();
            panic!("{} did not start: {line:?}", script.display());
        };
        Self {
            ready: rest.trim().to_owned(),
            child,
            stdin,
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
