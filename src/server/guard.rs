//! Refusing requests a browser was tricked into sending: forgery from another site (CSRF) and
//! DNS rebinding.
//!
//! Any web page the user opens can send requests to a loopback server (a `no-cors` POST with a
//! `text/plain` body needs no preflight), and a page whose DNS name is rebound to 127.0.0.1 can
//! read the answers. So, on every route but `/healthz`:
//! - the `Host` must be one the server answers to: its bound address, `localhost`,
//!   `127.0.0.1` or `[::1]` with its port, or a name given with `--allowed-host`. A rebinding
//!   page sends its own DNS name, never one of these. A server bound to every interface
//!   (`0.0.0.0`, `::`) also answers to any IP literal with its port: a browser sends an IP
//!   literal only for a page loaded from that IP, which is this server.
//! - an `Origin`, when sent, must be the server's own (the `Host` it was reached by);
//! - `Sec-Fetch-Site: cross-site` is refused, except for a GET of the static UI (no data),
//!   so a link to the UI from another site still opens it.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, Method, header};

use super::error::ApiError;
use crate::error::Code;

/// The hosts a server answers to.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    bound: SocketAddr,
    /// Names from `--allowed-host`, lower case; with a port they match only that port.
    names: Vec<String>,
}

impl AllowedHosts {
    pub fn new(bound: SocketAddr, names: &[String]) -> AllowedHosts {
        let names = names.iter().map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect();
        AllowedHosts { bound, names }
    }

    /// True when a request's `Host` header value is one this server answers to.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let Some((name, port)) = split_host(&host) else { return false };
        if self.names.iter().any(|n| *n == host || *n == name) {
            return true;
        }
        let port_ok = port.map_or(self.bound.port() == 80, |p| p == self.bound.port());
        let loopback_name = matches!(name, "localhost" | "127.0.0.1" | "[::1]");
        let ip = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
        let bound_ip = ip == Some(self.bound.ip());
        let any_ip = ip.is_some() && self.bound.ip().is_unspecified();
        port_ok && (loopback_name || bound_ip || any_ip)
    }
}

/// Splits `name[:port]` (`[v6][:port]` for IPv6); None when the port is not a number.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    let colon = if host.starts_with('[') { host.find("]:").map(|i| i + 1) } else { host.rfind(':') };
    match colon {
        Some(i) => Some((&host[..i], Some(host[i + 1..].parse().ok()?))),
        None => Some((host, None)),
    }
}

/// 403 for a foreign `Host`, a foreign `Origin` or a cross-site fetch (see the module doc).
pub(super) fn check(hosts: &AllowedHosts, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let host = header_str(headers, header::HOST.as_str()).unwrap_or("");
    if !hosts.allows(host) {
        let msg = format!(
            "this server does not answer to the host `{host}`; reach it by the address it listens on, \
             localhost, or a name given with --allowed-host (env FLIGHTREC_ALLOWED_HOSTS)"
        );
        return Err(ApiError::new(Code::HostNotAllowed, msg));
    }
    if let Some(origin) = header_str(headers, header::ORIGIN.as_str())
        && !same_origin(origin, host)
    {
        let msg = format!("requests from the page at `{origin}` are refused: only this server's own pages may call it");
        return Err(ApiError::new(Code::CrossOrigin, msg));
    }
    let cross_site = header_str(headers, "sec-fetch-site").is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
    if cross_site && !(method == Method::GET && super::ui::is_static_asset(path)) {
        let msg = "a request another site's page made (Sec-Fetch-Site: cross-site) is refused";
        return Err(ApiError::new(Code::CrossOrigin, msg));
    }
    Ok(())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// True when `origin` (`scheme://host[:port]`) names the host the request was sent to.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else { return false };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return false,
    };
    let (origin, host) = (authority.to_ascii_lowercase(), host.to_ascii_lowercase());
    match (split_host(&origin), split_host(&host)) {
        (Some((a, pa)), Some((b, pb))) => a == b && pa.unwrap_or(default_port) == pb.unwrap_or(default_port),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hosts(bound: &str, names: &[&str]) -> AllowedHosts {
        AllowedHosts::new(bound.parse().unwrap(), &names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn loopback_names_with_the_port_and_allowed_names_pass() {
        let h = hosts("127.0.0.1:7080", &["Recorder.Internal", "proxy.example:8443"]);
        for ok in [
            "127.0.0.1:7080",
            "localhost:7080",
            "LOCALHOST:7080",
            "[::1]:7080",
            "recorder.internal",
            "recorder.internal:9",
            "proxy.example:8443",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example:7080",
            "localhost:7081",
            "localhost",
            "127.0.0.1",
            "10.0.0.1:7080",
            "",
            "proxy.example:80",
            "localhost:x",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
        let any = hosts("0.0.0.0:7080", &[]);
        assert!(any.allows("10.1.2.3:7080") && any.allows("[fe80::1]:7080"));
        assert!(!any.allows("evil.example:7080") && !any.allows("10.1.2.3:7081"));
    }

    #[test]
    fn an_origin_is_the_same_only_with_the_same_host_and_port() {
        assert!(same_origin("http://127.0.0.1:7080", "127.0.0.1:7080"));
        assert!(same_origin("https://Recorder.internal", "recorder.internal:443"));
        assert!(!same_origin("http://localhost:7080", "127.0.0.1:7080"));
        assert!(!same_origin("http://127.0.0.1:7081", "127.0.0.1:7080"));
        assert!(!same_origin("null", "127.0.0.1:7080"));
        assert!(!same_origin("file://", "127.0.0.1:7080"));
    }
}
