//! Randomized ACL test: random fake Drive worlds (seeded, so a failure names the world that
//! shows it), a full sync, then rounds of random changes each followed by an identity sync
//! and an incremental sync; after each, what every user, outside user and a stranger finds
//! is compared with the model in `acl_model.rs`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fake_drive::{MemberRole, Permission, Role, World};
use sync_core::RunState;

use super::Drive;
use super::acl_model::{Grant, Item, Member, Model, Parent, SharedDrive, Who};
use crate::seeded::Rng;

const TEXT: &str = "text/plain";
const DOMAIN: &str = "example.com";
const ADMIN: &str = "admin@example.com";
/// In no group and in no grant: sees only what everybody sees.
const STRANGER: &str = "mallory@evil.test";
/// Users outside the domain, as Drive lets them be granted and be group members.
const EXTERNALS: [&str; 2] = ["pat@partner.test", "quinn@other.test"];
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

const USERS: usize = 8;
const OWNERS: usize = 4;
const GROUPS: usize = 5;
const DRIVES: usize = 2;
const FOLDERS: usize = 12;
const FILES: usize = 36;
const MUTATIONS: usize = 24;

impl Model {
    /// The fake id of a container.
    fn container_id(&self, w: &World, parent: Parent) -> String {
        match parent {
            Parent::Root(u) => w.root_of(&self.users[u]),
            Parent::Drive(d) => self.drives[d].id.clone(),
            Parent::Item(i) => self.items[i].id.clone(),
        }
    }

    /// The containers of the space `top`: its top and its folders not in the trash, with
    /// `under` and what is below it left out (a folder cannot move into itself).
    fn containers(&self, top: Parent, under: Option<usize>) -> Vec<Parent> {
        let below = |mut at: Parent| loop {
            match at {
                Parent::Item(i) if Some(i) == under => return true,
                Parent::Item(i) => at = self.items[i].parent,
                _ => return false,
            }
        };
        let mut out = vec![top];
        for (i, it) in self.items.iter().enumerate() {
            let at = Parent::Item(i);
            if it.folder && self.space(at) == top && !below(at) && !self.in_trash(at) {
                out.push(Parent::Item(i));
            }
        }
        out
    }

    fn random_grant(&self, rng: &mut Rng) -> Grant {
        let who = match rng.below(10) {
            0..=3 if rng.chance(25) => Who::User(rng.pick(&EXTERNALS).to_string()),
            0..=3 => Who::User(rng.pick(&self.users).clone()),
            4..=5 => Who::Group(rng.pick(&self.group_names()).clone()),
            6..=7 => Who::Domain(
                if rng.chance(75) {
                    DOMAIN
                } else {
                    "partner.test"
                }
                .into(),
            ),
            _ => Who::Anyone,
        };
        Grant {
            who,
            discoverable: rng.chance(50),
            expired: false,
        }
    }

    fn group_names(&self) -> Vec<String> {
        self.groups.keys().cloned().collect()
    }

    /// Records `grant` on item `i` and makes it in the fake (replacing the grantee's).
    fn share(&mut self, w: &mut World, rng: &mut Rng, i: usize, mut grant: Grant) {
        let role = *rng.pick(&[Role::Reader, Role::Commenter, Role::Writer]);
        let mut perm = match &grant.who {
            Who::User(e) => Permission::user(e, role),
            Who::Group(g) => Permission::group(g, role),
            Who::Domain(d) => Permission::domain(d, role, grant.discoverable),
            Who::Anyone => Permission::anyone(role, grant.discoverable),
        };
        if rng.chance(15) {
            // Long expired, or long to go.
            grant.expired = rng.chance(50);
            let at = if grant.expired {
                w.now() - YEAR
            } else {
                w.now() + 20 * YEAR
            };
            perm = perm.expiring(at);
        }
        w.share(&self.items[i].id, perm);
        let key = grant.key();
        let grants = &mut self.items[i].grants;
        grants.retain(|g| g.key() != key);
        grants.push(grant);
    }

    fn new_item(&mut self, w: &mut World, parent: Parent, folder: bool) -> usize {
        let n = self.items.len();
        let name = if folder {
            format!("d{n}")
        } else {
            format!("f{n}.txt")
        };
        let at = self.container_id(w, parent);
        let id = if folder {
            w.add_folder(&at, &name)
        } else {
            w.add_file(&at, &name, TEXT, format!("content of {name}").as_bytes())
        };
        self.items.push(Item {
            id,
            name,
            folder,
            parent,
            grants: Vec::new(),
            limited: false,
            trashed: false,
        });
        n
    }

    /// A random member for `group`: nesting only goes to groups later in name order, so
    /// the groups stay acyclic.
    fn random_member(&self, rng: &mut Rng, group: &str) -> Member {
        let later: Vec<String> = self
            .groups
            .keys()
            .filter(|g| g.as_str() > group)
            .cloned()
            .collect();
        match rng.below(10) {
            0 => Member::Customer,
            1..=3 if !later.is_empty() => Member::Group(rng.pick(&later).clone()),
            4 => Member::User(rng.pick(&EXTERNALS).to_string()),
            _ => Member::User(rng.pick(&self.users[..USERS]).clone()),
        }
    }

    fn add_member(&mut self, w: &mut World, group: &str, member: Member) {
        match &member {
            Member::User(e) | Member::Group(e) => w.add_member(group, e, MemberRole::Member),
            Member::Customer => w.add_customer_member(group),
        }
        self.groups.get_mut(group).expect("group").push(member);
    }

    fn add_drive_member(&mut self, w: &mut World, rng: &mut Rng, d: usize) {
        let who = if rng.chance(40) {
            Who::Group(rng.pick(&self.group_names()).clone())
        } else if rng.chance(15) {
            Who::User(rng.pick(&EXTERNALS).to_string())
        } else {
            Who::User(rng.pick(&self.users[..USERS]).clone())
        };
        let designated = self.drives[d].members.first().map(|(w, _)| w.clone());
        if Some(&who) == designated.as_ref() {
            return;
        }
        // External users are not made organizers: the connector reads a drive as a user
        // organizer and cannot impersonate someone outside the domain.
        let roles: &[Role] = match who {
            Who::User(ref e) if !e.ends_with(DOMAIN) => &[Role::Reader, Role::Writer],
            _ => &[
                Role::Reader,
                Role::Commenter,
                Role::Writer,
                Role::FileOrganizer,
                Role::Organizer,
            ],
        };
        let role = *rng.pick(roles);
        let perm = match &who {
            Who::Group(g) => Permission::group(g, role),
            Who::User(e) => Permission::user(e, role),
            _ => unreachable!(),
        };
        w.add_drive_member(&self.drives[d].id, perm);
        let members = &mut self.drives[d].members;
        members.retain(|(m, _)| *m != who);
        members.push((who, role == Role::Organizer));
    }
}

/// Builds a random world in the fake and the model of it.
fn build(w: &mut World, rng: &mut Rng, seed: u64, link_searchable: bool) -> Model {
    let mut m = Model {
        seed,
        link_searchable,
        users: (0..USERS).map(|i| format!("user{i}@{DOMAIN}")).collect(),
        groups: BTreeMap::new(),
        drives: Vec::new(),
        items: Vec::new(),
    };
    for u in &m.users {
        w.add_user(u, u);
    }
    m.users.push(ADMIN.into());
    for g in 0..GROUPS {
        let email = format!("group{g}@{DOMAIN}");
        w.add_group(&email, &email);
        m.groups.insert(email, Vec::new());
    }
    for group in m.group_names() {
        for _ in 0..1 + rng.below(3) {
            let member = m.random_member(rng, &group);
            m.add_member(w, &group, member);
        }
    }
    for d in 0..DRIVES {
        let id = w.add_shared_drive(&format!("Drive{d}"));
        let organizer = m.users[rng.below(USERS)].clone();
        w.add_drive_member(&id, Permission::user(&organizer, Role::Organizer));
        m.drives.push(SharedDrive {
            id,
            members: vec![(Who::User(organizer), true)],
        });
        for _ in 0..rng.below(4) {
            m.add_drive_member(w, rng, d);
        }
    }
    let tops: Vec<Parent> = (0..OWNERS)
        .map(Parent::Root)
        .chain((0..DRIVES).map(Parent::Drive))
        .collect();
    for _ in 0..FOLDERS {
        let top = *rng.pick(&tops);
        let parent = *rng.pick(&m.containers(top, None));
        let f = m.new_item(w, parent, true);
        m.items[f].limited = rng.chance(25);
        if m.items[f].limited {
            w.set_inherited_permissions_disabled(&m.items[f].id, true);
        }
    }
    for _ in 0..FILES {
        let top = *rng.pick(&tops);
        let parent = *rng.pick(&m.containers(top, None));
        m.new_item(w, parent, false);
    }
    for i in 0..m.items.len() {
        for _ in 0..[0, 0, 1, 1, 2][rng.below(5)] {
            let grant = m.random_grant(rng);
            m.share(w, rng, i, grant);
        }
    }
    m
}

/// One random change to the world, in the fake and in the model.
fn mutate(w: &mut World, rng: &mut Rng, m: &mut Model) {
    // Items in the trash stay there: Drive does not move or share what is in the trash.
    let live: Vec<usize> = (0..m.items.len())
        .filter(|&i| !m.in_trash(Parent::Item(i)))
        .collect();
    let i = *rng.pick(&live);
    match rng.below(9) {
        0 | 1 => {
            let grant = m.random_grant(rng);
            m.share(w, rng, i, grant);
        }
        2 if !m.items[i].grants.is_empty() => {
            let k = rng.below(m.items[i].grants.len());
            let g = m.items[i].grants.remove(k);
            w.unshare(&m.items[i].id, &g.key());
        }
        3 => {
            let top = m.space(m.items[i].parent);
            let to = *rng.pick(&m.containers(top, Some(i)));
            let at = m.container_id(w, to);
            w.move_to(&m.items[i].id, &at);
            m.items[i].parent = to;
        }
        4 => {
            let group = rng.pick(&m.group_names()).clone();
            let member = m.random_member(rng, &group);
            m.add_member(w, &group, member);
        }
        5 => {
            let group = rng.pick(&m.group_names()).clone();
            let named: Vec<String> = m.groups[&group]
                .iter()
                .filter_map(|mb| match mb {
                    Member::User(e) | Member::Group(e) => Some(e.clone()),
                    Member::Customer => None,
                })
                .collect();
            if let Some(gone) = (!named.is_empty()).then(|| rng.pick(&named).clone()) {
                w.remove_member(&group, &gone);
                m.groups
                    .get_mut(&group)
                    .expect("group")
                    .retain(|mb| !matches!(mb, Member::User(e) | Member::Group(e) if *e == gone));
            }
        }
        6 => {
            let d = rng.below(DRIVES);
            if m.drives[d].members.len() > 1 && rng.chance(40) {
                let k = 1 + rng.below(m.drives[d].members.len() - 1);
                let (who, _) = m.drives[d].members.remove(k);
                let (Who::User(e) | Who::Group(e)) = who else {
                    unreachable!("drive members are users and groups")
                };
                w.remove_drive_member(&m.drives[d].id, &e);
            } else {
                m.add_drive_member(w, rng, d);
            }
        }
        7 if m.items[i].folder => {
            m.items[i].limited = !m.items[i].limited;
            w.set_inherited_permissions_disabled(&m.items[i].id, m.items[i].limited);
        }
        _ if rng.chance(40) => {
            m.items[i].trashed = true;
            w.trash(&m.items[i].id);
        }
        _ => {}
    }
}

/// Syncs identities then documents and compares what everybody finds with the model.
async fn check(d: &Drive, m: &Model, round: &str) {
    let seed = m.seed;
    let ids = d.sync_identities().await;
    assert_eq!(
        ids.state,
        RunState::Succeeded,
        "seed {seed} {round}: {ids:?}"
    );
    let run = d.sync().await;
    assert_eq!(
        run.state,
        RunState::Succeeded,
        "seed {seed} {round}: {run:?}"
    );
    assert_eq!(run.counts.failed, 0, "seed {seed} {round}: {run:?}");
    let mut people = m.users.clone();
    people.extend(EXTERNALS.iter().map(|e| e.to_string()));
    people.push(STRANGER.into());
    let mut problems = String::new();
    for (person, want) in m.expected(&people) {
        let got = d.titles(&person);
        if got == want {
            continue;
        }
        let _ = writeln!(problems, "{person} (groups {:?}):", m.groups_of(&person));
        for name in want.symmetric_difference(&got) {
            let i = m.items.iter().position(|it| it.name == *name);
            let why = i.map(|i| m.explain(i)).unwrap_or_default();
            let what = if want.contains(name) {
                "missing"
            } else {
                "extra"
            };
            let _ = writeln!(problems, "  {what} {name}: {why}");
        }
    }
    assert!(
        problems.is_empty(),
        "seed {seed} {round} (link sharing searchable: {}): who finds what differs from \
         the model\n{problems}groups: {:?}",
        m.link_searchable,
        m.groups
    );
}

/// A random world for `seed`: a full sync, then two rounds of random changes, each
/// followed by an identity sync and an incremental sync, checked against the model.
async fn run(seed: u64, link_searchable: bool) {
    let d = Drive::empty(|c| c.link_sharing_searchable = link_searchable).await;
    let mut rng = Rng(seed);
    let mut m = {
        let mut w = d.fake.world();
        // The fake's clock starts in 2024; the connector judges expiry by real time. Both
        // must agree on which grants have expired for the model to say what Drive does.
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
        let behind = now
            .as_secs()
            .saturating_sub(w.now().unix_timestamp().max(0) as u64);
        w.advance_clock(Duration::from_secs(behind));
        build(&mut w, &mut rng, seed, link_searchable)
    };
    check(&d, &m, "after the full sync").await;
    for round in 1..=2 {
        {
            let mut w = d.fake.world();
            for _ in 0..MUTATIONS {
                mutate(&mut w, &mut rng, &mut m);
            }
        }
        check(&d, &m, &format!("after changes {round}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_world_1() {
    run(1, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_world_2() {
    run(2, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_world_3() {
    run(3, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_world_4() {
    run(4, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_world_5_with_searchable_links() {
    run(5, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_world_6_with_searchable_links() {
    run(6, true).await;
}
