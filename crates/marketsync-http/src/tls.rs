//! TLS: rustls on the `ring` crypto provider.
//!
//! reqwest is built with `rustls-no-provider`, so a clean build compiles no C (aws-lc-sys and
//! its cmake step are gone). rustls then needs a process-wide crypto provider before the first
//! client is built: [`install_default_provider`] installs `ring` unless the host has already
//! installed one (for example aws-lc-rs for FIPS), in which case the host's choice is used.
//! Every [`HttpClient`](crate::HttpClient) calls it; code that builds its own reqwest client
//! (tests, benchmarks, tools) starts from [`client_builder`].

use rustls::crypto::CryptoProvider;

/// Installs `ring` as rustls's process-wide crypto provider unless one is installed already.
/// Idempotent and cheap; safe to call from several threads at once.
pub fn install_default_provider() {
    if CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: some provider is then installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// `reqwest::Client::builder()` with a crypto provider installed: the way to build a plain
/// reqwest client (tests, benchmarks) in a process that uses marketsync's TLS settings.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_default_provider();
    reqwest::Client::builder()
}
