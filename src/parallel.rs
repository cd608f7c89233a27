//! The compactor's threads: numbered jobs run on every core while their results are consumed
//! in number order on the calling thread ([`in_order`]: a file's row groups are encoded in
//! parallel and appended one after another), and work run at a lower CPU priority than
//! ingest ([`run_yielding`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Condvar, Mutex, PoisonError};

/// Most threads the jobs run on.
const MAX_THREADS: usize = 8;

/// The nice value of [`run_yielding`]'s thread: a CFS weight of 110 against the 1,024 of
/// the threads at the default 0, so that when both want a core the work gets about a tenth
/// of it, and all of an idle one (RocksDB lowers its compaction threads the same way).
pub const YIELDING_NICE: i32 = 10;

/// Runs `work` on a thread of its own (named `name`) whose CPU priority is lowered to
/// [`YIELDING_NICE`], and returns what it returned; the threads `work` starts inherit the
/// priority (Linux keeps a nice value per thread, and a new thread takes its creator's).
/// The caller's own priority does not change: an unprivileged thread cannot raise its
/// priority again, so the work never runs on a thread that outlives it. Where the priority
/// cannot be lowered (not Linux) the work runs at the usual one. A panic in `work` is resumed
/// on the caller.
///
/// # Errors
/// The thread could not be started (the work did not run).
pub fn run_yielding<T: Send>(name: &str, work: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().name(name.into()).spawn_scoped(scope, move || {
            lower_this_threads_priority();
            work()
        })?;
        thread.join().map_err(|panic| std::panic::resume_unwind(panic))
    })
}

/// Raises this thread's nice value to [`YIELDING_NICE`] (Linux; a no-op elsewhere). A
/// failure leaves the priority as it was: the work only runs sooner.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its integer arguments; `who` 0 with PRIO_PROCESS is
        // the calling thread on Linux, whose nice value is per thread.
        #[allow(unsafe_code)]
        let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, YIELDING_NICE) };
    }
}

/// Runs `job(0..jobs)` on up to one thread per core and hands each result to `consume` in
/// job order, on the calling thread. A job starts only once the job `ahead` places before it
/// has been consumed, so at most `ahead` results wait in memory. Stops at the first error (of
/// a job or of `consume`); jobs already running finish and their results are dropped.
pub fn in_order<T, E, J, C>(jobs: usize, ahead: usize, job: J, mut consume: C) -> Result<(), E>
where
    T: Send,
    E: Send,
    J: Fn(usize) -> Result<T, E> + Sync,
    C: FnMut(T) -> Result<(), E>,
{
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = cores.min(MAX_THREADS).min(jobs);
    if threads <= 1 {
        return (0..jobs).try_for_each(|i| consume(job(i)?));
    }
    let ahead = ahead.max(threads);
    let next = AtomicUsize::new(0);
    let consumed = Turn::default();
    std::thread::scope(|scope| {
        let (tx, rx) = channel::<(usize, Result<T, E>)>();
        for _ in 0..threads {
            let (tx, next, consumed, job) = (tx.clone(), &next, &consumed, &job);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs || !consumed.wait_until_near(i, ahead) || tx.send((i, job(i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let result = consume_in_order(rx, &mut consume, &consumed);
        // On an error, jobs not started yet are skipped and waiting workers released.
        next.store(jobs, Ordering::Relaxed);
        consumed.stop();
        result
    })
}

fn consume_in_order<T, E>(
    rx: std::sync::mpsc::Receiver<(usize, Result<T, E>)>,
    consume: &mut impl FnMut(T) -> Result<(), E>,
    consumed: &Turn,
) -> Result<(), E> {
    let (mut waiting, mut turn) = (BTreeMap::new(), 0);
    for (i, result) in rx {
        waiting.insert(i, result);
        while let Some(result) = waiting.remove(&turn) {
            result.and_then(&mut *consume)?;
            turn += 1;
            consumed.advance(turn);
        }
    }
    Ok(())
}

/// How many results were consumed (`usize::MAX` once the run stops), for workers to wait on.
#[derive(Default)]
struct Turn {
    consumed: Mutex<usize>,
    changed: Condvar,
}

impl Turn {
    fn advance(&self, consumed: usize) {
        *self.consumed.lock().unwrap_or_else(PoisonError::into_inner) = consumed;
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.advance(usize::MAX);
    }

    /// Waits until job `i` is fewer than `ahead` places past the results consumed; false
    /// when the run stopped.
    fn wait_until_near(&self, i: usize, ahead: usize) -> bool {
        let mut consumed = self.consumed.lock().unwrap_or_else(PoisonError::into_inner);
        while *consumed != usize::MAX && i >= consumed.saturating_add(ahead) {
            consumed = self.changed.wait(consumed).unwrap_or_else(PoisonError::into_inner);
        }
        *consumed != usize::MAX
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The calling thread's nice value, from /proc (field 19 of its stat line).
    #[cfg(target_os = "linux")]
    fn this_threads_nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = stat.rsplit_once(')').unwrap().1;
        after_name.split_whitespace().nth(16).unwrap().parse().unwrap()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn yielding_work_and_the_threads_it_starts_run_niced_and_the_caller_keeps_its_priority() {
        let before = this_threads_nice();
        assert!(before < YIELDING_NICE, "run the tests at a nice value under {YIELDING_NICE}, not {before}");
        let (inside, started) = run_yielding("test-yielding", || {
            (this_threads_nice(), std::thread::spawn(this_threads_nice).join().unwrap())
        })
        .unwrap();
        assert_eq!(inside, YIELDING_NICE, "the work's own thread");
        assert_eq!(started, YIELDING_NICE, "a thread the work started");
        assert_eq!(this_threads_nice(), before, "the caller");
        let name = run_yielding("test-yielding", || std::thread::current().name().map(str::to_owned)).unwrap();
        assert_eq!(name.as_deref(), Some("test-yielding"));
    }

    #[test]
    #[allow(clippy::panic)]
    fn a_panic_in_yielding_work_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| run_yielding("test-panic", || panic!("the work failed")));
        let message = caught.err().and_then(|p| p.downcast_ref::<&str>().map(|s| s.to_string()));
        assert_eq!(message.as_deref(), Some("the work failed"));
    }

    #[test]
    fn results_arrive_in_job_order_whatever_order_they_finish_in() {
        let mut seen = Vec::new();
        let job = |i: usize| {
            std::thread::sleep(std::time::Duration::from_micros(((i * 7919) % 13) as u64 * 100));
            Ok::<_, String>(i * 10)
        };
        in_order(40, 3, job, |v| {
            seen.push(v);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, (0..40).map(|i| i * 10).collect::<Vec<_>>());
    }

    #[test]
    fn the_first_error_in_order_stops_the_run() {
        let mut seen = Vec::new();
        let result = in_order(
            50,
            4,
            |i| if i == 5 { Err(format!("job {i}")) } else { Ok(i) },
            |v| {
                seen.push(v);
                Ok(())
            },
        );
        assert_eq!(result, Err("job 5".to_string()));
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }
}
