//! Products: `$filter` by SKU, `$select`, labels, quantities, `$batch`.

mod common;

use common::*;
use marketsync_sandbox::ChannelAdvisorSandbox;
use serde_json::{Value, json};

#[tokio::test]
async fn filter_by_sku_escapes_quotes_and_select_limits_fields() {
    let ca = start(ChannelAdvisorSandbox::builder().seed(3)).await;
    let c = client();
    let t = token(&ca, &c).await;
    let sku = "KID'S-TEE-003";
    let id = ca.product_id(sku).expect("seeded SKU with a quote");

    let resp = c
        .get(format!("{}/v1/Products", ca.base_url()))
        .bearer_auth(&t)
        .query(&[
            ("$filter", format!("Sku eq '{}'", sku.replace('\'', "''"))),
            ("$select", "ID,Sku".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["value"], json!([{"ID": id, "Sku": sku}]));
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#Products(ID,Sku)")
    );

    // A SKU with '&', '+' and a space survives URL encoding.
    let other = "A&B 12+007";
    let resp = c
        .get(format!("{}/v1/Products", ca.base_url()))
        .bearer_auth(&t)
        .query(&[("$filter", format!("Sku eq '{other}'"))])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert_eq!(body["value"][0]["Sku"], other);

    // An unescaped quote is a syntax error; an unknown property is refused by name.
    for (filter, needle) in [
        ("Sku eq 'KID'S-TEE-003'", "not valid"),
        ("Skew eq 'x'", "Could not find a property named 'Skew'"),
    ] {
        let resp = c
            .get(format!("{}/v1/Products", ca.base_url()))
            .bearer_auth(&t)
            .query(&[("$filter", filter)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{filter}");
        let body: Value = resp.json().await.unwrap();
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg}");
    }

    // A product deleted outside the API is gone.
    assert!(ca.delete_product(id));
    let (status, body) = get_json(&c, &format!("{}/v1/Products({id})", ca.base_url()), &t).await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn labels_are_added_and_removed() {
    let ca = start(ChannelAdvisorSandbox::builder().seed(1)).await;
    let c = client();
    let t = token(&ca, &c).await;
    let id = ca.add_product("LABEL-ME", &[], 5);
    let base = ca.base_url();
    let label_url = format!("{base}/v1/ProductLabels(ProductID={id},Name='Offer''s Up')");

    let resp = c.put(&label_url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(ca.labels(id), vec!["Offer's Up".to_owned()]);

    // The alias URL works outside a batch.
    let resp = c
        .put(format!("{base}/v1/Products({id})/Labels('OfferUp')"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    let (status, body) = get_json(
        &c,
        &format!("{base}/v1/Products({id})?$select=Sku&$expand=Labels"),
        &t,
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["Labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Offer's Up", "OfferUp"]);

    // Products on a label, via the lambda filter.
    let resp = c
        .get(format!("{base}/v1/Products"))
        .bearer_auth(&t)
        .query(&[
            ("$filter", "Labels/any(l: l/Name eq 'Offer''s Up')"),
            ("$select", "ID"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.json::<Value>().await.unwrap()["value"],
        json!([{"ID": id}])
    );

    let resp = c.delete(&label_url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(ca.labels(id), vec!["OfferUp".to_owned()]);
    let resp = c.delete(&label_url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    // Unknown product.
    let resp = c
        .put(format!("{base}/v1/ProductLabels(ProductID=1,Name='X')"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn quantity_and_price_updates() {
    let ca = start(ChannelAdvisorSandbox::builder()).await;
    let c = client();
    let t = token(&ca, &c).await;
    let id = ca.add_product("QTY-1", &["eBay"], 5);
    let base = ca.base_url();

    let resp = c
        .post(format!("{base}/v1/Products({id})/UpdateQuantity"))
        .bearer_auth(&t)
        .json(&json!({"Value": {"UpdateType": "UnShipped",
            "Updates": [{"DistributionCenterID": 1, "Quantity": 12}, {"DistributionCenterID": 2, "Quantity": 3}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(ca.dc_quantity(id, 1), Some(12));
    assert_eq!(ca.product(id).unwrap()["TotalAvailableQuantity"], 15);

    // Not wrapped in Value; externally managed DC; unknown DC.
    for body in [
        json!({"UpdateType": "Absolute", "Updates": []}),
        json!({"Value": {"UpdateType": "Absolute", "Updates": [{"DistributionCenterID": 3, "Quantity": 1}]}}),
        json!({"Value": {"UpdateType": "Absolute", "Updates": [{"DistributionCenterID": 99, "Quantity": 1}]}}),
        json!({"Value": {"UpdateType": "Sideways", "Updates": []}}),
    ] {
        let resp = c
            .post(format!("{base}/v1/Products({id})/UpdateQuantity"))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
    }

    let resp = c
        .patch(format!("{base}/v1/Products({id})"))
        .bearer_auth(&t)
        .json(&json!({"BuyItNowPrice": 19.99, "RetailPrice": 24.99}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(ca.product(id).unwrap()["BuyItNowPrice"], 19.99);
    let resp = c
        .patch(format!("{base}/v1/Products({id})"))
        .bearer_auth(&t)
        .json(&json!({"Colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

/// Splits a multipart/mixed response into (status, json body) per HTTP part, recursing into
/// change sets.
fn parts(body: &str, content_type: &str) -> Vec<(u16, Value)> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let mut out = Vec::new();
    for chunk in body.split(&format!("--{boundary}")) {
        let chunk = chunk.trim_start_matches("\r\n");
        if chunk.starts_with("--") || chunk.trim().is_empty() {
            continue;
        }
        let (head, rest) = chunk.split_once("\r\n\r\n").unwrap();
        if let Some(inner) = head.strip_prefix("Content-Type: multipart/mixed; ") {
            out.extend(parts(rest, inner));
            continue;
        }
        assert!(head.contains("Content-Type: application/http"), "{head}");
        let (status_and_headers, json) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        let status: u16 = status_and_headers
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let body = serde_json::from_str(json.trim()).unwrap_or(Value::Null);
        out.push((status, body));
    }
    out
}

#[tokio::test]
async fn batch_round_trip_with_mixed_part_statuses() {
    let ca = start(ChannelAdvisorSandbox::builder()).await;
    let c = client();
    let t = token(&ca, &c).await;
    let a = ca.add_product("BATCH-A", &[], 1);
    let b = ca.add_product("BATCH-B", &[], 1);
    let missing = 42;
    let base = ca.base_url();
    let order = ca.order_ids()[0];

    let mut body =
        String::from("--batch_x\r\nContent-Type: multipart/mixed; boundary=changeset_y\r\n\r\n");
    for (n, id) in [a, missing, b].iter().enumerate() {
        body.push_str(&format!(
            "--changeset_y\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n\
POST https://api.channeladvisor.com/v1/Products({id})/UpdateQuantity?access_token={t} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n\
{{\"Value\":{{\"UpdateType\":\"Absolute\",\"Updates\":[{{\"DistributionCenterID\":1,\"Quantity\":{}}}]}}}}\r\n",
            n + 1,
            7 + n
        ));
    }
    body.push_str("--changeset_y--\r\n");
    // A GET and two requests that are not allowed in a batch.
    for line in [
        format!("GET {base}/v1/Products({a})?$select=ID,TotalAvailableQuantity HTTP/1.1"),
        format!("POST {base}/v1/Orders({order})/Export HTTP/1.1"),
        format!("PUT {base}/v1/Products({a})/Labels('X') HTTP/1.1"),
        format!("PUT {base}/v1/ProductLabels(ProductID={a},Name='X') HTTP/1.1"),
    ] {
        body.push_str(&format!(
            "--batch_x\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{line}\r\nAuthorization: Bearer {t}\r\n\r\n\r\n"
        ));
    }
    body.push_str("--batch_x--\r\n");

    let resp = c
        .post(format!("{base}/v1/$batch"))
        .bearer_auth(&t)
        .header("Content-Type", "multipart/mixed; boundary=batch_x")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the batch itself succeeds");
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ctype.starts_with("multipart/mixed; boundary=batchresponse_"));
    let text = resp.text().await.unwrap();
    let got = parts(&text, &ctype);
    let statuses: Vec<u16> = got.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [204, 404, 204, 200, 400, 400, 204]);
    assert!(got[1].1["error"]["message"].is_string());
    assert_eq!(got[3].1["TotalAvailableQuantity"], 7);
    assert_eq!(ca.dc_quantity(a, 1), Some(7));
    assert_eq!(ca.dc_quantity(b, 1), Some(9));
    assert_eq!(ca.labels(a), vec!["X".to_owned()]);
    assert_eq!(ca.export_count(order), 0);

    let counters = ca.counters();
    assert_eq!(counters.get("batch"), 1);
    assert_eq!(counters.part("products.update_quantity"), 3);
    assert_eq!(counters.part("labels.add"), 2);

    // A part without any token is denied inside an otherwise fine batch.
    let body = format!(
        "--b\r\nContent-Type: application/http\r\n\r\nGET {base}/v1/Products({a}) HTTP/1.1\r\n\r\n\r\n--b--\r\n"
    );
    let resp = c
        .post(format!("{base}/v1/$batch"))
        .header("Content-Type", "multipart/mixed; boundary=b")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let got = parts(&resp.text().await.unwrap(), &ctype);
    assert_eq!(got[0].0, 401);
    assert_eq!(
        got[0].1,
        json!({"error": {"code": "", "message": "Authorization has been denied for this request."}})
    );
}
