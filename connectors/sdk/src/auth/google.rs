//! Google service accounts: a JWT signed with the account's key, exchanged for a token.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::oauth::request_token;
use super::{DEFAULT_REFRESH_MARGIN, IssuedToken, TokenCache, TokenSource};
use crate::http::HttpClient;
use crate::{ConnectorError, ErrorKind, Secret};

/// Where Google's tokens come from when a key does not say.
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// How long an assertion is valid: Google's maximum, one hour.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

fn default_token_uri() -> String {
    GOOGLE_TOKEN_URI.to_string()
}

/// The fields of a service-account JSON key file that signing needs (the file has more:
/// `project_id`, `client_id`, certificate URLs).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct ServiceAccountKey {
    /// `service_account`.
    #[serde(rename = "type", default)]
    pub key_type: Option<String>,
    /// The account, `name@project.iam.gserviceaccount.com`: the JWT's issuer.
    pub client_email: String,
    /// The RSA private key, PEM (PKCS#8).
    pub private_key: Secret,
    /// The key's id: the JWT header's `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// The token endpoint, and the JWT's audience.
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

impl ServiceAccountKey {
    /// Parses a JSON key. Errors are `Permanent` and never quote the file.
    pub fn from_json(json: &str) -> Result<Self, ConnectorError> {
        let key: ServiceAccountKey = serde_json::from_str(json).map_err(|err| {
            ConnectorError::new(
                ErrorKind::Permanent,
                format!(
                    "service account key: {}",
                    crate::http::describe_json_error(&err)
                ),
            )
        })?;
        match key.key_type.as_deref() {
            None | Some("service_account") => Ok(key),
            Some(other) => Err(ConnectorError::new(
                ErrorKind::Permanent,
                format!(
                    "service account key: the credentials are of type {:?}, not service_account",
                    crate::auth::oauth::scrub(other, &[], 40)
                ),
            )),
        }
    }

    /// Reads and parses a JSON key file.
    pub fn from_file(path: &Path) -> Result<Self, ConnectorError> {
        let json = std::fs::read_to_string(path).map_err(|err| {
            ConnectorError::from_io(format_args!("reading {}", path.display()), err)
        })?;
        ServiceAccountKey::from_json(&json)
    }

    /// The same key with another token endpoint (a test server, a private endpoint).
    pub fn with_token_uri(mut self, token_uri: impl Into<String>) -> Self {
        self.token_uri = token_uri.into();
        self
    }
}

/// The parsed key, shared by the sources of every subject.
struct Signer {
    key: EncodingKey,
    client_email: String,
    private_key_id: Option<String>,
    token_uri: String,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &crate::http::redact_url(&self.token_uri))
            .finish_non_exhaustive()
    }
}

/// The assertion's claims (RFC 7523 §3, Google's "Using OAuth 2.0 for Server to Server
/// Applications").
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: String,
    aud: &'a str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
}

/// A Google service account as a [`TokenSource`]: each token comes from an RS256 JWT
/// (`iss` the account, `scope` the space-joined scopes, `aud` the key's `token_uri`, one
/// hour long, `sub` the impersonated user if any) POSTed to `token_uri` with
/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`.
///
/// With domain-wide delegation a connector acts as each user in turn:
/// [`for_subject`](Self::for_subject) makes a source for another user that shares the
/// parsed key and the HTTP client but caches its own token.
#[derive(Debug)]
pub struct ServiceAccount {
    signer: Arc<Signer>,
    scopes: Vec<String>,
    subject: Option<String>,
    http: HttpClient,
    cache: TokenCache,
}

impl ServiceAccount {
    /// A source for `key` with `scopes`, fetching through `http` (its policy retries the
    /// token endpoint; its own token source, if any, is not used). Fails as `Permanent` if
    /// the private key is not an RSA key in PEM.
    pub fn new(
        http: HttpClient,
        key: &ServiceAccountKey,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Self, ConnectorError> {
        install_crypto_provider();
        let encoding =
            EncodingKey::from_rsa_pem(key.private_key.expose().as_bytes()).map_err(|_| {
                ConnectorError::new(
                    ErrorKind::Permanent,
                    format!(
                        "service account {}: private_key is not an RSA private key in PEM",
                        key.client_email
                    ),
                )
            })?;
        Ok(ServiceAccount {
            signer: Arc::new(Signer {
                key: encoding,
                client_email: key.client_email.clone(),
                private_key_id: key.private_key_id.clone(),
                token_uri: key.token_uri.clone(),
            }),
            scopes: scopes.into_iter().map(Into::into).collect(),
            subject: None,
            http,
            cache: TokenCache::new(DEFAULT_REFRESH_MARGIN),
        })
    }

    /// A source acting as `subject` (a user's email; domain-wide delegation), with the same
    /// key, scopes and client, and a token cache of its own.
    pub fn for_subject(&self, subject: impl Into<String>) -> ServiceAccount {
        ServiceAccount {
            signer: Arc::clone(&self.signer),
            scopes: self.scopes.clone(),
            subject: Some(subject.into()),
            http: self.http.clone(),
            cache: TokenCache::new(DEFAULT_REFRESH_MARGIN),
        }
    }

    /// The service account's email.
    pub fn client_email(&self) -> &str {
        &self.signer.client_email
    }

    /// The impersonated user, if any.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The requested scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The signed assertion for a token requested at `now`.
    fn assertion(&self, now: SystemTime) -> Result<Secret, ConnectorError> {
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let claims = Claims {
            iss: &self.signer.client_email,
            scope: self.scopes.join(" "),
            aud: &self.signer.token_uri,
            iat,
            exp: iat + ASSERTION_LIFETIME.as_secs(),
            sub: self.subject.as_deref(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.signer.private_key_id.clone();
        let jwt = jsonwebtoken::encode(&header, &claims, &self.signer.key).map_err(|err| {
            ConnectorError::new(
                ErrorKind::Permanent,
                format!(
                    "service account {}: cannot sign the assertion: {:?}",
                    self.signer.client_email,
                    err.kind()
                ),
            )
        })?;
        Ok(Secret::new(jwt))
    }

    async fn fetch(&self) -> Result<IssuedToken, ConnectorError> {
        let assertion = self.assertion(SystemTime::now())?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.expose()),
        ];
        let secrets = [assertion.expose()];
        request_token(&self.http, &self.signer.token_uri, &form, None, &secrets).await
    }
}

#[async_trait]
impl TokenSource for ServiceAccount {
    async fn token(&self) -> Result<Secret, ConnectorError> {
        self.cache.get(|| self.fetch()).await
    }

    fn invalidate(&self) {
        self.cache.invalidate();
    }
}

/// jsonwebtoken signs with the process's default provider, which it picks by itself only
/// when exactly one backend feature is on; another crate of the binary turning on
/// `rust_crypto` would leave none. Installing aws-lc-rs's when there is none keeps signing
/// working either way (a provider someone installed first stays).
pub(super) fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        }
    });
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;
    use crate::http::{Politeness, PolitenessConfig};

    const KEY: &str = include_str!("../../tests/data/test-only-service-account.json");
    const PUBLIC_KEY: &str = include_str!("../../tests/data/test-only-service-account.pub.pem");

    /// The claims of an assertion, after checking its signature with the public key.
    fn check(account: &ServiceAccount) -> serde_json::Value {
        let assertion = account.assertion(SystemTime::now()).expect("signed");
        let header = jsonwebtoken::decode_header(assertion.expose()).expect("header");
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(
            header.kid.as_deref(),
            Some("test-only-0000000000000000000000000000")
        );
        let public = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).expect("public key");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://oauth2.googleapis.com/token"]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            jsonwebtoken::decode::<serde_json::Value>(assertion.expose(), &public, &validation)
                .expect("signature and claims verify");
        data.claims
    }

    fn account() -> ServiceAccount {
        let http = HttpClient::new(Politeness::new(PolitenessConfig::default()).expect("policy"))
            .expect("client");
        let key = ServiceAccountKey::from_json(KEY).expect("key parses");
        let scopes = [
            "https://www.googleapis.com/auth/drive.readonly",
            "https://www.googleapis.com/auth/admin.directory.group.readonly",
        ];
        ServiceAccount::new(http, &key, scopes).expect("key is RSA")
    }

    #[test]
    fn the_assertion_pins_scopes_issuer_audience_and_lifetime() {
        let claims = check(&account());
        assert_eq!(
            claims["scope"],
            "https://www.googleapis.com/auth/drive.readonly \
             https://www.googleapis.com/auth/admin.directory.group.readonly"
        );
        assert_eq!(
            claims["iss"],
            "test-only@tributary-test-only.iam.gserviceaccount.com"
        );
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
        let iat = claims["iat"].as_u64().expect("iat");
        assert_eq!(claims["exp"].as_u64(), Some(iat + 3600));
        assert!(
            claims.get("sub").is_none(),
            "no subject unless impersonating"
        );
    }

    #[test]
    fn a_subject_source_shares_the_key_and_adds_sub() {
        let admin = account();
        let alice = admin.for_subject("alice@example.com");
        let claims = check(&alice);
        assert_eq!(claims["sub"], "alice@example.com");
        assert_eq!(
            claims["iss"],
            "test-only@tributary-test-only.iam.gserviceaccount.com"
        );
        assert!(Arc::ptr_eq(&admin.signer, &alice.signer));
        assert_eq!(alice.subject(), Some("alice@example.com"));
        assert_eq!(admin.subject(), None);
    }

    #[test]
    fn key_errors_never_quote_the_key() {
        let err = ServiceAccountKey::from_json(r#"{"client_email": "a@b", "private_key": 5}"#)
            .expect_err("wrong type");
        assert_eq!(
            err.message,
            "service account key: invalid type, expected a string"
        );
        let not_pem =
            r#"{"client_email": "a@b", "private_key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"}"#;
        let key = ServiceAccountKey::from_json(not_pem).expect("parses");
        let http = account().http.clone();
        let err = ServiceAccount::new(http, &key, ["s"]).expect_err("not PEM");
        assert_eq!(
            err.message,
            "service account a@b: private_key is not an RSA private key in PEM"
        );
        assert!(!format!("{err:?}").contains("MIIEvQ"));
        let user = r#"{"type": "authorized_user", "client_email": "a@b", "private_key": "x"}"#;
        let err = ServiceAccountKey::from_json(user).expect_err("wrong type");
        assert!(
            err.message
                .contains("\"authorized_user\", not service_account"),
            "{err}"
        );
    }
}
