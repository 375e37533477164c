//! The schema migrations, embedded in the binary and run by [`SqliteStore::open`](crate::SqliteStore::open).
//!
//! The SQL lives in `migrations/NNNN_description.sql` and is compiled in with `include_str!`, so
//! opening a database needs no files at run time and building needs no database. (`sqlx::migrate!`
//! would do the same but needs sqlx's `macros` feature and its proc-macro build; this list is the
//! whole cost of doing without, and a test checks it names every file in the directory.)

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Every migration: version, description, SQL. Append only; never edit a released one (sqlx
/// refuses to open a database whose applied migration's checksum changed).
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "ledger outcome and import log",
        include_str!("../migrations/0002_ledger_outcome_and_import_log.sql"),
    ),
    (
        3,
        "outbox keys per integration",
        include_str!("../migrations/0003_outbox_keys_per_integration.sql"),
    ),
    (
        4,
        "mappings version",
        include_str!("../migrations/0004_mappings_version.sql"),
    ),
    (
        5,
        "work and leases",
        include_str!("../migrations/0005_work_and_leases.sql"),
    ),
    (
        6,
        "notifications",
        include_str!("../migrations/0006_notifications.sql"),
    ),
    (
        7,
        "stock journal",
        include_str!("../migrations/0007_stock_journal.sql"),
    ),
];

/// The schema version this build writes (the highest migration).
pub const SCHEMA_VERSION: i64 = 7;

/// A migrator with the migrations up to and including `up_to`.
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
    Migrator::with_migrations(migrations)
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
