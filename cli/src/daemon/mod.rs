//! `tributary daemon`: one long-lived process that keeps every source fresh on its
//! schedules (the `schedules` crate), serves the HTTP API, and shuts down cleanly.
//!
//! - One daemon per data folder: an exclusive lock on `<data>/daemon.lock`.
//! - Filesystem sources watch their folder (the change journal) unless they say
//!   `watch = false`: a long-lived process is what a journal is for.
//! - SIGTERM or SIGINT: no new run starts, runs in flight are told to stop (the engine
//!   reads their listing no further, commits what is in flight and checkpoints), and the
//!   daemon exits 0 once they have, or when `shutdown_grace_secs` is over; the next start
//!   resumes. A second signal exits at once: the crash guarantees still hold.
//! - SIGHUP reloads the config; a config with problems is refused, every problem logged,
//!   and the old one stays in force.
//! - Under systemd (`Type=notify`), readiness, reloads and the stop are notified, and the
//!   watchdog is fed while the scheduler loop is alive.

mod background;
mod lock;
mod runner;
mod settings;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use schedules::{Scheduler, SchedulerOptions, SourceSchedule};
use sync_core::Engine;
use tokio::signal::unix::{SignalKind, signal};

pub use runner::{EngineRunner, Observer};
pub use settings::DaemonSettings;

use crate::api;
use crate::config::Config;

/// The fewest workers the API's runtime has (the runs have a runtime of their own).
const MIN_API_WORKERS: usize = 4;

/// How many workers the API's runtime has: one per CPU, and at least [`MIN_API_WORKERS`].
///
/// Searches run in place on a worker, at most one fewer at a time than there are workers
/// (ADR 0020); any other hands its worker's tasks to a thread that must first be woken,
/// and while a sync keeps every core busy that wake-up waits for a run's thread to block or
/// for the scheduler's next tick. With one worker per core, a 2-core machine ran one search
/// in place at a time, and concurrent searches during a sync paid that wait: `http` p99
/// 1.9–2.2× `raw-snip`'s in three of five runs of the search bench (100k chunks, 8 clients
/// at 600/s, syncing); with 4 workers 1.3–1.8× in six of six (ADR 0034). Idle workers
/// cost a parked thread each.
pub fn api_worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .max(MIN_API_WORKERS)
}

/// Loads the config as the daemon reads it: filesystem sources watch by default.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Config::load_with(path, true)
}

/// The scheduler's table: each source's id and its schedule.
pub fn schedules_of(config: &Config) -> Vec<(String, SourceSchedule)> {
    config
        .sources
        .iter()
        .map(|s| (s.id.clone(), s.schedule.clone()))
        .collect()
}

/// The scheduler's options from `[daemon]`.
pub fn scheduler_options(settings: &DaemonSettings) -> SchedulerOptions {
    SchedulerOptions {
        max_concurrent_runs: settings.max_concurrent_runs,
        unhealthy_after: settings.unhealthy_after,
        stall_after: settings.stall_after,
        ..SchedulerOptions::default()
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = Arc::new(load_config(config_path)?);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("create the data folder {}", config.data_dir.display()))?;
    let _lock = lock::DaemonLock::acquire(&config.data_dir)?;
    let listener = bind(&config.daemon).await?;
    let (engine, index) = Engine::open_searching(&config.data_dir)?;
    let engine = Arc::new(engine);
    let metrics = Arc::new(api::Metrics::new());
    let observer: Observer = {
        let metrics = Arc::clone(&metrics);
        Arc::new(move |report, kind| metrics.record_run(report, kind.name()))
    };
    // Runs work on a runtime of their own whose threads yield to the API's (searches).
    let runs = background::runs().context("start the runs' runtime")?;
    let runner = Arc::new(
        EngineRunner::new(
            Arc::clone(&engine),
            Arc::clone(&config),
            Arc::clone(&observer),
        )
        .working_on(runs.handle()),
    );
    // Push sources' jobs run on the same engine, outside the scheduler (they have no
    // schedule, and a client, not the clock, decides when one starts).
    let jobs = Arc::new(
        crate::push::Jobs::new((*engine).clone(), Some(observer)).working_on(runs.handle()),
    );
    let scheduler = Scheduler::new(
        SharedRunner(Arc::clone(&runner)),
        scheduler_options(&config.daemon),
        schedules_of(&config),
    );
    let control = Arc::new(DaemonControl {
        config: RwLock::new(Arc::clone(&config)),
        scheduler: scheduler.clone(),
        ready: AtomicBool::new(false),
    });
    let state = api::ApiState::new(
        Arc::clone(&control) as Arc<dyn api::Control>,
        Arc::clone(&metrics),
        api::Auth::from_token(config.daemon.api_token.clone()),
    )
    .with_push(Arc::clone(&jobs))
    .sharing_index(config.data_dir.join("index"), index);
    let address = listener.local_addr()?;
    if !state.requires_token() {
        tracing::warn!(%address, "the API has no token: any local process may call it (set [daemon] api_token)");
    }
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, api::router(state)).await {
            tracing::error!(error = %e, "the HTTP API stopped");
        }
    });
    let mut terminate = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listen for SIGINT")?;
    let mut hangup = signal(SignalKind::hangup()).context("listen for SIGHUP")?;
    let mut driver = tokio::spawn({
        let scheduler = scheduler.clone();
        async move { scheduler.run().await }
    });
    control.ready.store(true, Ordering::Release);
    tracing::info!(
        sources = config.sources.len(),
        data = %config.data_dir.display(),
        api = %address,
        "daemon started"
    );
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let watchdog = watchdog_interval();
    let mut current = config;
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
                match reload(config_path, &current) {
                    Ok(next) => {
                        runner.reload(Arc::clone(&next));
                        if let Ok(mut c) = control.config.write() {
                            *c = Arc::clone(&next);
                        }
                        scheduler.set_max_concurrent_runs(next.daemon.max_concurrent_runs);
                        scheduler.reload(schedules_of(&next));
                        tracing::info!(sources = next.sources.len(), "config reloaded");
                        current = next;
                    }
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "config not reloaded; the old one stays in force"),
                }
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
            }
            ended = &mut driver => {
                // The scheduler only returns after a shutdown: this is a bug, said loudly.
                anyhow::bail!("the scheduler stopped on its own: {ended:?}");
            }
            _ = tokio::time::sleep(watchdog.unwrap_or(Duration::from_secs(3600))), if watchdog.is_some() => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            }
        }
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    control.ready.store(false, Ordering::Release);
    let grace = current.daemon.shutdown_grace;
    tracing::info!(
        running = scheduler.running_count(),
        grace_secs = grace.as_secs(),
        "stopping: no new runs; runs in flight commit and checkpoint"
    );
    scheduler.shutdown();
    jobs.shutdown();
    // Push jobs' runs were told to stop too: they commit what is in flight, like the
    // scheduler's.
    let drained = async {
        let _ = (&mut driver).await;
        jobs.idle().await;
    };
    tokio::select! {
        _ = drained => tracing::info!("stopped cleanly"),
        _ = tokio::time::sleep(grace) => tracing::warn!(
            "the grace period ended with runs in flight; exiting (the next start resumes them)"
        ),
        _ = terminate.recv() => tracing::warn!("second signal: exiting at once"),
        _ = interrupt.recv() => tracing::warn!("second signal: exiting at once"),
    }
    server.abort();
    Ok(ExitCode::SUCCESS)
}

/// Binds the API's address. Without a token the API answers anyone who can connect, so
/// it is only served on a loopback address.
async fn bind(settings: &DaemonSettings) -> anyhow::Result<tokio::net::TcpListener> {
    if settings.api_token.is_none() && !settings.listen.ip().is_loopback() {
        anyhow::bail!(
            "[daemon] listen = {} is not a loopback address, and no api_token is set \
             (nor {}): set one, or listen on 127.0.0.1",
            settings.listen,
            settings::TOKEN_ENV
        );
    }
    tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listen on {} ([daemon] listen)", settings.listen))
}

/// What the API sees of the running daemon.
struct DaemonControl {
    config: RwLock<Arc<Config>>,
    scheduler: Scheduler<SharedRunner>,
    ready: AtomicBool,
}

impl api::Control for DaemonControl {
    fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => Arc::clone(&c),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn statuses(&self) -> Vec<schedules::SourceStatus> {
        self.scheduler.status()
    }

    fn trigger(&self, source: &str, kind: schedules::SyncKind) -> schedules::TriggerOutcome {
        self.scheduler.trigger(source, kind)
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// The config anew, unless it has problems or moves the data folder (which needs a
/// restart: the lock and the open index are the old folder's).
fn reload(path: Option<&Path>, current: &Config) -> anyhow::Result<Arc<Config>> {
    let next = load_config(path)?;
    if next.data_dir != current.data_dir {
        anyhow::bail!(
            "index.path changed ({} → {}): restart the daemon to move it",
            current.data_dir.display(),
            next.data_dir.display()
        );
    }
    if next.daemon.listen != current.daemon.listen {
        tracing::warn!("[daemon] listen changed: it applies at the next start");
    }
    Ok(Arc::new(next))
}

/// Half the systemd watchdog interval, when systemd asks for one.
fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2))
}

/// The runner shared between the scheduler and the reload path.
struct SharedRunner(Arc<EngineRunner>);

impl schedules::Runner for SharedRunner {
    async fn run(
        &self,
        source: &str,
        kind: schedules::SyncKind,
        ctx: schedules::RunContext,
    ) -> schedules::RunOutcome {
        self.0.run(source, kind, ctx).await
    }
}
