//! ACL files in the Amazon Q Business S3 format, shared by every connector that reads one.
//!
//! ```json
//! [{"keyPrefix": "hr/", "aclEntries": [
//!     {"Name": "hr-team", "Type": "GROUP", "Access": "ALLOW"},
//!     {"Name": "intern@example.com", "Type": "USER", "Access": "DENY"}]}]
//! ```
//!
//! Semantics: for a document key, the **longest** matching `keyPrefix` decides alone (a
//! more specific folder replaces, not extends, its parent's entries); within that prefix
//! DENY wins over ALLOW at query time. Entries repeated under the same prefix are merged.
//! A key no prefix covers gets the caller's default (usually an empty, invisible ACL).

use serde::Deserialize;

use crate::{Acl, Principal};

/// A parsed ACL file, ready to answer "what is the ACL of this key?".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclFile {
    /// (prefix, acl), sorted by prefix length descending so the first match is the longest.
    rules: Vec<(String, Acl)>,
}

/// Why an ACL file was refused. The caller must not index with a guessed ACL instead.
#[derive(Debug, thiserror::Error)]
pub enum AclFileError {
    /// Not valid JSON, or not the documented shape.
    #[error("acl file is not valid: {0}")]
    Invalid(#[from] serde_json::Error),
    /// An entry with an unknown `Type` or `Access`, or an empty name.
    #[error("acl file entry {index} under prefix {prefix:?}: {problem}")]
    BadEntry {
        /// The prefix the entry belongs to.
        prefix: String,
        /// The entry's position within that prefix's `aclEntries`.
        index: usize,
        /// What is wrong with it.
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRule {
    key_prefix: String,
    acl_entries: Vec<RawEntry>,
}

/// One `{"Name", "Type", "Access"}` entry, as in an ACL file's `aclEntries` and a metadata
/// sidecar's `AccessControlList`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEntry {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Access")]
    access: String,
}

/// Adds validated entries to `acl`; on a bad entry returns its index and the problem.
fn add_entries(acl: &mut Acl, entries: &[RawEntry]) -> Result<(), (usize, String)> {
    for (index, entry) in entries.iter().enumerate() {
        if entry.name.trim().is_empty() {
            return Err((index, "empty Name".into()));
        }
        let principal = match entry.kind.as_str() {
            "USER" => Principal::user(&entry.name),
            "GROUP" => Principal::group(entry.name.clone()),
            other => return Err((index, format!("unknown Type {other:?} (USER or GROUP)"))),
        };
        match entry.access.as_str() {
            "ALLOW" => acl.allow.insert(principal),
            "DENY" => acl.deny.insert(principal),
            other => return Err((index, format!("unknown Access {other:?} (ALLOW or DENY)"))),
        };
    }
    Ok(())
}

/// Builds an ACL from a list of entries (a metadata sidecar's `AccessControlList`), with
/// the same validation as an ACL file: one bad entry rejects the list.
pub fn acl_from_entries(entries: &[RawEntry]) -> Result<Acl, AclFileError> {
    let mut acl = Acl::default();
    add_entries(&mut acl, entries).map_err(|(index, problem)| AclFileError::BadEntry {
        prefix: String::new(),
        index,
        problem,
    })?;
    Ok(acl)
}

/// What a document no ACL-file prefix covers gets. Shared by every connector with an ACL
/// file, so `default_access` means the same thing everywhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAccess {
    /// Nobody can see it (fail closed). The default.
    #[default]
    None,
    /// Everybody can see it (Amazon Q's behaviour for uncovered keys).
    Everyone,
}

impl DefaultAccess {
    /// The ACL this default gives.
    pub fn acl(self) -> Acl {
        match self {
            DefaultAccess::None => Acl::default(),
            DefaultAccess::Everyone => Acl::everyone(),
        }
    }

    /// Parses the configuration value (`"none"` or `"everyone"`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "none" => Some(DefaultAccess::None),
            "everyone" => Some(DefaultAccess::Everyone),
            _ => None,
        }
    }
}

impl AclFile {
    /// Parses the JSON text of an ACL file. Every entry is validated; one bad entry rejects
    /// the whole file, because a partially understood ACL could leak a document.
    pub fn parse(json: &[u8]) -> Result<Self, AclFileError> {
        let raw: Vec<RawRule> = serde_json::from_slice(json)?;
        let mut rules: Vec<(String, Acl)> = Vec::new();
        for rule in raw {
            let pos = match rules.iter().position(|(p, _)| *p == rule.key_prefix) {
                Some(pos) => pos,
                None => {
                    rules.push((rule.key_prefix.clone(), Acl::default()));
                    rules.len() - 1
                }
            };
            let acl = &mut rules[pos].1;
            add_entries(acl, &rule.acl_entries).map_err(|(index, problem)| {
                AclFileError::BadEntry {
                    prefix: rule.key_prefix.clone(),
                    index,
                    problem,
                }
            })?;
        }
        rules.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(AclFile { rules })
    }

    /// The ACL of `key` under the longest matching prefix, or `None` if no prefix covers it.
    pub fn lookup(&self, key: &str) -> Option<&Acl> {
        self.matching_prefix(key).map(|(_, acl)| acl)
    }

    /// The longest prefix covering `key` and its ACL (for `acl explain`).
    pub fn matching_prefix(&self, key: &str) -> Option<(&str, &Acl)> {
        self.rules
            .iter()
            .find(|(prefix, _)| key.starts_with(prefix.as_str()))
            .map(|(p, a)| (p.as_str(), a))
    }

    /// Number of distinct prefixes.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when the file has no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"[
      {"keyPrefix": "eng/", "aclEntries": [{"Name": "engineering", "Type": "GROUP", "Access": "ALLOW"}]},
      {"keyPrefix": "eng/secret/", "aclEntries": [
        {"Name": "leads", "Type": "GROUP", "Access": "ALLOW"},
        {"Name": "Bob@Example.com", "Type": "USER", "Access": "DENY"}]},
      {"keyPrefix": "eng/", "aclEntries": [{"Name": "cto@example.com", "Type": "USER", "Access": "ALLOW"}]}
    ]"#;

    fn check(key: &str, allow: &[&str], deny: &[&str]) {
        let file = AclFile::parse(FILE.as_bytes()).expect("valid file");
        let acl = file.lookup(key).cloned().unwrap_or_default();
        assert_eq!(acl.allow_terms(), allow, "allow of {key}");
        assert_eq!(acl.deny_terms(), deny, "deny of {key}");
    }

    #[test]
    fn longest_prefix_decides_alone() {
        check(
            "eng/a.md",
            &["user:cto@example.com", "group:engineering"],
            &[],
        );
        check(
            "eng/secret/x.md",
            &["group:leads"],
            &["user:bob@example.com"],
        );
        check("other.md", &[], &[]);
        // A plain string prefix: "eng/secretive.md" is not under "eng/secret/".
        check(
            "eng/secretive.md",
            &["user:cto@example.com", "group:engineering"],
            &[],
        );
    }

    #[test]
    fn bad_entries_reject_the_file() {
        let bad = r#"[{"keyPrefix": "a", "aclEntries": [{"Name": "x", "Type": "ROLE", "Access": "ALLOW"}]}]"#;
        let err = AclFile::parse(bad.as_bytes()).expect_err("unknown type");
        assert!(err.to_string().contains("unknown Type \"ROLE\""), "{err}");
        let bad = r#"[{"keyPrefix": "a", "aclEntries": [{"Name": "x", "Type": "USER", "Access": "MAYBE"}]}]"#;
        assert!(AclFile::parse(bad.as_bytes()).is_err());
        assert!(AclFile::parse(b"{not json").is_err());
    }
}
