//! Google Drive: every user's My Drive and every shared drive of a Google Workspace domain,
//! read through a service account with domain-wide delegation, with their permissions, and
//! kept current from Drive's changes feed.
//!
//! - `api.rs`: the Drive v3 and Admin SDK calls on the SDK's polite HTTP client (ADR 0018
//!   says why REST on reqwest and not `google-drive3`).
//! - `listing.rs`: feeds (a user's owned files, a shared drive), full listings, change feeds.
//! - `acl.rs`: permissions → ACL. `paths.rs`: folder paths for the path globs.
//! - `wire.rs`: Google's resources, field for field. `config.rs`: the source's keys.
//!
//! Google's own formats are exported to the Office format that keeps most of them (Docs to
//! DOCX with its headings, Sheets to XLSX with every sheet, Slides to PPTX with speaker
//! notes, Drawings to PDF); other native types (Forms, Sites, Maps) have no content to
//! export and are not synced. Shortcuts are not documents: their targets are synced once,
//! where they live.

mod acl;
mod api;
mod config;
mod listing;
mod paths;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use connector_sdk::auth::{ServiceAccount, ServiceAccountKey};
use connector_sdk::http::{GoogleThrottling, HttpClient, Politeness, PolitenessConfig};
use connector_sdk::{
    ByteStream, ChangeStream, ConfigProblem, Connector, ConnectorError, ErrorKind, Membership,
    MembershipStream, RemoteDocument, Secret, SourceCheckpoint, SyncContext,
};
use globset::{GlobSet, GlobSetBuilder};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use api::{ADMIN_SCOPES, USER_SCOPES};
pub use config::{DEFAULT_API_URL, DriveConfig, DriveType};

use connector_sdk::feed::{self, Out, retrying};
use listing::Feed;
use wire::File;

/// The Google Drive connector.
#[derive(Debug, Clone)]
pub struct DriveConnector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: DriveConfig,
    pub(crate) api: api::Api,
    include_paths: Option<GlobSet>,
    exclude_paths: GlobSet,
    include_mime: Option<GlobSet>,
    exclude_mime: GlobSet,
}

/// The MIME type a Google format is exported to, if it has content.
fn export_type(google_mime: &str) -> Option<&'static str> {
    Some(match google_mime {
        "application/vnd.google-apps.document" => {
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        }
        "application/vnd.google-apps.spreadsheet" => {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        }
        "application/vnd.google-apps.presentation" => {
            "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        }
        "application/vnd.google-apps.drawing" => "application/pdf",
        _ => return None,
    })
}

fn globs(key: &str, patterns: &[String]) -> Result<GlobSet, Vec<connector_sdk::ConfigProblem>> {
    let mut builder = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        let glob = globset::Glob::new(p).map_err(|e| {
            vec![connector_sdk::ConfigProblem::new(
                format!("{key}[{i}]"),
                format!("not a glob: {}", e.kind()),
            )]
        })?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| vec![connector_sdk::ConfigProblem::new(key, e.to_string())])
}

impl DriveConnector {
    /// A connector for `config` with its service account `key` (JSON). Makes no request.
    pub fn new(config: DriveConfig, key: &Secret) -> Result<Self, ConnectorError> {
        ConfigProblem::check(&config.validate())?;
        let mut key = ServiceAccountKey::from_json(key.expose())?;
        if let Some(token_url) = &config.token_url {
            key = key.with_token_uri(token_url.clone());
        }
        let policy = Politeness::new(PolitenessConfig {
            requests_per_second: Some(config.requests_per_second),
            burst: config.concurrency.max(1) as u32,
            max_concurrency: Some(config.concurrency.max(1)),
            request_timeout: std::time::Duration::from_secs(config.request_timeout_secs),
            ..PolitenessConfig::default()
        })?
        .with_classifier(GoogleThrottling)
        .with_classifier(api::DriveErrors);
        let http = HttpClient::new(policy)?;
        let users = ServiceAccount::new(http.clone(), &key, USER_SCOPES.iter().copied())?;
        let admin = ServiceAccount::new(http.clone(), &key, ADMIN_SCOPES.iter().copied())?;
        let api = api::Api::new(
            &config.api_url,
            http,
            users,
            &admin,
            &config.admin_email,
            config.page_size,
        );
        let invalid = |p: Vec<connector_sdk::ConfigProblem>| {
            ConnectorError::new(ErrorKind::Permanent, p[0].to_string())
        };
        let optional = |key: &str, patterns: &[String]| {
            (!patterns.is_empty())
                .then(|| globs(key, patterns))
                .transpose()
                .map_err(invalid)
        };
        Ok(DriveConnector {
            inner: Arc::new(Inner {
                include_paths: optional("include_paths", &config.include_paths)?,
                exclude_paths: globs("exclude_paths", &config.exclude_paths).map_err(invalid)?,
                include_mime: optional("include_mime_types", &config.include_mime_types)?,
                exclude_mime: globs("exclude_mime_types", &config.exclude_mime_types)
                    .map_err(invalid)?,
                config,
                api,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DriveConfig {
        &self.inner.config
    }
}

impl Inner {
    pub(crate) fn wants_user(&self, email: &str) -> bool {
        self.config.users.is_empty()
            || self
                .config
                .users
                .iter()
                .any(|u| u.eq_ignore_ascii_case(email))
    }

    pub(crate) fn wants_drive(&self, drive: &wire::Drive) -> bool {
        let named = |list: &[String]| list.iter().any(|n| *n == drive.id || *n == drive.name);
        (self.config.include_shared_drives.is_empty() || named(&self.config.include_shared_drives))
            && !named(&self.config.exclude_shared_drives)
    }

    pub(crate) fn needs_paths(&self) -> bool {
        self.include_paths.is_some() || !self.config.exclude_paths.is_empty()
    }

    /// Whether a listed file is synced: a document (not a folder or shortcut), of a type
    /// with content, within the MIME and path globs.
    pub(crate) fn wants_file(&self, file: &File, path: Option<&str>) -> bool {
        if file.mime_type == wire::FOLDER || file.mime_type == wire::SHORTCUT {
            return false;
        }
        if file.is_native() && export_type(&file.mime_type).is_none() {
            return false;
        }
        let mime = file.mime_type.as_str();
        if self
            .include_mime
            .as_ref()
            .is_some_and(|g| !g.is_match(mime))
            || self.exclude_mime.is_match(mime)
        {
            return false;
        }
        match path {
            Some(path) => {
                !(self
                    .include_paths
                    .as_ref()
                    .is_some_and(|g| !g.is_match(path))
                    || self.exclude_paths.is_match(path))
            }
            None => true,
        }
    }

    /// The document of a file of `feed` with its permissions.
    pub(crate) fn document(
        &self,
        feed: &Feed,
        file: &File,
        permissions: &[wire::Permission],
        path: Option<String>,
    ) -> RemoteDocument {
        let acl = acl::acl_of(
            permissions,
            self.config.link_sharing_searchable,
            OffsetDateTime::now_utc(),
        );
        let export = export_type(&file.mime_type);
        // The content's version: its checksum, or for Google's formats (which have none)
        // its modification time. Not Drive's `version`, which also moves when only the
        // permissions change: that must be an ACL-only update, without a download. The name
        // is part of it, so that a rename re-indexes the title.
        let content = file
            .md5_checksum
            .as_deref()
            .or(file.modified_time.as_deref())
            .unwrap_or("");
        let mut doc = RemoteDocument::new(
            feed.doc_id(&file.id),
            format!("{content}|{}", file.name),
            acl,
        );
        doc.title = Some(file.name.clone());
        doc.uri = file.web_view_link.clone();
        doc.content_type = Some(export.unwrap_or(&file.mime_type).to_string());
        doc.size = if export.is_some() {
            None
        } else {
            file.size.as_deref().and_then(|s| s.parse().ok())
        };
        doc.modified = file
            .modified_time
            .as_deref()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        let meta = &mut doc.metadata;
        meta.insert("drive_file_id".into(), file.id.clone().into());
        meta.insert("mime_type".into(), file.mime_type.clone().into());
        meta.insert("read_as".into(), feed.reader().to_string().into());
        if let Some(export) = export {
            meta.insert("export_as".into(), export.into());
        }
        match feed {
            Feed::User(owner) => meta.insert("owner".into(), owner.clone().into()),
            Feed::Drive { id, .. } => meta.insert("shared_drive".into(), id.clone().into()),
        };
        if let Some(path) = path {
            meta.insert("path".into(), path.into());
        }
        doc
    }
}

fn meta<'a>(doc: &'a RemoteDocument, key: &str) -> Result<&'a str, ConnectorError> {
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
impl Connector for DriveConnector {
    fn kind(&self) -> &'static str {
        "google-drive"
    }

    async fn check(&self, _cx: &SyncContext) -> Result<(), ConnectorError> {
        let api = &self.inner.api;
        let users = api.users().await?;
        let drives = api.drives().await?;
        if let Some(user) = users.iter().find(|u| self.inner.wants_user(u)) {
            api.start_token(user, None).await?;
        }
        if users.is_empty() && drives.is_empty() {
            return Err(ConnectorError::new(
                ErrorKind::Permanent,
                format!(
                    "the directory of {} lists no active user and no shared drive",
                    api.admin_email()
                ),
            ));
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
        let user = meta(doc, "read_as")?;
        let id = meta(doc, "drive_file_id")?;
        let export = doc.metadata.get("export_as").and_then(|v| v.as_str());
        self.inner
            .api
            .content(user, id, export, cx.limits.max_document_bytes)
            .await
    }

    fn identities<'a>(&'a self, _cx: &'a SyncContext) -> MembershipStream<'a> {
        let inner = Arc::clone(&self.inner);
        feed::produce(move |tx| async move {
            if let Err(e) = inner.crawl_directory(&tx).await {
                let _ = tx.send(Err(e)).await;
            }
        })
    }
}

impl Inner {
    /// Groups and their members from the Admin SDK: users in groups, groups in groups (the
    /// engine expands the nesting), and "everyone in the organization" members as every
    /// active user.
    async fn crawl_directory(
        &self,
        tx: &tokio::sync::mpsc::Sender<Result<Membership, ConnectorError>>,
    ) -> Result<(), ConnectorError> {
        let mut everyone: Option<Vec<String>> = None;
        for group in retrying(tx, || self.api.groups()).await? {
            let parent = group.email.trim().to_lowercase();
            for member in retrying(tx, || self.api.members(&group.email)).await? {
                if member.status.as_deref().is_some_and(|s| s != "ACTIVE") {
                    continue;
                }
                let email = member.email.as_deref().map(|e| e.trim().to_lowercase());
                let facts: Vec<Membership> = match (member.kind.as_str(), email) {
                    ("USER", Some(user)) => vec![Membership::UserInGroup {
                        user,
                        group: parent.clone(),
                    }],
                    ("GROUP", Some(child)) => vec![Membership::GroupInGroup {
                        child,
                        parent: parent.clone(),
                    }],
                    ("CUSTOMER", _) => {
                        if everyone.is_none() {
                            everyone = Some(retrying(tx, || self.api.users()).await?);
                        }
                        everyone
                            .iter()
                            .flatten()
                            .map(|user| Membership::UserInGroup {
                                user: user.clone(),
                                group: parent.clone(),
                            })
                            .collect()
                    }
                    _ => Vec::new(),
                };
                for fact in facts {
                    if tx.send(Ok(fact)).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_formats_export_to_the_office_format_that_keeps_them() {
        assert!(
            export_type("application/vnd.google-apps.document")
                .is_some_and(|m| m.ends_with("document"))
        );
        assert!(
            export_type("application/vnd.google-apps.spreadsheet")
                .is_some_and(|m| m.ends_with("sheet"))
        );
        assert!(
            export_type("application/vnd.google-apps.presentation")
                .is_some_and(|m| m.ends_with("presentation"))
        );
        assert_eq!(export_type("application/vnd.google-apps.form"), None);
        assert_eq!(export_type("application/pdf"), None);
    }
}
