//! flightrec: a flight recorder for AI-agent runtimes.
//!
//! The modules follow the data's path: [`event`] (envelope, schemas, validation) →
//! [`redact`] → [`ingest`] (the two together, ready for the WAL) → [`wal`] (segments,
//! records, group-commit writer, recovery) → `compact` (Parquet files, DuckDB catalog) →
//! `retention` → `ship` (to object storage) → [`query`] → `recorder` (the `FlightRecorder` API) → `server` (HTTP + UI);
//! `client` is the same API over HTTP (`RemoteRecorder`) and the CLI's `--url` mode.
//! [`datadir`] owns the directory layout and its locks; [`heap`] is the binaries' allocator and tunes glibc's; [`ndjson`] splits NDJSON input;
//! [`stats`] adds up what the store holds; [`stored`] reads stored events; `otlp` maps
//! OpenTelemetry spans and logs onto events; [`workload`] generates realistic event mixes.
//!
//! The `store` feature (on by default) brings the parts that need DuckDB and the HTTP stack;
//! without it the crate is the event model, the redactor and the WAL, which is what the fuzz
//! targets build (the bundled DuckDB would otherwise be rebuilt with sanitizer flags).

#[cfg(feature = "store")]
pub mod client;
#[cfg(feature = "store")]
pub mod compact;
pub mod datadir;
#[cfg(feature = "store")]
pub mod demo;
pub mod error;
pub mod event;
pub mod failpoint;
pub mod fsio;
pub mod fuzzing;
pub mod heap;
pub mod ingest;
pub mod ndjson;
#[cfg(feature = "store")]
pub mod otlp;
#[cfg(feature = "store")]
mod parallel;
pub mod query;
#[cfg(feature = "store")]
pub mod recorder;
pub mod redact;
#[cfg(feature = "store")]
pub mod retention;
#[cfg(feature = "store")]
pub mod server;
#[cfg(feature = "store")]
pub mod ship;
pub mod stats;
pub mod stored;
mod swar;
#[cfg(feature = "store")]
mod sync;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod testing;
pub mod wal;
pub mod workload;
