//! Duplicate `event_id`s (FR-EVT.md): an id seen within the window (default 24 hours) is a
//! duplicate and is not stored twice, so a caller may retry safely. Memory stays bounded:
//! ids older than the window are forgotten, and beyond `capacity` the oldest go first.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use uuid::Uuid;

/// The ids seen recently, with when they were seen (microseconds).
#[derive(Debug)]
pub struct Dedup {
    seen: HashMap<Uuid, i64>,
    order: VecDeque<(i64, Uuid)>,
    window_micros: i64,
    capacity: usize,
}

impl Dedup {
    pub fn new(window: chrono::Duration, capacity: usize) -> Dedup {
        Dedup {
            seen: HashMap::new(),
            order: VecDeque::new(),
            window_micros: window.num_microseconds().unwrap_or(i64::MAX),
            capacity: capacity.max(1),
        }
    }

    /// Records `id` as seen at `now`; false when it was already seen within the window.
    pub fn insert(&mut self, id: Uuid, now_micros: i64) -> bool {
        self.expire(now_micros);
        match self.seen.entry(id) {
            Entry::Occupied(_) => return false,
            Entry::Vacant(slot) => slot.insert(now_micros),
        };
        self.order.push_back((now_micros, id));
        while self.seen.len() > self.capacity {
            self.pop_oldest();
        }
        true
    }

    /// Forgets `id` (its append failed, so a retry must not be called a duplicate).
    pub fn remove(&mut self, id: &Uuid) {
        self.seen.remove(id);
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    #[cfg_attr(not(feature = "internals"), expect(dead_code, reason = "the pair of len() for the internals API"))]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn expire(&mut self, now_micros: i64) {
        while self.order.front().is_some_and(|(t, _)| now_micros.saturating_sub(*t) > self.window_micros) {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((t, id)) = self.order.pop_front()
            && self.seen.get(&id) == Some(&t)
        {
            self.seen.remove(&id);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_within_the_window_only_and_memory_stays_bounded() {
        let mut d = Dedup::new(chrono::Duration::seconds(10), 3);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(d.insert(a, 0));
        assert!(!d.insert(a, 5_000_000), "seen 5 s ago");
        assert!(d.insert(a, 11_000_001), "forgotten after the window");
        d.remove(&a);
        assert!(d.insert(a, 11_000_002), "a failed append is not a duplicate on retry");
        for _ in 0..10 {
            d.insert(Uuid::new_v4(), 12_000_000);
        }
        assert!(d.len() <= 3);
        assert!(d.insert(b, 12_000_000));
    }
}
