//! Looking up one trace or job id: the segments whose filter may hold it ([`super::filters`]),
//! then their index rows (DuckDB skips the row groups of other segments by their min/max), and
//! the retention gaps the id fell into.

use duckdb::Row;
use duckdb::types::Value;

use super::filters::{IdFilters, read};
use super::{Catalog, IndexRow, SegmentState, id_list, text_list};
use crate::compact::error::StoreError;

/// One dropped segment (or one job's or trace's part of it) in a time range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DroppedSpanRow {
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub min_micros: i64,
    pub max_micros: i64,
    pub events: u64,
}

/// One of the catalog's id indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdIndex {
    Trace,
    Job,
}

impl IdIndex {
    /// What a retention gap calls the id's events, and the `cat.id_filters.kind` of the
    /// index's filters.
    pub fn what(self) -> &'static str {
        match self {
            IdIndex::Trace => "trace",
            IdIndex::Job => "job",
        }
    }

    /// One id's index rows of dropped segments among the candidates (the id is `$3`, the
    /// candidate segments `$4`).
    fn dropped_part_sql(self) -> &'static str {
        match self {
            IdIndex::Trace => {
                "(SELECT * FROM cat.trace_index WHERE segment BETWEEN $5 AND $6 AND list_contains($4::UBIGINT[], segment) \
                 AND trace_id = $3::UUID AND dropped)"
            }
            IdIndex::Job => {
                "(SELECT * FROM cat.job_index WHERE segment BETWEEN $5 AND $6 AND list_contains($4::UBIGINT[], segment) \
                 AND job_id = $3 AND dropped)"
            }
        }
    }

    /// One id's rows among the candidate segments (`$3`) with their segments' files (the
    /// index's table and column are fixed identifiers, the id is the parameter).
    fn lookup_sql(self) -> &'static str {
        match self {
            IdIndex::Trace => {
                "SELECT i.segment, i.dropped, i.events, epoch_us(i.min_ts), epoch_us(i.max_ts), s.files \
                 FROM cat.trace_index i LEFT JOIN cat.segments s ON s.segment = i.segment AND s.state = $2 \
                 WHERE i.segment BETWEEN $4 AND $5 AND list_contains($3::UBIGINT[], i.segment) \
                 AND i.trace_id = $1::UUID ORDER BY i.segment"
            }
            IdIndex::Job => {
                "SELECT i.segment, i.dropped, i.events, epoch_us(i.min_ts), epoch_us(i.max_ts), s.files \
                 FROM cat.job_index i LEFT JOIN cat.segments s ON s.segment = i.segment AND s.state = $2 \
                 WHERE i.segment BETWEEN $4 AND $5 AND list_contains($3::UBIGINT[], i.segment) \
                 AND i.job_id = $1 ORDER BY i.segment"
            }
        }
    }
}

/// The first and last of candidate segments, in LSN order (the range bounds let DuckDB skip
/// the row groups of other segments: index rows are appended in segment order).
fn span(candidates: &[u64]) -> (u64, u64) {
    (candidates.first().copied().unwrap_or(0), candidates.last().copied().unwrap_or(0))
}

impl Catalog {
    /// The segments whose filter may hold `id` (empty: no index row has it).
    pub(super) fn candidates(&self, index: IdIndex, id: &str) -> Vec<u64> {
        let filters: &IdFilters = &read(&self.filters);
        index.filter_key(id).map(|key| filters.candidates(index, &key)).unwrap_or_default()
    }

    /// Bytes the id filters take in memory.
    pub fn id_filter_bytes(&self) -> usize {
        read(&self.filters).bytes()
    }

    /// The index rows of one trace or job id, in segment order. A trace id that is not a UUID
    /// has none (the index stores UUIDs; it is looked up in its canonical form).
    pub fn index_rows(&self, index: IdIndex, id: &str) -> Result<Vec<IndexRow>, StoreError> {
        let candidates = self.candidates(index, id);
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let what = format!("look up {} {id} in the catalog", index.what());
        let row = |r: &Row<'_>| {
            Ok(IndexRow {
                segment: r.get(0)?,
                dropped: r.get(1)?,
                events: r.get(2)?,
                min_ts_micros: r.get(3)?,
                max_ts_micros: r.get(4)?,
                files: text_list(r, 5)?,
            })
        };
        let id = index.canonical_id(id).unwrap_or_default();
        let (first, last) = span(&candidates);
        let params = duckdb::params![id, SegmentState::Compacted.as_str(), id_list(&candidates), first, last];
        self.rows(&what, index.lookup_sql(), params, row)
    }

    /// The segments retention dropped whose events lay in `[from, to)` (µs since the epoch),
    /// in LSN order; with `id`, only those that held events of that trace or job, with that
    /// id's part of them (its events and their time span).
    pub fn dropped_between(
        &self,
        from: i64,
        to: i64,
        id: Option<(IdIndex, &str)>,
    ) -> Result<Vec<DroppedSpanRow>, StoreError> {
        let mut values = vec![Value::BigInt(from), Value::BigInt(to)];
        let part = match id {
            Some((index, id)) => {
                let candidates = self.candidates(index, id);
                if candidates.is_empty() {
                    return Ok(Vec::new());
                }
                let (first, last) = span(&candidates);
                let id = Value::Text(index.canonical_id(id).unwrap_or_default());
                values.extend([id, id_list(&candidates), Value::UBigInt(first), Value::UBigInt(last)]);
                index.dropped_part_sql()
            }
            None => "cat.retention_log",
        };
        let sql = format!(
            "SELECT coalesce(r.first_lsn, r.segment), coalesce(r.last_lsn, r.segment), epoch_us(i.min_ts), \
             epoch_us(i.max_ts), i.events FROM cat.retention_log r JOIN {part} i ON i.segment = r.segment \
             WHERE i.max_ts >= make_timestamp($1::BIGINT)::TIMESTAMPTZ \
             AND i.min_ts < make_timestamp($2::BIGINT)::TIMESTAMPTZ ORDER BY 1"
        );
        let row = |r: &Row<'_>| {
            Ok(DroppedSpanRow {
                first_lsn: r.get(0)?,
                last_lsn: r.get(1)?,
                min_micros: r.get(2)?,
                max_micros: r.get(3)?,
                events: r.get(4)?,
            })
        };
        self.rows("list retention gaps", &sql, duckdb::params_from_iter(values), row)
    }
}
