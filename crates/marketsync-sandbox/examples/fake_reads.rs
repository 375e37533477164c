//! How long the ChannelAdvisor and Reverb fakes take to answer the reads a sync and an import
//! make, with a large catalogue and order book (the fakes' own cost, limits off).
//!
//! ```sh
//! cargo run --release -p marketsync-sandbox --example fake_reads -- --products 10000 --orders 10000
//! cargo run --release -p marketsync-sandbox --example fake_reads -- --dump answers.txt
//! ```
//!
//! `--dump FILE` also writes the status and body of every request (with the base URL replaced
//! by `BASE`), including edge cases (`$count`, `$top`, `$orderby`, type errors, SKU changes,
//! exports): two builds of the fakes answer the same when their dumps are identical. The clock
//! is fixed, so the dump depends only on the options.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use marketsync_core::ManualClock;
use marketsync_sandbox::{ChannelAdvisorSandbox, ReverbSandbox};
use serde_json::{Value, json};

struct Opts {
    products: usize,
    orders: usize,
    dump: Option<String>,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        products: 10_000,
        orders: 10_000,
        dump: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--products" => o.products = value()?.parse().map_err(|e| format!("{e}"))?,
            "--orders" => o.orders = value()?.parse().map_err(|e| format!("{e}"))?,
            "--dump" => o.dump = Some(value()?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// Times requests and records their answers.
struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    log: String,
}

impl Client {
    async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, Duration) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method.clone(), &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        req = req.header("accept-version", "3.0");
        let started = Instant::now();
        let response = req.send().await.expect("the sandbox answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let took = started.elapsed();
        let normal = text.replace(&self.base, "BASE");
        let _ = writeln!(
            self.log,
            "{method} {} -> {status}\n{normal}\n",
            url.replace(&self.base, "BASE")
        );
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, value, took)
    }

    async fn get(&mut self, path: &str) -> (u16, Value, Duration) {
        self.send(reqwest::Method::GET, path, None).await
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(what: &str, times: &[Duration]) {
    if times.is_empty() {
        println!("  {what}: none");
        return;
    }
    let mut sorted = times.to_vec();
    sorted.sort();
    let total: Duration = times.iter().sum();
    println!(
        "  {what}: {} requests, median {:.2} ms, max {:.2} ms, total {:.2} s",
        times.len(),
        ms(sorted[sorted.len() / 2]),
        ms(sorted[sorted.len() - 1]),
        total.as_secs_f64()
    );
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn sku_filter(skus: &[String]) -> String {
    let terms: Vec<String> = skus
        .iter()
        .map(|s| format!("Sku eq '{}'", s.replace('\'', "''")))
        .collect();
    format!(
        "ProfileID eq 12345678 and ({}) and Labels/any(l: l/Name eq 'OfferUp')",
        terms.join(" or ")
    )
}

async fn channeladvisor(o: &Opts, log: &mut String) {
    let anchor = Utc.with_ymd_and_hms(2025, 6, 2, 12, 0, 0).unwrap();
    let clock = std::sync::Arc::new(ManualClock::new(anchor));
    let sandbox = ChannelAdvisorSandbox::builder()
        .seed(11)
        .products(o.products)
        .orders(o.orders)
        .clock(clock)
        .per_minute(None)
        .concurrent(None)
        .build();
    let token = sandbox.issue_access_token();
    let skus: Vec<String> = sandbox
        .product_ids()
        .iter()
        .filter_map(|id| sandbox.product(*id))
        .filter_map(|p| p["Sku"].as_str().map(str::to_owned))
        .collect();
    let server = sandbox.start().await.expect("the sandbox starts");
    let mut c = Client {
        http: marketsync_http::client_builder()
            .build()
            .expect("an HTTP client"),
        base: server.base_url(),
        token: Some(token),
        log: String::new(),
    };
    println!(
        "channeladvisor: {} products, {} orders",
        o.products, o.orders
    );
    let select = "&$expand=Labels&$select=ID,Sku,Title,TotalAvailableQuantity";

    // A sync's reads: 20 SKUs a request, spread over the catalogue.
    let mut times = Vec::new();
    let step = (skus.len() / 20 / 20).max(1);
    for r in 0..20 {
        let chunk: Vec<String> = (0..20)
            .filter_map(|k| skus.get((r * 20 + k) * step).cloned())
            .collect();
        let path = format!("/v1/Products?$filter={}{select}", enc(&sku_filter(&chunk)));
        let (status, _, took) = c.get(&path).await;
        assert_eq!(status, 200);
        times.push(took);
    }
    report("GET /v1/Products, $filter of 20 SKUs", &times);

    // An import's reads: every page of unexported orders.
    let mut times = Vec::new();
    let filter = enc("ProfileID eq 12345678 and CreatedDateUtc ge 2024-01-01T00:00:00Z");
    let mut next = Some(format!(
        "/v1/Orders?exported=false&$filter={filter}&$expand=Items,Fulfillments"
    ));
    let mut ids = Vec::new();
    while let Some(path) = next {
        let (status, body, took) = c.get(&path).await;
        assert_eq!(status, 200);
        times.push(took);
        ids.extend(
            body["value"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| o["ID"].clone()),
        );
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    report("GET /v1/Orders?exported=false, every page", &times);

    // The same after exporting the first half (the pages then skip the exported ones).
    for id in ids.iter().take(ids.len() / 2) {
        let (status, _, _) = c
            .send(
                reqwest::Method::POST,
                &format!("/v1/Orders({id})/Export"),
                None,
            )
            .await;
        assert_eq!(status, 204);
    }
    let mut times = Vec::new();
    let mut next = Some(format!(
        "/v1/Orders?exported=false&$filter={filter}&$expand=Items,Fulfillments"
    ));
    while let Some(path) = next {
        let (_, body, took) = c.get(&path).await;
        times.push(took);
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    report("GET /v1/Orders?exported=false after half exported", &times);

    // The catalogue's labelled products, every page.
    let mut times = Vec::new();
    let mut next = Some(format!(
        "/v1/Products?$filter={}{select}",
        enc("ProfileID eq 12345678 and Labels/any(l: l/Name eq 'OfferUp')")
    ));
    while let Some(path) = next {
        let (_, body, took) = c.get(&path).await;
        times.push(took);
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    report("GET /v1/Products by label, every page", &times);

    // Writes in a $batch: 100 PATCHes and 100 UpdateQuantity.
    let mut times = Vec::new();
    let pids = server.product_ids();
    for b in 0..5 {
        let mut requests = Vec::new();
        for (k, id) in pids.iter().skip(b * 100).take(100).enumerate() {
            requests.push(json!({"id": format!("p{k}"), "method": "PATCH",
                "url": format!("/v1/Products({id})"), "body": {"BuyItNowPrice": 12.5},
                "headers": {"content-type": "application/json"}}));
            requests.push(json!({"id": format!("q{k}"), "method": "POST",
                "url": format!("/v1/Products({id})/UpdateQuantity"),
                "body": {"Value": {"UpdateType": "Absolute",
                    "Updates": [{"DistributionCenterID": 1, "Quantity": 7}]}},
                "headers": {"content-type": "application/json"}}));
        }
        let (status, _, took) = c
            .send(
                reqwest::Method::POST,
                "/v1/$batch",
                Some(json!({ "requests": requests })),
            )
            .await;
        assert_eq!(status, 200);
        times.push(took);
    }
    report("POST /v1/$batch of 200 writes", &times);

    // Edge cases, for the dump.
    let pid = pids[3];
    let edge = [
        format!(
            "/v1/Products?$filter={}&$count=true",
            enc(&sku_filter(&skus[..5]))
        ),
        format!(
            "/v1/Products?$filter={}&$top=2",
            enc(&sku_filter(&skus[..5]))
        ),
        format!(
            "/v1/Products?$filter={}&$skip=1",
            enc(&sku_filter(&skus[..3]))
        ),
        format!(
            "/v1/Products?$filter={}",
            enc("ProfileID eq 12345678 and (Sku eq 'NOPE' or Sku eq 'NOPE2')")
        ),
        format!("/v1/Products?$filter={}", enc("Sku eq 5")),
        format!("/v1/Products?$filter={}", enc("Nope eq 5")),
        format!(
            "/v1/Products?$filter={}&$orderby=Nope",
            enc("ProfileID eq 1")
        ),
        format!(
            "/v1/Products?$filter={}&$skip=x",
            enc("ProfileID eq 12345678")
        ),
        format!(
            "/v1/Products?$filter={}&$orderby=Sku desc&$top=150&$count=true",
            enc("ProfileID eq 12345678")
        ),
        "/v1/Products?$top=3&$skip=2&$count=true".to_owned(),
        format!(
            "/v1/Products?$filter={}&$select=Nope",
            enc(&sku_filter(&skus[..2]))
        ),
        format!(
            "/v1/Orders?$filter={}&$count=true&$top=3",
            enc("SiteName eq 'OfferUp'")
        ),
        "/v1/Orders?exported=true&$top=2&$count=true".to_owned(),
        "/v1/Orders?exported=false&$skip=100000".to_owned(),
        format!(
            "/v1/Orders?$orderby=TotalPrice desc,ID&$top=4&$filter={}",
            enc("Items/any(i: i/Quantity gt 1)")
        ),
        format!("/v1/Orders?$filter={}", enc("SiteName eq 5")),
        "/v1/Orders?exported=maybe".to_owned(),
    ];
    for path in &edge {
        c.get(path).await;
    }
    // A SKU changed through the API and outside it: found by the new one only.
    let (_, before, _) = c.get(&format!("/v1/Products({pid})")).await;
    let old = before["Sku"].as_str().unwrap_or("").to_owned();
    c.send(
        reqwest::Method::PATCH,
        &format!("/v1/Products({pid})"),
        Some(json!({"Sku": "RENAMED-1"})),
    )
    .await;
    for s in [&old, "RENAMED-1"] {
        let f = format!(
            "ProfileID eq 12345678 and Sku eq '{}'",
            s.replace('\'', "''")
        );
        c.get(&format!("/v1/Products?$filter={}", enc(&f))).await;
    }
    server.edit_product(pids[5], |f| {
        f.insert("Sku".into(), json!(42));
    });
    c.get(&format!(
        "/v1/Products?$filter={}",
        enc(&sku_filter(&skus[..2]))
    ))
    .await;
    server.edit_product(pids[5], |f| {
        f.insert("Sku".into(), json!("BACK-5"));
    });
    c.get(&format!(
        "/v1/Products?$filter={}",
        enc("ProfileID eq 12345678 and Sku eq 'BACK-5'")
    ))
    .await;
    // An order edited outside the API so that a filter fails on it only.
    let oid = server.order_ids()[7];
    server.edit_order(oid, |f| {
        f.insert("SiteName".into(), json!(5));
    });
    c.get(&format!(
        "/v1/Orders?exported=false&$top=2&$filter={}",
        enc("SiteName eq 'OfferUp'")
    ))
    .await;
    c.get(&format!(
        "/v1/Orders?exported=true&$top=2&$filter={}",
        enc("SiteName eq 'OfferUp'")
    ))
    .await;
    log.push_str(&c.log);
}

async fn reverb(o: &Opts, log: &mut String) {
    let anchor = Utc.with_ymd_and_hms(2025, 6, 2, 12, 0, 0).unwrap();
    let clock = std::sync::Arc::new(ManualClock::new(anchor));
    let sandbox = ReverbSandbox::builder()
        .seed(11)
        .listings(o.products)
        .orders(o.orders)
        .clock(clock)
        .per_minute(None)
        .build();
    let token = sandbox.token();
    let server = sandbox.start().await.expect("the sandbox starts");
    let mut c = Client {
        http: marketsync_http::client_builder()
            .build()
            .expect("an HTTP client"),
        base: server.base_url(),
        token: Some(token),
        log: String::new(),
    };
    println!("reverb: {} listings, {} orders", o.products, o.orders);
    let ids = server.listing_ids();
    let skus: Vec<String> = ids
        .iter()
        .filter_map(|id| server.listing(*id))
        .filter_map(|l| l["sku"].as_str().map(str::to_owned))
        .collect();

    let mut times = Vec::new();
    let step = (skus.len() / 40).max(1);
    for k in 0..40 {
        let Some(sku) = skus.get(k * step) else { break };
        let (status, _, took) = c
            .get(&format!("/api/my/listings?sku={}&state=all", enc(sku)))
            .await;
        assert_eq!(status, 200);
        times.push(took);
    }
    report("GET /api/my/listings?sku=", &times);

    let mut times = Vec::new();
    for (k, id) in ids.iter().take(40).enumerate() {
        let (_, _, took) = c
            .send(
                reqwest::Method::PUT,
                &format!("/api/listings/{id}"),
                Some(json!({"inventory": k % 3, "price": {"amount": "12.50", "currency": "USD"}})),
            )
            .await;
        times.push(took);
    }
    report("PUT /api/listings/{id}", &times);

    let mut times = Vec::new();
    let mut next = Some("/api/my/orders/selling/all?per_page=50".to_owned());
    while let Some(path) = next {
        let (status, body, took) = c.get(&path).await;
        assert_eq!(status, 200);
        times.push(took);
        next = body["_links"]["next"]["href"].as_str().map(str::to_owned);
    }
    report("GET /api/my/orders/selling/all, every page", &times);

    // Edge cases, for the dump.
    let edge = [
        "/api/my/listings?state=all&per_page=7&page=3".to_owned(),
        "/api/my/listings?page=2".to_owned(),
        "/api/my/listings?state=sold_out&per_page=5".to_owned(),
        "/api/my/listings/drafts?per_page=3&page=2".to_owned(),
        "/api/my/listings?state=all&per_page=1000000&page=1000000".to_owned(),
        "/api/my/orders/selling/awaiting_shipment?per_page=9&page=4".to_owned(),
        "/api/my/orders/selling/unpaid?updated_start_date=2025-05-01T00:00:00Z".to_owned(),
        "/api/my/orders/selling/all?created_end_date=2025-05-20&page=2&per_page=13".to_owned(),
        "/api/my/orders/selling/all?page=x".to_owned(),
    ];
    for path in &edge {
        c.get(path).await;
    }
    let id = ids[2];
    let (_, before, _) = c.get(&format!("/api/listings/{id}")).await;
    let old = before["sku"].as_str().unwrap_or("").to_owned();
    c.send(
        reqwest::Method::PUT,
        &format!("/api/listings/{id}"),
        Some(json!({"sku": "RENAMED-2"})),
    )
    .await;
    for s in [old.as_str(), "RENAMED-2"] {
        c.get(&format!("/api/my/listings?sku={}&state=all", enc(s)))
            .await;
    }
    log.push_str(&c.log);
}

#[tokio::main]
async fn main() {
    let o = match opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut log = String::new();
    channeladvisor(&o, &mut log).await;
    reverb(&o, &mut log).await;
    if let Some(path) = &o.dump {
        std::fs::write(path, log).expect("the dump is written");
        println!("answers written to {path}");
    }
}
