//! The tests' thread pool: a differential test that runs a process per
//! file (kubectl, kyaml) spreads the files over a few threads.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `work` on every item with its index, on `jobs` threads (at least one),
/// the results in the order of `items` whatever the threads' timing. A
/// panic in `work` fails the test with its message.
pub fn map_in_order<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(usize, &T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return mine;
                        };
                        mine.push((i, work(i, item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(mine) => mine,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    assert_eq!(done.len(), items.len());
    done.into_iter().map(|(_, r)| r).collect()
}
