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
#[cfg(feature = "testkit")]
pub mod testkit;
