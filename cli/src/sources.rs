//! The connector registry: every source type the binary knows, in one list you can grep.
//! Adding a connector means one entry in [`TYPES`] and one variant in [`SourceKind`].

use std::path::Path;
use std::sync::Arc;

use connector_filesystem::{DefaultAccess, FilesystemConfig, FilesystemConnector};
use connector_sdk::Connector;
use toml::Table;

use crate::config::{Problem, Reader, resolve};

/// Source types, by their `type = "..."` name.
const TYPES: &[(&str, Parser)] = &[("filesystem", parse_filesystem)];

type Parser = fn(&mut Reader<'_, '_>, &Path) -> Option<SourceKind>;

/// A validated `[[sources]]` entry.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub id: String,
    pub kind: SourceKind,
}

/// Each connector's typed configuration.
#[derive(Debug, Clone)]
pub enum SourceKind {
    Filesystem(FilesystemConfig),
}

impl SourceConfig {
    /// The `type` name.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            SourceKind::Filesystem(_) => "filesystem",
        }
    }

    /// Builds the connector (may touch the environment, never the network here).
    pub fn build(&self) -> anyhow::Result<Arc<dyn Connector>> {
        match &self.kind {
            SourceKind::Filesystem(c) => {
                let connector = FilesystemConnector::new(c.clone()).map_err(|problems| {
                    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    anyhow::anyhow!("source {}: {}", self.id, list.join("; "))
                })?;
                Ok(Arc::new(connector))
            }
        }
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
    })
}

fn parse_filesystem(r: &mut Reader<'_, '_>, base: &Path) -> Option<SourceKind> {
    let before = r.problems.len();
    let root = r.string("root");
    if root.is_none() {
        r.problem("root", "missing (the folder to sync)");
    }
    let acl_file = r.string("acl_file").map(|p| resolve(base, &p));
    let default_access = match r.string("default_access").as_deref() {
        None | Some("none") => DefaultAccess::None,
        Some("everyone") => DefaultAccess::Everyone,
        Some(other) => {
            r.problem(
                "default_access",
                format!("{other:?} is not \"none\" or \"everyone\""),
            );
            DefaultAccess::None
        }
    };
    let include = r.strings("include");
    let exclude = r.strings("exclude");
    let config = FilesystemConfig {
        root: resolve(base, &root.unwrap_or_default()),
        acl_file,
        default_access,
        include,
        exclude,
    };
    for p in config.validate() {
        if p.key != "root" {
            r.problem(&p.key, p.message); // a missing root is already reported
        }
    }
    (r.problems.len() == before).then_some(SourceKind::Filesystem(config))
}
