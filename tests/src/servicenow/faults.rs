//! The instance misbehaving or refusing: pages the integration user's ACLs emptied
//! (`sysparm_limit` applies before ACLs), 429 with `Retry-After`, an OAuth token that
//! expired (401, refresh), credentials refused (the run fails, nothing is deleted), a
//! broken body; and no secret in what `tributary -vv` prints, while the warning names the
//! criteria it could not evaluate.

use connector_sdk::Secret;
use connector_servicenow::AuthMode;
use fake_servicenow::{Fault, Route, When};
use sync_core::RunState;

use super::{Instance, succeeded};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_emptied_by_acls_do_not_end_the_walk() {
    let t = Instance::new().await;
    {
        let mut w = t.fake.world();
        let hidden: Vec<String> = (0..5)
            .map(|i| {
                w.add_article(
                    &t.general,
                    &format!("h{i}"),
                    "<p>hidden from the integration user</p>",
                )
            })
            .collect();
        // Pages of two: the first two pages hold only hidden records, the third one of
        // each, the last the visible ones.
        for id in &hidden {
            w.hide(id);
        }
        w.add_article(&t.general, "Visible", "<p>zucchini recipe</p>");
        w.add_article(&t.general, "Also visible", "<p>eggplant recipe</p>");
    }
    t.sync_identities().await;
    let report = t.sync().await;
    succeeded(&report);
    assert_eq!(t.hits("dan", "zucchini"), 1, "{report:?}");
    assert_eq!(t.hits("dan", "eggplant"), 1, "{report:?}");
    assert_eq!(t.hits("dan", "hidden"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_broken_bodies_are_waited_out() {
    let t = Instance::new().await;
    for fruit in ["lychee", "durian", "rambutan"] {
        t.article(&t.general, fruit, &format!("<p>{fruit}</p>"));
    }
    t.sync_identities().await;
    t.fake.inject_table(
        Route::TableList,
        "kb_knowledge",
        When::Nth(2),
        Fault::throttled(1),
    );
    t.fake.inject_table(
        Route::TableList,
        "user_criteria",
        When::Nth(1),
        Fault::TruncateJson,
    );
    t.fake.inject_table(
        Route::TableList,
        "kb_knowledge_base",
        When::Nth(1),
        Fault::server_error(503),
    );
    let report = t.sync().await;
    succeeded(&report);
    assert_eq!(t.fake.faulted(), 3, "{report:?}");
    for fruit in ["lychee", "durian", "rambutan"] {
        assert_eq!(t.hits("dan", fruit), 1, "{fruit}: {report:?}");
    }
    // The instance's own rate-limit rule: 429s with Retry-After once it is used up.
    t.fake.clear_faults();
    t.fake.set_rate_limit(5, std::time::Duration::from_secs(1));
    t.fake.world().advance(10);
    t.article(&t.general, "Jackfruit", "<p>jackfruit</p>");
    let limited = t.sync().await;
    succeeded(&limited);
    assert_eq!(t.hits("dan", "jackfruit"), 1, "{limited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_tokens_are_refreshed_on_401_and_refused_credentials_fail_the_run() {
    let mut t = Instance::new().await;
    let (id, secret) = (t.fake.client_id(), t.fake.client_secret());
    t.reconfigure(|c| {
        c.auth = AuthMode::OauthPassword;
        c.client_id = Some(id);
        c.client_secret = Some(Secret::new(secret));
    });
    t.article(&t.general, "Onboarding", "<p>badge pickup at reception</p>");
    t.sync_identities().await;
    succeeded(&t.sync().await);
    let before = t.fake.count(Route::OAuthToken);
    assert!(before >= 1);
    t.fake.expire_tokens();
    t.fake.world().advance(10);
    t.article(
        &t.general,
        "Parking",
        "<p>parking permits renew in march</p>",
    );
    let refreshed = t.sync().await;
    succeeded(&refreshed);
    assert!(
        t.fake.count(Route::OAuthToken) > before,
        "a new token was fetched"
    );
    assert_eq!(t.hits("dan", "permits"), 1, "{refreshed:?}");

    // Basic credentials the instance refuses: the run fails, typed, and deletes nothing.
    t.reconfigure(|_| {});
    t.fake.refuse_basic(true);
    let refused = t.full().await;
    assert_eq!(refused.state, RunState::Failed, "{refused:?}");
    let errors = refused.errors.join(" ");
    assert!(
        errors.contains("unauthorized") || errors.contains("401"),
        "{errors}"
    );
    assert!(!errors.contains(&t.fake.password()), "{errors}");
    assert_eq!(t.hits("dan", "badge"), 1, "nothing deleted");
    assert_eq!(t.hits("dan", "permits"), 1, "nothing deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_at_vv_and_the_warning_names_the_unevaluable_criteria() {
    let t = Instance::new().await;
    {
        let mut w = t.fake.world();
        let scripted = w.add_criteria(
            "Night shift by script",
            &[("advanced", "true"), ("script", "answer = true;")],
        );
        let a = w.add_article(&t.general, "Night shift", "<p>night shift rota</p>");
        w.update("kb_knowledge", &a, &[("can_read_user_criteria", &scripted)]);
        let b = w.add_article(&t.general, "Day shift", "<p>day shift rota</p>");
        w.attach(
            "kb_knowledge",
            &b,
            "rota.txt",
            "text/plain",
            b"monday to friday",
        );
    }
    // The OAuth client secret, the password and every token the instance issues must stay
    // out of the output; one token expires mid-run.
    t.fake
        .inject(Route::TableList, When::Nth(4), Fault::unauthorized());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        format!(
            "[index]\npath = \"data\"\n\n[[sources]]\nid = \"snow\"\ntype = \"servicenow\"\n\
             instance_url = \"{}\"\nauth = \"oauth_password\"\nusername = \"{}\"\n\
             password_env = \"TRIBUTARY_TEST_SN_PASSWORD\"\nclient_id = \"{}\"\n\
             client_secret_env = \"TRIBUTARY_TEST_SN_SECRET\"\n",
            t.fake.url(),
            t.fake.username(),
            t.fake.client_id(),
        ),
    )
    .expect("config");
    let envs = vec![
        ("TRIBUTARY_TEST_SN_PASSWORD".to_string(), t.fake.password()),
        (
            "TRIBUTARY_TEST_SN_SECRET".to_string(),
            t.fake.client_secret(),
        ),
    ];
    let output = tokio::task::spawn_blocking(move || {
        let output = crate::support::cli_output_of_a_sync(&config, "snow", &envs);
        drop(dir);
        output
    })
    .await
    .expect("cli runs");
    assert!(output.contains("sync finished"), "{output}");
    assert!(
        output.contains("Night shift by script"),
        "the warning names the criteria: {output}"
    );
    let mut secrets = t.fake.issued_tokens();
    assert!(secrets.len() >= 4, "tokens were issued: {}", secrets.len());
    secrets.push(t.fake.password());
    secrets.push(t.fake.client_secret());
    for secret in &secrets {
        assert!(
            !output.contains(secret.as_str()),
            "a secret leaked: {secret}"
        );
    }
}
