//! The directory the randomized SharePoint tests share, built in the fake and modelled at
//! once: users (members of the tenant and invited guests), Entra groups nested only into
//! later groups (so there are no cycles), and each site's groups, whose members are users,
//! Entra groups or "Everyone except external users". The model says whom each reaches;
//! the tests add what a document grants on top.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use fake_graph::{Member, NewSite, Principal, World};

use crate::seeded::Rng;

/// A user of the tenant.
#[derive(Debug)]
pub(super) struct User {
    /// How SharePoint names the user (a guest's `…#EXT#@…` UPN).
    pub upn: String,
    /// How the user searches.
    pub mail: String,
    pub id: String,
    pub guest: bool,
}

/// A member of an Entra group, by index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum GroupMember {
    User(usize),
    Group(usize),
}

/// A member of a site group, by index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum SiteMember {
    User(usize),
    Group(usize),
    Everyone,
}

/// Users, Entra groups and site groups, by index.
#[derive(Debug, Default)]
pub(super) struct Directory {
    pub users: Vec<User>,
    pub group_ids: Vec<String>,
    pub groups: Vec<Vec<GroupMember>>,
    /// Per site: its id.
    pub site_ids: Vec<String>,
    /// Per site: its groups' members, by site group id.
    pub site_groups: Vec<BTreeMap<u32, Vec<SiteMember>>>,
}

impl Directory {
    /// `members` users (`u<i>@contoso.com`), then `guests` invited guests
    /// (`g<i>@fabrikam.com`), then `groups` Entra groups with one to three random members.
    pub fn build(
        w: &mut World,
        rng: &mut Rng,
        members: usize,
        guests: usize,
        groups: usize,
    ) -> Self {
        let mut d = Directory::default();
        for u in 0..members + guests {
            let guest = u >= members;
            let (id, upn, mail) = if guest {
                // Entra's UPN of an invited guest: the address with `_` for `@`, `#EXT#`.
                let mail = format!("g{u}@fabrikam.com");
                let upn = format!("g{u}_fabrikam.com#EXT#@contoso.onmicrosoft.com");
                let id = w.add_guest(&mail, &format!("Guest {u}"));
                assert!(w.user_by_upn(&upn).is_some(), "the guest's UPN: {upn}");
                (id, upn, mail)
            } else {
                let upn = format!("u{u}@contoso.com");
                (w.add_user(&upn, &format!("User {u}")), upn.clone(), upn)
            };
            d.users.push(User {
                upn,
                mail,
                id,
                guest,
            });
        }
        for g in 0..groups {
            d.group_ids
                .push(w.add_group(&format!("Group {g}"), &format!("g{g}@contoso.com")));
            d.groups.push(Vec::new());
        }
        for g in 0..groups {
            for _ in 0..1 + rng.below(3) {
                let member = d.random_group_member(rng, g);
                d.add_group_member(w, g, member);
            }
        }
        d
    }

    /// Site `s` (`site<s>`) with its default groups and an "Auditors" group, each given up
    /// to two random members. Returns the fake's site and the Auditors group's id.
    pub fn add_site(&mut self, w: &mut World, rng: &mut Rng, s: usize) -> (NewSite, u32) {
        let new = w.add_site(&format!("site{s}"), &format!("Site {s}"));
        let custom = w.add_site_group(&new.id, &format!("Site {s} Auditors"), "auditors");
        let sgs = [new.owners, new.members, new.visitors, custom];
        self.site_ids.push(new.id.clone());
        self.site_groups
            .push(sgs.iter().map(|&sg| (sg, Vec::new())).collect());
        for sg in sgs {
            for _ in 0..rng.below(3) {
                let member = self.random_site_member(rng);
                self.add_site_member(w, s, sg, member);
            }
        }
        (new, custom)
    }

    /// The index of the user who searches as `mail`.
    pub fn user_by_mail(&self, mail: &str) -> Option<usize> {
        self.users.iter().position(|u| u.mail == mail)
    }

    /// Every user in Entra group `g`, through nested groups.
    pub fn group_users(&self, g: usize, out: &mut BTreeSet<usize>) {
        for m in &self.groups[g] {
            match *m {
                GroupMember::User(u) => {
                    out.insert(u);
                }
                GroupMember::Group(h) => self.group_users(h, out),
            }
        }
    }

    /// "Everyone except external users": the tenant's members, not its guests.
    pub fn everyone(&self, out: &mut BTreeSet<usize>) {
        out.extend((0..self.users.len()).filter(|&u| !self.users[u].guest));
    }

    /// Every user site group `sg` of site `site` reaches.
    pub fn site_group_users(&self, site: usize, sg: u32, out: &mut BTreeSet<usize>) {
        for m in self.site_groups[site].get(&sg).into_iter().flatten() {
            match *m {
                SiteMember::User(u) => {
                    out.insert(u);
                }
                SiteMember::Group(g) => self.group_users(g, out),
                SiteMember::Everyone => self.everyone(out),
            }
        }
    }

    /// A random member for group `g`: a user, or a later group.
    pub fn random_group_member(&self, rng: &mut Rng, g: usize) -> GroupMember {
        let groups = self.groups.len();
        if g + 1 < groups && rng.chance(35) {
            GroupMember::Group(g + 1 + rng.below(groups - g - 1))
        } else {
            GroupMember::User(rng.below(self.users.len()))
        }
    }

    fn fake_group_member(&self, m: GroupMember) -> Member {
        match m {
            GroupMember::User(u) => Member::User(self.users[u].id.clone()),
            GroupMember::Group(g) => Member::Group(self.group_ids[g].clone()),
        }
    }

    pub fn add_group_member(&mut self, w: &mut World, g: usize, m: GroupMember) {
        w.add_group_member(&self.group_ids[g], self.fake_group_member(m));
        if !self.groups[g].contains(&m) {
            self.groups[g].push(m);
        }
    }

    /// A random change of a random Entra group: a member leaves, or one joins.
    pub fn change_group(&mut self, w: &mut World, rng: &mut Rng) {
        let g = rng.below(self.groups.len());
        if !self.groups[g].is_empty() && rng.chance(50) {
            let at = rng.below(self.groups[g].len());
            let member = self.groups[g].remove(at);
            w.remove_group_member(&self.group_ids[g], &self.fake_group_member(member));
        } else {
            let member = self.random_group_member(rng, g);
            self.add_group_member(w, g, member);
        }
    }

    pub fn random_site_member(&self, rng: &mut Rng) -> SiteMember {
        match rng.below(10) {
            0 => SiteMember::Everyone,
            1..=4 => SiteMember::Group(rng.below(self.groups.len())),
            _ => SiteMember::User(rng.below(self.users.len())),
        }
    }

    fn principal(&self, m: SiteMember) -> Principal {
        match m {
            SiteMember::User(u) => Principal::User(self.users[u].upn.clone()),
            SiteMember::Group(g) => Principal::EntraGroup(self.group_ids[g].clone()),
            SiteMember::Everyone => Principal::EveryoneExceptExternal,
        }
    }

    pub fn add_site_member(&mut self, w: &mut World, s: usize, sg: u32, m: SiteMember) {
        w.add_site_group_member(&self.site_ids[s], sg, self.principal(m));
        let members = self.site_groups[s].entry(sg).or_default();
        if !members.contains(&m) {
            members.push(m);
        }
    }

    /// A random change of a random group of site `s`: a member leaves, or one joins.
    pub fn change_site_group(&mut self, w: &mut World, rng: &mut Rng, s: usize) {
        let sgs: Vec<u32> = self.site_groups[s].keys().copied().collect();
        let sg = *rng.pick(&sgs);
        let members = &self.site_groups[s][&sg];
        if !members.is_empty() && rng.chance(50) {
            let member = members[rng.below(members.len())];
            w.remove_site_group_member(&self.site_ids[s], sg, &self.principal(member));
            if let Some(ms) = self.site_groups[s].get_mut(&sg) {
                ms.retain(|x| *x != member);
            }
        } else {
            let member = self.random_site_member(rng);
            self.add_site_member(w, s, sg, member);
        }
    }

    /// The groups and site groups, for a failure's message.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (g, members) in self.groups.iter().enumerate() {
            let _ = writeln!(out, "  group {g}: {members:?}");
        }
        for (s, groups) in self.site_groups.iter().enumerate() {
            let _ = writeln!(out, "  site {s} groups: {groups:?}");
        }
        out
    }
}
