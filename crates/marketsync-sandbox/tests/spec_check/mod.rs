//! Responses checked against a marketplace's official OpenAPI document: [`Responses`] sends each
//! request with a plain reqwest client and checks the answer's JSON body against the response
//! schema the document gives that operation, status and content type
//! (`marketsync_testkit::openapi::RequestSchemas::check_response`). Failures are collected
//! and reported together at the end, so one run lists every deviation.
#![allow(dead_code)]

use std::collections::BTreeSet;

use marketsync_testkit::openapi::RequestSchemas;
use serde_json::Value;

/// A YAML document (Allegro's) as JSON, mapping keys as strings.
pub fn yaml_spec(text: &str) -> RequestSchemas {
    marketsync_testkit::behaviour::spec::yaml_spec(text)
}

/// Sends requests and checks every answer against the document.
pub struct Responses<'a> {
    spec: &'a RequestSchemas,
    client: reqwest::Client,
    /// The request path as the document spells it (identity, except for ChannelAdvisor's
    /// OData key segments, see its test).
    map_path: fn(&str) -> String,
    /// Every operation answered and checked, as `METHOD template → status`.
    pub checked: BTreeSet<String>,
    /// Every deviation, with the request that caused it.
    pub failures: Vec<String>,
}

impl<'a> Responses<'a> {
    pub fn new(spec: &'a RequestSchemas) -> Self {
        Self {
            spec,
            client: marketsync_http::client_builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("client"),
            map_path: str::to_owned,
            checked: BTreeSet::new(),
            failures: Vec::new(),
        }
    }

    /// Maps each request path before it is looked up in the document.
    pub fn with_path_map(mut self, map_path: fn(&str) -> String) -> Self {
        self.map_path = map_path;
        self
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request`, checks its answer, and returns the status and the JSON body (`Null` for
    /// an empty or non-JSON body).
    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let request = request.build().expect("a valid request");
        let method = request.method().as_str().to_owned();
        let path = (self.map_path)(request.url().path());
        let response = self
            .client
            .execute(request)
            .await
            .expect("the sandbox answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.expect("a body");
        match self
            .spec
            .check_response(&method, &path, status, content_type.as_deref(), &body)
        {
            Ok(operation) => {
                self.checked.insert(operation);
            }
            Err(errors) => {
                let text = String::from_utf8_lossy(&body);
                let head: String = text.chars().take(200).collect();
                self.failures.push(format!(
                    "{method} {path} → {status} ({content_type:?}) {head}…\n  {}",
                    errors.join("\n  ")
                ));
            }
        }
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Fails the test with every deviation found, then checks that every operation in
    /// `expected` (`METHOD template → status`) was answered and checked.
    pub fn assert_all_conform(&self, expected: &[&str]) {
        assert!(
            self.failures.is_empty(),
            "{} response(s) deviate from the spec:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
        let missing: Vec<&&str> = expected
            .iter()
            .filter(|e| !self.checked.contains(**e))
            .collect();
        assert!(
            missing.is_empty(),
            "not driven: {missing:?}\nchecked: {:#?}",
            self.checked
        );
    }
}
