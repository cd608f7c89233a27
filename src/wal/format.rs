//! On-disk format of WAL segments: file names, the segment header and record framing.
//!
//! A segment is `wal/<first LSN, 20 digits>.wal`:
//!
//! ```text
//! header (64 bytes, little endian)
//!   0..8    magic  b"FRECWAL\0"
//!   8..10   u16    format version (1)
//!   10..12  u16    reserved, 0
//!   12..16  u32    header length (64)
//!   16..24  u64    first LSN of the segment
//!   24..32  i64    creation time, microseconds since the Unix epoch
//!   32..60         reserved, 0
//!   60..64  u32    CRC32 of bytes 0..60
//! records, back to back
//!   u32 payload length | u32 CRC32 of (LSN bytes ++ payload) | u64 LSN | payload
//! ```
//!
//! The payload's first byte says what the record is ([`KIND_EVENT_JSON_V2`],
//! [`KIND_EVENT_JSON_V1`] or [`KIND_SEAL`]); this is the versioned payload encoding. Event
//! payloads carry a flags byte, the event id's 16 bytes (version 2 only: recovery reads them
//! instead of parsing the id out of the JSON) and then the canonical event JSON. Version 1,
//! which earlier builds wrote, is still read. A seal record ends a segment: its LSN field
//! holds the first LSN of the next segment and its body the number of event records in the
//! segment.
//! Segments are preallocated, so the bytes after the last record are zeros: a zero length
//! field marks the end of the written data.

use std::path::{Path, PathBuf};

/// Magic bytes at the start of every segment.
pub const MAGIC: [u8; 8] = *b"FRECWAL\0";
/// Segment format version written by this code.
pub const FORMAT_VERSION: u16 = 1;
/// Size of the segment header.
pub const HEADER_LEN: usize = 64;
/// Size of a record's framing: length, CRC and LSN.
pub const RECORD_HEADER_LEN: usize = 16;
/// Largest payload a record may carry (events are small; this bounds what recovery reads).
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;
/// Payload kind: an event, encoded as canonical JSON (version 1: flags, JSON).
pub const KIND_EVENT_JSON_V1: u8 = 1;
/// Payload kind: an event, encoded as canonical JSON with its id beside it (version 2:
/// flags, the event id's 16 bytes, JSON). What this build writes.
pub const KIND_EVENT_JSON_V2: u8 = 2;
/// Payload kind: the seal record that closes a segment.
pub const KIND_SEAL: u8 = b'S';
/// Event flag: the redactor replaced at least one secret in this event.
pub const FLAG_REDACTED: u8 = 0b0000_0001;
/// File name extension of segments.
pub const SEGMENT_EXT: &str = "wal";

/// What is wrong with bytes that do not decode as this format: the header of a segment, or
/// the record at some offset (the offset travels beside it, in `Damage` or `WalError`).
/// Serialized as its message, which is what reports and `verify --json` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    #[error("file is {len} bytes, shorter than the {HEADER_LEN}-byte header")]
    ShortHeader { len: usize },
    #[error("bad magic: not a flightrec WAL segment")]
    BadMagic,
    #[error("header checksum mismatch")]
    HeaderCrcMismatch,
    #[error("format version {version} is not supported (this build reads {FORMAT_VERSION})")]
    UnsupportedVersion { version: u16 },
    /// Fewer bytes than a record's framing are left at the end of the file.
    #[error("{len} bytes of an incomplete record header")]
    IncompleteRecordHeader { len: usize },
    /// A length field of 0 or over [`MAX_PAYLOAD_LEN`].
    #[error("implausible record length {len}")]
    ImplausibleLength { len: usize },
    #[error("record of {len} bytes runs past the end of the file (torn write)")]
    TruncatedRecord { len: usize },
    /// A record numbered `u64::MAX`: its successor would wrap to LSN 0.
    #[error("record LSN {lsn} is the last of the LSN space: no record can follow it")]
    LsnSpaceEnd { lsn: u64 },
    #[error("record LSN {lsn} is out of sequence (expected {expected})")]
    LsnOutOfSequence { lsn: u64, expected: u64 },
    #[error("checksum mismatch in record LSN {lsn}")]
    CrcMismatch { lsn: u64 },
    /// A record whose checksum holds but whose payload kind this build does not know.
    #[error("record of an unknown kind (written by a newer flightrec?)")]
    UnknownKind { kind: u8 },
    /// An event record (its checksum holds) too short for the header its kind starts with.
    #[error("event record of kind {kind} has {len} bytes, fewer than the {min} its header takes")]
    ShortEventPayload { kind: u8, len: usize, min: usize },
    #[error("bytes after the seal record")]
    BytesAfterSeal,
}

impl serde::Serialize for Corruption {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The parsed segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub first_lsn: u64,
    pub created_micros: i64,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut buf = [0u8; HEADER_LEN];
        buf[0..8].copy_from_slice(&MAGIC);
        buf[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        buf[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        buf[16..24].copy_from_slice(&self.first_lsn.to_le_bytes());
        buf[24..32].copy_from_slice(&self.created_micros.to_le_bytes());
        let crc = crc32fast::hash(&buf[..60]);
        buf[60..64].copy_from_slice(&crc.to_le_bytes());
        buf
    }

    /// Decodes a header, saying what is wrong with it when it is not one.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, Corruption> {
        let Some(buf) = bytes.get(..HEADER_LEN) else {
            return Err(Corruption::ShortHeader { len: bytes.len() });
        };
        if buf[0..8] != MAGIC {
            return Err(Corruption::BadMagic);
        }
        let stored_crc = read_u32(buf, 60);
        if crc32fast::hash(&buf[..60]) != stored_crc {
            return Err(Corruption::HeaderCrcMismatch);
        }
        let version = u16::from_le_bytes([buf[8], buf[9]]);
        if version != FORMAT_VERSION {
            return Err(Corruption::UnsupportedVersion { version });
        }
        Ok(SegmentHeader { first_lsn: read_u64(buf, 16), created_micros: read_u64(buf, 24) as i64 })
    }
}

/// Appends one framed record to `out`.
pub fn encode_record(out: &mut Vec<u8>, lsn: u64, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(payload);
    // The LSN bytes and the payload lie back to back: one CRC pass over both.
    let crc = crc32fast::hash(out.get(crc_at + 4..).unwrap_or_default());
    if let Some(field) = out.get_mut(crc_at..crc_at + 4) {
        field.copy_from_slice(&crc.to_le_bytes());
    }
}

/// Size of a framed record with a payload of `payload_len` bytes.
pub fn framed_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

/// The checksum stored in a record: CRC32 over the LSN bytes, then the payload. In a framed
/// record those are contiguous (bytes 8.. of the frame), which is how the writer and the
/// scan compute it, in one pass.
pub fn record_crc(lsn: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&lsn.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Builds a version 1 payload of an event record: kind, flags, canonical JSON (what earlier
/// builds wrote; the query tail keeps copies of replayed records this way, without their id).
pub fn event_payload(redacted: bool, json: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(json.len() + 2);
    payload.push(KIND_EVENT_JSON_V1);
    payload.push(if redacted { FLAG_REDACTED } else { 0 });
    payload.extend_from_slice(json);
    payload
}

/// Builds the (version 2) payload of an event record, the JSON written straight after the
/// kind, flags and id by `write_json` (one buffer, no copy of the JSON); `json_len_hint` is
/// the room reserved for the JSON. `event_id` must be the JSON's `event_id`.
pub fn write_event_payload<E>(
    redacted: bool,
    event_id: uuid::Uuid,
    json_len_hint: usize,
    write_json: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<Vec<u8>, E> {
    let mut payload = Vec::with_capacity(json_len_hint + EVENT_V2_PREFIX);
    payload.push(KIND_EVENT_JSON_V2);
    payload.push(if redacted { FLAG_REDACTED } else { 0 });
    payload.extend_from_slice(event_id.as_bytes());
    write_json(&mut payload)?;
    Ok(payload)
}

/// Bytes of a version 2 event payload before its JSON: kind, flags, id.
const EVENT_V2_PREFIX: usize = 2 + 16;

/// An event record's payload, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload<'a> {
    pub redacted: bool,
    /// The event id stored beside the JSON (version 2); None for version 1, whose id is in
    /// the JSON only.
    pub id: Option<uuid::Uuid>,
    pub json: &'a [u8],
}

/// The bytes an event payload of kind `kind` takes before its JSON; None for another kind.
pub fn event_header_len(kind: u8) -> Option<usize> {
    match kind {
        KIND_EVENT_JSON_V1 => Some(2),
        KIND_EVENT_JSON_V2 => Some(18),
        _ => None,
    }
}

/// Decodes an event record's payload (either version); None for a payload of another kind,
/// or too short to be an event.
pub fn decode_event_payload(payload: &[u8]) -> Option<EventPayload<'_>> {
    let redacted = |flags: u8| flags & FLAG_REDACTED != 0;
    match payload {
        [KIND_EVENT_JSON_V2, flags, rest @ ..] => {
            let (id, json) = rest.split_first_chunk::<16>()?;
            Some(EventPayload { redacted: redacted(*flags), id: Some(uuid::Uuid::from_bytes(*id)), json })
        }
        [KIND_EVENT_JSON_V1, flags, json @ ..] => Some(EventPayload { redacted: redacted(*flags), id: None, json }),
        _ => None,
    }
}

/// Splits an event record's payload into its redacted flag and its JSON; None for a payload
/// of another kind (or too short to be an event).
pub fn split_event_payload(payload: &[u8]) -> Option<(bool, &[u8])> {
    decode_event_payload(payload).map(|p| (p.redacted, p.json))
}

/// Builds the payload of a seal record.
pub fn seal_payload(event_records: u64) -> Vec<u8> {
    let mut payload = Vec::with_capacity(9);
    payload.push(KIND_SEAL);
    payload.extend_from_slice(&event_records.to_le_bytes());
    payload
}

/// The file name of the segment whose first LSN is `first_lsn`.
pub fn segment_file_name(first_lsn: u64) -> String {
    format!("{first_lsn:020}.{SEGMENT_EXT}")
}

/// The first LSN encoded in a segment file name, or None if the name is not a segment's.
pub fn parse_segment_file_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".wal")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Path of a segment inside a WAL directory.
pub fn segment_path(wal_dir: &Path, first_lsn: u64) -> PathBuf {
    wal_dir.join(segment_file_name(first_lsn))
}

pub(crate) fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = buf.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    u32::from_le_bytes(b)
}

pub(crate) fn read_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = buf.get(at..at + 8) {
        b.copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_framed_records_crc_is_the_crc_of_its_lsn_bytes_then_its_payload() {
        let mut out = vec![0xAA; 3]; // whatever precedes the record
        encode_record(&mut out, 0x0102_0304_0506_0708, b"payload");
        assert_eq!(out.len(), 3 + framed_len(7));
        assert_eq!(read_u32(&out, 3), 7);
        assert_eq!(read_u32(&out, 7), record_crc(0x0102_0304_0506_0708, b"payload"));
        assert_eq!(read_u64(&out, 11), 0x0102_0304_0506_0708);
    }

    #[test]
    fn event_payloads_of_both_versions_decode_and_version_2_carries_the_id() {
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        let json = br#"{"type":"x"}"#;
        let v2 = write_event_payload::<()>(true, id, 0, |out| {
            out.extend_from_slice(json);
            Ok(())
        })
        .unwrap();
        assert_eq!(v2.len(), EVENT_V2_PREFIX + json.len());
        assert_eq!(decode_event_payload(&v2), Some(EventPayload { redacted: true, id: Some(id), json }));
        assert_eq!(split_event_payload(&v2), Some((true, &json[..])));
        let v1 = event_payload(false, json);
        assert_eq!(decode_event_payload(&v1), Some(EventPayload { redacted: false, id: None, json }));
        // Too short for an id, or of another kind: not an event.
        assert_eq!(decode_event_payload(&v2[..EVENT_V2_PREFIX - 1]), None);
        assert_eq!(decode_event_payload(&seal_payload(3)), None);
        assert_eq!(decode_event_payload(&[]), None);
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let h = SegmentHeader { first_lsn: 42, created_micros: 1_700_000_000_000_000 };
        let mut bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes).unwrap(), h);
        bytes[20] ^= 1;
        assert_eq!(SegmentHeader::decode(&bytes).unwrap_err(), Corruption::HeaderCrcMismatch);
        assert_eq!(SegmentHeader::decode(&bytes[..10]).unwrap_err(), Corruption::ShortHeader { len: 10 });
        let short = serde_json::to_string(&Corruption::ShortHeader { len: 10 }).unwrap();
        assert_eq!(short, "\"file is 10 bytes, shorter than the 64-byte header\"", "serialized as its message");
    }

    #[test]
    fn segment_names_sort_and_parse() {
        let name = segment_file_name(7);
        assert_eq!(name, "00000000000000000007.wal");
        assert_eq!(parse_segment_file_name(Path::new(&name)), Some(7));
        assert_eq!(parse_segment_file_name(Path::new("7.wal")), None);
        assert_eq!(parse_segment_file_name(Path::new("00000000000000000007.wal.tmp")), None);
        assert!(segment_file_name(9) < segment_file_name(10));
    }
}
