#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The web UI in real headless Chromium (Debian `chromium`, driven by playwright-core from
//! npm): starts `flightrec serve --demo` on a free loopback port and runs
//! `tests/browser/ui.test.mjs` against it, which checks the table opens newest first and keeps
//! the chosen order in the URL, checks the overview's histogram against `GET /v1/summary`
//! (one bar per bucket, each bar's count), clicks a bar, a segment and a model row and checks
//! the filtered table, drags to zoom, opens a job from the jobs list, filters by job, opens a
//! trace and its spans, opens an event's detail, sees the retention notice, opens an
//! OpenTelemetry trace exported over OTLP/HTTP (its `span` events nested in the span tree, its
//! `log` event in the list), and saves screenshots under `<target>/tmp/browser-screenshots/`
//! (one per view: `table-newest-first.png`, `overview.png`, `jobs.png`, `job.png`,
//! `trace-otel.png`).
//!
//! Needs /usr/bin/chromium, node and `npm ci --prefix tests/browser` (`.ci/run` does all
//! three). Outside CI a machine without them skips with a message; in CI it fails instead.

mod common;

use std::path::Path;
use std::process::Command;

use common::serve_child;

#[test]
fn the_ui_shows_events_traces_details_and_retention_gaps_in_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let ready = Path::new("/usr/bin/chromium").exists()
        && dir.join("node_modules/playwright-core").exists()
        && Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI must have chromium, node and tests/browser/node_modules");
        eprintln!("SKIPPED: apt-get install chromium && npm ci --prefix tests/browser");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (mut server, base) = serve_child(data.path(), &["--demo"]);
    let url = format!("{base}/");

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let views = ["table-newest-first.png", "overview.png", "jobs.png", "job.png", "trace-otel.png"];
    for name in views {
        let _ = std::fs::remove_file(shots.join(name)); // not one of an earlier run
    }
    let out = Command::new("node").arg(dir.join("ui.test.mjs")).arg(&url).arg(&shots).output().unwrap();
    // SIGTERM: a clean stop, which also removes the demo's temporary data directory.
    let _ = Command::new("kill").arg("-TERM").arg(server.id().to_string()).status();
    let status = server.wait().unwrap();
    assert!(status.success(), "the server stops cleanly on SIGTERM: {status:?}");
    let report = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{report}");
    assert!(out.status.success(), "browser checks failed:\n{report}");
    assert!(report.contains(" 0 failed"), "{report}");
    let pngs = std::fs::read_dir(&shots)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png"))
        .count();
    assert!(pngs >= 5, "screenshots saved in {}", shots.display());
    for name in views {
        assert!(shots.join(name).exists(), "no screenshot {name} in {}", shots.display());
    }
}
