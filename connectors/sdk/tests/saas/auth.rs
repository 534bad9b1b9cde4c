//! Token sources against the fake token endpoint, and a 401's refresh through `HttpClient`.

use std::sync::Arc;

use connector_sdk::auth::{
    ClientAuth, ClientCredentials, ServiceAccount, ServiceAccountKey, TokenSource,
};
use connector_sdk::http::{HttpClient, Politeness};
use connector_sdk::{ErrorKind, Secret};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::fast;
use crate::server::{Server, Step, form_field};

pub const KEY: &str = include_str!("../data/test-only-service-account.json");
const PUBLIC_KEY: &str = include_str!("../data/test-only-service-account.pub.pem");

/// The token endpoint's usual answer: `tok-<n>` for the n-th request, valid an hour.
pub fn issued() -> Step {
    Step::json(r#"{"access_token":"tok-{n}","token_type":"Bearer","expires_in":3600}"#)
}

pub fn http() -> HttpClient {
    HttpClient::new(Politeness::new(fast()).expect("policy")).expect("client")
}

pub fn credentials(server: &Server) -> ClientCredentials {
    ClientCredentials::new(
        http(),
        server.url("/token"),
        "client-1",
        Secret::new("cs-0001"),
    )
    .with_scopes(["https://graph.microsoft.com/.default", "offline"])
}

/// Makes `calls` GETs of `/api` (answered by `api`) authenticated by client credentials
/// (the token endpoint answering `token`); returns what the last came to, the token
/// endpoint's request count, and the `Authorization` values the API saw.
async fn check(api: Vec<Step>, token: Vec<Step>, calls: usize) -> (String, usize, Vec<String>) {
    let server = Server::start().await;
    server.script("/api", api);
    server.script("/token", token);
    let client = http().with_auth(Arc::new(credentials(&server)));
    let mut last = String::new();
    for _ in 0..calls {
        last = match client
            .get_json::<serde_json::Value>(&server.url("/api"))
            .await
        {
            Ok(value) => format!("ok {value}"),
            Err(err) => err.kind.as_str().to_string(),
        };
    }
    let seen = server.seen("/api");
    let authorizations = seen.into_iter().filter_map(|s| s.authorization).collect();
    (last, server.hits("/token"), authorizations)
}

#[tokio::test]
async fn tokens_are_cached_and_sent_as_bearer() {
    let (last, fetches, sent) = check(vec![Step::json("{}")], vec![issued()], 3).await;
    assert_eq!((last.as_str(), fetches), ("ok {}", 1));
    assert_eq!(sent, ["Bearer tok-1", "Bearer tok-1", "Bearer tok-1"]);
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed() {
    let short = Step::json(r#"{"access_token":"tok-{n}","expires_in":0}"#);
    let (last, fetches, sent) = check(vec![Step::json("{}")], vec![short], 2).await;
    assert_eq!((last.as_str(), fetches), ("ok {}", 2));
    assert_eq!(sent, ["Bearer tok-1", "Bearer tok-2"]);
}

#[tokio::test]
async fn a_401_refreshes_the_token_and_retries_once() {
    let api = vec![Step::status(401), Step::json("{}")];
    let (last, fetches, sent) = check(api, vec![issued()], 1).await;
    assert_eq!((last.as_str(), fetches), ("ok {}", 2));
    assert_eq!(sent, ["Bearer tok-1", "Bearer tok-2"]);
}

#[tokio::test]
async fn a_second_401_is_unauthorized() {
    let (last, fetches, sent) = check(vec![Step::status(401)], vec![issued()], 1).await;
    assert_eq!((last.as_str(), fetches), ("unauthorized", 2));
    assert_eq!(sent, ["Bearer tok-1", "Bearer tok-2"]);
}

#[tokio::test]
async fn the_token_endpoint_is_retried_on_5xx_not_on_refusals() {
    let flaky = vec![Step::status(503), Step::status(500), issued()];
    let (last, fetches, _) = check(vec![Step::json("{}")], flaky, 1).await;
    assert_eq!((last.as_str(), fetches), ("ok {}", 3));
    let refused = Step::status(400)
        .body(r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#);
    let (last, fetches, sent) = check(vec![Step::json("{}")], vec![refused], 1).await;
    assert_eq!((last.as_str(), fetches, sent.len()), ("unauthorized", 1, 0));
}

#[tokio::test]
async fn refusals_say_the_oauth_error() {
    let server = Server::start().await;
    server.script(
        "/token",
        [Step::status(401).body(
            r#"{"error":"unauthorized_client","error_description":"client is not allowed"}"#,
        )],
    );
    let err = credentials(&server).token().await.expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert_eq!(
        err.message,
        format!(
            "token endpoint {}: status 401: unauthorized_client: client is not allowed",
            server.url("/token")
        )
    );
}

#[tokio::test]
async fn client_credentials_post_the_form() {
    let server = Server::start().await;
    server.script("/token", [issued()]);
    let token = credentials(&server)
        .with_param("audience", "api.atlassian.com")
        .token()
        .await
        .expect("token");
    assert_eq!(token.expose(), "tok-1");
    let form = &server.seen("/token")[0];
    assert_eq!(form.authorization, None);
    let field = |name| form_field(&form.body, name);
    assert_eq!(field("grant_type").as_deref(), Some("client_credentials"));
    assert_eq!(field("client_id").as_deref(), Some("client-1"));
    assert_eq!(field("client_secret").as_deref(), Some("cs-0001"));
    assert_eq!(
        field("scope").as_deref(),
        Some("https://graph.microsoft.com/.default offline")
    );
    assert_eq!(field("audience").as_deref(), Some("api.atlassian.com"));

    let basic = credentials(&server).with_client_auth(ClientAuth::BasicHeader);
    basic.token().await.expect("token");
    let form = &server.seen("/token")[1];
    // base64("client-1:cs-0001")
    assert_eq!(
        form.authorization.as_deref(),
        Some("Basic Y2xpZW50LTE6Y3MtMDAwMQ==")
    );
    assert_eq!(form_field(&form.body, "client_secret"), None);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let server = Server::start().await;
    server.script(
        "/token",
        [issued().delay(std::time::Duration::from_millis(100))],
    );
    server.script("/api", [Step::json("{}")]);
    let client = http().with_auth(Arc::new(credentials(&server)));
    let url = server.url("/api");
    let calls = (0..10).map(|_| client.get_json::<serde_json::Value>(&url));
    for result in futures::future::join_all(calls).await {
        result.expect("ok");
    }
    assert_eq!(server.hits("/token"), 1);
    assert_eq!(server.hits("/api"), 10);
}

/// The claims of an assertion the token endpoint received, its signature checked with the
/// test key's public half and its audience with `token_uri`.
fn verified_claims(form: &str, token_uri: &str) -> serde_json::Value {
    let assertion = form_field(form, "assertion").expect("an assertion");
    let header = jsonwebtoken::decode_header(&assertion).expect("header");
    assert_eq!(
        header.kid.as_deref(),
        Some("test-only-0000000000000000000000000000")
    );
    let public = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).expect("public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[token_uri]);
    jsonwebtoken::decode::<serde_json::Value>(&assertion, &public, &validation)
        .expect("signed by the service account's key")
        .claims
}

#[tokio::test]
async fn service_accounts_exchange_a_signed_jwt() {
    let server = Server::start().await;
    server.script("/token", [issued()]);
    let token_uri = server.url("/token");
    let key = ServiceAccountKey::from_json(KEY)
        .expect("key")
        .with_token_uri(&token_uri);
    let scopes = ["https://www.googleapis.com/auth/drive.readonly"];
    let admin = ServiceAccount::new(http(), &key, scopes).expect("account");
    assert_eq!(admin.token().await.expect("token").expose(), "tok-1");
    let alice = admin.for_subject("alice@example.com");
    assert_eq!(alice.token().await.expect("token").expose(), "tok-2");
    // Each subject caches its own token.
    assert_eq!(admin.token().await.expect("token").expose(), "tok-1");
    assert_eq!(server.hits("/token"), 2);

    let seen = server.seen("/token");
    let grant = form_field(&seen[0].body, "grant_type");
    assert_eq!(
        grant.as_deref(),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    let claims = verified_claims(&seen[0].body, &token_uri);
    assert_eq!(
        claims["iss"],
        "test-only@tributary-test-only.iam.gserviceaccount.com"
    );
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/drive.readonly"
    );
    assert_eq!(claims["aud"], token_uri.as_str());
    assert!(claims.get("sub").is_none());
    let claims = verified_claims(&seen[1].body, &token_uri);
    assert_eq!(claims["sub"], "alice@example.com");
}

const CERTIFICATE: &str = include_str!("../data/test-only-app-certificate.pem");

#[tokio::test]
async fn a_certificate_proves_the_client_with_a_signed_assertion() {
    let server = Server::start().await;
    server.script("/token", [issued()]);
    let token_uri = server.url("/token");
    let credentials = ClientCredentials::with_certificate(
        http(),
        &token_uri,
        "client-1",
        &Secret::new(CERTIFICATE),
    )
    .expect("certificate")
    .with_scopes(["https://graph.microsoft.com/.default"]);
    assert!(!format!("{credentials:?}").contains("PRIVATE"));
    assert_eq!(credentials.token().await.expect("token").expose(), "tok-1");
    let form = &server.seen("/token")[0].body;
    let field = |name| form_field(form, name);
    assert_eq!(field("grant_type").as_deref(), Some("client_credentials"));
    assert_eq!(field("client_id").as_deref(), Some("client-1"));
    assert_eq!(field("client_secret"), None);
    assert_eq!(
        field("client_assertion_type").as_deref(),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let assertion = field("client_assertion").expect("an assertion");
    let header = jsonwebtoken::decode_header(&assertion).expect("header");
    // base64url of the SHA-1 fingerprint in tests/data/README.md.
    assert_eq!(header.x5t.as_deref(), Some("1scdNLXEM-HILlvnBmzygVnp_mM"));
    let public = DecodingKey::from_rsa_pem(
        include_str!("../data/test-only-app-certificate.pub.pem").as_bytes(),
    )
    .expect("public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[token_uri.as_str()]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(&assertion, &public, &validation)
        .expect("signed by the certificate's key")
        .claims;
    assert_eq!(
        (&claims["iss"], &claims["sub"]),
        (&"client-1".into(), &"client-1".into())
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() == 32));

    let refused = ClientCredentials::with_certificate(
        http(),
        &token_uri,
        "client-1",
        &Secret::new("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----"),
    )
    .expect_err("not a certificate");
    assert_eq!(refused.kind, ErrorKind::Permanent);
    assert!(
        refused.message.contains("client certificate"),
        "{}",
        refused.message
    );
}

#[tokio::test]
async fn invalid_grant_is_unauthorized() {
    let server = Server::start().await;
    server.script(
        "/token",
        [Step::status(400)
            .body(r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#)],
    );
    let key = ServiceAccountKey::from_json(KEY)
        .expect("key")
        .with_token_uri(server.url("/token"));
    let account = ServiceAccount::new(http(), &key, ["s"]).expect("account");
    let err = account.token().await.expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert!(
        err.message
            .ends_with("status 400: invalid_grant: Invalid JWT Signature."),
        "{err}"
    );
}

#[tokio::test]
async fn the_password_grant_posts_the_owner_and_never_echoes_the_password() {
    let server = Server::start().await;
    server.script(
        "/token",
        [
            issued(),
            Step::status(401).body(
                r#"{"error":"server_error","error_description":"access_denied for pw-secret-9"}"#,
            ),
        ],
    );
    let grant = || {
        ClientCredentials::new(
            http(),
            server.url("/token"),
            "client-1",
            Secret::new("cs-0001"),
        )
        .with_password_grant("integration.user", Secret::new("pw-secret-9"))
    };
    let credentials = grant();
    assert_eq!(credentials.token().await.expect("token").expose(), "tok-1");
    let form = &server.seen("/token")[0];
    let field = |name| form_field(&form.body, name);
    assert_eq!(field("grant_type").as_deref(), Some("password"));
    assert_eq!(field("username").as_deref(), Some("integration.user"));
    assert_eq!(field("password").as_deref(), Some("pw-secret-9"));
    assert_eq!(field("client_id").as_deref(), Some("client-1"));
    assert_eq!(field("client_secret").as_deref(), Some("cs-0001"));
    assert!(!format!("{credentials:?}").contains("pw-secret-9"));
    let err = grant().token().await.expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Unauthorized);
    assert!(!err.message.contains("pw-secret-9"), "{err}");
    assert!(err.message.contains("access_denied"), "{err}");
}
