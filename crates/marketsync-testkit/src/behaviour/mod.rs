//! One behaviour suite for every channel adapter, run against a fixture of that adapter.
//!
//! An adapter's tests describe how to reach it once — a fixture — and register the behaviours
//! of the capabilities the fixture offers; [`behaviour_tests!`](crate::behaviour_tests) turns
//! each behaviour into one `#[tokio::test]` of the calling crate. The behaviours are the same
//! for every adapter; only the fixture knows the marketplace:
//!
//! | capability | fixture trait | behaviours |
//! |---|---|---|
//! | `conformance` | [`SandboxFixture`] | the [channel conformance suite](crate::channel), one test per [`Check`], through the engine, on the adapter's sandbox |
//! | `hostile` | [`RawBodyFixture`] | [`hostile`]: a huge orders page, deeply nested, truncated and misshapen bodies |
//! | `secrets` | [`SecretFixture`] | [`secrets`]: no secret in any `Debug`, `Display`, error or trace of the fixture's session |
//! | `spec` | [`SpecFixture`] | [`spec`]: the OpenAPI checker refuses the marketplace's broken bodies; [`spec::check_sent`] checks every request the adapter's spec tests recorded |
//!
//! [`EngineRig`] is the engine an adapter's own tests drive around its adapter (memory parts,
//! one integration, connect, activate); [`pages`] reads the order pages an adapter returns.
//!
//! Every fixture implements [`AdapterFixture`] (which channel it is). Assertions that belong to
//! one marketplace (the exact requests it received, its counters) are the fixture's hooks
//! ([`SandboxFixture::after`], [`RawBodyFixture::check_page`], …), so they stay in that
//! adapter's tests while the behaviour runs once.
//!
//! ```text
//! // crates/marketsync-sandbox/tests/behaviour.rs
//! struct Reverb;
//! impl AdapterFixture for Reverb { fn kind(&self) -> ChannelKind { ChannelKind::Reverb } }
//! #[async_trait] impl SandboxFixture for Reverb { type Harness = ReverbHarness; … }
//! mod reverb { marketsync_testkit::behaviour_tests!(super::Reverb => conformance); }
//! ```

pub mod conformance;
pub mod hostile;
pub mod pages;
pub mod rig;
pub mod secrets;
pub mod spec;

pub use conformance::{Check, SandboxFixture};
pub use hostile::RawBodyFixture;
pub use rig::EngineRig;
pub use secrets::{SecretFixture, SecretScan, TraceCapture};
pub use spec::SpecFixture;

use marketsync_core::ChannelKind;

#[doc(hidden)]
pub use marketsync_core as __core;

/// What every fixture says about itself: which channel it drives. The capability traits
/// ([`SandboxFixture`], [`RawBodyFixture`], [`SecretFixture`]) build on it.
pub trait AdapterFixture: Send + Sync + 'static {
    /// The channel the adapter reports in its errors.
    fn kind(&self) -> ChannelKind;
}

/// Declares a fixture type: a unit struct `$name` implementing [`AdapterFixture`] for the
/// channel `$kind`. Its capability traits are implemented next to it.
///
/// ```ignore
/// marketsync_testkit::fixture!(Fixture: ChannelKind::Reverb);
/// ```
#[macro_export]
macro_rules! fixture {
    ($name:ident: $kind:expr) => {
        #[derive(Debug, Clone, Copy)]
        struct $name;

        impl $crate::behaviour::AdapterFixture for $name {
            fn kind(&self) -> $crate::behaviour::__core::ChannelKind {
                $kind
            }
        }
    };
}

/// Registers behaviours of a fixture as tests of the calling crate: one `#[tokio::test]` per
/// behaviour, named after it. Call it once per fixture, inside a module of its own (the test
/// names repeat across fixtures):
///
/// ```ignore
/// mod reverb {
///     marketsync_testkit::behaviour_tests!(super::ReverbFixture => conformance, hostile);
/// }
/// mod offerup {
///     // Only some conformance checks, by name.
///     marketsync_testkit::behaviour_tests!(
///         super::OfferUp => conformance[verify_reports_the_account, run_all]
///     );
/// }
/// ```
///
/// `$fixture` is an expression building the fixture (a unit struct, or a constructor call);
/// capabilities are `conformance` (optionally with a list of [`Check`] names), `hostile`,
/// `secrets` and `spec`. The calling crate needs `tokio` (with `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! behaviour_tests {
    ($fixture:expr => $($cap:ident $([$($check:ident),* $(,)?])?),+ $(,)?) => {
        $( $crate::behaviour_tests!(@cap $fixture; $cap $([$($check),*])?); )+
    };
    (@cap $fixture:expr; conformance) => {
        $crate::behaviour_tests!(@cap $fixture; conformance[
            verify_reports_the_account,
            link_then_sync_only_changes,
            publish_or_unsupported,
            deleted_listing_becomes_broken_link,
            reconcile_plan_then_confirm,
            import_records_every_reason,
            ship_refund_cancel_exactly_once,
            temporary_failures_lose_and_duplicate_nothing,
            revoked_credentials_break_then_repair,
            run_all
        ]);
    };
    (@cap $fixture:expr; conformance[$($check:ident),*]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::behaviour::conformance::run(
                    &$fixture,
                    $crate::behaviour::Check::$check,
                )
                .await;
            }
        )*
    };
    (@cap $fixture:expr; hostile) => {
        $crate::behaviour_tests!(@each $fixture; hostile[
            a_huge_orders_page_is_read_whole,
            deeply_nested_json_is_a_typed_error_not_a_crash,
            a_truncated_or_misshapen_body_is_a_typed_error_for_the_page
        ]);
    };
    (@cap $fixture:expr; secrets) => {
        $crate::behaviour_tests!(@each $fixture; secrets[
            no_secret_in_debug_errors_or_traces
        ]);
    };
    (@cap $fixture:expr; spec) => {
        $crate::behaviour_tests!(@each $fixture; spec[
            the_checker_catches_what_it_must
        ]);
    };
    (@each $fixture:expr; $module:ident[$($behaviour:ident),*]) => {
        $(
            #[tokio::test]
            async fn $behaviour() {
                $crate::behaviour::$module::$behaviour(&$fixture).await;
            }
        )*
    };
}
