//! `$batch`: the OData multipart/mixed format (request and response), plus the JSON form.

use serde_json::{Map, Value, json};

use crate::marketplace::Response;

/// One request inside a batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    pub(crate) content_id: Option<String>,
    pub(crate) method: String,
    /// As written in the part: absolute, root-relative or relative to the service root.
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// A top-level batch item: a lone request or a change set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Single(Part),
    Changeset(Vec<Part>),
}

impl Item {
    pub(crate) fn parts(&self) -> Vec<&Part> {
        match self {
            Item::Single(p) => vec![p],
            Item::Changeset(ps) => ps.iter().collect(),
        }
    }
}

/// The `boundary` parameter of a `multipart/*` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn lines(text: &str) -> Vec<&str> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

/// Splits a multipart body into the raw contents of its parts.
fn split_parts(text: &str, boundary: &str) -> Result<Vec<String>, String> {
    let open = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    let mut closed = false;
    for line in lines(text) {
        if line.trim_end() == close {
            if let Some(p) = current.take() {
                parts.push(p.join("\r\n"));
            }
            closed = true;
            break;
        }
        if line.trim_end() == open {
            if let Some(p) = current.take() {
                parts.push(p.join("\r\n"));
            }
            current = Some(Vec::new());
            continue;
        }
        if let Some(p) = current.as_mut() {
            p.push(line);
        }
    }
    if !closed {
        return Err(format!(
            "the multipart body has no closing boundary '--{boundary}--'"
        ));
    }
    Ok(parts)
}

/// Splits `headers CRLF CRLF body`.
fn head_body(text: &str) -> (Vec<(String, String)>, String) {
    let ls = lines(text);
    let mut headers = Vec::new();
    let mut i = 0;
    while i < ls.len() && !ls[i].trim().is_empty() {
        if let Some((k, v)) = ls[i].split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        i += 1;
    }
    let body = if i < ls.len() {
        ls[i + 1..].join("\n")
    } else {
        String::new()
    };
    (headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn parse_http_part(text: &str) -> Result<Part, String> {
    let (mime_headers, inner) = head_body(text);
    let ctype = header(&mime_headers, "content-type").unwrap_or("");
    if !ctype.to_ascii_lowercase().starts_with("application/http") {
        return Err(format!(
            "a batch part must have Content-Type application/http, not '{ctype}'"
        ));
    }
    let content_id = header(&mime_headers, "content-id").map(str::to_owned);
    let trimmed = inner.trim_start_matches(['\r', '\n']);
    let (first, rest) = trimmed.split_once('\n').unwrap_or((trimmed, ""));
    let mut words = first.split_whitespace();
    let (Some(method), Some(url)) = (words.next(), words.next()) else {
        return Err(format!(
            "invalid request line in batch part: '{}'",
            first.trim()
        ));
    };
    let (headers, body) = head_body(rest);
    Ok(Part {
        content_id,
        method: method.to_ascii_uppercase(),
        url: url.to_owned(),
        headers,
        body: body.trim_end().as_bytes().to_vec(),
    })
}

/// Parses a multipart/mixed batch body.
pub(crate) fn parse_multipart(body: &[u8], content_type: &str) -> Result<Vec<Item>, String> {
    let boundary = boundary(content_type)
        .ok_or("the batch request's Content-Type has no boundary parameter")?;
    let text = String::from_utf8_lossy(body);
    let mut items = Vec::new();
    for raw in split_parts(&text, &boundary)? {
        let (headers, rest) = head_body(&raw);
        let ctype = header(&headers, "content-type").unwrap_or("");
        if ctype.to_ascii_lowercase().starts_with("multipart/mixed") {
            let inner = boundary_of(ctype)?;
            let parts = split_parts(&rest, &inner)?
                .iter()
                .map(|p| parse_http_part(p))
                .collect::<Result<Vec<_>, _>>()?;
            items.push(Item::Changeset(parts));
        } else {
            items.push(Item::Single(parse_http_part(&raw)?));
        }
    }
    Ok(items)
}

fn boundary_of(ctype: &str) -> Result<String, String> {
    boundary(ctype).ok_or_else(|| "a change set has no boundary parameter".to_owned())
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

/// Reason phrase for a status line.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

const PART_JSON: &str = "application/json; odata.metadata=minimal; odata.streaming=true";

fn render_part(out: &mut String, content_id: Option<&str>, r: &Response) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status)));
    if !r.body.is_empty() {
        out.push_str(&format!("Content-Type: {PART_JSON}\r\n"));
    }
    out.push_str("OData-Version: 4.0\r\n\r\n");
    if !r.body.is_empty() {
        out.push_str(&r.text());
        out.push_str("\r\n");
    }
}

/// Renders the multipart/mixed response; returns (content type, body).
pub(crate) fn render_multipart(id: u64, items: &[Rendered]) -> (String, String) {
    let b = format!("batchresponse_{id:016x}");
    let mut out = String::new();
    for (n, (changeset, parts)) in items.iter().enumerate() {
        out.push_str(&format!("--{b}\r\n"));
        if *changeset {
            let c = format!("changesetresponse_{id:016x}_{n}");
            out.push_str(&format!(
                "Content-Type: multipart/mixed; boundary={c}\r\n\r\n"
            ));
            for (cid, r) in parts {
                out.push_str(&format!("--{c}\r\n"));
                render_part(&mut out, cid.as_deref(), r);
            }
            out.push_str(&format!("--{c}--\r\n"));
        } else if let Some((cid, r)) = parts.first() {
            render_part(&mut out, cid.as_deref(), r);
        }
    }
    out.push_str(&format!("--{b}--\r\n"));
    (format!("multipart/mixed; boundary={b}"), out)
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
