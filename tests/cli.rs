#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The CLI verbs as a user runs them: output, `--json`, exit statuses.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-events.ndjson");

fn flightrec(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flightrec")).arg("--data-dir").arg(data_dir).args(args).output().unwrap()
}

fn flightrec_stdin(data_dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flightrec"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn sample_lines() -> Vec<String> {
    std::fs::read_to_string(SAMPLE).unwrap().lines().filter(|l| !l.trim().is_empty()).map(String::from).collect()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn ingest_the_sample_then_verify_and_stats_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let n = sample_lines().len();
    let out = flightrec(tmp.path(), &["ingest", SAMPLE]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("accepted {n}, duplicates 0, rejected 0")), "{text}");

    let out = flightrec(tmp.path(), &["verify", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["records"], n as u64);
    assert_eq!(v["first_lsn"], 1);
    assert_eq!(v["last_lsn"], n as u64);
    assert_eq!(v["ok"], true);

    let out = flightrec(tmp.path(), &["stats", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    for key in ["events", "wal_events", "compacted_events", "wal_segments", "parquet_files", "oldest", "newest"] {
        assert!(v.get(key).is_some(), "stats --json lacks {key}: {v}");
    }
    assert_eq!(v["events"], n as u64);
    assert_eq!(v["wal_events"], n as u64);
    assert!(v["oldest"].as_str().unwrap() <= v["newest"].as_str().unwrap());
}

#[test]
fn ingesting_the_same_file_twice_stores_each_event_once() {
    let tmp = tempfile::tempdir().unwrap();
    let n = sample_lines().len() as u64;
    let events = |dir: &Path| json(&flightrec(dir, &["stats", "--json"]))["events"].as_u64();
    assert_eq!(flightrec(tmp.path(), &["ingest", SAMPLE]).status.code(), Some(0));

    let again = flightrec(tmp.path(), &["ingest", "--json", SAMPLE]);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    let v = json(&again);
    assert_eq!((v["accepted"].as_u64(), v["duplicates"].as_u64()), (Some(0), Some(n)), "{v}");
    assert_eq!(events(tmp.path()), Some(n), "the WAL holds each event once");

    // Compacted, the ids are remembered from the Parquet files.
    assert_eq!(flightrec(tmp.path(), &["compact"]).status.code(), Some(0));
    let third = flightrec(tmp.path(), &["ingest", SAMPLE]);
    let text = String::from_utf8_lossy(&third.stdout);
    assert!(text.contains(&format!("accepted 0, duplicates {n}, rejected 0")), "{text}");
    assert_eq!(events(tmp.path()), Some(n), "the Parquet files and the WAL hold each event once");
}

#[test]
fn bad_lines_are_reported_with_their_number_and_do_not_stop_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let good = sample_lines();
    let input = format!(
        "{}\nnot json\n{}\n{{\"type\":\"nope\"}}\n\n{}\n",
        good[0],
        good[1],
        good[2].replacen("\"payload\":{", "\"payload\":{\"bogus\":1,", 1)
    );
    let out = flightrec_stdin(tmp.path(), &["ingest", "-"], input.as_bytes());
    assert_eq!(out.status.code(), Some(1), "rejected lines make exit status 1");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("line 2: rejected: HSK-400-INVALID-EVENT"), "{text}");
    assert!(text.contains("line 4: rejected: HSK-400-INVALID-EVENT at type"), "{text}");
    assert!(text.contains("line 6: rejected: HSK-400-INVALID-EVENT at payload.bogus"), "{text}");
    assert!(text.contains("accepted 2, duplicates 0, rejected 3"), "{text}");

    let out = flightrec_stdin(tmp.path(), &["ingest", "-", "--json"], input.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!((v["accepted"].as_u64(), v["duplicates"].as_u64()), (Some(0), Some(2)), "the same lines again: {v}");
    assert_eq!(v["rejected_count"], 3);
    let lines: Vec<u64> = v["rejected"].as_array().unwrap().iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![2, 4, 6]);
    assert_eq!(v["rejected"][2]["field"], "payload.bogus");

    let out = flightrec(tmp.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 records"), "two runs of the same two events, stored once");
}

#[test]
fn secrets_are_redacted_before_they_reach_the_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = "sk-proj-Abc123Def456Ghi789Jkl012Mno345";
    let line = format!(
        r#"{{"type":"terminal_command","event_id":"6a0f7c1e-3a55-4c53-9c3e-5d7f2b9e8a10","timestamp":"2026-11-25T10:00:00Z","actor":"agent","payload":{{"session_id":"s1","command":"curl -H 'Authorization: Bearer {secret}' https://api.example.com"}}}}"#
    );
    let out = flightrec_stdin(tmp.path(), &["ingest", "-"], line.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("redacted 1"));
    let mut found = false;
    for entry in std::fs::read_dir(tmp.path().join("wal")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret reached the disk");
        found |= bytes.windows(10).any(|w| w == b"[REDACTED:");
    }
    assert!(found, "the redaction marker is stored");
}

#[test]
fn the_product_has_no_benchmark_verb() {
    let tmp = tempfile::tempdir().unwrap();
    let help = flightrec(tmp.path(), &["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("serve") && help.contains("query"), "{help}");
    assert!(!help.contains("bench"), "benchmarks live in bench/ (flightrec-bench), not in flightrec: {help}");
    let out = flightrec(tmp.path(), &["bench-ingest", "--seconds", "0.1"]);
    assert_eq!(out.status.code(), Some(2), "bench-ingest is not a flightrec verb");
}

#[test]
fn damage_makes_verify_exit_1_and_usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(flightrec(tmp.path(), &["ingest", SAMPLE]).status.code(), Some(0));
    let seg = std::fs::read_dir(tmp.path().join("wal")).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[64 + 16 + 10] ^= 0x40; // inside the first record's payload
    std::fs::write(&seg, &bytes).unwrap();
    let out = flightrec(tmp.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("DAMAGE at offset 64"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    assert_eq!(flightrec(tmp.path(), &["ingest"]).status.code(), Some(2), "missing FILE");
    assert_eq!(flightrec(tmp.path(), &["ingest", "-", "--durability", "never"]).status.code(), Some(2));
    let out = flightrec(tmp.path(), &["ingest", "/no/such/file.ndjson"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HSK-500-IO"));
    let out = flightrec(&tmp.path().join("missing"), &["verify"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn query_and_sql_read_wal_and_parquet_without_a_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let n = sample_lines().len();
    assert_eq!(flightrec(tmp.path(), &["ingest", SAMPLE]).status.code(), Some(0));
    // Half compacted: compact seals the newest segment, then more events arrive in the WAL.
    assert_eq!(flightrec(tmp.path(), &["compact"]).status.code(), Some(0));
    let fresh_id = |l: &String| {
        let at = l.find("\"event_id\":\"").unwrap() + 12;
        format!("{}ffffffff{}\n", &l[..at], &l[at + 8..])
    };
    let more: String = sample_lines().iter().map(fresh_id).collect();
    let out = flightrec_stdin(tmp.path(), &["ingest", "-"], more.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    let out = flightrec(tmp.path(), &["query", "--json", "--limit", "1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 2 * n, "Parquet and WAL events together");

    let out = flightrec(tmp.path(), &["query", "--json", "--job-id", "job-42", "--type", "tool_call"]);
    let hits: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|e| e["job_id"] == "job-42" && e["type"] == "tool_call"));

    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let mut args = vec!["query", "--json", "--limit", "7"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let out = flightrec(tmp.path(), &args);
        seen += String::from_utf8_lossy(&out.stdout).lines().count();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        match err.lines().find_map(|l| l.strip_prefix("next_cursor: ")) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, 2 * n, "the pages cover every event once");

    let out =
        flightrec(tmp.path(), &["sql", "--json", "SELECT count(*) AS n, count(DISTINCT lsn) AS lsns FROM events"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["n"], (2 * n).to_string());
    assert_eq!(v["lsns"], (2 * n).to_string());

    let out = flightrec(tmp.path(), &["sql", "SELEKT nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HSK-400-SQL-REFUSED"));
    assert_eq!(flightrec(tmp.path(), &["query", "--cursor", "not-a-cursor"]).status.code(), Some(2));
    assert_eq!(flightrec(tmp.path(), &["query", "--type", "nope"]).status.code(), Some(2));
    assert_eq!(flightrec(tmp.path(), &["query", "--from", "yesterday"]).status.code(), Some(2));
}

#[test]
fn retention_dry_run_changes_nothing_then_retention_drops() {
    let tmp = tempfile::tempdir().unwrap();
    let mut generator = flightrec::workload::Generator::new(3, chrono::Utc::now() - chrono::Duration::days(3), 1_000);
    let old: String = (0..50).map(|_| format!("{}\n", generator.next_json())).collect();
    assert_eq!(flightrec_stdin(tmp.path(), &["ingest", "-"], old.as_bytes()).status.code(), Some(0));
    assert_eq!(flightrec(tmp.path(), &["compact"]).status.code(), Some(0));
    let out = flightrec(tmp.path(), &["retention", "--dry-run", "--retention-days", "1", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["events_purged"], 50);
    assert_eq!(json(&flightrec(tmp.path(), &["stats", "--json"]))["events"], 50, "a dry run drops nothing");
    let out = flightrec(tmp.path(), &["retention", "--retention-days", "7"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("dropped 0 segments, 0 events"), "inside a 7-day window");
    let out = flightrec(tmp.path(), &["retention", "--retention-days", "1"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("dropped 1 segments, 50 events"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(json(&flightrec(tmp.path(), &["stats", "--json"]))["events"], 0);
}

#[test]
fn sql_is_one_read_only_select_confined_to_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(flightrec(tmp.path(), &["ingest", SAMPLE]).status.code(), Some(0));
    assert_eq!(flightrec(tmp.path(), &["compact"]).status.code(), Some(0));
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.csv");
    std::fs::write(&secret, "k\nhunter2\n").unwrap();
    let stolen = outside.path().join("stolen.csv");
    let attached = outside.path().join("other.duckdb");
    let (secret, stolen, attached) = (secret.display(), stolen.display(), attached.display());
    let refused = [
        format!("COPY (SELECT * FROM events) TO '{stolen}'"),
        format!("SELECT 1; COPY (SELECT * FROM events) TO '{stolen}'"),
        format!("SELECT 1) ; COPY (SELECT 1) TO '{stolen}'; SELECT (1"),
        format!("ATTACH '{attached}' AS other"),
        "INSTALL httpfs".to_string(),
        "LOAD httpfs".to_string(),
        "SET enable_external_access = true".to_string(),
        "CREATE TABLE t AS SELECT 1".to_string(),
        "DROP VIEW events".to_string(),
        "SELECT 1; SELECT 2".to_string(),
        format!("SELECT * FROM read_csv('{secret}')"),
        "SELECT * FROM read_text('/etc/passwd')".to_string(),
        format!("SELECT * FROM read_parquet('{}/../**/*.parquet')", tmp.path().display()),
    ];
    for sql in &refused {
        let out = flightrec(tmp.path(), &["sql", sql]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{sql} must be refused; stdout {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(err.contains("HSK-400-SQL-REFUSED"), "{sql}: {err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"), "{sql} read a file outside the data dir");
    }
    assert!(!outside.path().join("stolen.csv").exists(), "nothing was written outside the data directory");
    assert!(!outside.path().join("other.duckdb").exists());
    // Reads inside the data directory still work, through the view and directly.
    let glob = tmp.path().join("events/**/*.parquet");
    let direct = format!("SELECT count(*) AS n FROM read_parquet('{}')", glob.display());
    for sql in ["SELECT count(*) AS n FROM events;", direct.as_str()] {
        let out = flightrec(tmp.path(), &["sql", "--json", sql]);
        assert_eq!(out.status.code(), Some(0), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["n"], sample_lines().len().to_string());
    }
}
