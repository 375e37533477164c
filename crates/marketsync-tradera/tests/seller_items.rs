//! The seller-items answer (every item of the seller: Tradera has no paging) read as a stream
//! by `decode::seller_items`: only the listings asked for are kept (by own reference, ended ones
//! left out unless asked for), every auction and fixed-price item is noted for ending, and an
//! escaped string reads as well as a borrowed one.

#![recursion_limit = "256"]

mod common;

use std::collections::HashSet;

use common::*;
use marketsync_core::ChannelListingState;
use marketsync_tradera::decode::{self, ItemFilter};

#[test]
fn reading_the_seller_items_keeps_only_what_is_asked_for() {
    const N: i64 = 2_000;
    let items: Vec<serde_json::Value> = (0..N)
        .map(|i| {
            // Every tenth item an auction; items 0..100 ended; one own reference with
            // escaped quotes (read into its own string; the others are borrowed from the body).
            let sku = if i == 7 {
                "LP-\"7\"".to_owned()
            } else {
                format!("LP-{i}")
            };
            let end = if i < 100 {
                "2026-03-01T20:00:00"
            } else {
                "2026-12-31T23:59:00"
            };
            let kind = if i % 10 == 0 { 1 } else { 4 };
            item(700_000_000 + i, kind, &[&sku], 149, 5, end)
        })
        .collect();
    let body = serde_json::to_vec(&items).unwrap();
    drop(items);

    // Every item, ended ones included.
    let all = decode::seller_items(
        &body,
        now(),
        ItemFilter {
            skus: None,
            include_ended: true,
        },
    )
    .unwrap();
    assert_eq!(all.items, N as u64);
    assert_eq!(all.listings.len(), N as usize);
    assert_eq!(all.non_shop_items.len(), (N / 10) as usize);
    assert_eq!(all.listings[7].sku.as_ref().unwrap().as_str(), "LP-\"7\"");
    assert_eq!(
        all.listings
            .iter()
            .filter(|l| l.state == ChannelListingState::Ended)
            .count(),
        100
    );
    assert_eq!(
        decode::listings_page(&body, now()).unwrap(),
        all.listings,
        "the public page reader is the same reading"
    );
    drop(all);

    // Ten SKUs asked for (one of them ended, one escaped, one unknown), ended left out.
    let wanted: Vec<String> = [5, 7, 250, 1_000, 1_250, 1_500, 1_600, 1_777, 1_999]
        .iter()
        .map(|i| {
            if *i == 7 {
                "LP-\"7\"".to_owned()
            } else {
                format!("LP-{i}")
            }
        })
        .chain(["LP-NOPE".to_owned()])
        .collect();
    let skus: HashSet<&str> = wanted.iter().map(String::as_str).collect();
    let some = decode::seller_items(
        &body,
        now(),
        ItemFilter {
            skus: Some(&skus),
            include_ended: false,
        },
    )
    .unwrap();
    let got: Vec<&str> = some
        .listings
        .iter()
        .map(|l| l.sku.as_ref().unwrap().as_str())
        .collect();
    assert_eq!(
        got,
        [
            "LP-250", "LP-1000", "LP-1250", "LP-1500", "LP-1600", "LP-1777", "LP-1999"
        ],
        "5 and 7 have ended; LP-NOPE is not there"
    );
    assert_eq!(
        some.non_shop_items.len(),
        (N / 10) as usize,
        "every auction is still noted"
    );
}

#[test]
fn an_unreadable_answer_is_one_typed_error() {
    for body in [
        &b"[{\"id\": 1,"[..],
        b"{\"items\": []}",
        b"null",
        b"[{\"id\": 1}] trailing",
        b"[{\"id\": 1, \"ownReferences\": [7]}]",
    ] {
        let e = decode::seller_items(body, now(), ItemFilter::default()).unwrap_err();
        assert_eq!(e.kind(), marketsync_core::ErrorKind::Channel, "{e}");
        assert_eq!(e.operation(), Some("list_listings"));
    }
    let empty = decode::seller_items(b"[]", now(), ItemFilter::default()).unwrap();
    assert_eq!((empty.items, empty.listings.len()), (0, 0));
}
