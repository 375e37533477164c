//! Money: an exact decimal amount in a validated ISO 4217 currency. No floating point anywhere.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::ValueError;

/// Active ISO 4217 currency codes with their number of minor units (decimal places).
///
/// Funds codes, precious metals, testing and "no currency" codes are left out on purpose: no
/// marketplace prices goods in them.
#[rustfmt::skip]
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("AOA", 2), ("ARS", 2), ("AUD", 2),
    ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2), ("BHD", 3),
    ("BIF", 0), ("BMD", 2), ("BND", 2), ("BOB", 2), ("BRL", 2), ("BSD", 2), ("BTN", 2),
    ("BWP", 2), ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2), ("CHF", 2), ("CLP", 0),
    ("CNY", 2), ("COP", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0),
    ("DKK", 2), ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2),
    ("FJD", 2), ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2),
    ("GNF", 0), ("GTQ", 2), ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2),
    ("IDR", 2), ("ILS", 2), ("INR", 2), ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2),
    ("JOD", 3), ("JPY", 0), ("KES", 2), ("KGS", 2), ("KHR", 2), ("KMF", 0), ("KPW", 2),
    ("KRW", 0), ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2), ("LBP", 2), ("LKR", 2),
    ("LRD", 2), ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2), ("MKD", 2),
    ("MMK", 2), ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2),
    ("MXN", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2),
    ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2),
    ("PKR", 2), ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2),
    ("RWF", 0), ("SAR", 2), ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2),
    ("SHP", 2), ("SLE", 2), ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2),
    ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3), ("TOP", 2),
    ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0), ("USD", 2),
    ("UYU", 2), ("UZS", 2), ("VED", 2), ("VES", 2), ("VND", 0), ("VUV", 0), ("WST", 2),
    ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0), ("XPF", 0), ("YER", 2), ("ZAR", 2),
    ("ZMW", 2), ("ZWG", 2),
];

/// An ISO 4217 currency code, validated against the list of active currencies.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    minor_units: u8,
}

impl Currency {
    /// US dollar.
    pub const USD: Currency = Currency::known(*b"USD", 2);
    /// Euro.
    pub const EUR: Currency = Currency::known(*b"EUR", 2);
    /// Pound sterling.
    pub const GBP: Currency = Currency::known(*b"GBP", 2);
    /// Polish złoty (Allegro).
    pub const PLN: Currency = Currency::known(*b"PLN", 2);
    /// Swedish krona (Tradera).
    pub const SEK: Currency = Currency::known(*b"SEK", 2);

    const fn known(code: [u8; 3], minor_units: u8) -> Self {
        Self { code, minor_units }
    }

    /// Parses an upper-case three-letter code (`"USD"`). Lower-case or unknown codes are refused:
    /// a marketplace that sends something else has sent something wrong.
    pub fn new(code: &str) -> Result<Self, ValueError> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(c, minor)| {
                let b = c.as_bytes();
                Self {
                    code: [b[0], b[1], b[2]],
                    minor_units: *minor,
                }
            })
            .ok_or_else(|| {
                ValueError::new(
                    "currency",
                    code,
                    "expected an active ISO 4217 code such as USD, EUR, PLN or SEK",
                )
            })
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // The bytes come from the ASCII table above.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// How many decimal places the currency's minor unit has (2 for USD, 0 for JPY, 3 for KWD).
    pub fn minor_units(&self) -> u32 {
        u32::from(self.minor_units)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Currency::new(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a money operation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The two amounts are in different currencies; nothing converts between them implicitly.
    #[error("currency mismatch: cannot combine {left} with {right}")]
    CurrencyMismatch {
        /// The left operand's currency.
        left: Currency,
        /// The right operand's currency.
        right: Currency,
    },
    /// The result does not fit in a decimal.
    #[error("amount overflow")]
    Overflow,
    /// The amount text is not a decimal number.
    #[error("invalid amount {0:?}: expected a decimal number such as 12.34")]
    InvalidAmount(String),
    /// The currency is not valid.
    #[error(transparent)]
    Currency(#[from] ValueError),
}

/// An exact amount of money in one currency.
///
/// Arithmetic is exact and refuses to mix currencies. Serialised as
/// `{"amount":"12.34","currency":"USD"}` with the amount as a string, so no JSON reader ever
/// passes it through a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    #[serde(with = "rust_decimal::serde::str")]
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// An amount in a currency.
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Zero in a currency.
    pub fn zero(currency: Currency) -> Self {
        Self::new(Decimal::ZERO, currency)
    }

    /// Parses a decimal string (`"12.34"`) and a currency code (`"USD"`).
    pub fn parse(amount: &str, currency: &str) -> Result<Self, MoneyError> {
        let currency = Currency::new(currency)?;
        let amount = Decimal::from_str_exact(amount.trim())
            .map_err(|_| MoneyError::InvalidAmount(amount.to_owned()))?;
        Ok(Self::new(amount, currency))
    }

    /// An amount given in the currency's minor units (cents for USD, whole yen for JPY).
    pub fn from_minor_units(units: i64, currency: Currency) -> Self {
        Self::new(Decimal::new(units, currency.minor_units()), currency)
    }

    /// The amount in the currency's minor units, when it is a whole number of them.
    pub fn to_minor_units(&self) -> Option<i64> {
        let scaled = self
            .amount
            .checked_mul(Decimal::from(10_i64.pow(self.currency.minor_units())))?;
        if scaled.fract().is_zero() {
            i64::try_from(scaled).ok()
        } else {
            None
        }
    }

    /// The decimal amount.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// `self + other`, refused when the currencies differ.
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::new(amount, self.currency))
    }

    /// `self - other`, refused when the currencies differ.
    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::new(amount, self.currency))
    }

    /// The amount times a quantity (a line total).
    pub fn checked_mul_quantity(&self, quantity: u32) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(Decimal::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::new(amount, self.currency))
    }

    /// Rounds to the currency's minor units with banker's rounding (half to even).
    pub fn round_to_minor_units(&self) -> Money {
        Self::new(
            self.amount.round_dp_with_strategy(
                self.currency.minor_units(),
                rust_decimal::RoundingStrategy::MidpointNearestEven,
            ),
            self.currency,
        )
    }

    /// Sums amounts that must all be in `currency`.
    pub fn sum<'a>(
        currency: Currency,
        items: impl IntoIterator<Item = &'a Money>,
    ) -> Result<Money, MoneyError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.checked_add(m))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn currency_validation() {
        assert_eq!(Currency::new("USD").unwrap(), Currency::USD);
        assert_eq!(Currency::new("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::new("KWD").unwrap().minor_units(), 3);
        for bad in ["usd", "US", "USDD", "XXX", "ABC", ""] {
            let err = Currency::new(bad).unwrap_err();
            assert_eq!(err.what, "currency", "{bad}");
        }
        for (code, minor) in CURRENCIES {
            assert_eq!(code.len(), 3);
            assert!(code.bytes().all(|b| b.is_ascii_uppercase()));
            assert_eq!(
                Currency::new(code).unwrap().minor_units(),
                u32::from(*minor)
            );
        }
        assert!(serde_json::from_str::<Currency>("\"eur\"").is_err());
    }

    #[test]
    fn arithmetic_is_exact() {
        let a = Money::parse("0.1", "USD").unwrap();
        let b = Money::parse("0.2", "USD").unwrap();
        assert_eq!(a.checked_add(&b).unwrap().amount(), dec!(0.3));
        assert_eq!(
            Money::parse("19.99", "EUR")
                .unwrap()
                .checked_mul_quantity(3)
                .unwrap(),
            Money::new(dec!(59.97), Currency::EUR)
        );
        assert_eq!(
            Money::parse("2.345", "USD").unwrap().round_to_minor_units(),
            Money::parse("2.34", "USD").unwrap()
        );
        assert!(Money::parse("-1", "USD").unwrap().is_negative());
        assert!(!Money::parse("0", "USD").unwrap().is_negative());
        assert!(matches!(
            Money::parse("1e3", "USD"),
            Err(MoneyError::InvalidAmount(_))
        ));
    }

    #[test]
    fn mismatched_currencies_are_an_error() {
        let usd = Money::parse("1.00", "USD").unwrap();
        let eur = Money::parse("1.00", "EUR").unwrap();
        let err = usd.checked_add(&eur).unwrap_err();
        assert_eq!(
            err,
            MoneyError::CurrencyMismatch {
                left: Currency::USD,
                right: Currency::EUR
            }
        );
        assert!(err.to_string().contains("USD") && err.to_string().contains("EUR"));
        assert!(usd.checked_sub(&eur).is_err());
        assert!(Money::sum(Currency::USD, [&usd, &eur]).is_err());
    }

    #[test]
    fn minor_units_round_trip() {
        let sek = Money::from_minor_units(12_300, Currency::SEK);
        assert_eq!(sek.amount(), dec!(123.00));
        assert_eq!(sek.to_minor_units(), Some(12_300));
        let jpy = Money::from_minor_units(500, Currency::new("JPY").unwrap());
        assert_eq!(jpy.amount(), dec!(500));
        assert_eq!(Money::parse("1.005", "USD").unwrap().to_minor_units(), None);
    }

    #[test]
    fn serde_round_trip_is_exact() {
        let m = Money::parse("1234567890.123456789", "PLN").unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"amount":"1234567890.123456789","currency":"PLN"}"#
        );
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.amount().to_string(), "1234567890.123456789");
        assert!(serde_json::from_str::<Money>(r#"{"amount":"1","currency":"XYZ"}"#).is_err());
    }
}
