//! Per-segment Bloom filters of the trace and job ids in the catalog's index rows
//! (`cat.id_filters`), held in memory so a lookup reads the index rows of only the segments
//! that may hold the id.
//!
//! Why not an index in DuckDB: an ART index over `trace_index(trace_id)` is loaded whole into
//! DuckDB's memory on the first insert and cannot be evicted (~50 bytes per id and segment), so
//! the catalog outgrew any `--memory-limit` as data accumulated. A filter takes ~1.2–2.4 bytes
//! per id and segment and rules out all but ~1 % of the segments that do not hold an id.
//!
//! Invariants:
//! - A segment with index rows has a filter of each kind that holds every id of its rows (an
//!   index row an id has is never missed: a filter has no false negatives). A filter may name
//!   ids a segment has no rows of; the lookup's SQL filters them out.
//! - The filters are Parquet's split-block Bloom filters (`parquet::bloom_filter::Sbbf`, xxHash64
//!   of the id's bytes): trace ids hashed as their 16 UUID bytes, job ids as their UTF-8 bytes.
//!   Stored as `Sbbf::write` writes them (Thrift header, then the bit set).

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use duckdb::types::Value;
use duckdb::{Connection, params};
use parquet::bloom_filter::Sbbf;

use super::IdIndex;

/// False-positive probability each filter is sized for.
const TARGET_FPP: f64 = 0.01;

/// The filters of every segment with index rows, by kind, then segment.
#[derive(Default)]
pub struct IdFilters {
    trace: BTreeMap<u64, Sbbf>,
    job: BTreeMap<u64, Sbbf>,
}

/// Filters built for some segments, to store and then to add to [`IdFilters`].
pub struct BuiltFilters(Vec<(IdIndex, u64, Sbbf)>);

impl IdIndex {
    /// The id as the index stores it: a trace id in its canonical UUID form (None: not a
    /// UUID, so in no index row), a job id as it is.
    pub(super) fn canonical_id(self, id: &str) -> Option<String> {
        match self {
            IdIndex::Trace => uuid::Uuid::parse_str(id).ok().map(|u| u.to_string()),
            IdIndex::Job => Some(id.to_string()),
        }
    }

    /// The bytes a filter hashes for `id`: a trace id's 16 UUID bytes (None: not a UUID, so
    /// in no index row), a job id's UTF-8 bytes.
    pub(super) fn filter_key(self, id: &str) -> Option<Vec<u8>> {
        match self {
            IdIndex::Trace => uuid::Uuid::parse_str(id).ok().map(|u| u.as_bytes().to_vec()),
            IdIndex::Job => Some(id.as_bytes().to_vec()),
        }
    }

    /// Each segment's distinct ids of the index, as text (the filter keys' source); with
    /// `only`, of the segments in the list `$1` only.
    fn ids_sql(self, only: bool) -> String {
        let (table, id) = match self {
            IdIndex::Trace => ("cat.trace_index", "trace_id::VARCHAR"),
            IdIndex::Job => ("cat.job_index", "job_id"),
        };
        // The range bounds let DuckDB skip the row groups of other segments (rows are appended
        // in segment order); the list alone is not pushed into the scan of a GROUP BY.
        let filter =
            if only { "WHERE segment BETWEEN $2 AND $3 AND list_contains($1::UBIGINT[], segment)" } else { "" };
        format!("SELECT segment, list(DISTINCT {id}) FROM {table} {filter} GROUP BY segment")
    }
}

impl IdFilters {
    /// Reads every stored filter.
    pub fn load(conn: &Connection) -> duckdb::Result<IdFilters> {
        let mut filters = IdFilters::default();
        let mut stmt = conn.prepare("SELECT kind, segment, filter FROM cat.id_filters")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let kind: String = row.get(0)?;
            let index = [IdIndex::Trace, IdIndex::Job].into_iter().find(|i| i.what() == kind);
            let index = index.ok_or_else(|| {
                let reason = format!("unknown id filter kind `{kind}` in the catalog");
                duckdb::Error::FromSqlConversionFailure(0, duckdb::types::Type::Text, reason.into())
            })?;
            let bytes: Vec<u8> = row.get(2)?;
            let filter = Sbbf::from_bytes(&bytes).map_err(|e| {
                let reason = format!("an unreadable id filter: {e}");
                duckdb::Error::FromSqlConversionFailure(2, duckdb::types::Type::Blob, reason.into())
            })?;
            filters.map_mut(index).insert(row.get(1)?, filter);
        }
        Ok(filters)
    }

    /// The segments whose filter may hold `key` (a [`IdIndex::filter_key`]), in LSN order.
    pub fn candidates(&self, index: IdIndex, key: &[u8]) -> Vec<u64> {
        self.map(index).iter().filter(|(_, f)| f.check(key)).map(|(segment, _)| *segment).collect()
    }

    /// Bytes the filters' bit sets take.
    pub fn bytes(&self) -> usize {
        self.trace.values().chain(self.job.values()).map(|f| f.num_blocks() * 32).sum()
    }

    /// Adds (or replaces) the segments' filters.
    pub fn add(&mut self, built: BuiltFilters) {
        for (index, segment, filter) in built.0 {
            self.map_mut(index).insert(segment, filter);
        }
    }

    fn map(&self, index: IdIndex) -> &BTreeMap<u64, Sbbf> {
        match index {
            IdIndex::Trace => &self.trace,
            IdIndex::Job => &self.job,
        }
    }

    fn map_mut(&mut self, index: IdIndex) -> &mut BTreeMap<u64, Sbbf> {
        match index {
            IdIndex::Trace => &mut self.trace,
            IdIndex::Job => &mut self.job,
        }
    }
}

/// Builds the filters of `segments`' index rows (None: of every segment with index rows) and
/// stores them in `cat.id_filters`, replacing theirs; runs inside the caller's transaction.
pub fn build_and_store(tx: &Connection, segments: Option<&[u64]>) -> duckdb::Result<BuiltFilters> {
    let bounds = segments.and_then(|s| Some((s, *s.iter().min()?, *s.iter().max()?)));
    if let Some((segments, first, last)) = bounds {
        tx.execute(
            "DELETE FROM cat.id_filters WHERE segment BETWEEN $2 AND $3 AND list_contains($1::UBIGINT[], segment)",
            params![super::id_list(segments), first, last],
        )?;
    }
    let mut built = Vec::new();
    let mut insert = tx.prepare("INSERT INTO cat.id_filters VALUES (?, ?, ?)")?;
    for index in [IdIndex::Trace, IdIndex::Job] {
        let mut stmt = tx.prepare(&index.ids_sql(segments.is_some()))?;
        let mut rows = match bounds {
            Some((segments, first, last)) => stmt.query(params![super::id_list(segments), first, last])?,
            None if segments.is_some() => continue,
            None => stmt.query([])?,
        };
        while let Some(row) = rows.next()? {
            let segment: u64 = row.get(0)?;
            let filter = filter_of(index, &super::text_list(row, 1)?.unwrap_or_default());
            let mut bytes = Vec::with_capacity(filter.num_blocks() * 32 + 16);
            filter.write(&mut bytes).map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
            insert.execute(params![segment, index.what(), Value::Blob(bytes)])?;
            built.push((index, segment, filter));
        }
    }
    Ok(BuiltFilters(built))
}

/// A filter of `ids`, sized for [`TARGET_FPP`] (ids that are not a key are left out: see
/// [`IdIndex::filter_key`]).
fn filter_of(index: IdIndex, ids: &[String]) -> Sbbf {
    let ndv = u64::try_from(ids.len()).unwrap_or(u64::MAX).max(1);
    let mut filter = Sbbf::new_with_ndv_fpp(ndv, TARGET_FPP).unwrap_or_else(|_| Sbbf::new_with_num_of_bytes(32));
    for key in ids.iter().filter_map(|id| index.filter_key(id)) {
        filter.insert(key.as_slice());
    }
    filter.fold_to_target_fpp(TARGET_FPP);
    filter
}

/// The shared filters, read even if a writer panicked (each insert is whole: a poisoned lock
/// still holds complete filters).
pub fn read(filters: &RwLock<IdFilters>) -> std::sync::RwLockReadGuard<'_, IdFilters> {
    filters.read().unwrap_or_else(PoisonError::into_inner)
}

/// [`read`] for writing.
pub fn write(filters: &RwLock<IdFilters>) -> std::sync::RwLockWriteGuard<'_, IdFilters> {
    filters.write().unwrap_or_else(PoisonError::into_inner)
}
