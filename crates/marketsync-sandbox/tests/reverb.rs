//! The Reverb fake's wire behaviour, through a plain reqwest client: auth, headers, paging with
//! absolute and host-relative links, filters, listing writes and field errors, order writes
//! (ship, pickup, refund) and their records, rate limiting, seeding.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use marketsync_core::ManualClock;
use marketsync_sandbox::reverb::{self, NewListing, NewOrder, ReverbBuilder, default_anchor};
use marketsync_sandbox::{Fault, ReverbSandbox, Sandbox};
use serde_json::{Value, json};

type Rv = Sandbox<ReverbSandbox>;

fn client() -> reqwest::Client {
    marketsync_http::client_builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn start(builder: ReverbBuilder) -> Rv {
    builder.build().start().await.expect("sandbox starts")
}

/// A request with the documented headers and the default token.
fn req(c: &reqwest::Client, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
    c.request(method, url)
        .bearer_auth(reverb::TOKEN)
        .header("Accept-Version", "3.0")
        .header("Accept", "application/hal+json")
}

async fn get(c: &reqwest::Client, url: &str) -> (u16, Value) {
    let resp = req(c, reqwest::Method::GET, url)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn send(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Value,
) -> (u16, Value) {
    let resp = req(c, method, url)
        .header("Content-Type", "application/hal+json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Follows `_links.next.href` from `url`, resolving host-relative links against the sandbox;
/// returns every item under `key` and the hrefs followed.
async fn all_pages(
    rv: &Rv,
    c: &reqwest::Client,
    url: &str,
    key: &str,
) -> (Vec<Value>, Vec<String>) {
    let mut items = Vec::new();
    let mut hrefs = Vec::new();
    let mut next = Some(url.to_owned());
    while let Some(u) = next.take() {
        let (status, body) = get(c, &u).await;
        assert_eq!(status, 200, "{u}: {body}");
        items.extend(body[key].as_array().expect("collection").iter().cloned());
        if let Some(href) = body["_links"]["next"]["href"].as_str() {
            hrefs.push(href.to_owned());
            next = Some(if href.starts_with('/') {
                format!("{}{href}", rv.base_url())
            } else {
                href.to_owned()
            });
        }
        assert!(items.len() <= 10_000, "paging never ends");
    }
    (items, hrefs)
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("date")
        .with_timezone(&Utc)
}

// ----- auth and headers -----

#[tokio::test]
async fn tokens_valid_missing_unknown_revoked() {
    let rv = start(ReverbSandbox::builder()).await;
    let c = client();
    let url = format!("{}/api/my/account", rv.base_url());
    let (status, body) = get(&c, &url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["shop"]["id"], json!(reverb::SHOP_ID));

    for token in [None, Some("not-a-token")] {
        let mut r = c.get(&url).header("Accept-Version", "3.0");
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/hal+json")
        );
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["message"].is_string() && body["details"].is_string(),
            "{body}"
        );
        assert!(body["_links"].is_object());
    }

    // A new token works; revoking the old one stops it at once.
    let fresh = rv.issue_token();
    rv.revoke_token(reverb::TOKEN);
    assert_eq!(get(&c, &url).await.0, 401);
    let resp = c
        .get(&url)
        .bearer_auth(&fresh)
        .header("Accept-Version", "3.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn legacy_401_body_and_missing_scope() {
    let rv = start(ReverbSandbox::builder().legacy_401_body(true)).await;
    let c = client();
    let resp = c
        .get(format!("{}/api/shop", rv.base_url()))
        .header("Accept-Version", "3.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");

    rv.add_token("orders-only", &["read_orders"]);
    let resp = c
        .get(format!("{}/api/my/listings", rv.base_url()))
        .bearer_auth("orders-only")
        .header("Accept-Version", "3.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["message"],
        "You are not authorized to perform this action."
    );
}

#[tokio::test]
async fn accept_version_and_accept_are_checked() {
    let rv = start(ReverbSandbox::builder()).await;
    let c = client();
    let url = format!("{}/api/shop", rv.base_url());
    let resp = c.get(&url).bearer_auth(reverb::TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 400, "no Accept-Version");
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("Accept-Version"));
    let resp = c
        .get(&url)
        .bearer_auth(reverb::TOKEN)
        .header("Accept-Version", "1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "Accept-Version 1.0");
    let resp = c
        .get(&url)
        .bearer_auth(reverb::TOKEN)
        .header("Accept-Version", "3.0")
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 406);
    // `application/json` works as well as HAL.
    let resp = c
        .get(&url)
        .bearer_auth(reverb::TOKEN)
        .header("Accept-Version", "3.0")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["vary"], "Accept-Version");
    assert!(resp.headers().contains_key("x-request-id"));
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["id"], json!(reverb::SHOP_ID));
    assert_eq!(body["currency"], "USD");
    assert!(
        body["shipping_profiles"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
    // ETag / If-None-Match.
    let resp = req(&c, reqwest::Method::GET, &url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);

    // The knob turns the check off.
    let lax = start(ReverbSandbox::builder().require_accept_version(false)).await;
    let resp = c
        .get(format!("{}/api/shop", lax.base_url()))
        .bearer_auth(reverb::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Unknown paths and verbs.
    assert_eq!(get(&c, &format!("{}/api/nope", rv.base_url())).await.0, 404);
    let (status, _) = send(
        &c,
        reqwest::Method::DELETE,
        &format!("{}/api/shop", rv.base_url()),
        json!({}),
    )
    .await;
    assert_eq!(status, 405);
}

// ----- listings -----

#[tokio::test]
async fn my_listings_pages_with_absolute_links_and_filters() {
    let rv = start(ReverbSandbox::builder().listings(60)).await;
    let c = client();
    let base = rv.base_url();
    let (first_status, first) = get(&c, &format!("{base}/api/my/listings")).await;
    assert_eq!(first_status, 200);
    assert_eq!(first["current_page"], 1);
    assert_eq!(
        first["listings"].as_array().unwrap().len(),
        24,
        "default per_page 24"
    );
    let total = first["total"].as_u64().unwrap() as usize;
    assert_eq!(
        first["total_pages"].as_u64().unwrap() as usize,
        total.div_ceil(24)
    );

    // Default state: live only; follow next until it is absent.
    let (live, hrefs) = all_pages(
        &rv,
        &c,
        &format!("{base}/api/my/listings?per_page=7"),
        "listings",
    )
    .await;
    assert_eq!(live.len(), total);
    assert!(live.iter().all(|l| l["state"]["slug"] == "live"));
    assert!(
        hrefs
            .iter()
            .all(|h| h.starts_with(&base) && h.contains("per_page=7"))
    );
    let ids: BTreeSet<u64> = live.iter().map(|l| l["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), live.len(), "no listing twice across pages");

    // state=all sees every state.
    let (all, _) = all_pages(
        &rv,
        &c,
        &format!("{base}/api/my/listings?state=all&per_page=50"),
        "listings",
    )
    .await;
    assert_eq!(all.len(), rv.listing_ids().len());
    let states: BTreeSet<&str> = all
        .iter()
        .map(|l| l["state"]["slug"].as_str().unwrap())
        .collect();
    for (slug, _) in reverb::seed::LISTING_STATES {
        assert!(states.contains(slug), "a seeded listing is {slug}");
    }
    let (s, drafts) = get(
        &c,
        &format!("{base}/api/my/listings?state=draft&per_page=100"),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        drafts["listings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["state"]["slug"] == "draft")
    );
    assert_eq!(
        get(&c, &format!("{base}/api/my/listings?state=bogus"))
            .await
            .0,
        400
    );

    // SKU filter, exact, with characters that need encoding.
    let odd = all
        .iter()
        .filter_map(|l| l["sku"].as_str())
        .find(|s| s.contains(' ') || s.contains('/'))
        .expect("a seeded SKU that needs escaping")
        .to_owned();
    let url = reqwest::Url::parse_with_params(
        &format!("{base}/api/my/listings"),
        &[("sku", odd.as_str()), ("state", "all")],
    )
    .unwrap();
    let (_, hit) = get(&c, url.as_str()).await;
    assert_eq!(hit["total"], 1, "{hit}");
    assert_eq!(hit["listings"][0]["sku"], odd.as_str());
    let (_, none) = get(
        &c,
        &format!("{base}/api/my/listings?sku=NOT-THERE&state=all"),
    )
    .await;
    assert_eq!(none["total"], 0);
    assert!(none["_links"].get("next").is_none());

    // Listing wire shape.
    let l = &hit["listings"][0];
    assert!(l["id"].is_u64());
    for key in ["amount", "amount_cents", "currency", "symbol", "display"] {
        assert!(!l["price"][key].is_null(), "price.{key}");
    }
    assert!(l["price"]["amount"].is_string());
    assert!(
        l["_links"]["self"]["href"]
            .as_str()
            .unwrap()
            .starts_with(&base)
    );
    // One listing by id and by slug.
    let id = l["id"].as_u64().unwrap();
    assert_eq!(
        get(&c, &format!("{base}/api/listings/{id}")).await.1["id"],
        json!(id)
    );
    assert_eq!(
        get(&c, &format!("{base}/api/listings/{id}-some-title"))
            .await
            .1["id"],
        json!(id)
    );
    assert_eq!(get(&c, &format!("{base}/api/listings/1")).await.0, 404);
}

#[tokio::test]
async fn relative_links_knob() {
    let rv = start(ReverbSandbox::builder().relative_links(true)).await;
    let c = client();
    let (items, hrefs) = all_pages(
        &rv,
        &c,
        &format!("{}/api/my/orders/selling/all?per_page=10", rv.base_url()),
        "orders",
    )
    .await;
    assert_eq!(items.len(), rv.order_numbers().len());
    assert!(!hrefs.is_empty());
    assert!(
        hrefs
            .iter()
            .all(|h| h.starts_with("/api/my/orders/selling/all?")),
        "{hrefs:?}"
    );
    let (_, page2) = get(&c, &format!("{}{}", rv.base_url(), hrefs[0])).await;
    assert_eq!(page2["current_page"], 2);
    assert!(
        page2["_links"]["prev"]["href"]
            .as_str()
            .unwrap()
            .starts_with('/')
    );
}

#[tokio::test]
async fn create_draft_publish_update_and_end() {
    let rv = start(ReverbSandbox::builder().listings(0).orders(0)).await;
    let c = client();
    let base = rv.base_url();
    let (status, body) = send(
        &c,
        reqwest::Method::POST,
        &format!("{base}/api/listings"),
        json!({
            "make": "Boss", "model": "DS-1", "title": "Boss DS-1 Distortion",
            "condition": { "uuid": "7c3f45de-2ae0-4c81-8400-fdb6b1d74890" },
            "price": { "amount": "49.99", "currency": "USD" },
            "sku": "DS1-NEW", "has_inventory": true, "inventory": 3
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["message"].is_string());
    assert_eq!(body["errors"], json!({}));
    let draft = &body["listing"];
    assert_eq!(
        draft["state"]["slug"], "draft",
        "API listings are drafts by default"
    );
    assert_eq!(draft["price"]["amount_cents"], 4999);
    let id = draft["id"].as_u64().unwrap();
    // Drafts are not in the default (live) list.
    assert_eq!(
        get(&c, &format!("{base}/api/my/listings?sku=DS1-NEW"))
            .await
            .1["total"],
        0
    );

    let (status, body) = send(
        &c,
        reqwest::Method::PUT,
        &format!("{base}/api/listings/{id}"),
        json!({ "publish": true }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["listing"]["state"]["slug"], "live");

    // A published create.
    let (status, body) = send(
        &c,
        reqwest::Method::POST,
        &format!("{base}/api/listings"),
        json!({
            "title": "Ibanez TS9 Tube Screamer", "publish": true,
            "condition": { "uuid": "7c3f45de-2ae0-4c81-8400-fdb6b1d74890" },
            "price": { "amount": "99.00", "currency": "USD" }, "sku": "TS9"
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["listing"]["state"]["slug"], "live");
    assert_eq!(
        body["listing"]["make"], "Ibanez",
        "make guessed from the title"
    );

    // Inventory and price.
    let (status, body) = send(
        &c,
        reqwest::Method::PUT,
        &format!("{base}/api/listings/{id}"),
        json!({ "inventory": 7, "price": { "amount": "52.50", "currency": "USD" } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let l = rv.listing(id).unwrap();
    assert_eq!(l["inventory"], 7);
    assert_eq!(l["price"]["amount"], "52.50");
    assert_eq!(l["price"]["display"], "$52.50");
    // Inventory 0: sold out; back above 0: live again.
    send(
        &c,
        reqwest::Method::PUT,
        &format!("{base}/api/listings/{id}"),
        json!({ "inventory": 0 }),
    )
    .await;
    assert_eq!(rv.listing(id).unwrap()["state"]["slug"], "sold_out");
    send(
        &c,
        reqwest::Method::PUT,
        &format!("{base}/api/listings/{id}"),
        json!({ "inventory": 2 }),
    )
    .await;
    assert_eq!(rv.listing(id).unwrap()["state"]["slug"], "live");

    // End: reason required.
    let end = format!("{base}/api/my/listings/{id}/state/end");
    let (status, body) = send(&c, reqwest::Method::PUT, &end, json!({})).await;
    assert_eq!(status, 412, "{body}");
    assert!(body["errors"]["reason"].is_array());
    let (status, body) = send(
        &c,
        reqwest::Method::PUT,
        &end,
        json!({ "reason": "not_sold" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rv.listing(id).unwrap()["state"]["slug"], "ended");
    assert_eq!(rv.ends().len(), 1);
    assert_eq!(rv.ends()[0].reason, "not_sold");
    let ops: Vec<String> = rv
        .listing_writes()
        .into_iter()
        .map(|w| w.operation)
        .collect();
    assert_eq!(
        ops,
        [
            "create", "update", "create", "update", "update", "update", "end"
        ]
    );

    // Unknown listings.
    let (status, _) = send(
        &c,
        reqwest::Method::PUT,
        &format!("{base}/api/listings/999"),
        json!({ "inventory": 1 }),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &c,
        reqwest::Method::PUT,
        &format!("{base}/api/my/listings/999/state/end"),
        json!({ "reason": "not_sold" }),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn invalid_values_get_field_errors() {
    let rv = start(ReverbSandbox::builder().listings(3)).await;
    let c = client();
    let id = rv.listing_ids()[0];
    let url = format!("{}/api/listings/{id}", rv.base_url());
    let before = rv.listing(id).unwrap();
    let (status, body) = send(&c, reqwest::Method::PUT, &url, json!({ "inventory": -1 })).await;
    assert_eq!(status, 412);
    assert!(body["message"].is_string());
    assert!(body["errors"]["inventory"][0].is_string(), "{body}");
    let (status, body) = send(
        &c,
        reqwest::Method::PUT,
        &url,
        json!({ "price": { "amount": "10.00", "currency": "EUR" } }),
    )
    .await;
    assert_eq!(status, 412);
    assert!(
        body["errors"]["price"][0].as_str().unwrap().contains("USD"),
        "{body}"
    );
    let (status, body) = send(&c, reqwest::Method::PUT, &url, json!({ "price": 12 })).await;
    assert_eq!(status, 412, "{body}");
    let (status, _) = send(
        &c,
        reqwest::Method::PUT,
        &url,
        json!({ "price": { "amount": "abc", "currency": "USD" } }),
    )
    .await;
    assert_eq!(status, 412);
    assert_eq!(rv.listing(id).unwrap(), before, "nothing applied");

    // A JSON body sent without Content-Type is parsed as form parameters: nothing is updated.
    let resp = req(&c, reqwest::Method::PUT, &url)
        .body(json!({ "inventory": 9 }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(rv.listing(id).unwrap()["inventory"], before["inventory"]);
    // Form parameters proper work.
    let resp = req(&c, reqwest::Method::PUT, &url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("inventory=9&price[amount]=11.00&price[currency]=USD")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let after = rv.listing(id).unwrap();
    assert_eq!(after["inventory"], 9);
    assert_eq!(after["price"]["amount_cents"], 1100);

    // Malformed JSON.
    let resp = req(&c, reqwest::Method::PUT, &url)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // The knob: 422 instead of 412.
    let rv = start(ReverbSandbox::builder().listings(1).validation_status(422)).await;
    let id = rv.listing_ids()[0];
    let (status, body) = send(
        &c,
        reqwest::Method::PUT,
        &format!("{}/api/listings/{id}", rv.base_url()),
        json!({ "inventory": -5 }),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["errors"]["inventory"].is_array());
}

// ----- orders -----

#[tokio::test]
async fn orders_every_status_money_and_pickup() {
    let rv = start(ReverbSandbox::builder()).await;
    let c = client();
    let base = rv.base_url();
    let (orders, _) = all_pages(
        &rv,
        &c,
        &format!("{base}/api/my/orders/selling/all?per_page=50"),
        "orders",
    )
    .await;
    assert_eq!(orders.len(), 60);
    let statuses: BTreeSet<&str> = orders
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    for s in reverb::seed::ORDER_STATUSES {
        assert!(statuses.contains(s), "a seeded order is {s}");
    }
    let methods: BTreeSet<&str> = orders
        .iter()
        .map(|o| o["shipping_method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        ["expedited_shipping", "local", "shipped"]
            .into_iter()
            .collect()
    );
    let currencies: BTreeSet<&str> = orders
        .iter()
        .map(|o| o["total"]["currency"].as_str().unwrap())
        .collect();
    assert_eq!(currencies, ["EUR", "GBP", "USD"].into_iter().collect());
    // Newest first.
    let created: Vec<DateTime<Utc>> = orders
        .iter()
        .map(|o| at(o["created_at"].as_str().unwrap()))
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]));
    for o in &orders {
        assert!(o["order_number"].is_string());
        for key in [
            "amount_product",
            "amount_product_subtotal",
            "shipping",
            "amount_tax",
            "total",
        ] {
            let m = &o[key];
            assert!(
                m["amount"].is_string() && m["amount_cents"].is_i64(),
                "{key}: {m}"
            );
            assert!(m["symbol"].is_string() && m["display"].is_string());
        }
        let local = o["shipping_method"] == "local";
        assert_eq!(o["local_pickup"], json!(local));
        assert_eq!(o["shipping_address"].is_null(), local);
        // Timestamps carry an offset.
        assert!(o["created_at"].as_str().unwrap().ends_with("-05:00"));
    }
    // SKUs not in the shop's listings.
    assert!(orders.iter().any(|o| {
        o["sku"]
            .as_str()
            .is_some_and(|s| reverb::seed::UNKNOWN_SKUS.contains(&s))
    }));

    // awaiting_shipment: paid only; unpaid: unpaid only.
    let (aw, _) = all_pages(
        &rv,
        &c,
        &format!("{base}/api/my/orders/selling/awaiting_shipment"),
        "orders",
    )
    .await;
    assert!(!aw.is_empty() && aw.iter().all(|o| o["status"] == "paid"));
    let (un, _) = all_pages(
        &rv,
        &c,
        &format!("{base}/api/my/orders/selling/unpaid"),
        "orders",
    )
    .await;
    assert!(!un.is_empty() && un.iter().all(|o| o["status"] == "unpaid"));

    // One order.
    let n = orders[0]["order_number"].as_str().unwrap();
    let (status, one) = get(&c, &format!("{base}/api/my/orders/selling/{n}")).await;
    assert_eq!(status, 200);
    assert_eq!(&one, &orders[0]);
    assert_eq!(
        get(&c, &format!("{base}/api/my/orders/selling/42")).await.0,
        404
    );
}

#[tokio::test]
async fn order_date_filters() {
    let rv = start(ReverbSandbox::builder()).await;
    let c = client();
    let base = rv.base_url();
    let since = default_anchor() - TimeDelta::days(20);
    let param = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S-00:00").to_string();
    let (recent, _) = all_pages(
        &rv,
        &c,
        &format!(
            "{base}/api/my/orders/selling/all?created_start_date={}&per_page=10",
            param(since)
        ),
        "orders",
    )
    .await;
    let (all, _) = all_pages(
        &rv,
        &c,
        &format!("{base}/api/my/orders/selling/all?per_page=100"),
        "orders",
    )
    .await;
    let expected = all
        .iter()
        .filter(|o| at(o["created_at"].as_str().unwrap()) >= since)
        .count();
    assert!(expected > 0 && expected < all.len());
    assert_eq!(recent.len(), expected);

    // Updated window (start and end), with `Z` and an encoded `+00:00`.
    let n = all[5]["order_number"].as_str().unwrap().to_owned();
    let moment = at("2025-07-01T10:00:00Z");
    rv.set_order_updated_at(&n, moment);
    let url = format!(
        "{base}/api/my/orders/selling/all?updated_start_date=2025-07-01T09:00:00Z&updated_end_date=2025-07-01T11:00:00%2B00:00"
    );
    let (s, body) = get(&c, &url).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["orders"][0]["order_number"], n.as_str());
    // A literal `+` decodes to a space: refused.
    let (s, body) = get(
        &c,
        &format!("{base}/api/my/orders/selling/all?updated_start_date=2025-07-01T09:00:00+00:00"),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body["errors"]["updated_start_date"].is_array());

    // Outside edits bump updated_at.
    let clock = Arc::new(ManualClock::new(at("2025-08-01T00:00:00Z")));
    let rv = start(ReverbSandbox::builder().clock(clock.clone())).await;
    let n = rv.order_numbers()[0].clone();
    rv.set_order_status(&n, "cancelled");
    let (_, body) = get(
        &c,
        &format!(
            "{}/api/my/orders/selling/all?updated_start_date=2025-07-31T00:00:00Z",
            rv.base_url()
        ),
    )
    .await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["orders"][0]["status"], "cancelled");
}

#[tokio::test]
async fn ship_pickup_and_refund_are_recorded() {
    let rv = start(ReverbSandbox::builder().listings(2).orders(0)).await;
    let c = client();
    let base = rv.base_url();
    let shipped = rv.add_order(NewOrder {
        sku: Some("REV-SHIP".into()),
        ..Default::default()
    });
    let local = rv.add_order(NewOrder {
        shipping_method: "local".into(),
        ..Default::default()
    });
    let unpaid = rv.add_order(NewOrder {
        status: "unpaid".into(),
        ..Default::default()
    });
    let eur = rv.add_order(NewOrder {
        currency: "EUR".into(),
        unit_cents: 10_000,
        ..Default::default()
    });

    let ship = |n: &str| format!("{base}/api/my/orders/selling/{n}/ship");
    let (status, body) = send(
        &c,
        reqwest::Method::POST,
        &ship(&shipped),
        json!({ "provider": "UPS" }),
    )
    .await;
    assert_eq!(status, 400, "missing fields: {body}");
    assert!(body["errors"]["tracking_number"].is_array());
    let (status, body) = send(
        &c,
        reqwest::Method::POST,
        &ship(&shipped),
        json!({ "provider": "Pony Express", "tracking_number": "X1", "send_notification": true }),
    )
    .await;
    assert_eq!(status, 412, "{body}");
    assert!(body["errors"]["provider"].is_array());
    let (status, body) = send(
        &c,
        reqwest::Method::POST,
        &ship(&shipped),
        json!({ "provider": "UPS", "tracking_number": "1Z999AA10123456784", "send_notification": false }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "shipped");
    assert_eq!(body["shipping_code"], "1Z999AA10123456784");
    let rec = rv.shipments_of(&shipped);
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].provider, "UPS");
    assert!(!rec[0].send_notification);
    let (status, _) = send(
        &c,
        reqwest::Method::POST,
        &ship(&unpaid),
        json!({ "provider": "UPS", "tracking_number": "1", "send_notification": true }),
    )
    .await;
    assert_eq!(status, 412, "unpaid orders are not shipped");
    let (status, _) = send(
        &c,
        reqwest::Method::POST,
        &ship(&local),
        json!({ "provider": "UPS", "tracking_number": "1", "send_notification": true }),
    )
    .await;
    assert_eq!(status, 412, "local pickup orders are picked up");
    assert_eq!(rv.shipments().len(), 1);

    // Local pickup.
    let pick = |n: &str| format!("{base}/api/my/orders/selling/{n}/mark_picked_up");
    let (status, _) = send(&c, reqwest::Method::POST, &pick(&shipped), json!({})).await;
    assert_eq!(status, 412);
    let (status, body) = send(
        &c,
        reqwest::Method::POST,
        &pick(&local),
        json!({ "date": "2025-06-01 12:00:00" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "picked_up");
    assert_eq!(
        rv.pickups_of(&local)[0].date.as_deref(),
        Some("2025-06-01 12:00:00")
    );

    // Refunds: partial, then the rest, then nothing left.
    let refund = |n: &str| format!("{base}/api/my/orders/selling/{n}/refund_requests");
    let (status, body) = send(
        &c,
        reqwest::Method::POST,
        &refund(&eur),
        json!({ "state": "approved", "reason": "buyer_return", "refund_amount": { "amount": "10.00", "currency": "USD" } }),
    )
    .await;
    assert_eq!(status, 412, "wrong currency: {body}");
    assert!(body["errors"]["refund_amount"].is_array());
    let (status, body) = send(
        &c,
        reqwest::Method::POST,
        &refund(&eur),
        json!({ "state": "approved", "reason": "sold_out", "refund_amount": { "amount": "10.00", "currency": "EUR" } }),
    )
    .await;
    assert_eq!(status, 412, "unknown reason: {body}");
    let (status, body) = send(
        &c,
        reqwest::Method::POST,
        &refund(&eur),
        json!({ "state": "approved", "reason": "buyer_return", "refund_amount": { "amount": "10.00", "currency": "EUR" } }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["refund_amount"]["amount_cents"], 1000);
    assert_eq!(
        rv.order(&eur).unwrap()["status"],
        "paid",
        "partially refunded"
    );
    let (status, _) = send(
        &c,
        reqwest::Method::POST,
        &refund(&eur),
        json!({ "reason": "accidental_order" }),
    )
    .await;
    assert_eq!(status, 201, "the rest");
    assert_eq!(rv.order(&eur).unwrap()["status"], "refunded");
    let (status, _) = send(
        &c,
        reqwest::Method::POST,
        &refund(&eur),
        json!({ "reason": "accidental_order" }),
    )
    .await;
    assert_eq!(status, 412, "fully refunded");
    let recs = rv.refunds_of(&eur);
    assert_eq!(recs.len(), 2);
    assert_eq!(
        json!(recs[0].amount_cents + recs[1].amount_cents),
        rv.order(&eur).unwrap()["total"]["amount_cents"]
    );
    assert_eq!(recs[1].reason, "accidental_order");
    let (status, _) = send(
        &c,
        reqwest::Method::POST,
        &refund(&unpaid),
        json!({ "reason": "accidental_order" }),
    )
    .await;
    assert_eq!(status, 412);
    let (status, _) = send(
        &c,
        reqwest::Method::POST,
        &refund("777"),
        json!({ "reason": "accidental_order" }),
    )
    .await;
    assert_eq!(status, 404);
    // Orders from a test take the listing's id by SKU.
    let lid = rv.listing_id("REV-SHIP");
    assert_eq!(lid, None);
    let sku = rv.listing(rv.listing_ids()[0]).unwrap()["sku"]
        .as_str()
        .unwrap()
        .to_owned();
    let lid = rv.listing_id(&sku).unwrap();
    let before = rv.listing(lid).unwrap()["inventory"].as_i64().unwrap();
    let n = rv.add_order(NewOrder {
        sku: Some(sku.clone()),
        ..Default::default()
    });
    let after = rv.listing(lid).unwrap()["inventory"].as_i64().unwrap();
    assert_eq!(
        after,
        (before - 1).max(0),
        "a sale takes from the inventory"
    );
    assert_eq!(
        rv.order(&n).unwrap()["remaining_listing_inventory"],
        json!(after)
    );
    assert_eq!(
        rv.order(&n).unwrap()["product_id"],
        json!(rv.listing_id(&sku).unwrap().to_string())
    );
}

// ----- rate limits, faults, seeding -----

#[tokio::test]
async fn rate_limit_answers_429() {
    let clock = Arc::new(ManualClock::new(default_anchor()));
    let rv = start(
        ReverbSandbox::builder()
            .clock(clock.clone())
            .per_minute(Some(3))
            .retry_after_header(true),
    )
    .await;
    let c = client();
    let url = format!("{}/api/shop", rv.base_url());
    for _ in 0..3 {
        assert_eq!(get(&c, &url).await.0, 200);
    }
    let resp = req(&c, reqwest::Method::GET, &url).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "60");
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].is_string());
    clock.advance(TimeDelta::seconds(61));
    assert_eq!(get(&c, &url).await.0, 200);

    // Without the knob: no Retry-After. Injected 429 and 500 for one operation.
    let rv = start(ReverbSandbox::builder()).await;
    rv.inject_for(&["orders.all"], Fault::Throttled);
    rv.inject_for(&["orders.all"], Fault::ServerError);
    let url = format!("{}/api/my/orders/selling/all", rv.base_url());
    assert_eq!(get(&c, &format!("{}/api/shop", rv.base_url())).await.0, 200);
    let resp = req(&c, reqwest::Method::GET, &url).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert!(!resp.headers().contains_key("retry-after"));
    let (status, body) = get(&c, &url).await;
    assert_eq!(status, 500);
    assert!(body["message"].is_string());
    assert_eq!(get(&c, &url).await.0, 200);
    let counters = rv.counters();
    assert_eq!(counters.get("orders.all"), 3);
    assert_eq!(counters.throttled, 1);
    assert_eq!(counters.server_errors, 1);
}

#[tokio::test]
async fn seeding_is_deterministic() {
    let c = client();
    let mut bodies = Vec::new();
    for seed in [7, 7, 8] {
        let rv = start(ReverbSandbox::builder().seed(seed).relative_links(true)).await;
        let (_, listings) = get(
            &c,
            &format!("{}/api/my/listings?state=all&per_page=100", rv.base_url()),
        )
        .await;
        let (_, orders) = get(
            &c,
            &format!("{}/api/my/orders/selling/all?per_page=100", rv.base_url()),
        )
        .await;
        // Absolute self links carry the port; compare without them.
        let strip = |v: Value| v.to_string().replace(&rv.base_url(), "");
        bodies.push((strip(listings), strip(orders)));
    }
    assert_eq!(bodies[0], bodies[1], "same seed, same data");
    assert_ne!(bodies[0].0, bodies[2].0, "another seed, other listings");
    assert_ne!(bodies[0].1, bodies[2].1, "another seed, other orders");

    // Outside actions on listings.
    let rv = start(ReverbSandbox::builder().listings(0).orders(0)).await;
    let id = rv.add_listing(NewListing {
        sku: Some("X-1".into()),
        ..Default::default()
    });
    assert_eq!(
        get(&c, &format!("{}/api/my/listings?sku=X-1", rv.base_url()))
            .await
            .1["total"],
        1
    );
    assert!(rv.end_listing(id));
    assert_eq!(
        get(&c, &format!("{}/api/my/listings?sku=X-1", rv.base_url()))
            .await
            .1["total"],
        0
    );
    assert!(rv.delete_listing(id));
    assert_eq!(
        get(&c, &format!("{}/api/listings/{id}", rv.base_url()))
            .await
            .0,
        404
    );
    let added = rv.add_seeded_orders(5);
    assert_eq!(added.len(), 5);
    assert_eq!(rv.order_numbers().len(), 5);
}
