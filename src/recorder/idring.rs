//! The de-duplication memory's storage: a fixed-capacity FIFO ring of 16-byte event ids with
//! the time each was seen, and an open-addressing hash table of ring slot numbers (4 bytes) to
//! find an id. The bits of a bucket the slot numbers do not need hold a few bits of the id's
//! hash, so that a probe reads the ring (a cache miss, in a ring of millions of ids) only for
//! the ids whose bits match.
//!
//! Its memory is bounded by the capacity, whatever the data: at most [`BYTES_PER_ID`] bytes per
//! id of capacity (see [`IdRing::budget_bytes`]). The ring grows up to the capacity and then
//! reuses its slots; the table grows up to the size the capacity needs at 3/4 load and never
//! past it. The table is linear-probing with backward-shift deletion (no tombstones, so a
//! stream of inserts and evictions never makes it grow), hashed with a keyed hash (ids come
//! from clients, who must not be able to pick colliding ones): aHash with keys drawn at
//! random for each process, several times faster than std's SipHash on a 16-byte id.
//!
//! At open the ring is filled by a load ([`IdRing::load`], [`IdRing::finish_load`]): the ids
//! are appended as they are read, and placed in the table at the end, rather than each
//! looked up, placed and perhaps evicted in turn: on two threads (a half of the table each),
//! part by part of the table so that each part's buckets stay in the cache while its ids are
//! placed. The table and the ring are backed by huge pages where the kernel offers them.

use std::hash::{BuildHasher, Hasher};

use ahash::RandomState;

use uuid::Uuid;

/// One remembered id: its 16 bytes as two words (a `u128` would be aligned to 16 and make
/// the slot 32 bytes) and when it was seen (µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    id: [u64; 2],
    seen_micros: i64,
}

/// Bytes of one ring slot.
const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// A free bucket of the table (slot numbers are below the capacity, at most `u32::MAX - 1`).
const FREE: u32 = u32::MAX;

/// The most bytes one id of capacity costs: its ring slot (24) and up to 8/3 table buckets of
/// 4 bytes (at most 3/4 full, rounded up to a power of two), half as many again while the
/// table doubles (the old one is freed once the ids are moved): 24 + 16.
pub const BYTES_PER_ID: usize = SLOT_BYTES + (4 * 8 * 3usize).div_ceil(3 * 2);

/// Buckets of a table part whose ids a load places together: 256 KiB, which stays in a
/// core's cache while they are placed (the whole table of millions of ids does not, and
/// placing in push order missed the cache at nearly every id).
const PART_BUCKETS: usize = 1 << 16;

/// Pushes a load sorts by table part before placing them, part after part.
const LOAD_CHUNK: usize = 1 << 18;

/// A load places its ids on two threads from this many on.
const PARALLEL_LOAD_FROM: usize = 1 << 16;

/// A remembered id to place: its slot number and its hash.
type Pending = (u32, u64);

/// Where [`IdRing::place_in`] left an id.
enum Placed {
    Yes,
    /// The id was there already.
    Twice,
    /// Every bucket from its home to the region's end is taken.
    PastTheEnd,
}

/// The largest capacity a ring takes.
const MAX_CAPACITY: usize = (u32::MAX - 1) as usize;

/// Remembered ids, oldest first, at most `capacity`.
#[derive(Debug)]
pub struct IdRing {
    /// Slot `n % capacity` holds the id pushed `n`-th; it grows up to `capacity`, then wraps.
    slots: Vec<Slot>,
    /// The slot numbers of the remembered ids at their hash's bucket or after it ([`FREE`]:
    /// none); its length is a power of two (or 0).
    table: Vec<u32>,
    hasher: RandomState,
    /// How the table's buckets hold a slot number and hash bits.
    packing: Packing,
    /// Ids pushed since the start; the remembered ones are pushes `head..pushed`.
    pushed: u64,
    head: u64,
    capacity: usize,
    /// While a load is under way ([`IdRing::load`]): the first push it made. Those pushes are
    /// in the ring but not in the table, and their slots hold their hashes, not their times.
    loading_from: Option<u64>,
}

impl IdRing {
    /// An empty ring for at most `capacity` ids (at least 1); nothing is allocated yet.
    pub fn new(capacity: usize) -> IdRing {
        IdRing {
            slots: Vec::new(),
            table: Vec::new(),
            hasher: RandomState::new(),
            packing: Packing::new(capacity.clamp(1, MAX_CAPACITY)),
            pushed: 0,
            head: 0,
            capacity: capacity.clamp(1, MAX_CAPACITY),
            loading_from: None,
        }
    }

    /// The most heap bytes a ring of `capacity` ids allocates: [`BYTES_PER_ID`] per id (the
    /// smallest table has 8 buckets, hence the constant).
    pub fn budget_bytes(capacity: usize) -> usize {
        capacity.clamp(1, MAX_CAPACITY) * BYTES_PER_ID + 32
    }

    /// Heap bytes held now (what the allocations reserve, used or not).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * SLOT_BYTES + self.table.capacity() * std::mem::size_of::<u32>()
    }

    pub fn len(&self) -> usize {
        (self.pushed - self.head) as usize
    }

    pub fn contains(&self, id: Uuid) -> bool {
        let key = words(id);
        self.find(key, self.hash(key)).is_some()
    }

    /// Remembers `id` as seen at `seen_micros` unless it is remembered already (false then),
    /// forgetting the oldest when the ring is full; the id is hashed once.
    pub fn insert(&mut self, id: Uuid, seen_micros: i64) -> bool {
        let key = words(id);
        self.insert_hashed(key, self.hash(key), seen_micros)
    }

    /// [`IdRing::insert`] of each of `ids` in order, all seen at `seen_micros`; how many were
    /// new. The home buckets of the whole batch are read first, no read waiting for another,
    /// so that the inserts find them in the cache rather than each waiting for memory in turn.
    #[cfg(test)]
    pub fn insert_all(&mut self, ids: &[Uuid], seen_micros: i64) -> usize {
        let keyed: Vec<([u64; 2], u64)> = ids.iter().map(|id| (words(*id), self.hash(words(*id)))).collect();
        let touched =
            keyed.iter().fold(0u32, |acc, (_, hash)| acc ^ self.table.get(self.home(*hash)).copied().unwrap_or(0));
        std::hint::black_box(touched);
        keyed.into_iter().filter(|(key, hash)| self.insert_hashed(*key, *hash, seen_micros)).count()
    }

    fn insert_hashed(&mut self, key: [u64; 2], hash: u64, seen_micros: i64) -> bool {
        if self.find(key, hash).is_some() {
            return false;
        }
        self.push_hashed(key, hash, seen_micros);
        true
    }

    /// Remembers the id `key`, whose hash is `hash`, as the newest.
    fn push_hashed(&mut self, key: [u64; 2], hash: u64, seen_micros: i64) {
        if self.len() == self.capacity {
            self.pop_oldest();
        }
        let n = self.push_slot(Slot { id: key, seen_micros });
        self.grow_table();
        self.place(n, hash);
    }

    /// Writes `slot` as the next push (the caller has made room); its slot number.
    fn push_slot(&mut self, slot: Slot) -> u32 {
        let n = self.slot_number(self.pushed);
        self.push_slot_at(n, slot);
        n
    }

    /// Writes `slot` as the next push, whose slot number the caller knows to be `n`.
    fn push_slot_at(&mut self, n: u32, slot: Slot) {
        if n as usize == self.slots.len() {
            self.grow_slots();
            self.slots.push(slot);
        } else if let Some(s) = self.slots.get_mut(n as usize) {
            *s = slot;
        }
        self.pushed += 1;
    }

    /// When the oldest remembered id was seen.
    pub fn oldest_seen(&self) -> Option<i64> {
        (self.len() > 0).then(|| self.slot(self.slot_number(self.head)).seen_micros)
    }

    /// Forgets the oldest remembered id.
    pub fn pop_oldest(&mut self) {
        if self.len() == 0 {
            return;
        }
        let n = self.slot_number(self.head);
        self.head += 1;
        let key = self.slot(n).id;
        if let Some(bucket) = self.find(key, self.hash(key)) {
            self.unplace(bucket);
        }
    }

    /// The bucket holding the slot number of `key`, whose hash is `hash`.
    fn find(&self, key: [u64; 2], hash: u64) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let (mask, bits) = (self.table.len() - 1, self.packing.hash_bits(hash));
        let mut b = self.home(hash);
        loop {
            match self.table.get(b).copied() {
                Some(FREE) | None => return None,
                Some(entry) if self.names(entry, bits, || key) => return Some(b),
                Some(_) => b = (b + 1) & mask,
            }
        }
    }

    /// Whether the bucket `entry` holds the id `key()`, whose hash bits are `bits` (its slot,
    /// and `key`, are read only when the bits match).
    fn names(&self, entry: u32, bits: u32, key: impl FnOnce() -> [u64; 2]) -> bool {
        self.packing.hash_bits_of(entry) == bits && self.slot(self.packing.slot(entry)).id == key()
    }

    /// Puts slot number `n`, whose id's hash is `hash`, in the first free bucket from the
    /// id's home bucket.
    fn place(&mut self, n: u32, hash: u64) {
        let mask = self.table.len().wrapping_sub(1);
        let entry = self.packing.entry(n, hash);
        let mut b = self.home(hash);
        while let Some(bucket) = self.table.get_mut(b) {
            if *bucket == FREE {
                *bucket = entry;
                return;
            }
            b = (b + 1) & mask;
        }
    }

    /// Frees bucket `b`, moving back the entries after it that could no longer be found
    /// (backward-shift deletion: linear probing stays correct without tombstones).
    fn unplace(&mut self, mut hole: usize) {
        let mask = self.table.len() - 1;
        let mut b = hole;
        self.set(hole, FREE);
        loop {
            b = (b + 1) & mask;
            let entry = self.table.get(b).copied().unwrap_or(FREE);
            if entry == FREE {
                return;
            }
            // The entry at `b` may fill the hole unless its home lies cyclically in (hole, b].
            let home = self.home(self.hash(self.slot(self.packing.slot(entry)).id));
            let stays = if hole <= b { hole < home && home <= b } else { hole < home || home <= b };
            if !stays {
                self.set(hole, entry);
                self.set(b, FREE);
                hole = b;
            }
        }
    }

    fn set(&mut self, bucket: usize, entry: u32) {
        if let Some(b) = self.table.get_mut(bucket) {
            *b = entry;
        }
    }

    /// Appends `ids` as the newest remembered ids (forgetting the oldest beyond the capacity),
    /// without looking them up or placing them in the table: [`IdRing::finish_load`] places
    /// every remembered id at once. Replay fills the ring this way, so that no id waits on a
    /// random read of the table. Until the load is finished the ring must not be asked
    /// anything (its owner finishes the load first).
    pub fn load(&mut self, ids: &[Uuid]) {
        if self.loading_from.is_none() {
            self.loading_from = Some(self.pushed);
            // Rebuilt at the end from the ring, at the size the ids then need.
            self.table = Vec::new();
        }
        let pushes = slot_numbers(self.capacity, self.pushed..self.pushed + ids.len() as u64);
        for (id, (_, n)) in ids.iter().zip(pushes) {
            let key = words(*id);
            // The hash waits in the slot's time until the load ends (its bits are all kept).
            let slot = Slot { id: key, seen_micros: self.hash(key) as i64 };
            if self.len() == self.capacity {
                self.head += 1;
            }
            self.push_slot_at(n, slot);
        }
    }

    /// Whether a load is under way.
    pub fn is_loading(&self) -> bool {
        self.loading_from.is_some()
    }

    /// Ends a load (nothing when none is under way): the loaded ids get `seen_micros` and every
    /// remembered id is placed in a table sized for them, in one pass over the ring. An id
    /// loaded twice, or loaded while already remembered, is remembered once, as its first
    /// occurrence: then the ring is rebuilt id by id as [`IdRing::insert`] would have filled
    /// it, except that it may have forgotten up to as many of its oldest ids as there were
    /// such duplicates.
    pub fn finish_load(&mut self, seen_micros: i64) {
        let Some(from) = self.loading_from.take() else {
            return;
        };
        let mut size = 8;
        while self.len() * 4 > size * 3 {
            size *= 2;
        }
        let mut table = new_table(size);
        let halves = if self.len() >= PARALLEL_LOAD_FROM { self.place_halves(&mut table, from) } else { None };
        let (left, mut duplicates) = match halves {
            Some(placed) => placed,
            None => self.place_region(&mut table, 0, size, from),
        };
        // Ids whose probe ran past their region's end go on from there, round to the start.
        for (n, hash) in left {
            let placed = match self.place_in(&mut table, (hash as usize) & (size - 1), n, hash) {
                Placed::PastTheEnd => self.place_in(&mut table, 0, n, hash),
                placed => placed,
            };
            // Never past the end twice (the table is at most 3/4 full): counted as a duplicate,
            // which rebuilds the ring id by id.
            duplicates |= !matches!(placed, Placed::Yes);
        }
        self.table = table;
        // The loaded ids' times.
        for (_, n) in slot_numbers(self.capacity, from.max(self.head)..self.pushed) {
            if let Some(slot) = self.slots.get_mut(n as usize) {
                slot.seen_micros = seen_micros;
            }
        }
        if duplicates {
            self.remember_again_once_each();
        }
    }

    /// [`IdRing::place_region`] of each half of `table` on its own thread (this one and one
    /// more): an id and its duplicates share a home bucket, so they meet in the same half.
    /// None, with nothing placed, when no thread could be started.
    fn place_halves(&self, table: &mut [u32], from: u64) -> Option<(Vec<Pending>, bool)> {
        let (half, table_len) = (table.len() / 2, table.len());
        let (low, high) = table.split_at_mut(half);
        std::thread::scope(|scope| {
            let upper = std::thread::Builder::new()
                .name("flightrec-id-load".into())
                .spawn_scoped(scope, || self.place_region(high, half, table_len, from))
                .ok()?;
            let (mut left, duplicates) = self.place_region(low, 0, table_len, from);
            let (more, twice) = upper.join().unwrap_or_else(|_| (Vec::new(), true));
            left.extend(more);
            Some((left, duplicates || twice))
        })
    }

    /// Places the remembered ids whose home bucket lies in `region` (the table's buckets from
    /// `start` on, of a table of `table_len`). The ids whose probe runs past the region's end
    /// are given back to be placed once every region is done; true when an id was found
    /// twice. The loaded ids' hashes are read from their slots (`from`).
    ///
    /// The pushes are read in order, a chunk at a time, and sorted by the part of the region
    /// their home bucket lies in; then each part's ids are placed, in push order, while its
    /// buckets are in the cache (read first, all at once). An id and its duplicates share a
    /// home, so the first occurrence is placed first and the others are found; placing in
    /// another order than push order is still linear probing (no bucket is ever freed during
    /// a load).
    fn place_region(&self, region: &mut [u32], start: usize, table_len: usize, from: u64) -> (Vec<Pending>, bool) {
        let mask = table_len.wrapping_sub(1);
        let (mut left, mut duplicates) = (Vec::new(), false);
        let mut parts: Vec<Vec<Pending>> = vec![Vec::new(); region.len().div_ceil(PART_BUCKETS).max(1)];
        let mut pushes = slot_numbers(self.capacity, self.head..self.pushed).peekable();
        while pushes.peek().is_some() {
            for (push, n) in pushes.by_ref().take(LOAD_CHUNK) {
                let slot = self.slot(n);
                let hash = if push >= from { slot.seen_micros as u64 } else { self.hash(slot.id) };
                let home = (hash as usize & mask).checked_sub(start).filter(|b| *b < region.len());
                if let Some(part) = home.and_then(|b| parts.get_mut(b / PART_BUCKETS)) {
                    part.push((n, hash));
                }
            }
            for part in &mut parts {
                // The part's home buckets are read first, no read waiting for another, so that
                // the placing finds them in the cache rather than each waiting for memory.
                let touched = part
                    .iter()
                    .fold(0u32, |t, (_, hash)| t ^ region.get((*hash as usize & mask) - start).copied().unwrap_or(0));
                std::hint::black_box(touched);
                for &(n, hash) in part.iter() {
                    match self.place_in(region, (hash as usize & mask) - start, n, hash) {
                        Placed::Yes => {}
                        Placed::Twice => duplicates = true,
                        Placed::PastTheEnd => left.push((n, hash)),
                    }
                }
                part.clear();
            }
        }
        (left, duplicates)
    }

    /// Places slot number `n` (its id's hash `hash`) in `region` from bucket `b` on.
    fn place_in(&self, region: &mut [u32], mut b: usize, n: u32, hash: u64) -> Placed {
        let bits = self.packing.hash_bits(hash);
        loop {
            match region.get_mut(b) {
                None => return Placed::PastTheEnd,
                Some(bucket) if *bucket == FREE => {
                    *bucket = self.packing.entry(n, hash);
                    return Placed::Yes;
                }
                Some(bucket) if self.names(*bucket, bits, || self.slot(n).id) => return Placed::Twice,
                Some(_) => b += 1,
            }
        }
    }

    /// Empties the ring and inserts its ids again, oldest first, each at most once.
    fn remember_again_once_each(&mut self) {
        let remembered: Vec<Slot> =
            slot_numbers(self.capacity, self.head..self.pushed).map(|(_, n)| self.slot(n)).collect();
        (self.slots, self.table, self.pushed, self.head) = (Vec::new(), Vec::new(), 0, 0);
        for slot in remembered {
            self.insert_hashed(slot.id, self.hash(slot.id), slot.seen_micros);
        }
    }

    /// Doubles the table when the next id would fill it beyond 3/4 (8 buckets at first).
    fn grow_table(&mut self) {
        if self.len() * 4 <= self.table.len() * 3 {
            return;
        }
        // The newest push is placed by the caller.
        self.rebuild((self.table.len() * 2).max(8), self.pushed.saturating_sub(1));
    }

    /// A table of `size` buckets holding the pushes from the oldest remembered to `end`.
    fn rebuild(&mut self, size: usize, end: u64) {
        // The ids are placed again from the ring, so the old table goes first.
        self.table = Vec::new();
        self.table = new_table(size);
        for (_, n) in slot_numbers(self.capacity, self.head..end) {
            self.place(n, self.hash(self.slot(n).id));
        }
    }

    /// Grows the ring's allocation by doubling, but never past the capacity.
    fn grow_slots(&mut self) {
        if self.slots.len() == self.slots.capacity() {
            let more = self.slots.len().max(64).min(self.capacity - self.slots.len());
            self.slots.reserve_exact(more);
            crate::heap::prefer_huge_pages(&mut self.slots);
        }
    }

    fn hash(&self, key: [u64; 2]) -> u64 {
        // The two words as two integers: no length prefix, as hashing the array would add.
        let mut hasher = self.hasher.build_hasher();
        hasher.write_u64(key[0]);
        hasher.write_u64(key[1]);
        hasher.finish()
    }

    /// The home bucket of a hash: its low bits.
    fn home(&self, hash: u64) -> usize {
        (hash as usize) & self.table.len().wrapping_sub(1)
    }

    fn slot_number(&self, push: u64) -> u32 {
        (push % self.capacity as u64) as u32
    }

    fn slot(&self, n: u32) -> Slot {
        self.slots.get(n as usize).copied().unwrap_or(Slot { id: [0; 2], seen_micros: 0 })
    }
}

/// A table of `size` free buckets. Ids are looked up at random in it (and in the ring), so it
/// is backed by huge pages where the kernel offers them: placing 2M ids took 1.6× as long
/// with 4 KiB pages, most of the difference TLB misses.
fn new_table(size: usize) -> Vec<u32> {
    let mut table = Vec::with_capacity(size);
    crate::heap::prefer_huge_pages(&mut table);
    table.resize(size, FREE);
    table
}

/// The pushes `pushes` of a ring of `capacity` with their slot numbers, in order: one
/// division, then a count that wraps round at the capacity (a division per push showed in
/// the profile of a load of millions of ids).
fn slot_numbers(capacity: usize, pushes: std::ops::Range<u64>) -> impl Iterator<Item = (u64, u32)> {
    let capacity = capacity as u64;
    let mut n = pushes.start % capacity.max(1);
    pushes.map(move |push| {
        let this = n as u32;
        n = if n + 1 == capacity { 0 } else { n + 1 };
        (push, this)
    })
}

/// A bucket's 32 bits: a slot number in the low `slot_bits`, the top bits of the id's hash in
/// the rest (none when the capacity needs all 32). A slot number is below the capacity, which
/// is below `1 << slot_bits`, so its bits are never all ones and no entry is [`FREE`].
#[derive(Debug, Clone, Copy)]
struct Packing {
    slot_bits: u32,
}

impl Packing {
    fn new(capacity: usize) -> Packing {
        let capacity = u32::try_from(capacity).unwrap_or(u32::MAX);
        Packing { slot_bits: u32::BITS - capacity.leading_zeros() }
    }

    fn entry(self, n: u32, hash: u64) -> u32 {
        n | self.hash_bits(hash).checked_shl(self.slot_bits).unwrap_or(0)
    }

    fn slot(self, entry: u32) -> u32 {
        entry & 1u32.checked_shl(self.slot_bits).map_or(u32::MAX, |one| one - 1)
    }

    /// The hash bits a bucket keeps of `hash` (its top bits: the home bucket uses the low ones).
    fn hash_bits(self, hash: u64) -> u32 {
        let kept = u32::BITS - self.slot_bits;
        hash.checked_shr(u64::BITS - kept).map_or(0, |bits| bits as u32)
    }

    fn hash_bits_of(self, entry: u32) -> u32 {
        entry.checked_shr(self.slot_bits).unwrap_or(0)
    }
}

fn words(id: Uuid) -> [u64; 2] {
    let (high, low) = id.as_u64_pair();
    [high, low]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, unsafe_code)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    use super::*;
    use crate::recorder::dedup::Dedup;

    /// The system allocator, counting the bytes live on each thread and their peak, so a
    /// test measures what its own thread holds whatever other tests run meanwhile.
    struct Counting;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn count(delta: isize) {
        let _ = LIVE.try_with(|live| {
            live.set(live.get() + delta);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
        });
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                count(layout.size() as isize);
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) };
            count(-(layout.size() as isize));
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                count(new_size as isize - layout.size() as isize);
            }
            p
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    /// Peak bytes allocated on this thread while `f` runs, above what was live before.
    fn peak_during(f: impl FnOnce()) -> usize {
        let before = LIVE.with(Cell::get);
        PEAK.with(|p| p.set(before));
        f();
        (PEAK.with(Cell::get) - before).max(0) as usize
    }

    #[test]
    fn the_dedup_memory_stays_within_its_configured_capacity_in_bytes() {
        for capacity in [1, 1_000, 100_000] {
            let mut peak_heap = 0;
            let peak = peak_during(|| {
                let mut dedup = Dedup::new(chrono::Duration::hours(24), capacity);
                for i in 0..capacity * 3 + 17 {
                    let id = Uuid::new_v4();
                    assert!(dedup.insert(id, i as i64));
                    assert!(!dedup.insert(id, i as i64), "just remembered");
                    peak_heap = peak_heap.max(dedup.heap_bytes());
                }
                assert_eq!(dedup.len(), capacity, "the oldest ids were forgotten");
            });
            let budget = Dedup::budget_bytes(capacity);
            let held = capacity * std::mem::size_of::<Slot>() + capacity * 4 * 8 / 3 + 32;
            assert!(peak_heap <= held, "capacity {capacity}: {peak_heap} bytes held, at most {held}");
            // The Dedup's own struct and its empty pending map aside, every byte it allocated.
            assert!(peak <= budget + 1024, "capacity {capacity}: {peak} bytes allocated, budget {budget}");
        }
        assert_eq!(BYTES_PER_ID, 40, "16-byte ids and 4-byte slot numbers");
    }

    #[test]
    fn slot_numbers_count_pushes_modulo_the_capacity() {
        for (capacity, pushes) in [(5usize, 0..12u64), (5, 3..17), (1, 4..9), (7, 14..14), (3, 2..3)] {
            let counted: Vec<(u64, u32)> = slot_numbers(capacity, pushes.clone()).collect();
            let divided: Vec<(u64, u32)> = pushes.map(|p| (p, (p % capacity as u64) as u32)).collect();
            assert_eq!(counted, divided, "capacity {capacity}");
        }
    }

    #[test]
    fn forgets_in_push_order_and_finds_every_remembered_id_after_evictions() {
        let mut ring = IdRing::new(1_000);
        let ids: Vec<Uuid> = (0..5_000).map(|_| Uuid::new_v4()).collect();
        for (i, id) in ids.iter().enumerate() {
            assert!(ring.insert(*id, i as i64));
            assert!(!ring.insert(*id, i as i64), "remembered already");
            if i % 3 == 0 {
                ring.pop_oldest();
            }
        }
        let remembered = ring.len();
        assert!(remembered > 0 && remembered <= 1_000);
        let (gone, kept) = ids.split_at(ids.len() - remembered);
        assert!(kept.iter().all(|id| ring.contains(*id)), "the newest ids are all found");
        assert!(gone.iter().all(|id| !ring.contains(*id)), "the older ones are all forgotten");
        assert_eq!(ring.oldest_seen(), Some((ids.len() - remembered) as i64));
    }

    #[test]
    fn a_bucket_keeps_its_slot_number_whole_and_is_never_free() {
        for capacity in [1, 2, 1_000, 2_000_000, 1 << 21, (1 << 21) + 1, MAX_CAPACITY] {
            let packing = Packing::new(capacity);
            for n in [0, capacity / 2, capacity - 1].map(|n| n as u32) {
                for hash in [0, u64::MAX, 0x8000_0000_0000_0000, 0x0123_4567_89ab_cdef] {
                    let entry = packing.entry(n, hash);
                    assert_ne!(entry, FREE, "capacity {capacity}, slot {n}, hash {hash:x}");
                    assert_eq!(packing.slot(entry), n, "capacity {capacity}, hash {hash:x}");
                    assert_eq!(packing.hash_bits_of(entry), packing.hash_bits(hash));
                }
            }
        }
        assert_eq!(Packing::new(2_000_000).hash_bits(u64::MAX), (1 << 11) - 1, "11 bits kept at the default");
        assert_eq!(Packing::new(MAX_CAPACITY).hash_bits(u64::MAX), 0, "none when slots need all 32");
    }

    #[test]
    fn ids_whose_hash_bits_collide_are_told_apart_by_their_slots() {
        // One hash bit kept (half of all probes match on the bits alone), then none.
        for capacity in [1 << 30, MAX_CAPACITY] {
            let mut ring = IdRing::new(capacity);
            let ids: Vec<Uuid> = (0..20_000).map(|_| Uuid::new_v4()).collect();
            for (i, id) in ids.iter().enumerate() {
                assert!(ring.insert(*id, i as i64));
            }
            assert!(ids.iter().all(|id| ring.contains(*id)));
            assert!(ids.iter().all(|id| !ring.insert(*id, 0)), "each is remembered already");
            assert!((0..20_000).all(|_| !ring.contains(Uuid::new_v4())));
        }
        assert_eq!(Packing::new(1 << 30).hash_bits(u64::MAX), 1);
    }

    #[test]
    fn a_batch_inserts_as_one_insert_after_another() {
        let mut ring = IdRing::new(3_000);
        let (old, new) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(ring.insert(old, 0));
        let mut batch: Vec<Uuid> = (0..2_000).map(|_| Uuid::new_v4()).collect();
        batch.extend([old, new, new]);
        assert_eq!(ring.insert_all(&batch, 1), 2_001, "the ids new to it, each once");
        assert_eq!(ring.len(), 2_002);
        assert!(batch.iter().all(|id| ring.contains(*id)));
        let later: Vec<Uuid> = (0..2_000).map(|_| Uuid::new_v4()).collect();
        assert_eq!(ring.insert_all(&later, 2), 2_000);
        // 4,002 pushed into 3,000: the first 1,002 (old and 1,001 of the batch) are forgotten.
        assert!(!ring.contains(old) && batch.iter().take(1_001).all(|id| !ring.contains(*id)));
        assert!(batch.iter().skip(1_001).chain(&later).filter(|id| **id != old).all(|id| ring.contains(*id)));
        assert_eq!(ring.oldest_seen(), Some(1));
    }

    /// The ring's remembered ids and times, oldest first.
    fn contents(ring: &IdRing) -> Vec<Slot> {
        (ring.head..ring.pushed).map(|push| ring.slot(ring.slot_number(push))).collect()
    }

    #[test]
    fn a_load_remembers_what_inserts_one_by_one_remember() {
        // The last two place on two threads, the last in two chunks of pushes (LOAD_CHUNK).
        for (capacity, seeded, loaded) in [
            (1, 0, 5),
            (1_000, 0, 700),
            (1_000, 300, 2_500),
            (50_000, 10_000, 30_000),
            (200_000, 30_000, 100_000),
            (400_000, 50_000, 300_000),
        ] {
            let seed: Vec<Uuid> = (0..seeded).map(|_| Uuid::new_v4()).collect();
            let ids: Vec<Uuid> = (0..loaded).map(|_| Uuid::new_v4()).collect();
            let (mut loading, mut inserting) = (IdRing::new(capacity), IdRing::new(capacity));
            for (i, id) in seed.iter().enumerate() {
                loading.insert(*id, i as i64);
                inserting.insert(*id, i as i64);
            }
            ids.chunks(97).for_each(|batch| loading.load(batch));
            loading.finish_load(1_000_000);
            assert_eq!(inserting.insert_all(&ids, 1_000_000), loaded);
            assert_eq!(contents(&loading), contents(&inserting), "capacity {capacity}: same ids, order and times");
            assert!(seed.iter().chain(&ids).all(|id| loading.contains(*id) == inserting.contains(*id)));
            assert!(!loading.contains(Uuid::new_v4()));
            // The table is whole: evicting and inserting go on as usual.
            let more: Vec<Uuid> = (0..capacity + 3).map(|_| Uuid::new_v4()).collect();
            assert_eq!(loading.insert_all(&more, 2_000_000), capacity + 3);
            assert!(more.iter().rev().take(capacity).all(|id| loading.contains(*id)));
            assert!(ids.iter().all(|id| !loading.contains(*id)), "all forgotten by now");
        }
    }

    #[test]
    fn an_id_loaded_twice_or_already_remembered_is_remembered_once_as_first_seen() {
        // Placed on one thread, and on two (each id's duplicates then meet in one half), and
        // in two chunks of pushes, the first occurrence of `twice[0]` in the first.
        for n in [3_000, 100_000, LOAD_CHUNK + 1_000] {
            let mut ring = IdRing::new(400_000);
            let known = Uuid::new_v4();
            ring.insert(known, 5);
            let mut ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
            let twice = [ids[10], ids[n / 2], ids[n - 1]];
            ids.extend([known, twice[0], twice[1], twice[0], twice[2]]);
            ring.load(&ids);
            ring.finish_load(9);
            assert_eq!(ring.len(), n + 1, "the known id and the {n} new ones, each once");
            assert_eq!(ring.oldest_seen(), Some(5), "the known id kept its first sighting");
            assert!(ids.iter().all(|id| ring.contains(*id)));
            assert!(twice.iter().chain([&known]).all(|id| !ring.insert(*id, 10)), "all are duplicates");
            let slots = contents(&ring);
            assert!(twice.iter().all(|id| slots.iter().filter(|s| s.id == words(*id)).count() == 1));
            assert!(slots.iter().skip(1).all(|s| s.seen_micros == 9), "the loaded ids are seen at the load's time");
        }
    }
}
