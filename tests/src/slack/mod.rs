//! The Slack connector, through the engine, against the fake Slack (`fixtures/fake-slack`),
//! which speaks Slack's documented Web API: threads, channel days and files as documents;
//! who may read them (the workspace for public channels, guests only where they are,
//! members for private ones); the reconcile window catching edits, deletions and new
//! replies; older deletions left to the full reconcile; membership changes through the
//! identity sync; throttling, `ratelimited` and a revoked token.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use connector_sdk::{Connector, Secret};
use connector_slack::{SlackConfig, SlackConnector};
use fake_slack::{FakeSlack, Fault, Route, When};
use sync_core::{Engine, Identities, RunReport, RunState, Source, SyncOptions};

use crate::support::sync;

mod churn;

const DAY: i64 = 86_400;

/// Now, in Unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A workspace: ann, cat and dan are full members, bob a guest. #general (public, the
/// app in it: ann, bob, cat), #secret (private: ann, cat, the app), #random (public, the
/// app not in it), a group DM of ann and dan with the app.
struct Workspace {
    fake: FakeSlack,
    engine: Engine,
    source: Source,
    options: SyncOptions,
    general: String,
    secret: String,
    users: std::collections::BTreeMap<&'static str, String>,
    _dir: tempfile::TempDir,
}

impl Workspace {
    async fn new() -> Self {
        let fake = FakeSlack::start().await.expect("fake slack");
        let (general, secret, users) = {
            let mut w = fake.world();
            let mut users = std::collections::BTreeMap::new();
            for name in ["ann", "cat", "dan"] {
                let id = w.add_user(name, &format!("{name}@acme.test"), name);
                users.insert(name, id);
            }
            users.insert("bob", w.add_guest("bob", "bob@partner.test"));
            let bot = w.bot_user();
            let general = w.add_channel("general", false);
            let secret = w.add_channel("secret", true);
            let random = w.add_channel("random", false);
            for who in ["ann", "bob", "cat"] {
                w.join(&general, &users[who]);
            }
            for who in ["ann", "cat"] {
                w.join(&secret, &users[who]);
            }
            w.join(&general, &bot);
            w.join(&secret, &bot);
            w.join(&random, &users["dan"]);
            let mpim = w.add_mpim(&[&users["ann"], &users["dan"], &bot]);
            w.post(&mpim, &users["ann"], "lunch plans in the group dm");
            w.post(&random, &users["dan"], "random chatter nobody syncs");
            (general, secret, users)
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path()).expect("engine");
        let source = source_for(&fake, |_| {});
        Workspace {
            fake,
            engine,
            source,
            options: SyncOptions {
                retry_backoff: Duration::ZERO,
                ..SyncOptions::default()
            },
            general,
            secret,
            users,
            _dir: dir,
        }
    }

    fn reconfigure(&mut self, change: impl FnOnce(&mut SlackConfig)) {
        self.source = source_for(&self.fake, change);
    }

    async fn sync(&self) -> RunReport {
        sync(&self.engine, &self.source, &self.options).await
    }

    async fn full(&self) -> RunReport {
        let options = SyncOptions {
            full: true,
            ..self.options.clone()
        };
        sync(&self.engine, &self.source, &options).await
    }

    async fn sync_identities(&self) {
        let report = self
            .engine
            .sync_identities(&self.source, &self.options)
            .await
            .expect("identity sync starts");
        assert_eq!(report.state, RunState::Succeeded, "{report:?}");
    }

    fn identities(&self) -> Identities {
        let mut ids = Identities::new();
        ids.add_stored(self.engine.store()).expect("memberships");
        ids
    }

    fn titles(&self, user: &str) -> BTreeSet<String> {
        self.engine
            .index()
            .visible_documents(&self.identities().principals(user))
            .expect("visible")
            .into_iter()
            .map(|d| d.title)
            .collect()
    }

    fn hits(&self, user: &str, query: &str) -> usize {
        crate::support::hits(&self.engine, &self.identities(), user, query)
    }

    fn user(&self, name: &str) -> String {
        self.users[name].clone()
    }
}

fn source_for(fake: &FakeSlack, change: impl FnOnce(&mut SlackConfig)) -> Source {
    let mut config = SlackConfig::new();
    config.token = Some(Secret::new(fake.token()));
    config.api_url = fake.api_url();
    config.history_limit = 3; // pages, so that paging is exercised
    change(&mut config);
    let connector = SlackConnector::new(config).expect("connector");
    Source::new("slack", Arc::new(connector) as Arc<dyn Connector>)
}

fn succeeded(report: &RunReport) {
    assert_eq!(report.state, RunState::Succeeded, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_days_and_files_are_searchable_by_who_may_read_the_channel() {
    let t = Workspace::new().await;
    let now = now();
    {
        let mut w = t.fake.world();
        w.set_time(now - 3 * DAY);
        let root = w.post(
            &t.general,
            &t.user("ann"),
            "who owns the <#C0|deploy> pipeline?",
        );
        let cat = t.user("cat");
        w.reply(
            &t.general,
            &root,
            &cat,
            &format!("<@{cat}> does, ask about canary"),
        );
        w.post(&t.general, &t.user("bob"), "the partner invoice is late");
        w.share_file(
            &t.general,
            &t.user("ann"),
            "numbers.txt",
            "text/plain",
            b"quarterly numbers: revenue up",
        );
        w.set_time(now - DAY);
        w.post(&t.secret, &t.user("cat"), "merger with globex is on");
    }
    t.sync_identities().await;
    let report = t.sync().await;
    succeeded(&report);
    // A thread, a day of #general, a file, a day of #secret.
    assert_eq!(report.counts.added, 4, "{report:?}");
    assert_eq!(
        t.hits("dan@acme.test", "canary"),
        1,
        "public: the workspace"
    );
    assert_eq!(t.hits("dan@acme.test", "invoice"), 1);
    assert_eq!(t.hits("dan@acme.test", "revenue"), 1, "the file's text");
    assert_eq!(
        t.hits("dan@acme.test", "globex"),
        0,
        "private: members only"
    );
    assert_eq!(t.hits("cat@acme.test", "globex"), 1);
    assert_eq!(
        t.hits("bob@partner.test", "canary"),
        1,
        "a guest in #general"
    );
    assert_eq!(t.hits("bob@partner.test", "globex"), 0);
    assert_eq!(t.hits("mallory@evil.test", "canary"), 0);
    assert_eq!(
        t.hits("ann@acme.test", "random"),
        0,
        "#random: the app is not in it"
    );
    assert_eq!(
        t.hits("ann@acme.test", "lunch"),
        0,
        "group DMs are off by default"
    );
    // Names, not ids, in titles.
    assert!(
        t.titles("ann@acme.test")
            .iter()
            .any(|title| title.starts_with("#general: who owns")),
        "{:?}",
        t.titles("ann@acme.test")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletions_and_replies_in_the_window_are_caught_and_older_ones_by_the_full_reconcile()
{
    let t = Workspace::new().await;
    let now = now();
    let (old, edited, deleted, thread, lonely) = {
        let mut w = t.fake.world();
        w.set_time(now - 40 * DAY);
        let old = w.post(
            &t.general,
            &t.user("ann"),
            "ancient history about zeppelins",
        );
        w.set_time(now - 3 * DAY);
        let lonely = w.post(
            &t.general,
            &t.user("dan"),
            "the only message about quokkas that day",
        );
        w.set_time(now - 2 * DAY);
        let edited = w.post(&t.general, &t.user("ann"), "the offsite is in lisbon");
        let deleted = w.post(&t.general, &t.user("cat"), "password hint: marmalade");
        w.set_time(now - DAY);
        let thread = w.post(&t.general, &t.user("cat"), "retro notes");
        w.reply(
            &t.general,
            &thread,
            &t.user("ann"),
            "first reply about kanban",
        );
        w.set_time(now);
        (old, edited, deleted, thread, lonely)
    };
    t.sync_identities().await;
    succeeded(&t.sync().await);
    assert_eq!(t.hits("dan@acme.test", "marmalade"), 1);
    assert_eq!(t.hits("dan@acme.test", "zeppelins"), 1);
    {
        let mut w = t.fake.world();
        w.edit(&t.general, &edited, "the offsite is in porto");
        w.delete_message(&t.general, &deleted);
        w.reply(
            &t.general,
            &thread,
            &t.user("cat"),
            "second reply about scrum",
        );
        w.delete_message(&t.general, &old);
        w.delete_message(&t.general, &lonely);
    }
    let second = t.sync().await;
    succeeded(&second);
    assert_eq!(t.hits("dan@acme.test", "porto"), 1, "{second:?}");
    assert_eq!(t.hits("dan@acme.test", "lisbon"), 0);
    assert_eq!(
        t.hits("dan@acme.test", "marmalade"),
        0,
        "deleted in the window"
    );
    assert_eq!(t.hits("dan@acme.test", "scrum"), 1, "a new reply");
    assert_eq!(t.hits("dan@acme.test", "quokkas"), 0, "a day left empty");
    assert_eq!(
        t.hits("dan@acme.test", "zeppelins"),
        1,
        "older than the window: left to the full reconcile"
    );
    let full = t.full().await;
    succeeded(&full);
    assert_eq!(t.hits("dan@acme.test", "zeppelins"), 0, "{full:?}");
    assert_eq!(t.hits("dan@acme.test", "porto"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_thread_older_than_the_window_but_active_in_it_is_caught() {
    let mut t = Workspace::new().await;
    t.reconfigure(|c| c.reconcile_window_days = 1);
    let now = now();
    let thread = {
        let mut w = t.fake.world();
        w.set_time(now - 10 * DAY);
        let thread = w.post(&t.general, &t.user("ann"), "incident review");
        w.set_time(now - 3600);
        w.reply(&t.general, &thread, &t.user("cat"), "root cause was dns");
        w.set_time(now);
        thread
    };
    t.sync_identities().await;
    succeeded(&t.sync().await);
    t.fake.world().reply(
        &t.general,
        &thread,
        &t.user("ann"),
        "follow-up: ttl lowered",
    );
    succeeded(&t.sync().await);
    assert_eq!(t.hits("dan@acme.test", "ttl"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_arrive_with_the_identity_sync_and_a_lost_channel_is_swept() {
    let t = Workspace::new().await;
    let now = now();
    {
        let mut w = t.fake.world();
        // Three days of #general, so that losing #secret is no mass delete.
        for days in 1..=3 {
            w.set_time(now - days * DAY);
            w.post(&t.general, &t.user("ann"), "standup notes");
        }
        w.set_time(now);
        w.post(&t.secret, &t.user("ann"), "budget for the offsite");
    }
    t.sync_identities().await;
    succeeded(&t.sync().await);
    assert_eq!(t.hits("cat@acme.test", "budget"), 1);
    assert_eq!(t.hits("dan@acme.test", "budget"), 0);
    {
        let mut w = t.fake.world();
        w.leave(&t.secret, &t.user("cat"));
        w.join(&t.secret, &t.user("dan"));
    }
    t.sync_identities().await;
    assert_eq!(t.hits("cat@acme.test", "budget"), 0);
    assert_eq!(t.hits("dan@acme.test", "budget"), 1);
    // The app is removed from #secret: it cannot see it any more, and nothing of it stays.
    let bot = t.fake.world().bot_user();
    t.fake.world().leave(&t.secret, &bot);
    let gone = t.sync().await;
    succeeded(&gone);
    assert_eq!(t.hits("ann@acme.test", "budget"), 0, "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_pauses_the_run_and_a_revoked_token_fails_it_without_deleting() {
    let t = Workspace::new().await;
    t.fake
        .world()
        .post(&t.general, &t.user("ann"), "release train leaves at noon");
    t.sync_identities().await;
    t.fake.inject(
        Route::ConversationsHistory,
        When::Nth(1),
        Fault::throttled(1),
    );
    t.fake.inject(
        Route::UsersList,
        When::Nth(1),
        Fault::slack_error("ratelimited"),
    );
    let throttled = t.sync().await;
    succeeded(&throttled);
    assert_eq!(t.hits("dan@acme.test", "train"), 1, "{throttled:?}");
    t.fake.clear_faults();
    t.fake.revoke_token();
    let refused = t.full().await;
    assert_ne!(refused.state, RunState::Succeeded, "{refused:?}");
    let errors = refused.errors.join(" ");
    assert!(errors.contains("invalid_auth"), "{errors}");
    assert!(
        !errors.contains(&t.fake.token()),
        "the token is never shown"
    );
    assert_eq!(t.hits("dan@acme.test", "train"), 1, "nothing deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_dms_and_joined_channels_when_asked_and_channel_globs() {
    let mut t = Workspace::new().await;
    t.reconfigure(|c| {
        c.include_mpims = true;
        c.join_public_channels = true;
        c.exclude_channels = vec!["secr*".into()];
    });
    t.fake
        .world()
        .post(&t.secret, &t.user("ann"), "excluded by a glob");
    t.sync_identities().await;
    succeeded(&t.sync().await);
    assert_eq!(
        t.hits("dan@acme.test", "lunch"),
        1,
        "dan is in the group DM"
    );
    assert_eq!(t.hits("cat@acme.test", "lunch"), 0);
    assert_eq!(t.hits("ann@acme.test", "chatter"), 1, "#random, joined");
    assert_eq!(t.hits("ann@acme.test", "glob"), 0);
    assert_eq!(t.fake.count(Route::ConversationsJoin), 1);
}
