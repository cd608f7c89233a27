//! Writing a segment's events as Parquet with arrow-rs, straight from the segment's Arrow
//! batch: sorted by (timestamp, LSN), split by UTC date (rows of one date are contiguous once
//! sorted), and written 8,192 rows at a time, one row group each, so only one row group of
//! copies is in memory beside the batch. The columns are the ones DuckDB wrote before this
//! writer (docs/format.md): strings, `timestamp` as UTC microseconds, `wsids` as a list,
//! `payload` with the JSON logical type, `lsn` and `segment` as unsigned 64-bit integers.
//!
//! The caller owns the file: it creates it (as a hidden `*.tmp`), hands it here, then fsyncs
//! and renames it.

use std::io::{BufWriter, Write};
use std::ops::Range;
use std::sync::Arc;

use duckdb::arrow::array::{AsArray, RecordBatch, UInt32Array};
use duckdb::arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};
use duckdb::arrow::datatypes::{Field, Schema, SchemaRef};
use duckdb::arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

/// Rows per Parquet row group: files are sorted by time, so a trace, job or one-hour lookup
/// decompresses only the row groups of its time span. 2,048 made lookups no faster but full
/// scans 2.4x slower (8x the row-group metadata); 16,384 made lookups 40 % slower.
pub const ROW_GROUP_SIZE: usize = 8_192;

/// zstd level: 3 is what DuckDB used (files ~17.6 % of the NDJSON).
const ZSTD_LEVEL: i32 = 3;

/// Columns of the segment batch ([`super::batch`]) the files leave out: `date` is the
/// partition directory (hive layout), not a column.
const DATE_COLUMN: &str = "date";

/// The segment batch's rows in file order, split into runs of one UTC date each.
pub struct SortedSegment {
    /// The batch without `date`, `payload` marked as JSON.
    batch: RecordBatch,
    order: UInt32Array,
    dates: Vec<DateRows>,
}

/// The rows of one UTC date: one Parquet file.
pub struct DateRows {
    pub date: String,
    /// Positions in the sorted order.
    rows: Range<usize>,
}

impl SortedSegment {
    /// Sorts the segment batch (columns of [`super::batch::BatchBuilder::finish`]).
    pub fn new(segment_batch: &RecordBatch) -> Result<SortedSegment, ArrowError> {
        let column = |name: &str| {
            segment_batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| ArrowError::SchemaError(format!("the segment batch has no `{name}` column")))
        };
        let sort = |name: &str| Ok::<_, ArrowError>(SortColumn { values: column(name)?, options: None });
        let order = lexsort_to_indices(&[sort("timestamp")?, sort("lsn")?], None)?;
        let date_column = column(DATE_COLUMN)?;
        let dates = date_runs(date_column.as_string::<i32>(), &order);
        Ok(SortedSegment { batch: file_batch(segment_batch)?, order, dates })
    }

    /// The UTC dates of the events, in order, with their rows.
    pub fn dates(&self) -> &[DateRows] {
        &self.dates
    }

    /// Writes the rows of one date into `file` (one row group per [`ROW_GROUP_SIZE`] rows).
    pub fn write<W: Write + Send>(&self, date: &DateRows, file: W) -> Result<W, parquet::errors::ParquetError> {
        let range = &date.rows;
        let options = ArrowWriterOptions::new().with_properties(properties()).with_skip_arrow_metadata(true);
        let mut writer =
            ArrowWriter::try_new_with_options(BufWriter::with_capacity(1 << 20, file), self.batch.schema(), options)?;
        for start in range.clone().step_by(ROW_GROUP_SIZE) {
            let end = (start + ROW_GROUP_SIZE).min(range.end);
            let rows = self.order.slice(start, end - start);
            writer.write(&take_record_batch(&self.batch, &rows)?)?;
            writer.flush()?;
        }
        let out = writer.into_inner()?;
        out.into_inner().map_err(|e| parquet::errors::ParquetError::External(Box::new(e.into_error())))
    }
}

/// zstd, row groups of [`ROW_GROUP_SIZE`], no dictionary for the columns that are unique per
/// event (it would only be built and thrown away), and bloom filters on `trace_id` and
/// `job_id`, so a reader that filters on one without the catalog (an analyst's
/// `WHERE trace_id = ...` over the glob) skips the row groups that cannot hold it, as it did
/// with the files DuckDB wrote.
fn properties() -> WriterProperties {
    let level = ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default();
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(ROW_GROUP_SIZE));
    for unique in ["event_id", "payload", "lsn"] {
        props = props.set_column_dictionary_enabled(ColumnPath::from(unique), false);
    }
    for filtered in ["trace_id", "job_id"] {
        props = props
            .set_column_bloom_filter_enabled(ColumnPath::from(filtered), true)
            .set_column_bloom_filter_max_ndv(ColumnPath::from(filtered), ROW_GROUP_SIZE as u64);
    }
    props.build()
}

/// The segment batch without `date`, with `payload` marked as JSON (its Parquet logical type).
fn file_batch(segment_batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = segment_batch.schema();
    let keep: Vec<usize> = (0..schema.fields().len()).filter(|i| schema.field(*i).name() != DATE_COLUMN).collect();
    let projected = segment_batch.project(&keep)?;
    let fields: Vec<Field> = projected
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let mut field = f.as_ref().clone();
            if field.name() == "payload" {
                field.try_with_extension_type(arrow_schema::extension::Json::default())?;
            }
            Ok(field)
        })
        .collect::<Result<_, ArrowError>>()?;
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    RecordBatch::try_new(schema, projected.columns().to_vec())
}

/// Splits `order` into runs of equal date (contiguous because the order is by time).
fn date_runs(dates: &duckdb::arrow::array::StringArray, order: &UInt32Array) -> Vec<DateRows> {
    let mut runs: Vec<DateRows> = Vec::new();
    for (pos, row) in order.values().iter().enumerate() {
        let date = dates.value(*row as usize);
        match runs.last_mut() {
            Some(run) if run.date == date => run.rows.end = pos + 1,
            _ => runs.push(DateRows { date: date.to_string(), rows: pos..pos + 1 }),
        }
    }
    runs
}
