//! Test support, not a product command: records generated events into a data directory from
//! concurrent writers and prints each acknowledged event_id on standard output the moment its
//! append returns, until killed. The crash, soak, lock and analyst tests kill it (SIGKILL) at
//! a random moment and check that every printed id survived.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use flightrec::datadir::DataDir;
use flightrec::recorder::{Intake, Recorder, RecorderConfig};
use flightrec::wal::{Durability, WalOptions};
use flightrec::workload::Generator;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long)]
    data_dir: PathBuf,
    /// Concurrent writers (tokio tasks).
    #[arg(long, default_value_t = 1)]
    writers: usize,
    #[arg(long, default_value = "sync")]
    durability: Durability,
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    segment_bytes: u64,
    /// Seconds.
    #[arg(long, default_value_t = 30)]
    segment_age: u64,
    /// Record through the whole recorder (query tail, background compaction and retention)
    /// instead of the ingest path alone.
    #[arg(long)]
    recorder: bool,
}

/// Where the writers record; the data directory stays locked while it lives.
enum Sink {
    Intake { intake: Intake, _dir: DataDir },
    Recorder(Recorder),
}

impl Sink {
    async fn open(args: &Args) -> Result<Sink, String> {
        let wal_options = WalOptions {
            durability: args.durability,
            segment_bytes: args.segment_bytes,
            segment_age: std::time::Duration::from_secs(args.segment_age),
            ..Default::default()
        };
        let mut config = RecorderConfig::new(&args.data_dir);
        config.wal = wal_options;
        if args.recorder {
            return Recorder::open(config).await.map(Sink::Recorder).map_err(|e| e.to_string());
        }
        let dir = DataDir::open(&args.data_dir).map_err(|e| e.to_string())?;
        let intake = Intake::open_writer(&dir, &config).map_err(|e| e.to_string())?;
        Ok(Sink::Intake { intake, _dir: dir })
    }

    /// Records one JSON event; its event_id once acknowledged.
    async fn record(&self, json: &[u8], durability: Durability) -> Result<String, String> {
        let recorded = match self {
            Sink::Recorder(r) => r.record_json(json, Some(durability)).await,
            Sink::Intake { intake, .. } => intake.record_json(json, Some(durability)).await,
        };
        recorded.map(|r| r.event_id.to_string()).map_err(|e| e.to_string())
    }
}

/// One writer: a generated event, its acknowledgement printed, forever. A closed standard
/// output does not stop it (the lock test reads one line, then needs the writer alive).
async fn write_until_killed(sink: Arc<Sink>, seed: u64, durability: Durability) -> Result<(), String> {
    let mut generator = Generator::new(seed, chrono::Utc::now(), 1_000);
    loop {
        let event_id = sink.record(generator.next_json().as_bytes(), durability).await?;
        let _ = writeln!(std::io::stdout().lock(), "{event_id}");
    }
}

async fn run(args: Args) -> Result<(), String> {
    let sink = Arc::new(Sink::open(&args).await?);
    let writers: Vec<_> = (0..args.writers.max(1))
        .map(|w| tokio::spawn(write_until_killed(sink.clone(), fastrand::u64(..) ^ w as u64, args.durability)))
        .collect();
    for writer in writers {
        writer.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: start tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
