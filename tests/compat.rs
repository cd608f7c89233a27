#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Format compatibility: a WAL segment and a Parquet file written by flightrec 0.1.0 (the
//! first nine events of `tests/data/sample-events.ndjson`) must stay readable, so a change of
//! the format cannot silently break old data; a file shipped to object storage has the same
//! columns and reads through the fleet layout. See docs/format.md.

mod common;

use std::path::Path;

use flightrec::compact::catalog::IdIndex;
use flightrec::event::parse_event;
use flightrec::wal::scan_segment;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/compat");

fn sample_ids(n: usize) -> Vec<String> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-events.ndjson")).unwrap();
    text.lines().take(n).map(|l| parse_event(l.as_bytes()).unwrap().event.event_id.to_string()).collect()
}

#[test]
fn a_v0_1_0_wal_segment_still_decodes() {
    let bytes = std::fs::read(Path::new(DIR).join("v0.1.0-segment.wal")).unwrap();
    let mut ids = Vec::new();
    let mut lsns = Vec::new();
    let scan = scan_segment(&bytes, &mut |rec| {
        lsns.push(rec.lsn);
        ids.push(parse_event(rec.json).unwrap().event.event_id.to_string());
    })
    .unwrap();
    assert_eq!(scan.first_lsn, 1);
    assert_eq!(lsns, (1..=9).collect::<Vec<u64>>());
    assert_eq!(scan.sealed_next_lsn, Some(10), "the seal record names the next segment");
    assert!(scan.damage.is_empty() && scan.torn_tail.is_none());
    assert_eq!(ids, sample_ids(9));
}

#[test]
fn a_v0_1_0_parquet_file_still_reads_with_the_same_columns() {
    let file = Path::new(DIR).join("v0.1.0-events.parquet");
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let sql = format!(
        "SELECT event_id, type, epoch_us(timestamp), actor, trace_id, payload::VARCHAR, lsn, segment, redacted \
         FROM read_parquet('{}') ORDER BY lsn",
        file.display()
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let rows: Vec<(String, String, i64, u64, bool, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(6)?, r.get(8)?, r.get(5)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 9);
    let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(ids, sample_ids(9));
    assert_eq!(rows.iter().map(|r| r.3).collect::<Vec<u64>>(), (1..=9).collect::<Vec<u64>>());
    assert_eq!(rows[2].1, "llm_inference");
    assert!(rows[2].5.contains("\"total\":908"), "payload JSON kept: {}", rows[2].5);
    assert!(rows.iter().all(|r| !r.4), "nothing in the sample needed redaction");
}

#[test]
fn a_schema_1_catalog_is_migrated_and_finds_its_traces_by_uuid() {
    // Written by the build before trace ids were stored as UUIDs (catalog schema version 1):
    // the first 24 events of the sample, ingested and compacted into one segment.
    let gz = std::fs::read(Path::new(DIR).join("v0.1.0-catalog.duckdb.gz")).unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.duckdb");
    std::fs::write(&path, bytes).unwrap();

    let catalog = flightrec::compact::Catalog::open(&path).unwrap();
    let rows = catalog.index_rows(IdIndex::Trace, "0b8e6c52-53a4-4c1e-8d63-2f0d9a7b5c11").unwrap();
    assert_eq!(rows.iter().map(|r| (r.segment, r.events)).collect::<Vec<_>>(), [(1, 8)]);
    assert_eq!(rows[0].files.as_ref().map(Vec::len), Some(3), "with the segment's three files (one per date)");
    let upper = catalog.index_rows(IdIndex::Trace, "0B8E6C52-53A4-4C1E-8D63-2F0D9A7B5C11").unwrap();
    assert_eq!(upper.len(), 1, "a UUID is found whatever its case");
    assert_eq!(catalog.index_rows(IdIndex::Job, "job-42").unwrap().len(), 1, "job ids are unchanged");
    drop(catalog);

    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute("ATTACH ? AS cat (READ_ONLY)", [path.display().to_string()]).unwrap();
    let sql = "SELECT data_type FROM duckdb_columns() WHERE database_name = 'cat' AND table_name = 'trace_index' \
               AND column_name = 'trace_id'";
    let column_type: String = conn.query_row(sql, [], |r| r.get(0)).unwrap();
    assert_eq!(column_type, "UUID");
    let version: i64 =
        conn.query_row("SELECT value FROM cat.catalog_meta WHERE key = 'schema_version'", [], |r| r.get(0)).unwrap();
    assert_eq!(version, flightrec::compact::catalog::SCHEMA_VERSION);
}

/// The columns and types DuckDB reads from `source` (a `read_parquet(...)` call).
fn columns(conn: &duckdb::Connection, source: &str) -> Vec<(String, String)> {
    let mut stmt = conn.prepare(&format!("DESCRIBE SELECT * FROM {source}")).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

#[test]
fn a_shipped_file_has_the_v0_1_0_columns_and_reads_through_the_fleet_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, bucket) = (tmp.path().join("data"), tmp.path().join("bucket"));
    let lines: Vec<String> = common::sample_lines().into_iter().take(9).collect();
    common::record(&data, &lines, 100);
    let compact = common::flightrec(&data, &["compact"]);
    assert!(compact.status.success(), "{compact:?}");
    let target = format!("file://{}/fleet", bucket.display());
    let ship = common::flightrec(&data, &["ship", "--ship-to", &target, "--host-id", "compat-host"]);
    assert!(ship.status.success(), "{ship:?}");

    let conn = duckdb::Connection::open_in_memory().unwrap();
    let old = format!("read_parquet('{}')", Path::new(DIR).join("v0.1.0-events.parquet").display());
    let glob = bucket.join("fleet/host=*/events/*/*.parquet");
    let shipped = format!("read_parquet('{}', hive_partitioning = false)", glob.display());
    assert_eq!(columns(&conn, &shipped), columns(&conn, &old), "a shipped file's schema differs from v0.1.0's");
    // The fleet query of the README: hive partitions host and date beside the event columns.
    let fleet = format!("read_parquet('{}', hive_partitioning = true)", glob.display());
    let sql = format!("SELECT host, count(*), count(DISTINCT event_id), min(date::VARCHAR) FROM {fleet} GROUP BY host");
    let row: (String, i64, i64, String) =
        conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap();
    assert_eq!(row, ("compat-host".to_string(), 9, 9, "2026-11-25".to_string()));
}
