//! Rate limiting: quotas per period (per second, minute, day, …) and a concurrency cap, keyed
//! per account and shared by every clone of a [`RateLimiter`].
//!
//! A quota of `n` per period means: never more than `n` requests in any period-long window.
//! How each marketplace counts its windows (fixed or rolling) is not documented, so this is the
//! safe reading: it holds whichever way the channel counts. A token bucket (GCRA) would allow a
//! burst of `n` and then refill, which puts up to `2n` requests in one window — on Tradera's 100
//! calls a day, a stream of 429s. Each quota therefore keeps the times of its last `n` permits
//! (a sliding-window log): the next permit comes when the oldest one leaves the window. Time is
//! read from tokio's clock, so quotas follow `tokio::time::pause` in tests.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use marketsync_core::ChannelError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// One quota: `count` requests per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed in any window of one period.
    pub count: NonZeroU32,
    /// The period.
    pub period: Duration,
}

/// The permits one quota has given within its period, oldest first.
#[derive(Debug)]
struct Window {
    quota: Quota,
    /// The period plus the guard: how long a permit counts here.
    span: Duration,
    given: VecDeque<Instant>,
}

impl Window {
    fn new(quota: Quota, guard_permille: u32) -> Self {
        Self {
            quota,
            span: quota.period + quota.period * guard_permille / 1000,
            given: VecDeque::new(),
        }
    }

    /// How long until this quota allows one more request (zero: now).
    fn wait(&mut self, now: Instant) -> Duration {
        while self.given.front().is_some_and(|t| *t + self.span <= now) {
            self.given.pop_front();
        }
        if self.given.len() < self.quota.count.get() as usize {
            Duration::ZERO
        } else {
            // Full: the oldest permit leaves the window first.
            self.given
                .front()
                .map(|t| (*t + self.span).saturating_duration_since(now))
                .unwrap_or_default()
        }
    }
}

/// The limits one account is held to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    quotas: Vec<Quota>,
    concurrency: Option<usize>,
    max_wait: Duration,
    guard_permille: u32,
}

/// The default guard at window edges, in thousandths of each quota's period: 1 %.
pub const DEFAULT_GUARD_PERMILLE: u32 = 10;

impl Default for Limits {
    /// No quota, no concurrency cap, waits up to 30 s slept, a guard of
    /// [`DEFAULT_GUARD_PERMILLE`].
    fn default() -> Self {
        Self {
            quotas: Vec::new(),
            concurrency: None,
            max_wait: Duration::from_secs(30),
            guard_permille: DEFAULT_GUARD_PERMILLE,
        }
    }
}

impl Limits {
    /// No limits (the same as `Limits::default()`).
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a quota of `count` requests per `period`. A count of 0 adds nothing.
    pub fn quota(mut self, count: u32, period: Duration) -> Self {
        if let Some(count) = NonZeroU32::new(count)
            && !period.is_zero()
        {
            self.quotas.push(Quota { count, period });
            self.quotas.sort_by_key(|q| q.period);
        }
        self
    }

    /// Adds a quota per second.
    pub fn per_second(self, count: u32) -> Self {
        self.quota(count, Duration::from_secs(1))
    }

    /// Adds a quota per minute (ChannelAdvisor: 2,000 per profile).
    pub fn per_minute(self, count: u32) -> Self {
        self.quota(count, Duration::from_secs(60))
    }

    /// Adds a quota per 24 hours (Tradera: 100 by default).
    pub fn per_day(self, count: u32) -> Self {
        self.quota(count, Duration::from_secs(24 * 60 * 60))
    }

    /// Caps the requests in flight at once (ChannelAdvisor: 5). 0 means no cap.
    pub fn concurrency(mut self, max_in_flight: usize) -> Self {
        self.concurrency = (max_in_flight > 0).then_some(max_in_flight);
        self
    }

    /// The longest wait for a permit that is slept; a longer one is refused with a
    /// `RateLimited` error carrying the wait (an exhausted daily budget must not become a sleep
    /// of hours).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Holds each permit against its quota for `permille` thousandths of the period longer than
    /// the period (default [`DEFAULT_GUARD_PERMILLE`], 1 %).
    ///
    /// The limiter dates a permit when it grants it; the marketplace dates the request when it
    /// arrives, a little later. Running flat out, the permit freed at exactly `t + period` would
    /// let a request leave that can arrive inside the marketplace's own window and be refused
    /// (measured: 429s on ChannelAdvisor, and a spent day on Tradera). The guard absorbs that
    /// latency jitter for the price of `permille`/1000 of the budget. 0 turns it off.
    pub fn guard_permille(mut self, permille: u32) -> Self {
        self.guard_permille = permille;
        self
    }

    /// The guard at window edges, in thousandths of each period.
    pub fn guard(&self) -> u32 {
        self.guard_permille
    }

    /// The quotas, shortest period first.
    pub fn quotas(&self) -> &[Quota] {
        &self.quotas
    }

    /// The concurrency cap.
    pub fn max_in_flight(&self) -> Option<usize> {
        self.concurrency
    }

    /// The longest wait that is slept.
    pub fn max_wait_duration(&self) -> Duration {
        self.max_wait
    }
}

impl From<&marketsync_core::RateLimits> for Limits {
    /// The limits a channel documents in its [`Capabilities`](marketsync_core::Capabilities).
    fn from(limits: &marketsync_core::RateLimits) -> Self {
        let mut out = Limits::default();
        if let Some(n) = limits.per_minute {
            out = out.per_minute(n);
        }
        if let Some(n) = limits.per_day {
            out = out.per_day(n);
        }
        if let Some(n) = limits.concurrent {
            out = out.concurrency(n as usize);
        }
        out
    }
}

struct Account {
    windows: Mutex<Vec<Window>>,
    slots: Option<Arc<Semaphore>>,
}

struct Shared {
    limits: Limits,
    accounts: Mutex<HashMap<String, Arc<Account>>>,
}

/// Rate limiters keyed per account: every account gets its own quotas and concurrency cap, built
/// from the same [`Limits`]. Cloning shares the state, so every clone of a client (and every
/// client given the same `RateLimiter`) draws from one budget per account.
#[derive(Clone)]
pub struct RateLimiter {
    shared: Arc<Shared>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limits", &self.shared.limits)
            .finish_non_exhaustive()
    }
}

/// Held while a request is in flight; frees its concurrency slot when dropped.
#[derive(Debug)]
pub struct Permit {
    _slot: Option<OwnedSemaphorePermit>,
}

impl RateLimiter {
    /// A limiter holding every account to `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            shared: Arc::new(Shared {
                limits,
                accounts: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    fn account(&self, key: &str) -> Arc<Account> {
        let mut accounts = self
            .shared
            .accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        accounts
            .entry(key.to_owned())
            .or_insert_with(|| {
                let limits = &self.shared.limits;
                Arc::new(Account {
                    windows: Mutex::new(
                        limits
                            .quotas
                            .iter()
                            .map(|q| Window::new(*q, limits.guard_permille))
                            .collect(),
                    ),
                    slots: limits.concurrency.map(|n| Arc::new(Semaphore::new(n))),
                })
            })
            .clone()
    }

    /// Takes a rate permit for `account` now if every quota allows it; otherwise says how long
    /// until the next permit (the longest wait among the quotas).
    ///
    /// All quotas are checked before any is charged, under one lock, so a refused request spends
    /// nothing — least of all the daily budget.
    pub fn try_acquire(&self, account: &str) -> Result<(), Duration> {
        let account = self.account(account);
        let mut windows = account.windows.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let wait = windows
            .iter_mut()
            .map(|w| w.wait(now))
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            return Err(wait);
        }
        for w in windows.iter_mut() {
            w.given.push_back(now);
        }
        Ok(())
    }

    /// Takes `n` rate permits for `account` at one instant, if every quota has room for
    /// `n + headroom` now; otherwise says how long until it has (the longest wait among the
    /// quotas). For the parts of a batch the channel counts on arrival all at once: taken one
    /// by one as older permits free up, they would be dated earlier than the channel dates
    /// them, and the next window would overrun the channel's. `headroom` keeps room for the
    /// request that carries them (taken right after with [`acquire`](Self::acquire)). A
    /// quota smaller than `n + headroom` allows it only once nothing else is in its window.
    pub fn try_acquire_many(&self, account: &str, n: u32, headroom: u32) -> Result<(), Duration> {
        let account = self.account(account);
        let mut windows = account.windows.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let need = n as usize + headroom as usize;
        let mut wait = Duration::ZERO;
        for w in windows.iter_mut() {
            w.wait(now);
            let count = w.quota.count.get() as usize;
            let this = if need > count {
                // More than the quota holds: once nothing else is in its window.
                w.given
                    .back()
                    .map(|t| (*t + w.span).saturating_duration_since(now))
                    .unwrap_or_default()
            } else if w.given.len() + need <= count {
                Duration::ZERO
            } else {
                // The permit whose leaving makes room for `need`.
                let t = w.given[w.given.len() + need - count - 1];
                (t + w.span).saturating_duration_since(now)
            };
            wait = wait.max(this);
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for w in windows.iter_mut() {
            w.given.extend(std::iter::repeat_n(now, n as usize));
        }
        Ok(())
    }

    /// Waits for a concurrency slot, then for a rate permit, sleeping waits up to
    /// [`Limits::max_wait`]. A longer wait is refused with a `RateLimited` error whose
    /// [`retry_after`](ChannelError::retry_after) is the time until the next permit.
    pub async fn acquire(&self, account: &str) -> Result<Permit, ChannelError> {
        self.acquire_for(account, marketsync_core::engine::metrics::UNKNOWN_CHANNEL)
            .await
    }

    /// [`acquire`](Self::acquire) for a request to `channel` (a
    /// [`ChannelKind`](marketsync_core::ChannelKind) name): a request that had to wait for its
    /// rate permit is counted in `marketsync_rate_limit_waits_total{channel}` and its wait in
    /// `marketsync_rate_limit_wait_seconds_total{channel}`
    /// ([`metrics`](marketsync_core::engine::metrics)).
    pub async fn acquire_for(
        &self,
        account: &str,
        channel: &'static str,
    ) -> Result<Permit, ChannelError> {
        let state = self.account(account);
        let slot = match &state.slots {
            Some(slots) => Some(slots.clone().acquire_owned().await.map_err(|_| {
                ChannelError::transient("the request concurrency limiter was closed")
            })?),
            None => None,
        };
        let mut waited = Duration::ZERO;
        loop {
            match self.try_acquire(account) {
                Ok(()) => {
                    if !waited.is_zero() {
                        count_wait(channel, waited);
                    }
                    return Ok(Permit { _slot: slot });
                }
                Err(wait) if wait <= self.shared.limits.max_wait => {
                    tracing::debug!(
                        wait_ms = wait.as_millis() as u64,
                        "waiting for a rate permit"
                    );
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
                Err(wait) => {
                    return Err(ChannelError::rate_limited(
                        Some(wait),
                        format!(
                            "the request budget for this account is used up; the next request is allowed in {}s",
                            wait.as_secs_f64().ceil() as u64
                        ),
                    ));
                }
            }
        }
    }
}

/// Counts one request that waited `waited` for its rate permit.
fn count_wait(channel: &'static str, waited: Duration) {
    use marketsync_core::engine::metrics::{RATE_LIMIT_WAIT_SECONDS_TOTAL, RATE_LIMIT_WAITS_TOTAL};
    metrics::counter!(RATE_LIMIT_WAITS_TOTAL, "channel" => channel).increment(1);
    metrics::gauge!(RATE_LIMIT_WAIT_SECONDS_TOTAL, "channel" => channel)
        .increment(waited.as_secs_f64());
}
