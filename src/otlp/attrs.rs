//! Reading OpenTelemetry attributes: lookups by name (with the older names as fallbacks),
//! `AnyValue` as text, content digests, and the bounded string map of `span` and `log` events.

use std::fmt::Write as _;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use sha2::{Digest, Sha256};

use crate::event::{Attributes, MAX_ATTRIBUTE_KEY, MAX_ATTRIBUTE_VALUE, MAX_ATTRIBUTES};

/// Appended to a value cut to its limit.
pub const TRUNCATED: &str = "…[truncated]";

/// Attributes whose values are prompts, responses, tool arguments or results: never stored,
/// only their sha256 (under `<key>.sha256` in a `span`'s or `log`'s attributes).
pub const CONTENT_KEYS: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.tool.definitions",
];

/// The attributes of one span or log record.
#[derive(Clone, Copy)]
pub struct Attrs<'a>(pub &'a [KeyValue]);

impl<'a> Attrs<'a> {
    /// The value of the first of `keys` present (current name first, older names after).
    pub fn get(&self, keys: &[&str]) -> Option<&'a Value> {
        keys.iter().find_map(|k| self.0.iter().find(|kv| kv.key == *k)).and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    /// A non-empty value of the first of `keys` present, as text cut to an attribute's limit.
    pub fn text(&self, keys: &[&str]) -> Option<String> {
        self.get(keys).map(|v| bounded(value_text(v), MAX_ATTRIBUTE_VALUE)).filter(|s| !s.is_empty())
    }

    /// A non-negative integer (an int, or a string of digits).
    pub fn count(&self, keys: &[&str]) -> Option<u64> {
        match self.get(keys)? {
            Value::IntValue(i) => u64::try_from(*i).ok(),
            Value::StringValue(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The first string of an array value (or the value itself when it is a string).
    pub fn first_text(&self, keys: &[&str]) -> Option<String> {
        match self.get(keys)? {
            Value::ArrayValue(a) => a.values.iter().find_map(|v| v.value.as_ref()).map(value_text),
            other => Some(value_text(other)),
        }
        .map(|s| bounded(s, MAX_ATTRIBUTE_VALUE))
        .filter(|s| !s.is_empty())
    }

    /// The strings of an array value (or the value itself), at most [`MAX_ATTRIBUTES`].
    pub fn texts(&self, keys: &[&str]) -> Option<Vec<String>> {
        let list = match self.get(keys)? {
            Value::ArrayValue(a) => a.values.iter().filter_map(|v| v.value.as_ref()).map(value_text).collect(),
            other => vec![value_text(other)],
        };
        let list: Vec<String> = list
            .into_iter()
            .filter(|s| !s.is_empty())
            .take(MAX_ATTRIBUTES)
            .map(|s| bounded(s, MAX_ATTRIBUTE_VALUE))
            .collect();
        (!list.is_empty()).then_some(list)
    }

    /// sha256 hex of the content under `keys` (the first present), joined in order: what a
    /// `*_hash` field holds. `None` when none is present.
    pub fn digest(&self, keys: &[&str]) -> Option<String> {
        let parts: Vec<String> = keys.iter().filter_map(|k| self.get(&[*k])).map(value_text).collect();
        (!parts.is_empty()).then(|| sha256_hex(parts.join("\n").as_bytes()))
    }

    /// The bounded map of a `span` or `log` event: every attribute but the content ones
    /// (replaced by `<key>.sha256`) and those in `skip`, values as text cut to their limit,
    /// at most [`MAX_ATTRIBUTES`] entries (the rest counted under `otel.dropped_attributes`).
    pub fn bounded_map(&self, skip: &[&str]) -> Option<Attributes> {
        let mut map = Attributes::new();
        let mut dropped = 0u64;
        for kv in self.0.iter().filter(|kv| !skip.contains(&kv.key.as_str())) {
            let Some(value) = kv.value.as_ref().and_then(|v| v.value.as_ref()) else { continue };
            let (key, value) = if CONTENT_KEYS.contains(&kv.key.as_str()) {
                (format!("{}.sha256", kv.key), sha256_hex(value_text(value).as_bytes()))
            } else {
                (kv.key.clone(), value_text(value))
            };
            if map.len() + 1 >= MAX_ATTRIBUTES || key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY {
                dropped += 1;
                continue;
            }
            map.insert(key, bounded(value, MAX_ATTRIBUTE_VALUE));
        }
        if dropped > 0 {
            map.insert("otel.dropped_attributes".into(), dropped.to_string());
        }
        (!map.is_empty()).then_some(map)
    }
}

/// sha256 as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Lowercase hex of an id.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A value as text: strings as they are, scalars in their usual spelling, arrays and maps as
/// JSON, bytes as hex.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::StringValue(s) => s.clone(),
        other => {
            let mut out = String::new();
            write_json(other, &mut out);
            out
        }
    }
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::StringValue(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
        Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::IntValue(i) => out.push_str(&i.to_string()),
        Value::DoubleValue(d) => out.push_str(&serde_json::to_string(d).unwrap_or_else(|_| "null".into())),
        Value::BytesValue(b) => out.push_str(&serde_json::to_string(&hex(b)).unwrap_or_default()),
        // An index into a profile's string table, which traces and logs do not have.
        Value::StringValueStrindex(_) => out.push_str("null"),
        Value::ArrayValue(a) => {
            out.push('[');
            for (i, item) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_any(item, out);
            }
            out.push(']');
        }
        Value::KvlistValue(kv) => {
            out.push('{');
            for (i, item) in kv.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(&item.key).unwrap_or_default());
                out.push(':');
                match &item.value {
                    Some(v) => write_any(v, out),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
    }
}

fn write_any(v: &AnyValue, out: &mut String) {
    match &v.value {
        Some(v) => write_json(v, out),
        None => out.push_str("null"),
    }
}

/// `text` cut to at most `max` bytes, ending in [`TRUNCATED`]. The cut never leaves part of a
/// word behind: a secret that runs across the limit would otherwise keep a prefix too short
/// for the redactor to recognise, so the word the cut falls in is dropped whole.
pub fn bounded(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max.saturating_sub(TRUNCATED.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &text[..cut];
    let kept = head.trim_end_matches(|c: char| !c.is_whitespace() && !matches!(c, '"' | '\'' | ',' | ';' | '(' | ')'));
    format!("{kept}{TRUNCATED}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kv(key: &str, v: Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..KeyValue::default() }
    }

    #[test]
    fn the_current_name_wins_and_older_ones_are_fallbacks() {
        let attrs = [kv("gen_ai.usage.prompt_tokens", Value::IntValue(7))];
        let a = Attrs(&attrs);
        assert_eq!(a.count(&["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]), Some(7));
        let both = [
            kv("gen_ai.system", Value::StringValue("old".into())),
            kv("gen_ai.provider.name", Value::StringValue("new".into())),
        ];
        assert_eq!(Attrs(&both).text(&["gen_ai.provider.name", "gen_ai.system"]).as_deref(), Some("new"));
    }

    #[test]
    fn a_cut_drops_the_word_it_falls_in() {
        let text = format!("key {}", "A".repeat(100));
        assert_eq!(bounded(text, 40), format!("key {TRUNCATED}"));
        assert_eq!(bounded("short".into(), 40), "short");
        let long = "é".repeat(100);
        assert!(bounded(long, 41).len() <= 41);
    }

    #[test]
    fn content_is_hashed_and_the_map_is_bounded() {
        let mut attrs = vec![kv("gen_ai.input.messages", Value::StringValue("secret prompt".into()))];
        for i in 0..100 {
            attrs.push(kv(&format!("k{i}"), Value::IntValue(i)));
        }
        let map = Attrs(&attrs).bounded_map(&[]).unwrap();
        assert_eq!(map.len(), MAX_ATTRIBUTES);
        assert_eq!(map["gen_ai.input.messages.sha256"], sha256_hex(b"secret prompt"));
        assert!(!map.values().any(|v| v.contains("secret prompt")));
        assert_eq!(map["otel.dropped_attributes"], (101 - (MAX_ATTRIBUTES - 1)).to_string());
    }

    #[test]
    fn arrays_and_maps_read_as_json() {
        let list = Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
            values: vec![
                AnyValue { value: Some(Value::StringValue("a\"b".into())) },
                AnyValue { value: Some(Value::IntValue(3)) },
            ],
        });
        assert_eq!(value_text(&list), r#"["a\"b",3]"#);
    }
}
