//! The operator's commands end to end: the `marketsync` binary run as a child process on a
//! SQLite file and a catalogue file, against the Reverb and ChannelAdvisor sandboxes served by
//! this test. Two integrations are connected from the command line (secrets on stdin), mapped,
//! activated and run: orders imported, held, explained and released by a mapping; listings
//! linked and synced; a reconcile planned and confirmed; a shipment the host recorded sent from
//! the outbox; notifications listed and read; the audit log read; an integration deleted.
//! Every command's `--json` is parsed back and asserted on, the exit codes of a missing
//! integration and a refusal are checked, and nothing printed carries a secret.

mod common;

use std::sync::Arc;

use common::{
    Cli, KEY_HEX, assert_no_secret, channel_sections, empty_sandboxes, integration_id, temp_dir,
    unique, write_catalog, write_config,
};
use marketsync::{ChannelConfig, ChannelOrderId, IntegrationId, Shipment};
use marketsync_sandbox::channeladvisor::NewOrder as CaOrder;
use marketsync_sandbox::reverb::{NewListing, NewOrder as ReverbOrder};
use serde_json::{Value, json};

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_owned()
        })
        .collect()
}

/// `mappings shipping add INTEGRATION --text TEXT --service SERVICE MORE… --json`, parsed back.
async fn add_shipping(
    cli: &Cli,
    integration: &str,
    text: &str,
    service: &str,
    more: &[&str],
) -> Value {
    let mut args = vec![
        "mappings",
        "shipping",
        "add",
        integration,
        "--text",
        text,
        "--service",
        service,
    ];
    args.extend_from_slice(more);
    cli.json(&args).await
}

fn item(sku: &str, label: &str, quantity: u32, price: &str) -> Value {
    json!({
        "sku": sku,
        "title": format!("Item {sku}"),
        "price": {"amount": price, "currency": "USD"},
        "quantity": quantity,
        "labels": [label],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_two_integrations_from_the_command_line() {
    // ----- the marketplaces, with secrets only this run knows -----
    let (reverb, ca) = empty_sandboxes().await;
    let reverb_token = unique("rv-token");
    reverb.add_token(
        &reverb_token,
        &[
            "read_listings",
            "write_listings",
            "read_orders",
            "write_orders",
            "read_profile",
        ],
    );
    let ca_app = "ops-app";
    let ca_shared = unique("ca-shared");
    let ca_refresh = unique("ca-refresh");
    ca.add_application(ca_app, &ca_shared);
    ca.add_refresh_token(&ca_refresh, ca_app, &["orders", "inventory"]);

    // Reverb: two listings of labelled items, one stray listing; an order of a labelled item
    // and one of a SKU the catalogue does not know.
    let gtr1 = reverb.add_listing(NewListing {
        sku: Some("GTR-1".into()),
        inventory: 9,
        ..NewListing::default()
    });
    let gtr2 = reverb.add_listing(NewListing {
        sku: Some("GTR-2".into()),
        inventory: 9,
        ..NewListing::default()
    });
    let stray = reverb.add_listing(NewListing {
        sku: Some("STRAY-1".into()),
        title: "Gibson Les Paul".into(),
        ..NewListing::default()
    });
    let rv_order_ok = reverb.add_order(ReverbOrder {
        sku: Some("GTR-1".into()),
        ..ReverbOrder::default()
    });
    let rv_order_sku = reverb.add_order(ReverbOrder {
        sku: Some("LEGACY-GTR".into()),
        ..ReverbOrder::default()
    });
    // ChannelAdvisor: one order with a mapped shipping class, one with a class not mapped yet.
    ca.add_product("CA-1", &["ca-feed"], 5);
    let ca_order_ok = ca
        .add_order(CaOrder {
            class: "Standard".into(),
            lines: vec![("CA-1".into(), 1, 2500)],
            ..CaOrder::default()
        })
        .to_string();
    let ca_order_held = ca
        .add_order(CaOrder {
            class: "Next Day".into(),
            lines: vec![("CA-1".into(), 1, 2500)],
            ..CaOrder::default()
        })
        .to_string();

    // ----- the config, the catalogue -----
    let dir = temp_dir("operate");
    write_config(
        &dir,
        &format!(
            "[store]\nurl = \"sqlite://ms.db\"\n\n[catalog]\nfile = \"catalog.json\"\n{}",
            channel_sections(&reverb.base_url(), ca_app, "OPS_CA_SHARED_SECRET")
        ),
    );
    write_catalog(
        &dir,
        &[
            item("GTR-1", "reverb-shop", 3, "999.00"),
            item("GTR-2", "reverb-shop", 1, "1499.00"),
            item("CA-1", "ca-feed", 5, "25.00"),
        ],
    );
    let cli = Cli::new(&dir, &[("OPS_CA_SHARED_SECRET", &ca_shared)]);

    // ----- connect both from the command line, secrets on stdin -----
    let doc = cli
        .connect(
            "reverb",
            "Reverb shop",
            &["--label", "reverb-shop", "--secret-stdin", "--verify"],
            &format!("{reverb_token}\n"),
        )
        .await
        .json();
    let rv_id = integration_id(&doc);
    assert_eq!(doc["integration"]["health"]["state"], "healthy");
    let doc = cli
        .connect_channeladvisor(
            "CA feed",
            &ca,
            &[
                "--setting",
                "label=ca-feed",
                "--label",
                "ca-feed",
                "--secret-stdin",
                "--verify",
            ],
            &ca_refresh,
        )
        .await
        .json();
    let ca_id = integration_id(&doc);
    assert_eq!(doc["integration"]["health"]["state"], "healthy");

    // ----- map shipping (ChannelAdvisor requires it), activate, features on -----
    let ups = ["--carrier", "UPS", "--class", "Ground"];
    let doc = add_shipping(&cli, "CA feed", "Standard", "UPS Ground", &ups).await;
    assert_eq!(doc["integration"]["id"], ca_id.as_str());
    assert_eq!(doc["change"], "added");
    assert_eq!(doc["mapping"]["channel_text"], "Standard");
    assert_eq!(doc["mapping"]["service"]["name"], "UPS Ground");
    assert_eq!(doc["mapping"]["service"]["carrier"], "UPS");
    assert_eq!(doc["held_orders"], 0);
    // The same mapping again changes nothing.
    let doc = add_shipping(&cli, &ca_id, "Standard", "UPS Ground", &ups).await;
    assert_eq!(doc["change"], "unchanged");
    let doc = add_shipping(&cli, "Reverb shop", "shipped", "Post", &[]).await;
    assert_eq!(doc["change"], "added");
    for (name, features) in [
        (
            "Reverb shop",
            &["listings", "reconciler", "orders", "fulfillments"][..],
        ),
        ("CA feed", &["orders"][..]),
    ] {
        let doc = cli.json(&["integrations", "activate", name]).await;
        assert_eq!(doc["integration"]["phase"], "testing");
        for f in features {
            let doc = cli.json(&["integrations", "feature", name, f, "on"]).await;
            assert_eq!(doc["integration"]["features"][*f], true, "{name} {f}");
        }
    }

    // ----- orders import: one imported, one held, each with why -----
    let doc = cli.json(&["orders", "import", "CA feed"]).await;
    assert_eq!(doc["integration"]["name"], "CA feed");
    assert_eq!(doc["counts"]["imported"], 1, "{doc}");
    assert_eq!(doc["counts"]["held"], 1, "{doc}");
    assert_eq!(strings(&doc["imported"]), [ca_order_ok.as_str()]);
    let held = &doc["not_imported"][0];
    assert_eq!(held["order_id"], ca_order_held.as_str());
    assert_eq!(held["held"], true);
    assert_eq!(held["reason"]["reason"], "unmapped_shipping");
    assert_eq!(held["reason"]["text"], "Next Day");
    assert_eq!(
        held["commands"][0],
        "marketsync mappings shipping add 'CA feed' --text 'Next Day' --service SERVICE"
    );
    let doc = cli.json(&["orders", "import", &rv_id]).await;
    assert_eq!(strings(&doc["imported"]), [rv_order_ok.as_str()], "{doc}");
    assert_eq!(doc["counts"]["held"], 1, "{doc}");
    assert_eq!(doc["not_imported"][0]["order_id"], rv_order_sku.as_str());
    assert_eq!(doc["not_imported"][0]["reason"]["reason"], "unmapped_sku");
    assert_eq!(doc["not_imported"][0]["reason"]["skus"][0], "LEGACY-GTR");

    // ----- orders held: grouped by the missing mapping, with the exact text -----
    let doc = cli.json(&["orders", "held", "CA feed"]).await;
    assert_eq!(doc["held_orders"], 1);
    let groups = doc["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{doc}");
    assert_eq!(groups[0]["missing"]["mapping"], "shipping");
    assert_eq!(groups[0]["missing"]["value"], "Next Day");
    assert_eq!(groups[0]["orders"], 1);
    assert_eq!(strings(&groups[0]["order_ids"]), [ca_order_held.as_str()]);
    let human = cli.run(&["orders", "held", "CA feed"]).await;
    assert!(
        human.text().contains("shipping text \"Next Day\"")
            && human.text().contains(
                "map it with: marketsync mappings shipping add 'CA feed' --text 'Next Day' --service SERVICE"
            ),
        "{}",
        human.stdout
    );
    let doc = cli.json(&["orders", "held", "Reverb shop"]).await;
    assert_eq!(doc["groups"][0]["missing"]["mapping"], "sku");
    assert_eq!(doc["groups"][0]["missing"]["value"], "LEGACY-GTR");

    // ----- orders explain: the whole story -----
    let doc = cli
        .json(&["orders", "explain", "CA feed", &ca_order_held])
        .await;
    assert_eq!(doc["order_id"], ca_order_held.as_str());
    assert_eq!(doc["standing"], "held");
    assert_eq!(doc["reason"]["text"], "Next Day");
    assert!(doc["remedy"].as_str().unwrap().contains("Next Day"));
    assert!(!doc["story"].as_array().unwrap().is_empty(), "{doc}");
    assert_eq!(doc["ledger"]["times_seen"], 1);
    let human = cli
        .run(&["orders", "explain", "CA feed", &ca_order_held])
        .await;
    assert!(human.text().contains("held"), "{}", human.stdout);
    let doc = cli
        .json(&["orders", "explain", "CA feed", "999999999"])
        .await;
    assert_eq!(doc["standing"], "never_downloaded");
    assert!(doc["ledger"].is_null());
    assert!(!doc["story"].as_array().unwrap().is_empty());

    // ----- mapping the text releases the held order on the next import -----
    let doc = add_shipping(&cli, "CA feed", "Next Day", "Express", &[]).await;
    assert_eq!(doc["change"], "added");
    assert_eq!(doc["held_orders"], 1);
    assert_eq!(doc["shipping"].as_array().unwrap().len(), 2);
    let doc = cli.json(&["orders", "import", "CA feed"]).await;
    assert_eq!(strings(&doc["released"]), [ca_order_held.as_str()], "{doc}");
    assert_eq!(doc["counts"]["released"], 1);
    assert_eq!(doc["counts"]["held"], 0);
    let doc = cli.json(&["orders", "held", "CA feed"]).await;
    assert!(doc["groups"].as_array().unwrap().is_empty(), "{doc}");
    let doc = cli
        .json(&["orders", "explain", "CA feed", &ca_order_held])
        .await;
    assert_eq!(doc["standing"], "imported");
    // And a SKU mapping releases the Reverb order.
    let doc = cli
        .json(&[
            "mappings",
            "sku",
            "add",
            "Reverb shop",
            "--channel-sku",
            "LEGACY-GTR",
            "--sku",
            "GTR-2",
        ])
        .await;
    assert_eq!(doc["change"], "added");
    assert_eq!(doc["held_orders"], 1);
    assert_eq!(doc["mapping"]["inventory_sku"], "GTR-2");
    let doc = cli.json(&["mappings", "sku", "list", "Reverb shop"]).await;
    assert_eq!(doc["skus"][0]["channel_sku"], "LEGACY-GTR");
    let doc = cli.json(&["orders", "import", "Reverb shop"]).await;
    assert_eq!(strings(&doc["released"]), [rv_order_sku.as_str()], "{doc}");

    // ----- mappings list and remove -----
    let doc = cli.json(&["mappings", "shipping", "list", "CA feed"]).await;
    let texts: Vec<&str> = doc["shipping"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["channel_text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Next Day", "Standard"]);
    add_shipping(&cli, "CA feed", "Freight", "LTL", &[]).await;
    let doc = cli
        .json(&[
            "mappings", "shipping", "remove", "CA feed", "--text", "Freight",
        ])
        .await;
    assert_eq!(doc["change"], "removed");
    assert_eq!(doc["mapping"]["channel_text"], "Freight");
    assert_eq!(doc["shipping"].as_array().unwrap().len(), 2);
    let gone = cli
        .run(&[
            "mappings", "shipping", "remove", "CA feed", "--text", "Freight", "--json",
        ])
        .await;
    let e = gone.error(3);
    assert_eq!(e["error"]["code"], "not_found");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("marketsync mappings shipping list"),
        "{e}"
    );

    // ----- listings: link and sync now -----
    let doc = cli.json(&["listings", "link", "Reverb shop"]).await;
    let mut linked: Vec<(String, String)> = doc["linked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().unwrap().to_owned(),
                l["listing_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    linked.sort();
    assert_eq!(
        linked,
        [
            ("GTR-1".to_owned(), gtr1.to_string()),
            ("GTR-2".to_owned(), gtr2.to_string())
        ]
    );
    let without = doc["channel_listings_without_item"].as_array().unwrap();
    assert_eq!(without.len(), 1, "{doc}");
    assert_eq!(without[0]["listing_id"], stray.to_string());
    let doc = cli.json(&["listings", "sync", "Reverb shop"]).await;
    let mut sent = strings(&doc["sent"]);
    sent.sort();
    assert_eq!(sent, ["GTR-1", "GTR-2"], "{doc}");
    assert!(doc["failed"].as_array().unwrap().is_empty(), "{doc}");
    assert_eq!(reverb.listing(gtr1).unwrap()["inventory"], 3);
    assert_eq!(reverb.listing(gtr2).unwrap()["inventory"], 1);

    // ----- reconcile: the plan ends nothing; its confirmation ends the stray listing -----
    let plan_file = dir.join("reconcile-plan.json");
    let plan_path = plan_file.to_str().unwrap();
    let doc = cli
        .json(&["reconcile", "plan", "Reverb shop", "--out", plan_path])
        .await;
    assert_eq!(doc["to_end"], 1);
    assert_eq!(doc["plan"]["integration"], rv_id.as_str());
    assert_eq!(doc["plan"]["label"], "reverb-shop");
    assert_eq!(doc["plan"]["listings"][0]["listing_id"], stray.to_string());
    assert_eq!(doc["plan"]["listings"][0]["sku"], "STRAY-1");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    assert_eq!(saved["plan"], doc["plan"]);
    assert!(reverb.ends().is_empty(), "a plan ends nothing");
    let doc = cli
        .json(&["reconcile", "confirm", "Reverb shop", "--plan", plan_path])
        .await;
    assert_eq!(doc["large"], false);
    assert_eq!(strings(&doc["ended"]), [stray.to_string()]);
    assert!(doc["failed"].as_array().unwrap().is_empty());
    assert_eq!(reverb.ends().len(), 1);
    // A plan that ends more than the integration's share (50%) is refused until a person
    // confirms it with --large.
    let more: Vec<String> = ["STRAY-2", "STRAY-3", "STRAY-4"]
        .iter()
        .map(|sku| {
            reverb
                .add_listing(NewListing {
                    sku: Some((*sku).into()),
                    ..NewListing::default()
                })
                .to_string()
        })
        .collect();
    let large_file = dir.join("large-plan.json");
    let large_path = large_file.to_str().unwrap();
    let doc = cli
        .json(&["reconcile", "plan", &rv_id, "--out", large_path])
        .await;
    assert_eq!(doc["to_end"], 3, "{doc}");
    let too_large = cli
        .run(&[
            "reconcile",
            "confirm",
            "Reverb shop",
            "--plan",
            large_path,
            "--json",
        ])
        .await;
    let e = too_large.error(4);
    assert_eq!(e["error"]["code"], "refused");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("3 of the channel's 5 listings") && message.contains("--large"),
        "{message}"
    );
    assert_eq!(reverb.ends().len(), 1, "a refused plan ends nothing");
    let doc = cli
        .json(&[
            "reconcile",
            "confirm",
            "Reverb shop",
            "--plan",
            large_path,
            "--large",
        ])
        .await;
    assert_eq!(doc["large"], true);
    let mut ended = strings(&doc["ended"]);
    ended.sort();
    assert_eq!(ended, more);
    assert_eq!(reverb.ends().len(), 4);
    // A plan for one integration is not confirmed for another.
    let wrong = cli
        .run(&[
            "reconcile",
            "confirm",
            "CA feed",
            "--plan",
            plan_path,
            "--json",
        ])
        .await;
    assert_eq!(wrong.error(2)["error"]["code"], "usage");

    // ----- the outbox: a shipment the host recorded, sent now -----
    {
        // The host program records the shipment through the engine on the same store.
        let store = Arc::new(
            marketsync::SqliteStore::open(dir.join("ms.db"))
                .await
                .unwrap(),
        );
        let engine = marketsync::Engine::builder().store(store).build();
        let config: ChannelConfig = serde_json::from_value(json!({
            "channel": "reverb",
            "base_url": reverb.base_url(),
            "token": reverb_token,
            "default_currency": "USD",
        }))
        .unwrap();
        let id: IntegrationId = rv_id.parse().unwrap();
        engine.register_channel(id, marketsync::channel_from_config(config).unwrap());
        engine
            .ship(
                id,
                &ChannelOrderId::new(rv_order_ok.as_str()).unwrap(),
                Shipment {
                    carrier: Some("UPS".into()),
                    method: None,
                    tracking_number: Some("1Z999AA10123456784".into()),
                    shipped_at: chrono::Utc::now(),
                    lines: Vec::new(),
                    delivery: Default::default(),
                },
                None,
            )
            .await
            .unwrap();
    }
    let doc = cli
        .json(&["outbox", "list", "Reverb shop", "--unsent"])
        .await;
    let entries = doc["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{doc}");
    assert_eq!(entries[0]["order_id"], rv_order_ok.as_str());
    assert_eq!(entries[0]["action"], "ship");
    assert_eq!(entries[0]["state"], "pending");
    assert_eq!(
        entries[0]["request"]["tracking_number"],
        "1Z999AA10123456784"
    );
    let doc = cli.json(&["outbox", "retry", "Reverb shop"]).await;
    assert_eq!(doc["sent"][0]["order_id"], rv_order_ok.as_str(), "{doc}");
    assert_eq!(doc["sent"][0]["action"], "ship");
    assert!(doc["unsent"].as_array().unwrap().is_empty(), "{doc}");
    assert_eq!(reverb.shipments_of(&rv_order_ok).len(), 1);
    let doc = cli.json(&["outbox", "list", "Reverb shop"]).await;
    assert_eq!(doc["entries"][0]["state"], "sent");
    assert!(doc["entries"][0]["at"].is_string());
    let doc = cli
        .json(&["outbox", "list", "Reverb shop", "--unsent"])
        .await;
    assert!(doc["entries"].as_array().unwrap().is_empty());

    // ----- notifications: the held orders were announced; read them -----
    let doc = cli
        .json(&["notifications", "list", "--integration", "CA feed"])
        .await;
    let messages = doc["messages"].as_array().unwrap();
    let held_msg = messages
        .iter()
        .find(|m| m["notification"]["event"] == "orders_held")
        .unwrap_or_else(|| panic!("no orders_held message: {doc}"));
    assert_eq!(held_msg["integration"], ca_id.as_str());
    assert_eq!(held_msg["integration_name"], "CA feed");
    assert_eq!(held_msg["notification"]["missing"]["value"], "Next Day");
    assert!(held_msg["read_at"].is_null());
    assert!(held_msg["subject"].as_str().unwrap().contains("Next Day"));
    let msg_id = held_msg["id"].as_str().unwrap().to_owned();
    let doc = cli.json(&["notifications", "read", &msg_id]).await;
    assert_eq!(doc["marked"], 1);
    assert_eq!(strings(&doc["ids"]), [msg_id.as_str()]);
    let doc = cli
        .json(&[
            "notifications",
            "list",
            "--unread",
            "--integration",
            "CA feed",
        ])
        .await;
    assert!(
        doc["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"] != msg_id.as_str()),
        "{doc}"
    );
    let doc = cli.json(&["notifications", "list"]).await;
    let read = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == msg_id.as_str())
        .unwrap();
    assert!(read["read_at"].is_string());
    let doc = cli
        .json(&["notifications", "read", "--integration", "Reverb shop"])
        .await;
    assert_eq!(doc["integration"]["name"], "Reverb shop");
    assert!(doc["marked"].as_u64().unwrap() >= 1, "{doc}");
    let unknown = cli
        .run(&["notifications", "read", "no-such-message", "--json"])
        .await;
    assert_eq!(unknown.error(3)["error"]["code"], "not_found");

    // ----- the audit log -----
    let doc = cli.json(&["audit", "Reverb shop"]).await;
    let changes: Vec<&str> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["change"]["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes.first(), Some(&"created"), "{changes:?}");
    for expected in [
        "credentials_entered",
        "label_changed",
        "phase_changed",
        "feature_changed",
        "mappings_changed",
        "reconcile_plan_confirmed",
    ] {
        assert!(changes.contains(&expected), "{expected} in {changes:?}");
    }
    let total = doc["total"].as_u64().unwrap();
    assert_eq!(total as usize, changes.len());
    let doc = cli.json(&["audit", "Reverb shop", "--limit", "2"]).await;
    assert_eq!(doc["events"].as_array().unwrap().len(), 2);
    assert_eq!(doc["total"], total);
    let human = cli.run(&["audit", "Reverb shop"]).await;
    assert!(
        human.text().contains("mappings changed"),
        "{}",
        human.stdout
    );

    // ----- the human output of each command (the JSON above is the same data) -----
    for (args, expect) in [
        (
            &["mappings", "shipping", "list", "CA feed"][..],
            "\"Next Day\"",
        ),
        (
            &["mappings", "sku", "list", "Reverb shop"][..],
            "LEGACY-GTR",
        ),
        (&["orders", "import", "Reverb shop"][..], "0 imported"),
        (&["orders", "held", "Reverb shop"][..], "no orders"),
        (&["listings", "link", "Reverb shop"][..], "already linked"),
        (&["listings", "sync", "Reverb shop"][..], "unchanged"),
        (
            &["reconcile", "plan", "Reverb shop"][..],
            "0 channel listing(s) to end",
        ),
        (&["outbox", "list", "Reverb shop"][..], "sent"),
        (&["outbox", "retry", "Reverb shop"][..], "0 sent"),
        (&["notifications", "list"][..], "Next Day"),
    ] {
        let run = cli.run(args).await;
        assert!(run.text().contains(expect), "{args:?}: {}", run.stdout);
    }

    // ----- exit codes: not found (3), refused by the lifecycle (4) -----
    let missing = cli.run(&["orders", "held", "No such shop", "--json"]).await;
    let e = missing.error(3);
    assert_eq!(e["error"]["code"], "not_found");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("marketsync integrations list")
    );
    let missing = cli.run(&["orders", "import", "No such shop"]).await;
    assert_eq!(missing.code, 3);
    assert!(missing.stderr.starts_with("error: "), "{}", missing.stderr);
    // The reconciler is off for ChannelAdvisor: the plan is refused, with the next step.
    let refused = cli.run(&["reconcile", "plan", "CA feed", "--json"]).await;
    let e = refused.error(4);
    assert_eq!(e["error"]["code"], "refused");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("marketsync integrations feature 'CA feed' reconciler on"),
        "{e}"
    );

    // ----- delete: the plan, then --confirm -----
    let doc = cli.json(&["integrations", "delete", "CA feed"]).await;
    assert_eq!(doc["deleted"], false);
    assert_eq!(doc["integration"], ca_id.as_str());
    let doc = cli
        .json(&["integrations", "delete", "CA feed", "--confirm"])
        .await;
    assert_eq!(doc["deleted"], true);
    let after = cli.run(&["orders", "import", &ca_id, "--json"]).await;
    assert_eq!(after.error(4)["error"]["code"], "refused");

    // ----- no secret given to `connect` appears in anything printed or written -----
    let printed = cli.printed();
    let argv = cli.argv();
    assert!(
        argv.contains("integrations connect") && printed.contains("CA feed"),
        "the scan sees every run"
    );
    let plan_text = std::fs::read_to_string(&plan_file).unwrap();
    assert_no_secret(
        &[
            reverb_token.as_str(),
            ca_refresh.as_str(),
            ca_shared.as_str(),
            KEY_HEX,
        ],
        &[
            (&printed, "a secret was printed"),
            (&argv, "a secret was on a command line"),
            (&plan_text, "a secret is in the plan file"),
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
