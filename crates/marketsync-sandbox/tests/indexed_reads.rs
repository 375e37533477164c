//! The ChannelAdvisor and Reverb fakes read through indexes (products and listings by SKU,
//! unexported orders per application, filters known not to fail, pages put in order on their
//! own). These tests check over HTTP that the answers are those of a plain scan: the same rows
//! as filtering the whole collection, the same failures, whatever changed in between.

mod common;

use common::{Ca, client, clock, get_json, start, token};
use marketsync_sandbox::ChannelAdvisorSandbox;
use marketsync_sandbox::channeladvisor::ChannelAdvisorBuilder;
use marketsync_sandbox::reverb::NewListing;
use marketsync_sandbox::{ReverbSandbox, Sandbox};
use serde_json::{Value, json};

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn quoted(sku: &str) -> String {
    format!("'{}'", sku.replace('\'', "''"))
}

fn sku_filter(skus: &[&str]) -> String {
    let terms: Vec<String> = skus
        .iter()
        .map(|s| format!("Sku eq {}", quoted(s)))
        .collect();
    format!("ProfileID eq 12345678 and ({})", terms.join(" or "))
}

fn ids(body: &Value) -> Vec<i64> {
    body["value"]
        .as_array()
        .map(|v| v.iter().filter_map(|r| r["ID"].as_i64()).collect())
        .unwrap_or_default()
}

/// Every row of a listing, following `@odata.nextLink`.
async fn all_pages(c: &reqwest::Client, first: String, token: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut next = Some(first);
    while let Some(url) = next {
        let (status, body) = get_json(c, &url, token).await;
        assert_eq!(status, 200, "{url}: {body}");
        rows.extend(body["value"].as_array().cloned().unwrap_or_default());
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    rows
}

/// The ChannelAdvisor fake of `builder` on the test clock, started, with an HTTP client, an
/// access token and the fake's base URL.
async fn start_ca(builder: ChannelAdvisorBuilder) -> (Ca, reqwest::Client, String, String) {
    let ca = start(builder.clock(clock())).await;
    let c = client();
    let t = token(&ca, &c).await;
    let base = ca.base_url();
    (ca, c, t, base)
}

#[tokio::test]
async fn sku_lookups_return_what_filtering_every_product_returns() {
    let (_ca, c, t, base) = start_ca(
        ChannelAdvisorSandbox::builder()
            .seed(5)
            .products(120)
            .orders(0)
            .products_page_size(25),
    )
    .await;
    let every = all_pages(&c, format!("{base}/v1/Products?$expand=Labels"), &t).await;
    assert_eq!(every.len(), 120);
    let skus: Vec<String> = every
        .iter()
        .filter_map(|p| p["Sku"].as_str().map(str::to_owned))
        .collect();
    assert!(skus.iter().any(|s| s.contains('\'')), "a SKU to escape");
    let label = "Labels/any(l: l/Name eq 'OfferUp')";
    for chunk in skus.chunks(17) {
        let mut asked: Vec<&str> = chunk.iter().map(String::as_str).collect();
        asked.push("NOT-IN-THE-CATALOG");
        let want: Vec<i64> = every
            .iter()
            .filter(|p| asked.iter().any(|s| p["Sku"] == json!(s)))
            .filter(|p| {
                p["Labels"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|l| l["Name"] == json!("OfferUp")))
            })
            .filter_map(|p| p["ID"].as_i64())
            .collect();
        let filter = format!("{} and {label}", sku_filter(&asked));
        let url = format!("{base}/v1/Products?$filter={}&$count=true", enc(&filter));
        let (status, body) = get_json(&c, &url, &t).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body), want);
        assert_eq!(body["@odata.count"], json!(want.len()));
    }
    // Paging within a SKU lookup: $top and $skip as on any listing.
    let asked: Vec<&str> = skus[..6].iter().map(String::as_str).collect();
    let url = format!(
        "{base}/v1/Products?$filter={}&$top=4",
        enc(&sku_filter(&asked))
    );
    let (_, body) = get_json(&c, &url, &t).await;
    assert_eq!(ids(&body).len(), 4);
    assert!(body.get("@odata.nextLink").is_none(), "$top=4 is reached");
    let url = format!(
        "{base}/v1/Products?$filter={}&$skip=4",
        enc(&sku_filter(&asked))
    );
    let (_, body) = get_json(&c, &url, &t).await;
    assert_eq!(ids(&body).len(), 2);
}

#[tokio::test]
async fn sku_lookups_follow_every_change_of_a_sku() {
    let (ca, c, t, base) = start_ca(
        ChannelAdvisorSandbox::builder()
            .seed(6)
            .products(30)
            .orders(0),
    )
    .await;
    let lookup = |skus: Vec<String>| {
        let c = c.clone();
        let t = t.clone();
        let base = base.clone();
        async move {
            let asked: Vec<&str> = skus.iter().map(String::as_str).collect();
            let url = format!("{base}/v1/Products?$filter={}", enc(&sku_filter(&asked)));
            get_json(&c, &url, &t).await
        }
    };
    let ids_now = ca.product_ids();
    let (a, b) = (ids_now[2], ids_now[3]);
    let sku_a = ca.product(a).unwrap()["Sku"].as_str().unwrap().to_owned();

    // Renamed through the API.
    let resp = c
        .patch(format!("{base}/v1/Products({a})"))
        .bearer_auth(&t)
        .json(&json!({"Sku": "RENAMED-A"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(ids(&lookup(vec![sku_a.clone()]).await.1), Vec::<i64>::new());
    assert_eq!(ids(&lookup(vec!["RENAMED-A".into()]).await.1), vec![a]);
    assert_eq!(ca.product_id("RENAMED-A"), Some(a));
    assert_eq!(ca.product_id(&sku_a), None);

    // Renamed outside the API, to a SKU another product has: both are found, in id order.
    ca.edit_product(b, |f| {
        f.insert("Sku".into(), json!("RENAMED-A"));
    });
    assert_eq!(ids(&lookup(vec!["RENAMED-A".into()]).await.1), vec![a, b]);

    // A SKU that is not a string makes every SKU comparison fail, as a scan would.
    ca.edit_product(b, |f| {
        f.insert("Sku".into(), json!(17));
    });
    let (status, body) = lookup(vec!["RENAMED-A".into()]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("incompatible types"), "{body}");
    // A null SKU matches nothing and fails nothing.
    ca.edit_product(b, |f| {
        f.insert("Sku".into(), Value::Null);
    });
    assert_eq!(ids(&lookup(vec!["RENAMED-A".into()]).await.1), vec![a]);

    // Deleted, created, and a duplicate refused.
    let resp = c
        .delete(format!("{base}/v1/Products({a})"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        ids(&lookup(vec!["RENAMED-A".into()]).await.1),
        Vec::<i64>::new()
    );
    let created = c
        .post(format!("{base}/v1/Products"))
        .bearer_auth(&t)
        .json(&json!({"Sku": "RENAMED-A"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let new_id = created.json::<Value>().await.unwrap()["ID"]
        .as_i64()
        .unwrap();
    assert_eq!(ids(&lookup(vec!["RENAMED-A".into()]).await.1), vec![new_id]);
    let again = c
        .post(format!("{base}/v1/Products"))
        .bearer_auth(&t)
        .json(&json!({"Sku": "RENAMED-A"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    let added = ca.add_product("ADDED-1", &["OfferUp"], 3);
    assert_eq!(ids(&lookup(vec!["ADDED-1".into()]).await.1), vec![added]);
}

#[tokio::test]
async fn a_filter_that_fails_on_a_changed_row_fails_although_it_passed_before() {
    let (ca, c, t, base) = start_ca(
        ChannelAdvisorSandbox::builder()
            .seed(7)
            .products(40)
            .orders(30)
            .orders_page_size(10)
            .products_page_size(10),
    )
    .await;
    let orders = format!(
        "{base}/v1/Orders?exported=false&$filter={}",
        enc("SiteName ne 'nowhere'")
    );
    assert_eq!(get_json(&c, &orders, &t).await.0, 200);
    assert_eq!(get_json(&c, &orders, &t).await.0, 200);
    // The last order's site becomes a number: the first page does not show it, but the
    // filter now fails on it.
    let last = *ca.order_ids().last().unwrap();
    ca.edit_order(last, |f| {
        f.insert("SiteName".into(), json!(3));
    });
    let (status, body) = get_json(&c, &orders, &t).await;
    assert_eq!(status, 400, "{body}");
    // Exported, it is not in the exported=false listing any more, so the filter no longer
    // fails there; it does in the exported=true one.
    let resp = c
        .post(format!("{base}/v1/Orders({last})/Export"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (status, body) = get_json(&c, &orders, &t).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body).len(), 10);
    let exported = format!(
        "{base}/v1/Orders?exported=true&$filter={}",
        enc("SiteName ne 'nowhere'")
    );
    assert_eq!(get_json(&c, &exported, &t).await.0, 400);

    // Products listed by label: the same with a product edited after a clean read.
    let products = format!(
        "{base}/v1/Products?$filter={}",
        enc("Labels/any(l: l/Name eq 'OfferUp') and Title ne 'x'")
    );
    assert_eq!(get_json(&c, &products, &t).await.0, 200);
    let last = *ca.product_ids().last().unwrap();
    ca.edit_product(last, |f| {
        f.insert("Title".into(), json!(true));
    });
    let labelled = ca.labels(last).iter().any(|l| l == "OfferUp");
    let (status, _) = get_json(&c, &products, &t).await;
    assert_eq!(status, if labelled { 400 } else { 200 });
}

#[tokio::test]
async fn order_pages_cover_the_unexported_orders_once_with_exact_links_and_counts() {
    let (ca, c, t, base) = start_ca(
        ChannelAdvisorSandbox::builder()
            .seed(8)
            .products(20)
            .orders(40)
            .orders_page_size(10),
    )
    .await;
    let all: Vec<i64> = ca.order_ids();
    assert_eq!(all.len(), 40);
    // Export every third order.
    for id in all.iter().step_by(3) {
        let r = c
            .post(format!("{base}/v1/Orders({id})/Export"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let unexported: Vec<i64> = all
        .iter()
        .copied()
        .filter(|id| !ca.is_exported(*id))
        .collect();
    assert_eq!(unexported.len(), 26);
    let rows = all_pages(&c, format!("{base}/v1/Orders?exported=false"), &t).await;
    let got: Vec<i64> = rows.iter().filter_map(|r| r["ID"].as_i64()).collect();
    assert_eq!(got, unexported);
    let rows = all_pages(&c, format!("{base}/v1/Orders?exported=true"), &t).await;
    let got: Vec<i64> = rows.iter().filter_map(|r| r["ID"].as_i64()).collect();
    assert_eq!(got, ca.exported_orders());
    // The last full page has no next link when nothing follows; $count is the whole total.
    let (_, body) = get_json(
        &c,
        &format!("{base}/v1/Orders?exported=false&$skip=16&$count=true"),
        &t,
    )
    .await;
    assert_eq!(ids(&body), unexported[16..26].to_vec());
    assert!(body.get("@odata.nextLink").is_none(), "{body}");
    assert_eq!(body["@odata.count"], json!(26));
    let (_, body) = get_json(&c, &format!("{base}/v1/Orders?exported=false&$skip=15"), &t).await;
    assert_eq!(ids(&body), unexported[15..25].to_vec());
    assert!(
        body["@odata.nextLink"]
            .as_str()
            .is_some_and(|l| l.ends_with("exported=false&$skip=25")),
        "{body}"
    );
    // Unexporting puts an order back in its place.
    let back = all[3];
    let r = c
        .delete(format!("{base}/v1/Orders({back})/Export"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let rows = all_pages(&c, format!("{base}/v1/Orders?exported=false"), &t).await;
    assert_eq!(rows.len(), 27);
    assert_eq!(rows[2]["ID"], json!(back));
    // An item-level adjustment finds the item's order.
    let order = ca.order(all[1]).unwrap();
    let item = order["Items"][0]["ID"].as_i64().unwrap();
    let r = c
        .post(format!("{base}/v1/OrderItems({item})/Adjust"))
        .bearer_auth(&t)
        .json(&json!({"Reason": "BuyerCancelled", "RefundOnly": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(ca.adjustments_of(all[1]).len(), 1);
    let r = c
        .post(format!("{base}/v1/OrderItems(1)/Adjust"))
        .bearer_auth(&t)
        .json(&json!({"Reason": "BuyerCancelled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

async fn reverb_get(r: &Sandbox<ReverbSandbox>, c: &reqwest::Client, path: &str) -> Value {
    let resp = c
        .get(format!("{}{path}", r.base_url()))
        .bearer_auth(r.token())
        .header("accept-version", "3.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

fn numbers(body: &Value, key: &str, field: &str) -> Vec<Value> {
    body[key]
        .as_array()
        .map(|v| v.iter().map(|r| r[field].clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn reverb_pages_and_sku_lookups_match_the_whole_sorted_list() {
    let r = ReverbSandbox::builder()
        .seed(9)
        .listings(60)
        .orders(70)
        .clock(clock())
        .per_minute(None)
        .build()
        .start()
        .await
        .unwrap();
    let c = client();
    // Orders: pages of 7 put together are the one big page.
    let whole = reverb_get(&r, &c, "/api/my/orders/selling/all?per_page=1000").await;
    let whole = numbers(&whole, "orders", "order_number");
    assert!(whole.len() > 60);
    let mut paged = Vec::new();
    for page in 1..=whole.len().div_ceil(7) {
        let body = reverb_get(
            &r,
            &c,
            &format!("/api/my/orders/selling/all?per_page=7&page={page}"),
        )
        .await;
        assert_eq!(body["total"], json!(whole.len()));
        paged.extend(numbers(&body, "orders", "order_number"));
    }
    assert_eq!(paged, whole);
    // Listings: the same, every state.
    let whole = reverb_get(&r, &c, "/api/my/listings?state=all&per_page=1000").await;
    let whole = numbers(&whole, "listings", "id");
    let mut paged = Vec::new();
    for page in 1..=whole.len().div_ceil(9) {
        let body = reverb_get(
            &r,
            &c,
            &format!("/api/my/listings?state=all&per_page=9&page={page}"),
        )
        .await;
        paged.extend(numbers(&body, "listings", "id"));
    }
    assert_eq!(paged, whole);

    // SKU lookups follow the SKU through an update, an outside addition and a deletion.
    let (id, old) = r
        .listing_ids()
        .into_iter()
        .find_map(|id| Some((id, r.listing(id)?["sku"].as_str()?.to_owned())))
        .expect("a listing with a SKU");
    let resp = c
        .put(format!("{}/api/listings/{id}", r.base_url()))
        .bearer_auth(r.token())
        .header("accept-version", "3.0")
        .json(&json!({"sku": "NEW-SKU-4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let found = |body: &Value| numbers(body, "listings", "id");
    let old_path = format!("/api/my/listings?state=all&sku={}", enc(&old));
    assert!(found(&reverb_get(&r, &c, &old_path).await).is_empty());
    let new_path = "/api/my/listings?state=all&sku=NEW-SKU-4";
    assert_eq!(found(&reverb_get(&r, &c, new_path).await), vec![json!(id)]);
    assert_eq!(r.listing_id("NEW-SKU-4"), Some(id));
    let added = r.add_listing(NewListing {
        sku: Some("NEW-SKU-4".into()),
        ..NewListing::default()
    });
    let both = found(&reverb_get(&r, &c, new_path).await);
    assert_eq!(both.len(), 2);
    assert!(both.contains(&json!(id)) && both.contains(&json!(added)));
    assert!(r.delete_listing(id));
    assert_eq!(
        found(&reverb_get(&r, &c, new_path).await),
        vec![json!(added)]
    );
}
