//! Money arithmetic and serde are exact for any amount.

use marketsync_core::{Currency, Decimal, Money, MoneyError};
use proptest::prelude::*;

fn amount() -> impl Strategy<Value = Decimal> {
    // Up to 12 integer digits and 6 decimals, either sign.
    (any::<i64>(), 0u32..=6).prop_map(|(n, scale)| Decimal::new(n % 1_000_000_000_000_000, scale))
}

proptest! {
    #[test]
    fn add_then_sub_is_identity(a in amount(), b in amount()) {
        let x = Money::new(a, Currency::PLN);
        let y = Money::new(b, Currency::PLN);
        let z = x.checked_add(&y).unwrap().checked_sub(&y).unwrap();
        prop_assert_eq!(z.amount(), a);
    }

    #[test]
    fn serde_round_trip_keeps_every_digit(a in amount()) {
        let m = Money::new(a, Currency::SEK);
        let json = serde_json::to_string(&m).unwrap();
        let back: Money = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, m);
        prop_assert_eq!(back.amount().to_string(), a.to_string());
    }

    #[test]
    fn minor_units_round_trip(units in -1_000_000_000_000i64..1_000_000_000_000) {
        let m = Money::from_minor_units(units, Currency::USD);
        prop_assert_eq!(m.to_minor_units(), Some(units));
    }

    #[test]
    fn different_currencies_never_combine(a in amount(), b in amount()) {
        let x = Money::new(a, Currency::USD);
        let y = Money::new(b, Currency::EUR);
        let is_mismatch = matches!(x.checked_add(&y), Err(MoneyError::CurrencyMismatch { .. }));
        prop_assert!(is_mismatch);
    }
}
