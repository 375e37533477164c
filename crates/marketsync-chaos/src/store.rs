//! Where a chaos run keeps its data: a SQLite file (one machine, the default) or a PostgreSQL
//! database (many workers). The parent and every worker open the same [`StoreLocation`]; the
//! engine sees an `Arc<dyn Store>` either way, and the final check reads the import log of
//! whichever store it is.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use marketsync_core::{ChannelOrderId, IntegrationId, SecretString, Store, StoreError};
use marketsync_postgres::PostgresStore;
use marketsync_sqlite::SqliteStore;
use sqlx::Connection as _;

/// A store of a chaos run, as given on the command line and written to the plan.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by `postgres://` URL. In a plan, the URL names the run's own
    /// schema (see [`RunStore::create`]).
    Postgres(String),
}

impl StoreLocation {
    /// A `postgres://` or `postgresql://` URL is a PostgreSQL database; anything else is the
    /// path of a SQLite file.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            StoreLocation::Postgres(text.to_owned())
        } else {
            StoreLocation::Sqlite(PathBuf::from(text))
        }
    }

    /// The password in a PostgreSQL URL, if it has one (for the run's secret scan).
    pub fn password(&self) -> Option<String> {
        let StoreLocation::Postgres(url) = self else {
            return None;
        };
        let rest = url.split_once("://")?.1;
        let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        let userinfo = authority.rsplit_once('@')?.0;
        userinfo
            .split_once(':')
            .map(|(_, p)| p.to_owned())
            .filter(|p| !p.is_empty())
    }

    /// The location as [`parse`](Self::parse) reads it back (the full URL, password included:
    /// for the plan file only, never for output).
    pub fn to_plan_text(&self) -> String {
        match self {
            StoreLocation::Sqlite(path) => path.display().to_string(),
            StoreLocation::Postgres(url) => url.clone(),
        }
    }
}

/// A URL with its password, if any, replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

impl fmt::Display for StoreLocation {
    /// The location with any password hidden.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "SQLite {}", path.display()),
            StoreLocation::Postgres(url) => write!(f, "PostgreSQL {}", redact_url(url)),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            StoreLocation::Postgres(url) => {
                f.debug_tuple("Postgres").field(&redact_url(url)).finish()
            }
        }
    }
}

/// Creates the schema `schema` (a plain identifier) in the database at `url` and returns the URL
/// of a connection to it (`options=-c search_path=<schema>` added). Errors never quote the URL.
async fn create_schema(
    url: &str,
    schema: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let failed = |what: &str, e: sqlx::Error| format!("PostgreSQL: {what} failed: {e}");
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| failed("connecting", e))?;
    // The name is the caller's (digits and underscores), never input from outside.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .map_err(|e| failed(&format!("creating the schema {schema}"), e))?;
    conn.close().await.map_err(|e| failed("closing", e))?;
    Ok(with_search_path(url, schema))
}

/// `url` with `options=-c search_path=<schema>` added to its parameters (percent-encoded).
fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// An open store of a chaos run.
#[derive(Clone, Debug)]
pub enum RunStore {
    /// SQLite.
    Sqlite(Arc<SqliteStore>),
    /// PostgreSQL.
    Postgres(Arc<PostgresStore>),
}

impl RunStore {
    /// Opens the store of a plan (a worker; the schema exists already).
    pub async fn open(location: &StoreLocation) -> Result<Self, StoreError> {
        Ok(match location {
            StoreLocation::Sqlite(path) => {
                RunStore::Sqlite(Arc::new(SqliteStore::open(path).await?))
            }
            StoreLocation::Postgres(url) => RunStore::Postgres(Arc::new(
                PostgresStore::connect(&SecretString::from(url.clone())).await?,
            )),
        })
    }

    /// Creates an empty store for a new run (the parent) and opens it: a SQLite file is
    /// deleted first (with its WAL files); on PostgreSQL a new schema `chaos_<seed>_<pid>` is
    /// created, so a run never sees an earlier run's data. Returns the store and the location
    /// the workers open (for PostgreSQL, the URL of the new schema).
    pub async fn create(
        location: &StoreLocation,
        seed: u64,
    ) -> Result<(Self, StoreLocation), Box<dyn std::error::Error + Send + Sync>> {
        match location {
            StoreLocation::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut name = path.clone().into_os_string();
                    name.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(name));
                }
                Ok((RunStore::open(location).await?, location.clone()))
            }
            StoreLocation::Postgres(url) => {
                let schema = format!("chaos_{seed}_{}", std::process::id());
                let run = StoreLocation::Postgres(create_schema(url, &schema).await?);
                Ok((RunStore::open(&run).await?, run))
            }
        }
    }

    /// The store as the engine takes it.
    pub fn dyn_store(&self) -> Arc<dyn Store> {
        match self {
            RunStore::Sqlite(s) => s.clone(),
            RunStore::Postgres(s) => s.clone(),
        }
    }

    /// How often each order of an integration was imported (the store's import log: one row
    /// per import, so a count above 1 is an order imported twice).
    pub async fn import_counts(
        &self,
        id: IntegrationId,
    ) -> Result<BTreeMap<ChannelOrderId, usize>, StoreError> {
        let orders: Vec<ChannelOrderId> = match self {
            RunStore::Sqlite(s) => s
                .import_log(id)
                .await?
                .into_iter()
                .map(|e| e.channel_order_id)
                .collect(),
            RunStore::Postgres(s) => s
                .import_log(id)
                .await?
                .into_iter()
                .map(|e| e.channel_order_id)
                .collect(),
        };
        let mut counts = BTreeMap::new();
        for order in orders {
            *counts.entry(order).or_default() += 1;
        }
        Ok(counts)
    }

    /// Closes the store's connections.
    pub async fn close(&self) {
        match self {
            RunStore::Sqlite(s) => s.close().await,
            RunStore::Postgres(s) => s.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_hide_passwords() {
        assert_eq!(
            StoreLocation::parse("run/chaos.db"),
            StoreLocation::Sqlite(PathBuf::from("run/chaos.db"))
        );
        let url = "postgres://chaos:s3cret-pw@127.0.0.1:5432/db?options=-c%20search_path%3Dx";
        let pg = StoreLocation::parse(url);
        assert_eq!(pg, StoreLocation::Postgres(url.to_owned()));
        assert_eq!(pg.to_plan_text(), url);
        assert_eq!(pg.password().as_deref(), Some("s3cret-pw"));
        for shown in [format!("{pg}"), format!("{pg:?}")] {
            assert!(!shown.contains("s3cret-pw"), "{shown}");
            assert!(shown.contains("chaos:***@127.0.0.1:5432/db"), "{shown}");
        }
        assert_eq!(
            with_search_path("postgres://u@h/db", "chaos_1_2"),
            "postgres://u@h/db?options=-c%20search_path%3Dchaos_1_2"
        );
        assert_eq!(
            with_search_path("postgres://u@h/db?sslmode=disable", "s"),
            "postgres://u@h/db?sslmode=disable&options=-c%20search_path%3Ds"
        );
        let no_password = StoreLocation::parse("postgresql://postgres@localhost/db");
        assert_eq!(no_password.password(), None);
        assert_eq!(
            no_password.to_string(),
            "PostgreSQL postgresql://postgres@localhost/db"
        );
    }
}
