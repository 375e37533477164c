//! The shared middleware: rate limits, faults, latency, counters, request log, scheduled
//! outside actions.

mod common;

use std::time::Duration;

use chrono::TimeDelta;
use common::*;
use marketsync_sandbox::{ChannelAdvisorSandbox, Fault, Knobs, Outcome};
use serde_json::Value;

#[tokio::test]
async fn per_minute_budget_is_answered_with_429() {
    let clock = clock();
    let ca = start(
        ChannelAdvisorSandbox::builder()
            .clock(clock.clone())
            .per_minute(Some(10))
            .retry_after_header(true),
    )
    .await;
    let c = client();
    let t = token(&ca, &c).await; // the token endpoint is not metered
    let url = format!("{}/v1/Profiles", ca.base_url());
    for _ in 0..10 {
        assert_eq!(get_json(&c, &url, &t).await.0, 200);
    }
    let resp = c.get(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "60");
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].is_string());
    assert_eq!(ca.counters().throttled, 1);

    // The window slides: a minute later the budget is back.
    clock.advance(TimeDelta::seconds(61));
    assert_eq!(get_json(&c, &url, &t).await.0, 200);
    assert!(
        ca.requests()
            .iter()
            .any(|r| r.outcome == Outcome::Throttled(429))
    );
}

#[tokio::test]
async fn a_batch_spends_one_request_per_part_plus_itself() {
    let ca = start(ChannelAdvisorSandbox::builder().per_minute(Some(5))).await;
    let c = client();
    let t = token(&ca, &c).await;
    let base = ca.base_url();
    let part = format!(
        "--b\r\nContent-Type: application/http\r\n\r\nGET {base}/v1/Profiles HTTP/1.1\r\n\r\n\r\n"
    );
    let body = format!("{}--b--\r\n", part.repeat(5));
    let resp = c
        .post(format!("{base}/v1/$batch"))
        .bearer_auth(&t)
        .header("Content-Type", "multipart/mixed; boundary=b")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429, "6 > 5");
}

#[tokio::test]
async fn more_than_the_concurrent_limit_in_flight_gets_429() {
    let ca = ChannelAdvisorSandbox::builder()
        .concurrent(Some(5))
        .build()
        .start_with(Knobs {
            latency: Duration::from_millis(300),
            ..Knobs::default()
        })
        .await
        .unwrap();
    let c = client();
    let t = token(&ca, &c).await;
    let url = format!("{}/v1/Profiles", ca.base_url());
    let calls = (0..8).map(|_| {
        let (c, url, t) = (c.clone(), url.clone(), t.clone());
        async move {
            c.get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses: Vec<u16> = futures_join(calls).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
}

async fn futures_join<F: std::future::Future<Output = u16> + Send + 'static>(
    calls: impl Iterator<Item = F>,
) -> Vec<u16> {
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Sends `n` sequential GETs and returns each status (0 for a dropped connection).
async fn statuses(ca: &Ca, n: usize) -> Vec<u16> {
    let c = client();
    let t = ca.issue_access_token();
    let url = format!("{}/v1/Profiles", ca.base_url());
    let mut out = Vec::new();
    for _ in 0..n {
        match c.get(&url).bearer_auth(&t).send().await {
            Ok(r) => out.push(r.status().as_u16()),
            Err(_) => out.push(0),
        }
    }
    out
}

#[tokio::test]
async fn server_errors_and_drops_come_at_the_configured_rate_deterministically() {
    let knobs = Knobs {
        server_error_ratio: 0.2,
        drop_ratio: 0.1,
        fault_seed: 7,
        ..Knobs::default()
    };
    let a = ChannelAdvisorSandbox::builder()
        .build()
        .start_with(knobs.clone())
        .await
        .unwrap();
    let first = statuses(&a, 300).await;
    let errors = first.iter().filter(|s| **s == 500).count();
    let drops = first.iter().filter(|s| **s == 0).count();
    assert!((35..=85).contains(&errors), "{errors} server errors of 300");
    assert!((12..=50).contains(&drops), "{drops} drops of 300");
    let counters = a.counters();
    assert_eq!(counters.server_errors as usize, errors);
    assert_eq!(counters.dropped as usize, drops);
    assert_eq!(
        first.iter().filter(|s| **s == 200).count(),
        300 - errors - drops
    );

    // The body of an injected 5xx is the marketplace's own.
    let b = ChannelAdvisorSandbox::builder()
        .build()
        .start_with(knobs.clone())
        .await
        .unwrap();
    assert_eq!(statuses(&b, 300).await, first, "same seed, same faults");
    let c = ChannelAdvisorSandbox::builder()
        .build()
        .start_with(Knobs {
            fault_seed: 8,
            ..knobs
        })
        .await
        .unwrap();
    assert_ne!(statuses(&c, 300).await, first);
}

#[tokio::test]
async fn queued_faults_and_fault_filters() {
    let ca = ChannelAdvisorSandbox::builder()
        .build()
        .start_with(Knobs {
            server_error_ratio: 1.0,
            fault_operations: vec!["orders.list".into()],
            ..Knobs::default()
        })
        .await
        .unwrap();
    let c = client();
    let t = token(&ca, &c).await;
    let base = ca.base_url();
    // Only orders.list is faulted.
    assert_eq!(
        get_json(&c, &format!("{base}/v1/Profiles"), &t).await.0,
        200
    );
    let resp = c
        .get(format!("{base}/v1/Orders"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["Message"],
        "An error has occurred."
    );

    ca.set_knobs(Knobs::default());
    ca.inject(Fault::Drop);
    assert!(
        c.get(format!("{base}/v1/Profiles"))
            .bearer_auth(&t)
            .send()
            .await
            .is_err()
    );
    ca.inject(Fault::ServerError);
    assert_eq!(
        get_json(&c, &format!("{base}/v1/Profiles"), &t).await.0,
        500
    );
    assert_eq!(
        get_json(&c, &format!("{base}/v1/Profiles"), &t).await.0,
        200
    );
}

#[tokio::test]
async fn counters_log_and_scheduled_outside_actions() {
    let ca = start(ChannelAdvisorSandbox::builder()).await;
    let c = client();
    let t = token(&ca, &c).await;
    let base = ca.base_url();
    let id = ca.product_ids()[0];
    // After the 3rd request (token + 2 reads), the product is deleted outside the API.
    ca.schedule(3, move |m: &ChannelAdvisorSandbox| {
        m.delete_product(id);
    });
    let url = format!("{base}/v1/Products({id})");
    assert_eq!(get_json(&c, &url, &t).await.0, 200);
    assert_eq!(get_json(&c, &url, &t).await.0, 200);
    assert_eq!(get_json(&c, &url, &t).await.0, 404);
    assert_eq!(get_json(&c, &format!("{base}/v1/Orders"), &t).await.0, 200);
    assert_eq!(get_json(&c, &format!("{base}/v1/Nope"), &t).await.0, 404);

    let counters = ca.counters();
    assert_eq!(counters.total, 6);
    assert_eq!(counters.get("token.refresh"), 1);
    assert_eq!(counters.get("products.get"), 3);
    assert_eq!(counters.get("orders.list"), 1);
    assert_eq!(counters.get("not_found"), 1);
    let log = ca.requests();
    assert_eq!(log.len(), 6);
    assert_eq!(log[3].outcome, Outcome::Handled(404));
    assert_eq!(log[3].operation, "products.get");

    ca.reset_counters();
    assert_eq!(ca.counters().total, 0);
    assert!(ca.requests().is_empty());
}
