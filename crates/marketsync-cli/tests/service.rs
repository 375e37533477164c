//! `marketsync run` as a child process: on a SQLite file with a Reverb and a ChannelAdvisor
//! integration (their sandboxes served by this test) it imports, answers `/healthz` and
//! `/metrics`, stops on SIGTERM during a run with exit 0 after the drain, and a restart
//! continues with nothing imported twice. Also: it fails fast on an unreachable store or a
//! taken address, and `/healthz` answers 503 while a PostgreSQL store refuses connections.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{
    Cli, KEY_HEX, admin_sql, assert_no_secret, channel_sections, empty_sandboxes, fresh_database,
    integration_id, temp_dir, write_catalog, write_config,
};
use marketsync::notify::PageRequest;
use marketsync::store::Store;
use marketsync::{
    Actor, Engine, IntegrationId, LedgerFilter, OrderOutcome, ShippingMapping, ShippingService,
    SqliteStore,
};
use serde_json::Value;

/// How long a wait for the service may take before the test gives up (a hang guard, never an
/// assertion about speed).
const GIVE_UP: Duration = Duration::from_secs(180);

/// A running `marketsync run`.
struct Service {
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    addr: Option<String>,
}

impl Service {
    /// Starts `marketsync run` through `cli` (with `extra` environment), its output going to
    /// files in the directory.
    fn start(cli: &Cli, name: &str, extra: &[(&str, &str)]) -> Self {
        let stdout = cli.dir().join(format!("{name}.out"));
        let stderr = cli.dir().join(format!("{name}.err"));
        let mut cmd = cli.command();
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.args(["run", "--json"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        Self {
            child: Some(cmd.spawn().unwrap()),
            stdout,
            stderr,
            addr: None,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn printed(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// The address the endpoint listens on, from the start line of the log.
    async fn addr(&mut self) -> String {
        if let Some(addr) = &self.addr {
            return addr.clone();
        }
        let marker = "/metrics on http://";
        let addr = until("the service's start line", || {
            let log = self.log();
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("marketsync run exited ({status}): {log}");
            }
            // Only once the address is followed by something: the line may be half written.
            let rest = &log[log.find(marker)? + marker.len()..];
            let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))?;
            Some(rest[..end].to_owned())
        })
        .await;
        self.addr = Some(addr.clone());
        addr
    }

    /// `GET path`: the status and the body.
    async fn get(&mut self, path: &str) -> (u16, String) {
        let addr = self.addr().await;
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || http_get(&addr, &path))
            .await
            .unwrap()
    }

    /// Waits until `/healthz` answers 200; returns its document.
    async fn healthy(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + GIVE_UP;
        loop {
            let (status, body) = self.get("/healthz").await;
            if status == 200 {
                return serde_json::from_str(&body).unwrap();
            }
            assert_eq!(status, 503, "{body}");
            assert!(
                tokio::time::Instant::now() < deadline,
                "never healthy: {body}\nlog: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `/metrics` shows the series `name` with `labels` at `at_least` or more;
    /// returns the value.
    async fn metric_at_least(&mut self, name: &str, labels: &[(&str, &str)], at_least: f64) -> f64 {
        let deadline = tokio::time::Instant::now() + GIVE_UP;
        loop {
            let (status, body) = self.get("/metrics").await;
            assert_eq!(status, 200, "{body}");
            if let Some(value) = metric(&body, name, labels)
                && value >= at_least
            {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}{labels:?} never reached {at_least}: {body}\nlog: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends SIGTERM (with the `kill` command) and waits for the exit; returns its code.
    async fn terminate(&mut self) -> i32 {
        self.signal("-TERM").await
    }

    /// Sends `signal` (`-TERM`, `-INT`) and waits for the exit; returns its code.
    async fn signal(&mut self, signal: &'static str) -> i32 {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        tokio::task::spawn_blocking(move || {
            let killed = std::process::Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap();
            assert!(killed.success());
            child.wait().unwrap().code().unwrap_or(-1)
        })
        .await
        .unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // A failed test leaves no service behind.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A plain HTTP/1.1 GET (the endpoint closes the connection after the answer).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of the series `name` with (at least) `labels` in Prometheus text.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (series, ""),
            };
            let have: Vec<&str> = series_labels.split(',').collect();
            let matches = series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| have.contains(&format!("{k}=\"{v}\"").as_str()));
            matches.then(|| value.parse().ok()).flatten()
        })
}

/// Polls `f` until it gives a value (a hang guard of [`GIVE_UP`]).
async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + GIVE_UP;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn catalog_item(sku: &str) -> Value {
    serde_json::json!({
        "sku": sku,
        "title": format!("Item {sku}"),
        "price": {"amount": "49.99", "currency": "USD"},
        "quantity": 10,
    })
}

fn reverb_order(sku: &str) -> marketsync_sandbox::reverb::NewOrder {
    marketsync_sandbox::reverb::NewOrder {
        sku: Some(sku.to_owned()),
        ..Default::default()
    }
}

fn ca_order(sku: &str) -> marketsync_sandbox::channeladvisor::NewOrder {
    let (site_id, site_name) = marketsync_sandbox::channeladvisor::harness::HARNESS_SITE;
    marketsync_sandbox::channeladvisor::NewOrder {
        site_id,
        site_name: site_name.to_owned(),
        class: "Standard".to_owned(),
        lines: vec![(sku.to_owned(), 1, 4999)],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_imports_serves_health_and_metrics_drains_on_sigterm_and_continues() {
    let (reverb, ca) = empty_sandboxes().await;
    let ca_app = ca.credentials();
    let dir = temp_dir("run");
    write_catalog(
        &dir,
        &["GTR-1", "GTR-2", "AMP-1", "AMP-2"].map(catalog_item),
    );
    write_config(
        &dir,
        &format!(
            r#"
[store]
url = "sqlite://ms.db"

[catalog]
file = "catalog.json"

[scheduler]
interval_secs = 1
lease_secs = 30
drain_timeout_secs = 1
max_concurrent = 4

[service]
listen = "127.0.0.1:0"

[log]
format = "json"
{channels}"#,
            channels = channel_sections(
                &reverb.base_url(),
                &ca_app.application_id,
                "TEST_CA_SHARED_SECRET"
            ),
        ),
    );
    let cli = Cli::new(&dir, &[("TEST_CA_SHARED_SECRET", &ca_app.shared_secret)]);

    // The integrations, connected from the CLI (secrets on stdin), orders on, activated.
    let token = reverb.token();
    let stdin_verify = ["--secret-stdin", "--verify"];
    let doc = cli
        .connect(
            "reverb",
            "Reverb shop",
            &stdin_verify,
            &format!("{token}\n"),
        )
        .await
        .json();
    let reverb_id: IntegrationId = integration_id(&doc).parse().unwrap();
    let doc = cli
        .connect_channeladvisor("CA shop", &ca, &stdin_verify, &ca_app.refresh_token)
        .await
        .json();
    let ca_id: IntegrationId = integration_id(&doc).parse().unwrap();
    // A third integration whose token the seller revokes after connecting: its runs fail, which
    // must not stop the other two.
    let revoked = reverb.issue_token();
    let doc = cli
        .connect(
            "reverb",
            "Reverb revoked",
            &stdin_verify,
            &format!("{revoked}\n"),
        )
        .await
        .json();
    let revoked_id: IntegrationId = integration_id(&doc).parse().unwrap();
    for id in [reverb_id, ca_id, revoked_id] {
        let id = id.to_string();
        cli.json(&["integrations", "feature", &id, "orders", "on"])
            .await;
        let doc = cli.json(&["integrations", "activate", &id]).await;
        assert_eq!(doc["integration"]["phase"], "testing");
    }
    reverb.revoke_token(&revoked);

    // As a host would through the library: ChannelAdvisor's shipping text mapped, and orders
    // imported every second, so that runs keep coming while the service runs.
    {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("ms.db")).await.unwrap());
        let engine = Engine::builder().store(store).build();
        let actor = Actor::User("service-test".into());
        engine
            .edit_mappings(ca_id, actor.clone(), |m| {
                let service = ShippingService {
                    name: "Ground".into(),
                    carrier: None,
                    class: None,
                };
                m.insert_shipping(
                    ShippingMapping::new("Standard", service, chrono::Utc::now()).unwrap(),
                );
            })
            .await
            .unwrap();
        for id in [reverb_id, ca_id] {
            let mut settings = engine.integration(id).await.unwrap().settings;
            settings.frequencies.orders = Duration::from_secs(1);
            engine
                .set_settings(id, settings, actor.clone())
                .await
                .unwrap();
        }
    }

    let mut expected_reverb: BTreeSet<String> = BTreeSet::new();
    let mut expected_ca: BTreeSet<String> = BTreeSet::new();
    for sku in ["GTR-1", "GTR-2"] {
        expected_reverb.insert(reverb.add_order(reverb_order(sku)));
    }
    for sku in ["AMP-1", "AMP-2"] {
        expected_ca.insert(ca.add_order(ca_order(sku)).to_string());
    }

    // The first service: healthy, imports both integrations' orders.
    let mut first = Service::start(&cli, "first", &[]);
    let health = first.healthy().await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"], "ok");
    assert_eq!(health["scheduler"], "alive");
    let imported = "marketsync_orders_imported_total";
    let reverb_label = [("channel", "reverb")];
    let ca_label = [("channel", "channel_advisor")];
    assert_eq!(
        first.metric_at_least(imported, &reverb_label, 2.0).await,
        2.0
    );
    assert_eq!(first.metric_at_least(imported, &ca_label, 2.0).await, 2.0);
    let health = first.healthy().await;
    assert!(health["last_pass_at"].is_string(), "{health}");
    assert!(health["passes"].as_u64().unwrap() >= 1, "{health}");
    // The scheduler's own metrics and the gauges read from the store.
    let import_ok = [("operation", "import_orders"), ("outcome", "ok")];
    first
        .metric_at_least(
            "marketsync_operations_total",
            &[reverb_label[0], import_ok[0], import_ok[1]],
            1.0,
        )
        .await;
    first
        .metric_at_least(
            "marketsync_scheduler_runs_total",
            &[ca_label[0], import_ok[0], import_ok[1]],
            1.0,
        )
        .await;
    first
        .metric_at_least("marketsync_scheduler_passes_total", &[], 1.0)
        .await;
    let reverb_key = reverb_id.to_string();
    let ca_key = ca_id.to_string();
    for (id, channel) in [(&reverb_key, "reverb"), (&ca_key, "channel_advisor")] {
        let health = |state| {
            [
                ("integration", id.as_str()),
                ("channel", channel),
                ("health", state),
            ]
        };
        first
            .metric_at_least("marketsync_integration_health", &health("healthy"), 1.0)
            .await;
        let (_, text) = first.get("/metrics").await;
        assert_eq!(
            metric(&text, "marketsync_integration_health", &health("broken")),
            Some(0.0),
            "{text}"
        );
    }
    let (_, text) = first.get("/metrics").await;
    for (name, labels) in [
        ("marketsync_outbox_depth", &reverb_label[..]),
        ("marketsync_orders_held", &ca_label[..]),
        ("marketsync_notification_backlog", &[]),
    ] {
        assert_eq!(metric(&text, name, labels), Some(0.0), "{name} in {text}");
    }
    assert!(
        metric(&text, "marketsync_scheduler_runs_in_flight", &[]).is_some(),
        "{text}"
    );
    // The revoked integration: broken, its failure logged with its id and channel.
    let revoked_key = revoked_id.to_string();
    first
        .metric_at_least(
            "marketsync_integration_health",
            &[("integration", &revoked_key), ("health", "broken")],
            1.0,
        )
        .await;
    let failure_logged = |log: &str| {
        log.lines().any(|l| {
            // The line being written may be incomplete: it is read again at the next look.
            serde_json::from_str::<Value>(l).is_ok_and(|l| {
                l["level"] == "WARN"
                    && l["target"] == "marketsync::service"
                    && l["fields"]["integration"] == revoked_key.as_str()
                    && l["fields"]["channel"] == "reverb"
                    && l["fields"]["outcome"] == "failed"
            })
        })
    };
    until("the revoked integration's failure in the log", || {
        failure_logged(&first.log()).then_some(())
    })
    .await;

    // The marketplaces answer slowly now, and new orders arrive while a run waits for one of
    // them: SIGTERM then. The service stops claiming, stops the run at the drain timeout (the
    // orders it was fetching are not recorded), and exits 0.
    let slow = Duration::from_secs(5);
    reverb.update_knobs(|k| k.latency = slow);
    ca.update_knobs(|k| k.latency = slow);
    let asked = reverb.counters().total + ca.counters().total;
    until("a run waiting for a marketplace", || {
        (reverb.counters().total + ca.counters().total > asked).then_some(())
    })
    .await;
    for sku in ["GTR-1", "GTR-2"] {
        expected_reverb.insert(reverb.add_order(reverb_order(sku)));
    }
    for sku in ["AMP-1", "AMP-2"] {
        expected_ca.insert(ca.add_order(ca_order(sku)).to_string());
    }
    assert_eq!(first.terminate().await, 0, "{}", first.log());
    let stopped: Value = serde_json::from_str(&first.printed()).unwrap();
    let in_flight = stopped["in_flight"].as_u64().unwrap();
    assert!(in_flight >= 1, "{stopped}");
    assert_eq!(
        in_flight,
        stopped["drained"].as_u64().unwrap() + stopped["abandoned"].as_u64().unwrap()
    );
    // The JSON log: every line one object; the engine's spans name the integration, the
    // channel and the operation; the signal and the drain are logged.
    let log = first.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| {
            let span = &l["span"];
            span["name"] == "marketsync.operation"
                && span["operation"] == "import_orders"
                && span["integration"] == ca_id.to_string().as_str()
                && span["channel"] == "channel_advisor"
        }),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["signal"] == "SIGTERM" && l["target"] == "marketsync::service"),
        "{log}"
    );

    // The restart (human log this time): it continues where the first one stopped, importing
    // the new orders, and nothing twice.
    reverb.update_knobs(|k| k.latency = Duration::ZERO);
    ca.update_knobs(|k| k.latency = Duration::ZERO);
    let mut second = Service::start(&cli, "second", &[("MARKETSYNC_LOG_FORMAT", "human")]);
    second.healthy().await;
    assert_eq!(
        second.metric_at_least(imported, &reverb_label, 2.0).await,
        2.0
    );
    assert_eq!(second.metric_at_least(imported, &ca_label, 2.0).await, 2.0);
    assert_eq!(second.terminate().await, 0, "{}", second.log());
    let log = second.log();
    assert!(
        log.lines().any(|l| l.contains("marketsync.operation{")
            && l.contains(&reverb_id.to_string())
            && l.contains("import_orders")),
        "{log}"
    );
    assert!(!log.contains('\u{1b}'), "no colour codes in a log file");

    // The ledger: every order exactly once, imported once.
    let store = SqliteStore::open(dir.join("ms.db")).await.unwrap();
    for (id, expected) in [(reverb_id, &expected_reverb), (ca_id, &expected_ca)] {
        let ledger = store.ledger(id, LedgerFilter::All).await.unwrap();
        let orders: Vec<String> = ledger
            .iter()
            .map(|e| e.channel_order_id.to_string())
            .collect();
        assert_eq!(orders.len(), expected.len(), "{orders:?}");
        assert_eq!(&orders.iter().cloned().collect::<BTreeSet<_>>(), expected);
        for entry in &ledger {
            assert_eq!(entry.outcome, OrderOutcome::Imported, "{entry:?}");
            let imports = entry
                .sightings
                .iter()
                .filter(|s| s.outcome == marketsync::store::SightingOutcome::Imported)
                .count();
            assert!(imports <= 1, "{entry:?}");
        }
    }
    assert!(
        store
            .integrations_page(&PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len()
            == 3
    );

    // No secret in anything printed or logged.
    let mut printed = cli.printed();
    for service in [&first, &second] {
        printed.push_str(&service.log());
        printed.push_str(&service.printed());
    }
    assert_no_secret(
        &[
            token.as_str(),
            revoked.as_str(),
            ca_app.refresh_token.as_str(),
            ca_app.shared_secret.as_str(),
            KEY_HEX,
        ],
        &[(&printed, "a secret was printed or logged")],
    );
    drop((first, second));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn run_fails_fast_on_an_unreachable_store_or_a_taken_address() {
    let dir = temp_dir("fail-fast");
    let cli = Cli::new(&dir, &[]);

    // A PostgreSQL server that is not there: exit 2, the field named, the password not.
    write_config(
        &dir,
        "[store]\nurl = \"postgres://ms:pg-service-pw@127.0.0.1:1/ms\"\n",
    );
    let output = cli.command().args(["run", "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error: Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(error["error"]["code"], "config");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("store.url"), "{message}");
    assert!(!stderr.contains("pg-service-pw"), "{stderr}");

    // The endpoint's address is taken: exit 2, naming the setting.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    write_config(
        &dir,
        &format!(
            "[store]\nurl = \"sqlite://ms.db\"\n\n[service]\nlisten = \"{}\"\n",
            taken.local_addr().unwrap()
        ),
    );
    let output = cli.command().arg("run").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("service.listen"), "{stderr}");
    drop(taken);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_answers_503_while_the_store_refuses_connections() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    // A database of its own, which the test then closes to new connections.
    let database = format!("ms_service_{}", std::process::id());
    let (mut admin, mut service_url) = fresh_database(&url, &database).await;
    // The test server trusts local connections: the password is never asked for, only carried
    // in the URL, where it must not be logged.
    let password = "pg-url-secret-7";
    service_url.set_password(Some(password)).unwrap();

    let dir = temp_dir("healthz");
    write_config(
        &dir,
        "[scheduler]\ninterval_secs = 1\ndrain_timeout_secs = 1\n\n[service]\nlisten = \"127.0.0.1:0\"\n",
    );
    let cli = Cli::new(&dir, &[("MARKETSYNC_STORE_URL", service_url.as_str())]);
    let mut service = Service::start(&cli, "pg", &[]);
    let health = service.healthy().await;
    assert_eq!(health["store"], "ok");

    // The database refuses connections and drops the service's: 503, the store named.
    admin_sql(
        &mut admin,
        format!("ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false"),
    )
    .await;
    let failing = loop {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&database)
        .execute(&mut admin)
        .await
        .unwrap();
        let (status, body) = service.get("/healthz").await;
        if status == 503 {
            break serde_json::from_str::<Value>(&body).unwrap();
        }
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failing["status"], "failing");
    assert_eq!(failing["store"], "unreachable");
    assert!(failing["store_error"].is_string(), "{failing}");

    // Open again: healthy again, without a restart.
    admin_sql(
        &mut admin,
        format!("ALTER DATABASE {database} WITH ALLOW_CONNECTIONS true"),
    )
    .await;
    let health = service.healthy().await;
    assert_eq!(health["store"], "ok");
    // SIGINT (Ctrl-C) stops it as SIGTERM does.
    assert_eq!(service.signal("-INT").await, 0, "{}", service.log());
    let log = service.log();
    assert!(log.contains("SIGINT"), "{log}");
    assert!(log.contains("marketsync service started"), "{log}");
    assert!(!log.contains(password), "the store's password was logged");

    admin_sql(
        &mut admin,
        format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
    )
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
}
