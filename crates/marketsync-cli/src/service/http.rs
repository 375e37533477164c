//! The service's HTTP endpoint: `GET /healthz` and `GET /metrics`.
//!
//! `/healthz` answers 200 with
//! `{"status":"ok","store":"ok","scheduler":"alive","last_pass_at":"…","passes":N,"runs_in_flight":N}`
//! when the store answers a cheap query and the scheduler finished a pass within three times
//! its interval, and 503 with `"status":"failing"` and the failing part otherwise: `"store":
//! "unreachable"` (with `"store_error"`: the store's message), `"scheduler": "stalled"` (no pass
//! for three intervals) or `"scheduler": "stopping"` (the service is draining after SIGTERM or
//! SIGINT).
//!
//! `/metrics` is the Prometheus text of every metric the process recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use chrono::{DateTime, TimeDelta, Utc};
use marketsync::notify::PageRequest;
use marketsync::{Clock, Scheduler, Store};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

use super::metrics;

/// The longest the store may take to answer the health check's query.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// What the endpoint reads.
#[derive(Clone)]
pub struct Endpoint {
    /// The store checked by `/healthz`.
    pub store: Arc<dyn Store>,
    /// The scheduler whose passes `/healthz` checks.
    pub scheduler: Scheduler,
    /// The engine's clock (the scheduler stamps its passes with it).
    pub clock: Arc<dyn Clock>,
    /// The scheduler's interval: a pass is expected at least every three of them.
    pub interval: Duration,
    /// When the service started (the scheduler is alive until three intervals after it, before
    /// its first pass finished).
    pub started_at: DateTime<Utc>,
    /// Set once the service is stopping.
    pub stopping: Arc<AtomicBool>,
    /// The Prometheus recorder's handle.
    pub metrics: PrometheusHandle,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("scheduler", &self.scheduler.worker())
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// The `/healthz` document.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` or `failing`.
    pub status: &'static str,
    /// `ok` or `unreachable`.
    pub store: &'static str,
    /// The store's error when it is unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
    /// `alive`, `stalled` or `stopping`.
    pub scheduler: &'static str,
    /// When the scheduler's last pass finished; `null` before the first.
    pub last_pass_at: Option<DateTime<Utc>>,
    /// Passes made.
    pub passes: u64,
    /// Scheduled runs going now.
    pub runs_in_flight: usize,
}

/// The routes.
pub fn router(endpoint: Endpoint) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .with_state(endpoint)
}

impl Endpoint {
    /// Checks the store and the scheduler.
    pub async fn health(&self) -> Health {
        let store = tokio::time::timeout(
            STORE_CHECK_TIMEOUT,
            self.store.integrations_page(&PageRequest::first(1)),
        )
        .await;
        let store_error = match store {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!(
                "no answer within {} s",
                STORE_CHECK_TIMEOUT.as_secs()
            )),
        };
        let last_pass_at = self.scheduler.last_pass_at();
        let since = last_pass_at.unwrap_or(self.started_at);
        let budget = TimeDelta::from_std(self.interval * 3).unwrap_or(TimeDelta::MAX);
        let scheduler = if self.stopping.load(Ordering::SeqCst) {
            "stopping"
        } else if self.clock.now() - since <= budget {
            "alive"
        } else {
            "stalled"
        };
        let ok = store_error.is_none() && scheduler == "alive";
        Health {
            status: if ok { "ok" } else { "failing" },
            store: if store_error.is_none() {
                "ok"
            } else {
                "unreachable"
            },
            store_error,
            scheduler,
            last_pass_at,
            passes: self.scheduler.passes(),
            runs_in_flight: self.scheduler.runs_in_flight(),
        }
    }
}

async fn healthz(State(endpoint): State<Endpoint>) -> Response {
    let health = endpoint.health().await;
    let status = if health.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}

async fn render_metrics(State(endpoint): State<Endpoint>) -> Response {
    metrics::record_scheduler(
        endpoint.scheduler.passes(),
        endpoint.scheduler.runs_in_flight(),
    );
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        endpoint.metrics.render(),
    )
        .into_response()
}
