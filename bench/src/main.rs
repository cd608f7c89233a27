//! `flightrec-bench`: flightrec's long benchmarks, each run beside its baselines in the same
//! process on the same disk and data (BENCHMARKS.md has the commands and the figures). Not
//! part of the product: it reaches flightrec through its public API, plus the `internals`
//! feature for the recovery benchmark.

mod backlog;
mod curve;
mod fill;
mod group_commit_probe;
mod http;
mod ingest;
mod ingest_baselines;
mod measure;
mod otlp;
mod query;
mod query_baselines;
mod recovery;
mod ship;
mod summary;

/// The `flightrec` binary's allocator, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: flightrec::heap::SplitAllocator = flightrec::heap::SplitAllocator;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flightrec::compact::duck::{DEFAULT_MEMORY_LIMIT, parse_memory_limit, set_memory_limit};
use flightrec::datadir::DEFAULT_DATA_DIR;
use flightrec::wal::{Durability, WalOptions};

/// flightrec-bench: measure flightrec beside its baselines and print the ratios.
#[derive(Parser, Debug)]
#[command(name = "flightrec-bench", version, about)]
struct Cli {
    /// Data directory to write (use a fresh one: the benchmarks fill it).
    #[arg(long, global = true, env = "FLIGHTREC_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,

    /// DuckDB's share of memory (catalog, compaction, queries), as `flightrec --memory-limit`.
    #[arg(long, global = true, env = "FLIGHTREC_MEMORY_LIMIT", default_value = DEFAULT_MEMORY_LIMIT, value_parser = parse_memory_limit)]
    memory_limit: u64,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Measure durable ingest: generated events through the full path (validate, redact,
    /// WAL append) from concurrent writers.
    Ingest {
        /// Concurrent writers (tokio tasks), comma-separated for several runs, e.g. 1,8,64.
        #[arg(long, default_value = "1,8,64", value_delimiter = ',')]
        writers: Vec<usize>,
        /// How long each run lasts, in seconds.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// When an event counts as recorded: sync (fdatasync, group commit), batch, async.
        #[arg(long, default_value = "sync")]
        durability: Durability,
        /// Also run the baselines in the same process and print the ratios: a per-event
        /// fdatasync loop, and one DuckDB connection with one autocommitted INSERT per event.
        #[arg(long)]
        baselines: bool,
        /// Record through the whole recorder (de-duplication, query tail, background
        /// compaction and retention) instead of the ingest path alone.
        #[arg(long)]
        recorder: bool,
        /// Offered load in events/s over all writers, each sending on a fixed schedule (for
        /// latency at a given load); default: as fast as appends return.
        #[arg(long)]
        rate: Option<f64>,
        /// Append events prepared (validated, redacted, encoded) before the clock starts: the
        /// bare WAL append.
        #[arg(long, conflicts_with = "typed")]
        prepared: bool,
        /// Record typed events built in Rust (`flightrec::event::Event`, made before the clock
        /// starts): validate, redact, de-duplicate and encode, no JSON parsing. Not with
        /// --recorder.
        #[arg(long, conflicts_with = "recorder")]
        typed: bool,
    },
    /// Measure compaction and query latency: generate N events over D days into a fresh
    /// --data-dir, compact them, then time trace lookups, job lookups and one-hour pages.
    Query {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Lookups of each kind.
        #[arg(long, default_value_t = 30)]
        reps: usize,
        /// Also run the baselines in the same process and print the ratios: DuckDB read_json
        /// of the same NDJSON into Parquet, and full scans of the same Parquet files.
        #[arg(long)]
        baselines: bool,
        /// Seal and compact after every N events while generating, as a recorder compacts
        /// while it records (0: once, after all of them); bounds the WAL on disk to N events.
        #[arg(long, default_value_t = 0)]
        compact_every: u64,
    },
    /// Measure the cost curve: for each size, a fresh data directory of N events over D days
    /// (compacted every --compact-every events), then trace and job lookups, one-hour pages,
    /// `text=` searches and stats on a quiet recorder, then the lookups while --writers record
    /// (sync) beside the writers alone. Each size's directory is deleted once measured.
    Curve {
        /// Sizes in events, comma-separated.
        #[arg(long, default_value = "1000000,10000000,50000000", value_delimiter = ',')]
        sizes: Vec<u64>,
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Lookups of each kind on the quiet recorder.
        #[arg(long, default_value_t = 100)]
        reps: usize,
        /// `text=` searches on the quiet recorder.
        #[arg(long, default_value_t = 10)]
        text_reps: usize,
        #[arg(long, default_value_t = 2_000_000)]
        compact_every: u64,
        /// Writers recording during the loaded phase (0: skip it).
        #[arg(long, default_value_t = 64)]
        writers: usize,
        /// Seconds of writers alone, then as long with the lookups.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Keep each size's data directory.
        #[arg(long)]
        keep: bool,
    },
    /// Measure GET /v1/summary (Recorder::summary): generate N events over D days into a fresh
    /// --data-dir (compacted chunk by chunk, the newest --tail left in the WAL), then time
    /// 24-hour windows and the whole range beside a count(*), a JSON-extraction scan and the
    /// one-hour page of the same windows.
    Summary {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// 24-hour windows timed.
        #[arg(long, default_value_t = 30)]
        reps: usize,
        #[arg(long, default_value_t = 50_000)]
        tail: u64,
    },
    /// Measure OTLP ingest: the same spans as OTLP/HTTP protobuf exports to POST /v1/traces
    /// and, mapped to FR-EVT events, as JSON arrays to POST /v1/events (sync durability, a
    /// server in this process on loopback, fresh data directories under --data-dir).
    Otlp {
        #[arg(long, default_value_t = 100_000)]
        spans: usize,
        /// Spans per export (the SDKs' batch span processor sends up to 512).
        #[arg(long, default_value_t = 512)]
        batch: usize,
        /// Concurrent HTTP clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
    },
    /// Measure HTTP ingest: POST /v1/events with arrays of 1 and of --batch events and POST
    /// /v1/events:ndjson with --batch lines, from concurrent keep-alive clients to a server
    /// in this process on loopback (sync durability), each beside the same events recorded
    /// in-process by as many tokio tasks.
    Http {
        /// Concurrent clients, comma-separated for several runs.
        #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
        clients: Vec<usize>,
        /// How long each run lasts, in seconds (each shape and client count runs twice:
        /// over HTTP, then in-process).
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Events per array and per NDJSON body.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
    /// Measure recovery: write about --mb MiB of WAL, then reopen it the way the recorder
    /// does (CRC-verified replay into the query tail and de-duplication), beside a bare read +
    /// CRC32 of the same files.
    Recovery {
        #[arg(long, default_value_t = 1024)]
        mb: u64,
        /// Replays of the same WAL, each beside its own baseline; more than one prints the
        /// median ratio (the machine's speed moves between minutes, the ratio less).
        #[arg(long, default_value_t = 1)]
        rounds: usize,
    },
    /// Measure shipping: N generated events compacted, their Parquet files shipped to
    /// --ship-to (S3 settings from the AWS_* variables, e.g. a local moto_server) by
    /// flightrec's shipper, beside a plain object_store PUT of the same files, in MB/s.
    Ship {
        #[arg(long, default_value_t = 300_000)]
        events: u64,
        #[arg(long, env = "FLIGHTREC_SHIP_TO")]
        ship_to: String,
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
    /// Measure the compaction backlog under small segments: fill --segment-kib segments at
    /// --seals a second while compaction runs back to back, once with one catalog transaction
    /// per segment and once batched, and print the sealed segments waiting each second.
    Backlog {
        #[arg(long, default_value_t = 64)]
        segment_kib: u64,
        #[arg(long, default_value_t = 200.0)]
        seals: f64,
        /// Seconds per mode.
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        /// Run only the default (batched) mode.
        #[arg(long)]
        batched_only: bool,
    },
}

/// An error that stops a benchmark (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Wal(#[from] flightrec::wal::WalError),
    #[error(transparent)]
    DataDir(#[from] flightrec::datadir::DataDirError),
    #[error(transparent)]
    Store(#[from] flightrec::compact::StoreError),
    #[error(transparent)]
    Recorder(#[from] flightrec::recorder::RecorderError),
    #[error("{}: {what}: {source}", flightrec::error::Code::Io)]
    Io { what: String, source: std::io::Error },
}

impl BenchError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // As the flightrec binary does: the memory figures are of the same process setup.
    flightrec::heap::return_large_blocks();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    set_memory_limit(cli.memory_limit);
    let data_dir = cli.data_dir;
    let result = match cli.command {
        Command::Query { events, days, reps, baselines, compact_every } => {
            query::run(&data_dir, query::Load { events, days, compact_every }, reps, baselines)
        }
        Command::Curve { sizes, days, reps, text_reps, compact_every, writers, seconds, keep } => {
            let args = curve::CurveArgs { sizes, days, reps, text_reps, compact_every, writers, seconds, keep };
            curve::run(&data_dir, &args)
        }
        Command::Ship { events, ship_to, reps } => ship::run(&data_dir, events, &ship_to, reps),
        Command::Summary { events, days, reps, tail } => {
            summary::run(&data_dir, &summary::SummaryArgs { events, days, reps, tail })
        }
        Command::Recovery { mb, rounds } => recovery::run(&data_dir, mb, rounds),
        Command::Http { clients, seconds, batch } => {
            http::run(&data_dir, &http::HttpArgs { clients: &clients, seconds, batch })
        }
        Command::Otlp { spans, batch, clients } => otlp::run(&data_dir, &otlp::OtlpArgs { spans, batch, clients }),
        Command::Backlog { segment_kib, seals, seconds, batched_only } => {
            backlog::run(&data_dir, backlog::Load { segment_kib, seals, seconds, batched_only })
        }
        Command::Ingest { writers, seconds, durability, baselines, recorder, rate, prepared, typed } => {
            // The recorder's default segment size and age: the figures are for the defaults.
            let opts = WalOptions { durability, ..Default::default() };
            let args = ingest::BenchArgs { writers: &writers, seconds, baselines, recorder, rate, prepared, typed };
            ingest::run(&data_dir, &opts, args)
        }
    };
    match result {
        Ok(status) => status,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
