//! The Drive API v3 and Admin SDK Directory resources this connector reads, with Google's
//! field names and types (reference/rest/v3/files, permissions, changes, drives;
//! admin-sdk/directory/reference/rest/v1/users, members). Only what the connector uses is
//! declared; unknown fields are ignored, missing optional ones default. `size` and
//! `version` are int64 values, which Google's JSON carries as strings.

use serde::Deserialize;

/// Google's MIME type of folders.
pub const FOLDER: &str = "application/vnd.google-apps.folder";
/// Google's MIME type of shortcuts.
pub const SHORTCUT: &str = "application/vnd.google-apps.shortcut";

/// A `files` resource.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct File {
    pub id: String,
    pub name: String,
    pub mime_type: String,
    pub parents: Vec<String>,
    /// Set for items of a shared drive.
    pub drive_id: Option<String>,
    /// RFC 3339.
    pub modified_time: Option<String>,
    /// Binary files only.
    pub md5_checksum: Option<String>,
    /// Bytes, as a decimal string; binary files only.
    pub size: Option<String>,
    pub trashed: bool,
    pub web_view_link: Option<String>,
    /// My Drive items: their owner (one).
    pub owners: Vec<User>,
    /// Only when the requesting user may share the file; never for shared-drive items.
    pub permissions: Option<Vec<Permission>>,
    pub shortcut_details: Option<ShortcutDetails>,
}

impl File {
    /// Whether the impersonated user owns it (`owners[].me`).
    pub fn owned_by_me(&self) -> bool {
        self.owners.iter().any(|o| o.me)
    }

    /// Google Docs, Sheets, Slides and the other native types, which have no bytes of
    /// their own and are exported.
    pub fn is_native(&self) -> bool {
        self.mime_type.starts_with("application/vnd.google-apps.")
    }
}

/// A `User` inside a file resource.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub email_address: Option<String>,
    pub me: bool,
}

/// `shortcutDetails`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct ShortcutDetails {
    pub target_id: String,
    pub target_mime_type: Option<String>,
}

/// A `permissions` resource.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Permission {
    pub id: String,
    /// `user`, `group`, `domain` or `anyone`.
    #[serde(rename = "type")]
    pub kind: String,
    pub role: String,
    pub email_address: Option<String>,
    pub domain: Option<String>,
    pub allow_file_discovery: Option<bool>,
    pub deleted: bool,
    /// RFC 3339.
    pub expiration_time: Option<String>,
    /// Shared-drive items: where the permission comes from.
    pub permission_details: Vec<PermissionDetails>,
}

/// `permissionDetails[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct PermissionDetails {
    /// `file` or `member`.
    pub permission_type: String,
    pub role: String,
    pub inherited_from: Option<String>,
    pub inherited: bool,
}

/// `permissions.list`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PermissionList {
    pub permissions: Vec<Permission>,
    pub next_page_token: Option<String>,
}

/// `files.list`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileList {
    pub files: Vec<File>,
    pub next_page_token: Option<String>,
    /// The corpora could not all be searched: the listing is incomplete.
    pub incomplete_search: bool,
}

/// A `drives` resource.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Drive {
    pub id: String,
    pub name: String,
}

/// `drives.list`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DriveList {
    pub drives: Vec<Drive>,
    pub next_page_token: Option<String>,
}

/// `changes.getStartPageToken`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartPageToken {
    pub start_page_token: String,
}

/// A `changes` resource.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Change {
    /// `file` or `drive`.
    pub change_type: String,
    /// The file (or drive) was removed from this list: deleted, or access lost.
    pub removed: bool,
    pub file_id: Option<String>,
    pub file: Option<File>,
    pub drive_id: Option<String>,
}

/// `changes.list`: `nextPageToken` on every page but the last, which carries
/// `newStartPageToken`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChangeList {
    pub changes: Vec<Change>,
    pub next_page_token: Option<String>,
    pub new_start_page_token: Option<String>,
}

/// Admin SDK `users` resource.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct DirectoryUser {
    pub primary_email: String,
    pub suspended: bool,
}

/// Admin SDK `users.list`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserList {
    pub users: Vec<DirectoryUser>,
    pub next_page_token: Option<String>,
}

/// Admin SDK `groups` resource.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Group {
    pub id: String,
    pub email: String,
}

/// Admin SDK `groups.list`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    pub groups: Vec<Group>,
    pub next_page_token: Option<String>,
}

/// Admin SDK `members` resource.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Member {
    pub email: Option<String>,
    /// `USER`, `GROUP` or `CUSTOMER`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `ACTIVE`, `SUSPENDED`, …
    pub status: Option<String>,
}

/// Admin SDK `members.list`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MemberList {
    pub members: Vec<Member>,
    pub next_page_token: Option<String>,
}

/// Google's error body: `{"error": {"code", "message", "errors": [{"reason"}]}}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The `error` object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    pub code: u16,
    pub message: String,
    pub errors: Vec<ErrorReason>,
}

/// One of `error.errors`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ErrorReason {
    pub reason: String,
}

impl ErrorBody {
    /// The reasons in a body, if it is Google's error shape.
    pub fn reasons(body: &[u8]) -> Vec<String> {
        serde_json::from_slice::<ErrorBody>(body)
            .map(|b| b.error.errors.into_iter().map(|e| e.reason).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_reads_as_google_writes_it() {
        let file: File = serde_json::from_str(
            r#"{"kind":"drive#file","id":"f1","name":"Plan.pdf","mimeType":"application/pdf",
            "parents":["0AF"],"size":"1024","version":"7","md5Checksum":"abc",
            "modifiedTime":"2024-02-01T00:00:00.000Z","trashed":false,
            "owners":[{"kind":"drive#user","emailAddress":"ann@example.com","me":true}],
            "permissions":[{"kind":"drive#permission","id":"1","type":"user","role":"owner",
              "emailAddress":"ann@example.com"}]}"#,
        )
        .expect("file");
        assert_eq!(file.size.as_deref(), Some("1024"));
        assert!(file.owned_by_me() && !file.is_native());
        assert_eq!(file.permissions.expect("permissions")[0].kind, "user");
    }

    #[test]
    fn google_error_reasons_are_read_and_anything_else_has_none() {
        let body = br#"{"error":{"code":403,"message":"User Rate Limit Exceeded",
            "errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}]}}"#;
        assert_eq!(ErrorBody::reasons(body), ["userRateLimitExceeded"]);
        assert!(ErrorBody::reasons(b"<html>").is_empty());
    }
}
