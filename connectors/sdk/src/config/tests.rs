use std::path::Path;

use serde::Deserialize;
use serde_json::json;

use super::*;
use crate::Secret;
use crate::acl_file::DefaultAccess as Access;

#[derive(Debug, Deserialize)]
struct Auth {
    tenant: String,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct SaasConfig {
    endpoint_url: String,
    api_token: Secret,
    #[serde(default)]
    auth: Option<Auth>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default = "sixteen")]
    concurrency: usize,
    #[serde(default)]
    page_size: u32,
    #[serde(default)]
    default_access: Access,
    #[serde(default)]
    watch: bool,
}

fn sixteen() -> usize {
    16
}

#[derive(Debug, Clone, Copy)]
struct SaasType;

impl SourceType for SaasType {
    const KIND: &'static str = "saas";
    type Config = SaasConfig;

    fn describe_key(&self, key: &str) -> Option<&'static str> {
        (key == "endpoint_url").then_some("the API's base URL")
    }

    fn validate(&self, c: &SaasConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if !c.endpoint_url.starts_with("https://") {
            problems.push(ConfigProblem::new(
                "endpoint_url",
                "must start with https://",
            ));
        }
        if !c.api_token.expose().starts_with("tok-") {
            // Says what is wrong without showing the value.
            problems.push(ConfigProblem::new("api_token", "must start with tok-"));
        }
        for (i, glob) in c.include.iter().enumerate() {
            if glob.is_empty() {
                problems.push(ConfigProblem::new(
                    format!("include[{i}]"),
                    "must not be empty",
                ));
            }
        }
        problems.extend(ConfigProblem::out_of_range(
            "concurrency",
            c.concurrency,
            1..=64,
        ));
        problems
    }

    fn profile(&self, c: &SaasConfig) -> SourceProfile {
        SourceProfile::default()
            .with_directory()
            .with_documents_in_flight(c.concurrency)
    }

    fn build(&self, _: &SaasConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
        Err(ConnectorError::new(
            crate::ErrorKind::Permanent,
            "not in tests",
        ))
    }
}

fn problems(table: serde_json::Value) -> Vec<String> {
    let cx = ConfigContext::new("/etc/trib").with_host_keys(&["id", "type"]);
    match SaasType.parse(&table, &cx) {
        Ok(source) => panic!("valid: {source:?}"),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_valid_table_gives_a_configured_source_with_its_profile() {
    let table = json!({
        "id": "s", "type": "saas", "endpoint_url": "https://api.example.com",
        "api_token": "tok-1", "concurrency": 4, "default_access": "everyone",
        "auth": { "tenant": "t1", "scopes": ["read"] }, "page_size": 50, "watch": true,
    });
    let source = SaasType
        .parse(
            &table,
            &ConfigContext::new("/").with_host_keys(&["id", "type"]),
        )
        .expect("valid");
    assert_eq!(source.kind(), "saas");
    assert_eq!(source.profile().documents_in_flight, Some(4));
    assert!(source.profile().has_directory);
    let config = source.config().downcast_ref::<SaasConfig>().expect("typed");
    assert_eq!(
        (config.concurrency, config.default_access),
        (4, Access::Everyone)
    );
    assert_eq!((config.page_size, config.watch), (50, true));
    let auth = config.auth.as_ref().expect("auth");
    assert_eq!(
        (auth.tenant.as_str(), auth.scopes.as_slice()),
        ("t1", &["read".to_string()][..])
    );
    assert!(!format!("{source:?}").contains("tok-1"), "{source:?}");
}

#[test]
fn every_problem_of_shape_and_of_validation_is_reported_at_once() {
    let got = problems(json!({
        "id": "s",
        "api_token": "tok-1",
        "auth": { "tenant": 7, "scopez": [] },
        "include": ["a", 3, "", {}],
        "concurrency": "many",
        "page_size": -1,
        "default_access": "public",
        "watch": "yes",
        "colour": "blue",
    }));
    assert_eq!(
        got,
        [
            "auth.tenant: expected a string, found integer",
            "auth.scopez: unknown key (known keys: tenant, scopes)",
            "include[1]: expected a string, found integer",
            "include[3]: expected a string, found table",
            "concurrency: expected an integer, found string",
            "page_size: -1 is out of range (it may not be negative)",
            "default_access: \"public\" is not \"none\" or \"everyone\"",
            "watch: expected true or false, found string",
            "colour: unknown key (known keys: id, type, endpoint_url, api_token, auth, include, \
             concurrency, page_size, default_access, watch)",
            "endpoint_url: missing (the API's base URL)",
            // `validate` still ran, on what was left: the placeholder at include[1] and the
            // missing endpoint_url are not reported twice, the empty include[2] is.
            "include[2]: must not be empty",
        ]
    );
}

#[test]
fn every_missing_key_is_reported_and_nested_ones_with_their_path() {
    let got = problems(json!({ "auth": {} }));
    assert_eq!(
        got,
        [
            "auth.tenant: missing",
            "endpoint_url: missing (the API's base URL)",
            "api_token: missing",
        ]
    );
}

#[test]
fn a_secret_is_never_echoed_whatever_is_wrong_with_it() {
    for token in [
        json!(123456789),
        json!(["hunter2-x"]),
        json!({ "v": "hunter2-x" }),
    ] {
        let got = problems(json!({
            "endpoint_url": "https://api.example.com", "api_token": token,
        }));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("api_token: expected a string, found"),
            "{got:?}"
        );
        assert!(
            !got[0].contains("hunter2") && !got[0].contains("123456789"),
            "{got:?}"
        );
    }
    let got = problems(json!({
        "endpoint_url": "https://api.example.com", "api_token": "hunter2-x",
    }));
    assert_eq!(got, ["api_token: must start with tok-"]);
}

#[test]
fn deny_unknown_fields_gives_the_same_unknown_key_problems() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        root: String,
        #[serde(default)]
        watch: bool,
    }
    let (value, problems) = read::read::<Strict>(
        &json!({ "roots": "a", "watch": 1, "wtach": true }),
        &["id".to_string()],
        &|_| None,
    );
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "roots: unknown key (known keys: id, root, watch)",
            "watch: expected true or false, found integer",
            "wtach: unknown key (known keys: id, root, watch)",
            "root: missing",
        ]
    );
    // The placeholder value is there for `validate`, never handed to a host.
    assert_eq!(
        value.map(|s| (s.root, s.watch)),
        Some((String::new(), false))
    );
}

#[test]
fn keys_that_are_not_bare_are_quoted_in_paths() {
    let (_, problems) = read::read::<std::collections::BTreeMap<String, u8>>(
        &json!({ "a b": 1, "c": 300, "d": 2 }),
        &[],
        &|_| None,
    );
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems, ["c: 300 is out of range (0..=255)"]);
    let (_, problems) =
        read::read::<std::collections::BTreeMap<String, bool>>(&json!({ "a b": 1 }), &[], &|_| {
            None
        });
    assert_eq!(problems[0].key, "\"a b\"");
}

#[test]
fn keys_in_a_missing_or_bad_table_are_not_reported_again() {
    #[derive(Debug, Deserialize)]
    struct Outer {
        #[serde(rename = "auth")]
        _auth: Auth,
    }
    for table in [json!({}), json!({ "auth": 7 })] {
        let (value, problems) = read::read::<Outer>(&table, &[], &|_| None);
        assert!(value.is_some());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "auth");
    }
    // A type that requires itself cannot be filled in: the read gives up, and says why.
    #[derive(Debug, Deserialize)]
    struct Endless {
        #[serde(rename = "next")]
        _next: Box<Endless>,
    }
    let (value, problems) = read::read::<Endless>(&json!({}), &[], &|_| None);
    assert!(value.is_none());
    assert_eq!(problems, [ConfigProblem::new("next", "missing")]);
}

#[test]
fn relative_paths_resolve_against_the_base_and_empty_ones_stay_empty() {
    let cx = ConfigContext::new("/etc/trib");
    assert_eq!(
        cx.resolve_path(Path::new("docs")),
        Path::new("/etc/trib/docs")
    );
    assert_eq!(cx.resolve_path(Path::new("/srv")), Path::new("/srv"));
    assert_eq!(cx.resolve_path(Path::new("")), Path::new(""));
}
