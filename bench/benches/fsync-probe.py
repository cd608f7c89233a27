#!/usr/bin/env python3
"""Write + fdatasync probe of the disk under a directory (BENCHMARKS.md, "Why zero-ahead writes").

Usage: python3 bench/benches/fsync-probe.py [DIR]   (default: the current directory; needs ~256 MiB)

Compares, for the same appending writes, a posix_fallocate'd file (unwritten extents), a file
written with zeros beforehand, and zeros written ahead of the data up to a boundary in the
same pwrite (what the WAL does, src/wal/segment.rs); back to back and paced.
"""
import os
import sys
import threading
import time

DIR = sys.argv[1] if len(sys.argv) > 1 else "."
TOTAL = 256 << 20


def open_file(mode):
    path = os.path.join(DIR, "fsync-probe.tmp")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    os.posix_fallocate(fd, 0, TOTAL)
    if mode == "zeroed":
        chunk = b"\0" * (1 << 20)
        for i in range(TOTAL >> 20):
            os.pwrite(fd, chunk, i << 20)
    os.fsync(fd)
    return fd, path


def cycles(mode, size, n=4000, ahead=0, rate=None):
    fd, path = open_file(mode)
    data, lat, off, written = b"x" * size, [], 0, 0
    start = next_at = time.perf_counter()
    for _ in range(n):
        if rate:
            next_at += 1.0 / rate
            while time.perf_counter() < next_at:
                pass
        if ahead and off + size > written:
            written = ((off + size) // ahead + 1) * ahead
            os.pwrite(fd, data + b"\0" * (written - off - size), off)
        else:
            os.pwrite(fd, data, off)
        off += size
        t = time.perf_counter()
        os.fdatasync(fd)
        lat.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    os.close(fd)
    os.unlink(path)
    lat.sort()
    pct = lambda p: lat[int(len(lat) * p)] * 1e6
    label = f"{mode}{f' ahead {ahead >> 10} KiB' if ahead else ''}, {size} B writes{f', paced {rate}/s' if rate else ''}"
    print(f"{label:<52} {n / elapsed:>7.0f} cycles/s  fdatasync p50 {pct(0.5):>5.0f} us  p99 {pct(0.99):>5.0f} us")


def threads(mode, count, seconds=3, size=16384):
    fd, path = open_file(mode)
    data, lock, done = b"x" * size, threading.Lock(), [0] * count
    state = {"off": 0}
    end = time.time() + seconds

    def run(i):
        while time.time() < end:
            with lock:
                off = state["off"]
                state["off"] += size
            os.pwrite(fd, data, off)
            os.fdatasync(fd)
            done[i] += 1

    ts = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    os.close(fd)
    os.unlink(path)
    print(f"{mode}, {count} threads writing + fdatasyncing one file: {sum(done) / seconds:.0f} fdatasyncs/s in all")


for size in (32768, 2200):
    cycles("fallocated", size)
    cycles("zeroed", size)
    cycles("fallocated", size, ahead=256 << 10)
    cycles("fallocated", size, ahead=1 << 20)
for rate in (1000, 3000):
    cycles("fallocated", 2200, n=3000, rate=rate)
    cycles("zeroed", 2200, n=3000, rate=rate)
for mode in ("fallocated", "zeroed"):
    for count in (1, 2):
        threads(mode, count)
