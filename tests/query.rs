#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Queries through the recorder: every filter alone and combined over data that is partly
//! compacted and partly in the WAL tail (property test against a reference filter),
//! pagination, read-your-writes, duplicates, trace and job views with retention gaps.

use std::collections::HashSet;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use flightrec::event::{Actor, EventType, parse_event};
use flightrec::query::{Cursor, EventQuery, StoredEvent};
use flightrec::recorder::{FlightRecorder, Recorder, RecorderConfig};
use flightrec::workload::Generator;
use proptest::prelude::*;

/// The reference: what was ingested, in query order.
#[derive(Debug, Clone)]
struct Ingested {
    event_id: String,
    trace_id: String,
    job_id: Option<String>,
    ty: EventType,
    actor: Actor,
    ts: DateTime<Utc>,
}

impl Ingested {
    fn matches(&self, q: &EventQuery) -> bool {
        q.job_id.as_ref().is_none_or(|j| self.job_id.as_ref() == Some(j))
            && q.trace_id.as_ref().is_none_or(|t| &self.trace_id == t)
            && q.from.is_none_or(|f| self.ts >= flightrec::event::time::truncate_micros(f))
            && q.to.is_none_or(|t| self.ts < flightrec::event::time::truncate_micros(t))
            && q.event_type.is_none_or(|t| t == self.ty)
            && q.actor.is_none_or(|a| a == self.actor)
            && q.text.as_ref().is_none_or(|x| {
                self.event_id.contains(x)
                    || self.trace_id.contains(x)
                    || self.job_id.as_ref().is_some_and(|j| j.contains(x))
            })
    }
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    recorder: Recorder,
    ingested: Vec<Ingested>,
    start: DateTime<Utc>,
    /// Every fixture event is before this; events other tests add come after it.
    end: DateTime<Utc>,
}

fn ingest(rt: &tokio::runtime::Runtime, recorder: &Recorder, lines: &[String], out: &mut Vec<Ingested>) {
    for line in lines {
        let e = parse_event(line.as_bytes()).unwrap().event;
        rt.block_on(recorder.record_json(line.as_bytes(), None)).unwrap();
        out.push(Ingested {
            event_id: e.event_id.to_string(),
            trace_id: e.trace_id.to_string(),
            job_id: e.job_id.clone(),
            ty: e.event_type(),
            actor: e.actor,
            ts: e.timestamp,
        });
    }
}

/// 1,200 events over five days (so pages cross date partitions, which Parquet scans read a few
/// days at a time): the first 800 compacted to Parquet from four segments, the rest in the WAL
/// tail.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // A static is never dropped, so a TempDir here would leak: use a fixed directory under
        // the target's tmp dir, emptied first.
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("query-fixture");
        let _ = std::fs::remove_dir_all(&dir);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let recorder = rt.block_on(Recorder::open(RecorderConfig::new(&dir))).unwrap();
        let start = flightrec::event::time::truncate_micros(Utc::now() - Duration::hours(5 * 24 + 3));
        let mut generator = Generator::new(42, start, 360_000_000);
        let lines: Vec<String> = (0..1_200).map(|_| generator.next_json()).collect();
        let mut ingested = Vec::new();
        // Four segments, so that a page of a time-only query is read from the few segments
        // the catalog's event counts say hold it.
        for chunk in lines[..800].chunks(200) {
            ingest(&rt, &recorder, chunk, &mut ingested);
            rt.block_on(recorder.seal()).unwrap();
        }
        rt.block_on(recorder.compact_now()).unwrap(); // the background task may have been first
        assert_eq!(recorder.tail_len(), 0, "the first 800 are compacted");
        ingest(&rt, &recorder, &lines[800..], &mut ingested);
        assert_eq!(recorder.tail_len(), 400, "the rest is only in the WAL tail");
        ingested.sort_by(|a, b| (a.ts, &a.event_id).cmp(&(b.ts, &b.event_id)));
        let end = ingested.last().unwrap().ts + Duration::seconds(1);
        assert!(end < Utc::now() - Duration::minutes(30));
        Fixture { rt, recorder, ingested, start, end }
    })
}

fn walk(f: &Fixture, mut q: EventQuery) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    loop {
        let page = f.rt.block_on(f.recorder.query(q.clone())).unwrap();
        assert!(page.events.len() <= q.page_size());
        out.extend(page.events);
        match page.next_cursor {
            Some(c) => q.cursor = Some(Cursor::decode(&c).unwrap()),
            None => return out,
        }
    }
}

fn filter_strategy() -> impl Strategy<Value = EventQuery> {
    let f = fixture();
    let n = f.ingested.len();
    (
        proptest::option::of(0..n),
        proptest::option::of(0..n),
        proptest::option::of((0i64..120, 1i64..72)),
        proptest::option::of(0..EventType::ALL.len()),
        proptest::option::of(0..3usize),
        proptest::option::of(0..n),
        1usize..300,
        proptest::bool::ANY,
    )
        .prop_map(move |(job, trace, range, ty, actor, text, limit, descending)| {
            let f = fixture();
            EventQuery {
                job_id: job.and_then(|i| f.ingested[i].job_id.clone()),
                trace_id: trace.map(|i| f.ingested[i].trace_id.clone()),
                // Bounds with nanoseconds: the recorder truncates them to microseconds.
                from: range.map(|(a, _)| f.start + Duration::hours(a) + Duration::nanoseconds(999)),
                to: Some(range.map_or(f.end, |(a, b)| (f.start + Duration::hours(a + b)).min(f.end))),
                event_type: ty.map(|i| EventType::ALL[i]),
                actor: actor.map(|i| [Actor::Human, Actor::Agent, Actor::System][i]),
                text: text.map(|i| f.ingested[i].event_id[..8].to_string()),
                limit: Some(limit),
                cursor: None,
                descending,
                ..EventQuery::default()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn every_filter_alone_and_combined_matches_the_reference(q in filter_strategy()) {
        let f = fixture();
        let got: Vec<String> = walk(f, q.clone()).into_iter().map(|e| e.event_id).collect();
        let mut want: Vec<String> = f.ingested.iter().filter(|e| e.matches(&q)).map(|e| e.event_id.clone()).collect();
        if q.descending {
            want.reverse(); // newest first, the cursor counting down
        }
        prop_assert!(got == want, "query {:?}: got {} events, want {}", q, got.len(), want.len());
    }
}

#[test]
fn each_filter_alone_finds_both_parquet_and_tail_events() {
    let f = fixture();
    let first = &f.ingested[0];
    let last = f.ingested.last().unwrap();
    for (q, what) in [
        (EventQuery { trace_id: Some(first.trace_id.clone()), ..Default::default() }, "trace"),
        (EventQuery { job_id: first.job_id.clone(), ..Default::default() }, "job"),
        (EventQuery { event_type: Some(EventType::ToolCall), to: Some(f.end), ..Default::default() }, "type"),
        (EventQuery { actor: Some(Actor::System), to: Some(f.end), ..Default::default() }, "actor"),
        (EventQuery { from: Some(first.ts), to: Some(last.ts + Duration::seconds(1)), ..Default::default() }, "range"),
    ] {
        let got = walk(f, q.clone());
        let want = f.ingested.iter().filter(|e| e.matches(&q)).count();
        assert_eq!(got.len(), want, "{what}");
        assert!(!got.is_empty(), "{what}");
    }
    let all = walk(f, EventQuery { to: Some(f.end), ..Default::default() });
    assert_eq!(all.len(), 1_200);
    assert!(all.windows(2).all(|w| w[0].key() < w[1].key()), "strict (timestamp, event_id) order");
}

#[test]
fn pages_yield_every_event_exactly_once_while_new_events_arrive() {
    let f = fixture();
    let mut q = EventQuery { limit: Some(37), to: Some(Utc::now() - Duration::minutes(1)), ..Default::default() };
    let mut seen = HashSet::new();
    let mut generator = Generator::new(7, Utc::now() - Duration::seconds(30), 1_000);
    let mut pages = 0;
    loop {
        let page = f.rt.block_on(f.recorder.query(q.clone())).unwrap();
        for e in &page.events {
            assert!(seen.insert(e.event_id.clone()), "{} seen twice", e.event_id);
        }
        // New events arrive between pages (after `to`, so the walk's answer is fixed).
        f.rt.block_on(f.recorder.record_json(generator.next_json().as_bytes(), None)).unwrap();
        pages += 1;
        match page.next_cursor {
            Some(c) => q.cursor = Some(Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1_200);
    assert_eq!(pages, 1_200usize.div_ceil(37));
}

#[test]
fn an_event_is_visible_as_soon_as_record_event_returns() {
    let f = fixture();
    for _ in 0..20 {
        let mut e = flightrec::event::Event::new(
            flightrec::event::EventBody::Diagnostic(
                serde_json::from_str(r#"{"diagnostic_id":"ryw","severity":"info"}"#).unwrap(),
            ),
            Actor::System,
        );
        e.job_id = Some("job-ryw".into());
        let id = e.event_id.to_string();
        f.rt.block_on(f.recorder.record_event(e)).unwrap();
        let page =
            f.rt.block_on(f.recorder.query(EventQuery { text: Some(id.clone()), ..Default::default() })).unwrap();
        assert_eq!(page.events.len(), 1, "read-your-writes");
        assert_eq!(page.events[0].event_id, id);
    }
}

#[test]
fn a_duplicate_event_id_is_reported_and_stored_once() {
    let f = fixture();
    let line = Generator::new(99, Utc::now() - Duration::seconds(5), 1).next_json();
    let first = f.rt.block_on(f.recorder.record_json(line.as_bytes(), None)).unwrap();
    let again = f.rt.block_on(f.recorder.record_json(line.as_bytes(), None)).unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    let id = first.event_id.to_string();
    let page = f.rt.block_on(f.recorder.query(EventQuery { text: Some(id), ..Default::default() })).unwrap();
    assert_eq!(page.events.len(), 1);
}

/// Filter values are bound, never spliced into SQL: a quote, a backslash, a NUL, or LIKE's
/// `%` and `_` in a job id or search text match only themselves, in Parquet (through the
/// catalog's index) and in the WAL tail alike.
#[test]
fn hostile_filter_values_match_only_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let recorder = rt.block_on(Recorder::open(RecorderConfig::new(dir.path()))).unwrap();
    let hostile = ["x' OR '1'='1", "back\\slash", "nul\0byte", "50%_off"];
    let record = |job: &str| {
        let mut e = flightrec::event::Event::new(
            flightrec::event::EventBody::Diagnostic(
                serde_json::from_str(r#"{"diagnostic_id":"hostile","severity":"info"}"#).unwrap(),
            ),
            Actor::System,
        );
        e.job_id = Some(job.to_string());
        rt.block_on(recorder.record_event(e)).unwrap();
    };
    for job in hostile.iter().chain(&["plain", "x"]) {
        record(job);
        record(job);
    }
    rt.block_on(recorder.seal()).unwrap();
    rt.block_on(recorder.compact_now()).unwrap();
    assert_eq!(recorder.tail_len(), 0, "the first events are in Parquet");
    for job in hostile.iter().chain(&["plain", "x"]) {
        record(job); // and one more of each in the WAL tail
    }
    let query = |q: EventQuery| rt.block_on(recorder.query(q)).unwrap().events;
    for job in hostile {
        let got = query(EventQuery { job_id: Some(job.to_string()), ..Default::default() });
        assert_eq!(got.len(), 3, "job_id {job:?}");
        assert!(got.iter().all(|e| e.job_id.as_deref() == Some(job)), "job_id {job:?}");
        let view = rt.block_on(recorder.job(job)).unwrap();
        assert_eq!(view.events.len(), 3, "job view {job:?}");
        let text = query(EventQuery { text: Some(job.to_string()), ..Default::default() });
        assert_eq!(text.len(), 3, "text {job:?}");
    }
    for (text, job) in [("%_", "50%_off"), ("\\", "back\\slash"), ("'", "x' OR '1'='1"), ("\0", "nul\0byte")] {
        let got = query(EventQuery { text: Some(text.to_string()), ..Default::default() });
        assert!(got.len() == 3 && got.iter().all(|e| e.job_id.as_deref() == Some(job)), "text {text:?}: {got:?}");
    }
    for nothing in ["x' OR '1'='1' --", "nul", "%"] {
        assert!(
            query(EventQuery { job_id: Some(nothing.to_string()), ..Default::default() }).is_empty(),
            "{nothing:?}"
        );
    }
    let trace = rt.block_on(recorder.trace("x' OR '1'='1")).unwrap();
    assert!(trace.events.is_empty() && trace.retention_gaps.is_empty());
    rt.block_on(recorder.shutdown()).unwrap();
}
