//! Counters of the server and the Prometheus text of `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::recorder::RecorderStats;

/// Upper bounds (seconds) of the query latency histogram.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default)]
pub struct Metrics {
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    query_buckets: [AtomicU64; 10],
    query_count: AtomicU64,
    query_micros: AtomicU64,
}

impl Metrics {
    pub fn count_ingest(&self, accepted: u64, duplicates: u64, rejected: u64) {
        self.accepted.fetch_add(accepted, Ordering::Relaxed);
        self.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        self.rejected.fetch_add(rejected, Ordering::Relaxed);
    }

    pub fn observe_query(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bucket, le) in self.query_buckets.iter().zip(BUCKETS) {
            if secs <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.query_count.fetch_add(1, Ordering::Relaxed);
        self.query_micros.fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The Prometheus text exposition of the counters and the recorder's state.
    pub fn render(&self, stats: &RecorderStats) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP flightrec_{name} {help}\n# TYPE flightrec_{name} {kind}\nflightrec_{name} {value}"
            );
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter("events_accepted_total", "Events accepted over HTTP.", "counter", load(&self.accepted));
        counter(
            "events_duplicate_total",
            "Events whose event_id was already recorded.",
            "counter",
            load(&self.duplicates),
        );
        counter("events_rejected_total", "Events rejected (invalid, too large).", "counter", load(&self.rejected));
        counter("events_dropped_total", "Events dropped by a full async queue.", "counter", stats.wal.dropped);
        counter("wal_appended_total", "Records appended to the WAL.", "counter", stats.wal.appended);
        counter("wal_bytes_written_total", "Bytes written to the WAL.", "counter", stats.wal.bytes_written);
        counter("wal_fsyncs_total", "fdatasync calls of the WAL writer.", "counter", stats.wal.fsyncs);
        counter("wal_groups_total", "Groups written by the WAL writer (group commit).", "counter", stats.wal.groups);
        counter("wal_sealed_segments_total", "WAL segments sealed.", "counter", stats.wal.sealed_segments);
        counter("compaction_lag_events", "Events in the WAL not compacted yet.", "gauge", stats.totals.wal_events);
        counter("compacted_events", "Events in Parquet files.", "gauge", stats.totals.compacted_events);
        counter("parquet_files", "Parquet files in the catalog.", "gauge", stats.totals.parquet_files);
        counter(
            "wal_quarantined_segments",
            "WAL segments kept in wal/quarantine/ because they could not be verified (events may be missing).",
            "gauge",
            stats.wal_quarantined_segments,
        );
        counter(
            "wal_poisoned",
            "1 when the WAL writer is poisoned by an I/O error.",
            "gauge",
            u64::from(stats.wal.poisoned.is_some()),
        );
        let _ = writeln!(out, "# HELP flightrec_wal_fsync_seconds Latency of the WAL writer's fdatasync calls.");
        let _ = writeln!(out, "# TYPE flightrec_wal_fsync_seconds histogram");
        for (le, n) in &stats.wal.fsync_histogram {
            let _ = writeln!(out, "flightrec_wal_fsync_seconds_bucket{{le=\"{}\"}} {n}", *le as f64 / 1e6);
        }
        let _ = writeln!(out, "flightrec_wal_fsync_seconds_bucket{{le=\"+Inf\"}} {}", stats.wal.fsyncs);
        let _ = writeln!(out, "flightrec_wal_fsync_seconds_sum {}", stats.wal.fsync_micros_total as f64 / 1e6);
        let _ = writeln!(out, "flightrec_wal_fsync_seconds_count {}", stats.wal.fsyncs);
        let _ = writeln!(out, "# HELP flightrec_query_seconds Latency of event, trace and job queries.");
        let _ = writeln!(out, "# TYPE flightrec_query_seconds histogram");
        for (bucket, le) in self.query_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(out, "flightrec_query_seconds_bucket{{le=\"{le}\"}} {}", load(bucket));
        }
        let count = load(&self.query_count);
        let _ = writeln!(out, "flightrec_query_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "flightrec_query_seconds_sum {}", load(&self.query_micros) as f64 / 1e6);
        let _ = writeln!(out, "flightrec_query_seconds_count {count}");
        out
    }
}
