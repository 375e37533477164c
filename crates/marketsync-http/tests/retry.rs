//! The retry loop against a real (wiremock) server, in real time: Retry-After in both forms,
//! rate limiting under a 429 storm, idempotency rules, attempt counting, per-attempt timeouts,
//! headers and the adapter's parse_error hook.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use marketsync_core::{ChannelKind, ErrorKind, IdempotencyKey, ManualClock, SecretString};
use marketsync_http::{
    ErrorResponse, HttpClient, HttpClientBuilder, Limits, RetryNotice, RetryPolicy, USER_AGENT,
    classify,
};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        jitter: false,
        ..RetryPolicy::default()
    }
}

fn builder(server: &MockServer) -> HttpClientBuilder {
    HttpClient::builder(&format!("{}/v1/", server.uri()))
        .channel(ChannelKind::ChannelAdvisor)
        .retry(fast_retry())
}

/// A responder that serves `responses` in order (the last one repeats) and records when each
/// request arrived.
#[derive(Clone)]
struct Script {
    responses: Arc<Vec<ResponseTemplate>>,
    count: Arc<AtomicUsize>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Script {
    fn new(responses: Vec<ResponseTemplate>) -> Self {
        Self {
            responses: Arc::new(responses),
            count: Arc::new(AtomicUsize::new(0)),
            arrivals: Arc::new(Mutex::new(Vec::new())),
            requests: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }
}

impl wiremock::Respond for Script {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.arrivals.lock().unwrap().push(Instant::now());
        self.requests.lock().unwrap().push(request.clone());
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        self.responses[n.min(self.responses.len() - 1)].clone()
    }
}

fn recorder() -> (
    Arc<Mutex<Vec<RetryNotice>>>,
    impl Fn(&RetryNotice) + Send + Sync,
) {
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = notices.clone();
    (notices, move |n: &RetryNotice| {
        sink.lock().unwrap().push(n.clone())
    })
}

#[tokio::test]
async fn retry_after_seconds_is_honoured_to_the_second() {
    let server = MockServer::start().await;
    let script = Script::new(vec![
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
        ResponseTemplate::new(200).set_body_string(r#"{"value":[]}"#),
    ]);
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    let (notices, hook) = recorder();
    let client = builder(&server).on_retry(hook).build().unwrap();

    let response = client.get("Orders").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let notices = notices.lock().unwrap().clone();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].attempt, 1);
    assert_eq!(notices[0].kind, ErrorKind::RateLimited);
    assert_eq!(notices[0].http_status, Some(429));
    assert_eq!(notices[0].retry_after, Some(Duration::from_secs(1)));
    // Exactly the channel's wait: no backoff, no jitter on top.
    assert_eq!(notices[0].delay, Duration::from_secs(1));

    // And it was really waited for, as seen by the server.
    let arrivals = script.arrivals();
    assert_eq!(arrivals.len(), 2);
    let gap = arrivals[1] - arrivals[0];
    assert!(gap >= Duration::from_secs(1), "{gap:?}");
    assert!(gap < Duration::from_secs(3), "{gap:?}");
}

#[tokio::test]
async fn retry_after_http_date_is_honoured_to_the_second() {
    let server = MockServer::start().await;
    // The client's wall clock says 07:27:30; the channel asks to come back at 07:27:32.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 7, 27, 30).unwrap(),
    ));
    let script = Script::new(vec![
        ResponseTemplate::new(503).insert_header("Retry-After", "Mon, 02 Mar 2026 07:27:32 GMT"),
        ResponseTemplate::new(200),
    ]);
    Mock::given(method("GET"))
        .and(path("/v1/Orders"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    let (notices, hook) = recorder();
    let client = builder(&server)
        .clock(clock)
        .on_retry(hook)
        .build()
        .unwrap();

    client.get("Orders").send().await.unwrap();

    let notices = notices.lock().unwrap().clone();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, ErrorKind::Transient);
    assert_eq!(notices[0].delay, Duration::from_secs(2));
    let arrivals = script.arrivals();
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals[1] - arrivals[0] >= Duration::from_secs(2));
}

#[tokio::test]
async fn retry_after_beyond_the_cap_ends_the_retries_with_the_wait() {
    let server = MockServer::start().await;
    let script = Script::new(vec![
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "3600")
            .set_body_string(
                r#"{"error":{"code":"TooManyRequests","message":"Rate limit exceeded"}}"#,
            ),
    ]);
    Mock::given(method("GET"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    let client = builder(&server).build().unwrap();

    let started = Instant::now();
    let e = client
        .get("Orders")
        .operation("fetch_orders")
        .send()
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(script.count(), 1);
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(e.attempts(), 1);
    assert_eq!(e.channel(), Some(ChannelKind::ChannelAdvisor));
    assert_eq!(e.operation(), Some("fetch_orders"));
    assert_eq!(e.channel_message(), Some("Rate limit exceeded"));
}

#[tokio::test]
async fn a_429_storm_never_exceeds_the_limiter() {
    let server = MockServer::start().await;
    // Every request is refused with "retry at once": only the limiter paces the retries.
    let script = Script::new(vec![
        ResponseTemplate::new(429).insert_header("Retry-After", "0"),
    ]);
    Mock::given(method("GET"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    const PER_SECOND: usize = 5;
    let client = builder(&server)
        .account("profile-1")
        .limits(Limits::default().per_second(PER_SECOND as u32))
        .retry(RetryPolicy {
            max_attempts: 10_000,
            max_elapsed: Duration::from_secs(2),
            ..fast_retry()
        })
        .build()
        .unwrap();

    let started = Instant::now();
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.get("Orders").send().await.unwrap_err() })
        })
        .collect();
    let mut attempts = 0;
    for caller in callers {
        let e = caller.await.unwrap();
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert!(e.attempts() > 1, "the storm was retried: {e}");
        attempts += e.attempts() as usize;
    }
    let elapsed = started.elapsed();

    let arrivals = script.arrivals();
    // Every attempt reached the server once, and the final errors counted them all.
    assert_eq!(attempts, arrivals.len());
    // GCRA: a burst of PER_SECOND, then one every 1/PER_SECOND s.
    let allowed = PER_SECOND + (elapsed.as_secs_f64() * PER_SECOND as f64).ceil() as usize;
    assert!(
        arrivals.len() <= allowed + 1,
        "{} requests in {elapsed:?}, allowed {allowed}",
        arrivals.len()
    );
    assert!(
        arrivals.len() >= 2 * PER_SECOND,
        "the storm ran: {}",
        arrivals.len()
    );
    // No one-second window saw more than the burst plus one second's refill (+1 for latency).
    for (i, start) in arrivals.iter().enumerate() {
        let in_window = arrivals[i..]
            .iter()
            .take_while(|t| **t - *start < Duration::from_secs(1))
            .count();
        assert!(in_window <= 2 * PER_SECOND + 1, "{in_window} in one second");
    }
}

#[tokio::test]
async fn post_without_idempotency_key_is_not_retried() {
    let server = MockServer::start().await;
    let script = Script::new(vec![ResponseTemplate::new(503)]);
    Mock::given(method("POST"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    let client = builder(&server).build().unwrap();

    let e = client
        .post("Orders(1)/Ship")
        .json(&serde_json::json!({"Value": {"TrackingNumber": "1Z"}}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(e.is_temporary());
    assert_eq!(e.attempts(), 1);
    assert_eq!(script.count(), 1);
}

#[tokio::test]
async fn post_without_a_key_is_retried_after_a_429_which_processed_nothing() {
    let server = MockServer::start().await;
    let script = Script::new(vec![
        ResponseTemplate::new(429).insert_header("Retry-After", "0"),
        ResponseTemplate::new(204),
    ]);
    Mock::given(method("POST"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    let client = builder(&server).build().unwrap();
    let response = client
        .post("Orders(1)/Ship")
        .json(&serde_json::json!({"Value": {"TrackingNumber": "1Z"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(script.count(), 2, "the 429 is retried; a 5xx would not be");
}

#[tokio::test]
async fn post_with_idempotency_key_is_retried_with_the_same_key() {
    let server = MockServer::start().await;
    let script = Script::new(vec![
        ResponseTemplate::new(503),
        ResponseTemplate::new(500),
        ResponseTemplate::new(201).set_body_string(r#"{"id":"r-1"}"#),
    ]);
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    let client = builder(&server).build().unwrap();
    let key = IdempotencyKey::generate();

    let response = client
        .post("refunds")
        .json(&serde_json::json!({"amount": "10.00"}))
        .idempotency_key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.json::<serde_json::Value>().unwrap()["id"], "r-1");

    let requests = script.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(
            r.headers.get("idempotency-key").unwrap().to_str().unwrap(),
            key.as_str()
        );
        assert_eq!(r.body, br#"{"amount":"10.00"}"#);
    }
}

#[tokio::test]
async fn idempotent_requests_give_up_after_max_attempts() {
    let server = MockServer::start().await;
    let script = Script::new(vec![ResponseTemplate::new(502)]);
    Mock::given(method("GET"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    let client = builder(&server)
        .retry(RetryPolicy {
            max_attempts: 4,
            ..fast_retry()
        })
        .build()
        .unwrap();
    let e = client.get("Orders").send().await.unwrap_err();
    assert_eq!(script.count(), 4);
    assert_eq!(e.attempts(), 4);
    assert!(e.to_string().contains("gave up after 4 attempts"), "{e}");

    // Permanent errors are not retried at all.
    let server = MockServer::start().await;
    let script = Script::new(vec![ResponseTemplate::new(404)]);
    Mock::given(method("GET"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    let client = builder(&server).build().unwrap();
    let e = client.get("Orders(9)").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(script.count(), 1);
}

#[tokio::test]
async fn each_attempt_has_its_own_timeout() {
    let server = MockServer::start().await;
    let script = Script::new(vec![
        ResponseTemplate::new(200).set_delay(Duration::from_secs(3)),
    ]);
    Mock::given(method("GET"))
        .respond_with(script.clone())
        .mount(&server)
        .await;
    let client = builder(&server)
        .attempt_timeout(Some(Duration::from_millis(200)))
        .retry(RetryPolicy {
            max_attempts: 2,
            ..fast_retry()
        })
        .build()
        .unwrap();
    let started = Instant::now();
    let e = client.get("Orders").send().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(e.message().contains("timed out"), "{e}");
    assert_eq!(e.attempts(), 2);
    assert_eq!(script.count(), 2);
}

#[tokio::test]
async fn connection_failures_are_transient_and_retried() {
    // A port with nothing listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let client = HttpClient::builder(&uri)
        .retry(RetryPolicy {
            max_attempts: 3,
            ..fast_retry()
        })
        .build()
        .unwrap();
    // Even a POST: the request never reached the channel.
    let e = client.post("x").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert_eq!(e.attempts(), 3);
    assert!(!e.to_string().contains(&uri), "no URL in the error: {e}");
}

#[tokio::test]
async fn headers_query_and_adapter_parse_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/my/listings"))
        .and(header("user-agent", USER_AGENT))
        .and(header("accept-version", "3.0"))
        .and(header("authorization", "Bearer tok-123"))
        .and(query_param("sku", "A&B 1"))
        .and(query_param("state", "all"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"total":1}"#))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/listings/7"))
        .respond_with(ResponseTemplate::new(412).set_body_string(
            r#"{"message":"Validation failed","errors":{"title":["can't be blank"]}}"#,
        ))
        .mount(&server)
        .await;
    // Reverb: validation errors come as 412.
    let client = HttpClient::builder(&format!("{}/api", server.uri()))
        .channel(ChannelKind::Reverb)
        .default_header("Accept-Version", "3.0")
        .bearer(SecretString::from("tok-123"))
        .retry(fast_retry())
        .parse_error(|r: &ErrorResponse<'_>| {
            let e = classify(r);
            if r.status.as_u16() == 412 {
                let mut out = marketsync_core::ChannelError::invalid("Reverb rejected the listing")
                    .with_http_status(412);
                if let Some(m) = e.channel_message() {
                    out = out.with_channel_message(m);
                }
                out
            } else {
                e
            }
        })
        .build()
        .unwrap();

    let page: serde_json::Value = client
        .get("my/listings")
        .query([("sku", "A&B 1"), ("state", "all")])
        .send()
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(page["total"], 1);

    let e = client
        .put("listings/7")
        .json(&serde_json::json!({"title": ""}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.channel(), Some(ChannelKind::Reverb));
    assert_eq!(
        e.channel_message(),
        Some("Validation failed (title: can't be blank)")
    );
    // Permanent: a PUT is idempotent, but an invalid request is not retried.
    assert_eq!(e.attempts(), 1);
}
