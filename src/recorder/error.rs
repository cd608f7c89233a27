//! What the recorder's callers see when something fails; every variant has a stable
//! [`Code`] (the server sends it with the status its number names).

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
    Remote(#[from] crate::client::ClientError),

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
