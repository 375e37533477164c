//! Why the Reverb fake's answers are not checked against Reverb's OpenAPI document, as the
//! Allegro, Tradera and ChannelAdvisor fakes' are (`spec_responses_*.rs`): the published spec
//! (`marketsync-reverb/tests/fixtures/reverb-openapi.json`, the 2019 snapshot kept in the API
//! notes) has no response bodies — every response of every operation is a `description` only.
//! This test fails the day a spec with response schemas replaces it, so the check gets written.

use serde_json::Value;

#[test]
fn reverbs_spec_describes_no_response_body() {
    let spec: Value = serde_json::from_str(include_str!(
        "../../marketsync-reverb/tests/fixtures/reverb-openapi.json"
    ))
    .expect("valid spec JSON");
    let mut responses = 0;
    let mut with_body = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Some(answers) = operation.get("responses").and_then(Value::as_object) else {
                continue;
            };
            for (status, response) in answers {
                responses += 1;
                if response.get("content").is_some() || response.get("schema").is_some() {
                    with_body.push(format!("{method} {path} {status}"));
                }
            }
        }
    }
    assert!(
        responses > 100,
        "the spec lists its operations' responses: {responses}"
    );
    assert!(
        with_body.is_empty(),
        "response bodies to check the fake against: {with_body:?}"
    );
}
