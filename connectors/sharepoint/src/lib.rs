//! SharePoint Online through Microsoft Graph: the document libraries of every site the app
//! can see (or of the configured ones), with their permissions — Entra ID users and groups,
//! SharePoint site groups, sharing links — kept current from each library's delta feed.
//!
//! - `api.rs`: the Graph and SharePoint REST calls on the SDK's polite HTTP client
//!   (ADR 0019 says why reqwest and not `graph-rs-sdk`).
//! - `listing.rs`: full listings and delta walks, one per library; `batch.rs`: permissions
//!   read twenty items at a time through `$batch`; `paths.rs`: folder paths.
//! - `acl.rs`: permissions → ACL; `identity.rs`: users, Entra groups and site groups.
//! - `wire.rs`: Microsoft's resources, field for field. `config.rs`: the source's keys.
//!
//! - `lists/`: the items of lists with their attachments, and site pages, with SharePoint
//!   role assignments as their permissions.
//!
//! Documents are files of document libraries, named `<drive id>/<item id>`; folders give
//! their paths (`<site>/<library>/<folders>/<file>`), which the path globs match. List
//! items are `<list id>/<item id>`, their attachments `<list id>/<item id>/attachments/
//! <name>`, with paths `<site>/<list>/<item id or page file>`.

mod acl;
mod api;
mod batch;
mod config;
mod identity;
mod listing;
mod lists;
mod paths;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use connector_sdk::auth::{ClientCredentials, TokenSource};
use connector_sdk::feed::{self, Out};
use connector_sdk::globs::GlobFilter;
use connector_sdk::http::{HttpClient, Politeness, PolitenessConfig};
use connector_sdk::{
    ByteStream, ChangeStream, ConfigProblem, Connector, ConnectorError, ErrorKind,
    MembershipStream, RemoteDocument, SourceCheckpoint, SyncContext,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use acl::EVERYONE_IN_TENANT;
pub use config::{DEFAULT_AUTHORITY_URL, DEFAULT_GRAPH_URL, SharePointConfig, SharePointType};

use config::Credential;
use listing::Library;
use wire::{Drive, DriveItem, Permission, Site};

/// The metadata key that marks a document listed without its permissions.
pub(crate) const ACL_UNREAD: &str = "acl_unread";

/// The SharePoint Online connector.
#[derive(Debug, Clone)]
pub struct SharePointConnector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: SharePointConfig,
    pub(crate) api: api::Api,
    sites: GlobFilter,
    libraries: GlobFilter,
    paths: GlobFilter,
    lists: GlobFilter,
}

/// `https://host/v1.0` → `https://host/.default`: the scope of app-only tokens for a
/// resource (auth-v2-service).
fn default_scope(url: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = url[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(url.len());
    format!("{}/.default", &url[..host_end])
}

impl SharePointConnector {
    /// A connector for `config`, reading its credential (the environment, the certificate
    /// file). Makes no request.
    pub fn new(config: SharePointConfig) -> Result<Self, ConnectorError> {
        ConfigProblem::check(&config.validate())?;
        let credential = config.credential()?;
        let policy = Politeness::new(PolitenessConfig {
            requests_per_second: Some(config.requests_per_second),
            burst: config.concurrency.max(1) as u32,
            max_concurrency: Some(config.concurrency.max(1)),
            request_timeout: std::time::Duration::from_secs(config.request_timeout_secs),
            ..PolitenessConfig::default()
        })?
        .with_classifier(api::GraphErrors);
        let http = HttpClient::new(policy)?;
        let token_url = config.token_url();
        let tokens = {
            let http = http.clone();
            let client_id = config.client_id.clone();
            move |scope: String| -> Result<Arc<dyn TokenSource>, ConnectorError> {
                match &credential {
                    Credential::Secret(secret) => Ok(Arc::new(
                        ClientCredentials::new(
                            http.clone(),
                            token_url.clone(),
                            client_id.clone(),
                            secret.clone(),
                        )
                        .with_scopes([scope]),
                    )),
                    Credential::Certificate(pem) => Ok(Arc::new(
                        ClientCredentials::with_certificate(
                            http.clone(),
                            token_url.clone(),
                            client_id.clone(),
                            pem,
                        )?
                        .with_scopes([scope]),
                    )),
                }
            }
        };
        let graph_token = tokens(default_scope(&config.graph_url))?;
        let api = api::Api::new(
            &config.graph_url,
            http,
            graph_token,
            Box::new(move |origin: &str| tokens(format!("{origin}/.default"))),
            config.sharepoint_url.as_deref(),
            config.page_size,
        );
        Ok(SharePointConnector {
            inner: Arc::new(Inner {
                sites: GlobFilter::new(
                    ("sites", &config.sites),
                    ("exclude_sites", &config.exclude_sites),
                )?,
                libraries: GlobFilter::new(
                    ("libraries", &config.libraries),
                    ("exclude_libraries", &config.exclude_libraries),
                )?,
                paths: GlobFilter::new(
                    ("include_paths", &config.include_paths),
                    ("exclude_paths", &config.exclude_paths),
                )?,
                lists: GlobFilter::new(
                    ("lists", &config.lists),
                    ("exclude_lists", &config.exclude_lists),
                )?,
                config,
                api,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SharePointConfig {
        &self.inner.config
    }
}

impl Inner {
    pub(crate) fn wants_site(&self, site: &Site) -> bool {
        self.sites
            .matches(site.web_url.as_deref().unwrap_or(&site.id))
    }

    pub(crate) fn wants_library(&self, drive: &Drive) -> bool {
        self.libraries.matches(&drive.name)
    }

    pub(crate) fn needs_paths(&self) -> bool {
        self.paths.restricts()
    }

    /// Whether a listed file is synced: its type and `<site>/<library>/<path>` within the
    /// filters.
    pub(crate) fn wants_file(&self, library: &Library, file: &DriveItem, path: &str) -> bool {
        let name = file.name.as_deref().unwrap_or("");
        let extension = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        let listed = |types: &[String]| {
            types
                .iter()
                .any(|t| t.trim_start_matches('.').eq_ignore_ascii_case(&extension))
        };
        if (!self.config.include_file_types.is_empty() && !listed(&self.config.include_file_types))
            || listed(&self.config.exclude_file_types)
        {
            return false;
        }
        self.wants_path(&format!("{}/{path}", library.root_path()))
    }

    /// Whether a path `<site>/<library or list>/…` is within the path globs.
    pub(crate) fn wants_path(&self, full: &str) -> bool {
        self.paths.matches(full)
    }

    /// The document of a file of `library`; `permissions` is `None` when they could not
    /// be read (an empty ACL until `resolve` reads them).
    pub(crate) fn document(
        &self,
        library: &Library,
        file: &DriveItem,
        permissions: Option<&[Permission]>,
        path: &str,
    ) -> RemoteDocument {
        let collection = library.site.collection_id();
        let acl = permissions
            .map(|p| {
                acl::acl_of(
                    p,
                    collection,
                    self.config.anonymous_links_searchable,
                    OffsetDateTime::now_utc(),
                )
            })
            .unwrap_or_default();
        let name = file.name.clone().unwrap_or_else(|| file.id.clone());
        // The content's version: the content hash, which a delta walk and a folder's
        // children both carry (delta leaves out cTag in SharePoint); else cTag, which moves
        // with the content only (not eTag, which also moves with metadata and permissions:
        // those must be ACL-only updates). The name is part of it, so that a rename
        // re-indexes the title.
        let content = file
            .file
            .as_ref()
            .and_then(|f| f.hashes.as_ref())
            .and_then(|h| h.quick_xor_hash.as_deref())
            .or(file.c_tag.as_deref())
            .or(file.last_modified_date_time.as_deref())
            .unwrap_or("");
        let mut doc =
            RemoteDocument::new(library.doc_id(&file.id), format!("{content}|{name}"), acl);
        doc.title = Some(name);
        doc.uri = file.web_url.clone();
        doc.content_type = file.file.as_ref().and_then(|f| f.mime_type.clone());
        doc.size = file.size;
        doc.modified = file
            .last_modified_date_time
            .as_deref()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        let meta = &mut doc.metadata;
        meta.insert("site".into(), library.site.path_name().into());
        meta.insert("site_id".into(), library.site.id.clone().into());
        meta.insert("library".into(), library.drive.name.clone().into());
        meta.insert("drive_id".into(), library.drive.id.clone().into());
        meta.insert("item_id".into(), file.id.clone().into());
        meta.insert(
            "path".into(),
            format!("{}/{path}", library.root_path()).into(),
        );
        if permissions.is_none() {
            meta.insert(ACL_UNREAD.into(), true.into());
        }
        doc
    }
}

pub(crate) fn meta<'a>(doc: &'a RemoteDocument, key: &str) -> Result<&'a str, ConnectorError> {
    doc.metadata
        .get(key)
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Permanent,
                format!(
                    "document {} has no {key}: it was not listed by this connector",
                    doc.id
                ),
            )
        })
}

#[async_trait]
impl Connector for SharePointConnector {
    fn kind(&self) -> &'static str {
        "sharepoint"
    }

    /// A token, one site, its libraries, one delta page (`token=latest`, which
    /// enumerates nothing), and its lists when lists or pages are synced.
    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        let inner = &self.inner;
        let sites: Vec<Site> = inner
            .api
            .sites()
            .await?
            .into_iter()
            .filter(|s| inner.wants_site(s))
            .collect();
        let Some(site) = sites.first() else {
            return Err(ConnectorError::new(
                ErrorKind::Permanent,
                "the app sees no site that the configuration wants (check sites, exclude_sites and the app's Sites.Read.All permission)",
            ));
        };
        let drives = inner.api.drives(&site.id).await?;
        if let Some(drive) = drives.iter().find(|d| inner.wants_library(d)) {
            let url = format!("{}&token=latest", inner.api.delta_url(&drive.id));
            inner.api.delta_page(&url).await?;
        }
        if inner.config.list_items || inner.config.pages {
            inner.api.lists(&site.id).await?;
        }
        Ok(())
    }

    fn full<'a>(
        &'a self,
        _cx: &'a SyncContext,
        resume: Option<&'a SourceCheckpoint>,
    ) -> ChangeStream<'a> {
        let inner = Arc::clone(&self.inner);
        let resume = resume.cloned();
        feed::spawn(move |out: Out| async move { inner.full(resume, &out).await })
    }

    fn incremental<'a>(
        &'a self,
        _cx: &'a SyncContext,
        since: &'a SourceCheckpoint,
    ) -> ChangeStream<'a> {
        let inner = Arc::clone(&self.inner);
        let since = since.clone();
        feed::spawn(move |out: Out| async move { inner.incremental(since, &out).await })
    }

    async fn fetch(
        &self,
        cx: &SyncContext,
        doc: &RemoteDocument,
    ) -> Result<ByteStream, ConnectorError> {
        if meta(doc, lists::KIND).ok() == Some(lists::ATTACHMENT) {
            return self
                .inner
                .fetch_attachment(doc, cx.limits.max_document_bytes)
                .await;
        }
        let drive = meta(doc, "drive_id")?;
        let item = meta(doc, "item_id")?;
        self.inner
            .api
            .content(drive, item, cx.limits.max_document_bytes)
            .await
    }

    /// Reads the permissions of a document the listing could not read them for.
    async fn resolve(
        &self,
        _cx: &SyncContext,
        doc: &mut RemoteDocument,
    ) -> Result<bool, ConnectorError> {
        if doc.metadata.get(ACL_UNREAD).and_then(|v| v.as_bool()) != Some(true) {
            return Ok(false);
        }
        if let Ok(lists::LIST_ITEM | lists::PAGE | lists::ATTACHMENT) = meta(doc, lists::KIND) {
            doc.acl = self.inner.resolve_list_acl(doc).await?;
            doc.metadata.remove(ACL_UNREAD);
            return Ok(true);
        }
        let drive = meta(doc, "drive_id")?.to_string();
        let item = meta(doc, "item_id")?.to_string();
        let site = meta(doc, "site_id")?;
        let collection = site.split(',').nth(1).unwrap_or(site).to_string();
        let permissions = self.inner.api.permissions(&drive, &item).await?;
        doc.acl = acl::acl_of(
            &permissions,
            &collection,
            self.inner.config.anonymous_links_searchable,
            OffsetDateTime::now_utc(),
        );
        doc.metadata.remove(ACL_UNREAD);
        Ok(true)
    }

    fn identities<'a>(&'a self, _cx: &'a SyncContext) -> MembershipStream<'a> {
        let inner = Arc::clone(&self.inner);
        feed::produce(move |tx| async move {
            if let Err(e) = inner.crawl_identities(&tx).await {
                let _ = tx.send(Err(e)).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_only_scopes_are_the_resource_origin() {
        assert_eq!(
            default_scope("https://graph.microsoft.com/v1.0"),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(
            default_scope("http://127.0.0.1:8080/v1.0/"),
            "http://127.0.0.1:8080/.default"
        );
        assert_eq!(
            default_scope("https://contoso.sharepoint.com"),
            "https://contoso.sharepoint.com/.default"
        );
    }
}
