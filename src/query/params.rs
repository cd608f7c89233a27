//! Decoding the query parameters of `GET /v1/events` (and the CLI's `--url` mode) into an
//! [`EventQuery`], naming the parameter at fault. Unknown parameters are rejected.

use std::str::FromStr;

use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};

use super::model::{CURSOR_PATTERN, Cursor, EventQuery, MAX_CURSOR_LEN, MAX_LIMIT};
use crate::event::time::parse_rfc3339;
use crate::event::{Actor, EventType};

/// A parameter that does not decode: its name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParam {
    pub field: String,
    pub reason: String,
}

fn bad(field: &str, reason: impl Into<String>) -> BadParam {
    BadParam { field: field.to_string(), reason: reason.into() }
}

/// Refuses a value holding a control character (NUL and the like): no id, time or search text
/// holds one, and the storage layer must not be asked about it.
pub fn no_control_chars(field: &str, value: &str) -> Result<(), BadParam> {
    match value.chars().position(char::is_control) {
        Some(at) => Err(bad(field, format!("holds a control character at character {at}"))),
        None => Ok(()),
    }
}

/// What [`no_control_chars`] lets through, as an ECMA-262 pattern (for the OpenAPI document).
pub const NO_CONTROL_CHARS_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$";

/// The schema of a free-text value: not empty, no control character.
#[must_use]
pub fn text_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(NO_CONTROL_CHARS_PATTERN))
        .description(Some("No control characters (400 HSK-400-INVALID-QUERY)"))
}

/// The parameters [`parse_params`] decodes, as the OpenAPI document lists them (`GET /v1/events`).
pub struct EventFilters;

impl utoipa::IntoParams for EventFilters {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let time = || string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))).min_length(Some(1));
        let one_of = |names: &[&str]| string().enum_values(Some(names.iter().copied()));
        let limit = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(MAX_LIMIT));
        let cursor = string()
            .min_length(Some(1))
            .max_length(Some(MAX_CURSOR_LEN))
            .pattern(Some(CURSOR_PATTERN))
            .description(Some("An opaque next_cursor from an earlier page, passed back unchanged"));
        let uuid = || string().format(Some(SchemaFormat::Custom("uuid".into())));
        [
            ("event_id", uuid()),
            ("job_id", text_schema()),
            ("trace_id", text_schema()),
            ("model_session_id", text_schema()),
            ("model_id", text_schema()),
            ("tool_id", text_schema()),
            ("wsid", text_schema()),
            ("from", time()),
            ("to", time()),
            ("type", one_of(EventType::NAMES)),
            ("actor", one_of(Actor::NAMES)),
            ("text", text_schema()),
            ("limit", limit),
            ("cursor", cursor),
            ("order", one_of(&["asc", "desc"])),
        ]
        .into_iter()
        .map(|(name, schema)| {
            Parameter::builder().name(name).parameter_in(ParameterIn::Query).schema(Some(schema)).build()
        })
        .collect()
    }
}

/// Calls `take` with each `key=value` pair (already URL-decoded) after refusing a repeated
/// key, an empty value or one with a control character, so a typo never silently widens a
/// query.
pub fn each_param(
    pairs: &[(String, String)],
    mut take: impl FnMut(&str, &str) -> Result<(), BadParam>,
) -> Result<(), BadParam> {
    let mut seen = std::collections::HashSet::new();
    for (key, value) in pairs {
        if !seen.insert(key.as_str()) {
            return Err(bad(key, "given more than once"));
        }
        if value.is_empty() {
            return Err(bad(key, "is empty"));
        }
        no_control_chars(key, value)?;
        take(key, value)?;
    }
    Ok(())
}

/// A UUID parameter in the form ids are stored in (lower case, hyphenated).
pub fn uuid_param(field: &str, value: &str) -> Result<String, BadParam> {
    uuid::Uuid::parse_str(value)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| bad(field, format!("`{}` is not a UUID", value.chars().take(80).collect::<String>())))
}

/// An RFC 3339 time parameter.
pub fn time_param(field: &str, value: &str) -> Result<chrono::DateTime<chrono::Utc>, BadParam> {
    parse_rfc3339(value).map_err(|e| bad(field, e))
}

/// An `actor` parameter.
pub fn actor_param(field: &str, value: &str) -> Result<Actor, BadParam> {
    Actor::from_str(value).map_err(|e| bad(field, e.to_string()))
}

/// Refuses a parameter the route does not know, listing those it does.
pub fn unknown_param(field: &str, known: &str) -> BadParam {
    bad(field, format!("unknown parameter; known: {known}"))
}

/// Decodes the parameters of `GET /v1/events`.
pub fn parse_params(pairs: &[(String, String)]) -> Result<EventQuery, BadParam> {
    let mut q = EventQuery::default();
    each_param(pairs, |key, value| {
        let v = value.to_string();
        match key {
            "event_id" => q.event_id = Some(uuid_param(key, value)?),
            "job_id" => q.job_id = Some(v),
            "trace_id" => q.trace_id = Some(v),
            "model_session_id" => q.model_session_id = Some(v),
            "model_id" => q.model_id = Some(v),
            "tool_id" => q.tool_id = Some(v),
            "wsid" => q.wsid = Some(v),
            "text" => q.text = Some(v),
            "from" => q.from = Some(time_param(key, value)?),
            "to" => q.to = Some(time_param(key, value)?),
            "type" => q.event_type = Some(EventType::from_str(value).map_err(|e| bad(key, e.to_string()))?),
            "actor" => q.actor = Some(actor_param(key, value)?),
            "limit" => {
                let n: usize = value.parse().map_err(|_| bad(key, format!("`{value}` is not a whole number")))?;
                if !(1..=MAX_LIMIT).contains(&n) {
                    return Err(bad(key, format!("must be between 1 and {MAX_LIMIT}")));
                }
                q.limit = Some(n);
            }
            "cursor" => q.cursor = Some(Cursor::decode(value).map_err(|e| bad(key, e))?),
            "order" => {
                q.descending = match value {
                    "asc" => false,
                    "desc" => true,
                    _ => return Err(bad(key, "must be `asc` (oldest first) or `desc` (newest first)")),
                }
            }
            other => {
                let known = "event_id, job_id, trace_id, model_session_id, model_id, tool_id, wsid, from, to, type, actor, \
                             text, limit, cursor, order";
                return Err(unknown_param(other, known));
            }
        }
        Ok(())
    })?;
    Ok(q)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Result<EventQuery, BadParam> {
        parse_params(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>())
    }

    #[test]
    fn decodes_every_filter_and_names_the_bad_one() {
        let q = p(&[
            ("job_id", "j"),
            ("type", "tool_call"),
            ("actor", "agent"),
            ("limit", "5"),
            ("from", "2026-11-25T00:00:00Z"),
        ])
        .unwrap();
        assert_eq!(q.job_id.as_deref(), Some("j"));
        assert_eq!(q.event_type, Some(EventType::ToolCall));
        assert_eq!(q.limit, Some(5));
        assert_eq!(p(&[("limit", "0")]).unwrap_err().field, "limit");
        assert_eq!(p(&[("limit", "x")]).unwrap_err().field, "limit");
        assert_eq!(p(&[("type", "nope")]).unwrap_err().field, "type");
        assert_eq!(p(&[("from", "yesterday")]).unwrap_err().field, "from");
        assert_eq!(p(&[("cursor", "zz")]).unwrap_err().field, "cursor");
        assert_eq!(p(&[("bogus", "1")]).unwrap_err().field, "bogus");
        assert_eq!(p(&[("order", "newest")]).unwrap_err().field, "order");
        assert_eq!(p(&[("event_id", "not-a-uuid")]).unwrap_err().field, "event_id");
        let q = p(&[("order", "desc"), ("event_id", "4F1C7A8E-2B7D-4A53-9A0E-6B1D2F6C9E01"), ("wsid", "ws")]).unwrap();
        assert!(q.descending);
        assert_eq!(p(&[("model_id", "llama-3.1-8b")]).unwrap().model_id.as_deref(), Some("llama-3.1-8b"));
        assert_eq!(q.event_id.as_deref(), Some("4f1c7a8e-2b7d-4a53-9a0e-6b1d2f6c9e01"), "stored form");
        assert_eq!(q.wsid.as_deref(), Some("ws"));
        assert_eq!(p(&[("job_id", "a"), ("job_id", "b")]).unwrap_err().reason, "given more than once");
        for (field, value) in [("job_id", "a\0b"), ("text", "\u{1f}"), ("trace_id", "\u{7f}"), ("cursor", "\u{85}")] {
            let e = p(&[(field, value)]).unwrap_err();
            assert_eq!(e.field, field, "{value:?}");
            assert!(e.reason.contains("control character"), "{e:?}");
        }
    }
}
