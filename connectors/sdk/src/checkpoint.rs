//! Versioned source checkpoints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a source's listing or change feed stands: partition → opaque cursor.
///
/// A partition is whatever the source pages independently (an S3 prefix, a Slack channel,
/// a Drive); the cursor is the connector's own string (a page token, a delta link, a
/// start-after key). The engine stores checkpoints and hands them back; it never looks
/// inside a cursor.
///
/// The enum is tagged with a version so that checkpoints written by an older Tributary
/// keep loading after an upgrade; a new layout is a new variant plus a migration, never
/// an edit of an existing one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum SourceCheckpoint {
    /// The first (and so far only) layout.
    #[serde(rename = "1")]
    V1 {
        /// Partition → cursor.
        partitions: BTreeMap<String, String>,
    },
}

impl Default for SourceCheckpoint {
    fn default() -> Self {
        SourceCheckpoint::V1 {
            partitions: BTreeMap::new(),
        }
    }
}

impl SourceCheckpoint {
    /// The cursor of one partition, if any.
    pub fn cursor(&self, partition: &str) -> Option<&str> {
        match self {
            SourceCheckpoint::V1 { partitions } => partitions.get(partition).map(String::as_str),
        }
    }

    /// Sets (`Some`) or clears (`None`) one partition's cursor.
    pub fn set(&mut self, partition: &str, cursor: Option<String>) {
        match self {
            SourceCheckpoint::V1 { partitions } => match cursor {
                Some(c) => {
                    partitions.insert(partition.to_string(), c);
                }
                None => {
                    partitions.remove(partition);
                }
            },
        }
    }

    /// All partitions and their cursors.
    pub fn partitions(&self) -> &BTreeMap<String, String> {
        match self {
            SourceCheckpoint::V1 { partitions } => partitions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored form is a compatibility contract: if this test fails, stored checkpoints
    /// of existing users no longer load. Add a new variant instead of changing V1.
    #[test]
    fn v1_wire_format_is_stable() {
        let stored = r#"{"version":"1","partitions":{"listing":"a/b.txt"}}"#;
        let cp: SourceCheckpoint = serde_json::from_str(stored).expect("v1 loads");
        assert_eq!(cp.cursor("listing"), Some("a/b.txt"));
        assert_eq!(serde_json::to_string(&cp).expect("serializes"), stored);
    }

    #[test]
    fn set_and_clear() {
        let mut cp = SourceCheckpoint::default();
        cp.set("p", Some("1".into()));
        assert_eq!(cp.cursor("p"), Some("1"));
        cp.set("p", None);
        assert!(cp.partitions().is_empty());
    }
}
