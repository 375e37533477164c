//! The schema migrations, embedded in the binary and run by
//! [`PostgresStore::connect`](crate::PostgresStore::connect) under an advisory lock.
//!
//! The SQL lives in `migrations/NNNN_description.sql` and is compiled in with `include_str!`, so
//! opening a database needs no files at run time and building needs no database. A test checks
//! that this list names every file in the directory.
//!
//! Several processes may open the same database at once: each takes the session-level advisory
//! lock [`MIGRATION_LOCK`] (one per schema) before looking at the applied migrations, so one
//! migrates and the others wait, then find the schema up to date.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Connection, PgConnection, SqlSafeStr};

use marketsync_core::store::StoreError;

use crate::error::backend;

/// Every migration: version, description, SQL. Append only; never edit a released one (sqlx
/// refuses to open a database whose applied migration's checksum changed).
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "notifications",
        include_str!("../migrations/0002_notifications.sql"),
    ),
    (
        3,
        "stock journal",
        include_str!("../migrations/0003_stock_journal.sql"),
    ),
];

/// The schema version this build writes (the highest migration).
pub const SCHEMA_VERSION: i64 = 3;

/// The advisory lock's first key (`pg_advisory_lock(int, int)`), "msyn" in ASCII; the second is
/// `hashtext(current_schema())`, so stores in different schemas of one database migrate
/// independently.
pub const MIGRATION_LOCK: i32 = 0x6d73_796e;

/// A migrator with the migrations up to and including `up_to`. Its own locking is off: sqlx's
/// lock is one per database, ours one per schema, taken by [`migrate`].
pub(crate) fn migrator(up_to: i64) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .filter(|(version, _, _)| *version <= up_to)
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.set_locking(false);
    migrator
}

/// Brings the schema of `conn` (its `search_path`'s first schema) up to date, holding the
/// advisory lock while it does, and closes the connection (which releases the lock on every
/// path, an error's included).
pub(crate) async fn migrate(mut conn: PgConnection) -> Result<(), StoreError> {
    // `current_schema()` is NULL when no schema of the search path exists: the lock below would
    // then lock nothing, and the migrations would have nowhere to go.
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| backend("migrate (reading the current schema)", e))?;
    if schema.is_none() {
        return Err(StoreError::backend(
            "no schema of the connection's search_path exists: create the schema first, or connect without a search_path option (the store then uses `public`)",
        ));
    }
    sqlx::query("SELECT pg_advisory_lock($1, hashtext(current_schema()))")
        .bind(MIGRATION_LOCK)
        .execute(&mut conn)
        .await
        .map_err(|e| backend("migrate (taking the migration lock)", e))?;
    let result = migrator(SCHEMA_VERSION)
        .run_direct(None, &mut conn, false)
        .await
        .map_err(migrate_failed);
    if result.is_ok() {
        sqlx::query("SELECT pg_advisory_unlock($1, hashtext(current_schema()))")
            .bind(MIGRATION_LOCK)
            .execute(&mut conn)
            .await
            .map_err(|e| backend("migrate (releasing the migration lock)", e))?;
        conn.close()
            .await
            .map_err(|e| backend("migrate (closing)", e))?;
    }
    // On an error the connection is dropped here: the server ends the session and its lock.
    result
}

fn migrate_failed(e: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError as M;
    let message = match &e {
        M::VersionMissing(v) => format!(
            "the database was migrated by a newer marketsync (schema migration {v} is unknown to this build, which knows up to {SCHEMA_VERSION}): upgrade marketsync"
        ),
        M::VersionMismatch(v) => format!(
            "schema migration {v} applied to this database differs from this build's: the database or the build was modified"
        ),
        M::Dirty(v) => format!(
            "schema migration {v} failed part-way earlier: the database needs manual repair"
        ),
        _ => "migrating the database schema failed".to_owned(),
    };
    StoreError::Backend {
        message,
        source: Some(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        assert_eq!(
            files.len(),
            MIGRATIONS.len(),
            "a migration file is not listed"
        );
        for (file, (version, _, sql)) in files.iter().zip(MIGRATIONS) {
            let number: i64 = file[..4].parse().expect("NNNN_ prefix");
            assert_eq!(number, *version, "{file} is listed out of order");
            let on_disk = std::fs::read_to_string(dir.join(file)).expect("read");
            assert_eq!(&on_disk, sql, "{file} is not the embedded text");
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.0), Some(SCHEMA_VERSION));
    }
}
