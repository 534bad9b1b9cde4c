//! The SharePoint connector, through the engine, against the fake Graph (`fixtures/
//! fake-graph`), which speaks Microsoft's documented wire format: a full sync with site
//! groups, Entra groups and sharing links; the delta feed (edits, renames, moves,
//! deletions, shares reaching what a folder holds) as ACL-only updates without downloads;
//! identity sync; `410 Gone`; and request counts. `faults.rs`: throttling, `$batch`
//! failures, expired tokens and misbehaving answers. `random_acl.rs`: random tenants
//! checked against an independent model of who may read what; `random_lists.rs`: the
//! same for list items, attachments and pages under SharePoint role assignments.

mod directory;
mod faults;
mod lists;
mod random_acl;
mod random_lists;
mod secrets;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use connector_sdk::{Connector, Secret};
use connector_sharepoint::{SharePointConfig, SharePointConnector};
use fake_graph::{FakeGraph, Grant, LinkKind, LinkScope, Member, Principal, Role, Route};
use sync_core::{Engine, Identities, RunReport, RunState, Source, SyncOptions};

use crate::support::{counts, set, sync};

const TEXT: &str = "text/plain";

/// A fake tenant, an engine and the SharePoint source on it.
pub struct Tenant {
    pub fake: FakeGraph,
    pub engine: Engine,
    pub source: Source,
    pub options: SyncOptions,
    /// Ids of what `new` made, by name.
    pub ids: BTreeMap<&'static str, String>,
    _dir: tempfile::TempDir,
}

impl Tenant {
    /// ann, bob, cat and dan. Site "Design": ann is a member, Entra group eng (bob, through
    /// the nested group backend) visits; `Plans/plan.txt` inherits that, `notes.txt` has
    /// unique permissions: ann alone. Site "Legal": cat is a member; `lease.txt`.
    pub async fn new() -> Self {
        let mut t = Self::empty(|_| {}).await;
        {
            let mut w = t.fake.world();
            for (upn, name) in [
                ("ann@contoso.com", "Ann"),
                ("bob@contoso.com", "Bob"),
                ("cat@contoso.com", "Cat"),
                ("dan@contoso.com", "Dan"),
            ] {
                let id = w.add_user(upn, name);
                t.ids.insert(name_of(upn), id);
            }
            let eng = w.add_group("Engineering", "eng@contoso.com");
            let backend = w.add_group("Backend", "backend@contoso.com");
            w.add_group_member(&eng, Member::Group(backend.clone()));
            w.add_group_member(&backend, Member::User(t.ids["bob"].clone()));
            let design = w.add_site("design", "Design");
            w.add_site_group_member(
                &design.id,
                design.members,
                Principal::User("ann@contoso.com".into()),
            );
            w.add_site_group_member(
                &design.id,
                design.visitors,
                Principal::EntraGroup(eng.clone()),
            );
            let plans = w.add_folder(&design.root, "Plans");
            let plan = w.add_file(&plans, "plan.txt", TEXT, b"the launch plan");
            let notes = w.add_file(&design.root, "notes.txt", TEXT, b"ann's private notes");
            w.break_inheritance(&notes);
            for p in w.effective_permissions(&notes) {
                w.unshare(&notes, &p.id);
            }
            w.share(&notes, Grant::user(&t.ids["ann"], Role::Write));
            let legal = w.add_site("legal", "Legal");
            w.add_site_group_member(
                &legal.id,
                legal.members,
                Principal::User("cat@contoso.com".into()),
            );
            let lease = w.add_file(&legal.root, "lease.txt", TEXT, b"the office lease");
            let design_members = design.members;
            let design_visitors = design.visitors;
            let legal_members = legal.members;
            for (name, id) in [
                ("eng", eng),
                ("backend", backend),
                ("Plans", plans),
                ("plan.txt", plan),
                ("notes.txt", notes),
                ("lease.txt", lease),
                ("design", design.id),
                ("design-root", design.root),
                ("legal", legal.id),
            ] {
                t.ids.insert(name, id);
            }
            t.ids.insert("design-members", design_members.to_string());
            t.ids.insert("design-visitors", design_visitors.to_string());
            t.ids.insert("legal-members", legal_members.to_string());
        }
        t
    }

    /// A tenant with nothing in it; the engine has not run yet.
    pub async fn empty(change: impl FnOnce(&mut SharePointConfig)) -> Self {
        let fake = FakeGraph::start().await.expect("fake graph");
        let source = source_for(&fake, change);
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path()).expect("engine");
        let options = SyncOptions {
            retry_backoff: Duration::ZERO,
            ..SyncOptions::default()
        };
        Tenant {
            fake,
            engine,
            source,
            options,
            ids: BTreeMap::new(),
            _dir: dir,
        }
    }

    /// Replaces the source with one configured by `change` (same name: the engine keeps
    /// its checkpoint and documents).
    pub fn reconfigure(&mut self, change: impl FnOnce(&mut SharePointConfig)) {
        self.source = source_for(&self.fake, change);
    }

    pub async fn sync(&self) -> RunReport {
        sync(&self.engine, &self.source, &self.options).await
    }

    pub async fn sync_identities(&self) -> RunReport {
        let report = self
            .engine
            .sync_identities(&self.source, &self.options)
            .await
            .expect("identity sync starts");
        assert_eq!(report.state, RunState::Succeeded, "{report:?}");
        report
    }

    /// The titles `user` finds, as a search builds principals from stored identity syncs.
    pub fn titles(&self, user: &str) -> BTreeSet<String> {
        let mut ids = Identities::new();
        ids.add_stored(self.engine.store()).expect("memberships");
        self.engine
            .index()
            .visible_documents(&ids.principals(user))
            .expect("visible")
            .into_iter()
            .map(|d| d.title)
            .collect()
    }

    pub fn id(&self, name: &str) -> String {
        self.ids[name].clone()
    }

    /// Content requests (the `/content` redirects) since the last reset.
    pub fn downloads(&self) -> usize {
        self.fake.count(Route::Content)
    }
}

fn name_of(upn: &str) -> &'static str {
    match upn {
        "ann@contoso.com" => "ann",
        "bob@contoso.com" => "bob",
        "cat@contoso.com" => "cat",
        _ => "dan",
    }
}

/// The SharePoint source on `fake`, with the fake's app registration, configured by
/// `change`.
pub fn source_for(fake: &FakeGraph, change: impl FnOnce(&mut SharePointConfig)) -> Source {
    let app = fake.config();
    let mut config = SharePointConfig::new(&app.tenant_id, &app.client_id);
    config.client_secret = Some(Secret::new(app.client_secret.clone()));
    config.graph_url = fake.graph_url();
    config.authority_url = fake.url();
    change(&mut config);
    let connector = SharePointConnector::new(config).expect("connector");
    Source::new("sharepoint", Arc::new(connector) as Arc<dyn Connector>)
}

/// The run succeeded with these `(scanned, added, modified, deleted, acl_updated,
/// unchanged, skipped, failed)`.
pub fn check(report: &RunReport, expected: (u64, u64, u64, u64, u64, u64, u64, u64)) {
    assert_eq!(
        (report.state, counts(report)),
        (RunState::Succeeded, expected),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_indexes_each_file_once_with_who_may_read_it() {
    let t = Tenant::new().await;
    t.sync_identities().await;
    check(&t.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    assert_eq!(t.titles("ann@contoso.com"), set(&["notes.txt", "plan.txt"]));
    // bob visits Design through backend ⊂ eng, an Entra group inside a site group.
    assert_eq!(t.titles("bob@contoso.com"), set(&["plan.txt"]));
    assert_eq!(t.titles("cat@contoso.com"), set(&["lease.txt"]));
    assert_eq!(t.titles("dan@contoso.com"), set(&[]));
    assert_eq!(t.titles("mallory@evil.test"), set(&[]));
    assert_eq!(t.downloads(), 3);
    // Three files' permissions in one $batch per library page, not a GET each.
    assert_eq!(t.fake.count(Route::Batch), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_op_incremental_is_one_delta_call_per_library() {
    let t = Tenant::new().await;
    check(&t.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    t.fake.reset_counts();
    check(&t.sync().await, (0, 0, 0, 0, 0, 0, 0, 0));
    assert_eq!(t.fake.count(Route::Delta), 2);
    assert_eq!(t.fake.count(Route::Batch), 0);
    assert_eq!(t.downloads(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_renames_moves_and_deletions_reach_the_index() {
    let t = Tenant::new().await;
    t.sync_identities().await;
    check(&t.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    {
        let mut w = t.fake.world();
        w.edit(&t.id("plan.txt"), b"the launch plan, revised");
        w.rename(&t.id("notes.txt"), "diary.txt");
        w.delete(&t.id("lease.txt"));
    }
    let second = t.sync().await;
    assert_eq!(second.state, RunState::Succeeded, "{second:?}");
    assert_eq!(
        (
            second.counts.added,
            second.counts.modified,
            second.counts.deleted
        ),
        (0, 2, 1),
        "{second:?}"
    );
    assert_eq!(t.titles("ann@contoso.com"), set(&["diary.txt", "plan.txt"]));
    assert_eq!(t.titles("cat@contoso.com"), set(&[]));

    // A move into a folder with its own, narrower permissions takes the file from bob.
    {
        let mut w = t.fake.world();
        let private = w.add_folder(&t.id("design-root"), "Private");
        w.break_inheritance(&private);
        for p in w.effective_permissions(&private) {
            w.unshare(&private, &p.id);
        }
        w.share(&private, Grant::user(&t.id("ann"), Role::Read));
        w.move_item(&t.id("plan.txt"), &private);
    }
    t.fake.reset_counts();
    let moved = t.sync().await;
    assert_eq!(moved.state, RunState::Succeeded, "{moved:?}");
    assert_eq!(t.titles("bob@contoso.com"), set(&[]));
    assert_eq!(t.titles("ann@contoso.com"), set(&["diary.txt", "plan.txt"]));
    assert_eq!(t.downloads(), 0, "a move changes no content");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_and_links_are_acl_only_updates_even_through_a_folder() {
    let t = Tenant::new().await;
    t.sync_identities().await;
    check(&t.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    // A specific-people link on notes.txt for cat.
    t.fake.world().share(
        &t.id("notes.txt"),
        Grant::link_for(LinkKind::View, &[&t.id("cat")]),
    );
    t.fake.reset_counts();
    check(&t.sync().await, (1, 0, 0, 0, 1, 0, 0, 0));
    assert_eq!(t.downloads(), 0);
    assert_eq!(
        t.titles("cat@contoso.com"),
        set(&["lease.txt", "notes.txt"])
    );

    // An organization-wide link on the folder reaches the file inside it.
    let link = t.fake.world().share(
        &t.id("Plans"),
        Grant::link(LinkKind::View, LinkScope::Organization),
    );
    t.fake.reset_counts();
    let folder = t.sync().await;
    assert_eq!(folder.state, RunState::Succeeded, "{folder:?}");
    assert_eq!(folder.counts.acl_updated, 1, "{folder:?}");
    assert_eq!(t.downloads(), 0);
    assert_eq!(t.titles("dan@contoso.com"), set(&["plan.txt"]));

    // Anonymous links are not a publication unless the source says so.
    t.fake.world().share(
        &t.id("lease.txt"),
        Grant::link(LinkKind::View, LinkScope::Anonymous),
    );
    t.sync().await;
    assert!(!t.titles("mallory@evil.test").contains("lease.txt"));

    // Revoking the folder's link takes it away again.
    t.fake.world().unshare(&t.id("Plans"), &link);
    let revoked = t.sync().await;
    assert_eq!(revoked.state, RunState::Succeeded, "{revoked:?}");
    assert_eq!(t.titles("dan@contoso.com"), set(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_membership_changes_arrive_with_the_identity_sync() {
    let t = Tenant::new().await;
    t.sync_identities().await;
    t.sync().await;
    assert!(t.titles("bob@contoso.com").contains("plan.txt"));
    {
        let mut w = t.fake.world();
        w.remove_group_member(&t.id("backend"), &Member::User(t.id("bob")));
        let members: u32 = t.id("design-members").parse().expect("group id");
        w.add_site_group_member(
            &t.id("design"),
            members,
            Principal::User("dan@contoso.com".into()),
        );
    }
    t.sync_identities().await;
    assert_eq!(t.titles("bob@contoso.com"), set(&[]));
    assert_eq!(t.titles("dan@contoso.com"), set(&["plan.txt"]));
    // Everyone except external users, in the Legal members group: the whole tenant.
    {
        let members: u32 = t.id("legal-members").parse().expect("group id");
        t.fake.world().add_site_group_member(
            &t.id("legal"),
            members,
            Principal::EveryoneExceptExternal,
        );
    }
    t.sync_identities().await;
    assert!(t.titles("bob@contoso.com").contains("lease.txt"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_delta_link_and_a_removed_library_end_in_a_full_listing() {
    let t = Tenant::new().await;
    t.sync_identities().await;
    check(&t.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    {
        let mut w = t.fake.world();
        w.edit(&t.id("plan.txt"), b"the launch plan, v2");
        w.delete(&t.id("notes.txt"));
    }
    t.fake.expire_delta_tokens();
    t.fake.reset_counts();
    let expired = t.sync().await;
    assert_eq!(expired.state, RunState::Succeeded, "{expired:?}");
    assert_eq!(
        expired.reason.map(|r| r.as_str()),
        Some("cursor_expired"),
        "{expired:?}"
    );
    assert_eq!(
        (expired.counts.modified, expired.counts.deleted),
        (1, 1),
        "{expired:?}"
    );
    assert_eq!(t.downloads(), 1);

    // A library no longer listed (here: its site filtered out) has its documents swept.
    let mut t = t;
    t.reconfigure(|c| c.exclude_sites = vec!["*/sites/legal".into()]);
    let gone = t.sync().await;
    assert_eq!(gone.state, RunState::Succeeded, "{gone:?}");
    assert_eq!(gone.counts.deleted, 1, "{gone:?}");
    assert_eq!(t.titles("cat@contoso.com"), set(&[]));
}
