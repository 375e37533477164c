//! The facade crate re-exports the core, and channels are used as `Arc<dyn Channel>`.

use std::sync::Arc;

use marketsync::{
    Capabilities, Channel, ChannelKind, ErrorKind, ListingQuery, MemoryChannel, Operation,
};

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
