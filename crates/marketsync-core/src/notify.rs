//! Notifications to the host: connection broken or restored, credentials expiring, phase
//! changed, orders held for a missing mapping.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::BrokenReason;
use crate::ids::{IntegrationId, Sku};
use crate::lifecycle::Phase;

mod dispatch;
pub mod messages;

pub use dispatch::{Backoff, DeliveryProblem, DeliveryReport, NotificationDispatcher};

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

/// A notification made ready for a person: what a transport (e-mail, webhook, the in-app
/// message list) delivers. Rendered from a stored notification; the text lives in one place so
/// it can be localised later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// The notification's stable id: the same on every delivery attempt and every transport,
    /// so a receiver can drop repeats (webhooks send it as `webhook-id`).
    pub id: String,
    /// When the cause happened (the notification was written).
    pub created_at: DateTime<Utc>,
    /// The integration it is about.
    pub integration: IntegrationId,
    /// The integration's name, as the seller gave it.
    pub integration_name: String,
    /// The integration's marketplace.
    pub channel: crate::ids::ChannelKind,
    /// One line: what happened, and where.
    pub subject: String,
    /// Plain text: what happened, the channel's own words when it said something, and what to do.
    pub body: String,
    /// The repair steps, in order (empty when nothing needs doing).
    pub repair: Vec<String>,
    /// The structured event.
    pub notification: Notification,
}

/// Why one delivery attempt failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// Whether trying again later may succeed (a timeout, a 5xx, 408, 429, a server that is
    /// down); `false` for a refusal that repeats (a 4xx, a rejected address).
    pub retryable: bool,
    /// What the transport saw, without secrets.
    pub message: String,
    /// When the receiver said when to come back (`Retry-After`).
    pub retry_after: Option<std::time::Duration>,
}

impl DeliveryError {
    /// A failure worth retrying.
    pub fn retryable(message: impl Into<String>) -> Self {
        DeliveryError {
            retryable: true,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure that will repeat.
    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            retryable: false,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// Delivers messages to people: e-mail, a webhook. The store's notification outbox calls it at
/// least once per message; a message's [`id`](Message::id) is stable so receivers can dedupe.
#[async_trait]
pub trait Transport: Send + Sync + Debug {
    /// A short stable name ("email", "webhook", or the host's), under which the store keeps the
    /// delivery state of each message for this transport.
    fn name(&self) -> &str;

    /// Delivers one message. Must not block for long (bounded by its own timeouts): at most a
    /// minute, or what the host set with [`NotificationDispatcher::set_attempt_time`].
    async fn deliver(&self, message: &Message) -> Result<(), DeliveryError>;
}
