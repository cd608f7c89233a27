#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Secrets never reach the disk: a corpus of realistic secrets is put into every string field
//! of every event type; after ingest, compaction and a kill -9 in the middle of another ingest,
//! no secret appears in any file under the data directory, neither as raw bytes nor in the
//! decoded Parquet rows or catalog tables.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{flightrec, sample_lines};
use flightrec::event::parse_event;

/// (text to embed, the part that must never be stored).
const CORPUS: &[(&str, &str)] = &[
    ("OPENAI_API_KEY=sk-7Hq2LmN9pR4tVx8ZbC1dF3gJ5kS6wY0eA2iU4oQ", "7Hq2LmN9pR4tVx8ZbC1dF3gJ5kS6wY0eA2iU4oQ"),
    ("key sk-proj-Zx81Kq_Lm2Nn3Op4Qr5St6Uv7Wx8Yz9Ab0Cd", "Zx81Kq_Lm2Nn3Op4Qr5St6Uv7Wx8Yz9Ab0Cd"),
    (
        "sk-ant-api03-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz2Xc4Vb6Nm8Qw0Er2Ty4Ui6-ZxCvBnAA",
        "Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz2Xc4Vb6Nm8",
    ),
    ("aws AKIAQ7RS4TUV2WXY3Z5A configured", "AKIAQ7RS4TUV2WXY3Z5A"),
    ("token ghp_9Zy8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7B in env", "ghp_9Zy8Xw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc7B"),
    ("xoxb-5544332211-9988776655443-QwErTyUiOpAsDfGhJkLzXcVb", "9988776655443-QwErTyUiOpAsDfGhJkLzXcVb"),
    ("maps key AIzaSyQ9w8E7r6T5y4U3i2O1p0AaSsDdFfGgHhJ", "AIzaSyQ9w8E7r6T5y4U3i2O1p0AaSsDdFfGgHhJ"),
    ("stripe sk_live_77Ab3Cd4Ef5Gh6Ij7Kl8Mn9Op0Q", "77Ab3Cd4Ef5Gh6Ij7Kl8Mn9Op0Q"),
    ("curl -H 'Authorization: Bearer Zq9Xw8Ev7Rt6Yu5Io4Pa3Sd2Fg1Hj0Kl' api", "Zq9Xw8Ev7Rt6Yu5Io4Pa3Sd2Fg1Hj0Kl"),
    ("git clone https://deploy:Tr0ub4dor-Xq9zK@git.example.com/repo.git", "Tr0ub4dor-Xq9zK"),
    ("psql postgres://app:Pw-77-Secret-Zz@db.internal:5432/prod", "Pw-77-Secret-Zz"),
    ("mysql -u root --password=Hunter2-Qx7-Vw9 -h db", "Hunter2-Qx7-Vw9"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEAw9Jx7Kq2Lm4Np6Rt8Vx0Zb2Dc4Fe6Hg8Ji0Lk2Mn4Po6Qr8\n-----END RSA PRIVATE KEY-----",
        "MIIEpQIBAAKCAQEAw9Jx7Kq2Lm4Np6Rt8Vx0Zb2Dc4Fe6Hg8Ji0Lk2Mn4Po6Qr8",
    ),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudC03NyIsInJvbGUiOiJhZG1pbiJ9.Xk7Yp2Lq9Rm4Tn6Vb8Wc1Zd3Fe5Gh7Jk9Lm0Np2Qr",
        "Xk7Yp2Lq9Rm4Tn6Vb8Wc1Zd3Fe5Gh7Jk9Lm0Np2Qr",
    ),
];

/// Every sample event with each string field replaced by text holding a secret, `copies`
/// times with fresh event ids.
fn secret_events(copies: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut k = 0;
    for copy in 0..copies {
        for line in sample_lines() {
            let mut e = parse_event(line.as_bytes()).unwrap().event;
            e.for_each_string_mut(&mut |s| {
                *s = format!("field {} {}", CORPUS[k % CORPUS.len()].0, copy);
                k += 1;
            });
            e.event_id = uuid::Uuid::new_v4();
            out.push(String::from_utf8(e.to_json().unwrap()).unwrap());
        }
    }
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out
}

fn ndjson(lines: &[String]) -> Vec<u8> {
    lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect()
}

#[test]
fn no_secret_of_any_field_of_any_event_type_reaches_the_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let input = tmp.path().join("secrets.ndjson");
    std::fs::write(&input, ndjson(&secret_events(3))).unwrap();
    let out = flightrec(&data, &["ingest", input.to_str().unwrap(), "--segment-bytes", "8192"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("redacted {}", 3 * sample_lines().len())));
    assert_eq!(flightrec(&data, &["compact"]).status.code(), Some(0));

    // Another ingest killed by SIGKILL part-way: whatever it left must be clean too.
    let mut child = Command::new(env!("CARGO_BIN_EXE_flightrec"))
        .arg("--data-dir")
        .arg(&data)
        .args(["ingest", "-", "--segment-bytes", "8192"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let body = ndjson(&secret_events(40));
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = writer.join();

    let stats: serde_json::Value = serde_json::from_slice(&flightrec(&data, &["stats", "--json"]).stdout).unwrap();
    assert!(stats["events"].as_u64().unwrap() >= 3 * sample_lines().len() as u64, "{stats}");

    let files = files_under(&data);
    assert!(files.iter().any(|f| f.extension().is_some_and(|e| e == "parquet")));
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for (_, secret) in CORPUS {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} found in {}",
                file.display()
            );
        }
    }
    // Decoded: every Parquet row, and every catalog table, as text.
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let glob = data.join("events/**/*.parquet");
    let mut texts: Vec<String> = Vec::new();
    let mut rows_of = |sql: &str| {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows: Vec<String> = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect();
        texts.extend(rows);
    };
    rows_of(&format!("SELECT to_json(t)::VARCHAR FROM read_parquet('{}') t", glob.display()));
    conn.execute_batch(&format!("ATTACH '{}' AS cat (READ_ONLY)", data.join("catalog.duckdb").display())).unwrap();
    for table in ["segments", "trace_index", "job_index", "retention_log"] {
        rows_of(&format!("SELECT to_json(t)::VARCHAR FROM cat.{table} t"));
    }
    assert!(texts.iter().any(|t| t.contains("[REDACTED:")), "the redacted events were read back");
    for text in &texts {
        for (_, secret) in CORPUS {
            assert!(!text.contains(secret), "{secret} decoded from the store: {text}");
        }
    }
}
