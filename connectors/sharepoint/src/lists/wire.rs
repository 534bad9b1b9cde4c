//! The resources of lists, list items and their permissions, field for field (only the
//! fields read): Graph's `list` and `listItem` (resources/list, resources/listitem), and
//! SharePoint REST's role assignments, items and attachments (`SP.RoleAssignment`,
//! `SP.RoleDefinition`, `SP.Attachment`), as `odata=nometadata` returns them — with the
//! verbose form's `{"results": [...]}` collections also read.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// resources/list.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct List {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub web_url: Option<String>,
    #[serde(default)]
    pub list: Option<ListInfo>,
    /// Present on lists SharePoint keeps for itself.
    #[serde(default)]
    pub system: Option<Value>,
}

impl List {
    /// The name users know it by.
    pub fn title(&self) -> &str {
        self.display_name
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.id)
    }

    /// Its template (`genericList`, `documentLibrary`, `webPageLibrary`, …).
    pub fn template(&self) -> &str {
        self.list
            .as_ref()
            .and_then(|l| l.template.as_deref())
            .unwrap_or("")
    }

    /// Whether SharePoint hides it or keeps it for itself.
    pub fn hidden(&self) -> bool {
        self.system.is_some() || self.list.as_ref().and_then(|l| l.hidden) == Some(true)
    }
}

/// resources/listinfo.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListInfo {
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub hidden: Option<bool>,
}

/// resources/listitem, with `$expand=fields`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListItem {
    pub id: String,
    #[serde(default)]
    pub e_tag: Option<String>,
    #[serde(default)]
    pub last_modified_date_time: Option<String>,
    #[serde(default)]
    pub web_url: Option<String>,
    #[serde(default)]
    pub content_type: Option<ContentTypeInfo>,
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
}

impl ListItem {
    /// A field's text, if it is a non-empty string.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.fields
            .as_ref()?
            .get(field)?
            .as_str()
            .filter(|s| !s.trim().is_empty())
    }

    /// Whether it has attachments (the `Attachments` field).
    pub fn has_attachments(&self) -> bool {
        self.fields
            .as_ref()
            .and_then(|f| f.get("Attachments"))
            .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("1"))
    }

    /// Whether it is a folder (content type `0x0120…`) rather than an item.
    pub fn is_folder(&self) -> bool {
        let by_id = self
            .content_type
            .as_ref()
            .and_then(|c| c.id.as_deref())
            .is_some_and(|id| id.to_ascii_lowercase().starts_with("0x0120"));
        let by_name = self
            .content_type
            .as_ref()
            .and_then(|c| c.name.as_deref())
            .is_some_and(|n| n.eq_ignore_ascii_case("folder"));
        by_id || by_name || self.text("FSObjType") == Some("1")
    }
}

/// resources/contenttypeinfo.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ContentTypeInfo {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// An `SP.RoleAssignment` with `$expand=Member,RoleDefinitionBindings`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RoleAssignment {
    #[serde(default)]
    pub member: Option<RoleMember>,
    #[serde(default, deserialize_with = "collection")]
    pub role_definition_bindings: Vec<RoleDefinition>,
}

/// The principal of a role assignment: a user, a security group or a SharePoint group.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RoleMember {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub login_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// 1 user, 2 distribution list, 4 security group, 8 SharePoint group.
    #[serde(default)]
    pub principal_type: Option<i64>,
}

/// An `SP.RoleDefinition` (a permission level).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RoleDefinition {
    #[serde(default)]
    pub name: Option<String>,
    /// `SP.RoleType`: 0 none (a custom level), 1 guest (Limited Access), 2 reader,
    /// 3 contributor, 4 web designer, 5 administrator, 6 editor, 7 reviewer.
    #[serde(default)]
    pub role_type_kind: Option<i64>,
    #[serde(default)]
    pub base_permissions: Option<BasePermissions>,
}

/// `SP.BasePermissions`: a 64-bit mask in two halves, which JSON gives as strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BasePermissions {
    #[serde(default, deserialize_with = "number")]
    pub low: Option<u64>,
}

/// An item's id and whether it has permissions of its own (REST
/// `items?$select=Id,HasUniqueRoleAssignments`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Securable {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub has_unique_role_assignments: Option<bool>,
}

/// Whether a securable object alone (a list, an item) has unique permissions:
/// `odata=nometadata` gives the property bare, verbose in `d`. Other properties (a list's
/// `Id` is a GUID, an item's a number) are not read.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SecurableReply {
    #[serde(rename = "HasUniqueRoleAssignments", default)]
    pub has_unique: Option<bool>,
    #[serde(default)]
    pub d: Option<Box<SecurableReply>>,
}

impl SecurableReply {
    /// Whether the object has unique permissions; `None` when the answer does not say.
    pub fn unique(&self) -> Option<bool> {
        self.d
            .as_ref()
            .and_then(|d| d.has_unique)
            .or(self.has_unique)
    }
}

/// An `SP.Attachment`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Attachment {
    pub file_name: String,
}

/// A collection that is an array (`odata=nometadata`) or `{"results": [...]}` (verbose).
fn collection<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged, bound = "T: Deserialize<'de>")]
    enum Either<T> {
        Array(Vec<T>),
        Results { results: Vec<T> },
    }
    Ok(match Option::<Either<T>>::deserialize(d)? {
        Some(Either::Array(v)) | Some(Either::Results { results: v }) => v,
        None => Vec::new(),
    })
}

/// A number that JSON may give as a string (SharePoint writes Int64 values as strings).
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_assignments_read_in_both_odata_forms() {
        let bare: RoleAssignment = serde_json::from_str(
            r#"{"PrincipalId":3,"Member":{"Id":3,"LoginName":"Team Owners","PrincipalType":8},
                "RoleDefinitionBindings":[{"Name":"Full Control","RoleTypeKind":5,
                "BasePermissions":{"High":"2147483647","Low":"4294967295"}}]}"#,
        )
        .expect("nometadata");
        assert_eq!(bare.role_definition_bindings.len(), 1);
        assert_eq!(
            bare.role_definition_bindings[0]
                .base_permissions
                .as_ref()
                .and_then(|b| b.low),
            Some(4_294_967_295)
        );
        let verbose: RoleAssignment = serde_json::from_str(
            r#"{"Member":{"LoginName":"i:0#.f|membership|al@contoso.com","PrincipalType":1},
                "RoleDefinitionBindings":{"results":[{"Name":"Read","RoleTypeKind":2}]}}"#,
        )
        .expect("verbose");
        assert_eq!(verbose.role_definition_bindings[0].role_type_kind, Some(2));
        let unique: SecurableReply =
            serde_json::from_str(r#"{"d":{"HasUniqueRoleAssignments":true}}"#).expect("d");
        assert_eq!(unique.unique(), Some(true));
        let bare: SecurableReply =
            serde_json::from_str(r#"{"Id":4,"HasUniqueRoleAssignments":false}"#).expect("bare");
        assert_eq!(bare.unique(), Some(false));
        let list: SecurableReply = serde_json::from_str(
            r#"{"Id":"5c5581d4-0014-4000","Title":"Tasks","HasUniqueRoleAssignments":true}"#,
        )
        .expect("a list");
        assert_eq!(list.unique(), Some(true));
    }

    #[test]
    fn folders_and_attachments_are_read_from_the_fields() {
        let item: ListItem = serde_json::from_str(
            r#"{"id":"7","contentType":{"id":"0x0120D520","name":"Document Set"},
                "fields":{"Attachments":true,"Title":" "}}"#,
        )
        .expect("item");
        assert!(item.is_folder());
        assert!(item.has_attachments());
        assert_eq!(item.text("Title"), None);
    }
}
