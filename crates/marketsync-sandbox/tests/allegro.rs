//! The Allegro fake's wire behaviour, through a plain reqwest client: media types, OAuth
//! (refresh rotation with the grace window, code + PKCE, device flow), offers, change commands,
//! checkout forms, the event journal, fulfillment, shipments, refunds, seeding.

use std::sync::Arc;

use chrono::TimeDelta;
use marketsync_core::ManualClock;
use marketsync_sandbox::allegro::{self, AllegroBuilder, code_challenge, default_anchor};
use marketsync_sandbox::{AllegroSandbox, Sandbox};
use serde_json::{Value, json};

type Al = Sandbox<AllegroSandbox>;
const MEDIA: &str = "application/vnd.allegro.public.v1+json";

fn client() -> reqwest::Client {
    marketsync_http::client_builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn start(builder: AllegroBuilder) -> (Al, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(default_anchor()));
    let al = builder
        .clock(clock.clone())
        .build()
        .start()
        .await
        .expect("starts");
    (al, clock)
}

async fn call(
    al: &Al,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let c = client();
    let mut rb = c
        .request(method, format!("{}{path}", al.base_url()))
        .bearer_auth(token)
        .header("Accept", MEDIA);
    if let Some(b) = body {
        rb = rb.header("Content-Type", MEDIA).body(b.to_string());
    }
    let resp = rb.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(al: &Al, path: &str) -> (u16, Value) {
    let token = al.credentials().access_token;
    call(al, reqwest::Method::GET, path, &token, None).await
}

async fn token(al: &Al, form: &[(&str, &str)], basic: bool) -> (u16, Value) {
    let mut rb = client()
        .post(format!("{}/auth/oauth/token", al.base_url()))
        .form(form);
    if basic {
        rb = rb.basic_auth(allegro::CLIENT_ID, Some(allegro::CLIENT_SECRET));
    }
    let resp = rb.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn media_type_is_required() {
    let (al, _) = start(AllegroSandbox::builder()).await;
    let t = al.credentials().access_token;
    let url = format!("{}/sale/offers", al.base_url());
    let r = client()
        .get(&url)
        .bearer_auth(&t)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 406);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "NotAcceptableException");
    let r = client()
        .get(&url)
        .bearer_auth(&t)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 406);
    let r = client()
        .get(&url)
        .bearer_auth(&t)
        .header("Accept", MEDIA)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], MEDIA);
    // A body in plain JSON is refused.
    let r = client()
        .put(format!(
            "{}/sale/offer-quantity-change-commands/c-1",
            al.base_url()
        ))
        .bearer_auth(&t)
        .header("Accept", MEDIA)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 415);
    // No token: the AuthError shape.
    let r = client()
        .get(&url)
        .header("Accept", MEDIA)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);
    let (s, me) = get(&al, "/me").await;
    assert_eq!(s, 200);
    assert_eq!(me["login"], allegro::LOGIN);
}

#[tokio::test]
async fn a_reused_refresh_token_is_refused_at_once_and_counted() {
    let (al, _clock) = start(AllegroSandbox::builder().refuse_reused_refresh_tokens()).await;
    let creds = al.credentials();
    let refresh = |t: &str| {
        [
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", t.to_owned()),
        ]
    };
    let form = refresh(&creds.refresh_token);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, first) = token(&al, &form, true).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(al.refresh_token_reuses(), 0);
    // The same refresh token again, at the same instant of the clock: refused, and counted.
    let (s, body) = token(&al, &form, true).await;
    assert_eq!(s, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(al.refresh_token_reuses(), 1);
    // The rotated one works, once.
    let next = refresh(first["refresh_token"].as_str().expect("refresh"));
    let next: Vec<(&str, &str)> = next.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, _) = token(&al, &next, true).await;
    assert_eq!(s, 200);
    assert_eq!(al.refresh_token_reuses(), 1);
    // An unknown token is refused without counting as a reuse.
    let (s, _) = token(
        &al,
        &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
        true,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(al.refresh_token_reuses(), 1);
}

#[tokio::test]
async fn refresh_rotates_with_a_grace_window() {
    let (al, clock) = start(AllegroSandbox::builder()).await;
    let creds = al.credentials();
    let (s, first) = token(
        &al,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &creds.refresh_token),
        ],
        true,
    )
    .await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["token_type"], "bearer");
    assert_eq!(first["expires_in"], 43_199);
    let new_access = first["access_token"].as_str().expect("access").to_owned();
    let new_refresh = first["refresh_token"].as_str().expect("refresh").to_owned();
    assert_ne!(new_access, creds.access_token);
    assert_ne!(new_refresh, creds.refresh_token);
    // The old access token is dead at once, the new one works.
    let (s, body) = call(&al, reqwest::Method::GET, "/me", &creds.access_token, None).await;
    assert_eq!(s, 401);
    assert_eq!(body["error"], "invalid_token");
    let (s, _) = call(&al, reqwest::Method::GET, "/me", &new_access, None).await;
    assert_eq!(s, 200);
    assert_eq!(al.refresh_token_reuses(), 0, "a first use is no reuse");
    // The old refresh token still works within 60 s (and the reuse is counted) ...
    clock.advance(TimeDelta::seconds(59));
    let (s, _) = token(
        &al,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &creds.refresh_token),
        ],
        true,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(al.refresh_token_reuses(), 1);
    // ... and not after.
    clock.advance(TimeDelta::seconds(2));
    let (s, body) = token(
        &al,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &creds.refresh_token),
        ],
        true,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": format!("Invalid refresh token: {}", creds.refresh_token)})
    );
    assert_eq!(
        al.refresh_token_reuses(),
        2,
        "a refused reuse is counted too"
    );
    // Without client authentication: 401.
    let (s, _) = token(
        &al,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &new_refresh),
        ],
        false,
    )
    .await;
    assert_eq!(s, 401);
    // Access tokens expire after 12 h.
    clock.advance(TimeDelta::hours(12));
    let (s, body) = call(&al, reqwest::Method::GET, "/me", &new_access, None).await;
    assert_eq!(s, 401);
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .starts_with("Access token expired")
    );
    // Revoked refresh tokens fail.
    al.revoke_refresh_token(&new_refresh);
    let (s, body) = token(
        &al,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &new_refresh),
        ],
        true,
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn authorization_code_with_pkce() {
    let (al, clock) = start(AllegroSandbox::builder()).await;
    let verifier = "a-verifier-of-at-least-forty-three-characters-0123456789";
    let code = al.login(
        allegro::CLIENT_ID,
        Some("https://app.example/cb"),
        Some(&code_challenge(verifier)),
    );
    let (s, body) = token(
        &al,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/cb"),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier",
            ),
        ],
        true,
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    // PKCE: client id in the body, no Basic header.
    let (s, body) = token(
        &al,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/cb"),
            ("client_id", allegro::CLIENT_ID),
            ("code_verifier", verifier),
        ],
        false,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let access = body["access_token"].as_str().expect("token").to_owned();
    let (s, _) = call(&al, reqwest::Method::GET, "/me", &access, None).await;
    assert_eq!(s, 200);
    // Single use.
    let (s, _) = token(
        &al,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/cb"),
            ("code_verifier", verifier),
        ],
        true,
    )
    .await;
    assert_eq!(s, 400);
    // Valid for 10 s only.
    let late = al.login(allegro::CLIENT_ID, None, None);
    clock.advance(TimeDelta::seconds(11));
    let (s, _) = token(
        &al,
        &[("grant_type", "authorization_code"), ("code", &late)],
        true,
    )
    .await;
    assert_eq!(s, 400);
    let (s, body) = token(&al, &[("grant_type", "authorization_code")], true).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
}

async fn poll(al: &Al, device_code: &str) -> (u16, Value) {
    let grant = "urn:ietf:params:oauth:grant-type:device_code";
    token(
        al,
        &[("grant_type", grant), ("device_code", device_code)],
        true,
    )
    .await
}

#[tokio::test]
async fn device_flow_pending_slow_down_success() {
    let (al, clock) = start(AllegroSandbox::builder()).await;
    let resp = client()
        .post(format!("{}/auth/oauth/device", al.base_url()))
        .basic_auth(allegro::CLIENT_ID, Some(allegro::CLIENT_SECRET))
        .form(&[("client_id", allegro::CLIENT_ID)])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let dev: Value = resp.json().await.expect("json");
    let device_code = dev["device_code"].as_str().expect("device code").to_owned();
    let user_code = dev["user_code"].as_str().expect("user code").to_owned();
    assert_eq!(dev["interval"], 5);
    assert!(dev["verification_uri"].is_string());
    let (s, b) = poll(&al, &device_code).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    clock.advance(TimeDelta::seconds(1));
    let (s, b) = poll(&al, &device_code).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("slow_down")));
    clock.advance(TimeDelta::seconds(5));
    let (s, b) = poll(&al, &device_code).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    assert!(al.approve_device(&user_code));
    clock.advance(TimeDelta::seconds(5));
    let (s, b) = poll(&al, &device_code).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["refresh_token"].is_string());
    clock.advance(TimeDelta::seconds(5));
    let (s, _) = poll(&al, &device_code).await;
    assert_eq!(s, 400, "a device code yields tokens once");
}

#[tokio::test]
async fn offers_filter_by_external_id_and_status() {
    let (al, _) = start(AllegroSandbox::builder()).await;
    let (s, all) = get(&al, "/sale/offers?limit=1000").await;
    assert_eq!(s, 200);
    assert_eq!(all["totalCount"], 40);
    assert_eq!(all["count"], 40);
    let (s, page) = get(&al, "/sale/offers").await;
    assert_eq!(s, 200);
    assert_eq!(page["count"], 20, "default limit 20");
    let (s, b) = get(
        &al,
        "/sale/offers?external.id=SKU-0001&external.id=SKU-0003&external.id=NOPE",
    )
    .await;
    assert_eq!(s, 200);
    let mut ext: Vec<&str> = b["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .map(|o| o["external"]["id"].as_str().expect("ext"))
        .collect();
    ext.sort_unstable();
    assert_eq!(ext, ["SKU-0001", "SKU-0003"]);
    let too_many: String = (0..101).map(|i| format!("external.id=X{i}&")).collect();
    let (s, _) = get(&al, &format!("/sale/offers?{too_many}")).await;
    assert_eq!(s, 422);
    let (_, ended) = get(&al, "/sale/offers?publication.status=ENDED&limit=1000").await;
    assert!(ended["count"].as_u64().expect("count") >= 1);
    assert!(
        ended["offers"]
            .as_array()
            .expect("offers")
            .iter()
            .all(|o| o["publication"]["status"] == "ENDED")
    );
    let id = al.offer_id_by_external("SKU-0001").expect("seeded");
    let (s, o) = get(&al, &format!("/sale/product-offers/{id}")).await;
    assert_eq!(s, 200);
    assert!(o["sellingMode"]["price"]["amount"].is_string());
    al.delete_offer(&id);
    let (s, e) = get(&al, &format!("/sale/product-offers/{id}")).await;
    assert_eq!(s, 404);
    assert!(e["errors"].is_array());
    // Create.
    let t = al.credentials().access_token;
    let (s, created) = call(
        &al,
        reqwest::Method::POST,
        "/sale/product-offers",
        &t,
        Some(json!({"name": "Nowa oferta", "sellingMode": {"price": {"amount": "12.50", "currency": "PLN"}}, "stock": {"available": 3}, "external": {"id": "NEW-1"}})),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(created["publication"]["status"], "INACTIVE");
    assert_eq!(
        al.offer_id_by_external("NEW-1").as_deref(),
        created["id"].as_str()
    );
}

#[tokio::test]
async fn change_commands_are_async_and_idempotent() {
    let (al, _) = start(AllegroSandbox::builder()).await;
    let t = al.credentials().access_token;
    let active = al
        .offer_id_by_external("SKU-0001")
        .expect("seeded ACTIVE offer");
    let ended = al
        .offer_id_by_external("SKU-0003")
        .expect("seeded ENDED offer");
    let body = json!({
        "modification": {"changeType": "FIXED", "value": 17},
        "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": [{"id": active}, {"id": ended}, {"id": "999"}]}],
    });
    let path = "/sale/offer-quantity-change-commands/5b1f3a2e-0000-4000-8000-000000000001";
    let (s, report) = call(&al, reqwest::Method::PUT, path, &t, Some(body.clone())).await;
    assert_eq!(s, 201, "{report}");
    assert_eq!(
        report["taskCount"],
        json!({"total": 3, "success": 0, "failed": 0})
    );
    assert!(report["completedAt"].is_null());
    let (s, again) = call(&al, reqwest::Method::PUT, path, &t, Some(body)).await;
    assert_eq!(s, 409);
    assert_eq!(again["errors"][0]["message"], "Command id was already used");
    // First poll: still processing; second: done.
    let (_, r1) = get(&al, path).await;
    assert!(r1["completedAt"].is_null());
    let (s, tasks) = get(&al, &format!("{path}/tasks")).await;
    assert_eq!(s, 200);
    let tasks = tasks["tasks"].as_array().expect("tasks").clone();
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[0]["status"], "SUCCESS");
    assert_eq!(tasks[1]["status"], "FAIL");
    assert_eq!(tasks[2]["status"], "FAIL");
    assert!(!tasks[2]["message"].as_str().expect("msg").is_empty());
    let (_, r2) = get(&al, path).await;
    assert_eq!(
        r2["taskCount"],
        json!({"total": 3, "success": 1, "failed": 2})
    );
    assert_eq!(al.offer(&active).expect("offer")["stock"]["available"], 17);
    assert_eq!(al.commands().len(), 1);
    // END through the publication command.
    let pub_path = "/sale/offer-publication-commands/pub-1";
    let (s, _) = call(
        &al,
        reqwest::Method::PUT,
        pub_path,
        &t,
        Some(json!({"publication": {"action": "END"}, "offerCriteria": [{"type": "CONTAINS_OFFERS", "offers": [{"id": active}]}]})),
    )
    .await;
    assert_eq!(s, 201);
    al.complete_command("pub-1");
    assert_eq!(
        al.offer(&active).expect("offer")["publication"]["status"],
        "ENDED"
    );
    let (s, _) = get(&al, "/sale/offer-price-change-commands/unknown").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn checkout_forms_paging_and_events_cursor() {
    let (al, _) = start(AllegroSandbox::builder()).await;
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let (s, b) = get(
            &al,
            &format!("/order/checkout-forms?limit=7&offset={offset}"),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(b["totalCount"], 30);
        let forms = b["checkoutForms"].as_array().expect("forms").clone();
        if forms.is_empty() {
            break;
        }
        for f in &forms {
            assert!(f["summary"]["totalToPay"]["amount"].is_string());
            assert_eq!(f["summary"]["totalToPay"]["currency"], "PLN");
            assert!(f["delivery"]["method"]["name"].is_string());
            assert!(f["revision"].is_string());
        }
        seen.extend(
            forms
                .iter()
                .map(|f| f["id"].as_str().expect("id").to_owned()),
        );
        offset += 7;
    }
    assert_eq!(seen.len(), 30);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 30);
    let (s, _) = get(&al, "/order/checkout-forms?limit=101").await;
    assert_eq!(s, 422);
    for status in ["BOUGHT", "FILLED_IN", "READY_FOR_PROCESSING", "CANCELLED"] {
        let (_, b) = get(&al, &format!("/order/checkout-forms?status={status}")).await;
        assert!(b["count"].as_u64().expect("count") >= 1, "{status}");
    }
    let (_, b) = get(
        &al,
        "/order/checkout-forms?lineItems.boughtAt.gte=2025-06-02T00:00:00.000Z",
    )
    .await;
    assert!(
        b["checkoutForms"]
            .as_array()
            .expect("forms")
            .iter()
            .all(|f| f["lineItems"][0]["boughtAt"].as_str().expect("t") >= "2025-06-02")
    );
    // Events: walk the journal by cursor.
    let total = al.event_count();
    let mut from: Option<String> = None;
    let mut n = 0;
    loop {
        let q = from
            .as_ref()
            .map(|f| format!("&from={f}"))
            .unwrap_or_default();
        let (s, b) = get(&al, &format!("/order/events?limit=10{q}")).await;
        assert_eq!(s, 200);
        let events = b["events"].as_array().expect("events").clone();
        if events.is_empty() {
            break;
        }
        n += events.len();
        from = events
            .last()
            .and_then(|e| e["id"].as_str())
            .map(str::to_owned);
    }
    assert_eq!(n, total);
    let (_, stats) = get(&al, "/order/event-stats").await;
    assert_eq!(stats["latestEvent"]["id"].as_str(), from.as_deref());
    // A buyer change shows up after the cursor.
    let id = al.order_ids()[0].clone();
    al.buyer_modifies_order(&id).expect("order");
    let (_, b) = get(
        &al,
        &format!("/order/events?from={}", from.expect("cursor")),
    )
    .await;
    assert_eq!(b["events"][0]["type"], "BUYER_MODIFIED");
    assert_eq!(b["events"][0]["order"]["checkoutForm"]["id"], id.as_str());
}

#[tokio::test]
async fn fulfillment_shipments_and_refunds() {
    let (al, _) = start(AllegroSandbox::builder()).await;
    let t = al.credentials().access_token;
    let (_, b) = get(
        &al,
        "/order/checkout-forms?status=READY_FOR_PROCESSING&limit=1",
    )
    .await;
    let form = b["checkoutForms"][0].clone();
    let id = form["id"].as_str().expect("id").to_owned();
    let old_rev = form["revision"].as_str().expect("rev").to_owned();
    al.buyer_modifies_order(&id).expect("order");
    let (s, e) = call(
        &al,
        reqwest::Method::PUT,
        &format!("/order/checkout-forms/{id}/fulfillment?checkoutForm.revision={old_rev}"),
        &t,
        Some(json!({"status": "PROCESSING"})),
    )
    .await;
    assert_eq!(s, 409, "{e}");
    let (_, fresh) = get(&al, &format!("/order/checkout-forms/{id}")).await;
    let rev = fresh["revision"].as_str().expect("rev").to_owned();
    let (s, _) = call(
        &al,
        reqwest::Method::PUT,
        &format!("/order/checkout-forms/{id}/fulfillment?checkoutForm.revision={rev}"),
        &t,
        Some(json!({"status": "READY_FOR_SHIPMENT"})),
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(al.fulfillment_changes().len(), 1);
    assert_eq!(
        al.order(&id).expect("order")["fulfillment"]["status"],
        "READY_FOR_SHIPMENT"
    );
    // Shipments.
    let (s, sh) = call(
        &al,
        reqwest::Method::POST,
        &format!("/order/checkout-forms/{id}/shipments"),
        &t,
        Some(json!({"carrierId": "INPOST", "waybill": "620000000000000000000001"})),
    )
    .await;
    assert_eq!(s, 201, "{sh}");
    assert_eq!(sh["waybill"], "620000000000000000000001");
    let (s, _) = call(
        &al,
        reqwest::Method::POST,
        &format!("/order/checkout-forms/{id}/shipments"),
        &t,
        Some(json!({"carrierId": "NOPE", "waybill": "1"})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(al.shipments().len(), 1);
    // Refunds, idempotent by commandId.
    let line = &fresh["lineItems"][0];
    let refund = json!({
        "payment": {"id": fresh["payment"]["id"]},
        "order": {"id": id},
        "commandId": "2f1f0000-0000-4000-8000-000000000009",
        "reason": "REFUND",
        "lineItems": [{"id": line["id"], "type": "QUANTITY", "quantity": 1}],
    });
    let (s, r1) = call(
        &al,
        reqwest::Method::POST,
        "/payments/refunds",
        &t,
        Some(refund.clone()),
    )
    .await;
    assert_eq!(s, 200, "{r1}");
    assert_eq!(r1["totalValue"]["amount"], line["price"]["amount"]);
    let (s, r2) = call(
        &al,
        reqwest::Method::POST,
        "/payments/refunds",
        &t,
        Some(refund),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(r1["id"], r2["id"]);
    assert_eq!(al.refunds().len(), 1);
}

#[tokio::test]
async fn seeding_is_deterministic() {
    let a = AllegroSandbox::seeded(7);
    let b = AllegroSandbox::seeded(7);
    let c = AllegroSandbox::seeded(8);
    assert_eq!(a.offer_ids(), b.offer_ids());
    assert_eq!(a.order_ids(), b.order_ids());
    let render = |s: &AllegroSandbox| -> Vec<Value> {
        s.order_ids().iter().filter_map(|id| s.order(id)).collect()
    };
    assert_eq!(render(&a), render(&b));
    assert_ne!(a.order_ids(), c.order_ids());
    assert_eq!(a.credentials(), b.credentials());
}

#[tokio::test]
async fn rate_limit_answers_429() {
    let (al, _) = start(AllegroSandbox::builder().per_minute(Some(3))).await;
    for _ in 0..3 {
        assert_eq!(get(&al, "/me").await.0, 200);
    }
    let (s, b) = get(&al, "/me").await;
    assert_eq!(s, 429);
    assert!(b["errors"].is_array());
    assert_eq!(al.counters().throttled, 1);
}
