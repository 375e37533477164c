//! `marketsync mappings shipping|sku list|add|remove`: the texts and SKUs a channel sends,
//! mapped to the seller's shipping services and catalogue SKUs.
//!
//! Every change goes through [`Engine::edit_mappings`](marketsync::Engine::edit_mappings), so it
//! is written to the audit log with the whole set before and after, and two operators editing
//! at once both keep their change. The `--json` shapes are documented in the crate's README
//! ("Operate").
//!
//! This module also makes the commands other commands print as the next step (`orders held`
//! prints the `mappings … add` line that releases a group).

use marketsync::engine::EngineError;
use marketsync::{
    Blocked, IntegrationId, IntegrationRecord, MappingSet, MissingMapping, ShippingMapping,
    ShippingService, Sku, SkuMapping,
};
use serde::Serialize;

use crate::args::{MappingsArgs, MappingsCommand, ShippingCommand, SkuCommand};
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

/// Runs `marketsync mappings`.
pub async fn run(ctx: &Context, args: MappingsArgs, out: Output) -> Result<(), CliError> {
    match args.command {
        MappingsCommand::Shipping { command } => match command {
            ShippingCommand::List(r) => shipping_list(ctx, &r.integration, out).await,
            ShippingCommand::Add {
                integration,
                text,
                service,
                carrier,
                class,
            } => {
                let service = ShippingService {
                    name: service,
                    carrier,
                    class,
                };
                shipping_add(ctx, &integration, text, service, out).await
            }
            ShippingCommand::Remove { integration, text } => {
                shipping_remove(ctx, &integration, &text, out).await
            }
        },
        MappingsCommand::Sku { command } => match command {
            SkuCommand::List(r) => sku_list(ctx, &r.integration, out).await,
            SkuCommand::Add {
                integration,
                channel_sku,
                sku,
            } => sku_add(ctx, &integration, &channel_sku, &sku, out).await,
            SkuCommand::Remove {
                integration,
                channel_sku,
            } => sku_remove(ctx, &integration, &channel_sku, out).await,
        },
    }
}

// ----- shared with the other operator commands -----

/// An integration as the operator commands name it in their `--json` output.
#[derive(Clone, Debug, Serialize)]
pub struct Named {
    /// The id.
    pub id: IntegrationId,
    /// The seller's name for it.
    pub name: String,
}

impl Named {
    /// The id and name of `rec`.
    pub fn of(rec: &IntegrationRecord) -> Self {
        Self {
            id: rec.id,
            name: rec.name.clone(),
        }
    }

    /// How a suggested command names the integration: its name (quoted for the shell when
    /// needed) when it cannot be mistaken for an id or a flag, else its id.
    pub fn arg(&self) -> String {
        let usable = !self.name.is_empty()
            && !self.name.starts_with('-')
            && self.name.parse::<IntegrationId>().is_err();
        if usable {
            quote(&self.name)
        } else {
            self.id.to_string()
        }
    }
}

impl Named {
    /// An engine error with the exact next step when the lifecycle blocked the operation (the
    /// command that turns the feature on, activates, enables, verifies…); other errors as
    /// [`CliError::from`] maps them.
    pub fn refusal(&self, e: EngineError) -> CliError {
        let EngineError::Blocked { blocked, .. } = &e else {
            return CliError::from(e);
        };
        let who = self.arg();
        let next = match blocked {
            Blocked::FeatureOff(f) => {
                format!("turn it on with `marketsync integrations feature {who} {f} on`")
            }
            Blocked::Setup => format!("activate it with `marketsync integrations activate {who}`"),
            Blocked::Disabled => format!("enable it with `marketsync integrations enable {who}`"),
            Blocked::Unverified => {
                format!("verify the credentials with `marketsync integrations verify {who}`")
            }
            Blocked::Deactivated => {
                format!("log in again with `marketsync integrations reactivate {who}`")
            }
            Blocked::Broken { .. } => format!(
                "repair the connection, then check it with `marketsync integrations verify {who}`"
            ),
            _ => format!("see its state with `marketsync integrations show {who}`"),
        };
        CliError::Refused(format!("{} ({}): {blocked}; {next}", self.name, self.id))
    }
}

/// `text` as one shell word: as is when it is plain, else in single quotes.
pub fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The command that adds the mapping `missing` waits for (the service or catalogue SKU left
/// for the operator to fill in, in capitals).
pub fn add_command(integration: &Named, missing: &MissingMapping) -> String {
    match missing {
        MissingMapping::Shipping(text) => format!(
            "marketsync mappings shipping add {} --text {} --service SERVICE",
            integration.arg(),
            quote(text)
        ),
        MissingMapping::Sku(sku) => format!(
            "marketsync mappings sku add {} --channel-sku {} --sku CATALOGUE_SKU",
            integration.arg(),
            quote(sku.as_str())
        ),
    }
}

/// What an edit did to the one mapping it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum ChangeKind {
    /// There was none; now there is.
    Added,
    /// There was one with another target; now it has this one.
    Replaced,
    /// There was one with this target already: nothing was written.
    Unchanged,
    /// It was removed.
    Removed,
}

fn sku(what: &str, text: &str) -> Result<Sku, CliError> {
    Sku::new(text).map_err(|e| CliError::Usage(format!("{what}: {e}")))
}

// ----- shared by shipping and SKUs -----

/// The integration `selector` names and its mappings now.
async fn mappings_of(
    ctx: &Context,
    selector: &str,
) -> Result<(IntegrationRecord, MappingSet), CliError> {
    let rec = ctx.integration(selector).await?;
    let set = ctx.engine.mappings(rec.id).await?;
    Ok((rec, set))
}

/// Runs `f` on the mappings of `rec` through the engine (audited; run again on a fresh copy
/// when another edit came first). Returns what the edit that was kept gave (`initial` if it
/// never ran) and the mappings after.
async fn edit<T>(
    ctx: &Context,
    rec: &IntegrationRecord,
    initial: T,
    mut f: impl FnMut(&mut MappingSet) -> T,
) -> Result<(T, MappingSet), CliError> {
    let mut result = initial;
    let set = ctx
        .engine
        .edit_mappings(rec.id, ctx.actor.clone(), |set| result = f(set))
        .await?;
    Ok((result, set))
}

/// What an `add` does to a mapping: `old_target_same` says whether there is one already with
/// the same target.
fn change_of(old_target_same: Option<bool>) -> ChangeKind {
    match old_target_same {
        Some(true) => ChangeKind::Unchanged,
        Some(false) => ChangeKind::Replaced,
        None => ChangeKind::Added,
    }
}

/// How many of the integration's orders are held for exactly `missing`.
async fn held_for(
    ctx: &Context,
    id: IntegrationId,
    missing: &MissingMapping,
) -> Result<usize, CliError> {
    let held = ctx.engine.held_by_mapping(id).await?;
    Ok(held.get(missing).copied().unwrap_or(0))
}

/// The human text of an `add`: `mapped` (what maps to what) and, when orders wait for the
/// `waiting_for` (the text, the SKU) just mapped, how to import them now.
fn added_text(
    change: ChangeKind,
    mapped: &str,
    integration: &Named,
    held_orders: usize,
    waiting_for: &str,
) -> String {
    let verb = match change {
        ChangeKind::Added => "mapped",
        ChangeKind::Replaced => "re-mapped",
        _ => "already mapped",
    };
    let mut t = format!("{verb} {mapped} for {}\n", integration.name);
    if held_orders > 0 {
        t.push_str(&format!(
            "{held_orders} held order(s) wait for this {waiting_for}: they import on the next run (now: `marketsync orders import {}`)\n",
            integration.arg()
        ));
    }
    t
}

// ----- shipping -----

/// `mappings shipping list --json`.
#[derive(Debug, Serialize)]
struct ShippingListDoc {
    integration: Named,
    shipping: Vec<ShippingMapping>,
}

/// `mappings shipping add|remove --json`.
#[derive(Debug, Serialize)]
struct ShippingEditDoc {
    integration: Named,
    change: ChangeKind,
    mapping: ShippingMapping,
    /// Orders held for exactly this text (they import on the next `orders import`).
    held_orders: usize,
    shipping: Vec<ShippingMapping>,
}

fn shipping_of(set: &MappingSet) -> Vec<ShippingMapping> {
    set.shipping_mappings().cloned().collect()
}

fn service_text(s: &ShippingService) -> String {
    let mut t = s.name.clone();
    let extra: Vec<&str> = [s.carrier.as_deref(), s.class.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !extra.is_empty() {
        t.push_str(&format!(" ({})", extra.join(", ")));
    }
    t
}

fn shipping_table(list: &[ShippingMapping]) -> String {
    let mut t = String::new();
    for m in list {
        t.push_str(&format!(
            "  {:<30} -> {}\n",
            format!("{:?}", m.channel_text),
            service_text(&m.service)
        ));
    }
    t
}

async fn shipping_list(ctx: &Context, selector: &str, out: Output) -> Result<(), CliError> {
    let (rec, set) = mappings_of(ctx, selector).await?;
    let doc = ShippingListDoc {
        integration: Named::of(&rec),
        shipping: shipping_of(&set),
    };
    out.print(&doc, |d| {
        if d.shipping.is_empty() {
            return format!(
                "{} has no shipping mappings; add one with `marketsync mappings shipping add {} --text TEXT --service SERVICE`\n",
                d.integration.name,
                d.integration.arg()
            );
        }
        format!(
            "Shipping mappings of {} (text exactly as the channel sends it -> service):\n{}",
            d.integration.name,
            shipping_table(&d.shipping)
        )
    })
}

async fn shipping_add(
    ctx: &Context,
    selector: &str,
    text: String,
    service: ShippingService,
    out: Output,
) -> Result<(), CliError> {
    let rec = ctx.integration(selector).await?;
    if service.name.trim().is_empty() {
        return Err(CliError::Usage(
            "--service must name the seller's shipping service".into(),
        ));
    }
    let mapping =
        ShippingMapping::new(text.clone(), service, ctx.engine.clock().now()).map_err(|e| {
            CliError::Usage(format!(
                "--text: {e}; give the shipping text exactly as `marketsync orders held` prints it"
            ))
        })?;
    let (change, set) = edit(ctx, &rec, ChangeKind::Unchanged, |set| {
        let old = set.shipping(&mapping.channel_text);
        let change = change_of(old.map(|old| old.service == mapping.service));
        if change != ChangeKind::Unchanged {
            set.insert_shipping(mapping.clone());
        }
        change
    })
    .await?;
    let held_orders = held_for(ctx, rec.id, &MissingMapping::Shipping(text.clone())).await?;
    let doc = ShippingEditDoc {
        integration: Named::of(&rec),
        change,
        mapping: set.shipping(&text).cloned().unwrap_or(mapping),
        held_orders,
        shipping: shipping_of(&set),
    };
    out.print(&doc, |d| {
        let mapped = format!(
            "{:?} -> {}",
            d.mapping.channel_text,
            service_text(&d.mapping.service)
        );
        added_text(d.change, &mapped, &d.integration, d.held_orders, "text")
    })
}

async fn shipping_remove(
    ctx: &Context,
    selector: &str,
    text: &str,
    out: Output,
) -> Result<(), CliError> {
    let rec = ctx.integration(selector).await?;
    let (removed, set) = edit(ctx, &rec, None, |set| set.remove_shipping(text)).await?;
    let Some(mapping) = removed else {
        return Err(CliError::NotFound(format!(
            "{} has no shipping mapping for exactly {text:?}; list them with `marketsync mappings shipping list {}`",
            rec.name,
            Named::of(&rec).arg()
        )));
    };
    let doc = ShippingEditDoc {
        integration: Named::of(&rec),
        change: ChangeKind::Removed,
        mapping,
        held_orders: 0,
        shipping: shipping_of(&set),
    };
    out.print(&doc, |d| {
        format!(
            "removed the shipping mapping for {:?} from {}; orders downloaded from now on with this text wait for a mapping\n",
            d.mapping.channel_text, d.integration.name
        )
    })
}

// ----- SKUs -----

/// `mappings sku list --json`.
#[derive(Debug, Serialize)]
struct SkuListDoc {
    integration: Named,
    skus: Vec<SkuMapping>,
}

/// `mappings sku add|remove --json`.
#[derive(Debug, Serialize)]
struct SkuEditDoc {
    integration: Named,
    change: ChangeKind,
    mapping: SkuMapping,
    /// Orders held for exactly this channel SKU (they import on the next `orders import`).
    held_orders: usize,
    skus: Vec<SkuMapping>,
}

fn skus_of(set: &MappingSet) -> Vec<SkuMapping> {
    set.sku_mappings().cloned().collect()
}

async fn sku_list(ctx: &Context, selector: &str, out: Output) -> Result<(), CliError> {
    let (rec, set) = mappings_of(ctx, selector).await?;
    let doc = SkuListDoc {
        integration: Named::of(&rec),
        skus: skus_of(&set),
    };
    out.print(&doc, |d| {
        if d.skus.is_empty() {
            return format!(
                "{} has no SKU mappings (a channel SKU that is in the catalogue needs none); add one with `marketsync mappings sku add {} --channel-sku SKU --sku CATALOGUE_SKU`\n",
                d.integration.name,
                d.integration.arg()
            );
        }
        let mut t = format!(
            "SKU mappings of {} (channel SKU -> catalogue SKU):\n",
            d.integration.name
        );
        for m in &d.skus {
            t.push_str(&format!(
                "  {:<30} -> {}\n",
                m.channel_sku.as_str(),
                m.inventory_sku.as_str()
            ));
        }
        t
    })
}

async fn sku_add(
    ctx: &Context,
    selector: &str,
    channel_sku: &str,
    inventory_sku: &str,
    out: Output,
) -> Result<(), CliError> {
    let rec = ctx.integration(selector).await?;
    let mapping = SkuMapping {
        channel_sku: sku("--channel-sku", channel_sku)?,
        inventory_sku: sku("--sku", inventory_sku)?,
        created_at: ctx.engine.clock().now(),
    };
    let (change, set) = edit(ctx, &rec, ChangeKind::Unchanged, |set| {
        let old = set.sku(&mapping.channel_sku);
        let change = change_of(old.map(|old| old.inventory_sku == mapping.inventory_sku));
        if change != ChangeKind::Unchanged {
            set.insert_sku(mapping.clone());
        }
        change
    })
    .await?;
    let missing = MissingMapping::Sku(mapping.channel_sku.clone());
    let held_orders = held_for(ctx, rec.id, &missing).await?;
    let doc = SkuEditDoc {
        integration: Named::of(&rec),
        change,
        mapping: set.sku(&mapping.channel_sku).cloned().unwrap_or(mapping),
        held_orders,
        skus: skus_of(&set),
    };
    out.print(&doc, |d| {
        let mapped = format!(
            "channel SKU {} -> {}",
            d.mapping.channel_sku.as_str(),
            d.mapping.inventory_sku.as_str()
        );
        added_text(d.change, &mapped, &d.integration, d.held_orders, "SKU")
    })
}

async fn sku_remove(
    ctx: &Context,
    selector: &str,
    channel_sku: &str,
    out: Output,
) -> Result<(), CliError> {
    let rec = ctx.integration(selector).await?;
    let key = sku("--channel-sku", channel_sku)?;
    let (removed, set) = edit(ctx, &rec, None, |set| set.remove_sku(&key)).await?;
    let Some(mapping) = removed else {
        return Err(CliError::NotFound(format!(
            "{} has no SKU mapping for channel SKU {channel_sku:?}; list them with `marketsync mappings sku list {}`",
            rec.name,
            Named::of(&rec).arg()
        )));
    };
    let doc = SkuEditDoc {
        integration: Named::of(&rec),
        change: ChangeKind::Removed,
        mapping,
        held_orders: 0,
        skus: skus_of(&set),
    };
    out.print(&doc, |d| {
        format!(
            "removed the SKU mapping for {} from {}\n",
            d.mapping.channel_sku.as_str(),
            d.integration.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(quote("Standard"), "Standard");
        assert_eq!(quote("Next Day"), "'Next Day'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn a_blocked_operation_names_the_command_that_unblocks_it() {
        let named = Named {
            id: IntegrationId::new(),
            name: "CA feed".into(),
        };
        let blocked = |blocked| EngineError::Blocked {
            integration: named.id,
            blocked,
        };
        let e = named.refusal(blocked(Blocked::FeatureOff(marketsync::Feature::Orders)));
        assert_eq!(e.exit_code(), 4);
        assert!(
            e.to_string()
                .contains("marketsync integrations feature 'CA feed' orders on"),
            "{e}"
        );
        let e = named.refusal(blocked(Blocked::Setup));
        assert!(
            e.to_string()
                .contains("marketsync integrations activate 'CA feed'"),
            "{e}"
        );
        let e = named.refusal(EngineError::NoLabel);
        assert_eq!(e.exit_code(), 4);
        let e = named.refusal(EngineError::UnknownIntegration(named.id));
        assert_eq!(e.exit_code(), 3);
    }

    #[test]
    fn a_name_that_looks_like_a_flag_or_an_id_is_given_as_the_id() {
        let id = IntegrationId::new();
        for name in ["-x", "", &id.to_string()] {
            let named = Named {
                id,
                name: name.to_owned(),
            };
            assert_eq!(named.arg(), id.to_string());
        }
    }

    #[test]
    fn the_text_of_an_add_names_the_mapping_and_the_orders_it_releases() {
        let named = Named {
            id: IntegrationId::new(),
            name: "CA feed".into(),
        };
        let t = added_text(
            ChangeKind::Added,
            "\"Next Day\" -> Express",
            &named,
            0,
            "text",
        );
        assert_eq!(t, "mapped \"Next Day\" -> Express for CA feed\n");
        let t = added_text(
            ChangeKind::Unchanged,
            "channel SKU OLD-1 -> GTR-2",
            &named,
            0,
            "SKU",
        );
        assert_eq!(t, "already mapped channel SKU OLD-1 -> GTR-2 for CA feed\n");
        let t = added_text(
            ChangeKind::Replaced,
            "channel SKU OLD-1 -> GTR-2",
            &named,
            2,
            "SKU",
        );
        assert_eq!(
            t,
            "re-mapped channel SKU OLD-1 -> GTR-2 for CA feed\n\
             2 held order(s) wait for this SKU: they import on the next run \
             (now: `marketsync orders import 'CA feed'`)\n"
        );
    }

    #[test]
    fn the_add_command_names_the_exact_text() {
        let named = Named {
            id: IntegrationId::new(),
            name: "shop ca".into(),
        };
        let c = add_command(
            &named,
            &MissingMapping::Shipping("Economy (5-8 days)".into()),
        );
        assert_eq!(
            c,
            "marketsync mappings shipping add 'shop ca' --text 'Economy (5-8 days)' --service SERVICE"
        );
        let c = add_command(&named, &MissingMapping::Sku(Sku::new("OLD-1").unwrap()));
        assert_eq!(
            c,
            "marketsync mappings sku add 'shop ca' --channel-sku OLD-1 --sku CATALOGUE_SKU"
        );
    }
}
