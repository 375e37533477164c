#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod adapters;
mod args;
mod catalog;
mod commands;
mod config;
mod context;
mod error;
mod output;
mod service;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::config::{Config, LogFormat, ProcessEnv};
use crate::context::Context;
use crate::error::CliError;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    let result = start(cli, out);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Reads the config, starts logging and the runtime, and runs the command.
fn start(cli: Cli, out: Output) -> Result<(), CliError> {
    let config = Config::load(cli.config.as_deref(), &ProcessEnv)?;
    init_logging(&config, matches!(cli.command, Command::Run(_)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let ctx = Context::open(config).await?;
        dispatch(&ctx, cli.command, out).await
    })
}

/// Logs to stderr, as the config's `[log]` says (`RUST_LOG`, when set and valid, overrides
/// `log.level`). Without a level, the service logs at `info` and the operator commands at
/// `warn`: their output is their result, not a log.
fn init_logging(config: &Config, service: bool) {
    let default = if service { "info" } else { "warn" };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .or_else(|| {
            let level = config.log.level.as_deref().unwrap_or(default);
            tracing_subscriber::EnvFilter::try_new(level).ok()
        })
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: a service's log goes to a file or the journal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // A second subscriber cannot be installed; the first one stays.
    let _ = match config.log.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs one command.
async fn dispatch(ctx: &Context, command: Command, out: Output) -> Result<(), CliError> {
    match command {
        Command::Integrations(a) => commands::integrations::run(ctx, a, out).await,
        Command::Mappings(a) => commands::mappings::run(ctx, a, out).await,
        Command::Orders(a) => commands::orders::run(ctx, a, out).await,
        Command::Listings(a) => commands::listings::run(ctx, a, out).await,
        Command::Reconcile(a) => commands::listings::reconcile(ctx, a, out).await,
        Command::Outbox(a) => commands::outbox::run(ctx, a, out).await,
        Command::Notifications(a) => commands::notifications::run(ctx, a, out).await,
        Command::Audit(a) => commands::audit::run(ctx, a, out).await,
        Command::Run(a) => service::run(ctx, a, out).await,
    }
}
