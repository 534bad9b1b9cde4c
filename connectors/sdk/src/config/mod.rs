//! A connector's configuration: typed for its author, erased for the host.
//!
//! A connector crate defines a unit struct that implements [`SourceType`]: its `type`
//! name, its config (any `#[derive(Deserialize)]` struct), a pure `validate`, and a `build`
//! that makes the [`Connector`]. Every `SourceType` is also an [`ErasedSourceType`], which
//! is what a host (the `tributary` binary) keeps in its one list of source types: it hands
//! each `[[sources]]` table (as JSON) to the entry its `type` names, and gets back either
//! every problem of the table, each with its key, or a [`ConfiguredSource`] to build.
//!
//! Reading reports every problem at once: keys of the wrong type, unknown keys (typos),
//! missing keys, bad array elements, then whatever `validate` finds on the rest. Messages
//! never quote a value of the wrong type, and [`Secret`](crate::Secret) never prints.
//!
//! ```
//! use std::sync::Arc;
//! use connector_sdk::{
//!     ConfigContext, ConfigProblem, Connector, ConnectorError, ErasedSourceType, Secret,
//!     SourceType,
//! };
//! # use connector_sdk::{ByteStream, ChangeStream, RemoteDocument, SourceCheckpoint, SyncContext};
//! # #[derive(Debug)] struct Wiki;
//! # #[async_trait::async_trait]
//! # impl Connector for Wiki {
//! #     fn kind(&self) -> &'static str { "wiki" }
//! #     async fn check(&self, _: &SyncContext) -> Result<(), ConnectorError> { Ok(()) }
//! #     fn full<'a>(&'a self, _: &'a SyncContext, _: Option<&'a SourceCheckpoint>) -> ChangeStream<'a> {
//! #         Box::pin(futures::stream::empty())
//! #     }
//! #     fn incremental<'a>(&'a self, _: &'a SyncContext, _: &'a SourceCheckpoint) -> ChangeStream<'a> {
//! #         Box::pin(futures::stream::empty())
//! #     }
//! #     async fn fetch(&self, _: &SyncContext, _: &RemoteDocument) -> Result<ByteStream, ConnectorError> {
//! #         Ok(Box::pin(futures::stream::empty()))
//! #     }
//! # }
//!
//! #[derive(Debug, serde::Deserialize)]
//! struct WikiConfig {
//!     #[serde(default = "default_endpoint")]
//!     endpoint_url: String,
//!     api_token: Secret,
//!     #[serde(default)]
//!     spaces: Vec<String>,
//! }
//! fn default_endpoint() -> String {
//!     "https://wiki.example.com/api".into()
//! }
//!
//! #[derive(Debug, Clone, Copy)]
//! struct WikiType;
//!
//! impl SourceType for WikiType {
//!     const KIND: &'static str = "wiki";
//!     type Config = WikiConfig;
//!
//!     fn validate(&self, config: &WikiConfig) -> Vec<ConfigProblem> {
//!         let mut problems = Vec::new();
//!         if !config.endpoint_url.starts_with("https://") {
//!             problems.push(ConfigProblem::new("endpoint_url", "must start with https://"));
//!         }
//!         problems
//!     }
//!
//!     fn build(&self, _config: &WikiConfig) -> Result<Arc<dyn Connector>, ConnectorError> {
//!         Ok(Arc::new(Wiki))
//!     }
//! }
//!
//! // What the host does with one `[[sources]]` table:
//! let table = serde_json::json!({
//!     "id": "wiki", "type": "wiki", "api_token": 12345, "space": ["eng"],
//! });
//! let cx = ConfigContext::new(".").with_host_keys(&["id", "type"]);
//! let problems = WikiType.parse(&table, &cx).expect_err("two problems");
//! let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
//! assert_eq!(problems, [
//!     "api_token: expected a string, found integer",
//!     "space: unknown key (known keys: id, type, endpoint_url, api_token, spaces)",
//! ]);
//! ```

mod read;

use std::any::Any;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::{ConfigProblem, Connector, ConnectorError};

/// What a connector's configuration is read with, besides its table.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConfigContext {
    /// The folder relative paths start from: the config file's folder.
    pub base_dir: PathBuf,
    /// Keys of the source table the host reads itself (`id`, `type`, ...): they are not
    /// the connector's, and not unknown either.
    pub host_keys: Vec<String>,
}

impl ConfigContext {
    /// A context whose relative paths start at `base_dir`.
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        ConfigContext {
            base_dir: base_dir.into(),
            host_keys: Vec::new(),
        }
    }

    /// The keys the host reads itself.
    pub fn with_host_keys(mut self, keys: &[&str]) -> Self {
        self.host_keys = keys.iter().map(|k| k.to_string()).collect();
        self
    }

    /// `path` against [`base_dir`](Self::base_dir), unless it is absolute. An empty path
    /// stays empty, so that `validate` can say so.
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        if path.as_os_str().is_empty() || path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }
}

/// What the engine and the host need to know about a configured source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceProfile {
    /// The source has a directory of users and groups of its own (`identities()` yields
    /// them). Without one (the default), the identities file defines its groups.
    pub has_directory: bool,
    /// How many documents to keep in flight: a network source waits on latency, so as
    /// many as it allows downloads at once. `None`: the engine's default.
    pub documents_in_flight: Option<usize>,
    /// Local folders the source reads, each with the key that names it (`root`): the host
    /// refuses to keep its own data inside one.
    pub local_paths: Vec<(String, PathBuf)>,
}

impl SourceProfile {
    /// The source has a directory of users and groups of its own.
    pub fn with_directory(mut self) -> Self {
        self.has_directory = true;
        self
    }

    /// Keep `n` documents in flight.
    pub fn with_documents_in_flight(mut self, n: usize) -> Self {
        self.documents_in_flight = Some(n);
        self
    }

    /// The source reads the local folder `path`, named by `key`.
    pub fn with_local_path(mut self, key: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.local_paths.push((key.into(), path.into()));
        self
    }
}

/// A kind of source, as its connector's author writes it: the `type` name, a typed config,
/// and the three steps from a table to a connector. Implement it on a unit struct; the
/// host registers `&YourType` in its list of [`ErasedSourceType`]s.
///
/// The steps, in order: the table is read into [`Config`](Self::Config) (every problem of
/// shape at once); [`resolve`](Self::resolve) completes it from the context;
/// [`validate`](Self::validate) checks it, purely; and only for a configuration without
/// problems, [`build`](Self::build) makes the connector when a command needs it.
pub trait SourceType: Clone + Send + Sync + 'static {
    /// The `type = "..."` name: lowercase letters, digits, `-` and `_` (`google-drive`),
    /// unique among the host's source types.
    const KIND: &'static str;

    /// The keys of the source table (the host's own keys aside), for serde's derive. Name
    /// keys in snake_case; give optional keys a `#[serde(default)]`; keep secrets in
    /// [`Secret`](crate::Secret). `#[serde(flatten)]` hides unknown keys from the reader: avoid it.
    type Config: DeserializeOwned + fmt::Debug + Send + Sync + 'static;

    /// A few words on what a required key is for, said when it is missing
    /// (`root: missing (the folder to sync)`).
    fn describe_key(&self, _key: &str) -> Option<&'static str> {
        None
    }

    /// Completes a config from its context, e.g. relative paths against
    /// [`ConfigContext::resolve_path`]. Pure: no I/O. The default does nothing.
    fn resolve(&self, _config: &mut Self::Config, _cx: &ConfigContext) {}

    /// Every problem of the config, each with its key relative to the source table
    /// (`include[2]`). Pure: no I/O, no network, no environment; a value of a
    /// [`Secret`](crate::Secret) never goes into a message.
    fn validate(&self, config: &Self::Config) -> Vec<ConfigProblem>;

    /// What the engine needs to know about a source so configured.
    fn profile(&self, _config: &Self::Config) -> SourceProfile {
        SourceProfile::default()
    }

    /// Makes the connector from a valid config. May read the environment (credential
    /// chains, local files); makes no network request (that is `Connector::check`).
    fn build(&self, config: &Self::Config) -> Result<Arc<dyn Connector>, ConnectorError>;
}

/// A source type as the host sees it: a name, and a table in, a [`ConfiguredSource`] or
/// every problem out. Every [`SourceType`] is one; implement `SourceType` instead.
pub trait ErasedSourceType: Send + Sync {
    /// The `type = "..."` name.
    fn kind(&self) -> &'static str;

    /// Reads, completes and validates one source table (a JSON object; the host's keys,
    /// named in `cx`, are skipped). Problems' keys are relative to the table.
    fn parse(
        &self,
        table: &serde_json::Value,
        cx: &ConfigContext,
    ) -> Result<Arc<dyn ConfiguredSource>, Vec<ConfigProblem>>;
}

/// A source type with a valid config: what the host keeps, and builds a connector from.
pub trait ConfiguredSource: fmt::Debug + Send + Sync {
    /// The `type = "..."` name.
    fn kind(&self) -> &'static str;

    /// What the engine needs to know about the source.
    fn profile(&self) -> &SourceProfile;

    /// The typed config, for a host or a test that knows its type (`downcast_ref`).
    fn config(&self) -> &dyn Any;

    /// Makes the connector ([`SourceType::build`]).
    fn build(&self) -> Result<Arc<dyn Connector>, ConnectorError>;
}

impl<T: SourceType> ErasedSourceType for T {
    fn kind(&self) -> &'static str {
        T::KIND
    }

    fn parse(
        &self,
        table: &serde_json::Value,
        cx: &ConfigContext,
    ) -> Result<Arc<dyn ConfiguredSource>, Vec<ConfigProblem>> {
        let describe = |key: &str| self.describe_key(key);
        let (config, mut problems) = read::read::<T::Config>(table, &cx.host_keys, &describe);
        let Some(mut config) = config else {
            return Err(problems);
        };
        self.resolve(&mut config, cx);
        // A key already reported holds a placeholder (or its default): what `validate`
        // says of it would only repeat the problem, or mislead.
        let reported: Vec<String> = problems.iter().map(|p| p.key.clone()).collect();
        let covered = |key: &str| {
            reported.iter().any(|r| {
                key == r
                    || key
                        .strip_prefix(r.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
        };
        for p in self.validate(&config) {
            if !covered(&p.key) {
                problems.push(p);
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Arc::new(Configured {
            profile: self.profile(&config),
            source_type: self.clone(),
            config,
        }))
    }
}

struct Configured<T: SourceType> {
    source_type: T,
    config: T::Config,
    profile: SourceProfile,
}

impl<T: SourceType> fmt::Debug for Configured<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfiguredSource")
            .field("kind", &T::KIND)
            .field("config", &self.config)
            .field("profile", &self.profile)
            .finish()
    }
}

impl<T: SourceType> ConfiguredSource for Configured<T> {
    fn kind(&self) -> &'static str {
        T::KIND
    }

    fn profile(&self) -> &SourceProfile {
        &self.profile
    }

    fn config(&self) -> &dyn Any {
        &self.config
    }

    fn build(&self) -> Result<Arc<dyn Connector>, ConnectorError> {
        self.source_type.build(&self.config)
    }
}

#[cfg(test)]
mod tests;
