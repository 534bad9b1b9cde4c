//! JSON and NDJSON rendered as indented `key: value` lines, so that keys and values are
//! searchable and the nesting stays readable. Nesting deeper than the limit is refused (serde_json also stops
//! at 128 levels on its own, without recursion trouble).

use serde_json::Value;

use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

#[derive(Debug)]
pub(crate) struct JsonExtractor;

fn corrupt(e: impl std::fmt::Display) -> ExtractError {
    ExtractError::new(ErrorKind::Corrupt, format!("invalid json: {e}"))
}

/// Renders a value as indented `key: value` lines (YAML-like), iteratively (explicit stack).
///
/// Every key and scalar appears once, as in the source text, so nothing is lost or repeated
/// for search; nesting shows as indentation, which keeps the key path readable.
fn write_value(
    root: &Value,
    b: &mut DocBuilder,
    limits: &Limits,
    deadline: Deadline,
) -> Result<(), ExtractError> {
    // (label, value, depth): label is `key` for object entries, `-` for array items.
    let mut stack: Vec<(Option<String>, &Value, usize)> = vec![(None, root, 0)];
    let mut n = 0usize;
    while let Some((label, value, depth)) = stack.pop() {
        n += 1;
        if n.is_multiple_of(4096) {
            deadline.check()?;
        }
        if b.is_full() {
            break;
        }
        if depth > limits.max_depth {
            return Err(ExtractError::new(
                ErrorKind::TooLarge,
                format!("json nesting deeper than {} levels", limits.max_depth),
            ));
        }
        let indent = depth.saturating_sub(1) * 2;
        let scalar = match value {
            Value::Null => Some("null".to_string()),
            Value::Bool(v) => Some(v.to_string()),
            Value::Number(v) => Some(v.to_string()),
            Value::String(s) => Some(s.trim().to_string()),
            Value::Array(items) => {
                for item in items.iter().rev() {
                    stack.push((Some("-".into()), item, depth + 1));
                }
                None
            }
            Value::Object(map) => {
                for (k, v) in map.iter().rev() {
                    stack.push((Some(format!("{k}:")), v, depth + 1));
                }
                None
            }
        };
        let Some(label) = label else {
            if let Some(s) = scalar {
                b.push(&s);
                b.line_break();
            }
            continue;
        };
        b.push(&" ".repeat(indent));
        b.push(&label);
        if let Some(s) = scalar
            && !s.is_empty()
        {
            b.push(" ");
            b.push(&s);
        }
        b.line_break();
    }
    Ok(())
}

impl Extractor for JsonExtractor {
    fn formats(&self) -> &'static [Format] {
        &[Format::Json]
    }

    fn extract(
        &self,
        input: &[u8],
        format: Format,
        limits: &Limits,
        deadline: Deadline,
    ) -> Result<Extracted, ExtractError> {
        // RFC 8259: JSON exchanged between systems is UTF-8 (a BOM is tolerated).
        let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let text = std::str::from_utf8(input).map_err(corrupt)?;
        let mut b = DocBuilder::new(format, limits.max_output_bytes);
        match serde_json::from_str::<Value>(text) {
            Ok(value) => write_value(&value, &mut b, limits, deadline)?,
            Err(whole) => {
                // Not one document: try newline-delimited JSON, one record per line.
                let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                if lines.len() < 2 {
                    return Err(corrupt(whole));
                }
                for (i, line) in lines.iter().enumerate() {
                    let value: Value = serde_json::from_str(line)
                        .map_err(|e| corrupt(format!("line {}: {e}", i + 1)))?;
                    write_value(&value, &mut b, limits, deadline)?;
                    b.paragraph_break();
                }
                b.metadata.insert("records".into(), lines.len().to_string());
            }
        }
        Ok(b.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(input: &str) -> Result<Extracted, ExtractError> {
        JsonExtractor.extract(
            input.as_bytes(),
            Format::Json,
            &Limits::default(),
            Deadline::after(Duration::from_secs(5)),
        )
    }

    #[test]
    fn keys_and_values_as_indented_lines() {
        let doc =
            run(r#"{"a": {"b": [1, {"c": "x"}]}, "d": null, "e": true, "f": ""}"#).expect("json");
        assert_eq!(
            doc.text(),
            "a:\n  b:\n    - 1\n    -\n      c: x\nd: null\ne: true\nf:"
        );
    }

    #[test]
    fn ndjson_records() {
        let doc = run("{\"id\": 1}\n{\"id\": 2}\n").expect("ndjson");
        assert_eq!(doc.text(), "id: 1\n\nid: 2");
    }

    #[test]
    fn deep_nesting_and_bad_utf8_are_typed_errors() {
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert_eq!(run(&deep).expect_err("too deep").kind, ErrorKind::Corrupt);
        let err = JsonExtractor
            .extract(
                b"{\"a\": \"\xff\"}",
                Format::Json,
                &Limits::default(),
                Deadline::after(Duration::from_secs(5)),
            )
            .expect_err("bad utf-8");
        assert_eq!(err.kind, ErrorKind::Corrupt);
    }
}
