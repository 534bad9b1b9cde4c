//! The scheduler's runs, done by the engine: a content run is an incremental sync, a full
//! run a full reconcile, an identity run an identity sync. Progress and rate-limit pauses
//! reach the scheduler (so a long healthy run is never reported stalled), shutdown reaches
//! the engine as `SyncOptions::stop`, and every report goes to the observers (metrics).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use schedules::{RunContext, RunOutcome, Runner, SyncKind};
use sync_core::{Engine, Progress, RunReport, RunState, Source};

use crate::config::Config;

/// Called with every finished run's report and its kind (`content`, `full`, `identities`).
pub type Observer = Arc<dyn Fn(&RunReport, SyncKind) + Send + Sync>;

/// What a run needs of one source, built once per configuration so that a connector that
/// keeps state between runs (the filesystem change journal) keeps it.
struct Built {
    source: Source,
    documents_in_flight: Option<usize>,
}

/// The config in force and its sources, built.
type Sources = (Arc<Config>, BTreeMap<String, Arc<Built>>);

/// The runs of the daemon's sources.
pub struct EngineRunner {
    engine: Arc<Engine>,
    state: RwLock<Sources>,
    observer: Observer,
    /// The runtime runs work on (`background.rs` in the daemon; the caller's by default).
    runs: tokio::runtime::Handle,
}

impl EngineRunner {
    /// A runner over `engine` for the sources of `config`, whose runs work on the current
    /// runtime; a source whose connector cannot be built fails each of its runs with the
    /// reason. Must be called within a tokio runtime.
    pub fn new(engine: Arc<Engine>, config: Arc<Config>, observer: Observer) -> Self {
        let built = build(&config);
        EngineRunner {
            engine,
            state: RwLock::new((config, built)),
            observer,
            runs: tokio::runtime::Handle::current(),
        }
    }

    /// Runs do their work (their tasks, blocking calls and the threads those start) on
    /// `runs` instead.
    pub fn working_on(mut self, runs: tokio::runtime::Handle) -> Self {
        self.runs = runs;
        self
    }

    /// Takes a new configuration: the next run of each source uses it.
    pub fn reload(&self, config: Arc<Config>) {
        let built = build(&config);
        if let Ok(mut state) = self.state.write() {
            *state = (config, built);
        }
    }

    fn lookup(&self, id: &str) -> Result<(Arc<Config>, Arc<Built>), String> {
        let state = self
            .state
            .read()
            .map_err(|_| "the daemon's source table is poisoned".to_string())?;
        let built = state
            .1
            .get(id)
            .cloned()
            .ok_or_else(|| format!("source {id} is not configured (or could not be built)"))?;
        Ok((Arc::clone(&state.0), built))
    }
}

fn build(config: &Config) -> BTreeMap<String, Arc<Built>> {
    let mut out = BTreeMap::new();
    for s in &config.sources {
        match s.source() {
            Ok(source) => {
                out.insert(
                    s.id.clone(),
                    Arc::new(Built {
                        source,
                        documents_in_flight: s.documents_in_flight(),
                    }),
                );
            }
            Err(e) => {
                tracing::error!(source = %s.id, error = %format!("{e:#}"), "cannot build the source; its runs fail until the config is fixed")
            }
        }
    }
    out
}

impl Runner for EngineRunner {
    async fn run(&self, source: &str, kind: SyncKind, ctx: RunContext) -> RunOutcome {
        let (config, built) = match self.lookup(source) {
            Ok(found) => found,
            Err(message) => return RunOutcome::failed(message),
        };
        let mut options = config.sync.options();
        options.stop = ctx.cancellation().child_token();
        if let Some(n) = built.documents_in_flight {
            options.concurrency = options.concurrency.max(n);
        }
        let progress = Arc::new(Progress::default());
        let watcher = tokio::spawn(watch(Arc::clone(&progress), ctx.clone()));
        tracing::info!(source, kind = kind.name(), "run starts");
        if kind == SyncKind::Permissions {
            watcher.abort();
            return RunOutcome::failed("this source has no separate permission sync");
        }
        options.full = kind == SyncKind::Full;
        // Driven on a blocking thread of its own: rustc cannot prove the engine's run
        // future `Send` (a higher-ranked lifetime in its stream stages, rust#102211), which
        // the scheduler's runs must be. That thread and the run's own tasks are the runs'
        // runtime's.
        let engine = Arc::clone(&self.engine);
        let handle = self.runs.clone();
        let run = {
            let progress = Arc::clone(&progress);
            self.runs.spawn_blocking(move || {
                let source = &built.source;
                handle.block_on(async {
                    match kind {
                        SyncKind::Identities => engine.sync_identities(source, &options).await,
                        _ => engine.sync(source, &options, progress).await,
                    }
                })
            })
        };
        let result = run.await;
        watcher.abort();
        let result = match result {
            Ok(result) => result,
            Err(e) => return RunOutcome::failed(format!("the run's task failed: {e}")),
        };
        match result {
            Ok(report) => {
                (self.observer)(&report, kind);
                tracing::info!(
                    source,
                    kind = kind.name(),
                    run = report.id,
                    state = report.state.as_str(),
                    counts = ?report.counts,
                    "run finished"
                );
                outcome(report.state, &report.errors)
            }
            Err(e) => {
                tracing::warn!(source, kind = kind.name(), error = %e, "run could not start");
                RunOutcome::failed(e.to_string())
            }
        }
    }
}

/// A report as the scheduler counts it: a run whose listing completed is a success even
/// when some documents failed (they wait on the retry list, not on the schedule).
fn outcome(state: RunState, errors: &[String]) -> RunOutcome {
    match state {
        RunState::Succeeded | RunState::Partial => RunOutcome::Succeeded,
        RunState::Stopped => RunOutcome::Cancelled,
        RunState::Failed | RunState::Running => RunOutcome::failed(
            errors
                .first()
                .cloned()
                .unwrap_or_else(|| "the run failed".into()),
        ),
    }
}

/// Tells the scheduler, once a second, whether the run moved and whether the source has
/// it paused.
async fn watch(progress: Arc<Progress>, ctx: RunContext) {
    let mut last = (u64::MAX, u64::MAX);
    loop {
        let now = (
            progress.scanned.load(Ordering::Relaxed),
            progress.done.load(Ordering::Relaxed),
        );
        if now != last {
            ctx.progress();
            last = now;
        }
        ctx.set_rate_limited(progress.rate_limited_until().is_some());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_runs_count_as_successes_and_stopped_ones_as_cancelled() {
        let errors = ["listing: gone".to_string()];
        assert_eq!(outcome(RunState::Partial, &errors), RunOutcome::Succeeded);
        assert_eq!(outcome(RunState::Stopped, &errors), RunOutcome::Cancelled);
        assert_eq!(
            outcome(RunState::Failed, &errors),
            RunOutcome::failed("listing: gone")
        );
        assert_eq!(
            outcome(RunState::Failed, &[]),
            RunOutcome::failed("the run failed")
        );
    }
}
