//! The binary's one error type and its exit codes.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | anything else (the catalogue file unreadable, an I/O error) |
//! | 2 | usage or configuration error (a wrong flag, a wrong or missing config field) |
//! | 3 | not found (no such integration, order, notification) |
//! | 4 | refused by the integration's lifecycle or the engine's rules (blocked, Live without a support override, an outdated plan) |
//! | 5 | the channel failed (refused credentials, unreachable, rate limited) |
//! | 6 | the store failed while a command ran (a conflict after retries, the database gone); a store that cannot be opened at all is exit 2, naming `store.url` |
//!
//! Every message ends with what to do next. No message carries a secret: errors are built from
//! the engine's errors, which never hold one, and from names of fields and variables.

use marketsync::engine::EngineError;
use marketsync::{ChannelError, StoreError};

/// What went wrong, by the exit code it gives.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A wrong command line (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A wrong or missing configuration field, or an environment variable or file it names
    /// (exit 2). The message names the field, and the file and line when it is in the file.
    #[error("{0}")]
    Config(String),
    /// The integration, order or other thing asked for does not exist (exit 3).
    #[error("{0}")]
    NotFound(String),
    /// The lifecycle or the engine's rules refused the operation (exit 4).
    #[error("{0}")]
    Refused(String),
    /// The channel failed (exit 5).
    #[error("{0}")]
    Channel(String),
    /// The store failed (exit 6).
    #[error("{0}")]
    Store(String),
    /// Anything else (exit 1).
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Other(_) => 1,
            CliError::Usage(_) | CliError::Config(_) => 2,
            CliError::NotFound(_) => 3,
            CliError::Refused(_) => 4,
            CliError::Channel(_) => 5,
            CliError::Store(_) => 6,
        }
    }

    /// The stable name of the error's kind, as `--json` writes it (`error.code`).
    pub fn code(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::Config(_) => "config",
            CliError::NotFound(_) => "not_found",
            CliError::Refused(_) => "refused",
            CliError::Channel(_) => "channel",
            CliError::Store(_) => "store",
            CliError::Other(_) => "other",
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        CliError::Store(format!(
            "{e}; check that the database in the config's `store.url` is reachable, then run the command again"
        ))
    }
}

impl From<ChannelError> for CliError {
    fn from(e: ChannelError) -> Self {
        CliError::Channel(channel_message(&e))
    }
}

fn channel_message(e: &ChannelError) -> String {
    let next = match e.kind() {
        marketsync::ErrorKind::Auth => {
            "the channel refused the credentials: enter new ones with `marketsync integrations connect` (or deactivate and reactivate a login-type integration)"
        }
        marketsync::ErrorKind::RateLimited => {
            "the channel asks to slow down: run the command again later"
        }
        marketsync::ErrorKind::Transient => {
            "the channel did not answer properly: run the command again later"
        }
        marketsync::ErrorKind::Invalid => {
            "the channel refused the request as invalid: check the integration's adapter settings"
        }
        _ => "check the channel's message above, then run the command again",
    };
    format!("{e}; {next}")
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownIntegration(_) => CliError::NotFound(format!(
                "{e}; list the integrations with `marketsync integrations list`"
            )),
            EngineError::UnknownOrder(_) => CliError::NotFound(format!(
                "{e}; list the integration's orders with `marketsync orders held <integration>`"
            )),
            EngineError::NoCredentials(_) => CliError::NotFound(format!(
                "{e}; enter credentials with `marketsync integrations connect`"
            )),
            EngineError::NoChannel(_) => CliError::Other(e.to_string()),
            EngineError::Channel(c) => CliError::Channel(channel_message(&c)),
            EngineError::Store(s) => CliError::from(s),
            EngineError::Vault(v) => CliError::Config(format!(
                "{v}; check the credential key the config's `credential_key` names (the key that sealed the credentials is needed to open them)"
            )),
            EngineError::Catalog(c) => CliError::Other(format!(
                "{c}; check the catalogue file the config's `catalog.file` names"
            )),
            EngineError::ChannelFactory { .. } => CliError::Config(format!(
                "{e}; check the application settings in the config's `[channels.<kind>]` table and the integration's stored settings (`marketsync integrations show <integration>`)"
            )),
            EngineError::Blocked { .. }
            | EngineError::Lifecycle(_)
            | EngineError::DeletePlanOutdated { .. }
            | EngineError::Unsupported { .. }
            | EngineError::ShippingMappingsRequired { .. }
            | EngineError::NoLabel
            | EngineError::OrderNotImported { .. }
            | EngineError::ThirdPartyManaged(_)
            | EngineError::PlanMismatch
            | EngineError::ReconcilePlanExpired { .. }
            | EngineError::ReconcilePlanRearmed { .. }
            | EngineError::ReconcileTooLarge { .. }
            | EngineError::IdempotencyConflict { .. }
            | EngineError::PreviouslyRefused { .. } => CliError::Refused(format!(
                "{e}; see the integration's state with `marketsync integrations show <integration>`"
            )),
            other => CliError::Other(other.to_string()),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Other(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketsync::IntegrationId;

    #[test]
    fn exit_codes_are_distinct_per_kind() {
        let all = [
            CliError::Other("x".into()),
            CliError::Usage("x".into()),
            CliError::NotFound("x".into()),
            CliError::Refused("x".into()),
            CliError::Channel("x".into()),
            CliError::Store("x".into()),
        ];
        let codes: Vec<u8> = all.iter().map(CliError::exit_code).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6]);
        assert_eq!(CliError::Config("x".into()).exit_code(), 2);
    }

    #[test]
    fn engine_errors_map_to_their_kind_with_a_next_step() {
        let id = IntegrationId::new();
        let e = CliError::from(EngineError::UnknownIntegration(id));
        assert_eq!(e.exit_code(), 3);
        assert!(
            e.to_string().contains("marketsync integrations list"),
            "{e}"
        );
        let e = CliError::from(EngineError::NoLabel);
        assert_eq!(e.exit_code(), 4);
        assert!(e.to_string().contains("integrations show"), "{e}");
        let e = CliError::from(EngineError::Channel(ChannelError::transient("down")));
        assert_eq!(e.exit_code(), 5);
        assert!(e.to_string().contains("again later"), "{e}");
    }
}
