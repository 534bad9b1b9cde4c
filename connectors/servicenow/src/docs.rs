//! Records as documents: articles (`kb_knowledge/<sys_id>`, their HTML inline),
//! attachments (`sys_attachment/<sys_id>`, fetched), incidents (`incident/<sys_id>`,
//! their fields as text). Every document links back to its record.

use connector_sdk::{Acl, Content, Principal, RemoteDocument};
use serde_json::Value;
use time::PrimitiveDateTime;

use crate::Inner;
use crate::api::field;

/// `sys_updated_on` as a time (UTC).
fn modified(r: &Value) -> Option<time::OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(&field(r, "sys_updated_on"), &format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// A record's version: its modification count and time.
fn version(r: &Value) -> String {
    format!(
        "{}|{}",
        field(r, "sys_mod_count"),
        field(r, "sys_updated_on")
    )
}

impl Inner {
    pub(crate) fn article_doc(&self, r: &Value, kb_title: &str, acl: Acl) -> RemoteDocument {
        let id = field(r, "sys_id");
        let number = field(r, "number");
        let mut doc = RemoteDocument::new(format!("kb_knowledge/{id}"), version(r), acl);
        let title = field(r, "short_description");
        doc.title = Some(if title.is_empty() {
            number.clone()
        } else {
            title
        });
        doc.uri = Some(format!(
            "{}/kb_view.do?sysparm_article={}",
            self.api.base(),
            connector_sdk::feed::encode_segment(&number)
        ));
        doc.content_type = Some("text/html".into());
        doc.modified = modified(r);
        doc.content = Content::Inline(field(r, "text"));
        doc.metadata.insert("number".into(), number.into());
        doc.metadata
            .insert("knowledge_base".into(), kb_title.into());
        doc.metadata
            .insert("kb_sys_id".into(), field(r, "kb_knowledge_base").into());
        let category = field(r, "kb_category");
        if !category.is_empty() {
            doc.metadata.insert("category".into(), category.into());
        }
        doc
    }

    pub(crate) fn attachment_doc(&self, a: &Value, acl: Acl) -> RemoteDocument {
        let id = field(a, "sys_id");
        let version = format!(
            "{}|{}|{}",
            field(a, "hash"),
            field(a, "size_bytes"),
            field(a, "sys_updated_on")
        );
        let mut doc = RemoteDocument::new(format!("sys_attachment/{id}"), version, acl);
        doc.title = Some(field(a, "file_name"));
        doc.uri = Some(format!("{}/sys_attachment.do?sys_id={id}", self.api.base()));
        let content_type = field(a, "content_type");
        if !content_type.is_empty() {
            doc.content_type = Some(content_type);
        }
        doc.size = field(a, "size_bytes").parse().ok();
        doc.modified = modified(a);
        doc.content = Content::Fetch;
        doc.metadata.insert("attachment_id".into(), id.into());
        doc.metadata
            .insert("record".into(), field(a, "table_sys_id").into());
        doc.metadata
            .insert("file_name".into(), field(a, "file_name").into());
        doc
    }

    /// An incident, readable by the roles configured to see every incident and by its
    /// caller, opener and assignee.
    pub(crate) fn incident_doc(&self, r: &Value) -> RemoteDocument {
        let id = field(r, "sys_id");
        let mut acl = Acl::default();
        for role in &self.config.incident_visibility {
            acl.allow.insert(Principal::group(format!("role:{role}")));
        }
        for who in ["caller_id", "opened_by", "assigned_to"] {
            let user = field(r, who);
            if !user.is_empty() {
                acl.allow.insert(Principal::user(user));
            }
        }
        let number = field(r, "number");
        let mut doc = RemoteDocument::new(format!("incident/{id}"), version(r), acl);
        let title = field(r, "short_description");
        doc.title = Some(format!("{number}: {title}"));
        doc.uri = Some(format!("{}/incident.do?sys_id={id}", self.api.base()));
        doc.content_type = Some("text/plain".into());
        doc.modified = modified(r);
        doc.content = Content::Inline(format!("{number}\n{title}\n\n{}", field(r, "description")));
        doc.metadata.insert("number".into(), number.into());
        doc.metadata
            .insert("state".into(), field(r, "state").into());
        doc
    }
}
