//! JSON and NDJSON: one line per scalar, `key.path[0].leaf: value`, so that both keys and
//! values are searchable. Nesting deeper than the limit is refused (serde_json also stops
//! at 128 levels on its own, without recursion trouble).

use serde_json::Value;

use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Extractor, Format, Limits};

#[derive(Debug)]
pub(crate) struct JsonExtractor;

fn corrupt(e: impl std::fmt::Display) -> ExtractError {
    ExtractError::new(ErrorKind::Corrupt, format!("invalid json: {e}"))
}

/// Walks a value iteratively (explicit stack), writing `path: value` lines.
fn write_value(
    root: &Value,
    prefix: String,
    b: &mut DocBuilder,
    limits: &Limits,
    deadline: Deadline,
) -> Result<(), ExtractError> {
    let mut stack: Vec<(String, &Value, usize)> = vec![(prefix, root, 0)];
    let mut n = 0usize;
    while let Some((path, value, depth)) = stack.pop() {
        n += 1;
        if n % 4096 == 0 {
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
        let scalar = match value {
            Value::Null => continue,
            Value::Bool(v) => v.to_string(),
            Value::Number(v) => v.to_string(),
            Value::String(s) if s.trim().is_empty() => continue,
            Value::String(s) => s.clone(),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push((format!("{path}[{i}]"), item, depth + 1));
                }
                continue;
            }
            Value::Object(map) => {
                for (k, v) in map.iter().rev() {
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    stack.push((child, v, depth + 1));
                }
                continue;
            }
        };
        if !path.is_empty() {
            b.push(&path);
            b.push(": ");
        }
        b.push(&scalar);
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
            Ok(value) => write_value(&value, String::new(), &mut b, limits, deadline)?,
            Err(whole) => {
                // Not one document: try newline-delimited JSON, one record per line.
                let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                if lines.len() < 2 {
                    return Err(corrupt(whole));
                }
                for (i, line) in lines.iter().enumerate() {
                    let value: Value = serde_json::from_str(line)
                        .map_err(|e| corrupt(format!("line {}: {e}", i + 1)))?;
                    write_value(&value, String::new(), &mut b, limits, deadline)?;
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
    fn key_paths_with_values() {
        let doc = run(r#"{"a": {"b": [1, {"c": "x"}]}, "d": null, "e": true}"#).expect("json");
        assert_eq!(doc.text(), "a.b[0]: 1\na.b[1].c: x\ne: true");
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
