//! Reading a connector's typed configuration from its source table, reporting every problem.
//!
//! serde stops at the first error, and its messages name Rust types and echo values. This
//! module deserializes with any `#[derive(Deserialize)]` type, but over a
//! [`serde_json::Value`] through a deserializer of its own that knows where it is, so that:
//!
//! - every error carries its key path (`include[1]`, `auth.tenant`);
//! - a key of the wrong type is reported and then *left out* (its default applies) and the
//!   read starts again, until nothing is left to report: every type error at once;
//! - a missing required key, or a bad array element, gets a placeholder (an empty string,
//!   zero, an empty list), so that the other keys are still read and the connector's
//!   `validate()` still runs; problems `validate()` finds on keys already reported are
//!   dropped, so a placeholder is never reported a second time;
//! - a key the type ignores, or refuses with `deny_unknown_fields`, is an unknown key;
//! - messages speak of the config file's types ("expected a string, found integer") and
//!   never quote a value of the wrong type, so a secret in the wrong place is not echoed.
//!
//! A source table is a few dozen keys, so reading it again per problem costs nothing.

mod de;
mod error;

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ConfigProblem;

use de::{De, Node};
use error::{Site, What, at};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Index(usize),
}

type Path = Vec<Seg>;

fn child(path: &[Seg], seg: Seg) -> Path {
    let mut out = path.to_vec();
    out.push(seg);
    out
}

/// `include[1]`, `auth.tenant`, `aliases."U 1"`: TOML's dotted keys, quoted when not bare.
fn display(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let bare = !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if bare {
                    out.push_str(k);
                } else {
                    out.push_str(&format!("{k:?}"));
                }
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// What one read goes around, and what it noticed on the way.
struct Ctx<'c> {
    skip: &'c BTreeSet<Path>,
    placeholders: &'c BTreeSet<Path>,
    host_keys: &'c [String],
    /// Keys the type ignored, with the keys of the table they were found in.
    ignored: RefCell<Vec<(Path, &'static [&'static str])>>,
}

/// More rounds than any sane table needs (one per problem, roughly).
const MAX_ROUNDS: usize = 1000;

/// Deeper than any config table nests. A missing key deeper than this is not filled in:
/// only a type that requires itself (`struct A { a: Box<A> }`) gets there, one missing
/// level at a time.
const MAX_DEPTH: usize = 16;

/// Reads `T` from `table`, leaving out `host_keys` (the host reads those itself). Returns
/// every problem, keys relative to the table, and the value when the problems left one
/// (with placeholders where the problems were). `describe` says what a missing key is for.
pub(crate) fn read<T: DeserializeOwned>(
    table: &Value,
    host_keys: &[String],
    describe: &dyn Fn(&str) -> Option<&'static str>,
) -> (Option<T>, Vec<ConfigProblem>) {
    let mut skip = BTreeSet::new();
    let mut placeholders = BTreeSet::new();
    let mut reported = BTreeSet::new();
    let mut problems = Vec::new();
    // Each round leaves out or replaces one more path, or stops.
    for _ in 0..MAX_ROUNDS {
        let cx = Ctx {
            skip: &skip,
            placeholders: &placeholders,
            host_keys,
            ignored: RefCell::default(),
        };
        let result = at(
            T::deserialize(De {
                node: Node::Value(table),
                path: Vec::new(),
                cx: &cx,
                known: None,
            }),
            &[],
            Site::Other,
        );
        for (path, known) in cx.ignored.into_inner() {
            if reported.insert(path.clone()) {
                problems.push(unknown_key(&path, known, host_keys));
            }
        }
        let err = match result {
            Ok(value) => return (Some(value), problems),
            Err(err) => err,
        };
        let (path, site) = err.at.unwrap_or((Vec::new(), Site::Other));
        match err.what {
            What::Missing(field) => {
                let path = child(&path, Seg::Key(field.into()));
                // Not when the key is in a table that was itself missing or bad.
                if !covered(&reported, &path) {
                    reported.insert(path.clone());
                    let key = display(&path);
                    let message = match describe(&key) {
                        Some(what) => format!("missing ({what})"),
                        None => "missing".to_string(),
                    };
                    problems.push(ConfigProblem::new(key, message));
                }
                if path.len() > MAX_DEPTH || !placeholders.insert(path) {
                    return (None, problems);
                }
            }
            What::Unknown(known) => {
                if reported.insert(path.clone()) {
                    problems.push(unknown_key(&path, known, host_keys));
                }
                if !skip.insert(path) {
                    return (None, problems);
                }
            }
            What::Problem(message) => {
                if reported.insert(path.clone()) {
                    problems.push(ConfigProblem::new(display(&path), message));
                }
                let went_around = match site {
                    Site::Field => !placeholders.contains(&path) && skip.insert(path),
                    Site::Element => placeholders.insert(path),
                    Site::Other => false,
                };
                if !went_around {
                    return (None, problems);
                }
            }
        }
    }
    (None, problems)
}

/// Whether `path` or a table it is in was reported.
fn covered(reported: &BTreeSet<Path>, path: &[Seg]) -> bool {
    (1..=path.len()).any(|n| reported.contains(&path[..n]))
}

fn unknown_key(path: &[Seg], known: &[&str], host_keys: &[String]) -> ConfigProblem {
    let mut names: Vec<&str> = Vec::new();
    if path.len() == 1 {
        names.extend(host_keys.iter().map(String::as_str));
    }
    names.extend(known);
    ConfigProblem::new(
        display(path),
        format!("unknown key (known keys: {})", names.join(", ")),
    )
}
