//! The recorder's own instruments, in a prometheus-client registry (names prefixed
//! `flightrec_`) that the server encodes into `GET /metrics` next to its own. The recorder
//! only observes into them; it knows nothing of HTTP.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::wal::Durability;

/// Upper bounds (seconds) of the record latency histogram: from an async append (queued, a
/// few microseconds) to a sync one on a slow disk.
const RECORD_BUCKETS: [f64; 13] =
    [0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// The `durability` label: `sync`, `batch` or `async`, the mode the events were appended with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurabilityLabel {
    durability: &'static str,
}

type ByDurability = Family<DurabilityLabel, Histogram, fn() -> Histogram>;

/// The recorder's registry and the instruments in it.
#[derive(Debug)]
pub struct RecorderMetrics {
    registry: Registry,
    /// The series of `record_event_seconds`, one per mode in [`Durability::ALL`] order: held
    /// here so that an observation does not look its label up in the family (a lock and a
    /// hash per event).
    record_seconds: [Histogram; 3],
}

impl Default for RecorderMetrics {
    fn default() -> Self {
        let family: ByDurability = Family::new_with_constructor(|| Histogram::new(RECORD_BUCKETS));
        // Every mode has its series from the start, so a dashboard sees zeros, not absence.
        let record_seconds =
            Durability::ALL.map(|mode| family.get_or_create(&DurabilityLabel { durability: mode.as_str() }).clone());
        let mut registry = Registry::with_prefix("flightrec");
        registry.register(
            "record_event_seconds",
            "Latency of recording an event or a batch, from its de-duplication claim to its \
             acknowledgement at the durability mode it was appended with",
            family,
        );
        RecorderMetrics { registry, record_seconds }
    }
}

impl RecorderMetrics {
    /// The registry to encode (the server does, for `GET /metrics`).
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts one record call (an event or a batch) that took `took` at `durability`.
    pub fn observe_record(&self, durability: Durability, took: Duration) {
        let series = match durability {
            Durability::Sync => &self.record_seconds[0],
            Durability::Batch => &self.record_seconds[1],
            Durability::Async => &self.record_seconds[2],
        };
        series.observe(took.as_secs_f64());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_is_counted_in_its_own_series() {
        let metrics = RecorderMetrics::default();
        for (mode, times) in [(Durability::Sync, 1), (Durability::Batch, 2), (Durability::Async, 3)] {
            for _ in 0..times {
                metrics.observe_record(mode, Duration::from_micros(20));
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, metrics.registry()).unwrap();
        for (mode, times) in [("sync", 1), ("batch", 2), ("async", 3)] {
            let line = format!("flightrec_record_event_seconds_count{{durability=\"{mode}\"}} {times}\n");
            assert!(text.contains(&line), "{line} in {text}");
        }
    }
}
