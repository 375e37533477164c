//! The notification outbox: notifications written with the state change that causes them, their
//! delivery state per transport, and the in-app message list.
//!
//! A notification is written in the same transaction as its cause
//! ([`Store::update_integration_notifying`], [`OrderBatch::notifications`]) under a dedupe key
//! that is unique per integration: a second write of a key is skipped silently, which is how an
//! event is raised once per cause. With it the store writes one delivery row per transport named
//! in [`NewNotification::transports`]; a dispatcher claims due rows per transport with a lease
//! ([`Store::claim_deliveries`]), and finishes them as delivered, to retry at a time, or failed
//! for good ([`Store::finish_delivery`]). Lease expiry is decided by the store's clock (as for
//! the other leases, see [`work`](super::work)); when a retry is due by the caller's clock.
//!
//! [`Store::update_integration_notifying`]: super::Store::update_integration_notifying
//! [`Store::claim_deliveries`]: super::Store::claim_deliveries
//! [`Store::finish_delivery`]: super::Store::finish_delivery
//! [`OrderBatch::notifications`]: super::OrderBatch::notifications

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::credentials::CredentialKind;
use crate::ids::IntegrationId;
use crate::notify::Notification;

use super::{Lease, StoreError};

/// A notification to write together with its cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNotification {
    /// Its id, chosen by the writer (unique; the same on every delivery and transport, so
    /// receivers can drop repeats). When the dedupe key was written before, nothing is written
    /// and no notification has this id.
    pub id: String,
    /// What makes two notifications the same cause, unique per integration ("connection broken
    /// at version 7", "orders held for shipping text X, time 2"). A second write is skipped.
    pub dedupe_key: String,
    /// The event.
    pub notification: Notification,
    /// When the cause happened (the caller's clock).
    pub created_at: DateTime<Utc>,
    /// The kind of the integration's credentials when it was written, when known: the repair
    /// steps depend on it.
    pub credential_kind: Option<CredentialKind>,
    /// The transports that deliver it: one delivery row each.
    pub transports: Vec<String>,
}

impl NewNotification {
    /// A notification with a fresh id.
    pub fn new(
        dedupe_key: impl Into<String>,
        notification: Notification,
        created_at: DateTime<Utc>,
    ) -> Self {
        NewNotification {
            id: uuid::Uuid::new_v4().simple().to_string(),
            dedupe_key: dedupe_key.into(),
            notification,
            created_at,
            credential_kind: None,
            transports: Vec::new(),
        }
    }
}

/// A notification as stored: the outbox row and the in-app message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredNotification {
    /// Its id.
    pub id: String,
    /// The integration it is about.
    pub integration: IntegrationId,
    /// Its dedupe key.
    pub dedupe_key: String,
    /// When the cause happened.
    pub created_at: DateTime<Utc>,
    /// The event.
    pub notification: Notification,
    /// The kind of credentials when it was written, when known.
    pub credential_kind: Option<CredentialKind>,
    /// When the seller marked the message read; `None` while unread.
    pub read_at: Option<DateTime<Utc>>,
}

impl StoredNotification {
    /// The stored form of a new notification of `integration`.
    pub fn from_new(integration: IntegrationId, new: &NewNotification) -> Self {
        StoredNotification {
            id: new.id.clone(),
            integration,
            dedupe_key: new.dedupe_key.clone(),
            created_at: new.created_at,
            notification: new.notification.clone(),
            credential_kind: new.credential_kind,
            read_at: None,
        }
    }
}

/// Where one notification's delivery by one transport stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for (another) attempt.
    Pending,
    /// The transport delivered it.
    Delivered {
        /// When.
        at: DateTime<Utc>,
    },
    /// The transport refused it for good.
    Failed {
        /// When.
        at: DateTime<Utc>,
        /// Why.
        error: String,
    },
}

/// One notification's delivery by one transport.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationDelivery {
    /// The notification.
    pub notification: StoredNotification,
    /// The transport's name.
    pub transport: String,
    /// Its state.
    pub state: DeliveryState,
    /// Attempts made so far (claims).
    pub attempts: u32,
    /// Not to be tried before this time (the caller's clock).
    pub next_attempt_at: DateTime<Utc>,
    /// The current claim, if any.
    pub lease: Option<Lease>,
    /// The last error, if any (kept after a later success, for the record).
    pub last_error: Option<String>,
}

/// How one delivery attempt ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum DeliveryUpdate {
    /// Delivered.
    Delivered {
        /// When.
        at: DateTime<Utc>,
    },
    /// Failed for now; try again at `at`.
    Retry {
        /// The next attempt.
        at: DateTime<Utc>,
        /// The error.
        error: String,
    },
    /// Failed for good.
    Failed {
        /// When.
        at: DateTime<Utc>,
        /// The error.
        error: String,
    },
}

/// Which delivery rows to list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryFilter {
    /// Every row.
    All,
    /// Still waiting to be delivered (claimed or not).
    #[default]
    Pending,
    /// Delivered.
    Delivered,
    /// Failed for good.
    Failed,
}

/// A listing of the outbox's delivery rows ([`Store::deliveries`](super::Store::deliveries)),
/// oldest notification first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryQuery {
    /// Only this integration's.
    pub integration: Option<IntegrationId>,
    /// Only this transport's.
    pub transport: Option<String>,
    /// Only rows in this state.
    pub state: DeliveryFilter,
}

impl DeliveryQuery {
    /// Whether a row matches.
    pub fn matches(&self, d: &NotificationDelivery) -> bool {
        self.integration
            .is_none_or(|i| i == d.notification.integration)
            && self.transport.as_ref().is_none_or(|t| *t == d.transport)
            && match self.state {
                DeliveryFilter::All => true,
                DeliveryFilter::Pending => d.state == DeliveryState::Pending,
                DeliveryFilter::Delivered => matches!(d.state, DeliveryState::Delivered { .. }),
                DeliveryFilter::Failed => matches!(d.state, DeliveryState::Failed { .. }),
            }
    }
}

/// Read or unread messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFilter {
    /// Both.
    #[default]
    All,
    /// Not marked read.
    Unread,
    /// Marked read.
    Read,
}

/// Which messages of the in-app message list to read
/// ([`Store::messages`](super::Store::messages)), newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageQuery {
    /// Only this integration's; `None` for all.
    pub integration: Option<IntegrationId>,
    /// Read, unread, or both.
    pub read: ReadFilter,
}

impl MessageQuery {
    /// Every message.
    pub fn all() -> Self {
        Self::default()
    }

    /// The unread messages, of every integration.
    pub fn unread() -> Self {
        MessageQuery {
            integration: None,
            read: ReadFilter::Unread,
        }
    }

    /// Only `integration`'s messages.
    pub fn of(mut self, integration: IntegrationId) -> Self {
        self.integration = Some(integration);
        self
    }

    /// Whether a message matches.
    pub fn matches(&self, n: &StoredNotification) -> bool {
        self.integration.is_none_or(|i| i == n.integration)
            && match self.read {
                ReadFilter::All => true,
                ReadFilter::Unread => n.read_at.is_none(),
                ReadFilter::Read => n.read_at.is_some(),
            }
    }
}

/// Which messages to mark read ([`Store::mark_read`](super::Store::mark_read)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "messages", content = "value", rename_all = "snake_case")]
pub enum MarkRead {
    /// These, by id (unknown ids are ignored).
    Ids(Vec<String>),
    /// Every unread message of an integration.
    Integration(IntegrationId),
}

impl MarkRead {
    /// One message.
    pub fn one(id: impl Into<String>) -> Self {
        MarkRead::Ids(vec![id.into()])
    }

    /// Whether the rule covers a message.
    pub fn covers(&self, n: &StoredNotification) -> bool {
        match self {
            MarkRead::Ids(ids) => ids.contains(&n.id),
            MarkRead::Integration(i) => *i == n.integration,
        }
    }
}

/// The rule of [`Store::finish_delivery`](super::Store::finish_delivery), for store
/// implementers: checks the lease and applies the update to a row. `Conflict` (nothing changed)
/// when the row is not claimed with `lease_token`. The lease is dropped, the state set, the last
/// error kept.
pub fn apply_delivery_update(
    row: &mut NotificationDelivery,
    lease_token: &str,
    update: &DeliveryUpdate,
) -> Result<(), StoreError> {
    if row.lease.as_ref().is_none_or(|l| l.token != lease_token) {
        return Err(StoreError::Conflict(format!(
            "the delivery of notification {} by {} is not claimed with this lease (it lapsed and was taken, or was finished)",
            row.notification.id, row.transport
        )));
    }
    row.lease = None;
    match update {
        DeliveryUpdate::Delivered { at } => row.state = DeliveryState::Delivered { at: *at },
        DeliveryUpdate::Retry { at, error } => {
            row.state = DeliveryState::Pending;
            row.next_attempt_at = *at;
            row.last_error = Some(error.clone());
        }
        DeliveryUpdate::Failed { at, error } => {
            row.state = DeliveryState::Failed {
                at: *at,
                error: error.clone(),
            };
            row.last_error = Some(error.clone());
        }
    }
    Ok(())
}

impl Notification {
    /// The integration the event is about.
    pub fn integration(&self) -> IntegrationId {
        match self {
            Notification::ConnectionBroken { integration, .. }
            | Notification::ConnectionRestored { integration }
            | Notification::CredentialsExpiring { integration, .. }
            | Notification::PhaseChanged { integration, .. }
            | Notification::OrdersHeld { integration, .. } => *integration,
        }
    }

    /// A short stable name of the event ("connection_broken", …), as in its JSON form.
    pub fn event_name(&self) -> &'static str {
        match self {
            Notification::ConnectionBroken { .. } => "connection_broken",
            Notification::ConnectionRestored { .. } => "connection_restored",
            Notification::CredentialsExpiring { .. } => "credentials_expiring",
            Notification::PhaseChanged { .. } => "phase_changed",
            Notification::OrdersHeld { .. } => "orders_held",
        }
    }
}
