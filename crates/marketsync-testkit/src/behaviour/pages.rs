//! Reading an adapter's [`OrderPage`] in its tests.

use marketsync_core::{ChannelKind, ChannelOrderId, ErrorKind, OrderPage};

/// The order ids of the page's rejected orders, in order (`None` for an order the adapter
/// could not read an id from).
pub fn rejected_ids(page: &OrderPage) -> Vec<Option<ChannelOrderId>> {
    page.rejected
        .iter()
        .map(|r| r.channel_order_id.clone())
        .collect()
}

/// The order ids of the page's readable orders, in order.
pub fn read_ids(page: &OrderPage) -> Vec<&str> {
    page.orders
        .iter()
        .map(|o| o.channel_order_id.as_str())
        .collect()
}

/// Asserts that the page rejected `count` orders, each as a typed error of `channel`'s
/// `fetch_orders` (the marketplace's answer or an invalid value: `Channel` or `Invalid`).
///
/// # Panics
/// If the count or any rejection differs.
pub fn assert_rejected_by_fetch(page: &OrderPage, channel: ChannelKind, count: usize) {
    assert_eq!(page.rejected.len(), count, "{:?}", page.rejected);
    for r in &page.rejected {
        assert!(
            matches!(r.error.kind(), ErrorKind::Channel | ErrorKind::Invalid),
            "{r:?}"
        );
        assert_eq!(r.error.channel(), Some(channel));
        assert_eq!(r.error.operation(), Some("fetch_orders"));
    }
}
