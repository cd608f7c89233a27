#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hostile HTTP clients, generated from the API's own document: schemathesis (PyPI) runs
//! every check (no 5xx; status codes, bodies and content types as documented; invalid
//! requests refused) against a real `flightrec serve` holding the sample events, with the
//! settings and NDJSON serializer in `tests/api-fuzz/`.
//!
//! Needs `st` (`pip install schemathesis`; `.ci/run` installs a pinned version). Outside CI a
//! machine without it skips with a message; in CI it fails instead.

mod common;

use std::path::Path;
use std::process::Command;

use common::{SAMPLE, flightrec, serve_child};

#[test]
fn schemathesis_finds_no_server_error_and_no_undocumented_response() {
    if Command::new("st").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must have schemathesis (`st`); .ci/run installs it");
        eprintln!("SKIPPED: pip install schemathesis");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ingest = flightrec(dir.path(), &["ingest", SAMPLE]);
    assert!(ingest.status.success(), "{}", String::from_utf8_lossy(&ingest.stderr));
    let (mut child, base) = serve_child(dir.path(), &[]);
    let settings = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api-fuzz");
    let out = Command::new("st")
        .arg("--config-file")
        .arg(settings.join("schemathesis.toml"))
        .args(["run", &format!("{base}/v1/openapi.json"), "--seed", "20261125"])
        .args(["--report", "junit", "--report-dir"])
        .arg(dir.path().join("report"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &settings)
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let healthy = ureq::get(&format!("{base}/healthz")).call().map(|r| r.status().as_u16()).ok();
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found problems:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // Every operation schemathesis selected from the document was tested, and it selected
    // at least the 15 the document had when this was written ("Selected: 15/15", "Tested: 15").
    let number_after = |label: &str| {
        let rest = &stdout[stdout.find(label)? + label.len()..];
        rest.split(|c: char| !c.is_ascii_digit()).find(|s| !s.is_empty())?.parse::<usize>().ok()
    };
    let (selected, tested) = (number_after("Selected: "), number_after("Tested: "));
    assert!(
        selected.is_some_and(|n| n >= 15) && tested == selected,
        "every operation was tested ({tested:?} of {selected:?}):\n{stdout}"
    );
    assert_eq!(healthy, Some(200), "the server still serves after the run");
}
