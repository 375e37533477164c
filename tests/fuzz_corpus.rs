//! Replays the committed fuzz inputs on stable — the seeds (`fuzz/seeds/<target>/`, realistic
//! bodies) and the corpus the fuzzers kept (`fuzz/corpus/<target>/`) — every input of every
//! target through the very checks the fuzz target runs (`fuzz/src/checks.rs`, shared), so an
//! input that once crashed stays fixed and the adapters' decoding stays panic-free on every
//! input the fuzzers kept.

use std::path::{Path, PathBuf};

#[path = "../fuzz/src/checks.rs"]
mod checks;

/// Every file of one target's seeds and corpus, sorted by name.
fn corpus(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in [
        fuzz.join("seeds").join(target),
        fuzz.join("corpus").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        files.extend(
            entries
                .map(|entry| entry.expect("a corpus entry").path())
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    files
}

/// Runs `check` on every input of `target`'s corpus; a panic names the input.
fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus(target);
    assert!(!files.is_empty(), "the corpus of {target} is empty");
    for path in &files {
        let data = std::fs::read(path).expect("a corpus file");
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target}: the input {} crashes the check",
            path.display()
        );
    }
}

#[test]
fn channeladvisor_orders() {
    replay("channeladvisor_orders", checks::channeladvisor_orders);
}

#[test]
fn reverb_orders() {
    replay("reverb_orders", checks::reverb_orders);
}

#[test]
fn allegro_orders() {
    replay("allegro_orders", checks::allegro_orders);
}

#[test]
fn tradera_orders() {
    replay("tradera_orders", checks::tradera_orders);
}

#[test]
fn ca_multipart() {
    replay("ca_multipart", checks::ca_multipart);
}

#[test]
fn retry_after() {
    replay("retry_after", checks::retry_after);
}

#[test]
fn paging_links() {
    replay("paging_links", checks::paging_links);
}

/// The checks are not vacuous: a seed of each adapter decodes into orders.
#[test]
fn the_seeds_decode_into_orders() {
    let read = |target: &str, name: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/seeds")
                .join(target)
                .join(name),
        )
        .expect("a seed")
    };
    let ca = marketsync_channeladvisor::decode::orders_page(&read(
        "channeladvisor_orders",
        "orders_two",
    ))
    .expect("a page");
    assert_eq!((ca.orders.len(), ca.items_cut.len()), (2, 1));
    let reverb = marketsync_reverb::decode::orders_page(&read("reverb_orders", "orders_two"))
        .expect("a page");
    assert_eq!(reverb.orders.len(), 2);
    let allegro = marketsync_allegro::decode::orders_page(&read("allegro_orders", "forms_two"))
        .expect("a page");
    assert_eq!(allegro.orders.len(), 2);
    let tradera = marketsync_tradera::decode::orders_page(&read("tradera_orders", "orders_two"))
        .expect("a page");
    assert_eq!(tradera.orders.len(), 2);
}
