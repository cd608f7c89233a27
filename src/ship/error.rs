//! Errors of shipping, each with a stable code.

use std::path::PathBuf;

use crate::compact::StoreError;
use crate::error::Code;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShipError {
    /// A `--ship-to` URL or host id that cannot be used.
    #[error("{}: {what} `{value}`: {reason}", Code::ShipConfig)]
    Config { what: &'static str, value: String, reason: String },

    /// The object store refused or could not be reached (after its retries).
    #[error("{}: {op} {key}: {source}", Code::ShipFailed)]
    Remote { op: &'static str, key: String, source: object_store::Error },

    #[error("{}: read {path} to ship it: {source}", Code::Io)]
    Read { path: PathBuf, source: std::io::Error },

    #[error(transparent)]
    Store(#[from] StoreError),

    /// The blocking catalog task was cancelled (the runtime is shutting down).
    #[error("{}: the shipping task stopped", Code::ShuttingDown)]
    Stopped,
}

impl ShipError {
    pub fn code(&self) -> Code {
        match self {
            ShipError::Config { .. } => Code::ShipConfig,
            ShipError::Remote { .. } => Code::ShipFailed,
            ShipError::Read { .. } => Code::Io,
            ShipError::Store(e) => e.code(),
            ShipError::Stopped => Code::ShuttingDown,
        }
    }

    pub(super) fn config(what: &'static str, value: &str, reason: impl Into<String>) -> ShipError {
        ShipError::Config { what, value: value.to_string(), reason: reason.into() }
    }

    pub(super) fn remote(
        op: &'static str,
        key: &object_store::path::Path,
    ) -> impl FnOnce(object_store::Error) -> ShipError {
        let key = key.to_string();
        move |source| ShipError::Remote { op, key, source }
    }
}
