//! The set-up the binary's end-to-end tests share: a fresh directory with a config file and a
//! catalogue, the Reverb and ChannelAdvisor sandboxes, the `marketsync` binary run as a child
//! process with only the environment a test gives it, its `--json` output parsed back,
//! integrations connected from the command line, the scan for secrets in everything printed,
//! and a database of its own on the test PostgreSQL server.
//!
//! Each test file uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use marketsync_sandbox::{ChannelAdvisorSandbox, ReverbSandbox, Sandbox};
use serde_json::Value;

/// The credential key the tests seal with (64 hexadecimal characters).
pub const KEY_HEX: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// `what` followed by this process's id and the time in nanoseconds: a name (or a secret) no
/// other test and no other run shares.
pub fn unique(what: &str) -> String {
    format!(
        "{what}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )
}

/// A fresh directory for one test's config, database, catalogue, plans and logs.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(&format!("marketsync-cli-{name}")));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` as `marketsync.toml` in `dir`, the config file the binary reads there.
pub fn write_config(dir: &Path, text: &str) {
    std::fs::write(dir.join("marketsync.toml"), text).unwrap();
}

/// Writes `items` as the catalogue file `catalog.json` in `dir` (one JSON array).
pub fn write_catalog(dir: &Path, items: &[Value]) {
    std::fs::write(
        dir.join("catalog.json"),
        Value::from(items.to_vec()).to_string(),
    )
    .unwrap();
}

/// The config sections for a Reverb sandbox at `reverb_url` and the ChannelAdvisor application
/// `ca_app`, whose shared secret the binary reads from the variable `secret_env`.
pub fn channel_sections(reverb_url: &str, ca_app: &str, secret_env: &str) -> String {
    format!(
        r#"
[channels.reverb]
base_url = "{reverb_url}"

[channels.channeladvisor]
application_id = "{ca_app}"
shared_secret = {{ env = "{secret_env}" }}
"#
    )
}

/// A Reverb and a ChannelAdvisor sandbox without listings, products or orders (the test adds
/// its own), served.
pub async fn empty_sandboxes() -> (Sandbox<ReverbSandbox>, Sandbox<ChannelAdvisorSandbox>) {
    let reverb = ReverbSandbox::builder()
        .listings(0)
        .orders(0)
        .build()
        .start()
        .await
        .unwrap();
    let ca = ChannelAdvisorSandbox::builder()
        .products(0)
        .orders(0)
        .build()
        .start()
        .await
        .unwrap();
    (reverb, ca)
}

/// What one run of the binary gave.
pub struct Run {
    /// The exit code (-1 when a signal ended it).
    pub code: i32,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Run {
    /// Asserts that the run succeeded (showing what it printed if not).
    fn assert_ok(&self) {
        assert_eq!(
            self.code, 0,
            "stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
    }

    /// Stdout as the one JSON document `--json` promises (the run must have succeeded).
    pub fn json(&self) -> Value {
        self.assert_ok();
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }

    /// The human text of a successful run.
    pub fn text(&self) -> &str {
        self.assert_ok();
        &self.stdout
    }

    /// The whole of stderr as one JSON error document, after a failure (any exit code but 0).
    pub fn error_json(&self) -> Value {
        assert_ne!(self.code, 0, "expected a failure, stdout: {}", self.stdout);
        serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not one JSON document ({e}): {}", self.stderr))
    }

    /// The JSON error `--json` promises, after a failure with exit code `code` that printed
    /// nothing on stdout. Log lines may come first on stderr; the error is the last line.
    pub fn error(&self, code: i32) -> Value {
        assert_eq!(
            self.code, code,
            "stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        assert!(self.stdout.is_empty(), "a failure printed: {}", self.stdout);
        let last = self.stderr.trim().lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!("stderr does not end in a JSON error ({e}): {}", self.stderr)
        })
    }
}

/// Runs the binary in a directory with only the environment given here (and `PATH`), off the
/// async runtime (which keeps serving the sandboxes), and keeps every command line and
/// everything printed for the secret scan.
pub struct Cli {
    dir: PathBuf,
    env: Vec<(String, String)>,
    printed: Mutex<String>,
    argv: Mutex<String>,
}

impl Cli {
    /// Runs in `dir` with the credential key [`KEY_HEX`] and the variables `env`.
    pub fn new(dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut all = vec![("MARKETSYNC_CREDENTIAL_KEY".to_owned(), KEY_HEX.to_owned())];
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Self {
            dir: dir.to_path_buf(),
            env: all,
            printed: Mutex::new(String::new()),
            argv: Mutex::new(String::new()),
        }
    }

    /// The directory the binary runs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The binary in the directory with the environment, for a run the test drives itself
    /// (nothing of it is kept for the secret scan).
    pub fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("marketsync"));
        cmd.current_dir(&self.dir).env_clear();
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `args`, with `stdin` as its input if given.
    pub async fn run_with(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = assert_cmd::Command::from_std(self.command());
        cmd.args(args);
        {
            let mut argv = self.argv.lock().unwrap();
            argv.push_str(&args.join(" "));
            argv.push('\n');
        }
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

    /// Runs `args` without input.
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None).await
    }

    /// Runs `args` followed by `--json`, with `stdin` as its input if given; it must succeed.
    /// Returns its document.
    pub async fn json_with(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        self.run_with(&all, stdin).await.json()
    }

    /// Runs `args` followed by `--json`; it must succeed. Returns its document.
    pub async fn json(&self, args: &[&str]) -> Value {
        self.json_with(args, None).await
    }

    /// `integrations connect --channel CHANNEL --name NAME OPTIONS… --json`, with `stdin` as its
    /// input (the secret, for `--secret-stdin` among the options).
    pub async fn connect(&self, channel: &str, name: &str, options: &[&str], stdin: &str) -> Run {
        let mut args = vec![
            "integrations",
            "connect",
            "--channel",
            channel,
            "--name",
            name,
        ];
        args.extend_from_slice(options);
        args.push("--json");
        self.run_with(&args, Some(stdin)).await
    }

    /// [`connect`](Self::connect) of a ChannelAdvisor integration on the sandbox `ca`: its
    /// profile, its base URL and distribution centre 1, then `options`.
    pub async fn connect_channeladvisor(
        &self,
        name: &str,
        ca: &Sandbox<ChannelAdvisorSandbox>,
        options: &[&str],
        stdin: &str,
    ) -> Run {
        let profile = ca.credentials().profile_id.to_string();
        let base_url = ca.base_url();
        let mut all = vec![
            "--profile-id",
            profile.as_str(),
            "--base-url",
            base_url.as_str(),
            "--setting",
            "distribution_center_id=1",
        ];
        all.extend_from_slice(options);
        self.connect("channeladvisor", name, &all, stdin).await
    }

    /// Everything the runs printed so far, stdout and stderr.
    pub fn printed(&self) -> String {
        self.printed.lock().unwrap().clone()
    }

    /// Every command line given so far, one a line.
    pub fn argv(&self) -> String {
        self.argv.lock().unwrap().clone()
    }
}

/// The id of the integration in the document of `integrations connect|show|…`.
pub fn integration_id(doc: &Value) -> String {
    doc["integration"]["id"].as_str().unwrap().to_owned()
}

/// Asserts that none of `secrets` appears in any of `places`: each a text and the message that
/// says where a secret was found.
pub fn assert_no_secret(secrets: &[&str], places: &[(&str, &str)]) {
    for secret in secrets {
        for (text, found) in places {
            assert!(!text.contains(secret), "{found}");
        }
    }
}

/// The URL of the test PostgreSQL server; `None` (saying plainly that the test did not run)
/// without one.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("MARKETSYNC_TEST_POSTGRES_URL").ok();
    if url.is_none() {
        eprintln!(
            "NOT RUN: MARKETSYNC_TEST_POSTGRES_URL is not set (start a server with `eval \"$(bash .ci/postgres.sh)\"`)"
        );
    }
    url
}

/// Runs one administrative statement (the names in it are the test's own).
pub async fn admin_sql(conn: &mut sqlx::PgConnection, sql: String) {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .unwrap();
}

/// A new, empty database `database` on the server at `url` (one a previous run left is dropped
/// first): a connection to the server for the test's administrative statements, and the URL of
/// the database.
pub async fn fresh_database(url: &str, database: &str) -> (sqlx::PgConnection, url::Url) {
    use sqlx::Connection;

    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    admin_sql(&mut admin, format!("DROP DATABASE IF EXISTS {database}")).await;
    admin_sql(&mut admin, format!("CREATE DATABASE {database}")).await;
    let mut database_url = url::Url::parse(url).unwrap();
    database_url.set_path(database);
    (admin, database_url)
}
