//! Lists and site pages: the items of a site's lists (announcements, tasks, custom lists)
//! with their attachments, and the pages of its Site Pages library.
//!
//! Graph lists a list's items with their fields (`$expand=fields`); the text of an item is
//! its fields, of a page its canvas, both rendered to HTML here (`render.rs`) and handed
//! to the engine inline. Attachments are fetched through SharePoint REST. Permissions are
//! SharePoint role assignments (`roles.rs`), read once per list per run: the list's
//! effective ACL, and each item's own where it has unique permissions.
//!
//! Every run reads each list whole: lists are small next to libraries, and an item's
//! permissions can change without its modification time moving, so every item is upserted
//! with its current ACL (the engine compares versions and fetches nothing unchanged). What
//! the modification time decides is what is read again: an item's attachments are listed
//! again only when the item changed since the last run, or was modified within the
//! overlap window (`modified_overlap_secs`) before the newest change that run saw.
//! Deletions are found by reconciling the item ids and attachment names of the last run
//! (`cursor.rs`, the partition `list:<id>`) with this run's.

pub(crate) mod api;
mod cursor;
mod render;
mod roles;
pub(crate) mod wire;

use connector_sdk::feed::{Out, next_page, retrying};
use connector_sdk::{Acl, Change, ConnectorError, Content, ErrorKind, RemoteDocument};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{ACL_UNREAD, Inner};
use api::Object;
use cursor::{Attached, ListCursor};
use wire::{List, ListItem};

/// The metadata key of a document's kind.
pub(crate) const KIND: &str = "kind";
/// A list item's kind.
pub(crate) const LIST_ITEM: &str = "list_item";
/// A site page's kind.
pub(crate) const PAGE: &str = "page";
/// An attachment's kind.
pub(crate) const ATTACHMENT: &str = "attachment";

/// What a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holds {
    Items,
    Pages,
}

/// One list of one site.
#[derive(Debug, Clone)]
pub(crate) struct SiteList {
    pub site: crate::wire::Site,
    pub list: List,
    pub holds: Holds,
}

impl SiteList {
    /// Its checkpoint partition.
    pub(crate) fn partition(&self) -> String {
        format!("list:{}", self.list.id)
    }

    fn doc_id(&self, item: i64) -> String {
        format!("{}/{item}", self.list.id)
    }

    fn attachment_id(&self, item: i64, name: &str) -> String {
        format!("{}/{item}/attachments/{name}", self.list.id)
    }

    /// `<site>/<list>`, where its paths start.
    fn root_path(&self) -> String {
        format!("{}/{}", self.site.path_name(), self.list.title())
    }
}

fn parse_time(t: Option<&str>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(t?, &Rfc3339).ok()
}

/// Whether an item's permissions could not be read: not gone, not a refusal of the
/// app's token (which fails the run with its cause), but unknown.
fn unread(e: &ConnectorError) -> bool {
    !matches!(e.kind, ErrorKind::NotFound | ErrorKind::Unauthorized)
}

impl Inner {
    /// What a list of a wanted site holds, if it is synced: lists and the Site Pages
    /// library, not hidden or system lists, not document libraries (their files come
    /// from their drives), within the `lists` globs.
    pub(crate) fn wants_list(&self, list: &List) -> Option<Holds> {
        if list.hidden() {
            return None;
        }
        let template = list.template();
        let holds = if template.eq_ignore_ascii_case("webPageLibrary") {
            Holds::Pages
        } else if template.to_ascii_lowercase().contains("library")
            || template.eq_ignore_ascii_case("xmlForm")
        {
            return None;
        } else {
            Holds::Items
        };
        let on = match holds {
            Holds::Items => self.config.list_items,
            Holds::Pages => self.config.pages,
        };
        (on && self.wants_list_name(list.title())).then_some(holds)
    }

    /// A wanted site's synced lists, in a fixed order.
    pub(crate) async fn site_lists(
        &self,
        site: &crate::wire::Site,
        out: &Out,
    ) -> Result<Vec<SiteList>, ConnectorError> {
        if !self.config.list_items && !self.config.pages {
            return Ok(Vec::new());
        }
        let mut lists: Vec<SiteList> = retrying(out, || self.api.lists(&site.id))
            .await?
            .into_iter()
            .filter_map(|list| {
                let holds = self.wants_list(&list)?;
                Some(SiteList {
                    site: site.clone(),
                    list,
                    holds,
                })
            })
            .collect();
        lists.sort_by(|a, b| a.list.id.cmp(&b.list.id));
        Ok(lists)
    }

    /// Lists one list whole, upserting every item with its current ACL; with the last
    /// run's cursor, also deletes what is gone. False if the engine stopped listening.
    pub(crate) async fn sync_list(
        &self,
        list: &SiteList,
        since: Option<&str>,
        out: &Out,
    ) -> Result<bool, ConnectorError> {
        let since = match since {
            None => None,
            Some(text) => Some(ListCursor::parse(text).ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::CursorExpired,
                    format!("the cursor of list {} cannot be read", list.list.id),
                )
            })?),
        };
        let (site, id) = (&list.site, list.list.id.as_str());
        let acls = retrying(out, || self.list_acls(site, id))
            .await
            .map_err(crate::identity::refused_secret)?;
        let recheck_from = since
            .as_ref()
            .and_then(|c| parse_time(c.since.as_deref()))
            .map(|t| t - time::Duration::seconds(self.config.modified_overlap_secs as i64));
        let mut now = ListCursor::default();
        let mut link: Option<String> = None;
        loop {
            let page = retrying(out, || {
                self.api.list_items_page(&site.id, id, link.as_deref())
            })
            .await?;
            for item in page.value {
                let Ok(n) = item.id.parse::<i64>() else {
                    tracing::warn!(list = id, item = %item.id, "a list item whose id is no number; skipped");
                    continue;
                };
                if item.is_folder() || !self.wants_list_item(list, &item) {
                    continue;
                }
                let acl = if acls.is_unique(n) {
                    match retrying(out, || self.roles_acl(site, Object::Item(id, n))).await {
                        Ok(acl) => Some(acl),
                        Err(e) if e.kind == ErrorKind::NotFound => continue, // deleted meanwhile
                        Err(e) if unread(&e) => {
                            tracing::warn!(list = id, item = n, error = %e, "the item's permissions could not be read; it stays invisible until they are");
                            None
                        }
                        Err(e) => return Err(crate::identity::refused_secret(e)),
                    }
                } else {
                    Some(acls.inherited().clone())
                };
                now.items.insert(n);
                let modified = item.last_modified_date_time.clone().unwrap_or_default();
                if now
                    .since
                    .as_deref()
                    .is_none_or(|s| parse_time(Some(s)) < parse_time(Some(&modified)))
                {
                    now.since = Some(modified.clone());
                }
                let doc = self.list_document(list, &item, n, acl.as_ref());
                if !out.change(Change::Upsert(doc)).await {
                    return Ok(false);
                }
                let before = since.as_ref().and_then(|c| c.attachments.get(&n));
                let mut names: Vec<String> = Vec::new();
                if list.holds == Holds::Items && item.has_attachments() {
                    let fresh = before.is_none_or(|b| b.at != modified)
                        || recheck_from
                            .zip(parse_time(Some(&modified)))
                            .is_none_or(|(from, at)| at >= from);
                    let attached = match before {
                        Some(b) if !fresh => b.clone(),
                        _ => Attached {
                            at: modified.clone(),
                            names: match retrying(out, || self.api.attachments(site, id, n)).await {
                                Ok(files) => files.into_iter().map(|f| f.file_name).collect(),
                                Err(e) if e.kind == ErrorKind::NotFound => Vec::new(),
                                Err(e) => return Err(e),
                            },
                        },
                    };
                    for name in &attached.names {
                        let doc = self.attachment_document(
                            list,
                            &item,
                            n,
                            name,
                            &attached.at,
                            acl.as_ref(),
                        );
                        if !out.change(Change::Upsert(doc)).await {
                            return Ok(false);
                        }
                    }
                    names = attached.names.clone();
                    if !attached.names.is_empty() {
                        now.attachments.insert(n, attached);
                    }
                }
                for gone in before.iter().flat_map(|b| &b.names) {
                    if !names.contains(gone)
                        && !out
                            .change(Change::Delete(list.attachment_id(n, gone).into()))
                            .await
                    {
                        return Ok(false);
                    }
                }
            }
            match next_page(link.take(), page.next_link, "list.items")? {
                Some(next) => link = Some(next),
                None => break,
            }
        }
        if let Some(before) = &since {
            for gone in before.items.difference(&now.items) {
                let mut ids = vec![list.doc_id(*gone)];
                if let Some(attached) = before.attachments.get(gone) {
                    ids.extend(attached.names.iter().map(|n| list.attachment_id(*gone, n)));
                }
                for doc in ids {
                    if !out.change(Change::Delete(doc.into())).await {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(out.checkpoint(&list.partition(), Some(now.encode())).await)
    }

    fn wants_list_name(&self, title: &str) -> bool {
        self.lists.matches(title)
    }

    /// Whether an item is synced: a page must be a page (`.aspx`), and its path
    /// `<site>/<list>/<item>` must be within the path globs.
    fn wants_list_item(&self, list: &SiteList, item: &ListItem) -> bool {
        let file = item.text("FileLeafRef");
        if list.holds == Holds::Pages
            && !file.is_some_and(|f| f.to_ascii_lowercase().ends_with(".aspx"))
        {
            return false;
        }
        let path = format!("{}/{}", list.root_path(), file.unwrap_or(&item.id));
        self.wants_path(&path)
    }

    fn list_metadata(
        &self,
        list: &SiteList,
        item: &ListItem,
        n: i64,
        kind: &str,
        doc: &mut RemoteDocument,
    ) {
        let meta = &mut doc.metadata;
        meta.insert(KIND.into(), kind.into());
        meta.insert("site".into(), list.site.path_name().into());
        meta.insert("site_id".into(), list.site.id.clone().into());
        if let Some(url) = &list.site.web_url {
            meta.insert("site_url".into(), url.clone().into());
        }
        meta.insert("list".into(), list.list.title().into());
        meta.insert("list_id".into(), list.list.id.clone().into());
        meta.insert("item_id".into(), n.into());
        let file = item.text("FileLeafRef").unwrap_or(&item.id);
        meta.insert("path".into(), format!("{}/{file}", list.root_path()).into());
    }

    /// The document of an item or page; `acl` is `None` when its permissions could not
    /// be read (an empty ACL until `resolve` reads them).
    fn list_document(
        &self,
        list: &SiteList,
        item: &ListItem,
        n: i64,
        acl: Option<&Acl>,
    ) -> RemoteDocument {
        let title = item
            .text("Title")
            .map(str::to_string)
            .or_else(|| {
                item.text("FileLeafRef")
                    .map(|f| f.trim_end_matches(".aspx").to_string())
            })
            .unwrap_or_else(|| format!("{} #{n}", list.list.title()));
        let (kind, html) = match list.holds {
            Holds::Items => (LIST_ITEM, render::list_item(&title, item.fields.as_ref())),
            Holds::Pages => (PAGE, render::page(&title, item)),
        };
        let version = item
            .e_tag
            .clone()
            .or_else(|| item.last_modified_date_time.clone())
            .unwrap_or_default();
        let mut doc =
            RemoteDocument::new(list.doc_id(n), version, acl.cloned().unwrap_or_default());
        doc.title = Some(title);
        doc.uri = item.web_url.clone();
        doc.content_type = Some("text/html".into());
        doc.modified = parse_time(item.last_modified_date_time.as_deref());
        doc.content = Content::Inline(html);
        self.list_metadata(list, item, n, kind, &mut doc);
        if acl.is_none() {
            doc.metadata.insert(ACL_UNREAD.into(), true.into());
        }
        doc
    }

    /// The document of an attachment of an item, with the item's ACL.
    fn attachment_document(
        &self,
        list: &SiteList,
        item: &ListItem,
        n: i64,
        name: &str,
        version: &str,
        acl: Option<&Acl>,
    ) -> RemoteDocument {
        let mut doc = RemoteDocument::new(
            list.attachment_id(n, name),
            version,
            acl.cloned().unwrap_or_default(),
        );
        doc.title = Some(name.to_string());
        doc.uri = item.web_url.clone();
        doc.modified = parse_time(item.last_modified_date_time.as_deref());
        self.list_metadata(list, item, n, ATTACHMENT, &mut doc);
        doc.metadata.insert("file_name".into(), name.into());
        if acl.is_none() {
            doc.metadata.insert(ACL_UNREAD.into(), true.into());
        }
        doc
    }

    /// The ACL of a list document whose permissions the listing could not read.
    pub(crate) async fn resolve_list_acl(
        &self,
        doc: &RemoteDocument,
    ) -> Result<Acl, ConnectorError> {
        let (site, list, item) = list_place(doc)?;
        self.item_acl(&site, &list, item).await
    }

    /// An attachment's bytes.
    pub(crate) async fn fetch_attachment(
        &self,
        doc: &RemoteDocument,
        max: u64,
    ) -> Result<connector_sdk::ByteStream, ConnectorError> {
        let (site, list, item) = list_place(doc)?;
        let name = crate::meta(doc, "file_name")?;
        self.api
            .attachment_content(&site, &list, item, name, max)
            .await
    }
}

/// The site, list and item a list document came from, as its metadata says.
fn list_place(doc: &RemoteDocument) -> Result<(crate::wire::Site, String, i64), ConnectorError> {
    let site = crate::wire::Site {
        id: crate::meta(doc, "site_id")?.to_string(),
        name: None,
        display_name: None,
        web_url: Some(crate::meta(doc, "site_url")?.to_string()),
    };
    let list = crate::meta(doc, "list_id")?.to_string();
    let item = doc
        .metadata
        .get("item_id")
        .and_then(|v| v.as_i64())
        .ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Permanent,
                format!("document {} has no item_id", doc.id),
            )
        })?;
    Ok((site, list, item))
}
