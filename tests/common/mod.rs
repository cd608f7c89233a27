//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flightrec::datadir::DataDir;
use flightrec::ingest::prepare_json;
use flightrec::redact::Redactor;
use flightrec::wal::{Durability, Wal, WalHooks, WalOptions};

pub const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-events.ndjson");

pub fn sample_lines() -> Vec<String> {
    std::fs::read_to_string(SAMPLE).unwrap().lines().filter(|l| !l.trim().is_empty()).map(String::from).collect()
}

/// Runs the flightrec binary on a data directory.
pub fn flightrec(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flightrec")).arg("--data-dir").arg(data_dir).args(args).output().unwrap()
}

/// Records JSON events through the full ingest path, sealing after every `per_segment`.
pub fn record(data_dir: &Path, lines: &[String], per_segment: usize) {
    let dir = DataDir::open(data_dir).unwrap();
    let (wal, _) = Wal::open(&dir.layout().wal_dir(), WalOptions::default(), WalHooks::default()).unwrap();
    let redactor = Redactor::builtin();
    for (i, line) in lines.iter().enumerate() {
        let p = prepare_json(&redactor, line.as_bytes()).unwrap();
        wal.append_blocking(p.payload, Durability::Sync).unwrap();
        if (i + 1) % per_segment == 0 {
            wal.seal_blocking().unwrap();
        }
    }
    wal.seal_blocking().unwrap();
    wal.close().unwrap();
}

/// One DuckDB query over every Parquet file of a data directory.
pub fn parquet_query(data_dir: &Path, select: &str) -> Vec<Vec<Option<String>>> {
    parquet_query_on(&duckdb::Connection::open_in_memory().unwrap(), data_dir, select)
}

/// [`parquet_query`] on a connection the caller keeps (a DuckDB database costs milliseconds
/// to start, which a test running many short cases pays once).
pub fn parquet_query_on(conn: &duckdb::Connection, data_dir: &Path, select: &str) -> Vec<Vec<Option<String>>> {
    let glob = data_dir.join("events/**/*.parquet");
    let sql = select.replace("EVENTS", &format!("read_parquet('{}', hive_partitioning = true)", glob.display()));
    let mut stmt = conn.prepare(&sql).unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        let n = row.as_ref().column_count();
        out.push((0..n).map(|i| row.get::<_, Option<String>>(i).unwrap()).collect());
    }
    out
}

/// The test-support writer (tests/support/ack_writer.rs) on a data directory: it records
/// generated events and prints each acknowledged event_id until killed.
pub fn ack_writer(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flightrec-ack-writer"));
    command.arg("--data-dir").arg(data_dir);
    command
}

/// Runs the ack writer (`ack_writer`) with ARGS, waits for its first acknowledgement (it is
/// up), lets it run `kill_after`, kills it with SIGKILL, and returns every event_id it
/// acknowledged (a line cut by the kill is not one).
pub fn ingest_then_kill_9(data_dir: &Path, args: &[&str], kill_after: std::time::Duration) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let mut child = ack_writer(data_dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let reader = std::thread::spawn(move || {
        let mut lines = vec![first.trim().to_string()];
        lines.extend(stdout.lines().map_while(Result::ok));
        lines
    });
    std::thread::sleep(kill_after);
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap().into_iter().filter(|l| uuid::Uuid::parse_str(l).is_ok()).collect()
}

/// A `flightrec serve` child process, killed when dropped: a test that fails half-way must
/// not leave its server running (holding ports, files, and whatever its parent's fds were).
pub struct ServeChild(Option<std::process::Child>);

impl ServeChild {
    /// The child itself, no longer killed on drop (e.g. for `wait_with_output`).
    pub fn into_inner(mut self) -> std::process::Child {
        self.0.take().expect("a ServeChild holds its child until dropped")
    }
}

impl std::ops::Deref for ServeChild {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        self.0.as_ref().expect("a ServeChild holds its child until dropped")
    }
}

impl std::ops::DerefMut for ServeChild {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("a ServeChild holds its child until dropped")
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `flightrec serve` on loopback as a child process; returns it and its base URL.
pub fn serve_child(dir: &std::path::Path, extra: &[&str]) -> (ServeChild, String) {
    serve_child_at(dir, "127.0.0.1:0", extra, &[], std::process::Stdio::null())
}

/// [`serve_child`] with environment variables set for the server.
pub fn serve_child_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (ServeChild, String) {
    serve_child_at(dir, "127.0.0.1:0", extra, env, std::process::Stdio::null())
}

/// Starts `flightrec serve --bind BIND EXTRA...` with `env` set and its standard error sent to
/// `stderr`; returns the child and the base URL it prints (http:// or https://).
pub fn serve_child_at(
    dir: &std::path::Path,
    bind: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    stderr: std::process::Stdio,
) -> (ServeChild, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flightrec"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--bind", bind])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    // Keep reading what the server prints later, so its writes never fail on a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (ServeChild(Some(child)), base)
}

/// One HTTP/1.1 exchange on a fresh connection, written byte for byte as given (so tests can
/// send any Host, Origin or Content-Type, or headers without the body they announce). The
/// caller ends the head with `Connection: close` and a blank line. Returns the status, the
/// head of the answer (lower case) and its body.
pub fn raw_http(addr: &str, request: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    if let Err(e) = conn.read_to_end(&mut answer) {
        assert!(!answer.is_empty(), "no answer to {request:?}: {e}");
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head in {answer:?}"));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// The `*.wal` segment files of a WAL directory, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// Copies the files of a directory (not its subdirectories) into `to`, creating it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// Every file under a directory, subdirectories included.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out
}

/// Every `secret in file` found as raw bytes in any file under the data directory (WAL
/// segments, Parquet, `catalog.duckdb` and its `.wal`, quarantine…).
pub fn raw_leaks(data: &Path, secrets: &[&str]) -> Vec<String> {
    let mut leaks = Vec::new();
    for file in files_under(data) {
        let bytes = std::fs::read(&file).unwrap();
        for secret in secrets {
            if bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                leaks.push(format!("{secret} in {}", file.display()));
            }
        }
    }
    leaks
}
