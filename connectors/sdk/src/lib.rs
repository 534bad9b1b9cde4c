//! The public API for Tributary connector authors.
//!
//! A connector turns one kind of source (a folder, a bucket, a SaaS tenant) into a stream of
//! [`Change`]s: documents to upsert with their [`Acl`], deletions, ACL-only updates and
//! in-band [`Change::Checkpoint`] markers. The engine (`sync-core`) owns everything after
//! that — fetching with limits, extraction, chunking, indexing, the manifest, and the
//! checkpoint store — so a connector never sees tantivy or redb.
//!
//! The main types:
//! - [`Connector`] — the trait a connector implements: `check`, `full`, `incremental`,
//!   `fetch`, `identities`.
//! - [`RemoteDocument`], [`DocumentId`], [`Acl`], [`Principal`] — what a listing yields.
//! - [`SourceCheckpoint`] — a versioned, opaque partition → cursor map.
//! - [`Membership`] — identity crawl output (users ↔ groups, group nesting).
//! - [`ConnectorError`] with an [`ErrorKind`] the engine acts on (retry, pause, fail).
//! - [`SourceType`] — a connector's typed configuration: read from its `[[sources]]` table
//!   with every problem at once, validated purely, then built; [`ErasedSourceType`] is how
//!   a host keeps it in its list of source types, [`Secret`] a value that never prints.
//!
//! With the `saas` feature, the toolkit SaaS connectors stand on: `http` (a generic
//! politeness policy — retries with full jitter, `Retry-After`, vendor throttling signals,
//! request-rate and concurrency limits, one token refresh on 401 — around any HTTP client's
//! calls, and `HttpClient`, a reqwest client built on it with capped bodies) and `auth`
//! (`TokenSource`: OAuth2 client credentials, Google service accounts, static bearer
//! tokens, HTTP Basic) and `feed` (a listing on a task of its own, read ahead through a bounded
//! channel, with the throttling pauses it reports to the engine).
//!
//! A whole connector, for a source of notes each with its readers: a full listing that says
//! when it is complete, an incremental one for a source without a change feed, and a fetch.
//! Register it in a binary that embeds the engine (`examples/rust-connector/`), serve it over
//! stdio, and check it with the conformance kit (`docs/writing-a-connector.md`).
//!
//! ```
//! use async_trait::async_trait;
//! use futures::{StreamExt, stream};
//! use connector_sdk::{
//!     Acl, ByteStream, Change, ChangeStream, Connector, ConnectorError, ErrorKind, Principal,
//!     RemoteDocument, SourceCheckpoint, SyncContext, read_bounded,
//! };
//!
//! /// One note: its id, its revision, its text and who may read it.
//! struct Note {
//!     id: &'static str,
//!     revision: u32,
//!     text: &'static str,
//!     readers: &'static [&'static str],
//! }
//!
//! struct Notes(Vec<Note>);
//!
//! #[async_trait]
//! impl Connector for Notes {
//!     fn kind(&self) -> &'static str {
//!         "notes"
//!     }
//!
//!     async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
//!         Ok(())
//!     }
//!
//!     /// Every note with its version and ACL (the engine fetches only what changed), then
//!     /// the marker that lets the engine delete what it no longer saw.
//!     fn full<'a>(
//!         &'a self,
//!         _cx: &'a SyncContext,
//!         _resume: Option<&'a SourceCheckpoint>,
//!     ) -> ChangeStream<'a> {
//!         let notes = self.0.iter().map(|note| {
//!             let mut acl = Acl::default();
//!             acl.allow.extend(note.readers.iter().map(|r| Principal::user(r)));
//!             let mut doc = RemoteDocument::new(note.id, note.revision.to_string(), acl);
//!             doc.title = Some(format!("Note {}", note.id));
//!             doc.content_type = Some("text/plain".into());
//!             Ok(Change::Upsert(doc))
//!         });
//!         stream::iter(notes.chain([Ok(Change::ListingComplete)])).boxed()
//!     }
//!
//!     /// No change feed: list everything; the engine diffs it against what it indexed.
//!     fn incremental<'a>(
//!         &'a self,
//!         cx: &'a SyncContext,
//!         _since: &'a SourceCheckpoint,
//!     ) -> ChangeStream<'a> {
//!         self.full(cx, None)
//!     }
//!
//!     async fn fetch(
//!         &self,
//!         _cx: &SyncContext,
//!         doc: &RemoteDocument,
//!     ) -> Result<ByteStream, ConnectorError> {
//!         let note = self.0.iter().find(|n| n.id == doc.id.as_str()).ok_or_else(|| {
//!             ConnectorError::new(ErrorKind::NotFound, format!("no note {}", doc.id.as_str()))
//!         })?;
//!         Ok(stream::iter([Ok(bytes::Bytes::from_static(note.text.as_bytes()))]).boxed())
//!     }
//! }
//!
//! # futures::executor::block_on(async {
//! let notes = Notes(vec![Note { id: "n1", revision: 3, text: "ship it", readers: &["ann@example.com"] }]);
//! let cx = SyncContext { source_id: "notes".into(), run_id: "1".into(), limits: Default::default() };
//! let listed: Vec<Change> = notes.full(&cx, None).map(|c| c.unwrap()).collect().await;
//! let Change::Upsert(doc) = &listed[0] else { panic!("an upsert first") };
//! assert_eq!(doc.acl.allow_terms(), vec!["user:ann@example.com".to_string()]);
//! assert_eq!(listed[1], Change::ListingComplete);
//! let bytes = read_bounded(notes.fetch(&cx, doc).await?, 1 << 20).await?;
//! assert_eq!(bytes, b"ship it");
//! # Ok::<(), ConnectorError>(())
//! # }).unwrap();
//! ```
//!
//! An ACL on its own:
//!
//! ```
//! use connector_sdk::{Acl, Principal};
//!
//! let mut acl = Acl::default();
//! acl.allow.insert(Principal::group("engineering"));
//! acl.deny.insert(Principal::user("Mallory@Example.com"));
//! assert_eq!(acl.allow_terms(), vec!["group:engineering".to_string()]);
//! assert_eq!(acl.deny_terms(), vec!["user:mallory@example.com".to_string()]);
//! ```
#![deny(missing_docs)]

mod acl;
mod checkpoint;
mod config;
mod connector;
mod document;
mod error;
mod secret;

pub use acl::{Acl, Principal};
pub use checkpoint::SourceCheckpoint;
pub use config::{ConfigContext, ConfiguredSource, ErasedSourceType, SourceProfile, SourceType};
pub use connector::{
    ByteStream, Change, ChangeStream, Connector, Limits, Membership, MembershipStream, SyncContext,
    read_bounded,
};
pub use document::{Content, DocumentId, RemoteDocument};
pub use error::{ConfigProblem, ConnectorError, ErrorKind};
pub use secret::Secret;

pub mod acl_file;
#[cfg(feature = "saas")]
pub mod auth;
#[cfg(feature = "saas")]
pub mod feed;
#[cfg(feature = "saas")]
pub mod globs;
#[cfg(feature = "saas")]
pub mod http;
#[cfg(feature = "stdio")]
pub mod protocol;
pub mod ranges;
#[cfg(feature = "testkit")]
pub mod testkit;
