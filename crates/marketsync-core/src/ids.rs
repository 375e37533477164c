//! Identifiers and small value types of the vocabulary: integrations, channels, SKUs, labels.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The identity of one integration (one connection to one marketplace account).
///
/// A fresh id is made for every integration: deleting an integration and connecting the same
/// account again gives a *new* id, and the orders of the two are never linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntegrationId(Uuid);

impl IntegrationId {
    /// A new, random id (UUID v4). Two calls never return the same id.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for IntegrationId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for IntegrationId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl fmt::Display for IntegrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for IntegrationId {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| ValueError::new("integration id", s, "expected a UUID"))
    }
}

/// One kind of marketplace. An adapter crate implements [`Channel`](crate::Channel) for one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChannelKind {
    /// ChannelAdvisor (Rithum), OData v4 REST API.
    ChannelAdvisor,
    /// OfferUp, reached only through ChannelAdvisor (its site and label).
    OfferUp,
    /// Reverb, HAL+JSON API.
    Reverb,
    /// Allegro REST API.
    Allegro,
    /// Tradera REST API v4.
    Tradera,
}

impl ChannelKind {
    /// Every kind, in a stable order.
    pub const ALL: [ChannelKind; 5] = [
        ChannelKind::ChannelAdvisor,
        ChannelKind::OfferUp,
        ChannelKind::Reverb,
        ChannelKind::Allegro,
        ChannelKind::Tradera,
    ];

    /// The stable machine name (`channeladvisor`, `offerup`, …), as used in serde and config.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelKind::ChannelAdvisor => "channel_advisor",
            ChannelKind::OfferUp => "offer_up",
            ChannelKind::Reverb => "reverb",
            ChannelKind::Allegro => "allegro",
            ChannelKind::Tradera => "tradera",
        }
    }

    /// The marketplace's name as a seller knows it.
    pub fn display_name(&self) -> &'static str {
        match self {
            ChannelKind::ChannelAdvisor => "ChannelAdvisor",
            ChannelKind::OfferUp => "OfferUp",
            ChannelKind::Reverb => "Reverb",
            ChannelKind::Allegro => "Allegro",
            ChannelKind::Tradera => "Tradera",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

impl FromStr for ChannelKind {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChannelKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                ValueError::new(
                    "channel kind",
                    s,
                    "expected one of channel_advisor, offer_up, reverb, allegro, tradera",
                )
            })
    }
}

/// A value that failed validation: which kind of value, what was given, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {expected}")]
pub struct ValueError {
    /// The kind of value ("SKU", "currency", …).
    pub what: &'static str,
    /// The rejected input, as given.
    pub value: String,
    /// What a valid value looks like.
    pub expected: &'static str,
}

impl ValueError {
    pub(crate) fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        Self {
            what,
            value: value.to_owned(),
            expected,
        }
    }
}

/// Checks the rule shared by SKUs, labels and mapping texts: not empty, no control characters.
fn check_text(what: &'static str, s: &str, max: usize) -> Result<(), ValueError> {
    if s.is_empty() {
        return Err(ValueError::new(what, s, "must not be empty"));
    }
    if s.chars().any(char::is_control) {
        return Err(ValueError::new(
            what,
            s,
            "must not contain control characters",
        ));
    }
    if s.chars().count() > max {
        return Err(ValueError::new(what, s, "is too long"));
    }
    Ok(())
}

macro_rules! text_newtype {
    ($(#[$meta:meta])* $name:ident, $what:literal, $max:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps the text. It is kept exactly as given: no trimming, no case
            /// folding, because matching is exact and case-sensitive.
            pub fn new(value: impl Into<String>) -> Result<Self, ValueError> {
                let value = value.into();
                check_text($what, &value, $max)?;
                Ok(Self(value))
            }

            /// The text, exactly as given.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ValueError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValueError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValueError;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_newtype!(
    /// A stock-keeping unit: the seller's key for a product, matched exactly and case-sensitively.
    Sku,
    "SKU",
    255
);

text_newtype!(
    /// A label on inventory items. An integration has one label; only items carrying exactly that
    /// label are in its listing feed.
    Label,
    "label",
    255
);

text_newtype!(
    /// The id a channel gives one of its listings (ChannelAdvisor product id, Reverb listing id,
    /// Allegro offer id, Tradera item id), kept as text whatever the channel's type.
    ChannelListingId,
    "channel listing id",
    255
);

text_newtype!(
    /// The id a channel gives one order (ChannelAdvisor order id, Reverb order number, Allegro
    /// checkout-form id, Tradera order id), kept as text whatever the channel's type.
    ChannelOrderId,
    "channel order id",
    255
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_ids_are_fresh() {
        let a = IntegrationId::new();
        let b = IntegrationId::new();
        assert_ne!(a, b);
        assert_eq!(a.to_string().parse::<IntegrationId>().unwrap(), a);
    }

    #[test]
    fn sku_is_exact_and_validated() {
        let sku = Sku::new(" Ab-1 ").unwrap();
        assert_eq!(sku.as_str(), " Ab-1 ");
        assert_ne!(Sku::new("ab-1").unwrap(), Sku::new("AB-1").unwrap());
        let err = Sku::new("").unwrap_err();
        assert_eq!(err.what, "SKU");
        assert!(err.to_string().contains("must not be empty"));
        assert!(Sku::new("a\nb").is_err());
        let json = serde_json::to_string(&sku).unwrap();
        assert_eq!(json, "\" Ab-1 \"");
        assert_eq!(serde_json::from_str::<Sku>(&json).unwrap(), sku);
        assert!(serde_json::from_str::<Sku>("\"\"").is_err());
    }

    #[test]
    fn channel_kind_round_trips() {
        for kind in ChannelKind::ALL {
            assert_eq!(kind.as_str().parse::<ChannelKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert!("ebay".parse::<ChannelKind>().is_err());
    }
}
