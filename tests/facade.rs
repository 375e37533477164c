//! The facade: its curated names (root, prelude, modules) are the ones a host program uses,
//! `Engine::builder()` works through it, and channels are used as `Arc<dyn Channel>`.

use std::sync::Arc;

use marketsync::channel::ListingQuery;
use marketsync::testing::MemoryChannel;
use marketsync::{Capabilities, Channel, ChannelKind, ErrorKind, Operation};

fn channels() -> Vec<Arc<dyn Channel>> {
    vec![
        Arc::new(MemoryChannel::new(ChannelKind::Reverb)),
        Arc::new(
            MemoryChannel::new(ChannelKind::ChannelAdvisor).with_capabilities(Capabilities {
                listings_publish: false,
                shipping_mappings_required: true,
                ..Capabilities::all()
            }),
        ),
    ]
}

#[tokio::test]
async fn channels_work_behind_arc_dyn() {
    for ch in channels() {
        let account = ch.verify().await.unwrap();
        assert!(!account.account_id.is_empty());
        let page = ch.list_listings(&ListingQuery::default()).await.unwrap();
        assert!(page.listings.is_empty());
        let caps = ch.capabilities();
        // What capabilities say is what the channel does.
        let publish = ch.publish_listings(&[]).await;
        assert_eq!(caps.supports(Operation::PublishListings), publish.is_ok());
        if let Err(e) = publish {
            assert_eq!(e.kind(), ErrorKind::Unsupported);
            assert_eq!(e.channel(), Some(ch.kind()));
        }
    }
}

#[tokio::test]
async fn a_host_program_needs_only_the_prelude_and_the_root() {
    use marketsync::prelude::*;
    use marketsync::{LedgerEntry, MemoryCatalog, NotImportedReason};

    let catalog = Arc::new(MemoryCatalog::new());
    let engine = Engine::builder().catalog(catalog).build();
    let seller = Actor::User("ana".into());
    let channel = Arc::new(MemoryChannel::new(ChannelKind::Reverb));
    let settings = IntegrationSettings::new(ChannelKind::Reverb, Currency::USD);
    let id = engine
        .create_integration("Shop", channel, settings, seller.clone())
        .await
        .unwrap();
    engine
        .enter_credentials(id, &Credentials::api_token("tok"), seller.clone())
        .await
        .unwrap();
    engine.verify(id, seller.clone()).await.unwrap();
    engine
        .set_label(id, seller.clone(), Label::new("shop").unwrap())
        .await
        .unwrap();
    engine.activate(id, seller.clone()).await.unwrap();
    engine
        .enable_features(id, seller, [Feature::Orders])
        .await
        .unwrap();
    let report = engine.import_orders(id).await.unwrap();
    assert!(report.imported.is_empty());
    let rows: Vec<LedgerEntry> = engine.ledger(id, LedgerFilter::All).await.unwrap();
    assert!(rows.is_empty());
    let _: Option<NotImportedReason> = None;
}

/// Names a host or an implementor reaches for, by module: a compile-time check of the layout.
#[allow(unused_imports)]
mod names {
    use marketsync::channel::{
        AccountInfo, CredentialSink, Cursor, ListingPage, OrderPage, OrderQuery, RateLimits,
    };
    use marketsync::credentials::{LoginSession, OAuthTokens};
    use marketsync::engine::{
        ImportReport, OrderExplanation, SyncReport, UNREADABLE_WITHOUT_ID_PREFIX,
    };
    use marketsync::lifecycle::{DeletePlan, Event, Lifecycle};
    use marketsync::mapping::{MappingSet, ShippingMapping};
    use marketsync::store::{LedgerWrite, OrderBatch, OutboxEntry, SealedCredentials, Store};
    use marketsync::testing::{FailureRule, ManualClock, MemoryChannel, MemoryStore};
    use marketsync::{
        ChannelConfig, CredentialKey, Engine, EngineBuilder, EngineError, IntegrationRecord,
        SqliteStore, channel_from_config,
    };
    use marketsync::{allegro, channeladvisor, reverb, sqlite, tradera};
}
