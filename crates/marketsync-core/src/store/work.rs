//! What several worker processes share through the store: scheduled work claimed with leases,
//! named leases (one credential renewer at a time), versioned credentials, and paged reads.
//!
//! Lease expiry is decided by the store's clock (the database server's `now()`; the process
//! clock for the embedded stores), never by the caller's: a worker whose clock is skewed cannot
//! take a lease another worker still holds. When work is *due* is decided by the caller's
//! injected clock, like every other decision by time.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::IntegrationId;
use crate::vault::SealedCredentials;

/// Names one worker process: the holder of the leases it takes. Unique per process start.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkerId(String);

impl WorkerId {
    /// A fresh id: `prefix` (for example the host name) and a random suffix.
    pub fn new(prefix: &str) -> Self {
        WorkerId(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()))
    }

    /// An id as stored.
    pub fn from_stored(id: impl Into<String>) -> Self {
        WorkerId(id.into())
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// When one scheduled operation of an integration last started and finished (the caller's
/// clock), as the store keeps them for the scheduler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTimes {
    /// The last start.
    pub last_started: Option<DateTime<Utc>>,
    /// The last finish.
    pub last_finished: Option<DateTime<Utc>>,
}

/// An integration whose scheduled work one worker claimed ([`Store::claim_work`]).
///
/// [`Store::claim_work`]: super::Store::claim_work
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkClaim {
    /// The integration.
    pub integration: IntegrationId,
    /// The worker holding the lease.
    pub worker: WorkerId,
    /// The run times of each operation, by the operation's name
    /// ([`ScheduledOperation::as_str`](crate::engine::scheduler::ScheduledOperation::as_str)).
    pub runs: BTreeMap<String, RunTimes>,
}

/// "Not due again until the integration changes": the `next_due` a worker gives
/// [`Store::release_work`](super::Store::release_work) for an integration with nothing to
/// schedule (deleted, for example). Every store can hold it (9999-12-31T23:59:59Z).
pub fn never_due() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .expect("a valid date")
}

/// Sealed credentials and their version ([`Store::credentials_versioned`]).
///
/// [`Store::credentials_versioned`]: super::Store::credentials_versioned
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedCredentials {
    /// The credentials, sealed.
    pub sealed: SealedCredentials,
    /// Their version: 1 for the first stored, incremented by every write.
    pub version: u64,
}

/// Which page of a paged read ([`Store::listings_page`] and the others): the first, or the one
/// after a [`Page::next`] token. Tokens are the store's own; pass them back unchanged. A token
/// that cannot be one the store gave is refused with an error
/// ([`bad_page_token`](super::support::bad_page_token)) or reads as an empty page.
///
/// [`Store::listings_page`]: super::Store::listings_page
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// `None` for the first page, else the previous page's [`Page::next`].
    pub after: Option<String>,
    /// The most items to return (at least 1).
    pub limit: usize,
}

impl PageRequest {
    /// The first page of at most `limit` items.
    pub fn first(limit: usize) -> Self {
        PageRequest {
            after: None,
            limit: limit.max(1),
        }
    }

    /// The page after `page`, of the same size; `None` when `page` was the last.
    pub fn after<T>(&self, page: &Page<T>) -> Option<Self> {
        page.next.as_ref().map(|next| PageRequest {
            after: Some(next.clone()),
            limit: self.limit,
        })
    }
}

/// One page of a paged read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the read's order.
    pub items: Vec<T>,
    /// The token of the next page; `None` when this is the last.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Makes a page from up to `limit + 1` items read in order: when there are more than
    /// `limit`, the extra one is dropped and `next` is `token(last kept item)`.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, token: impl Fn(&T) -> String) -> Self {
        let limit = limit.max(1);
        if items.len() > limit {
            items.truncate(limit);
            let next = items.last().map(token);
            Page { items, next }
        } else {
            Page { items, next: None }
        }
    }
}
