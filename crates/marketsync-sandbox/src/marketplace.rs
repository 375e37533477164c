//! The contract between the framework and one fake marketplace.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::util::{parse_query, percent_decode};

/// One HTTP request as the framework hands it to a fake: fully read, nothing interpreted.
#[derive(Debug, Clone)]
pub struct Request {
    /// Sequence number of the request within this sandbox, from 0.
    pub seq: u64,
    /// Upper-case method (`GET`, `POST`, ...).
    pub method: String,
    /// The path as sent, still percent-encoded (`/v1/Products(12)/Labels('A%20B')`).
    pub path: String,
    /// The raw query string without `?`, still encoded.
    pub query: Option<String>,
    /// Headers with lower-case names, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// `http://host:port` of the sandbox as the client addressed it; for absolute links.
    pub base_url: String,
    /// When the request arrived, by the marketplace's clock.
    pub received_at: DateTime<Utc>,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decoded query pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query.as_deref().map(parse_query).unwrap_or_default()
    }

    /// The first decoded value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The percent-decoded path.
    pub fn decoded_path(&self) -> String {
        percent_decode(&self.path, false)
    }
}

/// The response a fake produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Headers to send (name, value).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Operations carried inside this request (the parts of a batch), counted by the framework
    /// under [`Counters::batch_parts`](crate::Counters::batch_parts).
    pub sub_operations: Vec<String>,
}

impl Response {
    /// A response with a JSON body and `Content-Type: application/json; charset=utf-8`.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string().into_bytes(),
            sub_operations: Vec::new(),
        }
    }

    /// A response without a body (`204 No Content` and the like).
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            sub_operations: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the framework needs to know about a request before the fake handles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Operation name for counters and the request log, chosen by the fake
    /// (`"orders.list"`, `"batch"`, `"token.refresh"`, ...).
    pub operation: String,
    /// The account whose per-minute budget this request spends (`None`: no budget applies,
    /// e.g. an unauthenticated request or the token endpoint).
    pub rate_key: Option<String>,
    /// The key whose concurrent-request limit applies (`None`: no limit).
    pub concurrency_key: Option<String>,
    /// How many requests this counts as against the per-minute budget (a batch counts itself
    /// and every part). At least 1.
    pub cost: u32,
}

impl Route {
    /// A route with no budget: counted, never throttled.
    pub fn unmetered(operation: impl Into<String>) -> Self {
        Self {
            operation: operation.into(),
            rate_key: None,
            concurrency_key: None,
            cost: 1,
        }
    }
}

/// A marketplace's published limits, enforced by the framework per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimits {
    /// Requests per sliding minute per [`Route::rate_key`].
    pub per_minute: Option<u32>,
    /// Requests in flight at once per [`Route::concurrency_key`].
    pub concurrent: Option<u32>,
}

/// Why the framework throttled a request; the fake turns it into its own 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The per-minute budget is spent; it frees up after `retry_after`.
    PerMinute {
        /// Time until enough of the budget is free again.
        retry_after: Duration,
    },
    /// Too many requests in flight for the key.
    Concurrency,
}

/// A fake marketplace. The framework serves HTTP, applies the shared middleware (counters,
/// request log, rate limits, latency, fault injection) and calls [`Marketplace::handle`] for
/// what gets through. Implementations keep their state behind a `Mutex`; every method is
/// synchronous.
pub trait Marketplace: Send + Sync + 'static {
    /// Short name, for logs (`"channeladvisor"`).
    fn name(&self) -> &'static str;

    /// Now, by the marketplace's clock (tests inject a manual clock).
    fn now(&self) -> DateTime<Utc>;

    /// Names the operation and the budget keys of a request. Must not change state.
    fn route(&self, request: &Request) -> Route;

    /// The limits the framework enforces for this marketplace.
    fn rate_limits(&self) -> RateLimits;

    /// Handles a request that passed the middleware.
    fn handle(&self, request: &Request) -> Response;

    /// The marketplace's own answer to a throttled request (status, headers, body).
    fn throttled(&self, request: &Request, why: Throttle) -> Response;

    /// The marketplace's own answer to an injected server fault (a 5xx with its error body).
    fn server_error(&self, request: &Request) -> Response;
}
