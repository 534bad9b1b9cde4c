use super::*;

fn file(json: &str) -> IdentitiesFile {
    IdentitiesFile::parse(json.as_bytes()).expect("valid identities file")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn nested_groups_expand_transitively_within_their_namespace_and_cycles_end() {
    let f = file(
        r#"{"users": {"Alice@Example.com": ["backend"], "bob@example.com": []},
            "groups": {"backend": ["engineering"], "engineering": ["all-staff", "backend"]}}"#,
    );
    let ids = Identities::from_file(&f, ["docs"]);
    assert_eq!(
        ids.principals("alice@EXAMPLE.com"),
        [
            "user:alice@example.com",
            "everyone",
            "domain:example.com",
            "group:docs:all-staff",
            "group:docs:backend",
            "group:docs:engineering",
        ]
    );
    assert_eq!(
        ids.principals("bob@example.com"),
        ["user:bob@example.com", "everyone", "domain:example.com"]
    );
    assert!(ids.knows("BOB@example.com") && !ids.knows("eve@example.com"));
    let paths: Vec<(String, Vec<String>)> = ids
        .derive("alice@example.com")
        .into_iter()
        .skip(3)
        .map(|d| (d.principal, d.path))
        .collect();
    assert_eq!(
        paths[0],
        (
            "group:docs:all-staff".to_string(),
            strings(&[
                "user:alice@example.com",
                "group:docs:backend",
                "group:docs:engineering",
                "group:docs:all-staff"
            ])
        )
    );
}

#[test]
fn a_group_of_one_namespace_is_not_a_group_of_another() {
    let mut ids = Identities::new();
    let mut wiki = Memberships::default();
    wiki.add(Membership::UserInGroup {
        user: "ann@example.com".into(),
        group: "engineering".into(),
    });
    let mut drive = Memberships::default();
    drive.add(Membership::UserInGroup {
        user: "ben@example.com".into(),
        group: "engineering".into(),
    });
    // Nesting in one namespace does not leak into another.
    drive.add(Membership::GroupInGroup {
        child: "engineering".into(),
        parent: "staff".into(),
    });
    ids.add("wiki", Provider::StoredCrawl, &wiki);
    ids.add("drive", Provider::StoredCrawl, &drive);
    assert_eq!(
        ids.principals("ann@example.com")[3..],
        ["group:wiki:engineering"]
    );
    assert_eq!(
        ids.principals("ben@example.com")[3..],
        ["group:drive:engineering", "group:drive:staff"]
    );
}

#[test]
fn aliases_map_a_sources_user_ids_to_one_person() {
    let mut slack = Memberships::default();
    slack.add(Membership::UserEmail {
        user: "U024BE7LH".into(),
        email: "Alice@Example.com".into(),
    });
    slack.add(Membership::UserInGroup {
        user: "U024BE7LH".into(),
        group: "C1".into(),
    });
    let mut ids = Identities::new();
    ids.add("slack", Provider::StoredCrawl, &slack);
    let mut config = BTreeMap::new();
    config.insert("alice.w".to_string(), "alice@example.com".to_string());
    ids.add_aliases("sp", &config);
    let derived = ids.derive("alice@example.com");
    let got: Vec<(&str, Vec<&str>, Option<Provider>)> = derived
        .iter()
        .skip(3)
        .map(|d| {
            (
                d.principal.as_str(),
                d.path.iter().map(String::as_str).collect(),
                d.provider,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "user:alice.w",
                vec!["user:alice@example.com", "user:alice.w"],
                Some(Provider::Config)
            ),
            (
                "user:u024be7lh",
                vec!["user:alice@example.com", "user:u024be7lh"],
                Some(Provider::StoredCrawl)
            ),
            (
                "group:slack:C1",
                vec!["user:alice@example.com", "user:u024be7lh", "group:slack:C1"],
                Some(Provider::StoredCrawl)
            ),
        ]
    );
    assert!(ids.knows("ALICE@example.com"));
}

#[test]
fn memberships_count_and_check_their_format() {
    let mut m = IdentitiesFile::parse(
        br#"{"users": {"A@x.io": ["g"], "a@x.io": ["h"]}, "groups": {"g": ["h"]}}"#,
    )
    .expect("valid")
    .memberships();
    assert_eq!(m.users.len(), 1, "user ids differing in case merge");
    assert_eq!((m.user_count(), m.group_count(), m.len()), (1, 2, 3));
    assert!(!m.add(Membership::UserInGroup {
        user: "A@X.IO".into(),
        group: "g".into()
    }));
    m.check_format().expect("this build's format");
    m.format = MEMBERSHIPS_FORMAT + 1;
    assert!(m.check_format().is_err());
    let json = serde_json::to_string(&Memberships::default()).expect("json");
    assert_eq!(json, r#"{"format":1,"users":{},"groups":{},"aliases":{}}"#);
}

#[test]
fn unknown_keys_are_refused() {
    assert!(IdentitiesFile::parse(br#"{"user": {}}"#).is_err());
}

#[test]
fn groups_are_namespaced_in_the_index_and_nothing_else_is() {
    let mut acl = Acl::default();
    acl.allow.insert(Principal::group("eng"));
    acl.allow.insert(Principal::user("Al@X.io"));
    acl.allow.insert(Principal::domain("x.io"));
    acl.deny.insert(Principal::group("interns"));
    acl.deny.insert(Principal::Everyone);
    assert_eq!(
        acl_terms(&acl, "wiki"),
        (
            strings(&["user:al@x.io", "group:wiki:eng", "domain:x.io"]),
            strings(&["group:wiki:interns", "everyone"])
        )
    );
    assert!(valid_namespace("team-a_1") && !valid_namespace("a:b") && !valid_namespace(""));
}

#[test]
fn deny_wins_and_an_empty_allow_list_shows_nothing() {
    let me = strings(&["user:a@x.io", "everyone", "group:s:eng"]);
    let allow = strings(&["group:s:eng", "everyone"]);
    let d = explain(&allow, &strings(&["user:a@x.io"]), &me);
    assert_eq!(
        (d.visible, d.decided_by.as_deref()),
        (false, Some("user:a@x.io"))
    );
    let d = explain(&allow, &[], &me);
    assert_eq!(
        (d.visible, d.decided_by.as_deref()),
        (true, Some("group:s:eng"))
    );
    let d = explain(&[], &[], &me);
    assert_eq!(
        (d.visible, d.decided_by.as_deref()),
        (false, Some("no allow entry"))
    );
    let d = explain(&strings(&["group:other:eng"]), &[], &me);
    assert_eq!((d.visible, d.decided_by), (false, None));
}
