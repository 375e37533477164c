//! The notification outbox of [`MemoryStore`](super::MemoryStore): notifications, their
//! delivery rows and read marks, kept under the store's one lock.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use crate::ids::IntegrationId;
use crate::store::support::bad_page_token;
use crate::store::{
    DeliveryQuery, DeliveryState, DeliveryUpdate, Lease, MarkRead, MessageQuery, NewNotification,
    NotificationDelivery, Page, PageRequest, StoreError, StoredNotification, apply_delivery_update,
};

/// Every notification (by write sequence) and its delivery rows.
#[derive(Debug, Default)]
pub(super) struct NoticeBook {
    next_seq: u64,
    /// By write sequence.
    notes: BTreeMap<u64, StoredNotification>,
    /// Notification id → sequence.
    by_id: BTreeMap<String, u64>,
    /// Dedupe keys written, per integration.
    keys: HashSet<(IntegrationId, String)>,
    /// (sequence, transport) → the row (its `notification` refreshed on read).
    deliveries: BTreeMap<(u64, String), NotificationDelivery>,
}

impl NoticeBook {
    /// Writes the notifications of `integration` whose dedupe keys are new.
    pub(super) fn write(&mut self, integration: IntegrationId, new: &[NewNotification]) {
        for n in new {
            if !self.keys.insert((integration, n.dedupe_key.clone())) {
                continue;
            }
            self.next_seq += 1;
            let seq = self.next_seq;
            let stored = StoredNotification::from_new(integration, n);
            for t in &n.transports {
                self.deliveries
                    .entry((seq, t.clone()))
                    .or_insert_with(|| NotificationDelivery {
                        notification: stored.clone(),
                        transport: t.clone(),
                        state: DeliveryState::Pending,
                        attempts: 0,
                        next_attempt_at: n.created_at,
                        lease: None,
                        last_error: None,
                    });
            }
            self.by_id.insert(n.id.clone(), seq);
            self.notes.insert(seq, stored);
        }
    }

    pub(super) fn notification(&self, id: &str) -> Option<StoredNotification> {
        self.by_id.get(id).and_then(|s| self.notes.get(s)).cloned()
    }

    fn with_note(&self, seq: u64, row: &NotificationDelivery) -> NotificationDelivery {
        let mut row = row.clone();
        if let Some(n) = self.notes.get(&seq) {
            row.notification = n.clone();
        }
        row
    }

    pub(super) fn claim(
        &mut self,
        transport: &str,
        now: DateTime<Utc>,
        store_now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<NotificationDelivery> {
        let mut claimed = Vec::new();
        let keys: Vec<(u64, String)> = self
            .deliveries
            .iter()
            .filter(|((_, t), row)| {
                t == transport
                    && row.state == DeliveryState::Pending
                    && row.next_attempt_at <= now
                    && row.lease.as_ref().is_none_or(|l| l.until <= store_now)
            })
            .map(|(k, _)| k.clone())
            .take(limit)
            .collect();
        for k in keys {
            let Some(row) = self.deliveries.get_mut(&k) else {
                continue;
            };
            row.attempts += 1;
            row.lease = Some(Lease {
                token: format!("delivery-{}", uuid::Uuid::new_v4().simple()),
                until,
            });
            let row = row.clone();
            claimed.push(self.with_note(k.0, &row));
        }
        claimed
    }

    pub(super) fn finish(
        &mut self,
        notification: &str,
        transport: &str,
        lease_token: &str,
        update: &DeliveryUpdate,
    ) -> Result<(), StoreError> {
        let row = self
            .by_id
            .get(notification)
            .and_then(|seq| self.deliveries.get_mut(&(*seq, transport.to_owned())))
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "no delivery of notification {notification} by {transport}"
                ))
            })?;
        apply_delivery_update(row, lease_token, update)
    }

    pub(super) fn deliveries(
        &self,
        query: &DeliveryQuery,
        page: &PageRequest,
    ) -> Result<Page<NotificationDelivery>, StoreError> {
        let after = page
            .after
            .as_deref()
            .map(|t| parse_delivery_token(t).ok_or_else(|| bad_page_token("deliveries", t)))
            .transpose()?;
        let items: Vec<(u64, String, NotificationDelivery)> = self
            .deliveries
            .iter()
            .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
            .map(|((seq, t), row)| (*seq, t.clone(), self.with_note(*seq, row)))
            .filter(|(_, _, row)| query.matches(row))
            .take(page.limit.max(1) + 1)
            .collect();
        let page = Page::from_overfetch(items, page.limit, |(seq, t, _)| format!("{seq}:{t}"));
        Ok(Page {
            items: page.items.into_iter().map(|(_, _, r)| r).collect(),
            next: page.next,
        })
    }

    pub(super) fn messages(
        &self,
        query: &MessageQuery,
        page: &PageRequest,
    ) -> Result<Page<StoredNotification>, StoreError> {
        let before = match page.after.as_deref() {
            Some(t) => Some(
                t.parse::<u64>()
                    .map_err(|_| bad_page_token("messages", t))?,
            ),
            None => None,
        };
        let items: Vec<(u64, StoredNotification)> = self
            .notes
            .iter()
            .rev()
            .filter(|(seq, _)| before.is_none_or(|b| **seq < b))
            .filter(|(_, n)| query.matches(n))
            .take(page.limit.max(1) + 1)
            .map(|(s, n)| (*s, n.clone()))
            .collect();
        let page = Page::from_overfetch(items, page.limit, |(seq, _)| seq.to_string());
        Ok(Page {
            items: page.items.into_iter().map(|(_, n)| n).collect(),
            next: page.next,
        })
    }

    pub(super) fn mark_read(&mut self, mark: &MarkRead, at: DateTime<Utc>) -> usize {
        let mut marked = 0;
        for n in self.notes.values_mut() {
            if n.read_at.is_none() && mark.covers(n) {
                n.read_at = Some(at);
                marked += 1;
            }
        }
        marked
    }
}

fn parse_delivery_token(token: &str) -> Option<(u64, String)> {
    token
        .split_once(':')
        .and_then(|(seq, t)| Some((seq.parse().ok()?, t.to_owned())))
}
