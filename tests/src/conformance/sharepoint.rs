//! The SharePoint connector under the conformance kit, against the fake Graph: the kit's
//! documents are plain-text files of one site's "Documents" library whose own permissions
//! name their readers (Entra users and groups; the site's groups have no members, so what
//! a file inherits lets nobody in), its groups are Entra groups of the directory, the
//! cursor is each library's delta link, and the storm and the misbehaving server are the
//! fake's scripted faults.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_sdk::testkit::{
    Capabilities, Groups, HandleError, HandleResult, Misbehavior, Reader, SourceFactory,
    SourceHandle, Support, assert_conformant,
};
use connector_sdk::{Connector, Secret};
use connector_sharepoint::{SharePointConfig, SharePointConnector};
use fake_graph::{FakeGraph, Fault, Grant, Member, Role, Route, When};

use super::{kit, moved, rekey, renamed, split};

/// Items per delta page: small, so that a listing has pages (and checkpoints).
const PAGE_SIZE: u32 = 5;

/// Every API route but the token endpoint: the storm's throttling reaches all of them.
const API: [Route; 12] = [
    Route::SitesList,
    Route::DrivesList,
    Route::Delta,
    Route::ItemGet,
    Route::Children,
    Route::Content,
    Route::Permissions,
    Route::Batch,
    Route::Users,
    Route::Groups,
    Route::Members,
    Route::SiteGroups,
];

/// The routes that answer with list pages.
const LISTS: [Route; 7] = [
    Route::SitesList,
    Route::DrivesList,
    Route::Delta,
    Route::Children,
    Route::Users,
    Route::Groups,
    Route::Members,
];

impl Ids {
    /// Moves a document's bookkeeping from `from` to `to`.
    fn relocate(&mut self, from: &str, to: &str) {
        rekey(&mut self.files, from, to);
        rekey(&mut self.grants, from, to);
    }
}

#[derive(Default)]
struct Ids {
    /// Folder path (`team/leads`) → item id; `""` is the library's root.
    folders: BTreeMap<String, String>,
    /// Document path → item id.
    files: BTreeMap<String, String>,
    /// Document path → the ids of the permissions granted to its readers.
    grants: BTreeMap<String, Vec<String>>,
    /// The kit's groups → Entra object ids.
    groups: BTreeMap<String, String>,
}

struct SharePointHandle {
    fake: FakeGraph,
    connector: Arc<SharePointConnector>,
    ids: Mutex<Ids>,
}

fn failed(e: impl std::fmt::Display) -> HandleError {
    HandleError::failed(e)
}

impl SharePointHandle {
    fn ids(&self) -> HandleResult<std::sync::MutexGuard<'_, Ids>> {
        self.ids.lock().map_err(failed)
    }

    /// The id of the folder at `path`, made (with its parents) if needed.
    fn folder(&self, ids: &mut Ids, path: &str) -> String {
        if let Some(id) = ids.folders.get(path) {
            return id.clone();
        }
        let (parent, name) = split(path);
        let parent = self.folder(ids, parent);
        let id = self.fake.world().add_folder(&parent, name);
        ids.folders.insert(path.to_string(), id.clone());
        id
    }

    /// The Entra object id of `email`, the user made if the tenant has none yet.
    fn user(&self, email: &str) -> String {
        let mut w = self.fake.world();
        match w.user_by_upn(email) {
            Some(user) => user.id.clone(),
            None => w.add_user(email, email),
        }
    }

    /// The Entra group of the kit's `group`, made once.
    fn group(&self, ids: &mut Ids, group: &str) -> String {
        if let Some(id) = ids.groups.get(group) {
            return id.clone();
        }
        let id = self
            .fake
            .world()
            .add_group(group, &format!("{group}@example.com"));
        ids.groups.insert(group.to_string(), id.clone());
        id
    }

    fn file(&self, ids: &Ids, path: &str) -> HandleResult<String> {
        ids.files
            .get(path)
            .cloned()
            .ok_or_else(|| failed(format!("no file {path}")))
    }

    /// Grants `readers` read on `file`; returns the permission ids.
    fn share(&self, ids: &mut Ids, file: &str, readers: &[Reader]) -> HandleResult<Vec<String>> {
        let mut granted = Vec::new();
        for reader in readers {
            let grant = match reader {
                Reader::User(email) => Grant::user(&self.user(email), Role::Read),
                Reader::Group(group) => Grant::group(&self.group(ids, group), Role::Read),
                Reader::Domain(_) => {
                    return Err(failed("SharePoint has no domain grants (capabilities)"));
                }
            };
            granted.push(self.fake.world().share(file, grant));
        }
        Ok(granted)
    }
}

#[async_trait]
impl SourceHandle for SharePointHandle {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            groups: Groups::Directory,
            domain_readers: Support::no(
                "SharePoint grants no domain: an organization link is the whole tenant",
            ),
        }
    }

    fn group_id(&self, group: &str) -> String {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        self.group(&mut ids, group)
    }

    /// The listing marks its position after every delta page.
    fn resume_scale(&self) -> usize {
        4 * PAGE_SIZE as usize + 3
    }

    async fn add(&self, path: &str, text: &str, readers: &[Reader]) -> HandleResult {
        let mut ids = self.ids()?;
        let (folder, name) = split(path);
        let parent = self.folder(&mut ids, folder);
        let id = self
            .fake
            .world()
            .add_file(&parent, name, "text/plain", text.as_bytes());
        let grants = self.share(&mut ids, &id, readers)?;
        ids.files.insert(path.to_string(), id);
        ids.grants.insert(path.to_string(), grants);
        Ok(())
    }

    async fn edit(&self, path: &str, text: &str) -> HandleResult {
        let id = self.file(&*self.ids()?, path)?;
        self.fake.world().edit(&id, text.as_bytes());
        Ok(())
    }

    async fn delete(&self, path: &str) -> HandleResult {
        let mut ids = self.ids()?;
        let id = self.file(&ids, path)?;
        ids.files.remove(path);
        ids.grants.remove(path);
        self.fake.world().delete(&id);
        Ok(())
    }

    async fn rename(&self, path: &str, new_name: &str) -> HandleResult {
        let mut ids = self.ids()?;
        let id = self.file(&ids, path)?;
        self.fake.world().rename(&id, new_name);
        ids.relocate(path, &renamed(path, new_name));
        Ok(())
    }

    async fn move_to(&self, path: &str, folder: &str) -> HandleResult {
        let mut ids = self.ids()?;
        let id = self.file(&ids, path)?;
        let target = self.folder(&mut ids, folder);
        self.fake.world().move_item(&id, &target);
        ids.relocate(path, &moved(path, folder));
        Ok(())
    }

    async fn set_readers(&self, path: &str, readers: &[Reader]) -> HandleResult {
        let mut ids = self.ids()?;
        let id = self.file(&ids, path)?;
        for grant in ids.grants.remove(path).unwrap_or_default() {
            self.fake.world().unshare(&id, &grant);
        }
        let grants = self.share(&mut ids, &id, readers)?;
        ids.grants.insert(path.to_string(), grants);
        Ok(())
    }

    async fn add_to_group(&self, user: &str, group: &str) -> HandleResult {
        let group = self.group(&mut *self.ids()?, group);
        let user = self.user(user);
        self.fake
            .world()
            .add_group_member(&group, Member::User(user));
        Ok(())
    }

    async fn remove_from_group(&self, user: &str, group: &str) -> HandleResult {
        let group = self.group(&mut *self.ids()?, group);
        let user = self.user(user);
        self.fake
            .world()
            .remove_group_member(&group, &Member::User(user));
        Ok(())
    }

    async fn nest_group(&self, child: &str, parent: &str) -> HandleResult {
        let mut ids = self.ids()?;
        let child = self.group(&mut ids, child);
        let parent = self.group(&mut ids, parent);
        self.fake
            .world()
            .add_group_member(&parent, Member::Group(child));
        Ok(())
    }

    /// Delta links stop working: `410 Gone` with `resyncChangesApplyDifferences`.
    async fn expire_cursor(&self) -> HandleResult {
        self.fake.expire_delta_tokens();
        Ok(())
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
        // Every token issued so far dies: the next call gets a 401 and the connector must
        // fetch a new token once.
        f.expire_tokens();
        for route in API {
            f.inject(route, When::Every(9), Fault::throttled(1));
            f.inject(route, When::Every(13), Fault::Reset);
        }
        for route in LISTS {
            f.inject(route, When::Every(4), Fault::unavailable(1));
            f.inject(route, When::Every(7), Fault::TruncateJson);
        }
        f.inject(Route::Delta, When::Every(6), Fault::BreakBody);
        f.inject(Route::Permissions, When::Every(5), Fault::throttled(1));
        f.inject(Route::Permissions, When::Every(8), Fault::server_error(503));
        f.inject(Route::Batch, When::Every(6), Fault::server_error(502));
        f.inject(Route::Content, When::Next(4), Fault::server_error(500));
        f.inject(Route::Download, When::Every(5), Fault::server_error(502));
        f.inject(Route::Download, When::Every(7), Fault::BreakBody);
        f.inject(Route::Token, When::Nth(3), Fault::server_error(503));
        Ok(
            "every token expired at the start (401 mid-run, one refresh); on every route \
             a 429 with Retry-After and RateLimit-* every 9th call and a reset every 13th; \
             on list routes a 503 with Retry-After every 4th and JSON cut short every 7th; \
             delta bodies broken off every 6th; inside $batch a permission read throttled \
             every 5th and a 503 every 8th; the $batch envelope a 502 every 6th; \
             /content a burst of four 500s; downloads a 502 every 5th and a broken body \
             every 7th; the token endpoint's 3rd call a 503"
                .into(),
        )
    }

    async fn misbehave(&self, kind: Option<Misbehavior>) -> HandleResult {
        let f = &self.fake;
        f.clear_faults();
        match kind {
            None => {}
            Some(Misbehavior::RepeatedPageToken) => {
                // Every delta page says "more at this link", the same link forever.
                let link = format!("{}/drives/loop/root/delta?token=again", f.graph_url());
                let page = serde_json::json!({"value": [], "@odata.nextLink": link});
                f.inject(Route::Delta, When::Always, Fault::status(200, &page));
            }
            Some(Misbehavior::MalformedBody) => {
                f.inject(Route::Delta, When::Always, Fault::MalformedJson);
            }
            Some(Misbehavior::WrongFieldTypes) => {
                // `value` an object keyed by index, `id` a number.
                let page = serde_json::json!({
                    "value": {"0": {"id": 7, "name": ["x"], "file": "yes"}},
                    "@odata.deltaLink": format!("{}/drives/x/root/delta?token=1", f.graph_url()),
                });
                f.inject(Route::Delta, When::Always, Fault::status(200, &page));
            }
            Some(Misbehavior::CredentialsRevoked) => {
                for route in API {
                    f.inject(route, When::Always, Fault::expired_token());
                }
            }
        }
        Ok(())
    }
}

struct SharePointFactory;

#[async_trait]
impl SourceFactory for SharePointFactory {
    async fn create(&self, _scenario: &str) -> HandleResult<Box<dyn SourceHandle>> {
        let fake = FakeGraph::start().await.map_err(failed)?;
        let root = {
            let mut w = fake.world();
            // The kit's users of the domain are in the tenant; the partner and the
            // stranger are not (a share with them makes them guests).
            for (email, name) in [
                (connector_sdk::testkit::ANN, "Ann"),
                (connector_sdk::testkit::BEN, "Ben"),
                (connector_sdk::testkit::CAT, "Cat"),
            ] {
                w.add_user(email, name);
            }
            w.add_site("kit", "Kit").root
        };
        let app = fake.config();
        let mut config = SharePointConfig::new(&app.tenant_id, &app.client_id);
        config.client_secret = Some(Secret::new(app.client_secret.clone()));
        config.graph_url = fake.graph_url();
        config.authority_url = fake.url();
        config.page_size = PAGE_SIZE;
        config.request_timeout_secs = 5;
        let connector = SharePointConnector::new(config).map_err(failed)?;
        let mut ids = Ids::default();
        ids.folders.insert(String::new(), root);
        Ok(Box::new(SharePointHandle {
            fake,
            connector: Arc::new(connector),
            ids: Mutex::new(ids),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sharepoint_connector_is_conformant() {
    let report = kit()
        .run("sharepoint (fake Graph)", &SharePointFactory)
        .await;
    println!("{report}");
    assert_conformant(&report);
}
