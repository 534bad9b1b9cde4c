//! Bearer-token authentication for every route but health.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use connector_sdk::Secret;

use super::ApiState;
use super::error::{ApiError, Code};

/// Who may call the routes other than `/healthz` and `/readyz`.
///
/// The daemon decides which it may use: it serves [`Auth::Open`] only on a loopback address.
#[derive(Debug)]
pub enum Auth {
    /// Every route but health needs `Authorization: Bearer <token>` with this token.
    Bearer(Secret),
    /// No token is configured: every route is served without one.
    Open,
}

impl Auth {
    /// `Bearer` with the token if there is one, else `Open`.
    pub fn from_token(token: Option<Secret>) -> Self {
        match token {
            Some(token) => Auth::Bearer(token),
            None => Auth::Open,
        }
    }
}

/// What the middleware compares with: the token's BLAKE3 hash, not the token, so that
/// comparing takes the same time whatever the guess and its length (`blake3::Hash`'s `==` is
/// constant-time), and the token itself is not kept in memory past startup.
#[derive(Clone)]
pub(super) enum Check {
    Token(blake3::Hash),
    Open,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Check::Token(_) => "Token(**redacted**)",
            Check::Open => "Open",
        })
    }
}

impl From<Auth> for Check {
    fn from(auth: Auth) -> Self {
        match auth {
            Auth::Bearer(token) => Check::Token(blake3::hash(token.expose().as_bytes())),
            Auth::Open => Check::Open,
        }
    }
}

impl Check {
    /// Whether the `Authorization` header value lets the request in.
    pub(super) fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let Check::Token(expected) = self else {
            return true;
        };
        let Some(given) = authorization.and_then(bearer) else {
            return false;
        };
        blake3::hash(given) == *expected
    }
}

/// The token of `Bearer <token>`; the scheme is case-insensitive (RFC 7235).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = token.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// The middleware on every route but health. It never logs the header.
pub(super) async fn require_token(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if state.check().allows(header) {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::new(
            Code::Unauthorized,
            "this route needs `Authorization: Bearer <token>` with the daemon's api token",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_after_bearer_passes() {
        let check = Check::from(Auth::Bearer(Secret::new("s3cret")));
        assert!(check.allows(Some(b"Bearer s3cret")));
        assert!(check.allows(Some(b"bearer s3cret")));
        for wrong in [
            &b""[..],
            b"Bearer",
            b"Bearer ",
            b"Bearer s3cre",
            b"Bearer s3cret2",
            b"Basic s3cret",
            b"s3cret",
        ] {
            assert!(
                !check.allows(Some(wrong)),
                "{:?}",
                String::from_utf8_lossy(wrong)
            );
        }
        assert!(!check.allows(None));
        assert!(Check::from(Auth::from_token(None)).allows(None));
        assert_eq!(format!("{check:?}"), "Token(**redacted**)");
    }
}
