//! What the recorder's callers see when something fails; every variant has a stable
//! [`Code`] (the server sends it with the status its number names).

use std::path::PathBuf;

use crate::compact::StoreError;
use crate::datadir::DataDirError;
use crate::error::Code;
use crate::event::InvalidEvent;
use crate::wal::WalError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// The event does not match its FR-EVT shape (`HSK-400-INVALID-EVENT`).
    #[error("{0}")]
    InvalidEvent(#[from] InvalidEvent),

    /// A query parameter is malformed (`HSK-400-INVALID-QUERY`).
    #[error("{}: {field}: {reason}", Code::InvalidQuery)]
    InvalidQuery { field: String, reason: String },

    /// The WAL refused or failed the append: queue full (async mode), event too large, I/O
    /// error, poisoned writer. The code is the WAL error's.
    #[error(transparent)]
    Wal(#[from] WalError),

    /// The data directory could not be opened: locked by another process, or an I/O error.
    #[error(transparent)]
    DataDir(#[from] DataDirError),

    /// The compacted store (DuckDB catalog, Parquet) failed (`HSK-500-DB` and kin).
    #[error(transparent)]
    Sink(#[from] StoreError),

    /// The remote recorder's server refused or could not be reached, or its buffer is full
    /// (`HSK-429-BUFFER-FULL`, `HSK-503-UNREACHABLE`, or the server's code).
    #[error(transparent)]
    Remote(#[from] ClientError),

    /// The recorder is shutting down (`HSK-503-SHUTTING-DOWN`).
    #[error("{}: the recorder is shutting down", Code::ShuttingDown)]
    ShuttingDown,
}

impl RecorderError {
    pub fn code(&self) -> Code {
        match self {
            RecorderError::InvalidEvent(e) => e.code(),
            RecorderError::InvalidQuery { .. } => Code::InvalidQuery,
            RecorderError::Wal(e) => e.code(),
            RecorderError::DataDir(e) => e.code(),
            RecorderError::Sink(e) => e.code(),
            RecorderError::Remote(e) => e.code(),
            RecorderError::ShuttingDown => Code::ShuttingDown,
        }
    }

    /// The JSON path of the field at fault, where there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            RecorderError::InvalidEvent(e) => Some(&e.field),
            RecorderError::InvalidQuery { field, .. } => Some(field),
            _ => None,
        }
    }

    pub fn invalid_query(field: &str, reason: impl Into<String>) -> RecorderError {
        RecorderError::InvalidQuery { field: field.to_string(), reason: reason.into() }
    }
}

/// Why a request to a running server failed (`flightrec::client`: the remote recorder and the
/// CLI's `--url` mode). Defined beside [`RecorderError`], whose `Remote` variant carries it, so
/// the recorder does not depend on the client.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The CA file cannot be read or holds no certificate.
    #[error("{}: read the --ca-cert file {}: {reason}", Code::Io, path.display())]
    CaCert { path: PathBuf, reason: String },
    /// No answer: the server is down, the address is wrong, TLS failed, or the request timed
    /// out (after the retries, for the recorder).
    #[error("{}: {what}: no answer from {url}: {reason}", Code::Unreachable)]
    Unreachable { what: String, url: String, reason: String },
    /// The server refused the request with its JSON error (`code` is the server's).
    #[error("{code}: {what}: the server answered {status}: {message}")]
    Refused { what: String, status: u16, code: String, message: String, field: Option<String> },
    /// The server's answer is not what its API promises.
    #[error("{}: {what}: the server's answer does not decode: {reason}", Code::BadAnswer)]
    BadAnswer { what: String, reason: String },
    /// The recorder's buffer of events not yet acknowledged is full (the server is slow or
    /// unreachable); the event was not taken.
    #[error(
        "{}: the remote recorder holds {events} events ({bytes} bytes) not yet acknowledged by \
         the server, its limit; retry later or raise RemoteConfig::buffer_events/buffer_bytes",
        Code::BufferFull
    )]
    BufferFull { events: usize, bytes: usize },
}

impl ClientError {
    /// The stable code; a refusal keeps the server's (a code this version does not know is
    /// [`Code::BadAnswer`]; the message still holds the server's text).
    pub fn code(&self) -> Code {
        match self {
            ClientError::CaCert { .. } => Code::Io,
            ClientError::Unreachable { .. } => Code::Unreachable,
            ClientError::Refused { code, .. } => Code::parse(code).unwrap_or(Code::BadAnswer),
            ClientError::BadAnswer { .. } => Code::BadAnswer,
            ClientError::BufferFull { .. } => Code::BufferFull,
        }
    }
}
