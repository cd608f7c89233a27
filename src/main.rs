//! The `flightrec` command line. Parsing and printing only; the work is in the library.

mod cli;

/// Small blocks from mimalloc, large ones from glibc (see `flightrec::heap::SplitAllocator`).
#[global_allocator]
static ALLOCATOR: flightrec::heap::SplitAllocator = flightrec::heap::SplitAllocator;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use flightrec::datadir::DEFAULT_DATA_DIR;
use flightrec::wal::Durability;

/// flightrec: a durable, searchable record of everything an AI-agent runtime did.
#[derive(Parser, Debug)]
#[command(name = "flightrec", version, about, propagate_version = true)]
struct Cli {
    /// Data directory (WAL, Parquet, catalog).
    #[arg(long, global = true, env = "FLIGHTREC_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,

    /// DuckDB's share of memory (catalog, compaction, queries over Parquet), e.g. 256MiB or
    /// 1GB; a query needing more fails rather than growing the process.
    #[arg(long, global = true, env = "FLIGHTREC_MEMORY_LIMIT", default_value = flightrec::compact::duck::DEFAULT_MEMORY_LIMIT, value_parser = flightrec::compact::duck::parse_memory_limit)]
    memory_limit: u64,

    #[command(subcommand)]
    command: Command,
}

/// Settings shared by the verbs that write.
#[derive(Args, Debug, Clone)]
struct WriteSettings {
    /// When an event counts as recorded: sync (fdatasync, group commit), batch, async.
    #[arg(long, default_value = "sync")]
    durability: Durability,
    /// Seal a WAL segment at this size in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(4096..))]
    segment_bytes: u64,
    /// Seal a WAL segment when it is this many seconds old.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    segment_age: u64,
    /// Refuse events dated further ahead of this machine's clock than this: seconds, or a
    /// number with s, m, h or d (e.g. 90m, 1d).
    #[arg(long, default_value = "1d", value_parser = parse_skew)]
    max_future_skew: chrono::Duration,
}

/// How `ingest`, `query` and `stats` reach a running server instead of the data directory.
#[derive(Args, Debug, Clone)]
struct RemoteArgs {
    /// Work through a running server (e.g. http://127.0.0.1:7080) instead of the data directory.
    #[arg(long)]
    url: Option<String>,
    /// Bearer token for --url.
    #[arg(long, env = "FLIGHTREC_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// For an https --url: trust the PEM certificates of this file instead of the Mozilla roots.
    #[arg(long, env = "FLIGHTREC_CA_CERT", value_name = "FILE", requires = "url")]
    ca_cert: Option<PathBuf>,
}

/// Where sealed Parquet files are shipped (`serve`, `compact`, `ship`; `retention` keeps the
/// files not shipped yet).
#[derive(Args, Debug, Clone)]
struct ShipArgs {
    /// Ship sealed Parquet files to s3://BUCKET/PREFIX (credentials, region and endpoint from
    /// the AWS_* variables) or file:///DIR.
    #[arg(long, env = "FLIGHTREC_SHIP_TO", value_name = "URL")]
    ship_to: Option<String>,
    /// This host's partition in the bucket (host=ID); default: the host name.
    #[arg(long, env = "FLIGHTREC_HOST_ID", value_name = "ID")]
    host_id: Option<String>,
    /// Delete shipped objects whose newest event is older than this many days.
    #[arg(long, env = "FLIGHTREC_REMOTE_RETENTION_DAYS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    remote_retention_days: Option<u32>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the recorder with its HTTP API and web UI.
    Serve {
        /// Record a generated workload (nine days of history, then live events) into a fresh
        /// data directory under the system temp dir, and serve it.
        #[arg(long)]
        demo: bool,
        /// Listen address; a non-loopback address requires --token.
        #[arg(long, default_value = flightrec::server::DEFAULT_BIND)]
        bind: std::net::SocketAddr,
        /// Bearer token required on every route but /healthz.
        #[arg(long, env = "FLIGHTREC_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[command(flatten)]
        settings: WriteSettings,
        /// The retention window in days.
        #[arg(long, default_value_t = flightrec::retention::DEFAULT_WINDOW_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
        retention_days: u32,
        /// Longest a request may take, reading its body included (a slower one gets 408).
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
        request_timeout: u64,
        /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
        #[arg(long, env = "FLIGHTREC_TLS_CERT", value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, env = "FLIGHTREC_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// A host name (or name:port) the server answers to besides its address and localhost,
        /// e.g. the name a reverse proxy forwards; repeatable. Other Host headers get 403.
        #[arg(long = "allowed-host", value_name = "NAME", env = "FLIGHTREC_ALLOWED_HOSTS", value_delimiter = ',')]
        allowed_hosts: Vec<String>,
        /// Requests served at once; more are answered 503 with Retry-After.
        #[arg(long, default_value_t = flightrec::server::limits::MAX_CONCURRENT_REQUESTS, value_parser = clap::value_parser!(u64).range(1..).map(|n| usize::try_from(n).unwrap_or(usize::MAX)))]
        max_concurrent_requests: usize,
        #[command(flatten)]
        ship: ShipArgs,
    },
    /// Record the events of an NDJSON file (or - for standard input), one JSON event a line.
    Ingest {
        /// The NDJSON file, or - for standard input.
        file: String,
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        settings: WriteSettings,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check every WAL segment and report records, LSN range and damage, changing nothing.
    Verify {
        /// Data directory to check (default: --data-dir).
        dir: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compact sealed WAL segments into Parquet files and the catalog (and ship them, with
    /// --ship-to).
    Compact {
        /// Keep running and compact each segment as it is sealed.
        #[arg(long)]
        watch: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        ship: ShipArgs,
    },
    /// Ship every compacted Parquet file not shipped yet to --ship-to, then exit (status 1 if
    /// some could not be shipped).
    Ship {
        #[command(flatten)]
        ship: ShipArgs,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Drop whole segments whose newest event is older than the retention window.
    Retention {
        /// Show what would be dropped without dropping it.
        #[arg(long)]
        dry_run: bool,
        /// The retention window in days.
        #[arg(long, default_value_t = flightrec::retention::DEFAULT_WINDOW_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
        retention_days: u32,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        ship: ShipArgs,
    },
    /// Find events: by job, trace, time range, type, actor, id text; paged.
    /// Reads the data directory without a lock, so it runs beside a serving recorder.
    Query {
        #[arg(long)]
        job_id: Option<String>,
        #[arg(long)]
        trace_id: Option<String>,
        /// RFC 3339, inclusive.
        #[arg(long, value_parser = parse_time)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// RFC 3339, exclusive.
        #[arg(long, value_parser = parse_time)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long = "type")]
        event_type: Option<flightrec::event::EventType>,
        #[arg(long)]
        actor: Option<flightrec::event::Actor>,
        /// Substring of any id (event, trace, job, span, model, capability, policy decision).
        #[arg(long)]
        text: Option<String>,
        /// Events per page (at most 1000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
        /// The next_cursor of the previous page.
        #[arg(long, value_parser = flightrec::query::Cursor::decode)]
        cursor: Option<flightrec::query::Cursor>,
        /// NDJSON, one stored event a line (the next cursor goes to standard error).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Run DuckDB SQL over the view `events` (Parquet files and WAL tail), without a lock.
    Sql {
        /// The statement, e.g. "SELECT type, count(*) FROM events GROUP BY type".
        sql: String,
        /// NDJSON, one object a row.
        #[arg(long)]
        json: bool,
    },
    /// Summarise what the data directory (or, with --url, a running server) holds.
    Stats {
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing();
    flightrec::heap::return_large_blocks();
    flightrec::compact::duck::set_memory_limit(cli.memory_limit);
    let data_dir = cli.data_dir;
    let result = match cli.command {
        Command::Ingest { file, remote, settings, json } => match remote.server() {
            Some(server) => cli::remote::ingest(&server, &file, json),
            None => cli::ingest::run(&data_dir, &file, &settings.wal_options(), settings.max_future_skew, json),
        },
        Command::Verify { dir, json } => cli::verify::run(dir.as_deref().unwrap_or(&data_dir), json),
        Command::Serve {
            demo,
            bind,
            token,
            settings,
            retention_days,
            request_timeout,
            allowed_hosts,
            max_concurrent_requests,
            tls_cert,
            tls_key,
            ship,
        } => {
            let request_timeout = std::time::Duration::from_secs(request_timeout);
            let ship = match ship.config() {
                Ok(ship) => ship,
                Err(e) => return fail(&e),
            };
            let args = cli::serve::ServeArgs {
                bind,
                token,
                demo,
                wal: settings.wal_options(),
                max_future_skew: settings.max_future_skew,
                retention_days,
                request_timeout,
                tls: tls_cert.zip(tls_key),
                allowed_hosts,
                max_concurrent_requests,
                ship,
            };
            cli::serve::run(&data_dir, args)
        }
        Command::Compact { watch, json, ship } => {
            ship.config().and_then(|ship| cli::compact::run(&data_dir, watch, json, ship))
        }
        Command::Ship { ship, json } => ship.required().and_then(|ship| cli::ship::run(&data_dir, ship, json)),
        Command::Retention { dry_run, retention_days, json, ship } => {
            cli::retention::run(&data_dir, retention_days, dry_run, json, ship.ship_to.as_deref())
        }
        Command::Query { job_id, trace_id, from, to, event_type, actor, text, limit, cursor, json, remote } => {
            let q = flightrec::query::EventQuery {
                job_id,
                trace_id,
                from,
                to,
                event_type,
                actor,
                text,
                limit: Some(usize::from(limit)),
                cursor,
                ..Default::default()
            };
            let source = match remote.server() {
                Some(server) => cli::query::Source::Server(server),
                None => cli::query::Source::Dir(&data_dir),
            };
            cli::query::run_query(source, &q, json)
        }
        Command::Sql { sql, json } => cli::query::run_sql_verb(&data_dir, &sql, json),
        Command::Stats { json, remote } => match remote.server() {
            Some(server) => cli::stats::run_remote(&server, json),
            None => cli::stats::run(&data_dir, json),
        },
    };
    match result {
        Ok(status) => status,
        Err(e) => fail(&e),
    }
}

/// Reports an error that stopped a verb (exit status 2).
fn fail(e: &cli::CliError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// `86400`, `90m`, `1d`: a non-negative duration in seconds, minutes, hours or days.
fn parse_skew(s: &str) -> Result<chrono::Duration, String> {
    let (digits, unit) = match s.trim().char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s.trim()[..i], c),
        _ => (s.trim(), 's'),
    };
    let n: i64 = digits.parse().map_err(|_| format!("`{s}` is not a duration such as 3600, 90m or 1d"))?;
    let secs = match unit {
        's' => Some(n),
        'm' => n.checked_mul(60),
        'h' => n.checked_mul(3600),
        'd' => n.checked_mul(86_400),
        _ => None,
    };
    secs.filter(|&v| (0..=100 * 365 * 86_400).contains(&v))
        .map(chrono::Duration::seconds)
        .ok_or_else(|| format!("`{s}`: use a number of s, m, h or d between 0 and 100 years"))
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    flightrec::event::time::parse_rfc3339(s)
}

impl RemoteArgs {
    fn server(&self) -> Option<flightrec::client::Endpoint> {
        let (token, ca_cert) = (self.token.clone(), self.ca_cert.clone());
        self.url.as_deref().map(|url| flightrec::client::Endpoint { url: url.to_string(), token, ca_cert })
    }
}

impl ShipArgs {
    /// The shipping configuration (None without --ship-to).
    fn config(&self) -> Result<Option<flightrec::ship::ShipConfig>, cli::CliError> {
        let Some(url) = self.ship_to.as_deref() else { return Ok(None) };
        let target = flightrec::ship::ShipTarget::parse(url)?;
        let host_id = match self.host_id.as_deref() {
            Some(id) => flightrec::ship::HostId::new(id)?,
            None => flightrec::ship::HostId::from_host_name()?,
        };
        let mut config = flightrec::ship::ShipConfig::new(target, host_id);
        config.remote_retention = self.remote_retention_days.map(|d| chrono::Duration::days(i64::from(d)));
        Ok(Some(config))
    }

    /// The configuration of a verb that cannot run without --ship-to.
    fn required(&self) -> Result<flightrec::ship::ShipConfig, cli::CliError> {
        self.config()?.ok_or_else(|| {
            let reason = "no target: pass --ship-to s3://BUCKET/PREFIX (or set FLIGHTREC_SHIP_TO)".to_string();
            flightrec::ship::ShipError::Config { what: "--ship-to", value: String::new(), reason }.into()
        })
    }
}

impl WriteSettings {
    fn wal_options(&self) -> flightrec::wal::WalOptions {
        flightrec::wal::WalOptions {
            durability: self.durability,
            segment_bytes: self.segment_bytes,
            segment_age: std::time::Duration::from_secs(self.segment_age),
            ..Default::default()
        }
    }
}
