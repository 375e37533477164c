//! What the chaos run found: a listing update the channel applied although the call failed (the
//! answer lost, or the process killed before recording it) left the engine's last fingerprint
//! at the previous value, so a later change *back* to that value looked unchanged and was never
//! sent — the channel kept the failed update's quantity. The engine now forgets the fingerprint
//! before sending, so such a listing is sent again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use marketsync_core::lifecycle::Event;
use marketsync_core::{
    Actor, Channel, ChannelError, ChannelKind, ChannelListing, ChannelListingId,
    ChannelListingState, CredentialKey, Credentials, Currency, Engine, Feature,
    IntegrationSettings, InventoryItem, Label, ListingOutcome, ListingUpdate, ManualClock,
    MemoryCatalog, MemoryChannel, MemoryNotifier, MemoryStore, Money, Sku,
};
use marketsync_testkit::intercept::{Intercept, Intercepted};

/// Listing updates the channel applies, the next `fail` of them then answered with a temporary
/// error (the answer lost on the way back).
#[derive(Debug)]
struct AppliedThenFailed {
    fail: Arc<AtomicU32>,
}

#[async_trait]
impl Intercept for AppliedThenFailed {
    async fn update_listings(
        &self,
        inner: &dyn Channel,
        updates: &[ListingUpdate],
    ) -> Result<Vec<ListingOutcome>, ChannelError> {
        let outcomes = inner.update_listings(updates).await?;
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ChannelError::transient(
                "the connection closed before the answer",
            ));
        }
        Ok(outcomes)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_update_applied_despite_a_failure_is_sent_again_when_the_item_changes_back() {
    let seller = || Actor::User("seller".into());
    let label = Label::new("feed").unwrap();
    let sku = Sku::new("SKU-1").unwrap();
    let usd = |s: &str| Money::parse(s, "USD").unwrap();
    let catalog = Arc::new(MemoryCatalog::new());
    let item = |quantity| InventoryItem {
        stock_version: None,
        sku: sku.clone(),
        title: "Item".into(),
        price: usd("10.00"),
        quantity,
        labels: [label.clone()].into_iter().collect(),
    };
    catalog.upsert(item(5));
    let memory = MemoryChannel::new(ChannelKind::Reverb);
    let listing = ChannelListingId::new("L-1").unwrap();
    memory.add_listing(ChannelListing {
        id: listing.clone(),
        sku: Some(sku.clone()),
        title: Some("Item".into()),
        price: Some(usd("10.00")),
        quantity: Some(3),
        state: ChannelListingState::Live,
        raw_state: "live".into(),
    });
    let fail = Arc::new(AtomicU32::new(0));
    let channel = Intercepted::new(memory.clone(), AppliedThenFailed { fail: fail.clone() });
    let engine = Engine::new(
        Arc::new(MemoryStore::new()),
        catalog.clone(),
        Arc::new(MemoryNotifier::new()),
        Arc::new(ManualClock::new(chrono::Utc::now())),
    )
    .with_credential_key(CredentialKey::new("k", [7; 32]));
    let id = engine
        .create_integration(
            "resend",
            Arc::new(channel),
            IntegrationSettings::new(ChannelKind::Reverb, Currency::USD),
            seller(),
        )
        .await
        .unwrap();
    engine
        .enter_credentials(id, &Credentials::api_token("token"), seller())
        .await
        .unwrap();
    engine.verify(id, seller()).await.unwrap();
    for e in [
        Event::SetLabel {
            label: Some(label.clone()),
            support_override: None,
        },
        Event::Activate,
        Event::SetFeature {
            feature: Feature::Listings,
            on: true,
            support_override: None,
        },
    ] {
        engine.apply(id, seller(), e).await.unwrap();
    }
    engine.link_listings(id).await.unwrap();
    let quantity = || memory.listing(&listing).and_then(|l| l.quantity);

    let report = engine.sync_listings(id).await.unwrap();
    assert_eq!(report.sent, std::slice::from_ref(&sku), "{report:?}");
    assert_eq!(quantity(), Some(5));

    // 6 reaches the channel, but the engine hears a failure.
    catalog.upsert(item(6));
    fail.store(1, Ordering::SeqCst);
    let report = engine.sync_listings(id).await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(quantity(), Some(6));

    // Back to 5: it must be sent, or the channel keeps 6 for good.
    catalog.upsert(item(5));
    let report = engine.sync_listings(id).await.unwrap();
    assert_eq!(report.sent, std::slice::from_ref(&sku), "{report:?}");
    assert_eq!(quantity(), Some(5));

    // And once recorded, an unchanged item is not sent again.
    let report = engine.sync_listings(id).await.unwrap();
    assert!(report.sent.is_empty(), "{report:?}");
    assert_eq!(report.unchanged, 1, "{report:?}");
}
