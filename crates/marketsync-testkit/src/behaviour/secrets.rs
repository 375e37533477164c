//! The `secrets` capability: no secret an adapter is given or receives reaches a `Debug`, a
//! `Display`, an error or the tracing output.
//!
//! The fixture runs its session — successful calls, refusals whose bodies echo the secrets,
//! a credential replacement, each marketplace's own — and hands every text it can print to a
//! [`SecretScan`]; the behaviour captures the traces of the whole session ([`TraceCapture`])
//! and scans them too. [`TraceCapture`] and [`SecretScan`] serve other secret tests as well.

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

use super::AdapterFixture;

/// A fixture that runs a session of the adapter with known secrets.
#[async_trait]
pub trait SecretFixture: AdapterFixture {
    /// Every secret of the session (credentials given, tokens issued, secrets echoed).
    fn secrets(&self) -> Vec<String>;

    /// Runs the session, passing every printable text (`Debug` of builders, configs, channels
    /// and credentials; errors' `Display` and `Debug`; outcomes) to `scan`. Returns the secrets
    /// that only arose during the session (a PKCE verifier, a login's secret key): the traces
    /// are scanned for them too.
    async fn session(&self, scan: &SecretScan) -> Vec<String>;

    /// The spans the session's traces must show (so tracing was captured). Default: the HTTP
    /// client's request span.
    fn spans(&self) -> Vec<&'static str> {
        vec!["marketsync_http.request"]
    }
}

/// Checks texts for secrets.
#[derive(Debug, Clone)]
pub struct SecretScan {
    secrets: Vec<String>,
}

impl SecretScan {
    /// A scan for these secrets.
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Self {
        Self {
            secrets: secrets.into_iter().map(|s| s.as_ref().to_owned()).collect(),
        }
    }

    /// The same scan with more secrets.
    pub fn with<S: AsRef<str>>(&self, more: impl IntoIterator<Item = S>) -> Self {
        let mut scan = self.clone();
        scan.secrets
            .extend(more.into_iter().map(|s| s.as_ref().to_owned()));
        scan
    }

    /// Asserts that `text` (described as `what`) contains none of the secrets.
    ///
    /// # Panics
    /// When it does, naming the secret.
    pub fn check(&self, what: &str, text: &str) {
        for s in &self.secrets {
            assert!(!text.contains(s.as_str()), "{what} leaks {s}: {text}");
        }
    }

    /// Asserts that `value`'s `Debug` and `Display` contain none of the secrets.
    pub fn check_all(&self, what: &str, value: &(impl std::fmt::Debug + std::fmt::Display)) {
        self.check(what, &format!("{value} {value:?}"));
    }
}

/// Captures the tracing output (every level, span events included) of the current thread while
/// its guard lives.
#[derive(Clone, Default)]
pub struct TraceCapture(Arc<Mutex<Vec<u8>>>);

impl std::fmt::Debug for TraceCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceCapture").finish_non_exhaustive()
    }
}

impl TraceCapture {
    /// Starts capturing: a subscriber at `TRACE` with full span events, without colours,
    /// becomes the thread's default until the returned guard is dropped.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = Self::default();
        let guard = tracing::subscriber::set_default(capture.subscriber());
        (capture, guard)
    }

    /// Starts capturing for the whole process (every thread, for good, `log` records
    /// included): for a test binary of its own whose runtime spreads work over threads.
    ///
    /// # Panics
    /// When a global subscriber is set already.
    pub fn start_global() -> Self {
        use tracing_subscriber::util::SubscriberInitExt;
        let capture = Self::default();
        capture
            .subscriber()
            .try_init()
            .expect("the only global subscriber of this test binary");
        capture
    }

    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(FmtSpan::FULL)
            .with_ansi(false)
            .finish()
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for TraceCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for TraceCapture {
    type Writer = TraceCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The fixture's session leaks no secret: every text it prints is clean, and so is the trace
/// of the whole session (with the secrets learned in it), which shows the fixture's spans.
pub async fn no_secret_in_debug_errors_or_traces<F: SecretFixture>(fixture: &F) {
    let (capture, _guard) = TraceCapture::start();
    let scan = SecretScan::new(fixture.secrets());
    let learned = fixture.session(&scan).await;
    let traces = capture.text();
    for span in fixture.spans() {
        assert!(traces.contains(span), "tracing was captured: no {span}");
    }
    scan.with(learned).check("traces", &traces);
}
