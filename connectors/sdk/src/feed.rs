//! Listings on a task of their own (feature `saas`).
//!
//! A SaaS listing is a loop over pages with awaits in it: [`spawn`] runs such a loop on its
//! own task and hands the engine its items through a bounded channel, so that the next page
//! is read while the engine works through the last one. The loop writes to an [`Out`]
//! (`send` is false once the engine stopped listening: the loop returns), and the error
//! it returns, if any, goes to the engine as the listing's last item. [`retrying`]
//! repeats a call the source throttled, telling the engine of each pause (it pauses the
//! whole run and shows it) and waiting it out; [`next_page`] refuses a server that hands
//! out the same page token twice, which would otherwise loop forever.
//!
//! ```no_run
//! use connector_sdk::feed::{self, Out};
//! use connector_sdk::{Change, ChangeStream, ConnectorError, DocumentId};
//!
//! /// One call to the source: the ids on the page after `token`, and the next token.
//! async fn page(token: Option<&str>) -> Result<(Vec<String>, Option<String>), ConnectorError> {
//!     Ok(match token {
//!         None => (vec!["a".into(), "b".into()], Some("2".into())),
//!         Some(_) => (vec!["c".into()], None),
//!     })
//! }
//!
//! fn listing() -> ChangeStream<'static> {
//!     feed::spawn(|out: Out| async move {
//!         let mut token: Option<String> = None;
//!         loop {
//!             let (ids, next) = feed::retrying(&out, || page(token.as_deref())).await?;
//!             for id in ids {
//!                 if !out.send(Ok(Change::Delete(DocumentId::from(id)))).await {
//!                     return Ok(());
//!                 }
//!             }
//!             match feed::next_page(token.take(), next, "items.list")? {
//!                 Some(next) => token = Some(next),
//!                 None => return Ok(()),
//!             }
//!         }
//!     })
//! }
//! ```

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use crate::{Change, ChangeStream, ConnectorError, ErrorKind, Membership};

/// One item of a listing.
pub type Item = Result<Change, ConnectorError>;

/// Items a listing keeps ready for the engine: enough for several pages of read-ahead.
const READ_AHEAD: usize = 1024;

/// How long a throttled call waits when the source named no delay.
const DEFAULT_PAUSE: Duration = Duration::from_secs(5);

/// A listing's sender.
#[derive(Debug, Clone)]
pub struct Out(mpsc::Sender<Item>);

impl Out {
    /// Sends an item; false once the engine stopped listening (the listing should return).
    pub async fn send(&self, item: Item) -> bool {
        self.0.send(item).await.is_ok()
    }

    /// Sends a change.
    pub async fn change(&self, change: Change) -> bool {
        self.send(Ok(change)).await
    }

    /// Sends a [`Change::Checkpoint`] marker.
    pub async fn checkpoint(&self, partition: &str, cursor: Option<String>) -> bool {
        self.change(Change::Checkpoint {
            partition: partition.to_string(),
            cursor,
        })
        .await
    }
}

/// Where a listing (or an identity crawl) tells the engine of a rate-limit pause: false
/// once the engine stopped listening.
pub trait Pauses: Sync {
    /// Reports the pause `e` (a `RateLimited` error).
    fn pause(&self, e: ConnectorError) -> impl Future<Output = bool> + Send;
}

impl Pauses for Out {
    fn pause(&self, e: ConnectorError) -> impl Future<Output = bool> + Send {
        self.send(Err(e))
    }
}

impl Pauses for mpsc::Sender<Result<Membership, ConnectorError>> {
    async fn pause(&self, e: ConnectorError) -> bool {
        self.send(Err(e)).await.is_ok()
    }
}

/// Calls `f` until the source stops throttling it, reporting each pause to `out` and
/// waiting out the delay the source asked for (five seconds when it named none). Any
/// other result, success or error, is returned as is.
pub async fn retrying<T, F, Fut, P: Pauses>(out: &P, f: F) -> Result<T, ConnectorError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, ConnectorError>>,
{
    loop {
        match f().await {
            Err(ConnectorError {
                kind: ErrorKind::RateLimited { retry_after },
                message,
                ..
            }) => {
                let pause = ConnectorError::new(ErrorKind::RateLimited { retry_after }, message);
                if !out.pause(pause).await {
                    return Err(ConnectorError::new(ErrorKind::Permanent, "listing stopped"));
                }
                tokio::time::sleep(retry_after.unwrap_or(DEFAULT_PAUSE)).await;
            }
            other => return other,
        }
    }
}

/// Runs a listing on its own task, its items through a bounded channel. The error the
/// listing returns, if any, is its last item.
pub fn spawn<F, Fut>(run: F) -> ChangeStream<'static>
where
    F: FnOnce(Out) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), ConnectorError>> + Send,
{
    produce(move |tx| async move {
        let out = Out(tx);
        if let Err(e) = run(out.clone()).await {
            out.send(Err(e)).await;
        }
    })
}

/// Refuses an incremental run from `since` when it holds a partition that `exists` no
/// longer knows (a library, a shared drive, a channel that is gone), other than the
/// connector's own bookkeeping partitions in `own`: a vanished partition cannot say which
/// documents it had, so the run must go on as a full listing, whose sweep (behind the
/// mass-delete guard) deletes them. The error is `CursorExpired`.
pub fn refuse_vanished(
    since: &crate::SourceCheckpoint,
    exists: impl Fn(&str) -> bool,
    own: &[&str],
) -> Result<(), ConnectorError> {
    match since
        .partitions()
        .keys()
        .find(|p| !own.contains(&p.as_str()) && !exists(p))
    {
        Some(gone) => Err(ConnectorError::new(
            ErrorKind::CursorExpired,
            format!(
                "{gone} is no longer in the source: listing everything to delete its documents"
            ),
        )),
        None => Ok(()),
    }
}

/// A stream fed by `run` on its own task through a bounded channel: the way listings and
/// identity crawls read ahead while the engine works. The task ends when `run` returns or
/// soon after the stream is dropped (its sends fail).
pub fn produce<T, F, Fut>(run: F) -> BoxStream<'static, T>
where
    T: Send + 'static,
    F: FnOnce(mpsc::Sender<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (tx, rx) = mpsc::channel::<T>(READ_AHEAD);
    tokio::spawn(async move { run(tx).await });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) }).boxed()
}

/// The next page token of a paged call: `None` at the end (no token, or an empty one);
/// the same token twice is a misbehaving server (`InvalidResponse`), not a reason to loop
/// forever.
pub fn next_page(
    current: Option<String>,
    next: Option<String>,
    call: &str,
) -> Result<Option<String>, ConnectorError> {
    match next.filter(|t| !t.is_empty()) {
        Some(next) if Some(&next) == current.as_ref() => Err(ConnectorError::new(
            ErrorKind::InvalidResponse,
            format!("{call} returned the same page token again"),
        )),
        next => Ok(next),
    }
}

/// A URL path segment, percent-encoded (everything but unreserved characters and `@`).
///
/// ```
/// assert_eq!(connector_sdk::feed::encode_segment("a b/c@d"), "a%20b%2Fc@d");
/// ```
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_loops_are_refused_and_empty_tokens_end() {
        assert!(next_page(Some("x".into()), Some("x".into()), "files.list").is_err());
        assert_eq!(
            next_page(None, Some(String::new()), "files.list").expect("end"),
            None
        );
        assert_eq!(
            next_page(Some("a".into()), Some("b".into()), "files.list").expect("next"),
            Some("b".into())
        );
    }

    #[test]
    fn a_vanished_partition_is_an_expired_cursor() {
        let mut since = crate::SourceCheckpoint::default();
        since.set("drive:a", Some("x".into()));
        since.set("listing", Some("y".into()));
        assert!(refuse_vanished(&since, |p| p == "drive:a", &["listing"]).is_ok());
        let e = refuse_vanished(&since, |_| false, &["listing"]).expect_err("gone");
        assert_eq!(e.kind, ErrorKind::CursorExpired);
        assert!(e.message.starts_with("drive:a is no longer"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_is_repeated_after_the_pause_it_reported() {
        let calls = std::sync::atomic::AtomicU32::new(0);
        let (tx, mut rx) = mpsc::channel(8);
        let out = Out(tx);
        let got = retrying(&out, || async {
            match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => Err(ConnectorError::new(
                    ErrorKind::RateLimited {
                        retry_after: Some(Duration::from_secs(30)),
                    },
                    "slow down",
                )),
                _ => Ok(7),
            }
        })
        .await
        .expect("second call");
        assert_eq!(got, 7);
        let pause = rx
            .recv()
            .await
            .expect("a pause")
            .expect_err("an error item");
        assert!(matches!(pause.kind, ErrorKind::RateLimited { .. }));
        // Other errors are not repeated.
        let e = retrying(&out, || async {
            Err::<(), _>(ConnectorError::new(ErrorKind::Permanent, "no"))
        })
        .await
        .expect_err("permanent");
        assert_eq!(e.kind, ErrorKind::Permanent);
    }
}
