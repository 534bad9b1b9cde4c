//! The text of Slack documents: messages with their authors' names, times and permalinks,
//! mentions made readable.
//!
//! Slack's message text is its own markup (docs.slack.dev/messaging/formatting-message-
//! text): `<@U123>` a user, `<#C123|general>` a channel, `<!here>` and `<!subteam^S1|@eng>`
//! special mentions, `<https://…|label>` a link, and `&amp;` `&lt;` `&gt;` escaped. Each
//! message becomes a paragraph that starts with who wrote it and when, and ends with its
//! permalink, so that any chunk of a long thread cites the messages it holds.

use std::collections::HashMap;

use time::OffsetDateTime;
use time::macros::format_description;

use crate::wire::Message;

/// Names of users and channels, for mentions.
#[derive(Debug, Default, Clone)]
pub(crate) struct Names {
    pub users: HashMap<String, String>,
    pub channels: HashMap<String, String>,
}

impl Names {
    fn user(&self, id: &str) -> String {
        self.users
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

/// The seconds of a `ts`.
pub(crate) fn ts_secs(ts: &str) -> Option<i64> {
    ts.split('.').next()?.parse().ok()
}

/// `2026-12-06 10:04 UTC`.
pub(crate) fn when(ts: &str) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    ts_secs(ts)
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ts.to_string())
}

/// Slack's markup as readable text.
pub(crate) fn text(raw: &str, names: &Names) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.find('<') {
        out.push_str(&unescape(&rest[..open]));
        let Some(close) = rest[open..].find('>') else {
            out.push_str(&unescape(&rest[open..]));
            rest = "";
            break;
        };
        let inner = &rest[open + 1..open + close];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        let shown = if let Some(user) = target.strip_prefix('@') {
            format!(
                "@{}",
                label.map_or_else(|| names.user(user), str::to_string)
            )
        } else if let Some(channel) = target.strip_prefix('#') {
            let name = label
                .map(str::to_string)
                .or_else(|| names.channels.get(channel).cloned())
                .unwrap_or_else(|| channel.to_string());
            format!("#{name}")
        } else if let Some(special) = target.strip_prefix('!') {
            match label {
                Some(l) => l.to_string(),
                None => format!("@{}", special.split('^').next().unwrap_or(special)),
            }
        } else {
            let url = unescape(target.strip_prefix("mailto:").unwrap_or(target));
            match label {
                Some(l) if l != url => format!("{} ({url})", unescape(l)),
                _ => url,
            }
        };
        out.push_str(&shown);
        rest = &rest[open + close + 1..];
    }
    out.push_str(&unescape(rest));
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// One message as a paragraph: author, time, text, files, permalink.
pub(crate) fn message(m: &Message, names: &Names, permalink: &str) -> String {
    let author = m
        .user
        .as_deref()
        .map(|u| names.user(u))
        .or_else(|| m.username.clone())
        .unwrap_or_else(|| "unknown".into());
    let mut body = text(m.text.as_deref().unwrap_or(""), names);
    for file in &m.files {
        let name = file
            .title
            .as_deref()
            .or(file.name.as_deref())
            .unwrap_or(&file.id);
        body.push_str(&format!("\n[file: {name}]"));
    }
    let edited = if m.edited.is_some() { " (edited)" } else { "" };
    format!(
        "{author}, {}{edited}:\n{}\n{permalink}\n",
        when(&m.ts),
        body.trim()
    )
}

/// A short title from a message's text.
pub(crate) fn headline(m: &Message, names: &Names) -> String {
    let text = text(m.text.as_deref().unwrap_or(""), names);
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut cut: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let mut n = Names::default();
        n.users.insert("U1".into(), "ann".into());
        n.channels.insert("C9".into(), "general".into());
        n
    }

    #[test]
    fn markup_becomes_readable_text() {
        assert_eq!(
            text(
                "hi <@U1>, see <#C9> and <#C8|random> &amp; <https://x.test/a?b=1&amp;c|the doc>",
                &names()
            ),
            "hi @ann, see #general and #random & the doc (https://x.test/a?b=1&c)"
        );
        assert_eq!(
            text("<!here> <!subteam^S1|@eng> <@U7>", &names()),
            "@here @eng @U7"
        );
        assert_eq!(
            text("a &lt; b &lt;tag&gt; <mailto:a@b.c|a@b.c>", &names()),
            "a < b <tag> a@b.c"
        );
        assert_eq!(text("unclosed <@U1", &names()), "unclosed <@U1");
    }

    #[test]
    fn messages_say_who_when_and_where() {
        let m = Message {
            ts: "1512085950.000216".into(),
            user: Some("U1".into()),
            text: Some("ship it".into()),
            edited: Some(serde_json::json!({"ts": "1512085960.000000"})),
            ..Message::default()
        };
        assert_eq!(
            message(
                &m,
                &names(),
                "https://w.slack.com/archives/C9/p1512085950000216"
            ),
            "ann, 2017-11-30 23:52 UTC (edited):\nship it\nhttps://w.slack.com/archives/C9/p1512085950000216\n"
        );
        assert_eq!(when("junk"), "junk");
    }
}
