//! A client's certificate credential (RFC 7523 §2.2 client assertions), as Microsoft Entra
//! ID documents it (identity-platform/certificate-credentials): a JWT signed RS256 with the
//! certificate's private key, its header naming the certificate by `x5t` (the base64url
//! SHA-1 thumbprint of its DER), its claims `aud` = the token URL, `iss` = `sub` = the
//! client id, a fresh `jti`, and a lifetime of ten minutes.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha1::Digest as _;

use crate::{ConnectorError, ErrorKind, Secret};

/// How long an assertion is valid.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// A certificate and its private key, read from PEM.
pub(crate) struct Certificate {
    key: EncodingKey,
    thumbprint: String,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("x5t", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

/// The body of the first PEM block labelled `label`.
fn pem_block<'a>(pem: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    Some(&pem[start..stop])
}

impl Certificate {
    /// Reads a PEM text holding a `CERTIFICATE` and its RSA `PRIVATE KEY` (PKCS#8) or
    /// `RSA PRIVATE KEY` (PKCS#1). Errors never quote the text.
    pub(crate) fn from_pem(pem: &Secret) -> Result<Self, ConnectorError> {
        super::google::install_crypto_provider();
        let text = pem.expose();
        let invalid = |what: &str| {
            ConnectorError::new(ErrorKind::Permanent, format!("client certificate: {what}"))
        };
        let body = pem_block(text, "CERTIFICATE").ok_or_else(|| {
            invalid("no CERTIFICATE block (PEM with the certificate and its private key)")
        })?;
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| invalid("the CERTIFICATE block is not base64"))?;
        let thumbprint =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der));
        let key_pem = ["PRIVATE KEY", "RSA PRIVATE KEY"]
            .iter()
            .find_map(|label| {
                pem_block(text, label)
                    .map(|b| format!("-----BEGIN {label}-----{b}-----END {label}-----\n"))
            })
            .ok_or_else(|| invalid("no PRIVATE KEY block"))?;
        let key = EncodingKey::from_rsa_pem(key_pem.as_bytes())
            .map_err(|_| invalid("the private key is not an RSA key in PEM"))?;
        Ok(Certificate { key, thumbprint })
    }

    /// A client assertion for `client_id` at `token_url`, issued at `now`.
    pub(crate) fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        now: SystemTime,
    ) -> Result<Secret, ConnectorError> {
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let claims = Claims {
            aud: token_url,
            iss: client_id,
            sub: client_id,
            jti: format!("{:032x}", fastrand::u128(..)),
            nbf: iat,
            iat,
            exp: iat + ASSERTION_LIFETIME.as_secs(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.x5t = Some(self.thumbprint.clone());
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(Secret::new)
            .map_err(|e| {
                ConnectorError::new(
                    ErrorKind::Permanent,
                    format!(
                        "client {client_id}: cannot sign the assertion: {:?}",
                        e.kind()
                    ),
                )
            })
    }
}
