//! The text of list items and site pages, as HTML for the engine's HTML extractor.
//!
//! A list item is its fields: the title as the heading, then each field the list's users
//! filled in as a name and value — SharePoint's own columns (ids, versions, compliance
//! tags, lookups of authors) are left out, since they are no one's words. Rich-text
//! fields are HTML already and go in as they are; any other text is escaped. A page is its
//! title, description and canvas: `CanvasContent1` holds the web parts of a modern page,
//! `WikiField` the body of a wiki page, `PublishingPageContent` a publishing page's.

use serde_json::{Map, Value};

use super::wire::ListItem;

/// Fields SharePoint keeps for itself.
const SYSTEM_FIELDS: &[&str] = &[
    "id",
    "ID",
    "Title",
    "ContentType",
    "ContentTypeId",
    "Modified",
    "Created",
    "AuthorLookupId",
    "EditorLookupId",
    "AppAuthorLookupId",
    "AppEditorLookupId",
    "Attachments",
    "Edit",
    "LinkTitle",
    "LinkTitleNoMenu",
    "ItemChildCount",
    "FolderChildCount",
    "DocIcon",
    "FileLeafRef",
    "FileRef",
    "FileDirRef",
    "FSObjType",
    "UniqueId",
    "GUID",
    "Order",
    "SMTotalSize",
    "WorkflowVersion",
    "OData__UIVersionString",
    "CanvasContent1",
    "WikiField",
    "PublishingPageContent",
    "LayoutWebpartsContent",
    "BannerImageUrl",
    "PageLayoutType",
    "PromotedState",
    "ClientSideApplicationId",
];

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Whether a field's text is rich text (HTML) rather than plain.
fn is_html(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with("<div")
        || t.starts_with("<p")
        || t.starts_with("<span")
        || t.starts_with("<table")
}

/// The readable text of a field's value, if it has any.
fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => {
            Some(if is_html(s) { s.clone() } else { escape(s) })
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "Yes" } else { "No" }.into()),
        Value::Array(values) => {
            let parts: Vec<String> = values.iter().filter_map(value_text).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        // Lookups and people (`LookupValue`), links (`Description`, `Url`), locations.
        Value::Object(map) => {
            let parts: Vec<String> = ["LookupValue", "Description", "Url", "DisplayName", "Label"]
                .iter()
                .filter_map(|k| map.get(*k))
                .filter_map(value_text)
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        }
        _ => None,
    }
}

/// A column's display name from its internal name (`Due_x0020_Date` → `Due Date`).
fn column_name(internal: &str) -> String {
    let mut out = String::new();
    let mut rest = internal;
    while let Some(at) = rest.find("_x") {
        out.push_str(&rest[..at]);
        let hex = rest.get(at + 2..at + 6);
        let decoded = hex
            .filter(|_| rest.get(at + 6..at + 7) == Some("_"))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32);
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 7..];
            }
            None => {
                out.push_str("_x");
                rest = &rest[at + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn user_field(name: &str, value: &Value) -> bool {
    !(name.starts_with('_')
        || name.starts_with("@odata")
        || name.starts_with("OData_")
        || name.ends_with("LookupId")
        || name.ends_with("@odata.type")
        || SYSTEM_FIELDS.contains(&name)
        || value.is_null())
}

fn document(title: &str, body: &str) -> String {
    let title = escape(title);
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>\n{body}</body></html>"
    )
}

/// A list item's HTML.
pub(crate) fn list_item(title: &str, fields: Option<&Map<String, Value>>) -> String {
    let mut body = String::new();
    for (name, value) in fields.into_iter().flatten() {
        if !user_field(name, value) {
            continue;
        }
        if let Some(text) = value_text(value) {
            body.push_str(&format!(
                "<h2>{}</h2>\n<div>{text}</div>\n",
                escape(&column_name(name))
            ));
        }
    }
    document(title, &body)
}

/// A site page's HTML.
pub(crate) fn page(title: &str, item: &ListItem) -> String {
    let mut body = String::new();
    if let Some(description) = item.text("Description") {
        body.push_str(&format!("<p>{}</p>\n", escape(description)));
    }
    for field in ["CanvasContent1", "WikiField", "PublishingPageContent"] {
        if let Some(html) = item.text(field) {
            body.push_str(html);
            body.push('\n');
        }
    }
    document(title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_is_its_users_fields() {
        let fields: Map<String, Value> = serde_json::from_str(
            r#"{"@odata.etag":"x","id":"3","Title":"Q3 plan","Due_x0020_Date":"2026-10-01",
                "Body":"<div><p>Ship &amp; tell</p></div>","Note":"a < b","Done":true,
                "AssignedTo":[{"LookupValue":"Al Li","LookupId":4}],"AuthorLookupId":"9",
                "_UIVersionString":"3.0","Empty":null}"#,
        )
        .expect("fields");
        let html = list_item("Q3 plan", Some(&fields));
        assert!(html.contains("<title>Q3 plan</title>"));
        assert!(html.contains("<h2>Due Date</h2>\n<div>2026-10-01</div>"));
        assert!(html.contains("<div><div><p>Ship &amp; tell</p></div></div>"));
        assert!(html.contains("<div>a &lt; b</div>"));
        assert!(html.contains("<div>Yes</div>"));
        assert!(html.contains("<div>Al Li</div>"));
        assert!(!html.contains("UIVersion"));
        assert!(!html.contains("AuthorLookupId"));
        assert!(!html.contains("etag"));
    }

    #[test]
    fn column_names_are_decoded() {
        assert_eq!(column_name("Due_x0020_Date"), "Due Date");
        assert_eq!(column_name("A_x00e9_t_x"), "Aét_x");
        assert_eq!(column_name("Plain"), "Plain");
    }
}
