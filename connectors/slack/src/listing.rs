//! Listings: every synced channel's messages, read from its history, grouped into
//! documents (ADR 0022): a thread (its parent and replies) is one document; messages
//! outside threads are grouped by channel and UTC day; each shared file is a document.
//!
//! Slack has no change feed a token can poll, so each channel keeps a cursor (partition
//! `channel:<id>`): the newest `ts` seen and the documents of its recent days. A full
//! listing reads each channel's whole history. An incremental run reads again everything
//! from the start of the day `reconcile_window_days` before the newest message: the
//! documents of those days are rebuilt whole, so edits, deletions and new replies in them
//! are caught, and documents of those days the cursor knew that are gone now are deleted.
//! A thread whose parent is older but that had a reply within the window at the last run
//! is read again too (`conversations.replies`), so a running conversation stays current.
//! Older deletions, and replies to threads quiet for longer than the window, are found by
//! the full reconcile, whose sweep deletes what it did not see.

use std::collections::{BTreeMap, HashSet};

use connector_sdk::feed::{self, Out, Pauses, retrying};
use connector_sdk::{Acl, Change, ConnectorError, Content, ErrorKind, Principal, RemoteDocument};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::Inner;
use crate::render::{self, Names, ts_secs};
use crate::wire::{Conversation, File, Message};

/// The partition of the full listing's position: the last channel listed whole.
const LISTING: &str = "listing";
const DAY: i64 = 86_400;

/// The group every full member of the workspace is in (public channels).
pub const WORKSPACE: &str = "workspace";

/// The group of a channel's members.
pub(crate) fn channel_group(channel: &str) -> String {
    format!("channel:{channel}")
}

/// What a run saw of a channel.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ChannelCursor {
    /// The newest `ts` seen.
    pub latest: String,
    /// The documents of the recent days, by id suffix (`thread/<ts>`, `day/<date>`,
    /// `file/<id>`), with the time they are filed under: a thread's newest reply, a
    /// day's start, a file's message.
    pub docs: BTreeMap<String, i64>,
}

/// One run's view of the workspace: names for mentions, and where permalinks point.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    pub names: Names,
    /// `https://<workspace>.slack.com/`.
    pub url: String,
}

impl Workspace {
    fn permalink(&self, channel: &str, m: &Message) -> String {
        let p = format!("{}archives/{channel}/p{}", self.url, m.ts.replace('.', ""));
        match m.thread_ts.as_deref() {
            Some(thread) if thread != m.ts => format!("{p}?thread_ts={thread}&cid={channel}"),
            _ => p,
        }
    }
}

fn date_of(secs: i64) -> String {
    let format = format_description!("[year]-[month]-[day]");
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| secs.to_string())
}

fn version_of(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex()[..32].to_string()
}

/// A document being built for a channel run.
struct Built {
    suffix: String,
    filed: i64,
    doc: RemoteDocument,
}

impl Inner {
    /// The channels this source syncs, in a fixed order; public channels the app is not
    /// in are joined when configured, else skipped with a warning.
    pub(crate) async fn channels<P: Pauses>(
        &self,
        out: &P,
    ) -> Result<Vec<Conversation>, ConnectorError> {
        let types = if self.config.include_mpims {
            "public_channel,private_channel,mpim"
        } else {
            "public_channel,private_channel"
        };
        let mut all = retrying(out, || {
            self.api.conversations(types, self.config.include_archived)
        })
        .await?;
        all.retain(|c| !c.is_im && (self.config.include_mpims || !c.is_mpim));
        all.retain(|c| self.wants_channel(c.name.as_deref().unwrap_or(&c.id)));
        let mut channels = Vec::new();
        let mut skipped = Vec::new();
        for mut c in all {
            if !c.is_member {
                if !(self.config.join_public_channels && c.is_public() && !c.is_archived) {
                    skipped.push(c.label());
                    continue;
                }
                retrying(out, || self.api.join(&c.id)).await?;
                c.is_member = true;
            }
            channels.push(c);
        }
        if !skipped.is_empty() {
            tracing::warn!(channels = %skipped.join(", "), "public channels the app is not in are skipped (join_public_channels = true joins them)");
        }
        channels.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(channels)
    }

    /// Names and the workspace URL, read at the start of a run.
    pub(crate) async fn workspace(
        &self,
        out: &Out,
        channels: &[Conversation],
    ) -> Result<Workspace, ConnectorError> {
        let me = retrying(out, || self.api.auth_test()).await?;
        let users = retrying(out, || self.api.users()).await?;
        let mut names = Names::default();
        for user in users {
            names.users.insert(user.id.clone(), user.shown_name());
        }
        for c in channels {
            if let Some(name) = &c.name {
                names.channels.insert(c.id.clone(), name.clone());
            }
        }
        let mut url = me.url.unwrap_or_else(|| "https://slack.com/".into());
        if !url.ends_with('/') {
            url.push('/');
        }
        Ok(Workspace { names, url })
    }

    /// A full listing, resumed after the channel `resume` stopped after.
    pub(crate) async fn full(
        &self,
        resume: Option<connector_sdk::SourceCheckpoint>,
        out: &Out,
    ) -> Result<(), ConnectorError> {
        let channels = self.channels(out).await?;
        let ws = self.workspace(out, &channels).await?;
        let after = resume
            .as_ref()
            .and_then(|r| r.partitions().get(LISTING).cloned());
        if let Some(after) = &after
            && !channels.iter().any(|c| &c.id == after)
        {
            return Err(ConnectorError::new(
                ErrorKind::CursorExpired,
                "the channel a resumed listing stopped after is gone",
            ));
        }
        for channel in channels
            .iter()
            .filter(|c| after.as_deref().is_none_or(|a| c.id.as_str() > a))
        {
            if !self.sync_channel(channel, None, &ws, out).await?
                || !out.checkpoint(LISTING, Some(channel.id.clone())).await
            {
                return Ok(());
            }
        }
        if out.checkpoint(LISTING, None).await {
            out.change(Change::ListingComplete).await;
        }
        Ok(())
    }

    /// An incremental run: each channel's recent days read again, new channels whole.
    pub(crate) async fn incremental(
        &self,
        since: connector_sdk::SourceCheckpoint,
        out: &Out,
    ) -> Result<(), ConnectorError> {
        let channels = self.channels(out).await?;
        let now: HashSet<String> = channels.iter().map(|c| partition(&c.id)).collect();
        feed::refuse_vanished(&since, |p| now.contains(p), &[LISTING])?;
        let ws = self.workspace(out, &channels).await?;
        for channel in &channels {
            let before = match since.partitions().get(&partition(&channel.id)) {
                None => None,
                Some(text) => Some(serde_json::from_str::<ChannelCursor>(text).map_err(|_| {
                    ConnectorError::new(
                        ErrorKind::CursorExpired,
                        format!("the cursor of channel {} cannot be read", channel.id),
                    )
                })?),
            };
            if !self.sync_channel(channel, before, &ws, out).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The ACL of a channel's documents.
    fn acl(&self, channel: &Conversation) -> Acl {
        let mut acl = Acl::default();
        acl.allow
            .insert(Principal::group(channel_group(&channel.id)));
        if channel.is_public() {
            acl.allow.insert(Principal::group(WORKSPACE));
        }
        acl
    }

    /// Reads a channel from the start of the window (all of it without a cursor), emits
    /// its documents and the deletions the cursor proves, and stores the new cursor.
    async fn sync_channel(
        &self,
        channel: &Conversation,
        before: Option<ChannelCursor>,
        ws: &Workspace,
        out: &Out,
    ) -> Result<bool, ConnectorError> {
        let window = i64::from(self.config.reconcile_window_days) * DAY;
        let from = before
            .as_ref()
            .and_then(|b| ts_secs(&b.latest))
            .map_or(0, |latest| ((latest - window).max(0) / DAY) * DAY);
        let messages = self.history(channel, from, out).await?;
        let mut latest = before
            .as_ref()
            .map(|b| b.latest.clone())
            .unwrap_or_default();
        let mut threads: Vec<Message> = Vec::new();
        let mut days: BTreeMap<i64, Vec<Message>> = BTreeMap::new();
        for m in messages {
            if ts_newer(&m.ts, &latest) {
                latest = m.ts.clone();
            }
            if m.is_reply() {
                continue;
            }
            if m.is_thread_parent() {
                threads.push(m);
            } else if m.is_content() {
                let day = ts_secs(&m.ts).unwrap_or(0).div_euclid(DAY) * DAY;
                days.entry(day).or_default().push(m);
            }
        }
        // Threads active at the last run whose parent is older than the window.
        let listed: HashSet<String> = threads.iter().map(|t| t.ts.clone()).collect();
        let revisit: Vec<String> = before
            .iter()
            .flat_map(|b| &b.docs)
            .filter(|(suffix, filed)| **filed >= from && suffix.starts_with("thread/"))
            .map(|(suffix, _)| suffix["thread/".len()..].to_string())
            .filter(|ts| !listed.contains(ts))
            .collect();
        let acl = self.acl(channel);
        let mut built: Vec<Built> = Vec::new();
        for parent in threads.iter().map(|t| t.ts.clone()).chain(revisit) {
            let thread = match retrying(out, || self.api.thread(&channel.id, &parent)).await {
                Ok(thread) => thread,
                // The thread is gone (its parent deleted with no reply left).
                Err(e)
                    if e.kind == ErrorKind::Permanent && e.message.contains("thread_not_found") =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            for m in &thread {
                if ts_newer(&m.ts, &latest) {
                    latest = m.ts.clone();
                }
            }
            built.extend(self.thread_docs(channel, &parent, &thread, ws, &acl));
        }
        for (day, messages) in &mut days {
            messages.sort_by(|a, b| ts_order(&a.ts, &b.ts));
            built.extend(self.day_docs(channel, *day, messages, ws, &acl));
        }
        let mut now = BTreeMap::new();
        for b in built {
            if b.filed >= from {
                now.insert(b.suffix.clone(), b.filed);
            }
            if !out.change(Change::Upsert(b.doc)).await {
                return Ok(false);
            }
        }
        if let Some(before) = &before {
            for (suffix, filed) in &before.docs {
                if *filed >= from
                    && !now.contains_key(suffix)
                    && !out
                        .change(Change::Delete(format!("{}/{suffix}", channel.id).into()))
                        .await
                {
                    return Ok(false);
                }
            }
        }
        // Keep what the next run's window can reach.
        let keep_from = ts_secs(&latest).map_or(0, |l| ((l - window).max(0) / DAY) * DAY);
        now.retain(|_, filed| *filed >= keep_from);
        let cursor = ChannelCursor { latest, docs: now };
        let text = serde_json::to_string(&cursor).unwrap_or_default();
        Ok(out.checkpoint(&partition(&channel.id), Some(text)).await)
    }

    /// Every message of a channel from `from` (seconds), newest first.
    async fn history(
        &self,
        channel: &Conversation,
        from: i64,
        out: &Out,
    ) -> Result<Vec<Message>, ConnectorError> {
        let oldest = format!("{from}.000000");
        let mut messages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = retrying(out, || {
                self.api
                    .history_page(&channel.id, &oldest, cursor.as_deref())
            })
            .await?;
            messages.extend(page.messages);
            let next = page.response_metadata.next();
            if next.is_none() && page.has_more {
                return Err(ConnectorError::new(
                    ErrorKind::InvalidResponse,
                    format!("the history of {} has more but no cursor", channel.id),
                ));
            }
            match feed::next_page(cursor.take(), next, "conversations.history")? {
                Some(next) => cursor = Some(next),
                None => return Ok(messages),
            }
        }
    }

    /// A thread's document, and its files'.
    fn thread_docs(
        &self,
        channel: &Conversation,
        parent: &str,
        thread: &[Message],
        ws: &Workspace,
        acl: &Acl,
    ) -> Vec<Built> {
        let Some(root) = thread.iter().find(|m| m.ts == parent).or(thread.first()) else {
            return Vec::new();
        };
        let shown: Vec<&Message> = thread.iter().filter(|m| m.is_content()).collect();
        if shown.is_empty() {
            return Vec::new();
        }
        let mut text = format!("Thread in {}\n\n", channel.label());
        for m in &shown {
            text.push_str(&render::message(
                m,
                &ws.names,
                &ws.permalink(&channel.id, m),
            ));
            text.push('\n');
        }
        let newest = thread
            .iter()
            .filter_map(|m| ts_secs(&m.ts))
            .max()
            .unwrap_or(0);
        let headline = if root.is_content() {
            render::headline(root, &ws.names)
        } else {
            "(deleted message)".into()
        };
        let mut doc = self.text_doc(
            channel,
            &format!("thread/{parent}"),
            format!("{}: {headline}", channel.label()),
            ws.permalink(&channel.id, root),
            text,
            newest,
            acl,
        );
        doc.metadata.insert("thread_ts".into(), parent.into());
        let mut out = vec![Built {
            suffix: format!("thread/{parent}"),
            filed: newest,
            doc,
        }];
        for m in &shown {
            out.extend(self.file_docs(channel, m, acl));
        }
        out
    }

    /// A day's document of the messages outside threads, and their files'.
    fn day_docs(
        &self,
        channel: &Conversation,
        day: i64,
        messages: &[Message],
        ws: &Workspace,
        acl: &Acl,
    ) -> Vec<Built> {
        let Some(first) = messages.first() else {
            return Vec::new();
        };
        let date = date_of(day);
        let mut text = format!("{}, {date}\n\n", channel.label());
        for m in messages {
            text.push_str(&render::message(
                m,
                &ws.names,
                &ws.permalink(&channel.id, m),
            ));
            text.push('\n');
        }
        let newest = messages
            .iter()
            .filter_map(|m| ts_secs(&m.ts))
            .max()
            .unwrap_or(day);
        let doc = self.text_doc(
            channel,
            &format!("day/{date}"),
            format!("{}, {date}", channel.label()),
            ws.permalink(&channel.id, first),
            text,
            newest,
            acl,
        );
        let mut out = vec![Built {
            suffix: format!("day/{date}"),
            filed: day,
            doc,
        }];
        for m in messages {
            out.extend(self.file_docs(channel, m, acl));
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn text_doc(
        &self,
        channel: &Conversation,
        suffix: &str,
        title: String,
        uri: String,
        text: String,
        newest: i64,
        acl: &Acl,
    ) -> RemoteDocument {
        let mut doc = RemoteDocument::new(
            format!("{}/{suffix}", channel.id),
            version_of(&format!("{title}\n{text}")),
            acl.clone(),
        );
        doc.title = Some(title);
        doc.uri = Some(uri);
        doc.content_type = Some("text/plain".into());
        doc.modified = OffsetDateTime::from_unix_timestamp(newest).ok();
        doc.content = Content::Inline(text);
        self.channel_metadata(channel, &mut doc);
        doc
    }

    fn channel_metadata(&self, channel: &Conversation, doc: &mut RemoteDocument) {
        doc.metadata
            .insert("channel_id".into(), channel.id.clone().into());
        if let Some(name) = &channel.name {
            doc.metadata.insert("channel".into(), name.clone().into());
        }
    }

    /// The documents of the files a message shares.
    fn file_docs(&self, channel: &Conversation, m: &Message, acl: &Acl) -> Vec<Built> {
        if !self.config.files {
            return Vec::new();
        }
        m.files
            .iter()
            .filter(|f| f.mode.as_deref() != Some("tombstone") && f.url_private_download.is_some())
            .map(|f| Built {
                suffix: format!("file/{}", f.id),
                filed: ts_secs(&m.ts).unwrap_or(0),
                doc: self.file_doc(channel, f, acl),
            })
            .collect()
    }

    fn file_doc(&self, channel: &Conversation, f: &File, acl: &Acl) -> RemoteDocument {
        let version = format!(
            "{}|{}|{}",
            f.updated.or(f.created).unwrap_or(0),
            f.size.unwrap_or(0),
            f.name.as_deref().unwrap_or("")
        );
        let mut doc = RemoteDocument::new(
            format!("{}/file/{}", channel.id, f.id),
            version,
            acl.clone(),
        );
        doc.title = f.title.clone().or_else(|| f.name.clone());
        doc.uri = f.permalink.clone().or_else(|| f.url_private.clone());
        doc.content_type = f.mimetype.clone();
        doc.size = f.size;
        doc.modified = f
            .updated
            .or(f.created)
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        self.channel_metadata(channel, &mut doc);
        doc.metadata.insert("file_id".into(), f.id.clone().into());
        if let Some(name) = &f.name {
            doc.metadata.insert("file_name".into(), name.clone().into());
        }
        if let Some(url) = &f.url_private_download {
            doc.metadata
                .insert("download_url".into(), url.clone().into());
        }
        doc
    }
}

/// The checkpoint partition of a channel.
pub(crate) fn partition(channel: &str) -> String {
    format!("channel:{channel}")
}

/// `ts` as (seconds, suffix) for ordering; Slack's ts are fixed-point decimals.
fn ts_key(ts: &str) -> (i64, u64) {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    (secs.parse().unwrap_or(0), frac.parse().unwrap_or(0))
}

fn ts_order(a: &str, b: &str) -> std::cmp::Ordering {
    ts_key(a).cmp(&ts_key(b))
}

fn ts_newer(ts: &str, than: &str) -> bool {
    than.is_empty() || ts_key(ts) > ts_key(than)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_order_as_numbers_and_days_are_utc() {
        assert!(ts_newer("1512085950.000216", "1512085950.000215"));
        assert!(ts_newer("1512085951.000001", "1512085950.999999"));
        assert!(!ts_newer("99.1", "100.0"));
        assert!(ts_newer("1.0", ""));
        assert_eq!(date_of(1_512_085_950), "2017-11-30");
        let cursor = ChannelCursor {
            latest: "1512085950.000216".into(),
            docs: [("day/2017-11-30".to_string(), 1_512_000_000)].into(),
        };
        let text = serde_json::to_string(&cursor).expect("json");
        assert_eq!(
            serde_json::from_str::<ChannelCursor>(&text).ok(),
            Some(cursor)
        );
    }
}
