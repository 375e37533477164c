//! Enabled by the `testkit` feature. A backend proves it keeps the library's guarantees by
//! running the suite against itself, for example for a [`Store`](crate::Store):
//!
//! ```
//! use std::sync::Arc;
//! use marketsync_core::{MemoryStore, Store};
//!
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() {
//! // In a backend's tests, with the backend's own fresh store instead of MemoryStore.
//! marketsync_core::testkit::store::run_all(|| async {
//!     Arc::new(MemoryStore::new()) as Arc<dyn Store>
//! })
//! .await;
//! # }
//! ```
//!
//! Each check panics with a message naming the guarantee it found broken.
//!
//! [`openapi`](crate::testkit::openapi) checks the request bodies an adapter sends against its
//! marketplace's official OpenAPI document, for the adapter's wiremock tests.

pub mod channel;
pub mod openapi;
pub mod store;
