//! Shared helpers for the sandbox tests: a plain reqwest client speaking ChannelAdvisor's wire
//! format.
#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use marketsync_core::ManualClock;
use marketsync_sandbox::channeladvisor::{ChannelAdvisorBuilder, default_anchor};
use marketsync_sandbox::{ChannelAdvisorSandbox, Sandbox};
use serde_json::Value;

pub type Ca = Sandbox<ChannelAdvisorSandbox>;

pub fn client() -> reqwest::Client {
    marketsync_http::client_builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(default_anchor()))
}

pub async fn start(builder: ChannelAdvisorBuilder) -> Ca {
    builder.build().start().await.expect("sandbox starts")
}

/// Exchanges the default refresh token for an access token over HTTP.
pub async fn token(ca: &Ca, client: &reqwest::Client) -> String {
    let creds = ca.credentials();
    let resp = client
        .post(format!("{}/oauth2/token", ca.base_url()))
        .basic_auth(&creds.application_id, Some(&creds.shared_secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", creds.refresh_token.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

pub async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let resp = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("date")
        .with_timezone(&Utc)
}
