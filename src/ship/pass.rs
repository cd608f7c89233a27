//! One shipping pass: every compacted file not shipped to the target yet, oldest first.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::compact::catalog::{Catalog, Shipped, Unshipped};

use super::upload::upload;
use super::{ShipConfig, ShipError, object_key};

/// A pass stops after this many failures in a row: the store is most likely unreachable, and
/// the next pass (after a backoff) tries again.
const FAILURES_IN_A_ROW: usize = 3;

/// A file a pass could not ship, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileFailure {
    pub file: String,
    pub error: String,
}

/// What one pass did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PassReport {
    /// Object keys uploaded and recorded.
    pub shipped: Vec<String>,
    pub bytes: u64,
    pub failed: Vec<FileFailure>,
    /// Files still unshipped when the pass ended (failed or not tried).
    pub unshipped: u64,
}

/// Runs `work` on the catalog in tokio's blocking pool (DuckDB calls block).
pub(super) async fn on_catalog<T: Send + 'static>(
    catalog: &Arc<Mutex<Catalog>>,
    work: impl FnOnce(&Catalog) -> Result<T, crate::compact::StoreError> + Send + 'static,
) -> Result<T, ShipError> {
    let catalog = catalog.clone();
    let done = tokio::task::spawn_blocking(move || work(&crate::sync::lock(&catalog))).await;
    Ok(done.map_err(|_| ShipError::Stopped)??)
}

/// Ships every compacted file not yet shipped to `config.target`: uploads it, then records it
/// in the catalog (never the other way round).
pub async fn ship_pending(
    catalog: &Arc<Mutex<Catalog>>,
    root: &Path,
    config: &ShipConfig,
) -> Result<PassReport, ShipError> {
    let url = config.target.url().to_string();
    let pending = on_catalog(catalog, move |c| c.unshipped_files(&url)).await?;
    let mut report = PassReport { unshipped: pending.len() as u64, ..PassReport::default() };
    let mut in_a_row = 0;
    for file in pending {
        match ship_one(catalog, root, config, &file).await {
            Ok((key, bytes)) => {
                in_a_row = 0;
                report.shipped.push(key);
                report.bytes += bytes;
                report.unshipped -= 1;
            }
            Err(e) => {
                tracing::warn!(file = %file.file, error = %e, "could not ship a Parquet file; the next pass retries it");
                report.failed.push(FileFailure { file: file.file.clone(), error: e.to_string() });
                in_a_row += 1;
                if in_a_row >= FAILURES_IN_A_ROW {
                    break;
                }
            }
        }
    }
    Ok(report)
}

/// Uploads one file and records it; returns its key and size.
async fn ship_one(
    catalog: &Arc<Mutex<Catalog>>,
    root: &Path,
    config: &ShipConfig,
    file: &Unshipped,
) -> Result<(String, u64), ShipError> {
    let key = object_key(config.target.prefix(), &config.host_id, &file.file)?;
    let uploaded =
        upload(config.target.store().as_ref(), &key, &root.join(&file.file), config.multipart_threshold).await?;
    let shipped = Shipped {
        file: file.file.clone(),
        target: config.target.url().to_string(),
        segment: file.segment,
        object_key: key.to_string(),
        bytes: uploaded.bytes,
        etag: uploaded.etag,
        max_ts_micros: file.max_ts_micros,
    };
    on_catalog(catalog, move |c| c.record_shipped(&shipped)).await?;
    tracing::debug!(key = %key, bytes = uploaded.bytes, "shipped");
    Ok((key.to_string(), uploaded.bytes))
}
