//! Reading a sealed segment for the Parquet writer without holding its events decoded all at
//! once: one pass verifies the records (CRC, framing, LSNs) and reads only each event's sort
//! key (timestamp and type, from the canonical prefix of its JSON), the keys are sorted into
//! file order and cut into runs of one UTC date and row groups of [`ROW_GROUP_SIZE`], and
//! each row group is decoded into an Arrow batch only when it is written
//! ([`SortedSegment::decode`]). What the compactor holds for a segment is so its mapping,
//! one key per event and the few row groups being encoded, whatever the segment's size.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use chrono::DateTime;
use duckdb::arrow::error::ArrowError;
use duckdb::arrow::record_batch::RecordBatch;

use super::batch::BatchBuilder;
use super::summary_fields::SummaryFields;
use crate::stored::{StoredEnvelope, canonical_micros};
use crate::wal::{Corruption, MappedSegment, SegmentScan, scan_segment};

/// Rows per Parquet row group: files are sorted by time, so a trace, job or one-hour lookup
/// decompresses only the row groups of its time span. 2,048 made lookups no faster but full
/// scans 2.4x slower (8x the row-group metadata); 16,384 made lookups 40 % slower.
pub const ROW_GROUP_SIZE: usize = 8_192;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// What orders an event in its file: by (timestamp, LSN) into row groups, then inside a row
/// group by (type, timestamp, LSN). The type is its rank among the segment's types, so that
/// sorting reads no byte of the segment again (whose pages may be released by then).
struct Key {
    micros: i64,
    lsn: u64,
    ty: u32,
    record: u32,
}

/// The rows of one UTC date: one Parquet file.
pub struct DateRows {
    pub date: String,
    /// Positions in the file order.
    rows: Range<usize>,
}

/// Bytes of a mapped segment verified between two releases of their pages.
const RELEASE_STEP: usize = 4 << 20;

/// A verified segment's events in file order, decoded a row group at a time.
pub struct SortedSegment<'a> {
    segment: u64,
    bytes: SegmentText<'a>,
    records: Vec<RecordAt>,
    /// Indexes into `records` of the events with a key, in file order.
    order: Vec<u32>,
    dates: Vec<DateRows>,
    pub scan: SegmentScan,
    /// Records whose checksum held but whose envelope did not decode.
    pub undecodable: u64,
    /// LSN of the last valid event record.
    pub last_lsn: Option<u64>,
}

/// The bytes a sorted segment's records are in: borrowed, or a mapping it holds, whose pages
/// are released as row groups are decoded (so a sorted segment can be handed to another
/// thread with its mapping).
enum SegmentText<'a> {
    Borrowed(&'a [u8]),
    Mapped(MappedSegment),
}

impl SegmentText<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            SegmentText::Borrowed(bytes) => bytes,
            SegmentText::Mapped(mapping) => mapping,
        }
    }

    fn mapping(&self) -> Option<&MappedSegment> {
        match self {
            SegmentText::Borrowed(_) => None,
            SegmentText::Mapped(mapping) => Some(mapping),
        }
    }
}

/// A verified event record: where its JSON is in the segment.
struct RecordAt {
    json: Range<usize>,
    lsn: u64,
    redacted: bool,
}

impl<'a> SortedSegment<'a> {
    /// Verifies the segment `bytes` (whose first LSN is `segment`) and sorts its events; the
    /// error says its header is unreadable.
    pub fn new(bytes: &'a [u8], segment: u64) -> Result<SortedSegment<'a>, Corruption> {
        SortedSegment::build(SegmentText::Borrowed(bytes), segment)
    }

    /// [`SortedSegment::new`] of a mapped segment, which it keeps: its pages leave the
    /// resident set as they are verified, and then each row group's once it is decoded:
    /// compacting a segment keeps the pages of the row groups in flight resident, not the
    /// whole mapping (a page that is read again, e.g. one two row groups share, comes back
    /// from the page cache).
    pub fn new_mapped(mapping: MappedSegment, segment: u64) -> Result<SortedSegment<'static>, Corruption> {
        SortedSegment::build(SegmentText::Mapped(mapping), segment)
    }

    fn build(bytes: SegmentText<'a>, segment: u64) -> Result<SortedSegment<'a>, Corruption> {
        let mut records: Vec<RecordAt> = Vec::new();
        let mut keys: Vec<Key> = Vec::new();
        let mut types: HashMap<String, u32> = HashMap::new();
        let (text, mapping) = (bytes.bytes(), bytes.mapping());
        let mut released = 0usize;
        // One pass reads each page once: verified, keyed, then released.
        let scan = scan_segment(text, &mut |rec| {
            let json = rec.json_range_in(text).unwrap_or_default();
            let at = json.start;
            if let Some(mapping) = mapping.filter(|_| at >= released + RELEASE_STEP) {
                mapping.release(released..at);
                released = at;
            }
            if let (Some((micros, ty)), Ok(record)) = (sort_key(rec.json), u32::try_from(records.len())) {
                let next = u32::try_from(types.len()).unwrap_or(u32::MAX);
                let ty = match types.get(ty.as_ref()) {
                    Some(id) => *id,
                    None => *types.entry(ty.into_owned()).or_insert(next),
                };
                keys.push(Key { micros, lsn: rec.lsn, ty, record });
            }
            records.push(RecordAt { json, lsn: rec.lsn, redacted: rec.redacted });
        })?;
        if let Some(mapping) = mapping {
            mapping.release(released..mapping.len());
        }
        let last_lsn = records.last().map(|r| r.lsn);
        let rank = type_ranks(types);
        for key in &mut keys {
            key.ty = rank.get(key.ty as usize).copied().unwrap_or(u32::MAX);
        }
        let undecodable = (records.len() - keys.len()) as u64;
        keys.sort_unstable_by_key(|k| (k.micros, k.lsn));
        let dates = date_runs(&keys);
        for run in &dates {
            for group in keys.get_mut(run.rows.clone()).unwrap_or_default().chunks_mut(ROW_GROUP_SIZE) {
                group.sort_unstable_by(|x, y| x.ty.cmp(&y.ty).then((x.micros, x.lsn).cmp(&(y.micros, y.lsn))));
            }
        }
        let order = keys.into_iter().map(|k| k.record).collect();
        Ok(SortedSegment { segment, bytes, records, order, dates, scan, undecodable, last_lsn })
    }

    /// The UTC dates of the events, in order, with their rows.
    pub fn dates(&self) -> &[DateRows] {
        &self.dates
    }

    /// The row groups of one date: positions in the file order, [`ROW_GROUP_SIZE`] at most.
    pub fn row_groups(&self, date: &DateRows) -> Vec<Range<usize>> {
        let Range { start, end } = date.rows;
        (start..end).step_by(ROW_GROUP_SIZE).map(|s| s..(s + ROW_GROUP_SIZE).min(end)).collect()
    }

    /// Every row group of the segment, date after date.
    pub fn all_row_groups(&self) -> Vec<Range<usize>> {
        self.dates.iter().flat_map(|d| self.row_groups(d)).collect()
    }

    /// The events at `rows` (positions in the file order) as a batch in that order (columns
    /// of [`BatchBuilder::finish`]), and how many of them did not decode after all.
    pub fn decode(&self, rows: Range<usize>) -> Result<(RecordBatch, u64), ArrowError> {
        let records: Vec<&RecordAt> =
            self.order.get(rows).unwrap_or_default().iter().filter_map(|i| self.records.get(*i as usize)).collect();
        let json_bytes = records.iter().map(|r| r.json.len()).sum();
        let mut builder = BatchBuilder::with_capacity(records.len(), json_bytes);
        let mut undecodable = 0u64;
        let text = self.bytes.bytes();
        for rec in &records {
            let json = text.get(rec.json.clone()).unwrap_or_default();
            // The summary fields are read in the one pass over the payload that checks it.
            match StoredEnvelope::parse_with(json, SummaryFields::read) {
                Ok((e, fields)) => builder.push(&e, &fields.unwrap_or_default(), rec.lsn, self.segment, rec.redacted),
                Err(_) => undecodable += 1,
            }
        }
        if let Some(mapping) = self.bytes.mapping() {
            mapping.release(byte_span(&records));
        }
        Ok((builder.finish()?, undecodable))
    }

    /// The size of the segment's bytes.
    pub fn wal_bytes(&self) -> usize {
        self.bytes.bytes().len()
    }
}

/// The rank of each type id (ids by first appearance) in the types' string order.
fn type_ranks(types: HashMap<String, u32>) -> Vec<u32> {
    let mut by_name: Vec<(String, u32)> = types.into_iter().collect();
    by_name.sort_unstable();
    let mut rank = vec![0; by_name.len()];
    for (r, (_, id)) in (0u32..).zip(by_name) {
        if let Some(slot) = rank.get_mut(id as usize) {
            *slot = r;
        }
    }
    rank
}

/// The bytes the JSON of `records` spans (empty when there are none).
fn byte_span(records: &[&RecordAt]) -> Range<usize> {
    let start = records.iter().map(|r| r.json.start).min();
    let end = records.iter().map(|r| r.json.end).max();
    start.unwrap_or(0)..end.unwrap_or(0)
}

/// The runs of one UTC date of keys sorted by time.
fn date_runs(keys: &[Key]) -> Vec<DateRows> {
    let mut runs: Vec<(i64, Range<usize>)> = Vec::new();
    for (pos, key) in keys.iter().enumerate() {
        let day = key.micros.div_euclid(MICROS_PER_DAY);
        match runs.last_mut() {
            Some((last, rows)) if *last == day => rows.end = pos + 1,
            _ => runs.push((day, pos..pos + 1)),
        }
    }
    runs.into_iter().map(|(day, rows)| DateRows { date: date_of(day), rows }).collect()
}

/// `YYYY-MM-DD` of a day counted from the epoch (what [`StoredEnvelope::date`] gives its events).
fn date_of(day: i64) -> String {
    DateTime::from_timestamp_micros(day.saturating_mul(MICROS_PER_DAY))
        .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
}

/// An event's timestamp (UTC microseconds) and type: read in place from the canonical prefix
/// `{"type":"…","event_id":"…","timestamp":"…"` (`Event::to_json`), else from a decode of the
/// envelope. None when the envelope does not decode.
fn sort_key(json: &[u8]) -> Option<(i64, Cow<'_, str>)> {
    canonical_sort_key(json).or_else(|| {
        let e = StoredEnvelope::parse(json).ok()?;
        Some((e.timestamp.timestamp_micros(), Cow::Owned(e.ty.into_owned())))
    })
}

fn canonical_sort_key(json: &[u8]) -> Option<(i64, Cow<'_, str>)> {
    let rest = json.strip_prefix(b"{\"type\":\"")?;
    let type_end = rest.iter().position(|b| *b == b'"')?;
    let ty = std::str::from_utf8(rest.get(..type_end)?).ok().filter(|t| !t.contains('\\'))?;
    let rest = rest.get(type_end..)?.strip_prefix(b"\",\"event_id\":\"")?;
    let rest = rest.get(36..)?.strip_prefix(b"\",\"timestamp\":\"")?;
    let end = rest.iter().position(|b| *b == b'"')?;
    let text = std::str::from_utf8(rest.get(..end)?).ok().filter(|t| !t.contains('\\'))?;
    let micros = canonical_micros(text.as_bytes()).or_else(|| {
        // The same parse as the envelope's (`DateTime<Utc>`'s serde), so both agree on the key.
        Some(text.parse::<DateTime<chrono::FixedOffset>>().ok()?.timestamp_micros())
    })?;
    Some((micros, Cow::Borrowed(ty)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wal::format::{SegmentHeader, encode_record, event_payload};
    use duckdb::arrow::array::{Array, AsArray};
    use duckdb::arrow::datatypes::UInt64Type;

    fn event(i: u64, ty: &str, second: u64) -> String {
        let t = DateTime::from_timestamp(1_764_464_400 + second as i64, 0).unwrap();
        let t = crate::event::time::format_rfc3339(&t);
        format!(
            r#"{{"type":"{ty}","event_id":"00000000-0000-4000-8000-{i:012}","timestamp":"{t}","actor":"a","trace_id":"t","payload":{{"n":{i}}}}}"#
        )
    }

    fn segment(jsons: &[String]) -> Vec<u8> {
        let mut bytes = SegmentHeader { first_lsn: 1, created_micros: 0 }.encode().to_vec();
        for (lsn, json) in (1..).zip(jsons) {
            encode_record(&mut bytes, lsn, &event_payload(false, json.as_bytes()));
        }
        bytes
    }

    fn lsns(batch: &RecordBatch) -> Vec<u64> {
        batch.column_by_name("lsn").unwrap().as_primitive::<UInt64Type>().values().to_vec()
    }

    #[test]
    fn row_groups_hold_time_slices_ordered_by_type_inside_and_bad_records_are_counted() {
        let n = 2 * ROW_GROUP_SIZE as u64 + 5;
        // LSN order is not time order: odd LSNs are a minute late.
        let jsons: Vec<String> = (1..=n)
            .map(|lsn| match lsn {
                7 => "not json".to_string(),
                _ => event(lsn, if lsn % 3 == 0 { "b" } else { "a" }, lsn / 2 + (lsn % 2) * 60),
            })
            .collect();
        let bytes = segment(&jsons);
        let sorted = SortedSegment::new(&bytes, 1).unwrap();
        assert_eq!((sorted.undecodable, sorted.last_lsn), (1, Some(n)));
        let groups = sorted.all_row_groups();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), vec![8_192, 8_192, 4]);
        let mut seen = Vec::new();
        let mut previous_max = i64::MIN;
        for group in groups {
            let (batch, bad) = sorted.decode(group).unwrap();
            assert_eq!(bad, 0);
            let types: Vec<&str> = batch.column_by_name("type").unwrap().as_string::<i32>().iter().flatten().collect();
            assert!(types.is_sorted(), "ordered by type inside the row group");
            let times = batch.column(2).as_primitive::<duckdb::arrow::datatypes::TimestampMicrosecondType>();
            let (min, max) = (times.values().iter().min().unwrap(), times.values().iter().max().unwrap());
            assert!(*min >= previous_max, "row groups are time slices");
            previous_max = *max;
            assert_eq!(batch.column(0).null_count(), 0);
            seen.extend(lsns(&batch));
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..=n).filter(|l| *l != 7).collect::<Vec<_>>());
    }

    /// Resident kB of the mapping that holds `ptr` (/proc/self/smaps).
    fn resident_kib(ptr: *const u8) -> u64 {
        let kib = crate::testing::smaps_field(ptr as usize, "Rss:").unwrap(); // a mapping holds it
        kib.trim().trim_end_matches("kB").trim().parse().unwrap()
    }

    #[test]
    fn a_mapped_segment_leaves_the_resident_set_as_it_is_verified_and_decoded_and_decodes_the_same() {
        let n = 8 * ROW_GROUP_SIZE as u64;
        let jsons: Vec<String> = (1..=n).map(|lsn| event(lsn, "a", lsn / 4)).collect();
        let bytes = segment(&jsons);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000001.wal");
        std::fs::write(&path, &bytes).unwrap();
        let mapping = crate::wal::SegmentDir::new(crate::fsio::real(), dir.path()).map(&path).unwrap();
        assert!(mapping.len() > 2 * RELEASE_STEP, "{} bytes", mapping.len());

        let kept = SortedSegment::new(&mapping, 1).unwrap();
        let all_kib = resident_kib(mapping.as_ptr());
        assert!(all_kib * 1024 >= mapping.len() as u64 - 4096, "verifying reads every page: {all_kib} kB");
        let released = SortedSegment::new_mapped(mapping.clone(), 1).unwrap();
        let after_verify = resident_kib(mapping.as_ptr());
        assert!(after_verify * 1024 <= RELEASE_STEP as u64 / 4, "{after_verify} kB resident after verifying");
        for group in released.all_row_groups() {
            // The group read without releasing first: decoding it again releases its pages.
            let (theirs, _) = kept.decode(group.clone()).unwrap();
            let (ours, _) = released.decode(group).unwrap();
            assert!(resident_kib(mapping.as_ptr()) * 1024 <= RELEASE_STEP as u64 / 4, "released after each group");
            assert_eq!(ours, theirs, "the same rows whether released or not");
        }
    }

    #[test]
    fn a_payload_is_kept_when_its_summary_fields_are_mistyped_and_counted_when_it_is_not_json() {
        let with_payload = |i: u64, payload: &str| event(i, "tool_call", 1).replace(r#"{"n":"#, payload);
        let kept = with_payload(1, r#"{"tool_id":5,"n":"#);
        let broken = with_payload(2, r#"{"tool_id":,"n":"#);
        let summed = with_payload(3, r#"{"tool_id":"fs.read","n":"#);
        let bytes = segment(&[kept, broken, summed]);
        let sorted = SortedSegment::new(&bytes, 1).unwrap();
        let (batch, bad) = sorted.decode(sorted.all_row_groups()[0].clone()).unwrap();
        assert_eq!((sorted.undecodable, bad, lsns(&batch)), (0, 1, vec![1, 3]));
        let tools: Vec<Option<&str>> = batch.column_by_name("tool_id").unwrap().as_string::<i32>().iter().collect();
        assert_eq!(tools, vec![None, Some("fs.read")]);
    }

    #[test]
    fn a_non_canonical_envelope_is_sorted_by_its_decoded_key() {
        let canonical = event(1, "a", 30);
        let reordered = r#"{"event_id":"00000000-0000-4000-8000-000000000002","type":"a","actor":"a","trace_id":"t","timestamp":"2025-11-30T01:00:10+00:00","payload":{}}"#;
        let bytes = segment(&[canonical, reordered.to_string()]);
        let sorted = SortedSegment::new(&bytes, 1).unwrap();
        let (batch, bad) = sorted.decode(sorted.all_row_groups()[0].clone()).unwrap();
        assert_eq!((bad, lsns(&batch)), (0, vec![2, 1]));
        assert_eq!(sorted.dates()[0].date, "2025-11-30");
    }
}
