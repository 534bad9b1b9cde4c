//! [`MemoryStore`]: a [`StateStore`] that keeps everything in memory.
//!
//! It proves the seam — the engine reaches its state only through the trait — and serves
//! embedders that rebuild their state on start (tests, a throw-away sync into an index that
//! is thrown away too). Nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::identities::Memberships;
use crate::report::RunReport;
use crate::store::{ManifestEntry, ManifestIter, RetryEntry, SourceState, StateStore, StoreBatch};
use crate::{EngineError, Result};

/// Per-source tables, each in doc id order as the trait promises.
#[derive(Debug, Default)]
struct Tables {
    manifest: HashMap<String, BTreeMap<String, ManifestEntry>>,
    retries: HashMap<String, BTreeMap<String, RetryEntry>>,
    states: HashMap<String, SourceState>,
    runs: BTreeMap<u64, RunReport>,
    memberships: BTreeMap<String, Memberships>,
}

/// The in-memory state store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    next_id: AtomicU64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn tables(&self) -> Result<std::sync::MutexGuard<'_, Tables>> {
        self.tables
            .lock()
            .map_err(|_| EngineError::Store("memory store lock poisoned".into()))
    }
}

impl StateStore for MemoryStore {
    fn manifest_get(&self, source: &str, doc_id: &str) -> Result<Option<ManifestEntry>> {
        Ok(self
            .tables()?
            .manifest
            .get(source)
            .and_then(|m| m.get(doc_id))
            .cloned())
    }

    fn manifest_iter<'a>(&'a self, source: &str) -> ManifestIter<'a> {
        // A snapshot, as the trait promises: later writes are not seen.
        let rows: Vec<Result<(String, ManifestEntry)>> = match self.tables() {
            Ok(t) => t
                .manifest
                .get(source)
                .map(|m| m.iter().map(|(k, v)| Ok((k.clone(), v.clone()))).collect())
                .unwrap_or_default(),
            Err(e) => vec![Err(e)],
        };
        Box::new(rows.into_iter())
    }

    fn manifest_count(&self, source: &str) -> Result<u64> {
        Ok(self.tables()?.manifest.get(source).map_or(0, |m| m.len()) as u64)
    }

    fn apply(&self, batch: StoreBatch) -> Result<()> {
        // One lock for the whole batch: atomic for every reader.
        let mut t = self.tables()?;
        for (source, id, entry) in batch.put {
            t.manifest.entry(source).or_default().insert(id, entry);
        }
        for (source, id) in batch.remove {
            if let Some(m) = t.manifest.get_mut(&source) {
                m.remove(&id);
            }
        }
        for (source, id, entry) in batch.retry_put {
            t.retries.entry(source).or_default().insert(id, entry);
        }
        for (source, id) in batch.retry_remove {
            if let Some(m) = t.retries.get_mut(&source) {
                m.remove(&id);
            }
        }
        if let Some((source, state)) = batch.source_state {
            t.states.insert(source, state);
        }
        if let Some(report) = batch.run {
            let source = report.source.clone();
            t.runs.insert(report.id, report);
            if let Some(keep) = batch.keep_runs {
                prune(&mut t.runs, &source, keep);
            }
        }
        Ok(())
    }

    fn retries(&self, source: &str) -> Result<Vec<(String, RetryEntry)>> {
        Ok(self
            .tables()?
            .retries
            .get(source)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    fn retry_get(&self, source: &str, doc_id: &str) -> Result<Option<RetryEntry>> {
        Ok(self
            .tables()?
            .retries
            .get(source)
            .and_then(|m| m.get(doc_id))
            .cloned())
    }

    fn source_state(&self, source: &str) -> Result<SourceState> {
        Ok(self
            .tables()?
            .states
            .get(source)
            .cloned()
            .unwrap_or_default())
    }

    fn next_id(&self) -> Result<u64> {
        Ok(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn put_run(&self, report: &RunReport) -> Result<()> {
        self.tables()?.runs.insert(report.id, report.clone());
        Ok(())
    }

    fn update_run(&self, id: u64, change: &mut dyn FnMut(&mut RunReport)) -> Result<()> {
        if let Some(report) = self.tables()?.runs.get_mut(&id) {
            change(report);
        }
        Ok(())
    }

    fn runs(&self) -> Result<Vec<RunReport>> {
        Ok(self.tables()?.runs.values().cloned().collect())
    }

    fn prune_runs(&self, source: &str, keep: usize) -> Result<usize> {
        Ok(prune(&mut self.tables()?.runs, source, keep))
    }

    fn put_memberships(&self, namespace: &str, memberships: &Memberships) -> Result<()> {
        let mut t = self.tables()?;
        t.memberships
            .insert(namespace.to_string(), memberships.clone());
        Ok(())
    }

    fn memberships(&self, namespace: &str) -> Result<Option<Memberships>> {
        Ok(self.tables()?.memberships.get(namespace).cloned())
    }

    fn membership_namespaces(&self) -> Result<Vec<String>> {
        Ok(self.tables()?.memberships.keys().cloned().collect())
    }
}

/// Deletes all but the newest `keep` run reports of `source`; returns how many went.
fn prune(runs: &mut BTreeMap<u64, RunReport>, source: &str, keep: usize) -> usize {
    let doomed: Vec<u64> = runs
        .values()
        .rev()
        .filter(|r| r.source == source)
        .skip(keep)
        .map(|r| r.id)
        .collect();
    for id in &doomed {
        runs.remove(id);
    }
    doomed.len()
}
