//! `marketsync orders explain|held|import`.
//!
//! `explain` tells one order's whole story from the ledger and the outbox; `held` groups the
//! orders waiting for a mapping by the mapping they wait for, with the exact text to map and
//! the command that maps it; `import` runs one import now and reports what it did and why.
//! The `--json` shapes are documented in the crate's README ("Operate").

use std::collections::BTreeMap;

use marketsync::{
    ChannelOrderId, LedgerEntry, LedgerFilter, MissingMapping, NotImportedReason, OrderOutcome,
};
use serde::Serialize;

use crate::args::{OrdersArgs, OrdersCommand};
use crate::commands::listings::with_progress;
use crate::commands::mappings::{Named, add_command};
use crate::commands::outbox::OutboxView;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Runs `marketsync orders`.
pub async fn run(ctx: &Context, args: OrdersArgs, out: Output) -> Result<(), CliError> {
    match args.command {
        OrdersCommand::Explain { integration, order } => {
            explain(ctx, &integration, &order, out).await
        }
        OrdersCommand::Held(r) => held(ctx, &r.integration, out).await,
        OrdersCommand::Import(r) => import(ctx, &r.integration, out).await,
    }
}

/// The mappings an order waits for (none unless it is held for one).
fn missing_of(reason: &NotImportedReason) -> Vec<MissingMapping> {
    match reason {
        NotImportedReason::UnmappedShipping { text } => {
            vec![MissingMapping::Shipping(text.clone())]
        }
        NotImportedReason::UnmappedSku { skus } => {
            skus.iter().cloned().map(MissingMapping::Sku).collect()
        }
        _ => Vec::new(),
    }
}

// ----- explain -----

/// Where an order stands, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Standing {
    /// Imported.
    Imported,
    /// Downloaded, waiting for a mapping (imports on a later run once it exists).
    Held,
    /// Downloaded and not imported for another reason.
    NotImported,
    /// Never downloaded for this integration.
    NeverDownloaded,
}

/// `orders explain --json`.
#[derive(Debug, Serialize)]
struct ExplainDoc {
    integration: Named,
    order_id: ChannelOrderId,
    standing: Standing,
    /// Why it was not imported (`{"reason": "unmapped_shipping", "text": ...}`, …).
    reason: Option<NotImportedReason>,
    /// What would change it, in words.
    remedy: Option<String>,
    /// The commands that add the mappings it waits for.
    commands: Vec<String>,
    /// The story in sentences: every sighting, the outcome and why, what was sent for it.
    story: Vec<String>,
    /// Its outbox entries (shipments, refunds, cancellations), oldest first.
    outbox: Vec<OutboxView>,
    /// The ledger row as stored (the order's latest snapshot, the sightings).
    ledger: Option<LedgerEntry>,
}

async fn explain(ctx: &Context, selector: &str, order: &str, out: Output) -> Result<(), CliError> {
    let rec = ctx.integration(selector).await?;
    let order_id = ChannelOrderId::new(order)
        .map_err(|e| CliError::Usage(format!("<ORDER>: {e}; give the channel's order id")))?;
    let explanation = ctx.engine.explain_order(rec.id, &order_id).await?;
    let named = Named::of(&rec);
    let (standing, reason) = match explanation.ledger.as_ref().map(|e| &e.outcome) {
        None => (Standing::NeverDownloaded, None),
        Some(OrderOutcome::Imported) => (Standing::Imported, None),
        Some(OrderOutcome::NotImported { reason }) if reason.is_held() => {
            (Standing::Held, Some(reason.clone()))
        }
        Some(OrderOutcome::NotImported { reason }) => (Standing::NotImported, Some(reason.clone())),
    };
    let commands = reason
        .iter()
        .flat_map(missing_of)
        .map(|m| add_command(&named, &m))
        .collect();
    let doc = ExplainDoc {
        integration: named,
        order_id: explanation.order_id,
        standing,
        remedy: reason.as_ref().map(NotImportedReason::remedy),
        reason,
        commands,
        story: explanation.story,
        outbox: explanation.outbox.iter().map(OutboxView::of).collect(),
        ledger: explanation.ledger,
    };
    out.print(&doc, |d| {
        let state = match d.standing {
            Standing::Imported => "imported",
            Standing::Held => "held (waits for a mapping)",
            Standing::NotImported => "not imported",
            Standing::NeverDownloaded => "never downloaded",
        };
        let mut t = format!(
            "Order {} of {}: {state}\n",
            d.order_id.as_str(),
            d.integration.name
        );
        for line in &d.story {
            t.push_str(&format!("  - {line}\n"));
        }
        for c in &d.commands {
            t.push_str(&format!("map it with: {c}\n"));
        }
        t
    })
}

// ----- held -----

/// One group of `orders held`: the orders waiting for one mapping.
#[derive(Debug, Serialize)]
struct HeldGroup {
    /// `shipping` or `sku`, and the exact text or channel SKU to map
    /// (`{"mapping": "shipping", "value": "Next Day"}`).
    missing: MissingMapping,
    /// How many orders wait for it.
    orders: usize,
    /// Their ids.
    order_ids: Vec<ChannelOrderId>,
    /// The command that adds the mapping (fill in the service or catalogue SKU).
    command: String,
}

/// `orders held --json`.
#[derive(Debug, Serialize)]
struct HeldDoc {
    integration: Named,
    /// Held orders (an order waiting for several SKUs is in each of their groups, counted once
    /// here).
    held_orders: usize,
    groups: Vec<HeldGroup>,
}

async fn held(ctx: &Context, selector: &str, out: Output) -> Result<(), CliError> {
    let rec = ctx.integration(selector).await?;
    let named = Named::of(&rec);
    let counts = ctx.engine.held_by_mapping(rec.id).await?;
    let entries = ctx.engine.ledger(rec.id, LedgerFilter::Held).await?;
    let mut ids: BTreeMap<MissingMapping, Vec<ChannelOrderId>> = BTreeMap::new();
    for e in &entries {
        if let OrderOutcome::NotImported { reason } = &e.outcome {
            for m in missing_of(reason) {
                ids.entry(m).or_default().push(e.channel_order_id.clone());
            }
        }
    }
    let groups = counts
        .into_iter()
        .map(|(missing, orders)| HeldGroup {
            command: add_command(&named, &missing),
            order_ids: ids.remove(&missing).unwrap_or_default(),
            missing,
            orders,
        })
        .collect();
    let doc = HeldDoc {
        integration: named,
        held_orders: entries.len(),
        groups,
    };
    out.print(&doc, |d| {
        if d.groups.is_empty() {
            return format!("no orders of {} wait for a mapping\n", d.integration.name);
        }
        let mut t = format!(
            "{} order(s) of {} wait for a mapping:\n",
            d.held_orders, d.integration.name
        );
        for g in &d.groups {
            let what = match &g.missing {
                MissingMapping::Shipping(text) => format!("shipping text {text:?}"),
                MissingMapping::Sku(sku) => format!("channel SKU {:?}", sku.as_str()),
            };
            let ids: Vec<&str> = g.order_ids.iter().map(|o| o.as_str()).collect();
            t.push_str(&format!(
                "\n{what}: {} order(s) ({})\n  map it with: {}\n",
                g.orders,
                ids.join(", "),
                g.command
            ));
        }
        t.push_str(&format!(
            "\nthe orders import on the next run (now: `marketsync orders import {}`)\n",
            d.integration.arg()
        ));
        t
    })
}

// ----- import -----

/// How many orders `orders import` handled, by outcome.
#[derive(Debug, Default, Serialize)]
struct ImportCounts {
    imported: usize,
    released: usize,
    already_imported: usize,
    held: usize,
    not_imported: usize,
    acknowledge_failed: usize,
    unreadable_without_id: usize,
    pages: u32,
}

/// One order `orders import` did not import.
#[derive(Debug, Serialize)]
struct NotImported {
    order_id: ChannelOrderId,
    /// Whether it waits for a mapping (and imports on a later run once it exists).
    held: bool,
    reason: NotImportedReason,
    remedy: String,
    /// The commands that add the mappings it waits for.
    commands: Vec<String>,
}

/// An order and a text (`unmapped_shipping_imported`: the shipping text; `acknowledge_failed`:
/// the channel's error).
#[derive(Debug, Serialize)]
struct OrderNote {
    order_id: ChannelOrderId,
    text: String,
}

/// `orders import --json`.
#[derive(Debug, Serialize)]
struct ImportDoc {
    integration: Named,
    counts: ImportCounts,
    imported: Vec<ChannelOrderId>,
    released: Vec<ChannelOrderId>,
    already_imported: Vec<ChannelOrderId>,
    not_imported: Vec<NotImported>,
    unmapped_shipping_imported: Vec<OrderNote>,
    acknowledge_failed: Vec<OrderNote>,
    unreadable_without_id: Vec<String>,
    /// Why the run stopped early, if it did (the rest is downloaded next run).
    stopped: Option<String>,
}

async fn import(ctx: &Context, selector: &str, out: Output) -> Result<(), CliError> {
    let rec = ctx.attached(selector).await?;
    let named = Named::of(&rec);
    let report = with_progress(
        out,
        format!("importing the orders of {}", rec.name),
        ctx.engine.import_orders(rec.id),
    )
    .await
    .map_err(|e| named.refusal(e))?;
    let not_imported: Vec<NotImported> = report
        .not_imported
        .into_iter()
        .map(|(order_id, reason)| NotImported {
            order_id,
            held: reason.is_held(),
            remedy: reason.remedy(),
            commands: missing_of(&reason)
                .iter()
                .map(|m| add_command(&named, m))
                .collect(),
            reason,
        })
        .collect();
    let counts = ImportCounts {
        imported: report.imported.len(),
        released: report.released.len(),
        already_imported: report.already_imported.len(),
        held: not_imported.iter().filter(|n| n.held).count(),
        not_imported: not_imported.len(),
        acknowledge_failed: report.acknowledge_failed.len(),
        unreadable_without_id: report.unreadable_without_id.len(),
        pages: report.pages,
    };
    let note = |(order_id, text): (ChannelOrderId, String)| OrderNote { order_id, text };
    let doc = ImportDoc {
        integration: named,
        counts,
        imported: report.imported,
        released: report.released,
        already_imported: report.already_imported,
        not_imported,
        unmapped_shipping_imported: report
            .unmapped_shipping_imported
            .into_iter()
            .map(note)
            .collect(),
        acknowledge_failed: report.acknowledge_failed.into_iter().map(note).collect(),
        unreadable_without_id: report.unreadable_without_id,
        stopped: report.stopped,
    };
    out.print(&doc, import_text)
}

fn import_text(d: &ImportDoc) -> String {
    let c = &d.counts;
    let mut t = format!(
        "{}: {} imported, {} released (held before), {} seen again, {} not imported ({} held for a mapping); {} page(s)\n",
        d.integration.name,
        c.imported,
        c.released,
        c.already_imported,
        c.not_imported,
        c.held,
        c.pages
    );
    for n in &d.not_imported {
        t.push_str(&format!("  {}: {}\n", n.order_id.as_str(), n.remedy));
        for cmd in &n.commands {
            t.push_str(&format!("    map it with: {cmd}\n"));
        }
    }
    for n in &d.unmapped_shipping_imported {
        t.push_str(&format!(
            "  {}: imported with the channel's shipping text {:?} (no shipping mapping)\n",
            n.order_id.as_str(),
            n.text
        ));
    }
    for n in &d.acknowledge_failed {
        t.push_str(&format!(
            "  {}: recorded, but not acknowledged at the channel ({}); retried next run\n",
            n.order_id.as_str(),
            n.text
        ));
    }
    for raw in &d.unreadable_without_id {
        t.push_str(&format!("  an order without a readable id: {raw}\n"));
    }
    if let Some(why) = &d.stopped {
        t.push_str(&format!(
            "the run stopped early: {why}; everything before is recorded, the rest is downloaded next run\n"
        ));
    }
    if c.held > 0 {
        t.push_str(&format!(
            "see the held orders grouped by mapping: `marketsync orders held {}`\n",
            d.integration.arg()
        ));
    }
    t
}
