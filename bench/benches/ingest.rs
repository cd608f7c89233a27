//! Criterion benchmarks of the ingest path's CPU cost, each beside its baseline:
//! - `prepare`: parse + validate + redact + encode one event, vs `serde_json::from_slice`
//!   into an untyped value (the least any JSON ingest must do), and with the redactor's
//!   plain pass (no literal prefilter); and of an event built in Rust (validate, redact,
//!   encode: no parse), vs `serde_json::to_vec` of the same events (borrowed, and taken by
//!   value as prepare takes them, so that freeing them is timed too);
//! - `scan`: CRC-verified decoding of a WAL segment, vs a bare CRC32 over the same bytes;
//! - `envelope`: reading a stored event's envelope (canonical JSON, field by field), vs
//!   serde's derived decode of the same struct and an untyped value; and what the compactor
//!   reads of an event (envelope and summary fields, the payload parsed once) vs the envelope
//!   read and then the payload parsed again for the fields.
//!
//! - `write`: the canonical JSON of parsed events, vs `serde_json::to_writer` of the same.
//! - `split`: an NDJSON body cut into its lines as the server cuts it, vs finding its
//!   newlines alone.
//!
//! The durable, concurrent ingest figures come from `flightrec-bench ingest` (see
//! BENCHMARKS.md); they need real fsyncs, which criterion's loop is not made for.

/// The `flightrec` binary's allocator, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: flightrec::heap::SplitAllocator = flightrec::heap::SplitAllocator;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use flightrec::compact::summary_fields::SummaryFields;
use flightrec::event::{Event, parse_event};
use flightrec::ingest::{prepare_event, prepare_json};
use flightrec::ndjson::LineSplitter;
use flightrec::redact::Redactor;
use flightrec::stored::StoredEnvelope;
use flightrec::wal::{event_payload, format, scan_segment};
use flightrec::workload::Generator;

fn events(n: usize) -> Vec<String> {
    let mut g = Generator::new(7, chrono::Utc::now(), 1_000);
    (0..n).map(|_| g.next_json()).collect()
}

fn prepare(c: &mut Criterion) {
    let redactor = Redactor::builtin();
    let lines = events(1_000);
    let bytes: u64 = lines.iter().map(|l| l.len() as u64).sum();
    let mut group = c.benchmark_group("prepare");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("flightrec_prepare_json", |b| {
        b.iter(|| lines.iter().filter(|l| prepare_json(&redactor, l.as_bytes()).is_ok()).count())
    });
    // The same rules without the literal prefilter (the set of all rules on every string).
    let plain = Redactor::builtin().plain();
    group.bench_function("flightrec_prepare_json_plain_redactor", |b| {
        b.iter(|| lines.iter().filter(|l| prepare_json(&plain, l.as_bytes()).is_ok()).count())
    });
    group.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| lines.iter().filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()).count())
    });
    // Events built in Rust (`FlightRecorder::record_event`): validate, redact, encode, no parse;
    // the clones are made outside the timed loop.
    let typed: Vec<Event> = lines.iter().filter_map(|l| parse_event(l.as_bytes()).ok()).map(|p| p.event).collect();
    group.bench_function("flightrec_prepare_typed", |b| {
        b.iter_batched(
            || typed.clone(),
            |events| events.into_iter().filter_map(|e| prepare_event(&redactor, e).ok()).count(),
            BatchSize::LargeInput,
        )
    });
    // The least a typed path must do: serialise each event to a fresh buffer.
    group.bench_function("baseline_serde_json_to_vec_typed", |b| {
        b.iter(|| typed.iter().filter_map(|e| serde_json::to_vec(e).ok()).count())
    });
    // The same, taking each event by value as prepare does, so that freeing the event's
    // strings is timed on both sides.
    group.bench_function("baseline_serde_json_to_vec_typed_owned", |b| {
        b.iter_batched(
            || typed.clone(),
            |events| events.into_iter().filter_map(|e| serde_json::to_vec(&e).ok()).count(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
    println!("prepare: {} events, {} bytes of JSON", lines.len(), bytes);
}

fn scan(c: &mut Criterion) {
    let header = format::SegmentHeader { first_lsn: 1, created_micros: 0 }.encode();
    let mut segment = header.to_vec();
    for (i, line) in events(20_000).iter().enumerate() {
        format::encode_record(&mut segment, i as u64 + 1, &event_payload(false, line.as_bytes()));
    }
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Bytes(segment.len() as u64));
    group.bench_function("flightrec_scan_segment", |b| {
        b.iter_batched(|| (), |()| scan_segment(&segment, &mut |_| {}).map(|s| s.event_records), BatchSize::SmallInput)
    });
    group.bench_function("baseline_crc32_only", |b| b.iter(|| crc32fast::hash(&segment)));
    group.finish();
}

fn envelope(c: &mut Criterion) {
    let redactor = Redactor::builtin();
    // What the WAL holds: the canonical JSON of prepared events.
    let stored: Vec<Vec<u8>> = events(1_000)
        .iter()
        .filter_map(|l| prepare_json(&redactor, l.as_bytes()).ok())
        .filter_map(|p| format::split_event_payload(&p.payload).map(|(_, json)| json.to_vec()))
        .collect();
    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Elements(stored.len() as u64));
    group.bench_function("flightrec_stored_envelope", |b| {
        b.iter(|| stored.iter().filter(|j| StoredEnvelope::parse(j).is_ok()).count())
    });
    group.bench_function("baseline_serde_derive_envelope", |b| {
        b.iter(|| stored.iter().filter(|j| serde_json::from_slice::<StoredEnvelope<'_>>(j).is_ok()).count())
    });
    group.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| stored.iter().filter(|j| serde_json::from_slice::<serde_json::Value>(j).is_ok()).count())
    });
    // What the compactor reads of each event: the envelope and the summary fields, the payload
    // read once, against reading it to check it and then again for the fields.
    group.bench_function("flightrec_envelope_and_summary_fields", |b| {
        b.iter(|| {
            stored
                .iter()
                .filter_map(|j| StoredEnvelope::parse_with(j, SummaryFields::read).ok()?.1?.duration_ms)
                .count()
        })
    });
    group.bench_function("baseline_envelope_then_summary_fields", |b| {
        b.iter(|| {
            let fields = |j: &Vec<u8>| {
                let e = StoredEnvelope::parse(j).ok()?;
                SummaryFields::read(&e.ty, e.payload.get())?.duration_ms
            };
            stored.iter().filter_map(fields).count()
        })
    });
    group.finish();
}

/// Writing the canonical JSON of parsed events: flightrec's writer against serde_json's.
fn write(c: &mut Criterion) {
    let parsed: Vec<Event> =
        events(1_000).iter().filter_map(|l| parse_event(l.as_bytes()).ok()).map(|p| p.event).collect();
    let mut out = Vec::with_capacity(1 << 20);
    let mut group = c.benchmark_group("write");
    group.throughput(Throughput::Elements(parsed.len() as u64));
    group.bench_function("flightrec_write_json", |b| {
        b.iter(|| {
            out.clear();
            parsed.iter().filter(|e| e.write_json(&mut out).is_ok()).count()
        })
    });
    group.bench_function("baseline_serde_json_to_writer", |b| {
        b.iter(|| {
            out.clear();
            parsed.iter().filter(|e| serde_json::to_writer(&mut out, e).is_ok()).count()
        })
    });
    group.finish();
}

/// Splitting an NDJSON body into its lines as `POST /v1/events:ndjson` does (pieces of 64 KiB,
/// each line copied out), against finding its newlines alone with `memchr`.
fn split(c: &mut Criterion) {
    let body: Vec<u8> = events(1_000).iter().flat_map(|l| l.bytes().chain(std::iter::once(b'\n'))).collect();
    let mut group = c.benchmark_group("split");
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("flightrec_line_splitter", |b| {
        b.iter(|| {
            let mut splitter = LineSplitter::new(1 << 20);
            body.chunks(64 << 10).map(|piece| splitter.push(piece).len()).sum::<usize>()
        })
    });
    group.bench_function("baseline_memchr_newlines", |b| b.iter(|| memchr::memchr_iter(b'\n', &body).count()));
    group.finish();
}

criterion_group!(benches, prepare, scan, envelope, write, split);
criterion_main!(benches);
