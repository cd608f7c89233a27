//! Building the Arrow record batch of a segment's events, in the column layout of the
//! Parquet files (see [`columns_sql`]): the envelope, `payload`, the WAL position, then the
//! summary's typed payload fields ([`super::summary_fields`]).

use std::sync::Arc;

use duckdb::arrow::array::{
    ArrayRef, BooleanBuilder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use duckdb::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use duckdb::arrow::error::ArrowError;
use duckdb::arrow::record_batch::RecordBatch;

use super::catalog::STAGING_COLUMNS;
use super::summary_fields::{self, SummaryColumns, SummaryFields};
use crate::stored::StoredEnvelope;

/// The envelope and WAL columns as a DuckDB column list, in batch order. `date` (the
/// partition) is not written into the Parquet files: readers get it from the
/// `date=YYYY-MM-DD` directory (hive layout).
const ENVELOPE_COLUMNS_SQL: &str = "event_id VARCHAR, type VARCHAR, timestamp TIMESTAMPTZ, actor VARCHAR, \
    trace_id VARCHAR, job_id VARCHAR, model_id VARCHAR, model_session_id VARCHAR, wsids VARCHAR[], \
    activity_span_id VARCHAR, session_span_id VARCHAR, capability_id VARCHAR, policy_decision_id VARCHAR, \
    payload VARCHAR, lsn UBIGINT, segment UBIGINT, redacted BOOLEAN, date VARCHAR";

/// The batch's columns as a DuckDB table (the `sql` command's view of the WAL tail), in batch
/// order.
pub fn columns_sql() -> String {
    format!("{ENVELOPE_COLUMNS_SQL}, {}", summary_fields::COLUMNS_SQL)
}

/// Accumulates events column by column.
pub struct BatchBuilder {
    strings: [StringBuilder; 12],
    wsids: ListBuilder<StringBuilder>,
    timestamp: TimestampMicrosecondBuilder,
    lsn: UInt64Builder,
    segment: UInt64Builder,
    redacted: BooleanBuilder,
    date: StringBuilder,
    summary: SummaryColumns,
    /// The UTC day (days since the epoch) of the last event added and its `YYYY-MM-DD`:
    /// consecutive events share it, so it is formatted once per day, not per event.
    last_day: Option<(i64, String)>,
    rows: usize,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Indexes into `BatchBuilder::strings`, in column order.
const EVENT_ID: usize = 0;
const TYPE: usize = 1;
const ACTOR: usize = 2;
const TRACE_ID: usize = 3;
const JOB_ID: usize = 4;
const MODEL_ID: usize = 5;
const MODEL_SESSION_ID: usize = 6;
const ACTIVITY_SPAN_ID: usize = 7;
const SESSION_SPAN_ID: usize = 8;
const CAPABILITY_ID: usize = 9;
const POLICY_DECISION_ID: usize = 10;
const PAYLOAD: usize = 11;

impl Default for BatchBuilder {
    fn default() -> Self {
        BatchBuilder {
            strings: std::array::from_fn(|_| StringBuilder::new()),
            wsids: ListBuilder::new(StringBuilder::new()).with_field(list_item()),
            timestamp: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            lsn: UInt64Builder::new(),
            segment: UInt64Builder::new(),
            redacted: BooleanBuilder::new(),
            date: StringBuilder::new(),
            summary: SummaryColumns::default(),
            last_day: None,
            rows: 0,
        }
    }
}

impl BatchBuilder {
    /// A builder with room for `rows` events of `json_bytes` stored JSON in all (the payloads
    /// take most of it), so the columns are not regrown while a segment is decoded.
    pub fn with_capacity(rows: usize, json_bytes: usize) -> BatchBuilder {
        let mut builder = BatchBuilder::default();
        builder.strings[PAYLOAD] = StringBuilder::with_capacity(rows, json_bytes);
        builder.strings[EVENT_ID] = StringBuilder::with_capacity(rows, rows * 36);
        builder.strings[TRACE_ID] = StringBuilder::with_capacity(rows, rows * 36);
        builder
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Adds one event, with the summary fields read from its payload
    /// ([`StoredEnvelope::parse_with`] with [`SummaryFields::read`]).
    pub fn push(
        &mut self,
        e: &StoredEnvelope<'_>,
        summary: &SummaryFields<'_>,
        lsn: u64,
        segment: u64,
        redacted: bool,
    ) {
        let s = &mut self.strings;
        s[EVENT_ID].append_value(&e.event_id);
        s[TYPE].append_value(&e.ty);
        s[ACTOR].append_value(&e.actor);
        s[TRACE_ID].append_value(&e.trace_id);
        s[JOB_ID].append_option(e.job_id.as_deref());
        s[MODEL_ID].append_option(e.model_id.as_deref());
        s[MODEL_SESSION_ID].append_option(e.model_session_id.as_deref());
        s[ACTIVITY_SPAN_ID].append_option(e.activity_span_id.as_deref());
        s[SESSION_SPAN_ID].append_option(e.session_span_id.as_deref());
        s[CAPABILITY_ID].append_option(e.capability_id.as_deref());
        s[POLICY_DECISION_ID].append_option(e.policy_decision_id.as_deref());
        s[PAYLOAD].append_value(e.payload.get());
        match &e.wsids {
            Some(ids) => {
                for id in ids {
                    self.wsids.values().append_value(id);
                }
                self.wsids.append(true);
            }
            None => self.wsids.append(false),
        }
        self.timestamp.append_value(e.timestamp.timestamp_micros());
        self.lsn.append_value(lsn);
        self.segment.append_value(segment);
        self.redacted.append_value(redacted);
        self.append_date(e);
        self.summary.push(summary);
        self.rows += 1;
    }

    fn append_date(&mut self, e: &StoredEnvelope<'_>) {
        let day = e.timestamp.timestamp_micros().div_euclid(MICROS_PER_DAY);
        match &self.last_day {
            Some((last, date)) if *last == day => self.date.append_value(date),
            _ => {
                let date = e.date();
                self.date.append_value(&date);
                self.last_day = Some((day, date));
            }
        }
    }

    /// The batch of every event added, in staging-table column order ([`segment_schema`]).
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let s = &mut self.strings;
        let mut string = |i: usize| -> ArrayRef { Arc::new(s[i].finish()) };
        let mut columns: Vec<ArrayRef> = vec![
            string(EVENT_ID),
            string(TYPE),
            Arc::new(self.timestamp.finish()),
            string(ACTOR),
            string(TRACE_ID),
            string(JOB_ID),
            string(MODEL_ID),
            string(MODEL_SESSION_ID),
            Arc::new(self.wsids.finish()),
            string(ACTIVITY_SPAN_ID),
            string(SESSION_SPAN_ID),
            string(CAPABILITY_ID),
            string(POLICY_DECISION_ID),
            string(PAYLOAD),
            Arc::new(self.lsn.finish()),
            Arc::new(self.segment.finish()),
            Arc::new(self.redacted.finish()),
            Arc::new(self.date.finish()),
        ];
        columns.extend(self.summary.finish());
        self.rows = 0;
        RecordBatch::try_new(Arc::new(segment_schema()), columns)
    }
}

/// The [`STAGING_COLUMNS`] of a segment batch: what the catalog records of its events.
pub fn staging_columns(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let columns = STAGING_COLUMNS.map(|name| schema.index_of(name)).into_iter().collect::<Result<Vec<_>, _>>()?;
    batch.project(&columns)
}

/// The columns of a segment batch, in staging-table column order.
pub fn segment_schema() -> Schema {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let required = |name: &str| Field::new(name, DataType::Utf8, false);
    let ts_type = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let list_type = DataType::List(Arc::new(list_item()));
    Schema::new(
        vec![
            required("event_id"),
            required("type"),
            Field::new("timestamp", ts_type, false),
            required("actor"),
            required("trace_id"),
            text("job_id"),
            text("model_id"),
            text("model_session_id"),
            Field::new("wsids", list_type, true),
            text("activity_span_id"),
            text("session_span_id"),
            text("capability_id"),
            text("policy_decision_id"),
            text("payload"),
            Field::new("lsn", DataType::UInt64, false),
            Field::new("segment", DataType::UInt64, false),
            Field::new("redacted", DataType::Boolean, false),
            text("date"),
        ]
        .into_iter()
        .chain(summary_fields::fields())
        .collect::<Vec<_>>(),
    )
}

/// The element field of `wsids`, named as the Parquet spec (and DuckDB) name list elements.
fn list_item() -> Field {
    Field::new("element", DataType::Utf8, true)
}
