//! The HTTP client every adapter uses: base URL, default headers, authentication, rate limits,
//! retry and error classification in one place.
//!
//! The stack of one request, per attempt: concurrency slot and rate-limit permit → attempt with
//! its own timeout → classification of the response → retry decision.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use backon::Retryable;
use marketsync_core::{
    ChannelError, ChannelKind, Clock, ErrorKind, ExposeSecret, IdempotencyKey, SecretString,
    SystemClock,
};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

use crate::classify::{ErrorResponse, ParseError, classify, redact_body};
use crate::limit::{Limits, RateLimiter};
use crate::oauth::TokenManager;
use crate::retry::{RetryNotice, RetryPolicy};

/// The `User-Agent` every client sends unless told otherwise: `marketsync/<version>`.
pub const USER_AGENT: &str = concat!(
    "marketsync/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/marketsync/marketsync)"
);

/// How requests prove who they act for.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// No authentication.
    #[default]
    None,
    /// `Authorization: Bearer <token>` with a fixed token (Reverb's personal access token).
    Bearer(SecretString),
    /// `Authorization: Bearer <token>` with the access token of a [`TokenManager`], renewed
    /// before expiry. A 401 invalidates the token and the request is tried once more with a
    /// fresh one.
    OAuth(TokenManager),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer([REDACTED])"),
            Auth::OAuth(tm) => f.debug_tuple("OAuth").field(tm).finish(),
        }
    }
}

/// A hook told about every retry.
pub type RetryHook = Arc<dyn Fn(&RetryNotice) + Send + Sync>;

/// Builds an [`HttpClient`]. Errors (a bad base URL, an invalid header) are reported by
/// [`build`](Self::build).
pub struct HttpClientBuilder {
    base_url: Result<Url, ChannelError>,
    channel: Option<ChannelKind>,
    account: String,
    headers: HeaderMap,
    secrets: Vec<SecretString>,
    auth: Auth,
    limiter: Option<RateLimiter>,
    limits: Limits,
    retry: RetryPolicy,
    connect_timeout: Option<Duration>,
    attempt_timeout: Option<Duration>,
    user_agent: String,
    parse_error: Option<ParseError>,
    idempotency_header: HeaderName,
    clock: Arc<dyn Clock>,
    on_retry: Option<RetryHook>,
    error: Option<ChannelError>,
}

impl fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field(
                "base_url",
                &self
                    .base_url
                    .as_ref()
                    .map(marketsync_core::redact::RedactedUrl)
                    .ok(),
            )
            .field("channel", &self.channel)
            .field("account", &self.account)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl HttpClientBuilder {
    fn new(base_url: &str) -> Self {
        Self {
            base_url: normalize_base(base_url),
            channel: None,
            account: "default".to_owned(),
            headers: HeaderMap::new(),
            secrets: Vec::new(),
            auth: Auth::None,
            limiter: None,
            limits: Limits::default(),
            retry: RetryPolicy::default(),
            connect_timeout: Some(Duration::from_secs(10)),
            attempt_timeout: Some(Duration::from_secs(60)),
            user_agent: USER_AGENT.to_owned(),
            parse_error: None,
            idempotency_header: HeaderName::from_static("idempotency-key"),
            clock: Arc::new(SystemClock),
            on_retry: None,
            error: None,
        }
    }

    fn fail(mut self, error: ChannelError) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// The channel, named in every error.
    pub fn channel(mut self, channel: ChannelKind) -> Self {
        self.channel = Some(channel);
        self
    }

    /// The account the requests act for: the key of the rate limiter (default `"default"`).
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = account.into();
        self
    }

    /// A header sent with every request (`Accept-Version: 3.0`, an `Accept` media type, …).
    /// `Authorization`, `Proxy-Authorization` and `Cookie` are marked sensitive; use
    /// [`sensitive_header`](Self::sensitive_header) for any other secret.
    pub fn default_header(self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(mut v)) => {
                mark_credential_header(&n, &mut v);
                let mut me = self;
                me.headers.insert(n, v);
                me
            }
            _ => self.fail(ChannelError::invalid(format!(
                "invalid default header {name:?}"
            ))),
        }
    }

    /// A secret header sent with every request (Tradera's `X-App-Key`, `X-User-Token`): marked
    /// sensitive, never printed, and redacted from error bodies that echo it.
    pub fn sensitive_header(self, name: &str, value: SecretString) -> Self {
        let header = HeaderName::try_from(name);
        let parsed = HeaderValue::try_from(value.expose_secret());
        match (header, parsed) {
            (Ok(n), Ok(mut v)) => {
                v.set_sensitive(true);
                let mut me = self;
                me.headers.insert(n, v);
                me.secrets.push(value);
                me
            }
            _ => self.fail(ChannelError::invalid(format!(
                "invalid value for the sensitive header {name:?}"
            ))),
        }
    }

    /// How requests authenticate.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// A fixed bearer token (shorthand for `auth(Auth::Bearer(token))`).
    pub fn bearer(self, token: SecretString) -> Self {
        self.auth(Auth::Bearer(token))
    }

    /// OAuth access tokens from a [`TokenManager`] (shorthand for `auth(Auth::OAuth(..))`).
    pub fn oauth(self, tokens: TokenManager) -> Self {
        self.auth(Auth::OAuth(tokens))
    }

    /// The limits of this client's own rate limiter (ignored when
    /// [`rate_limiter`](Self::rate_limiter) is given).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// A rate limiter shared with other clients (keyed by [`account`](Self::account)).
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The connect timeout (default 10 s; `None` for none).
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The timeout of one attempt, from sending to the end of the response body (default 60 s;
    /// `None` for none).
    pub fn attempt_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Replaces the `User-Agent` (adapters may append their own product token to
    /// [`USER_AGENT`]).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The adapter's error parser, used instead of [`classify`].
    pub fn parse_error(
        mut self,
        parse: impl Fn(&ErrorResponse<'_>) -> ChannelError + Send + Sync + 'static,
    ) -> Self {
        self.parse_error = Some(Arc::new(parse));
        self
    }

    /// The header that carries an idempotency key (default `Idempotency-Key`).
    pub fn idempotency_header(self, name: &str) -> Self {
        match HeaderName::try_from(name) {
            Ok(n) => {
                let mut me = self;
                me.idempotency_header = n;
                me
            }
            Err(_) => self.fail(ChannelError::invalid(format!(
                "invalid idempotency header name {name:?}"
            ))),
        }
    }

    /// The wall clock, used to resolve HTTP-date `Retry-After` values (default: the system
    /// clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A hook told about every retry (for metrics).
    pub fn on_retry(mut self, hook: impl Fn(&RetryNotice) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Arc::new(hook));
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<HttpClient, ChannelError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let base_url = self.base_url?;
        let transport = transport(&self.user_agent, self.connect_timeout)?;
        Ok(HttpClient {
            inner: Arc::new(Inner {
                transport,
                base_url,
                channel: self.channel,
                account: self.account,
                headers: self.headers,
                secrets: self.secrets,
                auth: self.auth,
                limiter: self
                    .limiter
                    .unwrap_or_else(|| RateLimiter::new(self.limits)),
                retry: self.retry,
                attempt_timeout: self.attempt_timeout,
                parse_error: self.parse_error,
                idempotency_header: self.idempotency_header,
                clock: self.clock,
                on_retry: self.on_retry,
            }),
        })
    }
}

/// The reqwest client under every request: rustls on ring (`crate::tls`), gzip, our user agent,
/// a connect timeout. Redirects are followed (reqwest drops the `Authorization` header when one
/// leaves the host).
pub(crate) fn transport(
    user_agent: &str,
    connect_timeout: Option<Duration>,
) -> Result<reqwest::Client, ChannelError> {
    let mut builder = crate::tls::client_builder()
        .user_agent(user_agent)
        .gzip(true);
    if let Some(t) = connect_timeout {
        builder = builder.connect_timeout(t);
    }
    builder.build().map_err(|e| {
        ChannelError::new(ErrorKind::Channel, "could not set up the HTTP client")
            .with_source(e.without_url())
    })
}

fn normalize_base(base: &str) -> Result<Url, ChannelError> {
    let invalid = |why: &str| ChannelError::invalid(format!("invalid base URL: {why}"));
    let mut url = crate::adapter::base_url(base).map_err(|e| invalid(&e))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not carry credentials"));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

struct Inner {
    transport: reqwest::Client,
    base_url: Url,
    channel: Option<ChannelKind>,
    account: String,
    headers: HeaderMap,
    secrets: Vec<SecretString>,
    auth: Auth,
    limiter: RateLimiter,
    retry: RetryPolicy,
    attempt_timeout: Option<Duration>,
    parse_error: Option<ParseError>,
    idempotency_header: HeaderName,
    clock: Arc<dyn Clock>,
    on_retry: Option<RetryHook>,
}

/// An HTTP client for one marketplace account. Cheap to clone; clones share the rate limiter,
/// the token manager and the connection pool.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("HttpClient")
            .field(
                "base_url",
                &marketsync_core::redact::RedactedUrl(&i.base_url),
            )
            .field("channel", &i.channel)
            .field("account", &i.account)
            .field("default_headers", &i.headers)
            .field("auth", &i.auth)
            .field("limiter", &i.limiter)
            .field("retry", &i.retry)
            .field("attempt_timeout", &i.attempt_timeout)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Starts a client for the marketplace API at `base_url`. The base keeps its path prefix:
    /// `https://api.channeladvisor.com/v1` and `…/v1/` both resolve `"Orders"` to
    /// `https://api.channeladvisor.com/v1/Orders`.
    pub fn builder(base_url: &str) -> HttpClientBuilder {
        HttpClientBuilder::new(base_url)
    }

    /// The base URL (always ending in `/`).
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// The rate limiter (shared by every clone).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// The URL of an API path, relative to the base URL's path prefix; a leading `/` is ignored
    /// (`"/Orders"` is `"Orders"`). A path that would leave the prefix (`"../x"`) or names
    /// another host is refused; follow links with [`resolve_href`](Self::resolve_href).
    pub fn endpoint(&self, path: &str) -> Result<Url, ChannelError> {
        let base = &self.inner.base_url;
        let lower = path.trim_start().to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Err(ChannelError::invalid(
                "an absolute URL is not an API path; follow links with resolve_href",
            ));
        }
        let relative = path.trim_start_matches('/');
        // A first segment with a colon would parse as a URL scheme.
        let first = relative.split(['/', '?', '#']).next().unwrap_or("");
        let joined = if first.contains(':') {
            base.join(&format!("./{relative}"))
        } else {
            base.join(relative)
        }
        .map_err(|e| ChannelError::invalid(format!("invalid API path {path:?}: {e}")))?;
        if !same_origin(base, &joined) || !joined.path().starts_with(base.path()) {
            return Err(ChannelError::invalid(format!(
                "the API path {path:?} leaves the base URL"
            )));
        }
        Ok(joined)
    }

    /// Resolves a link the marketplace sent (Reverb's `_links.next.href`, an OData
    /// `@odata.nextLink`) against the base URL, as a browser would: absolute URLs stay as they
    /// are, host-relative ones (`/api/my/listings?page=2`) take the base's host. A link to
    /// another host is refused, so credentials are never sent there.
    pub fn resolve_href(&self, href: &str) -> Result<Url, ChannelError> {
        let base = &self.inner.base_url;
        let url = base
            .join(href.trim())
            .map_err(|e| ChannelError::invalid(format!("invalid link from the channel: {e}")))?;
        if !same_origin(base, &url) {
            return Err(ChannelError::invalid(
                "refusing to follow a link from the channel to another host",
            ));
        }
        Ok(url)
    }

    /// A request to an API path (see [`endpoint`](Self::endpoint)).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder<'_> {
        RequestBuilder::new(self, method, self.endpoint(path))
    }

    /// A request to a link the marketplace sent (see [`resolve_href`](Self::resolve_href)).
    pub fn request_href(&self, method: Method, href: &str) -> RequestBuilder<'_> {
        RequestBuilder::new(self, method, self.resolve_href(href))
    }

    /// A `GET` of an API path.
    pub fn get(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::GET, path)
    }

    /// `GET` of an API path with query parameters (repeated names allowed) for `operation`:
    /// the response (a success; anything else is the classified error). `.json()` decodes it.
    pub async fn get_query(
        &self,
        path: &str,
        query: &[(&str, String)],
        operation: &'static str,
    ) -> Result<HttpResponse, ChannelError> {
        self.get(path)
            .query(query.iter().map(|(k, v)| (*k, v.as_str())))
            .operation(operation)
            .send()
            .await
    }

    /// A `POST` to an API path (not retried unless marked idempotent or given an idempotency
    /// key).
    pub fn post(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::POST, path)
    }

    /// A `PUT` to an API path.
    pub fn put(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::PUT, path)
    }

    /// A `PATCH` to an API path (not retried unless marked idempotent or given an idempotency
    /// key).
    pub fn patch(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::PATCH, path)
    }

    /// A `DELETE` of an API path.
    pub fn delete(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::DELETE, path)
    }

    fn with_context(&self, error: ChannelError, operation: Option<&'static str>) -> ChannelError {
        let error = match self.inner.channel {
            Some(channel) if error.channel().is_none() => error.with_channel(channel),
            _ => error,
        };
        match operation {
            Some(op) if error.operation().is_none() => error.with_operation(op),
            _ => error,
        }
    }
}

fn mark_credential_header(name: &HeaderName, value: &mut HeaderValue) {
    use reqwest::header::{COOKIE, PROXY_AUTHORIZATION};
    if name == AUTHORIZATION || name == PROXY_AUTHORIZATION || name == COOKIE {
        value.set_sensitive(true);
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

struct Body {
    bytes: Vec<u8>,
    content_type: HeaderValue,
}

/// One request being built. Nothing is sent until [`send`](Self::send).
pub struct RequestBuilder<'c> {
    client: &'c HttpClient,
    method: Method,
    url: Result<Url, ChannelError>,
    headers: HeaderMap,
    body: Option<Body>,
    idempotent: Option<bool>,
    idempotency_key: Option<HeaderValue>,
    operation: Option<&'static str>,
    error: Option<ChannelError>,
}

impl fmt::Debug for RequestBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("path", &self.url.as_ref().map(|u| u.path()).ok())
            .field("operation", &self.operation)
            .finish_non_exhaustive()
    }
}

/// What one failed attempt means for the retry loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    GiveUp,
    Backoff,
    /// After a 401 with OAuth: the token was invalidated; try once more at once.
    Reauthenticate,
}

struct Failed {
    error: ChannelError,
    next: Next,
}

impl<'c> RequestBuilder<'c> {
    fn new(client: &'c HttpClient, method: Method, url: Result<Url, ChannelError>) -> Self {
        Self {
            client,
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            idempotent: None,
            idempotency_key: None,
            operation: None,
            error: None,
        }
    }

    fn fail(mut self, error: ChannelError) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Names the operation (`"fetch_orders"`, …) in errors and traces.
    pub fn operation(mut self, operation: &'static str) -> Self {
        self.operation = Some(operation);
        self
    }

    /// Adds a header to this request (`Authorization`, `Proxy-Authorization` and `Cookie` are
    /// marked sensitive).
    pub fn header(self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(mut v)) => {
                mark_credential_header(&n, &mut v);
                let mut me = self;
                me.headers.insert(n, v);
                me
            }
            _ => self.fail(ChannelError::invalid(format!("invalid header {name:?}"))),
        }
    }

    /// Appends query parameters (encoded as needed; OData's `$filter` works as is).
    pub fn query<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        if let Ok(url) = &mut self.url {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k.as_ref(), v.as_ref());
            }
        }
        self
    }

    /// A JSON body (`Content-Type: application/json`; override with [`header`](Self::header)).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.body = Some(Body {
                    bytes,
                    content_type: HeaderValue::from_static("application/json"),
                });
                self
            }
            Err(e) => self.fail(
                ChannelError::invalid("the request body could not be encoded as JSON")
                    .with_source(e),
            ),
        }
    }

    /// A form body (`application/x-www-form-urlencoded`).
    pub fn form<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            form.append_pair(k.as_ref(), v.as_ref());
        }
        self.body = Some(Body {
            bytes: form.finish().into_bytes(),
            content_type: HeaderValue::from_static("application/x-www-form-urlencoded"),
        });
        self
    }

    /// A raw body with its content type.
    pub fn body(self, bytes: impl Into<Vec<u8>>, content_type: &str) -> Self {
        match HeaderValue::try_from(content_type) {
            Ok(ct) => {
                let mut me = self;
                me.body = Some(Body {
                    bytes: bytes.into(),
                    content_type: ct,
                });
                me
            }
            Err(_) => self.fail(ChannelError::invalid(format!(
                "invalid content type {content_type:?}"
            ))),
        }
    }

    /// Sends the same idempotency key with every attempt (in the client's idempotency header),
    /// which makes a non-idempotent request safe to retry.
    pub fn idempotency_key(mut self, key: &IdempotencyKey) -> Self {
        match HeaderValue::try_from(key.as_str()) {
            Ok(v) => {
                self.idempotency_key = Some(v);
                self
            }
            Err(_) => self.fail(ChannelError::invalid("invalid idempotency key")),
        }
    }

    /// Overrides whether the request is idempotent (by default: `GET`, `HEAD`, `PUT`,
    /// `DELETE`, `OPTIONS` and `TRACE` are). Mark a `POST` that only reads (a search) as
    /// idempotent so that it is retried.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    fn may_retry(&self) -> bool {
        self.idempotency_key.is_some()
            || self
                .idempotent
                .unwrap_or_else(|| self.method.is_idempotent())
    }

    /// Sends the request: for every attempt a rate-limit permit, the attempt with its timeout,
    /// the classification of the response, and the retry decision. The final error says how
    /// many attempts were made.
    pub async fn send(self) -> Result<HttpResponse, ChannelError> {
        let client = self.client;
        let operation = self.operation;
        if let Some(e) = self.error {
            return Err(client.with_context(e, operation));
        }
        let url = match &self.url {
            Ok(u) => u.clone(),
            Err(e) => {
                return Err(client.with_context(copy_error(e), operation));
            }
        };
        let policy = &client.inner.retry;
        let started = tokio::time::Instant::now();
        // Atomics only so that the future is `Send`; one task touches them.
        let attempts = AtomicU32::new(0);
        let reauthenticated = AtomicBool::new(false);
        let may_retry = self.may_retry();
        let this = &self;
        let url = &url;

        let result = (|| async {
            let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            this.attempt(url, n, may_retry, &reauthenticated).await
        })
        .retry(policy.backoff())
        .when(|f: &Failed| f.next != Next::GiveUp)
        .adjust(|f: &Failed, backoff: Option<Duration>| match f.next {
            Next::GiveUp => None,
            // At most once per request, whatever the retry policy.
            Next::Reauthenticate => Some(Duration::ZERO),
            Next::Backoff => policy.delay_after(f.error.retry_after(), backoff?, started.elapsed()),
        })
        .notify(|f: &Failed, delay: Duration| {
            tracing::warn!(
                attempt = attempts.load(Ordering::Relaxed),
                delay_ms = delay.as_millis() as u64,
                error = %f.error,
                "retrying"
            );
            if let Some(hook) = &client.inner.on_retry {
                hook(&RetryNotice::new(
                    attempts.load(Ordering::Relaxed),
                    delay,
                    &f.error,
                ));
            }
        })
        .await;

        result.map_err(|f| f.error.with_attempts(attempts.load(Ordering::Relaxed)))
    }

    async fn attempt(
        &self,
        url: &Url,
        attempt: u32,
        may_retry: bool,
        reauthenticated: &AtomicBool,
    ) -> Result<HttpResponse, Failed> {
        let client = self.client;
        let inner = &client.inner;
        let op = self.operation;
        let give_up = |error: ChannelError| Failed {
            error: client.with_context(error, op),
            next: Next::GiveUp,
        };

        // 1. Permit: a concurrency slot and a rate-limit permit, for every attempt.
        let channel_label = marketsync_core::engine::metrics::channel_label(inner.channel);
        let _permit = inner
            .limiter
            .acquire_for(&inner.account, channel_label)
            .await
            .map_err(give_up)?;

        let span = tracing::info_span!(
            "marketsync_http.request",
            channel = inner.channel.map(|c| c.as_str()).unwrap_or(""),
            operation = op.unwrap_or(""),
            method = %self.method,
            path = %url.path(),
            attempt,
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );

        async {
            // 2. Authentication (may renew the token; no request has been sent yet).
            let (auth_header, access_token) = match &inner.auth {
                Auth::None => (None, None),
                Auth::Bearer(token) => (Some(bearer(token)?), Some(token.clone())),
                Auth::OAuth(tm) => match tm.access_token().await {
                    Ok(token) => (Some(bearer(&token)?), Some(token)),
                    Err(e) => {
                        // Nothing was sent: a temporary renewal failure is safe to retry.
                        let next = if e.is_temporary() {
                            Next::Backoff
                        } else {
                            Next::GiveUp
                        };
                        return Err(Failed {
                            error: client.with_context(e, op),
                            next,
                        });
                    }
                },
            };

            let mut request = inner
                .transport
                .request(self.method.clone(), url.clone())
                .headers(inner.headers.clone())
                .headers(self.headers.clone());
            if let Some(value) = auth_header {
                request = request.header(AUTHORIZATION, value);
            }
            if let Some(key) = &self.idempotency_key {
                request = request.header(inner.idempotency_header.clone(), key.clone());
            }
            if let Some(body) = &self.body {
                if !self.headers.contains_key(CONTENT_TYPE) {
                    request = request.header(CONTENT_TYPE, body.content_type.clone());
                }
                request = request.body(body.bytes.clone());
            }
            if let Some(timeout) = inner.attempt_timeout {
                request = request.timeout(timeout);
            }

            // 3. The attempt.
            let sent = tokio::time::Instant::now();
            let outcome = async {
                let response = request.send().await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body.to_vec()))
            }
            .await;
            let span = tracing::Span::current();
            span.record("duration_ms", sent.elapsed().as_millis() as u64);

            let (status, headers, body) = match outcome {
                Ok(parts) => parts,
                Err(e) => {
                    // A connection that was never made never reached the channel: always safe
                    // to retry.
                    let next = if e.is_connect() || may_retry {
                        Next::Backoff
                    } else {
                        Next::GiveUp
                    };
                    let error = transport_error(e);
                    tracing::debug!(error = %error, "attempt failed");
                    return Err(Failed {
                        error: client.with_context(error, op),
                        next,
                    });
                }
            };
            span.record("status", status.as_u16());
            if status == StatusCode::TOO_MANY_REQUESTS {
                crate::classify::count_429(channel_label);
            }

            if status.is_success() || status == StatusCode::NOT_MODIFIED {
                tracing::debug!("attempt succeeded");
                return Ok(HttpResponse {
                    status,
                    headers,
                    body,
                });
            }

            // 4. Classification.
            let mut secrets: Vec<&str> = inner.secrets.iter().map(|s| s.expose_secret()).collect();
            if let Some(t) = &access_token {
                secrets.push(t.expose_secret());
            }
            let body = redact_body(body, &secrets);
            let response = ErrorResponse {
                status,
                headers: &headers,
                body: &body,
                received_at: inner.clock.now(),
            };
            let error = match &inner.parse_error {
                Some(parse) => parse(&response),
                None => classify(&response),
            };
            tracing::debug!(kind = %error.kind(), "attempt failed");

            // 5. Retry decision.
            let next = match (&inner.auth, &access_token) {
                (Auth::OAuth(tm), Some(used))
                    if status == StatusCode::UNAUTHORIZED
                        && !reauthenticated.swap(true, Ordering::Relaxed) =>
                {
                    tm.invalidate(used);
                    Next::Reauthenticate
                }
                // A 429 means the channel did not process the request, so even a
                // non-idempotent request without a key is safe to send again.
                _ if error.is_temporary()
                    && (may_retry || status == StatusCode::TOO_MANY_REQUESTS) =>
                {
                    Next::Backoff
                }
                _ => Next::GiveUp,
            };
            Err(Failed {
                error: client.with_context(error, op),
                next,
            })
        }
        .instrument(span)
        .await
    }
}

fn bearer(token: &SecretString) -> Result<HeaderValue, Failed> {
    let mut value =
        HeaderValue::try_from(format!("Bearer {}", token.expose_secret())).map_err(|_| Failed {
            error: ChannelError::auth(
                marketsync_core::BrokenReason::CredentialsRejected,
                "the access token contains characters not allowed in a header",
            ),
            next: Next::GiveUp,
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A transport failure (no usable response) as a [`ChannelError`]. The URL, which may carry an
/// access token in its query, is removed from the source.
pub(crate) fn transport_error(e: reqwest::Error) -> ChannelError {
    let message = if e.is_timeout() {
        "the request to the channel timed out"
    } else if e.is_connect() {
        "could not connect to the channel"
    } else if e.is_body() || e.is_decode() {
        "the channel's response was cut off or could not be decoded"
    } else if e.is_builder() {
        return ChannelError::invalid("the request could not be built")
            .with_source(e.without_url());
    } else {
        "the request to the channel failed"
    };
    ChannelError::transient(message).with_source(e.without_url())
}

/// A copy of an error's kind and context, without its source (which cannot be cloned): for one
/// failure reported on several items (every request of a failed batch, every offer of a failed
/// command).
pub fn copy_error(e: &ChannelError) -> ChannelError {
    let mut out = ChannelError::new(e.kind(), e.message()).set_temporary(e.is_temporary());
    if let Some(c) = e.channel() {
        out = out.with_channel(c);
    }
    if let Some(op) = e.operation() {
        out = out.with_operation(op);
    }
    if let Some(s) = e.http_status() {
        out = out.with_http_status(s);
    }
    if let Some(m) = e.channel_message() {
        out = out.with_channel_message(m);
    }
    if let Some(w) = e.retry_after() {
        out = out.with_retry_after(w);
    }
    if let Some(r) = e.broken_reason() {
        out = out.with_broken_reason(r);
    }
    if let Some(f) = e.field() {
        out = out.with_field(f);
    }
    if e.attempts() > 0 {
        out = out.with_attempts(e.attempts());
    }
    out
}

/// A successful response, read to the end (the concurrency slot is held until then).
#[derive(Clone)]
pub struct HttpResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl HttpResponse {
    /// The status (2xx, or 304 Not Modified).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header as text, when present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The body.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body decoded from JSON. A body that does not match is a `Channel` error: the
    /// channel sent something the adapter does not understand.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ChannelError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ChannelError::new(
                ErrorKind::Channel,
                format!("the channel's response could not be read: {e}"),
            )
            .with_http_status(self.status.as_u16())
        })
    }
}
