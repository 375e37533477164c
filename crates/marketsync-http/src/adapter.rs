//! Small helpers the adapter crates share, so that each adapter writes only what is its
//! marketplace's own: tagging an error with the channel and the operation, the `Unsupported`
//! error of an operation, reading a whole JSON body, the HTTP status of a decoding error, a
//! config's base URL and [`ConfigError`], order cursors as times (their text and where the next
//! updated-since download starts), and config durations in seconds.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use marketsync_core::{ChannelError, ChannelKind, Cursor, ErrorKind, Operation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serializer};
use url::Url;

/// Tags an error with the channel and the operation, unless it names them already (the
/// context an adapter adds to every error it returns).
pub fn tag(e: ChannelError, channel: ChannelKind, operation: &'static str) -> ChannelError {
    let e = if e.channel().is_none() {
        e.with_channel(channel)
    } else {
        e
    };
    if e.operation().is_none() {
        e.with_operation(operation)
    } else {
        e
    }
}

/// The `Unsupported` error of an operation the channel cannot serve (what an adapter's
/// `Channel::unsupported` answers): the marketplace's `rule` when the adapter has one for this
/// operation, else "`<channel>` does not support `<operation>`"; tagged with the channel and the
/// operation.
pub fn unsupported(
    channel: ChannelKind,
    operation: Operation,
    rule: Option<&'static str>,
) -> ChannelError {
    let e = match rule {
        Some(rule) => ChannelError::unsupported(rule),
        None => ChannelError::unsupported(format!("{channel} does not support {operation}")),
    };
    tag(e, channel, operation.as_str())
}

/// An error with the HTTP status of the response it concerns, unless it carries one already
/// (a body read after the request succeeded, as the HTTP client's own JSON decoding reports it).
pub fn with_status(e: ChannelError, status: u16) -> ChannelError {
    if e.http_status().is_none() {
        e.with_http_status(status)
    } else {
        e
    }
}

/// A whole response body as JSON of the expected shape; anything else is a `Channel` error for
/// the whole call, tagged with `channel` and `operation` (the message the HTTP client gives).
pub fn json_body<T: DeserializeOwned>(
    body: &[u8],
    channel: ChannelKind,
    operation: &'static str,
) -> Result<T, ChannelError> {
    serde_json::from_slice(body).map_err(|e| {
        tag(
            ChannelError::new(
                ErrorKind::Channel,
                format!("the channel's response could not be read: {e}"),
            ),
            channel,
            operation,
        )
    })
}

/// What is missing or wrong in an adapter's configuration; each names the field (as spelled in
/// a config file).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required value was not given.
    Missing {
        /// The channel configured.
        channel: ChannelKind,
        /// The field.
        field: &'static str,
    },
    /// A value is not usable.
    Invalid {
        /// The channel configured.
        channel: ChannelKind,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl ConfigError {
    /// `field` of `channel`'s configuration is required.
    pub fn missing(channel: ChannelKind, field: &'static str) -> Self {
        Self::Missing { channel, field }
    }

    /// `field` of `channel`'s configuration is not usable, and why.
    pub fn invalid(channel: ChannelKind, field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            channel,
            field,
            reason: reason.into(),
        }
    }

    /// The field that is missing or wrong.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Missing { field, .. } | Self::Invalid { field, .. } => field,
        }
    }

    /// The channel configured.
    pub fn channel(&self) -> ChannelKind {
        match self {
            Self::Missing { channel, .. } | Self::Invalid { channel, .. } => *channel,
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { channel, field } => {
                write!(f, "the {channel} configuration needs `{field}`")
            }
            Self::Invalid {
                channel,
                field,
                reason,
            } => write!(f, "invalid {channel} configuration: `{field}` {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for ChannelError {
    /// An `Invalid` error naming the channel and the field.
    fn from(e: ConfigError) -> Self {
        ChannelError::invalid(e.to_string())
            .with_field(e.field())
            .with_channel(e.channel())
    }
}

/// A config's API host: an `http` or `https` URL that can be a base, ending in `/` (added when
/// missing) so that relative paths are joined below it. The error says what is wrong.
pub fn base_url(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err("it must be an http or https URL".into());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Deserializes a config's base URL as [`base_url`] reads it (for
/// `#[serde(deserialize_with = ..)]`); the error names the field.
pub fn deserialize_base_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    let text = String::deserialize(d)?;
    base_url(&text).map_err(|e| serde::de::Error::custom(format!("base_url `{text}`: {e}")))
}

/// The text of an order cursor time: RFC 3339 in UTC, with as many fraction digits as needed.
pub fn cursor_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Where an updated-since order download starts: the stored cursor (read with `parse`) minus
/// `overlap` (the engine drops orders it has seen, so reading more is harmless). A cursor that
/// is not a time is logged and ignored (`None`).
pub fn updated_since(
    cursor: &Cursor,
    overlap: Duration,
    parse: impl Fn(&str) -> Option<DateTime<Utc>>,
    channel: ChannelKind,
) -> Option<DateTime<Utc>> {
    match parse(&cursor.0) {
        Some(at) => Some(at - TimeDelta::from_std(overlap).unwrap_or(TimeDelta::zero())),
        None => {
            tracing::warn!(
                cursor = %cursor.0,
                channel = %channel,
                "the stored order cursor is not a time; downloading without it"
            );
            None
        }
    }
}

/// A config duration as whole seconds (for `#[serde(with = "marketsync_http::adapter::seconds")]`).
pub mod seconds {
    use super::*;

    /// Writes the duration as whole seconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    /// Reads whole seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// An optional config duration as whole seconds (`null` or absent for none).
pub mod opt_seconds {
    use super::*;

    /// Writes the duration as whole seconds, or `null`.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    /// Reads whole seconds, or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|s| s.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_end_in_a_slash_and_are_http() {
        assert_eq!(
            base_url("https://x.test").unwrap().as_str(),
            "https://x.test/"
        );
        assert_eq!(
            base_url("http://x.test/api").unwrap().as_str(),
            "http://x.test/api/"
        );
        assert!(base_url("ftp://x.test").is_err());
        assert!(base_url("mailto:a@b").is_err());
        assert!(base_url("nope").is_err());
    }

    #[test]
    fn config_errors_name_their_field() {
        let e = ConfigError::invalid(ChannelKind::Reverb, "page_size", "must be at least 1");
        assert_eq!(
            e.to_string(),
            "invalid Reverb configuration: `page_size` must be at least 1"
        );
        let e = ChannelError::from(ConfigError::missing(ChannelKind::Tradera, "app_key"));
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(e.field(), Some("app_key"));
        assert_eq!(e.channel(), Some(ChannelKind::Tradera));
    }

    #[test]
    fn errors_are_tagged_once() {
        let e = tag(
            ChannelError::invalid("x"),
            ChannelKind::Reverb,
            "update_listings",
        );
        assert_eq!(e.channel(), Some(ChannelKind::Reverb));
        assert_eq!(e.operation(), Some("update_listings"));
        let e = tag(e, ChannelKind::Tradera, "ship");
        assert_eq!(e.channel(), Some(ChannelKind::Reverb));
        assert_eq!(e.operation(), Some("update_listings"));
        assert_eq!(
            with_status(with_status(e, 404), 500).http_status(),
            Some(404)
        );
        let e = unsupported(
            ChannelKind::Tradera,
            Operation::Refund,
            Some("no refund call"),
        );
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert_eq!(
            (e.message(), e.operation()),
            ("no refund call", Some("refund"))
        );
        let e = unsupported(ChannelKind::Reverb, Operation::Ship, None);
        assert_eq!(e.message(), "Reverb does not support ship");
    }

    #[test]
    fn a_body_of_the_wrong_shape_is_a_channel_error() {
        let e = json_body::<Vec<u32>>(b"{}", ChannelKind::Tradera, "fetch_orders").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Channel);
        assert_eq!(e.operation(), Some("fetch_orders"));
        assert_eq!(
            json_body::<Vec<u32>>(b"[1]", ChannelKind::Tradera, "x").unwrap(),
            vec![1]
        );
    }

    #[test]
    fn updated_since_subtracts_the_overlap() {
        let parse = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let at = updated_since(
            &Cursor("2026-03-04T10:00:00Z".into()),
            Duration::from_secs(300),
            parse,
            ChannelKind::Reverb,
        )
        .unwrap();
        assert_eq!(cursor_text(at), "2026-03-04T09:55:00Z");
        assert_eq!(
            updated_since(
                &Cursor("x".into()),
                Duration::ZERO,
                parse,
                ChannelKind::Reverb
            ),
            None
        );
    }
}
