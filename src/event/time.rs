//! Timestamps: RFC 3339 with an explicit offset on input; UTC truncated to whole microseconds
//! in memory; `2026-11-25T09:14:03.221000Z` (always six fraction digits, `Z`) on output.
//!
//! Invariant: every `DateTime<Utc>` this module hands out has a whole number of microseconds,
//! so the canonical JSON written by [`serialize`] parses back to an equal value.

use std::fmt;

use chrono::{DateTime, Datelike, SecondsFormat, SubsecRound, Timelike, Utc};
use serde::{Deserializer, Serializer, de};

/// The reason given for a timestamp that is not RFC 3339 with an offset.
const EXPECTED: &str = "expected an RFC 3339 timestamp with a UTC offset, e.g. \"2026-11-25T09:14:03.221Z\"";

/// Truncates to whole microseconds.
#[must_use]
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The current time, truncated to whole microseconds.
#[must_use]
pub fn now_micros() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

/// Parses RFC 3339 text that carries an offset (`Z` or `±hh:mm`), converted to UTC and
/// truncated to microseconds.
///
/// # Errors
/// A reason (for [`InvalidEvent`](super::InvalidEvent)) when `text` is not RFC 3339 with an offset.
pub fn parse_rfc3339(text: &str) -> Result<DateTime<Utc>, String> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Ok(truncate_micros(t.with_timezone(&Utc))),
        Err(e) => Err(format!("{EXPECTED} ({e})")),
    }
}

/// Formats as canonical JSON text: UTC, six fraction digits, `Z`.
#[must_use]
pub fn format_rfc3339(t: &DateTime<Utc>) -> String {
    with_rfc3339(t, str::to_owned)
}

/// Calls `f` with the canonical text of `t` (as [`format_rfc3339`] gives it), written on the
/// stack: every event is serialized with at least one timestamp, and chrono's general
/// formatter is most of what writing an envelope costs outside the strings.
pub fn with_rfc3339<R>(t: &DateTime<Utc>, f: impl FnOnce(&str) -> R) -> R {
    match fixed_width(t) {
        Some(buf) => match std::str::from_utf8(&buf) {
            Ok(text) => f(text),
            Err(_) => f(&t.to_rfc3339_opts(SecondsFormat::Micros, true)),
        },
        // Years outside 0..=9999 and leap seconds: chrono's own spelling.
        None => f(&t.to_rfc3339_opts(SecondsFormat::Micros, true)),
    }
}

/// `YYYY-MM-DDThh:mm:ss.ffffffZ`, or `None` when `t` needs another width (a year outside
/// 0..=9999) or a leap second (chrono's `:60`).
fn fixed_width(t: &DateTime<Utc>) -> Option<[u8; 27]> {
    // The naive value once: each field read from a `DateTime` adds the (zero) offset again.
    let t = t.naive_utc();
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut buf = *b"0000-00-00T00:00:00.000000Z";
    digits(&mut buf[0..4], year);
    digits(&mut buf[5..7], t.month());
    digits(&mut buf[8..10], t.day());
    digits(&mut buf[11..13], t.hour());
    digits(&mut buf[14..16], t.minute());
    digits(&mut buf[17..19], t.second());
    digits(&mut buf[20..26], nanos / 1_000);
    Some(buf)
}

/// Writes the low `out.len()` decimal digits of `n` into `out`, zero-padded.
fn digits(out: &mut [u8], mut n: u32) {
    for d in out.iter_mut().rev() {
        // `n % 10` is below 10, so the cast keeps it whole.
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// True when the canonical text of `t` is RFC 3339 (a four-digit year), so it parses back.
#[must_use]
pub fn is_representable(t: &DateTime<Utc>) -> bool {
    (0..=9999).contains(&t.year())
}

/// serde `with` functions for a required timestamp field.
///
/// # Errors
/// Those of the serializer.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    with_rfc3339(t, |text| s.serialize_str(text))
}

/// See [`serialize`].
///
/// # Errors
/// When the value is not an RFC 3339 string with an offset.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(TimestampVisitor)
}

/// serde `with` functions for an optional timestamp field (use with `default` and
/// `skip_serializing_if = "Option::is_none"`).
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `Some` as the canonical text, `None` as null (normally skipped).
    ///
    /// # Errors
    /// Those of the serializer.
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    /// Accepts null or a timestamp string.
    ///
    /// # Errors
    /// When the value is neither null nor an RFC 3339 string with an offset.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<super::Timestamp>::deserialize(d)?.map(|w| w.0))
    }
}

/// A timestamp read as [`deserialize`] reads it, as a type of its own: for an `Option` of one
/// and for hand-written visitors, which need a `Deserialize` type rather than a function.
pub(crate) struct Timestamp(pub DateTime<Utc>);

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize(d).map(Timestamp)
    }
}

struct TimestampVisitor;

impl de::Visitor<'_> for TimestampVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_rfc3339(v).map_err(E::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{NaiveDate, SecondsFormat, TimeZone, Utc};
    use proptest::prelude::*;

    use super::{format_rfc3339, parse_rfc3339};

    fn chrono_text(t: &chrono::DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    proptest! {
        #[test]
        fn the_stack_formatter_writes_what_chrono_writes(secs in -62_200_000_000_i64..260_000_000_000, nanos in 0_u32..1_000_000_000) {
            let t = Utc.timestamp_opt(secs, nanos).single().unwrap();
            prop_assert_eq!(format_rfc3339(&t), chrono_text(&t));
        }
    }

    #[test]
    fn the_edges_are_written_as_chrono_writes_them() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_hms_micro_opt(23, 59, 59, 1_500_000).unwrap();
        let cases = [
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap() + chrono::Duration::microseconds(999_999),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 15, 12, 0, 0).unwrap(),
            Utc.from_utc_datetime(&leap),
            Utc.timestamp_opt(1_764_500_000, 999).single().unwrap(),
        ];
        for t in cases {
            assert_eq!(format_rfc3339(&t), chrono_text(&t), "{t:?}");
        }
        let t = parse_rfc3339("2026-11-25T09:14:03.221Z").unwrap();
        assert_eq!(format_rfc3339(&t), "2026-11-25T09:14:03.221000Z");
    }
}
