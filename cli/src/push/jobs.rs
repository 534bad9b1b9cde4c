//! The daemon's push jobs: at most one open job per source, each an engine run fed by the
//! job's requests, expired when nobody touches it for the source's `job_ttl_secs`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_sdk::DocumentId;
use serde::{Deserialize, Serialize};
use sync_core::{Engine, Progress, RunReport, Source};
use time::OffsetDateTime;
use tokio::sync::{RwLock, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::job::{Held, Item, JobConnector};
use super::wire::Accepted;
use super::{KIND, PushConfig};
use crate::config::Config;
use crate::daemon::Observer;

/// Items in flight between a job's requests and its run: a put waits here when the engine
/// is behind, so a fast client cannot grow the daemon's memory.
const CHANNEL: usize = 256;

/// Finished jobs remembered for `GET .../jobs/{job}` (their reports stay in the store).
const KEEP_DONE: usize = 256;

/// How long a put waits for the engine to read held content before giving up.
const HELD_PATIENCE: Duration = Duration::from_secs(120);

/// What a job does at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Puts and deletes only: nothing else changes.
    Incremental,
    /// The job names every document of the source: finishing it sweeps the others
    /// (behind the mass-delete guard).
    Full,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Taking puts and deletes.
    Open,
    /// Finished by its client; the run is indexing what is left (and sweeping).
    Finishing,
    /// Its run ended after the client finished it: see the report.
    Finished,
    /// Nobody touched it for `job_ttl_secs`: its run is ending (nothing is swept).
    Expiring,
    /// It expired: its run ended, nothing was swept.
    Expired,
    /// Its run ended on its own (the engine failed, or the daemon is stopping).
    Ended,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// The job's id: its run's id.
    pub job: String,
    pub source: String,
    pub mode: Mode,
    pub state: JobState,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The run's report, once the run ended.
    pub report: Option<RunReport>,
}

/// Why a job request was refused.
#[derive(Debug)]
pub enum PushError {
    UnknownSource(String),
    NotPush {
        source: String,
        kind: &'static str,
    },
    UnknownJob {
        source: String,
        job: String,
    },
    /// The source has an open job already.
    Busy {
        source: String,
        job: String,
    },
    /// The job no longer takes requests.
    NotOpen {
        job: String,
        state: JobState,
    },
    /// The daemon is stopping, or held content is not being read.
    Unavailable(String),
    Internal(String),
}

struct Job {
    view: Mutex<JobView>,
    /// Puts hold it shared while they send; finishing and expiring take it whole, so that
    /// nothing a client was told went in is sent after the job's end.
    tx: RwLock<Option<mpsc::Sender<Item>>>,
    touched: Mutex<Instant>,
    held: Arc<Held>,
    ttl: Duration,
    /// A sender kept to see how much of the channel the run has yet to read (`tx` is
    /// taken when the job closes). Held as long as the job: the run's listing never reads
    /// every sender gone while the job lives, as before.
    probe: mpsc::Sender<Item>,
    /// Its run's `SyncOptions::stop`.
    stop: CancellationToken,
    /// Set by the first [`stop_after_drain`] of the job.
    stopping: AtomicBool,
}

impl Job {
    fn touch(&self) {
        *self.touched.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn view(&self) -> JobView {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_state(&self, state: JobState) {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).state = state;
    }
}

#[derive(Default)]
struct Table {
    /// Each source's open job.
    open: HashMap<String, Arc<Job>>,
    /// Sources whose job is starting.
    starting: HashSet<String>,
    done: VecDeque<JobView>,
}

/// The daemon's push jobs, over its engine.
pub struct Jobs {
    engine: Engine,
    observer: Option<Observer>,
    /// Cancelled when the daemon stops: no job starts, open ones stop once drained.
    closing: CancellationToken,
    table: Mutex<Table>,
    /// The runtime the jobs' runs work on (the daemon's runs' runtime, whose threads yield
    /// to searches); the caller's when `None`.
    runs: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").finish_non_exhaustive()
    }
}

impl Jobs {
    /// Jobs run on `engine` (the daemon's, which holds the index's writer); each report also
    /// goes to `observer` (metrics) as a `content` or `full` run.
    pub fn new(engine: Engine, observer: Option<Observer>) -> Self {
        Jobs {
            engine,
            observer,
            closing: CancellationToken::new(),
            table: Mutex::default(),
            runs: None,
        }
    }

    /// The jobs' runs do their work on `runs` (see `daemon/background.rs`).
    pub fn working_on(mut self, runs: tokio::runtime::Handle) -> Self {
        self.runs = Some(runs);
        self
    }

    /// Stops every open job's run (the daemon is stopping): what clients were told was
    /// accepted is indexed, what is in flight commits, nothing is swept. Call it on the
    /// runtime: each job stops on a task of its own ([`stop_after_drain`]).
    pub fn shutdown(&self) {
        self.closing.cancel();
        let open: Vec<Arc<Job>> = self.table().open.values().cloned().collect();
        for job in open {
            tokio::spawn(stop_after_drain(job));
        }
    }

    /// Waits until no job is open or starting (after [`Jobs::shutdown`], until every run
    /// stopped and filed its report).
    pub async fn idle(&self) {
        loop {
            {
                let table = self.table();
                if table.open.is_empty() && table.starting.is_empty() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a job of `source`: its run is listening when this returns.
    pub async fn start(
        self: &Arc<Self>,
        config: &Config,
        source: &str,
        mode: Mode,
    ) -> Result<JobView, PushError> {
        let (push, built) = push_source(config, source)?;
        if self.closing.is_cancelled() {
            return Err(PushError::Unavailable(
                "the daemon is stopping and starts no jobs".into(),
            ));
        }
        {
            let mut table = self.table();
            if let Some(job) = table.open.get(source) {
                return Err(PushError::Busy {
                    source: source.into(),
                    job: job.view().job,
                });
            }
            if !table.starting.insert(source.to_string()) {
                return Err(PushError::Busy {
                    source: source.into(),
                    job: "(starting)".into(),
                });
            }
        }
        let started = self.launch(config, source, push, built, mode).await;
        let mut table = self.table();
        table.starting.remove(source);
        let job = started?;
        let view = job.view();
        // A run that already ended (it failed at once) is not open.
        if view.state == JobState::Open {
            table.open.insert(source.to_string(), Arc::clone(&job));
            // Started as the daemon began to stop, after `shutdown` looked at the table.
            if self.closing.is_cancelled() {
                tokio::spawn(stop_after_drain(job));
            }
        }
        Ok(view)
    }

    async fn launch(
        self: &Arc<Self>,
        config: &Config,
        id: &str,
        push: PushConfig,
        built: Source,
        mode: Mode,
    ) -> Result<Arc<Job>, PushError> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let (started_tx, started_rx) = oneshot::channel();
        let held = Arc::new(Held::default());
        let connector = JobConnector::new(rx, started_tx, Arc::clone(&held), mode == Mode::Full);
        let mut source = Source::new(id.to_string(), Arc::new(connector));
        source.group_namespace = built.group_namespace.clone();
        let mut options = config.sync.options();
        options.full = mode == Mode::Full;
        options.feed_only = mode == Mode::Incremental;
        let stop = CancellationToken::new();
        options.stop = stop.clone();
        let engine = self.engine.clone();
        let handle = self
            .runs
            .clone()
            .unwrap_or_else(tokio::runtime::Handle::current);
        // Driven on a blocking thread of its own, as the scheduler's runs are: the engine's
        // run future is not `Send` (rust#102211).
        let mut run = handle.clone().spawn_blocking(move || {
            handle.block_on(engine.sync(&source, &options, Arc::new(Progress::default())))
        });
        let run_id = tokio::select! {
            started = started_rx => started.map_err(|_| {
                PushError::Internal("the job's run ended before it listened".into())
            })?,
            ended = &mut run => {
                return Err(match ended {
                    Ok(Err(sync_core::EngineError::SourceBusy(_))) => PushError::Busy {
                        source: id.to_string(),
                        job: "(a run of the engine)".into(),
                    },
                    Ok(Err(e)) => PushError::Internal(format!("the job's run did not start: {e}")),
                    Ok(Ok(report)) => PushError::Internal(format!(
                        "the job's run ended before it listened: {}",
                        report.errors.join("; ")
                    )),
                    Err(e) => PushError::Internal(format!("the job's run failed: {e}")),
                });
            }
        };
        let job = Arc::new(Job {
            view: Mutex::new(JobView {
                job: run_id,
                source: id.to_string(),
                mode,
                state: JobState::Open,
                started_at: OffsetDateTime::now_utc(),
                report: None,
            }),
            probe: tx.clone(),
            tx: RwLock::new(Some(tx)),
            touched: Mutex::new(Instant::now()),
            held,
            ttl: Duration::from_secs(push.job_ttl_secs),
            stop,
            stopping: AtomicBool::new(false),
        });
        tokio::spawn(expire(Arc::clone(&job)));
        tokio::spawn(Arc::clone(self).settle(Arc::clone(&job), run));
        Ok(job)
    }

    /// Waits for a job's run to end, then files its report.
    async fn settle(
        self: Arc<Self>,
        job: Arc<Job>,
        run: tokio::task::JoinHandle<sync_core::Result<RunReport>>,
    ) {
        let ended = run.await;
        // No request goes to a run that ended.
        job.tx.write().await.take();
        let report = match ended {
            Ok(Ok(report)) => {
                if let Some(observe) = &self.observer {
                    let kind = match job.view().mode {
                        Mode::Full => schedules::SyncKind::Full,
                        Mode::Incremental => schedules::SyncKind::Content,
                    };
                    observe(&report, kind);
                }
                Some(report)
            }
            Ok(Err(e)) => {
                tracing::error!(job = %job.view().job, error = %e, "push job's run failed");
                None
            }
            Err(e) => {
                tracing::error!(job = %job.view().job, error = %e, "push job's run panicked");
                None
            }
        };
        // The job's end state and its leaving the open table are one step (table, then
        // view: the order every other path takes), so that a client who saw it ended can
        // start the next job at once.
        let mut table = self.table();
        let view = {
            let mut view = job.view.lock().unwrap_or_else(|p| p.into_inner());
            view.state = match view.state {
                JobState::Finishing => JobState::Finished,
                JobState::Expiring => JobState::Expired,
                _ => JobState::Ended,
            };
            view.report = report;
            view.clone()
        };
        tracing::info!(source = %view.source, job = %view.job, state = ?view.state, "push job ended");
        if table
            .open
            .get(&view.source)
            .is_some_and(|j| Arc::ptr_eq(j, &job))
        {
            table.open.remove(&view.source);
        }
        if table.done.len() == KEEP_DONE {
            table.done.pop_front();
        }
        table.done.push_back(view);
    }

    /// The job, open or done.
    pub fn get(&self, source: &str, job: &str) -> Result<JobView, PushError> {
        let table = self.table();
        if let Some(open) = table.open.get(source)
            && open.view().job == job
        {
            return Ok(open.view());
        }
        table
            .done
            .iter()
            .rev()
            .find(|v| v.source == source && v.job == job)
            .cloned()
            .ok_or_else(|| PushError::UnknownJob {
                source: source.into(),
                job: job.into(),
            })
    }

    fn open_job(&self, source: &str, job: &str) -> Result<Arc<Job>, PushError> {
        if let Some(open) = self.table().open.get(source)
            && open.view().job == job
        {
            // Once the daemon is stopping a job takes nothing more, also before the task
            // that stops it has taken its sender (`shutdown` only spawns it).
            if self.closing.is_cancelled() {
                return Err(self.closed(open));
            }
            return Ok(Arc::clone(open));
        }
        let view = self.get(source, job)?;
        Err(PushError::NotOpen {
            job: view.job,
            state: view.state,
        })
    }

    /// Sends a validated batch of documents to the job's run.
    pub async fn put(
        &self,
        config: &Config,
        source: &str,
        job: &str,
        batch: Vec<Accepted>,
    ) -> Result<usize, PushError> {
        let job = self.open_job(source, job)?;
        job.touch();
        let pipeline = config.sync.options().pipeline_version();
        // Content the engine will not read (this version is indexed already) is not held.
        let batch = {
            let (engine, source) = (self.engine.clone(), source.to_string());
            tokio::task::spawn_blocking(move || {
                let store = engine.store();
                batch
                    .into_iter()
                    .map(|mut a| {
                        if a.bytes.is_some() {
                            let indexed = store.manifest_get(&source, a.doc.id.as_str())?;
                            if indexed.is_some_and(|e| {
                                e.version == a.doc.version && e.pipeline == pipeline
                            }) {
                                a.bytes = None;
                            }
                        }
                        Ok(a)
                    })
                    .collect::<sync_core::Result<Vec<_>>>()
            })
            .await
            .map_err(|e| PushError::Internal(format!("manifest lookup: {e}")))?
            .map_err(|e| PushError::Internal(format!("manifest lookup: {e}")))?
        };
        let n = batch.len();
        {
            let tx = job.tx.read().await;
            let Some(tx) = tx.as_ref() else {
                return Err(self.closed(&job));
            };
            for a in batch {
                if let Some(bytes) = a.bytes {
                    job.held
                        .hold(a.doc.id.clone(), a.doc.version.clone(), bytes, HELD_PATIENCE)
                        .await
                        .map_err(|after| {
                            PushError::Unavailable(format!(
                                "the job holds {} bytes of content the engine has not read for {} s: retry later",
                                job.held.bytes(),
                                after.as_secs()
                            ))
                        })?;
                }
                tx.send(Item::Upsert(Box::new(a.doc)))
                    .await
                    .map_err(|_| ended(&job))?;
            }
        }
        job.touch();
        Ok(n)
    }

    /// Sends deletions to the job's run.
    pub async fn delete(
        &self,
        source: &str,
        job: &str,
        ids: Vec<DocumentId>,
    ) -> Result<usize, PushError> {
        let job = self.open_job(source, job)?;
        job.touch();
        let n = ids.len();
        {
            let tx = job.tx.read().await;
            let tx = tx.as_ref().ok_or_else(|| self.closed(&job))?;
            for id in ids {
                tx.send(Item::Delete(id)).await.map_err(|_| ended(&job))?;
            }
        }
        job.touch();
        Ok(n)
    }

    /// Why a job's sender is gone: the daemon is stopping, or the job ended.
    fn closed(&self, job: &Job) -> PushError {
        if self.closing.is_cancelled() {
            PushError::Unavailable(
                "the daemon is stopping: the job takes no more requests (start a new one once it is back)".into(),
            )
        } else {
            ended(job)
        }
    }

    /// Finishes the job: a full job's listing is complete. The run goes on indexing what
    /// is in flight; `get` shows its report once it ended.
    pub async fn finish(&self, source: &str, job: &str) -> Result<JobView, PushError> {
        let job = self.open_job(source, job)?;
        let mut tx = job.tx.write().await;
        let Some(sender) = tx.take() else {
            return Err(ended(&job));
        };
        job.set_state(JobState::Finishing);
        if sender.send(Item::Finish).await.is_err() {
            return Err(ended(&job));
        }
        Ok(job.view())
    }
}

fn ended(job: &Job) -> PushError {
    let view = job.view();
    PushError::NotOpen {
        job: view.job,
        state: view.state,
    }
}

/// Stops a job's run once it has read every put, delete and finish a client was told was
/// accepted: they wait in the job's channel, which a run told to stop reads no further.
/// Puts in flight end first (they hold the sender shared); later ones find the job
/// closed.
async fn stop_after_drain(job: Arc<Job>) {
    if job.stopping.swap(true, Ordering::AcqRel) {
        return;
    }
    job.tx.write().await.take();
    let probe = &job.probe;
    while probe.capacity() < probe.max_capacity() && !probe.is_closed() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    job.stop.cancel();
}

/// Ends the job once nobody touched it for its time to live.
async fn expire(job: Arc<Job>) {
    loop {
        let due = *job.touched.lock().unwrap_or_else(|p| p.into_inner()) + job.ttl;
        tokio::time::sleep_until(due).await;
        let touched = *job.touched.lock().unwrap_or_else(|p| p.into_inner());
        if touched + job.ttl > Instant::now() {
            continue;
        }
        // Waits for puts in flight (they touch the job when they end: look again).
        let mut tx = job.tx.write().await;
        let touched = *job.touched.lock().unwrap_or_else(|p| p.into_inner());
        if touched + job.ttl > Instant::now() {
            continue;
        }
        if let Some(sender) = tx.take() {
            job.set_state(JobState::Expiring);
            tracing::warn!(job = %job.view().job, ttl_secs = job.ttl.as_secs(), "push job expired");
            let _ = sender.send(Item::Expired(job.ttl)).await;
        }
        return;
    }
}

/// The push source `id` of `config`, with its keys and its engine view.
fn push_source(config: &Config, id: &str) -> Result<(PushConfig, Source), PushError> {
    let s = config
        .sources
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| PushError::UnknownSource(id.into()))?;
    let push = s
        .connector
        .config()
        .downcast_ref::<PushConfig>()
        .filter(|_| s.type_name() == KIND)
        .cloned()
        .ok_or_else(|| PushError::NotPush {
            source: id.into(),
            kind: s.type_name(),
        })?;
    let source = s
        .source()
        .map_err(|e| PushError::Internal(format!("{e:#}")))?;
    Ok((push, source))
}
