#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::fsio::{write_all_at, write_file_durable};

fn sim() -> (tempfile::TempDir, SimFs) {
    let tmp = tempfile::tempdir().unwrap();
    let fs = SimFs::new(tmp.path(), 7).unwrap();
    (tmp, fs)
}

/// Creates `name` holding `bytes`, fsynced, and its directory entry made durable.
fn durable_file(fs: &SimFs, dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    write_file_durable(fs, &path, bytes).unwrap();
    path
}

#[test]
fn an_unsynced_write_is_lost_and_a_synced_one_kept() {
    let (tmp, fs) = sim();
    let path = durable_file(&fs, tmp.path(), "a", b"durable");
    let file = fs.open_write(&path).unwrap();
    write_all_at(&fs, &file, b"-synced", 7).unwrap();
    fs.sync_data(&file).unwrap();
    write_all_at(&fs, &file, b"-volatile", 14).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"durable-synced-volatile", "the page cache sees every write");
    drop(file);
    fs.crash().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"durable-synced");
}

#[test]
fn a_created_file_needs_its_directory_fsynced_to_survive() {
    let (tmp, fs) = sim();
    let kept = durable_file(&fs, tmp.path(), "kept", b"data");
    let lost = tmp.path().join("lost");
    let file = fs.create(&lost).unwrap();
    write_all_at(&fs, &file, b"data", 0).unwrap();
    fs.sync_all(&file).unwrap();
    drop(file);
    fs.crash().unwrap();
    assert!(!lost.exists(), "fsynced, but its directory entry was never made durable");
    assert_eq!(std::fs::read(kept).unwrap(), b"data");
}

#[test]
fn a_rename_or_delete_is_undone_unless_the_directory_is_fsynced() {
    let (tmp, fs) = sim();
    let a = durable_file(&fs, tmp.path(), "a", b"A");
    let gone = durable_file(&fs, tmp.path(), "gone", b"G");
    let b = tmp.path().join("b");
    fs.rename(&a, &b).unwrap();
    fs.remove_file(&gone).unwrap();
    fs.crash().unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), b"A", "the rename was not durable");
    assert!(!b.exists());
    assert_eq!(std::fs::read(&gone).unwrap(), b"G", "the delete was not durable");

    fs.rename(&a, &b).unwrap();
    fs.remove_file(&gone).unwrap();
    fs.sync_dir(tmp.path()).unwrap();
    fs.crash().unwrap();
    assert!(!a.exists() && !gone.exists());
    assert_eq!(std::fs::read(&b).unwrap(), b"A");
}

#[test]
fn a_new_directory_not_fsynced_into_its_parent_is_lost_with_its_files() {
    let (tmp, fs) = sim();
    let dir = tmp.path().join("d");
    fs.create_dir_all(&dir).unwrap();
    durable_file(&fs, &dir, "f", b"x");
    fs.crash().unwrap();
    assert!(!dir.exists());

    crate::fsio::create_dir_durable(&fs, &dir).unwrap();
    let f = durable_file(&fs, &dir, "f", b"x");
    fs.crash().unwrap();
    assert_eq!(std::fs::read(f).unwrap(), b"x");
}

#[test]
fn truncation_and_preallocation_are_volatile_until_fsync() {
    let (tmp, fs) = sim();
    let path = durable_file(&fs, tmp.path(), "a", b"0123456789");
    let file = fs.open_write(&path).unwrap();
    fs.set_len(&file, 4).unwrap();
    drop(file);
    fs.crash().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"0123456789");
    let file = fs.open_write(&path).unwrap();
    fs.set_len(&file, 4).unwrap();
    fs.preallocate(&file, 8).unwrap();
    fs.sync_all(&file).unwrap();
    drop(file);
    fs.crash().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"0123\0\0\0\0");
}

/// Each crash image of one file with two unsynced writes, over many seeds.
fn torn_images() -> BTreeMap<Vec<u8>, usize> {
    let mut images = BTreeMap::new();
    for seed in 0..200 {
        let tmp = tempfile::tempdir().unwrap();
        let fs = SimFs::new(tmp.path(), seed).unwrap();
        fs.set_torn_writes(true);
        let path = durable_file(&fs, tmp.path(), "a", b"");
        let file = fs.open_write(&path).unwrap();
        write_all_at(&fs, &file, &[1; 100], 0).unwrap();
        write_all_at(&fs, &file, &[2; 1500], 100).unwrap();
        drop(file);
        fs.crash().unwrap();
        *images.entry(std::fs::read(&path).unwrap()).or_insert(0) += 1;
    }
    images
}

#[test]
fn torn_writes_keep_a_prefix_of_the_unsynced_writes_cut_at_a_sector_boundary() {
    let images = torn_images();
    let lens: Vec<usize> = images.keys().map(Vec::len).collect();
    // Nothing, the first write, or the second torn after sector 1, 2 (1500 bytes at 100 end
    // at 1600: boundaries 512, 1024, 1536), or whole.
    assert_eq!(lens, vec![0, 100, 512, 1024, 1536, 1600]);
    for image in images.keys() {
        assert!(image.iter().take(100).all(|b| *b == 1));
        assert!(image.iter().skip(100).all(|b| *b == 2));
    }
    assert_eq!(torn_images(), images, "the same seeds give the same images");
}

#[test]
fn after_fail_after_every_mutating_call_fails_until_the_crash() {
    let (tmp, fs) = sim();
    let path = durable_file(&fs, tmp.path(), "a", b"A");
    fs.fail_after(2);
    let file = fs.open_write(&path).unwrap();
    let e = fs.sync_all(&file).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    assert!(fs.is_off());
    assert!(fs.rename(&path, &tmp.path().join("b")).is_err());
    assert!(path.exists(), "a failed call does nothing");
    drop(file);
    fs.crash().unwrap();
    assert!(!fs.is_off());
    durable_file(&fs, tmp.path(), "c", b"C");
}

#[test]
fn files_outside_the_seam_survive_a_crash_as_they_are() {
    let (tmp, fs) = sim();
    let outside = tmp.path().join("catalog.duckdb");
    std::fs::write(&outside, b"duckdb's own").unwrap();
    durable_file(&fs, tmp.path(), "a", b"A");
    fs.crash().unwrap();
    assert_eq!(std::fs::read(outside).unwrap(), b"duckdb's own");
}
