//! Implementations of the CLI verbs. Exit statuses: 0 success, 1 the work found problems
//! (rejected lines, damage), 2 usage or I/O errors (returned as `CliError`).

pub mod compact;
pub mod ingest;
pub mod query;
pub mod remote;
pub mod retention;
pub mod serve;
pub mod ship;
pub mod stats;
pub mod verify;

use flightrec::error::Code;
use flightrec::wal::WalError;

/// An error that stops a verb (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    DataDir(#[from] flightrec::datadir::DataDirError),
    #[error(transparent)]
    Store(#[from] flightrec::compact::StoreError),
    #[error(transparent)]
    Recorder(#[from] flightrec::recorder::RecorderError),
    #[error(transparent)]
    Serve(#[from] flightrec::server::ServeError),
    #[error(transparent)]
    Client(#[from] flightrec::client::ClientError),
    #[error(transparent)]
    Ship(#[from] flightrec::ship::ShipError),
    #[error("{}: {what}: {source}", Code::Io)]
    Io { what: String, source: std::io::Error },
}

impl CliError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let what = what.into();
        move |source| CliError::Io { what, source }
    }
}

/// Logs go to standard error; `RUST_LOG` sets the level (default: warnings).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Prints a value as pretty JSON on standard output.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Io { what: "encode JSON output".into(), source: e.into() })?;
    println!("{text}");
    Ok(())
}
