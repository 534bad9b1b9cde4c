//! The planner: compares each listed change with the manifest and decides what it needs
//! (nothing, an ACL rewrite, a fetch, a delete).

use connector_sdk::{Acl, Change, ConnectorError, RemoteDocument};

use super::{Op, acl_hash};
use crate::Result;
use crate::store::{ManifestEntry, StateStore};

pub(super) struct Planner<'a> {
    pub(super) source: &'a str,
    /// See `Source::acl_salt`.
    pub(super) acl_salt: &'a str,
    pub(super) store: &'a dyn StateStore,
    pub(super) generation: u64,
    pub(super) pipeline: String,
    /// The last ACL hashed and its hash: neighbouring documents nearly always share their
    /// ACL (one prefix rule covers a folder), and hashing is a good part of a no-op's work.
    pub(super) last_acl: std::sync::Mutex<Option<(Acl, String)>>,
}

pub(super) enum Plan {
    Ready(Op),
    Fetch {
        doc: Box<RemoteDocument>,
        prev: Option<ManifestEntry>,
    },
    /// Only the listing's ACL changed: let the connector resolve the document (a sidecar
    /// ACL may override the listing's), then rewrite the ACL fields.
    AclOnly {
        doc: Box<RemoteDocument>,
        entry: ManifestEntry,
        prev: ManifestEntry,
    },
}

impl Planner<'_> {
    fn acl_hash(&self, acl: &Acl) -> String {
        let Ok(mut last) = self.last_acl.lock() else {
            return acl_hash(acl, self.acl_salt);
        };
        match last.as_ref() {
            Some((seen, hash)) if seen == acl => hash.clone(),
            _ => {
                let hash = acl_hash(acl, self.acl_salt);
                *last = Some((acl.clone(), hash.clone()));
                hash
            }
        }
    }

    pub(super) fn plan(&self, item: std::result::Result<Change, ConnectorError>) -> Result<Plan> {
        let change = match item {
            Ok(c) => c,
            Err(e) => {
                return Ok(Plan::Ready(Op::ListingError {
                    message: e.to_string(),
                    kind: e.kind,
                }));
            }
        };
        Ok(Plan::Ready(match change {
            Change::Upsert(doc) => {
                let prev = self.store.manifest_get(self.source, doc.id.as_str())?;
                let acl_hash = self.acl_hash(&doc.acl);
                match prev {
                    Some(mut entry)
                        if entry.version == doc.version && entry.pipeline == self.pipeline =>
                    {
                        entry.seen = self.generation;
                        if entry.acl_hash == acl_hash {
                            Op::Unchanged { id: doc.id }
                        } else {
                            let prev = entry.clone();
                            entry.acl_hash = acl_hash;
                            return Ok(Plan::AclOnly {
                                doc: Box::new(doc),
                                entry,
                                prev,
                            });
                        }
                    }
                    prev => {
                        return Ok(Plan::Fetch {
                            doc: Box::new(doc),
                            prev,
                        });
                    }
                }
            }
            Change::Delete(id) => match self.store.manifest_get(self.source, id.as_str())? {
                Some(_) => Op::Delete { id },
                None => Op::Forget { id },
            },
            Change::Permissions { id, acl } => {
                match self.store.manifest_get(self.source, id.as_str())? {
                    Some(mut entry) => {
                        let h = self.acl_hash(&acl);
                        if entry.acl_hash == h {
                            return Ok(Plan::Ready(Op::Unchanged { id }));
                        }
                        entry.acl_hash = h;
                        Op::AclOnly { id, acl, entry }
                    }
                    None => Op::Failed {
                        id,
                        stage: "plan",
                        kind: "not_found".into(),
                        message: "permissions changed for a document that is not indexed".into(),
                        keep: None,
                        skipped: true,
                        retry: None,
                    },
                }
            }
            Change::Checkpoint { partition, cursor } => Op::Checkpoint { partition, cursor },
            Change::ListingComplete => Op::ListingComplete,
        }))
    }
}
