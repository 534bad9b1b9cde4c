//! The identity crawl: who is in the groups that ACLs name.
//!
//! - Users (api/user-list): each user's object id and UPN map to the address they are
//!   searched as (`UserEmail`), and every member user (not a guest) is in
//!   [`EVERYONE_IN_TENANT`].
//! - Entra ID groups (api/group-list, group-list-members): direct members, users and groups;
//!   the engine expands the nesting, which gives the transitive members.
//! - SharePoint groups of every wanted site collection (REST `web/sitegroups` and
//!   `sitegroups/getbyid(n)/users`): users by their email, UPN or claims login; Entra
//!   groups by their claim (`c:0t.c|tenant|<id>`, `c:0o.c|federateddirectoryclaimprovider|
//!   <id>`); "Everyone except external users" and "Everyone" as [`EVERYONE_IN_TENANT`].
//!   Claims this code does not know (an M365 group's owners, `…_o`) add nobody: fail closed.

use std::collections::HashSet;

use connector_sdk::feed::retrying;
use connector_sdk::{ConnectorError, Membership};
use tokio::sync::mpsc::Sender;

use crate::Inner;
use crate::acl::{Claimed, EVERYONE_IN_TENANT, sharepoint_member, site_group};
use crate::wire::SiteGroupUser;

type Tx = Sender<Result<Membership, ConnectorError>>;

impl Inner {
    /// Crawls the directory and the site groups; an error ends the crawl (the engine
    /// then keeps what it had).
    pub(crate) async fn crawl_identities(&self, tx: &Tx) -> Result<(), ConnectorError> {
        let mut facts = Vec::new();
        for user in retrying(tx, || self.api.users()).await? {
            let Some(email) = user.email() else { continue };
            facts.push(Membership::UserEmail {
                user: user.id.clone(),
                email: email.clone(),
            });
            if let Some(upn) = user.user_principal_name.as_deref()
                && !upn.eq_ignore_ascii_case(&email)
            {
                facts.push(Membership::UserEmail {
                    user: upn.to_lowercase(),
                    email: email.clone(),
                });
            }
            if !user
                .user_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("guest"))
            {
                facts.push(Membership::UserInGroup {
                    user: email,
                    group: EVERYONE_IN_TENANT.into(),
                });
            }
        }
        if !send(tx, &mut facts).await {
            return Ok(());
        }
        for group in retrying(tx, || self.api.groups()).await? {
            for member in retrying(tx, || self.api.members(&group.id)).await? {
                let kind = member.odata_type.as_deref().unwrap_or("");
                if kind.ends_with(".group") {
                    facts.push(Membership::GroupInGroup {
                        child: member.id,
                        parent: group.id.clone(),
                    });
                } else if kind.ends_with(".user") {
                    let user = member
                        .mail
                        .or(member.user_principal_name)
                        .filter(|e| e.contains('@'))
                        .unwrap_or(member.id);
                    facts.push(Membership::UserInGroup {
                        user: user.to_lowercase(),
                        group: group.id.clone(),
                    });
                }
            }
            if !send(tx, &mut facts).await {
                return Ok(());
            }
        }
        if self.config.site_groups {
            self.crawl_site_groups(tx).await?;
        }
        Ok(())
    }

    async fn crawl_site_groups(&self, tx: &Tx) -> Result<(), ConnectorError> {
        let mut collections = HashSet::new();
        let mut sites = retrying(tx, || self.api.sites()).await?;
        sites.retain(|s| self.wants_site(s));
        for site in sites {
            if !collections.insert(site.collection_id().to_string()) {
                continue; // a subsite: its collection's groups are read
            }
            let groups = retrying(tx, || self.api.site_groups(&site))
                .await
                .map_err(refused_secret)?;
            for group in groups {
                let parent = site_group(site.collection_id(), group.id);
                let users = retrying(tx, || self.api.site_group_users(&site, group.id)).await?;
                let mut facts: Vec<Membership> = users
                    .iter()
                    .filter_map(|u| site_group_member(u, &parent))
                    .collect();
                if !send(tx, &mut facts).await {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// SharePoint REST refuses app-only tokens made with a client secret: say what to do.
pub(crate) fn refused_secret(e: ConnectorError) -> ConnectorError {
    if e.kind != connector_sdk::ErrorKind::Unauthorized {
        return e;
    }
    ConnectorError::new(
        e.kind,
        format!(
            "{}: SharePoint REST refused the app's token; reading site groups and the \
             permissions of lists and pages needs a certificate (certificate_file), or set \
             site_groups = false, list_items = false and pages = false",
            e.message
        ),
    )
}

/// The membership a SharePoint group's member gives, if this code can read it.
fn site_group_member(member: &SiteGroupUser, parent: &str) -> Option<Membership> {
    let claimed = sharepoint_member(
        member.login_name.as_deref().unwrap_or(""),
        member.email.as_deref(),
        member.user_principal_name.as_deref(),
        member.principal_type,
    )?;
    Some(match claimed {
        Claimed::User(user) => Membership::UserInGroup {
            user,
            group: parent.to_string(),
        },
        Claimed::Group(child) => Membership::GroupInGroup {
            child,
            parent: parent.to_string(),
        },
    })
}

/// Sends and clears `facts`; false once the engine stopped listening.
async fn send(tx: &Tx, facts: &mut Vec<Membership>) -> bool {
    for fact in facts.drain(..) {
        if tx.send(Ok(fact)).await.is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(login: &str, email: Option<&str>, kind: i64) -> SiteGroupUser {
        SiteGroupUser {
            login_name: Some(login.into()),
            email: email.map(Into::into),
            user_principal_name: None,
            principal_type: Some(kind),
        }
    }

    #[test]
    fn site_group_members_become_users_groups_or_the_tenant() {
        let parent = "sitegroup:c:3";
        let user = site_group_member(
            &member("i:0#.f|membership|Al@contoso.com", Some(""), 1),
            parent,
        );
        assert_eq!(
            user,
            Some(Membership::UserInGroup {
                user: "al@contoso.com".into(),
                group: parent.into()
            })
        );
        let entra = site_group_member(&member("c:0t.c|tenant|b6d0-77", None, 4), parent);
        assert_eq!(
            entra,
            Some(Membership::GroupInGroup {
                child: "b6d0-77".into(),
                parent: parent.into()
            })
        );
        let everyone = site_group_member(
            &member("c:0-.f|rolemanager|spo-grid-all-users/tid", None, 4),
            parent,
        );
        assert!(
            matches!(everyone, Some(Membership::GroupInGroup { child, .. }) if child == EVERYONE_IN_TENANT)
        );
        assert_eq!(
            site_group_member(
                &member("c:0o.c|federateddirectoryclaimprovider|g1_o", None, 4),
                parent
            ),
            None
        );
        assert_eq!(
            site_group_member(&member("SHAREPOINT\\system", None, 1), parent),
            None
        );
    }
}
