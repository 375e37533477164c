//! The `spec` capability: every request an adapter sends is checked against its marketplace's
//! official OpenAPI document with the testkit's checker ([`RequestSchemas`]).
//!
//! A [`SpecFixture`] holds the document and the marketplace's own broken bodies; the behaviour
//! [`the_checker_catches_what_it_must`] checks that the checker refuses each of them in the
//! words expected (so it does not accept everything). The adapter's spec tests drive the
//! adapter through the public `Channel` API (against wiremock or a sandbox), turn what it sent
//! into [`SentRequest`]s and check them all with [`check_sent`], the loop they share.

use std::collections::BTreeSet;

use marketsync_core::{ChannelOrderId, IdempotencyKey, ListingOutcome, Shipment, ShipmentRequest};
use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

use super::AdapterFixture;
use crate::openapi::RequestSchemas;

/// A fixture that knows its marketplace's official OpenAPI document.
pub trait SpecFixture: AdapterFixture {
    /// The official document (parse it once, e.g. in a `OnceLock`).
    fn spec(&self) -> &RequestSchemas;

    /// The marketplace's own bodies, each broken, with what the checker must say about them.
    fn refusals(&self) -> Vec<Refusal>;
}

/// A document in JSON.
///
/// # Panics
/// If `text` is not JSON.
pub fn json_spec(text: &str) -> RequestSchemas {
    RequestSchemas::from_json(serde_json::from_str(text).expect("valid spec JSON"))
}

/// A document in YAML, converted to JSON (mapping keys as strings, as the JSON form of the
/// document has them).
///
/// # Panics
/// If `text` is not YAML.
pub fn yaml_spec(text: &str) -> RequestSchemas {
    let docs = YamlLoader::load_from_str(text).expect("valid spec YAML");
    RequestSchemas::from_json(yaml_to_json(&docs[0]))
}

fn yaml_to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(r.clone()), Value::Number),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) | Yaml::Real(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, yaml_to_json(v))
                })
                .collect::<Map<String, Value>>(),
        ),
    }
}

/// One request as the adapter sent it (recorded by wiremock or a sandbox).
#[derive(Debug, Clone)]
pub struct SentRequest {
    /// The HTTP method.
    pub method: String,
    /// The concrete path, relative to the document's server URL, without a query.
    pub path: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

/// The operations [`check_sent`] found, as `METHOD template`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operations {
    /// The operations that carried a body.
    pub with_body: BTreeSet<String>,
    /// Every operation, those with a body marked `" (body)"`.
    pub marked: BTreeSet<String>,
}

/// Checks every request against `spec`: its operation must exist, and a body must conform to
/// the operation's schema for the request's `Content-Type`
/// ([`RequestSchemas::check_request`]). Fails with every deviation at once.
///
/// # Panics
/// If any request deviates.
pub fn check_sent(
    spec: &RequestSchemas,
    requests: impl IntoIterator<Item = SentRequest>,
) -> Operations {
    let mut operations = Operations::default();
    let mut failures = Vec::new();
    for r in requests {
        let content_type = r.content_type.as_deref();
        match spec.check_request(&r.method, &r.path, content_type, &r.body) {
            Ok(operation) if r.body.is_empty() => {
                operations.marked.insert(operation);
            }
            Ok(operation) => {
                operations.marked.insert(format!("{operation} (body)"));
                operations.with_body.insert(operation);
            }
            Err(errors) => failures.push(format!(
                "{} {} ({content_type:?}) {}: {errors:#?}",
                r.method,
                r.path,
                String::from_utf8_lossy(&r.body)
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    operations
}

/// A set of operation names, to compare with [`Operations`].
pub fn operations(ops: &[&str]) -> BTreeSet<String> {
    ops.iter().map(|s| (*s).to_owned()).collect()
}

/// Asserts that every listing of a batch call succeeded.
///
/// # Panics
/// With the first failed outcome.
pub fn assert_all_ok(outcomes: &[ListingOutcome]) {
    for o in outcomes {
        assert!(o.result.is_ok(), "{:?}", o.result);
    }
}

/// A shipment of the order `order_id`, sent once (a fresh idempotency key, not a resend).
///
/// # Panics
/// If `order_id` is not a valid order id.
pub fn ship_request(order_id: &str, shipment: Shipment) -> ShipmentRequest {
    ShipmentRequest {
        order_id: ChannelOrderId::new(order_id).expect("an order id"),
        shipment,
        idempotency_key: IdempotencyKey::generate(),
        resend: false,
    }
}

/// A broken body the checker must refuse, and what it must say.
#[derive(Debug, Clone)]
pub struct Refusal {
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: RefusedBody,
    expect: Expect,
}

#[derive(Debug, Clone)]
enum RefusedBody {
    /// Checked against the schema of a path template.
    Json(Value),
    /// Checked as sent, to a concrete path.
    Raw(&'static [u8]),
}

#[derive(Debug, Clone)]
enum Expect {
    Exactly(Vec<&'static str>),
    Sorted(Vec<&'static str>),
    Mentioning(Vec<&'static str>),
    Count(usize),
}

impl Refusal {
    /// A JSON body for the operation `method path_template`, sent as `content_type`. Says
    /// nothing until one of the expectations is set.
    pub fn body(
        method: &'static str,
        path_template: &'static str,
        content_type: &'static str,
        body: Value,
    ) -> Self {
        Self {
            method,
            path: path_template,
            content_type,
            body: RefusedBody::Json(body),
            expect: Expect::Count(0),
        }
    }

    /// Raw bytes sent to a concrete `path` (an operation that takes no body, say).
    pub fn raw(
        method: &'static str,
        path: &'static str,
        content_type: &'static str,
        body: &'static [u8],
    ) -> Self {
        Self {
            body: RefusedBody::Raw(body),
            ..Self::body(method, path, content_type, Value::Null)
        }
    }

    /// The checker's messages must be exactly these, in this order.
    #[must_use]
    pub fn exactly(self, errors: &[&'static str]) -> Self {
        self.expecting(Expect::Exactly(errors.to_vec()))
    }

    /// The checker's messages, sorted, must be exactly these.
    #[must_use]
    pub fn sorted(self, errors: &[&'static str]) -> Self {
        self.expecting(Expect::Sorted(errors.to_vec()))
    }

    /// Each of these texts must be part of some message.
    #[must_use]
    pub fn mentioning(self, texts: &[&'static str]) -> Self {
        self.expecting(Expect::Mentioning(texts.to_vec()))
    }

    /// The checker must give this many messages.
    #[must_use]
    pub fn count(self, n: usize) -> Self {
        self.expecting(Expect::Count(n))
    }

    fn expecting(self, expect: Expect) -> Self {
        Self { expect, ..self }
    }

    fn check(&self, spec: &RequestSchemas) {
        let (method, path) = (self.method, self.path);
        let result = match &self.body {
            RefusedBody::Json(body) => spec
                .check_request_body(method, path, self.content_type, body)
                .map(|()| String::new()),
            RefusedBody::Raw(bytes) => {
                spec.check_request(method, path, Some(self.content_type), bytes)
            }
        };
        let Err(mut errors) = result else {
            panic!("{method} {path}: the checker accepted a broken body");
        };
        match &self.expect {
            Expect::Exactly(expected) => assert_eq!(errors, *expected, "{method} {path}"),
            Expect::Sorted(expected) => {
                errors.sort();
                assert_eq!(errors, *expected, "{method} {path}");
            }
            Expect::Mentioning(texts) => {
                for text in texts {
                    assert!(
                        errors.iter().any(|e| e.contains(text)),
                        "{method} {path}: no message mentions {text:?}: {errors:?}"
                    );
                }
            }
            Expect::Count(n) => assert_eq!(errors.len(), *n, "{method} {path}: {errors:?}"),
        }
    }
}

/// The checker refuses each of the fixture's broken bodies, in the words expected: it does
/// not accept everything.
pub async fn the_checker_catches_what_it_must<F: SpecFixture>(fixture: &F) {
    let refusals = fixture.refusals();
    assert!(
        !refusals.is_empty(),
        "{:?}: no broken bodies",
        fixture.kind()
    );
    for refusal in &refusals {
        refusal.check(fixture.spec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tiny() -> RequestSchemas {
        RequestSchemas::from_json(json!({
            "openapi": "3.0.0",
            "paths": {"/things/{id}": {"put": {"requestBody": {"content": {"application/json": {
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}}
            }}}}}}
        }))
    }

    #[test]
    fn a_refusal_checks_what_the_checker_says() {
        let spec = tiny();
        let refusal = || Refusal::body("PUT", "/things/{id}", "application/json", json!({"a": 1}));
        let said = spec
            .check_request_body("PUT", "/things/{id}", "application/json", &json!({"a": 1}))
            .unwrap_err();
        let said: Vec<&'static str> = said.into_iter().map(|e| &*e.leak()).collect();
        refusal().exactly(&said).check(&spec);
        refusal().sorted(&said).check(&spec);
        refusal().mentioning(&["$.a"]).check(&spec);
        refusal().count(1).check(&spec);
        for wrong in [
            refusal().exactly(&["something else"]),
            refusal().mentioning(&["$.b"]),
            refusal().count(2),
            Refusal::body("PUT", "/things/{id}", "application/json", json!({"a": "x"})).count(0),
        ] {
            let caught = std::panic::catch_unwind(|| wrong.check(&spec));
            assert!(caught.is_err(), "{wrong:?} passed");
        }
    }

    #[test]
    fn check_sent_sorts_operations_by_body() {
        let sent = |body: &[u8]| SentRequest {
            method: "PUT".into(),
            path: "/things/7".into(),
            content_type: Some("application/json".into()),
            body: body.to_vec(),
        };
        let ops = check_sent(&tiny(), [sent(b""), sent(br#"{"a": "x"}"#)]);
        assert_eq!(ops.with_body, operations(&["PUT /things/{id}"]));
        assert_eq!(
            ops.marked,
            operations(&["PUT /things/{id}", "PUT /things/{id} (body)"])
        );
        let bad = std::panic::catch_unwind(|| check_sent(&tiny(), [sent(br#"{"a": 1}"#)]));
        assert!(bad.is_err());
    }
}
