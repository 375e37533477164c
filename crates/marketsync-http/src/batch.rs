//! The OData `$batch` multipart/mixed codec, written once for both sides: an adapter encodes
//! requests and decodes the reply ([`encode_requests`], [`decode_responses`]); a test double
//! decodes the requests and encodes the reply ([`decode_requests`], [`encode_responses`]).
//!
//! A batch body is a `multipart/mixed` body whose parts are either one `application/http`
//! request (or response) or a change set: a nested `multipart/mixed` body of such parts. Lines
//! end with CRLF when written; bare LF is read too. Decoding a reply is lenient (a reply cut
//! off keeps its complete parts, a hostile reply nested too deep loses its deeper parts, never
//! a panic); decoding requests is strict (a part that is not a request is an error), as a
//! server answers a malformed batch with 400.

use serde::Deserialize;
use serde_json::Value;

/// One request inside a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRequest {
    /// The part's `Content-ID`, when it has one.
    pub content_id: Option<String>,
    /// The method, upper case.
    pub method: String,
    /// The URL as written in the part: absolute, root-relative or relative to the service root.
    pub url: String,
    /// The request's headers in order (names lower case when decoded).
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

/// The answer to one request of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResponse {
    /// The `Content-ID` echoed, when there was one.
    pub content_id: Option<String>,
    /// The part's HTTP status.
    pub status: u16,
    /// The answer's headers in order (names lower case when decoded).
    pub headers: Vec<(String, String)>,
    /// The part's body (empty for none).
    pub body: Vec<u8>,
}

/// A top-level item of a batch: one part, or a change set of parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchItem<P> {
    /// A part on its own.
    Single(P),
    /// A change set (all-or-nothing on the server).
    Changeset(Vec<P>),
}

impl<P> BatchItem<P> {
    /// The item's parts, in order.
    pub fn parts(&self) -> Vec<&P> {
        match self {
            BatchItem::Single(p) => vec![p],
            BatchItem::Changeset(ps) => ps.iter().collect(),
        }
    }
}

/// Why a batch body could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchError {
    /// The content type has no `boundary` parameter.
    NoBoundary,
    /// The JSON form could not be read.
    Json(String),
    /// The content type is neither `multipart/mixed` nor (for replies) `application/json`.
    ContentType(String),
    /// The body is not a well-formed batch of requests: why.
    Malformed(String),
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::NoBoundary => {
                f.write_str("the $batch body has no multipart boundary in its Content-Type")
            }
            BatchError::Json(e) => write!(f, "the $batch reply could not be read as JSON: {e}"),
            BatchError::ContentType(c) => {
                write!(f, "the $batch body has an unexpected Content-Type {c:?}")
            }
            BatchError::Malformed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for BatchError {}

/// How deep multipart bodies may nest inside a batch reply (below its top level).
pub const MAX_MULTIPART_DEPTH: usize = 8;

/// The `boundary` parameter of a multipart content type (quoted or not).
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

/// The reason phrase of a status line.
pub fn reason(status: u16) -> &'static str {
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

// ----- writing -----

/// A part that can be written inside a batch body.
trait Part {
    fn content_id(&self) -> Option<&str>;
    /// The request or status line.
    fn first_line(&self) -> String;
    fn headers(&self) -> &[(String, String)];
    fn body(&self) -> &[u8];
}

impl Part for BatchRequest {
    fn content_id(&self) -> Option<&str> {
        self.content_id.as_deref()
    }
    fn first_line(&self) -> String {
        format!("{} {} HTTP/1.1", self.method, self.url)
    }
    fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
}

impl Part for BatchResponse {
    fn content_id(&self) -> Option<&str> {
        self.content_id.as_deref()
    }
    fn first_line(&self) -> String {
        format!("HTTP/1.1 {} {}", self.status, reason(self.status))
    }
    fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
}

fn write_part(out: &mut String, part: &impl Part) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = part.content_id() {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&part.first_line());
    out.push_str("\r\n");
    for (k, v) in part.headers() {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    if !part.body().is_empty() {
        out.push_str(&String::from_utf8_lossy(part.body()));
        out.push_str("\r\n");
    }
}

fn write_items<P: Part>(
    boundary: &str,
    items: &[BatchItem<P>],
    changeset_boundary: impl Fn(usize) -> String,
) -> String {
    let mut out = String::new();
    for (n, item) in items.iter().enumerate() {
        out.push_str(&format!("--{boundary}\r\n"));
        match item {
            BatchItem::Single(p) => write_part(&mut out, p),
            BatchItem::Changeset(parts) => {
                let c = changeset_boundary(n);
                out.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary={c}\r\n\r\n"
                ));
                for p in parts {
                    out.push_str(&format!("--{c}\r\n"));
                    write_part(&mut out, p);
                }
                out.push_str(&format!("--{c}--\r\n"));
            }
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

/// The `multipart/mixed` body of a batch request with `boundary`; change set `n` (0-based)
/// gets the boundary `changeset_<boundary>_<n + 1>`. Send it with the content type
/// `multipart/mixed; boundary=<boundary>`.
pub fn encode_requests(boundary: &str, items: &[BatchItem<BatchRequest>]) -> String {
    write_items(boundary, items, |n| {
        format!("changeset_{boundary}_{}", n + 1)
    })
}

/// The `multipart/mixed` body of a batch reply with `boundary`; change set `n` (0-based) gets
/// the boundary `changesetresponse_<boundary>_<n>`. Returns the content type and the body.
pub fn encode_responses(boundary: &str, items: &[BatchItem<BatchResponse>]) -> (String, String) {
    let body = write_items(boundary, items, |n| {
        format!("changesetresponse_{boundary}_{n}")
    });
    (format!("multipart/mixed; boundary={boundary}"), body)
}

// ----- reading -----

/// Splits a head from its body at the first empty line (CRLF or bare LF).
fn split_head(text: &str) -> (&str, &str) {
    let crlf = text.find("\r\n\r\n").map(|i| (i, 4));
    let lf = text.find("\n\n").map(|i| (i, 2));
    let cut = match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    };
    match cut {
        Some((i, n)) => (&text[..i], &text[i + n..]),
        None => (text, ""),
    }
}

fn headers_of(head: &str) -> Vec<(String, String)> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// One part of a multipart body: its (lower-case) headers and the rest of its text.
type RawPart<'t> = (Vec<(String, String)>, &'t str);

/// The complete parts of one multipart body, each split into its headers and the rest, and
/// whether the close delimiter was seen. Only parts followed by another delimiter are complete:
/// a body cut off in the middle loses the part being cut (and every later one).
fn split_parts<'t>(text: &'t str, boundary: &str) -> (Vec<RawPart<'t>>, bool) {
    let delimiter = format!("--{boundary}");
    let mut pieces = text.split(delimiter.as_str()).skip(1).peekable();
    let mut out = Vec::new();
    while let Some(piece) = pieces.next() {
        if piece.starts_with("--") {
            return (out, true); // the close delimiter
        }
        if pieces.peek().is_none() {
            break; // not followed by a delimiter: cut off
        }
        let piece = piece.strip_prefix("\r\n").unwrap_or(piece);
        let piece = piece.strip_prefix('\n').unwrap_or(piece);
        let (head, rest) = split_head(piece);
        out.push((headers_of(head), rest));
    }
    (out, false)
}

fn is_multipart(content_type: &str) -> bool {
    content_type
        .to_ascii_lowercase()
        .starts_with("multipart/mixed")
}

/// A body without its line break before the next delimiter.
fn trim_body(body: &str) -> &str {
    let body = body.strip_suffix("\r\n").unwrap_or(body);
    body.strip_suffix('\n').unwrap_or(body)
}

/// Reads a batch reply: `multipart/mixed` (parts and change sets, nested up to
/// [`MAX_MULTIPART_DEPTH`] levels, flattened in order) or the JSON form
/// `{"responses":[{"id","status","headers","body"}]}`. Only complete parts are answers: a reply
/// cut off loses the part being cut and every later one; a part that is not a response is left
/// out. An error when the reply cannot be read at all.
pub fn decode_responses(content_type: &str, body: &[u8]) -> Result<Vec<BatchResponse>, BatchError> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json" {
        return decode_json_responses(body);
    }
    if media != "multipart/mixed" {
        return Err(BatchError::ContentType(content_type.to_owned()));
    }
    let boundary = boundary(content_type).ok_or(BatchError::NoBoundary)?;
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    read_responses(&text, &boundary, MAX_MULTIPART_DEPTH, &mut out);
    Ok(out)
}

fn read_responses(text: &str, boundary: &str, depth: usize, out: &mut Vec<BatchResponse>) {
    for (headers, rest) in split_parts(text, boundary).0 {
        let content_type = header(&headers, "content-type").unwrap_or("");
        if is_multipart(content_type) {
            if let Some(inner) = self::boundary(content_type).filter(|_| depth > 0) {
                read_responses(rest, &inner, depth - 1, out);
            }
            continue;
        }
        if let Some(part) = read_response(rest, header(&headers, "content-id")) {
            out.push(part);
        }
    }
}

/// One `application/http` answer: `HTTP/1.1 204 No Content`, headers, empty line, body.
fn read_response(text: &str, content_id: Option<&str>) -> Option<BatchResponse> {
    let (head, body) = split_head(text);
    let (status_line, rest) = head.split_once('\n').unwrap_or((head, ""));
    let mut words = status_line.split_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    let status: u16 = words.next()?.parse().ok()?;
    let headers = headers_of(rest);
    Some(BatchResponse {
        content_id: content_id
            .or_else(|| header(&headers, "content-id"))
            .map(str::to_owned),
        status,
        headers,
        body: trim_body(body).as_bytes().to_vec(),
    })
}

fn decode_json_responses(body: &[u8]) -> Result<Vec<BatchResponse>, BatchError> {
    #[derive(Deserialize)]
    struct Reply {
        responses: Vec<Response>,
    }
    #[derive(Deserialize)]
    struct Response {
        #[serde(default)]
        id: Option<Value>,
        status: u16,
        #[serde(default)]
        body: Option<Value>,
    }
    let reply: Reply = serde_json::from_slice(body).map_err(|e| BatchError::Json(e.to_string()))?;
    Ok(reply
        .responses
        .into_iter()
        .map(|r| BatchResponse {
            content_id: r.id.map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            status: r.status,
            headers: Vec::new(),
            body: match r.body {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => s.into_bytes(),
                Some(v) => v.to_string().into_bytes(),
            },
        })
        .collect())
}

/// Reads a `multipart/mixed` batch of requests, strictly: the body must end with its close
/// delimiter, every part must be an `application/http` request (or a change set of them, one
/// level deep) with a request line. Bodies have their trailing line break removed.
pub fn decode_requests(
    content_type: &str,
    body: &[u8],
) -> Result<Vec<BatchItem<BatchRequest>>, BatchError> {
    let boundary = boundary(content_type).ok_or(BatchError::NoBoundary)?;
    let text = String::from_utf8_lossy(body);
    let mut items = Vec::new();
    for (headers, rest) in closed_parts(&text, &boundary)? {
        let content_type = header(&headers, "content-type").unwrap_or("");
        if is_multipart(content_type) {
            let inner = self::boundary(content_type).ok_or_else(|| {
                BatchError::Malformed("a change set has no boundary parameter".into())
            })?;
            let parts = closed_parts(rest, &inner)?
                .into_iter()
                .map(|(h, r)| read_request(&h, r))
                .collect::<Result<Vec<_>, _>>()?;
            items.push(BatchItem::Changeset(parts));
        } else {
            items.push(BatchItem::Single(read_request(&headers, rest)?));
        }
    }
    Ok(items)
}

fn closed_parts<'t>(text: &'t str, boundary: &str) -> Result<Vec<RawPart<'t>>, BatchError> {
    match split_parts(text, boundary) {
        (parts, true) => Ok(parts),
        (_, false) => Err(BatchError::Malformed(format!(
            "the multipart body has no closing boundary '--{boundary}--'"
        ))),
    }
}

fn read_request(mime: &[(String, String)], text: &str) -> Result<BatchRequest, BatchError> {
    let content_type = header(mime, "content-type").unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/http")
    {
        return Err(BatchError::Malformed(format!(
            "a batch part must have Content-Type application/http, not '{content_type}'"
        )));
    }
    let text = text.trim_start_matches(['\r', '\n']);
    let (head, body) = split_head(text);
    let (first, rest) = head.split_once('\n').unwrap_or((head, ""));
    let mut words = first.split_whitespace();
    let (Some(method), Some(url)) = (words.next(), words.next()) else {
        return Err(BatchError::Malformed(format!(
            "invalid request line in batch part: '{}'",
            first.trim()
        )));
    };
    Ok(BatchRequest {
        content_id: header(mime, "content-id").map(str::to_owned),
        method: method.to_ascii_uppercase(),
        url: url.to_owned(),
        headers: headers_of(rest),
        body: body.trim_end().as_bytes().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/mixed; boundary=batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b";

    /// A reply as ASP.NET OData writes it: one change set per request, mixed statuses.
    fn reply() -> String {
        [
            "--batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b",
            "Content-Type: multipart/mixed; boundary=changesetresponse_a",
            "",
            "--changesetresponse_a",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "Content-ID: 1",
            "",
            "HTTP/1.1 204 No Content",
            "",
            "",
            "--changesetresponse_a--",
            "--batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b",
            "Content-Type: multipart/mixed; boundary=changesetresponse_b",
            "",
            "--changesetresponse_b",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "Content-ID: 2",
            "",
            "HTTP/1.1 404 Not Found",
            "Content-Type: application/json; odata.metadata=minimal; odata.streaming=true",
            "OData-Version: 4.0",
            "",
            r#"{"error":{"code":"","message":"Product 2 not found."}}"#,
            "--changesetresponse_b--",
            "--batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "Content-ID: 3",
            "",
            "HTTP/1.1 400 Bad Request",
            "Content-Type: application/json; odata.metadata=minimal",
            "",
            r#"{"error":{"code":"","message":"Quantity must not be negative."}}"#,
            "--batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b--",
            "",
        ]
        .join("\r\n")
    }

    #[test]
    fn reads_nested_and_flat_parts() {
        let parts = decode_responses(CT, reply().as_bytes()).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].content_id.as_deref(), Some("1"));
        assert_eq!(parts[0].status, 204);
        assert!(parts[0].body.is_empty());
        assert_eq!(parts[1].status, 404);
        assert_eq!(
            String::from_utf8_lossy(&parts[1].body),
            r#"{"error":{"code":"","message":"Product 2 not found."}}"#
        );
        assert_eq!(parts[2].content_id.as_deref(), Some("3"));
        assert_eq!(parts[2].status, 400);
    }

    #[test]
    fn bare_lf_and_quoted_boundary() {
        let text = reply().replace("\r\n", "\n");
        let ct = "multipart/mixed; boundary=\"batchresponse_6520643b-3c13-4889-aa60-b4422cf2b82b\"";
        let parts = decode_responses(ct, text.as_bytes()).unwrap();
        assert_eq!(
            parts.iter().map(|p| p.status).collect::<Vec<_>>(),
            [204, 404, 400]
        );
    }

    #[test]
    fn truncated_reply_keeps_complete_parts_only() {
        let full = reply();
        for cut in 0..full.len() {
            // Never panics; never invents a part; keeps a prefix of the real ones.
            let parts = decode_responses(CT, &full.as_bytes()[..cut]).unwrap();
            assert!(parts.len() <= 3);
            let all = decode_responses(CT, full.as_bytes()).unwrap();
            for (p, q) in parts.iter().zip(&all) {
                assert_eq!(p.content_id, q.content_id);
                assert_eq!(p.status, q.status);
            }
        }
        let cut = full.find("HTTP/1.1 400").unwrap();
        let parts = decode_responses(CT, &full.as_bytes()[..cut]).unwrap();
        assert_eq!(parts.len(), 2);
    }

    #[test]
    fn garbage_is_no_parts_not_a_panic() {
        assert!(decode_responses(CT, b"").unwrap().is_empty());
        assert!(
            decode_responses(CT, b"--batchresponse_x\r\nnonsense")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            decode_responses("multipart/mixed", b"x"),
            Err(BatchError::NoBoundary)
        );
        assert!(matches!(
            decode_responses("text/html", b"<html>"),
            Err(BatchError::ContentType(_))
        ));
    }

    #[test]
    fn json_reply() {
        let body = br#"{"responses":[
            {"id":"1","status":204,"headers":{}},
            {"id":"2","status":404,"headers":{"content-type":"application/json"},"body":{"error":{"code":"","message":"Not found"}}}
        ]}"#;
        let parts = decode_responses("application/json; odata.metadata=minimal", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].content_id.as_deref(), Some("2"));
        assert_eq!(parts[1].status, 404);
        assert!(String::from_utf8_lossy(&parts[1].body).contains("Not found"));
        assert!(matches!(
            decode_responses("application/json", b"{"),
            Err(BatchError::Json(_))
        ));
    }

    #[test]
    fn requests_round_trip() {
        let items = vec![
            BatchItem::Changeset(vec![BatchRequest {
                content_id: Some("1".into()),
                method: "POST".into(),
                url: "https://api.example/v1/Products(5)/UpdateQuantity".into(),
                headers: vec![
                    ("authorization".into(), "Bearer t".into()),
                    ("content-type".into(), "application/json".into()),
                ],
                body: b"{}".to_vec(),
            }]),
            BatchItem::Single(BatchRequest {
                content_id: None,
                method: "DELETE".into(),
                url: "/v1/ProductLabels(ProductID=5,Name='A')".into(),
                headers: Vec::new(),
                body: Vec::new(),
            }),
        ];
        let body = encode_requests("batch_1", &items);
        let read = decode_requests("multipart/mixed; boundary=batch_1", body.as_bytes()).unwrap();
        assert_eq!(read, items);
        // Cut off before the close delimiter: refused.
        let cut = &body.as_bytes()[..body.len() - 4];
        assert!(matches!(
            decode_requests("multipart/mixed; boundary=batch_1", cut),
            Err(BatchError::Malformed(_))
        ));
    }

    #[test]
    fn responses_round_trip() {
        let answer = |id: &str, status, body: &str| BatchResponse {
            content_id: Some(id.into()),
            status,
            headers: vec![("odata-version".into(), "4.0".into())],
            body: body.as_bytes().to_vec(),
        };
        let items = vec![
            BatchItem::Changeset(vec![answer("1", 204, "")]),
            BatchItem::Single(answer("2", 404, r#"{"error":{"message":"gone"}}"#)),
        ];
        let (content_type, body) = encode_responses("batchresponse_1", &items);
        let read = decode_responses(&content_type, body.as_bytes()).unwrap();
        assert_eq!(
            read,
            vec![
                answer("1", 204, ""),
                answer("2", 404, r#"{"error":{"message":"gone"}}"#)
            ]
        );
    }
}
