//! The retry list: documents that failed are tried again on later runs.
//!
//! A listing source (a folder, a bucket) lists a failed document again on every run, and
//! its old manifest version makes the engine fetch it again. A change feed does not: once
//! its cursor moved past the failure, the document is not named again until it changes.
//! So every failure that retrying may cure goes on a per-source list in the store (with
//! the document as listed, the attempt count, the last error and a backoff), written in
//! the same transaction as the manifest rows of its commit window. An incremental run
//! that did not list everything (no `ListingComplete`), and a full listing resumed from a
//! checkpoint (which does not name again what came before it), fetch the due ones they
//! did not name after their feed; a document leaves the list when it is indexed, deleted, refused by a rule, or
//! swept.

use std::time::Duration;

use connector_sdk::{DocumentId, RemoteDocument};
use time::OffsetDateTime;

use super::writer::Writer;
use crate::Result;
use crate::store::{RetryEntry, StateStore};

/// Each failure doubles the wait before the next retry, up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

/// How long to wait after the `attempts`-th failure, the first wait being `first`
/// (`SyncOptions::retry_backoff`).
pub(super) fn backoff(first: Duration, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    first.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// The documents of `source` due for a retry at `now`, in doc id order.
pub(super) fn due(
    store: &dyn StateStore,
    source: &str,
    now: OffsetDateTime,
) -> Result<Vec<RemoteDocument>> {
    Ok(store
        .retries(source)?
        .into_iter()
        .filter(|(_, e)| e.next_attempt <= now)
        .map(|(_, e)| e.doc)
        .collect())
}

impl Writer {
    /// The document reached a final state in this run: it no longer waits for a retry.
    pub(super) fn settled(&mut self, id: &DocumentId) {
        // Nearly always empty: skip hashing the id.
        if !self.retrying.is_empty() && self.retrying.remove(id.as_str()) {
            self.batch
                .retry_remove
                .push((self.source.clone(), id.as_str().to_string()));
        }
    }

    /// Puts a failed document on the retry list (or counts one more attempt).
    pub(super) fn retry_later(
        &mut self,
        doc: RemoteDocument,
        stage: &str,
        kind: &str,
        message: &str,
    ) -> Result<()> {
        let id = doc.id.as_str().to_string();
        let attempts = self
            .store
            .retry_get(&self.source, &id)?
            .map_or(0, |e| e.attempts)
            + 1;
        let now = OffsetDateTime::now_utc();
        self.retrying.insert(id.clone());
        self.batch.retry_put.push((
            self.source.clone(),
            id,
            RetryEntry {
                doc,
                attempts,
                stage: stage.to_string(),
                kind: kind.to_string(),
                message: message.to_string(),
                failed_at: now,
                next_attempt: now + backoff(self.retry_backoff, attempts),
            },
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_to_six_hours() {
        let minutes = |a| backoff(Duration::from_secs(60), a).as_secs() / 60;
        assert_eq!(
            [1, 2, 3, 4, 9, 10, 100].map(minutes),
            [1, 2, 4, 8, 256, 360, 360]
        );
    }
}
