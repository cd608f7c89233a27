//! The compact JSON writer behind [`Event::write_json`](super::Event::write_json).
//!
//! It writes what `serde_json::to_writer` writes, byte for byte (the tests compare them), but
//! looks for the bytes a string must escape eight at a time: strings are most of an event, and
//! serde_json's escaper, one table lookup per byte, was the largest single cost of preparing
//! one (BENCHMARKS.md, "prepare, fifth session").
//!
//! Invariants: the output is always valid JSON; strings escape exactly `"`, `\` and the
//! control characters below U+0020 (the short forms `\b \t \n \f \r`, else `\u00XX` with
//! lowercase hex); non-finite floats are written as `null`; map keys must be strings (or
//! integers, booleans and chars, written as strings), as serde_json requires.

use std::fmt::Display;

use serde::ser::{self, Impossible, Serialize};

use crate::swar::{HIGHS, ONES, last_word, word_at};

/// Why a value could not be written as JSON (a map key that is not a string, or a type's own
/// error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JsonWriteError(String);

impl ser::Error for JsonWriteError {
    fn custom<T: Display>(msg: T) -> Self {
        JsonWriteError(msg.to_string())
    }
}

impl From<JsonWriteError> for std::io::Error {
    fn from(e: JsonWriteError) -> Self {
        std::io::Error::other(e)
    }
}

/// Appends the compact JSON text of `value` to `out`.
///
/// # Errors
/// [`JsonWriteError`] when `value` has no JSON form (see the module doc).
pub fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), JsonWriteError> {
    value.serialize(&mut Writer { out })
}

/// Writes `text` as a JSON string, quotes included.
#[inline]
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let i = skip_plain_words(bytes, 0);
    // `skip_plain_words` stops at a word to escape, or before a tail shorter than a word.
    if i == bytes.len() || (bytes.len() - i < 8 && !tail_needs_escape(bytes)) {
        // The usual case: nothing to escape.
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        write_escaped(out, bytes, i);
    }
}

/// [`write_str`] of a string with a byte to escape in the word at `i` or after it.
#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8], mut i: usize) {
    out.reserve(bytes.len() + 8);
    out.push(b'"');
    let mut run_start = 0;
    while i < bytes.len() {
        // Eight bytes one at a time, then whole plain words again.
        let stop = (i + 8).min(bytes.len());
        while i < stop {
            if let Some(&b) = bytes.get(i)
                && needs_escape(b)
            {
                out.extend_from_slice(bytes.get(run_start..i).unwrap_or_default());
                write_escape(out, b);
                run_start = i + 1;
            }
            i += 1;
        }
        i = skip_plain_words(bytes, i);
    }
    out.extend_from_slice(bytes.get(run_start..).unwrap_or_default());
    out.push(b'"');
}

/// The index of the first eight-byte word from `i` on that holds a byte to escape (or of the
/// tail shorter than a word).
#[inline]
fn skip_plain_words(bytes: &[u8], mut i: usize) -> usize {
    while let Some(word) = word_at(bytes, i) {
        if word_needs_escape(word) {
            break;
        }
        i += 8;
    }
    i
}

/// Whether the last eight bytes of `bytes` (or a shorter string whole, padded with spaces)
/// hold one to escape; [`write_str`] asks when fewer than eight bytes after the plain words
/// are left, so the word covers them.
#[inline]
fn tail_needs_escape(bytes: &[u8]) -> bool {
    word_needs_escape(last_word(bytes, b' '))
}

/// True when some byte of `w` is below 0x20, a `"` or a `\`. A byte of 0x80 or more never
/// counts (`!w` clears its high bit), so UTF-8 text passes whole.
fn word_needs_escape(w: u64) -> bool {
    let below_space = w.wrapping_sub(ONES * 0x20);
    let quote = (w ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
    let backslash = (w ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    (below_space | quote | backslash) & !w & HIGHS != 0
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

fn write_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            let hex = |n: u8| HEX.get(usize::from(n & 0xf)).copied().unwrap_or(b'0');
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b)]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

/// The `serialize_<integer>` methods of a serializer, each `$body` with the serializer as
/// `$w` and the integer as `$v`.
macro_rules! integers {
    (|$w:ident, $v:ident| $body:expr) => {
        integers!(@each |$w, $v| $body; serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
            serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
            serialize_u32: u32, serialize_u64: u64, serialize_u128: u128);
    };
    (@each |$w:ident, $v:ident| $body:expr; $($method:ident: $ty:ty),*) => {$(
        fn $method(self, $v: $ty) -> Result<(), JsonWriteError> {
            let $w = self;
            $body
        }
    )*};
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn int(&mut self, n: impl itoa::Integer) {
        self.out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// Floats as serde_json spells them (its formatter, so the two never differ); events
    /// hold none, so this is off the hot path.
    fn float<F: Serialize>(&mut self, f: F) -> Result<(), JsonWriteError> {
        serde_json::to_writer(&mut *self.out, &f).map_err(|e| JsonWriteError(e.to_string()))
    }

    /// `{"variant":` of an externally tagged enum variant with content.
    fn open_variant(&mut self, variant: &str) {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
    }
}

/// Opens a list (`open` `[`) or map (`{`), inside `{"variant":` for an enum variant's
/// content; `close` is what ends it.
fn open_compound<'w, 'a>(
    w: &'w mut Writer<'a>,
    variant: Option<&str>,
    open: u8,
    close: &'static [u8],
) -> Compound<'w, 'a> {
    if let Some(variant) = variant {
        w.open_variant(variant);
    }
    w.out.push(open);
    Compound { w, first: true, close }
}

/// A list or map being written: whether a comma goes before the next item.
struct Compound<'w, 'a> {
    w: &'w mut Writer<'a>,
    first: bool,
    /// What closes it: `]`, `}`, or `]}` / `}}` for an enum variant's content.
    close: &'static [u8],
}

impl Compound<'_, '_> {
    fn comma(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.w.out.push(b',');
        }
    }

    fn key(&mut self, key: &str) {
        self.comma();
        write_str(self.w.out, key);
        self.w.out.push(b':');
    }

    fn close(self) {
        self.w.out.extend_from_slice(self.close);
    }
}

impl<'w, 'a> ser::Serializer for &'w mut Writer<'a> {
    type Ok = ();
    type Error = JsonWriteError;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), JsonWriteError> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    integers!(|w, v| {
        w.int(v);
        Ok(())
    });
    fn serialize_f32(self, v: f32) -> Result<(), JsonWriteError> {
        self.float(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), JsonWriteError> {
        self.float(v)
    }
    fn serialize_char(self, v: char) -> Result<(), JsonWriteError> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), JsonWriteError> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), JsonWriteError> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result<(), JsonWriteError> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), JsonWriteError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), JsonWriteError> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), JsonWriteError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), JsonWriteError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), JsonWriteError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), JsonWriteError> {
        self.open_variant(variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'w, 'a>, JsonWriteError> {
        Ok(open_compound(self, None, b'[', b"]"))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'w, 'a>, JsonWriteError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'w, 'a>, JsonWriteError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'a>, JsonWriteError> {
        Ok(open_compound(self, Some(variant), b'[', b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'w, 'a>, JsonWriteError> {
        Ok(open_compound(self, None, b'{', b"}"))
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Compound<'w, 'a>, JsonWriteError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'a>, JsonWriteError> {
        Ok(open_compound(self, Some(variant), b'{', b"}}"))
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonWriteError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonWriteError> {
        self.comma();
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), JsonWriteError> {
        self.close();
        Ok(())
    }
}

/// The tuple kinds are written as lists: each delegates to [`ser::SerializeSeq`].
macro_rules! as_seq {
    ($($tr:ident :: $method:ident),*) => {$(
        impl ser::$tr for Compound<'_, '_> {
            type Ok = ();
            type Error = JsonWriteError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonWriteError> {
                ser::SerializeSeq::serialize_element(self, value)
            }
            fn end(self) -> Result<(), JsonWriteError> {
                ser::SerializeSeq::end(self)
            }
        }
    )*};
}
as_seq!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonWriteError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), JsonWriteError> {
        self.comma();
        key.serialize(KeyWriter { out: self.w.out })?;
        self.w.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonWriteError> {
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), JsonWriteError> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonWriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), JsonWriteError> {
        self.key(key);
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), JsonWriteError> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonWriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), JsonWriteError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), JsonWriteError> {
        self.close();
        Ok(())
    }
}

/// A map key: a string, or a scalar written as one (serde_json's rule); nothing else.
struct KeyWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl KeyWriter<'_> {
    fn quoted(self, text: &str) -> Result<(), JsonWriteError> {
        write_str(self.out, text);
        Ok(())
    }
}

fn key_must_be_a_string() -> JsonWriteError {
    JsonWriteError("a JSON object key must be a string".to_owned())
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = JsonWriteError;
    type SerializeSeq = Impossible<(), JsonWriteError>;
    type SerializeTuple = Impossible<(), JsonWriteError>;
    type SerializeTupleStruct = Impossible<(), JsonWriteError>;
    type SerializeTupleVariant = Impossible<(), JsonWriteError>;
    type SerializeMap = Impossible<(), JsonWriteError>;
    type SerializeStruct = Impossible<(), JsonWriteError>;
    type SerializeStructVariant = Impossible<(), JsonWriteError>;

    fn serialize_str(self, v: &str) -> Result<(), JsonWriteError> {
        self.quoted(v)
    }
    fn serialize_char(self, v: char) -> Result<(), JsonWriteError> {
        self.quoted(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_bool(self, v: bool) -> Result<(), JsonWriteError> {
        self.quoted(if v { "true" } else { "false" })
    }
    integers!(|w, v| w.quoted(itoa::Buffer::new().format(v)));
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), JsonWriteError> {
        self.quoted(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), JsonWriteError> {
        value.serialize(self)
    }
    fn serialize_f32(self, _: f32) -> Result<(), JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_f64(self, _: f64) -> Result<(), JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<(), JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<(), JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, JsonWriteError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, JsonWriteError> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;

    use super::{write_json, write_str};

    fn ours<T: Serialize + ?Sized>(v: &T) -> String {
        let mut out = Vec::new();
        write_json(&mut out, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Strings built from the bytes that matter to an escaper, at every offset in a word.
    fn tricky_char() -> impl Strategy<Value = char> {
        prop_oneof![
            (0u32..0x80).prop_map(|c| char::from_u32(c).unwrap()),
            Just('"'),
            Just('\\'),
            Just('\u{7f}'),
            Just('é'),
            Just('\u{2028}'),
            Just('😀'),
            any::<char>(),
        ]
    }

    proptest! {
        #[test]
        fn strings_are_written_as_serde_json_writes_them(chars in proptest::collection::vec(tricky_char(), 0..40), pad in 0usize..9) {
            let text: String = "a".repeat(pad) + &chars.into_iter().collect::<String>();
            let mut out = Vec::new();
            write_str(&mut out, &text);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&text).unwrap());
        }

        #[test]
        fn numbers_are_written_as_serde_json_writes_them(i in any::<i64>(), u in any::<u64>(), f in any::<f64>(), g in any::<f32>()) {
            prop_assert_eq!(ours(&(i, u, f, g)), serde_json::to_string(&(i, u, f, g)).unwrap());
        }
    }

    #[test]
    fn every_control_character_and_every_escape_alone() {
        for b in 0u8..0x80 {
            let text = format!("{}x{}", char::from(b), char::from(b)).repeat(5);
            assert_eq!(ours(&text), serde_json::to_string(&text).unwrap(), "byte {b:#x}");
        }
    }

    #[derive(Serialize)]
    enum Shapes {
        Unit,
        New(u8),
        Tuple(u8, String),
        Struct { a: Option<bool>, b: Vec<()> },
    }

    #[derive(Serialize)]
    struct Wrapper(BTreeMap<u32, Option<char>>);

    #[test]
    fn every_serde_shape_is_written_as_serde_json_writes_it() {
        let mut map = BTreeMap::new();
        map.insert(7, Some('"'));
        map.insert(1, None);
        let values = (
            [Shapes::Unit, Shapes::New(3), Shapes::Tuple(1, "t".into()), Shapes::Struct { a: None, b: vec![(), ()] }],
            Wrapper(map),
            BTreeMap::<String, String>::new(),
            Vec::<u8>::new(),
            serde_bytes_like(&[1, 2, 255]),
            (f64::NAN, f64::INFINITY, -0.0_f64, 1e300_f64, true, false, ()),
        );
        assert_eq!(ours(&values), serde_json::to_string(&values).unwrap());
        assert!(write_json(&mut Vec::new(), &BTreeMap::from([((1, 2), 3)])).is_err());
    }

    /// A value that serializes through `serialize_bytes`.
    fn serde_bytes_like(b: &[u8]) -> impl Serialize + '_ {
        struct Bytes<'a>(&'a [u8]);
        impl Serialize for Bytes<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        Bytes(b)
    }

    #[test]
    fn generated_events_are_written_as_serde_json_writes_them() {
        let mut g = crate::workload::Generator::new(3, chrono::Utc::now(), 1_000);
        for _ in 0..2_000 {
            let json = g.next_json();
            let event = crate::event::parse_event(json.as_bytes()).unwrap().event;
            assert_eq!(ours(&event), serde_json::to_string(&event).unwrap());
        }
    }
}
