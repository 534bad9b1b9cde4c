//! The connector registry: every source type the binary knows, in one list you can grep
//! ([`SOURCE_TYPES`]), and the keys every `[[sources]]` table has. The rest of a table is
//! its connector's: each connector crate reads, validates and builds its own keys
//! (`connector_sdk::SourceType`). Adding a connector is one entry in the list.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use connector_filesystem::FilesystemType;
use connector_google_drive::DriveType;
use connector_jira::JiraType;
use connector_process::ProcessType;
use connector_s3::S3Type;
use connector_sdk::{ConfigContext, ConfiguredSource, Connector, ErasedSourceType};
use connector_servicenow::ServiceNowType;
use connector_sharepoint::SharePointType;
use connector_slack::SlackType;
use toml::{Table, Value};

use crate::push::PushType;
use crate::reader::{Problem, Reader};

/// Every source type the binary knows, by its `type = "..."` name.
pub const SOURCE_TYPES: &[&dyn ErasedSourceType] = &[
    &FilesystemType,
    &S3Type,
    &DriveType,
    &SharePointType,
    &SlackType,
    &ServiceNowType,
    &JiraType,
    &ProcessType,
    &PushType,
];

/// The keys of a `[[sources]]` table the binary reads itself; the others are the
/// connector's, and it reports those it does not know.
const HOST_KEYS: &[&str] = &["id", "type", "group_namespace", "aliases", "schedule"];

/// A validated `[[sources]]` entry.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub id: String,
    /// `group_namespace`: the namespace of its groups, when not its id.
    pub group_namespace: Option<String>,
    /// `[sources.aliases]`: the source's user ids → emails (lowercased).
    pub aliases: BTreeMap<String, String>,
    /// The connector's own keys, read and validated by its source type.
    pub connector: Arc<dyn ConfiguredSource>,
    /// `[sources.schedule]` over the defaults of its type: when `tributary daemon` runs
    /// each kind of sync. Kinds the source cannot do are off.
    pub schedule: schedules::SourceSchedule,
}

impl SourceConfig {
    /// The `type` name.
    pub fn type_name(&self) -> &'static str {
        self.connector.kind()
    }

    /// The namespace of its groups: `group_namespace`, else its id.
    pub fn namespace(&self) -> &str {
        self.group_namespace.as_deref().unwrap_or(&self.id)
    }

    /// Whether the source has no directory of its own (its `identities()` is empty), so that
    /// the identities file defines its groups unless `[identities] sources` says otherwise.
    pub fn has_no_directory(&self) -> bool {
        !self.connector.profile().has_directory
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
        self.connector.profile().documents_in_flight
    }

    /// The local folders the source reads, each with its key.
    pub fn local_paths(&self) -> &[(String, PathBuf)] {
        &self.connector.profile().local_paths
    }

    /// Builds the connector (may touch the environment, never the network here).
    pub fn build(&self) -> anyhow::Result<Arc<dyn Connector>> {
        self.connector
            .build()
            .map_err(|e| anyhow::anyhow!("source {}: {e}", self.id))
    }
}

/// Parses one `[[sources]]` table, pushing every problem found: the common keys here,
/// the others by the source type `types` names.
pub fn parse(
    table: &Table,
    key: &str,
    base: &Path,
    types: &[&dyn ErasedSourceType],
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
    let schedule_table = r.table("schedule").cloned();
    let known = || {
        let names: Vec<&str> = types.iter().map(|t| t.kind()).collect();
        names.join(", ")
    };
    let source_type = match r.string("type") {
        None => {
            if !table.contains_key("type") {
                r.problem("type", format!("missing (one of: {})", known()));
            }
            None
        }
        Some(t) => {
            let found = types.iter().find(|st| st.kind() == t);
            if found.is_none() {
                // The connector's keys go unread: the type is the problem.
                r.problem(
                    "type",
                    format!("unknown source type {t:?} (one of: {})", known()),
                );
            }
            found
        }
    };
    // No `r.finish()`: every other key is the connector's, and it reports unknown ones.
    let connector = source_type.and_then(|source_type| {
        let cx = ConfigContext::new(base).with_host_keys(HOST_KEYS);
        let table =
            serde_json::Value::Object(table.iter().map(|(k, v)| (k.clone(), json(v))).collect());
        match source_type.parse(&table, &cx) {
            Ok(connector) => Some(connector),
            Err(found) => {
                for p in found {
                    r.problems.push(Problem {
                        key: if p.key.is_empty() {
                            key.to_string()
                        } else {
                            format!("{key}.{}", p.key)
                        },
                        message: p.message,
                    });
                }
                None
            }
        }
    });
    let connector = connector?;
    let schedule = schedule(
        schedule_table.as_ref(),
        &*connector,
        &format!("{key}.schedule"),
        problems,
    )?;
    Some(SourceConfig {
        id: id?,
        group_namespace,
        aliases,
        connector,
        schedule,
    })
}

/// The source's `schedule` table over its type's defaults; `None` after pushing every
/// problem. A kind the source cannot do (identities without a directory of its own; a
/// permission sync, which no connector has apart from its listing) is off by default and
/// a problem when the table turns it on.
fn schedule(
    table: Option<&Table>,
    connector: &dyn ConfiguredSource,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<schedules::SourceSchedule> {
    use serde::Deserialize;
    let written = match table {
        None => schedules::ScheduleConfig::default(),
        Some(t) => match schedules::ScheduleConfig::deserialize(Value::Table(t.clone())) {
            Ok(written) => written,
            Err(e) => {
                problems.push(Problem {
                    key: key.to_string(),
                    message: e.message().to_string(),
                });
                return None;
            }
        },
    };
    let mut schedule = match written.resolve(connector.kind(), key) {
        Ok(schedule) => schedule,
        Err(found) => {
            problems.extend(found.into_iter().map(|p| Problem {
                key: p.key,
                message: p.message,
            }));
            return None;
        }
    };
    let on = |v: &Option<String>| v.as_deref().is_some_and(|v| v != schedules::OFF);
    let mut refuse = |kind: &str, why: &str| {
        problems.push(Problem {
            key: format!("{key}.{kind}"),
            message: format!("{why}; remove the key or set it to \"off\""),
        })
    };
    let mut ok = true;
    if !connector.profile().has_directory {
        if on(&written.identities) {
            refuse(
                "identities",
                "this source has no directory to sync (its groups come from the identities file)",
            );
            ok = false;
        }
        schedule.identities = None;
    }
    if connector.kind() == crate::push::KIND {
        // Its documents arrive in jobs its client starts: a scheduled run would list nothing.
        for (kind, value) in [("content", &written.content), ("full", &written.full)] {
            if on(value) {
                refuse(
                    kind,
                    "a push source receives documents through the daemon's API and runs on no schedule",
                );
                ok = false;
            }
        }
    }
    if on(&written.permissions) {
        refuse(
            "permissions",
            "this source has no separate permission sync (its listing carries permission changes)",
        );
        ok = false;
    }
    schedule.permissions = None;
    ok.then_some(schedule)
}

/// A TOML value as the JSON a source type reads. A date becomes its RFC 3339 text (a
/// connector that takes one parses it); a float JSON cannot hold (nan, inf) becomes
/// nothing, which no key accepts.
fn json(value: &Value) -> serde_json::Value {
    match value {
        Value::String(s) => s.clone().into(),
        Value::Integer(n) => (*n).into(),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Boolean(b) => (*b).into(),
        Value::Datetime(d) => d.to_string().into(),
        Value::Array(items) => items.iter().map(json).collect(),
        Value::Table(t) => {
            serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), json(v))).collect())
        }
    }
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

#[cfg(test)]
mod tests;
