//! The status snapshot: the bookkeeping as the API shows it.

use chrono::{DateTime, Utc};

use super::{State, idx};
use crate::kind::SyncKind;
use crate::status::{Health, KindStatus, LastOutcome, RunningStatus, SourceStatus};

impl State {
    /// Every source (or only `only`), as of `now`.
    pub(in crate::scheduler) fn snapshot(
        &self,
        only: Option<&str>,
        now: DateTime<Utc>,
    ) -> Vec<SourceStatus> {
        let threshold = self.options.unhealthy_after.max(1);
        self.sources
            .iter()
            .filter(|(name, _)| only.is_none_or(|o| o == &***name))
            .map(|(name, src)| {
                let running = src.running.as_ref().map(|run| {
                    let p = run.progress.get();
                    let quiet = (now - p.last_progress).to_std().unwrap_or_default();
                    RunningStatus {
                        kind: run.kind,
                        since: run.since,
                        last_progress: p.last_progress,
                        rate_limited: p.rate_limited,
                        stalled: !p.rate_limited && quiet >= self.options.stall_after,
                    }
                });
                let kinds: Vec<KindStatus> = SyncKind::ALL
                    .into_iter()
                    .map(|kind| {
                        let k = &src.kinds[idx(kind)];
                        KindStatus {
                            kind,
                            schedule: src.schedule.spec(kind).map(ToString::to_string),
                            next_due: k.next_due,
                            retrying: k.retrying,
                            consecutive_failures: k.failures,
                            last_started: k.last_started,
                            last_outcome: k.last_outcome.clone().map(|(at, outcome)| LastOutcome {
                                kind,
                                at,
                                outcome,
                            }),
                            last_success: k.last_success,
                        }
                    })
                    .collect();
                let last_outcome = kinds
                    .iter()
                    .filter_map(|k| k.last_outcome.clone())
                    .max_by_key(|o| o.at);
                let consecutive_failures = src.worst_failures();
                SourceStatus {
                    source: name.to_string(),
                    health: if consecutive_failures >= threshold {
                        Health::Unhealthy
                    } else {
                        Health::Healthy
                    },
                    consecutive_failures,
                    running,
                    last_outcome,
                    last_success: kinds.iter().filter_map(|k| k.last_success).max(),
                    removed: src.removed,
                    kinds,
                }
            })
            .collect()
    }
}
