//! The scenarios of things going wrong: a sync killed mid-listing and resumed, a change
//! feed's cursor that expired, a storm of transient faults, and a server that misbehaves.

use std::collections::{BTreeMap, BTreeSet};

use super::context::{Ctx, Step, Stop, ids, within};
use super::handle::{Misbehavior, Reader};
use super::run::{Kill, Mode, Run};
use super::world::{self, ANN};
use crate::{DocumentId, ErrorKind};

/// A full sync killed twice mid-listing (right after a checkpoint, then a little after
/// one) resumes from its last committed checkpoint, lists what changed meanwhile, fetches
/// no document twice, and ends exact.
pub(crate) async fn kill_and_resume(ctx: &mut Ctx) -> Step {
    ctx.setup_groups().await?;
    let n = ctx.handle.resume_scale().max(3);
    let readers = [
        vec![Reader::user(ANN)],
        vec![Reader::group("eng")],
        vec![Reader::group("sales")],
    ];
    let docs: Vec<(String, Vec<Reader>)> = (0..n)
        .map(|i| {
            let path = ctx.path("bulk", &format!("doc-{i:05}"));
            (path, readers[i % readers.len()].clone())
        })
        .collect();
    let last = docs.last().map(|(p, _)| p.clone()).unwrap_or_default();
    ctx.add_all(docs).await?;

    let mut runs: Vec<Run> = Vec::new();
    let first = ctx
        .sync_killed(
            "the full sync killed after a checkpoint",
            Kill::AfterCheckpoint { then: 0 },
        )
        .await?;
    if !first.killed {
        return Err(Stop::Fail(format!(
            "the full listing of {n} documents emitted no checkpoint after a document before \
             it ended ({} checkpoints in all), so a killed sync cannot resume: a connector \
             SHOULD mark its position (see `SourceHandle::resume_scale`)",
            first.checkpoints
        )));
    }
    ctx.expect(ctx.model.resumable().is_some(), || {
        "no resumable listing after the kill".into()
    });
    let covered: BTreeSet<DocumentId> = first.listed[..first.listed_at_checkpoint]
        .iter()
        .cloned()
        .collect();
    runs.push(first);

    // While the sync is down: a new document at the end, and one not listed yet deleted.
    let late = ctx.path("bulk", "zzz-late");
    ctx.add_all(vec![(late, vec![Reader::group("eng")])])
        .await?;
    let last_text = ctx.world.text_of(&last).unwrap_or_default().to_string();
    if ctx.id_of_text(&last_text).is_none() {
        ctx.world.remove(&last);
        ctx.act("delete", ctx.handle.delete(&last)).await?;
    }

    let second = ctx
        .sync_killed(
            "the resumed sync, killed again",
            Kill::AfterCheckpoint { then: 2 },
        )
        .await?;
    ctx.expect(second.mode == Some(Mode::FullResumed), || {
        format!(
            "the run after the kill was {:?}, not a resumed full listing",
            second.mode
        )
    });
    let again: Vec<&DocumentId> = second
        .listed
        .iter()
        .filter(|id| covered.contains(*id))
        .collect();
    if !again.is_empty() {
        ctx.note(format!(
            "should: the resumed listing named again {} of the {} documents its checkpoint covered",
            again.len(),
            covered.len()
        ));
    }
    let killed_again = second.killed;
    runs.push(second);
    if killed_again {
        let third = ctx.sync("the sync resumed to the end").await?;
        ctx.expect(third.mode == Some(Mode::FullResumed), || {
            format!(
                "the third run was {:?}, not a resumed full listing",
                third.mode
            )
        });
        runs.push(third);
    } else {
        ctx.note("the second run listed to the end before its kill point");
    }
    let last_run = runs.last().cloned().unwrap_or_default();
    ctx.expect(last_run.listing_complete, || {
        "the resumed listing did not end with ListingComplete".into()
    });
    for run in &runs {
        ctx.expect_no_errors("a run of the killed sync", run);
    }
    let mut fetches: BTreeMap<&DocumentId, usize> = BTreeMap::new();
    for id in runs.iter().flat_map(|r| r.fetched.iter()) {
        *fetches.entry(id).or_default() += 1;
    }
    let twice: Vec<&str> = fetches
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id.as_str())
        .collect();
    ctx.expect(twice.is_empty(), || {
        format!("documents committed before a kill were fetched again: {twice:?}")
    });
    ctx.check_state("after the resumed sync");
    Ok(())
}

/// An incremental sync whose cursor the source no longer accepts fails with
/// `CursorExpired` (or lists everything itself) and ends exact, deletions included, without
/// fetching unchanged documents; the next incremental sync is a no-op.
pub(crate) async fn expired_cursor(ctx: &mut Ctx) -> Step {
    let base = ctx.synced().await?;
    ctx.world.remove(&base.budget);
    ctx.act("delete", ctx.handle.delete(&base.budget)).await?;
    let added = ctx.path("team", "after-expiry");
    ctx.add_all(vec![(added, vec![Reader::group("eng")])])
        .await?;
    let text = ctx.world.edit(&base.plan);
    ctx.act("edit", ctx.handle.edit(&base.plan, &text)).await?;
    ctx.act("expire_cursor", ctx.handle.expire_cursor()).await?;

    let run = ctx
        .sync("the incremental sync with an expired cursor")
        .await?;
    if run.cursor_expired {
        ctx.expect(run.listing_complete, || {
            "the full listing after CursorExpired did not end with ListingComplete".into()
        });
    } else if run.listing_complete {
        ctx.note("the connector listed everything itself instead of failing with CursorExpired");
    } else {
        ctx.problem(
            "the incremental listing neither failed with CursorExpired nor listed everything: \
             changes the feed no longer knows (the deletion) are lost",
        );
    }
    let other: Vec<_> = run
        .errors
        .iter()
        .filter(|e| e.kind != ErrorKind::CursorExpired)
        .collect();
    ctx.expect(other.is_empty() && run.failed.is_empty(), || {
        format!(
            "errors besides the expiry: {other:?}, failed documents {:?}",
            run.failed
        )
    });
    let distinct: BTreeSet<&DocumentId> = run.fetched.iter().collect();
    ctx.expect(run.fetched.len() == 2 && distinct.len() == 2, || {
        format!(
            "after one edit and one addition the sync fetched {:?} (the two documents \
             expected; unchanged documents keep their version in a full listing)",
            ids(&run.fetched)
        )
    });
    ctx.check_state("after the expired cursor");
    let next = ctx.sync("the incremental sync after the fallback").await?;
    ctx.expect_no_errors("the sync after the fallback", &next);
    ctx.expect_no_fetch("the sync after the fallback", &next, "nothing changed");
    ctx.check_state("after the sync after the fallback");
    Ok(())
}

/// Checks for a run in bad weather: nothing indexed that the source does not hold, and
/// no user sees more than the world allows.
fn nothing_wrong(ctx: &mut Ctx, when: &str) {
    let expected = ctx.world.expected_documents();
    let wrong: world::View = ctx
        .indexed()
        .into_iter()
        .filter(|d| !expected.contains(d))
        .collect();
    ctx.expect(wrong.is_empty(), || {
        format!(
            "{when}: indexed what the source does not hold (a broken body?): [{}]",
            world::show_all(&wrong)
        )
    });
    for user in world::USERS {
        let allowed = ctx.world.expected_view(user);
        let extra: world::View = ctx
            .visible(user)
            .into_iter()
            .filter(|d| !allowed.contains(d))
            .collect();
        ctx.expect(extra.is_empty(), || {
            format!("{when}: {user} may not see [{}]", world::show_all(&extra))
        });
    }
}

/// Under a storm of transient faults the connector indexes nothing wrong and never hangs;
/// once it is over, one more sync ends exact without fetching again what was indexed well.
pub(crate) async fn fault_storm(ctx: &mut Ctx) -> Step {
    ctx.base().await?;
    // Enough documents for several list pages and many downloads.
    let more: Vec<(String, Vec<Reader>)> = (0..12)
        .map(|i| {
            (
                ctx.path("storm", &format!("doc-{i:02}")),
                vec![Reader::group("eng")],
            )
        })
        .collect();
    ctx.add_all(more).await?;
    let storm = ctx.act("fault_storm", ctx.handle.fault_storm(true)).await?;
    ctx.note(format!("storm: {storm}"));
    for what in [
        "the full sync in the storm",
        "the incremental sync in the storm",
    ] {
        let run = ctx.sync(what).await?;
        nothing_wrong(ctx, &format!("after {what}"));
        ctx.note(format!(
            "{what}: {} errors, {} failed documents, {} rate-limit pauses, complete: {}{}",
            run.errors.len(),
            run.failed.len(),
            run.rate_limited,
            run.listing_complete,
            run.errors
                .first()
                .map(|e| format!("; first error: {} ({})", e.message, e.kind.as_str()))
                .unwrap_or_default()
                + &run
                    .failed
                    .iter()
                    .take(2)
                    .map(|(_, kind, message)| format!("; failed: {message} ({})", kind.as_str()))
                    .collect::<String>()
        ));
        if run.clean() {
            ctx.check_state(&format!("after {what}, which reported no failure"));
        } else {
            ctx.note(format!(
                "should: {what} did not ride the storm out (documents failed or the listing \
                 was incomplete); the next sync catches up"
            ));
        }
    }
    let over = ctx
        .act("fault_storm", ctx.handle.fault_storm(false))
        .await?;
    ctx.note(format!("the storm ended: {over}"));
    let good: BTreeSet<DocumentId> = ctx
        .model
        .documents()
        .iter()
        .filter(|(id, e)| {
            ctx.world
                .expected_documents()
                .contains(&ctx.read_back(id, e))
        })
        .map(|(id, _)| id.clone())
        .collect();
    let run = ctx.sync("the sync after the storm").await?;
    ctx.expect_no_errors("the sync after the storm", &run);
    let again: Vec<&str> = run
        .fetched
        .iter()
        .filter(|id| good.contains(*id))
        .map(DocumentId::as_str)
        .collect();
    ctx.expect(again.is_empty(), || {
        format!("after the storm, documents indexed well in it were fetched again: {again:?}")
    });
    ctx.check_state("after the storm");
    Ok(())
}

/// A misbehaving server ends the listing in a clear error within the deadline, with
/// nothing deleted; once it behaves, the next sync ends exact.
pub(crate) async fn misbehaving_server(ctx: &mut Ctx, kind: Misbehavior) -> Step {
    let base = ctx.synced().await?;
    // A deletion at the source: a sweep after a listing that wrongly looks complete would
    // remove the document from the index now. The world forgets it only after the broken
    // run: until a good listing, the index rightly keeps it. A change feed may report this
    // real deletion (`Change::Delete`) on a page served before the misbehaviour shows
    // (Drive's `changes.list` repeats its page with the removal in it); that one
    // deletion is true, so it is allowed, and only it, and only as an explicit delete.
    let nobody_text = ctx
        .world
        .text_of(&base.nobody)
        .unwrap_or_default()
        .to_string();
    let nobody = ctx.id_of_text(&nobody_text);
    ctx.act("delete", ctx.handle.delete(&base.nobody)).await?;
    ctx.act("misbehave", ctx.handle.misbehave(Some(kind)))
        .await?;
    let before: BTreeSet<DocumentId> = ctx.model.documents().keys().cloned().collect();
    let limit = ctx.options.give_up_timeout;
    let what = format!(
        "a sync against a server with {}",
        kind.name().replace('_', " ")
    );
    let run = within(limit, &what, ctx.model.sync()).await;
    // Whatever happened, the server behaves again for what follows.
    ctx.act("misbehave", ctx.handle.misbehave(None)).await?;
    let run = run?;
    for v in &run.violations {
        ctx.problems.push(format!("{what}: {v}"));
    }
    let after: BTreeSet<DocumentId> = ctx.model.documents().keys().cloned().collect();
    let lost: Vec<&str> = before
        .difference(&after)
        .filter(|id| !(nobody.as_ref() == Some(*id) && run.deleted.contains(id)))
        .map(DocumentId::as_str)
        .collect();
    ctx.expect(lost.is_empty(), || {
        format!("{what}: deleted {lost:?} (nothing may be deleted after a broken listing)")
    });
    nothing_wrong(ctx, &format!("after {what}"));
    match run.errors.first() {
        None => ctx.problem(format!(
            "{what}: the listing ended without an error (complete: {})",
            run.listing_complete
        )),
        Some(_) if kind == Misbehavior::CredentialsRevoked => {
            ctx.expect(
                run.errors.iter().any(|e| e.kind == ErrorKind::Unauthorized),
                || {
                    format!(
                        "{what}: revoked credentials MUST stop the listing with Unauthorized; \
                     errors were {:?}",
                        run.errors
                    )
                },
            );
        }
        Some(e) => {
            if e.kind != ErrorKind::InvalidResponse {
                ctx.note(format!(
                    "should: {what}: the error is {} ({:?}), not invalid_response",
                    e.kind.as_str(),
                    e.message
                ));
            }
        }
    }
    if let Some(e) = run.errors.first() {
        let message = e.message.trim();
        ctx.expect(!message.is_empty(), || {
            format!("{what}: an error without a message")
        });
        if message.ends_with('.') || message.starts_with(|c: char| c.is_uppercase()) {
            ctx.note(format!(
                "should: error messages are lowercase without a trailing period: {message:?}"
            ));
        }
    }
    ctx.world.remove(&base.nobody);
    let next = ctx.sync("the sync once the server behaves").await?;
    ctx.expect_no_errors("the sync once the server behaves", &next);
    ctx.check_state("once the server behaves");
    Ok(())
}
