//! The identity crawl: every active account of the site (`users/search`, people only:
//! `accountType` `atlassian`) is in [`SITE_USERS`] and named by its email when the
//! profile shows it (`UserEmail`, so that account ids in ACLs meet the person elsewhere);
//! every group's active members (`group/bulk`, `group/member`) are in `<groupId>`, the
//! id ACLs name. Project roles are expanded into the ACLs themselves (their actors are
//! users and groups), so they need no group here.

use connector_sdk::feed::retrying;
use connector_sdk::{ConnectorError, Membership};
use tokio::sync::mpsc::Sender;

use crate::Inner;
use crate::acl::SITE_USERS;

type Tx = Sender<Result<Membership, ConnectorError>>;

impl Inner {
    /// Crawls users and groups; an error ends the crawl (the engine keeps the directory
    /// it had).
    pub(crate) async fn crawl_identities(&self, tx: &Tx) -> Result<(), ConnectorError> {
        let mut facts = Vec::new();
        for user in retrying(tx, || self.api.users()).await? {
            let person = user
                .account_type
                .as_deref()
                .is_none_or(|t| t == "atlassian");
            if !person || user.active == Some(false) || user.account_id.is_empty() {
                continue;
            }
            if let Some(email) = user.email_address.filter(|e| !e.is_empty()) {
                facts.push(Membership::UserEmail {
                    user: user.account_id.clone(),
                    email,
                });
            }
            facts.push(Membership::UserInGroup {
                user: user.account_id,
                group: SITE_USERS.into(),
            });
        }
        if !send(tx, &mut facts).await {
            return Ok(());
        }
        for group in retrying(tx, || self.api.groups()).await? {
            let Some(id) = group.group_id else {
                tracing::warn!(group = ?group.name, "a group without a group id is skipped");
                continue;
            };
            for member in retrying(tx, || self.api.group_members(&id)).await? {
                if member.active != Some(false) && !member.account_id.is_empty() {
                    facts.push(Membership::UserInGroup {
                        user: member.account_id,
                        group: id.clone(),
                    });
                }
            }
            if !send(tx, &mut facts).await {
                return Ok(());
            }
        }
        Ok(())
    }
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
