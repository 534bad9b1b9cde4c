//! Randomized knowledge ACLs: seeded worlds of users, groups, roles, user criteria (some
//! `match_all`), knowledge bases and articles with Can Read / Cannot Read lists at both
//! levels, then rounds of random changes (memberships, role grants, criteria lists,
//! retirements). After each round the visible articles of every user must equal what an
//! independent model of ServiceNow's rules says: readable when the KB's Can Read and the
//! article's Can Read both let the user through (an empty list lets everyone through) and
//! no Cannot Read of either matches. `TRIBUTARY_SEED=17` replays one world.

use std::collections::BTreeSet;
use std::time::Duration;

use fake_servicenow::{FakeServiceNow, World};
use sync_core::{Engine, Identities, RunState, SyncOptions};

use crate::seeded::{Rng, seeds};
use crate::support::{sync, visible};

const USERS: usize = 6;
const GROUPS: usize = 2;
const ROLES: usize = 2;
const KBS: usize = 3;
const ARTICLES: usize = 10;

/// A criteria: users, groups, roles (indices); all three kinds must match with `all`.
#[derive(Debug, Clone)]
struct Crit {
    id: String,
    users: Vec<usize>,
    groups: Vec<usize>,
    roles: Vec<usize>,
    all: bool,
}

#[derive(Debug, Default)]
struct Model {
    user_ids: Vec<String>,
    group_ids: Vec<String>,
    role_ids: Vec<String>,
    /// (group, user) → grmember sys_id.
    members: Vec<(usize, usize, String)>,
    /// (role, user) → has_role sys_id.
    grants: Vec<(usize, usize, String)>,
    crits: Vec<Crit>,
    kb_ids: Vec<String>,
    /// (kb, crit, can) → mtom sys_id.
    kb_lists: Vec<(usize, usize, bool, String)>,
    articles: Vec<Article>,
}

/// An article: its knowledge base, its Can Read and Cannot Read criteria (by index).
#[derive(Debug, Default)]
struct Article {
    sys_id: String,
    kb: usize,
    can: Vec<usize>,
    cannot: Vec<usize>,
    published: bool,
}

impl Model {
    fn matches(&self, c: &Crit, u: usize) -> bool {
        let in_group = |g: &usize| self.members.iter().any(|(mg, mu, _)| mg == g && *mu == u);
        let has_role = |r: &usize| self.grants.iter().any(|(gr, gu, _)| gr == r && *gu == u);
        let kinds = [
            (!c.users.is_empty(), c.users.contains(&u)),
            (!c.groups.is_empty(), c.groups.iter().any(in_group)),
            (!c.roles.is_empty(), c.roles.iter().any(has_role)),
        ];
        let present: Vec<bool> = kinds.iter().filter(|(p, _)| *p).map(|(_, m)| *m).collect();
        if present.is_empty() {
            return false;
        }
        if c.all {
            present.iter().all(|m| *m)
        } else {
            present.iter().any(|m| *m)
        }
    }

    fn readers(&self, a: usize) -> BTreeSet<usize> {
        let Article {
            kb,
            can,
            cannot,
            published,
            ..
        } = &self.articles[a];
        if !published {
            return BTreeSet::new();
        }
        let list = |can_list: bool| -> Vec<usize> {
            self.kb_lists
                .iter()
                .filter(|(k, _, c, _)| k == kb && *c == can_list)
                .map(|(_, c, _, _)| *c)
                .collect()
        };
        let (kb_can, kb_cannot) = (list(true), list(false));
        (0..USERS)
            .filter(|&u| {
                let lets = |set: &[usize]| {
                    set.is_empty() || set.iter().any(|c| self.matches(&self.crits[*c], u))
                };
                let denied = kb_cannot
                    .iter()
                    .chain(cannot)
                    .any(|c| self.matches(&self.crits[*c], u));
                lets(&kb_can) && lets(can) && !denied
            })
            .collect()
    }

    fn crit_list(&self, set: &[usize]) -> String {
        set.iter()
            .map(|c| self.crits[*c].id.clone())
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn join(ids: &[String], idx: &[usize]) -> String {
    idx.iter()
        .map(|i| ids[*i].clone())
        .collect::<Vec<_>>()
        .join(",")
}

fn some(rng: &mut Rng, n: usize, max: usize) -> Vec<usize> {
    let k = rng.below(max + 1);
    let mut v: Vec<usize> = (0..k).map(|_| rng.below(n)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn build(w: &mut World, rng: &mut Rng) -> Model {
    let mut m = Model {
        user_ids: (0..USERS)
            .map(|u| w.add_user(&format!("u{u}"), &format!("u{u}@acme.test")))
            .collect(),
        group_ids: (0..GROUPS).map(|g| w.add_group(&format!("g{g}"))).collect(),
        role_ids: (0..ROLES).map(|r| w.add_role(&format!("r{r}"))).collect(),
        ..Model::default()
    };
    for u in 0..USERS {
        for g in 0..GROUPS {
            if rng.chance(40) {
                let id = w.add_member(&m.group_ids[g], &m.user_ids[u]);
                m.members.push((g, u, id));
            }
        }
        for r in 0..ROLES {
            if rng.chance(35) {
                let id = w.grant_role(&m.user_ids[u], &m.role_ids[r]);
                m.grants.push((r, u, id));
            }
        }
    }
    for i in 0..6 {
        let mut c = Crit {
            id: String::new(),
            users: Vec::new(),
            groups: Vec::new(),
            roles: Vec::new(),
            all: false,
        };
        match rng.below(4) {
            0 => c.users = some(rng, USERS, 2),
            1 => c.groups = some(rng, GROUPS, 1),
            2 => c.roles = some(rng, ROLES, 1),
            _ => {
                c.groups = vec![rng.below(GROUPS)];
                c.roles = vec![rng.below(ROLES)];
                c.all = rng.chance(60);
            }
        }
        let all = if c.all { "true" } else { "false" };
        c.id = w.add_criteria(
            &format!("c{i}"),
            &[
                ("user", &join(&m.user_ids, &c.users)),
                ("group", &join(&m.group_ids, &c.groups)),
                ("role", &join(&m.role_ids, &c.roles)),
                ("match_all", all),
            ],
        );
        m.crits.push(c);
    }
    m.kb_ids = (0..KBS).map(|k| w.add_kb(&format!("kb{k}"))).collect();
    for k in 0..KBS {
        for (can, p) in [(true, 40), (false, 25)] {
            if rng.chance(p) {
                let c = rng.below(m.crits.len());
                let id = w.kb_criteria(&m.kb_ids[k], &m.crits[c].id, can);
                m.kb_lists.push((k, c, can, id));
            }
        }
    }
    for a in 0..ARTICLES {
        let kb = rng.below(KBS);
        let id = w.add_article(
            &m.kb_ids[kb],
            &format!("article {a}"),
            &format!("<p>body of article{a}</p>"),
        );
        let can = if rng.chance(40) {
            some(rng, m.crits.len(), 2)
        } else {
            Vec::new()
        };
        let cannot = if rng.chance(25) {
            some(rng, m.crits.len(), 1)
        } else {
            Vec::new()
        };
        w.update(
            "kb_knowledge",
            &id,
            &[
                ("can_read_user_criteria", &m.crit_list(&can)),
                ("cannot_read_user_criteria", &m.crit_list(&cannot)),
            ],
        );
        m.articles.push(Article {
            sys_id: id,
            kb,
            can,
            cannot,
            published: true,
        });
    }
    m
}

fn mutate(w: &mut World, rng: &mut Rng, m: &mut Model) {
    w.advance(5);
    for _ in 0..3 {
        match rng.below(5) {
            0 => {
                let (g, u) = (rng.below(GROUPS), rng.below(USERS));
                match m
                    .members
                    .iter()
                    .position(|(mg, mu, _)| *mg == g && *mu == u)
                {
                    Some(i) => w.delete("sys_user_grmember", &m.members.remove(i).2),
                    None => {
                        let id = w.add_member(&m.group_ids[g], &m.user_ids[u]);
                        m.members.push((g, u, id));
                    }
                }
            }
            1 => {
                let (r, u) = (rng.below(ROLES), rng.below(USERS));
                match m.grants.iter().position(|(gr, gu, _)| *gr == r && *gu == u) {
                    Some(i) => w.delete("sys_user_has_role", &m.grants.remove(i).2),
                    None => {
                        let id = w.grant_role(&m.user_ids[u], &m.role_ids[r]);
                        m.grants.push((r, u, id));
                    }
                }
            }
            2 => {
                let a = rng.below(ARTICLES);
                let can = if rng.chance(50) {
                    some(rng, m.crits.len(), 2)
                } else {
                    Vec::new()
                };
                let cannot = if rng.chance(30) {
                    some(rng, m.crits.len(), 1)
                } else {
                    Vec::new()
                };
                let fields = [
                    ("can_read_user_criteria", m.crit_list(&can)),
                    ("cannot_read_user_criteria", m.crit_list(&cannot)),
                ];
                w.update(
                    "kb_knowledge",
                    &m.articles[a].sys_id,
                    &[(fields[0].0, &fields[0].1), (fields[1].0, &fields[1].1)],
                );
                m.articles[a].can = can;
                m.articles[a].cannot = cannot;
            }
            3 => {
                let (k, c, can) = (rng.below(KBS), rng.below(m.crits.len()), rng.chance(60));
                match m
                    .kb_lists
                    .iter()
                    .position(|(kk, cc, cn, _)| *kk == k && *cc == c && *cn == can)
                {
                    Some(i) => {
                        let table = if can {
                            "kb_uc_can_read_mtom"
                        } else {
                            "kb_uc_cannot_read_mtom"
                        };
                        w.delete(table, &m.kb_lists.remove(i).3);
                    }
                    None => {
                        let id = w.kb_criteria(&m.kb_ids[k], &m.crits[c].id, can);
                        m.kb_lists.push((k, c, can, id));
                    }
                }
            }
            _ => {
                let a = rng.below(ARTICLES);
                let published = !m.articles[a].published;
                let state = if published { "published" } else { "retired" };
                w.update(
                    "kb_knowledge",
                    &m.articles[a].sys_id,
                    &[("workflow_state", state)],
                );
                m.articles[a].published = published;
            }
        }
    }
}

async fn run(seed: u64) {
    let fake = FakeServiceNow::start().await.expect("fake");
    let mut rng = Rng(seed);
    let mut model = build(&mut fake.world(), &mut rng);
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path()).expect("engine");
    let source = super::source_for(&fake, |_| {});
    let options = SyncOptions {
        retry_backoff: Duration::ZERO,
        allow_mass_delete: true,
        ..SyncOptions::default()
    };
    for round in 0..4 {
        if round > 0 {
            mutate(&mut fake.world(), &mut rng, &mut model);
        }
        let ids = engine
            .sync_identities(&source, &options)
            .await
            .expect("identity sync");
        assert_eq!(
            ids.state,
            RunState::Succeeded,
            "seed {seed} round {round}: {ids:?}"
        );
        let report = sync(&engine, &source, &options).await;
        assert_eq!(
            report.state,
            RunState::Succeeded,
            "seed {seed} round {round}: {report:?}"
        );
        let mut identities = Identities::new();
        identities.add_stored(engine.store()).expect("memberships");
        for u in 0..USERS {
            let expected: BTreeSet<String> = (0..ARTICLES)
                .filter(|a| model.readers(*a).contains(&u))
                .map(|a| format!("kb_knowledge/{}", model.articles[a].sys_id))
                .collect();
            let seen = visible(&engine, &identities, &format!("u{u}@acme.test"));
            assert_eq!(
                seen, expected,
                "seed {seed} round {round} user u{u}: {model:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_knowledge_acls_match_the_model() {
    for seed in seeds(&[1, 2, 3, 4, 5]) {
        run(seed).await;
    }
}
