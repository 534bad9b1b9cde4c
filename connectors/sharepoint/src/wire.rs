//! Microsoft Graph and SharePoint REST resources, field for field (only the fields read).
//!
//! Graph pages are `{"value": [...], "@odata.nextLink": "...", "@odata.deltaLink": "..."}`
//! (learn.microsoft.com/graph/paging); links are absolute URLs to be called as they are.

use serde::Deserialize;
use serde_json::Value;

/// A page of a Graph collection.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
pub(crate) struct Page<T> {
    #[serde(default)]
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
}

/// resources/site.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Site {
    /// `{hostname},{site-collection-id},{web-id}`.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub web_url: Option<String>,
}

impl Site {
    /// The site collection's id: the second part of the site id. SharePoint groups belong
    /// to the site collection, subsites share them.
    pub fn collection_id(&self) -> &str {
        self.id.split(',').nth(1).unwrap_or(&self.id)
    }

    /// The name paths start with: the last segment of its URL, else its display name.
    pub fn path_name(&self) -> String {
        self.web_url
            .as_deref()
            .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
            .filter(|s| !s.is_empty() && !s.contains(':'))
            .or(self.name.as_deref())
            .or(self.display_name.as_deref())
            .unwrap_or(&self.id)
            .to_string()
    }
}

/// resources/drive (a document library).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Drive {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub drive_type: Option<String>,
    #[serde(default)]
    pub web_url: Option<String>,
}

impl Drive {
    /// Whether it is the Site Pages library (its URL is `<site>/SitePages` in every
    /// language).
    pub fn is_site_pages(&self) -> bool {
        self.web_url.as_deref().is_some_and(|u| {
            u.trim_end_matches('/')
                .to_ascii_lowercase()
                .ends_with("/sitepages")
        })
    }
}

/// resources/driveitem, as delta and children return it.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DriveItem {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub c_tag: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub last_modified_date_time: Option<String>,
    #[serde(default)]
    pub web_url: Option<String>,
    #[serde(default)]
    pub parent_reference: Option<ItemReference>,
    #[serde(default)]
    pub file: Option<FileFacet>,
    #[serde(default)]
    pub folder: Option<Value>,
    #[serde(default)]
    pub root: Option<Value>,
    #[serde(default)]
    pub deleted: Option<Value>,
    /// `"True"` when the item's sharing changed (`Prefer: deltashowsharingchanges`).
    #[serde(rename = "@microsoft.graph.sharedChanged", default)]
    pub shared_changed: Option<Value>,
}

impl DriveItem {
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }

    pub fn is_folder(&self) -> bool {
        self.folder.is_some() || self.root.is_some()
    }

    pub fn sharing_changed(&self) -> bool {
        match &self.shared_changed {
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            Some(Value::Bool(b)) => *b,
            _ => false,
        }
    }

    pub fn parent_id(&self) -> Option<&str> {
        self.parent_reference.as_ref()?.id.as_deref()
    }
}

/// resources/itemreference.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemReference {
    #[serde(default)]
    pub id: Option<String>,
    /// `/drives/{id}/root:/Folder/Sub` — returned by a GET of an item, never by delta.
    #[serde(default)]
    pub path: Option<String>,
}

/// resources/file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileFacet {
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub hashes: Option<Hashes>,
}

/// resources/hashes.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Hashes {
    #[serde(default)]
    pub quick_xor_hash: Option<String>,
}

/// resources/permission.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Permission {
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub granted_to_v2: Option<IdentitySet>,
    #[serde(default)]
    pub granted_to_identities_v2: Vec<IdentitySet>,
    #[serde(default)]
    pub link: Option<SharingLink>,
    #[serde(default)]
    pub invitation: Option<Invitation>,
    #[serde(default)]
    pub expiration_date_time: Option<String>,
}

/// resources/sharepointidentityset.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IdentitySet {
    #[serde(default)]
    pub user: Option<Identity>,
    #[serde(default)]
    pub group: Option<Identity>,
    #[serde(default)]
    pub site_user: Option<Identity>,
    #[serde(default)]
    pub site_group: Option<Identity>,
}

/// resources/identity and resources/sharepointidentity (both read through one type).
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Identity {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub login_name: Option<String>,
}

/// resources/sharinglink.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SharingLink {
    #[serde(default)]
    pub scope: Option<String>,
}

/// resources/sharinginvitation.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Invitation {
    #[serde(default)]
    pub email: Option<String>,
}

/// resources/user.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct User {
    pub id: String,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub user_type: Option<String>,
}

impl User {
    /// The address the user is searched as: the mail address, else the UPN.
    pub fn email(&self) -> Option<String> {
        self.mail
            .as_deref()
            .or(self.user_principal_name.as_deref())
            .filter(|e| e.contains('@'))
            .map(|e| e.trim().to_lowercase())
    }
}

/// resources/group.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Group {
    pub id: String,
}

/// A directory object of a group's members (`@odata.type` tells users from groups).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Member {
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    pub id: String,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
}

/// A SharePoint group (REST `_api/web/sitegroups`, `odata=nometadata`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SiteGroup {
    pub id: i64,
}

/// A member of a SharePoint group (REST `sitegroups/getbyid(n)/users`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SiteGroupUser {
    #[serde(default)]
    pub login_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// 1 user, 2 distribution list, 4 security group, 8 SharePoint group.
    #[serde(default)]
    pub principal_type: Option<i64>,
}

/// A SharePoint REST collection (`odata=nometadata`: `value`; verbose: `d.results`).
#[derive(Debug, Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
pub(crate) struct RestList<T> {
    #[serde(default)]
    pub value: Option<Vec<T>>,
    #[serde(default)]
    pub d: Option<RestResults<T>>,
    #[serde(rename = "odata.nextLink", alias = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

/// The `d` of a verbose SharePoint REST answer.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: Deserialize<'de>")]
pub(crate) struct RestResults<T> {
    #[serde(default)]
    pub results: Vec<T>,
    #[serde(rename = "__next", default)]
    pub next: Option<String>,
}

/// One request of a `$batch` (json-batching).
#[derive(Debug, serde::Serialize)]
pub(crate) struct BatchRequest {
    pub id: String,
    pub method: &'static str,
    pub url: String,
}

/// A `$batch` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct BatchResponse {
    #[serde(default)]
    pub responses: Vec<BatchItem>,
}

/// One response inside a `$batch` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct BatchItem {
    pub id: String,
    pub status: u16,
    #[serde(default)]
    pub headers: std::collections::HashMap<String, String>,
    #[serde(default)]
    pub body: Option<Value>,
}

/// Graph's error body, `{"error": {"code": "...", "innerError": {"code": "..."}}}`.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<ErrorDetail>,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorDetail {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default, alias = "innererror")]
    pub inner_error: Option<Box<ErrorDetail>>,
}

impl ErrorBody {
    /// The error codes, outermost first (`resyncRequired`, `resyncChangesApplyDifferences`).
    pub fn codes(body: &[u8]) -> Vec<String> {
        let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let mut codes = Vec::new();
        let mut at = parsed.error.as_ref();
        while let Some(detail) = at {
            if let Some(code) = &detail.code {
                codes.push(code.clone());
            }
            at = detail.inner_error.as_deref();
        }
        codes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_items_read_as_the_docs_show_them() {
        let page: Page<DriveItem> = serde_json::from_str(
            r#"{"value":[
                {"id":"0123456789abc","name":"folder2","folder":{}},
                {"id":"123010204abac","name":"file.txt","file":{"mimeType":"text/plain"},
                 "cTag":"c1","parentReference":{"driveId":"d","id":"0123456789abc"},
                 "@microsoft.graph.sharedChanged":"True"},
                {"id":"2353010204ddgg","deleted":{"state":"deleted"}}],
              "@odata.nextLink":"https://graph.microsoft.com/v1.0/me/drive/delta(token=1230919asd190410jlka)"}"#,
        )
        .expect("a delta page");
        assert!(page.value[0].is_folder());
        assert!(page.value[1].sharing_changed());
        assert_eq!(page.value[1].parent_id(), Some("0123456789abc"));
        assert!(page.value[2].is_deleted() && page.value[2].name.is_none());
        assert!(page.next_link.is_some() && page.delta_link.is_none());
    }

    #[test]
    fn error_codes_are_read_to_the_innermost() {
        let body = br#"{"error":{"code":"resyncRequired","message":"m","innerError":{"code":"resyncChangesApplyDifferences"}}}"#;
        assert_eq!(
            ErrorBody::codes(body),
            ["resyncRequired", "resyncChangesApplyDifferences"]
        );
        assert!(ErrorBody::codes(b"not json").is_empty());
    }

    #[test]
    fn sites_name_their_collection_and_path() {
        let site = Site {
            id: "contoso.sharepoint.com,2C712604-1370-44E7-A1F5-426573FDA80A,2D2244C3-251A-49EA-93A8-39E1C3A060FE".into(),
            name: Some("Design".into()),
            display_name: None,
            web_url: Some("https://contoso.sharepoint.com/sites/design".into()),
        };
        assert_eq!(site.collection_id(), "2C712604-1370-44E7-A1F5-426573FDA80A");
        assert_eq!(site.path_name(), "design");
    }
}
