//! An in-memory connector that plays a script: each call of `full` or `incremental` yields
//! the next scripted listing, `fetch` serves scripted bodies (or failures, or a hang). It is
//! what a change-feed source looks like to the engine — deltas, cursors that expire,
//! throttling, permission changes — without a network, so tests can pin the engine's exact
//! behaviour. Its directory is scripted too: each identity sync plays the next scripted
//! `identities()` stream. (The seed of the connector conformance kit.)

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use connector_sdk::{
    Acl, ByteStream, Change, ChangeStream, Connector, ConnectorError, ErrorKind, Membership,
    MembershipStream, Principal, RemoteDocument, SourceCheckpoint, SyncContext,
};
use futures::StreamExt;

/// One item of a scripted listing.
pub type Item = Result<Change, ConnectorError>;

/// What `fetch` does for one document.
#[derive(Debug, Clone)]
pub enum Body {
    Text(String),
    Fail(ErrorKind),
    /// Fails with `RateLimited` this many times, then serves the text.
    Throttled(u32, Duration, String),
    /// Never answers.
    Hang,
    /// Cancels the token (a shutdown arriving mid-run), then serves the text.
    Cancel(tokio_util::sync::CancellationToken, String),
}

/// What the connector was asked, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Full { resumed: bool },
    Incremental { cursor: Option<String> },
    Fetch(String),
}

#[derive(Debug, Default)]
pub struct Scripted {
    listings: Mutex<VecDeque<Vec<Item>>>,
    bodies: Mutex<HashMap<String, Body>>,
    calls: Mutex<Vec<Call>>,
    directories: Mutex<VecDeque<Vec<Result<Membership, ConnectorError>>>>,
}

impl Scripted {
    /// The listing the next `full` or `incremental` call yields.
    pub fn then_list(&self, items: Vec<Item>) {
        self.listings.lock().expect("lock").push_back(items);
    }

    /// The stream the next `identities` call yields (then an empty one).
    pub fn then_directory(&self, items: Vec<Result<Membership, ConnectorError>>) {
        self.directories.lock().expect("lock").push_back(items);
    }

    pub fn body(&self, id: &str, body: Body) {
        self.bodies.lock().expect("lock").insert(id.into(), body);
    }

    pub fn text(&self, id: &str, text: &str) {
        self.body(id, Body::Text(text.into()));
    }

    /// The calls since the last `take_calls`.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().expect("lock"))
    }

    fn next_listing(&self, call: Call) -> ChangeStream<'_> {
        self.calls.lock().expect("lock").push(call);
        let items = self.listings.lock().expect("lock").pop_front();
        let items = items.unwrap_or_else(|| {
            vec![Err(ConnectorError::new(
                ErrorKind::Permanent,
                "the script has no listing left",
            ))]
        });
        futures::stream::iter(items).boxed()
    }
}

#[async_trait]
impl Connector for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }

    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn full<'a>(
        &'a self,
        _cx: &'a SyncContext,
        resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        self.next_listing(Call::Full {
            resumed: resume.is_some(),
        })
    }

    fn incremental<'a>(
        &'a self,
        _cx: &'a SyncContext,
        since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        self.next_listing(Call::Incremental {
            cursor: since.cursor("feed").map(str::to_string),
        })
    }

    fn identities<'a>(&'a self, _cx: &'a SyncContext) -> MembershipStream<'a> {
        let items = self.directories.lock().expect("lock").pop_front();
        futures::stream::iter(items.unwrap_or_default()).boxed()
    }

    async fn fetch(
        &self,
        _cx: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        let id = doc.id.as_str();
        self.calls
            .lock()
            .expect("lock")
            .push(Call::Fetch(id.to_string()));
        let body = self.bodies.lock().expect("lock").get(id).cloned();
        let text = match body {
            Some(Body::Text(text)) => text,
            Some(Body::Fail(kind)) => {
                return Err(ConnectorError::new(kind, format!("fetch {id}: scripted")));
            }
            Some(Body::Throttled(n, wait, text)) => {
                if n == 0 {
                    text
                } else {
                    self.body(id, Body::Throttled(n - 1, wait, text));
                    return Err(ConnectorError::new(
                        ErrorKind::RateLimited {
                            retry_after: Some(wait),
                        },
                        format!("fetch {id}: slow down"),
                    ));
                }
            }
            Some(Body::Hang) => futures::future::pending().await,
            Some(Body::Cancel(token, text)) => {
                token.cancel();
                text
            }
            None => return Err(ConnectorError::new(ErrorKind::NotFound, id.to_string())),
        };
        Ok(futures::stream::once(async move { Ok(Bytes::from(text)) }).boxed())
    }
}

/// An ACL allowing these groups.
pub fn groups(names: &[&str]) -> Acl {
    let mut acl = Acl::default();
    acl.allow.extend(names.iter().map(|n| Principal::group(*n)));
    acl
}

/// `user` is a direct member of `group` in the scripted directory.
pub fn member(user: &str, group: &str) -> Result<Membership, ConnectorError> {
    Ok(Membership::UserInGroup {
        user: user.into(),
        group: group.into(),
    })
}

/// `Upsert` of `id` at `version`, readable by `group`.
pub fn upsert(id: &str, version: &str, group: &str) -> Item {
    let mut doc = RemoteDocument::new(id, version, groups(&[group]));
    doc.title = Some(id.to_string());
    doc.content_type = Some("text/plain".into());
    Ok(Change::Upsert(doc))
}

pub fn delete(id: &str) -> Item {
    Ok(Change::Delete(id.into()))
}

pub fn permissions(id: &str, group: &str) -> Item {
    Ok(Change::Permissions {
        id: id.into(),
        acl: groups(&[group]),
    })
}

/// The feed's cursor after this point.
pub fn cursor(c: &str) -> Item {
    Ok(Change::Checkpoint {
        partition: "feed".into(),
        cursor: Some(c.into()),
    })
}

pub fn complete() -> Item {
    Ok(Change::ListingComplete)
}

pub fn error(kind: ErrorKind) -> Item {
    Err(ConnectorError::new(kind, "scripted listing error"))
}
