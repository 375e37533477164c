//! The engine's side of notifications: what it writes with each change (dedupe keys, the
//! transports to deliver through), the in-process [`Notifier`](crate::notify::Notifier) hook
//! after the commit, the delivery pass and the in-app message list.
//!
//! The durable path is the store's notification outbox: a notification is written in the same
//! transaction as the change that causes it, delivered by [`Engine::deliver_notifications`]
//! through the registered transports, at least once each, and listed by [`Engine::messages`].
//! The engine's `Notifier` stays the host's in-process hook: it is called right after the
//! commit, once for each notification that was written (not for one skipped by its dedupe key),
//! best-effort (a crash between the commit and the call skips it; the transports do not).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::credentials::CredentialKind;
use crate::ids::IntegrationId;
use crate::lifecycle::Change;
use crate::mapping::MappingSet;
use crate::notify::messages::render;
use crate::notify::{
    DeliveryReport, Message, MissingMapping, Notification, NotificationDispatcher, Transport,
};
use crate::store::{
    Decision, DeliveryQuery, LedgerWrite, MarkRead, MessageQuery, NewNotification,
    NotificationDelivery, Page, PageRequest, StoreError,
};

use super::{Engine, EngineError};

impl Engine {
    /// The dispatcher that delivers the notification outbox; share it with a process that only
    /// delivers (see [`NotificationDispatcher`]).
    pub fn notification_dispatcher(&self) -> &Arc<NotificationDispatcher> {
        &self.notices
    }

    /// Registers a transport (e-mail, webhook, the host's) for every integration: notifications
    /// written from now on are delivered through it. The e-mail and webhook transports are in
    /// the `marketsync-notify` crate. Every process that writes notifications should register
    /// the same transports.
    pub fn register_transport(&self, transport: Arc<dyn Transport>) {
        self.notices.register(transport);
    }

    /// Registers a transport for some integrations only.
    pub fn register_transport_for(
        &self,
        transport: Arc<dyn Transport>,
        integrations: impl IntoIterator<Item = IntegrationId>,
    ) {
        self.notices.register_for(transport, integrations);
    }

    /// One delivery pass over the notification outbox (every registered transport), apart from
    /// the operations: a host or its scheduler calls it now and then. A transport that fails
    /// leaves its notifications waiting, with their last error, and never stops the others.
    pub async fn deliver_notifications(&self) -> DeliveryReport {
        self.observed_delivery(self.notices.deliver()).await
    }

    /// The in-app message list, newest first, rendered for the seller.
    pub async fn messages(
        &self,
        query: &MessageQuery,
        page: &PageRequest,
    ) -> Result<Page<Message>, EngineError> {
        let stored = self.store.messages(query, page).await?;
        let mut names = HashMap::new();
        let mut items = Vec::with_capacity(stored.items.len());
        for n in &stored.items {
            if let Entry::Vacant(slot) = names.entry(n.integration) {
                let rec = self.integration(n.integration).await?;
                slot.insert((rec.name, rec.channel));
            }
            let (name, channel) = &names[&n.integration];
            items.push(render(n, name, *channel));
        }
        Ok(Page {
            items,
            next: stored.next,
        })
    }

    /// Marks messages read (one, several, or all of an integration) at the engine's clock.
    /// Returns how many were newly marked.
    pub async fn mark_read(&self, mark: &MarkRead) -> Result<usize, EngineError> {
        Ok(self.store.mark_read(mark, self.now()).await?)
    }

    /// The notification outbox: deliveries matching `query` (by default the ones still
    /// waiting), with their attempts and last error.
    pub async fn notification_outbox(
        &self,
        query: &DeliveryQuery,
        page: &PageRequest,
    ) -> Result<Page<NotificationDelivery>, EngineError> {
        Ok(self.store.deliveries(query, page).await?)
    }

    /// A notification to write with a change of `integration`, delivered through the
    /// transports registered for it.
    pub(super) fn new_notification(
        &self,
        dedupe_key: String,
        notification: Notification,
        credential_kind: Option<CredentialKind>,
    ) -> NewNotification {
        let mut n = NewNotification::new(dedupe_key, notification, self.now());
        n.transports = self.notices.transports_for(n.notification.integration());
        n.credential_kind = credential_kind;
        n
    }

    /// After the commit: the host's in-process hook hears of each notification that was
    /// written (one skipped by its dedupe key has no row under its id).
    pub(super) async fn notify_written(&self, notes: &[NewNotification]) {
        for n in notes {
            let written = match self.store.notification(&n.id).await {
                Ok(found) => found.is_some(),
                // Unknown: better heard twice than not at all.
                Err(_) => true,
            };
            if written {
                self.notifier.notify(&n.notification).await;
            }
        }
    }

    /// The "orders held" notifications for a batch of writes: one per missing mapping that
    /// holds orders in it, keyed by the mapping and how many times it was added before (read
    /// from the audit log), so it is raised once while the mapping stays missing and again only
    /// after it was added and is missing again.
    pub(super) async fn held_notifications(
        &self,
        id: IntegrationId,
        writes: &[LedgerWrite],
    ) -> Result<Vec<NewNotification>, StoreError> {
        let mut held: BTreeMap<MissingMapping, usize> = BTreeMap::new();
        for w in writes {
            if let Decision::Skip { reason } = &w.decision {
                super::orders::count_missing(reason, &mut held);
            }
        }
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let audit = self.store.audit_log(id).await?;
        let mut out = Vec::new();
        for (missing, orders) in held {
            let added = audit
                .iter()
                .filter(|e| match &e.change {
                    Change::MappingsChanged { before, after } => {
                        !has_mapping(before, &missing) && has_mapping(after, &missing)
                    }
                    _ => false,
                })
                .count();
            let key = match &missing {
                MissingMapping::Shipping(text) => format!("orders-held:{added}:shipping:{text}"),
                MissingMapping::Sku(sku) => format!("orders-held:{added}:sku:{}", sku.as_str()),
            };
            out.push(self.new_notification(
                key,
                Notification::OrdersHeld {
                    integration: id,
                    missing,
                    orders,
                },
                None,
            ));
        }
        Ok(out)
    }
}

fn has_mapping(set: &MappingSet, missing: &MissingMapping) -> bool {
    match missing {
        MissingMapping::Shipping(text) => set.shipping(text).is_some(),
        MissingMapping::Sku(sku) => set.sku(sku).is_some(),
    }
}
