//! The command line: every command and its flags (clap derive).
//!
//! An integration is named by its id or by its name (`<INTEGRATION>`); secrets are never
//! flags (see `integrations connect`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// marketsync: keep listings in step and import orders exactly once across marketplaces.
#[derive(Debug, Parser)]
#[command(name = "marketsync", version, about, long_about = None)]
pub struct Cli {
    /// The config file (TOML). Default: `marketsync.toml` in the working directory; without
    /// that file every setting takes its default.
    #[arg(long, global = true, env = "MARKETSYNC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the result as one JSON document on stdout (errors as JSON on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect, inspect and change integrations.
    Integrations(IntegrationsArgs),
    /// Shipping and SKU mappings of an integration.
    Mappings(MappingsArgs),
    /// Explain, list held, and import orders.
    Orders(OrdersArgs),
    /// Link and sync listings now.
    Listings(ListingsArgs),
    /// End the channel listings not on the integration's label: plan, then confirm.
    Reconcile(ReconcileArgs),
    /// The outbox of shipments, refunds and cancellations.
    Outbox(OutboxArgs),
    /// The in-app message list.
    Notifications(NotificationsArgs),
    /// An integration's audit log.
    Audit(AuditArgs),
    /// Run the scheduler as a long-running service (health and metrics over HTTP).
    Run(RunArgs),
}

// ----- integrations -----

/// `marketsync integrations …`
#[derive(Debug, Args)]
pub struct IntegrationsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: IntegrationsCommand,
}

/// The integrations commands.
#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// Every integration (deleted ones with `--all`).
    List {
        /// Include deleted integrations.
        #[arg(long)]
        all: bool,
    },
    /// One integration: lifecycle, health, features, label, settings.
    Show(IntegrationRef),
    /// Create an integration and enter its credentials (or log in).
    Connect(ConnectArgs),
    /// Check the credentials with the channel (Healthy or Broken).
    Verify(IntegrationRef),
    /// Turn the integration on: data flows again (as the features allow).
    Enable(IntegrationRef),
    /// Turn the integration off: nothing is downloaded or updated until enabled.
    Disable(IntegrationRef),
    /// Activate the integration (Setup → Testing): data starts to flow.
    Activate(IntegrationRef),
    /// Login-type repair, step one: deactivate.
    Deactivate(IntegrationRef),
    /// Login-type repair, step two: reactivate and log in again.
    Reactivate(ReactivateArgs),
    /// Set the integration's label (which catalogue items it lists).
    Label(LabelArgs),
    /// Turn one feature switch on or off.
    Feature(FeatureArgs),
    /// Delete the integration: prints the plan; `--confirm` carries it out.
    Delete(DeleteArgs),
}

/// An integration, by id or name.
#[derive(Debug, Args)]
pub struct IntegrationRef {
    /// The integration's id or name.
    #[arg(value_name = "INTEGRATION")]
    pub integration: String,
}

/// The marketplaces `connect` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChannelArg {
    /// Reverb (a personal access token).
    Reverb,
    /// ChannelAdvisor (an OAuth refresh token of the seller's profile).
    Channeladvisor,
    /// OfferUp through ChannelAdvisor (an OAuth refresh token).
    Offerup,
    /// Allegro (log in: the device flow).
    Allegro,
    /// Tradera (log in: token login).
    Tradera,
}

/// `integrations connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The marketplace.
    #[arg(long, value_enum)]
    pub channel: ChannelArg,
    /// The integration's name (the seller's; shown in lists and messages).
    #[arg(long)]
    pub name: String,
    /// The currency of orders the channel sends without one. Default: the marketplace's
    /// (USD for Reverb and ChannelAdvisor, PLN for Allegro, SEK for Tradera).
    #[arg(long)]
    pub currency: Option<String>,
    /// The adapter's base URL (default: the config's `channels.<kind>.base_url`, else the
    /// marketplace's production API).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// ChannelAdvisor: the seller's profile id.
    #[arg(long)]
    pub profile_id: Option<u64>,
    /// One more adapter setting, `KEY=VALUE` (VALUE read as JSON when it parses, else as text);
    /// any non-secret field of the adapter's config. May be repeated.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// The integration's label (which catalogue items it lists); can be set later with
    /// `integrations label`.
    #[arg(long)]
    pub label: Option<String>,
    /// Read the seller's secret (token) from standard input instead of asking for it.
    #[arg(long, conflicts_with = "secret_env")]
    pub secret_stdin: bool,
    /// Read the seller's secret (token) from this environment variable instead of asking.
    #[arg(long, value_name = "NAME")]
    pub secret_env: Option<String>,
    /// Check the credentials with the channel right after entering them.
    #[arg(long)]
    pub verify: bool,
    /// Login-type channels: how long to wait for the login to complete, in seconds.
    #[arg(long, default_value_t = 600)]
    pub login_timeout_secs: u64,
}

/// `integrations reactivate`.
#[derive(Debug, Args)]
pub struct ReactivateArgs {
    /// The integration's id or name.
    #[arg(value_name = "INTEGRATION")]
    pub integration: String,
    /// How long to wait for the login to complete, in seconds.
    #[arg(long, default_value_t = 600)]
    pub login_timeout_secs: u64,
}

/// A support override (`--support-override BY --reason WHY`): what Live requires for some
/// changes.
#[derive(Debug, Args)]
pub struct SupportOverrideArgs {
    /// Support's name: authorises a change that Live otherwise refuses.
    #[arg(long, value_name = "BY", requires = "reason")]
    pub support_override: Option<String>,
    /// Why support authorises the change.
    #[arg(long, requires = "support_override")]
    pub reason: Option<String>,
}

/// `integrations label`.
#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The integration's id or name.
    #[arg(value_name = "INTEGRATION")]
    pub integration: String,
    /// The new label.
    pub label: String,
    /// In Live, a label change needs a support override.
    #[command(flatten)]
    pub support: SupportOverrideArgs,
}

/// The four feature switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FeatureArg {
    /// Send the listing feed.
    Listings,
    /// End channel listings not on the label.
    Reconciler,
    /// Download orders.
    Orders,
    /// Send shipments, refunds and cancellations.
    Fulfillments,
}

/// On or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// Turn it on.
    On,
    /// Turn it off.
    Off,
}

/// `integrations feature`.
#[derive(Debug, Args)]
pub struct FeatureArgs {
    /// The integration's id or name.
    #[arg(value_name = "INTEGRATION")]
    pub integration: String,
    /// Which switch.
    #[arg(value_enum)]
    pub feature: FeatureArg,
    /// On or off.
    #[arg(value_enum)]
    pub state: OnOff,
    /// In Live, turning a feature off (or listings/orders on) needs a support override.
    #[command(flatten)]
    pub support: SupportOverrideArgs,
}

/// `integrations delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The integration's id or name.
    #[arg(value_name = "INTEGRATION")]
    pub integration: String,
    /// Carry the plan out (without it, only the plan is printed).
    #[arg(long)]
    pub confirm: bool,
    /// With `--confirm`: the plan to confirm, as `integrations delete --json` printed it. The
    /// delete is refused when orders arrived since. Without it, a fresh plan is printed and
    /// carried out.
    #[arg(long, value_name = "FILE", requires = "confirm")]
    pub plan: Option<PathBuf>,
}

// ----- mappings -----

/// `marketsync mappings …`
#[derive(Debug, Args)]
pub struct MappingsArgs {
    /// Which mappings.
    #[command(subcommand)]
    pub command: MappingsCommand,
}

/// Shipping or SKU mappings.
#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Shipping texts the channel uses → the seller's shipping services.
    Shipping {
        /// What to do.
        #[command(subcommand)]
        command: ShippingCommand,
    },
    /// Channel SKUs → the catalogue's SKUs.
    Sku {
        /// What to do.
        #[command(subcommand)]
        command: SkuCommand,
    },
}

/// `mappings shipping …`
#[derive(Debug, Subcommand)]
pub enum ShippingCommand {
    /// The integration's shipping mappings.
    List(IntegrationRef),
    /// Map a shipping text to a service.
    Add {
        /// The integration's id or name.
        #[arg(value_name = "INTEGRATION")]
        integration: String,
        /// The channel's shipping text, exactly as `orders held` prints it.
        #[arg(long)]
        text: String,
        /// The seller's shipping service name.
        #[arg(long)]
        service: String,
        /// The carrier.
        #[arg(long)]
        carrier: Option<String>,
        /// The service class.
        #[arg(long)]
        class: Option<String>,
    },
    /// Remove the mapping of a shipping text.
    Remove {
        /// The integration's id or name.
        #[arg(value_name = "INTEGRATION")]
        integration: String,
        /// The channel's shipping text.
        #[arg(long)]
        text: String,
    },
}

/// `mappings sku …`
#[derive(Debug, Subcommand)]
pub enum SkuCommand {
    /// The integration's SKU mappings.
    List(IntegrationRef),
    /// Map a channel SKU to a catalogue SKU.
    Add {
        /// The integration's id or name.
        #[arg(value_name = "INTEGRATION")]
        integration: String,
        /// The SKU as the channel sends it.
        #[arg(long)]
        channel_sku: String,
        /// The catalogue's SKU.
        #[arg(long)]
        sku: String,
    },
    /// Remove the mapping of a channel SKU.
    Remove {
        /// The integration's id or name.
        #[arg(value_name = "INTEGRATION")]
        integration: String,
        /// The SKU as the channel sends it.
        #[arg(long)]
        channel_sku: String,
    },
}

// ----- orders -----

/// `marketsync orders …`
#[derive(Debug, Args)]
pub struct OrdersArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: OrdersCommand,
}

/// The orders commands.
#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// Why an order was (not) imported, in the seller's words.
    Explain {
        /// The integration's id or name.
        #[arg(value_name = "INTEGRATION")]
        integration: String,
        /// The channel's order id.
        #[arg(value_name = "ORDER")]
        order: String,
    },
    /// Orders held for a missing mapping, grouped by it, with the exact text to map.
    Held(IntegrationRef),
    /// Import orders now (one run).
    Import(IntegrationRef),
}

// ----- listings -----

/// `marketsync listings …`
#[derive(Debug, Args)]
pub struct ListingsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ListingsCommand,
}

/// The listings commands.
#[derive(Debug, Subcommand)]
pub enum ListingsCommand {
    /// Link the channel's existing listings to catalogue items (one run now).
    Link(IntegrationRef),
    /// Send quantities and prices of the labelled items (one run now).
    Sync(IntegrationRef),
}

// ----- reconcile -----

/// `marketsync reconcile …`
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ReconcileCommand,
}

/// The reconcile commands.
#[derive(Debug, Subcommand)]
pub enum ReconcileCommand {
    /// The dry run: every channel listing that would be ended.
    Plan {
        /// The integration's id or name.
        #[arg(value_name = "INTEGRATION")]
        integration: String,
        /// Also write the plan to this file, for `reconcile confirm --plan`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// End the listings of a plan (checked again first).
    Confirm {
        /// The integration's id or name.
        #[arg(value_name = "INTEGRATION")]
        integration: String,
        /// The plan, as `reconcile plan --out` (or `--json`) wrote it.
        #[arg(long, value_name = "FILE")]
        plan: PathBuf,
        /// A person confirms a plan that ends more than the integration's limit.
        #[arg(long)]
        large: bool,
    },
}

// ----- outbox -----

/// `marketsync outbox …`
#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: OutboxCommand,
}

/// The outbox commands.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// The integration's outbox entries.
    List {
        /// The integration's id or name.
        #[arg(value_name = "INTEGRATION")]
        integration: String,
        /// Only entries not sent yet (pending or failed).
        #[arg(long)]
        unsent: bool,
    },
    /// Send the integration's pending entries now (one run).
    Retry(IntegrationRef),
}

// ----- notifications -----

/// `marketsync notifications …`
#[derive(Debug, Args)]
pub struct NotificationsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: NotificationsCommand,
}

/// The notifications commands.
#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// The in-app messages, newest first.
    List {
        /// Only this integration's messages.
        #[arg(long, value_name = "INTEGRATION")]
        integration: Option<String>,
        /// Only unread messages.
        #[arg(long)]
        unread: bool,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Mark messages read: by id, or every message of an integration.
    Read {
        /// The messages' ids.
        #[arg(value_name = "ID", required_unless_present = "integration")]
        ids: Vec<String>,
        /// Every unread message of this integration.
        #[arg(long, value_name = "INTEGRATION", conflicts_with = "ids")]
        integration: Option<String>,
    },
}

// ----- audit -----

/// `marketsync audit <INTEGRATION>`
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The integration's id or name.
    #[arg(value_name = "INTEGRATION")]
    pub integration: String,
    /// At most this many events, newest last.
    #[arg(long)]
    pub limit: Option<usize>,
}

// ----- run -----

/// `marketsync run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where the health and metrics endpoint listens (overrides `service.listen` and
    /// MARKETSYNC_LISTEN).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn secrets_have_no_flag() {
        let connect = Cli::try_parse_from([
            "marketsync",
            "integrations",
            "connect",
            "--channel",
            "reverb",
            "--name",
            "shop",
            "--token",
            "x",
        ]);
        assert!(
            connect.is_err(),
            "a token must not be accepted on the command line"
        );
    }
}
