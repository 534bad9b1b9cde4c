//! Identities come from the sources: group names of two sources never collide, users are
//! one person across sources (by email, case-insensitively, or through an alias), and an
//! identity sync stores a directory only when its crawl is complete.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use connector_sdk::{Change, Connector, ConnectorError, ErrorKind, Membership, Principal};
use sync_core::identities::{Identities, IdentitiesFile};
use sync_core::{Engine, RunMode, RunState, Source, SyncOptions};

use crate::scripted::{Scripted, complete, member, upsert};
use crate::support::{counts, set, sync, visible};

/// Two scripted sources in one engine, each with one document readable by its own group
/// `engineering`.
struct TwoSources {
    engine: Engine,
    wiki: (Arc<Scripted>, Source),
    drive: (Arc<Scripted>, Source),
    _dir: tempfile::TempDir,
}

fn scripted(id: &str, doc: &str) -> (Arc<Scripted>, Source) {
    let connector = Arc::new(Scripted::default());
    connector.then_list(vec![upsert(doc, "v1", "engineering"), complete()]);
    connector.text(doc, &format!("{doc}: the engineering roadmap"));
    let source = Source::new(id, Arc::clone(&connector) as Arc<dyn Connector>);
    (connector, source)
}

impl TwoSources {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path()).expect("engine");
        let (wiki, drive) = (scripted("wiki", "w1"), scripted("drive", "d1"));
        for (_, source) in [&wiki, &drive] {
            let report = sync(&engine, source, &SyncOptions::default()).await;
            assert_eq!(report.state, RunState::Succeeded, "{report:?}");
        }
        TwoSources {
            engine,
            wiki,
            drive,
            _dir: dir,
        }
    }

    /// Runs an identity sync of `source` whose directory yields `facts`.
    async fn directory(
        &self,
        (connector, source): &(Arc<Scripted>, Source),
        facts: Vec<Result<Membership, ConnectorError>>,
        options: &SyncOptions,
    ) -> sync_core::RunReport {
        connector.then_directory(facts);
        self.engine
            .sync_identities(source, options)
            .await
            .expect("identity sync starts")
    }

    /// Identities as a search builds them: what identity syncs stored.
    fn stored(&self) -> Identities {
        let mut ids = Identities::new();
        ids.add_stored(self.engine.store())
            .expect("stored memberships");
        ids
    }
}

fn alias(user: &str, email: &str) -> Result<Membership, ConnectorError> {
    Ok(Membership::UserEmail {
        user: user.into(),
        email: email.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_engineering_of_one_source_is_not_group_engineering_of_another() {
    let t = TwoSources::new().await;
    let opts = SyncOptions::default();
    let report = t
        .directory(
            &t.wiki,
            vec![member("ann@example.com", "engineering")],
            &opts,
        )
        .await;
    assert_eq!(
        (report.mode, report.state),
        (RunMode::Identities, RunState::Succeeded)
    );
    t.directory(
        &t.drive,
        vec![member("ben@example.com", "engineering")],
        &opts,
    )
    .await;
    let ids = t.stored();
    assert_eq!(visible(&t.engine, &ids, "ann@example.com"), set(&["w1"]));
    assert_eq!(visible(&t.engine, &ids, "ben@example.com"), set(&["d1"]));
    // The index holds each source's group in the source's namespace.
    let terms: BTreeSet<(String, Vec<String>)> = t
        .engine
        .index()
        .all_chunks()
        .expect("chunks")
        .into_iter()
        .map(|c| (c.doc_id, c.acl_allow))
        .collect();
    assert_eq!(
        terms,
        BTreeSet::from([
            (
                "d1".to_string(),
                vec!["group:drive:engineering".to_string()]
            ),
            ("w1".to_string(), vec!["group:wiki:engineering".to_string()]),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_one_person_across_namespaces_whatever_the_case_of_their_email() {
    let t = TwoSources::new().await;
    // The wiki's directory names her in capitals; the identities file, for the drive, in
    // lower case; she searches in a third spelling.
    t.directory(
        &t.wiki,
        vec![member("CAT@Example.COM", "engineering")],
        &SyncOptions::default(),
    )
    .await;
    let mut ids = t.stored();
    let file = IdentitiesFile::parse(br#"{"users": {"cat@example.com": ["engineering"]}}"#)
        .expect("identities file");
    ids.add_file(&file, ["drive"]);
    assert_eq!(
        visible(&t.engine, &ids, "Cat@example.com"),
        set(&["d1", "w1"])
    );
    // Without the file, the drive's group is not hers.
    assert_eq!(
        visible(&t.engine, &t.stored(), "cat@example.com"),
        set(&["w1"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_maps_a_sources_user_id_to_an_email() {
    let t = TwoSources::new().await;
    let opts = SyncOptions::default();
    // The drive names people by id, and says whose id it is.
    t.directory(
        &t.drive,
        vec![
            alias("U024BE7LH", "dan@example.com"),
            member("U024BE7LH", "engineering"),
        ],
        &opts,
    )
    .await;
    // The wiki names them by login; the configuration says whose login it is.
    t.directory(&t.wiki, vec![member("dan.w", "engineering")], &opts)
        .await;
    let mut ids = t.stored();
    assert_eq!(visible(&t.engine, &ids, "dan@example.com"), set(&["d1"]));
    ids.add_aliases(
        "wiki",
        &BTreeMap::from([("Dan.W".into(), "DAN@example.com".into())]),
    );
    assert_eq!(
        visible(&t.engine, &ids, "dan@example.com"),
        set(&["d1", "w1"])
    );
    // An ACL naming the source's user id is the person's too.
    let (connector, source) = &t.drive;
    let mut doc = connector_sdk::RemoteDocument::new("d2", "v1", connector_sdk::Acl::default());
    doc.acl.allow.insert(Principal::user("U024BE7LH"));
    doc.content_type = Some("text/plain".into());
    connector.then_list(vec![
        upsert("d1", "v1", "engineering"),
        Ok(Change::Upsert(doc)),
        complete(),
    ]);
    connector.text("d2", "d2: a direct message");
    sync(&t.engine, source, &opts).await;
    assert_eq!(
        visible(&t.engine, &ids, "dan@example.com"),
        set(&["d1", "d2", "w1"])
    );
    assert_eq!(visible(&t.engine, &ids, "eve@example.com"), set(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_oversized_crawl_keeps_the_stored_directory() {
    let t = TwoSources::new().await;
    let opts = SyncOptions::default();
    let first = t
        .directory(
            &t.wiki,
            vec![
                member("ann@example.com", "engineering"),
                Ok(Membership::GroupInGroup {
                    child: "engineering".into(),
                    parent: "staff".into(),
                }),
            ],
            &opts,
        )
        .await;
    assert_eq!(
        (
            first.counts.users,
            first.counts.groups,
            first.counts.memberships
        ),
        (1, 2, 2)
    );
    let stored = t.engine.store().memberships("wiki").expect("read");
    assert!(stored.is_some());

    // The crawl breaks halfway: ann would lose her group if the half were stored.
    let failed = t
        .directory(
            &t.wiki,
            vec![
                member("ben@example.com", "engineering"),
                Err(ConnectorError::new(
                    ErrorKind::Transient,
                    "directory timed out",
                )),
            ],
            &opts,
        )
        .await;
    assert_eq!(
        (failed.mode, failed.state),
        (RunMode::Identities, RunState::Failed)
    );
    assert!(
        failed
            .errors
            .iter()
            .any(|e| e.contains("directory timed out")),
        "{failed:?}"
    );
    assert_eq!(t.engine.store().memberships("wiki").expect("read"), stored);
    assert_eq!(
        visible(&t.engine, &t.stored(), "ann@example.com"),
        set(&["w1"])
    );

    // A directory larger than the bound is refused, not held without limit.
    let small = SyncOptions {
        max_memberships: 2,
        ..SyncOptions::default()
    };
    let refused = t
        .directory(
            &t.wiki,
            ["a", "b", "c"]
                .iter()
                .map(|u| member(&format!("{u}@example.com"), "engineering"))
                .collect(),
            &small,
        )
        .await;
    assert_eq!(refused.state, RunState::Failed);
    assert!(
        refused.errors.iter().any(|e| e.contains("more than 2")),
        "{refused:?}"
    );
    assert_eq!(t.engine.store().memberships("wiki").expect("read"), stored);
    // Every identity run is in the history, with its mode.
    let modes: Vec<(RunMode, RunState)> = t
        .engine
        .store()
        .runs()
        .expect("runs")
        .iter()
        .filter(|r| r.source == "wiki")
        .map(|r| (r.mode, r.state))
        .collect();
    assert_eq!(
        modes,
        [
            (RunMode::Full, RunState::Succeeded),
            (RunMode::Identities, RunState::Succeeded),
            (RunMode::Identities, RunState::Failed),
            (RunMode::Identities, RunState::Failed),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_a_source_to_a_shared_namespace_rewrites_its_acls_without_fetching() {
    let t = TwoSources::new().await;
    let (connector, source) = &t.wiki;
    let shared = source.clone().with_group_namespace("tenant");
    connector.then_list(vec![upsert("w1", "v1", "engineering"), complete()]);
    connector.take_calls();
    let report = sync(&t.engine, &shared, &SyncOptions::default()).await;
    // (scanned, added, modified, deleted, acl_updated, unchanged, skipped, failed)
    assert_eq!(counts(&report), (1, 0, 0, 0, 1, 0, 0, 0), "{report:?}");
    assert!(
        connector
            .take_calls()
            .iter()
            .all(|c| !matches!(c, crate::scripted::Call::Fetch(_))),
        "an ACL-only rewrite fetches nothing"
    );
    let file =
        IdentitiesFile::parse(br#"{"users": {"eve@example.com": ["engineering"]}}"#).expect("file");
    let ids = Identities::from_file(&file, ["tenant"]);
    assert_eq!(visible(&t.engine, &ids, "eve@example.com"), set(&["w1"]));
    // A namespace that would make `group:<ns>:<id>` ambiguous is refused.
    let bad = source.clone().with_group_namespace("a:b");
    assert!(
        t.engine
            .sync_identities(&bad, &SyncOptions::default())
            .await
            .is_err()
    );
}
