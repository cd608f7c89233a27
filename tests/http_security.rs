#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! What a hostile web page or client can make a running `flightrec serve` do: forged requests
//! from another site (CSRF), DNS rebinding, foreign media types, oversize and endless bodies,
//! floods of requests, control characters in ids. Each test runs the real binary on a free
//! loopback port and talks raw HTTP to it, so every header is exactly what a browser or an
//! attacker would send.

mod common;

use common::{raw_http, sample_lines, serve_child_env};
use serde_json::Value;

/// A running server: the child process and the `host:port` it listens on.
struct Served {
    child: common::ServeChild,
    addr: String,
}

impl Served {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> (Served, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (child, base) = serve_child_env(dir.path(), extra, env);
        let addr = base.trim_start_matches("http://").to_string();
        (Served { child, addr }, dir)
    }

    fn port(&self) -> &str {
        self.addr.rsplit(':').next().unwrap()
    }

    /// A request with the given method, path, extra header lines and body; Host is the
    /// server's address unless the extra headers set one.
    fn send(&self, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String, Value) {
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        if !headers.iter().any(|h| h.to_ascii_lowercase().starts_with("host:")) {
            head.push_str(&format!("Host: {}\r\n", self.addr));
        }
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        let request = format!("{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let (status, head, body) = raw_http(&self.addr, &request);
        let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
        (status, head, v)
    }

    fn get(&self, path: &str, headers: &[&str]) -> (u16, Value) {
        let (status, _, v) = self.send("GET", path, headers, "");
        (status, v)
    }

    fn post(&self, path: &str, headers: &[&str], body: &str) -> (u16, Value) {
        let (status, _, v) = self.send("POST", path, headers, body);
        (status, v)
    }
}

/// The status and the `code` of an answer, which must have the JSON error shape.
fn refusal((status, v): (u16, Value)) -> (u16, String) {
    let code = v["code"].as_str().unwrap_or_else(|| panic!("{status} without a JSON code: {v}"));
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    (status, code.to_string())
}

fn refused(status: u16, code: &str) -> (u16, String) {
    (status, code.to_string())
}

#[test]
fn a_page_on_another_site_can_neither_record_nor_read() {
    let (s, _dir) = Served::start(&[], &[]);
    let event = sample_lines()[0].clone();
    // fetch(url, {method: 'POST', mode: 'no-cors', body}) from a page on another site.
    let forged =
        ["Content-Type: text/plain;charset=UTF-8", "Origin: http://evil.example", "Sec-Fetch-Site: cross-site"];
    assert_eq!(refusal(s.post("/v1/events", &forged, &event)), refused(403, "HSK-403-CROSS-ORIGIN"));
    assert_eq!(refusal(s.post("/v1/events:ndjson", &forged, &event)), refused(403, "HSK-403-CROSS-ORIGIN"));
    let other_port = format!("Origin: http://127.0.0.1:{}1", s.port());
    assert_eq!(
        refusal(s.post("/v1/events", &["Content-Type: application/json", other_port.as_str()], &event)),
        refused(403, "HSK-403-CROSS-ORIGIN"),
        "another port of the same machine is another origin"
    );
    assert_eq!(refusal(s.get("/v1/events", &["Sec-Fetch-Site: cross-site"])), refused(403, "HSK-403-CROSS-ORIGIN"));
    assert_eq!(refusal(s.get("/v1/stats", &["Origin: null"])), refused(403, "HSK-403-CROSS-ORIGIN"));
    // Without Origin (an old browser, a plugin), the media types alone refuse what a page can
    // send without a preflight.
    for ct in [
        "Content-Type: text/plain",
        "Content-Type: application/x-www-form-urlencoded",
        "Content-Type: multipart/form-data; boundary=x",
    ] {
        assert_eq!(
            refusal(s.post("/v1/events", &[ct], &event)),
            refused(415, "HSK-415-UNSUPPORTED-MEDIA-TYPE"),
            "{ct}"
        );
        assert_eq!(refusal(s.post("/v1/events:ndjson", &[ct], &event)), refused(415, "HSK-415-UNSUPPORTED-MEDIA-TYPE"));
        assert_eq!(refusal(s.post("/v1/retention:run", &[ct], "")), refused(415, "HSK-415-UNSUPPORTED-MEDIA-TYPE"));
    }
    assert_eq!(refusal(s.post("/v1/events", &[], &event)), refused(415, "HSK-415-UNSUPPORTED-MEDIA-TYPE"));
    let json_to_ndjson = s.post("/v1/events:ndjson", &["Content-Type: application/json"], &event);
    assert_eq!(refusal(json_to_ndjson), refused(415, "HSK-415-UNSUPPORTED-MEDIA-TYPE"));
    let utf16 = s.post("/v1/events", &["Content-Type: application/json; charset=utf-16"], &event);
    assert_eq!(refusal(utf16), refused(415, "HSK-415-UNSUPPORTED-MEDIA-TYPE"));
    let (status, v) = s.get("/v1/events", &[]);
    assert_eq!((status, v["events"].as_array().map(Vec::len)), (200, Some(0)), "nothing forged was recorded: {v}");

    // The server's own pages and plain clients still work.
    let own = format!("Origin: http://{}", s.addr);
    let (status, v) = s.post(
        "/v1/events",
        &["Content-Type: application/json; charset=utf-8", own.as_str(), "Sec-Fetch-Site: same-origin"],
        &event,
    );
    assert_eq!((status, v["accepted"].as_u64()), (200, Some(1)), "{v}");
    let line = &sample_lines()[1];
    let (status, v) = s.post("/v1/events:ndjson", &["Content-Type: application/x-ndjson; charset=UTF-8"], line);
    assert_eq!((status, v["accepted"].as_u64(), v["rejected_total"].as_u64()), (200, Some(1), Some(0)), "{v}");
    assert_eq!(s.post("/v1/retention:run", &[], "").0, 200, "no body, no Content-Type");
    assert_eq!(s.post("/v1/retention:run", &["Content-Type: application/json"], "").0, 200);
    assert_eq!(s.get("/v1/events", &["Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: cors"]).0, 200);
    // Health checks pass anything; a link from another site still opens the (data-free) UI.
    assert_eq!(s.get("/healthz", &["Origin: http://evil.example", "Sec-Fetch-Site: cross-site"]).0, 200);
    assert_eq!(s.get("/", &["Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate"]).0, 200);
    assert_eq!(s.get("/js/app.js", &["Sec-Fetch-Site: cross-site"]).0, 200, "every static asset, not only the page");
}

#[test]
fn a_rebound_dns_name_is_refused_and_only_allowed_hosts_pass() {
    let (s, _dir) = Served::start(&[], &[("FLIGHTREC_ALLOWED_HOSTS", "recorder.internal,a.example,b.example:8443")]);
    let port = s.port().to_string();
    // A page at http://evil.example:PORT whose name now resolves to 127.0.0.1.
    let rebound = format!("Host: evil.example:{port}");
    for path in ["/v1/events", "/v1/stats", "/v1/jobs/job-42", "/v1/summary", "/v1/jobs", "/", "/metrics"] {
        assert_eq!(refusal(s.get(path, &[rebound.as_str()])), refused(403, "HSK-403-HOST-NOT-ALLOWED"), "{path}");
    }
    let event = sample_lines()[0].clone();
    let (status, code) = refusal(s.post("/v1/events", &[rebound.as_str(), "Content-Type: application/json"], &event));
    assert_eq!((status, code.as_str()), (403, "HSK-403-HOST-NOT-ALLOWED"));
    for bad in [
        format!("Host: localhost:{}", port.parse::<u16>().unwrap() ^ 1),
        "Host: localhost".into(),
        "Host: b.example".into(),
    ] {
        assert_eq!(refusal(s.get("/v1/stats", &[bad.as_str()])), refused(403, "HSK-403-HOST-NOT-ALLOWED"), "{bad}");
    }
    for good in [
        format!("Host: 127.0.0.1:{port}"),
        format!("Host: localhost:{port}"),
        format!("Host: [::1]:{port}"),
        "Host: recorder.internal".into(),
        format!("Host: Recorder.Internal:{port}"),
        "Host: a.example".into(),
        "Host: b.example:8443".into(),
    ] {
        assert_eq!(s.get("/v1/stats", &[good.as_str()]).0, 200, "{good}");
    }
    assert_eq!(s.get("/healthz", &[rebound.as_str()]).0, 200, "health checks answer any host");
    drop(s);

    // With a token, both apply; the names here come from the flag.
    let (s, _dir) = Served::start(&["--token", "t0k", "--allowed-host", "recorder.internal"], &[]);
    assert_eq!(refusal(s.get("/v1/stats", &["Host: recorder.internal"])), refused(401, "HSK-401-UNAUTHORIZED"));
    let rebound = format!("Host: evil.example:{}", s.port());
    let (status, code) = refusal(s.get("/v1/stats", &[rebound.as_str(), "Authorization: Bearer t0k"]));
    assert_eq!((status, code.as_str()), (403, "HSK-403-HOST-NOT-ALLOWED"));
    assert_eq!(s.get("/v1/stats", &["Host: recorder.internal", "Authorization: Bearer t0k"]).0, 200);
}

#[test]
fn an_oversize_body_is_refused_from_its_content_length_and_every_refusal_is_json() {
    let (s, _dir) = Served::start(&[], &[]);
    // Only the head is sent: the answer must come without the body (a server that waited for
    // it would answer 408 after 30 s, after the client's 20 s read timeout).
    for (path, ct, len) in [
        ("/v1/events", "application/json", (16u64 << 20) + 1),
        ("/v1/events:ndjson", "application/x-ndjson", (1u64 << 30) + 1),
    ] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {ct}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
            s.addr
        );
        let started = std::time::Instant::now();
        let (status, head, body) = raw_http(&s.addr, &request);
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body:?}"));
        assert_eq!((status, v["code"].as_str()), (413, Some("HSK-413-BODY-TOO-LARGE")), "{path}: {v}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{path}: refused before any body byte");
    }
    // Other refusals of the HTTP stack: an unknown method, a path that does not decode.
    let (status, _, v) = s.send("PUT", "/v1/events", &[], "");
    assert_eq!(refusal((status, v)), refused(405, "HSK-405-METHOD-NOT-ALLOWED"));
    assert_eq!(refusal(s.get("/v1/jobs/%FF", &[])).0, 400, "an id that is not UTF-8");
}

#[test]
fn requests_over_the_concurrency_limit_get_503_with_retry_after() {
    use std::io::Write;
    let (s, _dir) = Served::start(&["--max-concurrent-requests", "2"], &[]);
    // Two requests that hold their slot: each announces a body and sends none.
    let hold = |_| {
        let mut c = std::net::TcpStream::connect(&s.addr).unwrap();
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
            s.addr
        );
        c.write_all(head.as_bytes()).unwrap();
        c
    };
    // Connections that arrive together are served in any order: a probe served before a held
    // request holds a slot for a moment and gets that request refused. Such a request is
    // sent again.
    let answered = |c: &std::net::TcpStream| {
        c.set_nonblocking(true).unwrap();
        let got = c.peek(&mut [0u8; 1]).is_ok();
        c.set_nonblocking(false).unwrap();
        got
    };
    let mut held: Vec<std::net::TcpStream> = (0..2).map(hold).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (status, head, v) = loop {
        for c in &mut held {
            if answered(c) {
                *c = hold(0);
            }
        }
        let answer = s.send("GET", "/v1/stats", &[], "");
        if answer.0 == 503 || std::time::Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!((status, v["code"].as_str()), (503, Some("HSK-503-OVERLOADED")), "{v}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert_eq!(s.get("/healthz", &[]).0, 200, "health checks are not counted");
    drop(held);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.get("/v1/stats", &[]).0 != 200 {
        assert!(std::time::Instant::now() < deadline, "the slots were never given back");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn sixteen_mib_of_bad_ndjson_lines_keep_memory_and_the_answer_bounded() {
    let (s, _dir) = Served::start(&["--request-timeout", "600"], &[]);
    let lines = 8u64 << 20;
    let body = "x\n".repeat(lines as usize);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent
        .post(&format!("http://{}/v1/events:ndjson", s.addr))
        .header("Content-Type", "application/x-ndjson")
        .send(body.as_bytes())
        .unwrap();
    let status = r.status().as_u16();
    let answer = r.body_mut().with_config().limit(64 << 20).read_to_string().unwrap();
    let peak = peak_rss_kib(s.child.id());
    assert_eq!(status, 200, "{}", &answer[..answer.len().min(500)]);
    assert!(answer.len() < 1 << 20, "the answer is {} bytes", answer.len());
    let v: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!((v["accepted"].as_u64(), v["rejected_total"].as_u64()), (Some(0), Some(lines)));
    let listed = v["rejected"].as_array().unwrap();
    assert_eq!(listed.len(), 1_000);
    assert_eq!((listed[0]["line"].as_u64(), listed[999]["line"].as_u64()), (Some(1), Some(1_000)));
    println!("peak RSS of the server: {} MiB; the answer: {} bytes", peak / 1024, answer.len());
    assert!(peak < 400 * 1024, "peak RSS {} MiB", peak / 1024);
}

#[test]
fn control_characters_in_ids_and_parameters_are_a_400_naming_the_field() {
    let (s, _dir) = Served::start(&[], &[]);
    let event = sample_lines()[0].clone();
    assert_eq!(s.post("/v1/events", &["Content-Type: application/json"], &event).0, 200);
    for (path, field) in [
        ("/v1/traces/a%00b", "trace_id"),
        ("/v1/traces/%00", "trace_id"),
        ("/v1/jobs/job-42%00", "job_id"),
        ("/v1/jobs/%1B%5B2J", "job_id"),
        ("/v1/events?job_id=%00", "job_id"),
        ("/v1/events?trace_id=x%00y", "trace_id"),
        ("/v1/events?text=%00", "text"),
        ("/v1/events?text=a%7Fb", "text"),
        ("/v1/events?cursor=%00", "cursor"),
    ] {
        let (status, v) = s.get(path, &[]);
        assert_eq!(
            (status, v["code"].as_str(), v["field"].as_str()),
            (400, Some("HSK-400-INVALID-QUERY"), Some(field)),
            "{path}: {v}"
        );
    }
    assert_eq!(s.get("/v1/stats", &[]).0, 200, "the server still answers");
}
