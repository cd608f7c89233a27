//! Running numbered jobs on every core while their results are consumed in number order, on
//! the calling thread: the compactor encodes a file's row groups in parallel and appends
//! them one after another.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Condvar, Mutex, PoisonError};

/// Most threads the jobs run on.
const MAX_THREADS: usize = 8;

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
