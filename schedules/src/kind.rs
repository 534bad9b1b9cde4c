//! The kinds of sync a source is scheduled for.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One kind of sync run. Each kind of each source has its own schedule.
///
/// The names ([`SyncKind::name`]) are stable: they appear in config keys, the HTTP API, events
/// and metrics labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncKind {
    /// The incremental content sync: what changed since the last checkpoint.
    Content,
    /// The periodic full reconcile: list everything, sweep what is gone. It covers a content
    /// sync, so a due content run is dropped when a full run is due for the same source.
    Full,
    /// The permission sync, for sources whose permission changes do not arrive with content
    /// changes.
    Permissions,
    /// The identity sync: users, groups and memberships of the source's directory.
    Identities,
}

impl SyncKind {
    /// Every kind, in declaration order (the order the status lists them in).
    pub const ALL: [SyncKind; 4] = [
        SyncKind::Content,
        SyncKind::Full,
        SyncKind::Permissions,
        SyncKind::Identities,
    ];

    /// The stable lowercase name: `content`, `full`, `permissions`, `identities`.
    pub fn name(self) -> &'static str {
        match self {
            SyncKind::Content => "content",
            SyncKind::Full => "full",
            SyncKind::Permissions => "permissions",
            SyncKind::Identities => "identities",
        }
    }

    /// Which kind goes first when several of one source fell due at the same moment (a lower
    /// rank first). Full first, because it makes the content run unnecessary; identities and
    /// permissions before content, because they carry revocations, which matter more than new
    /// documents, and are usually short. Runs due at different moments go oldest first
    /// whatever their kind, so no kind starves.
    pub(crate) fn tie_rank(self) -> u8 {
        match self {
            SyncKind::Full => 0,
            SyncKind::Identities => 1,
            SyncKind::Permissions => 2,
            SyncKind::Content => 3,
        }
    }
}

impl fmt::Display for SyncKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a [`SyncKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sync kind `{0}`; expected one of: content, full, permissions, identities")]
pub struct UnknownSyncKind(pub String);

impl FromStr for SyncKind {
    type Err = UnknownSyncKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SyncKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownSyncKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for kind in SyncKind::ALL {
            assert_eq!(kind.name().parse::<SyncKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_string(&kind).expect("serialize"),
                format!("\"{}\"", kind.name())
            );
        }
        assert_eq!(
            "Full".parse::<SyncKind>().map_err(|e| e.to_string()),
            Err(
                "unknown sync kind `Full`; expected one of: content, full, permissions, identities"
                    .to_owned()
            )
        );
    }
}
