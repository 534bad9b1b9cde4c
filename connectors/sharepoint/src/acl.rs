//! Graph permissions → a flat [`Acl`] (SOURCES.md §3.3; resources/permission,
//! resources/sharepointidentityset).
//!
//! An item's `permissions` list is its *effective* sharing: what it inherits and what it
//! has of its own. Any role grants read (`read`, `write`, `owner`, and SharePoint's role
//! names). Each grant becomes principals:
//! - `grantedToV2.user` → the user, by email when Graph gives one, else by the login name
//!   of `siteUser` (`i:0#.f|membership|<upn>`), else by the Entra object id, which the
//!   identity sync maps to the user's email (`UserEmail`);
//! - `grantedToV2.group` → the Entra group (its id; the identity sync expands members);
//! - `grantedToV2.siteGroup` → the SharePoint group, named `sitegroup:<collection>:<id>`
//!   since group ids are numbers per site collection;
//! - a link of scope `users` → the people of `grantedToIdentitiesV2`; `organization` → the
//!   tenant's members ([`EVERYONE_IN_TENANT`], a group the identity sync fills with every
//!   member user); `anonymous` → everybody, only if the source says so; `existingAccess`
//!   grants nothing new.
//!
//! Expired grants, grants to applications, and grants this code cannot read are dropped:
//! what cannot be read as a grant grants nothing (fail closed). Graph has no deny entries.

use connector_sdk::{Acl, Principal};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::wire::{Identity, IdentitySet, Permission};

/// The group every member user of the tenant is in (organization-wide links, the
/// "Everyone except external users" claim).
pub const EVERYONE_IN_TENANT: &str = "everyone-in-tenant";

/// The group id of SharePoint group `id` of site collection `collection`.
pub(crate) fn site_group(collection: &str, id: impl std::fmt::Display) -> String {
    format!("sitegroup:{collection}:{id}")
}

/// The ACL of an item of site collection `collection` whose permissions are `permissions`.
pub(crate) fn acl_of(
    permissions: &[Permission],
    collection: &str,
    anonymous_searchable: bool,
    now: OffsetDateTime,
) -> Acl {
    let mut acl = Acl::default();
    for p in permissions {
        if p.roles.is_empty() || expired(p, now) {
            continue;
        }
        match p.link.as_ref().and_then(|l| l.scope.as_deref()) {
            Some("organization") => {
                acl.allow.insert(Principal::group(EVERYONE_IN_TENANT));
            }
            Some("anonymous") => {
                if anonymous_searchable {
                    acl.allow.insert(Principal::Everyone);
                }
            }
            Some("users") => {
                for who in &p.granted_to_identities_v2 {
                    acl.allow.extend(principal(who, collection));
                }
                // Older links name their one person in grantedToV2.
                if let Some(who) = &p.granted_to_v2 {
                    acl.allow.extend(principal(who, collection));
                }
            }
            Some(_) => {} // existingAccess, and scopes this code does not know
            None => {
                let who = p
                    .granted_to_v2
                    .as_ref()
                    .and_then(|w| principal(w, collection));
                let invited = || {
                    let email = p.invitation.as_ref()?.email.as_deref()?;
                    email.contains('@').then(|| Principal::user(email))
                };
                acl.allow.extend(who.or_else(invited));
            }
        }
    }
    acl
}

/// The principal an identity set names, if it names one this code can read.
pub(crate) fn principal(who: &IdentitySet, collection: &str) -> Option<Principal> {
    if let Some(user) = &who.user {
        return user_principal(user).or_else(|| who.site_user.as_ref().and_then(user_principal));
    }
    if let Some(group) = &who.group {
        return group
            .id
            .as_deref()
            .filter(|id| !id.is_empty())
            .map(Principal::group);
    }
    if let Some(group) = &who.site_group {
        return group
            .id
            .as_deref()
            .filter(|id| !id.is_empty())
            .map(|id| Principal::group(site_group(collection, id)));
    }
    who.site_user.as_ref().and_then(user_principal)
}

/// A user by email, login name or object id.
fn user_principal(user: &Identity) -> Option<Principal> {
    if let Some(email) = user.email.as_deref().filter(|e| e.contains('@')) {
        return Some(Principal::user(email));
    }
    if let Some(upn) = user.login_name.as_deref().and_then(login_user) {
        return Some(Principal::user(upn));
    }
    user.id
        .as_deref()
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
        .map(Principal::user)
}

/// The UPN in a claims login name: `i:0#.f|membership|alice@contoso.com`.
pub(crate) fn login_user(login: &str) -> Option<&str> {
    let (prefix, rest) = login.rsplit_once('|')?;
    (prefix.ends_with("|membership") && rest.contains('@')).then_some(rest)
}

/// Who a SharePoint principal is: a member of a site group, or of a role assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claimed {
    /// A user, by the address they are searched as.
    User(String),
    /// An Entra group by object id, or [`EVERYONE_IN_TENANT`].
    Group(String),
}

/// Reads a SharePoint user or security group (REST `SP.User`/`SP.Principal`): users by
/// their email, UPN or claims login; Entra groups by their claim (`c:0t.c|tenant|<id>`,
/// `c:0o.c|federateddirectoryclaimprovider|<id>`); "Everyone except external users" and
/// "Everyone" as [`EVERYONE_IN_TENANT`]. Claims this code does not know (an M365 group's
/// owners, `…_o`; system accounts) name nobody: fail closed. SharePoint groups
/// (`principal_type` 8) are the caller's to name.
pub(crate) fn sharepoint_member(
    login: &str,
    email: Option<&str>,
    upn: Option<&str>,
    principal_type: Option<i64>,
) -> Option<Claimed> {
    if login.contains("spo-grid-all-users") || login == "c:0(.s|true" {
        return Some(Claimed::Group(EVERYONE_IN_TENANT.into()));
    }
    for prefix in ["c:0t.c|tenant|", "c:0o.c|federateddirectoryclaimprovider|"] {
        if let Some(id) = login.strip_prefix(prefix) {
            // `<id>_o` is the group's owners alone: not the group.
            if id.ends_with("_o") || id.is_empty() {
                return None;
            }
            return Some(Claimed::Group(id.to_string()));
        }
    }
    if principal_type.is_some_and(|t| t != 1) {
        return None;
    }
    let user = email
        .filter(|e| e.contains('@'))
        .or(upn.filter(|e| e.contains('@')))
        .or_else(|| login_user(login))?;
    Some(Claimed::User(user.trim().to_lowercase()))
}

/// Whether a grant has expired; one whose expiry cannot be read is treated as expired.
fn expired(p: &Permission, now: OffsetDateTime) -> bool {
    match p.expiration_date_time.as_deref() {
        None => false,
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).map_or(true, |at| at <= now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(json: &str, anonymous: bool) -> Vec<String> {
        let permissions: Vec<Permission> = serde_json::from_str(json).expect("permissions");
        acl_of(&permissions, "c0ll", anonymous, OffsetDateTime::now_utc()).allow_terms()
    }

    #[test]
    fn the_documented_examples_map_to_their_people() {
        // resources/permission.md's three examples.
        let json = r#"[
          {"id":"1","roles":["read"],"link":{"type":"view","scope":"organization","webUrl":"https://x"}},
          {"id":"2","roles":["write"],
           "grantedToV2":{"user":{"id":"5D33DD65C6932946","displayName":"John Doe"},
                          "siteUser":{"id":"1","displayName":"John Doe","loginName":"John Doe"}},
           "invitation":{"email":"jd@outlook.com","signInRequired":true}},
          {"id":"3","roles":["write"],"link":{"scope":"users","webUrl":"https://y"},
           "grantedToIdentitiesV2":[{"user":{"id":"35fij1974gb8832","displayName":"Misty Suarez",
             "email":"Misty@Contoso.com"}}]}]"#;
        assert_eq!(
            acl(json, false),
            [
                "user:5d33dd65c6932946",
                "user:misty@contoso.com",
                "group:everyone-in-tenant"
            ]
        );
    }

    #[test]
    fn groups_site_groups_and_logins_are_named_and_unreadable_grants_dropped() {
        let json = r#"[
          {"roles":["owner"],"grantedToV2":{"siteGroup":{"id":"3","displayName":"Design Owners"}}},
          {"roles":["read"],"grantedToV2":{"group":{"id":"b6d0-77","displayName":"Eng"}}},
          {"roles":["read"],"grantedToV2":{"siteUser":{"id":"9","loginName":"i:0#.f|membership|bo@contoso.com"}}},
          {"roles":["read"],"grantedToV2":{"application":{"id":"app"}}},
          {"roles":["read"],"link":{"scope":"anonymous"}},
          {"roles":["read"],"link":{"scope":"existingAccess"}},
          {"roles":[],"grantedToV2":{"user":{"email":"nobody@contoso.com"}}},
          {"roles":["read"],"expirationDateTime":"2001-01-01T00:00:00Z","grantedToV2":{"user":{"email":"old@contoso.com"}}},
          {"roles":["read"],"expirationDateTime":"soon","grantedToV2":{"user":{"email":"odd@contoso.com"}}},
          {"roles":["read"],"grantedToV2":{"user":{"displayName":"no id"}}}]"#;
        assert_eq!(
            acl(json, false),
            [
                "user:bo@contoso.com",
                "group:b6d0-77",
                "group:sitegroup:c0ll:3"
            ]
        );
        // Anonymous links only when the source says so.
        assert_eq!(acl(json, true).last().map(String::as_str), Some("everyone"));
        assert_eq!(acl(json, true).len(), 4);
    }

    #[test]
    fn claims_logins_give_their_upn() {
        assert_eq!(
            login_user("i:0#.f|membership|alice@contoso.com"),
            Some("alice@contoso.com")
        );
        assert_eq!(login_user("c:0t.c|tenant|b6d0-77"), None);
        assert_eq!(login_user("John Doe"), None);
    }
}
