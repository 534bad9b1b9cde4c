//! Listings (ADR 0023): one document per issue (its id, stable when the issue moves and
//! its key changes) with its fields, description and comments as text, and one per
//! attachment; all with the issue's ACL.
//!
//! Each project keeps a cursor (partition `project:<KEY>`): the fingerprint of its
//! permissions as last read, and the newest `updated` seen. An incremental run searches
//! `updated >= <newest - overlap>` — JQL dates have minute precision and are read in the
//! account's time zone, so the instant is rendered in the zone `myself` names, floored
//! to the minute, and an issue seen again with the same text is unchanged for the
//! engine. When a project's permissions changed, the run refuses its cursor and the
//! engine lists everything: every issue's ACL is recomputed (an ACL that changed alone is
//! an ACL-only update) and the sweep removes issues the account no longer sees. A full
//! listing lists every project whole and ends with `ListingComplete`: it is the reconcile
//! that finds deleted issues. Issues moved out of the configured projects are
//! deleted by incremental runs too.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, LocalResult, TimeZone};
use chrono_tz::Tz;
use connector_sdk::feed::{Out, refuse_vanished, retrying};
use connector_sdk::{
    Acl, Change, ConnectorError, Content, ErrorKind, RemoteDocument, SourceCheckpoint,
};
use serde::{Deserialize, Serialize};

use crate::Inner;
use crate::acl::ProjectAcl;
use crate::api::Api;
use crate::reconcile::Walked;
use crate::render::render_issue;
use crate::wire::{Comment, Issue, Project};

/// The fields a listing asks for: everything a document needs.
pub(crate) const FIELDS: &str = "summary,description,status,issuetype,priority,labels,components,\
                      assignee,reporter,created,updated,project,security,attachment,comment";

/// Marks a document whose permissions could not be read (its ACL is empty).
pub(crate) const ACL_UNREAD: &str = "acl_unread";

/// What a run saw of a project.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ProjectCursor {
    /// The fingerprint of the project's permissions.
    pub fp: String,
    /// The newest `updated` seen, in milliseconds since the epoch.
    pub wm: Option<i64>,
    /// The ids of the project's issues, as ranges (the id reconcile's memory).
    #[serde(default, with = "connector_sdk::ranges")]
    pub ids: BTreeSet<i64>,
    /// The attachment ids of the issues that have attachments.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub att: BTreeMap<i64, Vec<String>>,
}

/// The checkpoint partition of a project.
pub(crate) fn partition(key: &str) -> String {
    format!("project:{key}")
}

/// The partition that holds a full listing's position while it runs.
pub(crate) const LISTING: &str = "listing";

/// Where a full listing stands: inside project `project`, before the page `next` (a
/// `nextPageToken`, which Jira keeps valid for seven days), with the newest `updated`
/// seen so far in it. `next: None` means the project is done.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ListingPos {
    pub project: String,
    pub next: Option<String>,
    pub wm: Option<i64>,
}

/// A Jira timestamp (`2023-02-10T00:10:11.027+0530`) in milliseconds since the epoch.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.timestamp_millis())
}

/// `ms` as a JQL date literal the site reads in `tz` (the account's zone), never later
/// than `ms`: floored to the minute, an hour earlier when the local time is ambiguous
/// (a repeated hour), and, when the zone is unknown, rendered in UTC fourteen hours
/// early, which no zone's reading can move past `ms`.
pub(crate) fn jql_date(ms: i64, tz: Option<Tz>) -> String {
    let (tz, ms) = match tz {
        Some(tz) => (tz, ms),
        None => (Tz::UTC, ms - 14 * 3_600_000),
    };
    let local = |ms: i64| {
        tz.timestamp_millis_opt(ms)
            .single()
            .map(|t| t.naive_local())
    };
    let Some(mut naive) = local(ms) else {
        return "1970/01/01 00:00".into();
    };
    if matches!(tz.from_local_datetime(&naive), LocalResult::Ambiguous(..))
        && let Some(earlier) = local(ms - 3_600_000)
    {
        naive = earlier;
    }
    naive.format("%Y/%m/%d %H:%M").to_string()
}

/// Where a project's listing starts: all issues updated since `from` (minus the
/// overlap) or every issue, from a page token, with the newest `updated` seen before it.
#[derive(Debug, Default)]
struct Start {
    from: Option<i64>,
    /// Whether the walk marks its position (a full listing's, to resume at).
    mark: bool,
    token: Option<String>,
    wm: Option<i64>,
}

/// Errors a retry may cure, which say nothing about a page token.
fn is_transient(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Transient | ErrorKind::RateLimited { .. } | ErrorKind::Timeout
    )
}

pub(crate) fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Inner {
    /// The projects this source syncs, by key.
    pub(crate) async fn synced_projects(&self, out: &Out) -> Result<Vec<Project>, ConnectorError> {
        let mut all = retrying(out, || self.api.projects()).await?;
        if !self.config.projects.is_empty() {
            let wanted: HashSet<String> = self
                .config
                .projects
                .iter()
                .map(|k| k.to_ascii_uppercase())
                .collect();
            let found: HashSet<String> = all.iter().map(|p| p.key.to_ascii_uppercase()).collect();
            let missing: Vec<&String> = wanted.iter().filter(|k| !found.contains(*k)).collect();
            if !missing.is_empty() {
                tracing::warn!(projects = ?missing, "configured projects the account cannot browse are skipped");
            }
            all.retain(|p| wanted.contains(&p.key.to_ascii_uppercase()));
        }
        all.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(all)
    }

    /// A full listing (`since` = `None`, resumed at `resume`'s position when given) or
    /// an incremental one.
    pub(crate) async fn run(
        &self,
        since: Option<SourceCheckpoint>,
        resume: Option<SourceCheckpoint>,
        out: &Out,
    ) -> Result<(), ConnectorError> {
        let me = retrying(out, || self.api.myself()).await?;
        let tz: Option<Tz> = me.time_zone.as_deref().and_then(|z| z.parse().ok());
        if tz.is_none() {
            tracing::warn!(
                "the account's time zone is unknown: incremental searches reach 14 hours further back"
            );
        }
        let projects = self.synced_projects(out).await?;
        if let Some(since) = &since {
            let now: HashSet<String> = projects.iter().map(|p| partition(&p.key)).collect();
            refuse_vanished(since, |p| now.contains(p), &[LISTING])?;
        }
        let mut groups = BTreeMap::new();
        let mut acls = Vec::new();
        for p in &projects {
            acls.push(self.project_acl(p, out, &mut groups).await?);
        }
        // A permission change moves no issue's `updated`: a project whose permissions
        // changed is walked whole, so every issue gets its new ACL (an ACL-only update
        // for the engine), and the id reconcile deletes the issues the account may no
        // longer browse (Jira answers 404 for them). A cursor from before the id
        // reconcile cannot say what vanished: the engine lists everything instead.
        let mut relist = HashSet::new();
        if let Some(since) = &since {
            for (p, acl) in projects.iter().zip(&acls) {
                let before = since
                    .cursor(&partition(&p.key))
                    .and_then(|text| serde_json::from_str::<ProjectCursor>(text).ok());
                let Some(before) = before.filter(|b| b.fp != acl.fingerprint) else {
                    continue;
                };
                if before.ids.is_empty() && before.wm.is_some() {
                    return Err(ConnectorError::new(
                        ErrorKind::CursorExpired,
                        format!(
                            "the permissions of project {} changed: listing everything",
                            p.key
                        ),
                    ));
                }
                tracing::info!(project = %p.key, "the project's permissions changed: listing it whole");
                relist.insert(p.key.clone());
            }
        }
        let synced: HashSet<String> = projects
            .iter()
            .map(|p| p.key.to_ascii_uppercase())
            .collect();
        let mut seen = HashSet::new();
        let mut oldest_from: Option<i64> = None;
        // A resumed full listing goes on where its position says: projects before it are
        // done (their cursors are in the listing's checkpoint already).
        let pos: Option<ListingPos> = resume
            .as_ref()
            .and_then(|r| r.cursor(LISTING))
            .and_then(|text| serde_json::from_str(text).ok());
        for (p, acl) in projects.iter().zip(&acls) {
            let mut start = Start::default();
            if since.is_none()
                && let Some(pos) = &pos
            {
                match p.key.as_str().cmp(pos.project.as_str()) {
                    std::cmp::Ordering::Less => continue,
                    std::cmp::Ordering::Equal if pos.next.is_none() => continue,
                    std::cmp::Ordering::Equal => {
                        start = Start {
                            token: pos.next.clone(),
                            wm: pos.wm,
                            ..Start::default()
                        }
                    }
                    std::cmp::Ordering::Greater => {}
                }
            }
            let before = match since.as_ref().and_then(|s| s.cursor(&partition(&p.key))) {
                None => None,
                Some(text) => Some(serde_json::from_str::<ProjectCursor>(text).map_err(|_| {
                    ConnectorError::new(
                        ErrorKind::CursorExpired,
                        format!("the cursor of project {} cannot be read", p.key),
                    )
                })?),
            };
            if let Some(w) = before.as_ref().and_then(|b| b.wm) {
                oldest_from = Some(oldest_from.map_or(w, |o: i64| o.min(w)));
            }
            let from = before
                .as_ref()
                .and_then(|b| b.wm)
                .filter(|_| !relist.contains(&p.key));
            let Some(walked) = self
                .list_project(
                    p,
                    acl,
                    Start {
                        from,
                        mark: since.is_none(),
                        ..start
                    },
                    tz,
                    &mut seen,
                    out,
                )
                .await?
            else {
                return Ok(());
            };
            let Some(known) = self
                .reconcile(p, acl, before.as_ref(), &walked, &synced, out)
                .await?
            else {
                return Ok(());
            };
            let from = before.as_ref().and_then(|b| b.wm);
            let wm = match (walked.newest, from) {
                (Some(n), Some(f)) => Some(n.max(f)),
                (n, f) => n.or(f),
            };
            let cursor = ProjectCursor {
                fp: acl.fingerprint.clone(),
                wm,
                ids: known.ids,
                att: known.att,
            };
            let text = serde_json::to_string(&cursor).unwrap_or_default();
            if !out.checkpoint(&partition(&p.key), Some(text)).await {
                return Ok(());
            }
            if since.is_none() {
                let done = ListingPos {
                    project: p.key.clone(),
                    next: None,
                    wm,
                };
                let text = serde_json::to_string(&done).unwrap_or_default();
                if !out.checkpoint(LISTING, Some(text)).await {
                    return Ok(());
                }
            }
        }
        if since.is_none() {
            if out.checkpoint(LISTING, None).await {
                out.change(Change::ListingComplete).await;
            }
        } else if !self.config.projects.is_empty()
            && let Some(from) = oldest_from
        {
            self.moved_out(&projects, from, tz, out).await?;
        }
        Ok(())
    }

    /// Lists a project's issues (those updated since `from` minus the overlap, or all,
    /// from `start`); returns the newest `updated` seen, or `None` once the engine
    /// stopped listening. A full listing marks its position after every page.
    async fn list_project(
        &self,
        p: &Project,
        acl: &ProjectAcl,
        start: Start,
        tz: Option<Tz>,
        seen: &mut HashSet<String>,
        out: &Out,
    ) -> Result<Option<Walked>, ConnectorError> {
        let mut jql = self.project_jql(p, None);
        let from = start.from;
        match from {
            Some(from) => {
                let since = from - (self.config.overlap_secs as i64) * 1000;
                jql.push_str(&format!(
                    " AND updated >= {} ORDER BY updated ASC, key ASC",
                    quote(&jql_date(since, tz))
                ));
            }
            // Keys do not move when issues are edited during the walk.
            None => jql.push_str(" ORDER BY key ASC"),
        }
        let full = start.mark;
        let mut walked = Walked {
            whole: from.is_none() && start.token.is_none(),
            newest: start.wm,
            ..Walked::default()
        };
        let mut token: Option<String> = start.token;
        let mut resumed = token.is_some();
        loop {
            let page = match retrying(out, || self.api.search(&jql, FIELDS, token.as_deref())).await
            {
                // A position older than the token's life (or a search that changed):
                // the project is listed again from its start; the engine sees unchanged
                // issues as unchanged.
                Err(e) if resumed && !is_transient(&e.kind) => {
                    tracing::info!(project = %p.key, error = %e, "the resumed page token was refused: listing the project from its start");
                    resumed = false;
                    token = None;
                    continue;
                }
                page => page?,
            };
            resumed = false;
            let next = Api::next_token(token.take(), &page)?;
            for issue in page.issues {
                let updated = issue.fields.updated.as_deref().and_then(parse_time);
                walked.newest = walked.newest.max(updated);
                if !seen.insert(issue.id.clone()) {
                    continue;
                }
                walked.record(&issue, self.config.include_attachments);
                let comments = self.comments_of(&issue, out).await?;
                for doc in self.issue_docs(p, acl, &issue, &comments) {
                    if !out.change(Change::Upsert(doc)).await {
                        return Ok(None);
                    }
                }
            }
            match next {
                Some(n) => {
                    if full {
                        let pos = ListingPos {
                            project: p.key.clone(),
                            next: Some(n.clone()),
                            wm: walked.newest,
                        };
                        let text = serde_json::to_string(&pos).unwrap_or_default();
                        if !out.checkpoint(LISTING, Some(text)).await {
                            return Ok(None);
                        }
                    }
                    token = Some(n);
                }
                None => return Ok(Some(walked)),
            }
        }
    }

    /// All of an issue's comments: those the search embedded, and the rest paged.
    pub(crate) async fn comments_of(
        &self,
        issue: &Issue,
        out: &Out,
    ) -> Result<Vec<Comment>, ConnectorError> {
        if !self.config.include_comments {
            return Ok(Vec::new());
        }
        let Some(page) = &issue.fields.comment else {
            return Ok(Vec::new());
        };
        let mut comments = page.comments.clone();
        let total = page.total.unwrap_or(0) as usize;
        if page.start_at.unwrap_or(0) != 0 {
            comments.clear();
        }
        while comments.len() < total {
            let more = retrying(out, || self.api.comments(&issue.id, comments.len())).await?;
            if more.comments.is_empty() {
                break;
            }
            comments.extend(more.comments);
        }
        Ok(comments)
    }

    /// Deletes issues moved out of the configured projects since `from`.
    async fn moved_out(
        &self,
        projects: &[Project],
        from: i64,
        tz: Option<Tz>,
        out: &Out,
    ) -> Result<(), ConnectorError> {
        let keys: Vec<String> = projects.iter().map(|p| quote(&p.key)).collect();
        let since = from - (self.config.overlap_secs as i64) * 1000;
        let jql = format!(
            "project not in ({}) AND updated >= {} ORDER BY key ASC",
            keys.join(", "),
            quote(&jql_date(since, tz))
        );
        let mut token: Option<String> = None;
        loop {
            let page = retrying(out, || {
                self.api
                    .search(&jql, "project,attachment", token.as_deref())
            })
            .await?;
            let next = Api::next_token(token.take(), &page)?;
            for issue in page.issues {
                let synced = issue
                    .fields
                    .project
                    .as_ref()
                    .and_then(|p| p.key.as_deref())
                    .is_some_and(|k| projects.iter().any(|p| p.key.eq_ignore_ascii_case(k)));
                if synced {
                    continue;
                }
                for a in &issue.fields.attachment {
                    if !out
                        .change(Change::Delete(attachment_id(&issue.id, &a.id).into()))
                        .await
                    {
                        return Ok(());
                    }
                }
                if !out.change(Change::Delete(issue.id.clone().into())).await {
                    return Ok(());
                }
            }
            match next {
                Some(n) => token = Some(n),
                None => return Ok(()),
            }
        }
    }

    /// The issue's document and its attachments'.
    pub(crate) fn issue_docs(
        &self,
        p: &Project,
        acl: &ProjectAcl,
        issue: &Issue,
        comments: &[Comment],
    ) -> Vec<RemoteDocument> {
        let f = &issue.fields;
        let key = issue.key.clone().unwrap_or_else(|| issue.id.clone());
        let uri = format!("{}/browse/{key}", self.api.site());
        let id_of = |u: &Option<crate::wire::User>| u.as_ref().map(|u| u.account_id.clone());
        let level = f.security.as_ref().and_then(|s| s.id.clone());
        let (acl, unread) = match acl.issue_acl(
            id_of(&f.reporter).as_deref(),
            id_of(&f.assignee).as_deref(),
            level.as_deref(),
        ) {
            Some(acl) => (acl, false),
            None => (Acl::default(), true),
        };
        let text = render_issue(&key, p, issue, comments);
        let modified = f.updated.as_deref().and_then(parse_time).and_then(|ms| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
        });
        let version = blake3::hash(text.as_bytes()).to_hex()[..32].to_string();
        let mut doc = RemoteDocument::new(issue.id.clone(), version, acl.clone());
        doc.title = Some(format!("{key}: {}", f.summary.as_deref().unwrap_or("")));
        doc.uri = Some(uri.clone());
        doc.content_type = Some("text/plain".into());
        doc.modified = modified;
        doc.content = Content::Inline(text);
        doc.metadata.insert("key".into(), key.clone().into());
        doc.metadata.insert("project".into(), p.key.clone().into());
        if unread {
            doc.metadata.insert(ACL_UNREAD.into(), true.into());
        }
        let mut docs = vec![doc];
        if self.config.include_attachments {
            for a in &f.attachment {
                let version = format!(
                    "{}|{}|{}",
                    a.id,
                    a.size.unwrap_or(0),
                    a.created.as_deref().unwrap_or("")
                );
                let mut d =
                    RemoteDocument::new(attachment_id(&issue.id, &a.id), version, acl.clone());
                d.title = a
                    .filename
                    .clone()
                    .or_else(|| Some(format!("attachment {}", a.id)));
                d.uri = Some(uri.clone());
                d.content_type = a.mime_type.clone();
                d.size = a.size;
                d.content = Content::Fetch;
                d.metadata
                    .insert("attachment_id".into(), a.id.clone().into());
                d.metadata.insert("key".into(), key.clone().into());
                d.metadata.insert("project".into(), p.key.clone().into());
                if unread {
                    d.metadata.insert(ACL_UNREAD.into(), true.into());
                }
                docs.push(d);
            }
        }
        docs
    }
}

/// An attachment's document id.
pub(crate) fn attachment_id(issue: &str, attachment: &str) -> String {
    format!("{issue}/attachment/{attachment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_dates_are_local_floored_and_never_later() {
        let ms = parse_time("2024-01-31T10:15:42.123+0530").expect("time");
        let kolkata: Tz = "Asia/Kolkata".parse().expect("tz");
        assert_eq!(jql_date(ms, Some(kolkata)), "2024/01/31 10:15");
        assert_eq!(jql_date(ms, Some(Tz::UTC)), "2024/01/31 04:45");
        assert_eq!(jql_date(ms, None), "2024/01/30 14:45");
        // 01:30 on 2024-11-03 happens twice in New York: the earlier reading is used.
        let ny: Tz = "America/New_York".parse().expect("tz");
        let second = parse_time("2024-11-03T01:30:00.000-0500").expect("time");
        assert_eq!(jql_date(second, Some(ny)), "2024/11/03 01:30");
        let first = ny
            .from_local_datetime(
                &chrono::NaiveDate::from_ymd_opt(2024, 11, 3)
                    .and_then(|d| d.and_hms_opt(1, 30, 0))
                    .expect("date"),
            )
            .earliest()
            .expect("first");
        assert!(first.timestamp_millis() <= second);
        assert_eq!(
            jql_date(first.timestamp_millis(), Some(ny)),
            "2024/11/03 00:30"
        );
    }
}
