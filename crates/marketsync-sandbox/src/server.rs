//! The HTTP server and the shared middleware: counters, request log, rate limits, latency and
//! fault injection in front of any [`Marketplace`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::marketplace::{Marketplace, Request, Response, Route, Throttle};
use crate::util::draw;

/// Middleware settings, changeable while the sandbox runs ([`Sandbox::set_knobs`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    /// Delay added before each request is answered.
    pub latency: Duration,
    /// Share of requests (0.0–1.0) answered with the marketplace's own 5xx.
    pub server_error_ratio: f64,
    /// Share of requests (0.0–1.0) whose connection is closed without any response.
    pub drop_ratio: f64,
    /// Seed of the fault draws: request number `n` always gets the same draw for a seed.
    pub fault_seed: u64,
    /// Operations that faults apply to; empty means all.
    pub fault_operations: Vec<String>,
    /// Enforce the marketplace's [`RateLimits`](crate::RateLimits) (answered with its 429).
    pub enforce_rate_limits: bool,
    /// How many requests the log keeps (oldest dropped first).
    pub log_capacity: usize,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            server_error_ratio: 0.0,
            drop_ratio: 0.0,
            fault_seed: 0,
            fault_operations: Vec::new(),
            enforce_rate_limits: true,
            log_capacity: 10_000,
        }
    }
}

/// A fault queued for the next request(s), ahead of the random draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with the marketplace's 5xx.
    ServerError,
    /// Close the connection without a response.
    Drop,
    /// Handle the request (the marketplace applies it: a listing is created, an order shipped),
    /// then close the connection without the response: the work is done but the caller never
    /// hears of it, as when a timeout or a crash loses the answer.
    DropAfterApplying,
    /// Answer with the marketplace's own 429 ([`Marketplace::throttled`] for a spent per-minute
    /// budget, one second to wait), as if the rate limit had been reached.
    Throttled,
}

/// How a logged request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The fake handled it and answered with this status.
    Handled(u16),
    /// An injected 5xx with this status.
    ServerError(u16),
    /// The connection was closed without a response.
    Dropped,
    /// Throttled by the rate limits, with this status.
    Throttled(u16),
}

/// One entry of the request log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    /// Sequence number (from 0).
    pub seq: u64,
    /// Method.
    pub method: String,
    /// Path as sent.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Operation name chosen by the fake.
    pub operation: String,
    /// How it ended.
    pub outcome: Outcome,
    /// When it arrived, by the marketplace's clock.
    pub received_at: DateTime<Utc>,
}

/// A snapshot of the request counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// HTTP requests received, by operation (every request, whatever its outcome).
    pub requests: BTreeMap<String, u64>,
    /// Requests carried inside batches, by operation.
    pub batch_parts: BTreeMap<String, u64>,
    /// All HTTP requests received.
    pub total: u64,
    /// Injected 5xx answers.
    pub server_errors: u64,
    /// Connections dropped without a response.
    pub dropped: u64,
    /// Requests throttled by the rate limits.
    pub throttled: u64,
}

impl Counters {
    /// HTTP requests received for one operation.
    pub fn get(&self, operation: &str) -> u64 {
        self.requests.get(operation).copied().unwrap_or(0)
    }

    /// Batch parts received for one operation.
    pub fn part(&self, operation: &str) -> u64 {
        self.batch_parts.get(operation).copied().unwrap_or(0)
    }
}

type Action<M> = Box<dyn FnOnce(&M) + Send>;

struct Shared<M> {
    marketplace: M,
    addr: SocketAddr,
    seq: AtomicU64,
    knobs: Mutex<Knobs>,
    counters: Mutex<Counters>,
    log: Mutex<VecDeque<LoggedRequest>>,
    limiter: Mutex<Limiter>,
    queued_faults: Mutex<VecDeque<Fault>>,
    targeted_faults: Mutex<VecDeque<(Vec<String>, Fault)>>,
    scheduled: Mutex<Vec<(u64, Action<M>)>>,
}

#[derive(Default)]
struct Limiter {
    windows: HashMap<String, VecDeque<(DateTime<Utc>, u32)>>,
    in_flight: HashMap<String, u32>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running fake marketplace on `127.0.0.1` with an ephemeral port. Dropping the handle shuts
/// the server down (connections in flight finish their current request).
///
/// The handle dereferences to the marketplace, so its test helpers are at hand.
pub struct Sandbox<M: Marketplace> {
    shared: Arc<Shared<M>>,
    shutdown: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

impl<M: Marketplace> fmt::Debug for Sandbox<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("marketplace", &self.shared.marketplace.name())
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

impl<M: Marketplace> Deref for Sandbox<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.shared.marketplace
    }
}

/// Error returned to hyper to close a connection without answering.
#[derive(Debug)]
struct DroppedConnection;

impl fmt::Display for DroppedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sandbox fault: connection dropped")
    }
}

impl std::error::Error for DroppedConnection {}

impl<M: Marketplace> Sandbox<M> {
    /// Starts serving `marketplace` on `127.0.0.1:0` with default knobs. Needs a Tokio runtime.
    pub async fn start(marketplace: M) -> std::io::Result<Self> {
        Self::start_with(marketplace, Knobs::default()).await
    }

    /// Starts serving `marketplace` with the given knobs.
    pub async fn start_with(marketplace: M, knobs: Knobs) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            marketplace,
            addr,
            seq: AtomicU64::new(0),
            knobs: Mutex::new(knobs),
            counters: Mutex::new(Counters::default()),
            log: Mutex::new(VecDeque::new()),
            limiter: Mutex::new(Limiter::default()),
            queued_faults: Mutex::new(VecDeque::new()),
            targeted_faults: Mutex::new(VecDeque::new()),
            scheduled: Mutex::new(Vec::new()),
        });
        let (shutdown, rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared), rx));
        Ok(Self {
            shared,
            shutdown,
            accept: Some(accept),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The marketplace served.
    pub fn marketplace(&self) -> &M {
        &self.shared.marketplace
    }

    /// The current knobs.
    pub fn knobs(&self) -> Knobs {
        lock(&self.shared.knobs).clone()
    }

    /// Replaces the knobs; applies from the next request.
    pub fn set_knobs(&self, knobs: Knobs) {
        *lock(&self.shared.knobs) = knobs;
    }

    /// Changes the knobs in place.
    pub fn update_knobs(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut lock(&self.shared.knobs));
    }

    /// Queues a fault for the next request that faults apply to (before any random draw).
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.queued_faults).push_back(fault);
    }

    /// Queues a fault for the next request of one of `operations` (counter names such as
    /// `orders.list`), ahead of [`inject`](Self::inject)'s queue and the random draws, whatever
    /// [`Knobs::fault_operations`] says. Faults for the same operations apply in the order
    /// queued; a request of another operation leaves them queued.
    pub fn inject_for(&self, operations: &[&str], fault: Fault) {
        lock(&self.shared.targeted_faults)
            .push_back((operations.iter().map(|o| (*o).to_owned()).collect(), fault));
    }

    /// Forgets every queued fault (both [`inject`](Self::inject) and
    /// [`inject_for`](Self::inject_for)).
    pub fn clear_faults(&self) {
        lock(&self.shared.queued_faults).clear();
        lock(&self.shared.targeted_faults).clear();
    }

    /// Runs `action` on the marketplace once `after_requests` requests have been received,
    /// before the next one is handled ("the product is deleted while a sync runs").
    pub fn schedule(&self, after_requests: u64, action: impl FnOnce(&M) + Send + 'static) {
        lock(&self.shared.scheduled).push((after_requests, Box::new(action)));
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        lock(&self.shared.counters).clone()
    }

    /// Sets every counter to zero and clears the request log.
    pub fn reset_counters(&self) {
        *lock(&self.shared.counters) = Counters::default();
        lock(&self.shared.log).clear();
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// Forgets the rate-limit windows (the budget is full again).
    pub fn reset_rate_limits(&self) {
        lock(&self.shared.limiter).windows.clear();
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.accept.take() {
            let _ = task.await;
        }
    }
}

impl<M: Marketplace> Drop for Sandbox<M> {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop<M: Marketplace>(
    listener: TcpListener,
    shared: Arc<Shared<M>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                tokio::spawn(serve_connection(stream, Arc::clone(&shared), shutdown.clone()));
            }
            _ = shutdown.changed() => break,
        }
    }
}

async fn serve_connection<M: Marketplace>(
    stream: tokio::net::TcpStream,
    shared: Arc<Shared<M>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { serve_request(shared, req).await }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Decrements the in-flight count of a key when the request ends, however it ends.
struct InFlight<'a> {
    limiter: &'a Mutex<Limiter>,
    key: Option<String>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(key) = &self.key
            && let Some(n) = lock(self.limiter).in_flight.get_mut(key)
        {
            *n = n.saturating_sub(1);
        }
    }
}

async fn serve_request<M: Marketplace>(
    shared: Arc<Shared<M>>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, DroppedConnection> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => return Err(DroppedConnection),
    };
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| shared.addr.to_string());
    let seq = shared.seq.fetch_add(1, Ordering::SeqCst);
    run_scheduled(&shared, seq);
    let market = &shared.marketplace;
    let request = Request {
        seq,
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        base_url: format!("http://{host}"),
        received_at: market.now(),
    };
    let route = market.route(&request);
    let knobs = lock(&shared.knobs).clone();
    {
        let mut counters = lock(&shared.counters);
        counters.total += 1;
        *counters
            .requests
            .entry(route.operation.clone())
            .or_default() += 1;
    }

    // Rate limits, answered the marketplace's way.
    let mut guard = InFlight {
        limiter: &shared.limiter,
        key: None,
    };
    if knobs.enforce_rate_limits {
        if let Some(why) = check_limits(&shared, market, &request, &route) {
            let response = market.throttled(&request, why);
            lock(&shared.counters).throttled += 1;
            log(
                &shared,
                &knobs,
                &request,
                &route,
                Outcome::Throttled(response.status),
            );
            return Ok(to_hyper(response));
        }
        if let (Some(key), Some(_)) = (&route.concurrency_key, market.rate_limits().concurrent) {
            guard.key = Some(key.clone());
        }
    }

    if !knobs.latency.is_zero() {
        tokio::time::sleep(knobs.latency).await;
    }

    // Faults: ones queued for this operation, then the other queued ones, then the seeded draw
    // for this request number.
    let targeted = {
        let mut queue = lock(&shared.targeted_faults);
        queue
            .iter()
            .position(|(ops, _)| ops.contains(&route.operation))
            .and_then(|i| queue.remove(i))
            .map(|(_, fault)| fault)
    };
    let applies =
        knobs.fault_operations.is_empty() || knobs.fault_operations.contains(&route.operation);
    let fault = if targeted.is_some() {
        targeted
    } else if applies {
        lock(&shared.queued_faults).pop_front().or_else(|| {
            let u = draw(knobs.fault_seed, seq);
            if u < knobs.drop_ratio {
                Some(Fault::Drop)
            } else if u < knobs.drop_ratio + knobs.server_error_ratio {
                Some(Fault::ServerError)
            } else {
                None
            }
        })
    } else {
        None
    };
    match fault {
        Some(Fault::Drop) => {
            lock(&shared.counters).dropped += 1;
            log(&shared, &knobs, &request, &route, Outcome::Dropped);
            drop(guard);
            return Err(DroppedConnection);
        }
        Some(Fault::DropAfterApplying) => {
            let _applied = market.handle(&request);
            lock(&shared.counters).dropped += 1;
            log(&shared, &knobs, &request, &route, Outcome::Dropped);
            drop(guard);
            return Err(DroppedConnection);
        }
        Some(Fault::Throttled) => {
            let response = market.throttled(
                &request,
                Throttle::PerMinute {
                    retry_after: Duration::from_secs(1),
                },
            );
            lock(&shared.counters).throttled += 1;
            log(
                &shared,
                &knobs,
                &request,
                &route,
                Outcome::Throttled(response.status),
            );
            drop(guard);
            return Ok(to_hyper(response));
        }
        Some(Fault::ServerError) => {
            let response = market.server_error(&request);
            lock(&shared.counters).server_errors += 1;
            log(
                &shared,
                &knobs,
                &request,
                &route,
                Outcome::ServerError(response.status),
            );
            return Ok(to_hyper(response));
        }
        None => {}
    }

    let response = market.handle(&request);
    if !response.sub_operations.is_empty() {
        let mut counters = lock(&shared.counters);
        for op in &response.sub_operations {
            *counters.batch_parts.entry(op.clone()).or_default() += 1;
        }
    }
    log(
        &shared,
        &knobs,
        &request,
        &route,
        Outcome::Handled(response.status),
    );
    drop(guard);
    Ok(to_hyper(response))
}

fn run_scheduled<M: Marketplace>(shared: &Shared<M>, seq: u64) {
    let due: Vec<Action<M>> = {
        let mut scheduled = lock(&shared.scheduled);
        let mut due = Vec::new();
        let mut i = 0;
        while i < scheduled.len() {
            if scheduled[i].0 <= seq {
                due.push(scheduled.remove(i).1);
            } else {
                i += 1;
            }
        }
        due
    };
    for action in due {
        action(&shared.marketplace);
    }
}

/// Spends the request's budget, or says why it cannot. Increments the in-flight count when the
/// request may proceed.
fn check_limits<M: Marketplace>(
    shared: &Shared<M>,
    market: &M,
    request: &Request,
    route: &Route,
) -> Option<Throttle> {
    let limits = market.rate_limits();
    let mut limiter = lock(&shared.limiter);
    if let (Some(key), Some(max)) = (&route.concurrency_key, limits.concurrent)
        && limiter.in_flight.get(key).copied().unwrap_or(0) >= max
    {
        return Some(Throttle::Concurrency);
    }
    if let (Some(key), Some(max)) = (&route.rate_key, limits.per_minute) {
        let now = request.received_at;
        let window = limiter.windows.entry(key.clone()).or_default();
        while let Some((t, _)) = window.front() {
            if now - *t >= TimeDelta::minutes(1) {
                window.pop_front();
            } else {
                break;
            }
        }
        let used: u64 = window.iter().map(|(_, c)| u64::from(*c)).sum();
        let cost = route.cost.max(1);
        if used + u64::from(cost) > u64::from(max) {
            // Wait until enough of the oldest entries leave the window.
            let mut freed = 0u64;
            let mut until = now;
            for (t, c) in window.iter() {
                freed += u64::from(*c);
                until = *t + TimeDelta::minutes(1);
                if used - freed + u64::from(cost) <= u64::from(max) {
                    break;
                }
            }
            let retry_after = (until - now).to_std().unwrap_or(Duration::ZERO);
            return Some(Throttle::PerMinute {
                retry_after: retry_after.max(Duration::from_secs(1)),
            });
        }
        window.push_back((now, cost));
    }
    if let (Some(key), Some(_)) = (&route.concurrency_key, limits.concurrent) {
        *limiter.in_flight.entry(key.clone()).or_default() += 1;
    }
    None
}

fn log<M>(shared: &Shared<M>, knobs: &Knobs, request: &Request, route: &Route, outcome: Outcome) {
    if knobs.log_capacity == 0 {
        return;
    }
    let mut log = lock(&shared.log);
    while log.len() >= knobs.log_capacity {
        log.pop_front();
    }
    log.push_back(LoggedRequest {
        seq: request.seq,
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        operation: route.operation.clone(),
        outcome,
        received_at: request.received_at,
    });
}

fn to_hyper(response: Response) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| {
            let mut r = hyper::Response::new(Full::new(Bytes::new()));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
}
