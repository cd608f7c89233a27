//! `GET /metrics`: the server's instruments, the recorder's, and a snapshot of the recorder's
//! state, encoded by prometheus-client as OpenMetrics text. Every name is prefixed
//! `flightrec_`; counters are registered without `_total`, which the encoder appends.

use std::time::Instant;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::recorder::{RecorderMetrics, RecorderStats};

/// The media type of the OpenMetrics text format, which the encoder writes (`# EOF` included).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the query latency histogram.
const QUERY_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// The server's instruments: ingest outcomes and query latency.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    accepted: Counter,
    duplicates: Counter,
    rejected: Counter,
    query_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let (accepted, duplicates, rejected) = (Counter::default(), Counter::default(), Counter::default());
        let query_seconds = Histogram::new(QUERY_BUCKETS);
        let mut registry = Registry::with_prefix("flightrec");
        registry.register("events_accepted", "Events accepted over HTTP", accepted.clone());
        registry.register("events_duplicate", "Events whose event_id was already recorded", duplicates.clone());
        registry.register("events_rejected", "Events rejected (invalid, too large)", rejected.clone());
        registry.register("query_seconds", "Latency of event, trace and job queries", query_seconds.clone());
        Metrics { registry, accepted, duplicates, rejected, query_seconds }
    }
}

impl Metrics {
    pub fn count_ingest(&self, accepted: u64, duplicates: u64, rejected: u64) {
        self.accepted.inc_by(accepted);
        self.duplicates.inc_by(duplicates);
        self.rejected.inc_by(rejected);
    }

    /// Runs a query and observes its duration when it succeeds (a refused or failed query is
    /// not a query latency).
    pub async fn timed_query<T, E>(&self, query: impl std::future::Future<Output = Result<T, E>>) -> Result<T, E> {
        let started = Instant::now();
        let answer = query.await?;
        self.query_seconds.observe(started.elapsed().as_secs_f64());
        Ok(answer)
    }

    /// The OpenMetrics text of the server's instruments, the recorder's, and `stats`.
    pub fn encode(&self, recorder: &RecorderMetrics, stats: &RecorderStats) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode_registry(&mut out, &self.registry)?;
        encode_registry(&mut out, recorder.registry())?;
        encode_registry(&mut out, &snapshot(stats))?;
        encode_eof(&mut out)?;
        Ok(out)
    }
}

/// The recorder's counters and gauges as they are now (the WAL counts in its writer thread).
fn snapshot(stats: &RecorderStats) -> Registry {
    let wal = &stats.wal;
    let mut r = Registry::with_prefix("flightrec");
    let counters = [
        ("events_dropped", "Events dropped by a full async queue", wal.dropped),
        ("wal_appended", "Records appended to the WAL", wal.appended),
        ("wal_bytes_written", "Bytes written to the WAL", wal.bytes_written),
        ("wal_fsyncs", "fdatasync calls of the WAL writer", wal.fsyncs),
        ("wal_groups", "Groups written by the WAL writer (group commit)", wal.groups),
        ("wal_sealed_segments", "WAL segments sealed", wal.sealed_segments),
    ];
    for (name, help, value) in counters {
        r.register(name, help, ConstCounter::new(value));
    }
    let gauges = [
        ("compaction_lag_events", "Events in the WAL not compacted yet", stats.totals.wal_events),
        ("compacted_events", "Events in Parquet files", stats.totals.compacted_events),
        ("parquet_files", "Parquet files in the catalog", stats.totals.parquet_files),
        (
            "wal_quarantined_segments",
            "WAL segments kept in wal/quarantine/ because they could not be verified (events may be missing)",
            stats.wal_quarantined_segments,
        ),
        ("wal_poisoned", "1 when the WAL writer is poisoned by an I/O error", u64::from(wal.poisoned.is_some())),
    ];
    for (name, help, value) in gauges {
        r.register(name, help, ConstGauge::new(value));
    }
    r.register("wal_fsync_seconds", "Latency of the WAL writer's fdatasync calls", FsyncHistogram::of(stats));
    register_shipping(&mut r, stats);
    r
}

/// The shipping gauges and counters (zeros when shipping is not configured).
fn register_shipping(r: &mut Registry, stats: &RecorderStats) {
    let (ship, totals) = (&stats.ship, &stats.ship_counters);
    let gauges = [
        ("shipped_files", "Parquet files complete in the object store", ship.shipped_files),
        ("unshipped_files", "Compacted Parquet files not shipped yet", ship.unshipped_files),
        (
            "ship_failing",
            "1 while the last ship pass failed (last_ship_error in /v1/stats)",
            u64::from(ship.last_ship_error.is_some()),
        ),
    ];
    for (name, help, value) in gauges {
        r.register(name, help, ConstGauge::new(value));
    }
    r.register(
        "ship_lag_seconds",
        "Seconds the oldest unshipped Parquet file has waited since its compaction",
        ConstGauge::new(ship.ship_lag_seconds),
    );
    let counters = [
        ("ship_uploaded_files", "Parquet files uploaded by this process", totals.shipped_files),
        ("ship_uploaded_bytes", "Parquet bytes uploaded by this process", totals.shipped_bytes),
        ("ship_failed_passes", "Ship passes that failed (retried with backoff)", totals.failed_passes),
    ];
    for (name, help, value) in counters {
        r.register(name, help, ConstCounter::new(value));
    }
}

/// The WAL writer's fdatasync histogram as it is now (cumulative counts per bound in µs).
#[derive(Debug)]
struct FsyncHistogram {
    sum_seconds: f64,
    count: u64,
    /// (upper bound in seconds, count in this bucket alone); the last bound is +Inf.
    buckets: Vec<(f64, u64)>,
}

impl FsyncHistogram {
    fn of(stats: &RecorderStats) -> FsyncHistogram {
        let wal = &stats.wal;
        let mut below = 0;
        let mut buckets = Vec::with_capacity(wal.fsync_histogram.len() + 1);
        for &(le_micros, cumulative) in &wal.fsync_histogram {
            buckets.push((le_micros as f64 / 1e6, cumulative.saturating_sub(below)));
            below = below.max(cumulative);
        }
        buckets.push((f64::INFINITY, wal.fsyncs.saturating_sub(below)));
        FsyncHistogram { sum_seconds: wal.fsync_micros_total as f64 / 1e6, count: wal.fsyncs, buckets }
    }
}

impl TypedMetric for FsyncHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for FsyncHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum_seconds, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}
