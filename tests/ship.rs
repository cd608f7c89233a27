//! Shipping to a real S3-compatible server on loopback (`moto_server`, from PyPI `moto[server]`):
//! two hosts into one bucket read back by stock pyarrow, `kill -9` of a ship in the middle of a
//! backlog, and the endpoint going away under a running `serve`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `moto_server` child on a loopback port, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts moto_server on `port` (0: a free one); None when it cannot run here.
    fn start_on(port: u16) -> Option<Moto> {
        let port = if port == 0 { free_port() } else { port };
        let child = Command::new("moto_server")
            .args(["-p", &port.to_string(), "-H", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || moto.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `AWS_*` variables that point flightrec at this server.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    fn create_bucket(&self, bucket: &str) {
        let r = ureq::put(&format!("{}/{bucket}", self.endpoint())).send_empty().unwrap();
        assert!(r.status().is_success(), "create bucket {bucket}: {}", r.status());
    }

    /// Every key of the bucket under `prefix` (moto accepts unsigned requests).
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (mut keys, mut token) = (Vec::new(), None::<String>);
        loop {
            let mut url = format!("{}/{bucket}?list-type=2&prefix={prefix}", self.endpoint());
            if let Some(t) = &token {
                url.push_str(&format!(
                    "&continuation-token={}",
                    t.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
                ));
            }
            let body = ureq::get(&url).call().unwrap().body_mut().read_to_string().unwrap();
            keys.extend(between(&body, "<Key>", "</Key>"));
            token = between(&body, "<NextContinuationToken>", "</NextContinuationToken>").into_iter().next();
            if token.is_none() {
                return keys;
            }
        }
    }

    /// An object's bytes, read by pyarrow's S3 client.
    fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let script = format!(
            "import sys, pyarrow.fs as fs\n{S3FS}\nsys.stdout.buffer.write(s3.open_input_stream(sys.argv[2]).read())"
        );
        let out = Command::new("python3")
            .args(["-c", &script, &self.endpoint(), &format!("{bucket}/{key}")])
            .output()
            .unwrap();
        assert_ok(&out, "pyarrow get");
        out.stdout
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// pyarrow's S3 client on moto (`sys.argv[1]`: the endpoint).
const S3FS: &str = r#"s3 = fs.S3FileSystem(access_key="testing", secret_key="testing", region="us-east-1",
                     endpoint_override=sys.argv[1], scheme="http")"#;

/// The texts between each `open` and the next `close`.
fn between(body: &str, open: &str, close: &str) -> Vec<String> {
    body.split(open).skip(1).filter_map(|s| s.split(close).next()).map(String::from).collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// moto_server, or None after saying SKIPPED (outside CI; in CI it must run).
fn moto_or_skip() -> Option<Moto> {
    let moto = Moto::start_on(0);
    if moto.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must have moto_server (.ci/run installs moto[server])");
        eprintln!("SKIPPED: python3 -m pip install 'moto[server]' pyarrow to run this test");
    }
    moto
}

/// `n` events: the sample events again and again, each with a fresh event_id.
fn fresh_events(n: usize) -> Vec<String> {
    let sample = common::sample_lines();
    (0..n)
        .map(|i| {
            let mut v: Value = serde_json::from_str(&sample[i % sample.len()]).unwrap();
            v["event_id"] = Value::String(uuid::Uuid::new_v4().to_string());
            v.to_string()
        })
        .collect()
}

fn event_ids(lines: &[String]) -> BTreeSet<String> {
    lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["event_id"].as_str().unwrap().to_string()).collect()
}

/// `flightrec ARGS` on `dir` with the moto variables set.
fn flightrec_s3(dir: &Path, moto: &Moto, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flightrec"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .envs(moto.env())
        .output()
        .unwrap()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads `s3://BUCKET/PREFIX` with stock pyarrow (S3FileSystem, hive partitioning): each
/// row's `host` partition and `event_id`, as `host event_id` lines.
fn pyarrow_read(moto: &Moto, bucket: &str, prefix: &str) -> Vec<(String, String)> {
    let script = format!(
        r#"
import sys
import pyarrow.dataset as ds
import pyarrow.fs as fs
{S3FS}
table = ds.dataset(sys.argv[2], filesystem=s3, format="parquet", partitioning="hive").to_table(columns=["host", "event_id"])
for host, event_id in zip(table.column("host").to_pylist(), table.column("event_id").to_pylist()):
    print(host, event_id)
"#
    );
    let endpoint = moto.endpoint();
    let out = Command::new("python3").args(["-c", &script, &endpoint, &format!("{bucket}/{prefix}")]).output().unwrap();
    assert_ok(&out, "pyarrow read");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (h, id) = l.split_once(' ').unwrap();
            (h.to_string(), id.to_string())
        })
        .collect()
}

/// Local Parquet files as keys under `prefix/host=HOST/` (`host=HOST/` with no prefix).
fn local_keys(dir: &Path, prefix: &str, host: &str) -> BTreeSet<String> {
    let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
    common::files_under(&dir.join("events"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .map(|f| format!("{prefix}host={host}/{}", f.strip_prefix(dir).unwrap().display()))
        .collect()
}

#[test]
fn two_hosts_ship_to_one_bucket_and_pyarrow_reads_every_event_once() {
    let Some(moto) = moto_or_skip() else { return };
    moto.create_bucket("fleet");
    let tmp = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for (host, n) in [("host-a", 130), ("host-b", 70)] {
        let dir = tmp.path().join(host);
        let lines = fresh_events(n);
        common::record(&dir, &lines, 25);
        assert_ok(&common::flightrec(&dir, &["compact"]), "compact");
        let out = flightrec_s3(&dir, &moto, &["ship", "--ship-to", "s3://fleet/prod", "--host-id", host, "--json"]);
        assert_ok(&out, "ship");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let files = local_keys(&dir, "prod", host);
        assert_eq!(report["shipped"].as_array().unwrap().len(), files.len(), "{report}");
        // Shipping again finds nothing to do.
        let again = flightrec_s3(&dir, &moto, &["ship", "--ship-to", "s3://fleet/prod", "--host-id", host, "--json"]);
        assert_ok(&again, "second ship");
        assert_eq!(serde_json::from_slice::<Value>(&again.stdout).unwrap()["shipped"], serde_json::json!([]));
        // The objects are the local files, byte for byte.
        let remote: BTreeSet<String> = moto.keys("fleet", &format!("prod/host={host}/")).into_iter().collect();
        assert_eq!(remote, files);
        let key = files.iter().next().unwrap();
        let local = dir.join(key.split_once(&format!("host={host}/")).unwrap().1);
        assert_eq!(moto.get("fleet", key), std::fs::read(local).unwrap());
        expected.extend(event_ids(&lines).into_iter().map(|id| (host.to_string(), id)));
    }
    let mut rows = pyarrow_read(&moto, "fleet", "prod");
    let read = rows.len();
    rows.sort();
    rows.dedup();
    assert_eq!(read, rows.len(), "pyarrow read duplicate events");
    expected.sort();
    assert_eq!(rows, expected);
}

#[test]
fn kill_9_during_a_large_ship_then_a_rerun_leaves_every_event_once() {
    let Some(moto) = moto_or_skip() else { return };
    moto.create_bucket("backlog");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let lines = fresh_events(6_000);
    common::record(&dir, &lines, 20);
    assert_ok(&common::flightrec(&dir, &["compact"]), "compact");
    let files = local_keys(&dir, "p", "h1");
    assert!(files.len() >= 300, "{} files", files.len());
    let mut ship = Command::new(env!("CARGO_BIN_EXE_flightrec"))
        .arg("--data-dir")
        .arg(&dir)
        .args(["ship", "--ship-to", "s3://backlog/p", "--host-id", "h1"])
        .envs(moto.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while moto.keys("backlog", "p/").len() < 20 {
        assert!(Instant::now() < deadline, "the ship never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ship.try_wait().unwrap().is_none(), "ship finished before the kill: make the backlog larger");
    ship.kill().unwrap();
    ship.wait().unwrap();
    let partial = moto.keys("backlog", "p/").len();
    assert!(partial < files.len(), "everything was shipped before the kill");

    assert_ok(&flightrec_s3(&dir, &moto, &["ship", "--ship-to", "s3://backlog/p", "--host-id", "h1"]), "rerun");
    let keys = moto.keys("backlog", "p/");
    assert_eq!(keys.iter().cloned().collect::<BTreeSet<_>>(), files);
    assert_eq!(keys.len(), files.len());
    let rows = pyarrow_read(&moto, "backlog", "p");
    let ids: BTreeSet<String> = rows.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(rows.len(), lines.len(), "every event exactly once");
    assert_eq!(ids, event_ids(&lines));
    let stats: Value = serde_json::from_slice(&common::flightrec(&dir, &["stats", "--json"]).stdout).unwrap();
    assert_eq!(
        (stats["shipped_files"].as_u64(), stats["unshipped_files"].as_u64()),
        (Some(files.len() as u64), Some(0))
    );
}

/// `GET /v1/stats` of a server.
fn stats(base: &str) -> Value {
    serde_json::from_str(&ureq::get(&format!("{base}/v1/stats")).call().unwrap().body_mut().read_to_string().unwrap())
        .unwrap()
}

fn post_events(base: &str, lines: &[String]) {
    let body = format!("[{}]", lines.join(","));
    let r = ureq::post(&format!("{base}/v1/events")).header("Content-Type", "application/json").send(body).unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// Waits until `ok` holds for the server's stats; returns them.
fn wait_for(base: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = stats(base);
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {s}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn serve_keeps_recording_while_the_endpoint_is_down_and_ships_once_it_is_back() {
    let Some(mut moto) = moto_or_skip() else { return };
    moto.create_bucket("live");
    let tmp = tempfile::tempdir().unwrap();
    let env: Vec<(&str, String)> = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["--segment-age", "1", "--ship-to", "s3://live/fleet", "--host-id", "srv"];
    let (mut server, base) = common::serve_child_env(tmp.path(), &args, &env);

    // Each post seals the segment of the one before (older than --segment-age), which is then
    // compacted and shipped.
    post_events(&base, &fresh_events(50));
    std::thread::sleep(Duration::from_millis(1200));
    post_events(&base, &fresh_events(1));
    wait_for(&base, "the first files to ship", |s| s["shipped_files"].as_u64() > Some(0) && s["unshipped_files"] == 0);

    moto.stop();
    let during = fresh_events(80);
    let compacted_before = stats(&base)["compacted_events"].as_u64().unwrap();
    for chunk in during.chunks(20) {
        post_events(&base, chunk);
        std::thread::sleep(Duration::from_millis(1200));
    }
    post_events(&base, &fresh_events(1));
    let down = wait_for(&base, "files waiting while the endpoint is down", |s| {
        s["unshipped_files"].as_u64() >= Some(2) && s["last_ship_error"].is_string()
    });
    assert!(down["compacted_events"].as_u64().unwrap() > compacted_before, "compaction stopped: {down}");
    let error = down["last_ship_error"].as_str().unwrap();
    assert!(error.contains("HSK-502-SHIP-FAILED"), "{error}");
    let metrics = ureq::get(&format!("{base}/metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(metrics.contains("flightrec_ship_failing 1"), "{metrics}");

    // The endpoint comes back (empty: moto keeps nothing), and what waited ships.
    let mut back = Moto::start_on(moto.port).expect("moto_server restarts on its port");
    back.create_bucket("live");
    let up = wait_for(&base, "the backlog to ship", |s| s["unshipped_files"] == 0 && s["last_ship_error"].is_null());
    let rows = pyarrow_read(&back, "live", "fleet");
    let shipped: BTreeSet<String> = rows.iter().map(|(_, id)| id.clone()).collect();
    let missing = event_ids(&during).difference(&shipped).count();
    assert_eq!(missing, 0, "events recorded during the outage are missing from the bucket: {up} {} rows", rows.len());
    assert_eq!(rows.len(), shipped.len(), "duplicate events in the bucket");
    assert!(up["shipped_files"].as_u64() >= down["unshipped_files"].as_u64());
    server.kill().unwrap();
    server.wait().unwrap();
    back.stop();
}

#[test]
fn retention_keeps_unshipped_files_and_remote_retention_deletes_expired_objects() {
    // The sample events are days old: a 1-day window has expired them all.
    let tmp = tempfile::tempdir().unwrap();
    let (dir, bucket) = (tmp.path().join("data"), tmp.path().join("bucket"));
    common::record(&dir, &common::sample_lines(), 10);
    assert_ok(&common::flightrec(&dir, &["compact"]), "compact");
    // A file:// URL names the directory the keys start in.
    let files = local_keys(&dir, "", "h");
    let target = format!("file://{}", bucket.display());
    let ship_to = ["--ship-to", target.as_str()];

    let kept = common::flightrec(&dir, &[&["retention", "--retention-days", "1", "--json"][..], &ship_to].concat());
    assert_ok(&kept, "retention before shipping");
    let report: Value = serde_json::from_slice(&kept.stdout).unwrap();
    assert_eq!(report["dropped"], serde_json::json!([]), "{report}");
    assert_eq!(report["kept_unshipped"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(local_keys(&dir, "", "h"), files, "an unshipped file was deleted");

    let args = [&["ship", "--host-id", "h", "--remote-retention-days", "1"][..], &ship_to].concat();
    // Shipped, then deleted from the mirror by remote retention in the same run.
    assert_ok(&common::flightrec(&dir, &args), "ship");
    assert_eq!(common::files_under(&bucket), Vec::<std::path::PathBuf>::new(), "expired objects are still there");
    let dropped = common::flightrec(&dir, &[&["retention", "--retention-days", "1", "--json"][..], &ship_to].concat());
    let report: Value = serde_json::from_slice(&dropped.stdout).unwrap();
    assert_eq!(report["dropped"].as_array().unwrap().len(), 3, "{report}");
    assert!(local_keys(&dir, "", "h").is_empty());

    let conn = duckdb::Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!("ATTACH '{}' AS cat (READ_ONLY)", dir.join("catalog.duckdb").display())).unwrap();
    let logged: Vec<String> = {
        let mut stmt =
            conn.prepare("SELECT unnest(files) FROM cat.retention_log WHERE source = 'remote' ORDER BY 1").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(logged.into_iter().collect::<BTreeSet<_>>(), files, "remote deletions are logged with their keys");
    let stats: Value = serde_json::from_slice(&common::flightrec(&dir, &["stats", "--json"]).stdout).unwrap();
    assert_eq!(stats["unshipped_files"], 0, "{stats}");
}

/// The keys of a `file://` bucket directory, relative to it.
fn bucket_keys(bucket: &Path) -> BTreeSet<String> {
    if !bucket.exists() {
        return BTreeSet::new();
    }
    common::files_under(bucket).into_iter().map(|f| f.strip_prefix(bucket).unwrap().display().to_string()).collect()
}

#[test]
fn compact_watch_ships_each_compaction_as_segments_are_sealed() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, bucket) = (tmp.path().join("data"), tmp.path().join("bucket"));
    let first = fresh_events(40);
    common::record(&data, &first, 10);
    let target = format!("file://{}", bucket.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_flightrec"))
        .arg("--data-dir")
        .arg(&data)
        .args(["compact", "--watch", "--ship-to", &target, "--host-id", "watcher"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let shipped_all = |events: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let local = if data.join("events").exists() { local_keys(&data, "", "watcher") } else { BTreeSet::new() };
            if !local.is_empty() && bucket_keys(&bucket) == local {
                let count = common::parquet_query(&data, "SELECT count(*)::VARCHAR FROM EVENTS")[0][0].clone();
                if count.as_deref() == Some(events.to_string().as_str()) {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "not shipped: local {local:?}, bucket {:?}", bucket_keys(&bucket));
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    shipped_all(first.len());
    // Segments sealed while it watches are compacted and shipped too, without a restart.
    let later = fresh_events(25);
    common::record(&data, &later, 10);
    shipped_all(first.len() + later.len());
    let _ = child.kill();
    let _ = child.wait();
    for key in bucket_keys(&bucket) {
        let local = data.join(key.strip_prefix("host=watcher/").unwrap());
        assert_eq!(std::fs::read(bucket.join(&key)).unwrap(), std::fs::read(&local).unwrap(), "{key}: same bytes");
    }
}
