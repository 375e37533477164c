//! The HTTP plumbing counts `429 Too Many Requests` answers and the requests that waited for a
//! rate-limit permit, labelled with the channel kind
//! (`marketsync_core::engine::metrics`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use marketsync_core::ChannelKind;
use marketsync_core::engine::metrics::{
    HTTP_429_TOTAL, RATE_LIMIT_WAIT_SECONDS_TOTAL, RATE_LIMIT_WAITS_TOTAL,
};
use marketsync_http::{HttpClient, Limits, RateLimiter, RetryPolicy};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Counters and gauges by `name{label=value,…}`.
#[derive(Default)]
struct Recorded {
    values: Mutex<BTreeMap<String, Arc<Mutex<f64>>>>,
}

struct Cell(Arc<Mutex<f64>>);

impl metrics::CounterFn for Cell {
    fn increment(&self, value: u64) {
        *self.0.lock().unwrap() += value as f64;
    }
    fn absolute(&self, value: u64) {
        *self.0.lock().unwrap() = value as f64;
    }
}

impl metrics::GaugeFn for Cell {
    fn increment(&self, value: f64) {
        *self.0.lock().unwrap() += value;
    }
    fn decrement(&self, value: f64) {
        *self.0.lock().unwrap() -= value;
    }
    fn set(&self, value: f64) {
        *self.0.lock().unwrap() = value;
    }
}

fn key_text(key: &metrics::Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorded {
    fn cell(&self, key: &metrics::Key) -> Arc<Cell> {
        let value = self
            .values
            .lock()
            .unwrap()
            .entry(key_text(key))
            .or_default()
            .clone();
        Arc::new(Cell(value))
    }

    fn get(&self, key: &str) -> f64 {
        self.values
            .lock()
            .unwrap()
            .get(key)
            .map_or(0.0, |v| *v.lock().unwrap())
    }
}

impl metrics::Recorder for Recorded {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(self.cell(key))
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(self.cell(key))
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

#[test]
fn a_429_answer_is_counted_under_its_channel() {
    let recorder = Recorded::default();
    // The recorder is this thread's: the requests run on a runtime on this thread.
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let server = MockServer::start().await;
                Mock::given(method("GET"))
                    .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
                    .mount(&server)
                    .await;
                let client = HttpClient::builder(&server.uri())
                    .channel(ChannelKind::Reverb)
                    .account("shop-1")
                    .retry(RetryPolicy::never())
                    .build()
                    .unwrap();
                let err = client.get("/orders").send().await.unwrap_err();
                assert_eq!(err.kind(), marketsync_core::ErrorKind::RateLimited);
                // A client built without a channel kind counts under `unknown`.
                let anonymous = HttpClient::builder(&server.uri())
                    .retry(RetryPolicy::never())
                    .build()
                    .unwrap();
                anonymous.get("/orders").send().await.unwrap_err();
            });
    });
    assert_eq!(
        recorder.get(&format!("{HTTP_429_TOTAL}{{channel=reverb}}")),
        1.0
    );
    assert_eq!(
        recorder.get(&format!("{HTTP_429_TOTAL}{{channel=unknown}}")),
        1.0
    );
}

#[test]
fn a_request_that_waits_for_its_rate_permit_is_counted_with_its_wait() {
    let recorder = Recorded::default();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(async {
                let limiter = RateLimiter::new(
                    Limits::none()
                        .quota(2, Duration::from_secs(10))
                        .guard_permille(0),
                );
                // Two within the quota: no wait.
                for _ in 0..2 {
                    limiter.acquire_for("acct", "tradera").await.unwrap();
                }
                // The third waits until the first leaves the window (10 s on the paused clock).
                limiter.acquire_for("acct", "tradera").await.unwrap();
            });
    });
    assert_eq!(
        recorder.get(&format!("{RATE_LIMIT_WAITS_TOTAL}{{channel=tradera}}")),
        1.0
    );
    let waited = recorder.get(&format!(
        "{RATE_LIMIT_WAIT_SECONDS_TOTAL}{{channel=tradera}}"
    ));
    assert!((9.0..=10.0).contains(&waited), "waited {waited} s");
}
