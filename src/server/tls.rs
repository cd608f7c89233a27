//! TLS for `serve --tls-cert FILE --tls-key FILE`, so a bearer token that leaves the machine is
//! never sent in clear. The PEM files are read and checked before the server binds, so a bad
//! file stops `serve` with its path instead of failing every handshake later. Each accepted
//! connection does its handshake in its own task, bounded by the request timeout: a client that
//! stalls or speaks plain HTTP to the TLS port costs that task, never the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::Code;

/// A certificate or key file `serve` cannot use: which file, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot use {what} {}: {reason}", Code::TlsFile, path.display())]
pub struct TlsFileError {
    what: &'static str,
    path: PathBuf,
    reason: String,
}

impl TlsFileError {
    /// The stable code of this error.
    pub fn code(&self) -> Code {
        Code::TlsFile
    }
}

const CERT: &str = "the TLS certificate file";
const KEY: &str = "the TLS private key file";

fn file_error(what: &'static str, path: &Path, reason: impl std::fmt::Display) -> TlsFileError {
    TlsFileError { what, path: path.to_path_buf(), reason: reason.to_string() }
}

/// The server's TLS settings: a certificate chain and its private key, HTTP/1.1 over TLS 1.2/1.3.
#[derive(Clone)]
pub struct TlsConfig(Arc<rustls::ServerConfig>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig { .. }")
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1), and checks that the key belongs to the certificate.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsFileError> {
        let chain = read_chain(cert)?;
        let key_der = read_key(key)?;
        // The ring provider named explicitly: the process-wide default would depend on which
        // rustls features the whole dependency graph happens to enable.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| file_error(CERT, cert, e))?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| file_error(KEY, key, format!("{e} (is it the key of {}?)", cert.display())))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig(Arc::new(config)))
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.0))
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let pem = std::fs::read(path).map_err(|e| file_error(CERT, path, e))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(CERT, path, format!("bad PEM: {e}")))?;
    if chain.is_empty() {
        return Err(file_error(CERT, path, "no PEM certificate (-----BEGIN CERTIFICATE-----) in it"));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let pem = std::fs::read(path).map_err(|e| file_error(KEY, path, e))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            file_error(KEY, path, "no PEM private key (-----BEGIN PRIVATE KEY----- or similar) in it")
        }
        e => file_error(KEY, path, format!("bad PEM: {e}")),
    })
}

/// The TLS handshake of one accepted connection, given at most `timeout`; `None` (logged at
/// debug level, as a client's mistake) when it fails or runs out of time.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake did not finish within the request timeout");
            None
        }
    }
}

/// The warning `serve` gives when it listens off loopback without TLS: the token and the
/// events would cross the network readable by anyone on the path.
pub fn cleartext_warning(addr: SocketAddr, tls: bool) -> Option<String> {
    if tls || addr.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "WARNING: serving plain HTTP on {addr}, which is not a loopback address: the bearer token \
         and every event cross the network in clear. Pass --tls-cert FILE --tls-key FILE, or bind \
         127.0.0.1 behind a TLS proxy."
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_off_loopback_is_warned_about() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(cleartext_warning(at("0.0.0.0:7080"), false).is_some_and(|w| w.contains("0.0.0.0:7080")));
        assert!(cleartext_warning(at("[::]:7080"), false).is_some());
        assert!(cleartext_warning(at("0.0.0.0:7080"), true).is_none());
        assert!(cleartext_warning(at("127.0.0.1:7080"), false).is_none());
        assert!(cleartext_warning(at("[::1]:7080"), false).is_none());
    }
}
