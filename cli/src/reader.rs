//! Reading `tributary.toml` tables: typed getters that report every problem with its key
//! path, and unknown keys. Shared by `config` (the top-level tables) and `sources` (the
//! keys every source has; a connector reads its own keys with `connector_sdk`), which is
//! why it is a module of its own: `config` calls into `sources`, and both call into this
//! one.

use std::fmt;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path (`sources[1].root`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Reads the table's keys, reporting type errors and unknown keys.
pub(crate) struct Reader<'t, 'p> {
    table: &'t Table,
    prefix: String,
    pub(crate) problems: &'p mut Vec<Problem>,
    known: Vec<&'static str>,
}

impl<'t, 'p> Reader<'t, 'p> {
    pub(crate) fn new(
        table: &'t Table,
        prefix: impl Into<String>,
        problems: &'p mut Vec<Problem>,
    ) -> Self {
        Reader {
            table,
            prefix: prefix.into(),
            problems,
            known: Vec::new(),
        }
    }

    pub(crate) fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub(crate) fn problem(&mut self, name: &str, message: impl Into<String>) {
        let key = self.key(name);
        self.problems.push(Problem {
            key,
            message: message.into(),
        });
    }

    pub(crate) fn get(&mut self, name: &'static str) -> Option<&'t Value> {
        self.known.push(name);
        self.table.get(name)
    }

    pub(crate) fn string(&mut self, name: &'static str) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.problem(
                    name,
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    pub(crate) fn strings(&mut self, name: &'static str) -> Vec<String> {
        match self.get(name) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        other => {
                            let key = format!("{name}[{i}]");
                            self.problem(
                                &key,
                                format!("expected a string, found {}", other.type_str()),
                            );
                        }
                    }
                }
                out
            }
            Some(other) => {
                self.problem(
                    name,
                    format!("expected an array of strings, found {}", other.type_str()),
                );
                Vec::new()
            }
        }
    }

    pub(crate) fn integer(&mut self, name: &'static str, min: i64, max: i64) -> Option<i64> {
        match self.get(name)? {
            Value::Integer(n) if (min..=max).contains(n) => Some(*n),
            Value::Integer(n) => {
                self.problem(name, format!("{n} is out of range ({min}..={max})"));
                None
            }
            other => {
                self.problem(
                    name,
                    format!("expected an integer, found {}", other.type_str()),
                );
                None
            }
        }
    }

    pub(crate) fn float(&mut self, name: &'static str, min: f64, max: f64) -> Option<f64> {
        let v = match self.get(name)? {
            Value::Float(f) => *f,
            Value::Integer(n) => *n as f64,
            other => {
                self.problem(
                    name,
                    format!("expected a number, found {}", other.type_str()),
                );
                return None;
            }
        };
        if !(min..=max).contains(&v) {
            self.problem(name, format!("{v} is out of range ({min}..={max})"));
            return None;
        }
        Some(v)
    }

    pub(crate) fn table(&mut self, name: &'static str) -> Option<&'t Table> {
        match self.get(name)? {
            Value::Table(t) => Some(t),
            other => {
                self.problem(
                    name,
                    format!("expected a table, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// Reports keys nobody asked for (typos are the most common config bug).
    pub(crate) fn finish(self) {
        for key in self.table.keys() {
            if !self.known.contains(&key.as_str()) {
                let full = if self.prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{}.{key}", self.prefix)
                };
                self.problems.push(Problem {
                    key: full,
                    message: format!("unknown key (known keys: {})", self.known.join(", ")),
                });
            }
        }
    }
}

/// Resolves a configured path against the config file's folder.
pub(crate) fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
