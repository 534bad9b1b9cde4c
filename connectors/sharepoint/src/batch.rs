//! Items' permissions, read 20 at a time through `$batch` (json-batching): a listing page
//! of files costs one request per twenty files instead of one per file.
//!
//! Each response of a batch has its own status. A throttled one (429, 503) is asked again
//! after the delay it names, after telling the engine of the pause; a failed one (5xx, a
//! missing response) is asked again a few times; a 404 means the item is gone (the next
//! delta says so). Whatever still cannot be read becomes [`Permissions::Unread`]: the
//! document is listed with an empty ACL (invisible) and the connector's `resolve` reads its
//! permissions again before the engine indexes it or rewrites its ACL — a document whose
//! permissions are unknown is never searchable, and never kept with stale ones.

use std::time::Duration;

use connector_sdk::feed::{Out, Pauses, retrying};
use connector_sdk::http::parse_retry_after;
use connector_sdk::{ConnectorError, ErrorKind};

use crate::Inner;
use crate::api::{Api, BATCH_LIMIT};
use crate::wire::{BatchRequest, Page, Permission};

/// How often a failed (not throttled) response is asked again before giving up on it.
const MAX_FAILED_ROUNDS: u32 = 3;

/// What a batch found out about one item's permissions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Permissions {
    /// Read.
    Read(Vec<Permission>),
    /// The item is gone.
    Gone,
    /// Could not be read: fail closed until `resolve` reads them.
    Unread,
}

impl Inner {
    /// The permissions of `items` of `drive` (at most [`BATCH_LIMIT`]), in their order.
    pub(crate) async fn batch_permissions(
        &self,
        drive: &str,
        items: &[&str],
        out: &Out,
    ) -> Result<Vec<Permissions>, ConnectorError> {
        debug_assert!(items.len() <= BATCH_LIMIT);
        let mut result: Vec<Option<Permissions>> = vec![None; items.len()];
        let mut pending: Vec<usize> = (0..items.len()).collect();
        let mut failed_rounds = 0;
        while !pending.is_empty() {
            let requests: Vec<BatchRequest> = pending
                .iter()
                .map(|&i| BatchRequest {
                    id: i.to_string(),
                    method: "GET",
                    url: Api::permissions_path(drive, items[i]),
                })
                .collect();
            let answer = retrying(out, || self.api.batch(&requests)).await?;
            let mut again: Vec<usize> = Vec::new();
            let mut throttled: Option<Duration> = None;
            let mut any_throttled = false;
            for response in answer.responses {
                let Some(i) = response
                    .id
                    .parse::<usize>()
                    .ok()
                    .filter(|i| pending.contains(i) && result[*i].is_none())
                else {
                    continue; // an id this batch did not ask for
                };
                result[i] = match response.status {
                    200 => Some(self.read_page(response.body, out).await?),
                    404 => Some(Permissions::Gone),
                    429 | 503 => {
                        any_throttled = true;
                        let wait = response
                            .headers
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                            .and_then(|(_, v)| parse_retry_after(v, std::time::SystemTime::now()));
                        throttled = throttled.max(wait);
                        again.push(i);
                        None
                    }
                    500..=599 => {
                        again.push(i);
                        None
                    }
                    status => {
                        tracing::warn!(
                            drive,
                            item = items[i],
                            status,
                            "permissions could not be read: the document stays invisible until they are"
                        );
                        Some(Permissions::Unread)
                    }
                };
            }
            // Responses the batch left out are asked again.
            let missing: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|&i| result[i].is_none() && !again.contains(&i))
                .collect();
            again.extend(missing);
            if again.is_empty() {
                break;
            }
            if any_throttled {
                let pause = ConnectorError::new(
                    ErrorKind::RateLimited {
                        retry_after: throttled,
                    },
                    "graph throttled requests of a permission batch",
                );
                if !out.pause(pause).await {
                    return Err(ConnectorError::new(ErrorKind::Permanent, "listing stopped"));
                }
                tokio::time::sleep(throttled.unwrap_or(Duration::from_secs(5))).await;
            } else {
                failed_rounds += 1;
                if failed_rounds >= MAX_FAILED_ROUNDS {
                    for &i in &again {
                        tracing::warn!(
                            drive,
                            item = items[i],
                            "permissions kept failing: the document stays invisible until they are read"
                        );
                        result[i] = Some(Permissions::Unread);
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200 << failed_rounds)).await;
            }
            pending = again;
        }
        Ok(result
            .into_iter()
            .map(|r| r.unwrap_or(Permissions::Unread))
            .collect())
    }

    /// A batch response's permission page, and the pages after it.
    async fn read_page(
        &self,
        body: Option<serde_json::Value>,
        out: &Out,
    ) -> Result<Permissions, ConnectorError> {
        let Some(page) = body.and_then(|b| serde_json::from_value::<Page<Permission>>(b).ok())
        else {
            return Ok(Permissions::Unread);
        };
        let mut permissions = page.value;
        if let Some(link) = page.next_link {
            match retrying(out, || self.api.more_permissions(link.clone())).await {
                Ok(more) => permissions.extend(more),
                Err(e) if e.kind == ErrorKind::NotFound => return Ok(Permissions::Gone),
                Err(_) => return Ok(Permissions::Unread),
            }
        }
        Ok(Permissions::Read(permissions))
    }
}
