//! The identity crawl: who is in the workspace and in each synced channel.
//!
//! Every user with an email is named by it (`UserEmail`, so that Slack ids meet the same
//! person in other sources). Full members (not guests, not deactivated, not bots) are in
//! [`WORKSPACE`]; the members of every synced channel (`conversations.members`) are in its
//! group `channel:<id>` — guests included, since they read the channels they are in.

use std::collections::HashMap;

use connector_sdk::feed::retrying;
use connector_sdk::{ConnectorError, Membership};
use tokio::sync::mpsc::Sender;

use crate::Inner;
use crate::listing::{WORKSPACE, channel_group};
use crate::wire::User;

type Tx = Sender<Result<Membership, ConnectorError>>;

impl Inner {
    /// Crawls users and channel members; an error ends the crawl (the engine then keeps
    /// the directory it had).
    pub(crate) async fn crawl_identities(&self, tx: &Tx) -> Result<(), ConnectorError> {
        let users: HashMap<String, User> = retrying(tx, || self.api.users())
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let mut facts = Vec::new();
        for user in users.values() {
            if user.deleted || user.is_bot {
                continue;
            }
            let principal = user.principal();
            if principal != user.id {
                facts.push(Membership::UserEmail {
                    user: user.id.clone(),
                    email: principal,
                });
            }
            if !user.is_guest() {
                facts.push(Membership::UserInGroup {
                    user: user.id.clone(),
                    group: WORKSPACE.into(),
                });
            }
        }
        if !send(tx, &mut facts).await {
            return Ok(());
        }
        for channel in self.channels(tx).await? {
            for member in retrying(tx, || self.api.members(&channel.id)).await? {
                let active = users.get(&member).is_some_and(|u| !u.deleted && !u.is_bot);
                if active {
                    facts.push(Membership::UserInGroup {
                        user: member,
                        group: channel_group(&channel.id),
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
