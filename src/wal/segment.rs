//! The active segment: the one file the writer appends to. The writer thread owns it
//! exclusively; nothing else writes WAL files while the WAL is open.
//!
//! Invariants: a segment file appears under its final name only with a complete, fsynced
//! header (written as `*.wal.tmp`, fsynced, renamed, directory fsynced). Bytes past
//! `write_offset` are zero fill. Sealing appends the seal record, cuts the file to its data,
//! and fsyncs it before the next segment is created, so every segment but the newest is sealed.
//!
//! Zero-ahead: the file is preallocated (`posix_fallocate`), which on ext4 and XFS leaves
//! *unwritten* extents; an fdatasync after writing into one must also commit the extent's
//! conversion to the journal. So the writes run ahead of the data with real zeros, up to the
//! next [`ZERO_AHEAD`] boundary, in the same write call: one group in each 256 KiB pays the
//! conversion and the groups after it overwrite written blocks, whose fdatasync is a plain
//! data flush (the figures are in BENCHMARKS.md).
//!
//! Cache drop: after each fdatasync the whole [`DROP_CACHE_CHUNK`]s behind the data are
//! dropped from the page cache. WAL bytes are read once more at most (by the compactor, or by
//! recovery after a crash), so caching them only pushes out pages worth keeping, and the
//! kernel reuses the freed pages for the next writes, which is cheaper than writing into
//! pages never used before (BENCHMARKS.md has the figures).

use std::fs::File;
use std::path::{Path, PathBuf};

use super::error::{WalError, io_err};
use super::format::{HEADER_LEN, SegmentHeader, encode_record, seal_payload, segment_path};
use super::scan::SegmentScan;
use crate::fsio::{Fs, write_all_at};

/// Writes run ahead of the data with zeros up to the next multiple of this many bytes.
pub const ZERO_AHEAD: u64 = 256 * 1024;

/// After an fdatasync, whole chunks of this many bytes behind the data leave the page cache.
pub const DROP_CACHE_CHUNK: u64 = 1024 * 1024;

/// The segment being appended to.
#[derive(Debug)]
pub struct ActiveSegment {
    /// The LSN its file is named by (its first record's).
    pub first_lsn: u64,
    fs: Fs,
    file: File,
    path: PathBuf,
    pub write_offset: u64,
    /// Bytes before this offset have been written (data or zeros); the rest may be unwritten.
    written_to: u64,
    /// The preallocated length: zero-ahead never grows the file past it.
    prealloc: u64,
    pub created_micros: i64,
    pub event_records: u64,
    /// Bytes before this offset have been dropped from the page cache.
    uncached_to: u64,
}

impl ActiveSegment {
    /// Creates a new, empty segment whose first record will carry `first_lsn`.
    pub fn create(fs: &Fs, wal_dir: &Path, first_lsn: u64, prealloc: u64) -> Result<ActiveSegment, WalError> {
        let path = segment_path(wal_dir, first_lsn);
        let tmp = path.with_extension("wal.tmp");
        let created_micros = chrono::Utc::now().timestamp_micros();
        let header = SegmentHeader { first_lsn, created_micros }.encode();
        let file = fs.create(&tmp).map_err(io_err("create segment", &tmp))?;
        let made = write_all_at(fs.as_ref(), &file, &header, 0)
            .map_err(io_err("write segment header", &tmp))
            .and_then(|()| {
                let len = prealloc.max(HEADER_LEN as u64);
                fs.preallocate(&file, len).map_err(io_err("preallocate segment", &tmp))
            })
            .and_then(|()| fs.sync_all(&file).map_err(io_err("fsync new segment", &tmp)))
            .and_then(|()| fs.rename(&tmp, &path).map_err(io_err("rename new segment", &path)));
        if made.is_err() {
            // Gives back what a failed preallocation took (the writer retries on a full disk).
            let _ = fs.remove_file(&tmp);
        }
        made?;
        fs.sync_dir(wal_dir).map_err(io_err("fsync WAL directory", wal_dir))?;
        Ok(ActiveSegment {
            first_lsn,
            fs: fs.clone(),
            file,
            path,
            write_offset: HEADER_LEN as u64,
            written_to: HEADER_LEN as u64,
            prealloc,
            created_micros,
            event_records: 0,
            uncached_to: 0,
        })
    }

    /// Reopens the newest segment after recovery: cuts everything after `end_offset` (a torn
    /// tail), restores the zero-filled preallocation and fsyncs.
    pub fn reopen(fs: &Fs, path: &Path, scan: &SegmentScan, prealloc: u64) -> Result<ActiveSegment, WalError> {
        let SegmentScan { first_lsn, created_micros, end_offset, event_records, .. } = *scan;
        let file = fs.open_write(path).map_err(io_err("open segment", path))?;
        let len = file.metadata().map_err(io_err("stat segment", path))?.len();
        if len != end_offset {
            fs.set_len(&file, end_offset).map_err(io_err("truncate torn tail", path))?;
        }
        fs.preallocate(&file, prealloc.max(end_offset)).map_err(io_err("preallocate segment", path))?;
        fs.sync_all(&file).map_err(io_err("fsync segment", path))?;
        Ok(ActiveSegment {
            first_lsn,
            fs: fs.clone(),
            file,
            path: path.to_path_buf(),
            write_offset: end_offset,
            written_to: end_offset,
            prealloc,
            created_micros,
            event_records,
            uncached_to: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes already framed records at the end of the data (with zeros after them when the
    /// data reaches past what was written before, see the module doc).
    pub fn write(&mut self, framed: &[u8]) -> Result<(), WalError> {
        let end = self.write_offset + framed.len() as u64;
        let ahead = zero_ahead_end(end, self.prealloc);
        if end > self.written_to && ahead > end {
            let padded_len = usize::try_from(ahead - self.write_offset).unwrap_or(framed.len());
            let mut padded = Vec::with_capacity(padded_len);
            padded.extend_from_slice(framed);
            padded.resize(padded_len, 0);
            self.write_at_end(&padded)?;
            self.written_to = ahead;
        } else {
            self.write_at_end(framed)?;
            self.written_to = self.written_to.max(end);
        }
        self.write_offset = end;
        Ok(())
    }

    fn write_at_end(&self, bytes: &[u8]) -> Result<(), WalError> {
        write_all_at(self.fs.as_ref(), &self.file, bytes, self.write_offset)
            .map_err(io_err("write WAL records", &self.path))
    }

    /// fdatasync: makes every record written so far durable, then drops the whole chunks
    /// behind the data from the page cache.
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.fs.sync_data(&self.file).map_err(io_err("fdatasync WAL segment", &self.path))?;
        let durable_chunks_end = self.write_offset / DROP_CACHE_CHUNK * DROP_CACHE_CHUNK;
        if durable_chunks_end > self.uncached_to {
            self.fs.drop_cache(&self.file, self.uncached_to, durable_chunks_end - self.uncached_to);
            self.uncached_to = durable_chunks_end;
        }
        Ok(())
    }

    /// Closes the segment durably: seal record, file cut to its data, fsync.
    /// `next_lsn` is the first LSN of the segment that follows.
    pub fn seal(mut self, next_lsn: u64) -> Result<PathBuf, WalError> {
        let mut buf = Vec::with_capacity(32);
        encode_record(&mut buf, next_lsn, &seal_payload(self.event_records));
        self.write_at_end(&buf)?;
        self.write_offset += buf.len() as u64;
        self.fs.set_len(&self.file, self.write_offset).map_err(io_err("cut sealed segment", &self.path))?;
        self.fs.sync_all(&self.file).map_err(io_err("fsync sealed segment", &self.path))?;
        Ok(self.path)
    }

    /// Microseconds since the segment was created.
    pub fn age_micros(&self) -> i64 {
        chrono::Utc::now().timestamp_micros().saturating_sub(self.created_micros)
    }
}

/// Where zero-ahead writing stops for data ending at `end`: the next [`ZERO_AHEAD`] boundary,
/// but never past the preallocated length.
fn zero_ahead_end(end: u64, prealloc: u64) -> u64 {
    ((end / ZERO_AHEAD + 1) * ZERO_AHEAD).min(prealloc)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn segment(dir: &Path, prealloc: u64) -> ActiveSegment {
        ActiveSegment::create(&crate::fsio::real(), dir, 1, prealloc).unwrap()
    }

    #[test]
    fn writes_run_ahead_with_zeros_to_the_next_boundary_and_no_further() {
        let tmp = tempfile::tempdir().unwrap();
        let mut seg = segment(tmp.path(), 4 * ZERO_AHEAD);
        seg.write(&[7u8; 100]).unwrap();
        assert_eq!(seg.write_offset, HEADER_LEN as u64 + 100);
        assert_eq!(seg.written_to, ZERO_AHEAD, "the first write zero-fills to the boundary");
        seg.write(&vec![8u8; usize::try_from(ZERO_AHEAD).unwrap()]).unwrap();
        assert_eq!(seg.written_to, 2 * ZERO_AHEAD, "crossing a boundary zero-fills to the next one");
        seg.write(&vec![9u8; usize::try_from(3 * ZERO_AHEAD).unwrap()]).unwrap();
        assert_eq!(seg.written_to, seg.write_offset, "never past the preallocation");
        let bytes = std::fs::read(seg.path()).unwrap();
        assert_eq!(bytes.len() as u64, seg.write_offset, "the file did not grow past the data");
        let data = &bytes[HEADER_LEN..];
        assert!(data[..100].iter().all(|b| *b == 7) && data[100] == 8, "data is where it was written");
    }

    #[test]
    fn sealing_cuts_the_zeros_after_the_data() {
        let tmp = tempfile::tempdir().unwrap();
        let mut seg = segment(tmp.path(), 4 * ZERO_AHEAD);
        seg.write(&[7u8; 100]).unwrap();
        let end = seg.write_offset;
        let path = seg.seal(2).unwrap();
        let len = std::fs::metadata(path).unwrap().len();
        assert!(len > end && len < end + 64, "the file ends after the seal record: {len}");
    }

    /// Which of the file's pages are in the page cache (mincore over a read-only mapping).
    fn resident_pages(path: &Path) -> Vec<bool> {
        let file = std::fs::File::open(path).unwrap();
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let mut vec = vec![0u8; map.len().div_ceil(4096)];
        #[allow(unsafe_code)]
        let rc = unsafe { libc::mincore(map.as_ptr() as *mut libc::c_void, map.len(), vec.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
        vec.iter().map(|v| v & 1 == 1).collect()
    }

    #[test]
    fn an_fdatasync_drops_the_whole_chunks_behind_the_data_from_the_page_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let mut seg = segment(tmp.path(), 4 * DROP_CACHE_CHUNK);
        let chunk = usize::try_from(DROP_CACHE_CHUNK).unwrap();
        seg.write(&vec![7u8; 2 * chunk + 1000]).unwrap();
        let pages = |s: &ActiveSegment| resident_pages(s.path());
        let chunk_pages = chunk / 4096;
        if !pages(&seg)[..chunk_pages].iter().any(|r| *r) {
            eprintln!("skipped: written pages are not in the page cache on this file system");
            return;
        }
        seg.sync().unwrap();
        let after = pages(&seg);
        assert!(!after[..2 * chunk_pages].iter().any(|r| *r), "the two durable chunks left the cache");
        assert!(after[2 * chunk_pages], "the partly written chunk stays cached");
        seg.write(&vec![8u8; chunk]).unwrap();
        seg.sync().unwrap();
        let after = pages(&seg);
        assert!(!after[..3 * chunk_pages].iter().any(|r| *r), "the next sync drops the third chunk");
        let bytes = std::fs::read(seg.path()).unwrap();
        assert!(bytes[HEADER_LEN..HEADER_LEN + 2 * chunk + 1000].iter().all(|b| *b == 7), "the data is intact");
    }
}
