//! Remote retention: objects whose segment's newest event left the remote window are deleted
//! from the target, then logged in `retention_log` (source `remote`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

use super::pass::on_catalog;
use super::{ShipConfig, ShipError};
use crate::compact::catalog::{Catalog, RemoteObject};

/// A segment whose objects remote retention deleted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RemoteDropped {
    pub segment: u64,
    pub keys: Vec<String>,
}

/// Deletes the objects past `config.remote_retention` (nothing when it is not set). A segment
/// is logged only after all its objects are gone; an object already gone counts as deleted.
pub async fn expire_remote(
    catalog: &Arc<Mutex<Catalog>>,
    config: &ShipConfig,
    now: DateTime<Utc>,
) -> Result<Vec<RemoteDropped>, ShipError> {
    let Some(window) = config.remote_retention else { return Ok(Vec::new()) };
    let url = config.target.url().to_string();
    let cutoff = (now - window).timestamp_micros();
    let expired = on_catalog(catalog, move |c| c.remote_expired(&url, cutoff)).await?;
    let mut by_segment: BTreeMap<u64, Vec<RemoteObject>> = BTreeMap::new();
    for object in expired {
        by_segment.entry(object.segment).or_default().push(object);
    }
    let window_days = window.num_seconds() as f64 / 86_400.0;
    let mut dropped = Vec::new();
    for (segment, objects) in by_segment {
        for object in &objects {
            let key = ObjectPath::parse(&object.object_key)
                .map_err(|e| ShipError::config("object key", &object.object_key, e.to_string()))?;
            match config.target.store().delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(ShipError::remote("delete expired object", &key)(e)),
            }
        }
        let keys: Vec<String> = objects.iter().map(|o| o.object_key.clone()).collect();
        let url = config.target.url().to_string();
        on_catalog(catalog, move |c| c.drop_remote(&url, segment, &objects, window_days)).await?;
        tracing::info!(segment, objects = keys.len(), "remote retention deleted a segment's objects");
        dropped.push(RemoteDropped { segment, keys });
    }
    Ok(dropped)
}
