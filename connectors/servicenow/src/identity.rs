//! The instance's directory, read for the identity sync and for ACLs that must be
//! expanded to users; and the tables the knowledge ACLs depend on.
//!
//! Identity facts: every active user with an email is named by it (`UserEmail`, so that
//! a `sys_id` in an ACL is the same person as in other sources) and is in [`EVERYONE`];
//! group memberships (`sys_user_grmember`) are groups by `sys_id`; roles
//! (`sys_user_has_role`, inherited rows included, as the instance lists them) are
//! `role:<name>`; a user's department, location and company are `department:<id>`,
//! `location:<id>`, `company:<id>`.

use std::collections::BTreeMap;

use connector_sdk::feed::Pauses;
use connector_sdk::{ConnectorError, Membership};
use serde_json::Value;
use tokio::sync::mpsc::Sender;

use crate::Inner;
use crate::acl::{AclWorld, Criteria, Directory, EVERYONE, UserFacts};
use crate::api::{Keyset, field, is_forbidden};

type Tx = Sender<Result<Membership, ConnectorError>>;

impl Inner {
    /// Every record of a table (`filter` applied), keyset-paged.
    pub(crate) async fn read_all<P: Pauses>(
        &self,
        out: &P,
        table: &str,
        filter: &str,
        fields: &str,
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut walk = Keyset::new(&format!("table/{table}"), filter, fields, None);
        let mut all = Vec::new();
        while let Some(page) = walk.next(&self.api, out).await? {
            all.extend(page);
        }
        Ok(all)
    }

    /// Role `sys_id` → name.
    pub(crate) async fn roles<P: Pauses>(
        &self,
        out: &P,
    ) -> Result<BTreeMap<String, String>, ConnectorError> {
        Ok(self
            .read_all(out, "sys_user_role", "", "sys_id,name,sys_updated_on")
            .await?
            .iter()
            .map(|r| (field(r, "sys_id"), field(r, "name")))
            .collect())
    }

    /// The users, their groups and roles.
    pub(crate) async fn directory<P: Pauses>(
        &self,
        out: &P,
        roles: &BTreeMap<String, String>,
    ) -> Result<Directory, ConnectorError> {
        let mut dir = Directory::default();
        let fields = "sys_id,email,active,department,location,company,sys_updated_on";
        for r in self.read_all(out, "sys_user", "", fields).await? {
            let id = field(&r, "sys_id");
            dir.users.insert(
                id.clone(),
                UserFacts {
                    id,
                    email: field(&r, "email"),
                    active: field(&r, "active") == "true",
                    department: field(&r, "department"),
                    location: field(&r, "location"),
                    company: field(&r, "company"),
                    ..UserFacts::default()
                },
            );
        }
        let fields = "sys_id,user,group,sys_updated_on";
        for r in self.read_all(out, "sys_user_grmember", "", fields).await? {
            if let Some(u) = dir.users.get_mut(&field(&r, "user")) {
                u.groups.insert(field(&r, "group"));
            }
        }
        let fields = "sys_id,user,role,state,sys_updated_on";
        for r in self.read_all(out, "sys_user_has_role", "", fields).await? {
            // `state` is `active` unless the role is pending or requested (absent on
            // older releases, where every row is held).
            let state = field(&r, "state");
            if !(state.is_empty() || state == "active") {
                continue;
            }
            if let (Some(u), Some(name)) = (
                dir.users.get_mut(&field(&r, "user")),
                roles.get(&field(&r, "role")),
            ) {
                u.roles.insert(name.clone());
            }
        }
        Ok(dir)
    }

    /// What the knowledge ACLs depend on, and its fingerprint. A criteria or
    /// many-to-many table the user may not read leaves the criteria unknown, so the
    /// articles that name them are invisible.
    pub(crate) async fn acl_world<P: Pauses>(
        &self,
        out: &P,
        kbs: &[String],
    ) -> Result<(AclWorld, String), ConnectorError> {
        let mut world = AclWorld {
            roles: self.roles(out).await?,
            ..AclWorld::default()
        };
        let mut hasher = blake3::Hasher::new();
        let fields = "sys_id,name,active,user,group,role,department,location,company,match_all,advanced,sys_updated_on,sys_mod_count";
        match self.read_all(out, "user_criteria", "", fields).await {
            Ok(rows) => {
                for r in rows {
                    hasher.update(r.to_string().as_bytes());
                    let c = Criteria::from_record(&r);
                    world.criteria.insert(c.id.clone(), c);
                }
            }
            Err(e) if is_forbidden(&e) => {
                tracing::warn!(
                    "user_criteria cannot be read: articles restricted by user criteria are invisible"
                );
            }
            Err(e) => return Err(e),
        }
        for kb in kbs {
            world.kb.insert(kb.clone(), Default::default());
        }
        for (table, can) in [
            ("kb_uc_can_read_mtom", true),
            ("kb_uc_cannot_read_mtom", false),
        ] {
            let rows = match self
                .read_all(
                    out,
                    table,
                    "",
                    "sys_id,kb_knowledge_base,user_criteria,sys_updated_on",
                )
                .await
            {
                Ok(rows) => rows,
                Err(e) if is_forbidden(&e) => {
                    tracing::warn!(table, "cannot be read: every article is invisible");
                    world.kb_unreadable = Some(table.to_string());
                    continue;
                }
                Err(e) => return Err(e),
            };
            for r in rows {
                hasher.update(r.to_string().as_bytes());
                if let Some(entry) = world.kb.get_mut(&field(&r, "kb_knowledge_base")) {
                    let list = if can { &mut entry.0 } else { &mut entry.1 };
                    list.push(field(&r, "user_criteria"));
                }
            }
        }
        for (id, name) in &world.roles {
            hasher.update(format!("{id}={name};").as_bytes());
        }
        hasher.update(format!("{:?}", world.kb_unreadable).as_bytes());
        Ok((world, hasher.finalize().to_hex()[..32].to_string()))
    }

    /// Crawls the directory; an error ends the crawl (the engine keeps what it had).
    pub(crate) async fn crawl_identities(&self, tx: &Tx) -> Result<(), ConnectorError> {
        let roles = self.roles(tx).await?;
        let dir = self.directory(tx, &roles).await?;
        for u in dir.users.values().filter(|u| u.active) {
            let mut facts = Vec::new();
            if !u.email.is_empty() {
                facts.push(Membership::UserEmail {
                    user: u.id.clone(),
                    email: u.email.clone(),
                });
            }
            let mut groups: Vec<String> = vec![EVERYONE.to_string()];
            groups.extend(u.groups.iter().cloned());
            groups.extend(u.roles.iter().map(|r| format!("role:{r}")));
            for (kind, id) in [
                ("department", &u.department),
                ("location", &u.location),
                ("company", &u.company),
            ] {
                if !id.is_empty() {
                    groups.push(format!("{kind}:{id}"));
                }
            }
            facts.extend(groups.into_iter().map(|group| Membership::UserInGroup {
                user: u.id.clone(),
                group,
            }));
            for fact in facts {
                if tx.send(Ok(fact)).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// A fingerprint of the directory, for ACLs expanded to users.
pub(crate) fn directory_hash(dir: &Directory) -> String {
    blake3::hash(format!("{dir:?}").as_bytes()).to_hex()[..32].to_string()
}
