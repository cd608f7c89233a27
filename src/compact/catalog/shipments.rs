//! The catalog's record of shipping (`cat.shipments`): which Parquet files are complete under
//! which object key of which target, and what remote retention deleted.
//!
//! A row is written only after its upload completed, so a file without a row is shipped (again)
//! by the next pass: same key, same bytes.

use duckdb::{Row, params};

use super::{Catalog, SegmentState, Source};
use crate::compact::error::{StoreError, db};
use crate::compact::files::path_list;

/// A compacted file not shipped to the target yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unshipped {
    pub segment: u64,
    /// Path relative to the data directory (`events/date=…/seg-….parquet`).
    pub file: String,
    /// When its segment was compacted (µs since the epoch): how long it has waited.
    pub compacted_at_micros: i64,
    /// The newest event of its segment (µs since the epoch).
    pub max_ts_micros: Option<i64>,
}

/// A completed upload, as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipped {
    pub file: String,
    pub target: String,
    pub segment: u64,
    pub object_key: String,
    pub bytes: u64,
    pub etag: Option<String>,
    pub max_ts_micros: Option<i64>,
}

/// A shipped object still in the bucket, for remote retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    pub segment: u64,
    pub file: String,
    pub object_key: String,
}

/// How far shipping to one target is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShipCounts {
    /// Files recorded as shipped (not deleted by remote retention).
    pub shipped: u64,
    /// Compacted files not shipped yet.
    pub unshipped: u64,
    /// When the segment of the oldest unshipped file was compacted (µs since the epoch).
    pub oldest_unshipped_micros: Option<i64>,
}

/// Every file of the compacted segments with its segment's times, as rows.
const COMPACTED_FILES: &str = "SELECT segment, unnest(files) AS file, compacted_at, max_ts FROM cat.segments \
                               WHERE state = $1";

impl Catalog {
    /// The compacted files not shipped to `target`, in segment order.
    pub fn unshipped_files(&self, target: &str) -> Result<Vec<Unshipped>, StoreError> {
        let sql = format!(
            "SELECT f.segment, f.file, epoch_us(f.compacted_at), epoch_us(f.max_ts) FROM ({COMPACTED_FILES}) f \
             WHERE NOT EXISTS (SELECT 1 FROM cat.shipments p WHERE p.file = f.file AND p.target = $2) \
             ORDER BY f.segment, f.file"
        );
        let row = |r: &Row<'_>| {
            Ok(Unshipped {
                segment: r.get(0)?,
                file: r.get(1)?,
                compacted_at_micros: r.get(2)?,
                max_ts_micros: r.get(3)?,
            })
        };
        self.rows("list unshipped files", &sql, params![SegmentState::Compacted.as_str(), target], row)
    }

    /// Records a completed upload (replacing the row of an earlier upload of the same file).
    pub fn record_shipped(&self, s: &Shipped) -> Result<(), StoreError> {
        self.transaction(&format!("record {} as shipped", s.file), |tx| {
            tx.execute(
                "INSERT OR REPLACE INTO cat.shipments VALUES \
                 (?, ?, ?, ?, ?, ?, now(), make_timestamp(?::BIGINT)::TIMESTAMPTZ, NULL)",
                params![s.file, s.target, s.segment, s.object_key, s.bytes, s.etag, s.max_ts_micros],
            )?;
            Ok(())
        })
    }

    /// How many files are shipped to `target` and how many wait.
    pub fn ship_counts(&self, target: &str) -> Result<ShipCounts, StoreError> {
        let sql = format!(
            "SELECT (SELECT count(*) FROM cat.shipments WHERE target = $2 AND remote_dropped_at IS NULL)::UBIGINT, \
             count(*)::UBIGINT, epoch_us(min(f.compacted_at)) FROM ({COMPACTED_FILES}) f \
             WHERE NOT EXISTS (SELECT 1 FROM cat.shipments p WHERE p.file = f.file AND p.target = $2)"
        );
        let counts = |r: &Row<'_>| {
            Ok(ShipCounts { shipped: r.get(0)?, unshipped: r.get(1)?, oldest_unshipped_micros: r.get(2)? })
        };
        self.conn
            .query_row(&sql, params![SegmentState::Compacted.as_str(), target], counts)
            .map_err(db("count shipped files"))
    }

    /// Objects shipped to `target` whose segment's newest event is older than `cutoff` (µs
    /// since the epoch) and that remote retention has not deleted yet.
    pub fn remote_expired(&self, target: &str, cutoff_micros: i64) -> Result<Vec<RemoteObject>, StoreError> {
        let sql = "SELECT segment, file, object_key FROM cat.shipments WHERE target = ? AND remote_dropped_at IS NULL \
                   AND max_ts < make_timestamp(?::BIGINT)::TIMESTAMPTZ ORDER BY segment, file";
        let row = |r: &Row<'_>| Ok(RemoteObject { segment: r.get(0)?, file: r.get(1)?, object_key: r.get(2)? });
        self.rows("list expired remote objects", sql, params![target, cutoff_micros], row)
    }

    /// Marks the objects of one segment deleted from `target` and logs them in the retention
    /// log (source `remote`, the keys as files), in one transaction.
    pub fn drop_remote(
        &self,
        target: &str,
        segment: u64,
        objects: &[RemoteObject],
        window_days: f64,
    ) -> Result<(), StoreError> {
        let keys: Vec<&str> = objects.iter().map(|o| o.object_key.as_str()).collect();
        self.transaction(&format!("log remote segment {segment} as dropped"), |tx| {
            for o in objects {
                tx.execute(
                    "UPDATE cat.shipments SET remote_dropped_at = now() WHERE file = ? AND target = ?",
                    params![o.file, target],
                )?;
            }
            // The segment's counts come from its catalog row, or the row local retention logged.
            tx.execute(
                "INSERT INTO cat.retention_log SELECT $1::UBIGINT, first_lsn, last_lsn, min_ts, max_ts, events, $2, \
                 $3::VARCHAR[], now(), $4 FROM (SELECT first_lsn, last_lsn, min_ts, max_ts, events FROM cat.segments \
                 WHERE segment = $1 UNION ALL SELECT first_lsn, last_lsn, min_ts, max_ts, events FROM cat.retention_log \
                 WHERE segment = $1 AND source = 'parquet') LIMIT 1",
                params![segment, Source::Remote.as_str(), path_list(keys.iter().copied()), window_days],
            )?;
            Ok(())
        })
    }
}
