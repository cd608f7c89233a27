//! The one error of this module: `HSK-400-INVALID-EVENT`, naming the bad field by its JSON path.
//!
//! Invariant: `field` is a dot-separated JSON path with `[i]` for array indices
//! (`payload.ops[0].range.end`), and is empty only when the input is not a JSON object at all.
//! `reason` is short, says what was expected, and never exceeds [`MAX_REASON`] bytes, so a huge
//! bad value cannot blow up an error response or a log line.

use std::fmt;

use crate::error::Code;

/// Longest `reason` kept, in bytes; longer ones are cut at a char boundary and end in `…`.
pub const MAX_REASON: usize = 240;

/// An event that does not follow FR-EVT.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEvent {
    /// JSON path of the offending field; `""` when the input is not a JSON object.
    pub field: String,
    /// What is wrong, in words a person can act on.
    pub reason: String,
}

impl InvalidEvent {
    /// An error for `field` (a JSON path) with `reason` (trimmed to [`MAX_REASON`] bytes).
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > MAX_REASON {
            let mut cut = MAX_REASON;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
            reason.push('…');
        }
        InvalidEvent { field: field.into(), reason }
    }

    /// The stable error code, [`Code::InvalidEvent`].
    #[must_use]
    pub fn code(&self) -> Code {
        Code::InvalidEvent
    }
}

/// `HSK-400-INVALID-EVENT: <field>: <reason>`, or `HSK-400-INVALID-EVENT: <reason>` when
/// `field` is empty.
impl fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", Code::InvalidEvent, self.reason)
        } else {
            write!(f, "{}: {}: {}", Code::InvalidEvent, self.field, self.reason)
        }
    }
}

impl std::error::Error for InvalidEvent {}

/// A name that is not one of an enumeration's spellings (from `FromStr` on
/// [`EventType`](super::EventType), [`Actor`](super::Actor) and the payload enums).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`, expected one of: {}", expected.join(", "))]
pub struct UnknownName {
    /// What was being named, e.g. "event type".
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// The accepted spellings.
    pub expected: &'static [&'static str],
}
