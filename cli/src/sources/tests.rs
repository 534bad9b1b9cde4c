//! The registry and the split of a `[[sources]]` table between the binary and its
//! connector, on the real source types and on a fake SaaS one with a secret.

use std::path::Path;
use std::sync::Arc;

use connector_sdk::{
    ConfigProblem, Connector, ConnectorError, ErasedSourceType, ErrorKind, Secret, SourceType,
};
use serde::Deserialize;

use super::SOURCE_TYPES;
use crate::config::{Config, Problems};

/// What a SaaS connector's config looks like: an endpoint URL with a default, a secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WikiConfig {
    #[serde(default = "default_endpoint")]
    endpoint_url: String,
    api_token: Secret,
    #[serde(default)]
    spaces: Vec<String>,
}

fn default_endpoint() -> String {
    "https://wiki.example.com/api".into()
}

#[derive(Debug, Clone, Copy)]
struct WikiType;

impl SourceType for WikiType {
    const KIND: &'static str = "wiki";
    type Config = WikiConfig;

    fn validate(&self, config: &WikiConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if !config.endpoint_url.starts_with("https://") {
            problems.push(ConfigProblem::new(
                "endpoint_url",
                "must start with https://",
            ));
        }
        if !config.api_token.expose().starts_with("wk-") {
            problems.push(ConfigProblem::new(
                "api_token",
                format!("{} does not start with wk-", config.api_token),
            ));
        }
        problems
    }

    fn build(&self, _config: &WikiConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
        Err(ConnectorError::new(ErrorKind::Permanent, "a fake"))
    }
}

const WITH_WIKI: &[&dyn ErasedSourceType] = &[&super::FilesystemType, &super::S3Type, &WikiType];

fn problems(text: &str) -> Problems {
    Config::parse_with(text, Path::new("/base"), "t.toml", WITH_WIKI).expect_err("invalid")
}

fn keys(problems: &Problems) -> Vec<&str> {
    problems.problems.iter().map(|p| p.key.as_str()).collect()
}

fn message<'p>(problems: &'p Problems, key: &str) -> &'p str {
    match problems.problems.iter().find(|p| p.key == key) {
        Some(p) => &p.message,
        None => panic!("no problem with {key}: {problems}"),
    }
}

#[test]
fn the_registry_names_each_type_once_in_lowercase() {
    let kinds: Vec<&str> = SOURCE_TYPES.iter().map(|t| t.kind()).collect();
    assert_eq!(
        kinds,
        [
            "filesystem",
            "s3",
            "google-drive",
            "sharepoint",
            "slack",
            "servicenow",
            "jira",
            "process",
            "push"
        ]
    );
    for kind in kinds {
        assert!(
            kind.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'),
            "{kind}"
        );
    }
}

#[test]
fn problems_across_common_and_connector_keys_are_all_reported_with_their_paths() {
    let err = problems(
        r#"
[[sources]]
id = "a:b"
type = "filesystem"
group_namespace = 7
aliases = { "U1" = "nope" }
roots = "typo"
watch = "yes"
include = ["ok/**", "[bad"]
rescan_minutes = 0
[[sources]]
id = "bucket"
type = "s3"
prefix = "a/"
prefixes = ["b/"]
concurrency = "lots"
"#,
    );
    assert_eq!(
        keys(&err),
        [
            "sources[0].id",
            "sources[0].group_namespace",
            "sources[0].aliases.U1",
            "sources[0].roots",
            "sources[0].watch",
            "sources[0].root",
            "sources[0].rescan_minutes",
            "sources[0].include[1]",
            "sources[1].concurrency",
            "sources[1].bucket",
            "sources[1].prefixes",
        ],
        "{err}"
    );
    assert_eq!(
        message(&err, "sources[0].root"),
        "missing (the folder to sync)"
    );
    assert_eq!(
        message(&err, "sources[1].bucket"),
        "missing (the bucket to sync)"
    );
}

#[test]
fn an_unknown_or_missing_type_lists_the_known_types() {
    let err = problems("[[sources]]\nid = \"x\"\ntype = \"ftp\"\nhost = \"h\"\n");
    // Only the type: the keys of a type nobody knows are nobody's to judge.
    assert_eq!(keys(&err), ["sources[0].type"], "{err}");
    assert_eq!(
        message(&err, "sources[0].type"),
        "unknown source type \"ftp\" (one of: filesystem, s3, wiki)"
    );
    let err = problems("[[sources]]\nid = \"x\"\n");
    assert_eq!(
        message(&err, "sources[0].type"),
        "missing (one of: filesystem, s3, wiki)"
    );
}

#[test]
fn an_unknown_key_in_a_connector_table_is_an_error_with_its_path() {
    let err = problems(
        "[[sources]]\nid = \"d\"\ntype = \"filesystem\"\nroot = \"docs\"\nwatcher = true\n",
    );
    assert_eq!(keys(&err), ["sources[0].watcher"], "{err}");
    assert_eq!(
        message(&err, "sources[0].watcher"),
        "unknown key (known keys: id, type, group_namespace, aliases, schedule, root, \
         acl_file, default_access, include, exclude, watch, rescan_minutes)"
    );
}

#[test]
fn schedule_problems_are_reported_with_their_paths_and_kinds_a_source_cannot_do_are_refused() {
    let err = problems(
        "[daemon]\nlisten = \"nowhere\"\n[[sources]]\nid = \"d\"\ntype = \"filesystem\"\n\
         root = \"docs\"\nschedule = { content = \"every day\", identities = \"1h\", \
         permissions = \"off\", time_zone = \"Mars/Olympus\" }\n",
    );
    assert_eq!(
        keys(&err),
        [
            "daemon.listen",
            "sources[0].schedule.time_zone",
            "sources[0].schedule.content"
        ],
        "{err}"
    );
    // Once the spec is right, the kind the source cannot do is the problem.
    let err = problems(
        "[[sources]]\nid = \"d\"\ntype = \"filesystem\"\nroot = \"docs\"\n\
         schedule = { content = \"5m\", identities = \"1h\" }\n",
    );
    assert_eq!(keys(&err), ["sources[0].schedule.identities"], "{err}");
    assert!(
        message(&err, "sources[0].schedule.identities").contains("no directory"),
        "{err}"
    );
    let err = problems(
        "[[sources]]\nid = \"d\"\ntype = \"filesystem\"\nroot = \"docs\"\n\
         schedule = { colour = \"blue\" }\n",
    );
    assert_eq!(keys(&err), ["sources[0].schedule"], "{err}");
}

#[test]
fn a_wrong_type_names_the_key() {
    let err = problems(
        "[[sources]]\nid = \"b\"\ntype = \"s3\"\nbucket = \"docs\"\nconcurrency = \"8\"\n\
         include = [\"a/**\", 3]\nforce_path_style = 1\n",
    );
    assert_eq!(
        message(&err, "sources[0].concurrency"),
        "expected an integer, found string"
    );
    assert_eq!(
        message(&err, "sources[0].include[1]"),
        "expected a string, found integer"
    );
    assert_eq!(
        message(&err, "sources[0].force_path_style"),
        "expected true or false, found integer"
    );
}

#[test]
fn a_secret_never_appears_in_a_problem_or_a_debug_print() {
    let source = "[[sources]]\nid = \"w\"\ntype = \"wiki\"\n";
    for (token, key_message) in [
        ("12345678", "expected a string, found integer"),
        ("[\"hunter2-token\"]", "expected a string, found array"),
        (
            "{ value = \"hunter2-token\" }",
            "expected a string, found table",
        ),
        ("\"hunter2-token\"", "**redacted** does not start with wk-"),
    ] {
        let err = problems(&format!("{source}api_token = {token}\n"));
        assert_eq!(message(&err, "sources[0].api_token"), key_message);
        let shown = err.to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains("12345678"),
            "{shown}"
        );
    }
    // A syntax error on the secret's line says where, not what the line holds.
    let err = problems(&format!("{source}api_token = \"hunter2-token\n"));
    assert_eq!(keys(&err), ["(syntax)"], "{err}");
    assert!(err.to_string().contains("line 4"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let config = Config::parse_with(
        &format!(
            "{source}api_token = \"wk-hunter2\"\nendpoint_url = \"https://wiki.eu.example.com\"\n"
        ),
        Path::new("/base"),
        "t.toml",
        WITH_WIKI,
    )
    .expect("valid");
    let wiki = config.sources[0]
        .connector
        .config()
        .downcast_ref::<WikiConfig>()
        .expect("a wiki source");
    assert_eq!(wiki.endpoint_url, "https://wiki.eu.example.com");
    assert!(wiki.spaces.is_empty());
    assert!(!format!("{config:?}").contains("hunter2"));
    let err = config.sources[0].build().err().expect("a fake");
    assert_eq!(err.to_string(), "source w: a fake (permanent)");
}
