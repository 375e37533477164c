//! The engine's [`ChannelFactory`]: an integration's adapter rebuilt from the config file and
//! the integration's stored adapter settings ([`adapters::channel_for`]) when the engine needs
//! it, so `marketsync run` attaches only the adapters of the integrations it is running, and
//! runs integrations connected after it started (by `marketsync integrations connect` in
//! another process).

use std::sync::Arc;

use async_trait::async_trait;
use marketsync::engine::ChannelFactory;
use marketsync::{Channel, ChannelError, IntegrationRecord};

use crate::adapters;
use crate::config::Config;

/// Makes adapters from the config (base URLs, the applications' ids and secrets) and the
/// integration's stored adapter settings. The engine hands over the sealed credentials when it
/// attaches the adapter.
#[derive(Debug, Clone)]
pub struct AdapterFactory {
    config: Arc<Config>,
}

impl AdapterFactory {
    /// A factory over `config`.
    pub fn new(config: Arc<Config>) -> Self {
        Self { config }
    }
}

#[async_trait]
impl ChannelFactory for AdapterFactory {
    async fn channel(&self, record: &IntegrationRecord) -> Result<Arc<dyn Channel>, ChannelError> {
        // The message names config fields and settings, never a secret's value.
        adapters::channel_for(&self.config, record).map_err(|e| {
            ChannelError::invalid(format!(
                "the adapter of integration {} cannot be built: {e}",
                record.id
            ))
            .with_channel(record.channel)
        })
    }
}
