//! No error and no `Debug` of an auth type shows a secret: client secrets, passwords,
//! tokens, assertions, private keys, or query strings.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_sdk::auth::{
    BasicAuth, ClientCredentials, ServiceAccount, ServiceAccountKey, StaticToken, TokenSource,
};
use connector_sdk::http::{
    HttpClient, Outcome, Politeness, PolitenessConfig, Reply, SlackThrottling,
};
use connector_sdk::{ConnectorError, Secret};
use futures::StreamExt;

use crate::auth::KEY;
use crate::fast;
use crate::server::{Server, Step, form_field, resetting_server};

const CLIENT_SECRET: &str = "cs-LEAK-client-secret";
const PASSWORD: &str = "pw-LEAK-password";
const STATIC_TOKEN: &str = "st-LEAK-static-token";
const QUERY_SECRET: &str = "qk-LEAK-query-key";
/// Every token the fake endpoint issues starts with this.
const TOKEN_PREFIX: &str = "tok-LEAK";

fn policy(config: PolitenessConfig) -> Politeness {
    Politeness::new(config).expect("policy")
}

fn http() -> HttpClient {
    HttpClient::new(policy(fast())).expect("client")
}

/// Collects what is formatted and checks it against every secret at the end.
#[derive(Default)]
struct Leaks {
    secrets: Vec<String>,
    texts: Vec<(String, String)>,
}

impl Leaks {
    fn error(&mut self, what: &str, err: &ConnectorError) {
        let mut text = format!("{err}\n{err:?}\n{err:#?}");
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            text.push_str(&format!("\n{cause}\n{cause:?}"));
            source = cause.source();
        }
        self.texts.push((what.to_string(), text));
    }

    fn debug(&mut self, what: &str, value: &dyn std::fmt::Debug) {
        self.texts
            .push((what.to_string(), format!("{value:?}\n{value:#?}")));
    }

    fn check(&self) {
        assert!(self.texts.len() >= 20, "only {} texts", self.texts.len());
        for (what, text) in &self.texts {
            for secret in &self.secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{what} shows {secret:?}: {text}"
                );
            }
        }
    }
}

/// The error of `result`, which must have failed.
fn failed<T>(result: Result<T, ConnectorError>) -> ConnectorError {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(err) => err,
    }
}

#[tokio::test]
async fn no_error_or_debug_shows_a_secret() {
    let server = Server::start().await;
    let mut leaks = Leaks::default();
    let key = ServiceAccountKey::from_json(KEY)
        .expect("key")
        .with_token_uri(server.url("/sa-token"));
    let private_key_line = key
        .private_key
        .expose()
        .lines()
        .nth(2)
        .expect("pem body")
        .to_string();
    leaks.secrets = vec![
        CLIENT_SECRET.into(),
        PASSWORD.into(),
        STATIC_TOKEN.into(),
        QUERY_SECRET.into(),
        TOKEN_PREFIX.into(),
        private_key_line,
    ];
    let secret_query = format!("?key={QUERY_SECRET}&access_token={TOKEN_PREFIX}-q");
    let token = r#"{"access_token":"tok-LEAK-{n}","expires_in":3600}"#;

    // Client credentials: a token endpoint that echoes the secret, then an API that
    // refuses every token.
    server.script(
        "/token",
        [
            Step::status(400).body(&format!(
                r#"{{"error":"invalid_client","error_description":"secret {CLIENT_SECRET} is wrong"}}"#
            )),
            Step::status(400).body(&format!("<html>{CLIENT_SECRET}</html>")),
            Step::json(r#"{"access_token":{"nested":"tok-LEAK-odd"}}"#),
            Step::json(token),
        ],
    );
    let credentials = Arc::new(ClientCredentials::new(
        http(),
        server.url(&format!("/token{secret_query}")),
        "client-1",
        Secret::new(CLIENT_SECRET),
    ));
    for what in ["echoed secret", "html refusal", "odd token"] {
        leaks.error(what, &failed(credentials.token().await));
    }
    server.script("/api", [Step::status(401)]);
    let authed = http().with_auth(credentials.clone());
    let url = server.url(&format!("/api{secret_query}"));
    leaks.error(
        "401 twice",
        &failed(authed.get_json::<serde_json::Value>(&url).await),
    );
    leaks.debug("client credentials", &*credentials);
    leaks.debug("authenticated client", &authed);

    // A service account whose token endpoint echoes the assertion, then issues tokens.
    server.script(
        "/sa-token",
        [
            Step::status(400)
                .body(r#"{"error":"invalid_grant","error_description":"bad {assertion}"}"#),
            Step::json(token),
        ],
    );
    let account = ServiceAccount::new(http(), &key, ["scope-a"]).expect("account");
    leaks.error("echoed assertion", &failed(account.token().await));
    assert!(
        account
            .token()
            .await
            .expect("token")
            .expose()
            .starts_with(TOKEN_PREFIX)
    );
    let alice = account.for_subject("alice@example.com");
    for seen in server.seen("/sa-token") {
        let assertion = form_field(&seen.body, "assertion").expect("assertion");
        leaks
            .secrets
            .push(assertion.split('.').nth(2).expect("signature").to_string());
        leaks.secrets.push(assertion);
    }
    leaks.debug("service account", &account);
    leaks.debug("service account for a subject", &alice);
    leaks.debug("service account key", &key);

    // Static and Basic credentials refused twice.
    let basic = Arc::new(BasicAuth::new("alice", &Secret::new(PASSWORD)));
    let encoded = basic.token().await.expect("token").expose().to_string();
    leaks.secrets.push(encoded);
    let fixed = Arc::new(StaticToken::new(Secret::new(STATIC_TOKEN)));
    for (what, auth) in [
        ("basic", basic.clone() as Arc<dyn TokenSource>),
        ("static", fixed.clone()),
    ] {
        let client = http().with_auth(auth);
        leaks.error(
            what,
            &failed(client.get_json::<serde_json::Value>(&url).await),
        );
        leaks.debug(what, &client);
    }
    leaks.debug("basic auth", &*basic);
    leaks.debug("static token", &*fixed);

    // Failures of calls whose URL carries secrets in its query string.
    let config = PolitenessConfig {
        max_attempts: 2,
        request_timeout: Duration::from_millis(200),
        ..fast()
    };
    let client =
        HttpClient::new(policy(config.clone()).with_classifier(SlackThrottling)).expect("client");
    let scripted: [(&str, Step); 5] = [
        ("server error", Step::status(500)),
        ("timeout", Step::json("{}").delay(Duration::from_secs(2))),
        (
            "slack error",
            Step::json(r#"{"ok":false,"error":"tok-LEAK-in-error"}"#),
        ),
        ("decode", Step::json(r#"{"id":"tok-LEAK-in-body"}"#)),
        (
            "cap",
            Step::json(&format!(r#"{{"pad":"{}"}}"#, "x".repeat(64))),
        ),
    ];
    for (what, step) in scripted {
        server.script("/api", [step]);
        let small = client.clone().with_max_json_bytes(32);
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)] // Only decoded.
        struct Thing {
            id: u64,
        }
        leaks.error(what, &failed(small.get_json::<Thing>(&url).await));
    }
    server.script("/file", [Step::endless()]);
    let file = server.url(&format!("/file{secret_query}"));
    let mut stream = client.get_stream(&file, 1000).await.expect("stream");
    let err = loop {
        if let Err(err) = stream.next().await.expect("an error ends it") {
            break err;
        }
    };
    leaks.error("download cap", &err);
    let (reset_url, _, task) = resetting_server(10).await;
    let reset = format!("{reset_url}{secret_query}");
    leaks.error(
        "reset",
        &failed(client.get_json::<serde_json::Value>(&reset).await),
    );
    task.abort();
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let refused = format!(
        "http://{}/x{secret_query}",
        closed.local_addr().expect("addr")
    );
    drop(closed);
    leaks.error(
        "refused",
        &failed(client.get_json::<serde_json::Value>(&refused).await),
    );
    leaks.error(
        "env",
        &failed(Secret::from_env("TRIBUTARY_SDK_TEST_NO_SUCH_SECRET")),
    );

    // What an attempt hands a custom client.
    let seen = Mutex::new(String::new());
    policy(fast())
        .call("CALL attempt", Some(&*fixed), |attempt| {
            *seen.lock().expect("seen") = format!("{attempt:?}");
            async {
                Outcome::Success {
                    reply: Reply::head(http::StatusCode::OK, http::HeaderMap::new()),
                    value: (),
                }
            }
        })
        .await
        .expect("ok");
    leaks.debug("attempt", &seen.into_inner().expect("seen"));
    leaks.debug("policy", &policy(config));

    leaks.check();
}
