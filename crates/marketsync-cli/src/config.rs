//! The config file (TOML): where the store is, where the credential key is read from, the
//! catalogue file, scheduler limits, the service's address, logging, notification transports,
//! and the marketplaces' application settings.
//!
//! The file is `--config`, else `MARKETSYNC_CONFIG`, else `marketsync.toml` in the working
//! directory; without that default file every setting takes its default (a file named
//! explicitly must exist). Unknown fields are refused. Every error names the field and the
//! file's line. Relative paths are relative to the working directory.
//!
//! Secrets are never written in the file: a secret field names where to read it, `{ env =
//! "NAME" }` (an environment variable) or `{ file = "path" }` (a file's content, without its
//! final newline), and it is read when it is needed.
//!
//! Environment overrides: `MARKETSYNC_STORE_URL` (`store.url`), `MARKETSYNC_LOG_FORMAT`
//! (`log.format`), `MARKETSYNC_LISTEN` (`service.listen`).
//!
//! The full reference is in the crate's README.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use marketsync::{ChannelKind, CredentialKey, ExposeSecret, SecretString};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::error::CliError;

/// The config file read when neither `--config` nor `MARKETSYNC_CONFIG` names one.
pub const DEFAULT_CONFIG_FILE: &str = "marketsync.toml";
/// The default store: a SQLite file in the working directory.
pub const DEFAULT_STORE_URL: &str = "sqlite://marketsync.db";
/// The environment variable the credential key is read from by default.
pub const DEFAULT_KEY_ENV: &str = "MARKETSYNC_CREDENTIAL_KEY";
/// The credential key's default name (`credential_key.id`).
pub const DEFAULT_KEY_ID: &str = "marketsync";
/// The default catalogue file.
pub const DEFAULT_CATALOG_FILE: &str = "catalog.json";
/// The service's default address for `/healthz` and `/metrics`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// The whole configuration, read and checked.
#[derive(Clone, Debug)]
pub struct Config {
    /// `[store]`.
    pub store: StoreConfig,
    /// `[credential_key]`.
    pub credential_key: KeyConfig,
    /// `[catalog]`.
    pub catalog: CatalogConfig,
    /// `[scheduler]`.
    pub scheduler: SchedulerConfig,
    /// `[service]`.
    pub service: ServiceConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[notify]`.
    pub notify: NotifyConfig,
    /// `[channels.<kind>]`.
    pub channels: ChannelsConfig,
}

/// Where a setting came from, for error messages: the field, and the file and line when it
/// was written in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The field, e.g. `credential_key.env`.
    pub field: String,
    /// The file and the line (1-based).
    pub at: Option<(PathBuf, usize)>,
}

impl Origin {
    fn new(field: impl Into<String>, at: Option<(PathBuf, usize)>) -> Self {
        Self {
            field: field.into(),
            at,
        }
    }

    fn default_for(field: impl Into<String>) -> Self {
        Self::new(field, None)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some((file, line)) => write!(f, "`{}` ({} line {line})", self.field, file.display()),
            None => write!(f, "`{}` (default)", self.field),
        }
    }
}

// ----- secrets -----

/// Where a secret is read from: an environment variable or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// `{ env = "NAME" }`.
    Env(String),
    /// `{ file = "path" }`.
    File(PathBuf),
}

/// A secret field of the config: where to read it, and where that was said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// Where the secret is.
    pub source: SecretSource,
    /// The field that names it.
    pub origin: Origin,
}

impl SecretRef {
    /// Reads the secret now. A missing variable or file, or an empty one, is a config error
    /// naming the field.
    pub fn read(&self) -> Result<SecretString, CliError> {
        let text = match &self.source {
            SecretSource::Env(name) => std::env::var(name).map_err(|_| {
                CliError::Config(format!(
                    "{}: the environment variable {name} is not set (or not UTF-8); set it, or name another source in the config file",
                    self.origin
                ))
            })?,
            SecretSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
                CliError::Config(format!(
                    "{}: cannot read the file {}: {e}; create it, or name another source in the config file",
                    self.origin,
                    path.display()
                ))
            })?,
        };
        let text = text.trim_end_matches(['\n', '\r']).to_owned();
        if text.is_empty() {
            return Err(CliError::Config(format!(
                "{}: the secret it names is empty",
                self.origin
            )));
        }
        Ok(SecretString::from(text))
    }
}

/// `{ env = "NAME" }` or `{ file = "path" }` (and `id` for the credential key), as written.
#[derive(Debug)]
struct RawSecret {
    env: Option<String>,
    file: Option<PathBuf>,
    id: Option<String>,
}

impl<'de> Deserialize<'de> for RawSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSecret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table `{ env = \"NAME\" }` or `{ file = \"path\" }`")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<RawSecret, E> {
                // Never echo the value: it may be the secret itself.
                Err(E::custom(
                    "a secret is never written in the config file: name where to read it, `{ env = \"NAME\" }` or `{ file = \"path\" }`",
                ))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawSecret, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Table {
                    env: Option<String>,
                    file: Option<PathBuf>,
                    id: Option<String>,
                }
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawSecret {
                    env: t.env,
                    file: t.file,
                    id: t.id,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl RawSecret {
    fn source(self, field: &str, at: Option<(PathBuf, usize)>) -> Result<SecretRef, CliError> {
        let source = match (self.env, self.file) {
            (Some(env), None) if !env.trim().is_empty() => SecretSource::Env(env),
            (None, Some(file)) => SecretSource::File(file),
            _ => {
                return Err(CliError::Config(format!(
                    "{}: give exactly one of `env = \"NAME\"` or `file = \"path\"`",
                    Origin::new(field, at)
                )));
            }
        };
        Ok(SecretRef {
            source,
            origin: Origin::new(field, at),
        })
    }
}

// ----- sections -----

/// `[store]`.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The store.
    pub url: StoreUrl,
    /// Where the URL was set.
    pub origin: Origin,
}

/// The store's URL, by kind.
#[derive(Clone)]
pub enum StoreUrl {
    /// `sqlite://path`: a SQLite file (created when missing).
    Sqlite(PathBuf),
    /// `postgres://user:password@host/db`: a PostgreSQL database. Never printed with its
    /// password.
    Postgres(SecretString),
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

impl fmt::Display for StoreUrl {
    /// The URL without a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            StoreUrl::Postgres(url) => match url::Url::parse(url.expose_secret()) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("REDACTED"));
                    }
                    u.set_query(None);
                    write!(f, "{u}")
                }
                Err(_) => f.write_str("postgres://[unparseable URL]"),
            },
        }
    }
}

impl StoreUrl {
    /// Reads a store URL. The error never repeats the URL (it may hold a password).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("`sqlite://` needs a file path, e.g. `sqlite://marketsync.db`".into());
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            if url::Url::parse(text).is_err() {
                return Err("the PostgreSQL URL does not parse as a URL".into());
            }
            return Ok(StoreUrl::Postgres(SecretString::from(text.to_owned())));
        }
        Err("the store URL must start with `sqlite://` or `postgres://`".into())
    }
}

/// `[credential_key]`: where the key that seals credentials at rest is read from. The key is
/// 64 hexadecimal characters (32 bytes), e.g. made with `openssl rand -hex 32`.
#[derive(Clone, Debug)]
pub struct KeyConfig {
    /// Where the key is.
    pub secret: SecretRef,
    /// The key's name, stored with what it seals (rotate by giving the new key a new name).
    pub id: String,
}

impl KeyConfig {
    /// Reads the key now.
    pub fn read(&self) -> Result<CredentialKey, CliError> {
        let hex = self.secret.read()?;
        CredentialKey::from_hex(self.id.clone(), hex.expose_secret()).map_err(|e| {
            CliError::Config(format!(
                "{}: {e}; a key is 64 hexadecimal characters (e.g. `openssl rand -hex 32`)",
                self.secret.origin
            ))
        })
    }
}

/// `[catalog]`: the host's inventory as a JSON array of items, read again each time it is used.
#[derive(Clone, Debug)]
pub struct CatalogConfig {
    /// The file (a missing file is an empty catalogue).
    pub file: PathBuf,
}

/// `[scheduler]`: limits of `marketsync run`.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Operations run at once (default 4).
    pub max_concurrent: usize,
    /// How long a claimed operation stays claimed (default 300 s).
    pub lease: Duration,
    /// How often the scheduler looks for due work (default 30 s).
    pub interval: Duration,
    /// How long a stopping service waits for runs in flight (default 30 s).
    pub drain_timeout: Duration,
    /// How many integrations one claim asks the store for (default 32).
    pub claim_batch: usize,
}

/// `[service]`: the HTTP endpoint of `marketsync run`.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Where `/healthz` and `/metrics` listen (default 127.0.0.1:9464).
    pub listen: SocketAddr,
}

/// The log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people (default).
    Human,
    /// One JSON object per event.
    Json,
}

/// `[log]`: written to stderr.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Human or JSON.
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `marketsync=debug,info`, … `None` (not set): `info`
    /// for `marketsync run`, `warn` for the operator commands, whose output is their result.
    pub level: Option<String>,
}

/// `[notify]`: the notification transports, as `marketsync-notify` reads them, their secrets
/// named by `{ env }` or `{ file }`.
#[derive(Clone, Debug, Default)]
pub struct NotifyConfig {
    /// `[notify.email]`: an `EmailConfig`; `password = { env = "…" }`.
    pub email: Option<TransportTable>,
    /// `[[notify.webhook]]`: `WebhookConfig`s; `secret = { env = "…" }`.
    pub webhooks: Vec<TransportTable>,
}

/// One transport's table with its secret field taken out.
#[derive(Clone, Debug)]
pub struct TransportTable {
    /// The fields without the secret.
    pub fields: toml::Table,
    /// The secret (the e-mail password is optional).
    pub secret: Option<SecretRef>,
    /// Where the table is.
    pub origin: Origin,
}

impl TransportTable {
    /// The transport's config type, with the secret read now.
    pub fn resolve<T: serde::de::DeserializeOwned>(
        &self,
        secret_field: &str,
    ) -> Result<T, CliError> {
        let mut fields = self.fields.clone();
        if let Some(secret) = &self.secret {
            let value = secret.read()?;
            fields.insert(
                secret_field.to_owned(),
                toml::Value::String(value.expose_secret().to_owned()),
            );
        }
        fields.try_into().map_err(|e: toml::de::Error| {
            CliError::Config(format!("{}: {}", self.origin, e.message()))
        })
    }
}

/// `[channels.<kind>]`: the marketplaces' application settings (the same for every
/// integration of the kind): base URLs, application ids, and the application's secrets as
/// `{ env }` or `{ file }`. Any other field of the adapter's config may be given as a default
/// for new integrations.
#[derive(Clone, Debug, Default)]
pub struct ChannelsConfig {
    /// By adapter: `reverb`, `channeladvisor` (also OfferUp), `allegro`, `tradera`.
    pub apps: BTreeMap<String, AppSettings>,
}

/// One `[channels.<kind>]` table.
#[derive(Clone, Debug)]
pub struct AppSettings {
    /// The non-secret fields.
    pub fields: toml::Table,
    /// The application's secrets, by the adapter config's field name.
    pub secrets: BTreeMap<String, SecretRef>,
    /// Where the table is.
    pub origin: Origin,
}

/// The application secret fields of each adapter (the seller's secrets come from the sealed
/// credentials).
pub fn app_secret_fields(adapter: &str) -> &'static [&'static str] {
    match adapter {
        "channeladvisor" => &["shared_secret"],
        "allegro" => &["client_secret"],
        "tradera" => &["app_key"],
        _ => &[],
    }
}

/// The `[channels.<name>]` table an adapter's settings are under.
pub fn adapter_name(kind: ChannelKind) -> Option<&'static str> {
    match kind {
        ChannelKind::Reverb => Some("reverb"),
        ChannelKind::ChannelAdvisor | ChannelKind::OfferUp => Some("channeladvisor"),
        ChannelKind::Allegro => Some("allegro"),
        ChannelKind::Tradera => Some("tradera"),
        _ => None,
    }
}

const ADAPTERS: [&str; 4] = ["reverb", "channeladvisor", "allegro", "tradera"];

// ----- the file as written -----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    store: RawStore,
    credential_key: Option<Spanned<RawSecret>>,
    #[serde(default)]
    catalog: RawCatalog,
    #[serde(default)]
    scheduler: RawScheduler,
    #[serde(default)]
    service: RawService,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    notify: RawNotify,
    #[serde(default)]
    channels: BTreeMap<Spanned<String>, Spanned<toml::Table>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheduler {
    max_concurrent: Option<Spanned<u64>>,
    lease_secs: Option<Spanned<u64>>,
    interval_secs: Option<Spanned<u64>>,
    drain_timeout_secs: Option<Spanned<u64>>,
    claim_batch: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    listen: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<LogFormat>,
    level: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    email: Option<Spanned<toml::Table>>,
    #[serde(default)]
    webhook: Vec<Spanned<toml::Table>>,
}

/// The environment the config reads its overrides from (a map in tests).
pub trait Env {
    /// The variable's value, when set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Config {
    /// Loads the config: `path` (from `--config` or `MARKETSYNC_CONFIG`, which must exist),
    /// else `marketsync.toml` if it exists, else the defaults; then the environment overrides.
    pub fn load(path: Option<&Path>, env: &dyn Env) -> Result<Self, CliError> {
        let (file, text) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    CliError::Config(format!(
                        "cannot read the config file {}: {e}; give an existing file with --config or MARKETSYNC_CONFIG",
                        p.display()
                    ))
                })?;
                (Some(p.to_path_buf()), text)
            }
            None => match std::fs::read_to_string(DEFAULT_CONFIG_FILE) {
                Ok(text) => (Some(PathBuf::from(DEFAULT_CONFIG_FILE)), text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, String::new()),
                Err(e) => {
                    return Err(CliError::Config(format!(
                        "cannot read the config file {DEFAULT_CONFIG_FILE}: {e}"
                    )));
                }
            },
        };
        Self::parse(file.as_deref(), &text, env)
    }

    /// Reads a config from its text (`file` names it in errors).
    pub fn parse(file: Option<&Path>, text: &str, env: &dyn Env) -> Result<Self, CliError> {
        let shown = file.unwrap_or(Path::new(DEFAULT_CONFIG_FILE));
        let at = |span: std::ops::Range<usize>| -> Option<(PathBuf, usize)> {
            file.map(|f| (f.to_path_buf(), line_of(text, span.start)))
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            CliError::Config(match line {
                Some(line) => format!(
                    "{} line {line}: {}; fix the field in the config file",
                    shown.display(),
                    e.message().trim_end()
                ),
                None => format!("{}: {}", shown.display(), e.message().trim_end()),
            })
        })?;

        // [store]
        let store = match env.var("MARKETSYNC_STORE_URL") {
            Some(url) => StoreConfig {
                url: StoreUrl::parse(&url).map_err(|m| {
                    CliError::Config(format!("MARKETSYNC_STORE_URL (`store.url`): {m}"))
                })?,
                origin: Origin::new("store.url (MARKETSYNC_STORE_URL)", None),
            },
            None => match raw.store.url {
                Some(url) => {
                    let origin = Origin::new("store.url", at(url.span()));
                    StoreConfig {
                        url: StoreUrl::parse(url.get_ref())
                            .map_err(|m| CliError::Config(format!("{origin}: {m}")))?,
                        origin,
                    }
                }
                None => StoreConfig {
                    url: StoreUrl::parse(DEFAULT_STORE_URL).expect("the default parses"),
                    origin: Origin::default_for("store.url"),
                },
            },
        };

        // [credential_key]
        let credential_key = match raw.credential_key {
            Some(k) => {
                let span = k.span();
                let k = k.into_inner();
                let id = k.id.clone().unwrap_or_else(|| DEFAULT_KEY_ID.to_owned());
                if id.trim().is_empty() {
                    return Err(CliError::Config(format!(
                        "{}: the key's name must not be empty",
                        Origin::new("credential_key.id", at(span.clone()))
                    )));
                }
                let field = if k.file.is_some() && k.env.is_none() {
                    "credential_key.file"
                } else {
                    "credential_key.env"
                };
                KeyConfig {
                    secret: k.source(field, at(span))?,
                    id,
                }
            }
            None => KeyConfig {
                secret: SecretRef {
                    source: SecretSource::Env(DEFAULT_KEY_ENV.to_owned()),
                    origin: Origin::default_for("credential_key.env"),
                },
                id: DEFAULT_KEY_ID.to_owned(),
            },
        };

        // [catalog]
        let catalog = CatalogConfig {
            file: raw
                .catalog
                .file
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CATALOG_FILE)),
        };

        // [scheduler]
        let positive = |v: Option<Spanned<u64>>, field: &str, default: u64| match v {
            None => Ok(default),
            Some(v) if *v.get_ref() > 0 => Ok(*v.get_ref()),
            Some(v) => Err(CliError::Config(format!(
                "{}: must be at least 1",
                Origin::new(field, at(v.span()))
            ))),
        };
        let s = raw.scheduler;
        let scheduler = SchedulerConfig {
            max_concurrent: positive(s.max_concurrent, "scheduler.max_concurrent", 4)? as usize,
            lease: Duration::from_secs(positive(s.lease_secs, "scheduler.lease_secs", 300)?),
            interval: Duration::from_secs(positive(
                s.interval_secs,
                "scheduler.interval_secs",
                30,
            )?),
            drain_timeout: Duration::from_secs(positive(
                s.drain_timeout_secs,
                "scheduler.drain_timeout_secs",
                30,
            )?),
            claim_batch: positive(s.claim_batch, "scheduler.claim_batch", 32)? as usize,
        };

        // [service]
        let listen = match env.var("MARKETSYNC_LISTEN") {
            Some(v) => v.parse().map_err(|e| {
                CliError::Config(format!(
                    "MARKETSYNC_LISTEN (`service.listen`): `{v}` is not an address like 127.0.0.1:9464: {e}"
                ))
            })?,
            None => match raw.service.listen {
                Some(v) => v.get_ref().parse().map_err(|e| {
                    CliError::Config(format!(
                        "{}: `{}` is not an address like 127.0.0.1:9464: {e}",
                        Origin::new("service.listen", at(v.span())),
                        v.get_ref()
                    ))
                })?,
                None => DEFAULT_LISTEN.parse().expect("the default parses"),
            },
        };
        let service = ServiceConfig { listen };

        // [log]
        let format = match env.var("MARKETSYNC_LOG_FORMAT") {
            Some(v) => match v.as_str() {
                "human" => LogFormat::Human,
                "json" => LogFormat::Json,
                other => {
                    return Err(CliError::Config(format!(
                        "MARKETSYNC_LOG_FORMAT (`log.format`): `{other}` is neither `human` nor `json`"
                    )));
                }
            },
            None => raw.log.format.unwrap_or(LogFormat::Human),
        };
        let level = match raw.log.level {
            Some(l) => {
                tracing_subscriber::EnvFilter::try_new(l.get_ref()).map_err(|e| {
                    CliError::Config(format!(
                        "{}: `{}` is not a log filter (`info`, `debug`, `marketsync=debug,info`): {e}",
                        Origin::new("log.level", at(l.span())),
                        l.get_ref()
                    ))
                })?;
                Some(l.into_inner())
            }
            None => None,
        };
        let log = LogConfig { format, level };

        // [notify]
        let table = |t: Spanned<toml::Table>,
                     field: &str,
                     secret_field: &str,
                     required: bool|
         -> Result<TransportTable, CliError> {
            let origin = Origin::new(field, at(t.span()));
            let mut fields = t.into_inner();
            let secret = match fields.remove(secret_field) {
                Some(v) => {
                    let raw: RawSecret = v.try_into().map_err(|e: toml::de::Error| {
                        CliError::Config(format!("{}: `{secret_field}`: {}", origin, e.message()))
                    })?;
                    Some(raw.source(&format!("{field}.{secret_field}"), origin.at.clone())?)
                }
                None if required => {
                    return Err(CliError::Config(format!(
                        "{origin}: `{secret_field}` is missing: name where to read it, `{secret_field} = {{ env = \"NAME\" }}`"
                    )));
                }
                None => None,
            };
            Ok(TransportTable {
                fields,
                secret,
                origin,
            })
        };
        let email = match raw.notify.email {
            Some(t) => {
                let t = table(t, "notify.email", "password", false)?;
                check_fields::<marketsync::notify_transports::EmailConfig>(&t, "password")?;
                Some(t)
            }
            None => None,
        };
        let mut webhooks = Vec::new();
        for w in raw.notify.webhook {
            let t = table(w, "notify.webhook", "secret", true)?;
            check_fields::<marketsync::notify_transports::WebhookConfig>(&t, "secret")?;
            webhooks.push(t);
        }
        let notify = NotifyConfig { email, webhooks };

        // [channels.<kind>]
        let mut apps = BTreeMap::new();
        for (name, t) in raw.channels {
            let origin = Origin::new(format!("channels.{}", name.get_ref()), at(name.span()));
            let name = name.into_inner();
            if !ADAPTERS.contains(&name.as_str()) {
                return Err(CliError::Config(format!(
                    "{origin}: unknown marketplace `{name}`, expected one of {}",
                    ADAPTERS.join(", ")
                )));
            }
            let mut fields = t.into_inner();
            let mut secrets = BTreeMap::new();
            for secret in app_secret_fields(&name) {
                if let Some(v) = fields.remove(*secret) {
                    let raw: RawSecret = v.try_into().map_err(|e: toml::de::Error| {
                        CliError::Config(format!("{origin}: `{secret}`: {}", e.message()))
                    })?;
                    secrets.insert(
                        (*secret).to_owned(),
                        raw.source(&format!("channels.{name}.{secret}"), origin.at.clone())?,
                    );
                }
            }
            for seller_secret in ["token", "refresh_token", "session"] {
                if fields.contains_key(seller_secret) {
                    return Err(CliError::Config(format!(
                        "{origin}: `{seller_secret}` is the seller's secret, kept sealed per integration: enter it with `marketsync integrations connect`, not in the config file"
                    )));
                }
            }
            crate::adapters::check_app_settings(&name, &fields).map_err(|e| {
                CliError::Config(format!("{origin}: {e}; fix the field in the config file"))
            })?;
            apps.insert(
                name,
                AppSettings {
                    fields,
                    secrets,
                    origin,
                },
            );
        }
        let channels = ChannelsConfig { apps };

        Ok(Config {
            store,
            credential_key,
            catalog,
            scheduler,
            service,
            log,
            notify,
            channels,
        })
    }
}

/// Checks a transport table's fields against its config type (unknown fields, wrong types)
/// without reading the secret: a placeholder stands in for it.
fn check_fields<T: serde::de::DeserializeOwned>(
    t: &TransportTable,
    secret_field: &str,
) -> Result<(), CliError> {
    let mut fields = t.fields.clone();
    if t.secret.is_some() {
        fields.insert(
            secret_field.to_owned(),
            toml::Value::String("whsec_cGxhY2Vob2xkZXI=".to_owned()),
        );
    }
    fields
        .try_into::<T>()
        .map(|_| ())
        .map_err(|e: toml::de::Error| CliError::Config(format!("{}: {}", t.origin, e.message())))
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
        vars.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn parse(text: &str) -> Result<Config, CliError> {
        Config::parse(Some(Path::new("test.toml")), text, &env(&[]))
    }

    fn config_error(text: &str) -> String {
        match parse(text) {
            Err(CliError::Config(m)) => m,
            Err(other) => panic!("expected a config error, got {other:?}"),
            Ok(_) => panic!("expected a config error for:\n{text}"),
        }
    }

    #[test]
    fn defaults_without_a_file() {
        let c = Config::parse(None, "", &env(&[])).unwrap();
        assert!(matches!(&c.store.url, StoreUrl::Sqlite(p) if p == Path::new("marketsync.db")));
        assert_eq!(
            c.credential_key.secret.source,
            SecretSource::Env(DEFAULT_KEY_ENV.into())
        );
        assert_eq!(c.catalog.file, PathBuf::from("catalog.json"));
        assert_eq!(c.scheduler.max_concurrent, 4);
        assert_eq!(c.service.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.log.format, LogFormat::Human);
        assert!(c.notify.email.is_none() && c.notify.webhooks.is_empty());
    }

    #[test]
    fn a_full_file_reads() {
        let c = parse(
            r#"
[store]
url = "postgres://ms:pw-123@db.example/marketsync"

[credential_key]
file = "/run/secrets/key"
id = "2026-12"

[catalog]
file = "inventory.json"

[scheduler]
max_concurrent = 8
lease_secs = 120
interval_secs = 10
drain_timeout_secs = 5

[service]
listen = "0.0.0.0:9000"

[log]
format = "json"
level = "marketsync=debug,info"

[notify.email]
host = "smtp.example"
from = "alerts@shop.example"
to = "owner@shop.example"
username = "alerts"
password = { env = "SMTP_PASSWORD" }

[[notify.webhook]]
url = "https://hooks.example/ms"
secret = { file = "/run/secrets/webhook" }

[channels.channeladvisor]
application_id = "app-1"
shared_secret = { env = "CA_SHARED_SECRET" }

[channels.reverb]
base_url = "https://sandbox.reverb.com"
"#,
        )
        .unwrap();
        assert!(matches!(c.store.url, StoreUrl::Postgres(_)));
        assert_eq!(c.credential_key.id, "2026-12");
        assert_eq!(c.scheduler.lease, Duration::from_secs(120));
        assert_eq!(c.service.listen.port(), 9000);
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.notify.webhooks.len(), 1);
        let ca = &c.channels.apps["channeladvisor"];
        assert_eq!(
            ca.secrets["shared_secret"].source,
            SecretSource::Env("CA_SHARED_SECRET".into())
        );
        assert!(!ca.fields.contains_key("shared_secret"));
    }

    #[test]
    fn the_postgres_password_is_never_printed() {
        let c = parse(
            "[store]\nurl = \"postgres://ms:pw-secret-9@db.example/ms?password=pw-secret-9\"\n",
        )
        .unwrap();
        let shown = format!("{} {:?} {:?}", c.store.url, c.store.url, c);
        assert!(!shown.contains("pw-secret-9"), "{shown}");
        assert!(shown.contains("db.example"), "{shown}");
    }

    #[test]
    fn an_unknown_field_is_named_with_its_line() {
        let m =
            config_error("[store]\nurl = \"sqlite://x.db\"\n\n[scheduler]\nmax_concurent = 3\n");
        assert!(m.contains("max_concurent"), "{m}");
        assert!(m.contains("test.toml line 5"), "{m}");
        let m = config_error("[stores]\nurl = \"sqlite://x.db\"\n");
        assert!(m.contains("stores") && m.contains("line 1"), "{m}");
    }

    #[test]
    fn a_wrong_type_is_named_with_its_line() {
        let m = config_error("[scheduler]\nlease_secs = \"long\"\n");
        assert!(m.contains("line 2"), "{m}");
        let m = config_error("[log]\nformat = \"xml\"\n");
        assert!(m.contains("line 2") && m.contains("xml"), "{m}");
    }

    #[test]
    fn a_bad_store_url_is_named_without_repeating_it() {
        let m = config_error("[store]\nurl = \"mysql://u:hunter2@h/db\"\n");
        assert!(m.contains("`store.url` (test.toml line 2)"), "{m}");
        assert!(!m.contains("hunter2"), "{m}");
        let m = config_error("[store]\nurl = \"sqlite://\"\n");
        assert!(m.contains("store.url"), "{m}");
    }

    #[test]
    fn an_inline_secret_is_refused_without_echoing_it() {
        let m = config_error(
            "credential_key = \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"\n",
        );
        assert!(m.contains("never written in the config file"), "{m}");
        assert!(!m.contains("0011223344"), "{m}");
        let m = config_error(
            "[channels.allegro]\nclient_id = \"c\"\nclient_secret = \"s3cr3t-value\"\n",
        );
        assert!(
            m.contains("client_secret") && m.contains("never written"),
            "{m}"
        );
        assert!(!m.contains("s3cr3t-value"), "{m}");
    }

    #[test]
    fn a_secret_source_needs_exactly_one_place() {
        let m = config_error("[credential_key]\nenv = \"A\"\nfile = \"b\"\n");
        assert!(m.contains("exactly one") && m.contains("line 1"), "{m}");
        let m = config_error("[credential_key]\nid = \"k\"\n");
        assert!(m.contains("exactly one"), "{m}");
        let m = config_error("[credential_key]\nenv = \"A\"\nvalue = \"x\"\n");
        assert!(m.contains("value"), "{m}");
    }

    #[test]
    fn a_seller_secret_in_the_config_is_refused() {
        let m = config_error("[channels.reverb]\ntoken = { env = \"T\" }\n");
        assert!(
            m.contains("`token`") && m.contains("integrations connect"),
            "{m}"
        );
    }

    #[test]
    fn an_unknown_marketplace_is_named() {
        let m = config_error("[channels.ebay]\nbase_url = \"https://x\"\n");
        assert!(m.contains("ebay") && m.contains("line 1"), "{m}");
    }

    #[test]
    fn marketplace_settings_are_checked_at_load() {
        let m = config_error("[channels.reverb]\nbse_url = \"https://x\"\n");
        assert!(
            m.contains("bse_url") && m.contains("channels.reverb") && m.contains("line 1"),
            "{m}"
        );
        let m = config_error("[channels.tradera]\napp_id = \"not a number\"\n");
        assert!(m.contains("channels.tradera"), "{m}");
        let m = config_error("[channels.channeladvisor]\nbase_url = \"ftp://x\"\n");
        assert!(m.contains("channels.channeladvisor"), "{m}");
        parse("[channels.allegro]\nclient_id = \"c\"\nclient_secret = { env = \"S\" }\n").unwrap();
    }

    #[test]
    fn zero_limits_are_refused() {
        let m = config_error("[scheduler]\nmax_concurrent = 0\n");
        assert!(
            m.contains("scheduler.max_concurrent") && m.contains("line 2"),
            "{m}"
        );
    }

    #[test]
    fn a_bad_listen_address_and_log_level_are_named() {
        let m = config_error("[service]\nlisten = \"localhost\"\n");
        assert!(m.contains("service.listen") && m.contains("line 2"), "{m}");
        let m = config_error("[log]\nlevel = \"info,,=x[\"\n");
        assert!(m.contains("log.level"), "{m}");
    }

    #[test]
    fn transport_tables_are_checked_at_load() {
        let m = config_error(
            "[notify.email]\nhost = \"h\"\nfrom = \"a@b.c\"\nto = \"d@e.f\"\nport = 25\nhots = \"x\"\n",
        );
        assert!(m.contains("hots") && m.contains("notify.email"), "{m}");
        let m = config_error("[[notify.webhook]]\nurl = \"https://x\"\n");
        assert!(m.contains("`secret` is missing"), "{m}");
    }

    #[test]
    fn a_transport_secret_is_read_when_the_transport_is_made() {
        let c = parse(
            "[[notify.webhook]]\nurl = \"https://hooks.example/x\"\nsecret = { env = \"MARKETSYNC_TEST_SURELY_UNSET_WEBHOOK\" }\n",
        )
        .unwrap();
        let hook = &c.notify.webhooks[0];
        let Err(CliError::Config(m)) =
            hook.resolve::<marketsync::notify_transports::WebhookConfig>("secret")
        else {
            panic!("expected a config error");
        };
        assert!(
            m.contains("notify.webhook.secret") && m.contains("line 1"),
            "{m}"
        );

        let dir = std::env::temp_dir().join(format!("marketsync-cli-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "\n").unwrap();
        let c = parse(&format!(
            "[[notify.webhook]]\nurl = \"https://hooks.example/x\"\nsecret = {{ file = {:?} }}\n",
            path.display().to_string()
        ))
        .unwrap();
        let empty =
            c.notify.webhooks[0].resolve::<marketsync::notify_transports::WebhookConfig>("secret");
        assert!(matches!(empty, Err(CliError::Config(m)) if m.contains("empty")));
        std::fs::write(&path, "whsec_c2VjcmV0LXZhbHVlLTE=\n").unwrap();
        let hook: marketsync::notify_transports::WebhookConfig =
            c.notify.webhooks[0].resolve("secret").unwrap();
        assert!(!format!("{hook:?}").contains("whsec_c2VjcmV0"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn environment_overrides_win() {
        let c = Config::parse(
            None,
            "[store]\nurl = \"sqlite://a.db\"\n[log]\nformat = \"human\"\n",
            &env(&[
                ("MARKETSYNC_STORE_URL", "sqlite://b.db"),
                ("MARKETSYNC_LOG_FORMAT", "json"),
                ("MARKETSYNC_LISTEN", "127.0.0.1:1234"),
            ]),
        )
        .unwrap();
        assert!(matches!(&c.store.url, StoreUrl::Sqlite(p) if p == Path::new("b.db")));
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.service.listen.port(), 1234);
        let bad = Config::parse(None, "", &env(&[("MARKETSYNC_LOG_FORMAT", "xml")]));
        assert!(matches!(bad, Err(CliError::Config(m)) if m.contains("MARKETSYNC_LOG_FORMAT")));
        let bad = Config::parse(None, "", &env(&[("MARKETSYNC_STORE_URL", "redis://x")]));
        assert!(matches!(bad, Err(CliError::Config(m)) if m.contains("MARKETSYNC_STORE_URL")));
        let bad = Config::parse(None, "", &env(&[("MARKETSYNC_LISTEN", "nowhere")]));
        assert!(matches!(bad, Err(CliError::Config(m)) if m.contains("MARKETSYNC_LISTEN")));
    }

    #[test]
    fn a_missing_key_variable_names_the_field() {
        let c = parse("[credential_key]\nenv = \"MARKETSYNC_TEST_SURELY_UNSET_KEY\"\n").unwrap();
        let Err(CliError::Config(m)) = c.credential_key.read() else {
            panic!("expected a config error");
        };
        assert!(
            m.contains("credential_key.env") && m.contains("line 1"),
            "{m}"
        );
        assert!(m.contains("MARKETSYNC_TEST_SURELY_UNSET_KEY"), "{m}");
    }

    #[test]
    fn a_malformed_key_file_names_the_field_not_the_key() {
        let dir = std::env::temp_dir().join(format!("marketsync-cli-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, "not-a-key-zz\n").unwrap();
        let text = format!(
            "[credential_key]\nfile = {:?}\n",
            path.display().to_string()
        );
        let c = parse(&text).unwrap();
        let Err(CliError::Config(m)) = c.credential_key.read() else {
            panic!("expected a config error");
        };
        assert!(
            m.contains("credential_key.file") && m.contains("64 hexadecimal"),
            "{m}"
        );
        assert!(!m.contains("not-a-key-zz"), "{m}");
        std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(c.credential_key.read().unwrap().id(), DEFAULT_KEY_ID);
        let missing = parse("[credential_key]\nfile = \"/nonexistent/marketsync/key\"\n").unwrap();
        assert!(
            matches!(missing.credential_key.read(), Err(CliError::Config(m)) if m.contains("cannot read"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_named_config_file_is_an_error() {
        let e = Config::load(Some(Path::new("/nonexistent/marketsync.toml")), &env(&[]));
        assert!(
            matches!(e, Err(CliError::Config(m)) if m.contains("/nonexistent/marketsync.toml"))
        );
    }
}

/// The config examples in the READMEs are what a new user copies: each must load as written.
#[cfg(test)]
mod readme_examples {
    use super::*;

    /// Every ```toml block of a README.
    fn toml_blocks(readme: &str) -> Vec<String> {
        let mut blocks = Vec::new();
        let mut current: Option<String> = None;
        for line in readme.lines() {
            match current.as_mut() {
                None if line.trim_start() == "```toml" => current = Some(String::new()),
                None => {}
                Some(_) if line.trim_start() == "```" => blocks.extend(current.take()),
                Some(block) => {
                    block.push_str(line);
                    block.push('\n');
                }
            }
        }
        blocks
    }

    fn check(readme: &str, name: &str) {
        let blocks = toml_blocks(readme);
        assert!(!blocks.is_empty(), "{name} has no ```toml example");
        for block in blocks {
            let config = Config::parse(Some(Path::new(name)), &block, &BTreeMap::new())
                .unwrap_or_else(|e| panic!("the example in {name} does not load: {e}\n{block}"));
            // What the example says is what was read.
            if block.contains("format = \"json\"") {
                assert_eq!(config.log.format, LogFormat::Json);
            }
            if block.contains("listen = \"127.0.0.1:9464\"") {
                assert_eq!(config.service.listen.to_string(), "127.0.0.1:9464");
            }
        }
    }

    #[test]
    fn the_root_readme_example_loads() {
        check(include_str!("../../../README.md"), "README.md");
    }

    #[test]
    fn the_cli_readme_example_loads() {
        check(
            include_str!("../README.md"),
            "crates/marketsync-cli/README.md",
        );
    }
}
