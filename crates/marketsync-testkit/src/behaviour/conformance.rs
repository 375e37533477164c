//! The `conformance` capability: the [channel conformance suite](crate::channel) on an
//! adapter's sandbox, one test per [`Check`], each with a fresh harness and a fresh store.

use std::sync::Arc;

use async_trait::async_trait;
use marketsync_core::Store;

use super::AdapterFixture;
use crate::channel::{self, ChannelHarness};

/// A fixture that starts the adapter's sandbox and the adapter pointed at it.
#[async_trait]
pub trait SandboxFixture: AdapterFixture {
    /// The harness: the adapter and the sandbox's controls.
    type Harness: ChannelHarness;

    /// Starts a fresh sandbox and builds the adapter pointed at it.
    async fn harness(&self) -> Self::Harness;

    /// A fresh, empty store for the engine the checks drive.
    async fn store(&self) -> Arc<dyn Store>;

    /// The marketplace's own assertions after `check` passed on `harness` (what its sandbox
    /// received, its counters). Default: none.
    async fn after(&self, check: Check, harness: &Self::Harness) {
        let _ = (check, harness);
    }
}

/// One check of the conformance suite (the variants are named after the suite's functions, so
/// [`behaviour_tests!`](crate::behaviour_tests) can register them by name).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// [`channel::verify_reports_the_account`].
    verify_reports_the_account,
    /// [`channel::link_then_sync_only_changes`].
    link_then_sync_only_changes,
    /// [`channel::publish_or_unsupported`].
    publish_or_unsupported,
    /// [`channel::deleted_listing_becomes_broken_link`].
    deleted_listing_becomes_broken_link,
    /// [`channel::reconcile_plan_then_confirm`].
    reconcile_plan_then_confirm,
    /// [`channel::import_records_every_reason`].
    import_records_every_reason,
    /// [`channel::ship_refund_cancel_exactly_once`].
    ship_refund_cancel_exactly_once,
    /// [`channel::temporary_failures_lose_and_duplicate_nothing`].
    temporary_failures_lose_and_duplicate_nothing,
    /// [`channel::revoked_credentials_break_then_repair`].
    revoked_credentials_break_then_repair,
    /// [`channel::run_all`]: every check in turn, each on a fresh harness and store (the
    /// fixture's [`after`](SandboxFixture::after) hook is not called).
    run_all,
}

/// Runs `check` on a fresh harness and store of `fixture`, then the fixture's own assertions.
pub async fn run<F: SandboxFixture>(fixture: &F, check: Check) {
    if check == Check::run_all {
        channel::run_all(|| fixture.harness(), || fixture.store()).await;
        return;
    }
    let h = fixture.harness().await;
    let store = fixture.store().await;
    match check {
        Check::verify_reports_the_account => channel::verify_reports_the_account(&h, store).await,
        Check::link_then_sync_only_changes => channel::link_then_sync_only_changes(&h, store).await,
        Check::publish_or_unsupported => channel::publish_or_unsupported(&h, store).await,
        Check::deleted_listing_becomes_broken_link => {
            channel::deleted_listing_becomes_broken_link(&h, store).await
        }
        Check::reconcile_plan_then_confirm => channel::reconcile_plan_then_confirm(&h, store).await,
        Check::import_records_every_reason => channel::import_records_every_reason(&h, store).await,
        Check::ship_refund_cancel_exactly_once => {
            channel::ship_refund_cancel_exactly_once(&h, store).await
        }
        Check::temporary_failures_lose_and_duplicate_nothing => {
            channel::temporary_failures_lose_and_duplicate_nothing(&h, store).await
        }
        Check::revoked_credentials_break_then_repair => {
            channel::revoked_credentials_break_then_repair(&h, store).await
        }
        Check::run_all => unreachable!("handled above"),
    }
    fixture.after(check, &h).await;
}
