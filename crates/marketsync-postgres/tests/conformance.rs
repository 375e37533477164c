//! The public `Store` conformance suite (`marketsync_testkit::store`) against a `PostgresStore`,
//! each test on a fresh schema of the database `MARKETSYNC_TEST_POSTGRES_URL` names.
//!
//! Without that variable every test returns at once and the binary says so plainly; start a
//! throwaway server and run them with `eval "$(.ci/postgres.sh)" && cargo test -p marketsync-postgres`.

mod common;

use common::TestSchema;
use marketsync_postgres::PostgresStore;

/// A store on a fresh schema and the schema's guard, or `None` without a test database.
async fn open() -> Option<(PostgresStore, TestSchema)> {
    let schema = TestSchema::create().await?;
    let store = schema.open().await;
    Some((store, schema))
}

marketsync_testkit::store_tests!(match open().await {
    Some(opened) => opened,
    None => return,
});
