//! Enabled by the `testkit` feature. A backend proves it keeps the library's guarantees by
//! running the suite against itself, for example for a [`Store`](crate::Store):
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread")]
//! async fn my_store_conforms() {
//!     marketsync_core::testkit::store::run_all(|| async {
//!         std::sync::Arc::new(MyStore::open_fresh().await) as std::sync::Arc<dyn Store>
//!     })
//!     .await;
//! }
//! ```
//!
//! Each check panics with a message naming the guarantee it found broken.

pub mod store;
