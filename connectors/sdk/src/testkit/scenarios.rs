//! The scenarios of everyday changes: a full sync, a no-op, add, edit, delete, rename,
//! move, a permission change and a group membership change. Each builds its world, changes
//! the source, syncs, and compares the reference sync's state with the world by user.

use std::collections::BTreeMap;

use super::context::{Ctx, Step, Stop, ids, within};
use super::handle::{Groups, Reader};
use super::run::Mode;
use super::world::{self, BEN, CAT, DAN, Member};
use crate::DocumentId;

/// A full sync lists every document once, fetches each exactly once, ends with
/// `ListingComplete`, and gives every user exactly what they may read.
pub(crate) async fn full_sync(ctx: &mut Ctx) -> Step {
    ctx.base().await?;
    let connector = ctx.handle.connector();
    let cx = ctx.model.context().clone();
    let limit = ctx.options.step_timeout;
    if let Err(e) = within(limit, "check", connector.check(&cx)).await? {
        ctx.problem(format!("check failed on a healthy source: {e}"));
    }
    let run = ctx.sync("the full sync").await?;
    ctx.expect(run.mode == Some(Mode::Full), || {
        format!("the first sync was {:?}, not a full one", run.mode)
    });
    ctx.expect(run.listing_complete, || {
        "the full listing did not end with ListingComplete".into()
    });
    ctx.expect_no_errors("the full sync", &run);
    let mut fetches: BTreeMap<&DocumentId, usize> = BTreeMap::new();
    for id in &run.fetched {
        *fetches.entry(id).or_default() += 1;
    }
    let twice: Vec<&str> = fetches
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id.as_str())
        .collect();
    ctx.expect(twice.is_empty(), || {
        format!("documents fetched more than once: {twice:?}")
    });
    let mut listed = run.listed.clone();
    listed.sort();
    listed.dedup();
    if listed.len() != run.listed.len() {
        ctx.note(format!(
            "should: the full listing named {} documents, {} of them distinct",
            run.listed.len(),
            listed.len()
        ));
    }
    ctx.check_state("after the full sync");
    Ok(())
}

/// An incremental sync after no change fetches nothing, resolves nothing, rewrites no
/// ACL and deletes nothing — twice in a row.
pub(crate) async fn noop_incremental(ctx: &mut Ctx) -> Step {
    ctx.synced().await?;
    for what in [
        "the first no-op incremental sync",
        "the second no-op incremental sync",
    ] {
        let run = ctx.sync(what).await?;
        ctx.expect(run.mode == Some(Mode::Incremental), || {
            format!("{what} was {:?}, not incremental", run.mode)
        });
        ctx.expect_no_errors(what, &run);
        ctx.expect_no_fetch(
            what,
            &run,
            "nothing changed, so versions MUST be stable across listings",
        );
        ctx.expect(run.resolved.is_empty() && run.acl_updated.is_empty(), || {
            format!(
                "{what}: ACLs changed without a change at the source: {:?} (listed ACLs must be stable)",
                ids(&run.acl_updated)
            )
        });
        ctx.expect(run.deleted.is_empty() && run.swept.is_empty(), || {
            format!(
                "{what}: deleted {:?} and swept {:?} after no change",
                ids(&run.deleted),
                ids(&run.swept)
            )
        });
        ctx.check_state(&format!("after {what}"));
    }
    Ok(())
}

/// New documents (one in a new folder) are fetched once each, and nothing else is.
pub(crate) async fn add(ctx: &mut Ctx) -> Step {
    ctx.synced().await?;
    let known: Vec<DocumentId> = ctx.model.documents().keys().cloned().collect();
    let first = ctx.path("team", "added");
    let second = ctx.path("fresh/folder", "idea");
    ctx.add_all(vec![
        (first, vec![Reader::group("eng")]),
        (second, vec![Reader::user(CAT)]),
    ])
    .await?;
    let run = ctx.sync("the incremental sync after two additions").await?;
    ctx.expect_no_errors("the sync after the additions", &run);
    let old: Vec<&str> = run
        .fetched
        .iter()
        .filter(|id| known.contains(id))
        .map(DocumentId::as_str)
        .collect();
    ctx.expect(old.is_empty() && run.fetched.len() == 2, || {
        format!(
            "after two additions the sync fetched {:?} (exactly the two new documents expected)",
            ids(&run.fetched)
        )
    });
    ctx.check_state("after the additions");
    Ok(())
}

/// An edited document is fetched once, under the same id, with its new text.
pub(crate) async fn edit(ctx: &mut Ctx) -> Step {
    let base = ctx.synced().await?;
    let old_text = ctx
        .world
        .text_of(&base.roadmap)
        .unwrap_or_default()
        .to_string();
    let old_id = ctx.id_of_text(&old_text);
    let text = ctx.world.edit(&base.roadmap);
    ctx.act("edit", ctx.handle.edit(&base.roadmap, &text))
        .await?;
    let run = ctx.sync("the incremental sync after an edit").await?;
    ctx.expect_no_errors("the sync after the edit", &run);
    let new_id = ctx.id_of_text(&text);
    ctx.expect(new_id.is_some() && new_id == old_id, || {
        format!(
            "the edited document's id changed from {old_id:?} to {new_id:?} (ids MUST be stable \
             across content changes)"
        )
    });
    ctx.expect(
        run.fetched.len() == 1 && new_id.as_ref() == run.fetched.first(),
        || {
            format!(
                "after one edit the sync fetched {:?} (exactly the edited document expected)",
                ids(&run.fetched)
            )
        },
    );
    ctx.check_state("after the edit");
    Ok(())
}

/// A deleted document disappears (by `Delete` or by the sweep) without a fetch.
pub(crate) async fn delete(ctx: &mut Ctx) -> Step {
    let base = ctx.synced().await?;
    ctx.world.remove(&base.budget);
    ctx.act("delete", ctx.handle.delete(&base.budget)).await?;
    let run = ctx.sync("the incremental sync after a deletion").await?;
    ctx.expect_no_errors("the sync after the deletion", &run);
    ctx.expect_no_fetch(
        "the sync after the deletion",
        &run,
        "nothing was added or edited",
    );
    ctx.check_state("after the deletion");
    Ok(())
}

/// Shared by rename and move: the document is found under its new name, once, and at most
/// one fetch was made.
async fn relocated(ctx: &mut Ctx, what: &str, from: &str, to: &str) -> Step {
    let text = ctx.world.text_of(to).unwrap_or_default().to_string();
    let old_id = ctx.id_of_text(&text);
    let run = ctx
        .sync(&format!("the incremental sync after a {what}"))
        .await?;
    ctx.expect_no_errors(&format!("the sync after the {what}"), &run);
    ctx.expect(run.fetched.len() <= 1, || {
        format!(
            "a {what} fetched {:?} (at most the document itself expected)",
            ids(&run.fetched)
        )
    });
    let new_id = ctx.id_of_text(&text);
    ctx.note(format!(
        "{what} {from} -> {to}: {} ({} fetch)",
        if new_id == old_id {
            "the same document id"
        } else {
            "a new document id, the old one deleted"
        },
        run.fetched.len()
    ));
    ctx.check_state(&format!("after the {what}"));
    Ok(())
}

/// A renamed document shows under its new name (its title) and no longer under the old.
pub(crate) async fn rename(ctx: &mut Ctx) -> Step {
    let base = ctx.synced().await?;
    let new_name = format!("renamed-{}", world::name_of(&base.plan));
    let to = format!("team/{new_name}");
    ctx.world.relocate(&base.plan, &to);
    ctx.act("rename", ctx.handle.rename(&base.plan, &new_name))
        .await?;
    relocated(ctx, "rename", &base.plan, &to).await
}

/// A document moved to another (new) folder shows once, with the same text and readers.
pub(crate) async fn move_between_folders(ctx: &mut Ctx) -> Step {
    let base = ctx.synced().await?;
    let to = format!("archive/2025/{}", world::name_of(&base.pipeline));
    ctx.world.relocate(&base.pipeline, &to);
    ctx.act("move", ctx.handle.move_to(&base.pipeline, "archive/2025"))
        .await?;
    relocated(ctx, "move", &base.pipeline, &to).await
}

/// A change of readers alone reaches every user without a content fetch.
pub(crate) async fn acl_only_change(ctx: &mut Ctx) -> Step {
    let base = ctx.synced().await?;
    // Narrowed: from group eng to one partner user; widened: from ann to group eng.
    let changes = [
        (base.roadmap.clone(), vec![Reader::user(DAN)]),
        (base.plan.clone(), vec![Reader::group("eng")]),
    ];
    for (path, readers) in changes {
        ctx.world.set_readers(&path, readers.clone());
        let given = ctx.source_readers(&readers);
        ctx.act("set_readers", ctx.handle.set_readers(&path, &given))
            .await?;
    }
    let run = ctx.sync("the incremental sync after an ACL change").await?;
    ctx.expect_no_errors("the sync after the ACL change", &run);
    ctx.expect_no_fetch(
        "the sync after the ACL change",
        &run,
        "a permission change MUST NOT change the document's version",
    );
    ctx.expect(run.deleted.is_empty() && run.swept.is_empty(), || {
        format!(
            "an ACL change deleted {:?} / swept {:?}",
            ids(&run.deleted),
            ids(&run.swept)
        )
    });
    ctx.check_state("after the ACL change");
    Ok(())
}

/// A membership change in the source's directory reaches users through an identity sync
/// alone; the next document sync fetches nothing.
pub(crate) async fn group_membership(ctx: &mut Ctx) -> Step {
    if let Groups::IdentitiesFile(reason) | Groups::SourceDefined(reason) = &ctx.caps.groups {
        return Err(Stop::Skip(reason.clone()));
    }
    ctx.synced().await?;
    // cat joins leads (so eng too); ben leaves leads (so eng too).
    ctx.world.add_member("leads", Member::User(CAT.into()));
    ctx.act("add_to_group", ctx.handle.add_to_group(CAT, "leads"))
        .await?;
    ctx.world.remove_member("leads", &Member::User(BEN.into()));
    ctx.act(
        "remove_from_group",
        ctx.handle.remove_from_group(BEN, "leads"),
    )
    .await?;
    ctx.identities("the identity sync after the membership change")
        .await?;
    ctx.check_state("after the identity sync");
    let run = ctx
        .sync("the incremental sync after the membership change")
        .await?;
    ctx.expect_no_errors("the sync after the membership change", &run);
    ctx.expect_no_fetch(
        "the document sync after a membership change",
        &run,
        "no document changed",
    );
    ctx.check_state("after the document sync");
    Ok(())
}
