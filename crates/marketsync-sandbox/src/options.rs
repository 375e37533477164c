//! What the four fakes' builders and harness builders share: [`SandboxOptions`] (seed, seeded
//! catalog and orders, anchor, clock, per-minute rate limit, `Retry-After` on 429) and
//! [`HarnessOptions`] (the fake's builder, its knobs, the adapter's rate limiter). Each builder
//! embeds one and gets the same setters from one macro, so a setter is written once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use marketsync_core::{Clock, ErrorKind, SystemClock};
use marketsync_http::RateLimiter;

use crate::marketplace::Marketplace;
use crate::server::{Fault, Knobs, Sandbox};
use crate::util::DetRng;

/// The options every fake's builder has (each fake's builder embeds one; its setters are the
/// builder's `seed`, the catalog count — `products`, `listings`, `offers` or `items` —,
/// `orders`, `anchor`, `clock`, and where the marketplace has them `per_minute` and
/// `retry_after_header`).
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// The seed of the generated data (default 0).
    pub seed: u64,
    /// How many catalog entries (products, listings, offers, items) to seed.
    pub catalog: usize,
    /// How many orders to seed.
    pub orders: usize,
    /// The moment seeded data leads up to (default [`default_anchor`](crate::channeladvisor::default_anchor)).
    pub anchor: DateTime<Utc>,
    /// The clock for timestamps, token lifetimes and rate windows (default: system clock).
    pub clock: Option<Arc<dyn Clock>>,
    /// Requests per sliding minute (`None`: unlimited; unused where the marketplace limits
    /// otherwise).
    pub per_minute: Option<u32>,
    /// Send `Retry-After` on 429 (default off; unused where the fake has no such choice).
    pub retry_after_header: bool,
}

impl SandboxOptions {
    /// Options with seed 0, the default anchor, the system clock, no `Retry-After`, and these
    /// counts and per-minute limit.
    pub(crate) fn new(catalog: usize, orders: usize, per_minute: Option<u32>) -> Self {
        Self {
            seed: 0,
            catalog,
            orders,
            anchor: crate::channeladvisor::default_anchor(),
            clock: None,
            per_minute,
            retry_after_header: false,
        }
    }

    /// The clock to use (the system clock unless one was given).
    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock))
    }

    /// The generator of the seeded data.
    pub(crate) fn rng(&self) -> DetRng {
        DetRng::new(self.seed)
    }
}

/// Implements the shared setters on a fake's builder `$builder` (a struct with a field
/// `opts: SandboxOptions`): `seed`, the catalog count under the name `$catalog`, `orders`,
/// `anchor`, `clock`, and the optional ones listed (`per_minute`, `retry_after_header`).
macro_rules! sandbox_options {
    ($builder:ident, $catalog:ident, $what:literal $(, $extra:ident)* $(,)?) => {
        impl $builder {
            /// The seed of the generated data (default 0).
            pub fn seed(mut self, seed: u64) -> Self {
                self.opts.seed = seed;
                self
            }

            #[doc = concat!("How many ", $what, " to seed (default: see the builder).")]
            pub fn $catalog(mut self, n: usize) -> Self {
                self.opts.catalog = n;
                self
            }

            /// How many orders to seed (default: see the builder).
            pub fn orders(mut self, n: usize) -> Self {
                self.opts.orders = n;
                self
            }

            /// The moment seeded data leads up to (default
            /// [`default_anchor`](crate::channeladvisor::default_anchor)). Pass the clock's "now"
            /// to get recent data; the data stays deterministic for a given anchor.
            pub fn anchor(mut self, anchor: chrono::DateTime<chrono::Utc>) -> Self {
                self.opts.anchor = anchor;
                self
            }

            /// The clock for timestamps, token lifetimes and rate-limit windows (default: the
            /// system clock).
            pub fn clock(mut self, clock: std::sync::Arc<dyn marketsync_core::Clock>) -> Self {
                self.opts.clock = Some(clock);
                self
            }

            /// The shared options as set so far.
            pub fn options(&self) -> &$crate::options::SandboxOptions {
                &self.opts
            }
        }
        $($crate::options::sandbox_options!(@extra $builder $extra);)*
    };
    (@extra $builder:ident per_minute) => {
        impl $builder {
            /// Requests per sliding minute (default: see the builder; `None`: unlimited).
            pub fn per_minute(mut self, n: Option<u32>) -> Self {
                self.opts.per_minute = n;
                self
            }
        }
    };
    (@extra $builder:ident retry_after_header) => {
        impl $builder {
            /// Send `Retry-After` on 429 (default off: the real header is UNCONFIRMED or
            /// undocumented).
            pub fn retry_after_header(mut self, on: bool) -> Self {
                self.opts.retry_after_header = on;
                self
            }
        }
    };
}

pub(crate) use sandbox_options;

/// Implements plain setters on a builder: for each `name: Type`, a `pub fn name(mut self,
/// value: Type) -> Self` storing `value` (or `=> |v| expr` of it) in the field `name`, with the
/// doc comments given.
macro_rules! setters {
    ($builder:ident { $( $(#[$doc:meta])* $name:ident: $ty:ty $(=> |$v:ident| $map:expr)? ),* $(,)? }) => {
        impl $builder {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = $crate::options::setters!(@map value $(, $v, $map)?);
                    self
                }
            )*
        }
    };
    (@map $value:ident) => { $value };
    (@map $value:ident, $v:ident, $map:expr) => {{
        let $v = $value;
        $map
    }};
}

pub(crate) use setters;

/// What every harness builder has: the fake's builder to serve, its knobs and the adapter's
/// rate limiter.
#[derive(Debug, Clone)]
pub struct HarnessOptions<B> {
    /// The fake's builder (a harness starts it with no seeded data unless told otherwise).
    pub sandbox: B,
    /// The sandbox's knobs (default [`Knobs::default`]).
    pub knobs: Knobs,
    /// The adapter's rate limiter (`None`: the adapter's own, from its documented limits).
    pub rate_limiter: Option<RateLimiter>,
}

impl<B> HarnessOptions<B> {
    /// Options serving `sandbox` with default knobs and the adapter's own rate limiter.
    pub(crate) fn new(sandbox: B) -> Self {
        Self {
            sandbox,
            knobs: Knobs::default(),
            rate_limiter: None,
        }
    }
}

/// Implements `sandbox`, `knobs` and `rate_limiter` on a harness builder `$builder` (a struct
/// with a field `opts: HarnessOptions<$sandbox>`).
macro_rules! harness_options {
    ($builder:ident, $sandbox:ty) => {
        impl $builder {
            /// The sandbox to serve (default: no seeded data).
            pub fn sandbox(mut self, sandbox: $sandbox) -> Self {
                self.opts.sandbox = sandbox;
                self
            }

            /// The sandbox's knobs (default [`Knobs::default`](crate::Knobs::default)).
            pub fn knobs(mut self, knobs: $crate::Knobs) -> Self {
                self.opts.knobs = knobs;
                self
            }

            /// The adapter's rate limiter (default: the adapter's own, from its documented
            /// limits). Benchmarks give one with the marketplace's limits over a shortened
            /// window, matching a sandbox on a faster clock.
            pub fn rate_limiter(mut self, limiter: marketsync_http::RateLimiter) -> Self {
                self.opts.rate_limiter = Some(limiter);
                self
            }
        }
    };
}

pub(crate) use harness_options;

/// Queues `times` failures of `kind` for the sandbox operations `ops` (the conformance suite's
/// `fail_next`): `Transient` as the marketplace's own 5xx, `RateLimited` as its 429. Nothing is
/// queued when `ops` is empty (the adapter makes no call for that operation).
///
/// # Panics
/// On any other kind: a sandbox injects only those two.
pub(crate) fn fail_next<M: Marketplace>(
    sandbox: &Sandbox<M>,
    marketplace: &str,
    ops: &[&str],
    kind: ErrorKind,
    times: u32,
) {
    let fault = match kind {
        ErrorKind::Transient => Fault::ServerError,
        ErrorKind::RateLimited => Fault::Throttled,
        other => panic!(
            "the {marketplace} sandbox injects only Transient (500) or RateLimited (429) failures, not {other:?}"
        ),
    };
    if ops.is_empty() {
        return;
    }
    for _ in 0..times {
        sandbox.inject_for(ops, fault);
    }
}
