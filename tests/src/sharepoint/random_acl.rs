//! Randomized ACL test (issue 16): random fake SharePoint tenants (seeded, so a failure
//! names the world that shows it) with unique and inherited permissions, nested Entra
//! groups inside site groups, "Everyone except external users" and sharing links of every
//! scope; a full sync, then rounds of random changes, each followed by an identity sync and
//! an incremental sync. After each, what every user and a stranger finds is compared with
//! a model built from the test's own record of the world.
//!
//! The model follows SharePoint's documented semantics, never the fake's or the
//! connector's code: an item's permissions are those of its nearest ancestor-or-self with
//! unique permissions (a library root grants the site's Owners, Members and Visitors);
//! any role reads; a grant to a user reaches that user, to an Entra group its transitive
//! members, to a site group its members (users, Entra groups transitively, or everyone
//! except external users = every user of the tenant); an organization link reaches every
//! user of the tenant, a specific-people link its people, an anonymous link nobody (the
//! source's default) and an existing-access link nobody new; an expired grant nobody.
//!
//! `TRIBUTARY_SEED=17` (or `=1..40`) makes `random_world_1` replay or explore those seeds.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use fake_graph::{Grant, LinkKind, LinkScope, Role, World};
use sync_core::RunState;

use super::Tenant;
use super::directory::Directory;
use crate::seeded::{Rng, seeds};

const TEXT: &str = "text/plain";
/// In no group and in no grant, and not of the tenant.
const STRANGER: &str = "mallory@evil.test";
const USERS: usize = 6;
const GROUPS: usize = 4;
const SITES: usize = 2;
const FOLDERS: usize = 6;
const FILES: usize = 20;
const ROUNDS: usize = 3;
const MUTATIONS: usize = 12;
const PAST: &str = "2001-01-01T00:00:00Z";
const FUTURE: &str = "2099-01-01T00:00:00Z";

/// Who a permission names (users and Entra groups by their index in the model).
#[derive(Debug, Clone, PartialEq)]
enum Who {
    User(usize),
    Group(usize),
    /// A site group of the item's site.
    SiteGroup(u32),
    OrgLink,
    PeopleLink(Vec<usize>),
    AnonymousLink,
    ExistingAccessLink,
}

#[derive(Debug, Clone)]
struct Perm {
    id: String,
    who: Who,
    expired: bool,
}

#[derive(Debug)]
struct Item {
    id: String,
    name: String,
    site: usize,
    parent: Option<usize>,
    folder: bool,
    deleted: bool,
    /// `Some` when it has unique permissions.
    perms: Option<Vec<Perm>>,
}

/// The world as the test built it.
#[derive(Debug, Default)]
struct Model {
    dir: Directory,
    items: Vec<Item>,
}

impl Model {
    /// The nearest item at or above `i` with unique permissions.
    fn effective(&self, mut i: usize) -> &[Perm] {
        loop {
            if let Some(p) = &self.items[i].perms {
                return p;
            }
            i = self.items[i].parent.expect("a root has unique permissions");
        }
    }

    fn readers(&self, i: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let site = self.items[i].site;
        for p in self.effective(i).iter().filter(|p| !p.expired) {
            match &p.who {
                Who::User(u) => {
                    out.insert(*u);
                }
                Who::Group(g) => self.dir.group_users(*g, &mut out),
                Who::SiteGroup(sg) => self.dir.site_group_users(site, *sg, &mut out),
                Who::OrgLink => out.extend(0..self.dir.users.len()),
                Who::PeopleLink(us) => out.extend(us.iter().copied()),
                Who::AnonymousLink | Who::ExistingAccessLink => {}
            }
        }
        out
    }

    /// The titles `upn` may find.
    fn visible(&self, upn: &str) -> BTreeSet<String> {
        let Some(u) = self.dir.user_by_mail(upn) else {
            return BTreeSet::new();
        };
        (0..self.items.len())
            .filter(|&i| !self.items[i].folder && !self.items[i].deleted)
            .filter(|&i| self.readers(i).contains(&u))
            .map(|i| self.items[i].name.clone())
            .collect()
    }

    fn live(&self, pred: impl Fn(&Item) -> bool) -> Vec<usize> {
        (0..self.items.len())
            .filter(|&i| !self.items[i].deleted && pred(&self.items[i]))
            .collect()
    }

    /// Whether `i` is `top` or below it.
    fn under(&self, mut i: usize, top: usize) -> bool {
        loop {
            if i == top {
                return true;
            }
            match self.items[i].parent {
                Some(p) => i = p,
                None => return false,
            }
        }
    }

    fn new_item(&mut self, w: &mut World, parent: usize, folder: bool) {
        let n = self.items.len();
        let name = if folder {
            format!("d{n}")
        } else {
            format!("f{n}.txt")
        };
        let at = self.items[parent].id.clone();
        let id = if folder {
            w.add_folder(&at, &name)
        } else {
            w.add_file(&at, &name, TEXT, format!("content of {name}").as_bytes())
        };
        let site = self.items[parent].site;
        self.items.push(Item {
            id,
            name,
            site,
            parent: Some(parent),
            folder,
            deleted: false,
            perms: None,
        });
    }

    fn break_inheritance(&mut self, w: &mut World, i: usize) {
        w.break_inheritance(&self.items[i].id);
        if self.items[i].perms.is_none() {
            self.items[i].perms = Some(self.effective(i).to_vec());
        }
    }

    /// A random grant on an item of `site`, in the fake and in the model.
    fn share(&mut self, w: &mut World, rng: &mut Rng, i: usize) {
        let role = *rng.pick(&[Role::Read, Role::Write, Role::Owner]);
        let kind = *rng.pick(&[LinkKind::View, LinkKind::Edit]);
        let site = self.items[i].site;
        let (mut grant, who) = match rng.below(9) {
            0 | 1 => {
                let u = rng.below(USERS);
                (Grant::user(&self.dir.users[u].id, role), Who::User(u))
            }
            2 | 3 => {
                let g = rng.below(GROUPS);
                (Grant::group(&self.dir.group_ids[g], role), Who::Group(g))
            }
            4 => {
                let sgs: Vec<u32> = self.dir.site_groups[site].keys().copied().collect();
                let sg = *rng.pick(&sgs);
                (Grant::site_group(sg, role), Who::SiteGroup(sg))
            }
            5 => (Grant::link(kind, LinkScope::Organization), Who::OrgLink),
            6 => {
                let people: BTreeSet<usize> =
                    (0..1 + rng.below(2)).map(|_| rng.below(USERS)).collect();
                let people: Vec<usize> = people.into_iter().collect();
                let ids: Vec<&str> = people
                    .iter()
                    .map(|&u| self.dir.users[u].id.as_str())
                    .collect();
                (Grant::link_for(kind, &ids), Who::PeopleLink(people))
            }
            7 => (Grant::link(kind, LinkScope::Anonymous), Who::AnonymousLink),
            _ => (
                Grant::link(kind, LinkScope::ExistingAccess),
                Who::ExistingAccessLink,
            ),
        };
        let mut expired = false;
        if rng.chance(15) {
            expired = rng.chance(50);
            grant = grant.expires(if expired { PAST } else { FUTURE });
        }
        self.break_inheritance(w, i);
        let id = w.share(&self.items[i].id, grant);
        if let Some(perms) = self.items[i].perms.as_mut() {
            perms.push(Perm { id, who, expired });
        }
    }

    fn unshare(&mut self, w: &mut World, rng: &mut Rng, i: usize) {
        let Some(perms) = self.items[i].perms.as_mut() else {
            return;
        };
        if perms.is_empty() {
            return;
        }
        let id = perms.remove(rng.below(perms.len())).id;
        w.unshare(&self.items[i].id, &id);
    }
}

/// Builds a random tenant in the fake and the model of it.
fn build(w: &mut World, rng: &mut Rng) -> Model {
    let mut m = Model {
        dir: Directory::build(w, rng, USERS, 0, GROUPS),
        items: Vec::new(),
    };
    for s in 0..SITES {
        let (new, _) = m.dir.add_site(w, rng, s);
        // The library root grants the site's default groups.
        let perms = [new.owners, new.visitors, new.members]
            .into_iter()
            .map(|sg| Perm {
                id: format!("g{sg}"),
                who: Who::SiteGroup(sg),
                expired: false,
            })
            .collect();
        m.items.push(Item {
            id: new.root,
            name: format!("root of site {s}"),
            site: s,
            parent: None,
            folder: true,
            deleted: false,
            perms: Some(perms),
        });
    }
    for _ in 0..FOLDERS {
        let parent = *rng.pick(&m.live(|i| i.folder));
        m.new_item(w, parent, true);
    }
    for _ in 0..FILES {
        let parent = *rng.pick(&m.live(|i| i.folder));
        m.new_item(w, parent, false);
    }
    for i in SITES..m.items.len() {
        if rng.chance(40) {
            m.break_inheritance(w, i);
            while rng.chance(40) {
                m.unshare(w, rng, i);
            }
            for _ in 0..rng.below(3) {
                m.share(w, rng, i);
            }
        }
    }
    m
}

/// One random change, in the fake and in the model.
fn mutate(w: &mut World, rng: &mut Rng, m: &mut Model) {
    let non_roots = m.live(|i| i.parent.is_some());
    match rng.below(10) {
        0 | 1 => {
            let i = *rng.pick(&m.live(|_| true));
            m.share(w, rng, i);
        }
        2 => {
            let unique = m.live(|i| i.perms.is_some());
            let i = *rng.pick(&unique);
            m.unshare(w, rng, i);
        }
        3 if !non_roots.is_empty() => {
            let i = *rng.pick(&non_roots);
            m.break_inheritance(w, i);
        }
        4 if !non_roots.is_empty() => {
            let i = *rng.pick(&non_roots);
            w.restore_inheritance(&m.items[i].id);
            m.items[i].perms = None;
        }
        5 if !non_roots.is_empty() => {
            let i = *rng.pick(&non_roots);
            let site = m.items[i].site;
            let to = m.live(|it| it.folder && it.site == site);
            let to: Vec<usize> = to.into_iter().filter(|&f| !m.under(f, i)).collect();
            let f = *rng.pick(&to);
            w.move_item(&m.items[i].id, &m.items[f].id);
            m.items[i].parent = Some(f);
        }
        6 => m.dir.change_group(w, rng),
        7 => {
            let s = rng.below(SITES);
            m.dir.change_site_group(w, rng, s);
        }
        8 if !non_roots.is_empty() && rng.chance(50) => {
            let i = *rng.pick(&non_roots);
            w.delete(&m.items[i].id);
            for j in 0..m.items.len() {
                if m.under(j, i) {
                    m.items[j].deleted = true;
                }
            }
        }
        _ => {
            let parent = *rng.pick(&m.live(|i| i.folder));
            m.new_item(w, parent, rng.chance(25));
        }
    }
}

/// Compares what everyone finds with the model.
fn check(t: &Tenant, m: &Model, seed: u64, round: &str) {
    let mut problems = String::new();
    for upn in m
        .dir
        .users
        .iter()
        .map(|u| u.mail.as_str())
        .chain([STRANGER])
    {
        let found = t.titles(upn);
        let expected = m.visible(upn);
        if found != expected {
            let extra: Vec<_> = found.difference(&expected).collect();
            let missing: Vec<_> = expected.difference(&found).collect();
            let _ = writeln!(
                problems,
                "  {upn}: finds {extra:?} it must not, misses {missing:?}"
            );
        }
    }
    if problems.is_empty() {
        return;
    }
    let mut world = m.dir.describe();
    for (i, it) in m.items.iter().enumerate().filter(|(_, it)| !it.deleted) {
        let _ = writeln!(
            world,
            "  [{i}] {} under {:?}: {:?}",
            it.name,
            it.parent,
            it.perms
                .as_ref()
                .map(|ps| ps.iter().map(|p| (&p.who, p.expired)).collect::<Vec<_>>())
        );
    }
    panic!(
        "seed {seed} {round}: who finds what differs from the model\n{problems}world \
         (users by index, u0@contoso.com …):\n{world}"
    );
}

/// A random tenant for `seed`: an identity sync and a full sync, then rounds of random
/// changes, each followed by an identity sync and an incremental sync.
async fn run(seed: u64) {
    let t = Tenant::empty(|_| {}).await;
    let mut rng = Rng(seed);
    let mut m = build(&mut t.fake.world(), &mut rng);
    t.sync_identities().await;
    let full = t.sync().await;
    assert_eq!(
        full.state,
        RunState::Succeeded,
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
            report.state,
            RunState::Succeeded,
            "seed {seed}, round {round}: {report:?}"
        );
        check(&t, &m, seed, &format!("after round {round} of changes"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_world_1() {
    for seed in seeds(&[1]) {
        run(seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_world_2() {
    run(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_world_3() {
    run(3).await;
}
