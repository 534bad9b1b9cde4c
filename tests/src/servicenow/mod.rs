//! The ServiceNow connector, through the engine, against the fake instance
//! (`fixtures/fake-servicenow`), which speaks the documented Table and Attachment APIs:
//! who may read articles under the knowledge bases' and articles' Can Read / Cannot Read
//! user criteria (groups, users, roles; intersections; deny), attachments, incremental
//! edits and retirements, records sharing a second across a page boundary, deletions
//! through `sys_audit_delete` and, when it is unreadable, through the full reconcile;
//! criteria changes; incidents by role. `faults.rs`: pages the ACLs emptied, throttling,
//! OAuth refresh, refused credentials, secrets at `-vv`.

mod faults;
mod random_acl;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use connector_sdk::{Connector, Secret};
use connector_servicenow::{ServiceNowConfig, ServiceNowConnector};
use fake_servicenow::FakeServiceNow;
use sync_core::{Engine, Identities, RunReport, RunState, Source, SyncOptions};

use crate::support::sync;

/// An instance: ann (HR, itil), bob (HR), cy (itil), dan (nothing), fay (HR).
/// KB "General" has no criteria; KB "HR" can be read by the HR group, not by bob.
pub(crate) struct Instance {
    pub fake: FakeServiceNow,
    engine: Engine,
    source: Source,
    options: SyncOptions,
    pub users: BTreeMap<&'static str, String>,
    pub general: String,
    pub hr: String,
    pub c_itil: String,
    _dir: tempfile::TempDir,
}

impl Instance {
    pub(crate) async fn new() -> Self {
        let fake = FakeServiceNow::start().await.expect("fake servicenow");
        let (users, general, hr, c_itil) = {
            let mut w = fake.world();
            let mut users = BTreeMap::new();
            for name in ["ann", "bob", "cy", "dan", "fay"] {
                users.insert(name, w.add_user(name, &format!("{name}@acme.test")));
            }
            let hr_group = w.add_group("HR");
            for who in ["ann", "bob", "fay"] {
                w.add_member(&hr_group, &users[who]);
            }
            let itil = w.add_role("itil");
            for who in ["ann", "cy"] {
                w.grant_role(&users[who], &itil);
            }
            let general = w.add_kb("General");
            let hr = w.add_kb("HR");
            let c_hr = w.add_criteria("HR staff", &[("group", &hr_group)]);
            let c_bob = w.add_criteria("Not bob", &[("user", &users["bob"])]);
            let c_itil = w.add_criteria("ITIL", &[("role", &itil)]);
            w.kb_criteria(&hr, &c_hr, true);
            w.kb_criteria(&hr, &c_bob, false);
            (users, general, hr, c_itil)
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path()).expect("engine");
        let source = source_for(&fake, |_| {});
        Instance {
            fake,
            engine,
            source,
            options: SyncOptions {
                retry_backoff: Duration::ZERO,
                ..SyncOptions::default()
            },
            users,
            general,
            hr,
            c_itil,
            _dir: dir,
        }
    }

    pub(crate) fn reconfigure(&mut self, change: impl FnOnce(&mut ServiceNowConfig)) {
        self.source = source_for(&self.fake, change);
    }

    pub(crate) async fn sync(&self) -> RunReport {
        sync(&self.engine, &self.source, &self.options).await
    }

    pub(crate) async fn full(&self) -> RunReport {
        let options = SyncOptions {
            full: true,
            ..self.options.clone()
        };
        sync(&self.engine, &self.source, &options).await
    }

    pub(crate) async fn sync_identities(&self) {
        let report = self
            .engine
            .sync_identities(&self.source, &self.options)
            .await
            .expect("identity sync starts");
        assert_eq!(report.state, RunState::Succeeded, "{report:?}");
    }

    fn identities(&self) -> Identities {
        let mut ids = Identities::new();
        ids.add_stored(self.engine.store()).expect("memberships");
        ids
    }

    pub(crate) fn hits(&self, user: &str, query: &str) -> usize {
        crate::support::hits(
            &self.engine,
            &self.identities(),
            &format!("{user}@acme.test"),
            query,
        )
    }

    /// Who of the five finds `query`.
    pub(crate) fn readers(&self, query: &str) -> Vec<&'static str> {
        ["ann", "bob", "cy", "dan", "fay"]
            .into_iter()
            .filter(|u| self.hits(u, query) > 0)
            .collect()
    }

    pub(crate) fn article(&self, kb: &str, title: &str, html: &str) -> String {
        self.fake.world().add_article(kb, title, html)
    }
}

pub(crate) fn source_for(
    fake: &FakeServiceNow,
    change: impl FnOnce(&mut ServiceNowConfig),
) -> Source {
    let mut config = ServiceNowConfig::new(fake.url());
    config.username = Some(fake.username());
    config.password = Some(Secret::new(fake.password()));
    config.page_size = 2; // pages, so that paging is exercised
    config.requests_per_second = 1000.0;
    change(&mut config);
    let connector = ServiceNowConnector::new(config).expect("connector");
    Source::new("snow", Arc::new(connector) as Arc<dyn Connector>)
}

pub(crate) fn succeeded(report: &RunReport) {
    assert_eq!(report.state, RunState::Succeeded, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn articles_and_attachments_are_readable_as_the_user_criteria_say() {
    let t = Instance::new().await;
    {
        let mut w = t.fake.world();
        let c_itil = t.c_itil.clone();
        w.add_article(
            &t.general,
            "VPN setup",
            "<p>install the <b>wireguard</b> client</p>",
        );
        let payroll = w.add_article(&t.hr, "Payroll", "<p>payroll runs on the <i>25th</i></p>");
        w.attach(
            "kb_knowledge",
            &payroll,
            "bands.txt",
            "text/plain",
            b"salary bands for grade seven",
        );
        let benefits = w.add_article(&t.hr, "Benefits", "<p>dental coverage details</p>");
        w.update(
            "kb_knowledge",
            &benefits,
            &[("can_read_user_criteria", &c_itil)],
        );
        let handbook = w.add_article(&t.hr, "Handbook", "<p>holiday allowance rules</p>");
        w.update(
            "kb_knowledge",
            &handbook,
            &[("cannot_read_user_criteria", &c_itil)],
        );
        let draft = w.add_article(&t.general, "Roadmap", "<p>secret roadmap draft</p>");
        w.update("kb_knowledge", &draft, &[("workflow_state", "draft")]);
    }
    t.sync_identities().await;
    let report = t.sync().await;
    succeeded(&report);
    assert_eq!(
        report.counts.added, 5,
        "four published articles and an attachment: {report:?}"
    );
    assert_eq!(
        t.readers("wireguard"),
        ["ann", "bob", "cy", "dan", "fay"],
        "no criteria: every user"
    );
    assert_eq!(
        t.readers("payroll"),
        ["ann", "fay"],
        "KB can read HR, cannot read bob"
    );
    assert_eq!(
        t.readers("salary"),
        ["ann", "fay"],
        "the attachment goes with its article"
    );
    assert_eq!(
        t.readers("dental"),
        ["ann"],
        "KB HR and article ITIL: both, bob still denied"
    );
    assert_eq!(t.readers("holiday"), ["fay"], "article cannot read ITIL");
    assert!(t.readers("roadmap").is_empty(), "drafts are not synced");
    assert_eq!(
        t.hits("mallory", "wireguard"),
        0,
        "no one outside the instance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_retirements_and_same_second_records_across_a_page_boundary() {
    let t = Instance::new().await;
    let (vpn, payroll) = {
        let mut w = t.fake.world();
        let vpn = w.add_article(&t.general, "VPN", "<p>old gateway address</p>");
        let payroll = w.add_article(&t.hr, "Payroll", "<p>payroll calendar</p>");
        w.attach(
            "kb_knowledge",
            &payroll,
            "cal.txt",
            "text/plain",
            b"pay dates for the fiscal year",
        );
        (vpn, payroll)
    };
    t.sync_identities().await;
    succeeded(&t.sync().await);
    assert_eq!(t.readers("fiscal"), ["ann", "fay"]);
    {
        let mut w = t.fake.world();
        w.advance(120);
        w.update(
            "kb_knowledge",
            &vpn,
            &[("text", "<p>new gateway in frankfurt</p>")],
        );
        w.update("kb_knowledge", &payroll, &[("workflow_state", "retired")]);
        // Three articles in one second: with pages of two, the keyset's sys_id
        // tiebreak carries the walk over the page boundary inside that second.
        w.advance(60);
        for topic in ["alpha", "bravo", "charlie"] {
            w.add_article(&t.general, topic, &format!("<p>{topic}topic</p>"));
        }
    }
    let report = t.sync().await;
    succeeded(&report);
    assert_eq!(report.mode, sync_core::RunMode::Incremental, "{report:?}");
    assert_eq!(t.hits("dan", "frankfurt"), 1, "the edit: {report:?}");
    assert_eq!(t.hits("dan", "gateway"), 1, "one document, the new text");
    assert_eq!(t.hits("ann", "payroll"), 0, "retired: gone");
    assert_eq!(t.hits("ann", "fiscal"), 0, "and its attachment with it");
    for topic in ["alphatopic", "bravotopic", "charlietopic"] {
        assert_eq!(t.hits("dan", topic), 1, "{topic}: {report:?}");
    }
    let again = t.sync().await;
    succeeded(&again);
    // The overlap reads the last minute again; nothing in it is new.
    assert_eq!(
        (again.counts.added, again.counts.modified),
        (0, 0),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_come_from_the_audit_table_or_else_from_the_full_reconcile() {
    let mut t = Instance::new().await;
    let ids: Vec<String> = ["kiwi", "mango", "papaya", "guava"]
        .iter()
        .map(|f| t.article(&t.general, f, &format!("<p>{f}fruit</p>")))
        .collect();
    t.sync_identities().await;
    succeeded(&t.sync().await);
    t.fake.world().advance(30);
    t.fake.world().delete("kb_knowledge", &ids[0]);
    let audited = t.sync().await;
    succeeded(&audited);
    assert_eq!(
        t.hits("dan", "kiwifruit"),
        0,
        "audited deletion: {audited:?}"
    );
    assert_eq!(t.hits("dan", "mangofruit"), 1);

    // An instance whose audit table the user may not read.
    t.fake.world().set_table_readable("sys_audit_delete", false);
    t.reconfigure(|_| {});
    succeeded(&t.full().await);
    t.fake.world().advance(30);
    t.fake.world().delete("kb_knowledge", &ids[1]);
    let blind = t.sync().await;
    succeeded(&blind);
    assert_eq!(
        t.hits("dan", "mangofruit"),
        1,
        "not proven gone yet: {blind:?}"
    );
    let reconciled = t.full().await;
    succeeded(&reconciled);
    assert_eq!(
        t.hits("dan", "mangofruit"),
        0,
        "the full listing's sweep: {reconciled:?}"
    );
    assert_eq!(t.hits("dan", "papayafruit"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn criteria_changes_reach_every_article_and_scripts_close_it() {
    let t = Instance::new().await;
    let policy = t.article(&t.hr, "Policy", "<p>expense policy limits</p>");
    t.fake.world().attach(
        "kb_knowledge",
        &policy,
        "receipts.txt",
        "text/plain",
        b"receipts template",
    );
    t.sync_identities().await;
    succeeded(&t.sync().await);
    assert_eq!(t.readers("expense"), ["ann", "fay"]);
    assert_eq!(t.readers("receipts"), ["ann", "fay"]);
    // bob's exclusion is lifted: no article changed, the KB's lists did.
    let deny = t.fake.world().records("kb_uc_cannot_read_mtom")[0]["sys_id"].clone();
    t.fake.world().delete("kb_uc_cannot_read_mtom", &deny);
    let report = t.sync().await;
    succeeded(&report);
    assert_eq!(t.readers("expense"), ["ann", "bob", "fay"], "{report:?}");
    // A later attachment elsewhere moves the attachments' watermark past the overlap
    // window, so the policy's attachment is not read again by that walk.
    {
        let mut w = t.fake.world();
        w.advance(3600);
        let faq = w.add_article(&t.general, "FAQ", "<p>frequently asked</p>");
        w.attach("kb_knowledge", &faq, "faq.txt", "text/plain", b"answers");
    }
    succeeded(&t.sync().await);
    // The article's own Can Read list names existing criteria (no criteria record
    // changed): the article moves, and its attachment follows it.
    {
        let mut w = t.fake.world();
        w.advance(3600);
        w.update(
            "kb_knowledge",
            &policy,
            &[("can_read_user_criteria", &t.c_itil)],
        );
    }
    let narrowed = t.sync().await;
    succeeded(&narrowed);
    assert_eq!(t.readers("expense"), ["ann"], "HR and itil: {narrowed:?}");
    assert_eq!(
        t.readers("receipts"),
        ["ann"],
        "the attachment too: {narrowed:?}"
    );
    // An advanced (scripted) criteria cannot be evaluated: the article closes.
    {
        let mut w = t.fake.world();
        let scripted = w.add_criteria(
            "Managers by script",
            &[
                ("advanced", "true"),
                ("script", "answer = gs.getUser().isManager();"),
            ],
        );
        w.advance(10);
        w.update(
            "kb_knowledge",
            &policy,
            &[("can_read_user_criteria", &scripted)],
        );
    }
    let closed = t.sync().await;
    succeeded(&closed);
    assert!(t.readers("expense").is_empty(), "fail closed: {closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_read_by_the_itil_role_and_the_people_on_them() {
    let mut t = Instance::new().await;
    t.reconfigure(|c| c.incidents = true);
    {
        let mut w = t.fake.world();
        let (dan, fay) = (t.users["dan"].clone(), t.users["fay"].clone());
        w.add_incident("printer on fire in building nine", &dan, &fay);
        w.add_incident("laptop stolen", &t.users["bob"].clone(), "");
    }
    t.sync_identities().await;
    succeeded(&t.sync().await);
    assert_eq!(
        t.readers("printer"),
        ["ann", "cy", "dan", "fay"],
        "itil, caller, assignee"
    );
    assert_eq!(t.readers("stolen"), ["ann", "bob", "cy"]);
}
