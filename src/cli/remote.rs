//! The CLI's `--url` mode: `ingest` streams the file to a running server's
//! `POST /v1/events:ndjson`; `query` asks `GET /v1/events`, `stats` `GET /v1/stats`. The
//! server's answer is printed the same way as in local mode. The connection (token,
//! `--ca-cert`) is `flightrec::client`'s, shared with `RemoteRecorder`.

use std::io::Read;
use std::process::ExitCode;

use flightrec::client::{Endpoint, decode, query_pairs, send};
use flightrec::query::{EventPage, EventQuery};

use super::{CliError, print_json};

pub fn ingest(server: &Endpoint, file: &str, json: bool) -> Result<ExitCode, CliError> {
    let input: Box<dyn Read> = if file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(file).map_err(CliError::io(format!("open {file}")))?)
    };
    let endpoint = server.url_of("/v1/events:ndjson");
    let req = server.authorize(server.agent(None)?.post(&endpoint)).header("Content-Type", "application/x-ndjson");
    let (status, text) = send("ingest", &endpoint, || req.send(ureq::SendBody::from_owned_reader(input)))?;
    // The answer lists rejected lines with any status; only an answer without that list is an error.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text.clone()));
    if status >= 400 && v.get("accepted").is_none() {
        return Err(flightrec::client::refusal("ingest", status, &text).into());
    }
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
pub fn stats(server: &Endpoint) -> Result<serde_json::Value, CliError> {
    let endpoint = server.url_of("/v1/stats");
    let req = server.agent(None)?.get(&endpoint);
    let answer = send("stats", &endpoint, || server.authorize(req).call())?;
    Ok(decode::<serde_json::Value>("stats", answer)?)
}

/// Asks a running server for one page of events.
pub fn query(server: &Endpoint, q: &EventQuery) -> Result<EventPage, CliError> {
    let params =
        query_pairs(q).map_err(|(field, reason)| flightrec::recorder::RecorderError::invalid_query(field, reason))?;
    let endpoint = server.url_of("/v1/events");
    let req = server.agent(None)?.get(&endpoint).query_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    let answer = send("query", &endpoint, || server.authorize(req).call())?;
    Ok(decode::<EventPage>("query", answer)?)
}
