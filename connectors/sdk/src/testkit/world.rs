//! The kit's own model of the source: which documents exist (path, text, readers), who is
//! in which group, and so what each user may read. The scenarios change it alongside the
//! source and compare the reference sync's state with what it expects.

use std::collections::{BTreeMap, BTreeSet};

use super::handle::Reader;
use crate::Membership;

/// A user reading through a group (and a nested group).
pub const ANN: &str = "ann@example.com";
/// A user in group `leads`, which is in group `eng`.
pub const BEN: &str = "ben@example.com";
/// A user in group `sales`.
pub const CAT: &str = "cat@example.com";
/// A user of the partner domain, in no group.
pub const DAN: &str = "dan@partner.example";
/// A stranger: no document is ever shared with her, so she must never see one.
pub const EVE: &str = "eve@elsewhere.example";

/// The users whose view of the index the kit compares.
pub const USERS: [&str; 5] = [ANN, BEN, CAT, DAN, EVE];

/// The partner domain ([`Reader::Domain`]).
pub const PARTNER_DOMAIN: &str = "partner.example";

/// What a user sees: (title, text) pairs, sorted (a multiset: a duplicate shows).
pub type View = Vec<(Option<String>, String)>;

/// A group member in the kit's world.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Member {
    User(String),
    Group(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub(crate) text: String,
    pub(crate) readers: Vec<Reader>,
    version: u32,
}

/// The world as the kit made it.
#[derive(Debug, Clone)]
pub(crate) struct World {
    token: String,
    pub(crate) docs: BTreeMap<String, Doc>,
    pub(crate) groups: BTreeMap<String, BTreeSet<Member>>,
}

/// The last segment of a path: the document's name, which is its expected title.
pub(crate) fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl World {
    /// A world with the kit's groups (`eng` ⊇ {ann, `leads`}, `leads` ⊇ {ben}, `sales` ⊇
    /// {cat}) and no document.
    pub(crate) fn new(token: &str) -> Self {
        let mut groups = BTreeMap::new();
        groups.insert(
            "eng".to_string(),
            BTreeSet::from([Member::User(ANN.into()), Member::Group("leads".into())]),
        );
        groups.insert(
            "leads".to_string(),
            BTreeSet::from([Member::User(BEN.into())]),
        );
        groups.insert(
            "sales".to_string(),
            BTreeSet::from([Member::User(CAT.into())]),
        );
        World {
            token: token.to_string(),
            docs: BTreeMap::new(),
            groups,
        }
    }

    /// The scenario's token, part of every path and text so they are unique.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    fn text(&self, path: &str, version: u32) -> String {
        let name = name_of(path);
        let extra = " and more words".repeat(version as usize);
        format!(
            "{name} {} version {version}: the quarterly plan{extra}",
            self.token
        )
    }

    /// Adds a document; returns its text.
    pub(crate) fn add(&mut self, path: &str, readers: Vec<Reader>) -> String {
        let text = self.text(path, 1);
        self.docs.insert(
            path.to_string(),
            Doc {
                text: text.clone(),
                readers,
                version: 1,
            },
        );
        text
    }

    /// Gives a document a new, longer text; returns it.
    pub(crate) fn edit(&mut self, path: &str) -> String {
        let version = self.docs.get(path).map_or(1, |d| d.version + 1);
        let text = self.text(path, version);
        if let Some(doc) = self.docs.get_mut(path) {
            doc.text = text.clone();
            doc.version = version;
        }
        text
    }

    pub(crate) fn remove(&mut self, path: &str) {
        self.docs.remove(path);
    }

    /// Moves a document to `to` (a rename or a move), text and readers kept.
    pub(crate) fn relocate(&mut self, path: &str, to: &str) {
        if let Some(doc) = self.docs.remove(path) {
            self.docs.insert(to.to_string(), doc);
        }
    }

    pub(crate) fn set_readers(&mut self, path: &str, readers: Vec<Reader>) {
        if let Some(doc) = self.docs.get_mut(path) {
            doc.readers = readers;
        }
    }

    pub(crate) fn text_of(&self, path: &str) -> Option<&str> {
        self.docs.get(path).map(|d| d.text.as_str())
    }

    pub(crate) fn add_member(&mut self, group: &str, member: Member) {
        self.groups
            .entry(group.to_string())
            .or_default()
            .insert(member);
    }

    pub(crate) fn remove_member(&mut self, group: &str, member: &Member) {
        if let Some(members) = self.groups.get_mut(group) {
            members.remove(member);
        }
    }

    /// The kit's users in `group`, directly or through nested groups.
    pub(crate) fn members_of(&self, group: &str) -> Vec<String> {
        USERS
            .iter()
            .filter(|u| self.groups_of(u).contains(group))
            .map(|u| u.to_string())
            .collect()
    }

    /// Every group `user` is in, directly or through nested groups.
    fn groups_of(&self, user: &str) -> BTreeSet<&str> {
        let mut found: BTreeSet<&str> = BTreeSet::new();
        let mut changed = true;
        while changed {
            changed = false;
            for (group, members) in &self.groups {
                if found.contains(group.as_str()) {
                    continue;
                }
                let member = members.iter().any(|m| match m {
                    Member::User(u) => u.eq_ignore_ascii_case(user),
                    Member::Group(g) => found.contains(g.as_str()),
                });
                if member {
                    found.insert(group);
                    changed = true;
                }
            }
        }
        found
    }

    fn may_read(&self, user: &str, readers: &[Reader]) -> bool {
        let groups = self.groups_of(user);
        readers.iter().any(|r| match r {
            Reader::User(u) => u.eq_ignore_ascii_case(user),
            Reader::Group(g) => groups.contains(g.as_str()),
            Reader::Domain(d) => user
                .rsplit_once('@')
                .is_some_and(|(_, ud)| ud.eq_ignore_ascii_case(d)),
        })
    }

    /// What `user` must see.
    pub(crate) fn expected_view(&self, user: &str) -> View {
        let mut view: View = self
            .docs
            .iter()
            .filter(|(_, d)| self.may_read(user, &d.readers))
            .map(|(path, d)| (Some(name_of(path).to_string()), d.text.clone()))
            .collect();
        view.sort();
        view
    }

    /// Every document the index must hold, visible or not.
    pub(crate) fn expected_documents(&self) -> View {
        let mut all: View = self
            .docs
            .iter()
            .map(|(path, d)| (Some(name_of(path).to_string()), d.text.clone()))
            .collect();
        all.sort();
        all
    }

    /// The memberships as an identities file would state them, with the source's group
    /// ids.
    pub(crate) fn facts(&self, group_id: &dyn Fn(&str) -> String) -> Vec<Membership> {
        let mut facts = Vec::new();
        for (group, members) in &self.groups {
            for member in members {
                facts.push(match member {
                    Member::User(u) => Membership::UserInGroup {
                        user: u.clone(),
                        group: group_id(group),
                    },
                    Member::Group(g) => Membership::GroupInGroup {
                        child: group_id(g),
                        parent: group_id(group),
                    },
                });
            }
        }
        facts
    }
}

/// What is in `expected` and not in `actual` (missing), and the reverse (unexpected), as
/// multisets.
pub(crate) fn diff(expected: &View, actual: &View) -> (View, View) {
    let mut missing = Vec::new();
    let mut rest: Vec<&(Option<String>, String)> = actual.iter().collect();
    for item in expected {
        match rest.iter().position(|a| *a == item) {
            Some(i) => {
                rest.remove(i);
            }
            None => missing.push(item.clone()),
        }
    }
    (missing, rest.into_iter().cloned().collect())
}

/// One (title, text) for a message.
pub(crate) fn show(item: &(Option<String>, String)) -> String {
    match &item.0 {
        Some(title) => format!("{title:?}: {:?}", item.1),
        None => format!("(no title): {:?}", item.1),
    }
}

/// Several, for a message.
pub(crate) fn show_all(items: &View) -> String {
    items.iter().map(show).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_members_include_those_of_its_nested_groups() {
        let mut world = World::new("t");
        assert_eq!(
            world.members_of("eng"),
            vec![ANN.to_string(), BEN.to_string()]
        );
        assert_eq!(world.members_of("sales"), vec![CAT.to_string()]);
        world.remove_member("leads", &Member::User(BEN.into()));
        world.add_member("leads", Member::User(DAN.into()));
        assert_eq!(
            world.members_of("eng"),
            vec![ANN.to_string(), DAN.to_string()]
        );
        assert!(world.members_of("nobody").is_empty());
    }
}
