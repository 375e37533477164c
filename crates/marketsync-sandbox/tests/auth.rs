//! Token endpoint and access-token checks.

mod common;

use std::time::Duration;

use chrono::TimeDelta;
use common::*;
use marketsync_sandbox::ChannelAdvisorSandbox;
use serde_json::{Value, json};

#[tokio::test]
async fn refresh_grant_needs_basic_auth_and_a_live_refresh_token() {
    let clock = clock();
    let ca = start(ChannelAdvisorSandbox::builder().clock(clock.clone())).await;
    let c = client();
    let url = format!("{}/oauth2/token", ca.base_url());
    let creds = ca.credentials();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", creds.refresh_token.as_str()),
    ];

    // Good: Basic application id + secret, form body.
    let resp = c
        .post(&url)
        .basic_auth(&creds.application_id, Some(&creds.shared_secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));

    // No Basic header: 400 with an `error` body.
    let resp = c.post(&url).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string());

    // Wrong secret: 400.
    let resp = c
        .post(&url)
        .basic_auth(&creds.application_id, Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "invalid_client"})
    );

    // Unknown refresh token: 400 invalid_grant.
    let resp = c
        .post(&url)
        .basic_auth(&creds.application_id, Some(&creds.shared_secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "invalid_grant"})
    );

    // Revoked at a given moment: works before, 400 after.
    let access = token(&ca, &c).await;
    ca.revoke_refresh_token_at(&creds.refresh_token, clock.now_plus(TimeDelta::seconds(30)));
    let _ = token(&ca, &c).await;
    clock.advance(TimeDelta::seconds(31));
    let resp = c
        .post(&url)
        .basic_auth(&creds.application_id, Some(&creds.shared_secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "invalid_grant"})
    );
    // ...and access tokens issued from it stop working.
    let (status, _) = get_json(&c, &format!("{}/v1/Profiles", ca.base_url()), &access).await;
    assert_eq!(status, 401);

    let counters = ca.counters();
    assert_eq!(counters.get("token.refresh"), 7);
}

trait ClockExt {
    fn now_plus(&self, d: TimeDelta) -> chrono::DateTime<chrono::Utc>;
}

impl ClockExt for marketsync_core::ManualClock {
    fn now_plus(&self, d: TimeDelta) -> chrono::DateTime<chrono::Utc> {
        use marketsync_core::Clock;
        self.now() + d
    }
}

#[tokio::test]
async fn access_tokens_expire_and_invalid_ones_get_401() {
    let clock = clock();
    let ca = start(
        ChannelAdvisorSandbox::builder()
            .clock(clock.clone())
            .token_ttl(Duration::from_secs(600)),
    )
    .await;
    let c = client();
    let access = token(&ca, &c).await;
    let url = format!("{}/v1/Profiles", ca.base_url());

    let (status, body) = get_json(&c, &url, &access).await;
    assert_eq!(status, 200);
    assert_eq!(body["value"][0]["ID"], ca.credentials().profile_id);

    // The query-parameter form works too.
    let resp = c
        .get(format!("{url}?access_token={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // No token, a made-up token: 401 with the documented text.
    let resp = c.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["Message"],
        "Authorization has been denied for this request."
    );
    let (status, _) = get_json(&c, &url, "made-up").await;
    assert_eq!(status, 401);

    // Expired after the configured lifetime.
    clock.advance(TimeDelta::seconds(599));
    assert_eq!(get_json(&c, &url, &access).await.0, 200);
    clock.advance(TimeDelta::seconds(1));
    assert_eq!(get_json(&c, &url, &access).await.0, 401);

    // A read-only scope cannot write.
    ca.add_refresh_token(
        "read-only",
        &ca.credentials().application_id,
        &["orders.readonly"],
    );
    let resp = c
        .post(format!("{}/oauth2/token", ca.base_url()))
        .basic_auth(
            &ca.credentials().application_id,
            Some(&ca.credentials().shared_secret),
        )
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "read-only"),
        ])
        .send()
        .await
        .unwrap();
    let ro = resp.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let orders = format!("{}/v1/Orders?$top=1", ca.base_url());
    assert_eq!(get_json(&c, &orders, &ro).await.0, 200);
    let id = ca.order_ids()[0];
    let resp = c
        .post(format!("{}/v1/Orders({id})/Export", ca.base_url()))
        .bearer_auth(&ro)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let products = format!("{}/v1/Products", ca.base_url());
    assert_eq!(get_json(&c, &products, &ro).await.0, 401);
}
