//! Shorter ways to do what hosts do most: one lifecycle step, one ledger row, one integration
//! by name, a shipment. Each is a thin wrapper over the general call it names.

use chrono::{DateTime, Utc};

use super::{Engine, EngineError, IntegrationRecord, LedgerFilter};
use crate::{
    Actor, AuditEvent, ChannelOrderId, Delivery, Feature, IntegrationId, Label, LedgerEntry,
    Shipment, lifecycle::Event,
};

impl Engine {
    /// Turns one feature switch on or off: [`apply`](Self::apply) with
    /// [`Event::SetFeature`] and no support override.
    pub async fn set_feature(
        &self,
        id: IntegrationId,
        actor: Actor,
        feature: Feature,
        on: bool,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        let event = Event::SetFeature {
            feature,
            on,
            support_override: None,
        };
        self.apply(id, actor, event).await
    }

    /// Turns several feature switches on, in order; stops at the first refusal.
    pub async fn enable_features(
        &self,
        id: IntegrationId,
        actor: Actor,
        features: impl IntoIterator<Item = Feature>,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        let mut audit = Vec::new();
        for feature in features {
            audit.extend(self.set_feature(id, actor.clone(), feature, true).await?);
        }
        Ok(audit)
    }

    /// Sets the integration's label: [`apply`](Self::apply) with [`Event::SetLabel`] and no
    /// support override (in Live, a label change goes through support and `apply`).
    pub async fn set_label(
        &self,
        id: IntegrationId,
        actor: Actor,
        label: Label,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        let event = Event::SetLabel {
            label: Some(label),
            support_override: None,
        };
        self.apply(id, actor, event).await
    }

    /// Activates the integration (Setup → Testing): [`apply`](Self::apply) with
    /// [`Event::Activate`].
    pub async fn activate(
        &self,
        id: IntegrationId,
        actor: Actor,
    ) -> Result<Vec<AuditEvent>, EngineError> {
        self.apply(id, actor, Event::Activate).await
    }

    /// One order's ledger row, if the order was ever downloaded for this integration.
    pub async fn ledger_entry(
        &self,
        id: IntegrationId,
        order_id: &ChannelOrderId,
    ) -> Result<Option<LedgerEntry>, EngineError> {
        Ok(self.store.ledger_entry(id, order_id).await?)
    }

    /// The integration's ledger rows matching `filter`.
    pub async fn ledger(
        &self,
        id: IntegrationId,
        filter: LedgerFilter,
    ) -> Result<Vec<LedgerEntry>, EngineError> {
        Ok(self.store.ledger(id, filter).await?)
    }

    /// The integration with this name that is not deleted, if any (names are the seller's and
    /// not unique; the first found is returned).
    pub async fn integration_named(
        &self,
        name: &str,
    ) -> Result<Option<IntegrationRecord>, EngineError> {
        let mut next = Some(crate::store::PageRequest::first(
            super::listings::STORE_PAGE,
        ));
        while let Some(request) = next.take() {
            let page = self.store.integrations_page(&request).await?;
            next = request.after(&page);
            if let Some(found) = page
                .items
                .into_iter()
                .find(|r| r.name == name && !r.lifecycle.is_deleted())
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

impl Shipment {
    /// The whole order handed to `carrier` with a tracking number.
    pub fn tracked(
        carrier: impl Into<String>,
        tracking_number: impl Into<String>,
        shipped_at: DateTime<Utc>,
    ) -> Self {
        Self {
            carrier: Some(carrier.into()),
            method: None,
            tracking_number: Some(tracking_number.into()),
            shipped_at,
            lines: Vec::new(),
            delivery: Delivery::Shipped,
        }
    }

    /// The same shipment with its shipping method or class (as the channel names it).
    pub fn with_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// The whole order collected by the buyer in person.
    pub fn picked_up(at: DateTime<Utc>) -> Self {
        Self {
            carrier: None,
            method: None,
            tracking_number: None,
            shipped_at: at,
            lines: Vec::new(),
            delivery: Delivery::PickedUp,
        }
    }
}
