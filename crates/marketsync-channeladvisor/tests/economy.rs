//! Request economy against a wiremock ChannelAdvisor: acknowledgements held to 5 in flight,
//! a product that no longer exists reported per listing in `update_listings`, and the listing
//! read-back by catalogue pages when that takes fewer requests than SKU filters.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use marketsync_channeladvisor::ChannelAdvisorChannel;
use marketsync_core::{
    Channel, ChannelListingId, ChannelOrderId, ErrorKind, ListingQuery, ListingUpdate, Money, Sku,
};
use marketsync_http::{Limits, RateLimiter};
use serde_json::json;
use url::Url;
use wiremock::matchers::{method, path, path_regex, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn oid(s: &str) -> ChannelOrderId {
    ChannelOrderId::new(s).unwrap()
}

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

fn lid(s: &str) -> ChannelListingId {
    ChannelListingId::new(s).unwrap()
}

/// Path and raw query (wiremock reports the host as the Host header without the port).
fn path_and_query(u: &Url) -> String {
    format!("{}?{}", u.path(), u.query().unwrap_or(""))
}

// ----- acknowledgements -----

/// How long every Export answer is held back.
const HOLD: Duration = Duration::from_millis(500);

/// Answers each Export after [`HOLD`], with the status the order id is given (204 otherwise),
/// and notes when each request arrived.
#[derive(Clone, Default)]
struct Held {
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Respond for Held {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.arrivals.lock().unwrap().push(Instant::now());
        ResponseTemplate::new(204).set_delay(HOLD)
    }
}

impl Held {
    /// The most requests that were in flight at once, counted from below: request `j` is
    /// counted in flight from its arrival until `HOLD` later. Its answer leaves the server no
    /// earlier than that, and the client can only send another request in its place after
    /// reading that answer, so this count never exceeds the real number in flight. The count is
    /// made at each arrival; no elapsed time is asserted.
    fn max_in_flight(&self) -> usize {
        let arrivals = self.arrivals.lock().unwrap().clone();
        arrivals
            .iter()
            .map(|&t| arrivals.iter().filter(|&&s| s <= t && t < s + HOLD).count())
            .max()
            .unwrap_or(0)
    }
}

async fn mount_held_exports(server: &MockServer) -> Held {
    let held = Held::default();
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/Orders\(\d+\)/Export$"))
        .respond_with(held.clone())
        .mount(server)
        .await;
    held
}

/// The order ids of the Export requests received, each checked to be exactly ChannelAdvisor's
/// request: `POST /v1/Orders(ID)/Export`, no query, an empty body, the bearer token.
async fn exported_ids(server: &MockServer) -> Vec<u64> {
    let mut ids = Vec::new();
    for r in api_requests(server).await {
        assert_eq!(r.method.as_str(), "POST");
        assert_eq!(r.url.query(), None, "{}", r.url);
        assert!(r.body.is_empty(), "Export has no body");
        assert_eq!(bearer(&r), format!("Bearer {ACCESS_1}"));
        let p = r.url.path();
        let id = p
            .strip_prefix("/v1/Orders(")
            .and_then(|rest| rest.strip_suffix(")/Export"))
            .unwrap_or_else(|| panic!("not an Export: {p}"));
        ids.push(id.parse().unwrap());
    }
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn acknowledgements_respect_a_lower_concurrency_of_the_rate_limiter() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let held = mount_held_exports(&server).await;
    let limiter = RateLimiter::new(Limits::default().per_minute(2000).concurrency(2));
    let ch = ChannelAdvisorChannel::new(builder(&server).rate_limiter(limiter).build().unwrap())
        .unwrap();
    let orders: Vec<ChannelOrderId> = (1..=6).map(|i| oid(&i.to_string())).collect();

    let mut tasks = tokio::task::JoinSet::new();
    for order in orders {
        let ch = ch.clone();
        tasks.spawn(async move { ch.acknowledge_order(&order).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    assert_eq!(exported_ids(&server).await, (1..=6).collect::<Vec<_>>());
    assert_eq!(held.max_in_flight(), 2);
}

#[tokio::test]
async fn concurrent_acknowledge_order_calls_are_held_to_five_in_flight() {
    // The engine acknowledges with as many calls at once as the capabilities allow; the
    // adapter's own limiter keeps them within ChannelAdvisor's 5 whatever the caller does.
    let server = MockServer::start().await;
    mount_token(&server).await;
    let held = mount_held_exports(&server).await;
    let ch = channel(&server);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 1..=12 {
        let ch = ch.clone();
        tasks.spawn(async move { ch.acknowledge_order(&oid(&i.to_string())).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    assert_eq!(exported_ids(&server).await, (1..=12).collect::<Vec<_>>());
    let max = held.max_in_flight();
    assert!((2..=5).contains(&max), "{max} in flight");
}

/// Answers 500 the first `fail` times, then 204.
struct FailFirst {
    fail: usize,
    seen: Mutex<usize>,
}

impl Respond for FailFirst {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let mut seen = self.seen.lock().unwrap();
        *seen += 1;
        if *seen <= self.fail {
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"code": "", "message": "An error has occurred."}}))
        } else {
            ResponseTemplate::new(204)
        }
    }
}

#[tokio::test]
async fn each_order_keeps_its_own_outcome() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    // 102: unknown to ChannelAdvisor. 104: a server error on every attempt. 105: one server
    // error, then success on the retry. The others succeed.
    Mock::given(method("POST"))
        .and(path("/v1/Orders(102)/Export"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(
                json!({"error": {"code": "", "message": "Order 102 was not found."}}),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(104)/Export"))
        .respond_with(FailFirst {
            fail: usize::MAX,
            seen: Mutex::new(0),
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Orders(105)/Export"))
        .respond_with(FailFirst {
            fail: 1,
            seen: Mutex::new(0),
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/Orders\(10[136]\)/Export$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let orders: Vec<ChannelOrderId> = (101..=106).map(|i| oid(&i.to_string())).collect();

    let ch = channel(&server);
    let mut results = Vec::new();
    for order in &orders {
        results.push(ch.acknowledge_order(order).await);
    }

    assert_eq!(results.len(), 6);
    assert!(results[0].is_ok());
    let gone = results[1].as_ref().unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    assert_eq!(gone.channel_message(), Some("Order 102 was not found."));
    assert!(results[2].is_ok());
    let failing = results[3].as_ref().unwrap_err();
    assert!(failing.is_temporary(), "{failing:?}");
    assert_eq!(failing.http_status(), Some(500));
    assert_eq!(failing.operation(), Some("acknowledge_order"));
    assert!(results[4].is_ok(), "retried: {:?}", results[4]);
    assert!(results[5].is_ok());

    let mut per_order: BTreeMap<u64, usize> = BTreeMap::new();
    for id in exported_ids(&server).await {
        *per_order.entry(id).or_default() += 1;
    }
    let expected: BTreeMap<u64, usize> =
        [(101, 1), (102, 1), (103, 1), (104, 4), (105, 2), (106, 1)]
            .into_iter()
            .collect();
    assert_eq!(
        per_order, expected,
        "104: every attempt of the retry policy"
    );
}

// ----- a product that no longer exists -----

fn update(id: &str, s: &str, price: &str, qty: u32) -> ListingUpdate {
    ListingUpdate {
        listing_id: lid(id),
        sku: sku(s),
        price: Some(Money::parse(price, "USD").unwrap()),
        quantity: Some(qty),
        title: None,
    }
}

#[tokio::test]
async fn a_product_that_no_longer_exists_is_not_found_for_its_listing_only() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    // Product 102 was deleted in ChannelAdvisor: both its parts answer 404, one in the OData
    // error shape, one in the ASP.NET routing shape (both documented for ChannelAdvisor).
    let reply = multipart_reply(
        "batchresponse_9",
        &[
            (1, "204 No Content", ""),
            (2, "200 OK", r#"{"ID":101,"BuyItNowPrice":5}"#),
            (
                3,
                "404 Not Found",
                r#"{"error":{"code":"","message":"Product 102 was not found."}}"#,
            ),
            (
                4,
                "404 Not Found",
                r#"{"$id":"1","Message":"No HTTP resource was found that matches the request URI 'https://api.channeladvisor.com/v1/Products(102)'."}"#,
            ),
            (5, "204 No Content", ""),
            (6, "200 OK", r#"{"ID":103,"BuyItNowPrice":7}"#),
        ],
    );
    Mock::given(method("POST"))
        .and(path("/v1/$batch"))
        .respond_with(multipart_response("batchresponse_9", reply))
        .expect(1)
        .mount(&server)
        .await;
    let updates = [
        update("101", "A", "5.00", 1),
        update("102", "B", "6.00", 2),
        update("103", "C", "7.00", 3),
    ];

    let out = channel(&server).update_listings(&updates).await.unwrap();

    assert_eq!(out.len(), 3);
    assert_eq!(out[0].result.as_ref().unwrap(), &lid("101"));
    let gone = out[1].result.as_ref().unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    assert!(!gone.is_temporary());
    assert_eq!(gone.channel_message(), Some("Product 102 was not found."));
    assert_eq!(out[1].listing_id, Some(lid("102")));
    assert_eq!(out[1].sku, Some(sku("B")));
    assert_eq!(out[2].result.as_ref().unwrap(), &lid("103"));

    let reqs = api_requests(&server).await;
    assert_eq!(reqs.len(), 1, "one $batch");
    let body = String::from_utf8(reqs[0].body.clone()).unwrap();
    let base = server.uri();
    for (n, line) in [
        (
            1,
            format!("POST {base}/v1/Products(101)/UpdateQuantity HTTP/1.1"),
        ),
        (2, format!("PATCH {base}/v1/Products(101) HTTP/1.1")),
        (
            3,
            format!("POST {base}/v1/Products(102)/UpdateQuantity HTTP/1.1"),
        ),
        (4, format!("PATCH {base}/v1/Products(102) HTTP/1.1")),
        (
            5,
            format!("POST {base}/v1/Products(103)/UpdateQuantity HTTP/1.1"),
        ),
        (6, format!("PATCH {base}/v1/Products(103) HTTP/1.1")),
    ] {
        let at = body
            .find(&format!("Content-ID: {n}\r\n\r\n{line}\r\n"))
            .unwrap_or_else(|| panic!("part {n} is not {line:?}: {body}"));
        assert!(at > 0);
    }
    assert!(body.contains(
        "{\"Value\":{\"UpdateType\":\"UnShipped\",\"Updates\":[{\"DistributionCenterID\":3,\"Quantity\":2}]}}"
    ));
    assert!(body.contains("{\"BuyItNowPrice\":6}"));
}

// ----- listing read-back -----

fn product(id: u64, sku: &str) -> serde_json::Value {
    json!({
        "ID": id, "Sku": sku, "Title": format!("Title {sku}"), "TotalAvailableQuantity": 3,
        "Labels": [{"ProductID": id, "ProfileID": PROFILE, "Name": "eBay Feed"}]
    })
}

const CATALOGUE_FILTER: &str = "$filter=ProfileID%20eq%2012345678%20and%20Labels%2Fany%28l%3A%20l%2FName%20eq%20%27eBay%20Feed%27%29";
const SELECT: &str =
    "$expand=Labels&$select=ID%2CSku%2CTitle%2CTotalAvailableQuantity%2CBuyItNowPrice";

/// Every page of a listing download.
async fn read_all(ch: &ChannelAdvisorChannel, skus: Vec<Sku>) -> Vec<(String, Option<String>)> {
    let mut query = ListingQuery {
        skus,
        include_ended: false,
        page: None,
        page_size: None,
    };
    let mut out = Vec::new();
    loop {
        let page = ch.list_listings(&query).await.unwrap();
        out.extend(
            page.listings
                .into_iter()
                .map(|l| (l.id.to_string(), l.sku.map(|s| s.to_string()))),
        );
        match page.next_page {
            Some(p) => query.page = Some(p),
            None => return out,
        }
    }
}

#[tokio::test]
async fn many_skus_of_a_small_catalogue_are_read_in_catalogue_pages() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    // 250 products, pages of 100. 200 SKUs asked (10 SKU requests): 3 pages are cheaper.
    let catalogue: Vec<serde_json::Value> = (0..250)
        .map(|i| product(1000 + i, &format!("P{i}")))
        .collect();
    let link = |skip: usize| {
        format!(
            "{}/v1/Products?{CATALOGUE_FILTER}&{SELECT}&$count=true&$skip={skip}",
            server.uri()
        )
    };
    for (skip, next) in [(100, Some(link(200))), (200, None)] {
        let mut body = json!({"value": catalogue[skip..(skip + 100).min(250)].to_vec()});
        if let Some(next) = next {
            body["@odata.nextLink"] = json!(next);
        }
        Mock::given(method("GET"))
            .and(path("/v1/Products"))
            .and(query_param("$skip", skip.to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/v1/Products"))
        .and(query_param_is_missing("$skip"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://api.channeladvisor.com/v1/$metadata#Products",
            "@odata.count": 250,
            "value": catalogue[..100].to_vec(),
            "@odata.nextLink": link(100),
        })))
        .expect(1)
        .mount(&server)
        .await;
    // P50..P239 and 10 SKUs ChannelAdvisor does not have.
    let mut skus: Vec<Sku> = (50..240).map(|i| sku(&format!("P{i}"))).collect();
    skus.extend((0..10).map(|i| sku(&format!("GONE{i}"))));

    let got = read_all(&channel(&server), skus).await;

    let expected: Vec<(String, Option<String>)> = (50..240)
        .map(|i| ((1000 + i).to_string(), Some(format!("P{i}"))))
        .collect();
    assert_eq!(got, expected, "exactly the products asked for, once each");
    let reqs = api_requests(&server).await;
    let sent: Vec<String> = reqs.iter().map(|r| path_and_query(&r.url)).collect();
    assert_eq!(
        sent,
        vec![
            format!("/v1/Products?{CATALOGUE_FILTER}&{SELECT}&$count=true"),
            path_and_query(&Url::parse(&link(100)).unwrap()),
            path_and_query(&Url::parse(&link(200)).unwrap()),
        ]
    );
}

#[tokio::test]
async fn a_large_catalogue_is_read_by_sku_after_one_look_and_not_looked_at_again() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    // 5,000 products: 50 pages, more than the 5 SKU requests of 100 SKUs.
    Mock::given(method("GET"))
        .and(path("/v1/Products"))
        .and(query_param("$count", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.count": 5000,
            "value": (0..100).map(|i| product(1000 + i, &format!("P{i}"))).collect::<Vec<_>>(),
            "@odata.nextLink": format!("{}/v1/Products?$count=true&$skip=100", server.uri()),
        })))
        .expect(1)
        .mount(&server)
        .await;
    // Each SKU request finds the first SKU of its chunk.
    struct FirstOfChunk;
    impl Respond for FirstOfChunk {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let filter = param(request, "$filter").unwrap();
            let first = filter.split("Sku eq '").nth(1).unwrap();
            let first = &first[..first.find('\'').unwrap()];
            let id: u64 = first.trim_start_matches('P').parse().unwrap();
            ResponseTemplate::new(200).set_body_json(json!({"value": [product(1000 + id, first)]}))
        }
    }
    Mock::given(method("GET"))
        .and(path("/v1/Products"))
        .and(query_param_is_missing("$count"))
        .respond_with(FirstOfChunk)
        .mount(&server)
        .await;
    let ch = channel(&server);
    let skus: Vec<Sku> = (0..100).map(|i| sku(&format!("P{i}"))).collect();

    let got = read_all(&ch, skus.clone()).await;

    let firsts: Vec<(String, Option<String>)> = [0, 20, 40, 60, 80]
        .into_iter()
        .map(|i| ((1000 + i).to_string(), Some(format!("P{i}"))))
        .collect();
    assert_eq!(got, firsts, "the look's page is dropped: nothing twice");
    let reqs = api_requests(&server).await;
    assert_eq!(
        reqs.len(),
        6,
        "one look at the catalogue, then 5 SKU requests"
    );
    assert_eq!(
        path_and_query(&reqs[0].url),
        format!("/v1/Products?{CATALOGUE_FILTER}&{SELECT}&$count=true")
    );
    for (k, r) in reqs[1..].iter().enumerate() {
        let filter = param(r, "$filter").unwrap();
        let chunk: Vec<String> = (k * 20..k * 20 + 20)
            .map(|i| format!("Sku eq 'P{i}'"))
            .collect();
        assert_eq!(
            filter,
            format!(
                "ProfileID eq 12345678 and ({}) and Labels/any(l: l/Name eq 'eBay Feed')",
                chunk.join(" or ")
            )
        );
        assert!(param(r, "$count").is_none());
    }

    // The next read-back remembers the catalogue's size: SKU requests only.
    let got = read_all(&ch, skus).await;
    assert_eq!(got, firsts);
    let reqs = api_requests(&server).await;
    assert_eq!(reqs.len(), 11);
    assert!(reqs[6..].iter().all(|r| param(r, "$count").is_none()));
}

#[tokio::test]
async fn a_few_skus_are_read_by_sku_without_a_look_at_the_catalogue() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/Products"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&server)
        .await;
    // 80 SKUs: 4 requests, under the threshold of 5.
    let skus: Vec<Sku> = (0..80).map(|i| sku(&format!("P{i}"))).collect();
    assert!(read_all(&channel(&server), skus).await.is_empty());
    let reqs = api_requests(&server).await;
    assert_eq!(reqs.len(), 4);
    for r in &reqs {
        assert_eq!(param(r, "$filter").unwrap().matches("Sku eq").count(), 20);
        assert!(param(r, "$count").is_none());
    }
}
