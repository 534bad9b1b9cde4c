//! The daemon's HTTP API: health, Prometheus metrics, sources, runs, trigger-a-run, search,
//! ACL explanations and push jobs (`push.rs`, ADR 0026), as JSON over axum. [`router`] builds it over an [`ApiState`], which holds
//! the [`Control`] the running daemon implements, the [`Metrics`] it records runs into, and
//! the [`Auth`] policy (a bearer token, or explicitly none).
//!
//! Everything but the scheduler's state is read from the data folder, read-only and the way
//! the CLI reads it, so answers match `tributary runs --json`, `search --json` and `acl explain
//! --json` (the same functions build both) and never wait for a sync. The routes are one
//! table, [`ROUTES`], which builds the router and which the tests hold against the committed
//! OpenAPI document (`docs/openapi.json`, served at `/v1/openapi.json`).
//!
//! Searching "as" a user trusts the caller to say who the user is: the API is for a trusted
//! backend (a RAG service) that authenticated the user itself and holds the daemon's token.
//!
//! ```ignore
//! let state = api::ApiState::new(control, Arc::new(api::Metrics::new()), api::Auth::from_token(token));
//! axum::serve(listener, api::router(state)).await?;
//! ```

mod auth;
mod control;
mod error;
mod handlers;
mod metrics;
mod push;
mod reads;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{MethodFilter, MethodRouter, on};
use sync_core::TantivyIndex;

pub use auth::Auth;
pub use control::Control;
pub use metrics::Metrics;

/// The OpenAPI 3.1 document of this API, as committed.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Everything a request handler reaches. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct ApiState(Arc<Inner>);

struct Inner {
    control: Arc<dyn Control>,
    metrics: Arc<Metrics>,
    check: auth::Check,
    reads: reads::Reads,
    push: Option<Arc<crate::push::Jobs>>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("check", &self.0.check)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// The state of one daemon. With [`Auth::Open`] every route is served without a token:
    /// the daemon must only do that on a loopback address.
    pub fn new(control: Arc<dyn Control>, metrics: Arc<Metrics>, auth: Auth) -> Self {
        ApiState(Arc::new(Inner {
            control,
            metrics,
            check: auth.into(),
            reads: reads::Reads::default(),
            push: None,
        }))
    }

    /// The same state, serving push jobs (`type = "push"` sources) on `jobs`. Without it the
    /// push routes answer 503: only the daemon, which holds the index's writer, runs jobs.
    pub fn with_push(self, jobs: Arc<crate::push::Jobs>) -> Self {
        let inner = Arc::try_unwrap(self.0).unwrap_or_else(|shared| Inner {
            control: Arc::clone(&shared.control),
            metrics: Arc::clone(&shared.metrics),
            check: shared.check.clone(),
            reads: reads::Reads::default(),
            push: shared.push.clone(),
        });
        ApiState(Arc::new(Inner {
            push: Some(jobs),
            ..inner
        }))
    }

    /// The same state, searching the index in `dir` through `index` (the daemon's engine's
    /// own, `Engine::open_searching`) instead of a read-only handle of its own.
    pub fn sharing_index(self, dir: PathBuf, index: TantivyIndex) -> Self {
        self.reads().share_index(dir, index);
        self
    }

    /// Whether routes other than health need a token.
    pub fn requires_token(&self) -> bool {
        matches!(self.0.check, auth::Check::Token(_))
    }

    fn control(&self) -> &dyn Control {
        &*self.0.control
    }

    fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    fn check(&self) -> &auth::Check {
        &self.0.check
    }

    fn reads(&self) -> &reads::Reads {
        &self.0.reads
    }

    fn push(&self) -> Option<&Arc<crate::push::Jobs>> {
        self.0.push.as_ref()
    }
}

/// An HTTP method the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    /// The method's name, as in HTTP and (lowercased) in OpenAPI.
    #[cfg(test)]
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
        }
    }
}

/// What serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Healthz,
    Readyz,
    Metrics,
    Sources,
    Runs,
    Trigger,
    Search,
    AclExplain,
    OpenApi,
    PushStart,
    PushGet,
    PushPut,
    PushDelete,
    PushFinish,
}

/// One route: method, path (axum's `{param}` syntax, which is OpenAPI's too), and whether it
/// is served without a token.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub verb: Verb,
    pub path: &'static str,
    pub public: bool,
    endpoint: Endpoint,
}

const fn route(verb: Verb, path: &'static str, public: bool, endpoint: Endpoint) -> Route {
    Route {
        verb,
        path,
        public,
        endpoint,
    }
}

/// Every route the API serves: [`router`] is built from this list, and a test checks it
/// against `docs/openapi.json` both ways.
pub const ROUTES: [Route; 14] = [
    route(Verb::Get, "/healthz", true, Endpoint::Healthz),
    route(Verb::Get, "/readyz", true, Endpoint::Readyz),
    route(Verb::Get, "/metrics", false, Endpoint::Metrics),
    route(Verb::Get, "/v1/sources", false, Endpoint::Sources),
    route(
        Verb::Post,
        "/v1/sources/{id}/sync",
        false,
        Endpoint::Trigger,
    ),
    route(Verb::Get, "/v1/runs", false, Endpoint::Runs),
    route(Verb::Get, "/v1/search", false, Endpoint::Search),
    route(Verb::Get, "/v1/acl/explain", false, Endpoint::AclExplain),
    route(Verb::Get, "/v1/openapi.json", false, Endpoint::OpenApi),
    route(
        Verb::Post,
        "/v1/sources/{id}/jobs",
        false,
        Endpoint::PushStart,
    ),
    route(
        Verb::Get,
        "/v1/sources/{id}/jobs/{job}",
        false,
        Endpoint::PushGet,
    ),
    route(
        Verb::Post,
        "/v1/sources/{id}/jobs/{job}/documents",
        false,
        Endpoint::PushPut,
    ),
    route(
        Verb::Post,
        "/v1/sources/{id}/jobs/{job}/documents/delete",
        false,
        Endpoint::PushDelete,
    ),
    route(
        Verb::Post,
        "/v1/sources/{id}/jobs/{job}/finish",
        false,
        Endpoint::PushFinish,
    ),
];

fn method_router(route: &Route) -> MethodRouter<ApiState> {
    let f = route.verb.filter();
    match route.endpoint {
        Endpoint::Healthz => on(f, handlers::healthz),
        Endpoint::Readyz => on(f, handlers::readyz),
        Endpoint::Metrics => on(f, handlers::metrics),
        Endpoint::Sources => on(f, handlers::sources),
        Endpoint::Runs => on(f, handlers::runs),
        Endpoint::Trigger => on(f, handlers::trigger),
        Endpoint::Search => on(f, handlers::search),
        Endpoint::AclExplain => on(f, handlers::acl_explain),
        Endpoint::OpenApi => on(f, handlers::openapi),
        Endpoint::PushStart => on(f, push::start),
        Endpoint::PushGet => on(f, push::get),
        // Batches are larger than anything else the API takes: their own body limit, which
        // replaces the router's for these routes.
        Endpoint::PushPut => {
            on(f, push::put).layer(DefaultBodyLimit::max(crate::push::wire::MAX_REQUEST_BYTES))
        }
        Endpoint::PushDelete => {
            on(f, push::delete).layer(DefaultBodyLimit::max(crate::push::wire::MAX_REQUEST_BYTES))
        }
        Endpoint::PushFinish => on(f, push::finish),
    }
}

/// The API over `state`. Unknown routes answer 404 and known routes with another method 405,
/// both in the API's JSON error shape.
pub fn router(state: ApiState) -> Router {
    let mut public = Router::new();
    let mut private = Router::new();
    for r in &ROUTES {
        if r.public {
            public = public.route(r.path, method_router(r));
        } else {
            private = private.route(r.path, method_router(r));
        }
    }
    // `route_layer`: the token is checked on matched routes only, so an unknown path is a 404
    // whoever asks (it reveals nothing the OpenAPI document does not).
    let private = private.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_token,
    ));
    public
        .merge(private)
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(handlers::MAX_BODY))
        .with_state(state)
}
