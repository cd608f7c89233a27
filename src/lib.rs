//! flightrec: a flight recorder for AI-agent runtimes.
//!
//! The modules follow the data's path: [`event`] (envelope, schemas, validation) →
//! [`redact`] → [`ingest`] (the two together, ready for the WAL) → [`wal`] (segments,
//! records, group-commit writer, recovery) → [`compact`] (Parquet files, DuckDB catalog) →
//! [`retention`]. [`datadir`] owns the directory layout and its
//! lock; [`ndjson`] splits NDJSON input; [`workload`] generates realistic event mixes.

pub mod compact;
pub mod datadir;
pub mod demo;
pub mod event;
pub mod failpoint;
pub mod fsutil;
pub mod ingest;
pub mod ndjson;
pub mod query;
pub mod recorder;
pub mod redact;
pub mod retention;
pub mod server;
pub mod wal;
pub mod workload;
