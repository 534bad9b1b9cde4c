//! An issue as the text of its document: key and summary, the fields worth searching, the
//! description and the comments with their authors and dates (ADF rendered by `adf.rs`).

use crate::adf;
use crate::wire::{Comment, Issue, Project};

/// An issue as text: key and summary, the fields worth searching, the description, the
/// comments with their authors and dates.
pub(crate) fn render_issue(key: &str, p: &Project, issue: &Issue, comments: &[Comment]) -> String {
    let f = &issue.fields;
    let name = |n: &Option<crate::wire::Named>| {
        n.as_ref().and_then(|n| n.name.clone()).unwrap_or_default()
    };
    let mut text = format!("{key}: {}\n", f.summary.as_deref().unwrap_or(""));
    text.push_str(&format!(
        "Project: {} ({}) | Type: {} | Status: {} | Priority: {}\n",
        p.name.as_deref().unwrap_or(&p.key),
        p.key,
        name(&f.issuetype),
        name(&f.status),
        name(&f.priority)
    ));
    if !f.labels.is_empty() {
        text.push_str(&format!("Labels: {}\n", f.labels.join(", ")));
    }
    let components: Vec<String> = f.components.iter().filter_map(|c| c.name.clone()).collect();
    if !components.is_empty() {
        text.push_str(&format!("Components: {}\n", components.join(", ")));
    }
    let who =
        |u: &Option<crate::wire::User>| u.as_ref().map_or("Unassigned".to_string(), |u| u.name());
    text.push_str(&format!(
        "Reporter: {} | Assignee: {}\n",
        who(&f.reporter),
        who(&f.assignee)
    ));
    if let (Some(c), Some(u)) = (&f.created, &f.updated) {
        text.push_str(&format!("Created: {c} | Updated: {u}\n"));
    }
    if let Some(d) = &f.description {
        let d = adf::render(d);
        if !d.is_empty() {
            text.push('\n');
            text.push_str(&d);
            text.push('\n');
        }
    }
    if !comments.is_empty() {
        text.push_str("\nComments\n");
        for c in comments {
            let author = c
                .author
                .as_ref()
                .map_or("Someone".to_string(), |u| u.name());
            text.push_str(&format!(
                "\n{author}, {}:\n",
                c.created.as_deref().unwrap_or("")
            ));
            if let Some(body) = &c.body {
                text.push_str(&adf::render(body));
                text.push('\n');
            }
        }
    }
    text
}
