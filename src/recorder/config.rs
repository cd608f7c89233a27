//! Settings of an embedded recorder, with the defaults of DESIGN.md.

use std::path::PathBuf;
use std::time::Duration;

use crate::redact::CustomPattern;
use crate::wal::WalOptions;

#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// The data directory (created if missing).
    pub data_dir: PathBuf,
    pub wal: WalOptions,
    /// Segments whose newest event is older than this are dropped (default 7 days).
    pub retention: chrono::Duration,
    /// How often retention runs in the background (default hourly; also once at open).
    pub retention_interval: Duration,
    /// Compaction runs when a segment seals, and at least this often (default 30 s).
    pub compaction_interval: Duration,
    /// Extra secret patterns for the redactor.
    pub redaction_patterns: Vec<CustomPattern>,
    /// An `event_id` seen again within this window is a duplicate (default 24 hours).
    pub dedup_window: chrono::Duration,
    /// Most event ids remembered for de-duplication (default 2,000,000). Their memory is
    /// bounded by it: at most 40 bytes per id (16-byte ids in a ring and a hash table of
    /// slot numbers), 80 MB by default, however many events the window holds.
    pub dedup_capacity: usize,
    /// Events dated further than this ahead of the clock are refused (default 1 day).
    pub max_future_skew: chrono::Duration,
    /// Where to ship sealed Parquet files (None: they stay local only).
    pub ship: Option<crate::ship::ShipConfig>,
}

impl RecorderConfig {
    /// The defaults, on `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> RecorderConfig {
        RecorderConfig {
            data_dir: data_dir.into(),
            wal: WalOptions::default(),
            retention: chrono::Duration::days(i64::from(crate::retention::DEFAULT_WINDOW_DAYS)),
            retention_interval: Duration::from_secs(3600),
            compaction_interval: Duration::from_secs(30),
            redaction_patterns: Vec::new(),
            dedup_window: chrono::Duration::hours(24),
            dedup_capacity: 2_000_000,
            max_future_skew: crate::ingest::DEFAULT_MAX_FUTURE_SKEW,
            ship: None,
        }
    }
}
