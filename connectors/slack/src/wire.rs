//! Slack Web API objects, field for field (only the fields read): conversations, messages,
//! files, users (docs.slack.dev/reference/objects). Timestamps (`ts`) are strings
//! `"1512085950.000216"`: seconds and a per-channel unique suffix; they are ids, compared
//! as numbers.

use serde::Deserialize;

/// `response_metadata` of a paginated method; `next_cursor` is `""` on the last page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ResponseMetadata {
    #[serde(default)]
    pub next_cursor: Option<String>,
}

impl ResponseMetadata {
    /// The cursor of the next page, if there is one.
    pub fn next(self) -> Option<String> {
        self.next_cursor.filter(|c| !c.is_empty())
    }
}

/// `auth.test`.
#[derive(Debug, Deserialize)]
pub(crate) struct AuthTest {
    #[serde(default)]
    pub url: Option<String>,
}

/// A conversation: a channel, a private channel, a group DM or a DM.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct Conversation {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub is_private: bool,
    #[serde(default)]
    pub is_group: bool,
    #[serde(default)]
    pub is_im: bool,
    #[serde(default)]
    pub is_mpim: bool,
    #[serde(default)]
    pub is_archived: bool,
    #[serde(default)]
    pub is_member: bool,
}

impl Conversation {
    /// Whether every member of the workspace may read it.
    pub fn is_public(&self) -> bool {
        !(self.is_private || self.is_group || self.is_im || self.is_mpim)
    }

    /// Its name for titles: `#general`, or the id of a nameless one.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) if self.is_mpim => name.clone(),
            Some(name) => format!("#{name}"),
            None => self.id.clone(),
        }
    }
}

/// `conversations.list`.
#[derive(Debug, Deserialize)]
pub(crate) struct ConversationList {
    #[serde(default)]
    pub channels: Vec<Conversation>,
    #[serde(default)]
    pub response_metadata: ResponseMetadata,
}

/// `conversations.members`.
#[derive(Debug, Deserialize)]
pub(crate) struct Members {
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub response_metadata: ResponseMetadata,
}

/// `conversations.history` and `conversations.replies`.
#[derive(Debug, Deserialize)]
pub(crate) struct History {
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub response_metadata: ResponseMetadata,
}

/// A message.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Message {
    pub ts: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub subtype: Option<String>,
    #[serde(default)]
    pub thread_ts: Option<String>,
    #[serde(default)]
    pub reply_count: Option<u64>,
    /// Present once the message was edited.
    #[serde(default)]
    pub edited: Option<serde_json::Value>,
    #[serde(default)]
    pub files: Vec<File>,
}

impl Message {
    /// Whether it starts a thread that has replies.
    pub fn is_thread_parent(&self) -> bool {
        self.thread_ts.as_deref() == Some(self.ts.as_str()) && self.reply_count.unwrap_or(0) > 0
    }

    /// Whether it is a reply shown in its thread only (not a broadcast).
    pub fn is_reply(&self) -> bool {
        self.thread_ts
            .as_deref()
            .is_some_and(|t| t != self.ts.as_str())
            && self.subtype.as_deref() != Some("thread_broadcast")
    }

    /// Whether Slack shows it to people: not a channel event (joins, topic changes) nor
    /// the tombstone of a deleted thread parent.
    pub fn is_content(&self) -> bool {
        match self.subtype.as_deref() {
            None | Some("thread_broadcast" | "file_share" | "bot_message" | "me_message") => true,
            Some(_) => false,
        }
    }
}

/// A file shared in a message (or `files.info`).
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct File {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub mimetype: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default)]
    pub updated: Option<i64>,
    #[serde(default)]
    pub url_private_download: Option<String>,
    #[serde(default)]
    pub url_private: Option<String>,
    #[serde(default)]
    pub permalink: Option<String>,
    /// `"tombstone"` for a deleted file still referenced by a message.
    #[serde(default)]
    pub mode: Option<String>,
}

/// `users.list`.
#[derive(Debug, Deserialize)]
pub(crate) struct UserList {
    #[serde(default)]
    pub members: Vec<User>,
    #[serde(default)]
    pub response_metadata: ResponseMetadata,
}

/// A user of the workspace.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct User {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub is_restricted: bool,
    #[serde(default)]
    pub is_ultra_restricted: bool,
    #[serde(default)]
    pub profile: Profile,
}

impl User {
    /// The address they are searched as: their email, else their Slack id.
    pub fn principal(&self) -> String {
        self.profile
            .email
            .as_deref()
            .filter(|e| e.contains('@'))
            .map(|e| e.trim().to_lowercase())
            .unwrap_or_else(|| self.id.clone())
    }

    /// The name shown for them: display name, real name, handle, id.
    pub fn shown_name(&self) -> String {
        [
            self.profile.display_name.as_deref(),
            self.profile.real_name.as_deref(),
            self.name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .find(|n| !n.trim().is_empty())
        .unwrap_or(&self.id)
        .to_string()
    }

    /// Whether they are a guest (single- or multi-channel): they read only the channels
    /// they are in.
    pub fn is_guest(&self) -> bool {
        self.is_restricted || self.is_ultra_restricted
    }
}

/// `profile` of a user.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Profile {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub real_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_the_method_pages_show_them() {
        let history: History = serde_json::from_str(
            r#"{"ok":true,"has_more":true,"messages":[
                {"type":"message","user":"U061F7AUR","text":"island","thread_ts":"1482960137.003543",
                 "ts":"1482960137.003543","reply_count":3},
                {"type":"message","user":"U061F7AUR","text":"one island","thread_ts":"1482960137.003543",
                 "ts":"1483037603.017503","parent_user_id":"U061F7AUR"},
                {"type":"message","subtype":"channel_join","user":"U1","text":"joined","ts":"1.0"}],
              "response_metadata":{"next_cursor":""}}"#,
        )
        .expect("history");
        assert!(history.messages[0].is_thread_parent());
        assert!(history.messages[1].is_reply());
        assert!(!history.messages[2].is_content());
        assert_eq!(history.response_metadata.next(), None);
    }
}
