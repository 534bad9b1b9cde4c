//! The conformance kit (feature `testkit`): checks a connector against
//! `docs/connector-spec.md` by changing its source and syncing it through a reference sync.
//!
//! The SDK depends on no engine, so the kit carries its own: [`ReferenceSync`], a small
//! model of `sync-core` that applies a connector's streams with the engine's semantics and
//! counts every `fetch`. A connector's test implements [`SourceHandle`] (create, edit,
//! delete, rename, move, share documents; change groups; inject faults) and a
//! [`SourceFactory`] that makes a fresh source per scenario; [`Kit::run`] plays every
//! scenario and returns a [`Report`]: each scenario passed, failed (with what differed) or
//! skipped (with the source's reason). Scenarios compare the exact final state — every
//! document's title and text, and what each of five users may read — with the kit's own
//! model of the world, and count fetches where the spec promises none (inline content
//! counts as a fetch: the engine indexes it again).
//!
//! Sources differ in where readers live ([`Groups`]): groups a directory or the identities
//! file fills, or only groups of the source's own making (Slack's channels), for which
//! the kit shares with a group's members one by one and syncs identities before every
//! sync. A source whose documents wrap the kit's text reads it back through
//! [`SourceHandle::read_back`].
//!
//! ```no_run
//! # async fn demo(factory: &dyn connector_sdk::testkit::SourceFactory) {
//! use connector_sdk::testkit::{Kit, assert_conformant};
//!
//! let report = Kit::new().run("my-connector", factory).await;
//! println!("{report}");
//! assert_conformant(&report);
//! # }
//! ```

mod context;
mod faults;
mod handle;
mod identity;
mod model;
mod report;
mod run;
mod scenarios;
mod world;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod toy;

use std::time::{Duration, Instant};

pub use handle::{
    Capabilities, Groups, HandleError, HandleResult, Misbehavior, NewDocument, Reader,
    SourceFactory, SourceHandle, Support,
};
pub use identity::{admits, principals};
pub use model::{Entry, ModelOptions, ReferenceSync};
pub use report::{Outcome, Report, ScenarioReport, assert_conformant};
pub use run::{Kill, Mode, Run, StreamError};
pub use world::{ANN, BEN, CAT, DAN, EVE, PARTNER_DOMAIN, USERS, View};

use context::{Ctx, Stop};

/// Every scenario: its name and what it checks.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "full_sync",
        "a full sync fetches each document once, ends with ListingComplete and gives every user exactly what they may read",
    ),
    (
        "noop_incremental",
        "incremental syncs after no change fetch, resolve, rewrite and delete nothing",
    ),
    (
        "add",
        "new documents (one in a new folder) are fetched once each, nothing else is",
    ),
    (
        "edit",
        "an edited document is fetched once, under the same id, with its new text",
    ),
    ("delete", "a deleted document disappears without a fetch"),
    (
        "rename",
        "a renamed document shows once under its new title, with at most one fetch",
    ),
    (
        "move",
        "a document moved to a new folder shows once, with at most one fetch",
    ),
    (
        "acl_only_change",
        "a change of readers alone reaches every user without a content fetch",
    ),
    (
        "group_membership",
        "a directory change reaches users through an identity sync; the next sync fetches nothing",
    ),
    (
        "kill_and_resume",
        "a full sync killed twice resumes from its committed checkpoint, fetches nothing twice and ends exact",
    ),
    (
        "expired_cursor",
        "an expired cursor falls back to a full listing with correct deletes and no needless fetch",
    ),
    (
        "fault_storm",
        "transient faults index nothing wrong and never hang; the sync after the storm ends exact",
    ),
    (
        "misbehaving_server/repeated_page_token",
        "the same page token forever ends in a clear error, deleting nothing, without a hang",
    ),
    (
        "misbehaving_server/malformed_body",
        "malformed list pages end in a clear error, deleting nothing, without a hang",
    ),
    (
        "misbehaving_server/wrong_field_types",
        "fields of the wrong type end in a clear error, deleting nothing, without a hang",
    ),
    (
        "misbehaving_server/credentials_revoked",
        "revoked credentials stop the listing with Unauthorized, deleting nothing",
    ),
];

/// Deadlines and limits of a kit run.
#[derive(Debug, Clone)]
pub struct KitOptions {
    /// The longest any one step may take (a sync, a handle operation); longer is a hang.
    pub step_timeout: Duration,
    /// How long a connector may take to give up on a misbehaving server.
    pub give_up_timeout: Duration,
    /// The reference sync's limits.
    pub model: ModelOptions,
}

impl Default for KitOptions {
    fn default() -> Self {
        KitOptions {
            step_timeout: Duration::from_secs(120),
            give_up_timeout: Duration::from_secs(30),
            model: ModelOptions::default(),
        }
    }
}

/// The conformance kit: runs the scenarios against sources a factory makes.
#[derive(Debug, Clone, Default)]
pub struct Kit {
    options: KitOptions,
    only: Option<Vec<String>>,
}

impl Kit {
    /// The kit with default options, every scenario.
    pub fn new() -> Self {
        Kit::default()
    }

    /// The kit with these options.
    pub fn with_options(options: KitOptions) -> Self {
        Kit {
            options,
            only: None,
        }
    }

    /// Runs only the scenarios whose name starts with one of `prefixes`
    /// (`misbehaving_server` selects all four).
    pub fn only(mut self, prefixes: &[&str]) -> Self {
        self.only = Some(prefixes.iter().map(|p| p.to_string()).collect());
        self
    }

    /// Runs the scenarios one after another, each on a fresh source from `factory`, and
    /// reports on `subject`.
    pub async fn run(&self, subject: &str, factory: &dyn SourceFactory) -> Report {
        let mut report = Report {
            subject: subject.to_string(),
            scenarios: Vec::new(),
        };
        for (n, (name, checks)) in SCENARIOS.iter().enumerate() {
            let selected = self
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|p| name.starts_with(p.as_str())));
            if !selected {
                continue;
            }
            let started = Instant::now();
            let outcome = self.scenario(name, n, factory).await;
            report.scenarios.push(ScenarioReport {
                name: name.to_string(),
                checks,
                outcome,
                elapsed: started.elapsed(),
            });
        }
        report
    }

    async fn scenario(&self, name: &str, n: usize, factory: &dyn SourceFactory) -> Outcome {
        let slug = name.replace(['/', '_'], "-");
        let created = context::within(
            self.options.step_timeout,
            "create the source",
            factory.create(&slug),
        )
        .await;
        let handle = match created {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => return stopped(Stop::from(e), Vec::new()),
            Err(stop) => return stopped(stop, Vec::new()),
        };
        let token = token(n);
        let mut ctx = Ctx::new(handle, &token, self.options.clone());
        let result = match name {
            "full_sync" => scenarios::full_sync(&mut ctx).await,
            "noop_incremental" => scenarios::noop_incremental(&mut ctx).await,
            "add" => scenarios::add(&mut ctx).await,
            "edit" => scenarios::edit(&mut ctx).await,
            "delete" => scenarios::delete(&mut ctx).await,
            "rename" => scenarios::rename(&mut ctx).await,
            "move" => scenarios::move_between_folders(&mut ctx).await,
            "acl_only_change" => scenarios::acl_only_change(&mut ctx).await,
            "group_membership" => scenarios::group_membership(&mut ctx).await,
            "kill_and_resume" => faults::kill_and_resume(&mut ctx).await,
            "expired_cursor" => faults::expired_cursor(&mut ctx).await,
            "fault_storm" => faults::fault_storm(&mut ctx).await,
            other => match Misbehavior::ALL
                .into_iter()
                .find(|k| other.strip_prefix("misbehaving_server/") == Some(k.name()))
            {
                Some(kind) => faults::misbehaving_server(&mut ctx, kind).await,
                None => Err(Stop::Fail(format!("no scenario {other:?}"))),
            },
        };
        let Ctx {
            problems, notes, ..
        } = ctx;
        match result {
            Ok(()) if problems.is_empty() => Outcome::Passed { notes },
            Ok(()) => Outcome::Failed { problems, notes },
            Err(Stop::Skip(reason)) if problems.is_empty() => Outcome::Skipped { reason },
            Err(stop) => {
                let mut problems = problems;
                problems.push(match stop {
                    Stop::Fail(message) => message,
                    Stop::Skip(reason) => format!("skipped after failing: {reason}"),
                });
                Outcome::Failed { problems, notes }
            }
        }
    }
}

fn stopped(stop: Stop, notes: Vec<String>) -> Outcome {
    match stop {
        Stop::Skip(reason) => Outcome::Skipped { reason },
        Stop::Fail(message) => Outcome::Failed {
            problems: vec![message],
            notes,
        },
    }
}

/// A token unique to this scenario run, so that paths and texts never meet another run's
/// (sources may outlive a run: a shared bucket, a fake server).
fn token(n: usize) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("t{n}x{:x}", nanos ^ std::process::id())
}
