//! Configuration errors: what a transport refuses at setup, naming the field.

/// A transport's configuration is not usable: returned by [`EmailTransport::new`] and
/// [`WebhookTransport::new`] (at setup, never at send time). It names the field (`"to[1]"`,
/// `"password"`, `"url"`) and never contains a secret.
///
/// [`EmailTransport::new`]: crate::EmailTransport::new
/// [`WebhookTransport::new`]: crate::WebhookTransport::new
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required value was not given.
    #[error("{transport} configuration: `{field}` is required")]
    Missing {
        /// The transport configured (`"email"`, `"webhook"`).
        transport: &'static str,
        /// The field.
        field: String,
    },
    /// A value is not usable.
    #[error("{transport} configuration: `{field}` is not usable: {reason}")]
    Invalid {
        /// The transport configured (`"email"`, `"webhook"`).
        transport: &'static str,
        /// The field (with its index or key where it is one of several: `to[1]`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ConfigError {
    /// `field` of `transport`'s configuration is required.
    pub fn missing(transport: &'static str, field: impl Into<String>) -> Self {
        Self::Missing {
            transport,
            field: field.into(),
        }
    }

    /// `field` of `transport`'s configuration is not usable, and why.
    pub fn invalid(
        transport: &'static str,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            transport,
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The field that is missing or wrong.
    pub fn field(&self) -> &str {
        match self {
            Self::Missing { field, .. } | Self::Invalid { field, .. } => field,
        }
    }

    /// The transport configured (`"email"`, `"webhook"`).
    pub fn transport(&self) -> &'static str {
        match self {
            Self::Missing { transport, .. } | Self::Invalid { transport, .. } => transport,
        }
    }
}
