//! Mapping sqlx failures to [`StoreError`]s.
//!
//! Messages name the operation that failed, never a bound parameter's value: SQLite's own
//! message (kept as the source) names tables and columns, not values.

use marketsync_core::store::StoreError;

/// SQLite's primary result codes that mean "another connection holds the lock": temporary.
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;

/// The primary SQLite result code of a database error, if it is one.
fn primary_code(e: &sqlx::Error) -> Option<i64> {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .map(|c| c & 0xff),
        _ => None,
    }
}

/// Whether the failure is SQLite reporting a lock held by someone else (busy or locked).
pub(crate) fn is_busy(e: &sqlx::Error) -> bool {
    matches!(primary_code(e), Some(SQLITE_BUSY | SQLITE_LOCKED))
}

/// Whether the failure is a foreign-key violation (the integration does not exist).
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

/// Whether the failure is a unique or primary-key violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// A backend failure of `operation`, with the sqlx error as its source.
pub(crate) fn backend(operation: &str, e: sqlx::Error) -> StoreError {
    let message = if is_busy(&e) {
        format!(
            "SQLite {operation}: the database is busy (locked by another connection or process); temporary, retry later"
        )
    } else if matches!(e, sqlx::Error::PoolTimedOut) {
        format!("SQLite {operation}: no connection became free in time; temporary, retry later")
    } else {
        format!("SQLite {operation} failed")
    };
    StoreError::Backend {
        message,
        source: Some(Box::new(e)),
    }
}

/// A failure of `operation` where a foreign-key violation means the integration is missing.
pub(crate) fn write_failed(operation: &str, integration: &str, e: sqlx::Error) -> StoreError {
    if is_foreign_key_violation(&e) {
        StoreError::NotFound(format!("integration {integration}"))
    } else {
        backend(operation, e)
    }
}

/// A stored record that does not decode. serde's message may quote the stored text (order
/// records hold buyers' names and addresses), so only its category and position are kept.
pub(crate) fn corrupt(what: &str, e: &serde_json::Error) -> StoreError {
    StoreError::undecodable(what, e)
}

/// A stored value outside its range.
pub(crate) fn out_of_range(what: &str) -> StoreError {
    StoreError::out_of_range(what)
}

/// A record that cannot be encoded (should not happen for the library's own types).
pub(crate) fn encode_failed(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::unencodable(what, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_database_errors_are_backend_without_values() {
        let e = backend("claim_outbox", sqlx::Error::PoolTimedOut);
        let StoreError::Backend { message, source } = e else {
            panic!("expected Backend")
        };
        assert!(message.contains("claim_outbox") && message.contains("temporary"));
        assert!(source.is_some());
    }
}
