//! Include and exclude globs, as source configurations have them (`sites` and
//! `exclude_sites`, `channels` and `exclude_channels`): case-insensitive, an empty include
//! list meaning everything, and each bad pattern reported with its key and index.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::{ConfigProblem, ConnectorError, ErrorKind};

/// A name or path filter: wanted if some include glob matches (or there is none) and no
/// exclude glob does.
#[derive(Debug, Clone)]
pub struct GlobFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

/// A case-insensitive glob set of `patterns`, read from config key `key`.
pub fn glob_set(key: &str, patterns: &[String]) -> Result<GlobSet, ConnectorError> {
    let invalid = |p: ConfigProblem| ConnectorError::new(ErrorKind::Permanent, p.to_string());
    let mut builder = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        let glob = GlobBuilder::new(p)
            .case_insensitive(true)
            .build()
            .map_err(|e| {
                invalid(ConfigProblem::new(
                    format!("{key}[{i}]"),
                    format!("not a glob: {}", e.kind()),
                ))
            })?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| invalid(ConfigProblem::new(key, e.to_string())))
}

impl GlobFilter {
    /// The filter of the keys `include_key` (empty: everything) and `exclude_key`.
    pub fn new(
        (include_key, include): (&str, &[String]),
        (exclude_key, exclude): (&str, &[String]),
    ) -> Result<Self, ConnectorError> {
        Ok(GlobFilter {
            include: (!include.is_empty())
                .then(|| glob_set(include_key, include))
                .transpose()?,
            exclude: glob_set(exclude_key, exclude)?,
        })
    }

    /// Whether `text` is wanted.
    pub fn matches(&self, text: &str) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(text)) && !self.exclude.is_match(text)
    }

    /// Whether the filter leaves anything out.
    pub fn restricts(&self) -> bool {
        self.include.is_some() || !self.exclude.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn includes_excludes_and_bad_patterns_with_their_keys() {
        let f = GlobFilter::new(
            ("channels", &strings(&["eng-*", "General"])),
            ("exclude_channels", &strings(&["eng-secret"])),
        )
        .expect("filter");
        assert!(f.matches("eng-infra") && f.matches("general"));
        assert!(!f.matches("eng-secret") && !f.matches("random"));
        assert!(f.restricts());
        let all = GlobFilter::new(("a", &[]), ("b", &[])).expect("empty");
        assert!(all.matches("anything") && !all.restricts());
        let bad =
            GlobFilter::new(("a", &strings(&["ok", "x["])), ("b", &[])).expect_err("a bad glob");
        assert!(bad.message.starts_with("a[1]"), "{}", bad.message);
    }
}
