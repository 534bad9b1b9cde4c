//! The connector conformance kit (`connector_sdk::testkit`) run against the first-party
//! connectors: each module implements the kit's `SourceHandle` for one source and asserts
//! the report. What a source cannot do is skipped with its reason, in the report.

mod drive;
mod filesystem;
mod jira;
mod process;
mod s3;
mod servicenow;
mod sharepoint;
mod slack;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use connector_sdk::testkit::{HandleError, Kit, KitOptions, ModelOptions, Reader};

/// The kit with [`options`]; `TRIBUTARY_CONFORMANCE_ONLY=fault_storm,kill` runs only the
/// scenarios whose names start so (when chasing one failure).
fn kit() -> Kit {
    let kit = Kit::with_options(options());
    match std::env::var("TRIBUTARY_CONFORMANCE_ONLY") {
        Ok(only) => kit.only(&only.split(',').map(str::trim).collect::<Vec<_>>()),
        Err(_) => kit,
    }
}

/// Deadlines for real sources on a loaded machine.
fn options() -> KitOptions {
    KitOptions {
        step_timeout: Duration::from_secs(180),
        give_up_timeout: Duration::from_secs(30),
        model: ModelOptions {
            max_pause: Duration::from_millis(200),
            ..ModelOptions::default()
        },
    }
}

/// An Amazon Q ACL file giving each document (by exact key prefix: `prefix(path)`) its
/// readers; a document without readers gets no rule (the default: nobody). The format has
/// USER and GROUP entries only, so a domain reader is refused.
fn acl_file<'a>(
    docs: impl IntoIterator<Item = (&'a String, &'a Vec<Reader>)>,
    prefix: impl Fn(&str) -> String,
) -> Result<Vec<u8>, HandleError> {
    let mut rules = Vec::new();
    for (path, readers) in docs {
        if readers.is_empty() {
            continue;
        }
        let mut entries = Vec::new();
        for reader in readers {
            let (name, kind) = match reader {
                Reader::User(email) => (email.as_str(), "USER"),
                Reader::Group(group) => (group.as_str(), "GROUP"),
                Reader::Domain(d) => {
                    return Err(HandleError::failed(format!(
                        "an ACL file cannot name the domain {d}"
                    )));
                }
            };
            entries.push(serde_json::json!({"Name": name, "Type": kind, "Access": "ALLOW"}));
        }
        rules.push(serde_json::json!({"keyPrefix": prefix(path), "aclEntries": entries}));
    }
    serde_json::to_vec_pretty(&rules).map_err(HandleError::failed)
}

/// Why the Amazon Q ACL-file sources cannot share with a domain.
const NO_DOMAINS: &str = "the Amazon Q ACL file has USER and GROUP entries, no domains";

/// The folder part and the name of a kit path (`""` for the top).
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Where a document at `path` is after a rename to `new_name`.
fn renamed(path: &str, new_name: &str) -> String {
    match split(path) {
        ("", _) => new_name.to_string(),
        (folder, _) => format!("{folder}/{new_name}"),
    }
}

/// Where a document at `path` is after a move into `folder`.
fn moved(path: &str, folder: &str) -> String {
    format!("{folder}/{}", split(path).1)
}

/// Moves the entry of `from` in a handle's bookkeeping to `to`.
fn rekey<V>(map: &mut BTreeMap<String, V>, from: &str, to: &str) {
    if let Some(value) = map.remove(from) {
        map.insert(to.to_string(), value);
    }
}

/// The kit's directory for a source whose groups do not nest (Jira, ServiceNow): each
/// group's direct users and its subgroups. A handle puts every member of a group, through
/// its subgroups, into the group itself, as an administrator flattens a directory.
#[derive(Debug, Default)]
struct FlatGroups {
    direct: BTreeMap<String, BTreeSet<String>>,
    nested: BTreeMap<String, BTreeSet<String>>,
}

impl FlatGroups {
    fn add(&mut self, user: &str, group: &str) {
        self.direct
            .entry(group.to_string())
            .or_default()
            .insert(user.to_string());
    }

    fn remove(&mut self, user: &str, group: &str) {
        if let Some(members) = self.direct.get_mut(group) {
            members.remove(user);
        }
    }

    fn nest(&mut self, child: &str, parent: &str) {
        self.nested
            .entry(parent.to_string())
            .or_default()
            .insert(child.to_string());
    }

    /// Every group the kit named, with the users (emails) it holds through its subgroups.
    fn flattened(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.direct
            .keys()
            .chain(self.nested.keys())
            .map(|g| (g.clone(), self.members(g, &mut BTreeSet::new())))
            .collect()
    }

    fn members(&self, group: &str, seen: &mut BTreeSet<String>) -> BTreeSet<String> {
        let mut out = self.direct.get(group).cloned().unwrap_or_default();
        if seen.insert(group.to_string()) {
            for child in self.nested.get(group).into_iter().flatten() {
                out.extend(self.members(child, seen));
            }
        }
        out
    }
}
