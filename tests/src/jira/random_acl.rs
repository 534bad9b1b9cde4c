//! Randomized ACL test: random fake Jira sites (seeded, so a failure names the world that
//! shows it) — groups, project roles with user and group actors, permission schemes
//! granting `BROWSE_PROJECTS` to every holder type the connector reads, project leads,
//! issue security levels, issues with reporters, assignees and levels; a full sync, then
//! rounds of random changes (grants, memberships, role actors, levels, assignees, level
//! members, leads), each followed by an identity sync and an incremental sync. After each,
//! what every user finds is compared with a model built from the test's own record.
//!
//! The model follows Jira's documented rule (SOURCES.md §6.3), not the fake's or the
//! connector's code: a user reads an issue when some `BROWSE_PROJECTS` holder of its
//! project's scheme reaches them and, if the issue has a security level, some member
//! holder of the level reaches them; a group reaches its members, a role its user actors
//! and its group actors' members in that project, `applicationRole` every user, the
//! project lead, reporter and assignee themselves.
//!
//! `TRIBUTARY_SEED=17` (or `=1..40`) replays or explores those seeds.

use std::collections::BTreeSet;

use fake_jira::{Actor, Holder};

use super::{MINUTE, Site, para, succeeded};
use crate::seeded::{Rng, seeds};

const USERS: usize = 6;
const GROUPS: usize = 3;
const ROLES: usize = 2;
const PROJECTS: [&str; 2] = ["ENG", "OPS"];
const ISSUES: usize = 8;
const ROUNDS: usize = 3;
const MUTATIONS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
enum H {
    Group(usize),
    User(usize),
    Role(usize),
    AnyUser,
    Lead,
    Reporter,
    Assignee,
}

#[derive(Debug, Clone)]
struct IssueM {
    id: u64,
    project: usize,
    reporter: usize,
    assignee: Option<usize>,
    level: Option<usize>,
}

/// The test's record of the world.
#[derive(Debug, Default)]
struct Model {
    members: Vec<BTreeSet<usize>>,
    /// Per project: grants, levels' members, role actors (users, groups), lead.
    grants: Vec<Vec<H>>,
    levels: Vec<Vec<Vec<H>>>,
    roles: Vec<Vec<(BTreeSet<usize>, BTreeSet<usize>)>>,
    leads: Vec<usize>,
    issues: Vec<IssueM>,
}

impl Model {
    fn reaches(&self, h: &H, u: usize, i: &IssueM) -> bool {
        match h {
            H::Group(g) => self.members[*g].contains(&u),
            H::User(x) => *x == u,
            H::Role(r) => {
                let (users, groups) = &self.roles[i.project][*r];
                users.contains(&u) || groups.iter().any(|g| self.members[*g].contains(&u))
            }
            H::AnyUser => true,
            H::Lead => self.leads[i.project] == u,
            H::Reporter => i.reporter == u,
            H::Assignee => i.assignee == Some(u),
        }
    }

    fn reads(&self, u: usize, i: &IssueM) -> bool {
        let browse = self.grants[i.project].iter().any(|h| self.reaches(h, u, i));
        let level = i.level.is_none_or(|l| {
            self.levels[i.project][l]
                .iter()
                .any(|h| self.reaches(h, u, i))
        });
        browse && level
    }
}

fn random_holder(rng: &mut Rng) -> H {
    match rng.below(10) {
        0..=2 => H::Group(rng.below(GROUPS)),
        3..=4 => H::User(rng.below(USERS)),
        5..=6 => H::Role(rng.below(ROLES)),
        7 => H::AnyUser,
        8 => H::Lead,
        _ => {
            if rng.chance(50) {
                H::Reporter
            } else {
                H::Assignee
            }
        }
    }
}

struct Ids {
    users: Vec<String>,
    groups: Vec<String>,
    roles: Vec<u64>,
    schemes: Vec<u64>,
    levels: Vec<Vec<u64>>,
    sync_group: String,
}

impl Ids {
    fn holder(&self, h: &H) -> Holder {
        match h {
            H::Group(g) => Holder::Group(self.groups[*g].clone()),
            H::User(u) => Holder::User(self.users[*u].clone()),
            H::Role(r) => Holder::ProjectRole(self.roles[*r]),
            H::AnyUser => Holder::ApplicationRole,
            H::Lead => Holder::ProjectLead,
            H::Reporter => Holder::Reporter,
            H::Assignee => Holder::Assignee,
        }
    }

    /// A level's holders in the fake: the model's, and the sync account's group.
    fn level_holders(&self, hs: &[H]) -> Vec<Holder> {
        let mut out: Vec<Holder> = hs.iter().map(|h| self.holder(h)).collect();
        out.push(Holder::Group(self.sync_group.clone()));
        out
    }
}

fn set_roles(t: &Site, ids: &Ids, m: &Model, p: usize) {
    let mut w = t.fake.world();
    for (r, (users, groups)) in m.roles[p].iter().enumerate() {
        let mut actors: Vec<Actor> = users
            .iter()
            .map(|u| Actor::User(ids.users[*u].clone()))
            .collect();
        actors.extend(groups.iter().map(|g| Actor::Group(ids.groups[*g].clone())));
        w.set_role_actors(PROJECTS[p], ids.roles[r], actors);
    }
}

async fn build(t: &Site, rng: &mut Rng) -> (Ids, Model) {
    let mut m = Model::default();
    let ids = {
        let mut w = t.fake.world();
        let users: Vec<String> = (0..USERS)
            .map(|u| w.add_user(&format!("u{u}"), &format!("u{u}@acme.test"), "UTC"))
            .collect();
        let groups: Vec<String> = (0..GROUPS).map(|g| w.add_group(&format!("g{g}"))).collect();
        for g in &groups {
            let mut set = BTreeSet::new();
            for (u, id) in users.iter().enumerate() {
                if rng.chance(40) {
                    w.add_member(g, id);
                    set.insert(u);
                }
            }
            m.members.push(set);
        }
        let roles: Vec<u64> = (0..ROLES)
            .map(|r| w.add_role(&format!("role{r}")))
            .collect();
        let sync_group = w.add_group("sync");
        let admin = t.user("admin");
        w.add_member(&sync_group, &admin);
        let mut schemes = Vec::new();
        let mut levels = Vec::new();
        for key in PROJECTS.iter() {
            let scheme = w.add_scheme(&format!("scheme {key}"));
            w.grant_browse(scheme, Holder::Group(sync_group.clone()));
            schemes.push(scheme);
            // The projects of `Site` are replaced by this world's.
            w.delete_project(key);
            let lead = rng.below(USERS);
            w.add_project(key, key, &users[lead], scheme);
            m.leads.push(lead);
            let security = w.add_security_scheme(&format!("levels {key}"));
            w.set_project_security(key, Some(security));
            let mut ls = Vec::new();
            let mut model_levels = Vec::new();
            for l in 0..2 {
                let hs: Vec<H> = (0..1 + rng.below(3)).map(|_| random_holder(rng)).collect();
                ls.push(w.add_level(security, &format!("L{l}"), Vec::new()));
                model_levels.push(hs);
            }
            levels.push(ls);
            m.levels.push(model_levels);
            let mut grants = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let h = random_holder(rng);
                if !grants.contains(&h) {
                    grants.push(h);
                }
            }
            m.grants.push(grants);
            m.roles.push(
                (0..ROLES)
                    .map(|_| {
                        let users = (0..USERS).filter(|_| rng.chance(25)).collect();
                        let groups = (0..GROUPS).filter(|_| rng.chance(25)).collect();
                        (users, groups)
                    })
                    .collect(),
            );
        }
        Ids {
            users,
            groups,
            roles,
            schemes,
            levels,
            sync_group,
        }
    };
    {
        let mut w = t.fake.world();
        for p in 0..PROJECTS.len() {
            for h in &m.grants[p] {
                w.grant_browse(ids.schemes[p], ids.holder(h));
            }
            for (l, hs) in m.levels[p].iter().enumerate() {
                w.set_level_members(ids.levels[p][l], ids.level_holders(hs));
            }
        }
        for n in 0..ISSUES * PROJECTS.len() {
            let project = n % PROJECTS.len();
            let reporter = rng.below(USERS);
            let assignee = rng.chance(60).then(|| rng.below(USERS));
            let level = rng.chance(40).then(|| rng.below(2));
            let (id, _) = w.create_issue(
                PROJECTS[project],
                &format!("issue{n}"),
                Some(para("words")),
                &ids.users[reporter],
            );
            let (assignee_id, level_id) = (
                assignee.map(|a| ids.users[a].clone()),
                level.map(|l| ids.levels[project][l]),
            );
            w.edit(id, |e| {
                e.assignee(assignee_id.as_deref());
                e.security(level_id);
            });
            m.issues.push(IssueM {
                id,
                project,
                reporter,
                assignee,
                level,
            });
        }
    }
    for p in 0..PROJECTS.len() {
        set_roles(t, &ids, &m, p);
    }
    (ids, m)
}

fn mutate(t: &Site, ids: &Ids, m: &mut Model, rng: &mut Rng) -> String {
    let mut w = t.fake.world();
    w.advance(MINUTE);
    let p = rng.below(PROJECTS.len());
    match rng.below(7) {
        0 => {
            let h = random_holder(rng);
            if m.grants[p].contains(&h) {
                w.revoke(ids.schemes[p], &ids.holder(&h));
                m.grants[p].retain(|x| *x != h);
                format!("revoke {h:?} in {}", PROJECTS[p])
            } else {
                w.grant_browse(ids.schemes[p], ids.holder(&h));
                m.grants[p].push(h.clone());
                format!("grant {h:?} in {}", PROJECTS[p])
            }
        }
        1 => {
            let (g, u) = (rng.below(GROUPS), rng.below(USERS));
            if m.members[g].remove(&u) {
                w.remove_member(&ids.groups[g], &ids.users[u]);
                format!("u{u} leaves g{g}")
            } else {
                m.members[g].insert(u);
                w.add_member(&ids.groups[g], &ids.users[u]);
                format!("u{u} joins g{g}")
            }
        }
        2 => {
            let r = rng.below(ROLES);
            let users = (0..USERS).filter(|_| rng.chance(30)).collect();
            let groups = (0..GROUPS).filter(|_| rng.chance(30)).collect();
            m.roles[p][r] = (users, groups);
            drop(w);
            set_roles(t, ids, m, p);
            format!("role{r} of {} now {:?}", PROJECTS[p], m.roles[p][r])
        }
        3 | 4 => {
            let n = rng.below(m.issues.len());
            let level = rng.chance(50).then(|| rng.below(2));
            let assignee = rng.chance(60).then(|| rng.below(USERS));
            let i = &mut m.issues[n];
            i.level = level;
            i.assignee = assignee;
            let (a, l) = (
                assignee.map(|a| ids.users[a].clone()),
                level.map(|l| ids.levels[i.project][l]),
            );
            w.edit(i.id, |e| {
                e.assignee(a.as_deref());
                e.security(l);
            });
            format!("issue{n}: assignee {assignee:?}, level {level:?}")
        }
        5 => {
            let l = rng.below(2);
            let hs: Vec<H> = (0..1 + rng.below(3)).map(|_| random_holder(rng)).collect();
            w.set_level_members(ids.levels[p][l], ids.level_holders(&hs));
            m.levels[p][l] = hs;
            format!("level L{l} of {} now {:?}", PROJECTS[p], m.levels[p][l])
        }
        _ => {
            let lead = rng.below(USERS);
            w.set_lead(PROJECTS[p], &ids.users[lead]);
            m.leads[p] = lead;
            format!("lead of {} now u{lead}", PROJECTS[p])
        }
    }
}

fn compare(t: &Site, m: &Model, seed: u64, history: &[String]) {
    let mut ids = sync_core::Identities::new();
    ids.add_stored(t.engine.store()).expect("memberships");
    for u in 0..USERS {
        let seen: BTreeSet<String> = t
            .engine
            .index()
            .visible_documents(&ids.principals(&format!("u{u}@acme.test")))
            .expect("visible")
            .into_iter()
            .filter_map(|d| d.title.split_once(": ").map(|(_, s)| s.to_string()))
            .collect();
        let expected: BTreeSet<String> = m
            .issues
            .iter()
            .enumerate()
            .filter(|(_, i)| m.reads(u, i))
            .map(|(n, _)| format!("issue{n}"))
            .collect();
        assert_eq!(seen, expected, "seed {seed}, user u{u}, after {history:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_world_1() {
    for seed in seeds(&[1, 2, 3]) {
        let mut rng = Rng(seed);
        let t = Site::new("UTC").await;
        let (ids, mut m) = build(&t, &mut rng).await;
        t.sync_identities().await;
        succeeded(&t.full().await);
        let mut history = Vec::new();
        compare(&t, &m, seed, &history);
        for _ in 0..ROUNDS {
            for _ in 0..MUTATIONS {
                history.push(mutate(&t, &ids, &mut m, &mut rng));
            }
            t.sync_identities().await;
            succeeded(&t.sync().await);
            compare(&t, &m, seed, &history);
        }
    }
}
