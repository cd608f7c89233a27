//! Talking to a running `flightrec serve` over HTTP: the connection settings shared by the
//! CLI's `--url` mode and [`RemoteRecorder`] (base URL, bearer token, `--ca-cert`), the query
//! parameters of `GET /v1/events`, and [`RemoteRecorder`], the
//! [`FlightRecorder`](crate::recorder::FlightRecorder) that records into a server instead of a
//! data directory.
//!
//! An https URL is checked against the Mozilla roots built into the client, or against the
//! certificates of the CA file (a private or self-signed one).

mod remote;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use remote::{RemoteConfig, RemoteRecorder};

use crate::query::EventQuery;

/// A running server and how to reach it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL, e.g. `http://127.0.0.1:7080`.
    pub url: String,
    /// Bearer token of `serve --token`.
    pub token: Option<String>,
    /// PEM file of the certificates to trust for https instead of the Mozilla roots.
    pub ca_cert: Option<PathBuf>,
}

pub use crate::recorder::ClientError;

/// The error of a request that got no answer.
fn unreachable(what: &str, url: &str, e: &ureq::Error) -> ClientError {
    ClientError::Unreachable { what: what.into(), url: url.into(), reason: e.to_string() }
}

/// The JSON error shape of the server.
#[derive(serde::Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
    field: Option<String>,
}

impl Endpoint {
    /// The server at `url`, with no token and the Mozilla roots.
    pub fn new(url: impl Into<String>) -> Endpoint {
        Endpoint { url: url.into(), token: None, ca_cert: None }
    }

    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Endpoint {
        self.token = Some(token.into());
        self
    }

    #[must_use]
    pub fn with_ca_cert(mut self, pem_file: impl Into<PathBuf>) -> Endpoint {
        self.ca_cert = Some(pem_file.into());
        self
    }

    /// The URL of `path` (which starts with `/`) on this server.
    pub fn url_of(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }

    /// An HTTP agent trusting the CA file when one is set; `timeout` bounds each request.
    pub fn agent(&self, timeout: Option<Duration>) -> Result<ureq::Agent, ClientError> {
        let mut config = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(timeout);
        if let Some(path) = &self.ca_cert {
            let roots = ureq::tls::RootCerts::from(read_ca_certs(path)?);
            config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
        }
        Ok(config.build().into())
    }

    /// Adds `Authorization: Bearer <token>` when a token is set.
    pub fn authorize<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => req.header("Authorization", &format!("Bearer {t}")),
            None => req,
        }
    }
}

fn read_ca_certs(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, ClientError> {
    let fail = |reason: String| ClientError::CaCert { path: path.to_path_buf(), reason };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    if certs.is_empty() {
        return Err(fail("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// Sends a request, naming `what` it was for in any error; the answer may have any status.
pub fn send(
    what: &str,
    url: &str,
    run: impl FnOnce() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, String), ClientError> {
    let mut resp = run().map_err(|e| unreachable(what, url, &e))?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().map_err(|e| unreachable(what, url, &e))?;
    Ok((status, text))
}

/// The error of an answer with an error status: the server's JSON error when it sent one.
pub fn refusal(what: &str, status: u16, text: &str) -> ClientError {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(e) => ClientError::Refused { what: what.into(), status, code: e.code, message: e.message, field: e.field },
        Err(_) => ClientError::Refused {
            what: what.into(),
            status,
            code: format!("HSK-{status}-HTTP"),
            message: text.chars().take(500).collect(),
            field: None,
        },
    }
}

/// Decodes a JSON answer, or the refusal its status says it is.
pub fn decode<T: serde::de::DeserializeOwned>(what: &str, (status, text): (u16, String)) -> Result<T, ClientError> {
    if status >= 400 {
        return Err(refusal(what, status, &text));
    }
    serde_json::from_str(&text).map_err(|e| ClientError::BadAnswer { what: what.into(), reason: e.to_string() })
}

/// The parameters of `GET /v1/events` that ask for `q`. The filters that route has no
/// parameter for (`event_types`, `surface`, Handshake's) are refused with the field named.
pub fn query_pairs(q: &EventQuery) -> Result<Vec<(&'static str, String)>, (&'static str, String)> {
    if q.event_types.is_some() {
        return Err(("event_types", "GET /v1/events takes one `type`; ask once per type".into()));
    }
    if q.surface.is_some() {
        return Err(("surface", "GET /v1/events has no surface filter; use /api/flight_recorder".into()));
    }
    let mut params: Vec<(&'static str, String)> = Vec::new();
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    params.extend(q.event_id.clone().map(|v| ("event_id", v)));
    params.extend(q.job_id.clone().map(|v| ("job_id", v)));
    params.extend(q.trace_id.clone().map(|v| ("trace_id", v)));
    params.extend(q.model_session_id.clone().map(|v| ("model_session_id", v)));
    params.extend(q.model_id.clone().map(|v| ("model_id", v)));
    params.extend(q.wsid.clone().map(|v| ("wsid", v)));
    params.extend(q.from.map(|v| ("from", time(v))));
    params.extend(q.to.map(|v| ("to", time(v))));
    params.extend(q.event_type.map(|v| ("type", v.as_str().to_string())));
    params.extend(q.actor.map(|v| ("actor", v.as_str().to_string())));
    params.extend(q.text.clone().map(|v| ("text", v)));
    params.extend(q.limit.map(|v| ("limit", v.to_string())));
    params.extend(q.cursor.as_ref().map(|c| ("cursor", c.encode())));
    if q.descending {
        params.push(("order", "desc".into()));
    }
    Ok(params)
}

/// `s` as one path segment: every byte but the unreserved ones percent-encoded.
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_path_segment_keeps_unreserved_bytes_and_encodes_the_rest() {
        assert_eq!(path_segment("job-1_a.b~"), "job-1_a.b~");
        assert_eq!(path_segment("a/b c?é"), "a%2Fb%20c%3F%C3%A9");
    }

    #[test]
    fn every_query_filter_becomes_a_parameter_of_v1_events() {
        let q = crate::query::params::parse_params(&[
            ("event_id".into(), "4f1c7a8e-2b7d-4a53-9a0e-6b1d2f6c9e01".into()),
            ("model_session_id".into(), "s".into()),
            ("model_id".into(), "m".into()),
            ("wsid".into(), "w".into()),
            ("order".into(), "desc".into()),
            ("type".into(), "tool_call".into()),
        ])
        .unwrap();
        let pairs: Vec<(String, String)> =
            query_pairs(&q).unwrap().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(crate::query::params::parse_params(&pairs).unwrap(), q, "the server reads back the same query");
        let q = EventQuery { surface: Some("terminal".into()), ..EventQuery::default() };
        assert_eq!(query_pairs(&q).unwrap_err().0, "surface");
    }
}
