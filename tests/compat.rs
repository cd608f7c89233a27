#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Format compatibility: a WAL segment and a Parquet file written by flightrec 0.1.0 (the
//! first nine events of `tests/data/sample-events.ndjson`) must stay readable, so a change of
//! the format cannot silently break old data; a new file has v0.1.0's columns followed by the
//! summary columns, ships unchanged, and stock readers read old and new files together. See
//! docs/format.md.

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

/// v0.1.0's columns followed by the summary columns, with their types as DuckDB reads them.
fn new_columns(conn: &duckdb::Connection) -> Vec<(String, String)> {
    let mut want =
        columns(conn, &format!("read_parquet('{}')", Path::new(DIR).join("v0.1.0-events.parquet").display()));
    let types =
        ["BIGINT", "BIGINT", "BIGINT", "VARCHAR", "BOOLEAN", "BIGINT", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR"];
    let names = flightrec::compact::summary_fields::NAMES;
    want.extend(names.iter().zip(types).map(|(n, t)| (n.to_string(), t.to_string())));
    want
}

#[test]
fn a_shipped_file_has_the_v0_1_0_columns_then_the_summary_columns_and_reads_through_the_fleet_layout() {
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
    let glob = bucket.join("fleet/host=*/events/*/*.parquet");
    let shipped = format!("read_parquet('{}', hive_partitioning = false)", glob.display());
    assert_eq!(columns(&conn, &shipped), new_columns(&conn), "a shipped file's schema");
    // The fleet query of the README: hive partitions host and date beside the event columns.
    let fleet = format!("read_parquet('{}', hive_partitioning = true)", glob.display());
    let sql = format!("SELECT host, count(*), count(DISTINCT event_id), min(date::VARCHAR) FROM {fleet} GROUP BY host");
    let row: (String, i64, i64, String) =
        conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap();
    assert_eq!(row, ("compat-host".to_string(), 9, 9, "2026-11-25".to_string()));
}

/// The README's readers over a directory holding a v0.1.0 file (without the summary columns)
/// and new files: counts, and the summary columns (NULL for the old rows).
const MIXED_READERS: &str = r#"
import sys, duckdb, pyarrow.dataset as ds, pyarrow.parquet as pq, polars as pl
events, new = sys.argv[1], sys.argv[2]
glob = events + "/**/*.parquet"
d = duckdb.sql(f"SELECT count(*), count(prompt_tokens), sum(prompt_tokens) FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)").fetchall()[0]
t = ds.dataset(events, format="parquet", partitioning="hive", schema=pq.read_schema(new)).to_table()
a = (t.num_rows, t.column("prompt_tokens").drop_null().__len__(), sum(x.as_py() for x in t.column("prompt_tokens").drop_null()))
p = pl.scan_parquet(glob, hive_partitioning=True, missing_columns="insert", extra_columns="ignore").select(pl.len(), pl.col("type").count()).collect().row(0)
print(f"duckdb={d[0]},{d[1]},{d[2]} pyarrow={a[0]},{a[1]},{a[2]} polars={p[0]},{p[1]}")
"#;

#[test]
fn stock_readers_read_v0_1_0_and_new_files_together() {
    let modules = std::process::Command::new("python3").args(["-c", "import duckdb, pyarrow, polars"]).status();
    if !modules.is_ok_and(|s| s.success()) {
        assert!(std::env::var_os("CI").is_none(), "CI must have python3 with duckdb, pyarrow and polars");
        eprintln!("SKIPPED: python3 -m pip install duckdb pyarrow polars to run this test");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let lines: Vec<String> = common::sample_lines().into_iter().take(9).collect();
    common::record(&data, &lines, 100);
    let compact = common::flightrec(&data, &["compact"]);
    assert!(compact.status.success(), "{compact:?}");
    let events = data.join("events");
    let new: Vec<_> =
        common::files_under(&events).into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")).collect();
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let file = format!("read_parquet('{}', hive_partitioning = false)", new[0].display());
    assert_eq!(columns(&conn, &file), new_columns(&conn));
    // Named to sort after the new files: a reader that took the first file's schema as the
    // only one would refuse it.
    let old = events.join("date=2026-11-25").join("seg-zzzz-v0.1.0.parquet");
    std::fs::copy(Path::new(DIR).join("v0.1.0-events.parquet"), &old).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", MIXED_READERS, &events.display().to_string(), &new[0].display().to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    // The first nine events of the sample hold two llm_inference events (812 + 1530 prompt
    // tokens); only the new copy has them as columns.
    assert_eq!(text.trim(), "duckdb=18,2,2342 pyarrow=18,2,2342 polars=18,18", "{text}");
}
