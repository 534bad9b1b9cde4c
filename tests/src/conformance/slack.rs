//! The Slack connector under the conformance kit, against the fake Slack.
//!
//! The mapping: each kit document is one message, posted by the app's bot, in a private
//! channel made for that document (named after it); the document's readers are the
//! channel's members (users by email, made on demand), and the bot is a member of every
//! channel so that it may read it. The connector files a message outside a thread under
//! its channel's day (ADR 0022), so the day document of that channel carries the kit's
//! text. An edit edits the message, a deletion deletes it (the day document goes with
//! it), and a change of readers changes the channel's members.
//!
//! What Slack cannot do, each said to the kit with its reason:
//!
//! - Groups: the connector's ACLs name only `channel:<id>` and `workspace`, both filled by
//!   its identity sync from Slack's own membership; nothing in Slack names a kit group in
//!   a document's permissions (a user group invited to a channel leaves only its members
//!   behind), so [`Reader::Group`] is unsupported and the kit's groups have no home.
//! - Domains: a channel has members, not domains; the kit shares with the domain's users.
//! - Rename and move: a message has no name and no folder.
//! - An expired cursor: Slack has no change feed. An incremental run re-reads each
//!   channel's recent history from `oldest`; its cursor is the connector's own state,
//!   which the server never sees and cannot refuse.
//!
//! The storm throttles every API route (429 with `Retry-After`) and adds 503s, resets and
//! broken bodies on the list methods; the misbehaving server is a canned
//! `conversations.history` page (the same `next_cursor` forever, not JSON, `messages` an
//! object) or every method answering `token_revoked`.
//!
//! Three things set Slack apart from a folder of files, and the kit knows them
//! ([`Groups::SourceDefined`], [`SourceHandle::read_back`]): the kit's groups become their
//! members, one by one, in a channel; a change of readers is a change of a channel's
//! members, which reaches the index through the identity sync the kit runs before each
//! sync; and a day document wraps the kit's text in a heading, a byline and a permalink,
//! which `read_back` takes off exactly (anything else reads back as indexed, and the kit
//! reports it). A day document's text is inline: the kit counts it as a fetch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_sdk::testkit::{
    Capabilities, Groups, HandleError, HandleResult, Misbehavior, Reader, SourceFactory,
    SourceHandle, Support, assert_conformant,
};
use connector_sdk::{Connector, DocumentId, Secret};
use connector_slack::{SlackConfig, SlackConnector};
use fake_slack::{FakeSlack, Fault, Route, When};

use super::{kit, split};

/// Messages per history page: small, so that a day of several messages has pages.
const HISTORY_LIMIT: u32 = 3;

/// Why the kit's groups have no Slack equivalent.
const NO_GROUPS: &str = "Slack ACLs name channels (`channel:<id>`) and the workspace, filled \
    by the identity sync from channel membership; no document's permissions can name a \
    group of the kit's (inviting a user group to a channel adds its members once, and the \
    group is not kept)";

/// Every route of the fake: the storm's throttling reaches all of them.
const API: [Route; 12] = [
    Route::AuthTest,
    Route::ConversationsList,
    Route::ConversationsInfo,
    Route::ConversationsMembers,
    Route::ConversationsHistory,
    Route::ConversationsReplies,
    Route::ConversationsJoin,
    Route::UsersList,
    Route::UsergroupsList,
    Route::UsergroupsUsersList,
    Route::FilesInfo,
    Route::FileDownload,
];

/// The methods that answer with list pages.
const LISTS: [Route; 4] = [
    Route::ConversationsList,
    Route::ConversationsMembers,
    Route::ConversationsHistory,
    Route::UsersList,
];

/// Where a kit document lives in the workspace.
#[derive(Debug, Clone)]
struct Doc {
    channel: String,
    ts: String,
}

#[derive(Default)]
struct Ids {
    /// Document path → its channel and message.
    docs: BTreeMap<String, Doc>,
    /// Email → user id.
    users: BTreeMap<String, String>,
}

struct SlackHandle {
    fake: FakeSlack,
    connector: Arc<SlackConnector>,
    ids: Mutex<Ids>,
}

fn failed(e: impl std::fmt::Display) -> HandleError {
    HandleError::failed(e)
}

/// A channel name for a kit path: Slack's names are lowercase letters, digits, `-` and
/// `_`, at most 80 characters.
fn channel_name(path: &str) -> String {
    let name: String = split(path)
        .1
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '-',
        })
        .collect();
    name.chars().take(80).collect()
}

impl SlackHandle {
    fn ids(&self) -> HandleResult<std::sync::MutexGuard<'_, Ids>> {
        self.ids.lock().map_err(failed)
    }

    fn doc(&self, ids: &Ids, path: &str) -> HandleResult<Doc> {
        ids.docs
            .get(path)
            .cloned()
            .ok_or_else(|| failed(format!("no document {path}")))
    }

    /// The user id of `email`, the full member made if the workspace has none yet.
    fn user(&self, ids: &mut Ids, email: &str) -> String {
        if let Some(id) = ids.users.get(email) {
            return id.clone();
        }
        let name = email.split('@').next().unwrap_or(email);
        let id = self.fake.world().add_user(name, email, name);
        ids.users.insert(email.to_string(), id.clone());
        id
    }

    /// The members `readers` make a channel have (the bot besides).
    fn members(&self, ids: &mut Ids, readers: &[Reader]) -> HandleResult<BTreeSet<String>> {
        let mut members = BTreeSet::new();
        for reader in readers {
            match reader {
                Reader::User(email) => {
                    members.insert(self.user(ids, email));
                }
                Reader::Group(g) => {
                    return Err(failed(format!(
                        "the kit gives a source-defined group's members, not the group {g}"
                    )));
                }
                Reader::Domain(d) => {
                    return Err(failed(format!(
                        "a channel has no domain members ({d}; capabilities say so)"
                    )));
                }
            }
        }
        Ok(members)
    }
}

#[async_trait]
impl SourceHandle for SlackHandle {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            groups: Groups::SourceDefined(NO_GROUPS.into()),
            domain_readers: Support::no("a Slack channel has members, not domains"),
        }
    }

    /// A channel's day document, read back as the kit's: its title the kit's name for the
    /// document, its text the one message's text, when the document is exactly the
    /// connector's rendering of one message by the bot (`ADR 0022`: a `#<channel>, <date>`
    /// heading, then `<author>, <time>[ (edited)]:`, the text, the permalink). Anything
    /// else is returned as indexed, for the kit to report.
    fn read_back(
        &self,
        id: &DocumentId,
        title: Option<&str>,
        text: &str,
    ) -> (Option<String>, String) {
        let as_indexed = (title.map(str::to_string), text.to_string());
        let Ok(ids) = self.ids.lock() else {
            return as_indexed;
        };
        let Some((channel, date)) = id.as_str().split_once("/day/") else {
            return as_indexed;
        };
        let Some((path, doc)) = ids.docs.iter().find(|(_, d)| d.channel == channel) else {
            return as_indexed;
        };
        let heading = format!("#{}, {date}", channel_name(path));
        if title != Some(heading.as_str()) {
            return as_indexed;
        }
        let permalink = format!("/archives/{channel}/p{}", doc.ts.replace('.', ""));
        let Some(body) = text
            .strip_prefix(&format!("{heading}\n\n"))
            .and_then(|rest| rest.split_once(":\n"))
            .filter(|(byline, _)| {
                !byline.contains('\n')
                    && (byline.ends_with(" UTC") || byline.ends_with(" UTC (edited)"))
            })
            .and_then(|(_, rest)| rest.strip_suffix("\n\n"))
            .and_then(|rest| rest.rsplit_once('\n'))
            .filter(|(_, link)| link.ends_with(&permalink))
            .map(|(body, _)| body)
        else {
            return as_indexed;
        };
        (Some(split(path).1.to_string()), body.to_string())
    }

    /// Each document is its own channel, and a full listing marks its position after
    /// every channel.
    fn resume_scale(&self) -> usize {
        8
    }

    async fn add(&self, path: &str, text: &str, readers: &[Reader]) -> HandleResult {
        let mut ids = self.ids()?;
        let members = self.members(&mut ids, readers)?;
        let doc = {
            let mut w = self.fake.world();
            let channel = w.add_channel(&channel_name(path), true);
            let bot = w.bot_user();
            w.join(&channel, &bot);
            for member in &members {
                w.join(&channel, member);
            }
            let ts = w.post(&channel, &bot, text);
            Doc { channel, ts }
        };
        ids.docs.insert(path.to_string(), doc);
        Ok(())
    }

    async fn edit(&self, path: &str, text: &str) -> HandleResult {
        let doc = self.doc(&*self.ids()?, path)?;
        self.fake.world().edit(&doc.channel, &doc.ts, text);
        Ok(())
    }

    /// Deletes the message; its channel stays, empty. The handle remembers where the
    /// document was, so that an index that still holds it (rightly, until a good listing)
    /// reads back as the kit's document.
    async fn delete(&self, path: &str) -> HandleResult {
        let ids = self.ids()?;
        let doc = self.doc(&ids, path)?;
        self.fake.world().delete_message(&doc.channel, &doc.ts);
        Ok(())
    }

    async fn rename(&self, _path: &str, _new_name: &str) -> HandleResult {
        Err(HandleError::unsupported(
            "a Slack message has no name (its day document is titled by its channel and date)",
        ))
    }

    async fn move_to(&self, _path: &str, _folder: &str) -> HandleResult {
        Err(HandleError::unsupported(
            "a Slack message has no folder, and Slack cannot move a message to another channel",
        ))
    }

    /// The channel's members become the readers (the bot stays).
    async fn set_readers(&self, path: &str, readers: &[Reader]) -> HandleResult {
        let mut ids = self.ids()?;
        let doc = self.doc(&ids, path)?;
        let members = self.members(&mut ids, readers)?;
        let mut w = self.fake.world();
        let bot = w.bot_user();
        for user in ids.users.values() {
            if !members.contains(user) {
                w.leave(&doc.channel, user);
            }
        }
        for member in &members {
            w.join(&doc.channel, member);
        }
        w.join(&doc.channel, &bot);
        Ok(())
    }

    async fn expire_cursor(&self) -> HandleResult {
        Err(HandleError::unsupported(
            "Slack has no change feed: an incremental run re-reads each channel's recent \
             history from `oldest`, and its cursor is the connector's own state, which the \
             server never sees and cannot refuse",
        ))
    }

    async fn fault_storm(&self, on: bool) -> HandleResult<String> {
        let f = &self.fake;
        if !on {
            let faulted = f.faulted();
            f.clear_faults();
            return Ok(format!("{faulted} requests faulted"));
        }
        f.clear_faults();
        f.reset_counts();
        for route in API {
            f.inject(route, When::Every(5), Fault::throttled(1));
        }
        for route in LISTS {
            f.inject(route, When::Every(7), Fault::server_error(503));
            f.inject(route, When::Every(11), Fault::Reset);
        }
        f.inject(
            Route::ConversationsHistory,
            When::Every(9),
            Fault::BreakBody,
        );
        Ok(
            "on every route a 429 with Retry-After every 5th call; on list methods a 503 \
             every 7th and a reset connection every 11th; history bodies broken off every 9th"
                .into(),
        )
    }

    async fn misbehave(&self, kind: Option<Misbehavior>) -> HandleResult {
        let f = &self.fake;
        f.clear_faults();
        let page = |messages: serde_json::Value, has_more: bool, next: &str| {
            serde_json::json!({
                "ok": true,
                "messages": messages,
                "has_more": has_more,
                "response_metadata": {"next_cursor": next},
            })
        };
        match kind {
            None => {}
            Some(Misbehavior::RepeatedPageToken) => {
                // Every history page says "more at this cursor", the same cursor forever.
                let again = page(serde_json::json!([]), true, "bmV4dF90czoxMjM0");
                f.inject(
                    Route::ConversationsHistory,
                    When::Always,
                    Fault::status(200, &again),
                );
            }
            Some(Misbehavior::MalformedBody) => {
                f.inject(
                    Route::ConversationsHistory,
                    When::Always,
                    Fault::MalformedJson,
                );
            }
            Some(Misbehavior::WrongFieldTypes) => {
                // `messages` an object keyed by index, `ts` a number, `text` a list.
                let wrong = page(
                    serde_json::json!({"0": {"type": "message", "ts": 7, "text": ["x"]}}),
                    false,
                    "",
                );
                f.inject(
                    Route::ConversationsHistory,
                    When::Always,
                    Fault::status(200, &wrong),
                );
            }
            Some(Misbehavior::CredentialsRevoked) => {
                // What Slack answers once the app is uninstalled or its token revoked;
                // a bot token has nothing to refresh.
                for route in API {
                    f.inject(route, When::Always, Fault::slack_error("token_revoked"));
                }
            }
        }
        Ok(())
    }
}

struct SlackFactory;

#[async_trait]
impl SourceFactory for SlackFactory {
    async fn create(&self, _scenario: &str) -> HandleResult<Box<dyn SourceHandle>> {
        let fake = FakeSlack::start().await.map_err(failed)?;
        let mut config = SlackConfig::new();
        config.token = Some(Secret::new(fake.token()));
        config.api_url = fake.api_url();
        config.history_limit = HISTORY_LIMIT;
        // One channel per document: the fake answers at once, so the tiers' politeness
        // need not slow a scenario down to Slack's per-minute limits.
        config.tier2_per_minute = 6_000;
        config.tier3_per_minute = 6_000;
        config.tier4_per_minute = 6_000;
        config.request_timeout_secs = 5;
        let connector = SlackConnector::new(config).map_err(failed)?;
        Ok(Box::new(SlackHandle {
            fake,
            connector: Arc::new(connector),
            ids: Mutex::new(Ids::default()),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slack_connector_is_conformant() {
    let report = kit().run("slack (fake Slack)", &SlackFactory).await;
    println!("{report}");
    assert_conformant(&report);
}
