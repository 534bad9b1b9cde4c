//! A run's opening write — its source state marked `running` and its first report — held
//! back until the run is about to change something.
//!
//! Why: a store commit in the one-writer-many-readers mode costs two fdatasyncs (ADR 0013),
//! and a run that changes nothing (the common incremental run) needs only its final write.
//! What makes the delay safe: `running = true` exists so that the next run removes what a
//! dead run committed to the index but never recorded in the manifest. So it must be
//! durable before the run's first index write — [`OpenedSink`] writes it then — and need
//! not be before. Anything else that writes the run's state or report first either takes
//! the opening into its own batch ([`Opening::supersede`]) or writes it first
//! ([`Opening::write`]). `status` in another process sees the run at its first write, or
//! after [`OPENING_DELAY`] at the latest (a timer in `run`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_sdk::Acl;

use crate::chunker::Chunk;
use crate::index::{DocFields, IndexSink};
use crate::report::RunReport;
use crate::store::{SourceState, StateStore, StoreBatch};
use crate::{EngineError, Result};

/// How long a run that has written nothing yet stays invisible to `status` and `runs`.
pub(super) const OPENING_DELAY: Duration = Duration::from_secs(1);

/// The held-back opening write of one run.
#[derive(Debug)]
pub(super) struct Opening {
    store: Arc<dyn StateStore>,
    source: String,
    held: Mutex<Option<(SourceState, RunReport)>>,
}

impl Opening {
    pub(super) fn new(store: Arc<dyn StateStore>, source: &str) -> Arc<Self> {
        Arc::new(Opening {
            store,
            source: source.to_string(),
            held: Mutex::new(None),
        })
    }

    /// Holds `state` and `report` as the run's opening (replacing one not yet written).
    pub(super) fn hold(&self, state: SourceState, report: RunReport) -> Result<()> {
        *self.lock()? = Some((state, report));
        Ok(())
    }

    /// Writes the held opening, if any, durably. The lock is held through the write, so a
    /// caller that finds nothing held knows the opening is durable (or superseded).
    pub(super) fn write(&self) -> Result<()> {
        let mut held = self.lock()?;
        if let Some((state, report)) = held.as_ref() {
            // Kept until the write succeeds: a failed write must not let an index write
            // through without `running` on disk.
            self.store.apply(StoreBatch {
                source_state: Some((self.source.clone(), state.clone())),
                run: Some(report.clone()),
                ..StoreBatch::default()
            })?;
            *held = None;
        }
        Ok(())
    }

    /// Drops the held opening: the caller is about to write a newer state and report in
    /// one batch (with `running` still set, or after the run's last index write).
    pub(super) fn supersede(&self) -> Result<()> {
        *self.lock()? = None;
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Option<(SourceState, RunReport)>>> {
        self.held
            .lock()
            .map_err(|_| EngineError::Store("the run's opening lock is poisoned".into()))
    }
}

/// An index writer that writes the run's opening before the run's first index write.
pub(super) struct OpenedSink {
    pub(super) inner: Box<dyn IndexSink>,
    pub(super) opening: Arc<Opening>,
}

impl IndexSink for OpenedSink {
    fn upsert(&mut self, doc: &DocFields<'_>, chunks: &[Chunk], replace: bool) -> Result<()> {
        self.opening.write()?;
        self.inner.upsert(doc, chunks, replace)
    }

    fn delete(&mut self, source: &str, doc_id: &str) -> Result<()> {
        self.opening.write()?;
        self.inner.delete(source, doc_id)
    }

    fn update_acl(
        &mut self,
        source: &str,
        namespace: &str,
        doc_id: &str,
        acl: &Acl,
    ) -> Result<Option<u32>> {
        self.opening.write()?;
        self.inner.update_acl(source, namespace, doc_id, acl)
    }

    fn commit(&mut self) -> Result<()> {
        self.inner.commit()
    }
}
