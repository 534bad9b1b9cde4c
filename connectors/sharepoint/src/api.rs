//! The Microsoft Graph and SharePoint REST calls, on the SDK's polite HTTP client: every call
//! is rate limited, retried with backoff, refreshed once on a 401, and read under a cap.
//!
//! Graph calls go to `graph_url` with the paths Microsoft documents; paging follows the
//! absolute `@odata.nextLink` as given (learn.microsoft.com/graph/paging), and a delta walk
//! follows its links to the `@odata.deltaLink` (api/driveitem-delta). SharePoint REST (site
//! groups) goes to each site's own host, with a token for that host (`https://<tenant>.
//! sharepoint.com/.default`); `sharepoint_url` redirects the calls, not the tokens.
//! ADR 0019 says why this is reqwest and not `graph-rs-sdk`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use connector_sdk::auth::TokenSource;
use connector_sdk::feed::{encode_segment as encode, next_page};
use connector_sdk::http::{Classifier, HttpClient, Reply, Verdict};
use connector_sdk::{ByteStream, ConnectorError, ErrorKind};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::de::DeserializeOwned;

use crate::wire::{
    BatchRequest, BatchResponse, Drive, DriveItem, ErrorBody, Group, Member, Page, Permission,
    RestList, Site, SiteGroup, SiteGroupUser, User,
};

/// What a delta walk asks Graph for (api/driveitem-delta, "Scanning permissions
/// hierarchies"; scan-guidance): items whose sharing changed, marked
/// `@microsoft.graph.sharedChanged`, deletions shown as such, and items that permission
/// gaps would hide. Not `hierarchicalsharing`: without it Graph lists every item whose
/// effective permissions changed, not only the root of the change — and Graph is known to
/// leave the annotation off folders (microsoftgraph/msgraph-sdk-java#2548), so a folder
/// cannot be trusted to say that everything under it changed.
pub(crate) const DELTA_PREFER: &str =
    "deltashowremovedasdeleted, deltatraversepermissiongaps, deltashowsharingchanges";

/// Graph's limit of requests in one `$batch` (json-batching).
pub(crate) const BATCH_LIMIT: usize = 20;

/// Makes the tokens of a SharePoint host.
pub(crate) type HostTokens =
    dyn Fn(&str) -> Result<Arc<dyn TokenSource>, ConnectorError> + Send + Sync;

/// The client of one source.
pub(crate) struct Api {
    graph: String,
    http: HttpClient,
    /// `http` with the Graph token.
    pub(crate) client: HttpClient,
    sharepoint_url: Option<String>,
    pub(crate) page_size: u32,
    host_tokens: Box<HostTokens>,
    /// One authenticated client (and token cache) per SharePoint host.
    hosts: Mutex<HashMap<String, HttpClient>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("graph", &self.graph)
            .field("sharepoint_url", &self.sharepoint_url)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl Api {
    pub(crate) fn new(
        graph: &str,
        http: HttpClient,
        graph_token: Arc<dyn TokenSource>,
        host_tokens: Box<HostTokens>,
        sharepoint_url: Option<&str>,
        page_size: u32,
    ) -> Self {
        Api {
            graph: graph.trim_end_matches('/').to_string(),
            client: http.clone().with_auth(graph_token),
            http,
            sharepoint_url: sharepoint_url.map(|u| u.trim_end_matches('/').to_string()),
            page_size,
            host_tokens,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.graph)
    }

    /// Every page of a Graph collection from `url`.
    pub(crate) async fn all<T: DeserializeOwned>(
        &self,
        client: &HttpClient,
        url: String,
        call: &str,
    ) -> Result<Vec<T>, ConnectorError> {
        pages(url, call, |url| async move {
            let page: Page<T> = client.get_json(&url).await?;
            Ok((page.value, page.next_link))
        })
        .await
    }

    /// Every site the app can see (api/site-getallsites; `search=*` where the tenant
    /// refuses it).
    pub(crate) async fn sites(&self) -> Result<Vec<Site>, ConnectorError> {
        let select = "$select=id,name,displayName,webUrl";
        let all = self.url(&format!("/sites/getAllSites?{select}&$top=200"));
        match self.all(&self.client, all, "sites.getAllSites").await {
            Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::Permanent) => {
                tracing::debug!(error = %e, "getAllSites refused; searching for sites instead");
                let search = self.url(&format!("/sites?search=*&{select}"));
                self.all(&self.client, search, "sites.search").await
            }
            other => other,
        }
    }

    /// A site's document libraries (api/drive-list).
    pub(crate) async fn drives(&self, site: &str) -> Result<Vec<Drive>, ConnectorError> {
        let url = self.url(&format!(
            "/sites/{}/drives?$select=id,name,driveType,webUrl",
            encode(site)
        ));
        self.all(&self.client, url, "drives.list").await
    }

    /// The first delta URL of a library: a full enumeration.
    pub(crate) fn delta_url(&self, drive: &str) -> String {
        self.url(&format!(
            "/drives/{}/root/delta?$top={}",
            encode(drive),
            self.page_size
        ))
    }

    /// One page of a delta walk. A `410 Gone` is `CursorExpired` ([`GraphErrors`]).
    pub(crate) async fn delta_page(&self, url: &str) -> Result<Page<DriveItem>, ConnectorError> {
        self.client
            .send_json(|c| c.get(url).header("Prefer", DELTA_PREFER))
            .await
    }

    /// One page of a folder's children (api/driveitem-list-children).
    pub(crate) async fn children_page(
        &self,
        drive: &str,
        item: &str,
        link: Option<&str>,
    ) -> Result<Page<DriveItem>, ConnectorError> {
        let first;
        let url = match link {
            Some(link) => link,
            None => {
                first = self.url(&format!(
                    "/drives/{}/items/{}/children?$top={}",
                    encode(drive),
                    encode(item),
                    self.page_size
                ));
                &first
            }
        };
        self.client.get_json(url).await
    }

    /// An item, with its `parentReference.path` (api/driveitem-get).
    pub(crate) async fn item(&self, drive: &str, item: &str) -> Result<DriveItem, ConnectorError> {
        let url = self.url(&format!(
            "/drives/{}/items/{}?$select=id,name,parentReference,root,folder",
            encode(drive),
            encode(item)
        ));
        self.client.get_json(&url).await
    }

    /// The path of an item's permissions, relative to Graph (for `$batch`).
    pub(crate) fn permissions_path(drive: &str, item: &str) -> String {
        format!(
            "/drives/{}/items/{}/permissions",
            encode(drive),
            encode(item)
        )
    }

    /// An item's permissions, every page (api/driveitem-list-permissions).
    pub(crate) async fn permissions(
        &self,
        drive: &str,
        item: &str,
    ) -> Result<Vec<Permission>, ConnectorError> {
        let url = self.url(&Self::permissions_path(drive, item));
        self.all(&self.client, url, "permissions.list").await
    }

    /// The rest of a permission list whose first page came in a batch.
    pub(crate) async fn more_permissions(
        &self,
        link: String,
    ) -> Result<Vec<Permission>, ConnectorError> {
        self.all(&self.client, link, "permissions.list").await
    }

    /// Up to [`BATCH_LIMIT`] GETs in one `$batch` (json-batching).
    pub(crate) async fn batch(
        &self,
        requests: &[BatchRequest],
    ) -> Result<BatchResponse, ConnectorError> {
        debug_assert!(requests.len() <= BATCH_LIMIT);
        let body = serde_json::to_vec(&serde_json::json!({ "requests": requests }))
            .map_err(|e| ConnectorError::new(ErrorKind::Permanent, e.to_string()))?;
        let url = self.url("/$batch");
        self.client
            .send_json(|c| {
                c.post(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await
    }

    /// A file's bytes: `/content` answers with a redirect to a pre-authenticated URL,
    /// which the client follows (api/driveitem-get-content).
    pub(crate) async fn content(
        &self,
        drive: &str,
        item: &str,
        max: u64,
    ) -> Result<ByteStream, ConnectorError> {
        let url = self.url(&format!(
            "/drives/{}/items/{}/content",
            encode(drive),
            encode(item)
        ));
        self.client.get_stream(&url, max).await
    }

    /// Every user of the directory (api/user-list).
    pub(crate) async fn users(&self) -> Result<Vec<User>, ConnectorError> {
        let url = self.url("/users?$select=id,userPrincipalName,mail,userType&$top=999");
        self.all(&self.client, url, "users.list").await
    }

    /// Every group of the directory (api/group-list).
    pub(crate) async fn groups(&self) -> Result<Vec<Group>, ConnectorError> {
        let url = self.url("/groups?$select=id&$top=999");
        self.all(&self.client, url, "groups.list").await
    }

    /// A group's direct members, users and groups (api/group-list-members); the engine
    /// expands the nesting.
    pub(crate) async fn members(&self, group: &str) -> Result<Vec<Member>, ConnectorError> {
        let url = self.url(&format!(
            "/groups/{}/members?$select=id,userPrincipalName,mail&$top=999",
            encode(group)
        ));
        self.all(&self.client, url, "groups.members").await
    }

    /// The base of a site's SharePoint REST API and the host its token is for.
    pub(crate) fn rest_base(&self, site: &Site) -> Result<(String, String), ConnectorError> {
        let web = site.web_url.as_deref().ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::InvalidResponse,
                format!("site {} has no webUrl", site.id),
            )
        })?;
        let scheme_end = web.find("://").map(|i| i + 3).unwrap_or(0);
        let host_end = web[scheme_end..]
            .find('/')
            .map(|i| scheme_end + i)
            .unwrap_or(web.len());
        let origin = web[..host_end].to_string();
        let base = match &self.sharepoint_url {
            Some(proxy) => format!("{proxy}{}", &web[host_end..]),
            None => web.trim_end_matches('/').to_string(),
        };
        Ok((format!("{}/_api/web", base.trim_end_matches('/')), origin))
    }

    /// The client with a token for SharePoint host `origin`.
    pub(crate) fn host_client(&self, origin: &str) -> Result<HttpClient, ConnectorError> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = hosts.get(origin) {
            return Ok(client.clone());
        }
        let client = self.http.clone().with_auth((self.host_tokens)(origin)?);
        hosts.insert(origin.to_string(), client.clone());
        Ok(client)
    }

    /// Every page of a SharePoint REST collection.
    pub(crate) async fn rest_all<T: DeserializeOwned>(
        &self,
        client: &HttpClient,
        url: String,
        call: &str,
    ) -> Result<Vec<T>, ConnectorError> {
        pages(url, call, |url| async move {
            let list: RestList<T> = client
                .send_json(|c| {
                    c.get(&url)
                        .header(ACCEPT, "application/json;odata=nometadata")
                })
                .await?;
            Ok(match (list.value, list.d) {
                (Some(value), _) => (value, list.next_link),
                (None, Some(d)) => (d.results, d.next),
                (None, None) => (Vec::new(), None),
            })
        })
        .await
    }

    /// A site collection's SharePoint groups (REST `web/sitegroups`).
    pub(crate) async fn site_groups(&self, site: &Site) -> Result<Vec<SiteGroup>, ConnectorError> {
        let (base, origin) = self.rest_base(site)?;
        let client = self.host_client(&origin)?;
        self.rest_all(
            &client,
            format!("{base}/sitegroups?$select=Id"),
            "web.sitegroups",
        )
        .await
    }

    /// A SharePoint group's members: users, Entra groups, and claims such as "Everyone
    /// except external users" (REST `sitegroups/getbyid(n)/users`).
    pub(crate) async fn site_group_users(
        &self,
        site: &Site,
        group: i64,
    ) -> Result<Vec<SiteGroupUser>, ConnectorError> {
        let (base, origin) = self.rest_base(site)?;
        let client = self.host_client(&origin)?;
        let url = format!(
            "{base}/sitegroups/getbyid({group})/users?$select=LoginName,Email,UserPrincipalName,PrincipalType"
        );
        self.rest_all(&client, url, "sitegroup.users").await
    }
}

/// Every item of a paged collection from `first`: `page` reads one page (its items and
/// the next link); a link handed out twice in a row is refused ([`next_page`]).
async fn pages<T, F, Fut>(first: String, call: &str, page: F) -> Result<Vec<T>, ConnectorError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), ConnectorError>>,
{
    let mut out = Vec::new();
    let mut link = Some(first);
    while let Some(url) = link.take() {
        let (items, next) = page(url.clone()).await?;
        out.extend(items);
        link = next_page(Some(url), next, call)?;
    }
    Ok(out)
}

/// Graph's refusals, read from its error body: a `410 Gone` of a delta link is
/// `CursorExpired` (`resyncRequired`, `resyncChangesApplyDifferences`: the engine lists
/// everything again and diffs), and the code of any other 4xx goes into the message
/// (`status 403 (accessDenied)`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GraphErrors;

impl Classifier for GraphErrors {
    fn classify(&self, reply: &Reply) -> Option<Verdict> {
        let status = reply.status.as_u16();
        if !(400..500).contains(&status) || matches!(status, 401 | 429) {
            return None;
        }
        let codes = ErrorBody::codes(&reply.body);
        // Graph's codes are camelCase words; anything else is not echoed.
        let code = codes
            .iter()
            .rev()
            .find(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric()));
        let message = match code {
            Some(code) => format!("status {status} ({code})"),
            None => format!("status {status}"),
        };
        let kind = match status {
            410 => ErrorKind::CursorExpired,
            404 => ErrorKind::NotFound,
            _ => ErrorKind::Permanent,
        };
        Some(Verdict::Fail { kind, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn verdict(status: u16, body: &str) -> Option<Verdict> {
        let reply = Reply::new(
            StatusCode::from_u16(status).expect("status"),
            HeaderMap::new(),
            body.as_bytes().to_vec().into(),
        );
        GraphErrors.classify(&reply)
    }

    #[test]
    fn an_expired_delta_link_is_an_expired_cursor_and_codes_are_named() {
        let gone = verdict(
            410,
            r#"{"error":{"code":"resyncRequired","innerError":{"code":"resyncChangesApplyDifferences"}}}"#,
        );
        assert_eq!(
            gone,
            Some(Verdict::Fail {
                kind: ErrorKind::CursorExpired,
                message: "status 410 (resyncChangesApplyDifferences)".into()
            })
        );
        let denied = verdict(
            403,
            r#"{"error":{"code":"accessDenied","message":"<secret?>"}}"#,
        );
        assert_eq!(
            denied,
            Some(Verdict::Fail {
                kind: ErrorKind::Permanent,
                message: "status 403 (accessDenied)".into()
            })
        );
        assert_eq!(verdict(429, "{}"), None);
        assert_eq!(verdict(503, "{}"), None);
        assert!(matches!(
            verdict(404, "<html>"),
            Some(Verdict::Fail {
                kind: ErrorKind::NotFound,
                ..
            })
        ));
    }
}
