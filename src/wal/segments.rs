//! The segment directory `wal/`: which segment files it holds, reading them, and the two ways
//! a sealed segment leaves it: deleted (compacted, or expired by retention) or moved whole to
//! `wal/quarantine/` (kept for a person to look at).
//!
//! The newest segment is the writer's (active, or the one recovery makes active again); every
//! older one is sealed and never changes size again, which is what makes mapping it safe.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{WalError, io_err};
use super::format::parse_segment_file_name;
use crate::fsio::{FileSystem, Fs, create_dir_durable, remove_file_durable};

/// Name of the folder, inside `wal/`, that keeps bytes recovery could not decode and
/// segments the compactor would not delete.
pub const QUARANTINE_DIR: &str = "quarantine";

/// A WAL directory, read and changed through a [`FileSystem`] (tests inject faults there).
#[derive(Debug, Clone)]
pub struct SegmentDir {
    fs: Fs,
    dir: PathBuf,
}

/// One segment file: the first LSN its name carries, and its path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SegmentFile {
    pub first_lsn: u64,
    pub path: PathBuf,
}

/// A sealed segment, memory-mapped. Cloning shares the mapping, so whoever keeps references
/// into its bytes (the query tail after recovery) keeps it alive; it stays valid after the
/// compactor deletes the file.
#[derive(Debug, Clone)]
pub struct MappedSegment(Arc<memmap2::Mmap>);

impl MappedSegment {
    /// Drops this process's mapped pages of `range` (bytes of the segment): they leave its
    /// resident set, and a later read faults them in again from the page cache (or the disk).
    /// A hint: failures are ignored.
    pub fn release(&self, range: std::ops::Range<usize>) {
        let len = range.end.min(self.0.len()).saturating_sub(range.start);
        if len == 0 {
            return;
        }
        // SAFETY: the mapping is a shared, read-only mapping of a sealed segment, which is never
        // written, cut or extended again (see `SegmentDir::map`). MADV_DONTNEED on it only drops
        // page table entries; the next read of those bytes faults in the same file contents,
        // so every slice into the mapping keeps reading what it read before.
        #[allow(unsafe_code)]
        let _ = unsafe { self.0.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, range.start, len) };
    }
}

impl std::ops::Deref for MappedSegment {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// A segment's bytes as [`SegmentDir::read`] got them: sealed segments are mapped; the newest
/// may be cut while it is read, so it is read into memory instead.
#[derive(Debug)]
pub enum SegmentBytes {
    Mapped(MappedSegment),
    Read(Vec<u8>),
    /// The newest segment mapped for recovery's scan alone: not handed out as a mapping.
    Scanned(memmap2::Mmap),
}

impl SegmentBytes {
    /// The mapping, for a sealed segment.
    pub fn mapping(&self) -> Option<&MappedSegment> {
        match self {
            SegmentBytes::Mapped(m) => Some(m),
            SegmentBytes::Read(_) | SegmentBytes::Scanned(_) => None,
        }
    }
}

impl std::ops::Deref for SegmentBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            SegmentBytes::Mapped(m) => m,
            SegmentBytes::Read(v) => v,
            SegmentBytes::Scanned(m) => m,
        }
    }
}

/// A file kept in `wal/quarantine/`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuarantinedFile {
    pub file: String,
    pub bytes: u64,
    /// A whole segment (moved there), not a copy of some damaged bytes.
    pub segment: bool,
}

impl SegmentDir {
    pub fn new(fs: Fs, dir: impl Into<PathBuf>) -> SegmentDir {
        SegmentDir { fs, dir: dir.into() }
    }

    /// The WAL directory `dir`, on the real file system.
    pub fn real(dir: impl Into<PathBuf>) -> SegmentDir {
        SegmentDir::new(crate::fsio::real(), dir)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub(super) fn fs(&self) -> &dyn FileSystem {
        self.fs.as_ref()
    }

    /// The segment files, sorted by first LSN (none when the directory does not exist).
    pub fn list(&self) -> Result<Vec<SegmentFile>, WalError> {
        let entries = match self.fs.read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list WAL directory", &self.dir)(e)),
        };
        let mut out: Vec<SegmentFile> = entries
            .into_iter()
            .filter_map(|path| parse_segment_file_name(&path).map(|first_lsn| SegmentFile { first_lsn, path }))
            .collect();
        out.sort();
        Ok(out)
    }

    /// The sealed segment files: all but the newest, sorted by first LSN.
    pub fn list_sealed(&self) -> Result<Vec<SegmentFile>, WalError> {
        let mut segments = self.list()?;
        segments.pop();
        Ok(segments)
    }

    /// Maps a sealed segment.
    pub fn map(&self, path: &Path) -> Result<MappedSegment, WalError> {
        let file = self.fs.open_read(path).map_err(io_err("open segment", path))?;
        // SAFETY: sealed segments are never written, cut or extended again (the writer only
        // appends to the newest segment); they are only deleted, which leaves a mapping valid.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err("map segment", path))?;
        Ok(MappedSegment(Arc::new(map)))
    }

    /// Asks the kernel to start reading a sealed segment into the page cache, so that its
    /// reader (the compactor, next) finds it there; a hint, failures are ignored.
    pub fn prefetch(&self, path: &Path) {
        use std::os::fd::AsRawFd;
        if let Ok(file) = self.fs.open_read(path) {
            // SAFETY: posix_fadvise only reads the descriptor and the integers; the descriptor
            // is valid for the duration of the call because `file` is borrowed.
            #[allow(unsafe_code)]
            let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED) };
        }
    }

    /// Reads a segment: mapped when `sealed`, else (the newest) copied into memory.
    pub fn read(&self, path: &Path, sealed: bool) -> Result<SegmentBytes, WalError> {
        if sealed {
            return self.map(path).map(SegmentBytes::Mapped);
        }
        let file = self.fs.open_read(path).map_err(io_err("open segment", path))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(io_err("read segment", path))?;
        Ok(SegmentBytes::Read(bytes))
    }

    /// The newest segment for recovery's scan: mapped, where [`SegmentDir::read`] copies it.
    /// The file is preallocated, mostly zeros, and a copy would fault in and clear that much
    /// fresh memory at every open (BENCHMARKS.md, "Recovery"). Read when it cannot be mapped
    /// (an empty file).
    pub fn map_newest_in_recovery(&self, path: &Path) -> Result<SegmentBytes, WalError> {
        let file = self.fs.open_read(path).map_err(io_err("open segment", path))?;
        // SAFETY: only recovery (and the recovery benchmark's baseline, after it) calls this,
        // while the data directory's lock keeps every other writer out; nothing appends to,
        // cuts or extends the segment until recovery has dropped the mapping (it is reopened
        // for appends after the scan), and the records replayed from it are copied, never
        // kept as references into the mapping.
        #[allow(unsafe_code)]
        let mapped = unsafe { memmap2::Mmap::map(&file) };
        match mapped {
            Ok(map) if !map.is_empty() => Ok(SegmentBytes::Scanned(map)),
            _ => self.read(path, false),
        }
    }

    /// Deletes a sealed segment durably (its directory entry is fsynced); one already gone is
    /// not an error. Only the compactor does this, once the segment's events are stored or
    /// expired.
    pub fn delete(&self, path: &Path) -> Result<(), WalError> {
        remove_file_durable(self.fs.as_ref(), path).map_err(io_err("delete sealed WAL segment", path))
    }

    /// Deletes sealed segments ([`SegmentDir::delete`]) with one fsync of the directory.
    pub fn delete_all(&self, paths: &[PathBuf]) -> Result<(), WalError> {
        for path in paths {
            match self.fs.remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_err("delete sealed WAL segment", path)(e));
                }
                _ => {}
            }
        }
        if paths.is_empty() {
            return Ok(());
        }
        self.fs.sync_dir(&self.dir).map_err(io_err("fsync WAL directory", &self.dir))
    }

    /// Moves a whole segment to `quarantine/<segment>.<suffix>` (durably: both directories are
    /// fsynced); returns where it went.
    pub fn quarantine(&self, path: &Path, suffix: &str) -> Result<String, WalError> {
        let dir = self.quarantine_dir()?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let target = dir.join(format!("{name}.{suffix}"));
        self.fs.rename(path, &target).map_err(io_err("move segment to quarantine", path))?;
        self.fs.sync_dir(&dir).map_err(io_err("fsync quarantine directory", &dir))?;
        self.fs.sync_dir(&self.dir).map_err(io_err("fsync WAL directory", &self.dir))?;
        Ok(target.display().to_string())
    }

    /// `wal/quarantine/`, created (durably) if it is missing.
    pub(super) fn quarantine_dir(&self) -> Result<PathBuf, WalError> {
        let dir = self.dir.join(QUARANTINE_DIR);
        create_dir_durable(self.fs.as_ref(), &dir).map_err(io_err("create quarantine directory", &dir))?;
        Ok(dir)
    }

    /// The files in `wal/quarantine/`, sorted by name (none when it does not exist).
    pub fn quarantined_files(&self) -> Vec<QuarantinedFile> {
        let Ok(entries) = std::fs::read_dir(self.dir.join(QUARANTINE_DIR)) else { return Vec::new() };
        let mut files: Vec<QuarantinedFile> = entries
            .flatten()
            .map(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                let bytes = e.metadata().map(|m| m.len()).unwrap_or(0);
                QuarantinedFile { segment: file.contains(".wal."), file, bytes }
            })
            .collect();
        files.sort_by(|a, b| a.file.cmp(&b.file));
        files
    }

    /// Removes the `*.tmp` files a crash left while creating a segment.
    pub(super) fn remove_unfinished(&self) -> Result<(), WalError> {
        let entries = self.fs.read_dir(&self.dir).map_err(io_err("list WAL directory", &self.dir))?;
        let mut removed = false;
        for path in entries.into_iter().filter(|p| p.extension().is_some_and(|e| e == "tmp")) {
            self.fs.remove_file(&path).map_err(io_err("remove unfinished segment", &path))?;
            removed = true;
        }
        if removed {
            self.fs.sync_dir(&self.dir).map_err(io_err("fsync WAL directory", &self.dir))?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wal::format::segment_file_name;

    #[test]
    fn lists_only_segment_files_in_lsn_order_and_the_sealed_ones_without_the_newest() {
        let tmp = tempfile::tempdir().unwrap();
        for name in
            [segment_file_name(10), segment_file_name(2), "x.wal".into(), format!("{}.tmp", segment_file_name(20))]
        {
            std::fs::write(tmp.path().join(name), b"").unwrap();
        }
        let dir = SegmentDir::real(tmp.path());
        let lsns = |v: Vec<SegmentFile>| v.into_iter().map(|s| s.first_lsn).collect::<Vec<_>>();
        assert_eq!(lsns(dir.list().unwrap()), vec![2, 10]);
        assert_eq!(lsns(dir.list_sealed().unwrap()), vec![2]);
        assert!(SegmentDir::real(tmp.path().join("missing")).list().unwrap().is_empty());
    }

    #[test]
    fn a_mapping_outlives_the_deleted_file_and_a_quarantined_segment_is_listed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SegmentDir::real(tmp.path());
        let (a, b) = (tmp.path().join(segment_file_name(1)), tmp.path().join(segment_file_name(5)));
        std::fs::write(&a, b"sealed bytes").unwrap();
        std::fs::write(&b, b"other").unwrap();
        let map = dir.map(&a).unwrap();
        dir.delete(&a).unwrap();
        dir.delete(&a).unwrap();
        assert!(!a.exists());
        assert_eq!(&*map, b"sealed bytes");
        assert!(dir.read(&b, false).unwrap().mapping().is_none());
        // Recovery maps the newest segment for its scan only: the bytes, and no mapping to keep.
        let newest = dir.map_newest_in_recovery(&b).unwrap();
        assert!(matches!(newest, SegmentBytes::Scanned(_)) && newest.mapping().is_none());
        assert_eq!(&*newest, b"other");
        drop(newest);
        let empty = tmp.path().join(segment_file_name(9));
        std::fs::write(&empty, b"").unwrap();
        let read = dir.map_newest_in_recovery(&empty).unwrap();
        assert!(matches!(read, SegmentBytes::Read(ref v) if v.is_empty()), "an empty file is read, not mapped");
        std::fs::remove_file(&empty).unwrap();
        let moved = dir.quarantine(&b, "quarantined").unwrap();
        assert!(moved.ends_with("00000000000000000005.wal.quarantined"), "{moved}");
        let files = dir.quarantined_files();
        assert_eq!((files.len(), files[0].segment, files[0].bytes), (1, true, 5));
    }
}
