//! Tributary's integration tests: one binary, one module per area.
//!
//! Tests drive the engine in-process through the same crates the CLI uses, and drive the
//! `tributary` binary itself where the process boundary matters (crash safety, the CLI's
//! JSON contracts).

mod acl_search;
mod change_feed;
mod cli;
mod compat;
mod concurrent;
mod conformance;
mod crash;
mod daemon;
mod drive;
mod format_snapshots;
mod hostile;
mod identities;
mod incremental;
mod jira;
mod journal;
mod legacy_snapshots;
mod listing_failures;
mod process;
mod public_api;
mod push;
mod revocation;
mod s3;
mod scripted;
mod seeded;
mod servicenow;
mod sharepoint;
mod shutdown;
mod slack;
mod snapshots;
mod store_writes;
mod support;
mod tidy;
