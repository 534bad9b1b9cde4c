//! Access control lists: who may read a document.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Someone (or something) an [`Acl`] entry names.
///
/// Principals are rendered to flat terms (`user:alice@example.com`, `group:engineering`,
/// `domain:example.com`, `everyone`) so that the search filter is a plain term query. A
/// group id is the source's own: the engine indexes it in the source's namespace
/// (`group:<namespace>:engineering`), so that groups of two sources never collide; users,
/// domains and `everyone` mean the same in every source. User ids are compared case-insensitively, because in practice they
/// are email addresses; group ids are compared exactly, because sources treat them so.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Principal {
    /// A user, by email or source user id. Stored lowercased.
    User(String),
    /// A group, by its id in the source (or in the identities file); never namespaced by
    /// the connector.
    Group(String),
    /// Everybody whose email is in this domain. Stored lowercased.
    Domain(String),
    /// Anybody at all. Only ever set when a source is explicitly configured as public.
    Everyone,
}

impl Principal {
    /// A user principal; the id is lowercased.
    pub fn user(id: impl AsRef<str>) -> Self {
        Principal::User(id.as_ref().trim().to_lowercase())
    }

    /// A group principal; the id is kept exactly as given.
    pub fn group(id: impl Into<String>) -> Self {
        Principal::Group(id.into())
    }

    /// A domain principal; the domain is lowercased.
    pub fn domain(domain: impl AsRef<str>) -> Self {
        Principal::Domain(domain.as_ref().trim().to_lowercase())
    }

    /// The flat term under which this principal is indexed.
    pub fn term(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(id) => write!(f, "user:{id}"),
            Principal::Group(id) => write!(f, "group:{id}"),
            Principal::Domain(d) => write!(f, "domain:{d}"),
            Principal::Everyone => f.write_str("everyone"),
        }
    }
}

/// Who may and who may not read a document. **Deny wins** over allow.
///
/// An empty `allow` set means nobody can read the document: that is how a document whose
/// permissions could not be determined stays invisible (fail closed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// Principals allowed to read the document.
    pub allow: BTreeSet<Principal>,
    /// Principals denied, even if also allowed (directly or through a group).
    pub deny: BTreeSet<Principal>,
}

impl Acl {
    /// An ACL that lets anybody read the document.
    pub fn everyone() -> Self {
        let mut acl = Acl::default();
        acl.allow.insert(Principal::Everyone);
        acl
    }

    /// True when nobody at all can read the document.
    pub fn is_closed(&self) -> bool {
        self.allow.is_empty()
    }

    /// The allow entries as sorted index terms.
    pub fn allow_terms(&self) -> Vec<String> {
        self.allow.iter().map(Principal::term).collect()
    }

    /// The deny entries as sorted index terms.
    pub fn deny_terms(&self) -> Vec<String> {
        self.deny.iter().map(Principal::term).collect()
    }

    /// A canonical text form, stable across releases, suitable for hashing: the engine
    /// compares it to decide whether a document needs an ACL-only update.
    pub fn canonical(&self) -> String {
        let mut out = String::from("allow");
        for t in self.allow_terms() {
            out.push('\n');
            out.push_str(&t);
        }
        out.push_str("\ndeny");
        for t in self.deny_terms() {
            out.push('\n');
            out.push_str(&t);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_case_insensitive_groups_are_not() {
        assert_eq!(
            Principal::user(" Alice@Example.COM"),
            Principal::user("alice@example.com")
        );
        assert_ne!(Principal::group("Backend"), Principal::group("backend"));
    }

    #[test]
    fn canonical_form_is_order_independent() {
        let mut a = Acl::default();
        a.allow.insert(Principal::group("b"));
        a.allow.insert(Principal::group("a"));
        let mut b = Acl::default();
        b.allow.insert(Principal::group("a"));
        b.allow.insert(Principal::group("b"));
        assert_eq!(a.canonical(), b.canonical());
        b.deny.insert(Principal::user("x"));
        assert_ne!(a.canonical(), b.canonical());
    }
}
