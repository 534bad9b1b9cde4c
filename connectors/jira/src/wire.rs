//! Jira's resources, as far as the connector reads them. Every field the docs mark
//! optional is optional here, unknown fields are ignored, and ids are read whether Jira
//! writes them as strings or numbers (the reference shows both).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An id written as a string or a number.
pub(crate) fn any_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("not an id: {other}"))),
    }
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        _ => Ok(None),
    }
}

/// `null` read as the default.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct User {
    #[serde(default)]
    pub account_id: String,
    pub display_name: Option<String>,
    pub email_address: Option<String>,
    pub active: Option<bool>,
    pub account_type: Option<String>,
    pub time_zone: Option<String>,
}

impl User {
    pub(crate) fn name(&self) -> String {
        self.display_name
            .clone()
            .unwrap_or_else(|| self.account_id.clone())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Project {
    pub key: String,
    pub name: Option<String>,
    pub lead: Option<User>,
}

/// A `startAt`/`maxResults` page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Paged<T> {
    #[serde(default = "Vec::new")]
    pub values: Vec<T>,
    pub is_last: Option<bool>,
    pub total: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchPage {
    #[serde(default, deserialize_with = "nullable")]
    pub issues: Vec<Issue>,
    pub next_page_token: Option<String>,
    pub is_last: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Issue {
    #[serde(deserialize_with = "any_id")]
    pub id: String,
    pub key: Option<String>,
    #[serde(default)]
    pub fields: Fields,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Named {
    #[serde(default, deserialize_with = "opt_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Fields {
    pub summary: Option<String>,
    pub description: Option<Value>,
    pub status: Option<Named>,
    pub issuetype: Option<Named>,
    pub priority: Option<Named>,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub components: Vec<Named>,
    pub assignee: Option<User>,
    pub reporter: Option<User>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub project: Option<Named>,
    pub security: Option<Named>,
    #[serde(default, deserialize_with = "nullable")]
    pub attachment: Vec<Attachment>,
    pub comment: Option<CommentPage>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Attachment {
    #[serde(deserialize_with = "any_id")]
    pub id: String,
    pub filename: Option<String>,
    pub mime_type: Option<String>,
    pub size: Option<u64>,
    pub created: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommentPage {
    #[serde(default, deserialize_with = "nullable")]
    pub comments: Vec<Comment>,
    pub total: Option<u64>,
    pub start_at: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Comment {
    pub author: Option<User>,
    pub body: Option<Value>,
    pub created: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SchemeRef {
    #[serde(deserialize_with = "any_id")]
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PermissionScheme {
    #[serde(default, deserialize_with = "nullable")]
    pub permissions: Vec<Grant>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Grant {
    pub permission: Option<String>,
    pub holder: Option<HolderJson>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GroupRef {
    #[serde(rename = "groupId")]
    pub group_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HolderJson {
    #[serde(rename = "type")]
    pub kind: String,
    pub parameter: Option<String>,
    pub value: Option<String>,
    pub group: Option<GroupRef>,
    pub user: Option<User>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Role {
    #[serde(default, deserialize_with = "nullable")]
    pub actors: Vec<RoleActor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoleActor {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub actor_user: Option<User>,
    pub actor_group: Option<GroupRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SecurityScheme {
    #[serde(deserialize_with = "any_id")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub levels: Vec<Named>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LevelMember {
    pub holder: Option<HolderJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Group {
    pub group_id: Option<String>,
    pub name: Option<String>,
}
