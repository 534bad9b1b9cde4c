//! Seeded random workspaces under membership churn, checked against an independent model of
//! who may read a Slack channel: a public channel's messages are read by every active full
//! member of the workspace and by the guests in it; a private channel's (and a group DM's)
//! by its active members; a deactivated user reads nothing; the app syncs only the
//! conversations it is in, and a deleted one is gone.
//!
//! Each round makes 12 random changes (people join and leave, guests and members arrive,
//! people are deactivated, channels are made, archived, deleted, and the app leaves some),
//! then runs the identity sync and a document sync (a full one every third round) and
//! compares, for every person, the conversations whose documents they find with the
//! model's. `TRIBUTARY_SEED=17` replays one world, `1..40` explores many.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sync_core::{Engine, Identities, RunState, Source, SyncOptions};

use super::source_for;
use crate::seeded::{Rng, seeds};
use crate::support::sync;
use fake_slack::FakeSlack;

/// A person as the model knows them.
#[derive(Debug, Clone)]
struct Person {
    email: String,
    guest: bool,
    active: bool,
}

/// A conversation as the model knows it.
#[derive(Debug, Clone, Default)]
struct Conversation {
    public: bool,
    /// A group DM: its members are fixed at creation.
    mpim: bool,
    members: BTreeSet<String>,
    app_in: bool,
    deleted: bool,
}

/// The model: people by user id, conversations by channel id.
#[derive(Default)]
struct Model {
    people: BTreeMap<String, Person>,
    conversations: BTreeMap<String, Conversation>,
}

impl Model {
    /// Whether the app syncs `c` (and so its documents are in the index).
    fn synced(c: &Conversation) -> bool {
        c.app_in && !c.deleted
    }

    /// The conversations whose documents `person` may read.
    fn readable(&self, person: &Person, id: &str) -> BTreeSet<String> {
        if !person.active {
            return BTreeSet::new();
        }
        self.conversations
            .iter()
            .filter(|(_, c)| Self::synced(c))
            .filter(|(_, c)| (c.public && !person.guest) || c.members.contains(id))
            .map(|(cid, _)| cid.clone())
            .collect()
    }

    fn synced_ids(&self) -> BTreeSet<String> {
        self.conversations
            .iter()
            .filter(|(_, c)| Self::synced(c))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

struct Churn {
    fake: FakeSlack,
    engine: Engine,
    source: Source,
    options: SyncOptions,
    model: Model,
    rng: Rng,
    bot: String,
    made: usize,
    _dir: tempfile::TempDir,
}

impl Churn {
    async fn new(seed: u64) -> Self {
        let fake = FakeSlack::start().await.expect("fake slack");
        let bot = fake.world().bot_user();
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path()).expect("engine");
        let source = source_for(&fake, |c| {
            c.include_mpims = true;
            // Many runs against a fake that answers at once: Slack's per-minute tiers
            // would make the rounds wait, not test anything more.
            c.tier2_per_minute = 60_000;
            c.tier3_per_minute = 60_000;
            c.tier4_per_minute = 60_000;
        });
        let mut churn = Churn {
            fake,
            engine,
            source,
            options: SyncOptions {
                retry_backoff: Duration::ZERO,
                // Deleting one of a few channels is most of a small workspace; the model
                // checks that exactly the right documents go.
                allow_mass_delete: true,
                ..SyncOptions::default()
            },
            model: Model::default(),
            rng: Rng(seed),
            bot,
            made: 0,
            _dir: dir,
        };
        for _ in 0..6 {
            churn.add_person(false);
        }
        churn.add_person(true);
        for _ in 0..4 {
            churn.add_conversation();
        }
        churn
    }

    fn add_person(&mut self, guest: bool) -> String {
        self.made += 1;
        let name = format!("p{}", self.made);
        let email = format!("{name}@acme.test");
        let id = {
            let mut w = self.fake.world();
            if guest {
                w.add_guest(&name, &email)
            } else {
                w.add_user(&name, &email, &name)
            }
        };
        self.model.people.insert(
            id.clone(),
            Person {
                email,
                guest,
                active: true,
            },
        );
        id
    }

    /// A public or private channel, or a group DM, with some people in it and a message;
    /// the app in it most of the time.
    fn add_conversation(&mut self) {
        self.made += 1;
        let people: Vec<String> = self.active_people();
        let mut members: BTreeSet<String> = people
            .iter()
            .filter(|_| self.rng.chance(40))
            .cloned()
            .collect();
        let app_in = self.rng.chance(85);
        let kind = self.rng.below(5);
        let mut w = self.fake.world();
        let id = if kind == 4 && people.len() >= 2 {
            // A group DM: its members are fixed at creation, and the app is one of them.
            members.insert(people[0].clone());
            members.insert(people[1].clone());
            let mut all: Vec<&str> = members.iter().map(String::as_str).collect();
            all.push(&self.bot);
            w.add_mpim(&all)
        } else {
            let id = w.add_channel(&format!("c{}", self.made), kind >= 2);
            for m in &members {
                w.join(&id, m);
            }
            if app_in {
                w.join(&id, &self.bot);
            }
            id
        };
        let mpim = kind == 4 && people.len() >= 2;
        let author = members
            .iter()
            .next()
            .cloned()
            .unwrap_or_else(|| self.bot.clone());
        w.post(&id, &author, &format!("news of conversation {}", self.made));
        self.model.conversations.insert(
            id,
            Conversation {
                public: kind < 2 && !mpim,
                mpim,
                members,
                app_in: app_in || mpim,
                deleted: false,
            },
        );
    }

    fn active_people(&self) -> Vec<String> {
        self.model
            .people
            .iter()
            .filter(|(_, p)| p.active)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Channels (not group DMs, whose members never change) that are not deleted.
    fn channels(&self) -> Vec<String> {
        self.model
            .conversations
            .iter()
            .filter(|(_, c)| !c.deleted && !c.mpim)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// One random change to the workspace and the model.
    fn change(&mut self) -> String {
        let channels = self.channels();
        let people = self.active_people();
        match self.rng.below(9) {
            0 | 1 if !channels.is_empty() && !people.is_empty() => {
                let c = self.rng.pick(&channels).clone();
                let p = self.rng.pick(&people).clone();
                self.fake.world().join(&c, &p);
                if let Some(x) = self.model.conversations.get_mut(&c) {
                    x.members.insert(p.clone());
                }
                format!("{p} joins {c}")
            }
            2 | 3 if !channels.is_empty() => {
                let c = self.rng.pick(&channels).clone();
                let members: Vec<String> = self.model.conversations[&c]
                    .members
                    .iter()
                    .cloned()
                    .collect();
                if members.is_empty() {
                    return "nothing".into();
                }
                let p = self.rng.pick(&members).clone();
                self.fake.world().leave(&c, &p);
                if let Some(x) = self.model.conversations.get_mut(&c) {
                    x.members.remove(&p);
                }
                format!("{p} leaves {c}")
            }
            4 => {
                let guest = self.rng.chance(40);
                let p = self.add_person(guest);
                format!("{p} arrives (guest: {guest})")
            }
            5 if people.len() > 2 => {
                let p = self.rng.pick(&people).clone();
                self.fake.world().deactivate_user(&p);
                if let Some(x) = self.model.people.get_mut(&p) {
                    x.active = false;
                }
                format!("{p} is deactivated")
            }
            6 => {
                self.add_conversation();
                "a new conversation".into()
            }
            7 if !channels.is_empty() => {
                let c = self.rng.pick(&channels).clone();
                if self.rng.chance(50) {
                    self.fake.world().archive(&c);
                    format!("{c} is archived")
                } else {
                    self.fake.world().delete_channel(&c);
                    if let Some(x) = self.model.conversations.get_mut(&c) {
                        x.deleted = true;
                    }
                    format!("{c} is deleted")
                }
            }
            8 if !channels.is_empty() => {
                let c = self.rng.pick(&channels).clone();
                let bot = self.bot.clone();
                self.fake.world().leave(&c, &bot);
                if let Some(x) = self.model.conversations.get_mut(&c) {
                    x.app_in = false;
                }
                format!("the app leaves {c}")
            }
            _ => "nothing".into(),
        }
    }

    fn identities(&self) -> Identities {
        let mut ids = Identities::new();
        ids.add_stored(self.engine.store()).expect("memberships");
        ids
    }

    /// The conversations whose documents the index shows to these principals.
    fn shown(&self, principals: &[String]) -> BTreeSet<String> {
        self.engine
            .index()
            .visible_documents(principals)
            .expect("visible")
            .into_iter()
            .map(|d| d.doc_id.split('/').next().unwrap_or_default().to_string())
            .collect()
    }

    async fn round(&mut self, full: bool) {
        let identities = self
            .engine
            .sync_identities(&self.source, &self.options)
            .await
            .expect("identity sync starts");
        assert_eq!(identities.state, RunState::Succeeded, "{identities:?}");
        let options = SyncOptions {
            full,
            ..self.options.clone()
        };
        let report = sync(&self.engine, &self.source, &options).await;
        assert_eq!(report.state, RunState::Succeeded, "{report:?}");
    }

    /// Every person finds exactly the conversations the model says, and the index holds
    /// exactly the synced ones.
    fn check(&self, seed: u64, when: &str) {
        let ids = self.identities();
        // Everything: the workspace group and every conversation's group.
        let mut all = vec!["group:slack:workspace".to_string()];
        all.extend(
            self.model
                .conversations
                .keys()
                .map(|c| format!("group:slack:channel:{c}")),
        );
        assert_eq!(
            self.shown(&all),
            self.model.synced_ids(),
            "seed {seed}, {when}: the index holds the wrong conversations"
        );
        for (id, person) in &self.model.people {
            let found = self.shown(&ids.principals(&person.email));
            let expected = self.model.readable(person, id);
            assert_eq!(
                found, expected,
                "seed {seed}, {when}: {} ({id}, guest {}, active {}) finds the wrong conversations",
                person.email, person.guest, person.active
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_finds_what_follows_membership_churn_in_random_workspaces() {
    for seed in seeds(&[1, 2, 3, 4, 5]) {
        let mut churn = Churn::new(seed).await;
        churn.round(true).await;
        churn.check(seed, "after the first full sync");
        for round in 1..=4 {
            let changes: Vec<String> = (0..12).map(|_| churn.change()).collect();
            churn.round(round % 3 == 0).await;
            churn.check(seed, &format!("after round {round}: {changes:?}"));
        }
    }
}
