//! Errors of the WAL. Corruption (bytes on disk that do not decode) is kept apart from I/O
//! failures: recovery may cut corruption away, but an I/O error is always reported and, on
//! the write path, poisons the writer until the WAL is reopened (a failed fsync is never
//! retried: the page cache may already have dropped the data).

use std::path::PathBuf;

use super::format::Corruption;
use crate::error::Code;

/// An error of the write-ahead log; every variant has a stable code (see [`WalError::code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    #[error("{}: {op} {path}: {source}", Code::Io)]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },

    #[error(
        "{}: {op} {path}: no space left on the device; free space on it (or raise \
         the quota): every acknowledged event is kept, and appends resume by themselves (reopen the \
         recorder only if later ones answer {})",
        Code::DiskFull,
        Code::WalPoisoned
    )]
    DiskFull { op: &'static str, path: PathBuf },

    /// Bytes at `offset` of `segment` are not, or could not become, a valid record.
    #[error("{}: segment {segment} offset {offset}: {cause}", Code::WalCorrupt)]
    Corruption { segment: PathBuf, offset: u64, cause: Corruption },

    #[error(
        "{}: an earlier write or fsync failed ({cause}); nothing more is \
         accepted until the recorder is reopened, which recovers every acknowledged event",
        Code::WalPoisoned
    )]
    Poisoned { cause: String },

    #[error(
        "{}: the async ingest queue is full ({capacity} events); the event was dropped and counted",
        Code::QueueFull
    )]
    QueueFull { capacity: usize },

    #[error("{}: the WAL writer has shut down", Code::Closed)]
    Closed,

    #[error("{}: event is {size} bytes; the limit is {max}", Code::EventTooLarge)]
    TooLarge { size: usize, max: usize },

    /// A batch failed part-way through with `cause` after its first records were written and
    /// made durable (a full disk while creating the segment after the one they sealed): those
    /// records are stored, the rest are not.
    #[error("{cause} (the batch's first records, LSNs {first}..={last}, were stored before it)")]
    PartlyWritten { first: u64, last: u64, cause: Box<WalError> },
}

impl WalError {
    /// The stable code of this error, e.g. `HSK-500-IO`.
    pub fn code(&self) -> Code {
        match self {
            WalError::Io { .. } => Code::Io,
            WalError::DiskFull { .. } => Code::DiskFull,
            WalError::Corruption { .. } => Code::WalCorrupt,
            WalError::Poisoned { .. } => Code::WalPoisoned,
            WalError::QueueFull { .. } => Code::QueueFull,
            WalError::Closed => Code::Closed,
            WalError::TooLarge { .. } => Code::EventTooLarge,
            WalError::PartlyWritten { cause, .. } => cause.code(),
        }
    }

    /// How many of a batch's records were stored before it failed (0 unless
    /// [`WalError::PartlyWritten`]): its first ones, in order.
    pub fn records_written(&self) -> u64 {
        match self {
            WalError::PartlyWritten { first, last, .. } => (last + 1).saturating_sub(*first),
            _ => 0,
        }
    }

    /// What made the request fail: the cause of a [`WalError::PartlyWritten`], else itself.
    pub fn cause(&self) -> &WalError {
        match self {
            WalError::PartlyWritten { cause, .. } => cause,
            other => other,
        }
    }

    /// [`WalError::cause`], taken by value.
    pub fn into_cause(self) -> WalError {
        match self {
            WalError::PartlyWritten { cause, .. } => *cause,
            other => other,
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
            WalError::PartlyWritten { first, last, cause } => {
                WalError::PartlyWritten { first: *first, last: *last, cause: Box::new(cause.duplicate()) }
            }
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
