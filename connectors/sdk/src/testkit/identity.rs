//! Who is who in the reference sync: a user's principals from membership facts, and
//! whether an ACL lets them read — the engine's rules, for one source.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Acl, Membership, Principal};

/// A user's principals, as the engine computes them at query time for one source: the
/// user (by email and by every source id a `UserEmail` fact maps to it), every group they
/// are in directly or through nested groups, their email's domain, and `everyone`.
pub fn principals(facts: &[Membership], email: &str) -> BTreeSet<Principal> {
    let email = email.trim().to_lowercase();
    let mut names: BTreeSet<String> = BTreeSet::from([email.clone()]);
    for fact in facts {
        if let Membership::UserEmail { user, email: e } = fact
            && e.trim().to_lowercase() == email
        {
            names.insert(user.trim().to_lowercase());
        }
    }
    let mut out: BTreeSet<Principal> = names.iter().map(Principal::user).collect();
    let mut parents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut groups: Vec<&str> = Vec::new();
    for fact in facts {
        match fact {
            Membership::UserInGroup { user, group }
                if names.contains(&user.trim().to_lowercase()) =>
            {
                groups.push(group);
            }
            Membership::GroupInGroup { child, parent } => {
                parents.entry(child).or_default().push(parent);
            }
            _ => {}
        }
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    while let Some(group) = groups.pop() {
        if seen.insert(group) {
            groups.extend(parents.get(group).into_iter().flatten().copied());
        }
    }
    out.extend(seen.into_iter().map(Principal::group));
    if let Some((_, domain)) = email.rsplit_once('@') {
        out.insert(Principal::domain(domain));
    }
    out.insert(Principal::Everyone);
    out
}

/// The form a principal is compared in: users and domains case-insensitively (a connector
/// may build `Principal::User` without lowercasing), groups exactly.
fn normal(p: &Principal) -> Principal {
    match p {
        Principal::User(u) => Principal::user(u),
        Principal::Domain(d) => Principal::domain(d),
        other => other.clone(),
    }
}

/// Whether `acl` lets someone with `principals` read: some allow entry matches and no deny
/// entry does (deny wins; an empty allow set lets nobody in).
pub fn admits(acl: &Acl, principals: &BTreeSet<Principal>) -> bool {
    let any = |set: &BTreeSet<Principal>| set.iter().any(|p| principals.contains(&normal(p)));
    any(&acl.allow) && !any(&acl.deny)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Vec<Membership> {
        vec![
            Membership::UserInGroup {
                user: "U1".into(),
                group: "leads".into(),
            },
            Membership::UserEmail {
                user: "u1".into(),
                email: "Ben@Example.com".into(),
            },
            Membership::GroupInGroup {
                child: "leads".into(),
                parent: "eng".into(),
            },
            Membership::GroupInGroup {
                child: "eng".into(),
                parent: "leads".into(),
            },
        ]
    }

    #[test]
    fn aliases_nested_groups_and_cycles() {
        let p = principals(&facts(), "ben@example.com");
        let expected = BTreeSet::from([
            Principal::user("ben@example.com"),
            Principal::user("u1"),
            Principal::group("leads"),
            Principal::group("eng"),
            Principal::domain("example.com"),
            Principal::Everyone,
        ]);
        assert_eq!(p, expected);
    }

    #[test]
    fn deny_wins_and_empty_allow_admits_nobody() {
        let p = principals(&facts(), "ben@example.com");
        let mut acl = Acl::default();
        assert!(!admits(&acl, &p));
        acl.allow.insert(Principal::group("eng"));
        assert!(admits(&acl, &p));
        acl.deny.insert(Principal::User("BEN@example.com".into()));
        assert!(!admits(&acl, &p));
    }
}
