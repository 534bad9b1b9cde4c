//! Who is in which group, per namespace, and a user's principals at query time.
//!
//! Group ids are local to a source: group `engineering` of one source and group
//! `engineering` of another are different groups. So every group term in the index carries
//! a *namespace* (`group:<namespace>:<id>`, see [`index_term`]); a source's namespace is its
//! id unless its configuration names another (two sites of one tenant share a directory).
//! Users, on the other hand, are one person across sources: they are matched by email,
//! case-insensitively, and a namespace's alias table maps the ids its source uses for people
//! (a Slack user id, a SharePoint login) to their email.
//!
//! [`Memberships`] is one namespace's directory: users to their direct groups, groups to
//! their parent groups, aliases. It has two providers: an identity sync stores what a
//! connector's `identities()` crawled (`Engine::sync_identities`), and the identities file
//! ([`IdentitiesFile`]) defines the groups of the sources that have no directory of their
//! own. [`Identities`] holds every namespace's memberships and expands a user into the
//! principals a search filters on, transitively *within* each namespace; [`explain`] says
//! why a user can or cannot see a document.
//!
//! ```
//! use sync_core::identities::{Identities, IdentitiesFile};
//!
//! let file = IdentitiesFile::parse(br#"{"users": {"bob@example.com": ["hr"]},
//!                                        "groups": {"hr": ["all-staff"]}}"#).unwrap();
//! let ids = Identities::from_file(&file, ["sample"]);
//! assert_eq!(
//!     ids.principals("Bob@Example.com"),
//!     ["user:bob@example.com", "everyone", "domain:example.com",
//!      "group:sample:all-staff", "group:sample:hr"]
//! );
//! ```

mod explain;
mod sync;

pub use explain::{Decision, Derived, explain};

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use connector_sdk::{Acl, Membership, Principal};
use serde::{Deserialize, Serialize};

use crate::store::StateStore;
use crate::{EngineError, Result};

/// The index term of a principal of a source whose groups live in `namespace`: groups
/// become `group:<namespace>:<id>`; users, domains and `everyone` are the same everywhere.
pub fn index_term(principal: &Principal, namespace: &str) -> String {
    match principal {
        Principal::Group(id) => group_term(namespace, id),
        other => other.term(),
    }
}

/// `group:<namespace>:<id>`.
pub fn group_term(namespace: &str, group: &str) -> String {
    format!("group:{namespace}:{group}")
}

/// An ACL's allow and deny entries as index terms, sorted as [`Acl::allow_terms`] sorts.
pub fn acl_terms(acl: &Acl, namespace: &str) -> (Vec<String>, Vec<String>) {
    let render = |set: &BTreeSet<Principal>| set.iter().map(|p| index_term(p, namespace)).collect();
    (render(&acl.allow), render(&acl.deny))
}

/// Whether `ns` can be a namespace: the characters of a source id, so that
/// `group:<ns>:<id>` splits unambiguously at its second colon.
pub fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The version of the [`Memberships`] format this build writes.
pub const MEMBERSHIPS_FORMAT: u32 = 1;

/// One namespace's directory. User ids and emails are stored lowercased (they compare
/// case-insensitively); group ids exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memberships {
    /// The format version ([`MEMBERSHIPS_FORMAT`]).
    pub format: u32,
    /// User (email, or the source's user id) → the groups it is a direct member of.
    #[serde(default)]
    pub users: BTreeMap<String, BTreeSet<String>>,
    /// Group → the groups it is a direct member of (its parents).
    #[serde(default)]
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// The source's user id → that person's email.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
}

impl Default for Memberships {
    fn default() -> Self {
        Memberships {
            format: MEMBERSHIPS_FORMAT,
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            aliases: BTreeMap::new(),
        }
    }
}

fn norm(user: &str) -> String {
    user.trim().to_lowercase()
}

impl Memberships {
    /// Adds one fact of a connector's crawl; returns whether it was new.
    pub fn add(&mut self, fact: Membership) -> bool {
        match fact {
            Membership::UserInGroup { user, group } => {
                self.users.entry(norm(&user)).or_default().insert(group)
            }
            Membership::GroupInGroup { child, parent } => {
                self.groups.entry(child).or_default().insert(parent)
            }
            Membership::UserEmail { user, email } => {
                self.aliases.insert(norm(&user), norm(&email)) != Some(norm(&email))
            }
        }
    }

    /// Users named (as members or by an alias).
    pub fn user_count(&self) -> u64 {
        let mut users: BTreeSet<&String> = self.users.keys().collect();
        users.extend(self.aliases.keys());
        users.len() as u64
    }

    /// Groups named (as a group or as a parent).
    pub fn group_count(&self) -> u64 {
        let mut groups: BTreeSet<&String> = self.groups.keys().collect();
        groups.extend(self.groups.values().flatten());
        groups.extend(self.users.values().flatten());
        groups.len() as u64
    }

    /// Facts held: memberships of users and of groups, and aliases.
    pub fn len(&self) -> usize {
        let edges =
            |m: &BTreeMap<String, BTreeSet<String>>| m.values().map(BTreeSet::len).sum::<usize>();
        edges(&self.users) + edges(&self.groups) + self.aliases.len()
    }

    /// True when it holds no fact at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Refuses a format this build does not know (a newer one).
    pub fn check_format(&self) -> Result<()> {
        if self.format == 0 || self.format > MEMBERSHIPS_FORMAT {
            return Err(EngineError::Store(format!(
                "memberships of format {} (this build reads {MEMBERSHIPS_FORMAT})",
                self.format
            )));
        }
        Ok(())
    }
}

/// The identities file: `{"users": {email: [groups]}, "groups": {group: [parents]}}`.
///
/// ```json
/// {"users": {"alice@example.com": ["backend", "all-staff"]},
///  "groups": {"backend": ["engineering"]}}
/// ```
/// It defines the groups of the namespaces configured as its (`[identities] sources`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitiesFile {
    #[serde(default)]
    users: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
}

impl IdentitiesFile {
    /// Parses the JSON text of an identities file.
    pub fn parse(json: &[u8]) -> Result<Self> {
        serde_json::from_slice(json)
            .map_err(|e| EngineError::Config(format!("identities file: {e}")))
    }

    /// The same facts as a namespace's [`Memberships`] (user ids lowercased, entries that
    /// differ only in case merged).
    pub fn memberships(&self) -> Memberships {
        let mut m = Memberships::default();
        for (user, groups) in &self.users {
            // A user listed with no group is still known.
            let entry = m.users.entry(norm(user)).or_default();
            entry.extend(groups.iter().cloned());
        }
        for (group, parents) in &self.groups {
            let entry = m.groups.entry(group.clone()).or_default();
            entry.extend(parents.iter().cloned());
        }
        m
    }
}

/// Where a namespace's facts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// An identity sync of a source (`tributary sync --identities`), from the store.
    StoredCrawl,
    /// The identities file (`[identities] file`).
    IdentitiesFile,
    /// A source's `aliases` in the configuration.
    Config,
}

impl Provider {
    /// How `acl explain` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::StoredCrawl => "stored crawl",
            Provider::IdentitiesFile => "identities file",
            Provider::Config => "config aliases",
        }
    }
}

/// One namespace, every provider's facts merged, each edge labelled with its provider.
#[derive(Debug, Default, Clone)]
struct Namespace {
    users: HashMap<String, Vec<(String, Provider)>>,
    groups: HashMap<String, Vec<(String, Provider)>>,
    /// Email → the source's ids for that person.
    ids_of: HashMap<String, Vec<(String, Provider)>>,
}

/// Every namespace's memberships: what a search needs to turn a user into principals.
#[derive(Debug, Default, Clone)]
pub struct Identities {
    namespaces: BTreeMap<String, Namespace>,
}

impl Identities {
    /// No namespace at all: a user's principals are their own id, domain and `everyone`.
    pub fn new() -> Self {
        Identities::default()
    }

    /// The identities file as the provider of `namespaces`.
    pub fn from_file<S: AsRef<str>>(
        file: &IdentitiesFile,
        namespaces: impl IntoIterator<Item = S>,
    ) -> Self {
        let mut ids = Identities::new();
        ids.add_file(file, namespaces);
        ids
    }

    /// Adds every namespace the store holds memberships for (identity syncs).
    pub fn add_stored(&mut self, store: &dyn StateStore) -> Result<()> {
        for ns in store.membership_namespaces()? {
            if let Some(m) = store.memberships(&ns)? {
                self.add(&ns, Provider::StoredCrawl, &m);
            }
        }
        Ok(())
    }

    /// Adds the identities file as a provider of `namespaces`.
    pub fn add_file<S: AsRef<str>>(
        &mut self,
        file: &IdentitiesFile,
        namespaces: impl IntoIterator<Item = S>,
    ) {
        let m = file.memberships();
        for ns in namespaces {
            self.add(ns.as_ref(), Provider::IdentitiesFile, &m);
        }
    }

    /// Adds a source's configured aliases (its user id → email) to `namespace`.
    pub fn add_aliases(&mut self, namespace: &str, aliases: &BTreeMap<String, String>) {
        let m = Memberships {
            aliases: aliases.iter().map(|(k, v)| (norm(k), norm(v))).collect(),
            ..Memberships::default()
        };
        self.add(namespace, Provider::Config, &m);
    }

    /// Merges `m` into `namespace`'s facts, labelled with `provider`.
    pub fn add(&mut self, namespace: &str, provider: Provider, m: &Memberships) {
        let ns = self.namespaces.entry(namespace.to_string()).or_default();
        for (user, groups) in &m.users {
            let edges = ns.users.entry(norm(user)).or_default();
            edges.extend(groups.iter().map(|g| (g.clone(), provider)));
        }
        for (group, parents) in &m.groups {
            let edges = ns.groups.entry(group.clone()).or_default();
            edges.extend(parents.iter().map(|p| (p.clone(), provider)));
        }
        for (id, email) in &m.aliases {
            let ids = ns.ids_of.entry(norm(email)).or_default();
            ids.push((norm(id), provider));
        }
    }

    /// The namespaces that have any fact.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.namespaces.keys().map(String::as_str)
    }

    /// Whether any namespace names this user (by email or through an alias).
    pub fn knows(&self, user: &str) -> bool {
        let user = norm(user);
        self.namespaces
            .values()
            .any(|ns| ns.users.contains_key(&user) || ns.ids_of.contains_key(&user))
    }

    /// Every principal a search made as `user` matches, as index terms: the user, `everyone`,
    /// their email domain, their ids in each namespace's alias table, and in each namespace
    /// every group they belong to, directly or through nesting (sorted).
    pub fn principals(&self, user: &str) -> Vec<String> {
        self.derive(user).into_iter().map(|d| d.principal).collect()
    }

    /// [`Identities::principals`] with the path that gives each one.
    pub fn derive(&self, user: &str) -> Vec<Derived> {
        let email = norm(user);
        let me = Principal::user(&email).term();
        let mut out = vec![
            Derived::new(me.clone(), vec![me.clone()], None),
            Derived::new("everyone".into(), vec![me.clone(), "everyone".into()], None),
        ];
        if let Some((_, domain)) = email.rsplit_once('@')
            && !domain.is_empty()
        {
            let d = Principal::domain(domain).term();
            out.push(Derived::new(d.clone(), vec![me.clone(), d], None));
        }
        let mut aliases = Vec::new();
        let mut groups = BTreeMap::new();
        for (name, ns) in &self.namespaces {
            // The person's ids in this namespace: their email, and every alias of it.
            let mut starts = vec![(email.clone(), vec![me.clone()])];
            for (id, provider) in ns.ids_of.get(&email).into_iter().flatten() {
                let term = Principal::user(id).term();
                let path = vec![me.clone(), term.clone()];
                if *id != email {
                    aliases.push(Derived::new(term, path.clone(), Some(*provider)));
                }
                starts.push((id.clone(), path));
            }
            // Breadth first, so each group's path is a shortest one; a group seen once is
            // not expanded again, so cycles end.
            let mut queue = VecDeque::new();
            // A group's provider is the one that knows the membership (an alias that led
            // to it may come from another one: it is on the path).
            for (id, path) in starts {
                for (group, p) in ns.users.get(&id).into_iter().flatten() {
                    queue.push_back((group.clone(), path.clone(), *p));
                }
            }
            let mut seen = BTreeSet::new();
            while let Some((group, mut path, provider)) = queue.pop_front() {
                if !seen.insert(group.clone()) {
                    continue;
                }
                let term = group_term(name, &group);
                path.push(term.clone());
                for (parent, _) in ns.groups.get(&group).into_iter().flatten() {
                    queue.push_back((parent.clone(), path.clone(), provider));
                }
                groups
                    .entry(term.clone())
                    .or_insert_with(|| Derived::new(term, path, Some(provider)));
            }
        }
        aliases.sort_by(|a, b| a.principal.cmp(&b.principal));
        aliases.dedup_by(|a, b| a.principal == b.principal);
        out.extend(aliases);
        out.extend(groups.into_values());
        out
    }
}

#[cfg(test)]
mod tests;
