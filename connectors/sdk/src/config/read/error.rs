//! The reader's error: what went wrong, where, and how to say it in the config file's words.

use std::fmt;

use serde::de::{self, Expected, Unexpected};
use serde_json::Value;

use super::{Path, Seg};

/// Where an error surfaced, which says how the next read can go around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Site {
    /// The value of a table's key: leave the key out.
    Field,
    /// An array element: read a placeholder in its place (the indices stay right).
    Element,
    /// Anywhere else (the table itself, an enum's content): stop reading.
    Other,
}

#[derive(Debug)]
pub(super) enum What {
    Problem(String),
    Missing(&'static str),
    Unknown(&'static [&'static str]),
}

/// The error of one read: what went wrong, and where (set by the innermost call site).
#[derive(Debug)]
pub(super) struct Error {
    pub(super) at: Option<(Path, Site)>,
    pub(super) what: What,
}

impl Error {
    pub(super) fn problem(message: impl Into<String>) -> Self {
        Error {
            at: None,
            what: What::Problem(message.into()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            What::Problem(m) => f.write_str(m),
            What::Missing(field) => write!(f, "missing {field}"),
            What::Unknown(_) => f.write_str("unknown key"),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::problem(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error::problem(format!(
            "expected {}, found {}",
            expected(exp),
            kind(&unexp)
        ))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        let n = match unexp {
            Unexpected::Signed(n) => i128::from(n),
            Unexpected::Unsigned(n) => i128::from(n),
            // Strings are not quoted back: the value may be a secret in the wrong key.
            other => {
                return Error::problem(format!(
                    "expected {}, found {}",
                    expected(exp),
                    kind(&other)
                ));
            }
        };
        Error::problem(match integer_range(&exp.to_string()) {
            Some((0, _)) if n < 0 => format!("{n} is out of range (it may not be negative)"),
            Some((lo, hi)) => format!("{n} is out of range ({lo}..={hi})"),
            None => format!("{n} is not {}", expected(exp)),
        })
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        Error::problem(format!(
            "expected {}, found {len} element(s)",
            expected(exp)
        ))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::problem(format!("{variant:?} is not {}", alternatives(expected)))
    }

    fn unknown_field(_field: &str, expected: &'static [&'static str]) -> Self {
        Error {
            at: None,
            what: What::Unknown(expected),
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Error {
            at: None,
            what: What::Missing(field),
        }
    }

    fn duplicate_field(field: &'static str) -> Self {
        Error::problem(format!(
            "`{field}` is given twice (by its name and an alias)"
        ))
    }
}

/// `"a"`, `"a" or "b"`, `one of "a", "b", "c"`.
pub(super) fn alternatives(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.as_slice() {
        [] => "a known variant".into(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        many => format!("one of {}", many.join(", ")),
    }
}

/// serde's description of what a visitor wanted, in the config file's words.
fn expected(exp: &dyn Expected) -> String {
    let text = exp.to_string();
    let word = match text.as_str() {
        "a boolean" => "true or false",
        "a string" | "a borrowed string" | "path string" | "a character" | "a char" => "a string",
        "a sequence" => "an array",
        "a map" => "a table",
        "f32" | "f64" => "a number",
        t if integer_range(t).is_some() => "an integer",
        t if t.starts_with("struct ") => "a table",
        _ => return text,
    };
    word.to_string()
}

fn integer_range(rust_type: &str) -> Option<(i128, i128)> {
    Some(match rust_type {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" => (0, u64::MAX.into()),
        "usize" => (0, usize::MAX as i128),
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" => (i64::MIN.into(), i64::MAX.into()),
        "isize" => (isize::MIN as i128, isize::MAX as i128),
        _ => return None,
    })
}

/// What a value is, never what it says.
fn kind(unexp: &Unexpected<'_>) -> &'static str {
    match unexp {
        Unexpected::Bool(_) => "boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "integer",
        Unexpected::Float(_) => "float",
        Unexpected::Char(_) | Unexpected::Str(_) => "string",
        Unexpected::Bytes(_) => "bytes",
        Unexpected::Unit => "nothing",
        Unexpected::Seq => "array",
        Unexpected::Map => "table",
        _ => "another kind of value",
    }
}

pub(super) fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "table",
    }
}

/// Sets where an error surfaced, unless a deeper call site already did.
pub(super) fn at<T>(result: Result<T, Error>, path: &[Seg], site: Site) -> Result<T, Error> {
    result.map_err(|mut e| {
        if e.at.is_none() {
            e.at = Some((path.to_vec(), site));
        }
        e
    })
}
