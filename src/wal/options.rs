//! WAL settings and the durability modes.

use std::time::Duration;

use crate::fsio::Fs;

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After an fdatasync that covers the record; concurrent writers share one (group commit).
    Sync,
    /// After the write; an fdatasync runs every `batch_interval`.
    Batch,
    /// Fire-and-forget: queued without waiting; a full queue drops and counts the event.
    Async,
}

impl Durability {
    /// Every mode.
    pub const ALL: [Durability; 3] = [Durability::Sync, Durability::Batch, Durability::Async];

    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Sync => "sync",
            Durability::Batch => "batch",
            Durability::Async => "async",
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sync" => Ok(Durability::Sync),
            "batch" => Ok(Durability::Batch),
            "async" => Ok(Durability::Async),
            other => Err(format!("unknown durability `{other}`: expected sync, batch or async")),
        }
    }
}

/// Settings of one WAL.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Seal the active segment when it would grow past this many bytes (default 64 MiB).
    pub segment_bytes: u64,
    /// Seal the active segment (if it holds any record) when it was created this long ago
    /// (default 30 s).
    pub segment_age: Duration,
    /// Default durability of appends that do not choose one.
    pub durability: Durability,
    /// fdatasync period of the `batch` and `async` modes.
    pub batch_interval: Duration,
    /// Requests the writer's queue holds; in `async` mode a full queue drops events.
    pub queue_capacity: usize,
    /// Most requests the writer takes into one group (one write + one fdatasync).
    pub max_group: usize,
    /// The file system the WAL writes through ([`crate::fsio::real`] unless a test injects faults).
    pub fs: Fs,
    /// The highest LSN stored anywhere else (the catalog's): new LSNs are above it even when
    /// `wal/` is empty or lost, so a new segment never takes an old segment's file names.
    pub lsn_floor: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: 64 * 1024 * 1024,
            segment_age: Duration::from_secs(30),
            durability: Durability::Sync,
            batch_interval: Duration::from_millis(10),
            queue_capacity: 65_536,
            max_group: 4_096,
            fs: crate::fsio::real(),
            lsn_floor: 0,
        }
    }
}
