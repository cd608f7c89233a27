//! The write-ahead log: segmented, CRC-checked, group-committed.
//!
//! The parts, each with one job:
//! - [`format`]: the bytes of a segment (header, record framing, payload kinds) and the ways
//!   they can be wrong ([`Corruption`]). Public: it is the on-disk contract, and tests and tools
//!   write segments with it.
//! - the decoder ([`scan_segment`]): a segment's bytes in, its records and [`Damage`] out; it
//!   knows only the format.
//! - the segment directory ([`SegmentDir`]): lists, reads (maps) and deletes segment files
//!   and moves them to the quarantine; the compactor and retention use it too.
//! - recovery, at [`Wal::open`]: repairs the directory (cuts a torn tail, quarantines what does
//!   not decode) and replays it, the sealed segments scanned ahead on a second thread
//!   (`prescan`); [`inspect`] reports the same read-only ([`WalReport`]).
//! - the writer thread, behind [`Wal`]: the only code that appends.
//!
//! Invariants:
//! - Layout: `wal/<first LSN, 20 digits>.wal`; the newest segment is the active one, every
//!   older one is sealed (ends with a seal record counting its events) and never changes size
//!   again, so it may be memory-mapped; `wal/quarantine/` keeps bytes recovery could not
//!   decode and segments the compactor would not delete.
//! - Ownership: while a [`Wal`] is open, its writer thread is the only writer of `wal/` (the
//!   data directory's `LOCK` keeps other processes out). Sealed segments are read-only; the
//!   compactor (the holder of the compactor lock) alone deletes them, once their events are
//!   stored in Parquet or expired.
//! - LSNs are assigned in order, with no LSN used twice, and above the `lsn_floor` the catalog
//!   holds; no record carries LSN `u64::MAX`.
//! - Durability: an append in `sync` mode returns only after an fdatasync covering its record;
//!   `batch` returns after the write (fdatasync every `batch_interval`); `async` returns at
//!   once. After a failed write or fsync the writer is poisoned until the WAL is reopened.
//! - Decoding never panics and never fails on bad bytes: damage is reported with its segment,
//!   offset and [`Corruption`], and the records on both sides of it are kept.

mod error;
pub mod format;
mod log;
mod options;
mod prescan;
mod recovery;
mod report;
mod scan;
mod segment;
mod segments;
mod writer;

pub use error::WalError;
pub(crate) use error::io_err;
pub use format::{Corruption, MAX_PAYLOAD_LEN, event_payload, write_event_payload};
pub use log::{PendingAppend, Wal, WalStats};
pub use options::{Durability, WalOptions};
pub use prescan::ReadAhead;
pub use recovery::Replay;
pub use report::{SegmentReport, WalReport, inspect};
pub use scan::{Damage, EventRecord, SegmentScan, Unverified, scan_segment};
pub use segments::{MappedSegment, QuarantinedFile, SegmentBytes, SegmentDir, SegmentFile};
pub use writer::{AppendListener, Appended, LsnRange, SealListener, WalHooks};
