//! The calls of lists: Graph for the lists and their items (api/list-list,
//! api/listitem-list with `$expand=fields`), SharePoint REST for what Graph does not give —
//! role assignments, which items have permissions of their own, and attachments
//! (`_api/web/lists(guid'…')/items(n)/AttachmentFiles`).

use connector_sdk::feed::encode_segment as encode;
use connector_sdk::{ByteStream, ConnectorError};
use reqwest::header::ACCEPT;

use super::wire::{Attachment, List, ListItem, RoleAssignment, Securable, SecurableReply};
use crate::api::Api;
use crate::wire::{Page, Site};

/// What a role assignment read expands: who, and with which permission levels.
const EXPAND: &str = "$expand=Member,RoleDefinitionBindings";

/// The most list items Graph and SharePoint REST give in one page.
const MAX_ITEMS_PAGE: u32 = 5000;

/// A securable object of a site: the web, one of its lists, or an item of a list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Object<'a> {
    Web,
    List(&'a str),
    Item(&'a str, i64),
}

impl Object<'_> {
    /// Its path under `_api/web`.
    fn path(&self) -> String {
        match self {
            Object::Web => String::new(),
            Object::List(list) => format!("/lists(guid'{}')", encode(list)),
            Object::Item(list, item) => format!("/lists(guid'{}')/items({item})", encode(list)),
        }
    }
}

/// An OData string literal in a URL: quotes doubled, then percent-encoded.
fn literal(s: &str) -> String {
    encode(&s.replace('\'', "''"))
}

impl Api {
    /// A site's lists, libraries included (api/list-list).
    pub(crate) async fn lists(&self, site: &str) -> Result<Vec<List>, ConnectorError> {
        let url = self.url(&format!(
            "/sites/{}/lists?$select=id,name,displayName,webUrl,list,system&$top=200",
            encode(site)
        ));
        self.all(&self.client, url, "lists.list").await
    }

    /// One page of a list's items with their fields (api/listitem-list).
    pub(crate) async fn list_items_page(
        &self,
        site: &str,
        list: &str,
        link: Option<&str>,
    ) -> Result<Page<ListItem>, ConnectorError> {
        let first;
        let url = match link {
            Some(link) => link,
            None => {
                first = self.url(&format!(
                    "/sites/{}/lists/{}/items?$expand=fields&$top={}",
                    encode(site),
                    encode(list),
                    self.page_size.min(MAX_ITEMS_PAGE)
                ));
                &first
            }
        };
        self.client.get_json(url).await
    }

    /// The role assignments of an object: its own when it has unique permissions, else
    /// SharePoint gives those it inherits (callers do not rely on that: see
    /// [`Api::has_unique_permissions`]).
    pub(crate) async fn role_assignments(
        &self,
        site: &Site,
        object: Object<'_>,
    ) -> Result<Vec<RoleAssignment>, ConnectorError> {
        let (base, origin) = self.rest_base(site)?;
        let client = self.host_client(&origin)?;
        let url = format!("{base}{}/roleassignments?{EXPAND}", object.path());
        self.rest_all(&client, url, "roleassignments").await
    }

    /// Whether a list or an item has permissions of its own.
    pub(crate) async fn has_unique_permissions(
        &self,
        site: &Site,
        object: Object<'_>,
    ) -> Result<bool, ConnectorError> {
        let (base, origin) = self.rest_base(site)?;
        let client = self.host_client(&origin)?;
        let url = format!("{base}{}?$select=HasUniqueRoleAssignments", object.path());
        let reply: SecurableReply = client
            .send_json(|c| {
                c.get(&url)
                    .header(ACCEPT, "application/json;odata=nometadata")
            })
            .await?;
        // An answer that does not say is taken as "unique": the object's own assignments
        // are then read, which SharePoint gives whether or not they are inherited.
        Ok(reply.unique().unwrap_or(true))
    }

    /// The ids of a list's items that have permissions of their own.
    pub(crate) async fn unique_items(
        &self,
        site: &Site,
        list: &str,
    ) -> Result<Vec<i64>, ConnectorError> {
        let (base, origin) = self.rest_base(site)?;
        let client = self.host_client(&origin)?;
        let url = format!(
            "{base}{}/items?$select=Id,HasUniqueRoleAssignments&$top={MAX_ITEMS_PAGE}",
            Object::List(list).path()
        );
        let items: Vec<Securable> = self.rest_all(&client, url, "list.items").await?;
        Ok(items
            .into_iter()
            .filter(|i| i.has_unique_role_assignments != Some(false))
            .filter_map(|i| i.id)
            .collect())
    }

    /// An item's attachments (REST `items(n)/AttachmentFiles`).
    pub(crate) async fn attachments(
        &self,
        site: &Site,
        list: &str,
        item: i64,
    ) -> Result<Vec<Attachment>, ConnectorError> {
        let (base, origin) = self.rest_base(site)?;
        let client = self.host_client(&origin)?;
        let url = format!("{base}{}/AttachmentFiles", Object::Item(list, item).path());
        self.rest_all(&client, url, "item.attachments").await
    }

    /// An attachment's bytes (REST `AttachmentFiles('<name>')/$value`).
    pub(crate) async fn attachment_content(
        &self,
        site: &Site,
        list: &str,
        item: i64,
        name: &str,
        max: u64,
    ) -> Result<ByteStream, ConnectorError> {
        let (base, origin) = self.rest_base(site)?;
        let client = self.host_client(&origin)?;
        let url = format!(
            "{base}{}/AttachmentFiles('{}')/$value",
            Object::Item(list, item).path(),
            literal(name)
        );
        client.get_stream(&url, max).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_and_literals_are_written_as_odata_wants() {
        assert_eq!(Object::Web.path(), "");
        assert_eq!(
            Object::Item("6b2c-11", 4).path(),
            "/lists(guid'6b2c-11')/items(4)"
        );
        assert_eq!(literal("it's a b.txt"), "it%27%27s%20a%20b.txt");
    }
}
