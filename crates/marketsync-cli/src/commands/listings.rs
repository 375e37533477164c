//! `marketsync listings link|sync` and `marketsync reconcile plan|confirm`.
//!
//! `link` and `sync` run once now (a spinner on stderr while they run, only on a terminal and
//! never with `--json`). `reconcile plan` is the dry run: every channel listing the reconciler
//! would end; `reconcile confirm --plan FILE` checks that plan again and carries it out, and
//! `--large` confirms a plan that ends more than the integration's share
//! (`reconcile_max_end_percent`). The `--json` shapes are documented in the crate's README
//! ("Operate").

use std::future::Future;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use marketsync::engine::{DroppedFromPlan, EngineError, ReconcilePlan, SyncReport};
use marketsync::{ChannelListingId, Sku};
use serde::{Deserialize, Serialize};

use crate::args::{ListingsArgs, ListingsCommand, ReconcileArgs, ReconcileCommand};
use crate::commands::mappings::{Named, quote};
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Runs `marketsync listings`.
pub async fn run(ctx: &Context, args: ListingsArgs, out: Output) -> Result<(), CliError> {
    match args.command {
        ListingsCommand::Link(r) => link(ctx, &r.integration, out).await,
        ListingsCommand::Sync(r) => sync(ctx, &r.integration, out).await,
    }
}

/// Runs `marketsync reconcile`.
pub async fn reconcile(ctx: &Context, args: ReconcileArgs, out: Output) -> Result<(), CliError> {
    match args.command {
        ReconcileCommand::Plan {
            integration,
            out: file,
        } => plan(ctx, &integration, file.as_deref(), out).await,
        ReconcileCommand::Confirm {
            integration,
            plan,
            large,
        } => confirm(ctx, &integration, &plan, large, out).await,
    }
}

/// Runs `work` with a spinner on stderr when stderr is a terminal and `--json` is not given.
pub(crate) async fn with_progress<T>(
    out: Output,
    message: String,
    work: impl Future<Output = T>,
) -> T {
    if out.is_json() || !std::io::stderr().is_terminal() {
        return work.await;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    let result = work.await;
    bar.finish_and_clear();
    result
}

// ----- link -----

/// A SKU and a channel listing.
#[derive(Debug, Serialize)]
struct SkuListing {
    sku: Sku,
    listing_id: ChannelListingId,
}

/// A channel listing and its SKU on the channel, when it has one.
#[derive(Debug, Serialize)]
struct ListingSku {
    listing_id: ChannelListingId,
    sku: Option<Sku>,
}

/// `listings link --json`.
#[derive(Debug, Serialize)]
struct LinkDoc {
    integration: Named,
    linked: Vec<SkuListing>,
    already_linked: usize,
    channel_listings_without_item: Vec<ListingSku>,
    items_without_listing: Vec<Sku>,
    broken_not_relinked: Vec<Sku>,
    duplicates: Vec<SkuListing>,
}

fn pairs(v: Vec<(Sku, ChannelListingId)>) -> Vec<SkuListing> {
    v.into_iter()
        .map(|(sku, listing_id)| SkuListing { sku, listing_id })
        .collect()
}

async fn link(ctx: &Context, selector: &str, out: Output) -> Result<(), CliError> {
    let rec = ctx.attached(selector).await?;
    let report = with_progress(
        out,
        format!("linking the listings of {}", rec.name),
        ctx.engine.link_listings(rec.id),
    )
    .await
    .map_err(|e| Named::of(&rec).refusal(e))?;
    let doc = LinkDoc {
        integration: Named::of(&rec),
        linked: pairs(report.linked),
        already_linked: report.already_linked,
        channel_listings_without_item: report
            .channel_listings_without_item
            .into_iter()
            .map(|(listing_id, sku)| ListingSku { listing_id, sku })
            .collect(),
        items_without_listing: report.items_without_listing,
        broken_not_relinked: report.broken_not_relinked,
        duplicates: pairs(report.duplicates),
    };
    out.print(&doc, |d| {
        let mut t = format!(
            "{}: {} newly linked, {} already linked, {} labelled item(s) without a listing, {} channel listing(s) without an item\n",
            d.integration.name,
            d.linked.len(),
            d.already_linked,
            d.items_without_listing.len(),
            d.channel_listings_without_item.len()
        );
        for l in &d.linked {
            t.push_str(&format!(
                "  linked {} -> {}\n",
                l.sku.as_str(),
                l.listing_id.as_str()
            ));
        }
        for s in &d.broken_not_relinked {
            t.push_str(&format!(
                "  {}: its link is broken and was not relinked (unlink and relink it)\n",
                s.as_str()
            ));
        }
        for l in &d.duplicates {
            t.push_str(&format!(
                "  {}: channel listing {} matches it too, but it is linked to another listing\n",
                l.sku.as_str(),
                l.listing_id.as_str()
            ));
        }
        if !d.channel_listings_without_item.is_empty() {
            t.push_str(&format!(
                "channel listings without a labelled item are what `marketsync reconcile plan {}` would end\n",
                d.integration.arg()
            ));
        }
        t
    })
}

// ----- sync -----

/// `listings sync --json`: the integration and the sync report's fields.
#[derive(Debug, Serialize)]
struct SyncDoc {
    integration: Named,
    #[serde(flatten)]
    report: SyncReport,
}

async fn sync(ctx: &Context, selector: &str, out: Output) -> Result<(), CliError> {
    let rec = ctx.attached(selector).await?;
    let report = with_progress(
        out,
        format!("sending quantities and prices to {}", rec.name),
        ctx.engine.sync_listings(rec.id),
    )
    .await
    .map_err(|e| Named::of(&rec).refusal(e))?;
    let doc = SyncDoc {
        integration: Named::of(&rec),
        report,
    };
    out.print(&doc, |d| {
        let r = &d.report;
        let mut t = format!(
            "{}: {} sent, {} unchanged, {} refused, {} broken link(s), {} ended on the channel\n",
            d.integration.name,
            r.sent.len(),
            r.unchanged,
            r.failed.len(),
            r.broken.len(),
            r.ended.len()
        );
        for f in &r.failed {
            t.push_str(&format!("  {}: refused: {}\n", f.sku.as_str(), f.message));
        }
        for s in &r.broken {
            t.push_str(&format!(
                "  {}: the channel no longer has its listing (broken link)\n",
                s.as_str()
            ));
        }
        if !r.not_on_label.is_empty() {
            t.push_str(&format!(
                "  {} linked item(s) no longer carry the label: see `marketsync reconcile plan {}`\n",
                r.not_on_label.len(),
                d.integration.arg()
            ));
        }
        if !r.missing_from_catalog.is_empty() {
            t.push_str(&format!(
                "  {} linked SKU(s) are no longer in the catalogue\n",
                r.missing_from_catalog.len()
            ));
        }
        if let Some(why) = &r.stopped {
            t.push_str(&format!(
                "the run stopped early: {why}; the rest is sent next run\n"
            ));
        }
        t
    })
}

// ----- reconcile -----

/// `reconcile plan --json`; also what `--out FILE` writes, and what `reconcile confirm --plan`
/// reads (this document, or the plan alone).
#[derive(Debug, Serialize, Deserialize)]
struct PlanDoc {
    integration: PlanIntegration,
    /// How many channel listings the plan ends.
    to_end: usize,
    plan: ReconcilePlan,
}

/// [`Named`], read back from a plan file.
#[derive(Debug, Serialize, Deserialize)]
struct PlanIntegration {
    id: marketsync::IntegrationId,
    name: String,
}

async fn plan(
    ctx: &Context,
    selector: &str,
    file: Option<&Path>,
    out: Output,
) -> Result<(), CliError> {
    let rec = ctx.attached(selector).await?;
    let plan = with_progress(
        out,
        format!("reading the listings of {}", rec.name),
        ctx.engine.plan_reconcile(rec.id),
    )
    .await
    .map_err(|e| Named::of(&rec).refusal(e))?;
    let doc = PlanDoc {
        integration: PlanIntegration {
            id: rec.id,
            name: rec.name.clone(),
        },
        to_end: plan.listings.len(),
        plan,
    };
    if let Some(path) = file {
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| CliError::Other(format!("writing the plan: {e}")))?;
        std::fs::write(path, text + "\n").map_err(|e| {
            CliError::Other(format!(
                "--out {}: cannot write the plan: {e}; choose a writable path",
                path.display()
            ))
        })?;
        out.note(format!("the plan is in {}", path.display()));
    }
    let named = Named::of(&rec);
    let file_arg = file.map_or_else(|| "PLAN.json".to_owned(), |p| quote(&p.to_string_lossy()));
    out.print(&doc, |d| {
        let mut t = format!(
            "Reconcile plan for {} (label {}), made {}: {} channel listing(s) to end\n",
            d.integration.name,
            d.plan.label,
            d.plan.made_at.to_rfc3339(),
            d.to_end
        );
        for l in &d.plan.listings {
            let sku = l.sku.as_ref().map_or("(no SKU)", |s| s.as_str());
            t.push_str(&format!(
                "  end {:<20} {sku}: not on the label\n",
                l.listing_id.as_str()
            ));
        }
        if d.to_end > 0 {
            let save = if file.is_none() {
                format!(
                    "save it with `marketsync reconcile plan {} --out PLAN.json`, then ",
                    named.arg()
                )
            } else {
                String::new()
            };
            t.push_str(&format!(
                "nothing was ended: {save}confirm it with `marketsync reconcile confirm {} --plan {file_arg}`\n",
                named.arg()
            ));
        }
        t
    })
}

/// A plan file: the whole `reconcile plan --json` document, or the plan alone.
fn read_plan(text: &str) -> Result<ReconcilePlan, serde_json::Error> {
    match serde_json::from_str::<PlanDoc>(text) {
        Ok(doc) => Ok(doc.plan),
        Err(_) => serde_json::from_str::<ReconcilePlan>(text),
    }
}

/// A failed listing of `reconcile confirm`.
#[derive(Debug, Serialize)]
struct EndFailure {
    listing_id: ChannelListingId,
    error: String,
}

/// `reconcile confirm --json`.
#[derive(Debug, Serialize)]
struct ConfirmDoc {
    integration: Named,
    /// Whether `--large` confirmed a plan beyond the integration's share.
    large: bool,
    ended: Vec<ChannelListingId>,
    failed: Vec<EndFailure>,
    dropped: Vec<DroppedFromPlan>,
}

async fn confirm(
    ctx: &Context,
    selector: &str,
    path: &Path,
    large: bool,
    out: Output,
) -> Result<(), CliError> {
    let rec = ctx.integration(selector).await?;
    let named = Named::of(&rec);
    let again = format!(
        "make a new plan with `marketsync reconcile plan {} --out PLAN.json`",
        named.arg()
    );
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::Usage(format!(
            "--plan {}: cannot read it: {e}; {again}",
            path.display()
        ))
    })?;
    let plan = read_plan(&text).map_err(|e| {
        CliError::Usage(format!(
            "--plan {}: not a reconcile plan as `reconcile plan --json` writes it: {e}; {again}",
            path.display()
        ))
    })?;
    if plan.integration != rec.id {
        return Err(CliError::Usage(format!(
            "--plan {}: the plan is for integration {}, not {} ({}); {again}",
            path.display(),
            plan.integration,
            rec.id,
            rec.name
        )));
    }
    ctx.attach(&rec).await?;
    let work = async {
        if large {
            ctx.engine
                .confirm_large_reconcile(rec.id, &plan, ctx.actor.clone())
                .await
        } else {
            ctx.engine
                .confirm_reconcile(rec.id, &plan, ctx.actor.clone())
                .await
        }
    };
    let report = with_progress(
        out,
        format!("ending {} listing(s) of {}", plan.listings.len(), rec.name),
        work,
    )
    .await
    .map_err(|e| confirm_error(e, &named, path, &again))?;
    let doc = ConfirmDoc {
        integration: named,
        large,
        ended: report.ended,
        failed: report
            .failed
            .into_iter()
            .map(|(listing_id, error)| EndFailure { listing_id, error })
            .collect(),
        dropped: report.dropped,
    };
    out.print(&doc, |d| {
        let mut t = format!(
            "{}: {} listing(s) ended, {} refused by the channel, {} left alone\n",
            d.integration.name,
            d.ended.len(),
            d.failed.len(),
            d.dropped.len()
        );
        for f in &d.failed {
            t.push_str(&format!(
                "  {}: refused: {}\n",
                f.listing_id.as_str(),
                f.error
            ));
        }
        for x in &d.dropped {
            let why = match serde_json::to_value(x.reason) {
                Ok(serde_json::Value::String(s)) => s.replace('_', " "),
                _ => "no longer applies".to_owned(),
            };
            t.push_str(&format!(
                "  {}: left alone ({why})\n",
                x.listing_id.as_str()
            ));
        }
        t
    })
}

/// The engine's refusals of a confirmation, with what to do next.
fn confirm_error(e: EngineError, named: &Named, path: &Path, again: &str) -> CliError {
    match e {
        EngineError::ReconcileTooLarge {
            to_end,
            listings,
            max_percent,
        } => CliError::Refused(format!(
            "the plan ends {to_end} of the channel's {listings} listings, more than this integration's limit of {max_percent}% in one reconcile (an empty or partial catalogue looks like this); nothing was ended. Check the plan, and when it is right confirm it as a person with `marketsync reconcile confirm {} --plan {} --large`",
            named.arg(),
            quote(&path.to_string_lossy())
        )),
        EngineError::ReconcilePlanExpired { .. }
        | EngineError::ReconcilePlanRearmed { .. }
        | EngineError::PlanMismatch => {
            CliError::Refused(format!("{e}; nothing was ended: {again}"))
        }
        other => named.refusal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_file_is_read_whole_or_alone() {
        let plan = ReconcilePlan {
            integration: marketsync::IntegrationId::new(),
            label: marketsync::Label::new("shop").unwrap(),
            made_at: chrono::Utc::now(),
            listings: Vec::new(),
        };
        let doc = PlanDoc {
            integration: PlanIntegration {
                id: plan.integration,
                name: "x".into(),
            },
            to_end: 0,
            plan: plan.clone(),
        };
        let whole = serde_json::to_string(&doc).unwrap();
        assert_eq!(read_plan(&whole).unwrap(), plan);
        let alone = serde_json::to_string(&plan).unwrap();
        assert_eq!(read_plan(&alone).unwrap(), plan);
        assert!(read_plan("{}").is_err());
    }
}
