//! The ServiceNow connector under the conformance kit, against the fake instance.
//!
//! The mapping: each folder of the kit is a knowledge base, each document a published
//! article whose short description is the document's name and whose text is its text (as
//! HTML without markup). Each article has user criteria of its own in its Can Read list, naming the
//! document's readers (users and groups, `match_all` off); an article without readers
//! has criteria that match nobody. A rename edits the short description, a move changes
//! the article's knowledge base, a change of readers edits the criteria (which moves no
//! article's `sys_updated_on`), a deletion deletes the record (the instance audits it in
//! `sys_audit_delete`). Every change advances the instance's clock a second.
//!
//! What ServiceNow cannot do, each said to the kit with its reason:
//!
//! - Nested groups: user criteria match a group's members, not its child groups' (a
//!   child group inherits its parent's roles, not its memberships). The handle keeps the
//!   kit's nesting and puts each group's members, through its subgroups, into the group
//!   itself; the connector sees flat groups.
//! - Domains: user criteria name users, groups, roles, departments, locations and
//!   companies, not email domains; the kit shares with the domain's users.
//! - An expired cursor: the connector's cursor is its own keyset position on
//!   (`sys_updated_on`, `sys_id`); the instance never sees it and cannot refuse it.
//!
//! The connector signs in with OAuth (password grant) so that the storm can expire its
//! access token mid-run; the storm also throttles every route (429 with `Retry-After`)
//! and adds 500s, resets and broken or cut-short bodies on the Table API. The misbehaving
//! server is a canned `kb_knowledge` page (a `Link` to the same page forever, not JSON,
//! `result` an object) or every route answering 401.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_sdk::testkit::{
    Capabilities, Groups, HandleError, HandleResult, Misbehavior, Reader, SourceFactory,
    SourceHandle, Support, USERS, assert_conformant,
};
use connector_sdk::{Connector, Secret};
use connector_servicenow::{AuthMode, ServiceNowConfig, ServiceNowConnector};
use fake_servicenow::{FakeServiceNow, Fault, Route, When};
use serde_json::json;

use super::{FlatGroups, kit, moved, rekey, renamed, split};

/// Records per Table API page: small, so that a full listing marks its position often.
const PAGE: u32 = 4;

/// Every route the connector calls: the storm's throttling reaches all of them.
const API: [Route; 6] = [
    Route::OAuthToken,
    Route::TableList,
    Route::TableRecord,
    Route::AttachmentList,
    Route::AttachmentMeta,
    Route::AttachmentFile,
];

/// Where a kit document lives on the instance.
#[derive(Debug, Clone)]
struct Doc {
    article: String,
    criteria: String,
}

#[derive(Default)]
struct Ids {
    /// Folder → knowledge base `sys_id`.
    kbs: BTreeMap<String, String>,
    /// Document path → its article and criteria.
    docs: BTreeMap<String, Doc>,
    /// Email → user `sys_id`.
    users: BTreeMap<String, String>,
    /// Kit group → `sys_user_group` `sys_id`.
    groups: BTreeMap<String, String>,
    /// (group, user) → the `sys_user_grmember` record that puts the user in it.
    members: BTreeMap<(String, String), String>,
    /// The kit's directory, flattened into the source's groups.
    directory: FlatGroups,
}

struct ServiceNowHandle {
    fake: FakeServiceNow,
    connector: Arc<ServiceNowConnector>,
    ids: Mutex<Ids>,
}

fn failed(e: impl std::fmt::Display) -> HandleError {
    HandleError::failed(e)
}

/// The text as an article body: HTML without markup, since the kit's reference sync
/// indexes inline content as it is given (the engine's HTML extractor reads it the same).
fn html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;")
}

impl ServiceNowHandle {
    fn ids(&self) -> HandleResult<std::sync::MutexGuard<'_, Ids>> {
        self.ids.lock().map_err(failed)
    }

    fn doc(ids: &Ids, path: &str) -> HandleResult<Doc> {
        ids.docs
            .get(path)
            .cloned()
            .ok_or_else(|| failed(format!("no document {path}")))
    }

    /// The knowledge base of `folder`, made the first time.
    fn kb(&self, ids: &mut Ids, folder: &str) -> String {
        if let Some(kb) = ids.kbs.get(folder) {
            return kb.clone();
        }
        let title = if folder.is_empty() { "top" } else { folder };
        let kb = self.fake.world().add_kb(title);
        ids.kbs.insert(folder.to_string(), kb.clone());
        kb
    }

    /// The group of kit group `name`, made the first time.
    fn group(&self, ids: &mut Ids, name: &str) -> String {
        if let Some(id) = ids.groups.get(name) {
            return id.clone();
        }
        let id = self.fake.world().add_group(name);
        ids.groups.insert(name.to_string(), id.clone());
        id
    }

    /// The criteria fields naming `readers`: users and groups, comma-separated.
    fn criteria_fields(&self, ids: &mut Ids, readers: &[Reader]) -> HandleResult<(String, String)> {
        let (mut users, mut groups) = (Vec::new(), Vec::new());
        for reader in readers {
            match reader {
                Reader::User(email) => users.push(
                    ids.users
                        .get(email)
                        .cloned()
                        .ok_or_else(|| failed(format!("no user {email}")))?,
                ),
                Reader::Group(g) => groups.push(self.group(ids, g)),
                Reader::Domain(d) => {
                    return Err(failed(format!(
                        "user criteria name no domain ({d}; capabilities say so)"
                    )));
                }
            }
        }
        Ok((users.join(","), groups.join(",")))
    }

    /// Makes every group hold exactly its kit group's members, subgroups flattened.
    fn sync_groups(&self, ids: &mut Ids) {
        for (name, emails) in ids.directory.flattened() {
            let want: BTreeSet<String> = emails
                .iter()
                .filter_map(|email| ids.users.get(email).cloned())
                .collect();
            let group = self.group(ids, &name);
            let users: Vec<String> = ids.users.values().cloned().collect();
            let mut w = self.fake.world();
            for user in users {
                let key = (group.clone(), user.clone());
                match (want.contains(&user), ids.members.get(&key).cloned()) {
                    (true, None) => {
                        let record = w.add_member(&group, &user);
                        ids.members.insert(key, record);
                    }
                    (false, Some(record)) => {
                        w.delete("sys_user_grmember", &record);
                        ids.members.remove(&key);
                    }
                    _ => {}
                }
            }
            w.advance(1);
        }
    }
}

#[async_trait]
impl SourceHandle for ServiceNowHandle {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            groups: Groups::Directory,
            domain_readers: Support::no(
                "ServiceNow user criteria name users, groups, roles, departments, locations \
                 and companies, not email domains",
            ),
        }
    }

    fn group_id(&self, group: &str) -> String {
        match self.ids.lock() {
            Ok(mut ids) => self.group(&mut ids, group),
            Err(_) => group.to_string(),
        }
    }

    /// Enough articles for several pages of [`PAGE`].
    fn resume_scale(&self) -> usize {
        4 * PAGE as usize
    }

    async fn add(&self, path: &str, text: &str, readers: &[Reader]) -> HandleResult {
        let mut ids = self.ids()?;
        let (folder, name) = split(path);
        let kb = self.kb(&mut ids, folder);
        let (users, groups) = self.criteria_fields(&mut ids, readers)?;
        let mut w = self.fake.world();
        w.advance(1);
        let criteria = w.add_criteria(path, &[("user", &users), ("group", &groups)]);
        let article = w.add_article(&kb, name, &html(text));
        w.update(
            "kb_knowledge",
            &article,
            &[("can_read_user_criteria", &criteria)],
        );
        drop(w);
        ids.docs.insert(path.to_string(), Doc { article, criteria });
        Ok(())
    }

    async fn edit(&self, path: &str, text: &str) -> HandleResult {
        let doc = Self::doc(&*self.ids()?, path)?;
        let mut w = self.fake.world();
        w.advance(1);
        w.update("kb_knowledge", &doc.article, &[("text", &html(text))]);
        Ok(())
    }

    async fn delete(&self, path: &str) -> HandleResult {
        let mut ids = self.ids()?;
        let doc = Self::doc(&ids, path)?;
        let mut w = self.fake.world();
        w.advance(1);
        w.delete("kb_knowledge", &doc.article);
        drop(w);
        ids.docs.remove(path);
        Ok(())
    }

    async fn rename(&self, path: &str, new_name: &str) -> HandleResult {
        let mut ids = self.ids()?;
        let doc = Self::doc(&ids, path)?;
        let mut w = self.fake.world();
        w.advance(1);
        w.update(
            "kb_knowledge",
            &doc.article,
            &[("short_description", new_name)],
        );
        drop(w);
        rekey(&mut ids.docs, path, &renamed(path, new_name));
        Ok(())
    }

    async fn move_to(&self, path: &str, folder: &str) -> HandleResult {
        let mut ids = self.ids()?;
        let doc = Self::doc(&ids, path)?;
        let kb = self.kb(&mut ids, folder);
        let mut w = self.fake.world();
        w.advance(1);
        w.update("kb_knowledge", &doc.article, &[("kb_knowledge_base", &kb)]);
        drop(w);
        rekey(&mut ids.docs, path, &moved(path, folder));
        Ok(())
    }

    async fn set_readers(&self, path: &str, readers: &[Reader]) -> HandleResult {
        let mut ids = self.ids()?;
        let doc = Self::doc(&ids, path)?;
        let (users, groups) = self.criteria_fields(&mut ids, readers)?;
        let mut w = self.fake.world();
        w.advance(1);
        w.update(
            "user_criteria",
            &doc.criteria,
            &[("user", &users), ("group", &groups)],
        );
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

    /// Criteria match a group's own members only: the child's members are put into the
    /// parent, and kept there as the child changes.
    async fn nest_group(&self, child: &str, parent: &str) -> HandleResult {
        let mut ids = self.ids()?;
        ids.directory.nest(child, parent);
        self.sync_groups(&mut ids);
        Ok(())
    }

    async fn expire_cursor(&self) -> HandleResult {
        Err(HandleError::unsupported(
            "the connector's cursor is its own keyset position on (sys_updated_on, sys_id): \
             the instance never sees it and cannot refuse it",
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
        f.expire_tokens();
        for route in API {
            f.inject(route, When::Every(5), Fault::throttled(1));
        }
        f.inject(Route::TableList, When::Every(7), Fault::server_error(500));
        f.inject(Route::TableList, When::Every(9), Fault::BreakBody);
        f.inject(Route::TableList, When::Every(11), Fault::Reset);
        f.inject(Route::TableList, When::Every(13), Fault::TruncateJson);
        f.inject(Route::TableList, When::Every(17), Fault::unauthorized());
        Ok(
            "the access token expired at once; on every route a 429 with Retry-After every \
             5th call; on the Table API a 500 every 7th, a broken body every 9th, a reset \
             every 11th, a cut-short body every 13th and a 401 every 17th"
                .into(),
        )
    }

    async fn misbehave(&self, kind: Option<Misbehavior>) -> HandleResult {
        let f = &self.fake;
        f.clear_faults();
        let kb_page = |body: &serde_json::Value| Fault::Respond {
            status: 200,
            headers: vec![(
                "Link".into(),
                format!(
                    "<{}/api/now/table/kb_knowledge?sysparm_offset=4>;rel=\"next\"",
                    f.url()
                ),
            )],
            body: body.to_string().into_bytes(),
        };
        match kind {
            None => {}
            Some(Misbehavior::RepeatedPageToken) => {
                // An empty page that always says "next", at the same offset.
                let empty = json!({"result": []});
                f.inject_table(
                    Route::TableList,
                    "kb_knowledge",
                    When::Always,
                    kb_page(&empty),
                );
            }
            Some(Misbehavior::MalformedBody) => {
                f.inject_table(
                    Route::TableList,
                    "kb_knowledge",
                    When::Always,
                    Fault::MalformedJson,
                );
            }
            Some(Misbehavior::WrongFieldTypes) => {
                let wrong = json!({"result": {"0": {"sys_id": 7, "text": ["x"]}}});
                f.inject_table(
                    Route::TableList,
                    "kb_knowledge",
                    When::Always,
                    Fault::Respond {
                        status: 200,
                        headers: Vec::new(),
                        body: wrong.to_string().into_bytes(),
                    },
                );
            }
            Some(Misbehavior::CredentialsRevoked) => {
                for route in API {
                    f.inject(route, When::Always, Fault::unauthorized());
                }
            }
        }
        Ok(())
    }
}

struct ServiceNowFactory;

#[async_trait]
impl SourceFactory for ServiceNowFactory {
    async fn create(&self, _scenario: &str) -> HandleResult<Box<dyn SourceHandle>> {
        let fake = FakeServiceNow::start().await.map_err(failed)?;
        let mut users = BTreeMap::new();
        {
            let mut w = fake.world();
            for email in USERS {
                let name = email.split('@').next().unwrap_or(email);
                users.insert(email.to_string(), w.add_user(name, email));
            }
        }
        let mut config = ServiceNowConfig::new(fake.url());
        config.auth = AuthMode::OauthPassword;
        config.username = Some(fake.username());
        config.password = Some(Secret::new(fake.password()));
        config.client_id = Some(fake.client_id());
        config.client_secret = Some(Secret::new(fake.client_secret()));
        config.page_size = PAGE;
        config.requests_per_second = 1_000.0;
        config.request_timeout_secs = 5;
        let connector = ServiceNowConnector::new(config).map_err(failed)?;
        Ok(Box::new(ServiceNowHandle {
            fake,
            connector: Arc::new(connector),
            ids: Mutex::new(Ids {
                users,
                ..Ids::default()
            }),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servicenow_connector_is_conformant() {
    let report = kit()
        .run("servicenow (fake instance)", &ServiceNowFactory)
        .await;
    println!("{report}");
    assert_conformant(&report);
}
