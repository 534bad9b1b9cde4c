//! No secret of a Jira source — the API token, the basic-auth header made from it —
//! appears in what `tributary` prints at `-vv` through a check, an identity sync, content
//! syncs, `status` and `runs --json`, even when a call is refused mid-run.

use base64::Engine as _;
use fake_jira::{Fault, Route, When};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_printed_at_vv() {
    let t = super::Site::new("UTC").await;
    t.issue("OPS", "Printed", "nothing secret here", "bob");
    t.fake.inject(
        Route::SearchJql,
        When::Nth(1),
        Fault::status(
            401,
            &serde_json::json!({"errorMessages": ["expired"], "errors": {}}),
        ),
    );
    let (email, token) = t.fake.world().credentials(&t.user("admin"));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        format!(
            "[index]\npath = \"data\"\n\n[[sources]]\nid = \"jira\"\ntype = \"jira\"\n\
             base_url = \"{}\"\nemail = \"{email}\"\napi_token_env = \"TRIBUTARY_TEST_JIRA_TOKEN\"\n\
             projects = [\"OPS\"]\n",
            t.fake.url()
        ),
    )
    .expect("config");
    let secret = token.clone();
    let output = tokio::task::spawn_blocking(move || {
        let envs = [("TRIBUTARY_TEST_JIRA_TOKEN".to_string(), secret)];
        let output = crate::support::cli_output_of_a_sync(&config, "jira", &envs);
        drop(dir);
        output
    })
    .await
    .expect("cli runs");
    assert!(output.contains("sync finished"), "{output}");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"));
    for secret in [&token, &basic] {
        assert!(
            !output.contains(secret.as_str()),
            "a secret leaked: {secret}"
        );
    }
}
