//! The connector registry: every source type the binary knows, in one list you can grep.
//! Adding a connector means one entry in [`TYPES`] and one variant in [`SourceKind`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use std::time::Duration;

use connector_filesystem::{DefaultAccess, FilesystemConfig, FilesystemConnector};
use connector_s3::{S3Config, S3Connector};
use connector_sdk::{ConfigProblem, Connector};
use toml::Table;

use crate::reader::{Problem, Reader, resolve};

/// Source types, by their `type = "..."` name.
const TYPES: &[(&str, Parser)] = &[("filesystem", parse_filesystem), ("s3", parse_s3)];

type Parser = fn(&mut Reader<'_, '_>, &Path) -> Option<SourceKind>;

/// A validated `[[sources]]` entry.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub id: String,
    pub kind: SourceKind,
    /// `group_namespace`: the namespace of its groups, when not its id.
    pub group_namespace: Option<String>,
    /// `[sources.aliases]`: the source's user ids → emails (lowercased).
    pub aliases: BTreeMap<String, String>,
}

/// Each connector's typed configuration.
#[derive(Debug, Clone)]
pub enum SourceKind {
    Filesystem(FilesystemConfig),
    S3(S3Config),
}

impl SourceConfig {
    /// The `type` name.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            SourceKind::Filesystem(_) => "filesystem",
            SourceKind::S3(_) => "s3",
        }
    }

    /// The namespace of its groups: `group_namespace`, else its id.
    pub fn namespace(&self) -> &str {
        self.group_namespace.as_deref().unwrap_or(&self.id)
    }

    /// Whether the source has no directory of its own (its `identities()` is empty), so that
    /// the identities file defines its groups unless `[identities] sources` says otherwise.
    pub fn has_no_directory(&self) -> bool {
        matches!(self.kind, SourceKind::Filesystem(_) | SourceKind::S3(_))
    }

    /// The engine's view of it: id, connector, namespace.
    pub fn source(&self) -> anyhow::Result<sync_core::Source> {
        let mut source = sync_core::Source::new(self.id.clone(), self.build()?);
        source.group_namespace = self.group_namespace.clone();
        Ok(source)
    }

    /// How many documents the engine should keep in flight for this source, when the
    /// source says (an S3 source's `concurrency`).
    pub fn documents_in_flight(&self) -> Option<usize> {
        match &self.kind {
            SourceKind::Filesystem(_) => None,
            SourceKind::S3(c) => Some(c.concurrency),
        }
    }

    /// Builds the connector (may touch the environment, never the network here).
    pub fn build(&self) -> anyhow::Result<Arc<dyn Connector>> {
        let invalid = |problems: Vec<ConfigProblem>| {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("source {}: {}", self.id, list.join("; "))
        };
        Ok(match &self.kind {
            SourceKind::Filesystem(c) => {
                Arc::new(FilesystemConnector::new(c.clone()).map_err(invalid)?)
            }
            SourceKind::S3(c) => Arc::new(S3Connector::new(c.clone()).map_err(invalid)?),
        })
    }
}

/// Parses one `[[sources]]` table, pushing every problem found.
pub fn parse(
    table: &Table,
    key: &str,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Option<SourceConfig> {
    let mut r = Reader::new(table, key, problems);
    let id = r.string("id");
    match &id {
        None if !table.contains_key("id") => r.problem("id", "missing (every source needs an id)"),
        Some(id)
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            r.problem(
                "id",
                format!("{id:?} may only contain letters, digits, '-' and '_'"),
            );
        }
        _ => {}
    }
    let group_namespace = r.string("group_namespace");
    if let Some(ns) = &group_namespace
        && !sync_core::identities::valid_namespace(ns)
    {
        r.problem(
            "group_namespace",
            format!("{ns:?} may only contain letters, digits, '-' and '_'"),
        );
    }
    let aliases = aliases(&mut r);
    let type_name = r.string("type");
    let kind = match type_name.as_deref() {
        None => {
            if !table.contains_key("type") {
                let known: Vec<&str> = TYPES.iter().map(|(n, _)| *n).collect();
                r.problem("type", format!("missing (one of: {})", known.join(", ")));
            }
            None
        }
        Some(t) => match TYPES.iter().find(|(name, _)| *name == t) {
            Some((_, parser)) => parser(&mut r, base),
            None => {
                let known: Vec<&str> = TYPES.iter().map(|(n, _)| *n).collect();
                r.problem(
                    "type",
                    format!("unknown source type {t:?} (one of: {})", known.join(", ")),
                );
                // Don't report this type's keys as unknown: the type is the problem.
                return None;
            }
        },
    };
    r.finish();
    Some(SourceConfig {
        id: id?,
        kind: kind?,
        group_namespace,
        aliases,
    })
}

/// `[sources.aliases]` (or `aliases = { ... }`): the source's user ids → emails.
fn aliases(r: &mut Reader<'_, '_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(table) = r.table("aliases") else {
        return out;
    };
    for (id, email) in table {
        let key = format!("aliases.{id}");
        match email {
            toml::Value::String(email) if valid_email(email) => {
                if id.trim().is_empty() {
                    r.problem(&key, "an empty user id");
                } else if out
                    .insert(id.trim().to_lowercase(), email.trim().to_lowercase())
                    .is_some()
                {
                    r.problem(&key, "the same user id (ignoring case) twice");
                }
            }
            toml::Value::String(email) => {
                r.problem(&key, format!("{email:?} is not an email address"));
            }
            other => r.problem(
                &key,
                format!("expected an email (a string), found {}", other.type_str()),
            ),
        }
    }
    out
}

/// `local@domain`, one `@`, no spaces: enough to catch a value in the wrong place.
fn valid_email(s: &str) -> bool {
    let s = s.trim();
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn parse_filesystem(r: &mut Reader<'_, '_>, base: &Path) -> Option<SourceKind> {
    let before = r.problems.len();
    let root = r.string("root");
    if root.is_none() {
        r.problem("root", "missing (the folder to sync)");
    }
    let acl_file = r.string("acl_file").map(|p| resolve(base, &p));
    let default_access = default_access(r);
    let include = r.strings("include");
    let exclude = r.strings("exclude");
    let mut config = FilesystemConfig::new(resolve(base, &root.unwrap_or_default()));
    config.acl_file = acl_file;
    config.default_access = default_access;
    config.include = include;
    config.exclude = exclude;
    config.watch = r.boolean("watch").unwrap_or(false);
    if let Some(minutes) = r.integer("rescan_minutes", 1, 10_000_000) {
        config.rescan_minutes = minutes as u64;
    }
    for p in config.validate() {
        if p.key != "root" {
            r.problem(&p.key, p.message); // a missing root is already reported
        }
    }
    (r.problems.len() == before).then_some(SourceKind::Filesystem(config))
}

fn default_access(r: &mut Reader<'_, '_>) -> DefaultAccess {
    let value = r.string("default_access");
    match value.as_deref().map(|v| (v, DefaultAccess::parse(v))) {
        None => DefaultAccess::None,
        Some((_, Some(access))) => access,
        Some((other, None)) => {
            r.problem(
                "default_access",
                format!("{other:?} is not \"none\" or \"everyone\""),
            );
            DefaultAccess::None
        }
    }
}

fn parse_s3(r: &mut Reader<'_, '_>, _base: &Path) -> Option<SourceKind> {
    let before = r.problems.len();
    let bucket = r.string("bucket");
    let bucket_missing = bucket.is_none();
    if bucket_missing {
        r.problem("bucket", "missing (the bucket to sync)");
    }
    let mut config = S3Config::new(bucket.unwrap_or_default());
    let prefix = r.string("prefix");
    let prefixes = r.strings("prefixes");
    if prefix.is_some() && !prefixes.is_empty() {
        r.problem("prefixes", "set either `prefix` or `prefixes`, not both");
    }
    config.prefixes = prefix.into_iter().chain(prefixes).collect();
    config.region = r.string("region");
    config.endpoint_url = r.string("endpoint_url");
    config.force_path_style = r.boolean("force_path_style").unwrap_or(false);
    config.include = r.strings("include");
    config.exclude = r.strings("exclude");
    if let Some(n) = r.integer("max_object_bytes", 1, i64::MAX) {
        config.max_object_bytes = n as u64;
    }
    config.acl_file_key = r.string("acl_file_key");
    if let Some(s) = r.string("metadata_suffix") {
        config.metadata_suffix = s;
    }
    config.default_access = default_access(r);
    if let Some(n) = r.integer("concurrency", 1, 1024) {
        config.concurrency = n as usize;
    }
    if let Some(n) = r.integer("max_attempts", 1, 100) {
        config.max_attempts = n as u32;
    }
    if let Some(ms) = r.integer("initial_backoff_ms", 1, 600_000) {
        config.initial_backoff = Duration::from_millis(ms as u64);
    }
    if let Some(ms) = r.integer("attempt_timeout_ms", 1, 3_600_000) {
        config.attempt_timeout = Duration::from_millis(ms as u64);
    }
    if let Some(n) = r.integer("page_size", 1, 1000) {
        config.page_size = n as i32;
    }
    for p in config.validate() {
        if !(p.key == "bucket" && bucket_missing) {
            r.problem(&p.key, p.message);
        }
    }
    (r.problems.len() == before).then_some(SourceKind::S3(config))
}
