//! Decoding one segment's bytes: the header, then every record, with the damage found.
//!
//! Scanning never fails on bad bytes: a record whose framing or checksum is wrong is reported
//! as [`Damage`] and the scan resynchronises on the next offset that holds a valid record with
//! a plausible LSN, so the valid records on both sides of a damaged one are kept. Bad bytes
//! with no valid record after them are the torn tail.

use super::format::{
    HEADER_LEN, KIND_SEAL, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN, SegmentHeader, read_u32, read_u64, split_event_payload,
};
use super::recovery::MappedSegment;

/// How far past the expected LSN a record found while resynchronising may be.
const LSN_WINDOW: u64 = 1 << 24;

/// One event record as stored.
#[derive(Debug, Clone, Copy)]
pub struct EventRecord<'a> {
    pub lsn: u64,
    /// Byte offset of the record's framing in the segment file.
    pub offset: u64,
    pub redacted: bool,
    /// The canonical event JSON.
    pub json: &'a [u8],
    /// The sealed, memory-mapped segment `json` lies in, when recovery replays one: a reader
    /// may keep a reference to it instead of copying the bytes.
    pub mapped: Option<&'a MappedSegment>,
}

/// A stretch of bytes that did not decode.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Damage {
    pub offset: u64,
    pub len: u64,
    pub reason: String,
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

impl SegmentScan {
    /// Why a sealed segment whose events were stored (`stored` of them) must not be deleted,
    /// or None when its scan was clean and every event its seal record counts was stored.
    pub fn unverified(&self, stored: u64) -> Option<String> {
        let records = self.event_records;
        if !self.damage.is_empty() {
            return Some(format!("{} damaged records", self.damage.len()));
        }
        if let Some(t) = &self.torn_tail {
            return Some(format!("bad bytes at offset {}: {}", t.offset, t.reason));
        }
        match self.sealed_events {
            None => Some("no seal record".to_string()),
            Some(sealed) if sealed != records => {
                Some(format!("the seal record counts {sealed} events, the scan found {records}"))
            }
            Some(_) if stored != records => Some(format!("{records} event records, {stored} stored")),
            Some(_) => None,
        }
    }
}

/// Scans a whole segment, calling `visit` for every valid event record in order.
/// Returns Err with a reason when the header itself is unreadable.
pub fn scan_segment(bytes: &[u8], visit: &mut dyn FnMut(EventRecord<'_>)) -> Result<SegmentScan, String> {
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
        match (split_event_payload(rec.payload), rec.payload.first()) {
            (Some((redacted, json)), _) => {
                visit(EventRecord { lsn: rec.lsn, offset: rec.offset as u64, redacted, json, mapped: None });
                scan.event_records += 1;
                scan.last_lsn = Some(rec.lsn);
                expected = successor(rec.lsn);
            }
            (None, Some(&KIND_SEAL)) => {
                scan.sealed_next_lsn = Some(rec.lsn);
                scan.sealed_events = (rec.payload.len() >= 9).then(|| read_u64(rec.payload, 1));
                if !is_zero(&bytes[pos..]) {
                    let len = bytes.len() - pos;
                    scan.torn_tail = Some(Damage {
                        offset: pos as u64,
                        len: len as u64,
                        reason: "bytes after the seal record".into(),
                    });
                }
                break;
            }
            _ => {
                let reason = "record of an unknown kind (written by a newer flightrec?)".to_string();
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
    if super::format::record_crc(lsn, payload) != read_u32(frame, 4) {
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
        format!("{} bytes of an incomplete record header", bytes.len() - at)
    } else if frame_len == 0 || frame_len > MAX_PAYLOAD_LEN {
        format!("implausible record length {frame_len}")
    } else if at + RECORD_HEADER_LEN + frame_len > bytes.len() {
        format!("record of {frame_len} bytes runs past the end of the file (torn write)")
    } else if lsn == u64::MAX {
        format!("record LSN {lsn} is the last of the LSN space: no record can follow it")
    } else if !lsn_in_sequence(lsn, expected) {
        format!("record LSN {lsn} is out of sequence (expected {expected})")
    } else {
        format!("checksum mismatch in record LSN {lsn}")
    };
    Damage { offset: at as u64, len: len as u64, reason }
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b != 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wal::format::{encode_record, event_payload};

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
        let bad = scan.torn_tail.unwrap();
        assert!(bad.reason.contains("last of the LSN space"), "{}", bad.reason);
    }

    #[test]
    fn records_in_sequence_all_decode() {
        let bytes = segment(7, &[7, 8, 9]);
        let mut seen = Vec::new();
        let scan = scan_segment(&bytes, &mut |r| seen.push(r.lsn)).unwrap();
        assert_eq!(seen, vec![7, 8, 9]);
        assert!(scan.damage.is_empty() && scan.torn_tail.is_none());
    }
}
