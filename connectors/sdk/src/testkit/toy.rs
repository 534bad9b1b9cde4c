//! An in-memory source with a change feed, a directory and a scriptable "server", and its
//! connector: correct, or broken in one chosen way so the self-tests can prove that each
//! check of the kit fails when it should.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use super::handle::{
    Capabilities, Groups, HandleError, HandleResult, Misbehavior, Reader, SourceFactory,
    SourceHandle, Support,
};
use crate::{
    Acl, ByteStream, Change, ChangeStream, Connector, ConnectorError, ErrorKind, Membership,
    MembershipStream, Principal, RemoteDocument, SourceCheckpoint, SyncContext,
};

/// Documents per list page; a page ends with a checkpoint.
const PAGE: usize = 2;

/// How the connector is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bug {
    /// In a storm, a failed page is skipped and the listing still ends with
    /// `ListingComplete`.
    CompleteAfterError,
    /// The version includes the ACL, so a permission change looks like a content change.
    AclBumpsVersion,
    /// A page's checkpoint is emitted before the page's documents: a kill right after it
    /// loses them.
    CheckpointTooEarly,
    /// A repeated page token is followed forever.
    LoopsOnRepeatedToken,
    /// A malformed page is skipped in silence, and the listing ends complete.
    SwallowsMalformed,
    /// `identities()` leaves out nested groups.
    FlatGroups,
}

#[derive(Debug, Clone)]
struct Doc {
    path: String,
    text: String,
    readers: Vec<Reader>,
    rev: u64,
    acl_rev: u64,
}

#[derive(Debug, Clone)]
enum Event {
    Changed(String),
    Acl(String),
    Deleted(String),
}

/// The source: documents by stable id, the change log, the directory, the weather.
#[derive(Debug, Default)]
struct Source {
    docs: BTreeMap<String, Doc>,
    next: u64,
    log: Vec<Event>,
    expired_before: usize,
    directory: Vec<Membership>,
    storm: bool,
    storm_calls: u64,
    misbehave: Option<Misbehavior>,
}

impl Source {
    fn id_at(&self, path: &str) -> Result<String, HandleError> {
        self.docs
            .iter()
            .find(|(_, d)| d.path == path)
            .map(|(id, _)| id.clone())
            .ok_or_else(|| HandleError::failed(format!("no document at {path}")))
    }
}

fn lock(source: &Mutex<Source>) -> MutexGuard<'_, Source> {
    source
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn acl_of(readers: &[Reader]) -> Acl {
    let mut acl = Acl::default();
    for r in readers {
        acl.allow.insert(match r {
            Reader::User(u) => Principal::user(u),
            Reader::Group(g) => Principal::group(g.clone()),
            Reader::Domain(d) => Principal::domain(d),
        });
    }
    acl
}

/// The toy connector.
#[derive(Debug)]
pub(crate) struct ToyConnector {
    source: Arc<Mutex<Source>>,
    bug: Option<Bug>,
}

type Item = Result<Change, ConnectorError>;

impl ToyConnector {
    fn document(&self, id: &str, doc: &Doc) -> RemoteDocument {
        let version = match self.bug {
            Some(Bug::AclBumpsVersion) => format!("r{}a{}", doc.rev, doc.acl_rev),
            _ => format!("r{}", doc.rev),
        };
        let mut out = RemoteDocument::new(id, version, acl_of(&doc.readers));
        out.title = doc.path.rsplit('/').next().map(str::to_string);
        out
    }

    /// What the "server" does to a list request: `None` serves it, `Some(items)` ends the
    /// listing with these items instead.
    fn misbehaving(&self, page: usize) -> Option<Vec<Item>> {
        let kind = lock(&self.source).misbehave?;
        let err = |kind: ErrorKind, message: &str| {
            Some(vec![Err(ConnectorError::new(
                kind,
                format!("list page {page}: {message}"),
            ))])
        };
        match (kind, self.bug) {
            (Misbehavior::RepeatedPageToken, Some(Bug::LoopsOnRepeatedToken)) => None,
            (Misbehavior::RepeatedPageToken, _) => err(
                ErrorKind::InvalidResponse,
                "the server returned the page token it was given",
            ),
            (Misbehavior::MalformedBody, Some(Bug::SwallowsMalformed)) => {
                Some(vec![Ok(Change::ListingComplete)])
            }
            (Misbehavior::MalformedBody, _) => {
                err(ErrorKind::InvalidResponse, "the body is not valid json")
            }
            (Misbehavior::WrongFieldTypes, _) => err(
                ErrorKind::InvalidResponse,
                "field `version` is not a string",
            ),
            (Misbehavior::CredentialsRevoked, _) => {
                err(ErrorKind::Unauthorized, "the access token was revoked")
            }
        }
    }

    /// One full listing, from a resume cursor, as a channel-fed stream.
    async fn list(&self, resume: Option<SourceCheckpoint>, tx: tokio::sync::mpsc::Sender<Item>) {
        let resume_after = resume
            .as_ref()
            .and_then(|cp| cp.cursor("list").map(str::to_string));
        let has_feed = resume
            .as_ref()
            .is_some_and(|cp| cp.cursor("feed").is_some());
        if !has_feed {
            let at = lock(&self.source).log.len();
            let cp = Change::Checkpoint {
                partition: "feed".into(),
                cursor: Some(at.to_string()),
            };
            if tx.send(Ok(cp)).await.is_err() {
                return;
            }
        }
        let mut after = resume_after;
        let mut page_no = 0;
        loop {
            page_no += 1;
            if let Some(items) = self.misbehaving(page_no) {
                for item in items {
                    let _ = tx.send(item).await;
                }
                return;
            }
            if lock(&self.source).misbehave == Some(Misbehavior::RepeatedPageToken) {
                // The broken client follows the same token forever.
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            let (page, storm) = {
                let mut s = lock(&self.source);
                let page: Vec<RemoteDocument> = s
                    .docs
                    .iter()
                    .filter(|(id, _)| after.as_deref().is_none_or(|a| id.as_str() > a))
                    .take(PAGE)
                    .map(|(id, d)| self.document(id, d))
                    .collect();
                s.storm_calls += 1;
                (page, s.storm && s.storm_calls.is_multiple_of(2))
            };
            if storm {
                let slow = ConnectorError::new(
                    ErrorKind::RateLimited {
                        retry_after: Some(Duration::from_millis(5)),
                    },
                    "slow down",
                );
                if tx.send(Err(slow)).await.is_err() {
                    return;
                }
                if self.bug == Some(Bug::CompleteAfterError) {
                    let e = ConnectorError::new(ErrorKind::Transient, "list page failed");
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                    after = page.last().map(|d| d.id.as_str().to_string()).or(after);
                    if page.is_empty() {
                        break;
                    }
                    continue;
                }
            }
            let Some(last) = page.last().map(|d| d.id.as_str().to_string()) else {
                break;
            };
            let cp = Ok(Change::Checkpoint {
                partition: "list".into(),
                cursor: Some(last.clone()),
            });
            let early = self.bug == Some(Bug::CheckpointTooEarly);
            let mut items: Vec<Item> = page.into_iter().map(|d| Ok(Change::Upsert(d))).collect();
            if early {
                items.insert(0, cp);
            } else {
                items.push(cp);
            }
            for item in items {
                if tx.send(item).await.is_err() {
                    return;
                }
            }
            after = Some(last);
        }
        let end = [
            Ok(Change::Checkpoint {
                partition: "list".into(),
                cursor: None,
            }),
            Ok(Change::ListingComplete),
        ];
        for item in end {
            if tx.send(item).await.is_err() {
                return;
            }
        }
    }

    fn feed(&self, since: &SourceCheckpoint) -> Vec<Item> {
        if let Some(items) = self.misbehaving(1) {
            return items;
        }
        let s = lock(&self.source);
        let from: usize = since
            .cursor("feed")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if from < s.expired_before {
            return vec![Err(ConnectorError::new(
                ErrorKind::CursorExpired,
                format!("change cursor {from} expired"),
            ))];
        }
        let mut items = Vec::new();
        for event in s.log.iter().skip(from) {
            items.push(Ok(match event {
                Event::Changed(id) => match s.docs.get(id) {
                    Some(doc) => Change::Upsert(self.document(id, doc)),
                    None => continue,
                },
                Event::Acl(id) => match s.docs.get(id) {
                    // The broken connector reports a permission change as a new version.
                    Some(doc) if self.bug == Some(Bug::AclBumpsVersion) => {
                        Change::Upsert(self.document(id, doc))
                    }
                    Some(doc) => Change::Permissions {
                        id: id.as_str().into(),
                        acl: acl_of(&doc.readers),
                    },
                    None => continue,
                },
                Event::Deleted(id) => Change::Delete(id.as_str().into()),
            }));
        }
        items.push(Ok(Change::Checkpoint {
            partition: "feed".into(),
            cursor: Some(s.log.len().to_string()),
        }));
        items
    }
}

#[async_trait]
impl Connector for ToyConnector {
    fn kind(&self) -> &'static str {
        "toy"
    }

    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn full<'a>(
        &'a self,
        _cx: &'a SyncContext,
        resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let resume = resume.cloned();
        let producer = async move {
            self.list(resume, tx).await;
            None::<Item>
        };
        let consumer = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        // The producer runs while the stream is polled; it ends when the listing does.
        futures::stream::select(
            futures::FutureExt::into_stream(producer).filter_map(futures::future::ready),
            consumer,
        )
        .boxed()
    }

    fn incremental<'a>(
        &'a self,
        _cx: &'a SyncContext,
        since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        let looping = self.bug == Some(Bug::LoopsOnRepeatedToken)
            && lock(&self.source).misbehave == Some(Misbehavior::RepeatedPageToken);
        if looping {
            // Following the same page token forever: never an item, never an end.
            return futures::stream::pending().boxed();
        }
        futures::stream::iter(self.feed(since)).boxed()
    }

    async fn fetch(
        &self,
        _cx: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        let text = {
            let mut s = lock(&self.source);
            s.storm_calls += 1;
            if s.storm && s.storm_calls.is_multiple_of(3) {
                return Err(ConnectorError::new(
                    ErrorKind::Transient,
                    "connection reset",
                ));
            }
            let current = s.docs.get(doc.id.as_str()).cloned();
            match current {
                Some(d) if self.document(doc.id.as_str(), &d).version == doc.version => d.text,
                Some(_) => {
                    return Err(ConnectorError::new(
                        ErrorKind::Transient,
                        "changed since listed",
                    ));
                }
                None => return Err(ConnectorError::new(ErrorKind::NotFound, "gone")),
            }
        };
        Ok(futures::stream::once(async move { Ok(Bytes::from(text)) }).boxed())
    }

    fn identities<'a>(&'a self, _cx: &'a SyncContext) -> MembershipStream<'a> {
        let facts: Vec<Result<Membership, ConnectorError>> = lock(&self.source)
            .directory
            .iter()
            .filter(|f| {
                !(self.bug == Some(Bug::FlatGroups) && matches!(f, Membership::GroupInGroup { .. }))
            })
            .cloned()
            .map(Ok)
            .collect();
        futures::stream::iter(facts).boxed()
    }
}

/// The handle over one toy source.
pub(crate) struct ToyHandle {
    source: Arc<Mutex<Source>>,
    connector: Arc<ToyConnector>,
    cursor_expiry: bool,
}

impl ToyHandle {
    /// Changes the document at `path` and logs the change (a permission change when
    /// `acl`).
    fn change(&self, path: &str, acl: bool, f: impl FnOnce(&mut Doc)) -> HandleResult {
        let mut s = lock(&self.source);
        let id = s.id_at(path)?;
        if let Some(doc) = s.docs.get_mut(&id) {
            f(doc);
        }
        s.log.push(if acl {
            Event::Acl(id)
        } else {
            Event::Changed(id)
        });
        Ok(())
    }

    fn relocate(&self, path: &str, to: String) -> HandleResult {
        self.change(path, false, |d| {
            d.path = to;
            // A rename changes what the engine indexes (the title): a new version.
            d.rev += 1;
        })
    }
}

#[async_trait]
impl SourceHandle for ToyHandle {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            groups: Groups::Directory,
            domain_readers: Support::Yes,
        }
    }

    async fn add(&self, path: &str, text: &str, readers: &[Reader]) -> HandleResult {
        let mut s = lock(&self.source);
        s.next += 1;
        let id = format!("doc-{:05}", s.next);
        s.docs.insert(
            id.clone(),
            Doc {
                path: path.into(),
                text: text.into(),
                readers: readers.to_vec(),
                rev: 1,
                acl_rev: 1,
            },
        );
        s.log.push(Event::Changed(id));
        Ok(())
    }

    async fn edit(&self, path: &str, text: &str) -> HandleResult {
        self.change(path, false, |d| {
            d.text = text.into();
            d.rev += 1;
        })
    }

    async fn delete(&self, path: &str) -> HandleResult {
        let mut s = lock(&self.source);
        let id = s.id_at(path)?;
        s.docs.remove(&id);
        s.log.push(Event::Deleted(id));
        Ok(())
    }

    async fn rename(&self, path: &str, new_name: &str) -> HandleResult {
        let to = match path.rsplit_once('/') {
            Some((folder, _)) => format!("{folder}/{new_name}"),
            None => new_name.to_string(),
        };
        self.relocate(path, to)
    }

    async fn move_to(&self, path: &str, folder: &str) -> HandleResult {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.relocate(path, format!("{folder}/{name}"))
    }

    async fn set_readers(&self, path: &str, readers: &[Reader]) -> HandleResult {
        self.change(path, true, |d| {
            d.readers = readers.to_vec();
            d.acl_rev += 1;
        })
    }

    async fn add_to_group(&self, user: &str, group: &str) -> HandleResult {
        lock(&self.source).directory.push(Membership::UserInGroup {
            user: user.into(),
            group: group.into(),
        });
        Ok(())
    }

    async fn remove_from_group(&self, user: &str, group: &str) -> HandleResult {
        lock(&self.source).directory.retain(|f| {
            !matches!(f, Membership::UserInGroup { user: u, group: g } if u == user && g == group)
        });
        Ok(())
    }

    async fn nest_group(&self, child: &str, parent: &str) -> HandleResult {
        lock(&self.source).directory.push(Membership::GroupInGroup {
            child: child.into(),
            parent: parent.into(),
        });
        Ok(())
    }

    async fn expire_cursor(&self) -> HandleResult {
        if !self.cursor_expiry {
            return Err(HandleError::unsupported("this toy's cursors never expire"));
        }
        let mut s = lock(&self.source);
        s.expired_before = s.log.len();
        Ok(())
    }

    async fn fault_storm(&self, on: bool) -> HandleResult<String> {
        lock(&self.source).storm = on;
        Ok("429 before every other page, every third fetch reset".into())
    }

    async fn misbehave(&self, kind: Option<Misbehavior>) -> HandleResult {
        lock(&self.source).misbehave = kind;
        Ok(())
    }
}

/// Makes toy sources, correct or with one bug.
pub(crate) struct ToyFactory {
    pub(crate) bug: Option<Bug>,
    /// Whether the handle can expire cursors.
    pub(crate) cursor_expiry: bool,
}

#[async_trait]
impl SourceFactory for ToyFactory {
    async fn create(&self, _scenario: &str) -> HandleResult<Box<dyn SourceHandle>> {
        let source = Arc::new(Mutex::new(Source::default()));
        let connector = Arc::new(ToyConnector {
            source: Arc::clone(&source),
            bug: self.bug,
        });
        Ok(Box::new(ToyHandle {
            source,
            connector,
            cursor_expiry: self.cursor_expiry,
        }))
    }
}
