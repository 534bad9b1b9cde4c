//! Deletions between full listings, by reconciling issue ids (ADR 0023). JQL cannot say
//! what was deleted, but a search for ids alone is cheap (5000 a page), so every run
//! lists the ids of each project's issues and keeps them in the project's cursor, as
//! ranges. An id the last run knew that neither this run's walk nor its id listing shows
//! is asked for (`issue/{id}`): it is deleted only when Jira proves it gone — a 404 (the
//! issue was deleted, or the account may no longer browse it), a move to a project this
//! source does not sync, or, in the same project, no longer matching the JQL filter. An id
//! a page token skipped (pages are positions, and a deletion moves the ones after it) is
//! therefore never taken for a deletion.
//!
//! The same id listing guards a full listing's sweep: an issue it shows that the walk did
//! not (skipped between two pages) is read alone and listed, so the sweep cannot delete
//! it. The cursor also remembers each issue's attachment ids, so a deleted issue's
//! attachments go with it and an attachment an edit removed is deleted at once.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use connector_sdk::feed::{Out, retrying};
use connector_sdk::{Change, ConnectorError};

use crate::Inner;
use crate::acl::ProjectAcl;
use crate::api::Api;
use crate::listing::{FIELDS, ProjectCursor, attachment_id, quote};
use crate::wire::{Issue, Project};

/// What a walk of a project listed: the newest `updated` seen, and every issue it upserted
/// with its attachments' ids.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// Whether the walk listed the project whole from its first page (not resumed, not
    /// since a watermark).
    pub whole: bool,
    pub newest: Option<i64>,
    pub listed: BTreeMap<i64, Vec<String>>,
}

impl Walked {
    /// Records an issue the walk upserted, with its attachments when they are synced.
    pub(crate) fn record(&mut self, issue: &Issue, attachments: bool) {
        if let Ok(id) = issue.id.parse::<i64>() {
            let attachments = match attachments {
                true => issue
                    .fields
                    .attachment
                    .iter()
                    .map(|a| a.id.clone())
                    .collect(),
                false => Vec::new(),
            };
            self.listed.insert(id, attachments);
        }
    }
}

/// The project's ids and attachments after a run, for its cursor.
pub(crate) struct Known {
    pub ids: BTreeSet<i64>,
    pub att: BTreeMap<i64, Vec<String>>,
}

impl Inner {
    /// Reconciles project `p` after its walk: deletes what Jira proves gone since `before`
    /// (an incremental run), and lists what a walk of the whole project skipped (not a
    /// resumed one: ids before its position were listed by the run that was killed).
    /// `None` once the engine stopped listening.
    pub(crate) async fn reconcile(
        &self,
        p: &Project,
        acl: &ProjectAcl,
        before: Option<&ProjectCursor>,
        walked: &Walked,
        synced: &HashSet<String>,
        out: &Out,
    ) -> Result<Option<Known>, ConnectorError> {
        let mut ids = self.issue_ids(p, out).await?;
        let mut att = before.map(|b| b.att.clone()).unwrap_or_default();
        for (id, now) in &walked.listed {
            for gone in att
                .get(id)
                .into_iter()
                .flatten()
                .filter(|a| !now.contains(a))
            {
                let doc = attachment_id(&id.to_string(), gone);
                if !out.change(Change::Delete(doc.into())).await {
                    return Ok(None);
                }
            }
            if now.is_empty() {
                att.remove(id);
            } else {
                att.insert(*id, now.clone());
            }
        }
        if walked.whole {
            let skipped: Vec<i64> = ids
                .iter()
                .filter(|id| !walked.listed.contains_key(id))
                .copied()
                .collect();
            for id in skipped {
                let key = id.to_string();
                let Some(issue) = retrying(out, || self.api.issue(&key, FIELDS)).await? else {
                    ids.remove(&id);
                    continue;
                };
                let here = issue.fields.project.as_ref().and_then(|x| x.key.as_deref());
                if here != Some(p.key.as_str()) {
                    continue;
                }
                tracing::debug!(project = %p.key, issue = id, "an issue the walk's pages skipped is listed alone");
                let comments = self.comments_of(&issue, out).await?;
                for doc in self.issue_docs(p, acl, &issue, &comments) {
                    if !out.change(Change::Upsert(doc)).await {
                        return Ok(None);
                    }
                }
                let mut one = Walked::default();
                one.record(&issue, self.config.include_attachments);
                att.extend(one.listed.into_iter().filter(|(_, a)| !a.is_empty()));
            }
        }
        if let Some(before) = before {
            let missing: Vec<i64> = before
                .ids
                .iter()
                .filter(|id| !ids.contains(id) && !walked.listed.contains_key(id))
                .copied()
                .collect();
            for id in missing {
                if !self.gone(p, id, synced, out).await? {
                    // Still there (a page skipped it): still known.
                    ids.insert(id);
                    continue;
                }
                for a in att.remove(&id).unwrap_or_default() {
                    let doc = attachment_id(&id.to_string(), &a);
                    if !out.change(Change::Delete(doc.into())).await {
                        return Ok(None);
                    }
                }
                if !out.change(Change::Delete(id.to_string().into())).await {
                    return Ok(None);
                }
            }
        }
        ids.extend(walked.listed.keys());
        att.retain(|id, _| ids.contains(id));
        Ok(Some(Known { ids, att }))
    }

    /// The ids of every issue of `p` the account may browse and the filter admits.
    async fn issue_ids(&self, p: &Project, out: &Out) -> Result<BTreeSet<i64>, ConnectorError> {
        let jql = self.project_jql(p, None) + " ORDER BY key ASC";
        let mut ids = BTreeSet::new();
        let mut token: Option<String> = None;
        loop {
            let page = retrying(out, || self.api.search_ids(&jql, token.as_deref())).await?;
            let next = Api::next_token(token.take(), &page)?;
            ids.extend(page.issues.iter().filter_map(|i| i.id.parse::<i64>().ok()));
            match next {
                Some(n) => token = Some(n),
                None => return Ok(ids),
            }
        }
    }

    /// Whether issue `id`, last seen in `p`, is proven gone from this source.
    async fn gone(
        &self,
        p: &Project,
        id: i64,
        synced: &HashSet<String>,
        out: &Out,
    ) -> Result<bool, ConnectorError> {
        let key = id.to_string();
        let Some(issue) = retrying(out, || self.api.issue(&key, "project")).await? else {
            return Ok(true);
        };
        let key = issue.fields.project.as_ref().and_then(|x| x.key.clone());
        match key {
            Some(k) if k.eq_ignore_ascii_case(&p.key) => match &self.config.jql {
                // In its project, missed by the id listing only if a page skipped it.
                None => Ok(false),
                Some(_) => {
                    let jql = self.project_jql(p, Some(id));
                    let page = retrying(out, || self.api.search_ids(&jql, None)).await?;
                    Ok(page.issues.is_empty())
                }
            },
            Some(k) => Ok(!synced.contains(&k.to_ascii_uppercase())),
            None => Ok(false),
        }
    }

    /// `project = <p> [AND id = <id>] [AND (<filter>)]`.
    pub(crate) fn project_jql(&self, p: &Project, id: Option<i64>) -> String {
        let mut jql = format!("project = {}", quote(&p.key));
        if let Some(id) = id {
            jql.push_str(&format!(" AND id = {id}"));
        }
        if let Some(extra) = &self.config.jql {
            jql.push_str(&format!(" AND ({extra})"));
        }
        jql
    }
}
