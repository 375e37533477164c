//! An integration's adapter, made from three parts so that any process can rebuild it:
//!
//! 1. the integration's own adapter settings, stored with it
//!    ([`IntegrationSettings::adapter`](marketsync::IntegrationSettings::adapter)): the
//!    adapter config as its serde writes it (base URL, currency, profile id, …; adapter configs
//!    never write their secrets);
//! 2. the application's settings and secrets from the config file (`[channels.<kind>]`:
//!    ChannelAdvisor's shared secret, Allegro's client secret, Tradera's app key);
//! 3. the seller's secrets from the sealed credentials, which
//!    [`Engine::attach_channel`](marketsync::Engine::attach_channel) hands to the adapter
//!    ([`Context::attach`](crate::context::Context::attach)). Until then the adapter holds a
//!    placeholder that no marketplace accepts.

use std::sync::Arc;

use marketsync::{
    Channel, ChannelConfig, ChannelKind, ExposeSecret, IntegrationRecord, SecretString,
    channel_from_config,
};
use serde_json::{Map, Value};

use crate::config::{Config, adapter_name, app_secret_fields};

use crate::error::CliError;

/// The seller's secret field of each adapter config (the rest log in, and their session
/// comes from the sealed credentials only).
pub fn seller_secret_field(kind: ChannelKind) -> Option<&'static str> {
    match kind {
        ChannelKind::Reverb => Some("token"),
        ChannelKind::ChannelAdvisor | ChannelKind::OfferUp => Some("refresh_token"),
        _ => None,
    }
}

/// Stands in for the seller's secret until the sealed credentials are handed over.
const NOT_YET_HANDED_OVER: &str = "credentials-not-handed-over";

/// The adapter of a stored integration, built from its stored adapter settings and the config
/// file's application settings; the seller's credentials are handed over by
/// [`Engine::attach_channel`](marketsync::Engine::attach_channel).
pub fn channel_for(
    config: &Config,
    record: &IntegrationRecord,
) -> Result<Arc<dyn Channel>, CliError> {
    let Some(stored) = record.settings.adapter.clone() else {
        return Err(CliError::Refused(format!(
            "integration {} ({}) has no stored adapter settings: it was made by a host program, which must run it; connect it again with `marketsync integrations connect` to run it from here",
            record.id, record.name
        )));
    };
    let Value::Object(mut fields) = stored else {
        return Err(CliError::Other(format!(
            "integration {}: the stored adapter settings are not a JSON object",
            record.id
        )));
    };
    let name = adapter_of(record.channel)?;
    add_app_secrets(config, name, &mut fields)?;
    if let Some(field) = seller_secret_field(record.channel) {
        fields.insert(
            field.to_owned(),
            Value::String(NOT_YET_HANDED_OVER.to_owned()),
        );
    }
    let (channel, _) = build(name, fields).map_err(|e| {
        let from = match config.channels.apps.get(name) {
            Some(app) => app.origin.to_string(),
            None => format!("`channels.{name}` (not in the config file)"),
        };
        CliError::Config(format!(
            "integration {} ({}): the adapter cannot be made: {e}; the application's settings come from {from}",
            record.id, record.name
        ))
    })?;
    Ok(channel)
}

/// A new integration's adapter: the config file's `[channels.<kind>]` settings, then the
/// command line's `settings` over them, then the seller's secret. Returns the adapter and the
/// settings to store with the integration (no secret in them).
pub fn new_channel(
    config: &Config,
    kind: ChannelKind,
    settings: Map<String, Value>,
    seller_secret: Option<&SecretString>,
) -> Result<(Arc<dyn Channel>, Value), CliError> {
    let name = adapter_of(kind)?;
    let mut fields = match config.channels.apps.get(name) {
        Some(app) => match serde_json::to_value(&app.fields) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        },
        None => Map::new(),
    };
    fields.extend(settings);
    if matches!(kind, ChannelKind::ChannelAdvisor | ChannelKind::OfferUp) {
        fields.insert(
            "kind".to_owned(),
            serde_json::to_value(kind).unwrap_or(Value::Null),
        );
    }
    add_app_secrets(config, name, &mut fields)?;
    if let (Some(field), Some(secret)) = (seller_secret_field(kind), seller_secret) {
        fields.insert(
            field.to_owned(),
            Value::String(secret.expose_secret().to_owned()),
        );
    }
    build(name, fields).map_err(|e| {
        CliError::Usage(format!(
            "the {name} adapter's settings are not usable: {e}; pass the missing setting with `--setting KEY=VALUE` (or the flag for it), or set it in the config's `[channels.{name}]`"
        ))
    })
}

/// Checks a `[channels.<name>]` table's non-secret fields against the adapter's config
/// (unknown fields, wrong types) when the config is read, without reading any secret:
/// placeholders stand in for the secrets and for the per-integration fields the table may
/// leave to `integrations connect`. Returns the adapter's complaint.
pub fn check_app_settings(name: &str, fields: &toml::Table) -> Result<(), String> {
    let Ok(Value::Object(mut map)) = serde_json::to_value(fields) else {
        return Err("the table does not convert to the adapter's settings".into());
    };
    let text = |t: &str| Value::String(t.to_owned());
    let required: Vec<(&str, Value)> = match name {
        "reverb" => vec![
            ("default_currency", text("USD")),
            ("token", text("placeholder")),
        ],
        "channeladvisor" => vec![
            ("application_id", text("placeholder")),
            ("profile_id", Value::from(1)),
            ("refresh_token", text("placeholder")),
        ],
        "allegro" => vec![("client_id", text("placeholder"))],
        "tradera" => vec![("app_id", Value::from(1))],
        _ => Vec::new(),
    };
    for (field, value) in required {
        map.entry(field).or_insert(value);
    }
    for field in app_secret_fields(name) {
        map.insert((*field).to_owned(), text("placeholder"));
    }
    map.insert("channel".to_owned(), Value::String(name.to_owned()));
    serde_json::from_value::<ChannelConfig>(Value::Object(map))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn adapter_of(kind: ChannelKind) -> Result<&'static str, CliError> {
    adapter_name(kind).ok_or_else(|| {
        CliError::Usage(format!(
            "the marketsync binary has no adapter for {kind}; a host program must run it"
        ))
    })
}

fn add_app_secrets(
    config: &Config,
    name: &str,
    fields: &mut Map<String, Value>,
) -> Result<(), CliError> {
    let app = config.channels.apps.get(name);
    for field in app_secret_fields(name) {
        match app.and_then(|a| a.secrets.get(*field)) {
            Some(secret) => {
                let value = secret.read()?;
                fields.insert(
                    (*field).to_owned(),
                    Value::String(value.expose_secret().to_owned()),
                );
            }
            None => {
                return Err(CliError::Config(format!(
                    "`channels.{name}.{field}` is missing from the config file: the {name} application's secret is needed; add `{field} = {{ env = \"NAME\" }}` under `[channels.{name}]`"
                )));
            }
        }
    }
    Ok(())
}

/// Reads the adapter config (the error names fields, never values) and makes the adapter.
fn build(name: &str, mut fields: Map<String, Value>) -> Result<(Arc<dyn Channel>, Value), String> {
    fields.insert("channel".to_owned(), Value::String(name.to_owned()));
    let config: ChannelConfig =
        serde_json::from_value(Value::Object(fields)).map_err(|e| e.to_string())?;
    let stored = stored_settings(&config)?;
    let channel = channel_from_config(config).map_err(|e| e.to_string())?;
    Ok((channel, stored))
}

/// The adapter config as it is stored: its own serde, which leaves the secrets out.
fn stored_settings(config: &ChannelConfig) -> Result<Value, String> {
    let value = match config {
        ChannelConfig::ChannelAdvisor(c) => serde_json::to_value(c),
        ChannelConfig::Reverb(c) => serde_json::to_value(c),
        ChannelConfig::Allegro(c) => serde_json::to_value(c),
        ChannelConfig::Tradera(c) => serde_json::to_value(c),
        _ => return Err("this adapter is not supported by the marketsync binary".into()),
    };
    let mut value = value.map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut value {
        // Adapter configs that write a placeholder for a secret (never the secret itself):
        // leave it out, so the stored settings hold no secret field at all.
        for field in [
            "token",
            "refresh_token",
            "shared_secret",
            "client_secret",
            "app_key",
        ] {
            map.remove(field);
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn config(text: &str) -> Config {
        Config::parse(
            Some(Path::new("t.toml")),
            text,
            &BTreeMap::<String, String>::new(),
        )
        .unwrap()
    }

    #[test]
    fn stored_settings_hold_no_secret_and_rebuild() {
        let c = config("");
        let mut settings = Map::new();
        settings.insert("default_currency".into(), Value::String("USD".into()));
        settings.insert(
            "base_url".into(),
            Value::String("http://127.0.0.1:9".into()),
        );
        let secret = SecretString::from("tok-very-secret-1".to_owned());
        let (channel, stored) =
            new_channel(&c, ChannelKind::Reverb, settings, Some(&secret)).unwrap();
        assert_eq!(channel.kind(), ChannelKind::Reverb);
        let text = stored.to_string();
        assert!(!text.contains("tok-very-secret-1"), "{text}");
        assert!(text.contains("127.0.0.1:9"), "{text}");
    }

    #[test]
    fn a_missing_app_secret_names_the_config_field() {
        let c = config("[channels.channeladvisor]\napplication_id = \"app\"\n");
        let Err(e) = new_channel(&c, ChannelKind::ChannelAdvisor, Map::new(), None) else {
            panic!("expected an error");
        };
        assert!(
            e.to_string()
                .contains("channels.channeladvisor.shared_secret"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn a_missing_adapter_setting_says_how_to_give_it() {
        let c = config("");
        let secret = SecretString::from("t".to_owned());
        let Err(e) = new_channel(&c, ChannelKind::Reverb, Map::new(), Some(&secret)) else {
            panic!("expected an error");
        };
        assert!(e.to_string().contains("default_currency"), "{e}");
        assert!(e.to_string().contains("--setting"), "{e}");
    }
}
