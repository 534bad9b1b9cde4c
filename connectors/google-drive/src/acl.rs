//! Drive permissions → a flat [`Acl`] (SOURCES.md §2.3, reference/rest/v3/permissions).
//!
//! Any role grants read. `user` → the user's email; `group` → the group's email (lowercased,
//! as the identity crawl names groups; the engine namespaces it); `domain` → the domain;
//! `anyone` → everyone. A grant that only works with the link (`allowFileDiscovery: false`)
//! is not searchable unless the source says so (`link_sharing_searchable`): a link is a
//! secret handed to some people, not a publication. Deleted and expired grants, grants
//! without the email or domain they need, and types this code does not know are dropped:
//! what cannot be read as a grant grants nothing (fail closed). Drive has no deny entries.
//!
//! The list is what `permissions.list` (or the file's `permissions` field) returns for the
//! item: for a shared-drive item Google already unions the drive's members
//! (`permissionDetails.permissionType: member`) with the item's own grants, and for an item
//! under a limited-access folder (`inheritedPermissionsDisabled`) it no longer lists what
//! that folder stops.

use connector_sdk::{Acl, Principal};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::wire::Permission;

/// The ACL of an item whose permissions are `permissions`, as of `now`.
pub fn acl_of(
    permissions: &[Permission],
    link_sharing_searchable: bool,
    now: OffsetDateTime,
) -> Acl {
    let mut acl = Acl::default();
    for p in permissions {
        if p.deleted || expired(p, now) {
            continue;
        }
        let link_only = p.allow_file_discovery == Some(false);
        let principal = match p.kind.as_str() {
            "user" => p
                .email_address
                .as_deref()
                .filter(|e| e.contains('@'))
                .map(Principal::user),
            "group" => p
                .email_address
                .as_deref()
                .filter(|e| e.contains('@'))
                .map(|e| Principal::group(e.trim().to_lowercase())),
            "domain" if !link_only || link_sharing_searchable => p
                .domain
                .as_deref()
                .filter(|d| !d.trim().is_empty())
                .map(Principal::domain),
            "anyone" if !link_only || link_sharing_searchable => Some(Principal::Everyone),
            _ => None,
        };
        if let Some(principal) = principal {
            acl.allow.insert(principal);
        }
    }
    acl
}

/// Whether a grant has expired; one whose expiry cannot be read is treated as expired.
fn expired(p: &Permission, now: OffsetDateTime) -> bool {
    match p.expiration_time.as_deref() {
        None => false,
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).map_or(true, |at| at <= now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(kind: &str, who: &str) -> Permission {
        let mut p = Permission {
            id: format!("{kind}-{who}"),
            kind: kind.into(),
            role: "reader".into(),
            ..Permission::default()
        };
        match kind {
            "domain" => p.domain = Some(who.into()),
            "anyone" => {}
            _ => p.email_address = Some(who.into()),
        }
        p
    }

    fn check(permissions: &[Permission], link_searchable: bool, expected: &[&str]) {
        let now = OffsetDateTime::parse("2026-01-01T00:00:00Z", &Rfc3339).expect("time");
        assert_eq!(
            acl_of(permissions, link_searchable, now).allow_terms(),
            expected
        );
    }

    #[test]
    fn each_kind_of_grant_becomes_its_principal() {
        check(
            &[
                grant("user", "Ann@Example.com"),
                grant("group", "Eng@Example.com"),
                grant("domain", "Example.com"),
                grant("anyone", ""),
            ],
            false,
            &[
                "user:ann@example.com",
                "group:eng@example.com",
                "domain:example.com",
                "everyone",
            ],
        );
    }

    #[test]
    fn link_only_sharing_is_searchable_only_when_configured() {
        let mut anyone = grant("anyone", "");
        anyone.allow_file_discovery = Some(false);
        let mut domain = grant("domain", "example.com");
        domain.allow_file_discovery = Some(false);
        let owner = grant("user", "ann@example.com");
        let both = [owner, anyone, domain];
        check(&both, false, &["user:ann@example.com"]);
        check(
            &both,
            true,
            &["user:ann@example.com", "domain:example.com", "everyone"],
        );
    }

    #[test]
    fn deleted_expired_unreadable_and_unknown_grants_grant_nothing() {
        let mut deleted = grant("user", "del@example.com");
        deleted.deleted = true;
        let mut expired = grant("user", "old@example.com");
        expired.expiration_time = Some("2025-12-31T23:59:59.000Z".into());
        let mut later = grant("user", "later@example.com");
        later.expiration_time = Some("2026-06-01T00:00:00.000Z".into());
        let mut garbled = grant("user", "garbled@example.com");
        garbled.expiration_time = Some("next tuesday".into());
        let no_email = Permission {
            kind: "user".into(),
            ..Permission::default()
        };
        check(
            &[
                deleted,
                expired,
                later,
                garbled,
                no_email,
                grant("audience", "x@example.com"),
            ],
            false,
            &["user:later@example.com"],
        );
        check(&[], true, &[]);
    }
}
