//! One scenario's state: the handle, the kit's world, the reference sync, and what the
//! checks found so far; with the steps every scenario is made of, each under a deadline.

use std::future::Future;
use std::time::Duration;

use super::KitOptions;
use super::handle::{Capabilities, Groups, HandleError, NewDocument, Reader, SourceHandle};
use super::model::{Entry, ReferenceSync};
use super::run::{Kill, Run};
use super::world::{self, DAN, Member, PARTNER_DOMAIN, USERS, World};
use crate::DocumentId;

/// Why a scenario stopped before its end.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The source cannot do what the scenario needs.
    Skip(String),
    /// It cannot go on: a hang, a handle failure, a first sync that went wrong.
    Fail(String),
}

impl From<HandleError> for Stop {
    fn from(e: HandleError) -> Self {
        match e {
            HandleError::Unsupported(reason) => Stop::Skip(reason),
            HandleError::Failed(message) => Stop::Fail(format!("the handle failed: {message}")),
        }
    }
}

pub(crate) type Step<T = ()> = Result<T, Stop>;

/// Runs `fut` under `limit`; a hang is a failure that says what hung.
pub(crate) async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = T>,
) -> Step<T> {
    tokio::time::timeout(limit, fut).await.map_err(|_| {
        Stop::Fail(format!(
            "{what}: no answer within {limit:?} (the connector hangs or loops)"
        ))
    })
}

pub(crate) struct Ctx {
    pub(crate) handle: Box<dyn SourceHandle>,
    pub(crate) caps: Capabilities,
    pub(crate) world: World,
    pub(crate) model: ReferenceSync,
    pub(crate) options: KitOptions,
    /// What failed a MUST check.
    pub(crate) problems: Vec<String>,
    /// What a SHOULD check found, and what is worth knowing.
    pub(crate) notes: Vec<String>,
}

impl Ctx {
    pub(crate) fn new(handle: Box<dyn SourceHandle>, token: &str, options: KitOptions) -> Self {
        let caps = handle.capabilities();
        let model = ReferenceSync::new(handle.connector(), options.model.clone());
        Ctx {
            handle,
            caps,
            world: World::new(token),
            model,
            options,
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    pub(crate) fn note(&mut self, message: impl Into<String>) {
        self.notes.push(message.into());
    }

    /// Fails a MUST check unless `ok`.
    pub(crate) fn expect(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.problems.push(message());
        }
    }

    /// A handle operation under the step deadline.
    pub(crate) async fn act<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, HandleError>>,
    ) -> Step<T> {
        Ok(within(self.options.step_timeout, what, fut).await??)
    }

    /// A path in the scenario's namespace: `folder/name-<token>.txt`.
    pub(crate) fn path(&self, folder: &str, name: &str) -> String {
        let token = self.world.token();
        if folder.is_empty() {
            format!("{name}-{token}.txt")
        } else {
            format!("{folder}/{name}-{token}.txt")
        }
    }

    /// Readers for "everybody at the partner domain": the domain, or its users one by one
    /// when the source cannot share with a domain.
    pub(crate) fn partner_readers(&self) -> Vec<Reader> {
        match self.caps.domain_readers {
            super::handle::Support::Yes => vec![Reader::domain(PARTNER_DOMAIN)],
            super::handle::Support::No(_) => vec![Reader::user(DAN)],
        }
    }

    /// Adds documents to the world and the source.
    pub(crate) async fn add_all(&mut self, docs: Vec<(String, Vec<Reader>)>) -> Step {
        let mut new = Vec::new();
        for (path, readers) in docs {
            let text = self.world.add(&path, readers.clone());
            new.push(NewDocument {
                path,
                text,
                readers: self.source_readers(&readers),
            });
        }
        self.act("add documents", self.handle.add_many(&new)).await
    }

    /// The base corpus: one document for each way of being a reader, and one for nobody.
    /// Returns the paths: plan (ann), roadmap (eng), budget (leads), pipeline (sales and
    /// ann), brief (the partner domain), nobody (no reader).
    pub(crate) async fn base(&mut self) -> Step<Base> {
        let base = Base {
            plan: self.path("team", "plan"),
            roadmap: self.path("team", "roadmap"),
            budget: self.path("team/leads", "budget"),
            pipeline: self.path("sales", "pipeline"),
            brief: self.path("partners", "brief"),
            nobody: self.path("private", "nobody"),
        };
        let docs = vec![
            (base.plan.clone(), vec![Reader::user(world::ANN)]),
            (base.roadmap.clone(), vec![Reader::group("eng")]),
            (base.budget.clone(), vec![Reader::group("leads")]),
            (
                base.pipeline.clone(),
                vec![Reader::group("sales"), Reader::user(world::ANN)],
            ),
            (base.brief.clone(), self.partner_readers()),
            (base.nobody.clone(), Vec::new()),
        ];
        self.setup_groups().await?;
        self.add_all(docs).await?;
        Ok(base)
    }

    /// Puts the world's groups where the source keeps them: its directory, or (for an
    /// identities-file source) the reference sync's extra memberships.
    pub(crate) async fn setup_groups(&mut self) -> Step {
        match &self.caps.groups {
            Groups::Directory => {
                let groups = self.world.groups.clone();
                for (group, members) in &groups {
                    for member in members {
                        match member {
                            Member::User(u) => {
                                self.act("add_to_group", self.handle.add_to_group(u, group))
                                    .await?
                            }
                            Member::Group(g) => {
                                self.act("nest_group", self.handle.nest_group(g, group))
                                    .await?
                            }
                        }
                    }
                }
                self.identities("the first identity sync").await
            }
            Groups::IdentitiesFile(_) => {
                self.refresh_file_memberships();
                Ok(())
            }
            // Nothing to put anywhere: the handle is given the groups' members.
            Groups::SourceDefined(_) => Ok(()),
        }
    }

    pub(crate) fn refresh_file_memberships(&mut self) {
        let handle = &self.handle;
        let facts = self.world.facts(&|g| handle.group_id(g));
        self.model.set_extra_memberships(facts);
    }

    /// An identity sync; an error is a problem.
    pub(crate) async fn identities(&mut self, what: &str) -> Step {
        let limit = self.options.step_timeout;
        let error = within(limit, what, self.model.sync_identities()).await?;
        if let Some(e) = error {
            self.problem(format!(
                "{what}: identities() failed: {} ({})",
                e.message,
                e.kind.as_str()
            ));
        }
        Ok(())
    }

    /// One run of the reference sync under the step deadline; contract breaches it saw
    /// are problems.
    pub(crate) async fn sync(&mut self, what: &str) -> Step<Run> {
        self.sync_killed(what, Kill::Never).await
    }

    pub(crate) async fn sync_killed(&mut self, what: &str, kill: Kill) -> Step<Run> {
        let limit = self.options.step_timeout;
        if matches!(self.caps.groups, Groups::SourceDefined(_)) {
            // Readers are the members of the source's own groups: they reach the index
            // through an identity sync, which a daemon runs on its own schedule.
            self.identities(&format!("the identity sync before {what}"))
                .await?;
        }
        let run = within(limit, what, self.model.sync_with(kill)).await?;
        for v in &run.violations {
            self.problems.push(format!("{what}: {v}"));
        }
        Ok(run)
    }

    /// The base corpus after a first full sync that must be clean.
    pub(crate) async fn synced(&mut self) -> Step<Base> {
        let base = self.base().await?;
        let run = self.sync("the first full sync").await?;
        if !run.clean() {
            return Err(Stop::Fail(format!(
                "the first full sync was not clean: errors {:?}, failed documents {:?}, \
                 listing complete: {}",
                run.errors, run.failed, run.listing_complete
            )));
        }
        self.check_state("after the first full sync");
        Ok(base)
    }

    /// Compares the reference sync's index with the world: every document (title and
    /// text, visible or not), then each user's view. Differences are problems.
    pub(crate) fn check_state(&mut self, when: &str) {
        let actual = self.indexed();
        let (missing, unexpected) = world::diff(&self.world.expected_documents(), &actual);
        if !missing.is_empty() || !unexpected.is_empty() {
            self.problem(format!(
                "{when}: the index holds the wrong documents: missing [{}]; unexpected [{}]",
                world::show_all(&missing),
                world::show_all(&unexpected)
            ));
        }
        for user in USERS {
            let (missing, unexpected) =
                world::diff(&self.world.expected_view(user), &self.visible(user));
            if !missing.is_empty() || !unexpected.is_empty() {
                self.problem(format!(
                    "{when}: {user} sees the wrong documents: cannot see [{}]; may not see [{}]",
                    world::show_all(&missing),
                    world::show_all(&unexpected)
                ));
            }
        }
    }

    /// The id under which the index holds `text`, if any.
    pub(crate) fn id_of_text(&self, text: &str) -> Option<DocumentId> {
        self.model
            .documents()
            .iter()
            .find(|(id, e)| self.read_back(id, e).1 == text)
            .map(|(id, _)| id.clone())
    }

    /// An indexed document in the kit's terms (the handle's [`SourceHandle::read_back`]).
    pub(crate) fn read_back(&self, id: &DocumentId, e: &Entry) -> (Option<String>, String) {
        self.handle.read_back(id, e.title.as_deref(), &e.text)
    }

    /// Every indexed document in the kit's terms, sorted.
    pub(crate) fn indexed(&self) -> world::View {
        let mut all: world::View = self
            .model
            .documents()
            .iter()
            .map(|(id, e)| self.read_back(id, e))
            .collect();
        all.sort();
        all
    }

    /// What `user` may read of the index, in the kit's terms, sorted.
    pub(crate) fn visible(&self, user: &str) -> world::View {
        let mut out: world::View = self
            .model
            .readable(user)
            .map(|(id, e)| self.read_back(id, e))
            .collect();
        out.sort();
        out
    }

    /// `readers` as the handle is given them: the kit's groups expanded to their members,
    /// one by one, for a source whose ACLs cannot name them ([`Groups::SourceDefined`]).
    pub(crate) fn source_readers(&self, readers: &[Reader]) -> Vec<Reader> {
        if !matches!(self.caps.groups, Groups::SourceDefined(_)) {
            return readers.to_vec();
        }
        let mut out: Vec<Reader> = Vec::new();
        for reader in readers {
            let expanded = match reader {
                Reader::Group(group) => self
                    .world
                    .members_of(group)
                    .into_iter()
                    .map(Reader::User)
                    .collect(),
                other => vec![other.clone()],
            };
            for r in expanded {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        out
    }

    /// Problems for a run that should have made no fetch (and no `resolve`).
    pub(crate) fn expect_no_fetch(&mut self, what: &str, run: &Run, why: &str) {
        if !run.fetched.is_empty() {
            self.problem(format!("{what}: fetched {:?}; {why}", ids(&run.fetched)));
        }
    }

    /// Problems for a run that should have ended without an error item.
    pub(crate) fn expect_no_errors(&mut self, what: &str, run: &Run) {
        if !run.errors.is_empty() || !run.failed.is_empty() {
            self.problem(format!(
                "{what}: errors {:?}, failed documents {:?}",
                run.errors, run.failed
            ));
        }
    }
}

/// The paths of the base corpus.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    pub(crate) plan: String,
    pub(crate) roadmap: String,
    pub(crate) budget: String,
    pub(crate) pipeline: String,
    /// Read by the partner domain; no scenario changes it.
    pub(crate) brief: String,
    pub(crate) nobody: String,
}

pub(crate) fn ids(list: &[DocumentId]) -> Vec<&str> {
    list.iter().map(DocumentId::as_str).collect()
}
