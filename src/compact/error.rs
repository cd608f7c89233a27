//! Errors of the compactor, the catalog and retention, each with a stable code.

use std::path::PathBuf;

use crate::wal::WalError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("HSK-500-DB: {context}: {source}")]
    Db { context: String, source: duckdb::Error },

    #[error("HSK-500-IO: {op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },

    #[error("HSK-500-ARROW: building the columns of segment {segment}: {reason}")]
    Arrow { segment: u64, reason: String },

    #[error("HSK-500-PARQUET: writing {path}: {reason}")]
    Parquet { path: PathBuf, reason: String },

    #[error(
        "HSK-500-CATALOG-VERSION: catalog {path} has schema version {found}, newer than this \
         build knows ({known}); upgrade flightrec"
    )]
    CatalogTooNew { path: PathBuf, found: i64, known: i64 },

    #[error("HSK-400-SQL-REFUSED: {reason}")]
    SqlRefused { reason: String },

    #[error(transparent)]
    Wal(#[from] WalError),
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Db { .. } => "HSK-500-DB",
            StoreError::Io { .. } => "HSK-500-IO",
            StoreError::Arrow { .. } => "HSK-500-ARROW",
            StoreError::Parquet { .. } => "HSK-500-PARQUET",
            StoreError::CatalogTooNew { .. } => "HSK-500-CATALOG-VERSION",
            StoreError::SqlRefused { .. } => "HSK-400-SQL-REFUSED",
            StoreError::Wal(e) => e.code(),
        }
    }
}

/// Wraps a DuckDB error with what was being done.
pub fn db(context: impl Into<String>) -> impl FnOnce(duckdb::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Db { context, source }
}

/// Wraps an I/O error with the operation and path (a full disk becomes `HSK-507-DISK-FULL`).
pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
    let wal_error = crate::wal::io_err(op, path);
    move |source| match wal_error(source) {
        WalError::Io { op, path, source } => StoreError::Io { op, path, source },
        other => StoreError::Wal(other),
    }
}
