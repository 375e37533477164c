//! `marketsync integrations …` run as a child process against the Reverb and ChannelAdvisor
//! sandboxes (served by this test), on a SQLite file; and the config errors a script sees.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use marketsync_sandbox::{ChannelAdvisorSandbox, ReverbSandbox};
use serde_json::Value;

/// The credential key the tests seal with (64 hexadecimal characters).
const KEY_HEX: &str = "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// A fresh directory for one test's config, database and plans.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "marketsync-cli-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What one run of the binary gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        assert_eq!(
            self.code, 0,
            "stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }

    fn error_json(&self) -> Value {
        assert_ne!(self.code, 0, "expected a failure, stdout: {}", self.stdout);
        serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not one JSON document ({e}): {}", self.stderr))
    }
}

/// Runs the binary in `dir` (off the async runtime, which keeps serving the sandboxes), with
/// only the environment given here, and keeps everything it printed for the secret scan.
struct Cli {
    dir: PathBuf,
    env: Vec<(String, String)>,
    printed: std::sync::Mutex<String>,
}

impl Cli {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            env: vec![("MARKETSYNC_CREDENTIAL_KEY".into(), KEY_HEX.into())],
            printed: std::sync::Mutex::new(String::new()),
        }
    }

    fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = Command::cargo_bin("marketsync").unwrap();
        cmd.current_dir(&self.dir).env_clear();
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.args(args);
        if let Some(input) = stdin {
            cmd.write_stdin(input.to_owned());
        }
        let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        let mut printed = self.printed.lock().unwrap();
        printed.push_str(&run.stdout);
        printed.push_str(&run.stderr);
        run
    }
}

fn write_config(dir: &Path, text: &str) {
    std::fs::write(dir.join("marketsync.toml"), text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_inspect_change_and_delete_integrations() {
    let reverb = ReverbSandbox::default().start().await.unwrap();
    let ca = ChannelAdvisorSandbox::default().start().await.unwrap();
    let ca_app = ca.credentials();
    let dir = temp_dir("integrations");
    write_config(
        &dir,
        &format!(
            r#"
[store]
url = "sqlite://ms.db"

[channels.reverb]
base_url = "{reverb}"

[channels.channeladvisor]
application_id = "{app}"
shared_secret = {{ env = "TEST_CA_SHARED_SECRET" }}
"#,
            reverb = reverb.base_url(),
            app = ca_app.application_id,
        ),
    );
    let cli = Cli::new(&dir).with_env("TEST_CA_SHARED_SECRET", &ca_app.shared_secret);

    // Connect Reverb: the token on stdin.
    let token = reverb.token();
    let doc = cli
        .run(
            &[
                "integrations",
                "connect",
                "--channel",
                "reverb",
                "--name",
                "Reverb shop",
                "--secret-stdin",
                "--json",
            ],
            Some(&format!("{token}\n")),
        )
        .await
        .json();
    let reverb_id = doc["integration"]["id"].as_str().unwrap().to_owned();
    assert_eq!(doc["integration"]["channel"], "reverb");
    assert_eq!(doc["integration"]["phase"], "setup");
    assert_eq!(doc["integration"]["health"]["state"], "unverified");
    assert_eq!(doc["integration"]["default_currency"], "USD");
    assert!(doc["account"].is_null());

    // Connect ChannelAdvisor: the refresh token on stdin, verified at once.
    let profile = ca_app.profile_id.to_string();
    let doc = cli
        .run(
            &[
                "integrations",
                "connect",
                "--channel",
                "channeladvisor",
                "--name",
                "CA feed",
                "--profile-id",
                &profile,
                "--base-url",
                &ca.base_url(),
                "--setting",
                "distribution_center_id=1",
                "--label",
                "ca-feed",
                "--secret-stdin",
                "--verify",
                "--json",
            ],
            Some(&ca_app.refresh_token),
        )
        .await
        .json();
    let ca_id = doc["integration"]["id"].as_str().unwrap().to_owned();
    assert_eq!(doc["integration"]["channel"], "channel_advisor");
    assert_eq!(doc["integration"]["health"]["state"], "healthy");
    assert_eq!(doc["integration"]["label"], "ca-feed");
    assert_eq!(doc["account"]["account_id"], profile);

    // A second integration with the same name is refused: names select integrations.
    let again = cli
        .run(
            &[
                "integrations",
                "connect",
                "--channel",
                "reverb",
                "--name",
                "Reverb shop",
                "--secret-stdin",
                "--json",
            ],
            Some(&token),
        )
        .await;
    assert_eq!(again.code, 4, "{}", again.stderr);
    assert_eq!(again.error_json()["error"]["code"], "refused");

    // List and show, parsed back.
    let list = cli
        .run(&["integrations", "list", "--json"], None)
        .await
        .json();
    let list = list["integrations"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let names: Vec<&str> = list.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"Reverb shop") && names.contains(&"CA feed"),
        "{names:?}"
    );
    let human = cli.run(&["integrations", "list"], None).await;
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains("Reverb shop") && human.stdout.contains("CA feed"));

    let show = cli
        .run(&["integrations", "show", "Reverb shop", "--json"], None)
        .await
        .json();
    assert_eq!(show["integration"]["id"], reverb_id.as_str());
    let adapter = &show["settings"]["adapter"];
    assert_eq!(
        adapter["base_url"].as_str().unwrap().trim_end_matches('/'),
        reverb.base_url().trim_end_matches('/')
    );
    assert_eq!(adapter["connection_name"], "Reverb shop");
    let human = cli.run(&["integrations", "show", &reverb_id], None).await;
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(human.stdout.contains("Reverb shop") && human.stdout.contains("base_url"));

    // Verify Reverb: a new process rebuilds the adapter from the stored settings and the
    // sealed token.
    let doc = cli
        .run(&["integrations", "verify", &reverb_id, "--json"], None)
        .await
        .json();
    assert_eq!(doc["integration"]["health"]["state"], "healthy");
    assert!(!doc["account"]["account_id"].as_str().unwrap().is_empty());

    // The most verbose logs, as a service would write them, carry no secret either (scanned
    // below with everything else printed): both adapters authenticate in this run, ChannelAdvisor
    // with its shared secret and refresh token.
    let verbose = Cli::new(&dir)
        .with_env("TEST_CA_SHARED_SECRET", &ca_app.shared_secret)
        .with_env("RUST_LOG", "trace")
        .with_env("MARKETSYNC_LOG_FORMAT", "json");
    for id in [&reverb_id, &ca_id] {
        let run = verbose
            .run(&["integrations", "verify", id, "--json"], None)
            .await;
        assert_eq!(run.json()["integration"]["health"]["state"], "healthy");
        assert!(!run.stderr.is_empty(), "trace logging wrote nothing");
    }
    cli.printed
        .lock()
        .unwrap()
        .push_str(&verbose.printed.lock().unwrap());

    // Label, disable, enable, a feature switch, activate.
    let doc = cli
        .run(
            &["integrations", "label", "Reverb shop", "reverb", "--json"],
            None,
        )
        .await
        .json();
    assert_eq!(doc["integration"]["label"], "reverb");
    assert!(!doc["audit"].as_array().unwrap().is_empty());
    let doc = cli
        .run(&["integrations", "disable", &reverb_id, "--json"], None)
        .await
        .json();
    assert_eq!(doc["integration"]["switch"], "disabled");
    let doc = cli
        .run(&["integrations", "enable", &reverb_id, "--json"], None)
        .await
        .json();
    assert_eq!(doc["integration"]["switch"], "enabled");
    let doc = cli
        .run(
            &[
                "integrations",
                "feature",
                &reverb_id,
                "orders",
                "on",
                "--json",
            ],
            None,
        )
        .await
        .json();
    assert_eq!(doc["integration"]["features"]["orders"], true);
    let doc = cli
        .run(&["integrations", "activate", &reverb_id, "--json"], None)
        .await
        .json();
    assert_eq!(doc["integration"]["phase"], "testing");

    // Unknown integrations: exit 3, a JSON error naming what to do.
    let missing = cli
        .run(&["integrations", "show", "No such shop", "--json"], None)
        .await;
    assert_eq!(missing.code, 3);
    let e = missing.error_json();
    assert_eq!(e["error"]["code"], "not_found");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("integrations list")
    );
    assert!(missing.stdout.is_empty());

    // Delete: the plan, then the confirmation of that plan.
    let plan = cli
        .run(&["integrations", "delete", "CA feed", "--json"], None)
        .await;
    let doc = plan.json();
    assert_eq!(doc["deleted"], false);
    assert_eq!(doc["integration"], ca_id.as_str());
    assert!(
        doc["plan"]["unfulfilled_orders"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let plan_file = dir.join("delete-plan.json");
    std::fs::write(&plan_file, &plan.stdout).unwrap();
    let still = cli
        .run(&["integrations", "list", "--json"], None)
        .await
        .json();
    assert_eq!(
        still["integrations"].as_array().unwrap().len(),
        2,
        "a plan deletes nothing"
    );
    let doc = cli
        .run(
            &[
                "integrations",
                "delete",
                &ca_id,
                "--confirm",
                "--plan",
                plan_file.to_str().unwrap(),
                "--json",
            ],
            None,
        )
        .await
        .json();
    assert_eq!(doc["deleted"], true);
    let list = cli
        .run(&["integrations", "list", "--json"], None)
        .await
        .json();
    assert_eq!(list["integrations"].as_array().unwrap().len(), 1);
    let all = cli
        .run(&["integrations", "list", "--all", "--json"], None)
        .await
        .json();
    let deleted = all["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == ca_id.as_str())
        .unwrap();
    assert!(deleted["deleted_at"].is_string());
    // A deleted integration refuses lifecycle changes: exit 4.
    let refused = cli
        .run(&["integrations", "enable", &ca_id, "--json"], None)
        .await;
    assert_eq!(refused.code, 4, "{}", refused.stderr);

    // The secrets never appear in anything printed, nor in the database file.
    let printed = cli.printed.lock().unwrap().clone();
    let db = std::fs::read(dir.join("ms.db")).unwrap();
    let db = String::from_utf8_lossy(&db);
    for secret in [
        token.as_str(),
        ca_app.refresh_token.as_str(),
        ca_app.shared_secret.as_str(),
        KEY_HEX,
    ] {
        assert!(!printed.contains(secret), "a secret was printed");
        assert!(
            !db.contains(secret),
            "a secret is in the database in clear text"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_is_never_taken_from_the_command_line() {
    let dir = temp_dir("argv");
    write_config(&dir, "[store]\nurl = \"sqlite://ms.db\"\n");
    let cli = Cli::new(&dir);
    let run = cli
        .run(
            &[
                "integrations",
                "connect",
                "--channel",
                "reverb",
                "--name",
                "x",
                "--setting",
                "token=argv-secret-1",
            ],
            None,
        )
        .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("never given on the command line"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("argv-secret-1"));
    // Without a terminal and without --secret-stdin/--secret-env there is nothing to read.
    let run = cli
        .run(
            &[
                "integrations",
                "connect",
                "--channel",
                "reverb",
                "--name",
                "x",
            ],
            None,
        )
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--secret-stdin"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn config_errors_fail_fast_naming_the_field() {
    let dir = temp_dir("config");
    let cli = Cli::new(&dir);

    // An unknown field: named, with its line; exit 2.
    write_config(
        &dir,
        "[store]\nurl = \"sqlite://ms.db\"\n\n[scheduler]\nmax_concurent = 4\n",
    );
    let run = cli.run(&["integrations", "list"], None).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("max_concurent"), "{}", run.stderr);
    assert!(
        run.stderr.contains("marketsync.toml line 5"),
        "{}",
        run.stderr
    );
    let run = cli.run(&["integrations", "list", "--json"], None).await;
    let e = run.error_json();
    assert_eq!(e["error"]["code"], "config");
    assert!(run.stdout.is_empty());

    // A missing key variable: the field and the variable are named.
    write_config(
        &dir,
        "[store]\nurl = \"sqlite://ms.db\"\n\n[credential_key]\nenv = \"TEST_NO_SUCH_KEY\"\n",
    );
    let run = cli.run(&["integrations", "list"], None).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("credential_key.env"), "{}", run.stderr);
    assert!(run.stderr.contains("TEST_NO_SUCH_KEY"), "{}", run.stderr);
    assert!(run.stderr.contains("line 4"), "{}", run.stderr);

    // An unreachable store: a SQLite file in a directory that does not exist.
    write_config(&dir, "[store]\nurl = \"sqlite://no/such/dir/ms.db\"\n");
    let run = cli.run(&["integrations", "list"], None).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("store.url"), "{}", run.stderr);
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);

    // An unreachable PostgreSQL server: named without its password.
    write_config(
        &dir,
        "[store]\nurl = \"postgres://ms:pg-secret-pw@127.0.0.1:1/ms\"\n",
    );
    let run = cli.run(&["integrations", "list", "--json"], None).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    let message = run.error_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("store.url"), "{message}");
    assert!(!run.stderr.contains("pg-secret-pw"), "{}", run.stderr);

    // The environment overrides the file: MARKETSYNC_STORE_URL.
    let cli = Cli::new(&dir).with_env("MARKETSYNC_STORE_URL", "sqlite://ms.db");
    let run = cli.run(&["integrations", "list", "--json"], None).await;
    assert_eq!(run.json()["integrations"], Value::Array(vec![]));

    // --config naming a missing file.
    let run = cli
        .run(&["--config", "nowhere.toml", "integrations", "list"], None)
        .await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nowhere.toml"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `connect` for a login-type marketplace as a child process: `on_prompt` sees each line it
/// prints on stderr (the login URL, the device code) and plays the seller, returning what to
/// type back (the address the login page sent the browser to), if anything.
async fn connect_by_login(
    dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    on_prompt: impl FnMut(&str) -> Option<String> + Send + 'static,
) -> (i32, String, String) {
    use std::io::{BufRead, Write};
    use std::process::Stdio;

    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("marketsync"));
    cmd.current_dir(dir).env_clear();
    cmd.env("MARKETSYNC_CREDENTIAL_KEY", KEY_HEX);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut on_prompt = on_prompt;
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        for line in stderr.lines() {
            let line = line.unwrap();
            seen.push_str(&line);
            seen.push('\n');
            if let Some(answer) = on_prompt(&line) {
                let mut input = stdin.take().unwrap();
                writeln!(input, "{answer}").unwrap();
            }
        }
        let output = child.wait_with_output().unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            seen,
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn login_type_integrations_connect_by_logging_in() {
    let allegro = marketsync_sandbox::AllegroSandbox::builder()
        .device_interval(chrono::TimeDelta::seconds(1))
        .build()
        .start()
        .await
        .unwrap();
    let tradera = marketsync_sandbox::TraderaSandbox::default()
        .start()
        .await
        .unwrap();
    let allegro_app = allegro.credentials();
    let tradera_app = tradera.credentials();
    let dir = temp_dir("login");
    write_config(
        &dir,
        &format!(
            r#"
[store]
url = "sqlite://ms.db"

[channels.allegro]
base_url = "{allegro}"
auth_base_url = "{allegro}"
client_id = "{client}"
client_secret = {{ env = "TEST_ALLEGRO_SECRET" }}

[channels.tradera]
base_url = "{tradera}"
app_id = {app_id}
app_key = {{ env = "TEST_TRADERA_KEY" }}
public_key = "{public_key}"
"#,
            allegro = allegro.base_url(),
            client = allegro_app.client_id,
            tradera = tradera.base_url(),
            app_id = tradera_app.app_id,
            public_key = marketsync_sandbox::tradera::PUBLIC_KEY,
        ),
    );
    let env = [
        ("TEST_ALLEGRO_SECRET", allegro_app.client_secret.as_str()),
        ("TEST_TRADERA_KEY", tradera_app.app_key.as_str()),
    ];

    // Allegro: the device flow. The seller types the printed code at Allegro's page.
    let seller = allegro.clone();
    let (code, stdout, stderr) = connect_by_login(
        &dir,
        &env,
        &[
            "integrations",
            "connect",
            "--channel",
            "allegro",
            "--name",
            "Allegro shop",
            "--json",
        ],
        move |line| {
            if let Some(code) = line.strip_prefix("and enter the code ") {
                assert!(seller.approve_device(code.trim()), "unknown code {code}");
            }
            None
        },
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Log in at"), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["integration"]["channel"], "allegro");
    assert_eq!(doc["integration"]["health"]["state"], "healthy");
    assert_eq!(doc["integration"]["default_currency"], "PLN");

    // Tradera: the token login. The seller logs in at the printed page, which carries the
    // secret key, and pastes the address Tradera sent the browser back to.
    let seller = tradera.clone();
    let (code, stdout, stderr) = connect_by_login(
        &dir,
        &env,
        &[
            "integrations",
            "connect",
            "--channel",
            "tradera",
            "--name",
            "Tradera shop",
            "--json",
        ],
        move |line| {
            if let Some((_, url)) = line.split_once("Log in at Tradera: ") {
                let url = url::Url::parse(url.trim()).unwrap();
                let skey = url
                    .query_pairs()
                    .find(|(k, _)| k == "skey")
                    .map(|(_, v)| v.into_owned())
                    .unwrap();
                seller.login_with_secret_key(&skey);
            }
            line.starts_with("After logging in").then(|| {
                format!(
                    "https://shop.example/back?userId={}",
                    marketsync_sandbox::tradera::USER_ID
                )
            })
        },
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["integration"]["channel"], "tradera");
    assert_eq!(doc["integration"]["health"]["state"], "healthy");

    // Both verify from a fresh process: the sessions were sealed in the store.
    let cli = Cli::new(&dir)
        .with_env("TEST_ALLEGRO_SECRET", &allegro_app.client_secret)
        .with_env("TEST_TRADERA_KEY", &tradera_app.app_key);
    for name in ["Allegro shop", "Tradera shop"] {
        let doc = cli
            .run(&["integrations", "verify", name, "--json"], None)
            .await
            .json();
        assert_eq!(doc["integration"]["health"]["state"], "healthy");
    }
    let printed = cli.printed.lock().unwrap().clone();
    for secret in [
        allegro_app.client_secret.as_str(),
        tradera_app.app_key.as_str(),
    ] {
        assert!(!printed.contains(secret), "a secret was printed");
        assert!(!stderr.contains(secret), "a secret was printed");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn integrations_on_a_postgres_store() {
    use sqlx::Connection;

    let Ok(url) = std::env::var("MARKETSYNC_TEST_POSTGRES_URL") else {
        eprintln!(
            "NOT RUN: MARKETSYNC_TEST_POSTGRES_URL is not set (start a server with `eval \"$(bash .ci/postgres.sh)\"`)"
        );
        return;
    };
    // A database of its own.
    let database = format!("ms_integrations_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let admin_sql = |sql: String| sqlx::query(sqlx::AssertSqlSafe(sql));
    admin_sql(format!("DROP DATABASE IF EXISTS {database}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin_sql(format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut store_url = url::Url::parse(&url).unwrap();
    store_url.set_path(&database);

    let reverb = ReverbSandbox::default().start().await.unwrap();
    let dir = temp_dir("postgres");
    write_config(
        &dir,
        &format!(
            "[store]\nurl = \"{store_url}\"\n\n[channels.reverb]\nbase_url = \"{}\"\n",
            reverb.base_url()
        ),
    );
    let cli = Cli::new(&dir);
    let token = reverb.token();
    let doc = cli
        .run(
            &[
                "integrations",
                "connect",
                "--channel",
                "reverb",
                "--name",
                "Reverb on Postgres",
                "--secret-stdin",
                "--json",
            ],
            Some(&token),
        )
        .await
        .json();
    let id = doc["integration"]["id"].as_str().unwrap().to_owned();
    // Another process opens the same database, rebuilds the adapter and verifies.
    let doc = cli
        .run(
            &["integrations", "verify", "Reverb on Postgres", "--json"],
            None,
        )
        .await
        .json();
    assert_eq!(doc["integration"]["id"], id.as_str());
    assert_eq!(doc["integration"]["health"]["state"], "healthy");
    let list = cli
        .run(&["integrations", "list", "--json"], None)
        .await
        .json();
    assert_eq!(list["integrations"].as_array().unwrap().len(), 1);
    let doc = cli
        .run(
            &["integrations", "delete", &id, "--confirm", "--json"],
            None,
        )
        .await
        .json();
    assert_eq!(doc["deleted"], true);
    let list = cli
        .run(&["integrations", "list", "--json"], None)
        .await
        .json();
    assert!(list["integrations"].as_array().unwrap().is_empty());
    assert!(
        !cli.printed.lock().unwrap().contains(&token),
        "a secret was printed"
    );

    admin_sql(format!("DROP DATABASE {database} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
