//! Why a user can or cannot see a document (`tributary acl explain`).

use serde::Serialize;

use super::Provider;

/// One of a user's principals and how the user gets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Derived {
    /// The index term (`group:sample:engineering`).
    pub principal: String,
    /// From the user to the principal: `user:bob@example.com`, `group:sample:hr`,
    /// `group:sample:all-staff`.
    pub path: Vec<String>,
    /// Who knows the membership that gives it; `None` for the user's own id, domain and
    /// `everyone`.
    pub provider: Option<Provider>,
}

impl Derived {
    pub(super) fn new(principal: String, path: Vec<String>, provider: Option<Provider>) -> Self {
        Derived {
            principal,
            path,
            provider,
        }
    }
}

/// What the ACL filter decides for one document and one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the user's searches can return the document.
    pub visible: bool,
    /// The entry that decided: a deny entry the user matches (deny wins), else the first
    /// allow entry they match, `no allow entry` for a document nobody may read, and `None`
    /// when the document allows others but none of the user's principals.
    pub decided_by: Option<String>,
}

/// The index's rule, spelled out: a matching deny entry hides the document whatever
/// allows it; otherwise a matching allow entry shows it; an empty allow list shows it to
/// nobody (fail closed).
pub fn explain(allow: &[String], deny: &[String], principals: &[String]) -> Decision {
    let matches = |entries: &[String]| entries.iter().find(|e| principals.contains(e)).cloned();
    if let Some(entry) = matches(deny) {
        return Decision {
            visible: false,
            decided_by: Some(entry),
        };
    }
    if allow.is_empty() {
        return Decision {
            visible: false,
            decided_by: Some("no allow entry".into()),
        };
    }
    let decided_by = matches(allow);
    Decision {
        visible: decided_by.is_some(),
        decided_by,
    }
}
