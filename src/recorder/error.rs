//! What the recorder's callers see when something fails; every variant has a stable code and
//! an HTTP status (the server maps them one to one).

use crate::compact::StoreError;
use crate::datadir::DataDirError;
use crate::event::InvalidEvent;
use crate::wal::WalError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// The event does not match its FR-EVT shape (`HSK-400-INVALID-EVENT`).
    #[error("{0}")]
    InvalidEvent(#[from] InvalidEvent),

    /// A query parameter is malformed (`HSK-400-INVALID-QUERY`).
    #[error("HSK-400-INVALID-QUERY: {field}: {reason}")]
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
    #[error("HSK-503-SHUTTING-DOWN: the recorder is shutting down")]
    ShuttingDown,
}

impl RecorderError {
    pub fn code(&self) -> &str {
        match self {
            RecorderError::InvalidEvent(_) => InvalidEvent::CODE,
            RecorderError::InvalidQuery { .. } => "HSK-400-INVALID-QUERY",
            RecorderError::Wal(e) => e.code(),
            RecorderError::DataDir(e) => e.code(),
            RecorderError::Sink(e) => e.code(),
            RecorderError::Remote(e) => e.code(),
            RecorderError::ShuttingDown => "HSK-503-SHUTTING-DOWN",
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

    /// The HTTP status this error maps to.
    pub fn http_status(&self) -> u16 {
        match self {
            RecorderError::InvalidEvent(_)
            | RecorderError::InvalidQuery { .. }
            | RecorderError::Sink(StoreError::SqlRefused { .. }) => 400,
            RecorderError::Wal(WalError::TooLarge { .. }) => 413,
            RecorderError::Wal(WalError::QueueFull { .. }) => 429,
            RecorderError::Wal(WalError::Closed) | RecorderError::ShuttingDown => 503,
            RecorderError::DataDir(DataDirError::Locked { .. }) => 409,
            RecorderError::Wal(WalError::DiskFull { .. })
            | RecorderError::DataDir(DataDirError::Io(WalError::DiskFull { .. })) => 507,
            RecorderError::Wal(_) | RecorderError::DataDir(_) | RecorderError::Sink(_) => 500,
            RecorderError::Remote(e) => e.http_status(),
        }
    }

    pub fn invalid_query(field: &str, reason: impl Into<String>) -> RecorderError {
        RecorderError::InvalidQuery { field: field.to_string(), reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_has_its_status_and_code() {
        let cases: Vec<(RecorderError, u16, &str)> = vec![
            (InvalidEvent::new("type", "unknown").into(), 400, "HSK-400-INVALID-EVENT"),
            (RecorderError::invalid_query("limit", "too big"), 400, "HSK-400-INVALID-QUERY"),
            (WalError::TooLarge { size: 2, max: 1 }.into(), 413, "HSK-413-EVENT-TOO-LARGE"),
            (WalError::QueueFull { capacity: 1 }.into(), 429, "HSK-429-QUEUE-FULL"),
            (WalError::Closed.into(), 503, "HSK-503-CLOSED"),
            (RecorderError::ShuttingDown, 503, "HSK-503-SHUTTING-DOWN"),
            (
                DataDirError::Locked { dir: "d".into(), role: "writer", holder: String::new() }.into(),
                409,
                "HSK-409-LOCKED",
            ),
            (DataDirError::Io(WalError::DiskFull { op: "lock", path: "d".into() }).into(), 507, "HSK-507-DISK-FULL"),
            (WalError::Poisoned { cause: "fsync".into() }.into(), 500, "HSK-500-WAL-POISONED"),
            (WalError::DiskFull { op: "write", path: "w".into() }.into(), 507, "HSK-507-DISK-FULL"),
            (crate::client::ClientError::BufferFull { events: 1, bytes: 2 }.into(), 429, "HSK-429-BUFFER-FULL"),
        ];
        for (e, status, code) in cases {
            assert_eq!((e.http_status(), e.code()), (status, code), "{e}");
        }
    }
}
