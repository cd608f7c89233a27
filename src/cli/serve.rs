//! `flightrec serve [--demo]`: the recorder with its HTTP API and web UI.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use flightrec::recorder::{Recorder, RecorderConfig};
use flightrec::server;
use flightrec::wal::WalOptions;

use super::CliError;

pub struct ServeArgs {
    pub bind: SocketAddr,
    pub token: Option<String>,
    pub demo: bool,
    pub wal: WalOptions,
    pub max_future_skew: chrono::Duration,
    pub retention_days: u32,
    pub request_timeout: std::time::Duration,
    /// PEM certificate chain and private key: serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub allowed_hosts: Vec<String>,
    pub max_concurrent_requests: usize,
    /// Ship sealed Parquet files in the background.
    pub ship: Option<flightrec::ship::ShipConfig>,
}

pub fn run(data_dir: &Path, args: ServeArgs) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Runtime::new().map_err(CliError::io("start tokio"))?;
    runtime.block_on(serve(data_dir, args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(data_dir: &Path, args: ServeArgs) -> Result<(), CliError> {
    // Before binding: a bad certificate or key file stops here, naming the file.
    let tls = args.tls.as_ref().map(|(cert, key)| server::tls::TlsConfig::from_pem_files(cert, key));
    let tls = tls.transpose().map_err(server::ServeError::from)?;
    let listener = server::bind(args.bind, args.token.as_deref()).await?;
    let dir: PathBuf = if args.demo {
        std::env::temp_dir().join(format!("flightrec-demo-{}-{}", std::process::id(), chrono::Utc::now().timestamp()))
    } else {
        data_dir.to_path_buf()
    };
    let mut config = RecorderConfig::new(&dir);
    config.wal = args.wal;
    config.max_future_skew = args.max_future_skew;
    config.retention = chrono::Duration::days(i64::from(args.retention_days));
    if let Some(ship) = &args.ship {
        eprintln!("flightrec: shipping sealed Parquet files to {} as host={}", ship.target.url(), ship.host_id);
    }
    config.ship = args.ship;
    let recorder = Recorder::open(config).await?;
    if args.demo {
        eprintln!("demo: recording nine days of history into {} ...", dir.display());
        let seeded = flightrec::demo::seed(&recorder).await?;
        eprintln!("demo: {} events recorded, {} older than the retention window dropped", seeded.events, seeded.purged);
        tokio::spawn(flightrec::demo::live(recorder.clone()));
    }
    let addr = listener.local_addr().map_err(CliError::io("read the listen address"))?;
    if let Some(warning) = server::tls::cleartext_warning(addr, tls.is_some()) {
        eprintln!("\n{warning}\n");
        tracing::warn!("{warning}");
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("flightrec: listening on {scheme}://{addr}/ (data dir {})", dir.display());
    if args.demo {
        println!("flightrec: open {scheme}://{addr}/ in a browser; try job {}", flightrec::demo::NIGHTLY_JOB);
    }
    let opts = server::ServerOptions {
        token: args.token,
        request_timeout: args.request_timeout,
        tls,
        allowed_hosts: args.allowed_hosts,
        max_concurrent_requests: args.max_concurrent_requests,
    };
    let served = server::run(listener, recorder, opts, server::shutdown_signal()).await;
    if args.demo {
        // The demo's data is throwaway: remove it on a clean stop (SIGINT/SIGTERM).
        let _ = std::fs::remove_dir_all(&dir);
    }
    served.map_err(CliError::io("serve HTTP"))
}
