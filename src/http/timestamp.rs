//! Timestamps in responses, as RFC 3339 text written straight into a small
//! buffer: `#[serde(serialize_with = "timestamp::serialize")]` on a view's
//! `DateTime<Utc>` or `Option<DateTime<Utc>>` field.
//!
//! The text is exactly chrono's (its serde form: `SecondsFormat::AutoSi`,
//! `Z` for UTC; the tests compare the two). chrono writes it through
//! `core::fmt`, a dozen small writes, each of which serde_json scans for
//! characters to escape: about 2,800 instructions per timestamp, measured
//! with callgrind. A patient carries three to six, so it was about a tenth
//! of a GET's instructions, and more of a list page's. Years outside
//! 0–9999 and leap seconds, which no column holds, go to chrono.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// A field type written by [`serialize`].
pub trait Timestamp {
    /// The instant, if there is one.
    fn instant(&self) -> Option<&DateTime<Utc>>;
}

impl Timestamp for DateTime<Utc> {
    fn instant(&self) -> Option<&DateTime<Utc>> {
        Some(self)
    }
}

impl Timestamp for Option<DateTime<Utc>> {
    fn instant(&self) -> Option<&DateTime<Utc>> {
        self.as_ref()
    }
}

/// Serialises a timestamp (or `null`) as chrono would, faster.
pub fn serialize<T: Timestamp, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    let Some(instant) = value.instant() else {
        return serializer.serialize_none();
    };
    let mut buffer = [0u8; 30];
    match rfc3339(instant, &mut buffer) {
        // Only ASCII digits and separators were written.
        Some(text) => serializer.serialize_str(text),
        None => instant.serialize(serializer),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z` in `buffer`, or `None`
/// for what chrono writes otherwise (a year outside 0–9999, a leap second).
fn rfc3339<'b>(instant: &DateTime<Utc>, buffer: &'b mut [u8; 30]) -> Option<&'b str> {
    let year = instant.year();
    let nanos = instant.nanosecond();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let fields = [
        (year as u32, 4, b'-'),
        (instant.month(), 2, b'-'),
        (instant.day(), 2, b'T'),
        (instant.hour(), 2, b':'),
        (instant.minute(), 2, b':'),
        (instant.second(), 2, b'.'),
    ];
    let mut at = 0;
    for (value, width, separator) in fields {
        at = digits(buffer, at, value, width);
        buffer[at] = separator;
        at += 1;
    }
    // As chrono's `AutoSi`: as few digits of 3, 6 or 9 as show the value.
    at = match nanos {
        0 => at - 1, // no fraction: the '.' is taken back
        n if n % 1_000_000 == 0 => digits(buffer, at, n / 1_000_000, 3),
        n if n % 1_000 == 0 => digits(buffer, at, n / 1_000, 6),
        n => digits(buffer, at, n, 9),
    };
    buffer[at] = b'Z';
    at += 1;
    std::str::from_utf8(&buffer[..at]).ok()
}

/// `value` as `width` decimal digits at `at`; returns where they end.
fn digits(buffer: &mut [u8; 30], at: usize, mut value: u32, width: usize) -> usize {
    for slot in buffer[at..at + width].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    at + width
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    #[derive(Serialize)]
    struct Fast {
        #[serde(serialize_with = "serialize")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "serialize")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chrono {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    fn same_as_chrono(at: DateTime<Utc>) {
        for maybe in [Some(at), None] {
            assert_eq!(
                serde_json::to_string(&Fast { at, maybe }).unwrap(),
                serde_json::to_string(&Chrono { at, maybe }).unwrap(),
                "{at:?}"
            );
        }
    }

    #[test]
    fn timestamps_are_written_exactly_as_chrono_writes_them() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let seconds = (next() % 253_402_300_800) as i64; // 0001..=9999
            let nanos = match next() % 4 {
                0 => 0,
                1 => (next() % 1_000) as u32 * 1_000_000,
                2 => (next() % 1_000_000) as u32 * 1_000,
                _ => (next() % 1_000_000_000) as u32,
            };
            same_as_chrono(Utc.timestamp_opt(seconds - 62_135_596_800, nanos).unwrap());
        }
        for (y, mo, d, h, mi, s, n) in [
            (0, 1, 1, 0, 0, 0, 0),
            (1970, 1, 1, 0, 0, 0, 1),
            (2026, 11, 28, 23, 59, 59, 999_999_999),
            (2024, 2, 29, 12, 0, 0, 100_000_000),
            (9999, 12, 31, 23, 59, 59, 10_000),
        ] {
            let naive = NaiveDate::from_ymd_opt(y, mo, d)
                .unwrap()
                .and_hms_nano_opt(h, mi, s, n)
                .unwrap();
            same_as_chrono(Utc.from_utc_datetime(&naive));
        }
    }

    #[test]
    fn what_it_does_not_write_chrono_still_writes() {
        for naive in [
            NaiveDate::from_ymd_opt(10_000, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0),
            NaiveDate::from_ymd_opt(-1, 6, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0),
            // A leap second.
            NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000),
        ] {
            let at = Utc.from_utc_datetime(&naive.unwrap());
            assert!(rfc3339(&at, &mut [0; 30]).is_none(), "{at:?}");
            same_as_chrono(at);
        }
    }
}
