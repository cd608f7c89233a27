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

impl BuiltFilters {
    pub fn new(filters: Vec<(IdIndex, u64, Sbbf)>) -> BuiltFilters {
        BuiltFilters(filters)
    }
}

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

    /// Each segment's distinct ids of the index, as text (the filter keys' source).
    fn ids_sql(self) -> &'static str {
        match self {
            IdIndex::Trace => "SELECT segment, list(DISTINCT trace_id::VARCHAR) FROM cat.trace_index GROUP BY segment",
            IdIndex::Job => "SELECT segment, list(DISTINCT job_id) FROM cat.job_index GROUP BY segment",
        }
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

/// Builds the filters of every segment's index rows and stores them in place of every stored
/// filter (a catalog migrated to filters, or one whose filters are unreadable); runs inside
/// the caller's transaction.
pub fn build_from_index_rows(tx: &Connection) -> duckdb::Result<BuiltFilters> {
    tx.execute("DELETE FROM cat.id_filters", [])?;
    let mut built = Vec::new();
    for index in [IdIndex::Trace, IdIndex::Job] {
        let mut stmt = tx.prepare(index.ids_sql())?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let ids = super::text_list(row, 1)?.unwrap_or_default();
            let keys: Vec<Vec<u8>> = ids.iter().filter_map(|id| index.filter_key(id)).collect();
            built.push((index, row.get(0)?, filter_of(keys.len(), keys.iter().map(Vec::as_slice))));
        }
    }
    let built = BuiltFilters(built);
    store(tx, &built, &[])?;
    Ok(built)
}

/// Stores `built` in `cat.id_filters` in one statement, replacing the filters of `segments`
/// (a segment without ids of a kind loses its filter of that kind, as its rows are gone).
pub fn store(tx: &Connection, built: &BuiltFilters, segments: &[u64]) -> duckdb::Result<()> {
    if let (Some(first), Some(last)) = (segments.iter().min(), segments.iter().max()) {
        tx.execute(
            "DELETE FROM cat.id_filters WHERE segment BETWEEN $2 AND $3 AND list_contains($1::UBIGINT[], segment)",
            params![super::id_list(segments), first, last],
        )?;
    }
    if built.0.is_empty() {
        return Ok(());
    }
    let (mut kinds, mut ids, mut blobs) = (Vec::new(), Vec::new(), Vec::new());
    for (index, segment, filter) in &built.0 {
        let mut bytes = Vec::with_capacity(filter.num_blocks() * 32 + 16);
        filter.write(&mut bytes).map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
        ids.push(Value::UBigInt(*segment));
        kinds.push(Value::Text(index.what().to_string()));
        blobs.push(Value::Blob(bytes));
    }
    tx.execute(
        "INSERT INTO cat.id_filters SELECT unnest($1::UBIGINT[]), unnest($2::VARCHAR[]), unnest($3::BLOB[])",
        params![Value::List(ids), Value::List(kinds), Value::List(blobs)],
    )?;
    Ok(())
}

/// A filter of `ndv` distinct keys, sized for [`TARGET_FPP`].
pub fn filter_of<'a>(ndv: usize, keys: impl Iterator<Item = &'a [u8]>) -> Sbbf {
    let ndv = u64::try_from(ndv).unwrap_or(u64::MAX).max(1);
    let mut filter = Sbbf::new_with_ndv_fpp(ndv, TARGET_FPP).unwrap_or_else(|_| Sbbf::new_with_num_of_bytes(32));
    for key in keys {
        filter.insert(key);
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
