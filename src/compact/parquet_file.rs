//! Writing a segment's events as Parquet with arrow-rs, straight from the segment's Arrow
//! batches: sorted by (timestamp, LSN), split by UTC date (rows of one date are contiguous
//! once sorted), cut into row groups of 8,192 rows (ordered by type inside), each row group
//! copied out of the batches and encoded on one of the cores, and appended in order, so only
//! a few row groups of copies are in memory beside the batches. The columns are the ones DuckDB wrote before this
//! writer (docs/format.md): strings, `timestamp` as UTC microseconds, `wsids` as a list,
//! `payload` with the JSON logical type, `lsn` and `segment` as unsigned 64-bit integers;
//! then the summary columns ([`super::summary_fields`]).
//!
//! The caller owns the file: it creates it (as a hidden `*.tmp`), hands it here, then fsyncs
//! and renames it.

use std::io::{BufWriter, Write};
use std::ops::Range;
use std::sync::Arc;

use super::summary_fields;
use crate::parallel;

use duckdb::arrow::array::{ArrayRef, AsArray, RecordBatch};
use duckdb::arrow::compute::interleave_record_batch;
use duckdb::arrow::datatypes::{Field, Schema, SchemaRef, TimestampMicrosecondType, UInt64Type};
use duckdb::arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriterOptions, compute_leaves,
};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

/// Rows per Parquet row group: files are sorted by time, so a trace, job or one-hour lookup
/// decompresses only the row groups of its time span. 2,048 made lookups no faster but full
/// scans 2.4x slower (8x the row-group metadata); 16,384 made lookups 40 % slower.
pub const ROW_GROUP_SIZE: usize = 8_192;

/// Row groups encoded ahead of the one being appended (each holds its compressed pages).
const ENCODED_AHEAD: usize = 4;

/// zstd level: 1 both compresses these columns better than 3 (what DuckDB used) and costs
/// less CPU; 9 and above only gain a few per cent at several times the cost.
const ZSTD_LEVEL: i32 = 1;

/// Columns of the segment batch ([`super::batch`]) the files leave out: `date` is the
/// partition directory (hive layout), not a column.
const DATE_COLUMN: &str = "date";

/// The segment's rows in file order, split into runs of one UTC date each.
pub struct SortedSegment {
    /// The segment's batches (LSN order) without `date`, `payload` marked as JSON.
    batches: Vec<RecordBatch>,
    /// (batch, row) of every event in file order.
    order: Vec<(usize, usize)>,
    dates: Vec<DateRows>,
}

/// The rows of one UTC date: one Parquet file.
pub struct DateRows {
    pub date: String,
    /// Positions in the sorted order.
    rows: Range<usize>,
}

impl SortedSegment {
    /// Sorts the segment's batches (columns of [`super::batch::BatchBuilder::finish`]): by
    /// (timestamp, LSN) into row groups, so each row group is a time slice, then inside each
    /// row group by (type, timestamp, LSN): payloads of one type sit together, which zstd
    /// compresses better than the types interleaved.
    pub fn new(segment_batches: &[RecordBatch]) -> Result<SortedSegment, ArrowError> {
        let mut keys: Vec<(i64, u64, usize, usize)> = Vec::new();
        for (b, batch) in segment_batches.iter().enumerate() {
            let timestamps = column(batch, "timestamp")?;
            let lsns = column(batch, "lsn")?;
            let timestamps = timestamps.as_primitive::<TimestampMicrosecondType>().values();
            let lsns = lsns.as_primitive::<UInt64Type>().values();
            keys.extend(timestamps.iter().zip(lsns.iter()).enumerate().map(|(row, (t, l))| (*t, *l, b, row)));
        }
        keys.sort_unstable();
        let mut dates: Vec<DateRows> = Vec::new();
        let date_columns =
            segment_batches.iter().map(|batch| column(batch, DATE_COLUMN)).collect::<Result<Vec<_>, _>>()?;
        for (pos, (_, _, b, row)) in keys.iter().enumerate() {
            let date = date_columns[*b].as_string::<i32>().value(*row);
            match dates.last_mut() {
                Some(run) if run.date == date => run.rows.end = pos + 1,
                _ => dates.push(DateRows { date: date.to_string(), rows: pos..pos + 1 }),
            }
        }
        let types = segment_batches.iter().map(|batch| column(batch, "type")).collect::<Result<Vec<_>, _>>()?;
        let type_of = |b: usize, row: usize| types.get(b).map_or("", |t| t.as_string::<i32>().value(row));
        for run in &dates {
            for group in keys.get_mut(run.rows.clone()).unwrap_or_default().chunks_mut(ROW_GROUP_SIZE) {
                group.sort_by(|x, y| type_of(x.2, x.3).cmp(type_of(y.2, y.3)).then_with(|| x.cmp(y)));
            }
        }
        let order = keys.into_iter().map(|(_, _, b, row)| (b, row)).collect();
        let batches = segment_batches.iter().map(file_batch).collect::<Result<_, _>>()?;
        Ok(SortedSegment { batches, order, dates })
    }

    /// The UTC dates of the events, in order, with their rows.
    pub fn dates(&self) -> &[DateRows] {
        &self.dates
    }

    /// Writes the rows of one date into `file`, one row group per [`ROW_GROUP_SIZE`] rows,
    /// the row groups encoded on every core and appended in order.
    pub fn write<W: Write + Send>(&self, date: &DateRows, file: W) -> Result<W, ParquetError> {
        let Some(first) = self.batches.first() else {
            return Err(ParquetError::General("a segment with no batch has no rows to write".into()));
        };
        let options = ArrowWriterOptions::new().with_properties(properties()).with_skip_arrow_metadata(true);
        let writer =
            ArrowWriter::try_new_with_options(BufWriter::with_capacity(1 << 20, file), first.schema(), options)?;
        let (mut writer, factory) = writer.into_serialized_writer()?;
        let groups: Vec<&[(usize, usize)]> =
            self.order.get(date.rows.clone()).unwrap_or_default().chunks(ROW_GROUP_SIZE).collect();
        let encode = |index: usize| self.encode_row_group(&factory, index, groups[index]);
        parallel::in_order(groups.len(), ENCODED_AHEAD, encode, |chunks| {
            let mut row_group = writer.next_row_group()?;
            for chunk in chunks {
                chunk.append_to_row_group(&mut row_group)?;
            }
            row_group.close().map(drop)
        })?;
        let out = writer.into_inner()?;
        out.into_inner().map_err(|e| ParquetError::External(Box::new(e.into_error())))
    }

    /// Encodes (and compresses) the rows at `rows` as row group `index`.
    fn encode_row_group(
        &self,
        factory: &ArrowRowGroupWriterFactory,
        index: usize,
        rows: &[(usize, usize)],
    ) -> Result<Vec<ArrowColumnChunk>, ParquetError> {
        let batches: Vec<&RecordBatch> = self.batches.iter().collect();
        let group = interleave_record_batch(&batches, rows)?;
        let mut writers = factory.create_column_writers(index)?;
        let mut next = writers.iter_mut();
        for (field, column) in group.schema().fields().iter().zip(group.columns()) {
            for leaf in compute_leaves(field, column)? {
                let writer =
                    next.next().ok_or_else(|| ParquetError::General("fewer column writers than leaves".into()))?;
                writer.write(&leaf)?;
            }
        }
        writers.into_iter().map(ArrowColumnWriter::close).collect()
    }
}

fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, ArrowError> {
    batch
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| ArrowError::SchemaError(format!("the segment batch has no `{name}` column")))
}

/// zstd, row groups of [`ROW_GROUP_SIZE`], and per column:
/// - no dictionary for the columns that are unique per event (it would only be built and
///   thrown away); the low-cardinality strings (`type`, `actor`, `model_id`, ids shared by
///   many events) keep the default dictionary;
/// - `timestamp` and `lsn` as DELTA_BINARY_PACKED: rising numbers, their deltas take a few
///   bits where plain 8-byte values compressed take several bytes;
/// - `event_id` as DELTA_LENGTH_BYTE_ARRAY: the lengths apart from the UUID text, which
///   zstd then compresses better than with a length before each value;
/// - the integer summary columns (token counts, latency, duration) as DELTA_BINARY_PACKED
///   without a dictionary: their values rarely repeat within a row group (a dictionary page
///   as large as the values, then indexes), and bit-packed deltas of small numbers take about
///   two thirds of what dictionary-encoded, zstd-compressed values do;
/// - bloom filters on `trace_id` and `job_id`, so a reader that filters on one without the
///   catalog (an analyst's `WHERE trace_id = ...` over the glob) skips the row groups that
///   cannot hold it, as it did with the files DuckDB wrote.
///
/// Every encoding here is in the Parquet specification and read by DuckDB, pyarrow and polars
/// (tests/analysts.rs, tests/compat.rs).
fn properties() -> WriterProperties {
    let level = ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default();
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(ROW_GROUP_SIZE));
    for unique in ["event_id", "payload", "lsn", "timestamp"] {
        props = props.set_column_dictionary_enabled(ColumnPath::from(unique), false);
    }
    for rising in ["timestamp", "lsn"] {
        props = props.set_column_encoding(ColumnPath::from(rising), Encoding::DELTA_BINARY_PACKED);
    }
    props = props.set_column_encoding(ColumnPath::from("event_id"), Encoding::DELTA_LENGTH_BYTE_ARRAY);
    for count in summary_fields::INTEGER_COLUMNS {
        props = props
            .set_column_dictionary_enabled(ColumnPath::from(count), false)
            .set_column_encoding(ColumnPath::from(count), Encoding::DELTA_BINARY_PACKED);
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
