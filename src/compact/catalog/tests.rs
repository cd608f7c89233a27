#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use duckdb::arrow::array::{ArrayRef, StringArray, TimestampMicrosecondArray, UInt64Array};
use duckdb::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::*;

/// Micros of 2026-11-01T00:00:00Z: the staged events' timestamps count from it.
const T0: i64 = 1_793_491_200_000_000;

/// Trace ids (UUIDs, as FR-EVT requires).
const TR: &str = "0b8e6c52-53a4-4c1e-8d63-2f0d9a7b5c10";
const TR0: &str = "0b8e6c52-53a4-4c1e-8d63-2f0d9a7b5c00";
const TR1: &str = "0b8e6c52-53a4-4c1e-8d63-2f0d9a7b5c01";
const TR2: &str = "0b8e6c52-53a4-4c1e-8d63-2f0d9a7b5c02";
const TRU: &str = "0b8e6c52-53a4-4c1e-8d63-2f0d9a7b5cff";
const TRX: &str = "0b8e6c52-53a4-4c1e-8d63-2f0d9a7b5c0a";

/// One staged event: trace id, job id, seconds after [`T0`], LSN.
type Ev<'a> = (&'a str, Option<&'a str>, i64, u64);

fn staging_batch(segment: u64, events: &[Ev<'_>]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("trace_id", DataType::Utf8, false),
        Field::new("job_id", DataType::Utf8, true),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("lsn", DataType::UInt64, false),
        Field::new("segment", DataType::UInt64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.0))),
        Arc::new(StringArray::from(events.iter().map(|e| e.1).collect::<Vec<_>>())),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| T0 + e.2 * 1_000_000))
                .with_timezone("UTC"),
        ),
        Arc::new(UInt64Array::from_iter_values(events.iter().map(|e| e.3))),
        Arc::new(UInt64Array::from_iter_values(events.iter().map(|_| segment))),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

fn open() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.duckdb")).unwrap();
    (dir, catalog)
}

/// Stages `events` and records them as `segment`, in `files`.
fn record(catalog: &Catalog, segment: u64, files: &[&str], events: &[Ev<'_>]) {
    catalog.stage(staging_batch(segment, events)).unwrap();
    let files: Vec<String> = files.iter().map(|f| f.to_string()).collect();
    catalog.record_segment(segment, &files, 1234).unwrap();
}

/// The raw strings of a column, to check what is stored on disk.
fn stored_strings(catalog: &Catalog, sql: &str) -> Vec<String> {
    let mut stmt = catalog.conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<Vec<String>, _>>().unwrap()
}

#[test]
fn a_recorded_segment_is_listed_indexed_and_counted() {
    let (_dir, catalog) = open();
    assert_eq!(catalog.highest_lsn().unwrap(), 0, "an empty catalog");
    record(&catalog, 10, &["events/date=2026-11-01/seg-a.parquet"], &[(TR1, Some("j1"), 0, 10), (TR1, None, 5, 11)]);
    record(&catalog, 12, &["events/date=2026-11-01/seg-b.parquet"], &[(TR2, Some("j1"), 60, 12)]);

    let segments = catalog.segments().unwrap();
    assert_eq!(segments.len(), 2);
    let first = &segments[0];
    assert_eq!((first.segment, first.events, first.bytes, first.last_lsn), (10, 2, 1234, Some(11)));
    assert_eq!(first.state, SegmentState::Compacted);
    assert_eq!(first.files, vec!["events/date=2026-11-01/seg-a.parquet"]);
    assert_eq!(first.max_ts_micros, Some(T0 + 5_000_000));
    assert_eq!(catalog.highest_lsn().unwrap(), 12);

    let job = catalog.index_rows(IdIndex::Job, "j1").unwrap();
    assert_eq!(
        job.iter().map(|r| (r.segment, r.events, r.dropped)).collect::<Vec<_>>(),
        [(10, 1, false), (12, 1, false)]
    );
    assert_eq!(job[1].files.as_deref(), Some(&["events/date=2026-11-01/seg-b.parquet".to_string()][..]));
    let trace = catalog.index_rows(IdIndex::Trace, TR1).unwrap();
    assert_eq!(trace.len(), 1);
    assert_eq!((trace[0].events, trace[0].min_ts_micros, trace[0].max_ts_micros), (2, Some(T0), Some(T0 + 5_000_000)));
    assert!(catalog.index_rows(IdIndex::Trace, "j1").unwrap().is_empty(), "a job id is not a trace id");

    let stats = catalog.stats().unwrap();
    let want = CatalogStats {
        segments: 2,
        events: 3,
        files: 2,
        oldest_micros: Some(T0),
        newest_micros: Some(T0 + 60_000_000),
        ..CatalogStats::default()
    };
    assert_eq!(stats, want);
}

#[test]
fn recording_a_segment_again_replaces_its_rows() {
    let (_dir, catalog) = open();
    record(&catalog, 10, &["a.parquet"], &[(TR1, Some("j1"), 0, 10)]);
    record(&catalog, 10, &["a.parquet", "b.parquet"], &[(TR1, Some("j1"), 0, 10), (TR2, None, 1, 11)]);
    let segments = catalog.segments().unwrap();
    assert_eq!(segments.len(), 1);
    assert_eq!((segments[0].events, segments[0].files.len()), (2, 2));
    assert_eq!(catalog.index_rows(IdIndex::Trace, TR1).unwrap().len(), 1, "no index row is doubled");
    assert_eq!(catalog.index_rows(IdIndex::Job, "j1").unwrap().len(), 1);
}

#[test]
fn files_overlapping_prune_by_time_and_skip_dropping_segments() {
    let (_dir, catalog) = open();
    record(&catalog, 1, &["early.parquet"], &[(TR, None, 0, 1), (TR, None, 10, 2)]);
    record(&catalog, 3, &["late.parquet"], &[(TR, None, 100, 3)]);
    let at = |secs: i64| Some(T0 + secs * 1_000_000);
    assert_eq!(catalog.files_overlapping(None, None).unwrap(), ["early.parquet", "late.parquet"]);
    assert_eq!(catalog.files_overlapping(at(11), None).unwrap(), ["late.parquet"]);
    assert_eq!(catalog.files_overlapping(at(10), None).unwrap(), ["early.parquet", "late.parquet"], "inclusive from");
    assert_eq!(catalog.files_overlapping(None, at(100)).unwrap(), ["early.parquet"], "exclusive to");
    assert!(catalog.files_overlapping(at(11), at(100)).unwrap().is_empty());

    catalog.mark_dropping(&[1]).unwrap();
    assert_eq!(catalog.segments().unwrap()[0].state, SegmentState::Dropping);
    assert_eq!(catalog.files_overlapping(None, None).unwrap(), ["late.parquet"], "a dropping segment is not read");
    assert_eq!(catalog.stats().unwrap().segments, 1);
    assert_eq!(stored_strings(&catalog, "SELECT state FROM cat.segments ORDER BY segment"), ["dropping", "compacted"]);
}

#[test]
fn new_segments_have_the_summary_columns_and_those_of_a_version_3_catalog_do_not() {
    let (dir, catalog) = open();
    record(&catalog, 1, &["a.parquet", "b.parquet"], &[(TR, None, 0, 1)]);
    assert!(catalog.files_without_summary_columns().unwrap().is_empty(), "a segment compacted now has them");
    // Back to version 3 (the column dropped), then reopened: the migration marks the segment.
    catalog
        .conn
        .execute_batch("ALTER TABLE cat.segments DROP COLUMN summary_columns; UPDATE cat.catalog_meta SET value = 3 WHERE key = 'schema_version'")
        .unwrap();
    drop(catalog);
    let catalog = Catalog::open(&dir.path().join("catalog.duckdb")).unwrap();
    assert_eq!(catalog.files_without_summary_columns().unwrap(), ["a.parquet", "b.parquet"]);
    record(&catalog, 2, &["c.parquet"], &[(TR, None, 5, 2)]);
    assert_eq!(catalog.files_without_summary_columns().unwrap(), ["a.parquet", "b.parquet"]);
    catalog.mark_dropping(&[1]).unwrap();
    assert!(catalog.files_without_summary_columns().unwrap().is_empty(), "a dropping segment is not read");
}

#[test]
fn dropped_segments_move_to_the_retention_log_and_their_index_rows_stay_as_gaps() {
    let (_dir, catalog) = open();
    record(&catalog, 1, &["a.parquet"], &[(TR, Some("j"), 0, 1), (TR, Some("j"), 1, 2)]);
    record(&catalog, 3, &["b.parquet"], &[(TR, None, 100, 3)]);
    catalog.mark_dropping(&[1]).unwrap();
    catalog.drop_segments(&[1], 7.0).unwrap();

    assert_eq!(catalog.segments().unwrap().iter().map(|s| s.segment).collect::<Vec<_>>(), [3]);
    let log = catalog.retention_log().unwrap();
    let want = DroppedRow {
        segment: 1,
        first_lsn: Some(1),
        last_lsn: Some(2),
        events: 2,
        source: Source::Parquet,
        files: vec!["a.parquet".into()],
        window_days: 7.0,
    };
    assert_eq!(log, [want]);
    let trace = catalog.index_rows(IdIndex::Trace, TR).unwrap();
    assert_eq!(trace.iter().map(|r| (r.segment, r.dropped)).collect::<Vec<_>>(), [(1, true), (3, false)]);
    assert_eq!(trace[0].files, None, "a dropped segment has no files to read");
    assert_eq!(catalog.highest_lsn().unwrap(), 3);
    let stats = catalog.stats().unwrap();
    assert_eq!((stats.dropped_segments, stats.dropped_events, stats.dropped_index_rows), (1, 2, 2));
}

#[test]
fn a_dropped_wal_segment_is_logged_once_with_its_index_rows_dropped() {
    let (_dir, catalog) = open();
    for _ in 0..2 {
        catalog.stage(staging_batch(20, &[(TR, Some("j"), 0, 20), (TRU, None, 3, 21)])).unwrap();
        catalog.drop_staged_wal_segment(20, (20, 21), "wal/00000000000000000020.wal", 1.5).unwrap();
    }
    let bounds = catalog.staged_bounds().unwrap();
    assert_eq!(bounds, StagedBounds { newest_micros: Some(T0 + 3_000_000), first_lsn: Some(20), last_lsn: Some(21) });
    let log = catalog.retention_log().unwrap();
    assert_eq!(log.len(), 1, "dropping the same WAL segment again replaces its row");
    assert_eq!((log[0].source, log[0].events, log[0].last_lsn), (Source::Wal, 2, Some(21)));
    assert_eq!(log[0].files, ["wal/00000000000000000020.wal"]);
    assert_eq!(stored_strings(&catalog, "SELECT source FROM cat.retention_log"), ["wal"]);
    let job = catalog.index_rows(IdIndex::Job, "j").unwrap();
    assert_eq!(job.iter().map(|r| (r.segment, r.dropped, r.events)).collect::<Vec<_>>(), [(20, true, 1)]);
    assert!(catalog.segments().unwrap().is_empty(), "never compacted");
    assert_eq!(catalog.highest_lsn().unwrap(), 21);
}

#[test]
fn ids_and_paths_with_quotes_backslashes_and_nul_are_data() {
    let (_dir, catalog) = open();
    let hostile = ["x' OR '1'='1", "back\\slash", "nul\0byte", "%_"];
    let events: Vec<Ev<'_>> = hostile.iter().zip(1..).map(|(id, lsn)| (TR, Some(*id), 0, lsn)).collect();
    record(&catalog, 1, &["events/date=2026-11-01/it's \\ odd.parquet"], &events);
    record(&catalog, 9, &["other.parquet"], &[(TRX, Some("x"), 0, 9)]);
    for id in hostile {
        let rows = catalog.index_rows(IdIndex::Job, id).unwrap();
        assert_eq!(rows.iter().map(|r| (r.segment, r.events)).collect::<Vec<_>>(), [(1, 1)], "job {id:?}");
        assert!(catalog.index_rows(IdIndex::Trace, id).unwrap().is_empty(), "not a UUID: no trace {id:?}");
    }
    assert!(catalog.index_rows(IdIndex::Job, "x' OR '1'='1' --").unwrap().is_empty());
    assert!(catalog.index_rows(IdIndex::Job, "nul").unwrap().is_empty(), "NUL does not end the id");
    let upper = catalog.index_rows(IdIndex::Trace, &TR.to_uppercase()).unwrap();
    assert_eq!(upper.len(), 1, "a trace id is looked up as a UUID, whatever its case");
    assert_eq!(catalog.segments().unwrap()[0].files, ["events/date=2026-11-01/it's \\ odd.parquet"]);
}

#[test]
fn a_reader_sees_the_writes_and_recent_files_are_listed() {
    let (_dir, catalog) = open();
    let reader = catalog.reader().unwrap();
    record(&catalog, 1, &["a.parquet"], &[(TR, None, 0, 1)]);
    assert_eq!(reader.segments().unwrap().len(), 1);
    let now = chrono::Utc::now().timestamp_micros();
    assert_eq!(reader.files_compacted_since(now - 60_000_000).unwrap(), ["a.parquet"]);
    assert!(reader.files_compacted_since(now + 60_000_000).unwrap().is_empty());
}

#[test]
fn a_catalog_is_reopened_as_is_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.duckdb");
    {
        let catalog = Catalog::open(&path).unwrap();
        record(&catalog, 1, &["a.parquet"], &[(TR, None, 0, 1)]);
    }
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.segments().unwrap().len(), 1, "reopening migrates nothing and keeps the rows");
    catalog
        .conn
        .execute("UPDATE cat.catalog_meta SET value = ? WHERE key = 'schema_version'", [SCHEMA_VERSION + 1])
        .unwrap();
    drop(catalog);
    let Err(e) = Catalog::open(&path) else { unreachable!("a newer schema opened") };
    assert_eq!(e.code(), "HSK-500-CATALOG-VERSION", "{e}");
}

#[test]
fn states_and_sources_keep_their_stored_strings() {
    for (state, s) in [(SegmentState::Compacted, "compacted"), (SegmentState::Dropping, "dropping")] {
        assert_eq!((state.as_str(), SegmentState::parse(s)), (s, Some(state)));
    }
    for (source, s) in [(Source::Parquet, "parquet"), (Source::Wal, "wal")] {
        assert_eq!((source.as_str(), Source::parse(s)), (s, Some(source)));
        assert_eq!(serde_json::to_string(&source).unwrap(), format!("\"{s}\""));
    }
    assert_eq!(SegmentState::parse("Compacted"), None);
}

#[test]
fn segments_staged_together_are_recorded_in_one_call_each_with_its_own_rows() {
    let (_dir, catalog) = open();
    record(&catalog, 5, &["events/date=2026-11-01/seg-5.parquet"], &[(TR0, None, 0, 5)]);
    let ten = staging_batch(10, &[(TR1, Some("j1"), 0, 10), (TR2, None, 5, 11)]);
    catalog.stage_all(vec![ten, staging_batch(12, &[(TR1, Some("j1"), 60, 12)])]).unwrap();
    let (a, b) = (vec!["events/date=2026-11-01/seg-a.parquet".to_string()], vec!["b.parquet".to_string()]);
    let both =
        [CompactedSegment { segment: 10, files: &a, bytes: 1 }, CompactedSegment { segment: 12, files: &b, bytes: 2 }];
    catalog.record_segments(&both).unwrap();
    catalog.record_segments(&both).unwrap();
    let listed: Vec<(u64, u64, u64, Option<u64>)> =
        catalog.segments().unwrap().iter().map(|s| (s.segment, s.events, s.bytes, s.last_lsn)).collect();
    assert_eq!(
        listed,
        vec![(5, 1, 1234, Some(5)), (10, 2, 1, Some(11)), (12, 1, 2, Some(12))],
        "recording again replaces"
    );
    let t1: Vec<(u64, u64)> =
        catalog.index_rows(IdIndex::Trace, TR1).unwrap().iter().map(|r| (r.segment, r.events)).collect();
    assert_eq!(t1, vec![(10, 1), (12, 1)], "one index row per segment of the trace");
    assert_eq!(catalog.index_rows(IdIndex::Job, "j1").unwrap().len(), 2);
    assert_eq!(catalog.index_rows(IdIndex::Trace, TR0).unwrap().len(), 1, "other segments' rows stay");
}

/// `n` trace ids of segment `s` (UUIDs, distinct across segments).
fn trace_ids(s: u64, n: u64) -> Vec<String> {
    (0..n).map(|i| format!("{s:08x}-0000-4000-8000-{i:012x}")).collect()
}

/// Records segments 1..=`segments`, each with its own 200 traces and its own job.
fn record_many(catalog: &Catalog, segments: u64) {
    for s in 1..=segments {
        let ids = trace_ids(s, 200);
        let job = format!("job-{s}");
        let events: Vec<Ev<'_>> = ids.iter().map(|t| (t.as_str(), Some(job.as_str()), s as i64, s)).collect();
        record(catalog, s, &["a.parquet"], &events);
    }
}

/// The ART indexes DuckDB holds on the catalog's tables.
fn indexes(catalog: &Catalog) -> Vec<String> {
    stored_strings(catalog, "SELECT table_name || '.' || index_name FROM duckdb_indexes() WHERE database_name = 'cat'")
}

#[test]
fn ids_are_found_through_their_segments_filters_and_the_indexes_hold_no_art() {
    let (dir, catalog) = open();
    let reader = catalog.reader().unwrap();
    record_many(&catalog, 60);
    assert_eq!(indexes(&catalog), Vec::<String>::new(), "an ART index is held in memory whole as it grows");
    for s in [1, 30, 60] {
        let rows = reader.index_rows(IdIndex::Trace, &trace_ids(s, 200)[199]).unwrap();
        assert_eq!(rows.iter().map(|r| (r.segment, r.events)).collect::<Vec<_>>(), [(s, 1)], "segment {s}");
        let job = reader.index_rows(IdIndex::Job, &format!("job-{s}")).unwrap();
        assert_eq!(job.iter().map(|r| (r.segment, r.events)).collect::<Vec<_>>(), [(s, 200)]);
    }
    // An id no segment holds: the filters leave ~1 % of the segments to read, none with a row.
    let absent = trace_ids(999, 1000);
    let candidates: usize = absent.iter().map(|t| catalog.candidates(IdIndex::Trace, t).len()).sum();
    assert!(candidates < 60 * 1000 / 20, "{candidates} candidate segments for 1,000 absent ids over 60 segments");
    assert!(absent.iter().take(50).all(|t| reader.index_rows(IdIndex::Trace, t).unwrap().is_empty()));
    assert!(catalog.candidates(IdIndex::Trace, "not-a-uuid").is_empty());
    let bytes = catalog.id_filter_bytes();
    assert!(bytes > 0 && bytes <= 60 * (200 + 1) * 4, "{bytes} bytes of filters for 12,060 ids");

    drop((catalog, reader));
    let catalog = Catalog::open(&dir.path().join("catalog.duckdb")).unwrap();
    assert_eq!(catalog.index_rows(IdIndex::Trace, &trace_ids(42, 200)[7]).unwrap().len(), 1, "filters are stored");
    assert_eq!(catalog.index_rows(IdIndex::Job, "job-42").unwrap().len(), 1);
}

#[test]
fn a_version_4_catalog_gets_the_filters_of_its_index_rows_and_loses_its_art_indexes() {
    let (dir, catalog) = open();
    record_many(&catalog, 5);
    // Back to version 4: ART indexes, no filters.
    catalog
        .conn
        .execute_batch(
            "DROP TABLE cat.id_filters; CREATE INDEX trace_index_id ON cat.trace_index (trace_id); \
             CREATE INDEX job_index_id ON cat.job_index (job_id); \
             UPDATE cat.catalog_meta SET value = 4 WHERE key = 'schema_version'",
        )
        .unwrap();
    assert_eq!(indexes(&catalog).len(), 2);
    drop(catalog);
    let catalog = Catalog::open(&dir.path().join("catalog.duckdb")).unwrap();
    assert_eq!(indexes(&catalog), Vec::<String>::new());
    for s in 1..=5 {
        assert_eq!(catalog.index_rows(IdIndex::Trace, &trace_ids(s, 200)[s as usize]).unwrap().len(), 1);
        assert_eq!(catalog.index_rows(IdIndex::Job, &format!("job-{s}")).unwrap()[0].events, 200);
    }
}

/// Every stored filter, as (kind, segment, bytes), in order.
fn stored_filters(catalog: &Catalog) -> Vec<(String, u64, Vec<u8>)> {
    let mut stmt = catalog.conn.prepare("SELECT kind, segment, filter FROM cat.id_filters ORDER BY ALL").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn the_filters_built_from_staged_batches_are_those_of_the_index_rows() {
    let (_dir, catalog) = open();
    record_many(&catalog, 3);
    // Two segments staged together, ids repeated within a segment, a trace id no UUID cast
    // accepts (left out of the index), segments without job ids, and a segment recorded again.
    let four: Vec<Ev<'_>> = [TR1, TR1, TR2, "not-a-uuid"].iter().map(|t| (*t, Some("j4"), 0, 4)).collect();
    let five: Vec<Ev<'_>> = [TR2, TRX, TRX].iter().map(|t| (*t, None, 1, 5)).collect();
    for _ in 0..2 {
        catalog.stage_all(vec![staging_batch(4, &four), staging_batch(5, &five)]).unwrap();
        let files = vec!["b.parquet".to_string()];
        let rows = [4, 5].map(|segment| CompactedSegment { segment, files: &files, bytes: 1 });
        catalog.record_segments(&rows).unwrap();
    }
    let written = stored_filters(&catalog);
    let kinds: Vec<(&str, u64)> = written.iter().map(|(k, s, _)| (k.as_str(), *s)).collect();
    let expected = [("job", 1), ("job", 2), ("job", 3), ("job", 4), ("trace", 1), ("trace", 2), ("trace", 3)];
    assert_eq!(kinds, [&expected[..], &[("trace", 4), ("trace", 5)]].concat());
    assert_eq!(catalog.index_rows(IdIndex::Trace, TRX).unwrap().iter().map(|r| r.segment).collect::<Vec<_>>(), [5]);

    let tx = catalog.conn.unchecked_transaction().unwrap();
    tx.execute_batch("DELETE FROM cat.id_filters").unwrap();
    filters::build_from_index_rows(&tx).unwrap();
    assert_eq!(stored_filters(&catalog), written, "the same ids, the same sizes, the same bits");
}

#[test]
fn unreadable_id_filters_are_rebuilt_from_the_index_rows_at_open() {
    let (dir, catalog) = open();
    record_many(&catalog, 4);
    let written = stored_filters(&catalog);
    catalog.conn.execute_batch("UPDATE cat.id_filters SET filter = '\\x00\\x01'::BLOB WHERE segment = 2").unwrap();
    catalog.conn.execute_batch("UPDATE cat.id_filters SET kind = 'span' WHERE segment = 3 AND kind = 'job'").unwrap();
    drop(catalog);
    let catalog = Catalog::open(&dir.path().join("catalog.duckdb")).unwrap();
    assert_eq!(stored_filters(&catalog), written);
    assert_eq!(catalog.index_rows(IdIndex::Trace, &trace_ids(2, 200)[9]).unwrap().len(), 1);
    assert_eq!(catalog.index_rows(IdIndex::Job, "job-3").unwrap().len(), 1);
}

#[path = "shipments_tests.rs"]
mod shipments;
