//! Who is in which group: the identities file, and a user's principals at query time.
//!
//! ```json
//! {"users": {"alice@example.com": ["backend", "all-staff"]},
//!  "groups": {"backend": ["engineering"]}}
//! ```
//! `users` maps a user to their direct groups; `groups` maps a group to its parent groups.
//! Both are expanded transitively (cycles are harmless). User ids compare
//! case-insensitively; group ids exactly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use connector_sdk::Principal;
use serde::Deserialize;

use crate::{EngineError, Result};

/// The parsed identities file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identities {
    #[serde(default)]
    users: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
}

impl Identities {
    /// Parses the JSON text of an identities file.
    pub fn parse(json: &[u8]) -> Result<Self> {
        let raw: Identities = serde_json::from_slice(json)
            .map_err(|e| EngineError::Config(format!("identities file: {e}")))?;
        // Normalise user ids once, merging entries that differ only in case.
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (user, groups) in raw.users {
            users
                .entry(user.trim().to_lowercase())
                .or_default()
                .extend(groups);
        }
        Ok(Identities {
            users,
            groups: raw.groups,
        })
    }

    /// Every group `user` belongs to, directly or through nesting, sorted.
    pub fn groups_of(&self, user: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<&String> = self
            .users
            .get(&user.trim().to_lowercase())
            .into_iter()
            .flatten()
            .collect();
        while let Some(group) = queue.pop_front() {
            if seen.insert(group.clone()) {
                queue.extend(self.groups.get(group).into_iter().flatten());
            }
        }
        seen
    }

    /// Whether the file names this user at all.
    pub fn knows(&self, user: &str) -> bool {
        self.users.contains_key(&user.trim().to_lowercase())
    }

    /// All principals a search made as `user` matches: the user, their email domain,
    /// every group (transitively), and `everyone`.
    pub fn principals(&self, user: &str) -> Vec<Principal> {
        let mut out = vec![Principal::user(user), Principal::Everyone];
        if let Some((_, domain)) = user.rsplit_once('@')
            && !domain.is_empty()
        {
            out.push(Principal::domain(domain));
        }
        out.extend(self.groups_of(user).into_iter().map(Principal::Group));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_groups_expand_transitively_and_cycles_end() {
        let ids = Identities::parse(
            br#"{"users": {"Alice@Example.com": ["backend"], "bob@example.com": []},
                 "groups": {"backend": ["engineering"], "engineering": ["all-staff", "backend"]}}"#,
        )
        .expect("valid");
        let groups: Vec<String> = ids.groups_of("alice@EXAMPLE.com").into_iter().collect();
        assert_eq!(groups, ["all-staff", "backend", "engineering"]);
        assert!(ids.groups_of("bob@example.com").is_empty());
        let terms: Vec<String> = ids
            .principals("bob@example.com")
            .iter()
            .map(|p| p.term())
            .collect();
        assert_eq!(
            terms,
            ["user:bob@example.com", "everyone", "domain:example.com"]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Identities::parse(br#"{"user": {}}"#).is_err());
    }
}
