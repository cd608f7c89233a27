//! Writing a segment's events as Parquet with arrow-rs: the rows in the order of
//! [`SortedSegment`] (by time into row groups of [`ROW_GROUP_SIZE`], by type inside), one file
//! per UTC date; each row group decoded from the WAL records and encoded on one of the cores,
//! and appended in order, so only a few row groups are in memory at a time, never the whole
//! segment decoded. The columns are the ones DuckDB wrote before this writer
//! (docs/format.md): strings, `timestamp` as UTC microseconds, `wsids` as a list, `payload`
//! with the JSON logical type, `lsn` and `segment` as unsigned 64-bit integers; then the
//! summary columns ([`super::summary_fields`]).
//!
//! The caller owns the file: it creates it (as a hidden `*.tmp`), hands it here, then fsyncs
//! and renames it.

use std::io::{BufWriter, Write};
use std::ops::Range;
use std::sync::Arc;

use super::summary_fields;
use crate::parallel;

use duckdb::arrow::array::RecordBatch;
use duckdb::arrow::datatypes::{Field, Schema, SchemaRef};
use duckdb::arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriterOptions, compute_leaves,
};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::batch::{segment_schema, staging_columns};
pub use super::decode::ROW_GROUP_SIZE;
use super::decode::{DateRows, SortedSegment};

/// Row groups decoded and encoded ahead of the one being appended: they are what the writer
/// holds of a segment beside its keys and its mapping.
pub const ENCODED_AHEAD: usize = 4;

/// zstd level: 1 both compresses these columns better than 3 (what DuckDB used) and costs
/// less CPU; 9 and above only gain a few per cent at several times the cost.
const ZSTD_LEVEL: i32 = 1;

/// Columns of the segment batch ([`super::batch`]) the files leave out: `date` is the
/// partition directory (hive layout), not a column.
const DATE_COLUMN: &str = "date";

/// What writing a segment's files gathered for the catalog.
#[derive(Default)]
pub struct Gathered {
    /// The [`super::catalog::STAGING_COLUMNS`] of the rows written, a batch per row group.
    pub index: Vec<RecordBatch>,
    pub events: u64,
    /// Records whose envelope did not decode when their row group was.
    pub undecodable: u64,
}

/// One row group, decoded and encoded.
struct EncodedGroup {
    chunks: Vec<ArrowColumnChunk>,
    index: RecordBatch,
    rows: usize,
    undecodable: u64,
}

/// Writes the rows of one date of `segment` into `file`, one row group per
/// [`ROW_GROUP_SIZE`] rows, the row groups decoded and encoded on every core and appended in
/// order; adds what the catalog needs of them to `gathered`.
pub fn write_date<W: Write + Send>(
    segment: &SortedSegment<'_>,
    date: &DateRows,
    file: W,
    gathered: &mut Gathered,
) -> Result<W, ParquetError> {
    let schema = file_schema()?;
    let options = ArrowWriterOptions::new().with_properties(properties()).with_skip_arrow_metadata(true);
    let writer = ArrowWriter::try_new_with_options(BufWriter::with_capacity(1 << 20, file), schema.clone(), options)?;
    let (mut writer, factory) = writer.into_serialized_writer()?;
    let groups = segment.row_groups(date);
    let encode = |index: usize| encode_row_group(segment, &schema, &factory, index, groups[index].clone());
    parallel::in_order(groups.len(), ENCODED_AHEAD, encode, |group| {
        gathered.events += group.rows as u64;
        gathered.undecodable += group.undecodable;
        gathered.index.push(group.index);
        if group.rows == 0 {
            return Ok(());
        }
        let mut row_group = writer.next_row_group()?;
        for chunk in group.chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close().map(drop)
    })?;
    let out = writer.into_inner()?;
    out.into_inner().map_err(|e| ParquetError::External(Box::new(e.into_error())))
}

/// Decodes the rows at `rows` and encodes (and compresses) them as row group `index`.
fn encode_row_group(
    segment: &SortedSegment<'_>,
    schema: &SchemaRef,
    factory: &ArrowRowGroupWriterFactory,
    index: usize,
    rows: Range<usize>,
) -> Result<EncodedGroup, ParquetError> {
    let (batch, undecodable) = segment.decode(rows)?;
    let staged = staging_columns(&batch)?;
    let group = file_batch(schema, &batch)?;
    drop(batch);
    let mut writers = factory.create_column_writers(index)?;
    let mut next = writers.iter_mut();
    for (field, column) in schema.fields().iter().zip(group.columns()) {
        for leaf in compute_leaves(field, column)? {
            let writer = next.next().ok_or_else(|| ParquetError::General("fewer column writers than leaves".into()))?;
            writer.write(&leaf)?;
        }
    }
    let chunks = writers.into_iter().map(ArrowColumnWriter::close).collect::<Result<_, _>>()?;
    Ok(EncodedGroup { chunks, index: staged, rows: group.num_rows(), undecodable })
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
/// - no min/max statistics for `event_id` and `payload`: random ids and JSON text give
///   ranges no query can skip a row group by, and comparing every value for them cost the
///   encoder more than the zstd of some columns;
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
    for unordered in ["event_id", "payload"] {
        props = props.set_column_statistics_enabled(ColumnPath::from(unordered), EnabledStatistics::None);
    }
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

/// The columns of the files: the segment batch's without `date`, `payload` marked as JSON
/// (its Parquet logical type).
fn file_schema() -> Result<SchemaRef, ArrowError> {
    let fields: Vec<Field> = segment_schema()
        .fields()
        .iter()
        .filter(|f| f.name() != DATE_COLUMN)
        .map(|f| {
            let mut field = f.as_ref().clone();
            if field.name() == "payload" {
                field.try_with_extension_type(arrow_schema::extension::Json::default())?;
            }
            Ok(field)
        })
        .collect::<Result<_, ArrowError>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// A segment batch as a batch of the file's `schema` (without `date`).
fn file_batch(schema: &SchemaRef, segment_batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let segment_schema = segment_batch.schema();
    let keep: Vec<usize> =
        (0..segment_schema.fields().len()).filter(|i| segment_schema.field(*i).name() != DATE_COLUMN).collect();
    RecordBatch::try_new(schema.clone(), segment_batch.project(&keep)?.columns().to_vec())
}
