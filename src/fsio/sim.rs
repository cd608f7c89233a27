//! A [`FileSystem`] that can lose power, for tests: [`SimFs`].
//!
//! The real directory under `root` plays the page cache (what a running process sees: reads,
//! `read_dir` and memory maps see every write at once), and `SimFs` keeps the disk: for every
//! file the seam created, its durable bytes and the writes made since its last fsync; for
//! every directory, its durable entries. `fsync`/`fdatasync` of a file makes its writes (and
//! size changes) durable; `sync_dir` makes a directory's current entries (creates, renames,
//! deletes) durable. [`SimFs::crash`] rewrites the real directory to the durable state: every
//! volatile write, entry and directory is dropped, except, when torn writes are on, a random
//! prefix of a file's unsynced writes, the last one kept only up to a random sector boundary.
//!
//! Keeping the real files lets the WAL memory-map its segments unchanged (the read path is the
//! real one); only writes and their durability are simulated. Files the seam never opened
//! (the DuckDB catalog, lock files) are outside the simulation and survive a crash as they are.
//!
//! Deterministic from its seed: the same calls in the same order give the same crash image.
//! [`SimFs::fail_after`] makes the Nth mutating call and every later one fail with `EIO`, as a
//! disk that lost power would, so a test can stop a run at any operation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{FileSystem, RealFs};

/// Sector size: a torn write keeps whole sectors only.
pub const SECTOR: u64 = 512;

/// A change to a file since its last fsync.
#[derive(Debug, Clone)]
enum Pending {
    Write {
        offset: u64,
        bytes: Vec<u8>,
    },
    SetLen(u64),
    /// Preallocation: the length grows to at least this.
    Grow(u64),
}

impl Pending {
    fn apply(&self, data: &mut Vec<u8>) {
        match self {
            Pending::Write { offset, bytes } => write_into(data, *offset, bytes),
            Pending::SetLen(len) => data.resize(to_usize(*len), 0),
            Pending::Grow(len) if to_usize(*len) > data.len() => data.resize(to_usize(*len), 0),
            Pending::Grow(_) => {}
        }
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn write_into(data: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = to_usize(offset);
    let end = start + bytes.len();
    if data.len() < end {
        data.resize(end, 0);
    }
    if let Some(dst) = data.get_mut(start..end) {
        dst.copy_from_slice(bytes);
    }
}

/// One file the seam knows.
#[derive(Debug)]
struct SimFile {
    durable: Vec<u8>,
    pending: Vec<Pending>,
    /// Keeps the inode alive (and its number unused by new files) while the simulation runs,
    /// even after the file is deleted: a durable directory entry may still name it.
    _inode: Option<File>,
}

/// The simulated disk.
#[derive(Debug, Default)]
struct State {
    rng: u64,
    files: HashMap<u64, SimFile>,
    /// Durable entries of each known directory, by the directory's inode.
    dirs: HashMap<u64, BTreeMap<OsString, u64>>,
    /// Mutating calls so far.
    ops: u64,
    /// The call number from which every mutating call fails.
    fail_from: Option<u64>,
    torn_writes: bool,
}

impl State {
    fn below(&mut self, n: u64) -> u64 {
        below(&mut self.rng, n)
    }
}

/// A number in `0..n` (0 when `n` is 0) from the splitmix64 generator in `state`: small,
/// reproducible, and shared with the simulation tests so one seed drives both.
pub fn below(state: &mut u64, n: u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % n.max(1)
}

/// The power-loss file system (see the module doc).
#[derive(Debug)]
pub struct SimFs {
    root: PathBuf,
    state: Mutex<State>,
}

/// What a crash did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CrashImage {
    /// Files written back with their durable bytes.
    pub files: usize,
    /// Unsynced writes that survived anyway (whole or torn).
    pub kept_writes: usize,
    /// Of those, writes cut at a sector boundary.
    pub torn_writes: usize,
}

/// A node of the durable tree [`SimFs::crash`] writes back.
enum Node {
    File(Vec<u8>),
    Dir(BTreeMap<OsString, Node>),
}

fn ino(path: &Path) -> std::io::Result<u64> {
    Ok(std::fs::symlink_metadata(path)?.ino())
}

/// What every call returns once the power is off: a disk that stopped answering.
fn powered_off() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::EIO)
}

impl SimFs {
    /// Simulates the disk under `root` (which must exist): what is there now counts as durable.
    pub fn new(root: &Path, seed: u64) -> std::io::Result<SimFs> {
        let mut state = State { rng: seed, ..State::default() };
        register_tree(&mut state, root)?;
        Ok(SimFs { root: root.to_path_buf(), state: Mutex::new(state) })
    }

    /// When on, a crash keeps a random prefix of each file's unsynced writes, the last kept
    /// one torn at a sector boundary.
    pub fn set_torn_writes(&self, on: bool) {
        self.lock().torn_writes = on;
    }

    /// Makes the `n`th mutating call from now (1 = the next) and every later one fail with
    /// `EIO` without doing anything: the power went off there.
    pub fn fail_after(&self, n: u64) {
        let mut s = self.lock();
        s.fail_from = Some(s.ops + n.max(1));
    }

    /// Mutating calls made so far (a test picks its crash point among them).
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// True once a call failed because of [`SimFs::fail_after`].
    pub fn is_off(&self) -> bool {
        let s = self.lock();
        s.fail_from.is_some_and(|from| s.ops >= from)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a mutating call; fails it when the power is off.
    fn enter(&self) -> std::io::Result<std::sync::MutexGuard<'_, State>> {
        let mut s = self.lock();
        s.ops += 1;
        match s.fail_from {
            Some(from) if s.ops >= from => Err(powered_off()),
            _ => Ok(s),
        }
    }

    /// Loses power: the real directory becomes the durable state, and the power comes back
    /// (later calls succeed). Every handle opened before must be dropped first.
    pub fn crash(&self) -> std::io::Result<CrashImage> {
        let mut s = self.lock();
        let mut image = CrashImage::default();
        let root_ino = ino(&self.root)?;
        let tree = durable_dir(&mut s, root_ino, &mut image, &mut HashSet::new());
        let tracked: HashSet<u64> = s.files.keys().chain(s.dirs.keys()).copied().collect();
        write_back(&self.root, &tree, &tracked)?;
        let torn = s.torn_writes;
        let rng = s.rng;
        *s = State { rng, torn_writes: torn, ..State::default() };
        register_written(&mut s, &self.root, &tree)?;
        Ok(image)
    }

    /// Starts tracking a file the seam opened (its current bytes count as durable when the
    /// seam did not create it).
    fn track(s: &mut State, file: &File, created: bool) -> std::io::Result<u64> {
        let meta = file.metadata()?;
        let inode = meta.ino();
        if let Some(known) = s.files.get_mut(&inode) {
            if created {
                known.pending.push(Pending::SetLen(0));
            }
            return Ok(inode);
        }
        let durable = if created { Vec::new() } else { read_all(file, meta.len())? };
        s.files.insert(inode, SimFile { durable, pending: Vec::new(), _inode: file.try_clone().ok() });
        Ok(inode)
    }

    fn record(&self, file: &File, change: Pending) -> std::io::Result<()> {
        let mut s = self.lock();
        let inode = Self::track(&mut s, file, false)?;
        if let Some(f) = s.files.get_mut(&inode) {
            f.pending.push(change);
        }
        Ok(())
    }

    fn sync_file(&self, file: &File) -> std::io::Result<()> {
        let mut s = self.enter()?;
        let inode = Self::track(&mut s, file, false)?;
        if let Some(f) = s.files.get_mut(&inode) {
            for change in std::mem::take(&mut f.pending) {
                change.apply(&mut f.durable);
            }
        }
        Ok(())
    }
}

fn read_all(file: &File, len: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; to_usize(len)];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

/// Registers `dir` and everything under it as known and durable as they are now.
fn register_tree(s: &mut State, dir: &Path) -> std::io::Result<()> {
    let mut entries = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            register_tree(s, &entry.path())?;
        } else if meta.is_file() {
            let file = File::open(entry.path())?;
            let bytes = read_all(&file, meta.len())?;
            s.files.insert(meta.ino(), SimFile { durable: bytes, pending: Vec::new(), _inode: Some(file) });
        } else {
            continue;
        }
        entries.insert(entry.file_name(), meta.ino());
    }
    s.dirs.insert(ino(dir)?, entries);
    Ok(())
}

/// Registers the files and directories a crash wrote back (all durable).
fn register_written(s: &mut State, dir: &Path, tree: &Node) -> std::io::Result<()> {
    let Node::Dir(children) = tree else { return Ok(()) };
    let mut entries = BTreeMap::new();
    for (name, node) in children {
        let path = dir.join(name);
        match node {
            Node::Dir(_) => register_written(s, &path, node)?,
            Node::File(bytes) => {
                let file = File::open(&path)?;
                let inode = file.metadata()?.ino();
                s.files.insert(inode, SimFile { durable: bytes.clone(), pending: Vec::new(), _inode: Some(file) });
            }
        }
        entries.insert(name.clone(), ino(&path)?);
    }
    s.dirs.insert(ino(dir)?, entries);
    Ok(())
}

/// The durable tree under the directory `dir_ino`.
fn durable_dir(s: &mut State, dir_ino: u64, image: &mut CrashImage, seen: &mut HashSet<u64>) -> Node {
    let entries = s.dirs.get(&dir_ino).cloned().unwrap_or_default();
    let mut out = BTreeMap::new();
    for (name, child) in entries {
        if s.dirs.contains_key(&child) {
            if seen.insert(child) {
                out.insert(name, durable_dir(s, child, image, seen));
            }
        } else if s.files.contains_key(&child) {
            out.insert(name, Node::File(durable_file(s, child, image)));
        }
    }
    Node::Dir(out)
}

/// A file's bytes after the crash: its durable bytes, plus (torn writes on) a random prefix
/// of its unsynced changes, the last kept write cut at a sector boundary.
fn durable_file(s: &mut State, inode: u64, image: &mut CrashImage) -> Vec<u8> {
    image.files += 1;
    let (mut data, pending) = match s.files.get(&inode) {
        Some(f) => (f.durable.clone(), f.pending.clone()),
        None => return Vec::new(),
    };
    if !s.torn_writes || pending.is_empty() {
        return data;
    }
    let keep = to_usize(s.below(pending.len() as u64 + 1));
    for change in pending.iter().take(keep) {
        change.apply(&mut data);
        image.kept_writes += 1;
    }
    if let Some(Pending::Write { offset, bytes }) = pending.get(keep) {
        let first_boundary = (offset / SECTOR + 1) * SECTOR;
        let end = offset + bytes.len() as u64;
        if first_boundary < end {
            // 0: the write left no trace; k: its first k sectors (counted from the first
            // boundary inside it) reached the disk.
            let sectors = s.below((end - first_boundary).div_ceil(SECTOR) + 1);
            let cut = first_boundary + sectors.saturating_sub(1) * SECTOR;
            if let Some(prefix) = bytes.get(..to_usize(cut - offset)).filter(|_| sectors > 0) {
                write_into(&mut data, *offset, prefix);
                image.kept_writes += 1;
                image.torn_writes += 1;
            }
        }
    }
    data
}

/// Makes the real directory `dir` hold exactly `tree`, leaving alone entries outside the
/// simulation (inodes not in `tracked`).
fn write_back(dir: &Path, tree: &Node, tracked: &HashSet<u64>) -> std::io::Result<()> {
    let Node::Dir(children) = tree else { return Ok(()) };
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if !tracked.contains(&meta.ino()) {
            continue;
        }
        if meta.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    for (name, node) in children {
        let path = dir.join(name);
        match node {
            Node::File(bytes) => std::fs::write(&path, bytes)?,
            Node::Dir(_) => {
                std::fs::create_dir(&path)?;
                write_back(&path, node, tracked)?;
            }
        }
    }
    Ok(())
}

impl FileSystem for SimFs {
    fn open_read(&self, path: &Path) -> std::io::Result<File> {
        RealFs.open_read(path)
    }
    fn open_write(&self, path: &Path) -> std::io::Result<File> {
        let mut s = self.enter()?;
        let file = RealFs.open_write(path)?;
        Self::track(&mut s, &file, false)?;
        Ok(file)
    }
    fn create(&self, path: &Path) -> std::io::Result<File> {
        let mut s = self.enter()?;
        let file = RealFs.create(path)?;
        Self::track(&mut s, &file, true)?;
        Ok(file)
    }
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> std::io::Result<usize> {
        drop(self.enter()?);
        let n = RealFs.write_at(file, buf, offset)?;
        let bytes = buf.get(..n).unwrap_or_default().to_vec();
        self.record(file, Pending::Write { offset, bytes })?;
        Ok(n)
    }
    fn sync_data(&self, file: &File) -> std::io::Result<()> {
        self.sync_file(file)
    }
    fn sync_all(&self, file: &File) -> std::io::Result<()> {
        self.sync_file(file)
    }
    fn set_len(&self, file: &File, len: u64) -> std::io::Result<()> {
        drop(self.enter()?);
        RealFs.set_len(file, len)?;
        self.record(file, Pending::SetLen(len))
    }
    fn preallocate(&self, file: &File, len: u64) -> std::io::Result<()> {
        drop(self.enter()?);
        RealFs.preallocate(file, len)?;
        self.record(file, Pending::Grow(len))
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        drop(self.enter()?);
        RealFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        drop(self.enter()?);
        RealFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        let mut s = self.enter()?;
        let mut entries = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let inode = meta.ino();
            if meta.is_dir() {
                s.dirs.entry(inode).or_default();
            } else if !s.files.contains_key(&inode) {
                continue;
            }
            entries.insert(entry.file_name(), inode);
        }
        s.dirs.insert(ino(dir)?, entries);
        Ok(())
    }
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        let mut s = self.enter()?;
        RealFs.create_dir_all(dir)?;
        let mut next = Some(dir);
        while let Some(d) = next.filter(|d| d.starts_with(&self.root)) {
            s.dirs.entry(ino(d)?).or_default();
            next = d.parent();
        }
        Ok(())
    }
    fn read_dir(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        RealFs.read_dir(dir)
    }
    fn drop_cache(&self, _file: &File, _offset: u64, _len: u64) {}
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
