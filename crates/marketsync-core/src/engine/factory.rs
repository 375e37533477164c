//! Adapters made on demand: [`ChannelFactory`].
//!
//! Without a factory, every integration's channel (adapter) must be registered
//! ([`Engine::register_channel`] / [`Engine::attach_channel`]) before an operation can use it,
//! so a service attaches every adapter when it starts, and integrations connected later (by
//! another process) are never run. With a factory ([`Engine::with_channel_factory`],
//! [`EngineBuilder::channel_factory`](super::EngineBuilder::channel_factory)) an operation on
//! an integration that has no channel registered asks the factory for one and attaches it
//! ([`Engine::attach_channel`]: the stored credentials are handed over and their version
//! recorded) — once, even when several callers want it at the same moment. The
//! [`Scheduler`](super::scheduler::Scheduler) then detaches an integration's channel
//! ([`Engine::detach_channel`]) when it gives the integration back, so a worker keeps only the
//! adapters of the integrations it holds.

use std::fmt::Debug;
use std::sync::Arc;

use crate::channel::Channel;
use crate::error::ChannelError;
use crate::store::IntegrationRecord;

use super::{Engine, EngineError};

/// Makes the channel (adapter) of an integration when the engine needs it and none is
/// registered.
///
/// The factory builds an adapter for the record's [`channel`](IntegrationRecord::channel) kind
/// (from the host's configuration: base URLs, client ids, rate limits); it does not need to
/// hand it credentials: the engine hands over the stored ones when it attaches the adapter.
/// An error is that integration's error: the operation that needed the channel fails with
/// [`EngineError::ChannelFactory`], nothing else is affected. Its `Debug` output is part of
/// the engine's, so it must not show a secret (client secrets, keys).
#[async_trait::async_trait]
pub trait ChannelFactory: Send + Sync + Debug {
    /// A new channel for the integration `record`.
    async fn channel(&self, record: &IntegrationRecord) -> Result<Arc<dyn Channel>, ChannelError>;
}

fn _assert_dyn(_: &dyn ChannelFactory) {}

impl Engine {
    /// Makes channels on demand for integrations that have none registered (see
    /// [`ChannelFactory`]).
    pub fn with_channel_factory(mut self, factory: Arc<dyn ChannelFactory>) -> Self {
        self.factory = Some(factory);
        self
    }

    /// Whether this engine makes channels on demand ([`with_channel_factory`](Self::with_channel_factory)).
    pub fn has_channel_factory(&self) -> bool {
        self.factory.is_some()
    }

    /// Removes an integration's channel from this engine and returns it (`None` when none was
    /// registered). Calls in flight keep using it; with a [`ChannelFactory`] the next operation
    /// on the integration makes a new one, without one it fails with [`EngineError::NoChannel`]
    /// until a channel is registered again.
    pub fn detach_channel(&self, id: crate::ids::IntegrationId) -> Option<Arc<dyn Channel>> {
        self.channels
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
    }

    /// Whether a channel is registered for the integration now.
    pub fn is_attached(&self, id: crate::ids::IntegrationId) -> bool {
        self.channels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&id)
    }

    /// How many integrations have a channel registered in this engine now.
    pub fn attached_channels(&self) -> usize {
        self.channels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The channel of an integration: the registered one, or, with a [`ChannelFactory`], a new
    /// one from the factory, attached ([`attach_channel`](Self::attach_channel)) before it is
    /// returned. Concurrent callers for one integration share one factory call.
    ///
    /// Fails with [`EngineError::NoChannel`] without a factory,
    /// [`EngineError::UnknownIntegration`] for an unknown id, and
    /// [`EngineError::ChannelFactory`] when the factory fails.
    pub async fn ensure_channel(
        &self,
        id: crate::ids::IntegrationId,
    ) -> Result<Arc<dyn Channel>, EngineError> {
        if let Ok(channel) = self.channel(id) {
            return Ok(channel);
        }
        if self.factory.is_none() {
            return Err(EngineError::NoChannel(id));
        }
        let rec = self.integration(id).await?;
        self.channel_for(&rec).await
    }

    /// [`ensure_channel`](Self::ensure_channel) with the record already read.
    pub(super) async fn channel_for(
        &self,
        rec: &IntegrationRecord,
    ) -> Result<Arc<dyn Channel>, EngineError> {
        let id = rec.id;
        if let Ok(channel) = self.channel(id) {
            return Ok(channel);
        }
        let Some(factory) = self.factory.clone() else {
            return Err(EngineError::NoChannel(id));
        };
        // One attach per integration at a time: the others wait, then find it registered.
        let turn = self
            .attaching
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default()
            .clone();
        let result = {
            let _turn = turn.lock().await;
            match self.channel(id) {
                Ok(channel) => Ok(channel),
                Err(_) => self.attach_from(factory.as_ref(), rec).await,
            }
        };
        {
            // The last one out removes the entry (every clone is taken under this lock).
            let mut attaching = self.attaching.lock().unwrap_or_else(|e| e.into_inner());
            if attaching
                .get(&id)
                .is_some_and(|t| Arc::ptr_eq(t, &turn) && Arc::strong_count(t) <= 2)
            {
                attaching.remove(&id);
            }
        }
        result
    }

    async fn attach_from(
        &self,
        factory: &dyn ChannelFactory,
        rec: &IntegrationRecord,
    ) -> Result<Arc<dyn Channel>, EngineError> {
        let id = rec.id;
        let channel = factory
            .channel(rec)
            .await
            .map_err(|error| EngineError::ChannelFactory {
                integration: id,
                error,
            })?;
        self.attach_channel(id, channel.clone()).await?;
        tracing::debug!(integration = %id, channel = rec.channel.as_str(), "channel attached on demand");
        Ok(channel)
    }
}
