//! Full listings and change feeds.
//!
//! The corpus is split into **feeds**: each user's My Drive (the files that user owns, read
//! as that user through domain-wide delegation) and each shared drive (read as one of its
//! members). Every file belongs to exactly one feed — its owner's, or its drive's — so a
//! file shared with a hundred people is listed, fetched and indexed once, and a document id
//! names its feed: `my/<owner>/<fileId>`, `shared/<driveId>/<fileId>`. That also makes the
//! feeds' deletions safe in any order: a user's feed reports `removed` for files the user
//! merely lost access to, and deleting `my/<that user>/<fileId>` removes nothing when the
//! user never owned it.
//!
//! A full listing first takes every feed's `changes.getStartPageToken` (so that nothing
//! changed during the listing is missed; manage-changes guide), emits them as checkpoint
//! partitions `user:<email>` / `drive:<id>`, then lists feed after feed, page after page;
//! the `listing` partition says where to resume. An incremental run reads each feed's
//! `changes.list` from its token, and lists in full the feeds that are new (a new user, a
//! new shared drive). A shared drive's cursor also holds a fingerprint of its members: when
//! they changed, the drive is listed again before its changes are read, since every item's
//! ACL holds them and the drive's change log says nothing of it. A feed that disappeared
//! (a user gone from the directory, a shared drive removed) cannot say which documents it
//! had: the run goes on as a full listing, whose sweep deletes them behind the mass-delete
//! guard. Files the path or MIME filters leave out are skipped by a listing (its sweep
//! deletes them) and deleted by a change (a move or a folder's rename took them out).

use std::collections::HashSet;

use connector_sdk::feed::{Out, retrying};
use connector_sdk::{Change, ConnectorError, ErrorKind, SourceCheckpoint};
use futures::StreamExt;

use crate::Inner;
use crate::wire::{self, File};

/// What `emit_files` does with a file the filters (paths, MIME types) leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeftOut {
    /// Nothing: a full listing's sweep deletes what it did not list.
    Skip,
    /// Deletes it: a change may have taken an indexed file out of the filters (moved it,
    /// renamed a folder above it), and no sweep follows a change feed.
    Delete,
}

/// The partition of the full listing's resume position.
const LISTING: &str = "listing";

/// One feed of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Feed {
    /// The My Drive of this user (their owned files).
    User(String),
    /// A shared drive, read as `reader`; `members` fingerprints its membership.
    Drive {
        id: String,
        name: String,
        reader: String,
        members: String,
    },
}

impl Feed {
    /// Its checkpoint partition.
    pub(crate) fn partition(&self) -> String {
        match self {
            Feed::User(email) => format!("user:{email}"),
            Feed::Drive { id, .. } => format!("drive:{id}"),
        }
    }

    /// The user the API is called as.
    pub(crate) fn reader(&self) -> &str {
        match self {
            Feed::User(email) => email,
            Feed::Drive { reader, .. } => reader,
        }
    }

    /// The shared drive, for drive feeds.
    pub(crate) fn drive_id(&self) -> Option<&str> {
        match self {
            Feed::User(_) => None,
            Feed::Drive { id, .. } => Some(id),
        }
    }

    /// The document id of `file_id` in this feed.
    pub(crate) fn doc_id(&self, file_id: &str) -> String {
        match self {
            Feed::User(email) => format!("my/{email}/{file_id}"),
            Feed::Drive { id, .. } => format!("shared/{id}/{file_id}"),
        }
    }

    /// The first segment of a path in this feed (`My Drive of ann@…`, the drive's name).
    pub(crate) fn root_name(&self) -> String {
        match self {
            Feed::User(email) => format!("My Drive of {email}"),
            Feed::Drive { name, .. } => name.clone(),
        }
    }
}

/// Where a full listing resumes: the feed and the page token of its next page (`None`
/// when the feed is done).
fn parse_listing(cursor: &str) -> Option<(&str, Option<&str>)> {
    let (feed, page) = cursor.split_once('\t')?;
    Some((feed, (page != "done").then_some(page)))
}

fn listing_cursor(feed: &Feed, page: Option<&str>) -> String {
    format!("{}\t{}", feed.partition(), page.unwrap_or("done"))
}

/// A drive feed's cursor carries the member it is read as and the fingerprint of its
/// membership: `<reader>\t<pageToken>\t<members>`.
fn feed_cursor(feed: &Feed, token: &str) -> String {
    match feed {
        Feed::User(_) => token.to_string(),
        Feed::Drive {
            reader, members, ..
        } => format!("{reader}\t{token}\t{members}"),
    }
}

/// A feed cursor's page token, and for a drive the membership fingerprint it was taken
/// with (`None` in cursors written before the fingerprint was).
fn parse_feed_cursor<'a>(feed: &Feed, cursor: &'a str) -> (&'a str, Option<&'a str>) {
    match feed {
        Feed::User(_) => (cursor, None),
        Feed::Drive { .. } => {
            let mut parts = cursor.splitn(3, '\t');
            let (_reader, token, members) = (parts.next(), parts.next(), parts.next());
            (token.unwrap_or(cursor), members)
        }
    }
}

impl Inner {
    /// The feeds as the directory and `drives.list` give them now, in a fixed order.
    /// A shared drive nobody of the domain can read is a listing error (sent, not fatal).
    async fn feeds(&self, out: &Out) -> Result<Vec<Feed>, ConnectorError> {
        let mut feeds = Vec::new();
        if self.config.my_drives {
            for email in retrying(out, || self.api.users()).await? {
                if self.wants_user(&email) {
                    feeds.push(Feed::User(email));
                }
            }
        }
        if self.config.shared_drives {
            for drive in retrying(out, || self.api.drives()).await? {
                if !self.wants_drive(&drive) {
                    continue;
                }
                let access = retrying(out, || self.api.drive_access(&drive.id)).await?;
                match access.reader {
                    Some(reader) => feeds.push(Feed::Drive {
                        id: drive.id,
                        name: drive.name,
                        reader,
                        members: access.members,
                    }),
                    None => {
                        let e = ConnectorError::new(
                            ErrorKind::Permanent,
                            format!(
                                "shared drive {:?} ({}) has no member in the directory to read it as",
                                drive.name, drive.id
                            ),
                        );
                        if !out.send(Err(e)).await {
                            return Ok(feeds);
                        }
                    }
                }
            }
        }
        Ok(feeds)
    }

    /// A full listing, resumed from `resume` if given.
    pub(crate) async fn full(
        &self,
        resume: Option<SourceCheckpoint>,
        out: &Out,
    ) -> Result<(), ConnectorError> {
        let resume = resume.unwrap_or_default();
        let feeds = self.feeds(out).await?;
        // Every feed's start token before any file is listed.
        for feed in &feeds {
            let partition = feed.partition();
            if resume.partitions().contains_key(&partition) {
                continue;
            }
            let token =
                retrying(out, || self.api.start_token(feed.reader(), feed.drive_id())).await?;
            if !out
                .checkpoint(&partition, Some(feed_cursor(feed, &token)))
                .await
            {
                return Ok(());
            }
        }
        let position = resume
            .partitions()
            .get(LISTING)
            .and_then(|c| parse_listing(c));
        let mut started = position.is_none();
        for feed in &feeds {
            let mut page = None;
            if !started {
                let Some((at, next)) = position else { break };
                if at != feed.partition() {
                    continue; // listed before the resume point
                }
                started = true;
                match next {
                    None => continue, // this feed was done
                    Some(token) => page = Some(token.to_string()),
                }
            }
            if !self.list_feed(feed, page, out).await? {
                return Ok(());
            }
        }
        if !started {
            // The feed the listing stopped in is gone: list everything again.
            return Err(ConnectorError::new(
                ErrorKind::CursorExpired,
                "the feed a resumed listing stopped in is gone",
            ));
        }
        if out.checkpoint(LISTING, None).await {
            out.send(Ok(Change::ListingComplete)).await;
        }
        Ok(())
    }

    /// Lists one feed from `page` (its first page when `None`); false if the engine stopped
    /// listening.
    async fn list_feed(
        &self,
        feed: &Feed,
        mut page: Option<String>,
        out: &Out,
    ) -> Result<bool, ConnectorError> {
        let mut paths = crate::paths::Paths::new(feed);
        loop {
            let list = retrying(out, || self.api.files_page(feed, page.as_deref())).await?;
            if list.incomplete_search {
                let e = ConnectorError::new(
                    ErrorKind::Transient,
                    format!(
                        "drive answered an incomplete search for {}",
                        feed.partition()
                    ),
                );
                if !out.send(Err(e)).await {
                    return Ok(false);
                }
            }
            let files: Vec<File> = list
                .files
                .into_iter()
                .filter(|f| f.mime_type != wire::FOLDER)
                .collect();
            if !self
                .emit_files(feed, files, &mut paths, LeftOut::Skip, out)
                .await?
            {
                return Ok(false);
            }
            let next = list.next_page_token.filter(|t| !t.is_empty());
            if next.is_some() && next == page {
                return Err(ConnectorError::new(
                    ErrorKind::InvalidResponse,
                    format!(
                        "files.list of {} returned the same page token again",
                        feed.partition()
                    ),
                ));
            }
            if !out
                .checkpoint(LISTING, Some(listing_cursor(feed, next.as_deref())))
                .await
            {
                return Ok(false);
            }
            match next {
                Some(next) => page = Some(next),
                None => return Ok(true),
            }
        }
    }

    /// Turns listed files into upserts, fetching permissions where the listing lacks them
    /// (shared-drive items), several at once, in order.
    async fn emit_files(
        &self,
        feed: &Feed,
        files: Vec<File>,
        paths: &mut crate::paths::Paths,
        left_out: LeftOut,
        out: &Out,
    ) -> Result<bool, ConnectorError> {
        let mut wanted = Vec::with_capacity(files.len());
        for file in files {
            let path = if self.needs_paths() {
                Some(paths.path_of(self, &file, out).await?)
            } else {
                None
            };
            if self.wants_file(&file, path.as_deref()) {
                wanted.push((file, path));
            } else if left_out == LeftOut::Delete
                && !out
                    .send(Ok(Change::Delete(feed.doc_id(&file.id).into())))
                    .await
            {
                return Ok(false);
            }
        }
        let docs = futures::stream::iter(wanted)
            .map(|(file, path)| async move {
                let permissions = match &file.permissions {
                    Some(p) => p.clone(),
                    None => retrying(out, || self.api.permissions(feed.reader(), &file.id)).await?,
                };
                Ok::<_, ConnectorError>(self.document(feed, &file, &permissions, path))
            })
            .buffered(self.config.concurrency.max(1));
        let mut docs = std::pin::pin!(docs);
        while let Some(doc) = docs.next().await {
            let item = doc.map(Change::Upsert);
            if !out.send(item).await {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// An incremental run from `since`.
    pub(crate) async fn incremental(
        &self,
        since: SourceCheckpoint,
        out: &Out,
    ) -> Result<(), ConnectorError> {
        let feeds = self.feeds(out).await?;
        let now: HashSet<String> = feeds.iter().map(Feed::partition).collect();
        connector_sdk::feed::refuse_vanished(&since, |p| now.contains(p), &[LISTING])?;
        for feed in &feeds {
            let partition = feed.partition();
            let Some(cursor) = since.partitions().get(&partition) else {
                // A new feed: its start token, then all of its files.
                let token =
                    retrying(out, || self.api.start_token(feed.reader(), feed.drive_id())).await?;
                if !self.list_feed(feed, None, out).await?
                    || !out
                        .checkpoint(&partition, Some(feed_cursor(feed, &token)))
                        .await
                {
                    return Ok(());
                }
                continue;
            };
            let (token, members) = parse_feed_cursor(feed, cursor);
            if let Feed::Drive { members: now, .. } = feed
                && members != Some(now.as_str())
                && !self.list_feed(feed, None, out).await?
            {
                // The drive's membership changed (or is not known from the last run):
                // every item's ACL holds it, and the drive's change log says nothing of
                // it, so every item is listed again. Unchanged content is not downloaded
                // again: the engine sees an ACL-only update. The cursor with the new
                // fingerprint is only written after this, by `follow_changes`.
                return Ok(());
            }
            if !self.follow_changes(feed, token.to_string(), out).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads one feed's changes from `token` to its new start token.
    async fn follow_changes(
        &self,
        feed: &Feed,
        mut token: String,
        out: &Out,
    ) -> Result<bool, ConnectorError> {
        let partition = feed.partition();
        loop {
            let page = retrying(out, || self.api.changes_page(feed, &token)).await?;
            for change in page.changes {
                if !self.apply_change(feed, change, out).await? {
                    return Ok(false);
                }
            }
            let next = match (page.next_page_token, page.new_start_page_token) {
                (Some(next), _) if !next.is_empty() => next,
                (_, Some(new_start)) => {
                    return Ok(out
                        .checkpoint(&partition, Some(feed_cursor(feed, &new_start)))
                        .await);
                }
                _ => {
                    return Err(ConnectorError::new(
                        ErrorKind::InvalidResponse,
                        format!("changes.list of {partition} ended without a new start page token"),
                    ));
                }
            };
            if next == token {
                return Err(ConnectorError::new(
                    ErrorKind::InvalidResponse,
                    format!("changes.list of {partition} returned the same page token again"),
                ));
            }
            if !out
                .checkpoint(&partition, Some(feed_cursor(feed, &next)))
                .await
            {
                return Ok(false);
            }
            token = next;
        }
    }

    /// One change of a feed: a deletion, an upsert, or a folder whose files are listed
    /// again (a folder's permissions, name or place reach every file under it).
    async fn apply_change(
        &self,
        feed: &Feed,
        change: wire::Change,
        out: &Out,
    ) -> Result<bool, ConnectorError> {
        if change.change_type == "drive" {
            return Ok(true); // shared drives come and go through `drives.list`
        }
        let file = match change.file {
            Some(file) if !change.removed => file,
            _ => {
                let Some(id) = change.file_id else {
                    return Ok(true);
                };
                return Ok(out.send(Ok(Change::Delete(feed.doc_id(&id).into()))).await);
            }
        };
        if file.mime_type == wire::FOLDER {
            return self.relist_folder(feed, &file, out).await;
        }
        if !self.belongs(feed, &file) {
            return Ok(out
                .send(Ok(Change::Delete(feed.doc_id(&file.id).into())))
                .await);
        }
        let mut paths = crate::paths::Paths::new(feed);
        self.emit_files(feed, vec![file], &mut paths, LeftOut::Delete, out)
            .await
    }

    /// Whether a listed file is this feed's: not trashed, and owned by the feed's user or
    /// in the feed's drive.
    fn belongs(&self, feed: &Feed, file: &File) -> bool {
        !file.trashed
            && match feed {
                Feed::User(_) => file.drive_id.is_none() && file.owned_by_me(),
                Feed::Drive { id, .. } => file.drive_id.as_deref() == Some(id.as_str()),
            }
    }

    /// Lists everything under a changed folder again, as changes of its feed.
    async fn relist_folder(
        &self,
        feed: &Feed,
        folder: &File,
        out: &Out,
    ) -> Result<bool, ConnectorError> {
        let mut pending = vec![folder.id.clone()];
        let mut seen: HashSet<String> = HashSet::new();
        let mut paths = crate::paths::Paths::new(feed);
        while let Some(parent) = pending.pop() {
            if !seen.insert(parent.clone()) {
                continue;
            }
            let mut page: Option<String> = None;
            loop {
                let list = retrying(out, || {
                    self.api.children_page(feed, &parent, page.as_deref())
                })
                .await?;
                let mut files = Vec::new();
                for child in list.files {
                    if child.mime_type == wire::FOLDER {
                        pending.push(child.id);
                    } else if self.belongs(feed, &child) {
                        files.push(child);
                    } else if !out
                        .send(Ok(Change::Delete(feed.doc_id(&child.id).into())))
                        .await
                    {
                        return Ok(false);
                    }
                }
                if !self
                    .emit_files(feed, files, &mut paths, LeftOut::Delete, out)
                    .await?
                {
                    return Ok(false);
                }
                match list.next_page_token.filter(|t| !t.is_empty()) {
                    Some(next) if Some(&next) != page.as_ref() => page = Some(next),
                    Some(_) => {
                        return Err(ConnectorError::new(
                            ErrorKind::InvalidResponse,
                            "files.list of a folder returned the same page token again",
                        ));
                    }
                    None => break,
                }
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_cursors_round_trip() {
        let feed = Feed::User("ann@example.com".into());
        let c = listing_cursor(&feed, Some("tok=+/"));
        assert_eq!(
            parse_listing(&c),
            Some(("user:ann@example.com", Some("tok=+/")))
        );
        let done = listing_cursor(&feed, None);
        assert_eq!(parse_listing(&done), Some(("user:ann@example.com", None)));
        assert_eq!(parse_listing("garbage"), None);
    }

    #[test]
    fn documents_are_named_by_their_feed() {
        let user = Feed::User("ann@example.com".into());
        let drive = Feed::Drive {
            id: "0AD".into(),
            name: "Legal".into(),
            reader: "bob@example.com".into(),
            members: "f00d".into(),
        };
        assert_eq!(user.doc_id("f1"), "my/ann@example.com/f1");
        assert_eq!(drive.doc_id("f1"), "shared/0AD/f1");
        assert_eq!(feed_cursor(&drive, "42"), "bob@example.com\t42\tf00d");
        assert_eq!(feed_cursor(&user, "42"), "42");
        assert_eq!(
            parse_feed_cursor(&drive, &feed_cursor(&drive, "42")),
            ("42", Some("f00d"))
        );
        // Cursors written before the fingerprint was: the membership is not known.
        assert_eq!(
            parse_feed_cursor(&drive, "bob@example.com\t42"),
            ("42", None)
        );
        assert_eq!(parse_feed_cursor(&user, "42"), ("42", None));
    }
}
