//! `marketsync audit <INTEGRATION>`: the integration's audit log — who changed what, when, and
//! under which support override — oldest first.
//!
//! The `--json` shape is documented in the crate's README ("Operate").

use marketsync::AuditEvent;
use marketsync::lifecycle::Change;
use serde::Serialize;

use crate::args::AuditArgs;
use crate::commands::mappings::Named;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// `audit --json`.
#[derive(Debug, Serialize)]
struct AuditDoc {
    integration: Named,
    /// Events in the whole log.
    total: usize,
    /// The events shown (the last `--limit`), oldest first.
    events: Vec<AuditEvent>,
}

/// Runs `marketsync audit`.
pub async fn run(ctx: &Context, args: AuditArgs, out: Output) -> Result<(), CliError> {
    let rec = ctx.integration(&args.integration).await?;
    let mut events = ctx.store.audit_log(rec.id).await?;
    let total = events.len();
    if let Some(limit) = args.limit {
        events.drain(..total.saturating_sub(limit));
    }
    let doc = AuditDoc {
        integration: Named::of(&rec),
        total,
        events,
    };
    out.print(&doc, |d| {
        let mut t = format!(
            "Audit log of {} ({} of {} event(s), oldest first):\n",
            d.integration.name,
            d.events.len(),
            d.total
        );
        for e in &d.events {
            t.push_str(&format!(
                "  {}  {:<22} {}",
                e.at.to_rfc3339(),
                e.actor.to_string(),
                change_text(&e.change)
            ));
            if let Some(o) = &e.support_override {
                t.push_str(&format!(" [support override by {}: {}]", o.by, o.reason));
            }
            t.push('\n');
        }
        t
    })
}

/// One line for a change.
fn change_text(change: &Change) -> String {
    let opt = |l: &Option<marketsync::Label>| {
        l.as_ref()
            .map_or_else(|| "(none)".to_owned(), |l| l.to_string())
    };
    match change {
        Change::Created => "created".to_owned(),
        Change::PhaseChanged { from, to } => format!("phase {from:?} -> {to:?}").to_lowercase(),
        Change::TestingPeriodSet { days } => format!("testing period set to {days} days"),
        Change::SwitchChanged { to } => format!("switched {to:?}").to_lowercase(),
        Change::CredentialsEntered => "credentials entered".to_owned(),
        Change::CredentialsRotated => "credentials rotated".to_owned(),
        Change::HealthChanged {
            from,
            to,
            reason,
            channel_message,
        } => {
            let mut t = format!("health {from:?} -> {to:?}").to_lowercase();
            if let Some(r) = reason {
                t.push_str(&format!(" ({r}"));
                if let Some(m) = channel_message {
                    t.push_str(&format!(": {m}"));
                }
                t.push(')');
            }
            t
        }
        Change::FeatureChanged { feature, on } => {
            format!("feature {feature} {}", if *on { "on" } else { "off" })
        }
        Change::LabelChanged { from, to } => format!("label {} -> {}", opt(from), opt(to)),
        Change::Deactivated => "deactivated".to_owned(),
        Change::Reactivated => "reactivated".to_owned(),
        Change::ReconcilePlanConfirmed => "reconcile plan confirmed".to_owned(),
        Change::Deleted { unfulfilled_orders } => format!(
            "deleted ({} unfulfilled order(s) left to the seller)",
            unfulfilled_orders.len()
        ),
        Change::MappingsChanged { before, after } => {
            let count = |s: &marketsync::MappingSet| {
                (s.shipping_mappings().count(), s.sku_mappings().count())
            };
            let (bs, bk) = count(before);
            let (as_, ak) = count(after);
            format!("mappings changed (shipping {bs} -> {as_}, SKU {bk} -> {ak})")
        }
        Change::SettingsChanged { .. } => "settings changed".to_owned(),
        other => match serde_json::to_value(other) {
            Ok(v) => v
                .get("change")
                .and_then(|c| c.as_str())
                .map_or_else(|| "changed".to_owned(), |c| c.replace('_', " ")),
            Err(_) => "changed".to_owned(),
        },
    }
}
