#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Secrets never reach the disk: a corpus of realistic secrets is put into every string field
//! of every event type, and a corpus of secrets split across `terminal_command.args`; after
//! ingest, compaction, and a server killed with SIGKILL after acknowledging more of them, no
//! secret appears in any file under the data directory, neither as raw bytes nor in the
//! decoded Parquet rows or catalog tables.

mod common;

use std::path::Path;

use common::{files_under, flightrec, raw_leaks, sample_lines, serve_child};
use flightrec::event::{EventBody, parse_event};

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
    // Provider formats and headers that only a newer redactor knows.
    ("gitlab glpat-Rt7Yq2Wm9Kx4Ln8Pv3Zs", "Rt7Yq2Wm9Kx4Ln8Pv3Zs"),
    ("slack app xapp-1-A07QWERTY12-7781234567890-9fA8bC7dE6fG5hI4", "9fA8bC7dE6fG5hI4"),
    ("rotated xoxe-1-My0xLTk4NzY1NDMyMTAtWnhjdmJu", "My0xLTk4NzY1NDMyMTAtWnhjdmJu"),
    ("POST https://hooks.slack.com/services/T04ABCDEF/B05GHIJKL/Qm7Wx2Rk9Tz4Np6Lv8Hs3Jd", "Qm7Wx2Rk9Tz4Np6Lv8Hs3Jd"),
    ("npm npm_Zq8Xw7Cv6Bn5Ml4Kj3Hg2Fd1Sa0Po9Iu8Yt7R", "Zq8Xw7Cv6Bn5Ml4Kj3Hg2Fd1Sa0Po9Iu8Yt7R"),
    ("stripe hook whsec_Lk9Jh8Gf7Ds6Aq5Wz4Xc3Vb2Nm1Qe0R", "Lk9Jh8Gf7Ds6Aq5Wz4Xc3Vb2Nm1Qe0R"),
    (
        "DefaultEndpointsProtocol=https;AccountName=acct9;AccountKey=Qk9xV2wZ3rT5yU7iO1pA3sD5fG7hJ9k+/Lm==;EndpointSuffix=core.windows.net",
        "Qk9xV2wZ3rT5yU7iO1pA3sD5fG7hJ9k+/Lm==",
    ),
    ("curl -H 'Cookie: sessionid=Zt5Rq8Wm2Kx7Lp4Vn9' https://app.example.com", "Zt5Rq8Wm2Kx7Lp4Vn9"),
    ("curl -H 'Authorization: Token Hx4Kp8Wq2Zr6Tm9Vb3' https://api.example.com", "Hx4Kp8Wq2Zr6Tm9Vb3"),
    ("MYSQL_PWD=Wq3-Er5-Ty7 mysql -u root", "Wq3-Er5-Ty7"),
    ("key sk-None-Pl9Ok8Ij7Uh6Yg5Tf4Rd3Es2Wa1Qz0Xc", "Pl9Ok8Ij7Uh6Yg5Tf4Rd3Es2Wa1Qz0Xc"),
    ("git clone https://ci:Xv8/Qm3+Lz7@git.example.com/repo.git", "Xv8/Qm3+Lz7"),
    ("curl -u deploy:Kq7Wm2Zx9Rt4 https://api.example.com", "Kq7Wm2Zx9Rt4"),
];

/// Secrets that only their position in `terminal_command.args` reveals:
/// (command, args, the part that must never be stored).
const ARGV_CORPUS: &[(&str, &[&str], &str)] = &[
    ("mysql", &["-u", "root", "--password", "Pw1-Argv-Mysql", "-h", "db"], "Pw1-Argv-Mysql"),
    ("sshpass", &["-p", "Pw2-Argv-Short", "ssh", "host"], "Pw2-Argv-Short"),
    ("cargo", &["publish", "--token", "cioArgvTok3xyz"], "cioArgvTok3xyz"),
    ("vault", &["login", "--api-key", "Pw4-Argv-Apikey"], "Pw4-Argv-Apikey"),
    ("curl", &["-u", "deploy:Pw5-Argv-User", "https://api.example.com"], "Pw5-Argv-User"),
    ("curl", &["--header", "Authorization: Token Pw6ArgvHeader9", "https://api.example.com"], "Pw6ArgvHeader9"),
    ("tool", &["--token=plainargvtoken"], "plainargvtoken"),
    ("docker", &["login", "-u", "bob", "-p", "Pw8-Argv-Docker", "registry.example.com"], "Pw8-Argv-Docker"),
    ("curl", &["--user", "ops:Pw9-Argv-Long", "https://api.example.com"], "Pw9-Argv-Long"),
    ("curl", &["--cookie", "sid=Pw10ArgvCookie", "https://app.example.com"], "Pw10ArgvCookie"),
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

/// One `terminal_command` per argv case, `copies` times with fresh event ids.
fn argv_events(copies: usize) -> Vec<String> {
    let template = sample_lines().into_iter().find(|l| l.contains("\"terminal_command\"")).unwrap();
    let mut out = Vec::new();
    for _ in 0..copies {
        for (command, args, _) in ARGV_CORPUS {
            let mut e = parse_event(template.as_bytes()).unwrap().event;
            let EventBody::TerminalCommand(t) = &mut e.body else { panic!("not a terminal_command") };
            t.command = (*command).to_owned();
            t.args = Some(args.iter().map(|a| (*a).to_owned()).collect());
            e.event_id = uuid::Uuid::new_v4();
            out.push(String::from_utf8(e.to_json().unwrap()).unwrap());
        }
    }
    out
}

fn ndjson(lines: &[String]) -> Vec<u8> {
    lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect()
}

/// Every Parquet row and every catalog table row, as JSON text.
fn decoded_rows(data: &Path) -> Vec<String> {
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
    for table in ["segments", "trace_index", "job_index", "id_filters", "retention_log"] {
        rows_of(&format!("SELECT to_json(t)::VARCHAR FROM cat.{table} t"));
    }
    texts
}

/// Posts `lines` to a `flightrec serve` child, waits until all are acknowledged (durable in
/// the WAL), then kills the child with SIGKILL: whatever it left on disk is checked.
fn record_then_kill_9(data: &Path, lines: &[String]) {
    // The sample events are dated 2026-11-25: with the default window of 7 days, the server's
    // retention at open would drop the events recorded before it, which this test counts.
    let (mut child, base) = serve_child(data, &["--retention-days", "36500"]);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent
        .post(&format!("{base}/v1/events:ndjson"))
        .header("Content-Type", "application/x-ndjson")
        .send(&ndjson(lines)[..])
        .unwrap();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["accepted"].as_u64(), Some(lines.len() as u64), "{body}");
}

/// Records `lines` with `flightrec ingest` and compacts; records `killed` through a server
/// killed with SIGKILL; compacts again. After each step no file under the data directory
/// holds any of `secrets`, and neither do the decoded rows at the end. Returns those rows.
fn record_everywhere_and_find_no_secret(lines: &[String], killed: &[String], secrets: &[&str]) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let input = tmp.path().join("secrets.ndjson");
    std::fs::write(&input, ndjson(lines)).unwrap();
    let out = flightrec(&data, &["ingest", input.to_str().unwrap(), "--segment-bytes", "8192"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(flightrec(&data, &["compact"]).status.code(), Some(0));
    let mut leaks = raw_leaks(&data, secrets);
    if !stdout.contains(&format!("redacted {}", lines.len())) {
        leaks.push(format!("not every event was redacted, though each holds a secret: {stdout}"));
    }

    record_then_kill_9(&data, killed);
    leaks.extend(raw_leaks(&data, secrets));
    assert_eq!(flightrec(&data, &["compact"]).status.code(), Some(0));
    leaks.extend(raw_leaks(&data, secrets));

    let stats: serde_json::Value = serde_json::from_slice(&flightrec(&data, &["stats", "--json"]).stdout).unwrap();
    assert_eq!(stats["events"].as_u64(), Some((lines.len() + killed.len()) as u64), "{stats}");
    assert!(files_under(&data).iter().any(|f| f.extension().is_some_and(|e| e == "parquet")));
    let rows = decoded_rows(&data);
    if !rows.iter().any(|t| t.contains("[REDACTED:")) {
        leaks.push("no redacted event was read back".to_owned());
    }
    for row in &rows {
        leaks
            .extend(secrets.iter().filter(|s| row.contains(**s)).map(|s| format!("{s} decoded from the store: {row}")));
    }
    leaks.sort();
    leaks.dedup();
    assert!(leaks.is_empty(), "{} leaks:\n{}", leaks.len(), leaks.join("\n"));
    rows
}

#[test]
fn no_secret_of_any_field_of_any_event_type_reaches_the_disk() {
    let secrets: Vec<&str> = CORPUS.iter().map(|(_, s)| *s).collect();
    record_everywhere_and_find_no_secret(&secret_events(3), &secret_events(5), &secrets);
}

#[test]
fn no_secret_split_across_arguments_reaches_the_disk() {
    let secrets: Vec<&str> = ARGV_CORPUS.iter().map(|(_, _, s)| *s).collect();
    let rows = record_everywhere_and_find_no_secret(&argv_events(3), &argv_events(5), &secrets);
    // By position: the flag stays, its value is the marker; other arguments are kept.
    let payloads = rows.join("\n").replace('\\', "");
    assert!(payloads.contains(r#""--password","[REDACTED:password_assignment]","-h","db""#), "{payloads}");
    assert!(payloads.contains(r#""-u","deploy:[REDACTED:password_assignment]""#), "{payloads}");
    assert!(payloads.contains("registry.example.com"));
}
