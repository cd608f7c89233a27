//! The I/O seam: every file the WAL, the compactor and retention create, write, fsync,
//! rename or delete goes through one [`FileSystem`], so tests can inject faults
//! ([`FaultyFs`]: fail the Nth write, fsync, rename, directory fsync or delete; short writes;
//! `ENOSPC`) and check that no acknowledged event is lost, or lose power ([`SimFs`]: only
//! what was fsynced, and directory entries whose directory was fsynced, survive its crash).
//!
//! [`RealFs`] is the one used in production. Parquet bytes pass through here too (arrow-rs's
//! writer writes into a [`FileWriter`]); catalog bytes (written by DuckDB, which fsyncs its
//! own WAL at every commit) do not.
//!
//! The helpers below ([`write_all_at`], [`remove_file_durable`], [`write_file_durable`]) are
//! the only places that combine primitive calls into durable steps.

mod faulty;
mod sim;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use faulty::{Fault, FaultyFs, Op};
pub use sim::{CrashImage, SECTOR, SimFs, below as sim_below};

/// The file operations of the storage engine. Implementations must be cheap to call from
/// the WAL writer thread and the compactor at once.
pub trait FileSystem: Send + Sync + std::fmt::Debug {
    /// Opens an existing file for reading.
    fn open_read(&self, path: &Path) -> std::io::Result<File>;
    /// Opens an existing file for reading and writing.
    fn open_write(&self, path: &Path) -> std::io::Result<File>;
    /// Creates (or truncates) a file for reading and writing.
    fn create(&self, path: &Path) -> std::io::Result<File>;
    /// Writes some of `buf` at `offset`; may write less than all of it (a short write).
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> std::io::Result<usize>;
    /// fdatasync.
    fn sync_data(&self, file: &File) -> std::io::Result<()>;
    /// fsync.
    fn sync_all(&self, file: &File) -> std::io::Result<()>;
    fn set_len(&self, file: &File, len: u64) -> std::io::Result<()>;
    /// Reserves `len` bytes so later writes inside them change no size metadata.
    fn preallocate(&self, file: &File, len: u64) -> std::io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()>;
    fn remove_file(&self, path: &Path) -> std::io::Result<()>;
    /// fsyncs a directory, so entries created, renamed or deleted in it survive power loss.
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()>;
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()>;
    /// The entries of a directory (unsorted).
    fn read_dir(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>>;
    /// Advice only: the kernel may drop these bytes from its page cache (they are durable and
    /// will not be read again soon). Never loses data, so fault injection leaves it alone.
    fn drop_cache(&self, file: &File, offset: u64, len: u64) {
        advise_dont_need(file, offset, len);
    }
}

/// A shared file system handle.
pub type Fs = Arc<dyn FileSystem>;

/// The real file system.
pub fn real() -> Fs {
    Arc::new(RealFs)
}

/// The operating system's file system, without any indirection.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl FileSystem for RealFs {
    fn open_read(&self, path: &Path) -> std::io::Result<File> {
        File::open(path)
    }
    fn open_write(&self, path: &Path) -> std::io::Result<File> {
        OpenOptions::new().read(true).write(true).open(path)
    }
    fn create(&self, path: &Path) -> std::io::Result<File> {
        OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)
    }
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> std::io::Result<usize> {
        file.write_at(buf, offset)
    }
    fn sync_data(&self, file: &File) -> std::io::Result<()> {
        file.sync_data()
    }
    fn sync_all(&self, file: &File) -> std::io::Result<()> {
        file.sync_all()
    }
    fn set_len(&self, file: &File, len: u64) -> std::io::Result<()> {
        file.set_len(len)
    }
    fn preallocate(&self, file: &File, len: u64) -> std::io::Result<()> {
        posix_fallocate(file, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn read_dir(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect()
    }
}

/// posix_fallocate, falling back to nothing where the filesystem cannot preallocate.
fn posix_fallocate(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let Ok(len) = libc::off_t::try_from(len) else {
        return Ok(());
    };
    // SAFETY: posix_fallocate only reads the descriptor and the two integers; the descriptor
    // is valid for the duration of the call because `file` is borrowed.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    match rc {
        0 => Ok(()),
        libc::EOPNOTSUPP | libc::EINVAL => Ok(()),
        err => Err(std::io::Error::from_raw_os_error(err)),
    }
}

/// posix_fadvise(DONTNEED); a failure is harmless (the pages just stay cached) and ignored.
fn advise_dont_need(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return;
    };
    // SAFETY: posix_fadvise only reads the descriptor and the integers; the descriptor is
    // valid for the duration of the call because `file` is borrowed.
    #[allow(unsafe_code)]
    let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_DONTNEED) };
}

/// Writes all of `buf` at `offset`, continuing after short writes.
pub fn write_all_at(fs: &dyn FileSystem, file: &File, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match fs.write_at(file, buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = buf.get(n..).unwrap_or_default();
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A [`std::io::Write`] that writes a file from its start through the seam, for writers that
/// want a stream (the Parquet writer), so their bytes are simulated and faulted like the WAL's.
pub struct FileWriter<'a> {
    fs: &'a dyn FileSystem,
    file: File,
    offset: u64,
}

impl<'a> FileWriter<'a> {
    pub fn new(fs: &'a dyn FileSystem, file: File) -> FileWriter<'a> {
        FileWriter { fs, file, offset: 0 }
    }

    /// The file, for the fsync after the last write.
    pub fn into_file(self) -> File {
        self.file
    }
}

impl std::io::Write for FileWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.fs.write_at(&self.file, buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Removes a file and fsyncs its directory; a file that is already gone is not an error.
pub fn remove_file_durable(fs: &dyn FileSystem, path: &Path) -> std::io::Result<()> {
    match fs.remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    sync_parent(fs, path)
}

/// Creates `path` holding `bytes`, fsyncs it and its directory.
pub fn write_file_durable(fs: &dyn FileSystem, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file = fs.create(path)?;
    write_all_at(fs, &file, bytes, 0)?;
    fs.sync_all(&file)?;
    sync_parent(fs, path)
}

/// Creates `dir` and its missing parents, fsyncing the parent of each directory created, so
/// the new entries survive power loss (a file fsynced into a directory whose own entry was
/// lost is lost with it).
pub fn create_dir_durable(fs: &dyn FileSystem, dir: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut next = Some(dir);
    while let Some(d) = next.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(d);
        next = d.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    fs.create_dir_all(dir)?;
    missing.iter().rev().try_for_each(|d| sync_parent(fs, d))
}

/// fsyncs the directory holding `path`, making its entry (created, renamed, removed) durable.
pub fn sync_parent(fs: &dyn FileSystem, path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if dir.as_os_str().is_empty() => fs.sync_dir(Path::new(".")),
        Some(dir) => fs.sync_dir(dir),
        None => Ok(()),
    }
}

/// True when an I/O error means the disk (or quota) is full.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) || e.kind() == std::io::ErrorKind::StorageFull
}
