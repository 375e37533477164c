//! Mapping sqlx failures to [`StoreError`]s.
//!
//! Messages name the operation that failed, never a bound parameter's value nor the connection
//! URL: PostgreSQL's own message (kept as the source) names tables, columns and constraints.

use marketsync_core::store::StoreError;

/// SQLSTATE codes this store reacts to.
pub(crate) mod code {
    /// `unique_violation`.
    pub(crate) const UNIQUE_VIOLATION: &str = "23505";
    /// `foreign_key_violation`.
    pub(crate) const FOREIGN_KEY_VIOLATION: &str = "23503";
    /// `serialization_failure`.
    pub(crate) const SERIALIZATION_FAILURE: &str = "40001";
    /// `deadlock_detected`.
    pub(crate) const DEADLOCK_DETECTED: &str = "40P01";
}

/// The SQLSTATE of a database error, if it is one.
fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Whether the failure is a unique or primary-key violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    sqlstate(e).as_deref() == Some(code::UNIQUE_VIOLATION)
}

/// Whether the failure is a foreign-key violation (the integration does not exist).
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    sqlstate(e).as_deref() == Some(code::FOREIGN_KEY_VIOLATION)
}

/// Whether the transaction failed only because of concurrent transactions (a serialization
/// failure or a deadlock PostgreSQL broke): running it again is safe and may succeed.
pub(crate) fn is_retryable(e: &sqlx::Error) -> bool {
    matches!(
        sqlstate(e).as_deref(),
        Some(code::SERIALIZATION_FAILURE | code::DEADLOCK_DETECTED)
    )
}

/// Whether a [`StoreError`] came from a failure [`is_retryable`] says can be retried.
pub(crate) fn store_error_is_retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Backend {
            source: Some(source),
            ..
        } => source
            .downcast_ref::<sqlx::Error>()
            .is_some_and(is_retryable),
        _ => false,
    }
}

/// A backend failure of `operation`, with the sqlx error as its source.
pub(crate) fn backend(operation: &str, e: sqlx::Error) -> StoreError {
    let message = if is_retryable(&e) {
        format!(
            "PostgreSQL {operation}: concurrent transactions conflicted; temporary, retry later"
        )
    } else if matches!(e, sqlx::Error::PoolTimedOut) {
        format!("PostgreSQL {operation}: no connection became free in time; temporary, retry later")
    } else if matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed
    ) {
        format!(
            "PostgreSQL {operation}: the connection to the server failed; temporary, retry later"
        )
    } else {
        format!("PostgreSQL {operation} failed")
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

/// A value that cannot be stored (a version or duration beyond PostgreSQL's `bigint`).
pub(crate) fn too_large(what: &str) -> StoreError {
    StoreError::backend(format!("{what} is too large to store"))
}

/// A record that cannot be encoded (should not happen for the library's own types).
pub(crate) fn encode_failed(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::unencodable(what, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_database_errors_are_backend_and_say_temporary() {
        let e = backend("claim_outbox", sqlx::Error::PoolTimedOut);
        let StoreError::Backend { message, source } = e else {
            panic!("expected Backend")
        };
        assert!(message.contains("claim_outbox") && message.contains("temporary"));
        assert!(source.is_some());
        assert!(!store_error_is_retryable(&StoreError::backend("x")));
    }
}
