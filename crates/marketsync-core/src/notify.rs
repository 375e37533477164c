//! Notifications to the host: connection broken or restored, credentials expiring, phase
//! changed, orders held for a missing mapping.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::BrokenReason;
use crate::ids::{IntegrationId, Sku};
use crate::lifecycle::Phase;

/// What a held order waits for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "mapping", content = "value", rename_all = "snake_case")]
pub enum MissingMapping {
    /// A shipping mapping for exactly this text.
    Shipping(String),
    /// A SKU mapping for this channel SKU.
    Sku(Sku),
}

/// An event the host may want to act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Notification {
    /// The connection broke. Sent once per break, not once per failed attempt.
    ConnectionBroken {
        /// The integration.
        integration: IntegrationId,
        /// The diagnosis.
        reason: BrokenReason,
        /// Exactly what the channel said.
        channel_message: Option<String>,
        /// What to do, in words.
        advice: String,
    },
    /// The connection works again.
    ConnectionRestored {
        /// The integration.
        integration: IntegrationId,
    },
    /// The credentials must be renewed (the seller must log in again or replace them) soon.
    CredentialsExpiring {
        /// The integration.
        integration: IntegrationId,
        /// When they stop working.
        expires_at: DateTime<Utc>,
    },
    /// The phase changed (Testing → Live).
    PhaseChanged {
        /// The integration.
        integration: IntegrationId,
        /// Before.
        from: Phase,
        /// After.
        to: Phase,
    },
    /// Orders wait for a mapping.
    OrdersHeld {
        /// The integration.
        integration: IntegrationId,
        /// The missing mapping.
        missing: MissingMapping,
        /// How many orders wait on it.
        orders: usize,
    },
}

/// Receives notifications. Implementations must not block for long; a transport that can fail
/// (webhook, e-mail) should queue.
#[async_trait]
pub trait Notifier: Send + Sync + Debug {
    /// Delivers one notification.
    async fn notify(&self, notification: &Notification);
}
