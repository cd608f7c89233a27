//! The background shipper of `serve` and `compact --watch`: a pass after each compaction (and
//! periodically), failed passes retried with exponential backoff. It has its own catalog
//! connection and only reads Parquet files, so ingest and compaction never wait for it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::pass::on_catalog;
use super::{PassReport, ShipBoard, ShipConfig, ShipError, ShipStats, StatusFile, expire_remote, ship_pending};
use crate::compact::catalog::{Catalog, ShipCounts};

/// A pass runs at least this often without a wake-up (a compaction wakes it sooner).
const IDLE_PASS: Duration = Duration::from_secs(60);

/// The first wait after a failed pass; it doubles up to the config's `max_backoff`.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Ships the files of one data directory to one target.
pub struct Shipper {
    catalog: Arc<Mutex<Catalog>>,
    root: PathBuf,
    config: ShipConfig,
    board: ShipBoard,
    wake: Notify,
}

impl Shipper {
    /// `catalog`: a connection of its own (`Catalog::reader`), so passes never hold the
    /// compactor's.
    pub fn new(catalog: Catalog, root: &Path, config: ShipConfig) -> Shipper {
        Shipper {
            catalog: Arc::new(Mutex::new(catalog)),
            root: root.to_path_buf(),
            config,
            board: ShipBoard::default(),
            wake: Notify::new(),
        }
    }

    pub fn config(&self) -> &ShipConfig {
        &self.config
    }

    pub fn board(&self) -> &ShipBoard {
        &self.board
    }

    /// Asks for a pass (after a compaction wrote files).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// One pass, then remote retention when the pass shipped everything; the board and the
    /// status file take in the outcome.
    pub async fn pass(&self) -> Result<PassReport, ShipError> {
        let mut result = ship_pending(&self.catalog, &self.root, &self.config).await;
        if let Ok(report) = &result
            && report.failed.is_empty()
            && let Err(e) = expire_remote(&self.catalog, &self.config, chrono::Utc::now()).await
        {
            tracing::warn!(error = %e, "remote retention failed; retrying after the next pass");
            result = Err(e);
        }
        self.board.record(&result);
        self.write_status().await;
        result
    }

    /// The counts of the catalog now.
    pub async fn counts(&self) -> Result<ShipCounts, ShipError> {
        let url = self.config.target.url().to_string();
        on_catalog(&self.catalog, move |c| c.ship_counts(&url)).await
    }

    /// The stats as they are now.
    pub async fn stats(&self) -> Result<ShipStats, ShipError> {
        let counts = self.counts().await?;
        Ok(ShipStats::new(self.config.target.url(), counts, self.board.last_error(), chrono::Utc::now()))
    }

    async fn write_status(&self) {
        let counts = match self.counts().await {
            Ok(counts) => counts,
            Err(e) => return tracing::warn!(error = %e, "could not count shipped files"),
        };
        let status =
            StatusFile::new(self.config.target.url(), self.config.host_id.as_str(), counts, self.board.last_error());
        if let Err(e) = status.write(&self.root) {
            tracing::warn!(error = %e, "could not write the ship status file");
        }
    }

    /// Passes until `stop` changes: after each wake-up, at least every [`IDLE_PASS`], and
    /// after a failed pass with backoff (wake-ups wait for it).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let outcome = tokio::select! {
                outcome = self.pass() => outcome,
                _ = stop.changed() => return,
            };
            let failed = match &outcome {
                Ok(report) if !report.shipped.is_empty() || !report.failed.is_empty() => {
                    tracing::info!(shipped = report.shipped.len(), failed = report.failed.len(), "ship pass");
                    !report.failed.is_empty()
                }
                Ok(_) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "ship pass failed; retrying with backoff");
                    true
                }
            };
            let wait = if failed { backoff } else { IDLE_PASS };
            backoff = if failed { (backoff * 2).min(self.config.max_backoff) } else { FIRST_BACKOFF };
            tokio::select! {
                () = self.wake.notified(), if !failed => {}
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
