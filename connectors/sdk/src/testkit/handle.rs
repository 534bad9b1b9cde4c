//! What a connector's test implements so that the kit can change the source under it.
//!
//! The kit speaks of documents by *path* (`team/plans/q3.txt`: folders, then a name) and of
//! readers by [`Reader`]; a handle turns both into whatever its source has (files and an ACL
//! file, objects and `acl.json`, Drive folders and permissions). Everything a source cannot
//! do is said so, with a reason, and the scenarios that need it are reported as skipped.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{Connector, DocumentId};

/// Who may read a document, in the kit's terms. A handle maps each to its source's own
/// permissions (an ACL-file entry, a Drive permission).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reader {
    /// One user, by email.
    User(String),
    /// A group, by the kit's name for it (`eng`); [`SourceHandle::group_id`] says how the
    /// source's ACLs name it.
    Group(String),
    /// Everybody whose email is in this domain.
    Domain(String),
}

impl Reader {
    /// A user reader.
    pub fn user(email: &str) -> Self {
        Reader::User(email.to_string())
    }

    /// A group reader.
    pub fn group(name: &str) -> Self {
        Reader::Group(name.to_string())
    }

    /// A domain reader.
    pub fn domain(domain: &str) -> Self {
        Reader::Domain(domain.to_string())
    }
}

/// Whether a source can do something a scenario needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// It can.
    Yes,
    /// It cannot, and why (shown in the report as the reason a scenario was skipped).
    No(String),
}

impl Support {
    /// Not supported, for this reason.
    pub fn no(reason: impl Into<String>) -> Self {
        Support::No(reason.into())
    }
}

/// Where the groups a source's ACLs name get their members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Groups {
    /// From the source's own directory: the connector's `identities()` yields them, and the
    /// handle's [`SourceHandle::add_to_group`], [`SourceHandle::remove_from_group`] and
    /// [`SourceHandle::nest_group`] change them (Google groups through the Admin SDK).
    Directory,
    /// From the engine's identities file: the source only names groups in its ACLs, so the
    /// kit supplies their members itself, as the identities file would, and skips the
    /// membership scenario with this reason.
    IdentitiesFile(String),
    /// From the source alone, for groups of its own making that no kit group can become
    /// (Slack: a document's readers are its channel's members, `channel:<id>` in the ACL,
    /// which the connector's `identities()` yields). The kit shares with a group's members
    /// one by one instead, runs an identity sync before every sync (a change of readers is
    /// a change of members, which reaches the index that way), and skips the membership
    /// scenario with this reason.
    SourceDefined(String),
}

/// What a source can do besides the basic changes every source supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Where group members come from.
    pub groups: Groups,
    /// Whether a document can be shared with a whole domain ([`Reader::Domain`]). Without
    /// it, the kit shares with the domain's users one by one instead.
    pub domain_readers: Support,
}

/// A way for a source's server to misbehave. The connector must end the listing with a
/// clear error, delete nothing and never hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Misbehavior {
    /// Every list page says there is a next page, with the same page token forever.
    RepeatedPageToken,
    /// List pages are not valid JSON (or XML): cut off, or garbage.
    MalformedBody,
    /// List pages parse, but fields have the wrong types (a number where a string belongs,
    /// an object where a list belongs).
    WrongFieldTypes,
    /// Every request is refused for its credentials (401, an expired or revoked token), and
    /// a refreshed token is refused too. The listing must stop with `Unauthorized`.
    CredentialsRevoked,
}

impl Misbehavior {
    /// Every kind, in the order the kit runs them.
    pub const ALL: [Misbehavior; 4] = [
        Misbehavior::RepeatedPageToken,
        Misbehavior::MalformedBody,
        Misbehavior::WrongFieldTypes,
        Misbehavior::CredentialsRevoked,
    ];

    /// The scenario's name suffix (`repeated_page_token`).
    pub fn name(self) -> &'static str {
        match self {
            Misbehavior::RepeatedPageToken => "repeated_page_token",
            Misbehavior::MalformedBody => "malformed_body",
            Misbehavior::WrongFieldTypes => "wrong_field_types",
            Misbehavior::CredentialsRevoked => "credentials_revoked",
        }
    }
}

/// Why a handle could not do what the kit asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandleError {
    /// The source cannot do this at all; the scenario is skipped with this reason.
    Unsupported(String),
    /// Doing it failed (a fixture problem, not the connector's): the scenario fails with
    /// this message, marked as the handle's.
    Failed(String),
}

impl HandleError {
    /// Not supported, for this reason.
    pub fn unsupported(reason: impl Into<String>) -> Self {
        HandleError::Unsupported(reason.into())
    }

    /// A failure of the handle itself.
    pub fn failed(message: impl fmt::Display) -> Self {
        HandleError::Failed(message.to_string())
    }
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::Unsupported(reason) => write!(f, "unsupported: {reason}"),
            HandleError::Failed(message) => write!(f, "the handle failed: {message}"),
        }
    }
}

impl std::error::Error for HandleError {}

/// What a handle's operations return.
pub type HandleResult<T = ()> = Result<T, HandleError>;

/// One document to create: its path, its text and who may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDocument {
    /// `folder/sub/name.txt`; folders are created as needed.
    pub path: String,
    /// Its whole content, plain UTF-8 text.
    pub text: String,
    /// Who may read it; empty means nobody (but the source's owner).
    pub readers: Vec<Reader>,
}

/// A source under test, and the means to change it. One handle serves one scenario: the
/// kit asks a [`SourceFactory`] for a fresh, empty source for each.
///
/// Paths are `/`-separated: folders, then the document's name. The kit never reuses a
/// path, and every text it writes is unique, so a handle may key its bookkeeping by either.
/// Every change must be visible to the connector's next listing when the call returns.
#[async_trait]
pub trait SourceHandle: Send + Sync {
    /// The connector under test, reading this source. The kit keeps it for the whole
    /// scenario (a connector may keep state across syncs, like a change journal).
    fn connector(&self) -> Arc<dyn Connector>;

    /// What the source can do.
    fn capabilities(&self) -> Capabilities;

    /// How the source's ACLs (and directory) name the kit's group `group`: the group id a
    /// connector emits in `Principal::Group`. The default is the name itself.
    fn group_id(&self, group: &str) -> String {
        group.to_string()
    }

    /// How many documents the kill-and-resume scenario creates: enough that a full listing
    /// emits at least two checkpoints before its end (the filesystem connector marks every
    /// 500 documents; an S3 listing every page).
    fn resume_scale(&self) -> usize {
        24
    }

    /// What the index holds of a kit document, in the kit's terms: `(title, text)` of the
    /// document `id` as the connector gave it. The default is the document as indexed.
    ///
    /// A source whose documents wrap the kit's text (a chat day with each message's
    /// author, time and permalink) takes off exactly what it added, and returns the
    /// document unchanged when it is not in the shape it expects, so that the kit reports
    /// the difference. It must read what was indexed, never answer what the kit expects.
    fn read_back(
        &self,
        id: &DocumentId,
        title: Option<&str>,
        text: &str,
    ) -> (Option<String>, String) {
        let _ = id;
        (title.map(str::to_string), text.to_string())
    }

    /// Creates a document.
    async fn add(&self, path: &str, text: &str, readers: &[Reader]) -> HandleResult;

    /// Creates many documents; the default adds them one by one.
    async fn add_many(&self, docs: &[NewDocument]) -> HandleResult {
        for doc in docs {
            self.add(&doc.path, &doc.text, &doc.readers).await?;
        }
        Ok(())
    }

    /// Replaces a document's content (its readers stay).
    async fn edit(&self, path: &str, text: &str) -> HandleResult;

    /// Deletes a document.
    async fn delete(&self, path: &str) -> HandleResult;

    /// Renames a document in its folder; `new_name` has no `/`. Content and readers stay.
    async fn rename(&self, path: &str, new_name: &str) -> HandleResult;

    /// Moves a document to `folder` (`archive/2025`, created if needed), keeping its name,
    /// content and readers.
    async fn move_to(&self, path: &str, folder: &str) -> HandleResult;

    /// Replaces who may read a document, without touching its content.
    async fn set_readers(&self, path: &str, readers: &[Reader]) -> HandleResult;

    /// Makes `user` (an email) a direct member of `group` in the source's directory.
    /// Only called when [`Capabilities::groups`] is [`Groups::Directory`].
    async fn add_to_group(&self, user: &str, group: &str) -> HandleResult {
        let _ = (user, group);
        Err(HandleError::unsupported(
            "the source has no group directory",
        ))
    }

    /// Removes `user` from `group` in the source's directory.
    async fn remove_from_group(&self, user: &str, group: &str) -> HandleResult {
        let _ = (user, group);
        Err(HandleError::unsupported(
            "the source has no group directory",
        ))
    }

    /// Makes group `child` a member of group `parent` in the source's directory.
    async fn nest_group(&self, child: &str, parent: &str) -> HandleResult {
        let _ = (child, parent);
        Err(HandleError::unsupported(
            "the source has no group directory",
        ))
    }

    /// Makes the source refuse every cursor the connector was given so far (Drive: page
    /// tokens expire), so that its next incremental listing must fail with
    /// `CursorExpired` (or list everything itself).
    async fn expire_cursor(&self) -> HandleResult {
        Err(HandleError::unsupported("the source has no change feed"))
    }

    /// Starts (`true`) or ends (`false`) a storm of transient faults: throttling (429 with
    /// `Retry-After`, 503), bursts of 500s, connection resets, bodies that break off or are
    /// cut short, and an access token that expires mid-run. Returns what it injects (when
    /// started) or what it did (when ended: how many requests it faulted), for the report. While it lasts, the connector must index nothing wrong; once it is over,
    /// the next sync must end exact.
    async fn fault_storm(&self, on: bool) -> HandleResult<String> {
        let _ = on;
        Err(HandleError::unsupported("the source cannot inject faults"))
    }

    /// Makes the source's server misbehave in this way (`Some`) or behave again (`None`).
    async fn misbehave(&self, kind: Option<Misbehavior>) -> HandleResult {
        let _ = kind;
        Err(HandleError::unsupported("the source cannot misbehave"))
    }
}

/// Makes a fresh, empty source for each scenario.
#[async_trait]
pub trait SourceFactory: Send + Sync {
    /// A new source for `scenario` (its name, for bucket names and logs).
    async fn create(&self, scenario: &str) -> HandleResult<Box<dyn SourceHandle>>;
}
