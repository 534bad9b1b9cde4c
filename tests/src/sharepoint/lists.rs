//! Lists, list items with attachments, and site pages, through the engine, against the
//! fake Graph and its SharePoint REST role assignments: who may read each item (web →
//! list → item inheritance, unique permissions, Limited Access granting nothing), edits,
//! attachment changes, deletions found by reconciling ids, permission changes that move
//! no modification time, and item permissions that cannot be read.

use fake_graph::{Fault, RoleKind, RoleMember, Route, When};
use serde_json::json;
use sync_core::{Identities, RunState};

use super::{Tenant, check};
use crate::support::set;

/// The Design site of [`Tenant::new`] with an Announcements list: "Holiday party" (with
/// `agenda.txt` attached) inherits; "Merger talks" has its own permissions: the members
/// (ann) and not the visitors (bob). And a page, "Welcome".
async fn tenant() -> (Tenant, String) {
    let mut t = Tenant::new().await;
    let list = {
        let mut w = t.fake.world();
        let design = t.id("design");
        let list = w.add_list(&design, "Announcements", "announcements");
        let party = w.add_list_item(
            &list,
            json!({"Title": "Holiday party", "Body": "<div><p>bring mulled wine</p></div>"}),
        );
        w.add_attachment(&list, party, "agenda.txt", b"the party agenda: carols");
        let merger = w.add_list_item(
            &list,
            json!({"Title": "Merger talks", "Body": "<div><p>acquiring globex</p></div>"}),
        );
        let visitors: u32 = t.id("design-visitors").parse().expect("group id");
        w.break_item_inheritance(&list, merger);
        w.revoke_item(&list, merger, &RoleMember::SiteGroup(visitors));
        w.add_page(
            &design,
            "Welcome.aspx",
            "Welcome",
            "<div data-sp-canvascontrol><p>welcome to the design team</p></div>",
        );
        list
    };
    t.ids.insert("announcements", list.clone());
    (t, list)
}

impl Tenant {
    fn hits(&self, user: &str, query: &str) -> usize {
        let mut ids = Identities::new();
        ids.add_stored(self.engine.store()).expect("memberships");
        crate::support::hits(&self.engine, &ids, user, query)
    }
}

const FILES_ANN: [&str; 2] = ["notes.txt", "plan.txt"];

fn with_files(user_files: &[&str], more: &[&str]) -> std::collections::BTreeSet<String> {
    set(&[user_files, more].concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_attachments_and_pages_are_searchable_by_who_may_read_them() {
    let (t, _) = tenant().await;
    t.sync_identities().await;
    // 3 files, 2 items, 1 attachment, 1 page.
    check(&t.sync().await, (7, 7, 0, 0, 0, 0, 0, 0));
    assert_eq!(
        t.titles("ann@contoso.com"),
        with_files(
            &FILES_ANN,
            &["Holiday party", "Merger talks", "agenda.txt", "Welcome"]
        )
    );
    assert_eq!(
        t.titles("bob@contoso.com"),
        set(&["plan.txt", "Holiday party", "agenda.txt", "Welcome"])
    );
    assert_eq!(t.titles("cat@contoso.com"), set(&["lease.txt"]));
    assert_eq!(t.titles("dan@contoso.com"), set(&[]));
    // The text is there: fields, the attachment's bytes, the page's canvas.
    assert_eq!(t.hits("bob@contoso.com", "mulled"), 1);
    assert_eq!(t.hits("bob@contoso.com", "carols"), 1);
    assert_eq!(t.hits("bob@contoso.com", "welcome"), 1);
    assert_eq!(t.hits("bob@contoso.com", "globex"), 0);
    assert_eq!(t.hits("ann@contoso.com", "globex"), 1);
    // The Site Pages library's files are not synced as files besides the pages.
    assert!(!t.titles("ann@contoso.com").contains("Welcome.aspx"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_attachments_deletions_and_silent_permission_changes_reach_the_index() {
    let (t, list) = tenant().await;
    t.sync_identities().await;
    check(&t.sync().await, (7, 7, 0, 0, 0, 0, 0, 0));
    {
        let mut w = t.fake.world();
        w.edit_list_item(&list, 1, json!({"Title": "Holiday party, moved"}));
        w.remove_attachment(&list, 1, "agenda.txt");
        w.add_attachment(&list, 1, "menu.txt", b"the menu: gingerbread");
        w.delete_list_item(&list, 2);
        w.add_list_item(&list, json!({"Title": "Parking", "Body": "level -2"}));
    }
    let second = t.sync().await;
    assert_eq!(second.state, RunState::Succeeded, "{second:?}");
    assert_eq!(
        t.titles("ann@contoso.com"),
        with_files(
            &FILES_ANN,
            &["Holiday party, moved", "menu.txt", "Parking", "Welcome"]
        )
    );
    assert_eq!(
        t.hits("ann@contoso.com", "carols"),
        0,
        "the removed attachment"
    );
    assert_eq!(t.hits("ann@contoso.com", "gingerbread"), 1);
    assert_eq!(t.hits("ann@contoso.com", "globex"), 0, "the deleted item");
    assert_eq!(
        (second.counts.added, second.counts.deleted),
        (2, 2),
        "{second:?}"
    );

    // The list stops inheriting and drops the visitors: no item's modification time
    // moves, and still bob loses every item (ACL-only updates, nothing fetched).
    {
        let mut w = t.fake.world();
        let visitors: u32 = t.id("design-visitors").parse().expect("group id");
        w.break_list_inheritance(&list);
        w.revoke_list(&list, &RoleMember::SiteGroup(visitors));
    }
    let third = t.sync().await;
    assert_eq!(third.state, RunState::Succeeded, "{third:?}");
    assert_eq!(third.counts.acl_updated, 3, "{third:?}");
    assert_eq!(third.counts.modified + third.counts.added, 0, "{third:?}");
    assert_eq!(t.titles("bob@contoso.com"), set(&["plan.txt", "Welcome"]));

    // Limited Access is no grant to read.
    t.fake.world().grant_list(
        &list,
        RoleMember::User("dan@contoso.com".into()),
        RoleKind::LimitedAccess,
    );
    t.sync().await;
    assert_eq!(t.titles("dan@contoso.com"), set(&[]));
    t.fake.world().grant_list(
        &list,
        RoleMember::User("dan@contoso.com".into()),
        RoleKind::RestrictedView,
    );
    t.sync().await;
    assert_eq!(
        t.titles("dan@contoso.com"),
        set(&["Holiday party, moved", "menu.txt", "Parking"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_list_is_swept_and_an_unchanged_one_costs_no_attachment_reads() {
    let (mut t, list) = tenant().await;
    // No overlap: only items modified after the newest change the last run saw have
    // their attachments listed again.
    t.reconfigure(|c| c.modified_overlap_secs = 0);
    t.sync_identities().await;
    check(&t.sync().await, (7, 7, 0, 0, 0, 0, 0, 0));
    t.fake.reset_counts();
    let again = t.sync().await;
    assert_eq!(again.state, RunState::Succeeded, "{again:?}");
    assert_eq!(again.counts.modified + again.counts.added, 0, "{again:?}");
    assert_eq!(t.fake.count(Route::Attachments), 0);
    // With the default window of ten minutes, the item edited just now is looked at.
    t.reconfigure(|_| {});
    t.fake.reset_counts();
    t.sync().await;
    assert_eq!(t.fake.count(Route::Attachments), 1);

    t.fake.world().delete_list(&list);
    let gone = t.sync().await;
    assert_eq!(gone.state, RunState::Succeeded, "{gone:?}");
    assert_eq!(
        t.titles("ann@contoso.com"),
        with_files(&FILES_ANN, &["Welcome"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_permissions_that_cannot_be_read_keep_the_item_invisible_until_they_are() {
    let (mut t, _) = tenant().await;
    t.reconfigure(|c| c.pages = false);
    t.sync_identities().await;
    // The item with its own permissions is the only one whose assignments are read
    // after the list's; refuse that read and the one `resolve` makes.
    let denied = || Fault::status(403, &json!({"error": {"code": "accessDenied"}}));
    t.fake
        .inject(Route::RoleAssignments, When::Nth(2), denied());
    t.fake
        .inject(Route::RoleAssignments, When::Nth(3), denied());
    let first = t.sync().await;
    assert!(
        !t.titles("ann@contoso.com").contains("Merger talks"),
        "{first:?}"
    );
    assert!(!t.titles("bob@contoso.com").contains("Merger talks"));
    assert_eq!(t.hits("ann@contoso.com", "globex"), 0);
    t.fake.clear_faults();
    t.sync().await;
    assert!(t.titles("ann@contoso.com").contains("Merger talks"));
    assert!(!t.titles("bob@contoso.com").contains("Merger talks"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_pages_can_be_left_out() {
    let (mut t, _) = tenant().await;
    t.reconfigure(|c| {
        c.pages = false;
        c.exclude_lists = vec!["Announce*".into()];
    });
    t.sync_identities().await;
    check(&t.sync().await, (3, 3, 0, 0, 0, 0, 0, 0));
    t.reconfigure(|_| {});
    let with_lists = t.sync().await;
    assert_eq!(with_lists.state, RunState::Succeeded, "{with_lists:?}");
    assert_eq!(
        t.titles("ann@contoso.com"),
        with_files(
            &FILES_ANN,
            &["Holiday party", "Merger talks", "agenda.txt", "Welcome"]
        )
    );
}
