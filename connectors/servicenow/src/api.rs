//! The Table and Attachment API calls, and keyset paging over them.
//!
//! Every list asks `sysparm_display_value=false` (dates in UTC, `YYYY-MM-DD HH:MM:SS`)
//! and `sysparm_exclude_reference_link=true` (references as bare `sys_id`s; an instance
//! that sends `{"link","value"}` objects anyway is read too). Paging is by keyset on
//! (`sys_updated_on`, `sys_id`), never by offset over a table that changes: see
//! [`Keyset`] and ADR 0024 for the rule that ends a walk.

use std::sync::Arc;
use std::time::Duration;

use connector_sdk::auth::{BasicAuth, ClientCredentials, TokenSource};
use connector_sdk::feed::{Pauses, encode_segment as encode, retrying};
use connector_sdk::http::{HttpClient, Politeness, PolitenessConfig, Reply, Verdict, link_rel};
use connector_sdk::{ByteStream, ConnectorError, ErrorKind};
use serde_json::Value;

use crate::config::{AuthMode, ServiceNowConfig};

/// The client of one source.
#[derive(Debug)]
pub(crate) struct Api {
    base: String,
    http: HttpClient,
    page_size: u32,
}

/// A record's field as a string: a plain string, or the `value` of a reference object.
pub(crate) fn field(record: &Value, name: &str) -> String {
    match record.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Whether an error is the instance refusing to let the user read a table (403).
pub(crate) fn is_forbidden(e: &ConnectorError) -> bool {
    e.kind == ErrorKind::Permanent && e.message.contains("status 403")
}

fn policy(config: &ServiceNowConfig) -> Result<Politeness, ConnectorError> {
    Ok(Politeness::new(PolitenessConfig {
        requests_per_second: Some(config.requests_per_second),
        burst: (config.requests_per_second.ceil() as u32).clamp(1, 10),
        max_concurrency: Some(4),
        request_timeout: Duration::from_secs(config.request_timeout_secs),
        ..PolitenessConfig::default()
    })?
    // ServiceNow's error bodies say what failed; only the status goes in messages, so
    // that nothing the instance echoes (a query, a user name) reaches the logs.
    .with_classifier(|reply: &Reply| match reply.status.as_u16() {
        403 => Some(Verdict::Fail {
            kind: ErrorKind::Permanent,
            message: "status 403 forbidden: the user may not read this".into(),
        }),
        _ => None,
    }))
}

impl Api {
    pub(crate) fn new(config: &ServiceNowConfig) -> Result<Self, ConnectorError> {
        let base = config.instance_url.trim_end_matches('/').to_string();
        let auth: Arc<dyn TokenSource> = match config.auth {
            AuthMode::Basic => Arc::new(BasicAuth::new(
                config.username.clone().unwrap_or_default(),
                &config.password()?,
            )),
            mode => {
                let token_http = HttpClient::new(policy(config)?)?;
                let credentials = ClientCredentials::new(
                    token_http,
                    format!("{base}/oauth_token.do"),
                    config.client_id.clone().unwrap_or_default(),
                    config.client_secret()?,
                );
                Arc::new(if mode == AuthMode::OauthPassword {
                    credentials.with_password_grant(
                        config.username.clone().unwrap_or_default(),
                        config.password()?,
                    )
                } else {
                    credentials
                })
            }
        };
        Ok(Api {
            base,
            http: HttpClient::new(policy(config)?)?.with_auth(auth),
            page_size: config.page_size,
        })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    fn list_url(&self, path: &str, query: &str, fields: &str, offset: usize) -> String {
        format!(
            "{}/api/now/{path}?sysparm_query={}&sysparm_fields={}&sysparm_limit={}&sysparm_offset={offset}\
             &sysparm_display_value=false&sysparm_exclude_reference_link=true",
            self.base,
            encode(query),
            encode(fields),
            self.page_size,
        )
    }

    /// One page of `path` (`table/<name>` or `attachment`).
    pub(crate) async fn page(
        &self,
        path: &str,
        query: &str,
        fields: &str,
        offset: usize,
    ) -> Result<Page, ConnectorError> {
        let url = self.list_url(path, query, fields, offset);
        let reply = self.http.send_json_reply(|c| c.get(&url)).await?;
        let body: Value = serde_json::from_slice(&reply.body).map_err(|e| {
            ConnectorError::new(
                ErrorKind::InvalidResponse,
                format!("{path}: the answer is not JSON: {e}"),
            )
        })?;
        let Some(Value::Array(records)) = body.get("result").cloned() else {
            return Err(ConnectorError::new(
                ErrorKind::InvalidResponse,
                format!("{path}: the answer has no result list"),
            ));
        };
        let link = reply.headers.contains_key(reqwest::header::LINK);
        let next = link_rel(&reply.headers, "next").map(|url| {
            offset_of(&url).ok_or_else(|| {
                ConnectorError::new(
                    ErrorKind::InvalidResponse,
                    format!("{path}: the next link has no sysparm_offset"),
                )
            })
        });
        Ok(Page {
            records,
            link,
            next: next.transpose()?,
        })
    }

    /// One record, `None` when it is gone (404).
    pub(crate) async fn record(
        &self,
        table: &str,
        sys_id: &str,
        fields: &str,
    ) -> Result<Option<Value>, ConnectorError> {
        let url = format!(
            "{}/api/now/table/{table}/{}?sysparm_fields={}&sysparm_display_value=false&sysparm_exclude_reference_link=true",
            self.base,
            encode(sys_id),
            encode(fields)
        );
        match self.http.get_json::<Value>(&url).await {
            Ok(body) => Ok(body.get("result").cloned()),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// An attachment's bytes.
    pub(crate) async fn download(
        &self,
        sys_id: &str,
        max: u64,
    ) -> Result<ByteStream, ConnectorError> {
        let url = format!("{}/api/now/attachment/{}/file", self.base, encode(sys_id));
        self.http.get_stream(&url, max).await
    }
}

/// `sysparm_offset` of a link.
fn offset_of(url: &str) -> Option<usize> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("sysparm_offset="))
        .and_then(|v| v.parse().ok())
}

/// A page: its records, whether it had a `Link` header, and the offset of its `next`.
#[derive(Debug)]
pub(crate) struct Page {
    pub records: Vec<Value>,
    pub link: bool,
    pub next: Option<usize>,
}

/// The position of a keyset walk: after (`sys_updated_on`, `sys_id`).
pub(crate) type Key = (String, String);

/// The encoded query of (`sys_updated_on`, `sys_id`) > `after`, ordered by both, on top
/// of `filter`. `^OR` binds to the condition before it, so this reads
/// `updated >= X AND (updated > X OR sys_id > Y)`: records of a later second, and those
/// of the same second with a greater `sys_id`.
pub(crate) fn keyset_query(filter: &str, after: Option<&Key>) -> String {
    let mut q = String::new();
    if !filter.is_empty() {
        q.push_str(filter);
        q.push('^');
    }
    match after {
        // An overlap start has no id: everything from that second on.
        Some((updated, id)) if id.is_empty() => {
            q.push_str(&format!("sys_updated_on>={updated}^"));
        }
        Some((updated, id)) => q.push_str(&format!(
            "sys_updated_on>={updated}^sys_updated_on>{updated}^ORsys_id>{id}^"
        )),
        None => {}
    }
    q.push_str("ORDERBYsys_updated_on^ORDERBYsys_id");
    q
}

/// A keyset walk over a table. The limit is applied before the instance's ACLs, so a
/// page may be short or empty while later records exist: a walk never ends on a short or
/// empty page while the `Link` header offers `next`. A non-empty page moves the keyset
/// past its last record (offset back to 0); an empty page with a `next` moves the offset
/// to it, inside the same keyset. The walk ends when `Link` offers no `next`; without any
/// `Link` header (suppressed by a proxy) it ends on the first empty page.
#[derive(Debug)]
pub(crate) struct Keyset {
    path: String,
    filter: String,
    fields: String,
    pub after: Option<Key>,
    offset: usize,
    done: bool,
}

impl Keyset {
    pub(crate) fn new(path: &str, filter: &str, fields: &str, after: Option<Key>) -> Self {
        Keyset {
            path: path.into(),
            filter: filter.into(),
            fields: fields.into(),
            after,
            offset: 0,
            done: false,
        }
    }

    /// The next page's records; `None` at the end.
    pub(crate) async fn next<P: Pauses>(
        &mut self,
        api: &Api,
        out: &P,
    ) -> Result<Option<Vec<Value>>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        let query = keyset_query(&self.filter, self.after.as_ref());
        let page = retrying(out, || {
            api.page(&self.path, &query, &self.fields, self.offset)
        })
        .await?;
        match page.records.last() {
            Some(last) => {
                let key = (field(last, "sys_updated_on"), field(last, "sys_id"));
                if key.1.is_empty() || self.after.as_ref().is_some_and(|a| &key <= a) {
                    return Err(ConnectorError::new(
                        ErrorKind::InvalidResponse,
                        format!("{}: records out of keyset order", self.path),
                    ));
                }
                self.after = Some(key);
                self.offset = 0;
                self.done = page.link && page.next.is_none();
            }
            None => match (page.link, page.next) {
                (true, Some(next)) if next > self.offset => self.offset = next,
                (true, Some(_)) => {
                    return Err(ConnectorError::new(
                        ErrorKind::InvalidResponse,
                        format!("{}: the next link does not move forward", self.path),
                    ));
                }
                _ => self.done = true,
            },
        }
        Ok(Some(page.records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyset_query_is_after_both_fields() {
        assert_eq!(
            keyset_query(
                "workflow_state=published",
                Some(&("2025-01-01 10:00:00".into(), "ab".into()))
            ),
            "workflow_state=published^sys_updated_on>=2025-01-01 10:00:00^sys_updated_on>2025-01-01 10:00:00^ORsys_id>ab^ORDERBYsys_updated_on^ORDERBYsys_id"
        );
        assert_eq!(
            keyset_query("", None),
            "ORDERBYsys_updated_on^ORDERBYsys_id"
        );
        assert_eq!(
            keyset_query("a=b", Some(&("2025-01-01 09:59:00".into(), String::new()))),
            "a=b^sys_updated_on>=2025-01-01 09:59:00^ORDERBYsys_updated_on^ORDERBYsys_id"
        );
        assert_eq!(
            offset_of("https://x/api/now/table/t?sysparm_limit=5&sysparm_offset=10"),
            Some(10)
        );
        assert_eq!(offset_of("https://x/api/now/table/t?sysparm_limit=5"), None);
        let r = serde_json::json!({"a": "x", "b": {"link": "l", "value": "v"}, "c": null});
        assert_eq!(
            (field(&r, "a"), field(&r, "b"), field(&r, "c")),
            ("x".into(), "v".into(), String::new())
        );
    }
}
