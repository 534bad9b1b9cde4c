//! OAuth2 client credentials, and the token-endpoint exchange every fetching source shares.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use serde::Deserialize;

use super::certificate::Certificate;
use super::{DEFAULT_REFRESH_MARGIN, IssuedToken, TokenCache, TokenSource};
use crate::http::{HttpClient, Outcome, Reply, TransportError, TransportKind, redact_url};
use crate::{ConnectorError, ErrorKind, Secret};

/// How the client authenticates itself to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body (`client_secret_post`; what Graph
    /// and ServiceNow document).
    #[default]
    RequestBody,
    /// HTTP Basic with the client id and secret (`client_secret_basic`).
    BasicHeader,
}

/// OAuth2 client credentials: `grant_type=client_credentials` with the client's id and
/// secret, and the scopes (space-joined) when there are any, POSTed as a form to the token
/// URL. Microsoft Graph wants `scope=https://graph.microsoft.com/.default`; Atlassian an
/// `audience` parameter ([`with_param`](Self::with_param)).
pub struct ClientCredentials {
    http: HttpClient,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
    client_auth: ClientAuth,
    /// With a certificate, the client proves itself with a signed assertion instead of
    /// its secret (`client_secret` is then empty and never sent).
    certificate: Option<Certificate>,
    /// The resource owner's credentials for the password grant (RFC 6749 §4.3), which
    /// replaces `client_credentials` when set.
    owner: Option<(String, Secret)>,
    cache: TokenCache,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &redact_url(&self.token_url))
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scopes", &self.scopes)
            .field(
                "params",
                &self.params.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .field("client_auth", &self.client_auth)
            .field("certificate", &self.certificate)
            .field("owner", &self.owner.as_ref().map(|(user, _)| user))
            .field("cache", &self.cache)
            .field("http", &self.http)
            .finish()
    }
}

impl ClientCredentials {
    /// Tokens for `client_id` from `token_url`, fetched through `http` (its policy retries
    /// the token endpoint's 5xx; its own token source, if any, is not used).
    pub fn new(
        http: HttpClient,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Self {
        ClientCredentials {
            http,
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret,
            scopes: Vec::new(),
            params: Vec::new(),
            client_auth: ClientAuth::default(),
            certificate: None,
            owner: None,
            cache: TokenCache::new(DEFAULT_REFRESH_MARGIN),
        }
    }

    /// Tokens for `client_id` from `token_url`, the client proving itself with a
    /// certificate (`pem`: the certificate and its RSA private key) through a signed client
    /// assertion (RFC 7523 §2.2; Microsoft Entra ID's certificate credentials). A PEM that
    /// cannot be read is a `Permanent` error that never quotes it.
    pub fn with_certificate(
        http: HttpClient,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        pem: &Secret,
    ) -> Result<Self, ConnectorError> {
        let certificate = Certificate::from_pem(pem)?;
        let mut credentials = Self::new(http, token_url, client_id, Secret::new(""));
        credentials.certificate = Some(certificate);
        Ok(credentials)
    }

    /// The scopes to request.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// An extra form parameter (`audience`, `resource`).
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// How the client authenticates (default: in the request body).
    pub fn with_client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// Uses the resource owner password grant (RFC 6749 §4.3: `grant_type=password` with
    /// `username` and `password`, the client still authenticating itself) instead of
    /// client credentials: what ServiceNow instances before client-credentials support
    /// offer. The password is never logged, and is scrubbed from the endpoint's errors.
    pub fn with_password_grant(mut self, username: impl Into<String>, password: Secret) -> Self {
        self.owner = Some((username.into(), password));
        self
    }

    /// How long before expiry a token is refreshed (default one minute).
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.cache = TokenCache::new(margin);
        self
    }

    async fn fetch(&self) -> Result<IssuedToken, ConnectorError> {
        let mut form: Vec<(&str, &str)> = match &self.owner {
            Some((user, password)) => vec![
                ("grant_type", "password"),
                ("username", user),
                ("password", password.expose()),
            ],
            None => vec![("grant_type", "client_credentials")],
        };
        let scope = self.scopes.join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        for (name, value) in &self.params {
            form.push((name, value));
        }
        if let Some(certificate) = &self.certificate {
            let assertion =
                certificate.assertion(&self.client_id, &self.token_url, SystemTime::now())?;
            form.push(("client_id", &self.client_id));
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
            form.push(("client_assertion", assertion.expose()));
            let secrets = [assertion.expose()];
            return request_token(&self.http, &self.token_url, &form, None, &secrets).await;
        }
        let basic = match self.client_auth {
            ClientAuth::RequestBody => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", self.client_secret.expose()));
                None
            }
            ClientAuth::BasicHeader => Some((self.client_id.as_str(), &self.client_secret)),
        };
        let owner_password = self.owner.as_ref().map_or("", |(_, p)| p.expose());
        let secrets = [self.client_secret.expose(), owner_password];
        request_token(&self.http, &self.token_url, &form, basic, &secrets).await
    }
}

#[async_trait]
impl TokenSource for ClientCredentials {
    async fn token(&self) -> Result<Secret, ConnectorError> {
        self.cache.get(|| self.fetch()).await
    }

    fn invalidate(&self) {
        self.cache.invalidate();
    }
}

/// A token endpoint's success (RFC 6749 §5.1). `expires_in` may come as a string.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// A token endpoint's refusal (RFC 6749 §5.2).
#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The largest token-endpoint answer read.
const MAX_TOKEN_RESPONSE: usize = 256 * 1024;

/// POSTs `form` to a token endpoint through `http`'s policy (without its token source) and
/// reads the token. 400 and 401 are `Unauthorized` with the OAuth error; 5xx, resets and
/// timeouts are retried; 429 is `RateLimited`. `secrets` (and anything shaped like a JWT)
/// are scrubbed from what the endpoint says before it goes into a message.
pub(crate) async fn request_token(
    http: &HttpClient,
    token_url: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &Secret)>,
    secrets: &[&str],
) -> Result<IssuedToken, ConnectorError> {
    let label = format!("token endpoint {}", redact_url(token_url));
    http.policy()
        .call(&label, None, |_attempt| {
            let mut request = http.client().post(token_url).form(form);
            if let Some((id, secret)) = basic {
                request = request.basic_auth(id, Some(secret.expose()));
            }
            let label = &label;
            async move {
                let response = match request.send().await {
                    Ok(response) => response,
                    Err(err) => return Outcome::Transport(transport(err)),
                };
                let status = response.status();
                let headers = response.headers().clone();
                let body = match read_small(response).await {
                    Ok(body) => body,
                    Err(err) => return Outcome::Transport(err),
                };
                let reply = Reply::new(status, headers, body);
                if status.is_success() {
                    return match parse_token(label, &reply.body) {
                        Ok(value) => Outcome::Success { reply, value },
                        Err(err) => Outcome::Fatal(err),
                    };
                }
                match status.as_u16() {
                    400 | 401 => {
                        Outcome::Fatal(refusal(label, status.as_u16(), &reply.body, secrets))
                    }
                    _ => Outcome::Failure(reply),
                }
            }
        })
        .await
}

fn transport(err: reqwest::Error) -> TransportError {
    let kind = if err.is_timeout() {
        TransportKind::Timeout
    } else if err.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Reset
    };
    TransportError::new(kind, err.without_url().to_string())
}

async fn read_small(mut response: reqwest::Response) -> Result<Bytes, TransportError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_TOKEN_RESPONSE {
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn parse_token(label: &str, body: &[u8]) -> Result<IssuedToken, ConnectorError> {
    let parsed: TokenResponse = serde_json::from_slice(body).map_err(|err| {
        ConnectorError::new(
            ErrorKind::InvalidResponse,
            format!(
                "{label}: unexpected token response: {}",
                crate::http::describe_json_error(&err)
            ),
        )
    })?;
    let expires_in = match parsed.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(IssuedToken {
        token: parsed.access_token,
        expires_in: expires_in.map(Duration::from_secs),
    })
}

/// `Unauthorized`, with the endpoint's OAuth error code and a short, scrubbed description.
fn refusal(label: &str, status: u16, body: &[u8], secrets: &[&str]) -> ConnectorError {
    let detail = match serde_json::from_slice::<TokenError>(body) {
        Ok(TokenError {
            error,
            error_description,
        }) => {
            let mut detail = scrub(&error, secrets, 64);
            if let Some(description) = error_description {
                detail.push_str(": ");
                detail.push_str(&scrub(&description, secrets, 200));
            }
            detail
        }
        Err(_) => "no OAuth error in the answer".to_string(),
    };
    ConnectorError::new(
        ErrorKind::Unauthorized,
        format!("{label}: status {status}: {detail}"),
    )
}

/// `text` cut to `max` characters, without any of `secrets`, JWT-shaped words, or
/// control characters.
pub(crate) fn scrub(text: &str, secrets: &[&str], max: usize) -> String {
    let mut text = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        text = text.replace(secret, "**redacted**");
    }
    let words: Vec<&str> = text
        .split(' ')
        .map(|word| {
            if word.contains("eyJ") && word.len() > 16 {
                "**redacted**"
            } else {
                word
            }
        })
        .collect();
    let cleaned: String = words
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match cleaned.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &cleaned[..cut]),
        None => cleaned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_secrets_and_jwts_and_cuts() {
        let secrets = ["hunter2-secret"];
        assert_eq!(
            scrub("bad secret hunter2-secret given", &secrets, 100),
            "bad secret **redacted** given"
        );
        assert_eq!(
            scrub(
                "assertion eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln was bad",
                &secrets,
                100
            ),
            "assertion **redacted** was bad"
        );
        assert_eq!(scrub("line\nbreak", &secrets, 100), "line break");
        assert_eq!(scrub("abcdef", &secrets, 3), "abc…");
    }

    #[test]
    fn refusals_carry_the_oauth_error() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: hunter2-secret"}"#;
        let err = refusal(
            "token endpoint https://login/t",
            401,
            body,
            &["hunter2-secret"],
        );
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        assert_eq!(
            err.message,
            "token endpoint https://login/t: status 401: invalid_client: AADSTS7000215: \
             Invalid client secret provided: **redacted**"
        );
        let err = refusal("t", 400, b"<html>", &[]);
        assert_eq!(err.message, "t: status 400: no OAuth error in the answer");
    }

    #[test]
    fn expires_in_as_number_or_string() {
        let token = parse_token("t", br#"{"access_token":"a","expires_in":3599}"#).expect("ok");
        assert_eq!(token.expires_in, Some(Duration::from_secs(3599)));
        let token = parse_token("t", br#"{"access_token":"a","expires_in":"3599"}"#).expect("ok");
        assert_eq!(token.expires_in, Some(Duration::from_secs(3599)));
        let token = parse_token("t", br#"{"access_token":"a"}"#).expect("ok");
        assert_eq!(token.expires_in, None);
        let err = parse_token("t", br#"{"token":"a"}"#).expect_err("no access_token");
        assert_eq!(
            err.message,
            "t: unexpected token response: missing field `access_token`"
        );
    }
}
