#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! HTTPS: `flightrec serve --tls-cert --tls-key` with a self-signed certificate made here, a
//! real TLS client and the CLI's `--url --ca-cert` against the real binary; plain HTTP and a
//! stalled handshake on the TLS port; bad certificate and key files; the loud warning when a
//! token would be sent in clear.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{flightrec, sample_lines, serve_child, serve_child_at};
use serde_json::Value;

/// A self-signed certificate for 127.0.0.1 and localhost and its key, as PEM files.
struct SelfSigned {
    dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

fn self_signed() -> SelfSigned {
    let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    SelfSigned { dir, cert: cert_path, key: key_path }
}

impl SelfSigned {
    fn serve_args(&self) -> Vec<&str> {
        vec!["--tls-cert", self.cert.to_str().unwrap(), "--tls-key", self.key.to_str().unwrap()]
    }
}

/// A TLS client that trusts only `cert`.
fn trusting(cert: &Path) -> ureq::Agent {
    let cert = ureq::tls::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap();
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::from([cert])).build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(tls)
        .build()
        .into()
}

fn status(agent: &ureq::Agent, url: &str) -> Result<u16, ureq::Error> {
    agent.get(url).call().map(|r| r.status().as_u16())
}

#[test]
fn events_go_in_and_out_over_https_and_plain_http_gets_nothing() {
    let pki = self_signed();
    let data = tempfile::tempdir().unwrap();
    let mut args = vec!["--token", "tok", "--request-timeout", "2"];
    args.extend(pki.serve_args());
    // Off loopback with TLS: allowed, and no clear-text warning.
    let (mut child, base) = serve_child_at(data.path(), "0.0.0.0:0", &args, &[], Stdio::piped());
    assert!(base.starts_with("https://0.0.0.0:"), "{base}");
    let base = base.replacen("0.0.0.0", "127.0.0.1", 1);
    let agent = trusting(&pki.cert);

    let line = &sample_lines()[0];
    let mut r = agent
        .post(&format!("{base}/v1/events"))
        .header("Authorization", "Bearer tok")
        .header("Content-Type", "application/json")
        .send(line.as_bytes())
        .unwrap();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status().as_u16(), 200, "{body}");
    let event_id = serde_json::from_str::<Value>(line).unwrap()["event_id"].as_str().unwrap().to_string();

    // Read back by the CLI's --url client, trusting the certificate through --ca-cert.
    let cli = |extra: &[&str]| {
        let mut args = vec!["query", "--json", "--url", &base, "--token", "tok"];
        args.extend(extra);
        flightrec(&data.path().join("unused"), &args)
    };
    let out = cli(&["--ca-cert", pki.cert.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_id"], event_id.as_str());
    // Without --ca-cert the self-signed certificate is not trusted: the client verifies.
    let out = cli(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).to_lowercase().contains("certificate"), "{out:?}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = base.replacen("https://", "http://", 1);
    assert!(status(&agent, &format!("{plain}/healthz")).is_err(), "plain HTTP must not be served");
    // A client that connects and never starts its handshake is dropped after the timeout.
    let mut stalled = std::net::TcpStream::connect(plain.trim_start_matches("http://")).unwrap();
    stalled.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    let _ = std::io::Read::read_to_end(&mut stalled, &mut Vec::new());
    assert!(started.elapsed() < Duration::from_secs(15), "the handshake is bounded by the 2 s timeout");
    // Neither stopped the server.
    assert_eq!(status(&agent, &format!("{base}/healthz")).unwrap(), 200);

    child.kill().unwrap();
    let out = child.into_inner().wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("in clear"), "no warning with TLS");
}

#[test]
fn bad_certificate_or_key_files_stop_serve_before_it_binds() {
    let pki = self_signed();
    let other = self_signed();
    let data = tempfile::tempdir().unwrap();
    // A port in use: had serve bound before checking the files, it would fail on the bind.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = busy.local_addr().unwrap().to_string();
    let garbage = pki.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a PEM file\n").unwrap();
    let missing = pki.dir.path().join("missing.pem");
    let cases = [
        (pki.cert.as_path(), garbage.as_path(), garbage.as_path()),
        (garbage.as_path(), pki.key.as_path(), garbage.as_path()),
        (missing.as_path(), pki.key.as_path(), missing.as_path()),
        (pki.cert.as_path(), other.key.as_path(), other.key.as_path()),
    ];
    for (cert, key, named) in cases {
        let args = ["serve", "--bind", &bind, "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
        let out = flightrec(data.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("HSK-400-TLS-FILE"), "{stderr}");
        assert!(stderr.contains(named.to_str().unwrap()), "the error names {}: {stderr}", named.display());
    }
    let out = flightrec(data.path(), &["serve", "--bind", &bind, "--tls-cert", pki.cert.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "--tls-cert needs --tls-key");
}

/// Starts `serve --bind BIND ARGS`, stops it once it listens, and returns its standard error.
fn stderr_of_serve(bind: &str, args: &[&str]) -> String {
    let data = tempfile::tempdir().unwrap();
    let (mut child, _) = serve_child_at(data.path(), bind, args, &[], Stdio::piped());
    child.kill().unwrap();
    String::from_utf8_lossy(&child.into_inner().wait_with_output().unwrap().stderr).into_owned()
}

#[test]
fn plain_http_off_loopback_is_warned_about_loudly() {
    let stderr = stderr_of_serve("0.0.0.0:0", &["--token", "tok"]);
    assert!(stderr.contains("WARNING: serving plain HTTP on 0.0.0.0:"), "{stderr}");
    assert!(stderr.contains("--tls-cert"), "the warning says what to do: {stderr}");
    assert!(stderr.contains("WARN"), "and it is logged through tracing too: {stderr}");
    assert_eq!(stderr.matches("in clear").count(), 2, "once on stderr, once in the log: {stderr}");
    let loopback = stderr_of_serve("127.0.0.1:0", &[]);
    assert!(!loopback.contains("in clear"), "loopback is not warned about: {loopback}");
}

#[test]
fn the_cli_refuses_a_ca_cert_file_without_a_certificate() {
    let pki = self_signed();
    let data = tempfile::tempdir().unwrap();
    let (mut child, base) = serve_child(data.path(), &pki.serve_args());
    let out = flightrec(pki.dir.path(), &["query", "--url", &base, "--ca-cert", pki.key.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(pki.key.to_str().unwrap()) && stderr.contains("no PEM certificate"), "{stderr}");
    child.kill().unwrap();
    child.wait().unwrap();
}
