//! Orders: the exported=false feed with paging, Export, Ship, Adjust, outside edits, seeding.

mod common;

use std::collections::BTreeSet;

use common::*;
use marketsync_sandbox::ChannelAdvisorSandbox;
use marketsync_sandbox::channeladvisor::seed;
use serde_json::{Value, json};

/// Follows `@odata.nextLink` from `first` until it is absent; returns every order and the links.
async fn drain(c: &reqwest::Client, first: String, t: &str) -> (Vec<Value>, Vec<String>) {
    let mut url = first;
    let mut all = Vec::new();
    let mut links = Vec::new();
    loop {
        let (status, body) = get_json(c, &url, t).await;
        assert_eq!(status, 200, "{url}: {body}");
        all.extend(body["value"].as_array().unwrap().iter().cloned());
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                links.push(next.to_owned());
                url = next.to_owned();
            }
            None => return (all, links),
        }
    }
}

#[tokio::test]
async fn exported_false_feed_pages_and_shrinks_as_orders_are_exported() {
    let ca = start(
        ChannelAdvisorSandbox::builder()
            .seed(11)
            .orders(30)
            .orders_page_size(7),
    )
    .await;
    let c = client();
    let t = token(&ca, &c).await;
    let base = ca.base_url();
    let first = format!("{base}/v1/Orders?exported=false&$expand=Items,Fulfillments");

    let (orders, links) = drain(&c, first.clone(), &t).await;
    assert_eq!(orders.len(), 30);
    assert_eq!(links.len(), 4, "30 orders at 7 a page");
    for (n, link) in links.iter().enumerate() {
        assert!(
            link.starts_with(&format!("{base}/v1/Orders?")),
            "absolute: {link}"
        );
        assert!(link.contains("exported=false"), "{link}");
        assert!(
            link.contains("$expand=Items,Fulfillments") || link.contains("%24expand"),
            "{link}"
        );
        assert!(link.ends_with(&format!("$skip={}", 7 * (n + 1))), "{link}");
    }
    let ids: Vec<i64> = orders.iter().map(|o| o["ID"].as_i64().unwrap()).collect();
    assert_eq!(ids, ca.order_ids());
    assert!(
        orders
            .iter()
            .all(|o| o["Items"].is_array() && o["Fulfillments"].is_array())
    );

    // Export the first ten: they leave this application's feed.
    for id in &ids[..10] {
        let resp = c
            .post(format!("{base}/v1/Orders({id})/Export"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }
    let (rest, _) = drain(&c, first.clone(), &t).await;
    let rest: Vec<i64> = rest.iter().map(|o| o["ID"].as_i64().unwrap()).collect();
    assert_eq!(rest, ids[10..].to_vec());
    assert_eq!(ca.exported_orders(), ids[..10].to_vec());
    assert_eq!(ca.export_count(ids[0]), 1);

    // exported=true is the complement; GET Orders(ID) ignores export state.
    let (done, _) = drain(&c, format!("{base}/v1/Orders?exported=true"), &t).await;
    assert_eq!(done.len(), 10);
    let (status, _) = get_json(&c, &format!("{base}/v1/Orders({})", ids[0]), &t).await;
    assert_eq!(status, 200);

    // Another application has its own export flags.
    ca.add_application("other-app", "other-secret");
    ca.add_refresh_token("other-refresh", "other-app", &["orders"]);
    let resp = c
        .post(format!("{base}/oauth2/token"))
        .basic_auth("other-app", Some("other-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "other-refresh"),
        ])
        .send()
        .await
        .unwrap();
    let other = resp.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (all, _) = drain(&c, first.clone(), &other).await;
    assert_eq!(all.len(), 30);

    // Un-export brings an order back; a new order appears.
    let resp = c
        .delete(format!("{base}/v1/Orders({})/Export", ids[0]))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let new_id = ca.add_order(Default::default());
    let (feed, _) = drain(&c, first, &t).await;
    let feed: BTreeSet<i64> = feed.iter().map(|o| o["ID"].as_i64().unwrap()).collect();
    assert!(feed.contains(&ids[0]) && feed.contains(&new_id));
    assert_eq!(feed.len(), 22);
}

#[tokio::test]
async fn filters_and_top_on_orders() {
    let ca = start(ChannelAdvisorSandbox::builder().seed(5).orders(40)).await;
    let c = client();
    let t = token(&ca, &c).await;
    let base = ca.base_url();
    let resp = c
        .get(format!("{base}/v1/Orders"))
        .bearer_auth(&t)
        .query(&[
            ("$filter", "SiteName eq 'OfferUp' and (ShippingStatus eq 'Unshipped' or ShippingStatus eq 'PendingShipment') and CreatedDateUtc ge 2025-04-01T00:00:00Z"),
            ("$orderby", "CreatedDateUtc desc"),
            ("$count", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let rows = body["value"].as_array().unwrap();
    assert_eq!(body["@odata.count"].as_u64().unwrap() as usize, rows.len());
    assert!(!rows.is_empty());
    for pair in rows.windows(2) {
        assert!(pair[0]["CreatedDateUtc"].as_str() >= pair[1]["CreatedDateUtc"].as_str());
    }
    assert!(rows.iter().all(|o| o["SiteName"] == "OfferUp"));

    let (status, body) = get_json(&c, &format!("{base}/v1/Orders?$top=3"), &t).await;
    assert_eq!(status, 200);
    assert_eq!(body["value"].as_array().unwrap().len(), 3);
    assert!(body.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn ship_and_adjust_are_recorded_with_their_ids() {
    let ca = start(ChannelAdvisorSandbox::builder().seed(2)).await;
    let c = client();
    let t = token(&ca, &c).await;
    let base = ca.base_url();
    let unshipped: Vec<i64> = ca
        .order_ids()
        .into_iter()
        .filter(|id| ca.order(*id).unwrap()["ShippingStatus"] == "Unshipped")
        .collect();
    let (a, b, d) = (unshipped[0], unshipped[1], unshipped[2]);

    let ship = json!({"Value": {
        "ShippedDateUtc": "2025-06-02T10:00:00Z", "TrackingNumber": "1Z999",
        "SellerFulfillmentID": "ful-1", "DistributionCenterID": 1,
        "DeliveryStatus": "Complete", "ShippingCarrier": "UPS", "ShippingClass": "Ground"}});
    let resp = c
        .post(format!("{base}/v1/Orders({a})/Ship"))
        .bearer_auth(&t)
        .json(&ship)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let recorded = ca.shipments_of(a);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].seller_fulfillment_id.as_deref(), Some("ful-1"));
    assert_eq!(recorded[0].tracking_number.as_deref(), Some("1Z999"));
    let order = ca.order(a).unwrap();
    assert_eq!(order["ShippingStatus"], "Shipped");
    assert!(
        order["Fulfillments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["SellerFulfillmentID"] == "ful-1")
    );

    // Not wrapped in Value, or an unknown carrier/class: 400 with error.message.
    for body in [
        json!({"ShippingCarrier": "UPS", "ShippingClass": "Ground"}),
        json!({"Value": {"ShippingCarrier": "UPS", "ShippingClass": "Teleport"}}),
    ] {
        let resp = c
            .post(format!("{base}/v1/Orders({b})/Ship"))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert!(resp.json::<Value>().await.unwrap()["error"]["message"].is_string());
    }

    // Order-level cancellation (top-level body, not wrapped) and an item-level refund.
    let resp = c
        .post(format!("{base}/v1/Orders({b})/Adjust"))
        .bearer_auth(&t)
        .json(&json!({"Reason": "BuyerCancelled", "SellerAdjustmentID": "adj-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(ca.order(b).unwrap()["ShippingStatus"], "Canceled");
    let item = ca.order(d).unwrap()["Items"][0]["ID"].as_i64().unwrap();
    let resp = c
        .post(format!("{base}/v1/OrderItems({item})/Adjust"))
        .bearer_auth(&t)
        .json(&json!({"Quantity": 1, "Reason": "ItemNotAvailable", "SellerAdjustmentID": "adj-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = c
        .post(format!("{base}/v1/Orders({d})/Adjust"))
        .bearer_auth(&t)
        .json(&json!({"Reason": "NotAReason"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let adj = ca.adjustments();
    assert_eq!(adj.len(), 2);
    assert_eq!(
        (adj[0].order_id, adj[0].seller_adjustment_id.as_deref()),
        (b, Some("adj-1"))
    );
    assert_eq!(adj[0].kind, "Cancellation");
    assert_eq!(
        (adj[1].order_item_id, adj[1].seller_adjustment_id.as_deref()),
        (Some(item), Some("adj-2"))
    );
    assert_eq!(ca.adjustments_of(d).len(), 1);

    let counters = ca.counters();
    assert_eq!(counters.get("orders.ship"), 3);
    assert_eq!(counters.get("orders.adjust"), 2);
    assert_eq!(counters.get("order_items.adjust"), 1);
}

#[tokio::test]
async fn outside_edits_bump_updated_date() {
    let clock = clock();
    let ca = start(ChannelAdvisorSandbox::builder().clock(clock.clone())).await;
    let id = ca.order_ids()[0];
    let before = ca.order(id).unwrap()["UpdatedDateUtc"].clone();
    clock.advance(chrono::TimeDelta::days(30));
    assert!(ca.set_order_status(id, "Completed", "Cleared", "Canceled"));
    let after = ca.order(id).unwrap();
    assert_eq!(after["ShippingStatus"], "Canceled");
    assert_ne!(after["UpdatedDateUtc"], before);
    assert_eq!(
        at(after["UpdatedDateUtc"].as_str().unwrap()),
        default_anchor_plus_30()
    );
}

fn default_anchor_plus_30() -> chrono::DateTime<chrono::Utc> {
    marketsync_sandbox::channeladvisor::default_anchor() + chrono::TimeDelta::days(30)
}

#[tokio::test]
async fn seeded_orders_cover_the_variety() {
    let ca = ChannelAdvisorSandbox::builder().seed(9).orders(80).build();
    let orders: Vec<Value> = ca
        .order_ids()
        .into_iter()
        .map(|id| ca.order(id).unwrap())
        .collect();
    let set = |f: &dyn Fn(&Value) -> String| orders.iter().map(f).collect::<BTreeSet<String>>();
    let checkout = set(&|o| o["CheckoutStatus"].as_str().unwrap().to_owned());
    let payment = set(&|o| o["PaymentStatus"].as_str().unwrap().to_owned());
    let shipping = set(&|o| o["ShippingStatus"].as_str().unwrap().to_owned());
    assert_eq!(checkout.len(), 7, "{checkout:?}");
    assert_eq!(payment.len(), 5, "{payment:?}");
    assert_eq!(shipping.len(), 6, "{shipping:?}");
    let currencies = set(&|o| o["Currency"].as_str().unwrap().to_owned());
    assert_eq!(
        currencies,
        ["CAD", "EUR", "GBP", "USD"].map(String::from).into()
    );
    assert!(
        orders
            .iter()
            .any(|o| o["SiteName"] == seed::OFFERUP_SITE_NAME)
    );
    let classes = set(&|o| o["RequestedShippingClass"].as_str().unwrap().to_owned());
    assert!(
        classes
            .iter()
            .any(|c| seed::UNMAPPED_SHIPPING_CLASSES.contains(&c.as_str()))
    );
    assert!(
        classes
            .iter()
            .any(|c| seed::TYPICAL_SHIPPING_CLASSES.contains(&c.as_str()))
    );
    let skus = set(&|o| {
        o["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["Sku"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(",")
    });
    assert!(
        skus.iter()
            .any(|s| seed::UNKNOWN_SKUS.iter().any(|u| s.contains(u)))
    );
    assert!(
        orders
            .iter()
            .any(|o| o["Items"].as_array().unwrap().len() > 1)
    );
    assert!(
        orders
            .iter()
            .any(|o| o["Items"].as_array().unwrap().len() > 20)
    );
}

#[tokio::test]
async fn expanded_items_are_capped_in_lists_and_paged_by_their_own_link() {
    let ca = start(ChannelAdvisorSandbox::builder().orders(10)).await;
    let c = client();
    let t = token(&ca, &c).await;
    let big = ca
        .order_ids()
        .into_iter()
        .find(|id| ca.order(*id).unwrap()["Items"].as_array().unwrap().len() == 23)
        .expect("seeded big order");
    let base = ca.base_url();
    let (_, body) = get_json(
        &c,
        &format!("{base}/v1/Orders?$expand=Items&$filter=ID eq {big}"),
        &t,
    )
    .await;
    let row = &body["value"][0];
    assert_eq!(row["Items"].as_array().unwrap().len(), 20);
    let link = row["Items@odata.nextLink"].as_str().unwrap();
    let (_, rest) = get_json(&c, link, &t).await;
    assert_eq!(rest["value"].as_array().unwrap().len(), 3);
    // The single-order call returns every item.
    let (_, one) = get_json(&c, &format!("{base}/v1/Orders({big})?$expand=Items"), &t).await;
    assert_eq!(one["Items"].as_array().unwrap().len(), 23);
}

#[tokio::test]
async fn same_seed_gives_identical_json() {
    async fn dump(seed: u64) -> String {
        let ca = start(ChannelAdvisorSandbox::builder().seed(seed)).await;
        let c = client();
        let t = token(&ca, &c).await;
        let base = ca.base_url();
        let (_, orders) = get_json(
            &c,
            &format!("{base}/v1/Orders?$expand=Items,Fulfillments($expand=Items),Adjustments"),
            &t,
        )
        .await;
        let (_, products) = get_json(
            &c,
            &format!("{base}/v1/Products?$expand=Labels,DCQuantities"),
            &t,
        )
        .await;
        format!("{}{}", orders["value"], products["value"]).replace(&base, "BASE")
    }
    let a = dump(42).await;
    let b = dump(42).await;
    assert_eq!(a, b);
    assert!(a.len() > 10_000);
    assert_ne!(a, dump(43).await);
}
