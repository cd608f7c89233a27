//! Payloads of the OpenTelemetry extensions: `span` (a span that is neither a model call, a
//! tool call nor a capability decision) and `log` (a log record).
//!
//! Invariants checked by `validate`: `name` and `severity` are non-empty; `attributes` holds
//! at most [`MAX_ATTRIBUTES`] entries, each key at most [`MAX_ATTRIBUTE_KEY`] bytes and each
//! value at most [`MAX_ATTRIBUTE_VALUE`] bytes; a log's `body` is at most [`MAX_LOG_BODY`]
//! bytes. Every key and value is free text the redactor runs over.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::InvalidEvent;
use super::check::{StrVisitor, non_empty, visit_opt};
use super::names::string_enum;

/// Most attributes one `span` or `log` carries.
pub const MAX_ATTRIBUTES: usize = 64;
/// Longest attribute key, in bytes.
pub const MAX_ATTRIBUTE_KEY: usize = 256;
/// Longest attribute value, in bytes.
pub const MAX_ATTRIBUTE_VALUE: usize = 2048;
/// Longest log body, in bytes.
pub const MAX_LOG_BODY: usize = 16 * 1024;

/// String attributes, keyed by the OpenTelemetry attribute name.
pub type Attributes = BTreeMap<String, String>;

string_enum! {
    /// OpenTelemetry's span kind.
    pub enum SpanKind("span kind") {
        Internal = "internal",
        Server = "server",
        Client = "client",
        Producer = "producer",
        Consumer = "consumer",
    }
}

string_enum! {
    /// OpenTelemetry's span status code.
    pub enum SpanStatus("span status") {
        Unset = "unset",
        Ok = "ok",
        Error = "error",
    }
}

/// `span` (extension): an OpenTelemetry span recorded as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtelSpan {
    /// The span's name; non-empty.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<SpanKind>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<SpanStatus>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<u64>,
    /// The span this one runs under (16 hex digits in OpenTelemetry).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parent_span_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attributes: Option<Attributes>,
}

/// `log` (extension): an OpenTelemetry log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtelLog {
    /// The severity text (or the name of its severity number); non-empty.
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attributes: Option<Attributes>,
    /// The span the record was written in.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub span_id: Option<String>,
}

impl OtelSpan {
    pub(crate) fn validate(&self) -> Result<(), InvalidEvent> {
        non_empty("payload.name", &self.name)?;
        check_attributes(self.attributes.as_ref())
    }

    pub(crate) fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        f(&mut self.name);
        visit_opt(&mut self.status_message, f);
        visit_opt(&mut self.parent_span_id, f);
        visit_attributes(&mut self.attributes, f);
    }
}

impl OtelLog {
    pub(crate) fn validate(&self) -> Result<(), InvalidEvent> {
        non_empty("payload.severity", &self.severity)?;
        if let Some(body) = &self.body
            && body.len() > MAX_LOG_BODY
        {
            return Err(InvalidEvent::new(
                "payload.body",
                format!("is {} bytes; the limit is {MAX_LOG_BODY}", body.len()),
            ));
        }
        check_attributes(self.attributes.as_ref())
    }

    pub(crate) fn for_each_string_mut(&mut self, f: &mut StrVisitor<'_>) {
        f(&mut self.severity);
        visit_opt(&mut self.body, f);
        visit_attributes(&mut self.attributes, f);
        visit_opt(&mut self.span_id, f);
    }
}

fn check_attributes(attributes: Option<&Attributes>) -> Result<(), InvalidEvent> {
    let Some(attributes) = attributes else { return Ok(()) };
    if attributes.len() > MAX_ATTRIBUTES {
        let reason = format!("has {} entries; the limit is {MAX_ATTRIBUTES}", attributes.len());
        return Err(InvalidEvent::new("payload.attributes", reason));
    }
    for (key, value) in attributes {
        if key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY {
            let reason = format!("keys must be 1 to {MAX_ATTRIBUTE_KEY} bytes");
            return Err(InvalidEvent::new("payload.attributes", reason));
        }
        if value.len() > MAX_ATTRIBUTE_VALUE {
            let reason = format!("is {} bytes; the limit is {MAX_ATTRIBUTE_VALUE}", value.len());
            return Err(InvalidEvent::new(format!("payload.attributes.{key}"), reason));
        }
    }
    Ok(())
}

/// Visits every key and value. A key is taken out and put back, so a secret in a key is
/// redacted too (two keys redacted to the same text keep the later value).
fn visit_attributes(attributes: &mut Option<Attributes>, f: &mut StrVisitor<'_>) {
    let Some(map) = attributes else { return };
    let old = std::mem::take(map);
    for (mut key, mut value) in old {
        f(&mut key);
        f(&mut value);
        map.insert(key, value);
    }
}
