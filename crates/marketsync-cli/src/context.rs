//! What every command works with: the config, the store, the engine (over the store, the
//! catalogue file and the notification transports, with the credential key), and the operator
//! as the actor of every change.

use std::sync::Arc;

use marketsync::notify_transports::{EmailConfig, EmailTransport, WebhookConfig, WebhookTransport};
use marketsync::{Actor, Channel, Engine, IntegrationId, IntegrationRecord, Store};

use crate::adapters;
use crate::catalog::FileCatalog;
use crate::config::{Config, StoreUrl};
use crate::error::CliError;
use crate::service::factory::AdapterFactory;

/// The opened store and engine.
#[derive(Clone, Debug)]
pub struct Context {
    /// The configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The engine over the store, the catalogue file and the transports.
    pub engine: Arc<Engine>,
    /// Who the changes are recorded as: the operator (`$USER`, else `operator`).
    pub actor: Actor,
}

impl Context {
    /// Opens the store, reads the credential key, and builds the engine. A missing key, an
    /// unreachable store or an unusable transport fails here, naming the config field.
    pub async fn open(config: Config) -> Result<Self, CliError> {
        let key = config.credential_key.read()?;
        let store = open_store(&config).await?;
        let mut builder = Engine::builder()
            .store(store.clone())
            .catalog(Arc::new(FileCatalog::new(&config.catalog.file)))
            .credential_key(key)
            // Adapters on demand: an operation on an integration without an attached adapter
            // rebuilds it from the config and the stored settings (`marketsync run` relies on it).
            .channel_factory(Arc::new(AdapterFactory::new(Arc::new(config.clone()))));
        if let Some(email) = &config.notify.email {
            let email: EmailConfig = email.resolve("password")?;
            let transport = EmailTransport::new(email).map_err(|e| {
                CliError::Config(format!(
                    "`notify.email`: {e}; fix the field in the config file"
                ))
            })?;
            builder = builder.transport(Arc::new(transport));
        }
        for webhook in &config.notify.webhooks {
            let origin = webhook.origin.clone();
            let webhook: WebhookConfig = webhook.resolve("secret")?;
            let transport = WebhookTransport::new(webhook).map_err(|e| {
                CliError::Config(format!("{origin}: {e}; fix the field in the config file"))
            })?;
            builder = builder.transport(Arc::new(transport));
        }
        let actor = Actor::User(
            std::env::var("USER")
                .ok()
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| "operator".to_owned()),
        );
        Ok(Self {
            config: Arc::new(config),
            store,
            engine: Arc::new(builder.build()),
            actor,
        })
    }

    /// The integration named by `selector`: its id, or else its name (not deleted).
    pub async fn integration(&self, selector: &str) -> Result<IntegrationRecord, CliError> {
        if let Ok(id) = selector.parse::<IntegrationId>() {
            return Ok(self.engine.integration(id).await?);
        }
        self.engine.integration_named(selector).await?.ok_or_else(|| {
            CliError::NotFound(format!(
                "no integration is named or numbered `{selector}`; list them with `marketsync integrations list`"
            ))
        })
    }

    /// Rebuilds the integration's adapter ([`adapters::channel_for`]) and attaches it to the
    /// engine with the stored credentials.
    pub async fn attach(&self, record: &IntegrationRecord) -> Result<Arc<dyn Channel>, CliError> {
        let channel = adapters::channel_for(&self.config, record)?;
        self.engine
            .attach_channel(record.id, channel.clone())
            .await?;
        Ok(channel)
    }

    /// [`integration`](Self::integration), then [`attach`](Self::attach): what a command that
    /// talks to the channel starts with.
    pub async fn attached(&self, selector: &str) -> Result<IntegrationRecord, CliError> {
        let record = self.integration(selector).await?;
        self.attach(&record).await?;
        Ok(record)
    }
}

/// Opens the store the config names.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, CliError> {
    let failed = |e: marketsync::StoreError| {
        CliError::Config(format!(
            "{}: cannot open the store {}: {e}; check the URL and that the database is reachable",
            config.store.origin, config.store.url
        ))
    };
    Ok(match &config.store.url {
        StoreUrl::Sqlite(path) => {
            Arc::new(marketsync::SqliteStore::open(path).await.map_err(failed)?)
        }
        StoreUrl::Postgres(url) => Arc::new(
            marketsync::PostgresStore::connect(url)
                .await
                .map_err(failed)?,
        ),
    })
}
