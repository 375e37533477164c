//! Printing URLs without their secrets.
//!
//! A URL can carry a secret: Tradera's login URL has the secret key (`skey`), a redirect carries
//! an authorization `code`, some APIs take an `access_token` or `api_key` in the query, and a URL
//! may hold a password (`https://user:password@host/`). Every `Debug` of a type that holds a URL
//! prints it through [`RedactedUrl`] (or [`redact_url`]), which keeps what a person needs to
//! recognise it — scheme, host, port, path and the names of the query parameters — and replaces
//! the value of every secret parameter, the password and the fragment with `[REDACTED]`.
//!
//! ```
//! use marketsync_core::redact::RedactedUrl;
//! let url = url::Url::parse("https://www.tradera.com/login?appId=1&skey=3f1c-secret").unwrap();
//! assert_eq!(
//!     format!("{:?}", RedactedUrl(&url)),
//!     "https://www.tradera.com/login?appId=1&skey=[REDACTED]"
//! );
//! ```

use std::fmt;

use url::Url;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Query parameter names whose values are secrets, compared without case (besides these, every
/// name containing `token`, `secret`, `password`, `key` or `signature` counts as secret):
/// authorization codes and their verifiers, session ids, Tradera's `skey`. The OAuth `state` is
/// not one: it travels through the seller's browser by design, and [`PendingAuthorization`]
/// prints it to correlate a callback with its flow.
///
/// [`PendingAuthorization`]: crate::PendingAuthorization
pub const SECRET_QUERY_PARAMS: &[&str] = &[
    "code",
    "device_code",
    "code_verifier",
    "skey",
    "sig",
    "auth",
    "authorization",
    "session",
    "sessionid",
    "sid",
    "ticket",
    "assertion",
    "otp",
    "pwd",
    "pass",
    "credential",
    "credentials",
];

/// Parts of a parameter name that make its value secret.
const SECRET_NAME_PARTS: &[&str] = &["token", "secret", "password", "key", "signature"];

/// Whether a query parameter with this name carries a secret (see [`SECRET_QUERY_PARAMS`]).
pub fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_QUERY_PARAMS.contains(&name.as_str())
        || SECRET_NAME_PARTS.iter().any(|part| name.contains(part))
}

/// A URL that prints (`Debug` and `Display`) with its secrets replaced by `[REDACTED]`: the
/// password, the value of every secret query parameter ([`is_secret_param`]) and the fragment.
/// Scheme, host, port, path and parameter names stay readable.
#[derive(Clone, Copy)]
pub struct RedactedUrl<'a>(pub &'a Url);

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        let mut base = url.clone();
        base.set_query(None);
        base.set_fragment(None);
        if url.password().is_some() {
            // Only fails for URLs that cannot have a password, which this one had.
            let _ = base.set_password(Some("REDACTED"));
        }
        f.write_str(base.as_str())?;
        if let Some(query) = url.query() {
            f.write_str("?")?;
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    f.write_str("&")?;
                }
                let raw_name = pair.split('=').next().unwrap_or_default();
                let Some((name, value)) = url::form_urlencoded::parse(pair.as_bytes()).next()
                else {
                    f.write_str(pair)?;
                    continue;
                };
                if is_secret_param(&name) {
                    write!(f, "{raw_name}={REDACTED}")?;
                    continue;
                }
                // A URL in a parameter (a `redirect_uri`) is redacted the same way.
                let nested = Url::parse(&value)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .map(|u| redact_url(&u))
                    .filter(|r| *r != value);
                match nested {
                    Some(r) => {
                        let encoded: String =
                            url::form_urlencoded::byte_serialize(r.as_bytes()).collect();
                        write!(f, "{raw_name}={encoded}")?;
                    }
                    None => f.write_str(pair)?,
                }
            }
        }
        if url.fragment().is_some_and(|s| !s.is_empty()) {
            // A fragment can carry tokens (the implicit flow's `#access_token=`).
            write!(f, "#{REDACTED}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The URL as text, with its secrets replaced (see [`RedactedUrl`]).
pub fn redact_url(url: &Url) -> String {
    RedactedUrl(url).to_string()
}

/// A URL given as text (a builder's base URL before it is parsed, a device-flow verification
/// URI), with its secrets replaced. Text that does not parse as a URL is cut at the first `?`,
/// `#` or `@`, whichever comes first, so nothing after it is printed.
pub fn redact_url_str(text: &str) -> String {
    match Url::parse(text) {
        Ok(url) => redact_url(&url),
        Err(_) => match text.find(['?', '#', '@']) {
            Some(at) => format!("{}{REDACTED}", &text[..at]),
            None => text.to_owned(),
        },
    }
}

/// `Debug` of an optional URL through [`RedactedUrl`].
pub fn redact_opt_url(url: Option<&Url>) -> Option<RedactedUrl<'_>> {
    url.map(RedactedUrl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        redact_url(&Url::parse(s).unwrap())
    }

    #[test]
    fn secret_parameters_are_replaced_and_the_rest_stays() {
        assert_eq!(
            r("https://www.tradera.com/login?appId=1234&pkey=pub&skey=3f1c-9a"),
            "https://www.tradera.com/login?appId=1234&pkey=[REDACTED]&skey=[REDACTED]"
        );
        assert_eq!(
            r("https://shop.example/cb?code=abc&state=xyz&lang=pl"),
            "https://shop.example/cb?code=[REDACTED]&state=xyz&lang=pl"
        );
        assert_eq!(
            r("https://api.example/v1/x?Access_Token=t&refresh_token=r&client_secret=s&api_key=k"),
            "https://api.example/v1/x?Access_Token=[REDACTED]&refresh_token=[REDACTED]&client_secret=[REDACTED]&api_key=[REDACTED]"
        );
        // A URL inside a parameter is redacted too.
        let nested = r(
            "https://login.example/auth?redirect_uri=https%3A%2F%2Fshop.example%2Fcb%3Ftoken%3Dt1&x=1",
        );
        assert!(!nested.contains("t1"), "{nested}");
        assert!(nested.contains("shop.example"), "{nested}");
        assert!(nested.ends_with("&x=1"), "{nested}");
        // An encoded name is still recognised; a plain one stays as sent.
        assert_eq!(
            r("https://a.example/?%73key=v&q=a%20b"),
            "https://a.example/?%73key=[REDACTED]&q=a%20b"
        );
    }

    #[test]
    fn password_and_fragment_are_replaced() {
        assert_eq!(
            r("https://bob:hunter2@api.example:8443/p#access_token=t"),
            "https://bob:REDACTED@api.example:8443/p#[REDACTED]"
        );
        assert_eq!(r("https://api.example/p"), "https://api.example/p");
    }

    #[test]
    fn text_that_is_not_a_url_is_cut() {
        assert_eq!(redact_url_str("not a url?token=x"), "not a url[REDACTED]");
        assert_eq!(redact_url_str("not a url"), "not a url");
        assert_eq!(
            redact_url_str("https://a.example/?token=x"),
            "https://a.example/?token=[REDACTED]"
        );
    }
}
