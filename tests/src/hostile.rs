//! Hostile inputs end as per-document failures; the sync goes on with the rest.

use std::collections::BTreeMap;

use sync_core::{RunState, SyncOptions};

use crate::support::{World, fs_source, set, sync, visible};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_fail_alone() {
    let w = World::new();
    let mut options = SyncOptions::default();
    options.limits.max_input_bytes = 1024 * 1024;

    w.write("good.md", "# Fine\nA perfectly good document.");
    w.write("good.csv", "a,b\n1,2\n");
    w.write("huge.txt", "x".repeat(2 * 1024 * 1024));
    w.write("invalid-utf8.json", b"{\"name\": \"\xff\xfe broken\"}");
    w.write(
        "deep.json",
        format!("{}{}", "[".repeat(1000), "]".repeat(1000)),
    );
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    w.write("garbage.html", &garbage);
    // Deep nesting is no hazard to a token stream: this one is simply extracted.
    w.write(
        "deep.html",
        format!("{}x{}", "<div>".repeat(80_000), "</div>".repeat(80_000)),
    );
    w.write(
        "binary.txt",
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00",
    );
    w.acl(&[("", &[("all", "GROUP", "ALLOW")])]);

    let engine = w.engine();
    let report = sync(&engine, &fs_source(w.config(), None), &options).await;
    assert_eq!(report.state, RunState::Partial, "{report:?}");
    assert_eq!(
        (
            report.counts.added,
            report.counts.failed,
            report.counts.skipped
        ),
        (3, 4, 1)
    );
    let kinds: BTreeMap<&str, (&str, &str)> = report
        .failed_documents
        .iter()
        .map(|f| (f.doc_id.as_str(), (f.stage.as_str(), f.kind.as_str())))
        .collect();
    let expected: BTreeMap<&str, (&str, &str)> = [
        ("huge.txt", ("rules", "too_large")),
        ("invalid-utf8.json", ("extract", "corrupt")),
        ("deep.json", ("extract", "corrupt")),
        ("garbage.html", ("extract", "unsupported")),
        ("binary.txt", ("extract", "unsupported")),
    ]
    .into_iter()
    .collect();
    assert_eq!(kinds, expected);

    let ids = crate::support::file_identities(br#"{"users": {"u@x.io": ["all"]}}"#, &["docs"]);
    assert_eq!(
        visible(&engine, &ids, "u@x.io"),
        set(&["deep.html", "good.csv", "good.md"])
    );

    // Failures are retried on the next run, and still do not block the rest.
    let again = sync(&engine, &fs_source(w.config(), None), &options).await;
    assert_eq!(
        (
            again.counts.unchanged,
            again.counts.failed,
            again.counts.skipped
        ),
        (3, 4, 1)
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_never_lead_out_of_the_root() {
    let w = World::new();
    let outside = w.dir.path().join("outside-secret.txt");
    std::fs::write(&outside, "secret outside the root").expect("write");
    w.write("inside.txt", "inside text");
    std::os::unix::fs::symlink(&outside, w.docs().join("escape.txt")).expect("symlink");
    std::os::unix::fs::symlink(w.docs().join("inside.txt"), w.docs().join("alias.txt"))
        .expect("symlink");
    std::os::unix::fs::symlink(w.dir.path(), w.docs().join("loop")).expect("dir symlink");
    w.acl(&[("", &[("all", "GROUP", "ALLOW")])]);
    let engine = w.engine();
    let report = sync(
        &engine,
        &fs_source(w.config(), None),
        &SyncOptions::default(),
    )
    .await;
    assert_eq!(report.state, RunState::Succeeded, "{report:?}");
    let ids = crate::support::file_identities(br#"{"users": {"u@x.io": ["all"]}}"#, &["docs"]);
    assert_eq!(
        visible(&engine, &ids, "u@x.io"),
        set(&["alias.txt", "inside.txt"])
    );
}

/// Issue 3's hostile set: one CSV line of 100 MB. It must end bounded: the input limit refuses
/// it by default, and with a raised limit the text is cut at the output cap, with a warning.
#[test]
fn a_100_mb_single_line_csv_stays_bounded() {
    use extractors::{ErrorKind, Hints, Limits, Registry};
    let line: Vec<u8> = b"word,".repeat(20 * 1024 * 1024);
    let registry = Registry::default();
    let err = registry
        .extract(&line, &Hints::file_name("huge.csv"), &Limits::default())
        .expect_err("over the default input limit");
    assert_eq!(err.kind, ErrorKind::TooLarge);
    let raised = Limits {
        max_input_bytes: 200 * 1024 * 1024,
        ..Limits::default()
    };
    let doc = registry
        .extract(&line, &Hints::file_name("huge.csv"), &raised)
        .expect("extracts within the output cap");
    assert!(doc.text().len() <= raised.max_output_bytes);
    assert!(doc.warnings.iter().any(|w| w.code == "output_truncated"));
}
