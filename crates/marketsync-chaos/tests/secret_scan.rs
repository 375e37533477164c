//! The secret scan: every adapter through its sandbox — the whole channel conformance suite
//! (auth, token renewal, 401s, 5xx and 429s, every operation) plus a walk that keeps the `Debug`
//! and `Display` text of every result and error (verify, link, sync, import, explain, ship, refund,
//! cancel, send, failures, revoked credentials, the broken integration's record, audit log and
//! notifications, repair, stored credentials, the login flow's request and start (its URL
//! included) and a refused completion) —
//! with a tracing subscriber capturing everything at TRACE (the `log` records of the HTTP stack
//! included). At the end, none of the secrets the run used may appear in any captured text:
//! application secrets, API keys, refresh and access tokens (the ones the run was given, and
//! every token the sandboxes issue, recognised by their shape), Tradera's token and login secret
//! key, the login flows' pending secrets, and the credential (vault) key.
//!
//! One test in its own binary: the subscriber is global.

use std::collections::BTreeSet;
use std::fmt::{Debug, Display};
use std::sync::Arc;

use marketsync_core::{
    Actor, AdjustmentReason, AuthorizationCallback, AuthorizationRequest, Cancellation, Clock,
    Credentials, ErrorKind, ExposeSecret, Operation, Refund, Shipment, Sku, Store,
};
use marketsync_sandbox::{
    AllegroHarness, ChannelAdvisorHarness, ReverbHarness, TraderaHarness, allegro, channeladvisor,
    reverb, tradera,
};
use marketsync_sqlite::SqliteStore;
use marketsync_testkit::behaviour::TraceCapture;
use marketsync_testkit::channel::{self, ChannelHarness, Rig};

/// The texts to scan and the secrets to look for.
#[derive(Default)]
struct Scan {
    /// (where, text)
    texts: Vec<(String, String)>,
    /// (what, secret): exact secrets.
    secrets: BTreeSet<(String, String)>,
}

/// Shapes of the secrets the sandboxes issue during the run (tokens nobody hands the test):
/// ChannelAdvisor access and refresh tokens, Reverb tokens, Allegro refresh tokens and access
/// tokens (JWTs whose header is always `{"alg":"none","typ":"JWT"}`).
const ISSUED_SHAPES: [(&str, &str); 5] = [
    ("ChannelAdvisor access token", "sbx-at-"),
    ("ChannelAdvisor refresh token", "sandbox-refresh-token"),
    ("Reverb token", "sandbox-reverb-token-"),
    ("Allegro refresh token", "sandbox-allegro-refresh-"),
    (
        "Allegro access token",
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0",
    ),
];

impl Scan {
    fn secret(&mut self, what: &str, secret: &str) {
        // Short values (ids, empty strings) would match by chance; no real secret is short.
        if secret.len() >= 8 {
            self.secrets.insert((what.to_owned(), secret.to_owned()));
        }
    }

    fn credentials(&mut self, what: &str, c: &Credentials) {
        match c {
            Credentials::ApiToken(t) => self.secret(what, t.token.expose_secret()),
            Credentials::SellerSecret(s) => self.secret(what, s.seller_secret.expose_secret()),
            Credentials::OAuth(t) => {
                self.secret(what, t.refresh_token.expose_secret());
                if let Some(a) = &t.access_token {
                    self.secret(what, a.expose_secret());
                }
            }
            Credentials::LoginSession(s) => {
                self.secret(what, s.token.expose_secret());
                if let Some(r) = &s.refresh_token {
                    self.secret(what, r.expose_secret());
                }
            }
            other => panic!("the sandboxes hand out no {:?} credentials", other.kind()),
        }
    }

    fn debug(&mut self, what: &str, v: &dyn Debug) {
        self.texts.push((what.to_owned(), format!("{v:?}")));
        self.texts
            .push((format!("{what} (alternate)"), format!("{v:#?}")));
    }

    fn display(&mut self, what: &str, v: &dyn Display) {
        self.texts.push((what.to_owned(), v.to_string()));
    }

    /// Debug of a result, and Display of its error.
    fn result<T: Debug, E: Debug + Display>(&mut self, what: &str, r: &Result<T, E>) {
        self.debug(what, r);
        if let Err(e) = r {
            self.display(what, e);
        }
    }

    /// Every place a secret appears: (what, where, context).
    fn leaks(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (place, text) in &self.texts {
            let mut found = |what: &str, needle: &str| {
                if let Some(at) = text.find(needle) {
                    let from = text.floor_char_boundary(at.saturating_sub(60));
                    let to = text.ceil_char_boundary((at + needle.len() + 60).min(text.len()));
                    out.push(format!("{what} in {place}: …{}…", &text[from..to]));
                }
            };
            for (what, secret) in &self.secrets {
                found(what, secret);
            }
            for (what, shape) in ISSUED_SHAPES {
                found(what, shape);
            }
        }
        out
    }
}

fn seller() -> Actor {
    Actor::User("scan".into())
}

/// The constants behind each sandbox's credentials, and the credential key of the suite's rig.
fn known_secrets(scan: &mut Scan) {
    scan.secret(
        "ChannelAdvisor shared secret",
        channeladvisor::SHARED_SECRET,
    );
    scan.secret(
        "ChannelAdvisor refresh token",
        channeladvisor::REFRESH_TOKEN,
    );
    scan.secret("Reverb token", reverb::TOKEN);
    scan.secret("Allegro client secret", allegro::CLIENT_SECRET);
    scan.secret("Tradera app key", tradera::APP_KEY);
    scan.secret("Tradera user token", tradera::USER_TOKEN);
    // The conformance rig seals credentials with [9; 32]: its hex, and the bytes as a derived
    // `Debug` would print them.
    scan.secret("credential key (hex)", &"09".repeat(32));
    scan.secret(
        "credential key (bytes)",
        &format!("[{}]", vec!["9"; 32].join(", ")),
    );
}

async fn store() -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open_in_memory()
            .await
            .expect("in-memory store"),
    )
}

/// One adapter's walk, keeping the text of every result and error.
async fn walk(name: &str, h: &dyn ChannelHarness, scan: &mut Scan) {
    let what = |s: &str| format!("{name}: {s}");
    scan.credentials(&what("initial credentials"), &h.credentials());
    let rig = Rig::new(h, store().await).await;
    let (engine, id) = (&rig.engine, rig.id);
    scan.debug(&what("adapter"), &h.channel());
    scan.debug(&what("credentials"), &h.credentials());
    scan.display(&what("credentials"), &h.credentials());
    scan.result(&what("verify"), &engine.verify(id, seller()).await);

    rig.item("SCAN-1", "10.00", 5);
    let sku = Sku::new("SCAN-1").expect("sku");
    let listing = h.add_listing(&sku, rig.money("10.00"), 3).await;
    scan.result(&what("link"), &engine.link_listings(id).await);
    scan.result(&what("sync"), &engine.sync_listings(id).await);

    let a = h.add_order(&rig.order("scan-a", &["SCAN-1"])).await;
    let b = h.add_order(&rig.order("scan-b", &["SCAN-1"])).await;
    let c = h.add_order(&rig.order("scan-c", &["SCAN-1"])).await;
    h.add_order(&rig.order("scan-unknown", &["NOT-IN-CATALOG"]))
        .await;
    scan.result(&what("import"), &engine.import_orders(id).await);
    scan.result(&what("explain"), &engine.explain_order(id, &a).await);
    let shipment = Shipment {
        carrier: Some("UPS".into()),
        method: Some("Ground".into()),
        tracking_number: Some("1Z999AA10123456784".into()),
        shipped_at: rig.clock.now(),
        lines: vec![],
        delivery: Default::default(),
    };
    scan.result(&what("ship"), &engine.ship(id, &a, shipment, None).await);
    let refund = Refund {
        amount: None,
        lines: vec![],
        reason: AdjustmentReason::CustomerReturnedItem,
        restock: false,
        note: None,
    };
    scan.result(&what("refund"), &engine.refund(id, &b, refund, None).await);
    let cancel = Cancellation {
        lines: vec![],
        reason: AdjustmentReason::BuyerCancelled,
    };
    scan.result(&what("cancel"), &engine.cancel(id, &c, cancel, None).await);
    h.fail_next(Operation::Ship, ErrorKind::Transient, 10).await;
    scan.result(&what("send (failing)"), &engine.sync_orders(id).await);
    rig.clock.advance(chrono::TimeDelta::hours(3));
    scan.result(&what("send"), &engine.sync_orders(id).await);
    scan.result(&what("outbox"), &engine.store().outbox(id).await);

    h.fail_next(Operation::FetchOrders, ErrorKind::Transient, 10)
        .await;
    scan.result(&what("import (5xx)"), &engine.import_orders(id).await);
    h.fail_next(Operation::FetchOrders, ErrorKind::RateLimited, 10)
        .await;
    scan.result(&what("import (429)"), &engine.import_orders(id).await);
    h.delete_listing_outside(&listing).await;
    rig.item("SCAN-1", "11.00", 4);
    scan.result(&what("sync (deleted)"), &engine.sync_listings(id).await);

    h.revoke_credentials().await;
    scan.result(
        &what("verify (revoked)"),
        &engine.verify(id, seller()).await,
    );
    scan.result(&what("import (revoked)"), &engine.import_orders(id).await);
    scan.result(&what("record"), &engine.integration(id).await);
    scan.result(&what("audit log"), &engine.store().audit_log(id).await);
    scan.debug(&what("notifications"), &rig.notifier.all());
    let fresh = h.new_credentials().await;
    scan.credentials(&what("new credentials"), &fresh);
    scan.result(
        &what("enter credentials"),
        &engine.enter_credentials(id, &fresh, seller()).await,
    );
    scan.result(
        &what("verify (repaired)"),
        &engine.verify(id, seller()).await,
    );
    scan.result(&what("stored credentials"), &engine.credentials(id).await);
    scan.result(
        &what("sealed credentials"),
        &engine.store().credentials(id).await,
    );

    // The login flow: its pending secret (PKCE verifier, Tradera's secret key) must not show.
    let request = AuthorizationRequest {
        redirect_uri: Some(
            "https://seller.example/callback?session=seller-session-SECRET-1"
                .parse()
                .expect("url"),
        ),
        device_flow: false,
    };
    scan.secret(&what("redirect session"), "seller-session-SECRET-1");
    scan.debug(&what("authorization request"), &request);
    match engine.begin_authorization(id, &request).await {
        Ok(start) => {
            scan.secret(
                &what("pending secret"),
                start.pending.secret.expose_secret(),
            );
            // The URL itself is for the seller's browser (Tradera's carries the secret key by
            // design); every `Debug` of it, and of the whole start, keeps the secret.
            scan.debug(&what("authorization start"), &start);
            scan.debug(&what("pending authorization"), &start.pending);
            scan.debug(&what("user code"), &start.user_code);
            let callback = AuthorizationCallback::from_params([
                ("code", "not-a-real-code"),
                ("state", start.pending.state.as_str()),
                ("userId", "1"),
            ]);
            scan.debug(&what("callback"), &callback);
            scan.result(
                &what("complete (refused)"),
                &engine
                    .complete_authorization(id, &start.pending, &callback, seller())
                    .await,
            );
        }
        Err(e) => scan.result::<(), _>(&what("begin authorization"), &Err(e)),
    }
}

#[test]
fn no_secret_in_logs_debug_display_or_errors() {
    let capture = TraceCapture::start_global();
    let mut scan = Scan::default();
    known_secrets(&mut scan);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // The whole conformance suite against each adapter, for the logs.
        channel::run_all(
            || async { ChannelAdvisorHarness::start().await.expect("sandbox") },
            store,
        )
        .await;
        channel::run_all(
            || async {
                ChannelAdvisorHarness::start_offerup()
                    .await
                    .expect("sandbox")
            },
            store,
        )
        .await;
        channel::run_all(
            || async { ReverbHarness::start().await.expect("sandbox") },
            store,
        )
        .await;
        channel::run_all(
            || async { AllegroHarness::start().await.expect("sandbox") },
            store,
        )
        .await;
        channel::run_all(
            || async { TraderaHarness::start().await.expect("sandbox") },
            store,
        )
        .await;
        // The walks, keeping every result's text.
        let ca = ChannelAdvisorHarness::start().await.expect("sandbox");
        walk("ChannelAdvisor", &ca, &mut scan).await;
        let offerup = ChannelAdvisorHarness::start_offerup()
            .await
            .expect("sandbox");
        walk("OfferUp", &offerup, &mut scan).await;
        let reverb = ReverbHarness::start().await.expect("sandbox");
        walk("Reverb", &reverb, &mut scan).await;
        let allegro = AllegroHarness::start().await.expect("sandbox");
        walk("Allegro", &allegro, &mut scan).await;
        let tradera = TraderaHarness::start().await.expect("sandbox");
        walk("Tradera", &tradera, &mut scan).await;
    });
    drop(rt);
    let logs = capture.text();
    // The scan saw real traffic: the HTTP layer's spans and the sandboxes' tokens at work.
    assert!(
        logs.lines().count() > 1_000,
        "{} log lines",
        logs.lines().count()
    );
    assert!(scan.secrets.len() >= 15, "{:?}", scan.secrets.len());
    scan.texts.push(("logs (TRACE)".into(), logs));

    // The scanner finds what it looks for (a planted secret and a planted token shape).
    let mut planted = Scan::default();
    planted.secret("planted", "s3cr3t-planted-value");
    planted
        .texts
        .push(("planted".into(), "x s3cr3t-planted-value y sbx-at-0".into()));
    assert_eq!(planted.leaks().len(), 2, "{:?}", planted.leaks());

    let leaks = scan.leaks();
    assert!(
        leaks.is_empty(),
        "{} secret(s) found in captured text:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}
