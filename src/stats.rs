//! What a data directory holds, in the numbers every reader shows: `flightrec stats` (on the
//! directory, or `--url` through a server), `GET /v1/stats` and the UI's top bar. The store
//! has two parts, the events still in the WAL and the compacted ones; however each part was
//! counted (the recorder: its query tail and the catalog; the CLI, which takes no lock: the
//! WAL files and the Parquet footers), [`Totals::new`] is the one place they are added up.

use chrono::{DateTime, Utc};

/// The events of one part of the store and the span of their timestamps (microseconds).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub events: u64,
    pub oldest_micros: Option<i64>,
    pub newest_micros: Option<i64>,
}

impl Part {
    /// Widens the span to take in a timestamp.
    pub fn include(&mut self, micros: i64) {
        self.oldest_micros = Some(self.oldest_micros.map_or(micros, |o| o.min(micros)));
        self.newest_micros = Some(self.newest_micros.map_or(micros, |n| n.max(micros)));
    }
}

/// Counts and time range of everything recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Totals {
    pub events: u64,
    pub wal_events: u64,
    pub compacted_events: u64,
    pub parquet_files: u64,
    #[serde(with = "crate::event::time::option", default)]
    pub oldest: Option<DateTime<Utc>>,
    #[serde(with = "crate::event::time::option", default)]
    pub newest: Option<DateTime<Utc>>,
}

impl Totals {
    /// The totals of the WAL part and the compacted part (in `parquet_files` files).
    pub fn new(wal: Part, compacted: Part, parquet_files: u64) -> Totals {
        let at = |t: Option<i64>| t.and_then(DateTime::from_timestamp_micros);
        Totals {
            events: wal.events + compacted.events,
            wal_events: wal.events,
            compacted_events: compacted.events,
            parquet_files,
            oldest: at([wal.oldest_micros, compacted.oldest_micros].into_iter().flatten().min()),
            newest: at([wal.newest_micros, compacted.newest_micros].into_iter().flatten().max()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_add_up_and_the_span_covers_both() {
        let mut wal = Part { events: 2, ..Part::default() };
        wal.include(5_000_000);
        wal.include(3_000_000);
        let compacted = Part { events: 3, oldest_micros: Some(1_000_000), newest_micros: Some(4_000_000) };
        let t = Totals::new(wal, compacted, 1);
        assert_eq!((t.events, t.wal_events, t.compacted_events, t.parquet_files), (5, 2, 3, 1));
        assert_eq!(t.oldest.unwrap().timestamp(), 1);
        assert_eq!(t.newest.unwrap().timestamp(), 5);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Totals>(&json).unwrap(), t, "{json}");
        let empty = Totals::new(Part::default(), Part::default(), 0);
        assert_eq!((empty.events, empty.oldest, empty.newest), (0, None, None));
    }
}
