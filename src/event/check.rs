//! Small helpers shared by the payload types: validation rules and string visitors.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{InvalidEvent, time};

/// The callback type of `for_each_string_mut`.
pub(crate) type StrVisitor<'a> = dyn FnMut(&mut String) + 'a;

/// Rejects an empty required string.
pub(crate) fn non_empty(field: &str, value: &str) -> Result<(), InvalidEvent> {
    if value.is_empty() {
        return Err(InvalidEvent::new(field, "must not be empty"));
    }
    Ok(())
}

/// Rejects a timestamp whose canonical text would not parse back (year outside 0000..=9999).
pub(crate) fn representable(field: &str, t: &DateTime<Utc>) -> Result<(), InvalidEvent> {
    if !time::is_representable(t) {
        return Err(InvalidEvent::new(field, "year must be between 0000 and 9999"));
    }
    Ok(())
}

/// Visits an optional string.
pub(crate) fn visit_opt(s: &mut Option<String>, f: &mut StrVisitor<'_>) {
    if let Some(s) = s {
        f(s);
    }
}

/// Visits every item of an optional list of strings.
pub(crate) fn visit_list(list: &mut Option<Vec<String>>, f: &mut StrVisitor<'_>) {
    for s in list.iter_mut().flatten() {
        f(s);
    }
}

/// A half-open or closed span of positions, `{"start": n, "end": n}` with `end >= start`.
///
/// FR-EVT.md leaves the shape of `range` open; flightrec uses two non-negative integers whose
/// unit is the producer's (character offsets for editor ops; lines or offsets for diagnostics).
/// An empty range (`start == end`) is allowed: it is a pure insertion point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// First position.
    pub start: u64,
    /// Last (or one past the last) position; never less than `start`.
    pub end: u64,
}

impl Range {
    /// `end >= start`; `field` is the range's own path.
    pub(crate) fn validate(&self, field: &str) -> Result<(), InvalidEvent> {
        if self.end < self.start {
            return Err(InvalidEvent::new(
                format!("{field}.end"),
                format!("must not be less than start ({} < {})", self.end, self.start),
            ));
        }
        Ok(())
    }
}
