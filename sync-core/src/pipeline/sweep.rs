//! Settling a run: the mark-and-sweep after a complete listing, the run's final state, and
//! the reconciliation of the index after a run that died.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use time::OffsetDateTime;

use super::writer::Writer;
use crate::index::IndexSink;
use crate::report::{RunMode, RunReport, RunState};
use crate::store::StoreBatch;
use crate::{Engine, EngineError, Result};

impl Writer {
    /// Deletes what a complete listing did not see, unless that is a mass delete.
    fn sweep(&mut self) -> Result<bool> {
        let Some(log) = self.seen_log.as_mut() else {
            self.report.errors.push(
                "the seen log of this resumed listing is missing, so nothing was deleted; \
                 the next run lists again and deletes what is gone"
                    .into(),
            );
            return Ok(false);
        };
        let total = self.store.manifest_count(&self.source)?;
        if total == self.present && !self.maybe_repeated {
            return Ok(true); // everything indexed was seen once: nothing to delete
        }
        // Some documents were not seen: turn the log into `seen` marks, then sweep.
        let mut batch = StoreBatch::default();
        let store = Arc::clone(&self.store);
        let (source, generation) = (self.source.clone(), self.generation);
        log.replay(|id| {
            if let Some(mut entry) = store.manifest_get(&source, &id)?
                && entry.seen != generation
            {
                entry.seen = generation;
                batch.put.push((source.clone(), id, entry));
                if batch.put.len() >= 1_000 {
                    store.apply(std::mem::take(&mut batch))?;
                }
            }
            Ok(())
        })?;
        store.apply(batch)?;

        let mut total = 0u64;
        let mut doomed = 0u64;
        for row in self.store.manifest_iter(&self.source) {
            let (_, entry) = row?;
            total += 1;
            if entry.seen != self.generation {
                doomed += 1;
            }
        }
        if doomed == 0 {
            return Ok(true);
        }
        if !self.allow_mass_delete && doomed as f64 > self.mass_delete_ratio * total as f64 {
            self.report.errors.push(format!(
                "mass-delete guard: the listing did not see {doomed} of {total} indexed documents \
                 ({:.0}%, over the limit of {:.0}%); nothing was deleted. If they are really gone, \
                 run again with --allow-mass-delete",
                doomed as f64 * 100.0 / total as f64,
                self.mass_delete_ratio * 100.0
            ));
            return Ok(false);
        }
        let store = Arc::clone(&self.store);
        let mut rows = store.manifest_iter(&self.source);
        loop {
            let mut ids = Vec::new();
            for row in rows.by_ref() {
                let (id, entry) = row?;
                if entry.seen != self.generation {
                    ids.push(id);
                    if ids.len() >= 1_000 {
                        break;
                    }
                }
            }
            if ids.is_empty() {
                break;
            }
            for id in &ids {
                self.sink.delete(&self.source, id)?;
            }
            self.sink.commit()?;
            self.report.counts.deleted += ids.len() as u64;
            let retry_remove = ids
                .iter()
                .filter(|id| self.retrying.remove(id.as_str()))
                .map(|id| (self.source.clone(), id.clone()))
                .collect();
            self.store.apply(StoreBatch {
                remove: ids
                    .into_iter()
                    .map(|id| (self.source.clone(), id))
                    .collect(),
                retry_remove,
                ..StoreBatch::default()
            })?;
        }
        Ok(true)
    }

    /// Sweeps if the listing completed cleanly, settles the source state and the run's
    /// final state; says whether the final report is stored already (with the state).
    pub(super) fn finish(mut self, error: Option<EngineError>) -> (RunReport, bool) {
        let mut failed = false;
        let mut stopped = false;
        self.writer_failed = error.is_some();
        if let Some(e) = error {
            self.report.errors.push(e.to_string());
            failed = true;
        } else if self.listing_failed {
            self.report.errors.push(
                "the listing was incomplete, so no document was deleted; the next run lists again"
                    .into(),
            );
            failed = true;
        } else if self.stopped && !self.listing_complete {
            self.report.errors.push(
                "stopped before the listing ended (shutdown); nothing was deleted, and the \
                 next run resumes from the last checkpoint"
                    .into(),
            );
            stopped = true;
        } else if self.listing_complete {
            // A refused or impossible sweep still settles the listing: the next run lists
            // again from the new checkpoint. Only an error leaves it to be resumed.
            let settled = match self.sweep() {
                Ok(swept) => {
                    failed = !swept;
                    true
                }
                Err(e) => {
                    self.report.errors.push(format!("sweep: {e}"));
                    failed = true;
                    false
                }
            };
            if settled {
                if let Some(log) = self.seen_log.take()
                    && let Err(e) = log.remove()
                {
                    tracing::warn!(error = %e, "could not remove the seen log");
                }
                // Written below, with `running = false` and the final report.
                self.state.listing = None;
                self.state.checkpoint = Some(self.checkpoint.clone());
            }
        } else if self.mode != RunMode::Incremental {
            self.report
                .errors
                .push("the listing ended without completing; nothing was deleted".into());
            failed = true;
        }
        self.report.counts.scanned = self.progress.scanned.load(Ordering::Relaxed);
        self.report.finished_at = Some(OffsetDateTime::now_utc());
        self.report.state = if stopped && !failed {
            RunState::Stopped
        } else {
            final_state(failed, &self.report)
        };
        let mut written = false;
        if !self.writer_failed {
            // Every index write of this run is now described by the manifest: the settled
            // state and the final report, in one transaction.
            self.state.running = false;
            // An unsettled listing's checkpoint (stored below) covers its seen log.
            let stored = self.sync_seen_log().and_then(|()| {
                self.opening.supersede()?;
                self.store.apply(StoreBatch {
                    source_state: Some((self.source.clone(), self.state.clone())),
                    run: Some(self.report.clone()),
                    keep_runs: Some(self.keep_runs),
                    ..StoreBatch::default()
                })
            });
            match stored {
                Ok(()) => written = true,
                Err(e) => {
                    self.report.errors.push(e.to_string());
                    self.report.state = RunState::Failed;
                }
            }
        }
        (self.report, written)
    }
}

/// A finished run's state: failed, partial (documents failed or were skipped) or succeeded.
fn final_state(failed: bool, report: &RunReport) -> RunState {
    if failed {
        RunState::Failed
    } else if report.counts.failed > 0 || report.counts.skipped > 0 {
        RunState::Partial
    } else {
        RunState::Succeeded
    }
}

/// After a run died, removes documents it committed to the index but never recorded in the
/// manifest: they may have been deleted at the source since, and no later sweep would
/// find them (sweeps walk the manifest).
pub(super) fn remove_unrecorded(
    engine: &Engine,
    sink: &mut dyn IndexSink,
    source: &str,
) -> Result<()> {
    let store = &engine.store;
    let unknown = engine.index.unknown_documents(source, &mut |id| {
        store.manifest_get(source, id).map(|e| e.is_some())
    })?;
    if unknown.is_empty() {
        return Ok(());
    }
    for id in &unknown {
        sink.delete(source, id)?;
    }
    sink.commit()?;
    tracing::warn!(
        source,
        count = unknown.len(),
        "removed documents an interrupted run indexed but never recorded; the listing adds back those that still exist"
    );
    Ok(())
}
