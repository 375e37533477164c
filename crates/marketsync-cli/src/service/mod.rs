//! `marketsync run`: the scheduler as a long-running service.
//!
//! It runs the engine's [`Scheduler`] over the config's store, with the config's `[scheduler]`
//! limits and a worker id made of the host name and a random suffix, so any number of
//! `marketsync run` processes on one PostgreSQL store share the work (on SQLite: one machine).
//! Adapters are made on demand ([`factory::AdapterFactory`]) and dropped when the scheduler
//! gives an integration back.
//!
//! Every finished run is logged with its integration, channel and operation and counted in the
//! metrics; a failing integration is logged and never stops the others. SIGTERM or SIGINT
//! stops claiming new work, waits for the runs in flight up to `scheduler.drain_timeout_secs`,
//! stops those still going (their starts are recorded in the store, so the next worker to claim
//! the integration, this one restarted or another, runs them again), and exits 0 after printing
//! what it did (`--json`: `{"worker","passes","in_flight","drained","abandoned","renewal_unfinished"}`).
//!
//! The HTTP endpoint on `service.listen` (or `--listen`) serves `/healthz` and `/metrics`
//! ([`http`]); the metrics are listed in [`metrics`].

pub mod factory;
mod http;
mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use marketsync::engine::{Report, RunOutput, RunRecord, RunSummary};
use marketsync::store::WorkerId;
use marketsync::{Scheduler, Store};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

use crate::args::RunArgs;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// How many finished runs may wait for the log and the metrics before the scheduler waits.
const REPORT_BUFFER: usize = 256;

/// How long the service waits, after the scheduler stopped, for the last reports to be logged
/// and for the HTTP endpoint to close its connections.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What `marketsync run` prints when it stops.
#[derive(Debug, Serialize)]
struct Stopped {
    /// The worker id the scheduler held its leases as.
    worker: String,
    /// Scheduler passes made.
    passes: u64,
    /// Runs in flight when the signal came.
    in_flight: usize,
    /// Of those, the runs that finished within the drain timeout.
    drained: usize,
    /// Of those, the runs stopped at the drain timeout (run again by the next worker).
    abandoned: usize,
    /// Whether a credential renewal was still under way at the drain timeout.
    renewal_unfinished: bool,
}

/// Runs `marketsync run` until SIGTERM or SIGINT.
pub async fn run(ctx: &Context, args: RunArgs, out: Output) -> Result<(), CliError> {
    let config = ctx.config.clone();
    let listen = listen_address(&args, ctx)?;
    // From here on SIGTERM and SIGINT stop the service gracefully instead of killing it.
    let mut signals = Signals::new()?;
    let prometheus = metrics::install()?;
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        CliError::Config(format!(
            "cannot listen on {listen} (`service.listen`, `MARKETSYNC_LISTEN` or `--listen`): {e}; choose a free address"
        ))
    })?;
    let local = listener.local_addr()?;

    let limits = &config.scheduler;
    let scheduler = Scheduler::new(ctx.engine.clone(), limits.max_concurrent)
        .with_worker(WorkerId::new(&host_name()))
        .with_lease(limits.lease)
        .with_claim_batch(limits.claim_batch)
        .with_drain_timeout(limits.drain_timeout);
    let clock = ctx.engine.clock().clone();
    let stopping = Arc::new(AtomicBool::new(false));
    tracing::info!(
        worker = %scheduler.worker(),
        listen = %local,
        store = %config.store.url,
        interval_secs = limits.interval.as_secs(),
        max_concurrent = limits.max_concurrent,
        drain_timeout_secs = limits.drain_timeout.as_secs(),
        "marketsync service started: /healthz and /metrics on http://{local}"
    );

    // The HTTP endpoint, until the scheduler has stopped.
    let endpoint = http::Endpoint {
        store: ctx.store.clone(),
        scheduler: scheduler.clone(),
        clock: clock.clone(),
        interval: limits.interval,
        started_at: clock.now(),
        stopping: stopping.clone(),
        metrics: prometheus.clone(),
    };
    let (close_http, http_closed) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, http::router(endpoint))
            .with_graceful_shutdown(async move {
                let _ = http_closed.await;
            })
            .await
    });

    // The reports: logged and counted, one integration's failure never stops the others.
    let (reports, received) = mpsc::channel(REPORT_BUFFER);
    let consumer = tokio::spawn(consume(received, ctx.store.clone()));
    let gauges = tokio::spawn(refresh_gauges(
        ctx.store.clone(),
        scheduler.clone(),
        prometheus,
        limits.interval,
    ));

    let drain_timeout = limits.drain_timeout;
    let shutdown = {
        let stopping = stopping.clone();
        async move {
            let name = signals.recv().await;
            stopping.store(true, Ordering::SeqCst);
            tracing::info!(
                signal = name,
                drain_timeout_secs = drain_timeout.as_secs(),
                "stopping: no new work is claimed; waiting for the runs in flight"
            );
        }
    };
    let summary = scheduler.run(limits.interval, shutdown, reports).await;

    gauges.abort();
    if tokio::time::timeout(CLOSE_TIMEOUT, consumer).await.is_err() {
        tracing::warn!("the last run reports were not all logged");
    }
    let _ = close_http.send(());
    match tokio::time::timeout(CLOSE_TIMEOUT, server).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the HTTP endpoint failed"),
        Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP endpoint stopped abnormally"),
        Ok(Ok(Ok(()))) | Err(_) => {}
    }
    log_summary(&summary);
    let stopped = Stopped {
        worker: scheduler.worker().to_string(),
        passes: summary.passes,
        in_flight: summary.in_flight,
        drained: summary.drained,
        abandoned: summary.abandoned,
        renewal_unfinished: summary.renewal_unfinished,
    };
    out.print(&stopped, |s| {
        format!(
            "stopped after {} passes: {} runs were in flight, {} finished, {} stopped at the drain timeout (run again at the next start)\n",
            s.passes, s.in_flight, s.drained, s.abandoned
        )
    })
}

/// `--listen`, else the config's `service.listen`.
fn listen_address(args: &RunArgs, ctx: &Context) -> Result<SocketAddr, CliError> {
    match &args.listen {
        Some(text) => text.parse().map_err(|e| {
            CliError::Usage(format!(
                "--listen: `{text}` is not an address like 127.0.0.1:9464: {e}"
            ))
        }),
        None => Ok(ctx.config.service.listen),
    }
}

/// The host's name (the worker id's prefix), `marketsync` when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "marketsync".to_owned())
}

/// SIGTERM and SIGINT.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn new() -> Result<Self, CliError> {
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| CliError::Other(format!("cannot listen for {name}: {e}")))
        };
        Ok(Self {
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    /// Waits for the first of them; returns its name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// Logs and counts every report until the scheduler drops its sender.
async fn consume(mut received: mpsc::Receiver<Report>, store: Arc<dyn Store>) {
    while let Some(report) = received.recv().await {
        match report {
            Report::Run(run) => {
                metrics::record_run(&run);
                log_run(&run);
            }
            Report::Failed(failure) => {
                // The channel, for the log and the metrics, when the record can be read.
                let channel = match store.integration(failure.integration).await {
                    Ok(Some(rec)) => Some(rec.channel.as_str()),
                    _ => None,
                };
                metrics::record_failure(channel);
                tracing::warn!(
                    integration = %failure.integration,
                    channel = channel.unwrap_or("unknown"),
                    error = %failure.error,
                    "a claimed integration could not be prepared; the other integrations go on"
                );
            }
        }
    }
}

fn log_run(run: &RunRecord) {
    let duration_ms = run.duration.as_millis() as u64;
    match &run.result {
        Ok(output) => tracing::info!(
            integration = %run.integration,
            channel = run.channel.as_str(),
            operation = run.operation.as_str(),
            duration_ms,
            outcome = "ok",
            summary = %summary(output),
            "scheduled run finished"
        ),
        Err(e) => tracing::warn!(
            integration = %run.integration,
            channel = run.channel.as_str(),
            operation = run.operation.as_str(),
            duration_ms,
            outcome = "failed",
            error = %e,
            "scheduled run failed; the other integrations go on"
        ),
    }
}

/// A few counts of a run's report, for its log line.
fn summary(output: &RunOutput) -> String {
    match output {
        RunOutput::Import(r) => format!(
            "imported={} released={} already_imported={} held={}",
            r.imported.len(),
            r.released.len(),
            r.already_imported.len(),
            r.not_imported.len()
        ),
        RunOutput::Outbox(r) => format!("sent={} failed={}", r.sent.len(), r.failed.len()),
        RunOutput::Credentials(Some(expiry)) => format!("expires_at={expiry}"),
        RunOutput::Credentials(None) => "credentials_ok".to_owned(),
        RunOutput::Propagation(_) => "stock_propagated".to_owned(),
        RunOutput::Sync(_) => "listings_synced".to_owned(),
        RunOutput::Reconcile(_) => "reconciled".to_owned(),
    }
}

fn log_summary(summary: &RunSummary) {
    if summary.abandoned > 0 {
        tracing::warn!(
            abandoned = summary.abandoned,
            "runs were stopped at the drain timeout; their starts are recorded, so the next worker to claim their integrations runs them again"
        );
    }
    if summary.renewal_unfinished {
        tracing::warn!(
            "a credential renewal was still under way at the drain timeout; if the integration reports refused credentials after the restart, verify it with `marketsync integrations verify`"
        );
    }
    tracing::info!(
        passes = summary.passes,
        in_flight = summary.in_flight,
        drained = summary.drained,
        abandoned = summary.abandoned,
        "marketsync service stopped"
    );
}

/// Sets the scheduler gauges every interval and, after each new pass, the gauges read from the
/// store; runs the recorder's upkeep.
async fn refresh_gauges(
    store: Arc<dyn Store>,
    scheduler: Scheduler,
    prometheus: PrometheusHandle,
    interval: Duration,
) {
    let mut gauges = metrics::StoreGauges::default();
    let mut refreshed_at: Option<u64> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let passes = scheduler.passes();
        metrics::record_scheduler(passes, scheduler.runs_in_flight());
        prometheus.run_upkeep();
        if refreshed_at == Some(passes) {
            continue;
        }
        refreshed_at = Some(passes);
        if let Err(e) = gauges.refresh(store.as_ref()).await {
            tracing::warn!(error = %e, "reading the gauges from the store failed; they keep their last values");
        }
    }
}
