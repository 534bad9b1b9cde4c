//! The Jira connector, through the engine, against the fake Jira (`fixtures/fake-jira`),
//! which speaks Jira Cloud's REST v3: issues with their ADF text, comments and
//! attachments searchable by whoever may browse them (permission scheme grants to
//! groups, roles, reporters and any logged-in user, intersected with security levels);
//! incremental runs by `updated` in the account's time zone with an overlap; deletions by
//! the full reconcile; moves out of the synced projects; permission changes as ACL-only
//! updates; unreadable permissions failing closed; throttling and revoked credentials.

mod random_acl;
mod secrets;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use connector_jira::{JiraConfig, JiraConnector};
use connector_sdk::{Connector, Secret};
use fake_jira::{Actor, FakeJira, Holder};
use serde_json::{Value, json};
use sync_core::{Engine, Identities, RunReport, RunState, Source, SyncOptions};

use crate::support::sync;

/// 2024-01-31 10:15:10 UTC, in milliseconds.
const T0: i64 = 1_706_696_110_000;
const MINUTE: i64 = 60_000;

/// An ADF document of one paragraph.
pub(crate) fn para(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

/// A site: `admin` (the connector's account, a site administrator in eng and ops), ann and eve in
/// group eng, bob in ops, cat a Developer of ENG, dan in no group. ENG browsable by eng,
/// Developers and reporters; OPS by any logged-in user; HR by eng (not synced).
/// Security level "Restricted" of ENG: cat and ops.
pub(crate) struct Site {
    pub fake: FakeJira,
    pub engine: Engine,
    pub source: Source,
    pub options: SyncOptions,
    pub users: BTreeMap<&'static str, String>,
    pub eng_scheme: u64,
    pub eng_group: String,
    pub restricted: u64,
    _dir: tempfile::TempDir,
}

impl Site {
    pub(crate) async fn new(time_zone: &str) -> Self {
        let fake = FakeJira::start().await.expect("fake jira");
        let (users, eng_scheme, eng_group, restricted) = {
            let mut w = fake.world();
            w.set_time(T0);
            let mut users = BTreeMap::new();
            let admin = w.add_user("admin", "admin@acme.test", time_zone);
            w.make_admin(&admin);
            users.insert("admin", admin.clone());
            for name in ["ann", "bob", "cat", "dan", "eve"] {
                let id = w.add_user(name, &format!("{name}@acme.test"), "Europe/Paris");
                users.insert(name, id);
            }
            w.hide_email(&users["eve"]);
            let eng = w.add_group("eng");
            let ops = w.add_group("ops");
            for who in ["ann", "eve"] {
                w.add_member(&eng, &users[who]);
            }
            w.add_member(&ops, &users["bob"]);
            // The connector's account browses every project and level, as a sync account
            // must (site administration alone does not let it browse).
            w.add_member(&eng, &admin);
            w.add_member(&ops, &admin);
            let developers = w.add_role("Developers");
            let eng_scheme = w.add_scheme("Engineering");
            w.grant_browse(eng_scheme, Holder::Group(eng.clone()));
            w.grant_browse(eng_scheme, Holder::ProjectRole(developers));
            w.grant_browse(eng_scheme, Holder::Reporter);
            w.grant(
                eng_scheme,
                "ADMINISTER_PROJECTS",
                Holder::User(users["dan"].clone()),
            );
            // The connector's account browses ENG and HR whatever the groups' grants.
            w.grant_browse(eng_scheme, Holder::User(admin.clone()));
            let open = w.add_scheme("Open");
            w.grant_browse(open, Holder::ApplicationRole);
            w.add_project("ENG", "Engineering", &admin, eng_scheme);
            w.add_project("OPS", "Operations", &admin, open);
            w.add_project("HR", "People", &admin, eng_scheme);
            w.set_role_actors("ENG", developers, vec![Actor::User(users["cat"].clone())]);
            let security = w.add_security_scheme("Levels");
            let restricted = w.add_level(
                security,
                "Restricted",
                vec![Holder::User(users["cat"].clone()), Holder::Group(ops)],
            );
            w.set_project_security("ENG", Some(security));
            (users, eng_scheme, eng, restricted)
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path()).expect("engine");
        let (email, token) = fake.world().credentials(&users["admin"]);
        let source = source_for(&fake, &email, &token, |_| {});
        Site {
            fake,
            engine,
            source,
            options: SyncOptions {
                retry_backoff: Duration::ZERO,
                ..SyncOptions::default()
            },
            users,
            eng_scheme,
            eng_group,
            restricted,
            _dir: dir,
        }
    }

    pub(crate) fn user(&self, name: &str) -> String {
        self.users[name].clone()
    }

    pub(crate) fn reconfigure(&mut self, change: impl FnOnce(&mut JiraConfig)) {
        let (email, token) = self.fake.world().credentials(&self.users["admin"]);
        self.source = source_for(&self.fake, &email, &token, change);
    }

    pub(crate) async fn sync(&self) -> RunReport {
        sync(&self.engine, &self.source, &self.options).await
    }

    pub(crate) async fn full(&self) -> RunReport {
        let options = SyncOptions {
            full: true,
            ..self.options.clone()
        };
        sync(&self.engine, &self.source, &options).await
    }

    pub(crate) async fn sync_identities(&self) {
        let report = self
            .engine
            .sync_identities(&self.source, &self.options)
            .await
            .expect("identity sync starts");
        assert_eq!(report.state, RunState::Succeeded, "{report:?}");
    }

    pub(crate) fn hits(&self, user: &str, query: &str) -> usize {
        self.hits_as(&format!("{user}@acme.test"), query)
    }

    /// Hits for a user named by `id` (an email, or an account id).
    pub(crate) fn hits_as(&self, id: &str, query: &str) -> usize {
        let mut ids = Identities::new();
        ids.add_stored(self.engine.store()).expect("memberships");
        crate::support::hits(&self.engine, &ids, id, query)
    }

    /// Creates an ENG issue reported by `reporter` now; returns its id.
    pub(crate) fn issue(&self, project: &str, summary: &str, body: &str, reporter: &str) -> u64 {
        let reporter = self.user(reporter);
        self.fake
            .world()
            .create_issue(project, summary, Some(para(body)), &reporter)
            .0
    }
}

pub(crate) fn source_for(
    fake: &FakeJira,
    email: &str,
    token: &str,
    change: impl FnOnce(&mut JiraConfig),
) -> Source {
    let mut config = JiraConfig::new(fake.url());
    config.email = Some(email.to_string());
    config.api_token = Some(Secret::new(token));
    config.projects = vec!["ENG".into(), "OPS".into()];
    config.page_size = 2; // pages, so that nextPageToken is exercised
    config.requests_per_second = 1000.0;
    change(&mut config);
    let connector = JiraConnector::new(config).expect("connector");
    Source::new("jira", Arc::new(connector) as Arc<dyn Connector>)
}

pub(crate) fn succeeded(report: &RunReport) {
    assert_eq!(report.state, RunState::Succeeded, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_comments_and_attachments_are_searchable_by_who_may_browse() {
    let t = Site::new("America/Los_Angeles").await;
    let (bob, ann) = (t.user("bob"), t.user("ann"));
    let rich = json!({"type": "doc", "version": 1, "content": [
        {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Rollout plan"}]},
        {"type": "bulletList", "content": [{"type": "listItem", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "drain the canary nodes"}]}]}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "owner "},
            {"type": "mention", "attrs": {"id": bob, "text": "@bob"}}]},
        {"type": "codeBlock", "content": [{"type": "text", "text": "kubectl rollout undo"}]}]});
    let (eng_issue, att) = {
        let mut w = t.fake.world();
        w.set_comment_cap(1);
        let (id, _) = w.create_issue("ENG", "Deploy pipeline", Some(rich), &ann);
        for (n, word) in ["first", "second", "zeppelin"].iter().enumerate() {
            w.advance(MINUTE);
            w.comment(id, &bob, para(&format!("{word} comment {n}")));
        }
        let att = w.attach(
            id,
            &ann,
            "notes.txt",
            "text/plain",
            b"quarterly revenue forecast",
        );
        w.edit(id, |e| e.labels(&["backend"]));
        (id, att)
    };
    t.issue(
        "OPS",
        "Pager rotation",
        "who holds the pager this week",
        "bob",
    );
    t.issue("OPS", "Disk alerts", "noisy disk alerts", "bob");
    t.issue("HR", "Salaries", "salary bands", "ann");
    t.sync_identities().await;
    let report = t.sync().await;
    succeeded(&report);
    // ENG issue, its attachment, two OPS issues; HR is not synced.
    assert_eq!(report.counts.added, 4, "{report:?}");
    assert_eq!(t.hits("ann", "canary"), 1, "eng reads ENG");
    assert_eq!(
        t.hits("ann", "zeppelin"),
        1,
        "comments past the embedded page"
    );
    assert_eq!(t.hits("ann", "kubectl"), 1, "code blocks");
    assert_eq!(t.hits("ann", "revenue"), 1, "the attachment's text");
    assert_eq!(t.hits("eve", "canary"), 0, "a hidden email names nobody");
    assert_eq!(
        t.hits_as(&t.user("eve"), "canary"),
        1,
        "but the account id does"
    );
    assert_eq!(t.hits("cat", "canary"), 1, "a Developer");
    assert_eq!(t.hits("dan", "canary"), 0, "no grant");
    assert_eq!(t.hits("dan", "revenue"), 0, "nor on the attachment");
    assert_eq!(t.hits("dan", "pager"), 1, "any logged-in user");
    assert_eq!(t.hits("ann", "salary"), 0, "HR is not configured");
    assert_eq!(t.fake.count(fake_jira::Route::Media), 0, "redirect=false");
    assert!(t.fake.count(fake_jira::Route::AttachmentContent) >= 1);
    let _ = (eng_issue, att);
}

/// Two updates in one minute, the second after a sync; an edit that becomes visible late
/// with an `updated` inside the overlap window: neither is missed, whatever the
/// account's time zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_in_the_same_minute_and_inside_the_overlap_are_not_missed() {
    for zone in [
        "UTC",
        "Pacific/Pago_Pago",
        "Pacific/Kiritimati",
        "Asia/Kolkata",
    ] {
        let t = Site::new(zone).await;
        let a = t.issue("OPS", "Alpha", "first words", "bob");
        let b = t.issue("OPS", "Beta", "beta words", "bob");
        t.sync_identities().await;
        succeeded(&t.sync().await);
        {
            let mut w = t.fake.world();
            w.advance(20_000); // still 10:15
            w.edit(a, |e| e.description(Some(para("edited within the minute"))));
        }
        let same_minute = t.sync().await;
        succeeded(&same_minute);
        assert_eq!(same_minute.counts.modified, 1, "{zone}: {same_minute:?}");
        assert_eq!(t.hits("dan", "within"), 1, "{zone}");
        {
            let mut w = t.fake.world();
            w.advance(6 * MINUTE);
            w.edit(b, |e| e.summary("Beta renamed"));
        }
        succeeded(&t.sync().await);
        {
            // An edit made two minutes before the newest one seen, visible only now.
            let mut w = t.fake.world();
            let late = w.now() - 2 * MINUTE;
            w.set_time(late);
            w.edit(a, |e| {
                e.description(Some(para("eventually consistent edit")))
            });
            w.advance(2 * MINUTE);
        }
        let late = t.sync().await;
        succeeded(&late);
        assert_eq!(t.hits("dan", "eventually"), 1, "{zone}: {late:?}");
        t.fake.reset_counts();
        let noop = t.sync().await;
        succeeded(&noop);
        assert_eq!(
            noop.counts.modified + noop.counts.added,
            0,
            "{zone}: {noop:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_are_found_by_the_id_reconcile_with_their_attachments() {
    let t = Site::new("UTC").await;
    let admin = t.user("admin");
    let gone = t.issue("ENG", "Doomed", "obsolete tracker entry", "ann");
    let moved = t.issue("ENG", "Wanderer", "relocated ticket", "ann");
    let mut keepers = Vec::new();
    for n in 0..4 {
        keepers.push(t.issue("ENG", &format!("Keeper {n}"), "stays put", "ann"));
    }
    let spare = {
        let mut w = t.fake.world();
        // Pages of two: the id listing has pages too.
        w.set_page_cap(2);
        w.attach(
            gone,
            &admin,
            "notes.txt",
            "text/plain",
            b"obsolete attachment",
        );
        w.attach(
            keepers[0],
            &admin,
            "spare.txt",
            "text/plain",
            b"spare parts list",
        )
    };
    t.sync_identities().await;
    succeeded(&t.sync().await);
    assert_eq!(t.hits("ann", "obsolete"), 2);
    assert_eq!(t.hits("ann", "spare"), 1);
    let no_op = t.sync().await;
    succeeded(&no_op);
    assert_eq!(no_op.counts.deleted, 0, "{no_op:?}");
    {
        let mut w = t.fake.world();
        w.advance(MINUTE);
        w.delete_issue(gone);
        w.move_issue(moved, "HR");
        w.edit(keepers[0], |e| e.remove_attachment(spare));
    }
    let incremental = t.sync().await;
    succeeded(&incremental);
    assert_eq!(
        t.hits("ann", "obsolete"),
        0,
        "the issue and its attachment: {incremental:?}"
    );
    assert_eq!(
        t.hits("ann", "relocated"),
        0,
        "moved out of the synced projects"
    );
    assert_eq!(t.hits("ann", "spare"), 0, "an attachment the edit removed");
    assert_eq!(t.hits("ann", "stays"), 4);
    let full = t.full().await;
    succeeded(&full);
    assert_eq!(
        full.counts.deleted, 0,
        "nothing left for the sweep: {full:?}"
    );
    assert_eq!(t.hits("ann", "stays"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_scheme_or_role_change_is_an_acl_only_update() {
    let mut t = Site::new("UTC").await;
    let admin = t.user("admin");
    let bearer = t.fake.bearer_token(&admin);
    t.reconfigure(|c| {
        c.email = None;
        c.api_token = None;
        c.bearer_token = Some(Secret::new(bearer));
    });
    let id = t.issue("ENG", "Roadmap", "hovercraft roadmap", "dan");
    t.fake
        .world()
        .attach(id, &admin, "plan.txt", "text/plain", b"hovercraft budget");
    t.sync_identities().await;
    succeeded(&t.sync().await);
    assert_eq!(t.hits("ann", "hovercraft"), 2);
    assert_eq!(t.hits("dan", "hovercraft"), 2, "the reporter");
    let fetched = t.fake.count(fake_jira::Route::AttachmentContent);
    let group = t.eng_group.clone();
    t.fake.world().revoke(t.eng_scheme, &Holder::Group(group));
    let revoked = t.sync().await;
    succeeded(&revoked);
    assert_eq!(revoked.counts.acl_updated, 2, "{revoked:?}");
    assert_eq!(revoked.counts.modified, 0, "{revoked:?}");
    assert_eq!(t.hits("ann", "hovercraft"), 0);
    assert_eq!(t.hits("dan", "hovercraft"), 2);
    assert_eq!(
        t.fake.count(fake_jira::Route::AttachmentContent),
        fetched,
        "no content fetched"
    );
    // A role gains a group: its members read ENG again.
    let developers = {
        let w = t.fake.world();
        w.role_id("Developers")
    };
    let ops = t.fake.world().group_id("ops");
    t.fake.world().set_role_actors(
        "ENG",
        developers,
        vec![Actor::User(t.user("cat")), Actor::Group(ops)],
    );
    let role = t.sync().await;
    succeeded(&role);
    assert_eq!(role.counts.acl_updated, 2, "{role:?}");
    assert_eq!(t.hits("bob", "hovercraft"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_level_intersects_and_unreadable_permissions_fail_closed() {
    let mut t = Site::new("UTC").await;
    let id = t.issue("ENG", "Incident", "breach postmortem", "ann");
    let level = t.restricted;
    t.fake.world().edit(id, |e| e.security(Some(level)));
    t.issue("ENG", "Open item", "public backlog item", "ann");
    t.sync_identities().await;
    succeeded(&t.sync().await);
    // Browse (eng, Developers, reporter ann) ∩ level (cat, ops) = cat.
    assert_eq!(t.hits("cat", "postmortem"), 1);
    assert_eq!(
        t.hits("ann", "postmortem"),
        0,
        "the reporter is not in the level"
    );
    assert_eq!(t.hits("bob", "postmortem"), 0, "ops cannot browse ENG");
    assert_eq!(t.hits("ann", "backlog"), 1);
    // The connector's account cannot read schemes: every issue invisible, none public.
    let (email, token) = t.fake.world().credentials(&t.user("ann"));
    let fake_url = t.fake.url();
    t.source = {
        let mut config = JiraConfig::new(fake_url);
        config.email = Some(email);
        config.api_token = Some(Secret::new(token));
        config.projects = vec!["ENG".into()];
        let connector = JiraConnector::new(config).expect("connector");
        Source::new("jira", Arc::new(connector) as Arc<dyn Connector>)
    };
    let closed = t.full().await;
    succeeded(&closed);
    assert_eq!(t.hits("ann", "backlog"), 0, "{closed:?}");
    assert_eq!(t.hits("dan", "backlog"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_pauses_the_run_and_revoked_credentials_fail_it_without_deleting() {
    use fake_jira::{Fault, Route, When};
    let t = Site::new("UTC").await;
    for n in 0..5 {
        t.issue("OPS", &format!("Ticket {n}"), "release train", "bob");
    }
    t.sync_identities().await;
    t.fake
        .inject(Route::SearchJql, When::LaterPages(1), Fault::throttled(1));
    t.fake
        .inject(Route::PermissionScheme, When::Nth(1), Fault::unavailable(1));
    t.fake.inject(
        Route::Myself,
        When::Nth(1),
        Fault::throttled_without_retry_after(1),
    );
    let throttled = t.sync().await;
    succeeded(&throttled);
    assert!(t.fake.faulted() >= 3, "{throttled:?}");
    assert_eq!(t.hits("dan", "train"), 5, "{throttled:?}");
    t.fake.clear_faults();
    t.fake.revoke_credentials();
    let refused = t.full().await;
    assert_ne!(refused.state, RunState::Succeeded, "{refused:?}");
    let errors = refused.errors.join(" ");
    assert!(errors.contains("401"), "{errors}");
    let (_, token) = t.fake.world().credentials(&t.user("admin"));
    assert!(!errors.contains(&token), "the token is never shown");
    assert_eq!(t.hits("dan", "train"), 5, "nothing deleted");
}
