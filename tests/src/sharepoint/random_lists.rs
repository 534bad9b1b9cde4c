//! Randomized ACL test for lists and pages: random fake SharePoint tenants (seeded, so a
//! failure names the world that shows it) with members and guests, nested Entra groups,
//! site groups holding users, Entra groups and "Everyone except external users", one or
//! two sites with lists of items (some with attachments) and site pages, and SharePoint
//! role assignments of every permission level on webs, lists and items, with inheritance
//! broken and restored. An identity sync and a full sync, then rounds of random changes
//! (grants and revocations at each level, inheritance, group memberships, item edits and
//! deletions, attachments added and removed, new items, pages and lists), each followed
//! by an identity sync and an incremental sync. After each, what every user and a stranger finds
//! is compared with a model built from the test's own record of the world.
//!
//! The model follows SharePoint's documented semantics, never the fake's or the
//! connector's code: an item's role assignments are its own when it has unique
//! permissions, else its list's when the list has, else the web's (a new web gives its
//! Owners Full Control, Members Edit and Visitors Read); breaking inheritance copies what
//! was inherited, and granting or revoking on an object that inherits breaks it first.
//! Full Control, Edit, Contribute, Read and Restricted View let one view items; Limited
//! Access and a custom level without `ViewListItems` do not. An assignment to a user
//! reaches that user (a guest too), to an Entra group or a Microsoft 365 group's members
//! its transitive members, to a Microsoft 365 group's owners nobody (the connector cannot
//! tell who they are: fail closed), to "Everyone except external users" every member of
//! the tenant and no guest, and to a site group its members (users, Entra groups
//! transitively, everyone except external users). An attachment is read by whoever reads
//! its item.
//!
//! `TRIBUTARY_SEED=17` (or `=1..40`) makes `random_lists_1` replay or explore those seeds.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use fake_graph::{RoleKind, RoleMember, World};
use serde_json::json;
use sync_core::RunState;

use super::Tenant;
use super::directory::Directory;
use crate::seeded::{Rng, seeds};

/// In no group and in no assignment, and not of the tenant.
const STRANGER: &str = "mallory@evil.test";
const MEMBERS: usize = 6;
const GUESTS: usize = 2;
const USERS: usize = MEMBERS + GUESTS;
const GROUPS: usize = 4;
const ROUNDS: usize = 3;
const MUTATIONS: usize = 12;
const LEVELS: [RoleKind; 7] = [
    RoleKind::FullControl,
    RoleKind::Edit,
    RoleKind::Contribute,
    RoleKind::Read,
    RoleKind::LimitedAccess,
    RoleKind::RestrictedView,
    RoleKind::CustomNoView,
];

/// Whether a level lets one view items, as Microsoft documents the levels
/// (sharepoint/dev/sp-add-ins/user-permissions-and-permission-levels): every built-in
/// level but Limited Access, and Restricted View; "No Item View" is made without it.
fn views(level: RoleKind) -> bool {
    match level {
        RoleKind::FullControl
        | RoleKind::Edit
        | RoleKind::Contribute
        | RoleKind::Read
        | RoleKind::RestrictedView => true,
        RoleKind::LimitedAccess | RoleKind::CustomNoView => false,
    }
}

/// Who a role assignment names (users and Entra groups by their index in the model).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    User(usize),
    EntraGroup(usize),
    M365Members(usize),
    M365Owners(usize),
    Everyone,
    /// A site group of the object's site.
    SiteGroup(u32),
}

type Assignments = Vec<(Who, RoleKind)>;

#[derive(Debug)]
struct Site {
    /// The web's role assignments.
    web: Assignments,
}

#[derive(Debug)]
struct Item {
    id: u32,
    title: String,
    attachments: Vec<String>,
    deleted: bool,
    /// `Some` when it has unique permissions.
    roles: Option<Assignments>,
}

#[derive(Debug)]
struct List {
    id: String,
    site: usize,
    /// The Site Pages library: its items are pages, without attachments.
    pages: bool,
    /// `Some` when it has unique permissions.
    roles: Option<Assignments>,
    items: Vec<Item>,
}

/// The world as the test built it.
#[derive(Debug, Default)]
struct Model {
    dir: Directory,
    sites: Vec<Site>,
    lists: Vec<List>,
    /// Makes titles and attachment names unique in the tenant.
    next_name: usize,
}

/// Adds `(who, level)` unless it is there (SharePoint binds a level to a principal once).
fn add(to: &mut Assignments, who: Who, level: RoleKind) {
    if !to.contains(&(who, level)) {
        to.push((who, level));
    }
}

impl Model {
    /// The users an assignment to `who` on an object of `site` reaches.
    fn reached(&self, site: usize, who: Who, out: &mut BTreeSet<usize>) {
        match who {
            Who::User(u) => {
                out.insert(u);
            }
            Who::EntraGroup(g) | Who::M365Members(g) => self.dir.group_users(g, out),
            Who::M365Owners(_) => {}
            Who::Everyone => self.dir.everyone(out),
            Who::SiteGroup(sg) => self.dir.site_group_users(site, sg, out),
        }
    }

    /// The assignments in force on list `l` (`item` `None`) or one of its items.
    fn effective(&self, l: usize, item: Option<usize>) -> &Assignments {
        let list = &self.lists[l];
        item.and_then(|i| list.items[i].roles.as_ref())
            .or(list.roles.as_ref())
            .unwrap_or(&self.sites[list.site].web)
    }

    fn readers(&self, l: usize, i: usize) -> BTreeSet<usize> {
        let site = self.lists[l].site;
        let mut out = BTreeSet::new();
        for &(who, level) in self.effective(l, Some(i)) {
            if views(level) {
                self.reached(site, who, &mut out);
            }
        }
        out
    }

    /// The titles `mail` may find: items, their attachments, pages.
    fn visible(&self, mail: &str) -> BTreeSet<String> {
        let Some(u) = self.dir.user_by_mail(mail) else {
            return BTreeSet::new();
        };
        let mut out = BTreeSet::new();
        for (l, list) in self.lists.iter().enumerate() {
            for (i, item) in list.items.iter().enumerate() {
                if !item.deleted && self.readers(l, i).contains(&u) {
                    out.insert(item.title.clone());
                    out.extend(item.attachments.iter().cloned());
                }
            }
        }
        out
    }

    fn name(&mut self, prefix: &str) -> String {
        self.next_name += 1;
        format!("{prefix}{}", self.next_name)
    }

    fn role_member(&self, who: Who) -> RoleMember {
        match who {
            Who::User(u) => RoleMember::User(self.dir.users[u].upn.clone()),
            Who::EntraGroup(g) => RoleMember::EntraGroup(self.dir.group_ids[g].clone()),
            Who::M365Members(g) => RoleMember::M365Members(self.dir.group_ids[g].clone()),
            Who::M365Owners(g) => RoleMember::M365Owners(self.dir.group_ids[g].clone()),
            Who::Everyone => RoleMember::EveryoneExceptExternal,
            Who::SiteGroup(sg) => RoleMember::SiteGroup(sg),
        }
    }

    fn random_who(&self, rng: &mut Rng, site: usize) -> Who {
        match rng.below(12) {
            0..=2 => Who::User(rng.below(USERS)),
            3..=4 => Who::EntraGroup(rng.below(GROUPS)),
            5 => Who::M365Members(rng.below(GROUPS)),
            6 => Who::M365Owners(rng.below(GROUPS)),
            7 => Who::Everyone,
            _ => {
                let sgs: Vec<u32> = self.dir.site_groups[site].keys().copied().collect();
                Who::SiteGroup(*rng.pick(&sgs))
            }
        }
    }

    /// A random assignment on the web of `site` (`list` `None`), a list or an item, in
    /// the fake and in the model.
    fn grant(&mut self, w: &mut World, rng: &mut Rng, at: At) {
        let who = self.random_who(rng, self.site_of(at));
        let level = *rng.pick(&LEVELS);
        let member = self.role_member(who);
        match at {
            At::Web(s) => {
                w.grant_web(&self.dir.site_ids[s], member, level);
                add(&mut self.sites[s].web, who, level);
            }
            At::List(l) => {
                w.grant_list(&self.lists[l].id, member, level);
                self.break_list(l);
                add(self.lists[l].roles.as_mut().expect("unique"), who, level);
            }
            At::Item(l, i) => {
                w.grant_item(&self.lists[l].id, self.lists[l].items[i].id, member, level);
                self.break_item(l, i);
                let roles = self.lists[l].items[i].roles.as_mut().expect("unique");
                add(roles, who, level);
            }
        }
    }

    /// Removes every assignment of someone the object names (or, at random, of someone
    /// it does not), in the fake and in the model.
    fn revoke(&mut self, w: &mut World, rng: &mut Rng, at: At) {
        let named: Vec<Who> = match at {
            At::Web(s) => self.sites[s].web.iter().map(|a| a.0).collect(),
            At::List(l) => self.effective(l, None).iter().map(|a| a.0).collect(),
            At::Item(l, i) => self.effective(l, Some(i)).iter().map(|a| a.0).collect(),
        };
        let who = if named.is_empty() || rng.chance(10) {
            self.random_who(rng, self.site_of(at))
        } else {
            *rng.pick(&named)
        };
        let member = self.role_member(who);
        let roles = match at {
            At::Web(s) => {
                w.revoke_web(&self.dir.site_ids[s], &member);
                &mut self.sites[s].web
            }
            At::List(l) => {
                w.revoke_list(&self.lists[l].id, &member);
                self.break_list(l);
                self.lists[l].roles.as_mut().expect("unique")
            }
            At::Item(l, i) => {
                w.revoke_item(&self.lists[l].id, self.lists[l].items[i].id, &member);
                self.break_item(l, i);
                self.lists[l].items[i].roles.as_mut().expect("unique")
            }
        };
        roles.retain(|a| a.0 != who);
    }

    fn site_of(&self, at: At) -> usize {
        match at {
            At::Web(s) => s,
            At::List(l) | At::Item(l, _) => self.lists[l].site,
        }
    }

    /// The model's side of breaking a list's inheritance: it copies the web's.
    fn break_list(&mut self, l: usize) {
        if self.lists[l].roles.is_none() {
            let copied = self.sites[self.lists[l].site].web.clone();
            self.lists[l].roles = Some(copied);
        }
    }

    /// The model's side of breaking an item's inheritance: it copies what it inherited.
    fn break_item(&mut self, l: usize, i: usize) {
        if self.lists[l].items[i].roles.is_none() {
            let copied = self.effective(l, None).clone();
            self.lists[l].items[i].roles = Some(copied);
        }
    }

    /// A new item (or page) in list `l`, with attachments at random.
    fn add_item(&mut self, w: &mut World, rng: &mut Rng, l: usize) {
        let (id, title) = if self.lists[l].pages {
            let title = self.name("page ");
            let site = &self.dir.site_ids[self.lists[l].site];
            let file = format!("{}.aspx", title.replace(' ', "-"));
            let html = format!("<div data-sp-canvascontrol><p>the text of {title}</p></div>");
            (w.add_page(site, &file, &title, &html), title)
        } else {
            let title = self.name("item ");
            let fields = json!({"Title": title, "Body": format!("<p>the body of {title}</p>")});
            (w.add_list_item(&self.lists[l].id, fields), title)
        };
        assert_ne!(id, 0, "the fake added no item to list {l}");
        self.lists[l].items.push(Item {
            id,
            title,
            attachments: Vec::new(),
            deleted: false,
            roles: None,
        });
        if !self.lists[l].pages && rng.chance(35) {
            let i = self.lists[l].items.len() - 1;
            for _ in 0..1 + rng.below(2) {
                self.attach(w, l, i);
            }
        }
    }

    fn attach(&mut self, w: &mut World, l: usize, i: usize) {
        let name = format!("{}.txt", self.name("attachment-"));
        let text = format!("the words of {name}");
        w.add_attachment(
            &self.lists[l].id,
            self.lists[l].items[i].id,
            &name,
            text.as_bytes(),
        );
        self.lists[l].items[i].attachments.push(name);
    }

    /// Every live item, as (list, item).
    fn live_items(&self, pages: Option<bool>) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (l, list) in self.lists.iter().enumerate() {
            if pages.is_some_and(|p| p != list.pages) {
                continue;
            }
            for (i, item) in list.items.iter().enumerate() {
                if !item.deleted {
                    out.push((l, i));
                }
            }
        }
        out
    }

    fn random_at(&self, rng: &mut Rng) -> At {
        let items = self.live_items(None);
        match rng.below(10) {
            0..=1 => At::Web(rng.below(self.sites.len())),
            2..=4 => At::List(rng.below(self.lists.len())),
            _ if items.is_empty() => At::List(rng.below(self.lists.len())),
            _ => {
                let (l, i) = *rng.pick(&items);
                At::Item(l, i)
            }
        }
    }
}

/// Where an assignment goes: a site's web, a list, an item of a list.
#[derive(Debug, Clone, Copy)]
enum At {
    Web(usize),
    List(usize),
    Item(usize, usize),
}

/// Builds a random tenant in the fake and the model of it.
fn build(w: &mut World, rng: &mut Rng) -> Model {
    let mut m = Model {
        dir: Directory::build(w, rng, MEMBERS, GUESTS, GROUPS),
        ..Model::default()
    };
    for s in 0..1 + rng.below(2) {
        let (new, _) = m.dir.add_site(w, rng, s);
        m.sites.push(Site {
            web: vec![
                (Who::SiteGroup(new.owners), RoleKind::FullControl),
                (Who::SiteGroup(new.visitors), RoleKind::Read),
                (Who::SiteGroup(new.members), RoleKind::Edit),
            ],
        });
        for _ in 0..rng.below(3) {
            m.grant(w, rng, At::Web(s));
        }
        if rng.chance(30) {
            m.revoke(w, rng, At::Web(s));
        }
        for l in 0..1 + rng.below(2) {
            let template = *rng.pick(&["genericList", "announcements", "tasks"]);
            let id = w.add_list(&new.id, &format!("List {s}{l}"), template);
            m.lists.push(List {
                id,
                site: s,
                pages: false,
                roles: None,
                items: Vec::new(),
            });
            let l = m.lists.len() - 1;
            for _ in 0..2 + rng.below(5) {
                m.add_item(w, rng, l);
            }
        }
        // The Site Pages library comes with the first page.
        let first = m.lists.len();
        m.lists.push(List {
            id: String::new(),
            site: s,
            pages: true,
            roles: None,
            items: Vec::new(),
        });
        m.add_item(w, rng, first);
        m.lists[first].id = w.site_pages(&new.id);
        for _ in 0..rng.below(3) {
            m.add_item(w, rng, first);
        }
    }
    for l in 0..m.lists.len() {
        if rng.chance(40) {
            w.break_list_inheritance(&m.lists[l].id);
            m.break_list(l);
            for _ in 0..rng.below(3) {
                let at = At::List(l);
                if rng.chance(40) {
                    m.revoke(w, rng, at);
                } else {
                    m.grant(w, rng, at);
                }
            }
        }
    }
    for (l, i) in m.live_items(None) {
        if rng.chance(30) {
            for _ in 0..1 + rng.below(2) {
                let at = At::Item(l, i);
                if rng.chance(40) {
                    m.revoke(w, rng, at);
                } else {
                    m.grant(w, rng, at);
                }
            }
        }
    }
    m
}

/// One random change, in the fake and in the model.
fn mutate(w: &mut World, rng: &mut Rng, m: &mut Model) {
    let items = m.live_items(Some(false));
    match rng.below(17) {
        0..=2 => {
            let at = m.random_at(rng);
            m.grant(w, rng, at);
        }
        3..=4 => {
            let at = m.random_at(rng);
            m.revoke(w, rng, at);
        }
        5 => {
            let l = rng.below(m.lists.len());
            if m.lists[l].roles.is_some() && rng.chance(60) {
                w.restore_list_inheritance(&m.lists[l].id);
                m.lists[l].roles = None;
            } else {
                w.break_list_inheritance(&m.lists[l].id);
                m.break_list(l);
            }
        }
        6 => {
            let all = m.live_items(None);
            if !all.is_empty() {
                let (l, i) = *rng.pick(&all);
                let (list, item) = (m.lists[l].id.clone(), m.lists[l].items[i].id);
                if m.lists[l].items[i].roles.is_some() && rng.chance(60) {
                    w.restore_item_inheritance(&list, item);
                    m.lists[l].items[i].roles = None;
                } else {
                    w.break_item_inheritance(&list, item);
                    m.break_item(l, i);
                }
            }
        }
        7 => m.dir.change_group(w, rng),
        8 => {
            let s = rng.below(m.sites.len());
            m.dir.change_site_group(w, rng, s);
        }
        9 | 10 if !items.is_empty() => {
            // An edit, of an item or a page: a new title, so the index must hold the new.
            let all = m.live_items(None);
            let (l, i) = *rng.pick(&all);
            let title = m.name(if m.lists[l].pages { "page " } else { "item " });
            let field = if m.lists[l].pages {
                "CanvasContent1"
            } else {
                "Body"
            };
            w.edit_list_item(
                &m.lists[l].id,
                m.lists[l].items[i].id,
                json!({"Title": title, field: format!("<p>now {title}</p>")}),
            );
            m.lists[l].items[i].title = title;
        }
        11 if !items.is_empty() => {
            let all = m.live_items(None);
            let (l, i) = *rng.pick(&all);
            w.delete_list_item(&m.lists[l].id, m.lists[l].items[i].id);
            m.lists[l].items[i].deleted = true;
        }
        12 if !items.is_empty() => {
            let (l, i) = *rng.pick(&items);
            m.attach(w, l, i);
        }
        13 if !items.is_empty() => {
            let with: Vec<(usize, usize)> = items
                .into_iter()
                .filter(|&(l, i)| !m.lists[l].items[i].attachments.is_empty())
                .collect();
            if !with.is_empty() {
                let (l, i) = *rng.pick(&with);
                let names = &mut m.lists[l].items[i].attachments;
                let name = names.remove(rng.below(names.len()));
                w.remove_attachment(&m.lists[l].id, m.lists[l].items[i].id, &name);
            }
        }
        14 if rng.chance(25) => {
            // A new list: no cursor yet, inheriting the web's permissions.
            let s = rng.below(m.sites.len());
            let name = m.name("List ");
            let id = w.add_list(&m.dir.site_ids[s], &name, "genericList");
            m.lists.push(List {
                id,
                site: s,
                pages: false,
                roles: None,
                items: Vec::new(),
            });
            m.add_item(w, rng, m.lists.len() - 1);
        }
        _ => {
            let l = rng.below(m.lists.len());
            m.add_item(w, rng, l);
        }
    }
}

/// Compares what everyone finds with the model.
fn check(t: &Tenant, m: &Model, seed: u64, round: &str) {
    let mut problems = String::new();
    for mail in m
        .dir
        .users
        .iter()
        .map(|u| u.mail.as_str())
        .chain([STRANGER])
    {
        let found = t.titles(mail);
        let expected = m.visible(mail);
        if found != expected {
            let extra: Vec<_> = found.difference(&expected).collect();
            let missing: Vec<_> = expected.difference(&found).collect();
            let _ = writeln!(
                problems,
                "  {mail}: finds {extra:?} it must not, misses {missing:?}"
            );
        }
    }
    if problems.is_empty() {
        return;
    }
    let mut world = String::new();
    for (u, user) in m.dir.users.iter().enumerate() {
        let _ = writeln!(world, "  user {u}: {} (guest: {})", user.mail, user.guest);
    }
    world.push_str(&m.dir.describe());
    for (s, site) in m.sites.iter().enumerate() {
        let _ = writeln!(world, "  site {s} web: {:?}", site.web);
    }
    for list in &m.lists {
        let _ = writeln!(
            world,
            "  list {} of site {} (pages: {}): {:?}",
            list.id, list.site, list.pages, list.roles
        );
        for it in list.items.iter().filter(|it| !it.deleted) {
            let _ = writeln!(
                world,
                "    #{} {:?} {:?}: {:?}",
                it.id, it.title, it.attachments, it.roles
            );
        }
    }
    panic!("seed {seed} {round}: who finds what differs from the model\n{problems}world:\n{world}");
}

/// A random tenant for `seed`: an identity sync and a full sync, then rounds of random
/// changes, each followed by an identity sync and an incremental sync. Odd seeds read
/// list items a few a page and list attachments only of items changed since the last run
/// (no overlap window), so that paging and what a run keeps from the last are exercised.
async fn run(seed: u64) {
    let t = Tenant::empty(|c| {
        // The fake needs no protecting: the default 20 a second would make this slow.
        c.requests_per_second = 1000.0;
        if seed % 2 == 1 {
            c.page_size = 3;
            c.modified_overlap_secs = 0;
        }
    })
    .await;
    let mut rng = Rng(seed);
    let mut m = build(&mut t.fake.world(), &mut rng);
    t.sync_identities().await;
    let full = t.sync().await;
    assert_eq!(
        (full.state, full.counts.failed),
        (RunState::Succeeded, 0),
        "seed {seed}, full sync: {full:?}"
    );
    check(&t, &m, seed, "after the full sync");
    for round in 1..=ROUNDS {
        {
            let mut w = t.fake.world();
            for _ in 0..MUTATIONS {
                mutate(&mut w, &mut rng, &mut m);
            }
        }
        t.sync_identities().await;
        let report = t.sync().await;
        assert_eq!(
            (report.state, report.counts.failed),
            (RunState::Succeeded, 0),
            "seed {seed}, round {round}: {report:?}"
        );
        check(&t, &m, seed, &format!("after round {round} of changes"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_lists_1() {
    for seed in seeds(&[1]) {
        run(seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_lists_2() {
    run(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_lists_3() {
    run(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_lists_4() {
    run(4).await;
}
