//! The runtime the daemon's runs work on, at a lower priority than the API's.
//!
//! A sync's CPU is mostly tantivy's indexing and doc store threads and the extractors; a
//! search is a few hundred microseconds of one thread. On the same cores at the same
//! priority a search waits whole time slices behind them (search bench, 100k chunks,
//! 8 clients at 600 searches/s while the daemon syncs: see the README). Here every thread
//! of the runs' runtime (its workers, its blocking pool, and every thread those start,
//! such as tantivy's: on Linux a thread starts with its creator's nice value) runs
//! [`RUN_NICE`] lower than the daemon's other threads: when both want a core the search
//! gets it, and on a machine with cores to spare nothing changes.
//!
//! Why a runtime of its own: a nice value can be raised but, without privilege, never
//! lowered back, so the threads that do runs must be threads that only ever do runs.

use std::io;

/// How much lower than the process the runs' threads run (a nice value; 19 is the lowest
/// priority). 10 weighs a thread about ten times less than one at the process's own.
pub const RUN_NICE: i32 = 10;

/// The runs' runtime, shut down without waiting when dropped: the daemon drops it from
/// async code, where a plain `Runtime` may not be dropped, and by then it has waited for
/// its runs as long as the grace period allows.
pub struct Runs(Option<tokio::runtime::Runtime>);

impl Runs {
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("live until dropped")
            .handle()
            .clone()
    }
}

impl Drop for Runs {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The runs' runtime: multi-threaded, every thread [`RUN_NICE`] lower than its creator.
pub fn runs() -> io::Result<Runs> {
    runtime().map(|r| Runs(Some(r)))
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    // Relative to the creator's, so that a daemon started at a lower priority is never
    // raised; absolute for each thread, which may have been started by a thread of this
    // runtime (already lowered) as well as by any other.
    let target = (nice() + RUN_NICE).min(19);
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("tributary-run")
        .on_thread_start(move || {
            if nice() < target
                && let Err(e) =
                    rustix::process::setpriority_process(Some(rustix::thread::gettid()), target)
            {
                tracing::debug!(error = %e, "a run thread keeps the daemon's priority");
            }
        })
        .enable_all()
        .build()
}

/// This thread's nice value.
fn nice() -> i32 {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_of_the_runs_runtime_and_its_children_runs_lower() {
        let base = std::thread::spawn(nice).join().expect("a fresh thread");
        let want = (base + RUN_NICE).min(19);
        let rt = runtime().expect("runtime");
        let (worker, blocking, child, nested) = rt.block_on(async {
            let worker = tokio::spawn(async { nice() }).await.expect("task");
            let (blocking, child) = tokio::task::spawn_blocking(|| {
                let child = std::thread::spawn(nice).join().expect("child");
                (nice(), child)
            })
            .await
            .expect("blocking");
            // A blocking thread started by one of the runtime's own is lowered once.
            let nested =
                tokio::spawn(async { tokio::task::spawn_blocking(nice).await.expect("nested") })
                    .await
                    .expect("task");
            (worker, blocking, child, nested)
        });
        assert_eq!((worker, blocking, child, nested), (want, want, want, want));
        // The caller's own thread keeps its priority.
        assert_eq!(std::thread::spawn(nice).join().expect("after"), base);
        rt.shutdown_background();
    }
}
