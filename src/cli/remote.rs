//! The CLI's `--url` mode: `ingest` streams the file to a running server's
//! `POST /v1/events:ndjson`; `query` asks `GET /v1/events`, `stats` `GET /v1/stats`. The server's answer is printed the
//! same way as in local mode. An https URL is checked against the Mozilla roots built into
//! the client, or against the certificates of `--ca-cert` (a private or self-signed one).

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use flightrec::query::{EventPage, EventQuery};

use super::{CliError, print_json};

/// A running server and how to reach it.
pub struct Server<'a> {
    pub url: &'a str,
    pub token: Option<&'a str>,
    /// PEM file of the certificates to trust for https instead of the Mozilla roots.
    pub ca_cert: Option<&'a Path>,
}

fn agent(server: &Server<'_>) -> Result<ureq::Agent, CliError> {
    let mut config = ureq::Agent::config_builder().http_status_as_error(false);
    if let Some(path) = server.ca_cert {
        let roots = ureq::tls::RootCerts::from(read_ca_certs(path)?);
        config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
    }
    Ok(config.build().into())
}

fn read_ca_certs(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, CliError> {
    let what = format!("read the --ca-cert file {}", path.display());
    let pem = std::fs::read(path).map_err(CliError::io(what.clone()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(CliError::Io { what, source: std::io::Error::other(e.to_string()) }),
        }
    }
    if certs.is_empty() {
        return Err(CliError::Io { what, source: std::io::Error::other("no PEM certificate in it") });
    }
    Ok(certs)
}

fn http_err(what: &str) -> impl FnOnce(ureq::Error) -> CliError + '_ {
    move |e| CliError::Io { what: what.to_string(), source: std::io::Error::other(e.to_string()) }
}

fn with_token(
    req: ureq::RequestBuilder<ureq::typestate::WithBody>,
    token: Option<&str>,
) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
    match token {
        Some(t) => req.header("Authorization", &format!("Bearer {t}")),
        None => req,
    }
}

/// Reads the JSON answer, turning an error status into a CLI error with the server's message.
fn answer(mut resp: ureq::http::Response<ureq::Body>, what: &str) -> Result<serde_json::Value, CliError> {
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().map_err(http_err(what))?;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    if status >= 400 && value.get("accepted").is_none() {
        let msg = format!("{what}: the server answered {status}: {value}");
        return Err(CliError::Io { what: msg, source: std::io::Error::other("HTTP error") });
    }
    Ok(value)
}

pub fn ingest(server: &Server<'_>, file: &str, json: bool) -> Result<ExitCode, CliError> {
    let input: Box<dyn Read> = if file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(file).map_err(CliError::io(format!("open {file}")))?)
    };
    let endpoint = format!("{}/v1/events:ndjson", server.url.trim_end_matches('/'));
    let req = with_token(agent(server)?.post(&endpoint), server.token).header("Content-Type", "application/x-ndjson");
    let resp = req.send(ureq::SendBody::from_owned_reader(input)).map_err(http_err("send to the server"))?;
    let v = answer(resp, "ingest")?;
    let rejected = v["rejected"].as_array().cloned().unwrap_or_default();
    let total_rejected = v["rejected_total"].as_u64().unwrap_or(rejected.len() as u64);
    if json {
        print_json(&v)?;
    } else {
        for r in &rejected {
            let field = r["field"].as_str().map(|f| format!(" at {f}")).unwrap_or_default();
            println!(
                "line {}: rejected: {}{field}: {}",
                r["line"],
                r["code"].as_str().unwrap_or(""),
                r["message"].as_str().unwrap_or("")
            );
        }
        println!(
            "accepted {}, duplicates {}, rejected {total_rejected} (server {})",
            v["accepted"], v["duplicates"], server.url
        );
        if total_rejected > rejected.len() as u64 {
            println!("(the server lists the first {} rejected lines)", rejected.len());
        }
    }
    Ok(if total_rejected == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Asks a running server what it holds (`GET /v1/stats`).
pub fn stats(server: &Server<'_>) -> Result<serde_json::Value, CliError> {
    let endpoint = format!("{}/v1/stats", server.url.trim_end_matches('/'));
    let mut req = agent(server)?.get(&endpoint);
    if let Some(t) = server.token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    answer(req.call().map_err(http_err("ask the server"))?, "stats")
}

/// Asks a running server for one page of events.
pub fn query(server: &Server<'_>, q: &EventQuery) -> Result<EventPage, CliError> {
    let mut params: Vec<(&str, String)> = Vec::new();
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    params.extend(q.job_id.clone().map(|v| ("job_id", v)));
    params.extend(q.trace_id.clone().map(|v| ("trace_id", v)));
    params.extend(q.from.map(|v| ("from", time(v))));
    params.extend(q.to.map(|v| ("to", time(v))));
    params.extend(q.event_type.map(|v| ("type", v.as_str().to_string())));
    params.extend(q.actor.map(|v| ("actor", v.as_str().to_string())));
    params.extend(q.text.clone().map(|v| ("text", v)));
    params.extend(q.limit.map(|v| ("limit", v.to_string())));
    params.extend(q.cursor.as_ref().map(|c| ("cursor", c.encode())));
    let endpoint = format!("{}/v1/events", server.url.trim_end_matches('/'));
    let mut req = agent(server)?.get(&endpoint).query_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    if let Some(t) = server.token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let v = answer(req.call().map_err(http_err("ask the server"))?, "query")?;
    serde_json::from_value(v).map_err(|e| CliError::Io { what: "decode the server's page".into(), source: e.into() })
}
