//! Credentials for SaaS APIs (feature `saas`).
//!
//! A [`TokenSource`] hands out the credential of the current moment and forgets it when the
//! API refuses it; [`Politeness`](crate::http::Politeness) asks it before each attempt and,
//! on a 401, invalidates it and retries once. The sources that fetch tokens cache them until
//! shortly before they expire (a margin, one minute by default) and refresh *single-flight*:
//! of many concurrent callers that find the token stale, one fetches and the others wait for
//! its result, so a burst of requests never becomes a burst at the token endpoint.
//!
//! - [`ClientCredentials`]: OAuth2 client credentials (RFC 6749 §4.4; Microsoft Graph,
//!   ServiceNow, Atlassian service accounts), with a client secret or a certificate (a
//!   signed client assertion, RFC 7523 §2.2).
//! - [`ServiceAccount`]: Google service accounts, an RS256 JWT assertion exchanged for a
//!   token (RFC 7523), optionally impersonating a user through domain-wide delegation.
//! - [`StaticToken`] (a bearer token from configuration) and [`BasicAuth`].
//!
//! Token endpoint refusals (`invalid_client`, `invalid_grant`, `unauthorized_client`) are
//! `Unauthorized`, with the OAuth `error` and a short `error_description`; the client
//! secret, the assertion and the token never appear in an error or in `Debug`.

use std::fmt;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use tokio::time::Instant;

use crate::{ConnectorError, Secret};

mod certificate;
mod google;
mod oauth;

pub use google::{ServiceAccount, ServiceAccountKey};
pub use oauth::{ClientAuth, ClientCredentials};

/// Where a call's credential comes from.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// The current token, fetched or refreshed if needed.
    async fn token(&self) -> Result<Secret, ConnectorError>;

    /// Forgets the current token (the API refused it): the next [`token`](Self::token)
    /// fetches a new one.
    fn invalidate(&self);

    /// The `Authorization` scheme the token goes with.
    fn scheme(&self) -> &'static str {
        "Bearer"
    }
}

/// A token from configuration, used as is. A 401 is final (after one retry with the same
/// token): nothing here can refresh it.
#[derive(Debug, Clone)]
pub struct StaticToken {
    token: Secret,
}

impl StaticToken {
    /// A source that always returns `token`.
    pub fn new(token: Secret) -> Self {
        StaticToken { token }
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<Secret, ConnectorError> {
        Ok(self.token.clone())
    }

    fn invalidate(&self) {}
}

/// HTTP Basic authentication (RFC 7617): the "token" is `base64(username:password)` with
/// the `Basic` scheme (ServiceNow, Jira with an API token).
#[derive(Debug, Clone)]
pub struct BasicAuth {
    username: String,
    encoded: Secret,
}

impl BasicAuth {
    /// Credentials for `username` with `password` (or API token).
    pub fn new(username: impl Into<String>, password: &Secret) -> Self {
        let username = username.into();
        let plain = format!("{username}:{}", password.expose());
        let encoded = Secret::new(base64::engine::general_purpose::STANDARD.encode(plain));
        BasicAuth { username, encoded }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }
}

#[async_trait]
impl TokenSource for BasicAuth {
    async fn token(&self) -> Result<Secret, ConnectorError> {
        Ok(self.encoded.clone())
    }

    fn invalidate(&self) {}

    fn scheme(&self) -> &'static str {
        "Basic"
    }
}

/// A token a token endpoint issued, with its lifetime when it said.
#[derive(Debug)]
pub(crate) struct IssuedToken {
    pub(crate) token: Secret,
    pub(crate) expires_in: Option<Duration>,
}

/// How long a token without `expires_in` is assumed to live (a 401 corrects a wrong guess).
const ASSUMED_LIFETIME: Duration = Duration::from_secs(3600);

/// The default margin before expiry at which a cached token is refreshed.
pub(crate) const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The cached token of one source, refreshed single-flight.
pub(crate) struct TokenCache {
    current: Mutex<Option<(Secret, Instant)>>,
    refresh: tokio::sync::Mutex<()>,
    margin: Duration,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        f.debug_struct("TokenCache")
            .field("cached", &cached)
            .field("margin", &self.margin)
            .finish()
    }
}

impl TokenCache {
    pub(crate) fn new(margin: Duration) -> Self {
        TokenCache {
            current: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            margin,
        }
    }

    /// The cached token if it is still good, else one from `fetch`, which runs for one
    /// caller at a time: those waiting behind it get its token.
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<Secret, ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<IssuedToken, ConnectorError>>,
    {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _refreshing = self.refresh.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let issued = fetch().await?;
        let lifetime = issued.expires_in.unwrap_or(ASSUMED_LIFETIME);
        // Refresh `margin` before expiry, or half-way through a lifetime shorter than that.
        let good_for = lifetime.saturating_sub(self.margin).max(lifetime / 2);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((issued.token.clone(), Instant::now() + good_for));
        Ok(issued.token)
    }

    pub(crate) fn invalidate(&self) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn fresh(&self) -> Option<Secret> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match &*current {
            Some((token, until)) if Instant::now() < *until => Some(token.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn basic_auth_encodes_user_and_password() {
        let basic = BasicAuth::new("alice", &Secret::new("open sesame"));
        let token = basic.token().await.expect("token");
        // RFC 7617's example: Aladdin:open sesame → QWxhZGRpbjpvcGVuIHNlc2FtZQ==.
        let rfc = BasicAuth::new("Aladdin", &Secret::new("open sesame"));
        assert_eq!(
            rfc.token().await.expect("token").expose(),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic.scheme(), "Basic");
        assert!(!token.is_empty());
        assert!(!format!("{basic:?}").contains("open sesame"));
    }

    /// A cache whose fetches count themselves and issue `tok-N`.
    async fn fetch_counted(
        fetches: &AtomicUsize,
        expires_in: Duration,
    ) -> Result<IssuedToken, ConnectorError> {
        let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(IssuedToken {
            token: Secret::new(format!("tok-{n}")),
            expires_in: Some(expires_in),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_refresh() {
        let cache = Arc::new(TokenCache::new(DEFAULT_REFRESH_MARGIN));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (cache, fetches) = (Arc::clone(&cache), Arc::clone(&fetches));
            tasks.push(tokio::spawn(async move {
                let hour = Duration::from_secs(3600);
                cache.get(|| fetch_counted(&fetches, hour)).await
            }));
        }
        for task in tasks {
            let token = task.await.expect("task").expect("token");
            assert_eq!(token.expose(), "tok-1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_a_margin_before_expiry_and_after_invalidate() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let fetches = AtomicUsize::new(0);
        let hour = Duration::from_secs(3600);
        let get = || cache.get(|| fetch_counted(&fetches, hour));
        assert_eq!(get().await.expect("token").expose(), "tok-1");
        tokio::time::advance(Duration::from_secs(3500)).await;
        assert_eq!(get().await.expect("token").expose(), "tok-1");
        // 3,541 s after issue: inside the one-minute margin.
        tokio::time::advance(Duration::from_secs(41)).await;
        assert_eq!(get().await.expect("token").expose(), "tok-2");
        cache.invalidate();
        assert_eq!(get().await.expect("token").expose(), "tok-3");
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }
}
