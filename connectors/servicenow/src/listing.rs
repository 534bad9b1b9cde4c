//! Full and incremental listings (ADR 0024).
//!
//! A full listing walks `kb_knowledge` of the synced knowledge bases by keyset, emits the
//! published articles, then their attachments and (if on) incidents, and ends with
//! `ListingComplete`: whatever it did not list — retired, deleted, moved out of scope —
//! is swept. That is also the id reconcile for instances whose `sys_audit_delete` the
//! user cannot read.
//!
//! An incremental run reads what changed since the watermarks (`sys_updated_on`,
//! `sys_id`), minus an overlap: articles no longer published are deleted with their
//! attachments; deletions come from `sys_audit_delete` when it is readable. The ACL
//! tables are read every run and fingerprinted: when the criteria, the KBs' lists or
//! (for ACLs expanded to users) the directory changed, the run reads every article and
//! attachment in scope again, which rewrites every ACL. Full listings mark their
//! position per page, so a killed one resumes.

use std::collections::BTreeMap;

use connector_sdk::feed::{Out, Pauses, retrying};
use connector_sdk::{Acl, Change, ConnectorError, ErrorKind, SourceCheckpoint};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Inner;
use crate::acl::{AclWorld, Closed, Outcome};
use crate::api::{Key, Keyset, field, is_forbidden};
use crate::identity::directory_hash;

pub(crate) const ARTICLE_FIELDS: &str = "sys_id,number,short_description,text,workflow_state,kb_knowledge_base,kb_category,can_read_user_criteria,cannot_read_user_criteria,sys_updated_on,sys_mod_count";
pub(crate) const ATTACHMENT_FIELDS: &str =
    "sys_id,file_name,content_type,size_bytes,table_name,table_sys_id,hash,sys_updated_on";
pub(crate) const INCIDENT_FIELDS: &str = "sys_id,number,short_description,description,state,caller_id,opened_by,assigned_to,sys_updated_on,sys_mod_count";

/// The checkpoint: watermarks per table, the audit's, and the ACL fingerprint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct State {
    pub articles: Option<Key>,
    pub attachments: Option<Key>,
    pub incidents: Option<Key>,
    /// The `sys_audit_delete` watermark; `readable: false` when the table cannot be read.
    /// (Not an `Option<Option<_>>`: JSON cannot tell `Some(None)` from `None`.)
    pub audit_readable: bool,
    pub audit: Option<Key>,
    pub fingerprint: String,
    /// The directory's fingerprint, when some ACL was expanded to users.
    pub directory: Option<String>,
}

const STATE: &str = "state";

/// The partition of a full listing's position while it runs.
const LISTING: &str = "listing";

/// Which walk of a full listing is under way.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Phase {
    #[default]
    Articles,
    Attachments,
    Incidents,
}

/// Where a full listing stands: its phase and the keyset position in it, the newest keys
/// seen so far per table, and the audit mark its first run took.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Position {
    phase: Phase,
    after: Option<Key>,
    articles: Option<Key>,
    attachments: Option<Key>,
    incidents: Option<Key>,
    audit_readable: bool,
    audit: Option<Key>,
}

/// Marks a full listing's position; false once the engine stopped listening.
async fn mark(out: &Out, pos: &Position) -> bool {
    let text = serde_json::to_string(pos).unwrap_or_default();
    out.checkpoint(LISTING, Some(text)).await
}

/// A run's view of the knowledge ACLs.
pub(crate) struct Run {
    pub acl: AclWorld,
    pub fingerprint: String,
    /// KB `sys_id` → title.
    pub kbs: BTreeMap<String, String>,
    /// Article `sys_id` → its ACL, for its attachments.
    pub articles: BTreeMap<String, Acl>,
}

/// `YYYY-MM-DD HH:MM:SS` moved back `secs` seconds (the input unchanged if unreadable).
fn back(stamp: &str, secs: u32) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(stamp, &format)
        .ok()
        .map(|t| t - time::Duration::seconds(i64::from(secs)))
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| stamp.to_string())
}

fn later(a: Option<Key>, b: Option<Key>) -> Option<Key> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl Inner {
    /// The synced knowledge bases (`sys_id` → title).
    async fn knowledge_bases<P: Pauses>(
        &self,
        out: &P,
    ) -> Result<BTreeMap<String, String>, ConnectorError> {
        let all = self
            .read_all(out, "kb_knowledge_base", "", "sys_id,title,sys_updated_on")
            .await?;
        let wanted = &self.config.knowledge_bases;
        let kbs: BTreeMap<String, String> = all
            .iter()
            .map(|r| (field(r, "sys_id"), field(r, "title")))
            .filter(|(id, title)| wanted.is_empty() || wanted.iter().any(|w| w == id || w == title))
            .collect();
        if !wanted.is_empty() && kbs.is_empty() {
            // Listing nothing would sweep everything: refuse instead.
            return Err(ConnectorError::new(
                ErrorKind::Permanent,
                "none of the configured knowledge_bases exists or is readable",
            ));
        }
        Ok(kbs)
    }

    pub(crate) async fn start<P: Pauses>(&self, out: &P) -> Result<Run, ConnectorError> {
        let kbs = self.knowledge_bases(out).await?;
        let ids: Vec<String> = kbs.keys().cloned().collect();
        let (acl, fingerprint) = self.acl_world(out, &ids).await?;
        Ok(Run {
            acl,
            fingerprint,
            kbs,
            articles: BTreeMap::new(),
        })
    }

    fn scope(run: &Run) -> String {
        let ids: Vec<&str> = run.kbs.keys().map(String::as_str).collect();
        format!("kb_knowledge_baseIN{}", ids.join(","))
    }

    /// The newest `sys_audit_delete` row (`Some(None)`: none yet), or `None` when the user
    /// may not read the table.
    async fn audit_probe(&self, out: &Out) -> Result<Option<Option<Key>>, ConnectorError> {
        let q = "ORDERBYDESCsys_updated_on^ORDERBYDESCsys_id";
        match retrying(out, || {
            self.api
                .page("table/sys_audit_delete", q, "sys_id,sys_updated_on", 0)
        })
        .await
        {
            Ok(page) => Ok(Some(
                page.records
                    .first()
                    .map(|r| (field(r, "sys_updated_on"), field(r, "sys_id"))),
            )),
            Err(e) if is_forbidden(&e) => {
                tracing::warn!(
                    "sys_audit_delete cannot be read: deletions are found by full runs' reconcile"
                );
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// An article's ACL, loading the directory if it needs it; a closed ACL is warned
    /// about with the criteria that closed it.
    async fn article_acl<P: Pauses>(
        &self,
        out: &P,
        run: &mut Run,
        r: &Value,
    ) -> Result<Acl, ConnectorError> {
        let (kb, can, cannot) = (
            field(r, "kb_knowledge_base"),
            field(r, "can_read_user_criteria"),
            field(r, "cannot_read_user_criteria"),
        );
        let mut outcome = run.acl.article(&kb, &can, &cannot);
        if outcome == Outcome::NeedsDirectory {
            let dir = self.directory(out, &run.acl.roles).await?;
            run.acl.directory = Some(dir);
            outcome = run.acl.article(&kb, &can, &cannot);
        }
        Ok(match outcome {
            Outcome::Acl(acl) => acl,
            Outcome::Closed(why) => {
                let number = field(r, "number");
                match why {
                    Closed::Unevaluable(names) => {
                        tracing::warn!(article = %number, criteria = %names.join(", "), "user criteria with an advanced script cannot be evaluated: the article is invisible")
                    }
                    Closed::Unreadable(ids) => {
                        tracing::warn!(article = %number, criteria = %ids.join(", "), "user criteria cannot be read: the article is invisible")
                    }
                }
                Acl::default()
            }
            Outcome::NeedsDirectory => Acl::default(),
        })
    }

    /// Emits an article (or its deletion); false once the engine stopped listening.
    async fn emit_article<P: Pauses>(
        &self,
        out: &Out,
        pauses: &P,
        run: &mut Run,
        r: &Value,
        deletes: bool,
    ) -> Result<bool, ConnectorError> {
        let id = field(r, "sys_id");
        if field(r, "workflow_state") != "published"
            || !run.kbs.contains_key(&field(r, "kb_knowledge_base"))
        {
            run.articles.remove(&id);
            return Ok(!deletes
                || out
                    .change(Change::Delete(format!("kb_knowledge/{id}").into()))
                    .await);
        }
        let acl = self.article_acl(pauses, run, r).await?;
        let kb_title = run
            .kbs
            .get(&field(r, "kb_knowledge_base"))
            .cloned()
            .unwrap_or_default();
        let doc = self.article_doc(r, &kb_title, acl.clone());
        run.articles.insert(id, acl);
        Ok(out.change(Change::Upsert(doc)).await)
    }

    /// A full listing, resumed at `resume`'s position when given: articles, then their
    /// attachments, then incidents, each a keyset walk that marks its position after
    /// every page. The audit mark is the one the listing's first run took, so deletions
    /// made while it was down are still read by the next incremental run.
    pub(crate) async fn full(
        &self,
        resume: Option<SourceCheckpoint>,
        out: &Out,
    ) -> Result<(), ConnectorError> {
        let pos: Option<Position> = resume
            .as_ref()
            .and_then(|r| r.cursor(LISTING))
            .and_then(|t| serde_json::from_str(t).ok());
        let mut pos = match pos {
            Some(pos) => pos,
            None => {
                let audit = self.audit_probe(out).await?;
                Position {
                    audit_readable: audit.is_some(),
                    audit: audit.flatten(),
                    ..Position::default()
                }
            }
        };
        let resumed = resume.is_some();
        let mut run = self.start(out).await?;
        if pos.phase == Phase::Articles {
            let mut walk = Keyset::new(
                "table/kb_knowledge",
                &Self::scope(&run),
                ARTICLE_FIELDS,
                pos.after.clone(),
            );
            while let Some(page) = walk.next(&self.api, out).await? {
                for r in &page {
                    if !self.emit_article(out, out, &mut run, r, false).await? {
                        return Ok(());
                    }
                }
                pos.articles = later(pos.articles.take(), walk.after.clone());
                pos.after = walk.after.clone();
                if !mark(out, &pos).await {
                    return Ok(());
                }
            }
            pos.phase = Phase::Attachments;
            pos.after = None;
        }
        if pos.phase == Phase::Attachments {
            if self.config.attachments {
                let mut walk = Keyset::new(
                    "attachment",
                    "table_name=kb_knowledge",
                    ATTACHMENT_FIELDS,
                    pos.after.clone(),
                );
                while let Some(page) = walk.next(&self.api, out).await? {
                    for a in &page {
                        // A resumed listing did not read every article this run: the
                        // attachment's is read alone (an attachment never waits for a
                        // sweep to lose its ACL).
                        let known = run.articles.get(&field(a, "table_sys_id")).cloned();
                        let go_on = match known {
                            Some(acl) => {
                                out.change(Change::Upsert(self.attachment_doc(a, acl)))
                                    .await
                            }
                            None if resumed => self.emit_attachment(out, &mut run, a).await?,
                            None => true,
                        };
                        if !go_on {
                            return Ok(());
                        }
                    }
                    pos.attachments = later(pos.attachments.take(), walk.after.clone());
                    pos.after = walk.after.clone();
                    if !mark(out, &pos).await {
                        return Ok(());
                    }
                }
            }
            pos.phase = Phase::Incidents;
            pos.after = None;
        }
        if self.config.incidents {
            let mut walk = Keyset::new("table/incident", "", INCIDENT_FIELDS, pos.after.clone());
            while let Some(page) = walk.next(&self.api, out).await? {
                for r in &page {
                    if !out.change(Change::Upsert(self.incident_doc(r))).await {
                        return Ok(());
                    }
                }
                pos.incidents = later(pos.incidents.take(), walk.after.clone());
                pos.after = walk.after.clone();
                if !mark(out, &pos).await {
                    return Ok(());
                }
            }
        }
        let state = State {
            articles: pos.articles,
            attachments: pos.attachments,
            incidents: pos.incidents,
            audit_readable: pos.audit_readable,
            audit: pos.audit,
            fingerprint: run.fingerprint.clone(),
            directory: run.acl.directory.as_ref().map(directory_hash),
        };
        let text = serde_json::to_string(&state).unwrap_or_default();
        if out.checkpoint(STATE, Some(text)).await && out.checkpoint(LISTING, None).await {
            out.change(Change::ListingComplete).await;
        }
        Ok(())
    }

    /// An incremental run from `since`.
    pub(crate) async fn incremental(
        &self,
        since: &SourceCheckpoint,
        out: &Out,
    ) -> Result<(), ConnectorError> {
        let expired = |why: &str| ConnectorError::new(ErrorKind::CursorExpired, why.to_string());
        let before: State = since
            .partitions()
            .get(STATE)
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| expired("the checkpoint cannot be read: listing everything"))?;
        let mut run = self.start(out).await?;
        if before.directory.is_some() {
            let dir = self.directory(out, &run.acl.roles).await?;
            run.acl.directory = Some(dir);
        }
        // Criteria changes move no article's `sys_updated_on`: every article in scope
        // (and every attachment) is read again, so each gets its new ACL (an ACL-only
        // update for the engine). Deletions still come from the audit as in any run.
        let relist = run.fingerprint != before.fingerprint
            || run.acl.directory.as_ref().map(directory_hash) != before.directory;
        if relist {
            tracing::info!(
                "the knowledge bases or their user criteria changed: reading every article again"
            );
        }
        let overlap = |k: &Option<Key>| {
            k.as_ref()
                .filter(|_| !relist)
                .map(|(u, _)| (back(u, self.config.overlap_secs), String::new()))
        };
        let mut state = before.clone();
        let mut walk = Keyset::new(
            "table/kb_knowledge",
            &Self::scope(&run),
            ARTICLE_FIELDS,
            overlap(&before.articles),
        );
        let mut changed = Vec::new();
        while let Some(page) = walk.next(&self.api, out).await? {
            for r in &page {
                if !self.emit_article(out, out, &mut run, r, true).await? {
                    return Ok(());
                }
                changed.push(field(r, "sys_id"));
            }
        }
        state.articles = later(before.articles.clone(), walk.after);
        if self.config.attachments {
            // The attachments of changed articles carry their ACL (or go with them).
            for article in &changed {
                let filter = format!("table_name=kb_knowledge^table_sys_id={article}");
                let mut walk = Keyset::new("attachment", &filter, ATTACHMENT_FIELDS, None);
                while let Some(page) = walk.next(&self.api, out).await? {
                    for a in &page {
                        if !self.emit_attachment(out, &mut run, a).await? {
                            return Ok(());
                        }
                    }
                }
            }
            let mut walk = Keyset::new(
                "attachment",
                "table_name=kb_knowledge",
                ATTACHMENT_FIELDS,
                overlap(&before.attachments),
            );
            while let Some(page) = walk.next(&self.api, out).await? {
                for a in &page {
                    if !self.emit_attachment(out, &mut run, a).await? {
                        return Ok(());
                    }
                }
            }
            state.attachments = later(before.attachments.clone(), walk.after);
        }
        if self.config.incidents {
            let mut walk = Keyset::new(
                "table/incident",
                "",
                INCIDENT_FIELDS,
                overlap(&before.incidents),
            );
            while let Some(page) = walk.next(&self.api, out).await? {
                for r in &page {
                    if !out.change(Change::Upsert(self.incident_doc(r))).await {
                        return Ok(());
                    }
                }
            }
            state.incidents = later(before.incidents.clone(), walk.after);
        }
        if before.audit_readable {
            let mark = self.audit_deletions(out, before.audit.clone()).await?;
            state.audit_readable = mark.is_some();
            state.audit = mark.flatten();
        } else {
            tracing::warn!("sys_audit_delete cannot be read: deletions wait for the next full run");
        }
        // An ACL newly expanded to users: the next run compares the directory too.
        state.directory = run.acl.directory.as_ref().map(directory_hash);
        state.fingerprint = run.fingerprint.clone();
        let text = serde_json::to_string(&state).unwrap_or_default();
        out.checkpoint(STATE, Some(text)).await;
        Ok(())
    }

    /// An attachment whose article may or may not be in this run.
    async fn emit_attachment(
        &self,
        out: &Out,
        run: &mut Run,
        a: &Value,
    ) -> Result<bool, ConnectorError> {
        let article = field(a, "table_sys_id");
        if !run.articles.contains_key(&article) {
            let record = retrying(out, || {
                self.api.record("kb_knowledge", &article, ARTICLE_FIELDS)
            })
            .await?;
            match record {
                Some(r)
                    if field(&r, "workflow_state") == "published"
                        && run.kbs.contains_key(&field(&r, "kb_knowledge_base")) =>
                {
                    let acl = self.article_acl(out, run, &r).await?;
                    run.articles.insert(article.clone(), acl);
                }
                _ => {
                    let id = format!("sys_attachment/{}", field(a, "sys_id"));
                    return Ok(out.change(Change::Delete(id.into())).await);
                }
            }
        }
        let acl = run.articles.get(&article).cloned().unwrap_or_default();
        Ok(out
            .change(Change::Upsert(self.attachment_doc(a, acl)))
            .await)
    }

    /// Deletes what `sys_audit_delete` recorded since `mark`; the new mark, or `None`
    /// when the table became unreadable.
    async fn audit_deletions(
        &self,
        out: &Out,
        mark: Option<Key>,
    ) -> Result<Option<Option<Key>>, ConnectorError> {
        let start = mark
            .as_ref()
            .map(|(u, _)| (back(u, self.config.overlap_secs), String::new()));
        let filter = "tablenameINkb_knowledge,sys_attachment,incident";
        let mut walk = Keyset::new(
            "table/sys_audit_delete",
            filter,
            "sys_id,tablename,documentkey,sys_updated_on",
            start,
        );
        loop {
            let page = match walk.next(&self.api, out).await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) if is_forbidden(&e) => {
                    tracing::warn!(
                        "sys_audit_delete cannot be read any more: deletions wait for the next full run"
                    );
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            for r in &page {
                let (table, key) = (field(r, "tablename"), field(r, "documentkey"));
                if key.is_empty() {
                    continue;
                }
                if !out
                    .change(Change::Delete(format!("{table}/{key}").into()))
                    .await
                {
                    return Ok(Some(mark));
                }
            }
        }
        Ok(Some(later(mark, walk.after)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_go_back_in_utc_and_marks_only_move_forward() {
        assert_eq!(back("2025-01-01 00:00:30", 60), "2024-12-31 23:59:30");
        assert_eq!(back("garbage", 60), "garbage");
        let a = Some(("2025-01-01 00:00:00".to_string(), "b".to_string()));
        let b = Some(("2025-01-01 00:00:00".to_string(), "c".to_string()));
        assert_eq!(later(a.clone(), b.clone()), b);
        assert_eq!(later(a.clone(), None), a);
    }
}
