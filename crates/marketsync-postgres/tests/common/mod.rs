//! The test database: each test gets a fresh schema in the database `MARKETSYNC_TEST_POSTGRES_URL`
//! names (so tests run in parallel), dropped when the test ends. Without the variable, every
//! test returns at once after saying plainly that the PostgreSQL suite was not run.

#![allow(dead_code)]

use std::io::Write;
use std::str::FromStr;
use std::sync::Once;

use marketsync_postgres::{PgConnectOptions, PostgresStore};
use sqlx::{Connection, Executor, PgConnection};

/// The variable naming the test database.
pub const URL_VAR: &str = "MARKETSYNC_TEST_POSTGRES_URL";

/// The database URL, or `None` after printing (once per test binary, past the test harness's
/// output capture) that the PostgreSQL tests were not run and how to run them. Under CI (`CI`
/// set) a missing URL fails the test instead: CI always runs the PostgreSQL suite.
pub fn database_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
                panic!(
                    "{URL_VAR} is not set under CI: .ci/run must start PostgreSQL (.ci/postgres.sh)"
                );
            }
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                // Straight to stderr: the harness captures `eprintln!` of passing tests.
                let _ = writeln!(
                    std::io::stderr(),
                    "\nNOTE: {URL_VAR} is not set: the PostgreSQL store tests were NOT run (each returned at once).\n\
                     Run them against a throwaway server with:\n    \
                     eval \"$(.ci/postgres.sh)\" && cargo test -p marketsync-postgres\n"
                );
            });
            None
        }
    }
}

/// A fresh schema `test_<random>` in the test database, dropped (with everything in it) when
/// this value is dropped.
#[derive(Debug)]
pub struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    /// Creates a fresh schema; `None` when no test database is configured.
    pub async fn create() -> Option<TestSchema> {
        let url = database_url()?;
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect to {URL_VAR}: {e}"));
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .await
            .expect("create the test schema");
        conn.close().await.expect("close");
        Some(TestSchema { url, name })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection options for the schema (its name is the `search_path`, and the
    /// connections' application name, so the guard can end them).
    pub fn options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&self.url)
            .expect("a valid test database URL")
            .application_name(&self.name)
            .options([("search_path", self.name.as_str())])
    }

    /// A store (a pool of `pool_size`) on the schema, migrated.
    pub async fn open_with(&self, pool_size: u32) -> PostgresStore {
        PostgresStore::connect_with(self.options(), pool_size)
            .await
            .expect("open a PostgresStore on the test schema")
    }

    /// A store with a pool of 4 on the schema, migrated.
    pub async fn open(&self) -> PostgresStore {
        self.open_with(4).await
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop runs outside any async context we could borrow: a short-lived thread with its
        // own runtime ends the test's connections (the test's runtime is blocked here, so a
        // connection it was about to roll back could hold locks) and drops the schema.
        let url = self.url.clone();
        let name = self.name.clone();
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let mut conn = PgConnection::connect(&url).await?;
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&name)
                .execute(&mut conn)
                .await?;
                conn.execute(sqlx::AssertSqlSafe(sql)).await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("could not drop the test schema {}", self.name);
        }
    }
}
