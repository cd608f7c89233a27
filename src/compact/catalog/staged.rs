//! What the catalog records of the segments being recorded, aggregated in Rust from their
//! staging columns ([`super::STAGING_COLUMNS`]) as they are staged: each segment's LSN and
//! time bounds and event count, and its index rows (one per trace and per job, with their own
//! bounds and count), whose ids the filters are built of.
//!
//! Why in Rust: DuckDB took as long to append every event's five columns to a `staging` table
//! and group them back into index rows as the rest of a transaction did, on one core while
//! the other idled. What DuckDB now gets is the index rows (one per trace and segment, several
//! times fewer than the events) through one appender each.
//!
//! Invariants: a trace id that is not a UUID is in no index row (as `TRY_CAST(... AS UUID)`
//! left it out before); two spellings of one UUID are one row; a NULL job id is in none.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use duckdb::arrow::array::{
    Array, ArrayRef, AsArray, StringArray, StringBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
    UInt64Array, UInt64Builder,
};
use duckdb::arrow::datatypes::{DataType, Field, Schema, TimeUnit, TimestampMicrosecondType, UInt64Type};
use duckdb::arrow::error::ArrowError;
use duckdb::arrow::record_batch::RecordBatch;

use super::IdIndex;
use super::filters::{BuiltFilters, filter_of};
use crate::compact::error::StoreError;

/// The events of one segment, trace or job: LSN and time bounds (µs since the epoch), count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub first_lsn: u64,
    pub last_lsn: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub events: u64,
}

impl Span {
    /// The span of one event.
    fn of(lsn: u64, ts: i64) -> Span {
        Span { first_lsn: lsn, last_lsn: lsn, min_ts: ts, max_ts: ts, events: 1 }
    }

    fn merge(&mut self, other: &Span) {
        self.first_lsn = self.first_lsn.min(other.first_lsn);
        self.last_lsn = self.last_lsn.max(other.last_lsn);
        self.min_ts = self.min_ts.min(other.min_ts);
        self.max_ts = self.max_ts.max(other.max_ts);
        self.events += other.events;
    }
}

/// The staged segments' aggregates (see the module doc).
#[derive(Default)]
pub struct Staged {
    segments: BTreeMap<u64, Span>,
    traces: BTreeMap<u64, HashMap<[u8; 16], Span>>,
    jobs: BTreeMap<u64, HashMap<String, Span>>,
}

/// The staging columns of one batch, typed.
struct Columns<'a> {
    traces: &'a StringArray,
    jobs: &'a StringArray,
    timestamps: &'a TimestampMicrosecondArray,
    lsns: &'a UInt64Array,
    segments: &'a UInt64Array,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Columns<'a>, StoreError> {
        let column = |name: &str| batch.column_by_name(name);
        let segments = column("segment").and_then(|c| c.as_primitive_opt::<UInt64Type>());
        let not_staging = |segment: u64, what: &str| StoreError::Arrow {
            segment,
            reason: format!("the staging column `{what}` is missing or of another type"),
        };
        let segments = segments.ok_or_else(|| not_staging(0, "segment"))?;
        let first = segments.iter().flatten().next().unwrap_or(0);
        let text = |name: &str| column(name).and_then(|c| c.as_string_opt::<i32>());
        Ok(Columns {
            traces: text("trace_id").ok_or_else(|| not_staging(first, "trace_id"))?,
            jobs: text("job_id").ok_or_else(|| not_staging(first, "job_id"))?,
            timestamps: column("timestamp")
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                .ok_or_else(|| not_staging(first, "timestamp"))?,
            lsns: column("lsn")
                .and_then(|c| c.as_primitive_opt::<UInt64Type>())
                .ok_or_else(|| not_staging(first, "lsn"))?,
            segments,
        })
    }
}

impl Staged {
    /// Adds the events of a batch of staging columns.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        let c = Columns::of(batch)?;
        for row in 0..batch.num_rows() {
            let (segment, event) = (c.segments.value(row), Span::of(c.lsns.value(row), c.timestamps.value(row)));
            self.segments.entry(segment).and_modify(|s| s.merge(&event)).or_insert(event);
            if let Some(Ok(id)) = c.traces.is_valid(row).then(|| uuid::Uuid::parse_str(c.traces.value(row))) {
                let traces = self.traces.entry(segment).or_default();
                traces.entry(*id.as_bytes()).and_modify(|s| s.merge(&event)).or_insert(event);
            }
            if c.jobs.is_valid(row) {
                let jobs = self.jobs.entry(segment).or_default();
                match jobs.get_mut(c.jobs.value(row)) {
                    Some(span) => span.merge(&event),
                    None => {
                        jobs.insert(c.jobs.value(row).to_owned(), event);
                    }
                }
            }
        }
        Ok(())
    }

    /// The events of one staged segment (None: it has none).
    pub fn segment(&self, segment: u64) -> Option<Span> {
        self.segments.get(&segment).copied()
    }

    /// The events of every staged segment together (None: there are none).
    pub fn all(&self) -> Option<Span> {
        let mut spans = self.segments.values();
        let mut all = *spans.next()?;
        spans.for_each(|s| all.merge(s));
        Some(all)
    }

    /// The filters of `segments`' ids (none for a segment without ids of a kind, as it has no
    /// index rows of that kind).
    pub fn filters(&self, segments: &[u64]) -> BuiltFilters {
        let mut built = Vec::new();
        for &segment in segments {
            if let Some(ids) = self.traces.get(&segment) {
                built.push((IdIndex::Trace, segment, filter_of(ids.len(), ids.keys().map(|id| id.as_slice()))));
            }
            if let Some(ids) = self.jobs.get(&segment) {
                built.push((IdIndex::Job, segment, filter_of(ids.len(), ids.keys().map(|id| id.as_bytes()))));
            }
        }
        BuiltFilters::new(built)
    }

    /// The index rows of every staged segment as a batch of [`index_schema`]: trace ids in
    /// their canonical UUID text, job ids as they are.
    pub fn index_rows(&self, index: IdIndex) -> Result<RecordBatch, ArrowError> {
        let mut rows = IndexRows::default();
        match index {
            IdIndex::Trace => {
                for (segment, ids) in &self.traces {
                    for (id, span) in ids {
                        rows.push(&uuid::Uuid::from_bytes(*id).hyphenated().to_string(), *segment, span);
                    }
                }
            }
            IdIndex::Job => {
                for (segment, ids) in &self.jobs {
                    for (id, span) in ids {
                        rows.push(id, *segment, span);
                    }
                }
            }
        }
        rows.finish()
    }
}

/// The columns of the index rows appended to DuckDB: id, segment, min_ts, max_ts, events.
pub fn index_schema() -> Schema {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("segment", DataType::UInt64, false),
        Field::new("min_ts", ts.clone(), false),
        Field::new("max_ts", ts, false),
        Field::new("events", DataType::UInt64, false),
    ])
}

#[derive(Default)]
struct IndexRows {
    ids: StringBuilder,
    segments: UInt64Builder,
    min_ts: TimestampMicrosecondBuilder,
    max_ts: TimestampMicrosecondBuilder,
    events: UInt64Builder,
}

impl IndexRows {
    fn push(&mut self, id: &str, segment: u64, span: &Span) {
        self.ids.append_value(id);
        self.segments.append_value(segment);
        self.min_ts.append_value(span.min_ts);
        self.max_ts.append_value(span.max_ts);
        self.events.append_value(span.events);
    }

    fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ids.finish()),
            Arc::new(self.segments.finish()),
            Arc::new(self.min_ts.finish().with_timezone("UTC")),
            Arc::new(self.max_ts.finish().with_timezone("UTC")),
            Arc::new(self.events.finish()),
        ];
        RecordBatch::try_new(Arc::new(index_schema()), columns)
    }
}
