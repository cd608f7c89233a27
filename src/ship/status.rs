//! What shipping has done, as the stats show it: the live board of a running shipper, and
//! `ship-status.json`, which a shipper writes after each pass for `flightrec stats`
//! (which takes no lock, so it cannot read the catalog of a running recorder).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::{PassReport, ShipError};
use crate::compact::catalog::ShipCounts;

/// The shipping fields of `stats --json`, `GET /v1/stats` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ShipStats {
    /// The `--ship-to` URL; null when shipping is not configured.
    pub ship_to: Option<String>,
    /// Parquet files complete in the object store.
    pub shipped_files: u64,
    /// Compacted Parquet files not shipped yet.
    pub unshipped_files: u64,
    /// How long the oldest unshipped file has waited since it was compacted (0: none waits).
    pub ship_lag_seconds: f64,
    /// Why the last pass failed; null once a pass shipped everything it tried.
    pub last_ship_error: Option<String>,
}

impl ShipStats {
    pub fn new(target: &str, counts: ShipCounts, last_ship_error: Option<String>, now: DateTime<Utc>) -> ShipStats {
        let lag_micros = counts.oldest_unshipped_micros.map_or(0, |t| (now.timestamp_micros() - t).max(0));
        ShipStats {
            ship_to: Some(target.to_string()),
            shipped_files: counts.shipped,
            unshipped_files: counts.unshipped,
            ship_lag_seconds: lag_micros as f64 / 1e6,
            last_ship_error,
        }
    }
}

/// Totals of a running shipper, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShipCounters {
    pub shipped_files: u64,
    pub shipped_bytes: u64,
    pub failed_passes: u64,
}

/// The live state of a shipper: its last error and its totals.
#[derive(Debug, Default)]
pub struct ShipBoard {
    state: Mutex<(Option<String>, ShipCounters)>,
}

impl ShipBoard {
    /// Takes in the outcome of a pass: a pass with a failure (or none at all) sets the last
    /// error, a clean one clears it.
    pub fn record(&self, pass: &Result<PassReport, ShipError>) {
        let mut state = crate::sync::lock(&self.state);
        match pass {
            Ok(report) => {
                state.1.shipped_files += report.shipped.len() as u64;
                state.1.shipped_bytes += report.bytes;
                state.0 = report.failed.last().map(|f| format!("{}: {}", f.file, f.error));
                if !report.failed.is_empty() {
                    state.1.failed_passes += 1;
                }
            }
            Err(e) => {
                state.0 = Some(e.to_string());
                state.1.failed_passes += 1;
            }
        }
    }

    pub fn last_error(&self) -> Option<String> {
        crate::sync::lock(&self.state).0.clone()
    }

    pub fn counters(&self) -> ShipCounters {
        crate::sync::lock(&self.state).1
    }
}

/// `ship-status.json` in the data directory.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusFile {
    pub ship_to: String,
    pub host_id: String,
    pub shipped_files: u64,
    pub unshipped_files: u64,
    pub oldest_unshipped: Option<DateTime<Utc>>,
    pub last_ship_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// The status file's name in the data directory.
const STATUS_FILE: &str = "ship-status.json";

impl StatusFile {
    pub fn new(ship_to: &str, host_id: &str, counts: ShipCounts, last_ship_error: Option<String>) -> StatusFile {
        StatusFile {
            ship_to: ship_to.to_string(),
            host_id: host_id.to_string(),
            shipped_files: counts.shipped,
            unshipped_files: counts.unshipped,
            oldest_unshipped: counts.oldest_unshipped_micros.and_then(DateTime::from_timestamp_micros),
            last_ship_error,
            updated_at: Utc::now(),
        }
    }

    pub fn path(root: &Path) -> PathBuf {
        root.join(STATUS_FILE)
    }

    /// Replaces the file (a temporary file renamed over it, so a reader never sees half).
    pub fn write(&self, root: &Path) -> std::io::Result<()> {
        let tmp = root.join(format!(".{STATUS_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, Self::path(root))
    }

    /// The file of `root`, if a shipper ever wrote one that decodes.
    pub fn read(root: &Path) -> Option<StatusFile> {
        serde_json::from_slice(&std::fs::read(Self::path(root)).ok()?).ok()
    }

    /// The stats it gives at `now`.
    pub fn stats(&self, now: DateTime<Utc>) -> ShipStats {
        let counts = ShipCounts {
            shipped: self.shipped_files,
            unshipped: self.unshipped_files,
            oldest_unshipped_micros: self.oldest_unshipped.map(|t| t.timestamp_micros()),
        };
        ShipStats::new(&self.ship_to, counts, self.last_ship_error.clone(), now)
    }
}
