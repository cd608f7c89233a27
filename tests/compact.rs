#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! WAL → Parquet: every field comes back through DuckDB; a crash at each compaction step is
//! finished on restart with no event lost or duplicated.

mod common;

use std::path::Path;
use std::process::Command;

use common::{flightrec, parquet_query, record, sample_lines};
use flightrec::compact::Compactor;
use flightrec::datadir::Layout;
use flightrec::event::parse_event;
use flightrec::redact::Redactor;

fn compact(data_dir: &Path) {
    let mut c = Compactor::open(&Layout::new(data_dir)).unwrap();
    c.run_once().unwrap();
}

/// Rebuilds the event JSON from the Parquet columns.
fn event_from_columns(row: &[Option<String>]) -> String {
    let names = [
        "type",
        "event_id",
        "timestamp",
        "actor",
        "trace_id",
        "job_id",
        "model_id",
        "model_session_id",
        "wsids",
        "activity_span_id",
        "session_span_id",
        "capability_id",
        "policy_decision_id",
    ];
    let mut obj = serde_json::Map::new();
    for (name, value) in names.iter().zip(row) {
        let Some(v) = value else { continue };
        let v = if *name == "wsids" { serde_json::from_str(v).unwrap() } else { serde_json::Value::String(v.clone()) };
        obj.insert((*name).to_string(), v);
    }
    obj.insert("payload".into(), serde_json::from_str(row[13].as_deref().unwrap()).unwrap());
    serde_json::Value::Object(obj).to_string()
}

#[test]
fn every_field_of_every_event_type_round_trips_through_parquet() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = sample_lines();
    let secret = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
    lines.push(format!(
        r#"{{"type":"diagnostic","event_id":"8b0f7c1e-3a55-4c53-9c3e-5d7f2b9e8a11","timestamp":"2026-11-24T23:59:59.999999Z","actor":"system","payload":{{"diagnostic_id":"d-9","severity":"info","file":"token {secret}"}}}}"#
    ));
    record(tmp.path(), &lines, 7);
    compact(tmp.path());

    let rows = parquet_query(
        tmp.path(),
        "SELECT type, event_id, epoch_us(timestamp)::VARCHAR, actor, trace_id, job_id, model_id, \
         model_session_id, to_json(wsids)::VARCHAR, activity_span_id, session_span_id, capability_id, policy_decision_id, \
         payload::VARCHAR, lsn::VARCHAR, redacted::VARCHAR, date::VARCHAR \
         FROM EVENTS ORDER BY lsn",
    );
    assert_eq!(rows.len(), lines.len());
    let redactor = Redactor::builtin();
    for (i, (row, line)) in rows.iter().zip(&lines).enumerate() {
        let mut row = row.clone();
        let micros: i64 = row[2].as_deref().unwrap().parse().unwrap();
        let ts = chrono::DateTime::from_timestamp_micros(micros).unwrap();
        row[2] = Some(ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        let parsed = parse_event(line.as_bytes()).unwrap();
        let mut expected = parsed.event;
        let mut redacted = false;
        expected.for_each_string_mut(&mut |s| redacted |= redactor.redact_in_place(s));
        let got = parse_event(event_from_columns(&row).as_bytes()).unwrap().event;
        if parsed.trace_id_assigned {
            // Assigned at ingest: the stored one is whatever the recorder chose.
            expected.trace_id = got.trace_id;
        }
        assert_eq!(got, expected, "event {i} differs after the round trip");
        assert_eq!(row[14].as_deref(), Some((i + 1).to_string().as_str()), "lsn");
        assert_eq!(row[15].as_deref(), Some(if redacted { "true" } else { "false" }), "redacted flag");
        assert_eq!(
            row[16].as_deref(),
            Some(ts.format("%Y-%m-%d").to_string().as_str()),
            "the hive partition is the UTC date"
        );
    }
    assert_eq!(rows.last().unwrap()[15].as_deref(), Some("true"));
    // The WAL segments are gone: only the newest (empty, active) one is left.
    assert_eq!(
        std::fs::read_dir(tmp.path().join("wal")).unwrap().filter(|e| e.as_ref().unwrap().path().is_file()).count(),
        1
    );
}

/// What a summary column holds for an event of type `ty` with `payload`: the field at `path`
/// for the types that have it, as DuckDB renders it as text, else NULL.
fn want_field(ty: &str, payload: &serde_json::Value, column: &str) -> Option<String> {
    let path: &[&str] = match (column, ty) {
        ("prompt_tokens", "llm_inference") => &["token_usage", "prompt"],
        ("completion_tokens", "llm_inference") => &["token_usage", "completion"],
        ("latency_ms", "llm_inference") => &["latency_ms"],
        ("tool_id", "tool_call") => &["tool_id"],
        ("tool_ok", "tool_call") => &["ok"],
        ("duration_ms", "tool_call") => &["timing", "duration_ms"],
        ("duration_ms", "job_lifecycle") => &["duration_ms"],
        ("decision", "capability_decision") => &["decision"],
        ("job_phase", "job_lifecycle") => &["phase"],
        ("job_status", "job_lifecycle") => &["status"],
        ("job_kind", "job_lifecycle") => &["job_kind"],
        _ => return None,
    };
    let v = path.iter().try_fold(payload, |v, k| v.get(k))?;
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[test]
fn the_summary_columns_hold_each_types_payload_fields_and_null_for_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = sample_lines();
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z").unwrap().to_utc();
    let mut generator = flightrec::workload::Generator::new(3, start, 1_000_000);
    lines.extend((0..1_000).map(|_| generator.next_json()));
    // A finished job without a duration, a tool call without timing, a span with one.
    lines.push(r#"{"type":"job_lifecycle","event_id":"0d6f4c1e-3a55-4c53-9c3e-5d7f2b9e8a11","timestamp":"2026-11-24T10:00:00Z","actor":"system","job_id":"j-1","payload":{"phase":"finished","status":"ok"}}"#.to_string());
    lines.push(r#"{"type":"tool_call","event_id":"1d6f4c1e-3a55-4c53-9c3e-5d7f2b9e8a11","timestamp":"2026-11-24T10:00:01Z","actor":"agent","trace_id":"0b8e6c52-53a4-4c1e-8d63-2f0d9a7b5c11","payload":{"tool_call_id":"c","tool_id":"x.y","tool_version":"1","ok":true}}"#.to_string());
    record(tmp.path(), &lines, 500);
    compact(tmp.path());

    let columns = flightrec::compact::summary_fields::NAMES;
    let select: Vec<String> = columns.iter().map(|c| format!("{c}::VARCHAR")).collect();
    let rows = parquet_query(
        tmp.path(),
        &format!("SELECT type, payload::VARCHAR, {} FROM EVENTS ORDER BY lsn", select.join(", ")),
    );
    assert_eq!(rows.len(), lines.len());
    let mut set = vec![0; columns.len()];
    for row in &rows {
        let ty = row[0].as_deref().unwrap();
        let payload: serde_json::Value = serde_json::from_str(row[1].as_deref().unwrap()).unwrap();
        for (i, column) in columns.iter().enumerate() {
            assert_eq!(row[i + 2], want_field(ty, &payload, column), "{column} of {ty} {payload}");
            set[i] += usize::from(row[i + 2].is_some());
        }
    }
    assert!(set.iter().all(|n| *n > 0), "every column is set for some event: {set:?}");
}

#[test]
fn files_are_time_sliced_zstd_row_groups_sorted_by_type_with_json_payload_and_bloom_filters_by_date() {
    let tmp = tempfile::tempdir().unwrap();
    // Written newest first, so the files are in time order only if compaction sorts them.
    let mut generator =
        flightrec::workload::Generator::new(5, chrono::Utc::now() - chrono::Duration::days(2), 8_000_000);
    let mut lines: Vec<String> = (0..20_000).map(|_| generator.next_json()).collect();
    lines.reverse();
    record(tmp.path(), &lines, 20_000);
    compact(tmp.path());
    let files = flightrec::compact::files::parquet_files(&tmp.path().join("events"));
    assert!(files.len() >= 2, "the events span more than one UTC date: {files:?}");
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("seg-") && name.ends_with(".parquet"), "{name}");
        let dir = f.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
        assert!(dir.starts_with("date=20"), "{dir}");
        let conn = duckdb::Connection::open_in_memory().unwrap();
        let one = |sql: String| -> String { conn.query_row(&sql, [], |r| r.get(0)).unwrap() };
        let codec = one(format!("SELECT DISTINCT compression FROM parquet_metadata('{}')", f.display()));
        assert_eq!(codec.to_uppercase(), "ZSTD");
        let largest = one(format!("SELECT max(row_group_num_rows)::VARCHAR FROM parquet_metadata('{}')", f.display()));
        assert!(largest.parse::<u64>().unwrap() <= 8_192, "row groups of at most 8,192 rows: {largest}");
        // Row groups (8,192 rows) are time slices; inside one, rows go by type, then time.
        let rows = format!(
            "SELECT *, file_row_number // 8192 AS rg FROM read_parquet('{}', file_row_number = true)",
            f.display()
        );
        let slices = one(format!(
            "SELECT bool_and(ok)::VARCHAR FROM (SELECT coalesce(lag(hi) OVER (ORDER BY rg) <= lo, true) AS ok \
             FROM (SELECT rg, min(timestamp) AS lo, max(timestamp) AS hi FROM ({rows}) GROUP BY rg))"
        ));
        assert_eq!(slices, "true", "each row group's times follow the previous one's: {}", f.display());
        let sorted = one(format!(
            "SELECT bool_and(ok)::VARCHAR FROM (SELECT coalesce(lag(type) OVER w < type \
             OR (lag(type) OVER w = type AND lag(timestamp) OVER w <= timestamp), true) AS ok FROM ({rows}) \
             WINDOW w AS (PARTITION BY rg ORDER BY file_row_number))"
        ));
        assert_eq!(sorted, "true", "rows are sorted by type, then timestamp, in a row group: {}", f.display());
        let payload = one(format!("SELECT logical_type FROM parquet_schema('{}') WHERE name = 'payload'", f.display()));
        assert!(payload.contains("Json"), "payload has the JSON logical type: {payload}");
        let stats = one(format!(
            "SELECT bool_and(stats_min IS NOT NULL AND stats_max IS NOT NULL)::VARCHAR FROM parquet_metadata('{}') \
             WHERE path_in_schema = 'timestamp'",
            f.display()
        ));
        assert_eq!(stats, "true", "every row group has timestamp bounds (lookups prune by them)");
        let blooms = one(format!(
            "SELECT bool_and(coalesce(bloom_filter_length, 0) > 0)::VARCHAR FROM parquet_metadata('{}') \
             WHERE path_in_schema IN ('trace_id', 'job_id')",
            f.display()
        ));
        assert_eq!(
            blooms, "true",
            "trace_id and job_id have bloom filters (scans without the catalog skip row groups)"
        );
    }
    let groups = files.iter().map(|f| {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        let n: i64 = conn
            .query_row(
                &format!("SELECT count(DISTINCT row_group_id) FROM parquet_metadata('{}')", f.display()),
                [],
                |r| r.get(0),
            )
            .unwrap();
        n
    });
    assert!(groups.sum::<i64>() >= 4, "20,000 events make several row groups");
}

fn count_and_distinct(data_dir: &Path) -> (u64, u64) {
    let rows = parquet_query(data_dir, "SELECT count(*)::VARCHAR, count(DISTINCT event_id)::VARCHAR FROM EVENTS");
    (rows[0][0].as_ref().unwrap().parse().unwrap(), rows[0][1].as_ref().unwrap().parse().unwrap())
}

#[test]
fn a_crash_at_each_compaction_step_is_finished_on_restart() {
    for step in ["compact:before_rename", "compact:after_rename", "compact:after_catalog"] {
        let tmp = tempfile::tempdir().unwrap();
        record(tmp.path(), &sample_lines(), 6);
        let crashed = Command::new(env!("CARGO_BIN_EXE_flightrec"))
            .arg("--data-dir")
            .arg(tmp.path())
            .arg("compact")
            .env("FLIGHTREC_FAILPOINT", step)
            .output()
            .unwrap();
        assert_crashed_and_finished_on_restart(tmp.path(), step, &crashed);
    }
}

/// The data directory the child of the test below compacts (set only in that child).
const CRASH_CHILD_DIR: &str = "FLIGHTREC_TEST_CRASH_CHILD_DIR";

/// The child process of the test below: compacts the directory it is given with one segment
/// per catalog transaction, so each transaction runs while the next segment is written,
/// until the armed failpoint aborts it. Run alone (without the variable) it does nothing.
#[test]
fn crash_child_compacting_one_segment_per_transaction() {
    let Ok(dir) = std::env::var(CRASH_CHILD_DIR) else { return };
    let mut c = Compactor::open(&Layout::new(Path::new(&dir))).unwrap();
    c.set_segments_per_transaction(1);
    let report = c.run_once();
    panic!("the failpoint did not fire: {report:?}");
}

#[test]
fn a_crash_while_a_transaction_overlaps_writing_the_next_segment_is_finished_on_restart() {
    let steps = [
        "compact:after_catalog@1",
        "compact:before_rename@2",
        "compact:after_rename@2",
        "compact:after_catalog@2",
        "compact:before_rename@3",
    ];
    for step in steps {
        let tmp = tempfile::tempdir().unwrap();
        record(tmp.path(), &sample_lines(), 6);
        let sealed = common::segments(&tmp.path().join("wal")).len() - 1;
        assert!(sealed >= 3, "{sealed} sealed segments");
        let crashed = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child_compacting_one_segment_per_transaction", "--nocapture", "--test-threads=1"])
            .env(CRASH_CHILD_DIR, tmp.path())
            .env("FLIGHTREC_FAILPOINT", step)
            .output()
            .unwrap();
        let name = step.split_once('@').unwrap().0;
        assert_crashed_and_finished_on_restart(tmp.path(), name, &crashed);
    }
}

/// `crashed` died at failpoint `step` with compacted work left, and `flightrec compact` then
/// finishes it: every event once, no temporary file, only the newest WAL segment left.
fn assert_crashed_and_finished_on_restart(data_dir: &Path, step: &str, crashed: &std::process::Output) {
    let n = sample_lines().len() as u64;
    let stderr = String::from_utf8_lossy(&crashed.stderr);
    assert_eq!(crashed.status.code(), None, "{step}: the child must die by SIGABRT: {stderr}");
    assert!(stderr.contains(&format!("failpoint {step}")), "{step}: {stderr}");
    let wal_files = std::fs::read_dir(data_dir.join("wal")).unwrap().count();
    assert!(wal_files > 1, "{step}: the crashed segment is still in the WAL");

    let out = flightrec(data_dir, &["compact"]);
    assert_eq!(out.status.code(), Some(0), "{step}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count_and_distinct(data_dir), (n, n), "{step}: every event exactly once");
    let tmp_files = walk(&data_dir.join("events")).into_iter().filter(|p| p.ends_with(".tmp")).count();
    assert_eq!(tmp_files, 0, "{step}: no temporary file is left");
    let wal_left: Vec<_> = std::fs::read_dir(data_dir.join("wal")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(wal_left.len(), 1, "{step}: compacted WAL segments are deleted: {wal_left:?}");
    let stats = flightrec(data_dir, &["stats", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(v["events"], n, "{step}");
    assert_eq!(v["compacted_events"], n, "{step}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

/// Rewrites the count in the seal record at the end of a sealed segment (checksum fixed).
fn rewrite_seal_count(segment: &Path, count: u64) {
    let mut bytes = std::fs::read(segment).unwrap();
    let start = bytes.len() - 25; // framing (16) + kind (1) + count (8)
    let lsn = u64::from_le_bytes(bytes[start + 8..start + 16].try_into().unwrap());
    let mut payload = vec![b'S'];
    payload.extend_from_slice(&count.to_le_bytes());
    let crc = flightrec::wal::format::record_crc(lsn, &payload);
    bytes[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    bytes[start + 16..].copy_from_slice(&payload);
    std::fs::write(segment, bytes).unwrap();
}

#[test]
fn segments_that_do_not_verify_are_compacted_but_kept_in_the_quarantine() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = sample_lines();
    record(tmp.path(), &lines, 6);
    let wal = tmp.path().join("wal");
    let sealed = common::segments(&wal);
    assert!(sealed.len() >= 4, "three sealed segments and the writer's: {sealed:?}");
    let mut damaged = std::fs::read(&sealed[0]).unwrap();
    damaged[64 + 16 + 10] ^= 0x40; // inside the first record's payload
    std::fs::write(&sealed[0], damaged).unwrap();
    rewrite_seal_count(&sealed[1], 7);

    let mut compactor = Compactor::open(&Layout::new(tmp.path())).unwrap();
    let report = compactor.run_once().unwrap();
    let kept: Vec<u64> = report.quarantined.iter().map(|q| q.segment).collect();
    assert_eq!(kept, vec![1, 7], "{:?}", report.quarantined);
    assert!(report.quarantined[0].reason.contains("damaged"), "{:?}", report.quarantined[0]);
    assert!(report.quarantined[1].reason.contains("seal record counts 7"), "{:?}", report.quarantined[1]);
    let moved: Vec<String> = std::fs::read_dir(wal.join("quarantine"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for q in &report.quarantined {
        let name = format!("{:020}.wal.quarantined", q.segment);
        assert!(moved.contains(&name), "{name} is kept: {moved:?}");
    }
    assert_eq!(common::segments(&wal).len(), 1, "the verified segments are deleted; the writer's is left");
    let n = lines.len() as u64;
    assert_eq!(count_and_distinct(tmp.path()), (n - 1, n - 1), "every decodable event is compacted");
    compactor.run_once().unwrap();
    assert_eq!(count_and_distinct(tmp.path()), (n - 1, n - 1), "a second run changes nothing");

    let out = flightrec(tmp.path(), &["verify", "--json"]);
    assert_eq!(out.status.code(), Some(1), "verify reports the quarantine");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["quarantined_segments"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lsns_continue_above_the_catalog_when_the_wal_is_lost() {
    use flightrec::recorder::{FlightRecorder, Recorder, RecorderConfig};
    let tmp = tempfile::tempdir().unwrap();
    let mut generator = flightrec::workload::Generator::new(21, chrono::Utc::now() - chrono::Duration::hours(1), 1_000);
    let lines: Vec<String> = (0..20).map(|_| generator.next_json()).collect();
    let recorder = Recorder::open(RecorderConfig::new(tmp.path())).await.unwrap();
    for line in &lines[..19] {
        recorder.record_json(line.as_bytes(), None).await.unwrap();
    }
    recorder.seal().await.unwrap();
    recorder.compact_now().await.unwrap();
    recorder.shutdown().await.unwrap();
    drop(recorder);
    std::fs::remove_dir_all(tmp.path().join("wal")).unwrap();

    let recorder = Recorder::open(RecorderConfig::new(tmp.path())).await.unwrap();
    recorder.record_json(lines[19].as_bytes(), None).await.unwrap();
    let page = recorder.query(flightrec::query::EventQuery::default()).await.unwrap();
    let newest = page.events.iter().map(|e| e.lsn).max().unwrap();
    assert_eq!(newest, 20, "the new event's LSN follows the catalog's highest");
    recorder.seal().await.unwrap();
    recorder.compact_now().await.unwrap();
    recorder.shutdown().await.unwrap();
    assert_eq!(count_and_distinct(tmp.path()), (20, 20), "no segment was overwritten or deleted unread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_recorder_remembers_only_the_newest_compacted_ids_its_capacity_holds() {
    use flightrec::recorder::{Recorder, RecorderConfig};
    let tmp = tempfile::tempdir().unwrap();
    let mut generator = flightrec::workload::Generator::new(22, chrono::Utc::now() - chrono::Duration::hours(1), 1_000);
    let lines: Vec<String> = (0..30).map(|_| generator.next_json()).collect();
    let mut config = RecorderConfig::new(tmp.path());
    config.dedup_capacity = 10;
    let recorder = Recorder::open(config.clone()).await.unwrap();
    for line in &lines {
        recorder.record_json(line.as_bytes(), None).await.unwrap();
    }
    recorder.seal().await.unwrap();
    recorder.compact_now().await.unwrap();
    recorder.shutdown().await.unwrap();
    drop(recorder);

    let recorder = Recorder::open(config).await.unwrap();
    assert_eq!(
        recorder.stats().await.unwrap().dedup_ids,
        10,
        "the memory is seeded up to its capacity, not with all 30"
    );
    let newest = recorder.record_json(lines[29].as_bytes(), None).await.unwrap();
    assert!(newest.duplicate, "the newest compacted event is remembered");
    let oldest = recorder.record_json(lines[0].as_bytes(), None).await.unwrap();
    assert!(!oldest.duplicate, "the oldest fell out of a memory of 10 (the documented capacity limit)");
    recorder.shutdown().await.unwrap();
}

#[test]
fn each_transaction_releases_its_segments_ranges_before_the_run_reads_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    record(tmp.path(), &sample_lines(), 7); // several sealed segments of 7 events
    let sealed = common::segments(&tmp.path().join("wal")).len() - 1;
    assert!(sealed >= 3, "{sealed} sealed segments");
    let mut c = Compactor::open(&Layout::new(tmp.path())).unwrap();
    c.set_segments_per_transaction(1);
    let mut released: Vec<((u64, u64), usize)> = Vec::new();
    let mut report = flightrec::compact::CompactReport::default();
    let wal = tmp.path().join("wal");
    c.run_releasing(&mut report, &mut |ranges| {
        let thread = std::thread::current();
        assert_eq!(thread.name(), Some("compact-record"), "recorded while the run went on writing");
        for range in ranges {
            released.push((*range, common::segments(&wal).len()));
        }
    })
    .unwrap();
    assert_eq!(released.iter().map(|(r, _)| *r).collect::<Vec<_>>(), report.ranges, "every range, in order");
    let left: Vec<usize> = released.iter().map(|(_, wal_files)| *wal_files).collect();
    let expected: Vec<usize> = (0..sealed).map(|i| sealed + 1 - i).collect();
    assert_eq!(left, expected, "each range is released while the later segments still wait in the WAL");
}

#[test]
fn a_run_told_to_stop_after_a_segment_leaves_the_rest_for_the_next_run_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    record(tmp.path(), &sample_lines(), 7); // several sealed segments of 7 events
    let wal = tmp.path().join("wal");
    let sealed = common::segments(&wal).len() - 1;
    assert!(sealed >= 3, "{sealed} sealed segments");
    let mut c = Compactor::open(&Layout::new(tmp.path())).unwrap();
    assert_eq!(c.sealed_waiting().unwrap(), sealed);

    let (mut report, mut asked) = (flightrec::compact::CompactReport::default(), 0);
    c.run_while(&mut report, &mut |_| {}, &mut || {
        asked += 1;
        asked < 2
    })
    .unwrap();
    assert_eq!((asked, report.segments), (2, 2), "asked after each segment, stopped after the second");
    assert_eq!(c.sealed_waiting().unwrap(), sealed - 2, "the two are recorded and their WAL files gone");
    assert_eq!(count_and_distinct(tmp.path()).0, report.events, "only their events are in Parquet");

    let rest = c.run_once().unwrap();
    assert_eq!(rest.segments as usize, sealed - 2, "the next run takes the others");
    assert_eq!(c.sealed_waiting().unwrap(), 0);
    let (stored, distinct) = count_and_distinct(tmp.path());
    assert_eq!((stored, distinct), (report.events + rest.events, stored), "every event once");
}
