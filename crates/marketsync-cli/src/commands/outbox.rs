//! `marketsync outbox list|retry`: the shipments, refunds and cancellations recorded for an
//! integration, and sending the due ones now
//! ([`Engine::sync_orders`](marketsync::Engine::sync_orders)).
//!
//! The `--json` shapes are documented in the crate's README ("Operate").

use chrono::{DateTime, Utc};
use marketsync::engine::OutboxFailure;
use marketsync::store::{OutboxAction, OutboxEntry, OutboxState};
use marketsync::{ChannelOrderId, IdempotencyKey};
use serde::Serialize;

use crate::args::{OutboxArgs, OutboxCommand};
use crate::commands::mappings::Named;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Runs `marketsync outbox`.
pub async fn run(ctx: &Context, args: OutboxArgs, out: Output) -> Result<(), CliError> {
    match args.command {
        OutboxCommand::List {
            integration,
            unsent,
        } => list(ctx, &integration, unsent, out).await,
        OutboxCommand::Retry(r) => retry(ctx, &r.integration, out).await,
    }
}

/// One outbox entry as the operator commands print it (`--json`: stable field names).
#[derive(Clone, Debug, Serialize)]
pub struct OutboxView {
    /// The order.
    pub order_id: ChannelOrderId,
    /// `ship`, `refund` or `cancel`.
    pub action: &'static str,
    /// `pending`, `sent` (with `at`) or `failed` (with `at` and `error`): flattened as
    /// `"state"`, `"at"`, `"error"`.
    #[serde(flatten)]
    pub state: OutboxState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not tried again before this time (pending entries).
    pub next_attempt_at: DateTime<Utc>,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// Whether a worker is sending it right now (its claim has not lapsed).
    pub claimed: bool,
    /// The key the channel sees on every attempt.
    pub idempotency_key: IdempotencyKey,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// What is sent: the shipment, refund or cancellation (tagged by `action`).
    pub request: OutboxAction,
}

impl OutboxView {
    /// The view of a stored entry.
    pub fn of(e: &OutboxEntry) -> Self {
        Self {
            order_id: e.item.order_id.clone(),
            action: e.item.action.name(),
            state: e.state.clone(),
            attempts: e.attempts,
            next_attempt_at: e.next_attempt_at,
            last_error: e.last_error.clone(),
            claimed: e.lease.is_some(),
            idempotency_key: e.item.idempotency_key.clone(),
            created_at: e.item.created_at,
            request: e.item.action.clone(),
        }
    }

    /// Whether it is still to be sent (pending or failed).
    pub fn unsent(&self) -> bool {
        !matches!(self.state, OutboxState::Sent { .. })
    }

    fn line(&self) -> String {
        let state = match &self.state {
            OutboxState::Pending => format!(
                "pending (attempts {}, next {})",
                self.attempts,
                self.next_attempt_at.to_rfc3339()
            ),
            OutboxState::Sent { at } => format!("sent {}", at.to_rfc3339()),
            OutboxState::Failed { at, error } => {
                format!("failed {} : {error}", at.to_rfc3339())
            }
        };
        let mut t = format!(
            "  {:<20} {:<7} {state}",
            self.order_id.as_str(),
            self.action
        );
        if let (OutboxState::Pending, Some(e)) = (&self.state, &self.last_error) {
            t.push_str(&format!(" (last error: {e})"));
        }
        t.push('\n');
        t
    }
}

/// `outbox list --json`.
#[derive(Debug, Serialize)]
struct ListDoc {
    integration: Named,
    entries: Vec<OutboxView>,
}

async fn list(ctx: &Context, selector: &str, unsent: bool, out: Output) -> Result<(), CliError> {
    let rec = ctx.integration(selector).await?;
    let entries: Vec<OutboxView> = ctx
        .store
        .outbox(rec.id)
        .await?
        .iter()
        .map(OutboxView::of)
        .filter(|v| !unsent || v.unsent())
        .collect();
    let doc = ListDoc {
        integration: Named::of(&rec),
        entries,
    };
    out.print(&doc, |d| {
        if d.entries.is_empty() {
            return format!(
                "the outbox of {} has no {}entries\n",
                d.integration.name,
                if unsent { "unsent " } else { "" }
            );
        }
        let mut t = format!("Outbox of {}:\n", d.integration.name);
        for e in &d.entries {
            t.push_str(&e.line());
        }
        if d.entries.iter().any(|e| e.state == OutboxState::Pending) {
            t.push_str(&format!(
                "send the due ones now: `marketsync outbox retry {}`\n",
                d.integration.arg()
            ));
        }
        t
    })
}

/// One sent entry of `outbox retry`.
#[derive(Debug, Serialize)]
struct Sent {
    order_id: ChannelOrderId,
    action: String,
}

/// `outbox retry --json`.
#[derive(Debug, Serialize)]
struct RetryDoc {
    integration: Named,
    sent: Vec<Sent>,
    failed: Vec<OutboxFailure>,
    /// Why the run stopped early, if it did.
    stopped: Option<String>,
    /// Entries still unsent after the run (not due yet, retried later, or refused for good).
    unsent: Vec<OutboxView>,
}

async fn retry(ctx: &Context, selector: &str, out: Output) -> Result<(), CliError> {
    let rec = ctx.attached(selector).await?;
    out.note(format!(
        "sending the due outbox entries of {} now…",
        rec.name
    ));
    let report = ctx
        .engine
        .sync_orders(rec.id)
        .await
        .map_err(|e| Named::of(&rec).refusal(e))?;
    let unsent = ctx
        .store
        .outbox(rec.id)
        .await?
        .iter()
        .map(OutboxView::of)
        .filter(OutboxView::unsent)
        .collect();
    let doc = RetryDoc {
        integration: Named::of(&rec),
        sent: report
            .sent
            .into_iter()
            .map(|(order_id, action)| Sent { order_id, action })
            .collect(),
        failed: report.failed,
        stopped: report.stopped,
        unsent,
    };
    out.print(&doc, |d| {
        let mut t = format!(
            "{}: {} sent, {} not sent\n",
            d.integration.name,
            d.sent.len(),
            d.failed.len()
        );
        for s in &d.sent {
            t.push_str(&format!("  sent {} {}\n", s.action, s.order_id.as_str()));
        }
        for f in &d.failed {
            let next = if f.will_retry {
                "retried later"
            } else {
                "refused for good: fix the cause, then record it again"
            };
            t.push_str(&format!(
                "  {} {}: {} ({next})\n",
                f.action,
                f.order_id.as_str(),
                f.error
            ));
        }
        if let Some(why) = &d.stopped {
            t.push_str(&format!("the run stopped early: {why}\n"));
        }
        if !d.unsent.is_empty() {
            t.push_str("still unsent:\n");
            for e in &d.unsent {
                t.push_str(&e.line());
            }
        }
        t
    })
}
