//! Reading events from Parquet files with DuckDB: SQL over the files the caller chose (the
//! catalog or the date partitions prune them), with every filter pushed down, a few days of
//! files at a time until the page is full.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate};
use duckdb::Connection;
use duckdb::types::Value;

use super::model::{EventQuery, SURFACE_SQL, StoredEvent};
use crate::compact::error::{StoreError, db};
use crate::compact::files::path_list;

/// The columns read, in [`row_to_event`] order.
const SELECT: &str = "SELECT type, event_id, epoch_us(timestamp), actor, trace_id, job_id, model_id, \
    model_session_id, to_json(wsids)::VARCHAR, activity_span_id, session_span_id, capability_id, \
    policy_decision_id, payload::VARCHAR, lsn, redacted";

/// The parameters of a statement built here, numbered `$1`, `$2`, … in the order bound: the
/// statement's text holds column names and placeholders, never a value.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<Value>);

impl Params {
    /// Adds a parameter; returns its placeholder.
    pub fn bind(&mut self, value: impl Into<Value>) -> String {
        self.0.push(value.into());
        format!("${}", self.0.len())
    }

    pub fn values(&self) -> &[Value] {
        &self.0
    }
}

/// The columns the `text` filter searches.
const TEXT_COLUMNS: [&str; 9] = [
    "event_id",
    "trace_id",
    "job_id",
    "model_id",
    "model_session_id",
    "activity_span_id",
    "session_span_id",
    "capability_id",
    "policy_decision_id",
];

/// The filters Handshake's routes add (event id, model session, workspace, a set of types,
/// surface), the model and the tool.
fn handshake_conditions(q: &EventQuery, b: &mut Params, conds: &mut Vec<String>) {
    let exact = [("event_id", &q.event_id), ("model_session_id", &q.model_session_id), ("model_id", &q.model_id)];
    for (col, value) in exact {
        if let Some(v) = value {
            conds.push(format!("{col} = {}", b.bind(v.clone())));
        }
    }
    if let Some(w) = &q.wsid {
        conds.push(format!("list_contains(wsids, {})", b.bind(w.clone())));
    }
    if let Some(types) = &q.event_types {
        if types.is_empty() {
            conds.push("false".into());
        } else {
            let list: Vec<String> = types.iter().map(|t| b.bind(t.as_str().to_string())).collect();
            conds.push(format!("type IN ({})", list.join(", ")));
        }
    }
    if let Some(s) = &q.surface {
        conds.push(format!("({SURFACE_SQL}) = {}", b.bind(s.clone())));
    }
    if let Some(t) = &q.tool_id {
        conds.push(format!("type = 'tool_call' AND json_extract_string(payload, '$.tool_id') = {}", b.bind(t.clone())));
    }
}

/// The WHERE clause of `q` into `b`: column names are fixed here, every value is a parameter.
pub fn where_clause(q: &EventQuery, b: &mut Params) -> String {
    let mut conds = vec!["true".to_string()];
    handshake_conditions(q, b, &mut conds);
    let ts = |b: &mut Params, t: DateTime<chrono::Utc>| {
        format!("make_timestamp({})::TIMESTAMPTZ", b.bind(t.timestamp_micros()))
    };
    if let Some(v) = &q.job_id {
        conds.push(format!("job_id = {}", b.bind(v.clone())));
    }
    if let Some(v) = &q.trace_id {
        conds.push(format!("trace_id = {}", b.bind(v.clone())));
    }
    conds.extend(q.event_type.map(|t| format!("type = {}", b.bind(t.as_str().to_string()))));
    conds.extend(q.actor.map(|a| format!("actor = {}", b.bind(a.as_str().to_string()))));
    conds.extend(q.from.map(|f| format!("timestamp >= {}", ts(b, f))));
    conds.extend(q.to.map(|t| format!("timestamp < {}", ts(b, t))));
    if let Some(text) = &q.text {
        let text = b.bind(text.clone());
        let any: Vec<String> = TEXT_COLUMNS.iter().map(|c| format!("contains({c}, {text})")).collect();
        conds.push(format!("({})", any.join(" OR ")));
    }
    if let Some(c) = &q.cursor {
        let at = format!("make_timestamp({})::TIMESTAMPTZ", b.bind(c.micros));
        let id = b.bind(c.event_id.clone());
        let after = if q.descending { "<" } else { ">" };
        conds.push(format!("(timestamp {after} {at} OR (timestamp = {at} AND event_id {after} {id}))"));
    }
    conds.join(" AND ")
}

/// First and last timestamp (µs since the epoch, inclusive) of a time span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub first: i64,
    pub last: i64,
}

impl Span {
    /// The span from the earlier first to the later last.
    pub fn union(self, other: Span) -> Span {
        Span { first: self.first.min(other.first), last: self.last.max(other.last) }
    }

    /// The part both cover (first > last when they do not meet: nothing lies in it).
    pub fn intersect(self, other: Span) -> Span {
        Span { first: self.first.max(other.first), last: self.last.min(other.last) }
    }
}

/// The Parquet files a query reads, and the span its matches are known to lie in (None:
/// unknown). The span only narrows the scan: rows outside it cannot match.
#[derive(Debug, Clone, Default)]
pub struct ParquetScan {
    pub files: Vec<String>,
    pub span: Option<Span>,
}

impl ParquetScan {
    /// The scan of `files` for `q`, keeping only the files whose date partition
    /// (`date=YYYY-MM-DD`, the UTC date of every event in the file) meets the time range of
    /// `q` and the span. Files outside a date partition are kept.
    pub fn new(files: Vec<String>, span: Option<Span>, q: &EventQuery) -> ParquetScan {
        let (after, before) = q.cursor_bounds();
        let first = [q.from.map(|t| t.timestamp_micros()), after, span.map(|s| s.first)].into_iter().flatten().max();
        let last = [q.to.map(|t| t.timestamp_micros()), before, span.map(|s| s.last)].into_iter().flatten().min();
        let day = |micros: i64| DateTime::from_timestamp_micros(micros).map(|t| t.date_naive());
        let (first, last) = (first.and_then(day), last.and_then(day));
        let files = files
            .into_iter()
            .filter(|f| match partition_date(Path::new(f)) {
                Some(d) => first.is_none_or(|first| d >= first) && last.is_none_or(|last| d <= last),
                None => true,
            })
            .collect();
        ParquetScan { files, span }
    }
}

/// The UTC date of a file's `date=YYYY-MM-DD` partition directory.
fn partition_date(file: &Path) -> Option<NaiveDate> {
    let dir = file.parent()?.file_name()?.to_str()?;
    NaiveDate::parse_from_str(dir.strip_prefix("date=")?, "%Y-%m-%d").ok()
}

/// The first `limit` events of the scan's files matching `q`, in (timestamp, event_id) order
/// (descending when `q` asks). The files are read a few days at a time in page order (see
/// [`day_chunks`]) until the page is full, so a page whose matches lie in the first days
/// does not scan the whole range.
pub fn query_files(
    conn: &Connection,
    scan: &ParquetScan,
    q: &EventQuery,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut events = Vec::new();
    for files in day_chunks(&scan.files, q.descending) {
        if events.len() >= limit {
            break;
        }
        events.extend(query_chunk(conn, &files, scan.span, q, limit - events.len())?);
    }
    Ok(events)
}

/// The files in groups of whole days in page order (oldest first, or newest first when
/// `descending`): one day, then two, four, … so a full scan takes a handful of queries. Every
/// event of a day's partition comes after (before, descending) every event of the days before
/// it, so the groups can be read one after the other until a page is full. Files outside a
/// date partition put everything in one group.
fn day_chunks(files: &[String], descending: bool) -> Vec<Vec<String>> {
    let mut days: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
    for f in files {
        let Some(day) = partition_date(Path::new(f)) else { return vec![files.to_vec()] };
        days.entry(day).or_default().push(f.clone());
    }
    let mut ordered: Vec<Vec<String>> = days.into_values().collect();
    if descending {
        ordered.reverse();
    }
    let mut chunks = Vec::new();
    let mut days = ordered.into_iter();
    let mut size = 1;
    loop {
        let chunk: Vec<String> = days.by_ref().take(size).flatten().collect();
        if chunk.is_empty() {
            return chunks;
        }
        chunks.push(chunk);
        size *= 2;
    }
}

/// The first `limit` events of `files` matching `q` (and `span`), in page order. Unless an id
/// narrows the rows to a few (a trace, a job, an event), the matches are found reading only
/// the small columns, then their whole rows are read by LSN: a `text` filter tests every row,
/// and a page without an id (the newest events, an hour) orders every row of its range, and
/// reading `payload` (a JSON column, checked as it is read) of each of them is what made such
/// a page slow.
fn query_chunk(
    conn: &Connection,
    files: &[String],
    span: Option<Span>,
    q: &EventQuery,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut b = Params::default();
    let from = matching_rows(files, span, q, &mut b);
    let order = if q.descending { "timestamp DESC, event_id DESC" } else { "timestamp, event_id" };
    let limit = b.bind(limit as u64);
    let narrow = q.trace_id.is_some() || q.job_id.is_some() || q.event_id.is_some();
    if narrow && q.text.is_none() {
        return read_events(conn, &format!("{SELECT} {from} ORDER BY {order} LIMIT {limit}"), &b);
    }
    let lsns = matching_lsns(conn, &format!("SELECT lsn {from} ORDER BY {order} LIMIT {limit}"), &b)?;
    let (Some(first), Some(last)) = (lsns.iter().min().copied(), lsns.iter().max().copied()) else {
        return Ok(Vec::new());
    };
    let mut b = Params::default();
    let files = b.bind(path_list(files));
    let (first, last) = (b.bind(first), b.bind(last));
    let list = b.bind(Value::List(lsns.into_iter().map(Value::UBigInt).collect()));
    let sql = format!(
        "{SELECT} FROM read_parquet({files}, union_by_name = true) \
         WHERE lsn BETWEEN {first} AND {last} AND list_contains({list}, lsn) ORDER BY {order}"
    );
    read_events(conn, &sql, &b)
}

/// `FROM … WHERE …` of the rows of `files` matching `q` (and `span`), its values bound in `b`.
fn matching_rows(files: &[String], span: Option<Span>, q: &EventQuery, b: &mut Params) -> String {
    let files = b.bind(path_list(files));
    let filter = where_clause(q, b);
    let span = span.map_or(String::new(), |s| {
        let (first, last) = (b.bind(s.first), b.bind(s.last));
        format!(" AND timestamp BETWEEN make_timestamp({first})::TIMESTAMPTZ AND make_timestamp({last})::TIMESTAMPTZ")
    });
    format!("FROM read_parquet({files}, union_by_name = true) WHERE {filter}{span}")
}

fn matching_lsns(conn: &Connection, sql: &str, b: &Params) -> Result<Vec<u64>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(db("prepare event query"))?;
    let rows = stmt.query_map(duckdb::params_from_iter(b.values()), |r| r.get(0)).map_err(db("run event query"))?;
    rows.collect::<Result<Vec<u64>, _>>().map_err(db("read event query rows"))
}

fn read_events(conn: &Connection, sql: &str, b: &Params) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(db("prepare event query"))?;
    let rows = stmt.query_map(duckdb::params_from_iter(b.values()), row_to_event).map_err(db("run event query"))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db("read event query rows"))
}

fn row_to_event(r: &duckdb::Row<'_>) -> duckdb::Result<StoredEvent> {
    let micros: i64 = r.get(2)?;
    let wsids: Option<String> = r.get(8)?;
    let payload: String = r.get(13)?;
    let conv =
        |e: serde_json::Error| duckdb::Error::FromSqlConversionFailure(13, duckdb::types::Type::Text, Box::new(e));
    Ok(StoredEvent {
        ty: r.get(0)?,
        event_id: r.get(1)?,
        timestamp: DateTime::from_timestamp_micros(micros).unwrap_or_default(),
        actor: r.get(3)?,
        trace_id: r.get(4)?,
        job_id: r.get(5)?,
        model_id: r.get(6)?,
        model_session_id: r.get(7)?,
        wsids: wsids.map(|w| serde_json::from_str(&w)).transpose().map_err(conv)?,
        activity_span_id: r.get(9)?,
        session_span_id: r.get(10)?,
        capability_id: r.get(11)?,
        policy_decision_id: r.get(12)?,
        payload: serde_json::value::RawValue::from_string(payload).map_err(conv)?,
        lsn: r.get(14)?,
        redacted: r.get(15)?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(day: u32, name: &str) -> String {
        format!("/d/events/date=2026-11-{day:02}/{name}.parquet")
    }

    #[test]
    fn files_are_read_one_day_then_two_then_four_in_page_order() {
        let files: Vec<String> =
            [(3, "c"), (1, "a"), (2, "b1"), (2, "b2"), (4, "d"), (5, "e"), (6, "f"), (7, "g"), (8, "h")]
                .iter()
                .map(|(d, n)| file(*d, n))
                .collect();
        let ascending = day_chunks(&files, false);
        let want = vec![
            vec![file(1, "a")],
            vec![file(2, "b1"), file(2, "b2"), file(3, "c")],
            vec![file(4, "d"), file(5, "e"), file(6, "f"), file(7, "g")],
            vec![file(8, "h")],
        ];
        assert_eq!(ascending, want);
        let descending = day_chunks(&files, true);
        assert_eq!(descending[0], vec![file(8, "h")], "newest day first");
        assert_eq!(descending[1], vec![file(7, "g"), file(6, "f")]);
        assert_eq!(descending.concat().len(), files.len(), "every file once");
    }

    #[test]
    fn a_file_outside_a_date_partition_puts_every_file_in_one_group() {
        let files = vec![file(1, "a"), "/elsewhere/x.parquet".to_string(), file(2, "b")];
        assert_eq!(day_chunks(&files, false), vec![files.clone()]);
        assert!(day_chunks(&[], false).is_empty(), "no files, no query");
    }
}
