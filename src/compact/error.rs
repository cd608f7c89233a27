//! Errors of the compactor, the catalog and retention, each with a stable code.

use std::path::PathBuf;

use crate::error::Code;
use crate::wal::WalError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{}: {context}: {source}", Code::Db)]
    Db { context: String, source: duckdb::Error },

    /// DuckDB's own message (the source) says how much of the limit was in use.
    #[error(
        "{}: {context}: DuckDB needed more than its memory limit; raise it with --memory-limit \
         or FLIGHTREC_MEMORY_LIMIT, or ask for a narrower range: {source}",
        Code::MemoryLimit
    )]
    MemoryLimit { context: String, source: duckdb::Error },

    #[error("{}: {op} {path}: {source}", Code::Io)]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },

    #[error("{}: building the columns of segment {segment}: {reason}", Code::Arrow)]
    Arrow { segment: u64, reason: String },

    #[error("{}: writing {path}: {reason}", Code::Parquet)]
    Parquet { path: PathBuf, reason: String },

    #[error(
        "{}: catalog {path} has schema version {found}, newer than this \
         build knows ({known}); upgrade flightrec",
        Code::CatalogVersion
    )]
    CatalogTooNew { path: PathBuf, found: i64, known: i64 },

    #[error("{}: {reason}", Code::SqlRefused)]
    SqlRefused { reason: String },

    #[error(transparent)]
    Wal(#[from] WalError),
}

impl StoreError {
    pub fn code(&self) -> Code {
        match self {
            StoreError::Db { .. } => Code::Db,
            StoreError::MemoryLimit { .. } => Code::MemoryLimit,
            StoreError::Io { .. } => Code::Io,
            StoreError::Arrow { .. } => Code::Arrow,
            StoreError::Parquet { .. } => Code::Parquet,
            StoreError::CatalogTooNew { .. } => Code::CatalogVersion,
            StoreError::SqlRefused { .. } => Code::SqlRefused,
            StoreError::Wal(e) => e.code(),
        }
    }
}

/// Wraps a DuckDB error with what was being done.
pub fn db(context: impl Into<String>) -> impl FnOnce(duckdb::Error) -> StoreError {
    let context = context.into();
    move |source| {
        // DuckDB reports every allocation its limit refuses with this prefix; no error code
        // of its C API tells it apart from other failures.
        if source.to_string().contains("Out of Memory Error") {
            StoreError::MemoryLimit { context, source }
        } else {
            StoreError::Db { context, source }
        }
    }
}

/// Wraps an I/O error with the operation and path (a full disk becomes `HSK-507-DISK-FULL`).
pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
    let wal_error = crate::wal::io_err(op, path);
    move |source| match wal_error(source) {
        WalError::Io { op, path, source } => StoreError::Io { op, path, source },
        other => StoreError::Wal(other),
    }
}
