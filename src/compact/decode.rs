//! Decoding a sealed segment into Arrow batches on every core: one pass verifies the
//! records (CRC, framing, LSNs) and collects them in place, then each decoding thread parses
//! its contiguous share of them into a batch of its own. The batches together hold the
//! segment's events in LSN order; nothing is concatenated (the writer interleaves them in
//! file order, see [`super::parquet_file`]), so the segment's events are held once.

use duckdb::arrow::error::ArrowError;
use duckdb::arrow::record_batch::RecordBatch;

use super::batch::BatchBuilder;
use crate::stored::StoredEnvelope;
use crate::wal::{Corruption, EventRecord, SegmentScan, scan_segment};

/// Below this many records one thread decodes the segment (a thread costs more than it saves).
const RECORDS_PER_THREAD: usize = 8_192;

/// Most threads one segment is decoded on.
const MAX_THREADS: usize = 8;

/// A segment's events as Arrow batches (their concatenation is in LSN order).
pub struct DecodedSegment {
    pub batches: Vec<RecordBatch>,
    pub scan: SegmentScan,
    pub events: u64,
    /// Records whose checksum held but whose JSON did not decode.
    pub undecodable: u64,
    /// LSN of the last valid event record.
    pub last_lsn: Option<u64>,
}

/// Decodes the segment `bytes` (whose first LSN is `segment`). The outer error is Arrow's;
/// the inner one says the header is unreadable.
pub fn decode_segment(bytes: &[u8], segment: u64) -> Result<Result<DecodedSegment, Corruption>, ArrowError> {
    let mut records: Vec<EventRecord<'_>> = Vec::new();
    let scan = match scan_segment(bytes, &mut |rec| records.push(rec)) {
        Ok(scan) => scan,
        Err(header) => return Ok(Err(header)),
    };
    let last_lsn = records.last().map(|r| r.lsn);
    let threads = threads_for(records.len());
    let share = records.len().div_ceil(threads).max(1);
    let decoded: Vec<Result<(RecordBatch, u64), ArrowError>> = if threads == 1 {
        vec![decode_records(&records, segment)]
    } else {
        std::thread::scope(|scope| {
            let mut chunks = records.chunks(share);
            let first = chunks.next().unwrap_or_default();
            let others: Vec<_> = chunks.map(|chunk| scope.spawn(move || decode_records(chunk, segment))).collect();
            let mut decoded = vec![decode_records(first, segment)];
            decoded.extend(others.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(thread_died()))));
            decoded
        })
    };
    let (mut batches, mut undecodable) = (Vec::with_capacity(decoded.len()), 0);
    for result in decoded {
        let (batch, bad) = result?;
        undecodable += bad;
        batches.push(batch);
    }
    let events = batches.iter().map(|b| b.num_rows() as u64).sum();
    Ok(Ok(DecodedSegment { batches, scan, events, undecodable, last_lsn }))
}

/// How many threads decode `records` records.
fn threads_for(records: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores.min(MAX_THREADS).min(records / RECORDS_PER_THREAD).max(1)
}

/// One batch of the decodable records, and how many did not decode.
fn decode_records(records: &[EventRecord<'_>], segment: u64) -> Result<(RecordBatch, u64), ArrowError> {
    let mut builder = BatchBuilder::with_capacity(records.len(), records.iter().map(|r| r.json.len()).sum());
    let mut undecodable = 0u64;
    for rec in records {
        match StoredEnvelope::parse(rec.json) {
            Ok(e) => builder.push(&e, rec.lsn, segment, rec.redacted),
            Err(_) => undecodable += 1,
        }
    }
    Ok((builder.finish()?, undecodable))
}

fn thread_died() -> ArrowError {
    ArrowError::ComputeError("a segment decoding thread stopped early".into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wal::format::{SegmentHeader, encode_record, event_payload};
    use duckdb::arrow::array::{Array, AsArray};
    use duckdb::arrow::datatypes::UInt64Type;

    fn event(i: u64) -> String {
        format!(
            r#"{{"type":"tool_call","event_id":"00000000-0000-4000-8000-{i:012}","timestamp":"2026-11-30T01:02:03Z","actor":"a","trace_id":"t","payload":{{"n":{i}}}}}"#
        )
    }

    #[test]
    fn a_large_segment_decodes_on_several_threads_in_lsn_order_and_counts_the_bad_records() {
        let n = 3 * RECORDS_PER_THREAD as u64 + 5;
        let mut bytes = SegmentHeader { first_lsn: 1, created_micros: 0 }.encode().to_vec();
        for lsn in 1..=n {
            let json = if lsn == 7 { "not json".to_string() } else { event(lsn) };
            encode_record(&mut bytes, lsn, &event_payload(false, json.as_bytes()));
        }
        let decoded = decode_segment(&bytes, 1).unwrap().unwrap();
        assert_eq!((decoded.events, decoded.undecodable, decoded.last_lsn), (n - 1, 1, Some(n)));
        let lsns: Vec<u64> = decoded
            .batches
            .iter()
            .flat_map(|b| b.column_by_name("lsn").unwrap().as_primitive::<UInt64Type>().values().to_vec())
            .collect();
        let expected: Vec<u64> = (1..=n).filter(|l| *l != 7).collect();
        assert_eq!(lsns, expected);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(decoded.batches.len(), cores.min(3), "one batch per decoding thread");
        assert!(decoded.batches.iter().all(|b| b.column(0).null_count() == 0));
    }
}
