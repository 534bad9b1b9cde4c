//! User criteria as ACLs (ADR 0024).
//!
//! A `user_criteria` record matches users by `user`, `group`, `role`, `department`,
//! `location` or `company` (comma-separated `sys_id`s; any one field suffices, all of
//! the non-empty ones with `match_all`). Its principals: users `user:<sys_id>` (mapped to
//! emails by the identity sync), groups by `sys_id`, and the groups the identity sync
//! fills from `sys_user`: `role:<name>`, `department:<id>`, `location:<id>`,
//! `company:<id>`, and [`EVERYONE`] (every active user).
//!
//! An article is readable as its knowledge base's Can Read criteria **and** its own say
//! (no criteria on a side: that side lets every user through), and denied to whoever its
//! KB's or its own Cannot Read criteria match. An intersection of two unions, or a
//! `match_all` over several fields, is no union of principals: it is expanded to the users
//! it matches, read from the instance's directory ([`Directory`]). Criteria the connector
//! cannot evaluate (an `advanced` script) or cannot read (a `sys_id` with no record) make
//! the article invisible, with a warning naming them: never readable by more people than
//! the instance allows.

use std::collections::{BTreeMap, BTreeSet};

use connector_sdk::{Acl, Principal};
use serde_json::Value;

use crate::api::field;

/// The group of every active user.
pub const EVERYONE: &str = "users";

fn ids(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// One user criteria record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Criteria {
    pub id: String,
    pub name: String,
    active: bool,
    /// (kind, ids): `user`, `group`, `role`, `department`, `location`, `company`.
    kinds: Vec<(&'static str, Vec<String>)>,
    match_all: bool,
    pub advanced: bool,
}

const KINDS: [&str; 6] = ["user", "group", "role", "department", "location", "company"];

impl Criteria {
    pub(crate) fn from_record(r: &Value) -> Self {
        let kinds = KINDS
            .iter()
            .map(|k| (*k, ids(&field(r, k))))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        Criteria {
            id: field(r, "sys_id"),
            name: field(r, "name"),
            active: field(r, "active") != "false",
            kinds,
            match_all: field(r, "match_all") == "true",
            advanced: field(r, "advanced") == "true",
        }
    }

    /// Its principals, when it is a union of them (not `match_all` over several kinds).
    fn principals(&self, roles: &BTreeMap<String, String>) -> Option<Vec<Principal>> {
        if !self.active {
            return Some(Vec::new());
        }
        if self.match_all && self.kinds.len() > 1 {
            return None;
        }
        let mut out = Vec::new();
        for (kind, ids) in &self.kinds {
            for id in ids {
                out.push(match *kind {
                    "user" => Principal::user(id),
                    "group" => Principal::group(id.clone()),
                    // A role id with no role record grants nothing.
                    "role" => match roles.get(id) {
                        Some(name) => Principal::group(format!("role:{name}")),
                        None => continue,
                    },
                    other => Principal::group(format!("{other}:{id}")),
                });
            }
        }
        Some(out)
    }

    fn matches(&self, user: &UserFacts, roles: &BTreeMap<String, String>) -> bool {
        if !self.active || self.kinds.is_empty() {
            return false;
        }
        let hit = |(kind, ids): &(&'static str, Vec<String>)| {
            ids.iter().any(|id| match *kind {
                "user" => &user.id == id,
                "group" => user.groups.contains(id),
                "role" => roles.get(id).is_some_and(|n| user.roles.contains(n)),
                "department" => &user.department == id,
                "location" => &user.location == id,
                _ => &user.company == id,
            })
        };
        if self.match_all {
            self.kinds.iter().all(hit)
        } else {
            self.kinds.iter().any(hit)
        }
    }
}

/// What the instance says about one user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct UserFacts {
    pub id: String,
    pub email: String,
    pub active: bool,
    pub groups: BTreeSet<String>,
    /// Role names.
    pub roles: BTreeSet<String>,
    pub department: String,
    pub location: String,
    pub company: String,
}

/// The users, with their groups and roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Directory {
    pub users: BTreeMap<String, UserFacts>,
}

/// Everything an article's ACL depends on besides the article.
#[derive(Debug, Default)]
pub(crate) struct AclWorld {
    pub criteria: BTreeMap<String, Criteria>,
    /// KB `sys_id` → (Can Read, Cannot Read) criteria ids.
    pub kb: BTreeMap<String, (Vec<String>, Vec<String>)>,
    /// Role `sys_id` → name.
    pub roles: BTreeMap<String, String>,
    pub directory: Option<Directory>,
    /// A many-to-many table of KB criteria that could not be read.
    pub kb_unreadable: Option<String>,
}

/// Why an article gets no readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The named criteria cannot be evaluated (advanced scripts).
    Unevaluable(Vec<String>),
    /// These criteria ids have no readable record.
    Unreadable(Vec<String>),
}

/// The outcome for one article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Acl(Acl),
    /// The ACL needs the directory (an intersection, or `match_all`): load it and ask
    /// again.
    NeedsDirectory,
    Closed(Closed),
}

impl AclWorld {
    fn lookup<'a>(&'a self, ids: &[String], missing: &mut Vec<String>) -> Vec<&'a Criteria> {
        ids.iter()
            .filter_map(|id| {
                let c = self.criteria.get(id);
                if c.is_none() {
                    missing.push(id.clone());
                }
                c
            })
            .collect()
    }

    /// The ACL of an article of `kb` with its own Can Read / Cannot Read fields.
    pub(crate) fn article(&self, kb: &str, can: &str, cannot: &str) -> Outcome {
        if let Some(table) = &self.kb_unreadable {
            return Outcome::Closed(Closed::Unreadable(vec![table.clone()]));
        }
        let (kb_can, kb_cannot) = self.kb.get(kb).cloned().unwrap_or_default();
        let mut missing = Vec::new();
        let kb_can = self.lookup(&kb_can, &mut missing);
        let kb_cannot = self.lookup(&kb_cannot, &mut missing);
        let art_can = self.lookup(&ids(can), &mut missing);
        let art_cannot = self.lookup(&ids(cannot), &mut missing);
        if !missing.is_empty() {
            return Outcome::Closed(Closed::Unreadable(missing));
        }
        let all = || {
            kb_can
                .iter()
                .chain(&art_can)
                .chain(&kb_cannot)
                .chain(&art_cannot)
        };
        let scripted: Vec<String> = all()
            .filter(|c| c.advanced && c.active)
            .map(|c| format!("{} ({})", c.name, c.id))
            .collect();
        if !scripted.is_empty() {
            return Outcome::Closed(Closed::Unevaluable(scripted));
        }
        let union = |set: &[&Criteria]| -> Option<BTreeSet<Principal>> {
            let mut out = BTreeSet::new();
            for c in set {
                out.extend(c.principals(&self.roles)?);
            }
            Some(out)
        };
        let deny: Vec<&Criteria> = kb_cannot.iter().chain(&art_cannot).copied().collect();
        let allow = match (kb_can.is_empty(), art_can.is_empty()) {
            (true, true) => Some(BTreeSet::from([Principal::group(EVERYONE)])),
            (false, true) => union(&kb_can),
            (true, false) => union(&art_can),
            (false, false) => None,
        };
        if let (Some(allow), Some(deny)) = (allow, union(&deny)) {
            return Outcome::Acl(Acl { allow, deny });
        }
        let Some(dir) = &self.directory else {
            return Outcome::NeedsDirectory;
        };
        let any = |set: &[&Criteria], u: &UserFacts| set.iter().any(|c| c.matches(u, &self.roles));
        let mut acl = Acl::default();
        for u in dir.users.values().filter(|u| u.active) {
            let allowed =
                (kb_can.is_empty() || any(&kb_can, u)) && (art_can.is_empty() || any(&art_can, u));
            if allowed && !any(&deny, u) {
                acl.allow.insert(Principal::user(&u.id));
            }
        }
        Outcome::Acl(acl)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn world() -> AclWorld {
        let mut w = AclWorld::default();
        for (id, fields) in [
            ("c_hr", json!({"group": "g_hr"})),
            ("c_bob", json!({"user": "u_bob"})),
            ("c_itil", json!({"role": "r_itil"})),
            (
                "c_both",
                json!({"group": "g_hr", "role": "r_itil", "match_all": "true"}),
            ),
            (
                "c_script",
                json!({"advanced": "true", "script": "answer = true;"}),
            ),
        ] {
            let mut r = fields;
            r["sys_id"] = json!(id);
            r["name"] = json!(id);
            w.criteria.insert(id.into(), Criteria::from_record(&r));
        }
        w.roles.insert("r_itil".into(), "itil".into());
        w.kb.insert("kb1".into(), (vec!["c_hr".into()], vec!["c_bob".into()]));
        w.kb.insert("kb_open".into(), (vec![], vec![]));
        w
    }

    fn user(id: &str, groups: &[&str], roles: &[&str]) -> UserFacts {
        UserFacts {
            id: id.into(),
            active: true,
            groups: groups.iter().map(|s| s.to_string()).collect(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            ..UserFacts::default()
        }
    }

    #[test]
    fn unions_stay_principals_and_intersections_expand_to_users() {
        let mut w = world();
        let Outcome::Acl(acl) = w.article("kb_open", "", "") else {
            panic!("acl")
        };
        assert_eq!(acl.allow, BTreeSet::from([Principal::group(EVERYONE)]));
        let Outcome::Acl(acl) = w.article("kb1", "", "c_itil") else {
            panic!("acl")
        };
        assert_eq!(acl.allow, BTreeSet::from([Principal::group("g_hr")]));
        assert_eq!(
            acl.deny,
            BTreeSet::from([Principal::user("u_bob"), Principal::group("role:itil")])
        );
        assert_eq!(w.article("kb1", "c_itil", ""), Outcome::NeedsDirectory);
        assert_eq!(w.article("kb_open", "c_both", ""), Outcome::NeedsDirectory);
        assert!(
            matches!(w.article("kb1", "c_script", ""), Outcome::Closed(Closed::Unevaluable(n)) if n[0].contains("c_script"))
        );
        assert_eq!(
            w.article("kb1", "nope", ""),
            Outcome::Closed(Closed::Unreadable(vec!["nope".into()]))
        );
        let mut dir = Directory::default();
        for u in [
            user("u_ann", &["g_hr"], &["itil"]),
            user("u_bob", &["g_hr"], &["itil"]),
            user("u_cy", &["g_hr"], &[]),
            user("u_di", &[], &["itil"]),
        ] {
            dir.users.insert(u.id.clone(), u);
        }
        w.directory = Some(dir);
        let Outcome::Acl(acl) = w.article("kb1", "c_itil", "") else {
            panic!("acl")
        };
        assert_eq!(acl.allow, BTreeSet::from([Principal::user("u_ann")]));
        let Outcome::Acl(acl) = w.article("kb_open", "c_both", "") else {
            panic!("acl")
        };
        assert_eq!(
            acl.allow,
            BTreeSet::from([Principal::user("u_ann"), Principal::user("u_bob")])
        );
    }
}
