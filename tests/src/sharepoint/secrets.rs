//! No secret of a SharePoint source — the client secret, the certificate's private key,
//! the signed client assertions, the access tokens Entra ID issued — appears in what
//! `tributary` prints at `-vv`, in `check`, a sync with an identity crawl, `status` or
//! `runs --json`, even when a token is refused mid-run; with a client secret from the
//! environment and with a certificate file.

use fake_graph::{Fault, Route, When};

/// The SDK's test-only certificate and key (connectors/sdk/tests/data/README.md).
const CERTIFICATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../connectors/sdk/tests/data/test-only-app-certificate.pem"
);

/// Runs the CLI at `-vv` through a check, identity and content syncs, status and runs,
/// with `credential` as the source's credential key(s); returns everything it printed.
async fn output_with(t: &super::Tenant, credential: String) -> String {
    t.fake
        .inject(Route::Content, When::Nth(1), Fault::expired_token());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("tributary.toml");
    let app = t.fake.config();
    std::fs::write(
        &config,
        format!(
            "[index]\npath = \"data\"\n\n[[sources]]\nid = \"sp\"\ntype = \"sharepoint\"\n\
             tenant_id = \"{}\"\nclient_id = \"{}\"\n{credential}\n\
             graph_url = \"{}\"\nauthority_url = \"{}\"\n",
            app.tenant_id,
            app.client_id,
            t.fake.graph_url(),
            t.fake.url()
        ),
    )
    .expect("config");
    let secret = app.client_secret.clone();
    // The CLI runs in its own process; the fake serves it from this test's runtime.
    tokio::task::spawn_blocking(move || {
        let envs = [("TRIBUTARY_TEST_SP_SECRET".to_string(), secret)];
        let output = crate::support::cli_output_of_a_sync(&config, "sp", &envs);
        drop(dir);
        output
    })
    .await
    .expect("cli runs")
}

fn assert_no_secret(t: &super::Tenant, output: &str, mut secrets: Vec<String>) {
    assert!(output.contains("sync finished"), "{output}");
    let tokens = t.fake.issued_tokens();
    assert!(tokens.len() >= 4, "tokens were issued: {}", tokens.len());
    secrets.extend(tokens);
    for secret in &secrets {
        assert!(
            !output.contains(secret.as_str()),
            "a secret leaked: {secret}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_secret_or_token_reaches_the_output() {
    let t = super::Tenant::new().await;
    let output = output_with(
        &t,
        "client_secret_env = \"TRIBUTARY_TEST_SP_SECRET\"".into(),
    )
    .await;
    let secret = t.fake.config().client_secret.clone();
    assert_no_secret(&t, &output, vec![secret]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_private_key_assertion_or_token_reaches_the_output() {
    let t = super::Tenant::new().await;
    let output = output_with(&t, format!("certificate_file = \"{CERTIFICATE}\"")).await;
    let pem = std::fs::read_to_string(CERTIFICATE).expect("certificate");
    let mut secrets: Vec<String> = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .expect("a private key")
        .lines()
        .filter(|l| l.len() > 20 && !l.starts_with("-----"))
        .map(str::to_string)
        .collect();
    secrets.push("PRIVATE KEY".into());
    // A client assertion is a JWT signed with that key: its header would show.
    secrets.push("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIs".into());
    assert_no_secret(&t, &output, secrets);
}
