//! A [`FileSystem`] that injects faults, for tests: it forwards every call to [`RealFs`]
//! and fails the calls it was told to (the Nth call of a kind after arming), with an errno
//! or as a short write. It counts every call of every kind and every fault injected.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{FileSystem, RealFs};

/// The kinds of call a fault can be armed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Open,
    Create,
    Write,
    /// fdatasync or fsync of a file.
    Fsync,
    SetLen,
    Preallocate,
    Rename,
    Remove,
    DirFsync,
    CreateDir,
    ReadDir,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Open,
        Op::Create,
        Op::Write,
        Op::Fsync,
        Op::SetLen,
        Op::Preallocate,
        Op::Rename,
        Op::Remove,
        Op::DirFsync,
        Op::CreateDir,
        Op::ReadDir,
    ];

    /// Its slot in [`FaultyFs`]'s counters (the declaration order, as in [`Op::ALL`]).
    fn index(self) -> usize {
        self as usize
    }
}

/// What an armed call does instead of its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fails with this errno (e.g. `libc::EIO`, `libc::ENOSPC`) and does nothing.
    Errno(i32),
    /// A write writes only the first half of its buffer (at least one byte) and reports it.
    /// On any other kind of call it behaves like `Errno(EIO)`.
    ShortWrite,
    /// Waits `millis` (a slow disk), then fails with `errno`: lets a test act while the call
    /// is in flight.
    ErrnoAfter { millis: u64, errno: i32 },
}

#[derive(Debug)]
struct Armed {
    op: Op,
    /// Fires when the op's count reaches this value (once).
    at: u64,
    fault: Fault,
}

/// The fault-injecting file system. Share it as `Arc<FaultyFs>` (it is a [`FileSystem`]).
#[derive(Debug, Default)]
pub struct FaultyFs {
    counts: [AtomicU64; Op::ALL.len()],
    armed: Mutex<Vec<Armed>>,
    injected: AtomicU64,
    synced_dirs: Mutex<Vec<PathBuf>>,
}

impl FaultyFs {
    pub fn new() -> FaultyFs {
        FaultyFs::default()
    }

    /// Makes the `nth` call of kind `op` from now on (1 = the next one) fail with `fault`.
    pub fn arm(&self, op: Op, nth: u64, fault: Fault) {
        let at = self.count(op) + nth.max(1);
        if let Ok(mut armed) = self.armed.lock() {
            armed.push(Armed { op, at, fault });
        }
    }

    /// Removes every armed fault.
    pub fn disarm(&self) {
        if let Ok(mut armed) = self.armed.lock() {
            armed.clear();
        }
    }

    /// Calls of kind `op` so far (failed ones included).
    pub fn count(&self, op: Op) -> u64 {
        self.counts.get(op.index()).map_or(0, |c| c.load(Ordering::SeqCst))
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// Every directory fsynced so far, in order (failed calls included).
    pub fn synced_dirs(&self) -> Vec<PathBuf> {
        self.synced_dirs.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Counts a call and returns the fault to inject into it, if one is armed.
    fn enter(&self, op: Op) -> Option<Fault> {
        let n = self.counts.get(op.index()).map_or(0, |c| c.fetch_add(1, Ordering::SeqCst) + 1);
        let mut armed = self.armed.lock().ok()?;
        let pos = armed.iter().position(|a| a.op == op && a.at == n)?;
        let fault = armed.remove(pos).fault;
        self.injected.fetch_add(1, Ordering::SeqCst);
        Some(fault)
    }

    /// Runs `f` unless a fault is armed for this call.
    fn call<T>(&self, op: Op, f: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
        match self.enter(op) {
            Some(Fault::Errno(errno)) => Err(std::io::Error::from_raw_os_error(errno)),
            Some(Fault::ShortWrite) => Err(std::io::Error::from_raw_os_error(libc::EIO)),
            Some(Fault::ErrnoAfter { millis, errno }) => Err(slow_error(millis, errno)),
            None => f(),
        }
    }
}

fn slow_error(millis: u64, errno: i32) -> std::io::Error {
    std::thread::sleep(std::time::Duration::from_millis(millis));
    std::io::Error::from_raw_os_error(errno)
}

impl FileSystem for FaultyFs {
    fn open_read(&self, path: &Path) -> std::io::Result<File> {
        self.call(Op::Open, || RealFs.open_read(path))
    }
    fn open_write(&self, path: &Path) -> std::io::Result<File> {
        self.call(Op::Open, || RealFs.open_write(path))
    }
    fn create(&self, path: &Path) -> std::io::Result<File> {
        self.call(Op::Create, || RealFs.create(path))
    }
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> std::io::Result<usize> {
        match self.enter(Op::Write) {
            Some(Fault::Errno(errno)) => Err(std::io::Error::from_raw_os_error(errno)),
            Some(Fault::ErrnoAfter { millis, errno }) => Err(slow_error(millis, errno)),
            Some(Fault::ShortWrite) => {
                let half = buf.get(..(buf.len() / 2).max(1).min(buf.len())).unwrap_or_default();
                RealFs.write_at(file, half, offset)
            }
            None => RealFs.write_at(file, buf, offset),
        }
    }
    fn sync_data(&self, file: &File) -> std::io::Result<()> {
        self.call(Op::Fsync, || RealFs.sync_data(file))
    }
    fn sync_all(&self, file: &File) -> std::io::Result<()> {
        self.call(Op::Fsync, || RealFs.sync_all(file))
    }
    fn set_len(&self, file: &File, len: u64) -> std::io::Result<()> {
        self.call(Op::SetLen, || RealFs.set_len(file, len))
    }
    fn preallocate(&self, file: &File, len: u64) -> std::io::Result<()> {
        self.call(Op::Preallocate, || RealFs.preallocate(file, len))
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.call(Op::Rename, || RealFs.rename(from, to))
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.call(Op::Remove, || RealFs.remove_file(path))
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        if let Ok(mut synced) = self.synced_dirs.lock() {
            synced.push(dir.to_path_buf());
        }
        self.call(Op::DirFsync, || RealFs.sync_dir(dir))
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        self.call(Op::CreateDir, || RealFs.create_dir_all(dir))
    }
    fn read_dir(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        self.call(Op::ReadDir, || RealFs.read_dir(dir))
    }
}
