//! Base-URL joining and link resolution.

use marketsync_core::ErrorKind;
use marketsync_http::HttpClient;

fn client(base: &str) -> HttpClient {
    HttpClient::builder(base).build().unwrap()
}

#[test]
fn keeps_the_path_prefix() {
    for base in [
        "https://api.channeladvisor.com/v1/",
        "https://api.channeladvisor.com/v1",
    ] {
        let c = client(base);
        assert_eq!(c.base_url().as_str(), "https://api.channeladvisor.com/v1/");
        assert_eq!(
            c.endpoint("Orders").unwrap().as_str(),
            "https://api.channeladvisor.com/v1/Orders"
        );
        // A leading slash still means "under the base", not "at the host root".
        assert_eq!(
            c.endpoint("/Orders").unwrap().as_str(),
            "https://api.channeladvisor.com/v1/Orders"
        );
        assert_eq!(
            c.endpoint("Orders(123)/Ship").unwrap().as_str(),
            "https://api.channeladvisor.com/v1/Orders(123)/Ship"
        );
        assert_eq!(
            c.endpoint("Orders?exported=false").unwrap().as_str(),
            "https://api.channeladvisor.com/v1/Orders?exported=false"
        );
    }
    let reverb = client("https://api.reverb.com/api");
    assert_eq!(
        reverb.endpoint("my/listings").unwrap().as_str(),
        "https://api.reverb.com/api/my/listings"
    );
    let tradera = client("https://api.tradera.com/v4/");
    assert_eq!(
        tradera
            .endpoint("listings/shop-items/quantities")
            .unwrap()
            .as_str(),
        "https://api.tradera.com/v4/listings/shop-items/quantities"
    );
    // A colon in the first segment is a path, not a URL scheme.
    assert_eq!(
        client("https://api.channeladvisor.com/v1/")
            .endpoint("urn:x")
            .unwrap()
            .as_str(),
        "https://api.channeladvisor.com/v1/urn:x"
    );
}

#[test]
fn base_query_and_fragment_are_dropped() {
    let c = client("https://api.example.com/v1?x=1#frag");
    assert_eq!(c.base_url().as_str(), "https://api.example.com/v1/");
}

#[test]
fn paths_cannot_leave_the_base() {
    let c = client("https://api.channeladvisor.com/v1/");
    for path in ["../admin", "a/../../x", "https://evil.example/v1/Orders"] {
        let e = c.endpoint(path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid, "{path}");
    }
    // Leading slashes are stripped, so this stays under the base.
    assert_eq!(
        c.endpoint("//evil.example/x").unwrap().as_str(),
        "https://api.channeladvisor.com/v1/evil.example/x"
    );
}

#[test]
fn resolves_links_against_the_base() {
    let c = client("https://api.reverb.com/api/");
    // Absolute on the same host: as is.
    assert_eq!(
        c.resolve_href("https://api.reverb.com/api/my/listings?page=2&per_page=50")
            .unwrap()
            .as_str(),
        "https://api.reverb.com/api/my/listings?page=2&per_page=50"
    );
    // Host-relative: the base's host.
    assert_eq!(
        c.resolve_href("/api/my/orders/selling/all?page=3")
            .unwrap()
            .as_str(),
        "https://api.reverb.com/api/my/orders/selling/all?page=3"
    );
    // Relative: against the base path.
    assert_eq!(
        c.resolve_href("my/listings?page=2").unwrap().as_str(),
        "https://api.reverb.com/api/my/listings?page=2"
    );
    // OData nextLink with $skip.
    let ca = client("https://api.channeladvisor.com/v1/");
    assert_eq!(
        ca.resolve_href("https://api.channeladvisor.com/v1/Orders?exported=false&$skip=20")
            .unwrap()
            .as_str(),
        "https://api.channeladvisor.com/v1/Orders?exported=false&$skip=20"
    );
}

#[test]
fn links_to_other_hosts_are_refused() {
    let c = client("https://api.reverb.com/api/");
    for href in [
        "https://evil.example/api/my/listings?page=2",
        "http://api.reverb.com/api/my/listings",
        "https://api.reverb.com:8443/api/my/listings",
        "//evil.example/x",
    ] {
        let e = c.resolve_href(href).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid, "{href}");
    }
}

#[test]
fn bad_base_urls_are_refused() {
    for base in [
        "not a url",
        "ftp://api.example.com/",
        "https://user:pw@api.example.com/",
        "mailto:someone@example.com",
    ] {
        let e = HttpClient::builder(base).build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid, "{base}");
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
}
