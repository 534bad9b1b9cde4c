//! Who may read an issue (SOURCES.md §6.3, ADR 0023): the holders of `BROWSE_PROJECTS`
//! in the project's permission scheme, and, when the issue has a security level, only
//! those of them who are also members of the level.
//!
//! Holders become principals: a group its `group:<groupId>`, a user `user:<accountId>`
//! (the identity sync maps account ids to emails), a project role its actors (users and
//! groups), the project lead, the issue's reporter and assignee the concrete users,
//! "any logged-in user" (`applicationRole`) and `anyone` the group [`SITE_USERS`] (every
//! active account of the site, from the identity sync — never `everyone`: Tributary's
//! readers are people with accounts, and a public Jira project is still the site's).
//! Custom-field holders are not read: nobody (narrower, never wider).
//!
//! An intersection is not a flat allow list, so it is materialised: groups on both
//! sides stay groups, and the users either side reaches through the rest (groups
//! expanded with the members read this run) are listed one by one. A side that cannot
//! be read (a scheme, role, level or group refused) makes the issue invisible.

use std::collections::{BTreeMap, BTreeSet};

use connector_sdk::feed::{Pauses, retrying};
use connector_sdk::{Acl, ConnectorError, ErrorKind, Principal};

use crate::Inner;
use crate::wire::{HolderJson, Project};

/// The group of every active account of the site ("any logged-in user").
pub const SITE_USERS: &str = "site-users";

/// Who one side (the browse grants, or a level) reaches before the issue is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reach {
    pub all: bool,
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    pub reporter: bool,
    pub assignee: bool,
}

/// A role's actors (users, groups) by role id; `None` when the role could not be read.
type Roles = BTreeMap<String, Option<(BTreeSet<String>, BTreeSet<String>)>>;

/// A side, or the fact that it could not be read.
pub(crate) type Side = Option<Reach>;

/// What a run read of a project's permissions.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProjectAcl {
    pub browse: Side,
    /// Levels by id; `None` for the whole map when the security scheme was unreadable.
    pub levels: Option<BTreeMap<String, Side>>,
    /// Members of the groups an intersection may expand; a group absent could not be read.
    pub members: BTreeMap<String, BTreeSet<String>>,
    /// A hash of all of the above: when it changes, the project's issues are listed
    /// again so that their ACLs are recomputed.
    pub fingerprint: String,
}

/// Concrete principals of one issue's side.
#[derive(Debug, Clone, Default)]
struct Flat {
    all: bool,
    users: BTreeSet<String>,
    groups: BTreeSet<String>,
}

fn concrete(r: &Reach, reporter: Option<&str>, assignee: Option<&str>) -> Flat {
    let mut users = r.users.clone();
    if r.reporter
        && let Some(u) = reporter
    {
        users.insert(u.to_string());
    }
    if r.assignee
        && let Some(u) = assignee
    {
        users.insert(u.to_string());
    }
    Flat {
        all: r.all,
        users,
        groups: r.groups.clone(),
    }
}

impl ProjectAcl {
    /// The issue's ACL; `None` when a side it needs could not be read.
    pub(crate) fn issue_acl(
        &self,
        reporter: Option<&str>,
        assignee: Option<&str>,
        level: Option<&str>,
    ) -> Option<Acl> {
        let browse = concrete(self.browse.as_ref()?, reporter, assignee);
        let flat = match level {
            None => browse,
            Some(level) => {
                let side = self.levels.as_ref()?.get(level)?.as_ref()?;
                self.intersect(browse, concrete(side, reporter, assignee))?
            }
        };
        let mut acl = Acl::default();
        if flat.all {
            acl.allow.insert(Principal::group(SITE_USERS));
        }
        for g in flat.groups {
            acl.allow.insert(Principal::group(g));
        }
        for u in flat.users {
            acl.allow.insert(Principal::user(u));
        }
        Some(acl)
    }

    fn expand(&self, f: &Flat) -> Option<BTreeSet<String>> {
        let mut out = f.users.clone();
        for g in &f.groups {
            out.extend(self.members.get(g)?.iter().cloned());
        }
        Some(out)
    }

    fn intersect(&self, a: Flat, b: Flat) -> Option<Flat> {
        if a.all {
            return Some(b);
        }
        if b.all {
            return Some(a);
        }
        let groups: BTreeSet<String> = a.groups.intersection(&b.groups).cloned().collect();
        let (ea, eb) = (self.expand(&a)?, self.expand(&b)?);
        let users = ea.intersection(&eb).cloned().collect();
        Some(Flat {
            all: false,
            users,
            groups,
        })
    }
}

/// Whether an error means "you may not read this" (fail closed) rather than a failed
/// run (credentials, throttling, an unreachable site).
fn refused(e: &ConnectorError) -> bool {
    matches!(e.kind, ErrorKind::NotFound | ErrorKind::Permanent)
}

impl Inner {
    /// Reads a project's browse grants, security levels and the group members an
    /// intersection needs. Refusals make the side unreadable; other errors fail.
    pub(crate) async fn project_acl<P: Pauses>(
        &self,
        project: &Project,
        out: &P,
        groups: &mut BTreeMap<String, Option<BTreeSet<String>>>,
    ) -> Result<ProjectAcl, ConnectorError> {
        let key = project.key.as_str();
        let mut roles: Roles = BTreeMap::new();
        let browse = match retrying(out, || self.api.scheme_of(key)).await {
            Ok(scheme) => match retrying(out, || self.api.permission_scheme(&scheme.id)).await {
                Ok(s) => {
                    let holders: Vec<HolderJson> = s
                        .permissions
                        .into_iter()
                        .filter(|g| g.permission.as_deref() == Some("BROWSE_PROJECTS"))
                        .filter_map(|g| g.holder)
                        .collect();
                    self.reach(project, &holders, out, &mut roles).await?
                }
                Err(e) if refused(&e) => None,
                Err(e) => return Err(e),
            },
            Err(e) if refused(&e) => None,
            Err(e) => return Err(e),
        };
        if browse.is_none() {
            tracing::warn!(
                project = key,
                "the project's permission scheme cannot be read: its issues stay invisible"
            );
        }
        let levels = match retrying(out, || self.api.security_scheme(key)).await {
            Ok(None) => Some(BTreeMap::new()),
            Ok(Some(scheme)) => {
                let mut levels = BTreeMap::new();
                for level in scheme.levels {
                    let Some(id) = level.id else { continue };
                    let side = match retrying(out, || self.api.level_members(&scheme.id, &id)).await
                    {
                        Ok(members) => {
                            let holders: Vec<HolderJson> =
                                members.into_iter().filter_map(|m| m.holder).collect();
                            self.reach(project, &holders, out, &mut roles).await?
                        }
                        Err(e) if refused(&e) => None,
                        Err(e) => return Err(e),
                    };
                    levels.insert(id, side);
                }
                Some(levels)
            }
            Err(e) if refused(&e) => {
                tracing::warn!(
                    project = key,
                    "the project's issue security levels cannot be read: its issues with a level stay invisible"
                );
                None
            }
            Err(e) => return Err(e),
        };
        // The members of every group an intersection may expand.
        let mut members = BTreeMap::new();
        if levels.as_ref().is_some_and(|l| !l.is_empty()) {
            let sides = std::iter::once(&browse).chain(levels.iter().flat_map(|l| l.values()));
            let needed: BTreeSet<String> = sides
                .flatten()
                .flat_map(|r| r.groups.iter().cloned())
                .collect();
            for g in needed {
                if !groups.contains_key(&g) {
                    let read = match retrying(out, || self.api.group_members(&g)).await {
                        Ok(users) => Some(users.into_iter().map(|u| u.account_id).collect()),
                        Err(e) if refused(&e) => None,
                        Err(e) => return Err(e),
                    };
                    groups.insert(g.clone(), read);
                }
                if let Some(Some(m)) = groups.get(&g) {
                    members.insert(g, m.clone());
                }
            }
        }
        let fingerprint = blake3::hash(format!("{browse:?}|{levels:?}|{members:?}").as_bytes())
            .to_hex()[..32]
            .to_string();
        Ok(ProjectAcl {
            browse,
            levels,
            members,
            fingerprint,
        })
    }

    /// The reach of `holders` in `project`; `None` when a role it names cannot be read.
    async fn reach<P: Pauses>(
        &self,
        project: &Project,
        holders: &[HolderJson],
        out: &P,
        roles: &mut Roles,
    ) -> Result<Side, ConnectorError> {
        let mut r = Reach::default();
        for h in holders {
            let value = h.value.clone().or_else(|| h.parameter.clone());
            match h.kind.as_str() {
                "group" => match h
                    .value
                    .clone()
                    .or_else(|| h.group.as_ref().and_then(|g| g.group_id.clone()))
                {
                    Some(id) => {
                        r.groups.insert(id);
                    }
                    None => {
                        tracing::warn!(project = %project.key, "a group grant without a group id is skipped")
                    }
                },
                "user" => {
                    if let Some(id) =
                        value.or_else(|| h.user.as_ref().map(|u| u.account_id.clone()))
                    {
                        r.users.insert(id);
                    }
                }
                "projectRole" => {
                    let Some(role) = value else { continue };
                    if !roles.contains_key(&role) {
                        let read = match retrying(out, || self.api.role(&project.key, &role)).await
                        {
                            Ok(role) => {
                                let mut users = BTreeSet::new();
                                let mut groups = BTreeSet::new();
                                for a in role.actors {
                                    if let Some(u) =
                                        a.actor_user.filter(|u| !u.account_id.is_empty())
                                    {
                                        users.insert(u.account_id);
                                    } else if let Some(g) = a.actor_group.and_then(|g| g.group_id) {
                                        groups.insert(g);
                                    } else {
                                        tracing::debug!(kind = ?a.kind, "a role actor of an unknown kind is skipped");
                                    }
                                }
                                Some((users, groups))
                            }
                            Err(e) if refused(&e) => None,
                            Err(e) => return Err(e),
                        };
                        roles.insert(role.clone(), read);
                    }
                    match roles.get(&role) {
                        Some(Some((users, groups))) => {
                            r.users.extend(users.iter().cloned());
                            r.groups.extend(groups.iter().cloned());
                        }
                        _ => return Ok(None),
                    }
                }
                "applicationRole" | "anyone" => r.all = true,
                "projectLead" => {
                    if let Some(lead) = &project.lead {
                        r.users.insert(lead.account_id.clone());
                    }
                }
                "reporter" | "reporterWithCreatePermission" => r.reporter = true,
                "assignee" | "assigneeWithAssignablePermission" => r.assignee = true,
                other => tracing::debug!(
                    kind = other,
                    "a holder type the connector does not read grants nobody"
                ),
            }
        }
        Ok(Some(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(users: &[&str], groups: &[&str]) -> Reach {
        Reach {
            users: users.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            ..Reach::default()
        }
    }

    #[test]
    fn an_intersection_keeps_common_groups_and_materialises_the_rest() {
        let mut p = ProjectAcl {
            browse: Some(Reach {
                reporter: true,
                ..reach(&[], &["eng", "ops"])
            }),
            levels: Some([("10".to_string(), Some(reach(&["carol"], &["eng"])))].into()),
            ..ProjectAcl::default()
        };
        p.members.insert("eng".into(), ["ann".to_string()].into());
        p.members.insert(
            "ops".into(),
            ["carol".to_string(), "dan".to_string()].into(),
        );
        let acl = p
            .issue_acl(Some("rex"), None, Some("10"))
            .expect("readable");
        let terms = acl.allow_terms();
        assert_eq!(terms, ["user:ann", "user:carol", "group:eng"]);
        assert!(
            p.issue_acl(None, None, Some("11")).is_none(),
            "unknown level: invisible"
        );
        let open = p.issue_acl(Some("rex"), None, None).expect("readable");
        assert_eq!(open.allow_terms(), ["user:rex", "group:eng", "group:ops"]);
        p.members.remove("ops");
        assert!(
            p.issue_acl(None, None, Some("10")).is_none(),
            "a group unread: invisible"
        );
    }
}
