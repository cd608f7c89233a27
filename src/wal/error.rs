//! Errors of the WAL. Corruption (bytes on disk that do not decode) is kept apart from I/O
//! failures: recovery may cut corruption away, but an I/O error is always reported and, on
//! the write path, poisons the writer until the WAL is reopened (a failed fsync is never
//! retried: the page cache may already have dropped the data).

use std::path::PathBuf;

use super::format::Corruption;

/// An error of the write-ahead log; every variant has a stable code (see [`WalError::code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    #[error("HSK-500-IO: {op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },

    #[error(
        "HSK-507-DISK-FULL: {op} {path}: no space left on the device; free space on it (or raise \
         the quota): every acknowledged event is kept, and appends resume by themselves (reopen the \
         recorder only if later ones answer HSK-500-WAL-POISONED)"
    )]
    DiskFull { op: &'static str, path: PathBuf },

    /// Bytes at `offset` of `segment` are not, or could not become, a valid record.
    #[error("HSK-500-WAL-CORRUPT: segment {segment} offset {offset}: {cause}")]
    Corruption { segment: PathBuf, offset: u64, cause: Corruption },

    #[error(
        "HSK-500-WAL-POISONED: an earlier write or fsync failed ({cause}); nothing more is \
         accepted until the recorder is reopened, which recovers every acknowledged event"
    )]
    Poisoned { cause: String },

    #[error(
        "HSK-429-QUEUE-FULL: the async ingest queue is full ({capacity} events); the event was dropped and counted"
    )]
    QueueFull { capacity: usize },

    #[error("HSK-503-CLOSED: the WAL writer has shut down")]
    Closed,

    #[error("HSK-413-EVENT-TOO-LARGE: event is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
}

impl WalError {
    /// The stable code of this error, e.g. `HSK-500-IO`.
    pub fn code(&self) -> &'static str {
        match self {
            WalError::Io { .. } => "HSK-500-IO",
            WalError::DiskFull { .. } => "HSK-507-DISK-FULL",
            WalError::Corruption { .. } => "HSK-500-WAL-CORRUPT",
            WalError::Poisoned { .. } => "HSK-500-WAL-POISONED",
            WalError::QueueFull { .. } => "HSK-429-QUEUE-FULL",
            WalError::Closed => "HSK-503-CLOSED",
            WalError::TooLarge { .. } => "HSK-413-EVENT-TOO-LARGE",
        }
    }

    /// A copy of this error for the second and later waiters of a failed group
    /// (`std::io::Error` is not `Clone`).
    pub fn duplicate(&self) -> WalError {
        match self {
            WalError::Io { op, path, source } => {
                WalError::Io { op, path: path.clone(), source: std::io::Error::new(source.kind(), source.to_string()) }
            }
            WalError::DiskFull { op, path } => WalError::DiskFull { op, path: path.clone() },
            WalError::Corruption { segment, offset, cause } => {
                WalError::Corruption { segment: segment.clone(), offset: *offset, cause: *cause }
            }
            WalError::Poisoned { cause } => WalError::Poisoned { cause: cause.clone() },
            WalError::QueueFull { capacity } => WalError::QueueFull { capacity: *capacity },
            WalError::Closed => WalError::Closed,
            WalError::TooLarge { size, max } => WalError::TooLarge { size: *size, max: *max },
        }
    }
}

/// Builds a closure that wraps an `io::Error` with the operation and path it happened on
/// (`ENOSPC` and `EDQUOT` become [`WalError::DiskFull`]).
pub fn io_err(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WalError {
    let path = path.into();
    move |source| {
        if crate::fsio::is_disk_full(&source) {
            WalError::DiskFull { op, path }
        } else {
            WalError::Io { op, path, source }
        }
    }
}
