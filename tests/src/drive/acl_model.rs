//! The model the randomized ACL test (`random_acl.rs`) checks the index against: the world
//! as the test built it, and who may read what in it, computed from that record alone,
//! never from the fake's or the connector's code.
//!
//! It follows Google's documented semantics (reference/rest/v3/permissions,
//! guides/limited-expansive-access, guides/shared-drives-diffs): any role reads; a My Drive
//! item's owner always reads; an item inherits the permissions of the folders above it,
//! and a shared-drive item the drive's members, except across a folder with limited access
//! (`inheritedPermissionsDisabled`), which lets through only its own permissions and, in a
//! shared drive, the drive's organizers (managers; not content managers); group members
//! read through nested groups and the `CUSTOMER` member is every user of the domain; a
//! domain grant reaches every user of that domain and an anyone grant everybody, both only
//! when discoverable unless the source makes link sharing searchable; expired grants and
//! trashed items give nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Who a grant or a membership names.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Who {
    User(String),
    Group(String),
    Domain(String),
    Anyone,
}

/// A permission on an item, as the model needs it: any role reads, so the role is only
/// passed to the fake.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    pub(super) who: Who,
    pub(super) discoverable: bool,
    /// Expired a year before the sync (the fake's clock is set to real time, which the
    /// connector reads): Drive no longer lists it.
    pub(super) expired: bool,
}

impl Grant {
    /// Drive keeps one permission per grantee (by email, by domain, or anyone with or
    /// without discovery): sharing again replaces it.
    pub(super) fn key(&self) -> String {
        match &self.who {
            Who::User(e) | Who::Group(e) => e.clone(),
            Who::Domain(d) => d.clone(),
            Who::Anyone if self.discoverable => "anyone".into(),
            Who::Anyone => "anyoneWithLink".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Member {
    User(String),
    Group(String),
    Customer,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Parent {
    /// The My Drive root of this user.
    Root(usize),
    /// The top of this shared drive.
    Drive(usize),
    Item(usize),
}

#[derive(Debug)]
pub(super) struct Item {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) folder: bool,
    pub(super) parent: Parent,
    pub(super) grants: Vec<Grant>,
    pub(super) limited: bool,
    pub(super) trashed: bool,
}

#[derive(Debug)]
pub(super) struct SharedDrive {
    pub(super) id: String,
    /// `(member, organizer)`. The first is a user organizer of the domain, whom the
    /// connector reads the drive as and the mutations never remove.
    pub(super) members: Vec<(Who, bool)>,
}

/// The world as this test built it.
pub(super) struct Model {
    pub(super) seed: u64,
    pub(super) link_searchable: bool,
    /// The domain's users, the admin last; owners are `users[..OWNERS]`.
    pub(super) users: Vec<String>,
    pub(super) groups: BTreeMap<String, Vec<Member>>,
    pub(super) drives: Vec<SharedDrive>,
    pub(super) items: Vec<Item>,
}

impl Model {
    /// Every group `user` belongs to, directly, through nested groups or as a user of the
    /// domain (`CUSTOMER`).
    pub(super) fn groups_of(&self, user: &str) -> BTreeSet<String> {
        let in_domain = self.users.iter().any(|u| u == user);
        let mut out = BTreeSet::new();
        loop {
            let before = out.len();
            for (group, members) in &self.groups {
                let hit = members.iter().any(|m| match m {
                    Member::User(e) => e == user,
                    Member::Group(g) => out.contains(g),
                    Member::Customer => in_domain,
                });
                if hit {
                    out.insert(group.clone());
                }
            }
            if out.len() == before {
                return out;
            }
        }
    }

    pub(super) fn names(
        &self,
        who: &Who,
        discoverable: bool,
        user: &str,
        groups: &BTreeSet<String>,
    ) -> bool {
        let searchable = discoverable || self.link_searchable;
        match who {
            Who::User(e) => e == user,
            Who::Group(g) => groups.contains(g),
            Who::Domain(d) => searchable && user.rsplit_once('@').is_some_and(|(_, u)| u == d),
            Who::Anyone => searchable,
        }
    }

    /// Whether `user` may find the file `item` in a search.
    pub(super) fn reads(&self, user: &str, groups: &BTreeSet<String>, item: usize) -> bool {
        let mut granted = false;
        // Set once the walk up passed a limited-access folder: grants above it stop there.
        let mut cut = false;
        let mut at = Parent::Item(item);
        loop {
            match at {
                Parent::Item(i) => {
                    let it = &self.items[i];
                    if it.trashed {
                        return false;
                    }
                    granted |= !cut
                        && it.grants.iter().any(|g| {
                            !g.expired && self.names(&g.who, g.discoverable, user, groups)
                        });
                    cut |= it.limited;
                    at = it.parent;
                }
                Parent::Root(owner) => return granted || self.users[owner] == user,
                Parent::Drive(d) => {
                    return granted
                        || self.drives[d].members.iter().any(|(who, organizer)| {
                            (*organizer || !cut) && self.names(who, true, user, groups)
                        });
                }
            }
        }
    }

    /// The titles each person should find.
    pub(super) fn expected(&self, people: &[String]) -> BTreeMap<String, BTreeSet<String>> {
        people
            .iter()
            .map(|p| {
                let groups = self.groups_of(p);
                let titles = (0..self.items.len())
                    .filter(|&i| !self.items[i].folder && self.reads(p, &groups, i))
                    .map(|i| self.items[i].name.clone())
                    .collect();
                (p.clone(), titles)
            })
            .collect()
    }

    /// An item's path and the grants on the way up, for failure messages.
    pub(super) fn explain(&self, item: usize) -> String {
        let mut out = String::new();
        let mut at = Parent::Item(item);
        while let Parent::Item(i) = at {
            let it = &self.items[i];
            let _ = write!(
                out,
                "{}{}",
                it.name,
                if it.limited { "[limited]" } else { "" }
            );
            if it.trashed {
                out.push_str("[trashed]");
            }
            let _ = write!(out, " {:?} < ", it.grants);
            at = it.parent;
        }
        match at {
            Parent::Root(u) => out + &format!("My Drive of {}", self.users[u]),
            Parent::Drive(d) => out + &format!("drive {:?}", self.drives[d]),
            Parent::Item(_) => unreachable!(),
        }
    }

    /// Whether the item or a folder above it is in the trash.
    pub(super) fn in_trash(&self, mut at: Parent) -> bool {
        while let Parent::Item(i) = at {
            if self.items[i].trashed {
                return true;
            }
            at = self.items[i].parent;
        }
        false
    }

    /// The top (a My Drive root or a shared drive) an item lives under.
    pub(super) fn space(&self, mut at: Parent) -> Parent {
        while let Parent::Item(i) = at {
            at = self.items[i].parent;
        }
        at
    }
}
