//! Retry: the policy (attempts, backoff, caps) and `Retry-After` parsing.
//!
//! The retry loop itself lives in [`RequestBuilder::send`](crate::RequestBuilder::send) and runs
//! on [`backon`]: exponential backoff with jitter, replaced by the channel's `Retry-After` when
//! it sent one. Only temporary errors ([`ChannelError::is_temporary`]) are retried, and only for
//! idempotent requests or requests carrying an idempotency key.

use std::time::Duration;

use backon::ExponentialBuilder;
use chrono::{DateTime, Utc};
use marketsync_core::{ChannelError, ErrorKind};
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How a client retries temporary failures.
///
/// Every attempt takes a rate-limit permit first, so retries never push the request rate above
/// the limiter.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Most attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The first backoff delay.
    pub min_delay: Duration,
    /// The longest backoff delay.
    pub max_delay: Duration,
    /// The growth factor of the backoff.
    pub factor: f32,
    /// Add random jitter (up to the delay itself) to each backoff delay. A `Retry-After` from the
    /// channel is used exactly, without jitter.
    pub jitter: bool,
    /// No retry starts when the time since the first attempt plus the next delay would exceed
    /// this.
    pub max_elapsed: Duration,
    /// The longest `Retry-After` (or limiter wait) that is slept. A longer one ends the retries;
    /// the returned error carries it in [`ChannelError::retry_after`] so the caller can schedule
    /// the next try.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, backoff 500 ms doubling up to 30 s with jitter, at most 2 minutes in all,
    /// `Retry-After` slept up to 60 s.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            factor: 2.0,
            jitter: true,
            max_elapsed: Duration::from_secs(120),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The timing rule of a retry decision: how long to wait before the next attempt, or `None`
    /// to give up.
    ///
    /// `retry_after` is what the channel asked for (it replaces the `backoff` delay and must not
    /// exceed [`max_retry_after`](Self::max_retry_after)); `elapsed` is the time since the first
    /// attempt (with the delay it must stay within [`max_elapsed`](Self::max_elapsed)).
    pub fn delay_after(
        &self,
        retry_after: Option<Duration>,
        backoff: Duration,
        elapsed: Duration,
    ) -> Option<Duration> {
        let delay = match retry_after {
            Some(wait) if wait > self.max_retry_after => return None,
            Some(wait) => wait,
            None => backoff,
        };
        if elapsed.saturating_add(delay) > self.max_elapsed {
            return None;
        }
        Some(delay)
    }

    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(self.factor)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        if self.jitter {
            builder.with_jitter()
        } else {
            builder
        }
    }
}

/// What the retry hook is told before each retry (for metrics and logs).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryNotice {
    /// The attempt that failed (1 = the first).
    pub attempt: u32,
    /// How long the client now waits before the next attempt.
    pub delay: Duration,
    /// The kind of the failure.
    pub kind: ErrorKind,
    /// The HTTP status of the failure, when there was a response.
    pub http_status: Option<u16>,
    /// The `Retry-After` the channel sent, when it sent one.
    pub retry_after: Option<Duration>,
}

impl RetryNotice {
    pub(crate) fn new(attempt: u32, delay: Duration, error: &ChannelError) -> Self {
        Self {
            attempt,
            delay,
            kind: error.kind(),
            http_status: error.http_status(),
            retry_after: error.retry_after(),
        }
    }
}

/// Parses a `Retry-After` value: delta-seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`, resolved against `now`; a date in the past gives zero).
/// `None` for anything else. A number too large for `u64` saturates.
///
/// No cap is applied here: [`RetryPolicy::max_retry_after`] decides what is slept.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    let delta = date.with_timezone(&Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// The `Retry-After` header of a response, parsed with [`parse_retry_after`].
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}
