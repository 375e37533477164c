//! TLS runs on rustls with the ring provider; nothing here reaches the network.

use std::sync::Arc;

use marketsync_http::HttpClient;
use rustls::crypto::CryptoProvider;

#[test]
fn an_https_client_builds_on_ring() {
    // Building the HTTP client installs ring as the process-wide provider (none was installed).
    let client = HttpClient::builder("https://api.reverb.com/api/")
        .build()
        .unwrap();
    assert_eq!(client.base_url().scheme(), "https");
    let provider = CryptoProvider::get_default().expect("a provider is installed");
    let ring = rustls::crypto::ring::default_provider();
    assert_eq!(provider.cipher_suites.len(), ring.cipher_suites.len());
    assert!(
        provider
            .cipher_suites
            .iter()
            .zip(&ring.cipher_suites)
            .all(|(a, b)| a.suite() == b.suite())
    );

    // A TLS client configuration builds on it, with the platform's or webpki's defaults.
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()
        .expect("TLS 1.2 and 1.3 are supported");
    let _ = config;

    // A plain reqwest client (tests, benchmarks) builds too, and may require HTTPS.
    marketsync_http::client_builder()
        .https_only(true)
        .build()
        .expect("a reqwest client with TLS");
    // Installing again is a no-op.
    marketsync_http::tls::install_default_provider();
}
