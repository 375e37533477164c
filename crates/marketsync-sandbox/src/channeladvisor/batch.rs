//! `$batch`: the OData multipart/mixed format (request and response) through the codec the
//! adapter uses too (`marketsync_http::batch`), plus the JSON form.

use marketsync_http::batch::{self as codec, BatchItem, BatchResponse};
use serde_json::{Map, Value, json};

use crate::marketplace::Response;

/// One request inside a batch.
pub(crate) type Part = codec::BatchRequest;

/// A top-level batch item: a lone request or a change set.
pub(crate) type Item = BatchItem<Part>;

/// Parses a multipart/mixed batch body.
pub(crate) fn parse_multipart(body: &[u8], content_type: &str) -> Result<Vec<Item>, String> {
    codec::decode_requests(content_type, body).map_err(|e| match e {
        codec::BatchError::NoBoundary => {
            "the batch request's Content-Type has no boundary parameter".to_owned()
        }
        other => other.to_string(),
    })
}

/// Parses the JSON batch form: `{"requests":[{"id","method","url","headers","body"}]}`.
pub(crate) fn parse_json(body: &[u8]) -> Result<Vec<Item>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON batch: {e}"))?;
    let requests = v
        .get("requests")
        .and_then(Value::as_array)
        .ok_or("a JSON batch needs a 'requests' array")?;
    requests
        .iter()
        .map(|r| {
            let headers = r
                .get("headers")
                .and_then(Value::as_object)
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            Ok(Item::Single(Part {
                content_id: r.get("id").and_then(Value::as_str).map(str::to_owned),
                method: r
                    .get("method")
                    .and_then(Value::as_str)
                    .ok_or("a batch request needs a method")?
                    .to_ascii_uppercase(),
                url: r
                    .get("url")
                    .and_then(Value::as_str)
                    .ok_or("a batch request needs a url")?
                    .to_owned(),
                headers,
                body: r
                    .get("body")
                    .map(|b| b.to_string().into_bytes())
                    .unwrap_or_default(),
            }))
        })
        .collect()
}

/// The answers to one batch item: (is a change set, [(Content-ID, response)]).
pub(crate) type Rendered = (bool, Vec<(Option<String>, Response)>);

const PART_JSON: &str = "application/json; odata.metadata=minimal; odata.streaming=true";

fn part(content_id: Option<&String>, r: &Response) -> BatchResponse {
    let mut headers = Vec::new();
    if !r.body.is_empty() {
        headers.push(("Content-Type".to_owned(), PART_JSON.to_owned()));
    }
    headers.push(("OData-Version".to_owned(), "4.0".to_owned()));
    BatchResponse {
        content_id: content_id.cloned(),
        status: r.status,
        headers,
        body: r.text().into_bytes(),
    }
}

/// Renders the multipart/mixed response; returns (content type, body).
pub(crate) fn render_multipart(id: u64, items: &[Rendered]) -> (String, String) {
    let items: Vec<BatchItem<BatchResponse>> = items
        .iter()
        .filter_map(|(changeset, parts)| {
            let mut parts = parts.iter().map(|(cid, r)| part(cid.as_ref(), r));
            if *changeset {
                Some(BatchItem::Changeset(parts.collect()))
            } else {
                parts.next().map(BatchItem::Single)
            }
        })
        .collect();
    codec::encode_responses(&format!("batchresponse_{id:016x}"), &items)
}

/// Renders the JSON response form.
pub(crate) fn render_json(items: &[Rendered]) -> Value {
    let mut responses = Vec::new();
    let mut n = 0;
    for (_, parts) in items {
        for (cid, r) in parts {
            n += 1;
            let mut headers = Map::new();
            headers.insert("odata-version".into(), json!("4.0"));
            if !r.body.is_empty() {
                headers.insert("content-type".into(), json!(PART_JSON));
            }
            let mut entry = json!({
                "id": cid.clone().unwrap_or_else(|| n.to_string()),
                "status": r.status,
                "headers": headers,
            });
            if !r.body.is_empty() {
                entry["body"] =
                    serde_json::from_slice(&r.body).unwrap_or_else(|_| Value::String(r.text()));
            }
            responses.push(entry);
        }
    }
    json!({ "responses": responses })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_changeset_and_single() {
        let body = "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_1\r\n\r\n\
--changeset_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
POST https://api.channeladvisor.com/v1/Products(1)/UpdateQuantity HTTP/1.1\r\nContent-Type: application/json\r\n\r\n\
{\"Value\":{}}\r\n--changeset_1--\r\n\
--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
GET /v1/Products(2) HTTP/1.1\r\n\r\n\r\n--batch_1--\r\n";
        let items = parse_multipart(body.as_bytes(), "multipart/mixed; boundary=batch_1").unwrap();
        assert_eq!(items.len(), 2);
        let Item::Changeset(parts) = &items[0] else {
            panic!("expected a change set")
        };
        assert_eq!(parts[0].method, "POST");
        assert_eq!(parts[0].content_id.as_deref(), Some("1"));
        assert_eq!(parts[0].body, b"{\"Value\":{}}");
        let Item::Single(p) = &items[1] else {
            panic!("expected a single part")
        };
        assert_eq!(p.url, "/v1/Products(2)");
        assert!(p.body.is_empty());
    }
}
