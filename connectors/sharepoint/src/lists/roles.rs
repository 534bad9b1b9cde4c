//! SharePoint role assignments → a flat [`Acl`].
//!
//! Lists, their items and site pages carry SharePoint permissions (role assignments), not
//! Graph sharing permissions. An object with unique permissions has its own; one that
//! inherits has its parent's (item → list → web). A binding grants read when its level
//! is one of SharePoint's that can view items (Read, Contribute, Design, Full Control,
//! Edit, Approve: `RoleTypeKind` 2–7), or, for a custom level (kind 0), when its mask has
//! `ViewListItems` (bit 0x1). Limited Access (kind 1) opens the way to something below and
//! grants nothing here. Members: SharePoint groups as `sitegroup:<collection>:<id>`, users
//! and Entra groups as [`sharepoint_member`] reads them; anything else grants nothing.

use std::collections::HashSet;

use connector_sdk::{Acl, ConnectorError, Principal};

use super::api::Object;
use super::wire::{RoleAssignment, RoleDefinition};
use crate::Inner;
use crate::acl::{Claimed, sharepoint_member, site_group};
use crate::wire::Site;

/// `SP.PermissionKind.ViewListItems`.
const VIEW_LIST_ITEMS: u64 = 0x1;

/// SharePoint's own levels that view items, for a binding that names its level only.
const VIEW_LEVELS: &[&str] = &[
    "Read",
    "Contribute",
    "Edit",
    "Design",
    "Full Control",
    "Approve",
];

/// Whether a permission level lets its holder read items.
fn grants_view(level: &RoleDefinition) -> bool {
    let mask = level.base_permissions.as_ref().and_then(|b| b.low);
    match level.role_type_kind {
        Some(2..=7) => true,
        Some(0) => mask.is_some_and(|low| low & VIEW_LIST_ITEMS != 0),
        None => match mask {
            Some(low) => low & VIEW_LIST_ITEMS != 0,
            None => level
                .name
                .as_deref()
                .is_some_and(|n| VIEW_LEVELS.contains(&n)),
        },
        Some(_) => false,
    }
}

/// The ACL of role assignments in site collection `collection`.
pub(crate) fn acl_of_roles(assignments: &[RoleAssignment], collection: &str) -> Acl {
    let mut acl = Acl::default();
    for assignment in assignments {
        if !assignment.role_definition_bindings.iter().any(grants_view) {
            continue;
        }
        let Some(member) = &assignment.member else {
            continue;
        };
        if member.principal_type == Some(8) {
            if let Some(id) = member.id {
                acl.allow
                    .insert(Principal::group(site_group(collection, id)));
            }
            continue;
        }
        let claimed = sharepoint_member(
            member.login_name.as_deref().unwrap_or(""),
            member.email.as_deref(),
            member.user_principal_name.as_deref(),
            member.principal_type,
        );
        match claimed {
            Some(Claimed::User(user)) => acl.allow.insert(Principal::user(user)),
            Some(Claimed::Group(group)) => acl.allow.insert(Principal::group(group)),
            None => false,
        };
    }
    acl
}

/// The permissions of one list, read once per run: the list's effective ACL and which of
/// its items have their own.
#[derive(Debug)]
pub(crate) struct ListAcls {
    list: Acl,
    unique: HashSet<i64>,
}

impl ListAcls {
    /// Whether item `id` has permissions of its own.
    pub(crate) fn is_unique(&self, id: i64) -> bool {
        self.unique.contains(&id)
    }

    /// The ACL of an item that inherits.
    pub(crate) fn inherited(&self) -> &Acl {
        &self.list
    }
}

impl Inner {
    /// The ACL of an object's own role assignments.
    pub(crate) async fn roles_acl(
        &self,
        site: &Site,
        object: Object<'_>,
    ) -> Result<Acl, ConnectorError> {
        let assignments = self.api.role_assignments(site, object).await?;
        Ok(acl_of_roles(&assignments, site.collection_id()))
    }

    /// The effective ACL of a list: its own assignments, else the web's.
    pub(crate) async fn list_acl(&self, site: &Site, list: &str) -> Result<Acl, ConnectorError> {
        let object = if self
            .api
            .has_unique_permissions(site, Object::List(list))
            .await?
        {
            Object::List(list)
        } else {
            Object::Web
        };
        self.roles_acl(site, object).await
    }

    /// What a run needs to know of a list's permissions.
    pub(crate) async fn list_acls(
        &self,
        site: &Site,
        list: &str,
    ) -> Result<ListAcls, ConnectorError> {
        Ok(ListAcls {
            list: self.list_acl(site, list).await?,
            unique: self
                .api
                .unique_items(site, list)
                .await?
                .into_iter()
                .collect(),
        })
    }

    /// The effective ACL of one item, read from scratch (for `resolve`).
    pub(crate) async fn item_acl(
        &self,
        site: &Site,
        list: &str,
        item: i64,
    ) -> Result<Acl, ConnectorError> {
        let object = Object::Item(list, item);
        if self.api.has_unique_permissions(site, object).await? {
            self.roles_acl(site, object).await
        } else {
            self.list_acl(site, list).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str, expected: &[&str]) {
        let assignments: Vec<RoleAssignment> = serde_json::from_str(json).expect("assignments");
        let mut got = acl_of_roles(&assignments, "c0ll").allow_terms();
        got.sort();
        let mut want: Vec<String> = expected.iter().map(ToString::to_string).collect();
        want.sort();
        assert_eq!(got, want);
    }

    fn user(login: &str) -> String {
        Principal::user(login).to_string()
    }

    #[test]
    fn levels_that_view_grant_and_limited_access_does_not() {
        check(
            r#"[
              {"Member":{"Id":3,"LoginName":"Owners","PrincipalType":8},
               "RoleDefinitionBindings":[{"Name":"Full Control","RoleTypeKind":5}]},
              {"Member":{"Id":9,"LoginName":"i:0#.f|membership|al@contoso.com","PrincipalType":1},
               "RoleDefinitionBindings":[{"Name":"Limited Access","RoleTypeKind":1,
                 "BasePermissions":{"High":"0","Low":"1179648"}}]},
              {"Member":{"Id":10,"LoginName":"i:0#.f|membership|bo@contoso.com","PrincipalType":1,
                 "Email":"Bo@Contoso.com"},
               "RoleDefinitionBindings":[{"Name":"Restricted View","RoleTypeKind":0,
                 "BasePermissions":{"High":"0","Low":"1"}}]},
              {"Member":{"Id":11,"LoginName":"i:0#.f|membership|cy@contoso.com","PrincipalType":1},
               "RoleDefinitionBindings":[{"Name":"Custom","RoleTypeKind":0,
                 "BasePermissions":{"High":"0","Low":"4096"}}]}
            ]"#,
            &[
                &Principal::group(site_group("c0ll", 3)).to_string(),
                &user("bo@contoso.com"),
            ],
        );
    }

    #[test]
    fn groups_and_claims_become_principals_and_owners_claims_do_not() {
        check(
            r#"[
              {"Member":{"LoginName":"c:0t.c|tenant|g-1","PrincipalType":4},
               "RoleDefinitionBindings":[{"RoleTypeKind":2}]},
              {"Member":{"LoginName":"c:0o.c|federateddirectoryclaimprovider|g-2_o","PrincipalType":4},
               "RoleDefinitionBindings":[{"RoleTypeKind":2}]},
              {"Member":{"LoginName":"c:0-.f|rolemanager|spo-grid-all-users/t","PrincipalType":4},
               "RoleDefinitionBindings":[{"RoleTypeKind":3}]},
              {"Member":{"LoginName":"SHAREPOINT\\system","PrincipalType":1},
               "RoleDefinitionBindings":[{"RoleTypeKind":5}]},
              {"RoleDefinitionBindings":[{"RoleTypeKind":5}]},
              {"Member":{"Id":4,"PrincipalType":8},"RoleDefinitionBindings":[{"Name":"Read"}]},
              {"Member":{"Id":5,"PrincipalType":8},"RoleDefinitionBindings":[{"Name":"Limited Access"}]}
            ]"#,
            &[
                &Principal::group("g-1").to_string(),
                &Principal::group(crate::EVERYONE_IN_TENANT).to_string(),
                &Principal::group(site_group("c0ll", 4)).to_string(),
            ],
        );
    }
}
