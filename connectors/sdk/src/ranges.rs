//! Sets of integer ids (list items, issues) kept as ranges, `1-40,42,45-100`: a cursor that
//! remembers every id a source holds stays small when the ids are dense. Use it as
//! `#[serde(with = "connector_sdk::ranges")]` on a `BTreeSet<i64>`; a text that is not
//! ranges (or a range of more than 50 million ids) fails to deserialize.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serializer, de::Error};

/// Writes the ids as ranges.
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

/// Reads ranges back into ids.
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Ids(#[serde(with = "super")] BTreeSet<i64>);

    #[test]
    fn ids_round_trip_as_ranges_and_bad_ranges_are_refused() {
        let ids = Ids([1, 2, 3, 5, 7, 8, 10_001].into_iter().collect());
        let text = serde_json::to_string(&ids).expect("json");
        assert_eq!(text, r#""1-3,5,7-8,10001""#);
        assert_eq!(serde_json::from_str::<Ids>(&text).expect("ranges"), ids);
        for bad in [r#""3-1""#, r#""a-b""#, r#""1-99999999999""#, "7"] {
            assert!(serde_json::from_str::<Ids>(bad).is_err(), "{bad}");
        }
        assert!(
            serde_json::from_str::<Ids>(r#""""#)
                .expect("empty")
                .0
                .is_empty()
        );
    }
}
