//! `marketsync integrations …` run as a child process against the Reverb and ChannelAdvisor
//! sandboxes (served by this test), on a SQLite file; and the config errors a script sees.

mod common;

use common::{
    Cli, KEY_HEX, admin_sql, assert_no_secret, channel_sections, fresh_database, integration_id,
    temp_dir, write_config,
};
use marketsync_sandbox::{ChannelAdvisorSandbox, ReverbSandbox};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn connect_inspect_change_and_delete_integrations() {
    let reverb = ReverbSandbox::default().start().await.unwrap();
    let ca = ChannelAdvisorSandbox::default().start().await.unwrap();
    let ca_app = ca.credentials();
    let dir = temp_dir("integrations");
    write_config(
        &dir,
        &format!(
            "[store]\nurl = \"sqlite://ms.db\"\n{}",
            channel_sections(
                &reverb.base_url(),
                &ca_app.application_id,
                "TEST_CA_SHARED_SECRET"
            )
        ),
    );
    let ca_secret = [("TEST_CA_SHARED_SECRET", ca_app.shared_secret.as_str())];
    let cli = Cli::new(&dir, &ca_secret);

    // Connect Reverb: the token on stdin.
    let token = reverb.token();
    let doc = cli
        .connect(
            "reverb",
            "Reverb shop",
            &["--secret-stdin"],
            &format!("{token}\n"),
        )
        .await
        .json();
    let reverb_id = integration_id(&doc);
    assert_eq!(doc["integration"]["channel"], "reverb");
    assert_eq!(doc["integration"]["phase"], "setup");
    assert_eq!(doc["integration"]["health"]["state"], "unverified");
    assert_eq!(doc["integration"]["default_currency"], "USD");
    assert!(doc["account"].is_null());

    // Connect ChannelAdvisor: the refresh token on stdin, verified at once.
    let profile = ca_app.profile_id.to_string();
    let doc = cli
        .connect_channeladvisor(
            "CA feed",
            &ca,
            &["--label", "ca-feed", "--secret-stdin", "--verify"],
            &ca_app.refresh_token,
        )
        .await
        .json();
    let ca_id = integration_id(&doc);
    assert_eq!(doc["integration"]["channel"], "channel_advisor");
    assert_eq!(doc["integration"]["health"]["state"], "healthy");
    assert_eq!(doc["integration"]["label"], "ca-feed");
    assert_eq!(doc["account"]["account_id"], profile);

    // A second integration with the same name is refused: names select integrations.
    let again = cli
        .connect("reverb", "Reverb shop", &["--secret-stdin"], &token)
        .await;
    assert_eq!(again.code, 4, "{}", again.stderr);
    assert_eq!(again.error_json()["error"]["code"], "refused");

    // List and show, parsed back.
    let list = cli.json(&["integrations", "list"]).await;
    let list = list["integrations"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let names: Vec<&str> = list.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"Reverb shop") && names.contains(&"CA feed"),
        "{names:?}"
    );
    let human = cli.run(&["integrations", "list"]).await;
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains("Reverb shop") && human.stdout.contains("CA feed"));

    let show = cli.json(&["integrations", "show", "Reverb shop"]).await;
    assert_eq!(show["integration"]["id"], reverb_id.as_str());
    let adapter = &show["settings"]["adapter"];
    assert_eq!(
        adapter["base_url"].as_str().unwrap().trim_end_matches('/'),
        reverb.base_url().trim_end_matches('/')
    );
    assert_eq!(adapter["connection_name"], "Reverb shop");
    let human = cli.run(&["integrations", "show", &reverb_id]).await;
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(human.stdout.contains("Reverb shop") && human.stdout.contains("base_url"));

    // Verify Reverb: a new process rebuilds the adapter from the stored settings and the
    // sealed token.
    let doc = cli.json(&["integrations", "verify", &reverb_id]).await;
    assert_eq!(doc["integration"]["health"]["state"], "healthy");
    assert!(!doc["account"]["account_id"].as_str().unwrap().is_empty());

    // The most verbose logs, as a service would write them, carry no secret either (scanned
    // below with everything else printed): both adapters authenticate in this run, ChannelAdvisor
    // with its shared secret and refresh token.
    let verbose = Cli::new(
        &dir,
        &[
            ca_secret[0],
            ("RUST_LOG", "trace"),
            ("MARKETSYNC_LOG_FORMAT", "json"),
        ],
    );
    for id in [&reverb_id, &ca_id] {
        let run = verbose.run(&["integrations", "verify", id, "--json"]).await;
        assert_eq!(run.json()["integration"]["health"]["state"], "healthy");
        assert!(!run.stderr.is_empty(), "trace logging wrote nothing");
    }

    // Label, disable, enable, a feature switch, activate.
    let doc = cli
        .json(&["integrations", "label", "Reverb shop", "reverb"])
        .await;
    assert_eq!(doc["integration"]["label"], "reverb");
    assert!(!doc["audit"].as_array().unwrap().is_empty());
    let doc = cli.json(&["integrations", "disable", &reverb_id]).await;
    assert_eq!(doc["integration"]["switch"], "disabled");
    let doc = cli.json(&["integrations", "enable", &reverb_id]).await;
    assert_eq!(doc["integration"]["switch"], "enabled");
    let doc = cli
        .json(&["integrations", "feature", &reverb_id, "orders", "on"])
        .await;
    assert_eq!(doc["integration"]["features"]["orders"], true);
    let doc = cli.json(&["integrations", "activate", &reverb_id]).await;
    assert_eq!(doc["integration"]["phase"], "testing");

    // Unknown integrations: exit 3, a JSON error naming what to do.
    let missing = cli
        .run(&["integrations", "show", "No such shop", "--json"])
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
        .run(&["integrations", "delete", "CA feed", "--json"])
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
    let still = cli.json(&["integrations", "list"]).await;
    assert_eq!(
        still["integrations"].as_array().unwrap().len(),
        2,
        "a plan deletes nothing"
    );
    let doc = cli
        .json(&[
            "integrations",
            "delete",
            &ca_id,
            "--confirm",
            "--plan",
            plan_file.to_str().unwrap(),
        ])
        .await;
    assert_eq!(doc["deleted"], true);
    let list = cli.json(&["integrations", "list"]).await;
    assert_eq!(list["integrations"].as_array().unwrap().len(), 1);
    let all = cli.json(&["integrations", "list", "--all"]).await;
    let deleted = all["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == ca_id.as_str())
        .unwrap();
    assert!(deleted["deleted_at"].is_string());
    // A deleted integration refuses lifecycle changes: exit 4.
    let refused = cli.run(&["integrations", "enable", &ca_id, "--json"]).await;
    assert_eq!(refused.code, 4, "{}", refused.stderr);

    // The secrets never appear in anything printed, nor in the database file.
    let printed = cli.printed() + &verbose.printed();
    let db = std::fs::read(dir.join("ms.db")).unwrap();
    let db = String::from_utf8_lossy(&db);
    assert_no_secret(
        &[
            token.as_str(),
            ca_app.refresh_token.as_str(),
            ca_app.shared_secret.as_str(),
            KEY_HEX,
        ],
        &[
            (&printed, "a secret was printed"),
            (&db, "a secret is in the database in clear text"),
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_is_never_taken_from_the_command_line() {
    let dir = temp_dir("argv");
    write_config(&dir, "[store]\nurl = \"sqlite://ms.db\"\n");
    let cli = Cli::new(&dir, &[]);
    let connect = [
        "integrations",
        "connect",
        "--channel",
        "reverb",
        "--name",
        "x",
    ];
    let run = cli
        .run(&[&connect[..], &["--setting", "token=argv-secret-1"][..]].concat())
        .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("never given on the command line"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("argv-secret-1"));
    // Without a terminal and without --secret-stdin/--secret-env there is nothing to read.
    let run = cli.run(&connect).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--secret-stdin"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn config_errors_fail_fast_naming_the_field() {
    let dir = temp_dir("config");
    let cli = Cli::new(&dir, &[]);

    // An unknown field: named, with its line; exit 2.
    write_config(
        &dir,
        "[store]\nurl = \"sqlite://ms.db\"\n\n[scheduler]\nmax_concurent = 4\n",
    );
    let run = cli.run(&["integrations", "list"]).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("max_concurent"), "{}", run.stderr);
    assert!(
        run.stderr.contains("marketsync.toml line 5"),
        "{}",
        run.stderr
    );
    let run = cli.run(&["integrations", "list", "--json"]).await;
    let e = run.error_json();
    assert_eq!(e["error"]["code"], "config");
    assert!(run.stdout.is_empty());

    // A missing key variable: the field and the variable are named.
    write_config(
        &dir,
        "[store]\nurl = \"sqlite://ms.db\"\n\n[credential_key]\nenv = \"TEST_NO_SUCH_KEY\"\n",
    );
    let run = cli.run(&["integrations", "list"]).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("credential_key.env"), "{}", run.stderr);
    assert!(run.stderr.contains("TEST_NO_SUCH_KEY"), "{}", run.stderr);
    assert!(run.stderr.contains("line 4"), "{}", run.stderr);

    // An unreachable store: a SQLite file in a directory that does not exist.
    write_config(&dir, "[store]\nurl = \"sqlite://no/such/dir/ms.db\"\n");
    let run = cli.run(&["integrations", "list"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("store.url"), "{}", run.stderr);
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);

    // An unreachable PostgreSQL server: named without its password.
    write_config(
        &dir,
        "[store]\nurl = \"postgres://ms:pg-secret-pw@127.0.0.1:1/ms\"\n",
    );
    let run = cli.run(&["integrations", "list", "--json"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    let message = run.error_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("store.url"), "{message}");
    assert!(!run.stderr.contains("pg-secret-pw"), "{}", run.stderr);

    // The environment overrides the file: MARKETSYNC_STORE_URL.
    let cli = Cli::new(&dir, &[("MARKETSYNC_STORE_URL", "sqlite://ms.db")]);
    let run = cli.run(&["integrations", "list", "--json"]).await;
    assert_eq!(run.json()["integrations"], Value::Array(vec![]));

    // --config naming a missing file.
    let run = cli
        .run(&["--config", "nowhere.toml", "integrations", "list"])
        .await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nowhere.toml"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `connect` for a login-type marketplace as a child process of `cli`: `on_prompt` sees
/// each line it prints on stderr (the login URL, the device code) and plays the seller,
/// returning what to type back (the address the login page sent the browser to), if anything.
async fn connect_by_login(
    cli: &Cli,
    args: &[&str],
    on_prompt: impl FnMut(&str) -> Option<String> + Send + 'static,
) -> (i32, String, String) {
    use std::io::{BufRead, Write};
    use std::process::Stdio;

    let mut cmd = cli.command();
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
    let cli = Cli::new(
        &dir,
        &[
            ("TEST_ALLEGRO_SECRET", allegro_app.client_secret.as_str()),
            ("TEST_TRADERA_KEY", tradera_app.app_key.as_str()),
        ],
    );

    // Allegro: the device flow. The seller types the printed code at Allegro's page.
    let seller = allegro.clone();
    let (code, stdout, stderr) = connect_by_login(
        &cli,
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
        &cli,
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
    for name in ["Allegro shop", "Tradera shop"] {
        let doc = cli.json(&["integrations", "verify", name]).await;
        assert_eq!(doc["integration"]["health"]["state"], "healthy");
    }
    assert_no_secret(
        &[
            allegro_app.client_secret.as_str(),
            tradera_app.app_key.as_str(),
        ],
        &[
            (&cli.printed(), "a secret was printed"),
            (&stderr, "a secret was printed"),
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn integrations_on_a_postgres_store() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    // A database of its own.
    let database = format!("ms_integrations_{}", std::process::id());
    let (mut admin, store_url) = fresh_database(&url, &database).await;

    let reverb = ReverbSandbox::default().start().await.unwrap();
    let dir = temp_dir("postgres");
    write_config(
        &dir,
        &format!(
            "[store]\nurl = \"{store_url}\"\n\n[channels.reverb]\nbase_url = \"{}\"\n",
            reverb.base_url()
        ),
    );
    let cli = Cli::new(&dir, &[]);
    let token = reverb.token();
    let doc = cli
        .connect("reverb", "Reverb on Postgres", &["--secret-stdin"], &token)
        .await
        .json();
    let id = integration_id(&doc);
    // Another process opens the same database, rebuilds the adapter and verifies.
    let doc = cli
        .json(&["integrations", "verify", "Reverb on Postgres"])
        .await;
    assert_eq!(doc["integration"]["id"], id.as_str());
    assert_eq!(doc["integration"]["health"]["state"], "healthy");
    let list = cli.json(&["integrations", "list"]).await;
    assert_eq!(list["integrations"].as_array().unwrap().len(), 1);
    let doc = cli
        .json(&["integrations", "delete", &id, "--confirm"])
        .await;
    assert_eq!(doc["deleted"], true);
    let list = cli.json(&["integrations", "list"]).await;
    assert!(list["integrations"].as_array().unwrap().is_empty());
    assert!(!cli.printed().contains(&token), "a secret was printed");

    admin_sql(&mut admin, format!("DROP DATABASE {database} WITH (FORCE)")).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
