//! Timestamps: RFC 3339 with an explicit offset on input; UTC truncated to whole microseconds
//! in memory; `2026-11-25T09:14:03.221000Z` (always six fraction digits, `Z`) on output.
//!
//! Invariant: every `DateTime<Utc>` this module hands out has a whole number of microseconds,
//! so the canonical JSON written by [`serialize`] parses back to an equal value.

use std::fmt;

use chrono::{DateTime, Datelike, SecondsFormat, SubsecRound, Utc};
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
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
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
    s.serialize_str(&format_rfc3339(t))
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
        Ok(Option::<Wrapped>::deserialize(d)?.map(|w| w.0))
    }

    struct Wrapped(DateTime<Utc>);

    impl<'de> Deserialize<'de> for Wrapped {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            super::deserialize(d).map(Wrapped)
        }
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
