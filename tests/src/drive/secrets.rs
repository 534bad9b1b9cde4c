//! No secret of a Drive source — the service account's private key, the signed assertions,
//! the access tokens Google issued — appears in what `tributary` prints at `-vv`, in
//! `check`, a sync with an identity crawl, `status` or `runs --json`, even when a token
//! is refused mid-run.

use fake_drive::{Fault, Route, When};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_output_at_the_highest_verbosity() {
    let d = super::Drive::new().await;
    d.fake
        .inject(Route::FilesDownload, When::Nth(1), Fault::auth_error());
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("drive-sa.json");
    let key = d.fake.service_account_json();
    std::fs::write(&key_file, &key).expect("key file");
    let config = dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        format!(
            "[index]\npath = \"data\"\n\n[[sources]]\nid = \"drive\"\ntype = \"google-drive\"\n\
             credentials_file = \"drive-sa.json\"\nadmin_email = \"admin@example.com\"\n\
             api_url = \"{}\"\n",
            d.fake.url()
        ),
    )
    .expect("config");
    // The CLI runs in its own process; the fake serves it from this test's runtime.
    let output = tokio::task::spawn_blocking(move || {
        crate::support::cli_output_of_a_sync(&config, "drive", &[])
    })
    .await
    .expect("cli runs");
    assert!(output.contains("sync finished"), "{output}");

    let parsed: serde_json::Value = serde_json::from_str(&key).expect("key json");
    let private_key = parsed["private_key"].as_str().expect("private key");
    let mut secrets: Vec<String> = private_key
        .lines()
        .filter(|l| l.len() > 20 && !l.starts_with("-----"))
        .map(str::to_string)
        .collect();
    let tokens = d.fake.issued_tokens();
    assert!(tokens.len() >= 4, "tokens were issued: {}", tokens.len());
    secrets.extend(tokens.into_iter().map(|(token, _, _)| token));
    secrets.push("BEGIN PRIVATE KEY".into());
    for secret in &secrets {
        assert!(
            !output.contains(secret.as_str()),
            "a secret leaked: {secret}"
        );
    }
}
