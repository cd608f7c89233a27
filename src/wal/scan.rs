//! The decoder: one segment's bytes in, the header, every record and the damage found out.
//!
//! Pure: it works on a byte slice and knows only the [`format`](super::format); where the bytes
//! come from (a mapping, a buffer, a fuzzer) is the caller's business.
//!
//! Scanning never fails on bad bytes: a record whose framing or checksum is wrong is reported
//! as [`Damage`] and the scan resynchronises on the next offset that holds a valid record with
//! a plausible LSN, so the valid records on both sides of a damaged one are kept. Bad bytes
//! with no valid record after them are the torn tail.

use super::format::{
    Corruption, HEADER_LEN, KIND_SEAL, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN, SegmentHeader, decode_event_payload,
    event_header_len, read_u32, read_u64,
};

/// How far past the expected LSN a record found while resynchronising may be.
const LSN_WINDOW: u64 = 1 << 24;

/// One event record as stored.
#[derive(Debug, Clone, Copy)]
pub struct EventRecord<'a> {
    pub lsn: u64,
    /// Byte offset of the record's framing in the segment file.
    pub offset: u64,
    pub redacted: bool,
    /// The event id stored beside the JSON (payload version 2); None for version 1.
    pub id: Option<uuid::Uuid>,
    /// The canonical event JSON, a slice of the scanned bytes.
    pub json: &'a [u8],
}

impl EventRecord<'_> {
    /// Where the JSON lies in `scanned`, the bytes the scan read (None for other bytes).
    pub fn json_range_in(&self, scanned: &[u8]) -> Option<std::ops::Range<usize>> {
        let start = (self.json.as_ptr() as usize).checked_sub(scanned.as_ptr() as usize)?;
        let end = start.checked_add(self.json.len())?;
        (end <= scanned.len()).then_some(start..end)
    }
}

/// A stretch of bytes that did not decode, and what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Damage {
    pub offset: u64,
    pub len: u64,
    pub reason: Corruption,
}

/// What scanning a segment found.
#[derive(Debug, Clone, Default)]
pub struct SegmentScan {
    pub first_lsn: u64,
    pub created_micros: i64,
    pub event_records: u64,
    pub last_lsn: Option<u64>,
    /// Set when the segment ends with a seal record: the first LSN of the next segment.
    pub sealed_next_lsn: Option<u64>,
    /// The number of event records the seal record says the segment holds.
    pub sealed_events: Option<u64>,
    /// End of the last valid record: where appending resumes.
    pub end_offset: u64,
    /// Damaged records with valid records after them.
    pub damage: Vec<Damage>,
    /// Bytes after the last valid record that are neither a record nor zero fill.
    pub torn_tail: Option<Damage>,
}

/// Why a compacted sealed segment must be kept (in the quarantine) rather than deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unverified {
    /// The header does not decode: nothing in the segment was read.
    #[error("{0}")]
    Unreadable(Corruption),
    #[error("{count} damaged records")]
    DamagedRecords { count: usize },
    #[error("bad bytes at offset {}: {}", .0.offset, .0.reason)]
    BadBytes(Damage),
    #[error("no seal record")]
    NoSeal,
    #[error("the seal record counts {sealed} events, the scan found {found}")]
    SealCountMismatch { sealed: u64, found: u64 },
    #[error("{found} event records, {stored} stored")]
    NotAllStored { found: u64, stored: u64 },
}

impl SegmentScan {
    /// Why a sealed segment whose events were stored (`stored` of them) must not be deleted,
    /// or None when its scan was clean and every event its seal record counts was stored.
    pub fn unverified(&self, stored: u64) -> Option<Unverified> {
        let found = self.event_records;
        if !self.damage.is_empty() {
            return Some(Unverified::DamagedRecords { count: self.damage.len() });
        }
        if let Some(t) = self.torn_tail {
            return Some(Unverified::BadBytes(t));
        }
        match self.sealed_events {
            None => Some(Unverified::NoSeal),
            Some(sealed) if sealed != found => Some(Unverified::SealCountMismatch { sealed, found }),
            Some(_) if stored != found => Some(Unverified::NotAllStored { found, stored }),
            Some(_) => None,
        }
    }
}

/// Scans a whole segment, calling `visit` for every valid event record in order.
/// Returns Err when the header itself is unreadable.
pub fn scan_segment<'a>(bytes: &'a [u8], visit: &mut dyn FnMut(EventRecord<'a>)) -> Result<SegmentScan, Corruption> {
    let header = SegmentHeader::decode(bytes)?;
    let mut scan = SegmentScan {
        first_lsn: header.first_lsn,
        created_micros: header.created_micros,
        end_offset: HEADER_LEN as u64,
        ..SegmentScan::default()
    };
    let mut pos = HEADER_LEN;
    let mut expected = header.first_lsn;
    while pos < bytes.len() {
        if read_u32(bytes, pos) == 0 && is_zero(&bytes[pos..]) {
            break; // zero fill after the last record
        }
        let Some(rec) = decode_at(bytes, pos, expected) else {
            match resync(bytes, pos + 1, expected) {
                Some(next) => {
                    scan.damage.push(damage(bytes, pos, next - pos, expected));
                    pos = next;
                    continue;
                }
                None => {
                    let end = last_nonzero(bytes).map_or(pos, |i| i + 1).max(pos);
                    scan.torn_tail = Some(damage(bytes, pos, end - pos, expected));
                    break;
                }
            }
        };
        pos += RECORD_HEADER_LEN + rec.payload.len();
        scan.end_offset = pos as u64;
        match (decode_event_payload(rec.payload), rec.payload.first()) {
            (Some(event), _) => {
                let (redacted, id, json) = (event.redacted, event.id, event.json);
                visit(EventRecord { lsn: rec.lsn, offset: rec.offset as u64, redacted, id, json });
                scan.event_records += 1;
                scan.last_lsn = Some(rec.lsn);
                expected = successor(rec.lsn);
            }
            (None, Some(&KIND_SEAL)) => {
                scan.sealed_next_lsn = Some(rec.lsn);
                scan.sealed_events = (rec.payload.len() >= 9).then(|| read_u64(rec.payload, 1));
                if !is_zero(&bytes[pos..]) {
                    let len = bytes.len() - pos;
                    scan.torn_tail =
                        Some(Damage { offset: pos as u64, len: len as u64, reason: Corruption::BytesAfterSeal });
                }
                break;
            }
            (None, kind) => {
                // `decode_at` refuses empty payloads, so there is always a kind byte.
                let kind = kind.copied().unwrap_or_default();
                let reason = match event_header_len(kind) {
                    Some(min) => Corruption::ShortEventPayload { kind, len: rec.payload.len(), min },
                    None => Corruption::UnknownKind { kind },
                };
                let len = (RECORD_HEADER_LEN + rec.payload.len()) as u64;
                scan.damage.push(Damage { offset: rec.offset as u64, len, reason });
                expected = successor(rec.lsn);
            }
        }
    }
    Ok(scan)
}

/// The LSN after `lsn`. `decode_at` never yields `u64::MAX`, so this cannot saturate; it
/// saturates all the same so that no build wraps.
fn successor(lsn: u64) -> u64 {
    lsn.saturating_add(1)
}

struct RawRecord<'a> {
    offset: usize,
    lsn: u64,
    payload: &'a [u8],
}

/// Decodes the record at `pos` if its framing, checksum and LSN are all valid.
fn decode_at(bytes: &[u8], pos: usize, expected_lsn: u64) -> Option<RawRecord<'_>> {
    let frame = bytes.get(pos..pos.checked_add(RECORD_HEADER_LEN)?)?;
    let len = read_u32(frame, 0) as usize;
    let lsn = read_u64(frame, 8);
    if len == 0 || len > MAX_PAYLOAD_LEN || !lsn_in_sequence(lsn, expected_lsn) {
        return None;
    }
    let start = pos + RECORD_HEADER_LEN;
    let payload = bytes.get(start..start + len)?;
    // The CRC covers the LSN bytes and the payload, which lie back to back (`record_crc`):
    // one pass over both, with no second call for the 8 LSN bytes.
    if crc32fast::hash(bytes.get(pos + 8..start + len)?) != read_u32(frame, 4) {
        return None;
    }
    Some(RawRecord { offset: pos, lsn, payload })
}

/// True for an LSN a record at the expected position may carry: not behind, not implausibly
/// far ahead, and not `u64::MAX`, after which the next LSN would wrap to zero and a forged
/// record numbered 0 would pass as the successor.
fn lsn_in_sequence(lsn: u64, expected: u64) -> bool {
    lsn >= expected && lsn - expected < LSN_WINDOW && lsn != u64::MAX
}

/// The first offset at or after `from` holding a valid record.
fn resync(bytes: &[u8], from: usize, expected_lsn: u64) -> Option<usize> {
    let last_start = bytes.len().checked_sub(RECORD_HEADER_LEN)?;
    (from..=last_start).find(|&pos| decode_at(bytes, pos, expected_lsn).is_some())
}

/// Describes the damage at `pos`, with the most specific reason the bytes allow.
fn damage(bytes: &[u8], at: usize, len: usize, expected: u64) -> Damage {
    let frame_len = read_u32(bytes, at) as usize;
    let lsn = read_u64(bytes, at + 8);
    let reason = if bytes.len() - at < RECORD_HEADER_LEN {
        Corruption::IncompleteRecordHeader { len: bytes.len() - at }
    } else if frame_len == 0 || frame_len > MAX_PAYLOAD_LEN {
        Corruption::ImplausibleLength { len: frame_len }
    } else if at + RECORD_HEADER_LEN + frame_len > bytes.len() {
        Corruption::TruncatedRecord { len: frame_len }
    } else if lsn == u64::MAX {
        Corruption::LsnSpaceEnd { lsn }
    } else if !lsn_in_sequence(lsn, expected) {
        Corruption::LsnOutOfSequence { lsn, expected }
    } else {
        Corruption::CrcMismatch { lsn }
    };
    Damage { offset: at as u64, len: len as u64, reason }
}

/// True when every byte is zero. The newest segment's preallocated fill (up to a whole
/// segment) is checked at every open, so the bytes are OR-ed a block at a time, which the
/// compiler vectorises, stopping at the first block that is not zero.
fn is_zero(bytes: &[u8]) -> bool {
    const BLOCK: usize = 4096;
    let blocks = bytes.chunks_exact(BLOCK);
    let rest = blocks.remainder();
    blocks.into_iter().all(|block| block.iter().fold(0u8, |acc, &b| acc | b) == 0) && rest.iter().all(|&b| b == 0)
}

fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b != 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wal::format::{KIND_EVENT_JSON_V1, KIND_EVENT_JSON_V2, encode_record, event_payload};

    fn segment(first_lsn: u64, lsns: &[u64]) -> Vec<u8> {
        let mut bytes = SegmentHeader { first_lsn, created_micros: 0 }.encode().to_vec();
        for &lsn in lsns {
            encode_record(&mut bytes, lsn, &event_payload(false, b"{}"));
        }
        bytes
    }

    #[test]
    fn an_lsn_at_the_end_of_the_lsn_space_is_damage_not_a_wrap_to_zero() {
        let bytes = segment(u64::MAX - 1, &[u64::MAX - 1, u64::MAX, 0, 1]);
        let mut seen = Vec::new();
        let scan = scan_segment(&bytes, &mut |r| seen.push(r.lsn)).unwrap();
        assert_eq!(seen, vec![u64::MAX - 1]);
        assert_eq!(scan.last_lsn, Some(u64::MAX - 1));
        assert_eq!(scan.torn_tail.unwrap().reason, Corruption::LsnSpaceEnd { lsn: u64::MAX });
    }

    #[test]
    fn a_records_json_is_found_in_the_bytes_scanned_and_nowhere_else() {
        let bytes = segment(7, &[7, 8]);
        let mut ranges = Vec::new();
        scan_segment(&bytes, &mut |r| {
            ranges.push(r.json_range_in(&bytes));
            assert_eq!(r.json_range_in(&bytes[..bytes.len() - 1]).is_some(), r.lsn == 7, "only the first fits");
            assert_eq!(r.json_range_in(b"{}"), None, "other bytes");
        })
        .unwrap();
        let ranges: Vec<_> = ranges.into_iter().map(Option::unwrap).collect();
        assert!(ranges.iter().all(|r| &bytes[r.clone()] == b"{}"));
        assert!(ranges[0].end < ranges[1].start);
    }

    #[test]
    fn fill_with_one_nonzero_byte_anywhere_is_not_zero_fill() {
        let len = 3 * 4096 + 17; // whole blocks and a remainder
        assert!(is_zero(&vec![0u8; len]) && is_zero(&[]));
        for at in [0, 1, 4095, 4096, 2 * 4096 + 100, 3 * 4096, len - 1] {
            let mut fill = vec![0u8; len];
            fill[at] = 0x80;
            assert!(!is_zero(&fill), "a byte at {at}");
            let mut bytes = segment(1, &[1]);
            let end = bytes.len();
            bytes.extend_from_slice(&fill);
            let tail = scan_segment(&bytes, &mut |_| {}).unwrap().torn_tail.unwrap();
            assert_eq!((tail.offset, tail.len), (end as u64, at as u64 + 1), "a byte at {at}");
        }
    }

    #[test]
    fn records_in_sequence_all_decode() {
        let bytes = segment(7, &[7, 8, 9]);
        let mut seen = Vec::new();
        let scan = scan_segment(&bytes, &mut |r| seen.push(r.lsn)).unwrap();
        assert_eq!(seen, vec![7, 8, 9]);
        assert!(scan.damage.is_empty() && scan.torn_tail.is_none());
    }

    #[test]
    fn each_kind_of_damage_is_named_with_its_lsns_and_lengths() {
        let mut bytes = segment(1, &[1, 2, 3]);
        let second = HEADER_LEN + RECORD_HEADER_LEN + 4;
        bytes[second + RECORD_HEADER_LEN] ^= 0xff; // payload of LSN 2
        let scan = scan_segment(&bytes, &mut |_| {}).unwrap();
        assert_eq!(
            scan.damage,
            vec![Damage { offset: second as u64, len: 20, reason: Corruption::CrcMismatch { lsn: 2 } }]
        );

        let bytes = segment(1, &[1, 1]);
        let scan = scan_segment(&bytes, &mut |_| {}).unwrap();
        assert_eq!(scan.last_lsn, Some(1));
        assert_eq!(scan.torn_tail.unwrap().reason, Corruption::LsnOutOfSequence { lsn: 1, expected: 2 });

        let mut bytes = segment(1, &[1]);
        encode_record(&mut bytes, 2, &event_payload(false, b"{}"));
        bytes.truncate(bytes.len() - 1);
        let tail = scan_segment(&bytes, &mut |_| {}).unwrap().torn_tail.unwrap();
        assert_eq!(tail.reason, Corruption::TruncatedRecord { len: 4 });

        let mut bytes = segment(1, &[1]);
        encode_record(&mut bytes, 2, b"Xyz");
        encode_record(&mut bytes, 3, &event_payload(false, b"{}"));
        let scan = scan_segment(&bytes, &mut |_| {}).unwrap();
        assert_eq!(scan.damage[0].reason, Corruption::UnknownKind { kind: b'X' });
        assert_eq!(scan.unverified(2), Some(Unverified::DamagedRecords { count: 1 }));
        assert_eq!(scan.unverified(2).unwrap().to_string(), "1 damaged records");

        // An event record cut short of its header is damage that says so, not an unknown kind;
        // the records around it are kept.
        let mut bytes = segment(1, &[1]);
        encode_record(&mut bytes, 2, &[KIND_EVENT_JSON_V2, 0, 1, 2, 3]);
        encode_record(&mut bytes, 3, &[KIND_EVENT_JSON_V1]);
        encode_record(&mut bytes, 4, &event_payload(false, b"{}"));
        let scan = scan_segment(&bytes, &mut |_| {}).unwrap();
        let reasons: Vec<_> = scan.damage.iter().map(|d| d.reason).collect();
        assert_eq!(
            reasons,
            [
                Corruption::ShortEventPayload { kind: KIND_EVENT_JSON_V2, len: 5, min: 18 },
                Corruption::ShortEventPayload { kind: KIND_EVENT_JSON_V1, len: 1, min: 2 }
            ]
        );
        assert_eq!(reasons[0].to_string(), "event record of kind 2 has 5 bytes, fewer than the 18 its header takes");
        assert_eq!((scan.event_records, scan.last_lsn), (2, Some(4)));

        assert_eq!(scan_segment(b"FRECWAL", &mut |_| {}).unwrap_err(), Corruption::ShortHeader { len: 7 });
        assert_eq!(scan_segment(&[0u8; HEADER_LEN], &mut |_| {}).unwrap_err(), Corruption::BadMagic);
    }
}
