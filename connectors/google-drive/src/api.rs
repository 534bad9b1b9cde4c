//! The Drive v3 and Admin SDK Directory calls, on the SDK's polite HTTP client: every call
//! is rate limited, retried with backoff, refreshed once on a 401, and read under a cap.
//!
//! Requests go to `api_url` (`https://www.googleapis.com` by default) with the paths Google
//! documents (`/drive/v3/...`, `/admin/directory/v1/...`). Each call acts as a user through
//! domain-wide delegation: the listing of a My Drive as its owner, of a shared drive as one
//! of its members, the directory and `drives.list` as `admin_email`. Tokens ask for the
//! least each needs: users' tokens `drive.readonly`, the admin's that and the directory's
//! read-only scopes ([`USER_SCOPES`], [`ADMIN_SCOPES`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use connector_sdk::auth::ServiceAccount;
use connector_sdk::feed::{encode_segment as encode, next_page};
use connector_sdk::http::{Classifier, HttpClient, Reply, Verdict};
use connector_sdk::{ByteStream, ConnectorError, ErrorKind};
use serde::de::DeserializeOwned;

use crate::listing::Feed;
use crate::wire::{
    ChangeList, Drive, DriveList, ErrorBody, File, FileList, Group, GroupList, Member, MemberList,
    Permission, PermissionList, StartPageToken, UserList,
};

/// What a user's token may do: read Drive.
pub const USER_SCOPES: &[&str] = &["https://www.googleapis.com/auth/drive.readonly"];

/// What the admin's token may do: read Drive (shared drives with domain admin access) and
/// the directory's users, groups and members.
pub const ADMIN_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/drive.readonly",
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
];

/// The fields a listed file needs (partial response: Google returns only these).
const FILE_FIELDS: &str = "id,name,mimeType,parents,driveId,modifiedTime,md5Checksum,size,trashed,webViewLink,owners(emailAddress,me),shortcutDetails(targetId,targetMimeType),permissions(id,type,role,emailAddress,domain,allowFileDiscovery,deleted,expirationTime)";
const PERMISSION_FIELDS: &str = "id,type,role,emailAddress,domain,allowFileDiscovery,deleted,expirationTime,permissionDetails(permissionType,role,inherited,inheritedFrom)";

/// The client of one source.
#[derive(Debug)]
pub(crate) struct Api {
    base: String,
    http: HttpClient,
    /// The account with the users' scopes, impersonating nobody yet.
    user_account: ServiceAccount,
    admin_email: String,
    admin: HttpClient,
    page_size: u32,
    /// One authenticated client (and token cache) per impersonated user.
    users: Mutex<HashMap<String, HttpClient>>,
}

impl Api {
    pub(crate) fn new(
        base: &str,
        http: HttpClient,
        user_account: ServiceAccount,
        admin_account: &ServiceAccount,
        admin_email: &str,
        page_size: u32,
    ) -> Self {
        let admin = http
            .clone()
            .with_auth(Arc::new(admin_account.for_subject(admin_email)));
        Api {
            base: base.trim_end_matches('/').to_string(),
            http,
            user_account,
            admin_email: admin_email.to_string(),
            admin,
            page_size,
            users: Mutex::new(HashMap::new()),
        }
    }

    /// The client acting as `email`.
    fn as_user(&self, email: &str) -> HttpClient {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users
            .entry(email.to_string())
            .or_insert_with(|| {
                self.http
                    .clone()
                    .with_auth(Arc::new(self.user_account.for_subject(email)))
            })
            .clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        client: &HttpClient,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ConnectorError> {
        let url = self.url(path);
        client.send_json(|c| c.get(&url).query(query)).await
    }

    /// Active users' primary emails, lowercased and sorted (`users.list`, every page).
    pub(crate) async fn users(&self) -> Result<Vec<String>, ConnectorError> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        let size = self.page_size.min(500).to_string();
        loop {
            let mut query = vec![("customer", "my_customer"), ("maxResults", size.as_str())];
            if let Some(p) = &page {
                query.push(("pageToken", p));
            }
            let list: UserList = self
                .get(&self.admin, "/admin/directory/v1/users", &query)
                .await?;
            out.extend(
                list.users
                    .into_iter()
                    .filter(|u| !u.suspended && u.primary_email.contains('@'))
                    .map(|u| u.primary_email.to_lowercase()),
            );
            page = next_page(page, list.next_page_token, "users.list")?;
            if page.is_none() {
                break;
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Every shared drive of the domain, sorted by id (`drives.list` with domain admin
    /// access).
    pub(crate) async fn drives(&self) -> Result<Vec<Drive>, ConnectorError> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut query = vec![("useDomainAdminAccess", "true"), ("pageSize", "100")];
            if let Some(p) = &page {
                query.push(("pageToken", p));
            }
            let list: DriveList = self.get(&self.admin, "/drive/v3/drives", &query).await?;
            out.extend(list.drives);
            page = next_page(page, list.next_page_token, "drives.list")?;
            if page.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Who a shared drive is read as, and a fingerprint of its membership.
    pub(crate) async fn drive_access(&self, drive_id: &str) -> Result<DriveAccess, ConnectorError> {
        let members = self.permissions_as(&self.admin, drive_id, true).await?;
        let fingerprint = members_fingerprint(&members);
        let rank = |role: &str| match role {
            "organizer" => 0,
            "fileOrganizer" => 1,
            "writer" => 2,
            "commenter" => 3,
            _ => 4,
        };
        let mut users: Vec<(u8, String)> = members
            .into_iter()
            .filter(|p| p.kind == "user" && !p.deleted)
            .filter_map(|p| p.email_address.map(|e| (rank(&p.role), e.to_lowercase())))
            .collect();
        users.sort();
        Ok(DriveAccess {
            reader: users.into_iter().map(|(_, email)| email).next(),
            members: fingerprint,
        })
    }

    /// `changes.getStartPageToken` as `user`, for a shared drive or (without) the user's
    /// own view.
    pub(crate) async fn start_token(
        &self,
        user: &str,
        drive: Option<&str>,
    ) -> Result<String, ConnectorError> {
        let mut query = vec![("supportsAllDrives", "true")];
        if let Some(drive) = drive {
            query.push(("driveId", drive));
        }
        let token: StartPageToken = self
            .get(
                &self.as_user(user),
                "/drive/v3/changes/startPageToken",
                &query,
            )
            .await?;
        Ok(token.start_page_token)
    }

    /// One page of a feed's files (not trashed; a user's feed: the files they own).
    pub(crate) async fn files_page(
        &self,
        feed: &Feed,
        page: Option<&str>,
    ) -> Result<FileList, ConnectorError> {
        let q = match feed {
            Feed::User(_) => "'me' in owners and trashed = false".to_string(),
            Feed::Drive { .. } => "trashed = false".to_string(),
        };
        self.list_files(feed, &q, page).await
    }

    /// One page of a folder's children, trashed ones included (they are deletions).
    pub(crate) async fn children_page(
        &self,
        feed: &Feed,
        folder: &str,
        page: Option<&str>,
    ) -> Result<FileList, ConnectorError> {
        let q = format!(
            "'{}' in parents",
            folder.replace('\\', "\\\\").replace('\'', "\\'")
        );
        self.list_files(feed, &q, page).await
    }

    async fn list_files(
        &self,
        feed: &Feed,
        q: &str,
        page: Option<&str>,
    ) -> Result<FileList, ConnectorError> {
        let size = self.page_size.to_string();
        let fields = format!("nextPageToken,incompleteSearch,files({FILE_FIELDS})");
        let mut query = vec![
            ("q", q),
            ("pageSize", size.as_str()),
            ("fields", fields.as_str()),
            ("supportsAllDrives", "true"),
        ];
        match feed.drive_id() {
            Some(drive) => query.extend([
                ("corpora", "drive"),
                ("driveId", drive),
                ("includeItemsFromAllDrives", "true"),
            ]),
            None => query.push(("corpora", "user")),
        }
        if let Some(p) = page {
            query.push(("pageToken", p));
        }
        self.get(&self.as_user(feed.reader()), "/drive/v3/files", &query)
            .await
    }

    /// One page of a feed's changes from `token`. A token Drive no longer accepts is
    /// `CursorExpired` ("discard it and restart", ChangeList reference).
    pub(crate) async fn changes_page(
        &self,
        feed: &Feed,
        token: &str,
    ) -> Result<ChangeList, ConnectorError> {
        let size = self.page_size.to_string();
        let fields = format!(
            "nextPageToken,newStartPageToken,changes(changeType,removed,fileId,driveId,file({FILE_FIELDS}))"
        );
        let mut query = vec![
            ("pageToken", token),
            ("pageSize", size.as_str()),
            ("fields", fields.as_str()),
            ("includeRemoved", "true"),
            ("supportsAllDrives", "true"),
        ];
        match feed.drive_id() {
            Some(drive) => {
                query.extend([("driveId", drive), ("includeItemsFromAllDrives", "true")])
            }
            None => query.push(("includeItemsFromAllDrives", "false")),
        }
        let url = self.url("/drive/v3/changes");
        let client = self.as_user(feed.reader());
        // `send_json`: a page cut short is retried, and a decoding error names the field,
        // never a value (a file name in a log line).
        let page = client.send_json(|c| c.get(&url).query(&query)).await;
        match page {
            Ok(page) => Ok(page),
            Err(e) if e.kind == ErrorKind::InvalidResponse => Err(ConnectorError::new(
                ErrorKind::InvalidResponse,
                format!("changes.list of {}: {}", feed.partition(), e.message),
            )),
            Err(e) if is_rejected_token(&e) => Err(ConnectorError::new(
                ErrorKind::CursorExpired,
                format!(
                    "drive no longer accepts the page token of {}",
                    feed.partition()
                ),
            )),
            Err(e) => Err(e),
        }
    }

    /// Every permission of a file (or shared drive), as `user`.
    pub(crate) async fn permissions(
        &self,
        user: &str,
        file_id: &str,
    ) -> Result<Vec<Permission>, ConnectorError> {
        self.permissions_as(&self.as_user(user), file_id, false)
            .await
    }

    async fn permissions_as(
        &self,
        client: &HttpClient,
        file_id: &str,
        domain_admin: bool,
    ) -> Result<Vec<Permission>, ConnectorError> {
        let path = format!("/drive/v3/files/{}/permissions", encode(file_id));
        let fields = format!("nextPageToken,permissions({PERMISSION_FIELDS})");
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut query = vec![
                ("supportsAllDrives", "true"),
                ("pageSize", "100"),
                ("fields", fields.as_str()),
            ];
            if domain_admin {
                query.push(("useDomainAdminAccess", "true"));
            }
            if let Some(p) = &page {
                query.push(("pageToken", p));
            }
            let list: PermissionList = self.get(client, &path, &query).await?;
            out.extend(list.permissions);
            page = next_page(page, list.next_page_token, "permissions.list")?;
            if page.is_none() {
                return Ok(out);
            }
        }
    }

    /// A folder's name and parents, as `user`.
    pub(crate) async fn folder(&self, user: &str, id: &str) -> Result<File, ConnectorError> {
        let path = format!("/drive/v3/files/{}", encode(id));
        let query = [("fields", "id,name,parents"), ("supportsAllDrives", "true")];
        self.get(&self.as_user(user), &path, &query).await
    }

    /// A file's bytes as `user`: `alt=media`, or an export to `export` for Google's own
    /// formats. Drive refuses exports above 10 MB (`exportSizeLimitExceeded`): `TooLarge`.
    pub(crate) async fn content(
        &self,
        user: &str,
        id: &str,
        export: Option<&str>,
        max: u64,
    ) -> Result<ByteStream, ConnectorError> {
        let client = self.as_user(user);
        match export {
            Some(mime) => {
                let url = self.url(&format!("/drive/v3/files/{}/export", encode(id)));
                client
                    .send_stream(|c| c.get(&url).query(&[("mimeType", mime)]), max)
                    .await
            }
            None => {
                let url = self.url(&format!("/drive/v3/files/{}", encode(id)));
                client
                    .send_stream(
                        |c| {
                            c.get(&url)
                                .query(&[("alt", "media"), ("supportsAllDrives", "true")])
                        },
                        max,
                    )
                    .await
            }
        }
    }

    /// Every group of the domain.
    pub(crate) async fn groups(&self) -> Result<Vec<Group>, ConnectorError> {
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut query = vec![("customer", "my_customer"), ("maxResults", "200")];
            if let Some(p) = &page {
                query.push(("pageToken", p));
            }
            let list: GroupList = self
                .get(&self.admin, "/admin/directory/v1/groups", &query)
                .await?;
            out.extend(list.groups);
            page = next_page(page, list.next_page_token, "groups.list")?;
            if page.is_none() {
                return Ok(out);
            }
        }
    }

    /// Every member of a group.
    pub(crate) async fn members(&self, group: &str) -> Result<Vec<Member>, ConnectorError> {
        let path = format!("/admin/directory/v1/groups/{}/members", encode(group));
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut query = vec![("maxResults", "200")];
            if let Some(p) = &page {
                query.push(("pageToken", p));
            }
            let list: MemberList = self.get(&self.admin, &path, &query).await?;
            out.extend(list.members);
            page = next_page(page, list.next_page_token, "members.list")?;
            if page.is_none() {
                return Ok(out);
            }
        }
    }

    /// The admin the directory is read as.
    pub(crate) fn admin_email(&self) -> &str {
        &self.admin_email
    }
}

/// Whether an error is Drive refusing a change page token: a 400, 404 or 410 of
/// `changes.list` (the message carries the status, see [`DriveErrors`]).
fn is_rejected_token(e: &ConnectorError) -> bool {
    matches!(e.kind, ErrorKind::Permanent | ErrorKind::NotFound)
        && ["status 400", "status 404", "status 410"]
            .iter()
            .any(|s| e.message.contains(s))
}

/// Drive's refusals, read from Google's error body: an export above Drive's 10 MB limit is
/// `TooLarge` (the engine skips the document and still applies its ACL), and the reason of
/// any other 4xx goes into the message (`status 400 Bad Request (invalid)`), so that a
/// refused page token can be told from other failures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DriveErrors;

impl Classifier for DriveErrors {
    fn classify(&self, reply: &Reply) -> Option<Verdict> {
        let status = reply.status.as_u16();
        if !(400..500).contains(&status) || matches!(status, 401 | 429) {
            return None;
        }
        let reasons = ErrorBody::reasons(&reply.body);
        // Google's reasons are camelCase words; anything else is not echoed.
        let reason = reasons
            .iter()
            .find(|r| r.len() <= 64 && r.bytes().all(|b| b.is_ascii_alphanumeric()))?;
        let message = format!("status {status} ({reason})");
        let kind = match (status, reason.as_str()) {
            (_, "exportSizeLimitExceeded") => ErrorKind::TooLarge,
            (404 | 410, _) => ErrorKind::NotFound,
            _ => ErrorKind::Permanent,
        };
        Some(Verdict::Fail { kind, message })
    }
}

/// What [`Api::drive_access`] finds out about a shared drive.
pub(crate) struct DriveAccess {
    /// A user of the directory who is a member, to read the drive as: the first by role
    /// (organizers first, who also pass folders with limited access) then email.
    pub reader: Option<String>,
    /// A fingerprint of the whole membership. Every item's ACL holds the members, and a
    /// membership change is no change of the drive's items in Drive's change log (a new
    /// member gets one `drive` change in their own log: guides/about-changes), so the
    /// connector compares it between runs to know when to list the drive again.
    pub members: String,
}

/// FNV-1a over the sorted grants: kept in checkpoints, so it must not change between
/// releases, which std's `DefaultHasher` does not promise.
fn members_fingerprint(members: &[Permission]) -> String {
    let mut lines: Vec<String> = members
        .iter()
        .map(|p| {
            format!(
                "{}|{}|{}|{}|{}|{}",
                p.kind,
                p.role,
                p.email_address.as_deref().unwrap_or("").to_lowercase(),
                p.domain.as_deref().unwrap_or("").to_lowercase(),
                p.deleted,
                p.expiration_time.as_deref().unwrap_or(""),
            )
        })
        .collect();
    lines.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in lines.join("\n").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_ask_for_read_only_scopes_and_the_admin_alone_for_the_directory() {
        assert_eq!(
            USER_SCOPES,
            ["https://www.googleapis.com/auth/drive.readonly"]
        );
        assert!(ADMIN_SCOPES.iter().all(|s| s.ends_with(".readonly")));
        assert!(
            ADMIN_SCOPES
                .contains(&"https://www.googleapis.com/auth/admin.directory.group.readonly")
        );
    }
}
