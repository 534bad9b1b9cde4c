//! The reference sync: a small model of the engine, strict about the contract in
//! `docs/connector-spec.md`, that the scenarios drive a connector with.
//!
//! It keeps what the engine keeps — a manifest (document → version, listed ACL, resolved
//! ACL, title, text), the checkpoint for the next incremental run, an unfinished full
//! listing (its checkpoint and what it saw, across resumed runs), the retry list and the
//! source's directory — and applies a stream with the engine's semantics: fetch only when
//! the version changed; an ACL-only change rewrites the ACL without a fetch; a checkpoint is
//! kept once the documents before it are (here: at once, items are applied one by one);
//! sweep only after `ListingComplete` in a listing that hit no error; `RateLimited` pauses
//! and polls again; `CursorExpired` in an incremental listing goes on with `full(None)`;
//! `Unauthorized` and `CursorExpired` stop a listing. It counts every `fetch` and `resolve`
//! per document, and notes every breach of the contract it can see in a stream.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::identity;
use super::run::{Kill, Mode, Run, StreamError};
use crate::{
    Acl, Change, ChangeStream, Connector, ConnectorError, Content, DocumentId, ErrorKind, Limits,
    Membership, RemoteDocument, SourceCheckpoint, SyncContext, read_bounded,
};

/// How many times a `fetch` or `resolve` answered `RateLimited` is called again, as the
/// engine does.
const RATE_LIMITED_CALLS: u32 = 10;

/// How many times a `fetch` whose body breaks off while being read is called, as the
/// engine does (a connector's HTTP retries end once it hands the stream over).
const BROKEN_BODY_CALLS: u32 = 3;

/// Limits of the reference sync.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// The longest pause a `RateLimited` gets (the engine's `max_rate_limit_pause_secs`,
    /// shorter here so a scenario does not wait minutes).
    pub max_pause: Duration,
    /// The deadline of one `fetch` (the engine's `fetch_timeout_secs`).
    pub fetch_timeout: Duration,
    /// The largest document read.
    pub max_document_bytes: u64,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            max_pause: Duration::from_secs(1),
            fetch_timeout: Duration::from_secs(30),
            max_document_bytes: Limits::default().max_document_bytes,
        }
    }
}

/// One document as the reference sync indexed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The version indexed.
    pub version: String,
    /// The ACL as listed (compared with the next listing's); `None` when unsettled (a
    /// failure left it), so the next listing rewrites it.
    pub listed_acl: Option<Acl>,
    /// The ACL in force (after `resolve`).
    pub acl: Acl,
    /// The title (after `resolve`).
    pub title: Option<String>,
    /// The text: the fetched bytes as UTF-8 (lossy), or the inline content.
    pub text: String,
}

/// An unfinished full listing.
#[derive(Debug, Clone, Default)]
struct Listing {
    checkpoint: SourceCheckpoint,
    seen: BTreeSet<DocumentId>,
}

/// What ended one pass over a stream.
enum End {
    Finished,
    Killed,
}

/// The reference sync over one connector. See the module documentation.
pub struct ReferenceSync {
    connector: Arc<dyn Connector>,
    cx: SyncContext,
    options: ModelOptions,
    manifest: BTreeMap<DocumentId, Entry>,
    checkpoint: Option<SourceCheckpoint>,
    listing: Option<Listing>,
    retry: BTreeMap<DocumentId, RemoteDocument>,
    directory: Vec<Membership>,
    extra_memberships: Vec<Membership>,
    runs: u64,
}

impl std::fmt::Debug for ReferenceSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceSync")
            .field("connector", &self.connector.kind())
            .field("documents", &self.manifest.len())
            .field("checkpoint", &self.checkpoint)
            .finish_non_exhaustive()
    }
}

impl ReferenceSync {
    /// A reference sync with an empty manifest over `connector`.
    pub fn new(connector: Arc<dyn Connector>, options: ModelOptions) -> Self {
        let cx = SyncContext {
            source_id: "conformance".into(),
            run_id: "0".into(),
            limits: Limits {
                max_document_bytes: options.max_document_bytes,
            },
        };
        ReferenceSync {
            connector,
            cx,
            options,
            manifest: BTreeMap::new(),
            checkpoint: None,
            listing: None,
            retry: BTreeMap::new(),
            directory: Vec::new(),
            extra_memberships: Vec::new(),
            runs: 0,
        }
    }

    /// The connector's context for calls outside a run (`check`).
    pub fn context(&self) -> &SyncContext {
        &self.cx
    }

    /// The manifest: every document indexed.
    pub fn documents(&self) -> &BTreeMap<DocumentId, Entry> {
        &self.manifest
    }

    /// The checkpoint the next incremental run starts from.
    pub fn checkpoint(&self) -> Option<&SourceCheckpoint> {
        self.checkpoint.as_ref()
    }

    /// The checkpoint of the unfinished full listing the next run resumes, if any.
    pub fn resumable(&self) -> Option<&SourceCheckpoint> {
        self.listing.as_ref().map(|l| &l.checkpoint)
    }

    /// Memberships the engine knows from elsewhere (the identities file).
    pub fn set_extra_memberships(&mut self, facts: Vec<Membership>) {
        self.extra_memberships = facts;
    }

    /// Every membership fact in force: the last complete identity sync's and the extra ones.
    pub fn memberships(&self) -> Vec<Membership> {
        let mut all = self.directory.clone();
        all.extend(self.extra_memberships.iter().cloned());
        all
    }

    /// The (title, text) of every document `email` may read, sorted.
    pub fn visible(&self, email: &str) -> Vec<(Option<String>, String)> {
        let mut out: Vec<(Option<String>, String)> = self
            .readable(email)
            .map(|(_, e)| (e.title.clone(), e.text.clone()))
            .collect();
        out.sort();
        out
    }

    /// Every document `email` may read, in id order.
    pub fn readable<'a>(
        &'a self,
        email: &str,
    ) -> impl Iterator<Item = (&'a DocumentId, &'a Entry)> + 'a {
        let principals = identity::principals(&self.memberships(), email);
        self.manifest
            .iter()
            .filter(move |(_, e)| identity::admits(&e.acl, &principals))
    }

    /// Crawls the source's directory; replaces the facts only when the stream ends without
    /// an error (`RateLimited` pauses and polls again). Returns the error that kept the old
    /// facts, if any.
    pub async fn sync_identities(&mut self) -> Option<StreamError> {
        let connector = Arc::clone(&self.connector);
        let cx = self.cx.clone();
        let mut stream = connector.identities(&cx);
        let mut facts = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(fact) => facts.push(fact),
                Err(e) => {
                    if let ErrorKind::RateLimited { retry_after } = e.kind {
                        self.pause(retry_after).await;
                        continue;
                    }
                    return Some(StreamError {
                        kind: e.kind,
                        message: e.message,
                    });
                }
            }
        }
        self.directory = facts;
        None
    }

    /// One run, as the engine chooses it: the unfinished full listing resumed, else an
    /// incremental one from the checkpoint, else a full one.
    pub async fn sync(&mut self) -> Run {
        self.sync_with(Kill::Never).await
    }

    /// [`Self::sync`], killed at `kill`.
    pub async fn sync_with(&mut self, kill: Kill) -> Run {
        let mode = if self.listing.is_some() {
            Mode::FullResumed
        } else if self.checkpoint.is_some() {
            Mode::Incremental
        } else {
            Mode::Full
        };
        self.run(mode, kill).await
    }

    /// A full run from scratch (`tributary sync --full`).
    pub async fn sync_full(&mut self) -> Run {
        self.listing = None;
        self.run(Mode::Full, Kill::Never).await
    }

    async fn run(&mut self, mode: Mode, kill: Kill) -> Run {
        self.runs += 1;
        self.cx.run_id = self.runs.to_string();
        let mut run = Run {
            mode: Some(mode),
            ..Run::default()
        };
        let mut end = self.listen(mode, kill, &mut run).await;
        if run.cursor_expired && !matches!(end, End::Killed) {
            // The feed no longer knows the cursor: everything it applied stands; list
            // everything in the same run and sweep at its end (the errors before the
            // expiry no longer keep the sweep from happening, as in the engine).
            run.listing_complete = false;
            end = self.listen(Mode::Full, kill, &mut run).await;
        }
        if matches!(end, End::Killed) {
            run.killed = true;
        }
        run
    }

    /// One listing in `mode`; settles it (sweep, checkpoint) unless it was killed.
    async fn listen(&mut self, mode: Mode, kill: Kill, run: &mut Run) -> End {
        let connector = Arc::clone(&self.connector);
        let cx = self.cx.clone();
        let mut checkpoint = match mode {
            Mode::Full => {
                self.listing = Some(Listing::default());
                SourceCheckpoint::default()
            }
            Mode::FullResumed => self
                .listing
                .get_or_insert_with(Listing::default)
                .checkpoint
                .clone(),
            Mode::Incremental => self.checkpoint.clone().unwrap_or_default(),
        };
        let start = checkpoint.clone();
        let stream: ChangeStream<'_> = match mode {
            Mode::Full => connector.full(&cx, None),
            Mode::FullResumed => connector.full(&cx, Some(&start)),
            Mode::Incremental => connector.incremental(&cx, &start),
        };
        let mut stream = std::pin::pin!(stream);
        let mut seen_now: BTreeSet<DocumentId> = BTreeSet::new();
        let mut errors_before = run.errors.len();
        let (mut complete, mut stopped) = (false, false);
        let (mut items, mut upserts, mut marked) = (0usize, 0usize, None::<usize>);
        while let Some(item) = stream.next().await {
            items += 1;
            match item {
                Err(e) => {
                    if let ErrorKind::RateLimited { retry_after } = e.kind {
                        run.rate_limited += 1;
                        self.pause(retry_after).await;
                        continue;
                    }
                    let fatal = e.kind.is_fatal_for_listing();
                    if e.kind == ErrorKind::CursorExpired && mode == Mode::Incremental {
                        run.cursor_expired = true;
                        run.errors.push(stream_error(e));
                        errors_before = run.errors.len();
                        break;
                    }
                    run.errors.push(stream_error(e));
                    if fatal {
                        stopped = true;
                        break;
                    }
                }
                Ok(Change::Upsert(doc)) => {
                    upserts += 1;
                    run.listed.push(doc.id.clone());
                    seen_now.insert(doc.id.clone());
                    if let Some(listing) =
                        self.listing.as_mut().filter(|_| mode != Mode::Incremental)
                    {
                        listing.seen.insert(doc.id.clone());
                    }
                    self.upsert(doc, run).await;
                }
                Ok(Change::Delete(id)) => {
                    if self.manifest.remove(&id).is_some() {
                        run.deleted.push(id.clone());
                    }
                    self.retry.remove(&id);
                }
                Ok(Change::Permissions { id, acl }) => {
                    seen_now.insert(id.clone());
                    if let Some(listing) =
                        self.listing.as_mut().filter(|_| mode != Mode::Incremental)
                    {
                        listing.seen.insert(id.clone());
                    }
                    if let Some(entry) = self.manifest.get_mut(&id)
                        && entry.listed_acl.as_ref() != Some(&acl)
                    {
                        entry.acl = acl.clone();
                        entry.listed_acl = Some(acl);
                        run.acl_updated.push(id);
                    }
                }
                Ok(Change::Checkpoint { partition, cursor }) => {
                    checkpoint.set(&partition, cursor);
                    run.checkpoints += 1;
                    run.listed_at_checkpoint = run.listed.len();
                    match (mode, self.listing.as_mut()) {
                        (Mode::Incremental, _) | (_, None) => {
                            self.checkpoint = Some(checkpoint.clone());
                        }
                        (_, Some(listing)) => listing.checkpoint = checkpoint.clone(),
                    }
                    if upserts > 0 && marked.is_none() {
                        marked = Some(upserts);
                    }
                }
                Ok(Change::ListingComplete) => {
                    if let Some(e) = run.errors[errors_before..].first() {
                        run.violations.push(format!(
                            "ListingComplete after the listing error {:?} ({}): a listing \
                             that hit an error did not list everything",
                            e.message,
                            e.kind.as_str()
                        ));
                    }
                    complete = true;
                    run.listing_complete = true;
                }
            }
            let killed = match kill {
                Kill::Never => false,
                Kill::AfterItems(n) => items >= n,
                Kill::AfterCheckpoint { then } => marked.is_some_and(|m| upserts >= m + then),
            };
            if killed && !complete {
                return End::Killed;
            }
        }
        let failed = run.errors.len() > errors_before;
        if run.cursor_expired && mode == Mode::Incremental {
            return End::Finished;
        }
        if complete && !failed {
            let seen = match mode {
                Mode::Incremental => seen_now.clone(),
                Mode::Full | Mode::FullResumed => {
                    self.listing.take().map(|l| l.seen).unwrap_or_default()
                }
            };
            let doomed: Vec<DocumentId> = self
                .manifest
                .keys()
                .filter(|id| !seen.contains(*id))
                .cloned()
                .collect();
            for id in doomed {
                self.manifest.remove(&id);
                self.retry.remove(&id);
                run.swept.push(id);
            }
            self.retry.retain(|id, _| seen.contains(id));
            self.checkpoint = Some(checkpoint);
            if mode == Mode::FullResumed {
                // What failed before the checkpoint this listing resumed from is not named
                // again: it is fetched now, as after a change feed.
                self.fetch_retries(&seen_now, run).await;
            }
        } else if mode == Mode::Incremental && !complete && !stopped {
            // A change feed: what failed before and was not named again is fetched now (not
            // after an error that stopped the listing).
            self.fetch_retries(&seen_now, run).await;
        } else if !complete && !failed && mode != Mode::Incremental {
            run.violations.push(
                "a full listing ended without ListingComplete and without an error: an \
                 incomplete listing must say why"
                    .into(),
            );
        }
        End::Finished
    }

    /// Fetches the documents on the retry list that this run did not name.
    async fn fetch_retries(&mut self, seen_now: &BTreeSet<DocumentId>, run: &mut Run) {
        let due: Vec<RemoteDocument> = self
            .retry
            .values()
            .filter(|d| !seen_now.contains(&d.id))
            .cloned()
            .collect();
        for doc in due {
            self.upsert(doc, run).await;
        }
    }

    /// Applies one listed document: unchanged, an ACL rewrite, or resolve + fetch.
    async fn upsert(&mut self, listed: RemoteDocument, run: &mut Run) {
        let id = listed.id.clone();
        if let Some(entry) = self.manifest.get(&id)
            && entry.version == listed.version
        {
            if entry.listed_acl.as_ref() == Some(&listed.acl) {
                return;
            }
            let mut doc = listed.clone();
            let resolved = self.resolve(&mut doc, run).await;
            if let Some(entry) = self.manifest.get_mut(&id) {
                match resolved {
                    Ok(()) => {
                        entry.acl = doc.acl;
                        entry.listed_acl = Some(listed.acl);
                        run.acl_updated.push(id);
                    }
                    Err(e) => {
                        entry.acl = Acl::default();
                        entry.listed_acl = None;
                        run.failed.push((id.clone(), e.kind, e.message));
                        self.retry.insert(id, listed);
                    }
                }
            }
            return;
        }
        let mut doc = listed.clone();
        if let Err(e) = self.resolve(&mut doc, run).await {
            if let Some(entry) = self.manifest.get_mut(&id) {
                // Hidden: the resolved ACL could have been stricter than the old one.
                entry.acl = Acl::default();
                entry.listed_acl = None;
            }
            run.failed.push((id.clone(), e.kind, e.message));
            self.retry.insert(id, listed);
            return;
        }
        let text = match &doc.content {
            Content::Inline(text) => {
                // Taken from the listing, but read and indexed all the same: it counts as
                // a fetch, so that "nothing changed, nothing read" holds for inline
                // documents too.
                run.fetched.push(doc.id.clone());
                Ok(text.clone())
            }
            Content::Fetch => self.fetch(&doc, run).await,
        };
        match text {
            Ok(text) => {
                self.retry.remove(&id);
                self.manifest.insert(
                    id,
                    Entry {
                        version: listed.version.clone(),
                        listed_acl: Some(listed.acl),
                        acl: doc.acl,
                        title: doc.title,
                        text,
                    },
                );
            }
            Err(e) => {
                if let Some(entry) = self.manifest.get_mut(&id) {
                    // The old text stays, under the ACL this run listed.
                    entry.acl = doc.acl;
                    entry.listed_acl = None;
                }
                if e.kind != ErrorKind::TooLarge {
                    self.retry.insert(id.clone(), listed);
                }
                run.failed.push((id, e.kind, e.message));
            }
        }
    }

    async fn resolve(&self, doc: &mut RemoteDocument, run: &mut Run) -> Result<(), ConnectorError> {
        let mut calls = 0;
        loop {
            calls += 1;
            run.resolved.push(doc.id.clone());
            match self.connector.resolve(&self.cx, doc).await {
                Ok(_) => return Ok(()),
                Err(ConnectorError {
                    kind: ErrorKind::RateLimited { retry_after },
                    ..
                }) if calls < RATE_LIMITED_CALLS => {
                    run.rate_limited += 1;
                    self.pause(retry_after).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Fetches as the engine does: again after `RateLimited` (with a pause), and again
    /// when the body breaks off while being read (`Transient`), up to
    /// [`BROKEN_BODY_CALLS`] calls.
    async fn fetch(&self, doc: &RemoteDocument, run: &mut Run) -> Result<String, ConnectorError> {
        let mut calls = 0;
        let mut broken = 0;
        loop {
            calls += 1;
            run.fetched.push(doc.id.clone());
            let read = async {
                let stream = self.connector.fetch(&self.cx, doc).await;
                let stream = stream.map_err(|e| (e, false))?;
                read_bounded(stream, self.options.max_document_bytes)
                    .await
                    .map_err(|e| (e, true))
            };
            let result = match tokio::time::timeout(self.options.fetch_timeout, read).await {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err((e, true)))
                    if e.kind == ErrorKind::Transient && broken + 1 < BROKEN_BODY_CALLS =>
                {
                    broken += 1;
                    continue;
                }
                Ok(Err((e, _))) => Err(e),
                Err(_) => Err(ConnectorError::new(
                    ErrorKind::Timeout,
                    format!(
                        "fetch {} took longer than {:?}",
                        doc.id, self.options.fetch_timeout
                    ),
                )),
            };
            match result {
                Ok(bytes) => return Ok(String::from_utf8_lossy(&bytes).into_owned()),
                Err(ConnectorError {
                    kind: ErrorKind::RateLimited { retry_after },
                    ..
                }) if calls < RATE_LIMITED_CALLS => {
                    run.rate_limited += 1;
                    self.pause(retry_after).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn pause(&self, retry_after: Option<Duration>) {
        let wait = retry_after
            .unwrap_or(Duration::from_secs(5))
            .min(self.options.max_pause);
        tokio::time::sleep(wait).await;
    }
}

fn stream_error(e: ConnectorError) -> StreamError {
    StreamError {
        kind: e.kind,
        message: e.message,
    }
}
