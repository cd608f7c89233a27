//! The data directory and its `LOCK`.
//!
//! ```text
//! <data dir>/LOCK                 advisory lock: one recorder process owns the directory
//! <data dir>/wal/                 WAL segments (see crate::wal)
//! <data dir>/events/date=.../     Parquet files (compactor)
//! <data dir>/catalog.duckdb       catalog (compactor, retention)
//! ```
//!
//! <data dir>/compactor.lock      advisory lock: one compactor owns events/ and the catalog
//!
//! Two roles, two locks. The writer (`LOCK`) alone appends to `wal/` and creates segments.
//! The compactor (`compactor.lock`) alone writes `events/` and `catalog.duckdb` and deletes
//! sealed WAL segments (after compacting them, or by retention). `serve` holds both;
//! `ingest` holds the writer lock; `compact` and `retention` hold the compactor lock (and
//! `compact` briefly the writer lock, when free, to seal the newest segment), so a
//! `compact --watch` process can run beside a recorder without either fighting the other.
//! Read-only tools (`verify`, `stats`, analysts reading Parquet) take no lock.
//! The lock is an OS advisory lock on the open `LOCK` file, so it is released when the
//! process dies, even by `kill -9`; the file itself stays and holds the last owner's pid.

use crate::error::Code;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::fsio::{Fs, RealFs, create_dir_durable};
use crate::wal::{SegmentDir, WalError, io_err};

/// Default data directory of every verb.
pub const DEFAULT_DATA_DIR: &str = "./flightrec-data";

/// Paths inside a data directory, usable without the lock.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    /// The file system the compactor and retention change files through.
    pub fs: Fs,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into(), fs: crate::fsio::real() }
    }
    /// The same layout, changing files through `fs` (tests inject faults this way).
    pub fn with_fs(self, fs: Fs) -> Layout {
        Layout { fs, ..self }
    }
    pub fn wal_dir(&self) -> PathBuf {
        self.root.join("wal")
    }
    pub fn events_dir(&self) -> PathBuf {
        self.root.join("events")
    }
    pub fn catalog_path(&self) -> PathBuf {
        self.root.join("catalog.duckdb")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("LOCK")
    }
    /// The WAL's segment files, changed through this layout's file system.
    pub fn segments(&self) -> SegmentDir {
        SegmentDir::new(self.fs.clone(), self.wal_dir())
    }
}

/// Why a data directory could not be opened: it is locked by another process, or creating it
/// or its lock file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataDirError {
    #[error(
        "{}: data directory {dir} is in use: its {role} lock is held by another \
         flightrec process{holder}; stop that process or choose another --data-dir",
        Code::Locked
    )]
    Locked { dir: PathBuf, role: &'static str, holder: String },

    /// An I/O failure (`HSK-500-IO`, or `HSK-507-DISK-FULL` when the device is full).
    #[error(transparent)]
    Io(#[from] WalError),
}

impl DataDirError {
    /// The stable code of this error, e.g. `HSK-409-LOCKED`.
    pub fn code(&self) -> Code {
        match self {
            DataDirError::Locked { .. } => Code::Locked,
            DataDirError::Io(e) => e.code(),
        }
    }
}

/// A data directory whose writer lock (`LOCK`) this process holds for as long as the value
/// lives: it alone appends to `wal/`.
#[derive(Debug)]
pub struct DataDir {
    layout: Layout,
    _lock: DirLock,
}

impl DataDir {
    /// Creates the directory if needed and takes its writer lock; fails with
    /// `HSK-409-LOCKED` when another process holds it.
    pub fn open(root: &Path) -> Result<DataDir, DataDirError> {
        let lock = DirLock::acquire(root, "LOCK", "writer")?;
        Ok(DataDir { layout: Layout::new(root), _lock: lock })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn root(&self) -> &Path {
        &self.layout.root
    }
}

/// An advisory lock on a file of the data directory, released when the value is dropped or
/// the process dies. The file holds the owner's pid, for the error message of the next one.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Name of the compactor's lock file: its holder owns `events/`, `catalog.duckdb` and the
/// deletion of sealed WAL segments.
pub const COMPACTOR_LOCK: &str = "compactor.lock";

impl DirLock {
    /// Takes the compactor lock of a data directory (creating the directory if needed).
    pub fn compactor(root: &Path) -> Result<DirLock, DataDirError> {
        DirLock::acquire(root, COMPACTOR_LOCK, "compactor")
    }

    fn acquire(root: &Path, name: &str, role: &'static str) -> Result<DirLock, DataDirError> {
        create_dir_durable(&RealFs, root).map_err(io_err("create data directory", root))?;
        let lock_path = root.join(name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err("open lock file", &lock_path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
                return Err(DataDirError::Locked { dir: root.to_path_buf(), role, holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err("lock data directory", &lock_path)(e).into()),
        }
        file.set_len(0).map_err(io_err("write lock file", &lock_path))?;
        file.rewind().map_err(io_err("write lock file", &lock_path))?;
        write!(file, "{}", std::process::id()).map_err(io_err("write lock file", &lock_path))?;
        Ok(DirLock { _file: file })
    }
}
