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
    #[serde(default, with = "ranges")]
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

mod ranges {
    use std::collections::BTreeSet;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(ids: &BTreeSet<i64>, s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::new();
        let mut iter = ids.iter().copied().peekable();
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end += 1;
                iter.next();
            }
            if !out.is_empty() {
                out.push(',');
            }
            if end == start {
                out.push_str(&start.to_string());
            } else {
                out.push_str(&format!("{start}-{end}"));
            }
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<i64>, D::Error> {
        let text = String::deserialize(d)?;
        let mut ids = BTreeSet::new();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (start, end) = match part.split_once('-') {
                Some((a, b)) => (a.parse::<i64>(), b.parse::<i64>()),
                None => (part.parse::<i64>(), part.parse::<i64>()),
            };
            let (Ok(start), Ok(end)) = (start, end) else {
                return Err(D::Error::custom(format!("not an id range: {part}")));
            };
            if end < start || end - start > 50_000_000 {
                return Err(D::Error::custom(format!("not an id range: {part}")));
            }
            ids.extend(start..=end);
        }
        Ok(ids)
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
