//! The part of a fake's handle that is the same for every marketplace.

use std::sync::{Arc, Mutex};

use marketsync_core::Clock;

use crate::marketplace::RateLimits;

/// What the clones of a fake's handle share: its state behind one lock, its clock and the rate
/// limits it enforces.
#[derive(Debug)]
pub(crate) struct Shared<S> {
    pub(crate) state: Mutex<S>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limits: RateLimits,
}

/// Implements, for a fake's handle `$handle` (a struct with `inner: Arc<_>` whose target, a
/// [`Shared`] or the fake's own `Inner`, has `state: Mutex<State>`) built by `$builder` (with
/// `seed` and `build`):
/// `Default` (the builder's defaults), `builder()`, `seeded(seed)`, `start()`,
/// `start_with(knobs)`, and the private `state()` lock (a poisoned lock is taken over: a
/// panicking test must not hide the fake's state from the next one). The calling module
/// imports `Sandbox`, `Knobs` and `MutexGuard`, which its docs link to as well.
macro_rules! sandbox_handle {
    ($handle:ident, $builder:ident) => {
        impl Default for $handle {
            fn default() -> Self {
                Self::builder().build()
            }
        }

        impl $handle {
            /// A builder with the defaults.
            pub fn builder() -> $builder {
                $builder::default()
            }

            /// The default sandbox seeded with `seed`.
            pub fn seeded(seed: u64) -> Self {
                Self::builder().seed(seed).build()
            }

            /// Serves this sandbox on `127.0.0.1` with default knobs.
            pub async fn start(self) -> std::io::Result<Sandbox<Self>> {
                Sandbox::start(self).await
            }

            /// Serves this sandbox with the given knobs.
            pub async fn start_with(self, knobs: Knobs) -> std::io::Result<Sandbox<Self>> {
                Sandbox::start_with(self, knobs).await
            }

            fn state(&self) -> MutexGuard<'_, State> {
                self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
            }
        }
    };
}

pub(crate) use sandbox_handle;
