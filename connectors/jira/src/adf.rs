//! Atlassian Document Format (ADF) as text that keeps its structure: headings as `#`,
//! lists as `-` / `1.` indented by depth, code blocks fenced, quotes with `>`, tables as
//! rows of cells separated by `|`, mentions as `@Name`, links as `text (url)`, cards as
//! their URL. Unknown nodes give their text and their children's, so a new node type
//! loses formatting, never words. Nesting deeper than [`MAX_DEPTH`] is cut off, so a
//! hostile document cannot overflow the stack.

use serde_json::Value;

const MAX_DEPTH: usize = 64;

/// Renders an ADF document (or a plain string, which old responses and the reference's
/// examples show) as text.
pub(crate) fn render(doc: &Value) -> String {
    let mut out = String::new();
    match doc {
        Value::String(s) => out.push_str(s),
        Value::Null => {}
        node => block(node, &mut out, 0, ""),
    }
    let trimmed = out.trim_end();
    trimmed.to_string()
}

fn children(node: &Value) -> &[Value] {
    node.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn attr<'a>(node: &'a Value, name: &str) -> Option<&'a str> {
    node.get("attrs")?.get(name)?.as_str()
}

fn kind(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Inline content as one line of text.
fn inline(node: &Value, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match kind(node) {
        "text" => {
            let text = node.get("text").and_then(Value::as_str).unwrap_or("");
            out.push_str(text);
            let href = node
                .get("marks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|m| kind(m) == "link")
                .and_then(|m| attr(m, "href"));
            if let Some(href) = href
                && href != text
            {
                out.push_str(&format!(" ({href})"));
            }
        }
        "hardBreak" => out.push('\n'),
        "mention" => {
            let text = attr(node, "text").unwrap_or("@someone");
            if !text.starts_with('@') {
                out.push('@');
            }
            out.push_str(text);
        }
        "emoji" => out.push_str(attr(node, "text").or(attr(node, "shortName")).unwrap_or("")),
        "inlineCard" | "blockCard" | "embedCard" => {
            out.push_str(attr(node, "url").unwrap_or(""));
        }
        "status" => out.push_str(&format!("[{}]", attr(node, "text").unwrap_or(""))),
        "date" => out.push_str(&date(attr(node, "timestamp"))),
        "placeholder" => {}
        _ => {
            if let Some(t) = node.get("text").and_then(Value::as_str) {
                out.push_str(t);
            }
            for c in children(node) {
                inline(c, out, depth + 1);
            }
        }
    }
}

fn date(ms: Option<&str>) -> String {
    ms.and_then(|m| m.parse::<i64>().ok())
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn line(out: &mut String, prefix: &str, text: &str) {
    for l in text.split('\n') {
        out.push_str(prefix);
        out.push_str(l);
        out.push('\n');
    }
}

fn inline_of(node: &Value, depth: usize) -> String {
    let mut s = String::new();
    for c in children(node) {
        inline(c, &mut s, depth + 1);
    }
    s
}

/// A block node, each of its lines starting with `prefix` (quotes, list indentation).
fn block(node: &Value, out: &mut String, depth: usize, prefix: &str) {
    if depth > MAX_DEPTH {
        return;
    }
    match kind(node) {
        "paragraph" => {
            line(out, prefix, &inline_of(node, depth));
            out.push('\n');
        }
        "heading" => {
            let level = node
                .get("attrs")
                .and_then(|a| a.get("level"))
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 6) as usize;
            let text = format!("{} {}", "#".repeat(level), inline_of(node, depth));
            line(out, prefix, &text);
            out.push('\n');
        }
        "bulletList" | "orderedList" | "taskList" | "decisionList" => {
            let ordered = kind(node) == "orderedList";
            let first = node
                .get("attrs")
                .and_then(|a| a.get("order"))
                .and_then(Value::as_u64)
                .unwrap_or(1);
            for (n, item) in children(node).iter().enumerate() {
                let bullet = if ordered {
                    format!("{}. ", first + n as u64)
                } else if kind(item) == "taskItem" {
                    if attr(item, "state") == Some("DONE") {
                        "[x] "
                    } else {
                        "[ ] "
                    }
                    .to_string()
                } else {
                    "- ".to_string()
                };
                list_item(item, out, depth + 1, prefix, &bullet);
            }
            if depth <= 1 || prefix.is_empty() {
                out.push('\n');
            }
        }
        "codeBlock" => {
            let lang = attr(node, "language").unwrap_or("");
            line(out, prefix, &format!("```{lang}"));
            line(out, prefix, &inline_of(node, depth));
            line(out, prefix, "```");
            out.push('\n');
        }
        "blockquote" => {
            let inner = format!("{prefix}> ");
            for c in children(node) {
                block(c, out, depth + 1, &inner);
            }
        }
        "rule" => {
            line(out, prefix, "---");
            out.push('\n');
        }
        "table" => {
            for row in children(node) {
                let cells: Vec<String> = children(row)
                    .iter()
                    .map(|cell| {
                        let mut s = String::new();
                        for c in children(cell) {
                            block(c, &mut s, depth + 2, "");
                        }
                        s.split_whitespace().collect::<Vec<_>>().join(" ")
                    })
                    .collect();
                line(out, prefix, &format!("| {} |", cells.join(" | ")));
            }
            out.push('\n');
        }
        "expand" | "nestedExpand" => {
            if let Some(title) = attr(node, "title") {
                line(out, prefix, title);
            }
            for c in children(node) {
                block(c, out, depth + 1, prefix);
            }
        }
        "mediaSingle" | "mediaGroup" | "media" => {}
        "text" | "mention" | "emoji" | "hardBreak" | "inlineCard" | "status" | "date" => {
            let mut s = String::new();
            inline(node, &mut s, depth);
            line(out, prefix, &s);
        }
        "blockCard" | "embedCard" => {
            line(out, prefix, attr(node, "url").unwrap_or(""));
            out.push('\n');
        }
        // doc, panel, layoutSection, layoutColumn, unknown nodes: their children.
        _ => {
            for c in children(node) {
                block(c, out, depth + 1, prefix);
            }
        }
    }
}

fn list_item(item: &Value, out: &mut String, depth: usize, prefix: &str, bullet: &str) {
    let indent = format!("{prefix}{}", " ".repeat(bullet.len()));
    let mut first = true;
    let parts: Vec<&Value> = if kind(item) == "taskItem" || kind(item) == "decisionItem" {
        vec![item]
    } else {
        children(item).iter().collect()
    };
    for c in parts {
        if matches!(kind(c), "bulletList" | "orderedList" | "taskList") {
            block(c, out, depth + 1, &indent);
            continue;
        }
        let text = if matches!(kind(c), "paragraph" | "taskItem" | "decisionItem") {
            inline_of(c, depth)
        } else {
            let mut s = String::new();
            block(c, &mut s, depth + 1, "");
            s.trim_end().to_string()
        };
        for (n, l) in text.split('\n').enumerate() {
            let lead = if first && n == 0 {
                format!("{prefix}{bullet}")
            } else {
                indent.clone()
            };
            out.push_str(&lead);
            out.push_str(l);
            out.push('\n');
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structure_survives_as_text() {
        let doc = json!({"type": "doc", "version": 1, "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Steps"}]},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "open "},
                        {"type": "text", "text": "the page", "marks": [{"type": "link", "attrs": {"href": "https://x.test/p"}}]}]},
                    {"type": "orderedList", "content": [
                        {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "nested"}]}]}]}]}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "ask "},
                {"type": "mention", "attrs": {"id": "5b10", "text": "@Mia Krystof"}}]},
            {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [{"type": "text", "text": "fn main() {}"}]},
            {"type": "table", "content": [
                {"type": "tableRow", "content": [
                    {"type": "tableHeader", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "k"}]}]},
                    {"type": "tableCell", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "v"}]}]}]}]},
            {"type": "mysteryNode", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "kept"}]}]}
        ]});
        let text = render(&doc);
        assert_eq!(
            text,
            "## Steps\n\n- open the page (https://x.test/p)\n  1. nested\n\nask @Mia Krystof\n\n\
             ```rust\nfn main() {}\n```\n\n| k | v |\n\nkept"
        );
    }

    #[test]
    fn deep_nesting_is_cut_off_not_a_crash() {
        let mut node = json!({"type": "text", "text": "deep"});
        for _ in 0..500 {
            node = json!({"type": "blockquote", "content": [node]});
        }
        let _ = render(&json!({"type": "doc", "content": [node]}));
        assert_eq!(render(&json!("plain")), "plain");
    }
}
