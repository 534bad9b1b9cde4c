//! The Google Drive connector under the conformance kit, against the fake Drive: the kit's
//! documents are plain-text files in one owner's My Drive, its readers are Drive
//! permissions (users, groups of the Directory, domains), its groups live in the Admin SDK
//! directory, the cursor is the changes feed's page tokens, and the storm and the
//! misbehaving server are the fake's scripted faults.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_google_drive::{DriveConfig, DriveConnector};
use connector_sdk::testkit::{
    Capabilities, Groups, HandleError, HandleResult, Misbehavior, Reader, SourceFactory,
    SourceHandle, Support, assert_conformant,
};
use connector_sdk::{Connector, Secret};
use fake_drive::{FakeDrive, Fault, Mangle, MemberRole, Permission, RetryAfter, Role, Route, When};

use super::{kit, moved, rekey, renamed, split};

/// Who owns every document the kit makes: a user of the domain that is none of the kit's
/// users, so that "no reader" means nobody the kit looks at.
const OWNER: &str = "kit-owner@example.com";
const ADMIN: &str = "admin@example.com";
/// The customer domain: the kit's groups are `<name>@example.com`.
const DOMAIN: &str = "example.com";
/// Items per `files.list` page: small, so that a listing has pages (and checkpoints).
const PAGE_SIZE: u32 = 5;

/// Every API route but the token endpoint: the storm's throttling reaches all of them.
const API: [Route; 10] = [
    Route::DrivesList,
    Route::FilesList,
    Route::FilesGet,
    Route::FilesDownload,
    Route::PermissionsList,
    Route::ChangesGetStartPageToken,
    Route::ChangesList,
    Route::UsersList,
    Route::GroupsList,
    Route::MembersList,
];

/// The routes that answer with list pages.
const LISTS: [Route; 6] = [
    Route::DrivesList,
    Route::FilesList,
    Route::ChangesList,
    Route::UsersList,
    Route::GroupsList,
    Route::MembersList,
];

impl Ids {
    /// Moves a document's bookkeeping from `from` to `to`.
    fn relocate(&mut self, from: &str, to: &str) {
        rekey(&mut self.files, from, to);
        rekey(&mut self.readers, from, to);
    }
}

#[derive(Default)]
struct Ids {
    /// Folder path (`team/leads`) → folder id; `""` is the owner's My Drive.
    folders: BTreeMap<String, String>,
    /// Document path → file id.
    files: BTreeMap<String, String>,
    /// Document path → its readers, to revoke them when they are replaced.
    readers: BTreeMap<String, Vec<Reader>>,
    /// The kit's groups made in the directory so far.
    groups: BTreeSet<String>,
}

struct DriveHandle {
    fake: FakeDrive,
    connector: Arc<DriveConnector>,
    ids: Mutex<Ids>,
}

fn failed(e: impl std::fmt::Display) -> HandleError {
    HandleError::failed(e)
}

fn group_email(group: &str) -> String {
    format!("{group}@{DOMAIN}")
}

impl DriveHandle {
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

    /// Makes the kit's `group` in the directory, once.
    fn group(&self, ids: &mut Ids, group: &str) -> String {
        let email = group_email(group);
        if ids.groups.insert(group.to_string()) {
            self.fake.world().add_group(&email, group);
        }
        email
    }

    fn file(&self, ids: &Ids, path: &str) -> HandleResult<String> {
        ids.files
            .get(path)
            .cloned()
            .ok_or_else(|| failed(format!("no file {path}")))
    }

    /// Grants `readers` on `file` (reader role; a domain grant is discoverable).
    fn share(&self, ids: &mut Ids, file: &str, readers: &[Reader]) {
        for reader in readers {
            let perm = match reader {
                Reader::User(email) => Permission::user(email, Role::Reader),
                Reader::Group(group) => Permission::group(&self.group(ids, group), Role::Reader),
                Reader::Domain(domain) => Permission::domain(domain, Role::Reader, true),
            };
            self.fake.world().share(file, perm);
        }
    }
}

#[async_trait]
impl SourceHandle for DriveHandle {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            groups: Groups::Directory,
            domain_readers: Support::Yes,
        }
    }

    fn group_id(&self, group: &str) -> String {
        group_email(group)
    }

    /// The listing marks its position after every page of `files.list`.
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
        self.share(&mut ids, &id, readers);
        ids.files.insert(path.to_string(), id);
        ids.readers.insert(path.to_string(), readers.to_vec());
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
        ids.readers.remove(path);
        // Half the deletions go through the trash, as users delete (a trashed file is a
        // deletion for the index), half are permanent.
        if ids.files.len() % 2 == 0 {
            self.fake.world().trash(&id);
        } else {
            self.fake.world().delete(&id);
        }
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
        self.fake.world().move_to(&id, &target);
        ids.relocate(path, &moved(path, folder));
        Ok(())
    }

    async fn set_readers(&self, path: &str, readers: &[Reader]) -> HandleResult {
        let mut ids = self.ids()?;
        let id = self.file(&ids, path)?;
        let old = ids.readers.get(path).cloned().unwrap_or_default();
        for reader in &old {
            let who = match reader {
                Reader::User(email) => email.clone(),
                Reader::Group(group) => group_email(group),
                Reader::Domain(domain) => domain.clone(),
            };
            self.fake.world().unshare(&id, &who);
        }
        self.share(&mut ids, &id, readers);
        ids.readers.insert(path.to_string(), readers.to_vec());
        Ok(())
    }

    async fn add_to_group(&self, user: &str, group: &str) -> HandleResult {
        let email = self.group(&mut *self.ids()?, group);
        self.fake
            .world()
            .add_member(&email, user, MemberRole::Member);
        Ok(())
    }

    async fn remove_from_group(&self, user: &str, group: &str) -> HandleResult {
        let email = self.group(&mut *self.ids()?, group);
        self.fake.world().remove_member(&email, user);
        Ok(())
    }

    async fn nest_group(&self, child: &str, parent: &str) -> HandleResult {
        let mut ids = self.ids()?;
        let child = self.group(&mut ids, child);
        let parent = self.group(&mut ids, parent);
        self.fake
            .world()
            .add_member(&parent, &child, MemberRole::Member);
        Ok(())
    }

    /// Drive refuses page tokens older than its newest change ("discard and restart").
    async fn expire_cursor(&self) -> HandleResult {
        self.fake.world().expire_change_tokens();
        Ok(())
    }

    async fn fault_storm(&self, on: bool) -> HandleResult<String> {
        let f = &self.fake;
        if !on {
            let faulted = f.faulted();
            let seen: usize = f.counts().values().sum();
            f.clear_faults();
            return Ok(format!("{faulted} of {seen} requests faulted"));
        }
        f.clear_faults();
        f.reset_counts();
        // Every token issued so far dies: the next call of each user gets a 401 and the
        // connector must fetch a new token once.
        f.invalidate_tokens();
        let throttled = Fault::too_many_requests(Some(RetryAfter::Seconds(1)));
        for route in API {
            f.inject(route, When::Every(9), throttled.clone());
            f.inject(route, When::Every(13), Fault::Reset);
        }
        for route in LISTS {
            f.inject(route, When::Every(4), Fault::server_error(503));
            f.inject(route, When::Every(7), Fault::TruncateJson);
        }
        f.inject(Route::FilesList, When::Every(5), Fault::user_rate_limit());
        f.inject(Route::ChangesList, When::Every(6), Fault::BreakBody);
        f.inject(
            Route::FilesDownload,
            When::Next(4),
            Fault::server_error(500),
        );
        f.inject(
            Route::FilesDownload,
            When::Every(5),
            Fault::server_error(502),
        );
        f.inject(Route::FilesDownload, When::Every(7), Fault::BreakBody);
        f.inject(Route::FilesDownload, When::Every(11), Fault::auth_error());
        f.inject(Route::Token, When::Nth(3), Fault::server_error(503));
        Ok(
            "every token revoked at the start (401 mid-run, one refresh); on every route \
             a 429 with Retry-After every 9th call and a reset every 13th; on list routes a \
             503 every 4th and JSON cut short every 7th; files.list 403 \
             userRateLimitExceeded every 5th; changes.list bodies broken off every 6th; \
             downloads: a burst of four 500s, then a 502 page every 5th, a broken body \
             every 7th and a 401 every 11th; the token endpoint's 3rd call a 503"
                .into(),
        )
    }

    async fn misbehave(&self, kind: Option<Misbehavior>) -> HandleResult {
        let f = &self.fake;
        f.clear_faults();
        // The kit's run after a full sync is incremental (changes.list); a full listing
        // (after a fallback) reads files.list: both misbehave.
        let feeds = [Route::ChangesList, Route::FilesList];
        match kind {
            None => {}
            Some(Misbehavior::RepeatedPageToken) => {
                for route in feeds {
                    f.inject(route, When::Always, Fault::RepeatPageToken);
                }
            }
            Some(Misbehavior::MalformedBody) => {
                f.inject(Route::ChangesList, When::Always, Fault::MalformedJson);
                f.inject(Route::FilesList, When::Always, Fault::TruncateJson);
            }
            Some(Misbehavior::WrongFieldTypes) => {
                for route in feeds {
                    f.inject(route, When::Always, Fault::WrongTypes(Mangle::ListAsObject));
                }
            }
            Some(Misbehavior::CredentialsRevoked) => {
                // Every API call is refused as unauthenticated, tokens fetched anew too.
                for route in API {
                    f.inject(route, When::Always, Fault::auth_error());
                }
            }
        }
        Ok(())
    }
}

struct DriveFactory;

#[async_trait]
impl SourceFactory for DriveFactory {
    async fn create(&self, _scenario: &str) -> HandleResult<Box<dyn SourceHandle>> {
        let fake = FakeDrive::start_with_test_key().await.map_err(failed)?;
        let root = {
            let mut w = fake.world();
            w.add_admin(ADMIN, "Admin");
            w.add_user(OWNER, "Kit Owner");
            // The kit's users of the domain are in the directory (and have My Drives of
            // their own, empty); the partner and the stranger are outside it.
            for (email, name) in [
                (connector_sdk::testkit::ANN, "Ann"),
                (connector_sdk::testkit::BEN, "Ben"),
                (connector_sdk::testkit::CAT, "Cat"),
            ] {
                w.add_user(email, name);
            }
            w.root_of(OWNER)
        };
        let mut config = DriveConfig::new(ADMIN);
        config.api_url = fake.url();
        config.page_size = PAGE_SIZE;
        config.request_timeout_secs = 5;
        // The key is handed over below; validation wants to know where one comes from.
        config.credentials_env = Some("UNUSED".into());
        let key = Secret::new(fake.service_account_json());
        let connector = DriveConnector::new(config, &key).map_err(failed)?;
        let mut ids = Ids::default();
        ids.folders.insert(String::new(), root);
        Ok(Box::new(DriveHandle {
            fake,
            connector: Arc::new(connector),
            ids: Mutex::new(ids),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drive_connector_is_conformant() {
    let report = kit().run("google-drive (fake Drive)", &DriveFactory).await;
    println!("{report}");
    assert_conformant(&report);
}
