//! The Jira connector under the conformance kit, against the fake Jira.
//!
//! The mapping: each folder of the kit is a project (keys `KA`, `KB`, …), each document an
//! issue whose summary is the document's name and whose description is its text. Every
//! project lets any logged-in user browse it and shares one issue security scheme; each
//! issue has a security level of its own whose members are the document's readers (users,
//! and groups of the site's directory) and the connector's account, which must browse
//! everything it syncs. The connector's ACL is browse ∩ level, which is the level's
//! members (ADR 0023). A rename edits the summary, a move moves the issue to the
//! folder's project (and sets its level again: Jira drops a level the target project's
//! scheme does not hold), a change of readers changes the level's members.
//!
//! What Jira cannot do, each said to the kit with its reason:
//!
//! - Nested groups: Jira groups hold users only. The handle keeps the kit's nesting and
//!   puts each group's members, through its subgroups, into the group itself, as a Jira
//!   administrator flattens a directory; the connector sees flat groups.
//! - Domains: a security level names users, groups and roles, not domains; the kit shares
//!   with the domain's users.
//! - An expired cursor: Jira keeps no cursor. An incremental run searches by `updated`
//!   from the connector's own watermark, which the server never sees and cannot refuse.
//!
//! The storm throttles every route (429 with `Retry-After` and `X-RateLimit-*`), and adds
//! 500s, resets and broken or cut-short bodies on the searches; basic auth has no token
//! to expire. The misbehaving server is a canned `search/jql` page (the same
//! `nextPageToken` forever, not JSON, `issues` an object) or every route answering 401.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_jira::{JiraConfig, JiraConnector};
use connector_sdk::testkit::{
    Capabilities, Groups, HandleError, HandleResult, Misbehavior, Reader, SourceFactory,
    SourceHandle, Support, USERS, assert_conformant,
};
use connector_sdk::{Connector, DocumentId, Secret};
use fake_jira::{FakeJira, Fault, Holder, Route, When};
use serde_json::json;

use super::{FlatGroups, kit, moved, rekey, renamed, split};

/// Issues per search page: small, so that a full listing marks its position often.
const PAGE: usize = 5;
/// The connector's account.
const BOT: &str = "sync-bot@kit.example";

/// Where a kit document lives on the site.
#[derive(Debug, Clone)]
struct Doc {
    issue: u64,
    level: u64,
}

#[derive(Default)]
struct Ids {
    /// Folder → project key.
    projects: BTreeMap<String, String>,
    /// Document path → its issue and level.
    docs: BTreeMap<String, Doc>,
    /// Email → account id.
    users: BTreeMap<String, String>,
    /// Kit group → Jira group id.
    groups: BTreeMap<String, String>,
    /// The kit's directory, flattened into the source's groups.
    directory: FlatGroups,
}

struct JiraHandle {
    fake: FakeJira,
    connector: Arc<JiraConnector>,
    bot: String,
    browse: u64,
    security: u64,
    ids: Mutex<Ids>,
}

fn failed(e: impl std::fmt::Display) -> HandleError {
    HandleError::failed(e)
}

/// The `n`th project key: `KA`…`KZ`, `KBA`…
fn project_key(mut n: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(char::from(b'A' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            break;
        }
    }
    letters.reverse();
    format!("K{}", letters.into_iter().collect::<String>())
}

/// A description of one paragraph.
fn adf(text: &str) -> serde_json::Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

impl JiraHandle {
    fn ids(&self) -> HandleResult<std::sync::MutexGuard<'_, Ids>> {
        self.ids.lock().map_err(failed)
    }

    fn doc(ids: &Ids, path: &str) -> HandleResult<Doc> {
        ids.docs
            .get(path)
            .cloned()
            .ok_or_else(|| failed(format!("no document {path}")))
    }

    /// The project of `folder`, made the first time.
    fn project(&self, ids: &mut Ids, folder: &str) -> String {
        if let Some(key) = ids.projects.get(folder) {
            return key.clone();
        }
        let key = project_key(ids.projects.len());
        let mut w = self.fake.world();
        let name = if folder.is_empty() { "top" } else { folder };
        w.add_project(&key, name, &self.bot, self.browse);
        w.set_project_security(&key, Some(self.security));
        ids.projects.insert(folder.to_string(), key.clone());
        key
    }

    /// The Jira group of kit group `name`, made the first time.
    fn group(&self, ids: &mut Ids, name: &str) -> String {
        if let Some(id) = ids.groups.get(name) {
            return id.clone();
        }
        let id = self.fake.world().add_group(name);
        ids.groups.insert(name.to_string(), id.clone());
        id
    }

    /// A level's members for `readers`, the connector's account besides.
    fn holders(&self, ids: &mut Ids, readers: &[Reader]) -> HandleResult<Vec<Holder>> {
        let mut holders = vec![Holder::User(self.bot.clone())];
        for reader in readers {
            holders.push(match reader {
                Reader::User(email) => Holder::User(
                    ids.users
                        .get(email)
                        .cloned()
                        .ok_or_else(|| failed(format!("no account for {email}")))?,
                ),
                Reader::Group(g) => Holder::Group(self.group(ids, g)),
                Reader::Domain(d) => {
                    return Err(failed(format!(
                        "a security level has no domain members ({d}; capabilities say so)"
                    )));
                }
            });
        }
        Ok(holders)
    }

    /// Makes every Jira group hold exactly its kit group's members, subgroups flattened.
    fn sync_groups(&self, ids: &mut Ids) {
        for (name, emails) in ids.directory.flattened() {
            let want: BTreeSet<String> = emails
                .iter()
                .filter_map(|email| ids.users.get(email).cloned())
                .collect();
            let group = self.group(ids, &name);
            let mut w = self.fake.world();
            for account in ids.users.values() {
                if want.contains(account) {
                    w.add_member(&group, account);
                } else {
                    w.remove_member(&group, account);
                }
            }
        }
    }
}

#[async_trait]
impl SourceHandle for JiraHandle {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            groups: Groups::Directory,
            domain_readers: Support::no(
                "a Jira security level names users, groups and roles, not domains",
            ),
        }
    }

    fn group_id(&self, group: &str) -> String {
        match self.ids.lock() {
            Ok(mut ids) => self.group(&mut ids, group),
            Err(_) => group.to_string(),
        }
    }

    /// Enough issues for several pages of [`PAGE`], so a full listing marks its position
    /// before its end.
    fn resume_scale(&self) -> usize {
        4 * PAGE
    }

    /// An issue's document, read back as the kit's: the title `<KEY>: <summary>` gives
    /// the summary, and the text is the description after the header lines the
    /// connector writes (key and summary, project, people, dates). Anything else is
    /// returned as indexed.
    fn read_back(
        &self,
        _id: &DocumentId,
        title: Option<&str>,
        text: &str,
    ) -> (Option<String>, String) {
        let as_indexed = (title.map(str::to_string), text.to_string());
        let Some(summary) = title
            .and_then(|t| t.split_once(": "))
            .filter(|(key, _)| key.starts_with('K') && key.contains('-'))
            .map(|(_, s)| s)
        else {
            return as_indexed;
        };
        let Some(body) = text
            .split_once("\n\n")
            .filter(|(header, _)| {
                header.starts_with(title.unwrap_or_default())
                    && header.contains("\nProject: ")
                    && header.contains("\nReporter: ")
            })
            .and_then(|(_, rest)| rest.strip_suffix('\n'))
            .filter(|body| !body.contains('\n'))
        else {
            return as_indexed;
        };
        (Some(summary.to_string()), body.to_string())
    }

    async fn add(&self, path: &str, text: &str, readers: &[Reader]) -> HandleResult {
        let mut ids = self.ids()?;
        let (folder, name) = split(path);
        let key = self.project(&mut ids, folder);
        let holders = self.holders(&mut ids, readers)?;
        let mut w = self.fake.world();
        let level = w.add_level(self.security, path, holders);
        let (issue, _) = w.create_issue(&key, name, Some(adf(text)), &self.bot);
        w.edit(issue, |e| e.security(Some(level)));
        drop(w);
        ids.docs.insert(path.to_string(), Doc { issue, level });
        Ok(())
    }

    async fn edit(&self, path: &str, text: &str) -> HandleResult {
        let doc = Self::doc(&*self.ids()?, path)?;
        self.fake
            .world()
            .edit(doc.issue, |e| e.description(Some(adf(text))));
        Ok(())
    }

    async fn delete(&self, path: &str) -> HandleResult {
        let mut ids = self.ids()?;
        let doc = Self::doc(&ids, path)?;
        self.fake.world().delete_issue(doc.issue);
        ids.docs.remove(path);
        Ok(())
    }

    async fn rename(&self, path: &str, new_name: &str) -> HandleResult {
        let mut ids = self.ids()?;
        let doc = Self::doc(&ids, path)?;
        self.fake.world().edit(doc.issue, |e| e.summary(new_name));
        rekey(&mut ids.docs, path, &renamed(path, new_name));
        Ok(())
    }

    async fn move_to(&self, path: &str, folder: &str) -> HandleResult {
        let mut ids = self.ids()?;
        let doc = Self::doc(&ids, path)?;
        let key = self.project(&mut ids, folder);
        let mut w = self.fake.world();
        w.move_issue(doc.issue, &key);
        w.edit(doc.issue, |e| e.security(Some(doc.level)));
        drop(w);
        rekey(&mut ids.docs, path, &moved(path, folder));
        Ok(())
    }

    async fn set_readers(&self, path: &str, readers: &[Reader]) -> HandleResult {
        let mut ids = self.ids()?;
        let doc = Self::doc(&ids, path)?;
        let holders = self.holders(&mut ids, readers)?;
        self.fake.world().set_level_members(doc.level, holders);
        Ok(())
    }

    async fn add_to_group(&self, user: &str, group: &str) -> HandleResult {
        let mut ids = self.ids()?;
        ids.directory.add(user, group);
        self.sync_groups(&mut ids);
        Ok(())
    }

    async fn remove_from_group(&self, user: &str, group: &str) -> HandleResult {
        let mut ids = self.ids()?;
        ids.directory.remove(user, group);
        self.sync_groups(&mut ids);
        Ok(())
    }

    /// Jira groups do not nest: the child's members are put into the parent, and kept
    /// there as the child changes.
    async fn nest_group(&self, child: &str, parent: &str) -> HandleResult {
        let mut ids = self.ids()?;
        ids.directory.nest(child, parent);
        self.sync_groups(&mut ids);
        Ok(())
    }

    async fn expire_cursor(&self) -> HandleResult {
        Err(HandleError::unsupported(
            "Jira keeps no cursor: an incremental run searches by `updated` from the \
             connector's own watermark, which the server never sees and cannot refuse",
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
        for route in Route::ALL {
            f.inject(route, When::Every(5), Fault::throttled(1));
        }
        f.inject(Route::SearchJql, When::Every(7), Fault::server_error(500));
        f.inject(Route::SearchJql, When::Every(9), Fault::BreakBody);
        f.inject(Route::SearchJql, When::Every(11), Fault::Reset);
        f.inject(Route::SearchJql, When::Every(13), Fault::TruncateJson);
        f.inject(Route::ProjectSearch, When::Every(3), Fault::unavailable(1));
        Ok(
            "on every route a 429 with Retry-After every 5th call; on search/jql a 500 every \
             7th, a broken body every 9th, a reset every 11th and a cut-short body every \
             13th; on project/search a 503 with Retry-After every 3rd (basic auth: no token \
             to expire)"
                .into(),
        )
    }

    async fn misbehave(&self, kind: Option<Misbehavior>) -> HandleResult {
        let f = &self.fake;
        f.clear_faults();
        match kind {
            None => {}
            Some(Misbehavior::RepeatedPageToken) => {
                let again = json!({"issues": [], "isLast": false, "nextPageToken": "c2FtZQ"});
                f.inject(Route::SearchJql, When::Always, Fault::status(200, &again));
            }
            Some(Misbehavior::MalformedBody) => {
                f.inject(Route::SearchJql, When::Always, Fault::MalformedJson);
            }
            Some(Misbehavior::WrongFieldTypes) => {
                let wrong = json!({
                    "issues": {"0": {"id": ["x"], "fields": {"summary": 7}}},
                    "isLast": "yes",
                });
                f.inject(Route::SearchJql, When::Always, Fault::status(200, &wrong));
            }
            Some(Misbehavior::CredentialsRevoked) => {
                let refused = json!({
                    "errorMessages": ["Client must be authenticated to access this resource."],
                    "errors": {},
                });
                for route in Route::ALL {
                    f.inject(route, When::Always, Fault::status(401, &refused));
                }
            }
        }
        Ok(())
    }
}

struct JiraFactory;

#[async_trait]
impl SourceFactory for JiraFactory {
    async fn create(&self, _scenario: &str) -> HandleResult<Box<dyn SourceHandle>> {
        let fake = FakeJira::start().await.map_err(failed)?;
        let (bot, browse, security, users) = {
            let mut w = fake.world();
            w.set_page_cap(PAGE);
            let bot = w.add_user("sync-bot", BOT, "UTC");
            // Reading permission schemes and security levels takes Jira administration.
            w.make_admin(&bot);
            let mut users = BTreeMap::new();
            for email in USERS {
                let name = email.split('@').next().unwrap_or(email);
                users.insert(email.to_string(), w.add_user(name, email, "UTC"));
            }
            let browse = w.add_scheme("Everyone on the site");
            w.grant_browse(browse, Holder::ApplicationRole);
            let security = w.add_security_scheme("Per document");
            (bot, browse, security, users)
        };
        let (email, token) = fake.world().credentials(&bot);
        let mut config = JiraConfig::new(fake.url());
        config.email = Some(email);
        config.api_token = Some(Secret::new(token));
        config.requests_per_second = 1_000.0;
        config.request_timeout_secs = 5;
        let connector = JiraConnector::new(config).map_err(failed)?;
        Ok(Box::new(JiraHandle {
            fake,
            connector: Arc::new(connector),
            bot,
            browse,
            security,
            ids: Mutex::new(Ids {
                users,
                ..Ids::default()
            }),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jira_connector_is_conformant() {
    let report = kit().run("jira (fake Jira)", &JiraFactory).await;
    println!("{report}");
    assert_conformant(&report);
}
