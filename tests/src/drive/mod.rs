//! The Google Drive connector, through the engine, against the fake Drive (`fixtures/
//! fake-drive`), which speaks Google's documented wire format: a full sync, the changes
//! feed (edits, renames, moves, trash, deletions, lost access, folder shares), ACL-only
//! updates without a download, identity sync with nested groups, and request counts.
//! `faults.rs`: throttling, 5xx, resets, expired tokens and misbehaving answers.
//! `random_acl.rs`: random worlds and random changes, checked against the model of Google's
//! sharing semantics in `acl_model.rs`. `filters.rs`: path, MIME type and shared drive
//! filters in full and incremental runs.

mod acl_model;
mod faults;
mod filters;
mod random_acl;
mod secrets;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use connector_google_drive::{DriveConfig, DriveConnector};
use connector_sdk::{Connector, Secret};
use std::collections::BTreeMap;

use fake_drive::{FakeDrive, MemberRole, Permission, Role, Route};
use sync_core::{Engine, Identities, RunReport, RunState, Source, SyncOptions};

use crate::support::{counts, set, sync};

const TEXT: &str = "text/plain";

/// A fake Drive, an engine and the Drive source on it.
pub struct Drive {
    pub fake: FakeDrive,
    pub engine: Engine,
    pub source: Source,
    pub options: SyncOptions,
    /// Ids of the files, folders and shared drives made by `new`, by name.
    pub ids: BTreeMap<&'static str, String>,
    _dir: tempfile::TempDir,
}

impl Drive {
    /// A domain with an admin, ann, bob and cat; ann owns `/Plans/plan.txt` (shared with
    /// group eng, where bob is a member through the nested group `backend`), bob owns
    /// `notes.txt` (private); shared drive `Legal` (members: cat) holds `lease.txt`.
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(change: impl FnOnce(&mut DriveConfig)) -> Self {
        let mut d = Self::empty(change).await;
        {
            let mut w = d.fake.world();
            for (email, name) in [
                ("ann@example.com", "Ann"),
                ("bob@example.com", "Bob"),
                ("cat@example.com", "Cat"),
            ] {
                w.add_user(email, name);
            }
            w.add_group("eng@example.com", "Engineering");
            w.add_group("backend@example.com", "Backend");
            w.add_member("eng@example.com", "backend@example.com", MemberRole::Member);
            w.add_member("backend@example.com", "bob@example.com", MemberRole::Member);
            let root = w.root_of("ann@example.com");
            let plans = w.add_folder(&root, "Plans");
            let plan = w.add_file(&plans, "plan.txt", TEXT, b"the launch plan");
            w.share(&plan, Permission::group("eng@example.com", Role::Reader));
            let bob_root = w.root_of("bob@example.com");
            let notes = w.add_file(&bob_root, "notes.txt", TEXT, b"bob's private notes");
            let legal = w.add_shared_drive("Legal");
            w.add_drive_member(&legal, Permission::user("cat@example.com", Role::Organizer));
            let lease = w.add_file(&legal, "lease.txt", TEXT, b"the office lease");
            for (name, id) in [
                ("Plans", plans),
                ("plan.txt", plan),
                ("notes.txt", notes),
                ("Legal", legal),
                ("lease.txt", lease),
            ] {
                d.ids.insert(name, id);
            }
        }
        d
    }

    /// A domain with only the admin the connector impersonates, for tests that build a
    /// world of their own (`random_acl.rs`, `filters.rs`); the engine has not run yet.
    pub async fn empty(change: impl FnOnce(&mut DriveConfig)) -> Self {
        let fake = FakeDrive::start_with_test_key().await.expect("fake drive");
        fake.world().add_admin("admin@example.com", "Admin");
        let source = source_for(&fake, change);
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path()).expect("engine");
        let options = SyncOptions {
            retry_backoff: Duration::ZERO,
            ..SyncOptions::default()
        };
        Drive {
            fake,
            engine,
            source,
            options,
            ids: BTreeMap::new(),
            _dir: dir,
        }
    }

    /// Replaces the source with one configured by `change` (same name, so the engine
    /// keeps its checkpoint and documents): for a configuration that names what the test
    /// made in the world, or that changes between runs.
    pub fn reconfigure(&mut self, change: impl FnOnce(&mut DriveConfig)) {
        self.source = source_for(&self.fake, change);
    }

    pub async fn sync(&self) -> RunReport {
        sync(&self.engine, &self.source, &self.options).await
    }

    pub async fn sync_identities(&self) -> RunReport {
        self.engine
            .sync_identities(&self.source, &self.options)
            .await
            .expect("identity sync starts")
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

    /// The id of what `new` made under `name`.
    pub fn file(&self, name: &str) -> String {
        self.ids[name].clone()
    }

    /// Downloads and exports since the last reset.
    pub fn downloads(&self) -> usize {
        self.fake.count(Route::FilesDownload) + self.fake.count(Route::FilesExport)
    }
}

/// The Drive source on `fake`, impersonating its admin, configured by `change`.
fn source_for(fake: &FakeDrive, change: impl FnOnce(&mut DriveConfig)) -> Source {
    let mut config = DriveConfig::new("admin@example.com");
    config.api_url = fake.url();
    config.credentials_env = Some("UNUSED".into());
    change(&mut config);
    let key = Secret::new(fake.service_account_json());
    let connector = DriveConnector::new(config, &key).expect("connector");
    Source::new("drive", Arc::new(connector) as Arc<dyn Connector>)
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
    let d = Drive::new().await;
    let ids = d.sync_identities().await;
    assert_eq!(ids.state, RunState::Succeeded, "{ids:?}");
    let first = d.sync().await;
    check(&first, (3, 3, 0, 0, 0, 0, 0, 0));
    assert_eq!(d.titles("ann@example.com"), set(&["plan.txt"]));
    // bob reads the plan through backend ⊂ eng, and his own notes.
    assert_eq!(d.titles("bob@example.com"), set(&["notes.txt", "plan.txt"]));
    assert_eq!(d.titles("cat@example.com"), set(&["lease.txt"]));
    assert_eq!(d.titles("mallory@evil.test"), set(&[]));
    assert_eq!(d.downloads(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_op_incremental_reads_each_feed_once_and_downloads_nothing() {
    let d = Drive::new().await;
    check(&d.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    d.fake.reset_counts();
    check(&d.sync().await, (0, 0, 0, 0, 0, 0, 0, 0));
    // Four users (the admin too) and one shared drive: five feeds, one changes.list each.
    assert_eq!(d.fake.count(Route::ChangesList), 5);
    assert_eq!(d.downloads(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_renames_moves_and_deletions_reach_the_index() {
    let d = Drive::new().await;
    d.sync_identities().await;
    check(&d.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    let (plan, notes, lease) = (d.file("plan.txt"), d.file("notes.txt"), d.file("lease.txt"));
    {
        let mut w = d.fake.world();
        w.edit(&plan, b"the launch plan, revised");
        w.rename(&notes, "diary.txt");
        w.trash(&lease);
    }
    let second = d.sync().await;
    check(&second, (2, 0, 2, 1, 0, 0, 0, 0));
    assert_eq!(d.titles("bob@example.com"), set(&["diary.txt", "plan.txt"]));
    assert_eq!(d.titles("cat@example.com"), set(&[]));
    let hits = crate::support::hits(
        &d.engine,
        &{
            let mut ids = Identities::new();
            ids.add_stored(d.engine.store()).expect("ids");
            ids
        },
        "ann@example.com",
        "revised",
    );
    assert_eq!(hits, 1);

    // A move to a folder nobody else may read keeps the file's own share.
    {
        let mut w = d.fake.world();
        let root = w.root_of("ann@example.com");
        let archive = w.add_folder(&root, "Archive");
        w.move_to(&plan, &archive);
        w.delete(&notes);
    }
    d.fake.reset_counts();
    let third = d.sync().await;
    assert_eq!(third.state, RunState::Succeeded, "{third:?}");
    assert_eq!(third.counts.deleted, 1, "{third:?}");
    assert_eq!(d.titles("bob@example.com"), set(&["plan.txt"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_is_an_acl_only_update_even_through_a_folder() {
    let d = Drive::new().await;
    d.sync_identities().await;
    check(&d.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    let notes = d.file("notes.txt");
    d.fake
        .world()
        .share(&notes, Permission::user("cat@example.com", Role::Commenter));
    d.fake.reset_counts();
    let shared = d.sync().await;
    check(&shared, (1, 0, 0, 0, 1, 0, 0, 0));
    assert_eq!(d.downloads(), 0);
    assert_eq!(
        d.titles("cat@example.com"),
        set(&["lease.txt", "notes.txt"])
    );

    // A folder shared with the whole domain reaches the file inside it, without a download.
    let plans = d.file("Plans");
    d.fake.world().share(
        &plans,
        Permission::domain("example.com", Role::Reader, true),
    );
    d.fake.reset_counts();
    let folder = d.sync().await;
    assert_eq!(folder.state, RunState::Succeeded, "{folder:?}");
    assert_eq!(folder.counts.acl_updated, 1, "{folder:?}");
    assert_eq!(d.downloads(), 0);
    assert!(d.titles("cat@example.com").contains("plan.txt"));

    // And revoking both takes them away again.
    {
        let mut w = d.fake.world();
        w.unshare(&notes, "cat@example.com");
        w.unshare(&plans, "example.com");
    }
    let revoked = d.sync().await;
    assert_eq!(revoked.state, RunState::Succeeded, "{revoked:?}");
    assert_eq!(d.titles("cat@example.com"), set(&["lease.txt"]));
    assert_eq!(d.downloads(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_membership_changes_arrive_with_the_identity_sync() {
    let d = Drive::new().await;
    d.sync_identities().await;
    d.sync().await;
    assert!(d.titles("bob@example.com").contains("plan.txt"));
    d.fake
        .world()
        .remove_member("backend@example.com", "bob@example.com");
    d.fake
        .world()
        .add_member("eng@example.com", "cat@example.com", MemberRole::Member);
    let ids = d.sync_identities().await;
    assert_eq!(ids.state, RunState::Succeeded, "{ids:?}");
    assert_eq!(d.titles("bob@example.com"), set(&["notes.txt"]));
    assert_eq!(d.titles("cat@example.com"), set(&["lease.txt", "plan.txt"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_shared_drive_and_a_dead_page_token_end_in_a_full_listing() {
    let d = Drive::new().await;
    d.sync_identities().await;
    check(&d.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    d.fake.world().remove_shared_drive(&d.file("Legal"));
    let gone = d.sync().await;
    assert_eq!(gone.state, RunState::Succeeded, "{gone:?}");
    assert_eq!(gone.counts.deleted, 1, "{gone:?}");
    assert_eq!(d.titles("cat@example.com"), set(&[]));

    // Tokens older than the newest change are refused ("discard and restart").
    {
        let mut w = d.fake.world();
        w.edit(&d.file("plan.txt"), b"the launch plan, v2");
        w.expire_change_tokens();
    }
    d.fake.reset_counts();
    let expired = d.sync().await;
    assert_eq!(expired.state, RunState::Succeeded, "{expired:?}");
    assert_eq!(
        expired.reason.map(|r| r.as_str()),
        Some("cursor_expired"),
        "{expired:?}"
    );
    assert_eq!(
        (expired.counts.modified, expired.counts.deleted),
        (1, 0),
        "{expired:?}"
    );
    assert_eq!(d.downloads(), 1);
    assert_eq!(d.titles("bob@example.com"), set(&["notes.txt", "plan.txt"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_formats_are_exported_whole_and_oversized_exports_are_skipped_with_their_acl() {
    let d = Drive::new().await;
    d.sync_identities().await;
    let roadmap = {
        let mut w = d.fake.world();
        let root = w.root_of("ann@example.com");
        let doc = w.add_file(
            &root,
            "Roadmap",
            fake_drive::mime::DOCUMENT,
            b"# Roadmap\nship the sextant in spring",
        );
        w.share(&doc, Permission::user("cat@example.com", Role::Reader));
        let sheet = w.add_spreadsheet(
            &root,
            "Budget",
            &["item,cost\nbarometer,12", "total,99\nquokka,1"],
        );
        w.share(&sheet, Permission::user("cat@example.com", Role::Reader));
        let slides = w.add_presentation(
            &root,
            "Pitch",
            &[("Why now", "mention the albatross"), ("Plan", "")],
        );
        w.share(&slides, Permission::user("cat@example.com", Role::Reader));
        doc
    };
    let first = d.sync().await;
    check(&first, (6, 6, 0, 0, 0, 0, 0, 0));
    let mut ids = Identities::new();
    ids.add_stored(d.engine.store()).expect("ids");
    for word in ["sextant", "barometer", "quokka", "albatross"] {
        assert_eq!(
            crate::support::hits(&d.engine, &ids, "cat@example.com", word),
            1,
            "{word}: headings, every sheet and speaker notes are indexed"
        );
    }

    // Drive exports at most 10 MB: above it, the document is skipped and a narrowed
    // share still lands on what was indexed.
    {
        let mut w = d.fake.world();
        w.set_export_limit(8);
        w.edit(&roadmap, b"# Roadmap\nship the sextant in summer");
        w.unshare(&roadmap, "cat@example.com");
    }
    let skipped = d.sync().await;
    assert_eq!(skipped.counts.skipped, 1, "{skipped:?}");
    assert_eq!(
        skipped.skipped_by_reason.get("too_large"),
        Some(&1),
        "{skipped:?}"
    );
    assert!(!d.titles("cat@example.com").contains("Roadmap"));
    assert!(d.titles("ann@example.com").contains("Roadmap"));
}
