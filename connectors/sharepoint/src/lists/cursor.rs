//! The cursor of one list: what the last run saw, so the next can tell what changed and
//! what was deleted. Deletions are found by reconciling ids: list item ids are small
//! integers, kept as ranges (`1-40,42,45-100`). Attachments of items are kept by name,
//! with the item modification they were listed at (their version).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The attachments of one item as last listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attached {
    /// The item's `lastModifiedDateTime` when they were listed: their version.
    pub at: String,
    pub names: Vec<String>,
}

/// What a run saw of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ListCursor {
    /// The newest `lastModifiedDateTime` seen (Graph's clock, not ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The ids of the items, as ranges.
    #[serde(default, with = "connector_sdk::ranges")]
    pub items: BTreeSet<i64>,
    /// Items with attachments.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attachments: BTreeMap<i64, Attached>,
}

impl ListCursor {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    pub(crate) fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_with_ids_as_ranges() {
        let mut cursor = ListCursor {
            since: Some("2026-12-06T10:00:00Z".into()),
            items: [1, 2, 3, 5, 7, 8].into_iter().collect(),
            ..ListCursor::default()
        };
        cursor.attachments.insert(
            5,
            Attached {
                at: "2026-12-06T09:00:00Z".into(),
                names: vec!["a.pdf".into()],
            },
        );
        let text = cursor.encode();
        assert!(text.contains(r#""items":"1-3,5,7-8""#), "{text}");
        assert_eq!(ListCursor::parse(&text), Some(cursor));
        assert_eq!(ListCursor::parse(r#"{"items":"3-1"}"#), None);
        assert_eq!(ListCursor::parse("drive-link"), None);
        assert_eq!(
            ListCursor::parse(r#"{"items":""}"#),
            Some(ListCursor::default())
        );
    }
}
