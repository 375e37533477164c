//! The order cursor of a channel read by change time ("updated since"): how far it may move
//! when some orders of the download could not be read.
//!
//! A cursor never moves past an order that was not recorded: an unreadable order must be
//! downloaded again by the next run (from the cursor, less the adapter's overlap) until it
//! reads. [`CursorHold`] collects, over a download's pages, how far that allows the cursor to go.

use chrono::{DateTime, SecondsFormat, Utc};

/// How far an order download's cursor may go, given the orders it could not read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CursorHold {
    /// Every order so far was read: the cursor may go to the newest change seen.
    #[default]
    None,
    /// The oldest change time of an unreadable order: the cursor stops there.
    At(DateTime<Utc>),
    /// An unreadable order has no readable change time: the cursor stays where it was.
    Previous,
}

impl CursorHold {
    /// The hold after one more unreadable order, changed at `changed` (`None` when its change
    /// time could not be read either).
    pub fn reject(self, changed: Option<DateTime<Utc>>) -> Self {
        self.and(match changed {
            Some(at) => CursorHold::At(at),
            None => CursorHold::Previous,
        })
    }

    /// The hold of a download so far and of one more page.
    pub fn and(self, other: CursorHold) -> Self {
        match (self, other) {
            (CursorHold::Previous, _) | (_, CursorHold::Previous) => CursorHold::Previous,
            (CursorHold::At(a), CursorHold::At(b)) => CursorHold::At(a.min(b)),
            (CursorHold::At(a), CursorHold::None) | (CursorHold::None, CursorHold::At(a)) => {
                CursorHold::At(a)
            }
            (CursorHold::None, CursorHold::None) => CursorHold::None,
        }
    }

    /// The cursor of a download whose newest change time is `mark` and which started from
    /// `previous`: never past the hold, never lower than `previous`.
    pub fn cursor(
        self,
        mark: Option<DateTime<Utc>>,
        previous: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        match self {
            CursorHold::None => mark.max(previous),
            CursorHold::At(at) => Some(mark.map_or(at, |m| m.min(at))).max(previous),
            CursorHold::Previous => previous,
        }
    }

    /// The hold as one word, for a page token: `-`, `=` or an RFC 3339 time.
    pub fn to_token(self) -> String {
        match self {
            CursorHold::None => "-".to_owned(),
            CursorHold::At(at) => at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            CursorHold::Previous => "=".to_owned(),
        }
    }

    /// Reads [`to_token`](Self::to_token)'s word back; `None` when it is not one.
    pub fn from_token(text: &str) -> Option<Self> {
        match text {
            "-" => Some(CursorHold::None),
            "=" => Some(CursorHold::Previous),
            t => DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|t| CursorHold::At(t.with_timezone(&Utc))),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
    }

    #[test]
    fn the_oldest_unreadable_order_holds_the_cursor() {
        let hold = CursorHold::None.reject(Some(at(14))).reject(Some(at(12)));
        assert_eq!(hold, CursorHold::At(at(12)));
        // Newest seen 16:00, started from 10:00: stops at 12:00.
        assert_eq!(hold.cursor(Some(at(16)), Some(at(10))), Some(at(12)));
        // Never lower than where it started.
        assert_eq!(hold.cursor(Some(at(16)), Some(at(13))), Some(at(13)));
    }

    #[test]
    fn an_undated_unreadable_order_keeps_the_previous_cursor() {
        let hold = CursorHold::None
            .reject(Some(at(12)))
            .and(CursorHold::None.reject(None));
        assert_eq!(hold, CursorHold::Previous);
        assert_eq!(hold.cursor(Some(at(16)), Some(at(10))), Some(at(10)));
        assert_eq!(hold.cursor(Some(at(16)), None), None);
    }

    #[test]
    fn nothing_unreadable_moves_to_the_newest_change() {
        assert_eq!(
            CursorHold::None.cursor(Some(at(16)), Some(at(10))),
            Some(at(16))
        );
        assert_eq!(CursorHold::None.cursor(None, Some(at(10))), Some(at(10)));
    }

    #[test]
    fn the_token_word_round_trips() {
        for hold in [
            CursorHold::None,
            CursorHold::Previous,
            CursorHold::At(at(9)),
        ] {
            assert_eq!(CursorHold::from_token(&hold.to_token()), Some(hold));
        }
        assert_eq!(CursorHold::from_token("yesterday"), None);
    }
}
