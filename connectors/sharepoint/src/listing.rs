//! Full listings and change feeds, one delta walk per document library.
//!
//! A library's delta walk (api/driveitem-delta) from no token enumerates every item and
//! ends with an `@odata.deltaLink`; from that link, it lists what changed since. So a full
//! listing walks every library in a fixed order (the `listing` partition holds the library
//! and the nextLink to resume from) and stores each library's deltaLink as its partition
//! `drive:<id>`; an incremental run walks each library from its deltaLink, checkpointing
//! every nextLink, and enumerates a library that is new in full. A library that disappeared
//! cannot say which documents it had: the run goes on as a full listing, whose sweep
//! deletes them behind the mass-delete guard. A `410 Gone` from a delta link is
//! `CursorExpired`: the engine lists everything again and diffs against its manifest.
//!
//! After the libraries, a full listing reads every list (`crate::lists`); its position is
//! then `list:<id>\tdone` in the `listing` partition.
//!
//! In a walk: the same item may come several times (the engine applies changes in stream
//! order, so the last wins); `deleted` items are deletions (Graph reports a deleted folder's
//! items one by one: "only delete a folder locally if it is empty after syncing all the
//! changes"); folders give paths. Every file a walk lists has its permissions read again,
//! and Graph lists every file whose effective permissions changed (see
//! [`crate::api::DELTA_PREFER`]): unchanged content is not downloaded again, the engine
//! sees ACL-only updates. A folder marked `@microsoft.graph.sharedChanged` also has
//! everything under it listed again, and with path globs so has any changed folder (a
//! rename or move may take files in or out of them). Where the tenant does not surface
//! sharing changes in delta, the full schedule (a permission sync) catches them.

use std::collections::HashSet;

use connector_sdk::feed::{self, Out, retrying};
use connector_sdk::{Change, ConnectorError, ErrorKind, SourceCheckpoint};
use futures::StreamExt;

use crate::Inner;
use crate::api::BATCH_LIMIT;
use crate::batch::Permissions;
use crate::lists::SiteList;
use crate::paths::Paths;
use crate::wire::{Drive, DriveItem, Site};

/// The partition of the full listing's resume position.
const LISTING: &str = "listing";

/// What the wanted sites hold.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub libraries: Vec<Library>,
    pub lists: Vec<SiteList>,
}

/// One document library of one site.
#[derive(Debug, Clone)]
pub(crate) struct Library {
    pub site: Site,
    pub drive: Drive,
}

impl Library {
    /// Its checkpoint partition.
    pub(crate) fn partition(&self) -> String {
        format!("drive:{}", self.drive.id)
    }

    /// The document id of an item of this library.
    pub(crate) fn doc_id(&self, item: &str) -> String {
        format!("{}/{item}", self.drive.id)
    }

    /// The first segments of its paths: `<site>/<library>`.
    pub(crate) fn root_path(&self) -> String {
        format!("{}/{}", self.site.path_name(), self.drive.name)
    }
}

/// What a walk is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Part of a full listing: resumable through the `listing` partition.
    Listing,
    /// A library new to an incremental run: enumerated whole, its deltaLink stored at
    /// the end.
    New,
    /// The changes since the library's deltaLink.
    Changes,
}

/// Where a delta page leads.
enum Next {
    /// More pages, from this link.
    Page(String),
    /// The walk is done; changes from now on come from this link.
    Done(String),
}

/// What `emit_files` does with a file the filters leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeftOut {
    /// Nothing: a full listing's sweep deletes what it did not list.
    Skip,
    /// Deletes it: a change may have taken an indexed file out of the filters.
    Delete,
}

fn parse_listing(cursor: &str) -> Option<(&str, Option<&str>)> {
    let (drive, link) = cursor.split_once('\t')?;
    Some((drive, (link != "done").then_some(link)))
}

fn listing_cursor(drive: &str, link: Option<&str>) -> String {
    format!("{drive}\t{}", link.unwrap_or("done"))
}

impl Inner {
    /// The libraries and lists of the wanted sites, in a fixed order. The Site Pages
    /// library is left out of the libraries: its files are the pages, which come from its
    /// list with their text.
    pub(crate) async fn catalog(&self, out: &Out) -> Result<Catalog, ConnectorError> {
        let mut sites = retrying(out, || self.api.sites()).await?;
        sites.retain(|s| self.wants_site(s));
        sites.sort_by(|a, b| a.id.cmp(&b.id));
        let mut catalog = Catalog::default();
        for site in sites {
            let mut drives = retrying(out, || self.api.drives(&site.id)).await?;
            drives.retain(|d| self.wants_library(d) && !d.is_site_pages());
            drives.sort_by(|a, b| a.id.cmp(&b.id));
            catalog
                .libraries
                .extend(drives.into_iter().map(|drive| Library {
                    site: site.clone(),
                    drive,
                }));
            catalog.lists.extend(self.site_lists(&site, out).await?);
        }
        Ok(catalog)
    }

    /// A full listing, resumed from `resume` if given: every library, then every list.
    pub(crate) async fn full(
        &self,
        resume: Option<SourceCheckpoint>,
        out: &Out,
    ) -> Result<(), ConnectorError> {
        let resume = resume.unwrap_or_default();
        let Catalog { libraries, lists } = self.catalog(out).await?;
        let position = resume
            .partitions()
            .get(LISTING)
            .and_then(|c| parse_listing(c));
        let mut started = position.is_none();
        for library in &libraries {
            let mut link = None;
            if !started {
                let Some((at, next)) = position else { break };
                if at != library.drive.id {
                    continue; // listed before the resume point
                }
                started = true;
                match next {
                    None => continue, // this library was done
                    Some(next) => link = Some(next.to_string()),
                }
            }
            if !self.walk(library, link, Walk::Listing, out).await? {
                return Ok(());
            }
        }
        for list in &lists {
            if !started {
                let Some((at, _)) = position else { break };
                started = at == list.partition();
                continue; // listed before the resume point, or the one it stopped after
            }
            if !self.sync_list(list, None, out).await?
                || !out
                    .checkpoint(LISTING, Some(listing_cursor(&list.partition(), None)))
                    .await
            {
                return Ok(());
            }
        }
        if !started {
            return Err(ConnectorError::new(
                ErrorKind::CursorExpired,
                "the library or list a resumed listing stopped in is gone",
            ));
        }
        if out.checkpoint(LISTING, None).await {
            out.change(Change::ListingComplete).await;
        }
        Ok(())
    }

    /// An incremental run from `since`.
    pub(crate) async fn incremental(
        &self,
        since: SourceCheckpoint,
        out: &Out,
    ) -> Result<(), ConnectorError> {
        let Catalog { libraries, lists } = self.catalog(out).await?;
        let now: HashSet<String> = libraries
            .iter()
            .map(Library::partition)
            .chain(lists.iter().map(SiteList::partition))
            .collect();
        feed::refuse_vanished(&since, |p| now.contains(p), &[LISTING])?;
        for library in &libraries {
            let walked = match since.partitions().get(&library.partition()) {
                Some(link) => {
                    self.walk(library, Some(link.clone()), Walk::Changes, out)
                        .await?
                }
                None => self.walk(library, None, Walk::New, out).await?,
            };
            if !walked {
                return Ok(());
            }
        }
        for list in &lists {
            let before = since.partitions().get(&list.partition());
            if !self
                .sync_list(list, before.map(String::as_str), out)
                .await?
            {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Walks one library's delta from `link` (a fresh enumeration when `None`) to its
    /// deltaLink; false if the engine stopped listening.
    async fn walk(
        &self,
        library: &Library,
        link: Option<String>,
        walk: Walk,
        out: &Out,
    ) -> Result<bool, ConnectorError> {
        let resumed = link.is_some();
        let mut url = link.unwrap_or_else(|| self.api.delta_url(&library.drive.id));
        let mut paths = Paths::default();
        let left_out = match walk {
            Walk::Listing | Walk::New => LeftOut::Skip,
            Walk::Changes => LeftOut::Delete,
        };
        loop {
            let page = match retrying(out, || self.api.delta_page(&url)).await {
                // A stored link that leads nowhere (Graph answers an expired token with
                // 410, but a link a misbehaving page handed out, or one of a library that
                // was replaced, is a 404): list everything again rather than fail forever.
                Err(e) if resumed && e.kind == ErrorKind::NotFound => {
                    return Err(ConnectorError::new(
                        ErrorKind::CursorExpired,
                        format!(
                            "the delta link of library {} no longer works ({})",
                            library.drive.id, e.message
                        ),
                    ));
                }
                other => other?,
            };
            let next = match (page.next_link, page.delta_link) {
                (Some(next), _) if next == url => {
                    return Err(ConnectorError::new(
                        ErrorKind::InvalidResponse,
                        format!(
                            "the delta of library {} returned the same link again",
                            library.drive.id
                        ),
                    ));
                }
                (Some(next), _) => Next::Page(next),
                (None, Some(delta)) => Next::Done(delta),
                (None, None) => {
                    return Err(ConnectorError::new(
                        ErrorKind::InvalidResponse,
                        format!(
                            "the delta of library {} ended without a deltaLink",
                            library.drive.id
                        ),
                    ));
                }
            };
            // The page is sound: a resumed walk may start from it (its items come again,
            // and the last of each wins). A link is stored only once it has answered with
            // a sound page, so that a bad link handed out by a misbehaving page never
            // becomes the cursor.
            let position = match walk {
                Walk::Listing => Some((
                    LISTING.to_string(),
                    listing_cursor(&library.drive.id, Some(&url)),
                )),
                Walk::Changes => Some((library.partition(), url.clone())),
                Walk::New => None,
            };
            if let Some((partition, cursor)) = position
                && !out.checkpoint(&partition, Some(cursor)).await
            {
                return Ok(false);
            }
            let mut files = Vec::new();
            let mut relist = Vec::new();
            for item in page.value {
                if item.is_deleted() {
                    // Only a change feed deletes; a folder's id names no document.
                    if walk == Walk::Changes
                        && !out
                            .change(Change::Delete(library.doc_id(&item.id).into()))
                            .await
                    {
                        return Ok(false);
                    }
                } else if item.is_folder() {
                    paths.learn(&item);
                    if walk == Walk::Changes
                        && (item.sharing_changed() || (self.needs_paths() && item.root.is_none()))
                    {
                        relist.push(item.id.clone());
                    }
                } else if item.file.is_some() {
                    files.push(item);
                }
            }
            if !self
                .emit_files(library, files, &mut paths, left_out, out)
                .await?
            {
                return Ok(false);
            }
            for folder in relist {
                if !self
                    .relist_folder(library, &folder, &mut paths, out)
                    .await?
                {
                    return Ok(false);
                }
            }
            match next {
                Next::Page(next) => url = next,
                Next::Done(delta) => {
                    if !out.checkpoint(&library.partition(), Some(delta)).await {
                        return Ok(false);
                    }
                    return Ok(walk != Walk::Listing
                        || out
                            .checkpoint(LISTING, Some(listing_cursor(&library.drive.id, None)))
                            .await);
                }
            }
        }
    }

    /// Turns listed files into upserts with their permissions, read in batches, several
    /// batches at once, in order.
    pub(crate) async fn emit_files(
        &self,
        library: &Library,
        files: Vec<DriveItem>,
        paths: &mut Paths,
        left_out: LeftOut,
        out: &Out,
    ) -> Result<bool, ConnectorError> {
        let mut wanted = Vec::with_capacity(files.len());
        for file in files {
            let path = paths.path_of(self, library, &file, out).await?;
            if self.wants_file(library, &file, &path) {
                wanted.push((file, path));
            } else if left_out == LeftOut::Delete
                && !out
                    .change(Change::Delete(library.doc_id(&file.id).into()))
                    .await
            {
                return Ok(false);
            }
        }
        let mut chunks = Vec::new();
        let mut rest = wanted.into_iter().peekable();
        while rest.peek().is_some() {
            chunks.push(rest.by_ref().take(BATCH_LIMIT).collect::<Vec<_>>());
        }
        let batches = futures::stream::iter(chunks)
            .map(|chunk| async move {
                let ids: Vec<&str> = chunk.iter().map(|(f, _)| f.id.as_str()).collect();
                let permissions = self.batch_permissions(&library.drive.id, &ids, out).await?;
                Ok::<_, ConnectorError>(
                    chunk
                        .into_iter()
                        .zip(permissions)
                        .filter_map(|((file, path), p)| match p {
                            Permissions::Read(p) => {
                                Some(self.document(library, &file, Some(&p), &path))
                            }
                            Permissions::Unread => Some(self.document(library, &file, None, &path)),
                            Permissions::Gone => None,
                        })
                        .collect::<Vec<_>>(),
                )
            })
            .buffered(self.config.concurrency.max(1));
        let mut batches = std::pin::pin!(batches);
        while let Some(docs) = batches.next().await {
            for doc in docs? {
                if !out.change(Change::Upsert(doc)).await {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Lists everything under a changed folder again, as changes.
    async fn relist_folder(
        &self,
        library: &Library,
        folder: &str,
        paths: &mut Paths,
        out: &Out,
    ) -> Result<bool, ConnectorError> {
        let drive = &library.drive.id;
        let mut pending = vec![folder.to_string()];
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(parent) = pending.pop() {
            if !seen.insert(parent.clone()) {
                continue;
            }
            let mut link: Option<String> = None;
            loop {
                let page = retrying(out, || {
                    self.api.children_page(drive, &parent, link.as_deref())
                })
                .await?;
                let mut files = Vec::new();
                for child in page.value {
                    if child.is_folder() {
                        paths.learn(&child);
                        pending.push(child.id);
                    } else if child.file.is_some() {
                        files.push(child);
                    }
                }
                if !self
                    .emit_files(library, files, paths, LeftOut::Delete, out)
                    .await?
                {
                    return Ok(false);
                }
                match feed::next_page(link.take(), page.next_link, "children")? {
                    Some(next) => link = Some(next),
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
        let c = listing_cursor(
            "b!x",
            Some("https://graph/v1.0/drives/b!x/root/delta?token=a\tb"),
        );
        assert_eq!(
            parse_listing(&c),
            Some((
                "b!x",
                Some("https://graph/v1.0/drives/b!x/root/delta?token=a\tb")
            ))
        );
        assert_eq!(
            parse_listing(&listing_cursor("b!x", None)),
            Some(("b!x", None))
        );
        assert_eq!(parse_listing("garbage"), None);
    }
}
