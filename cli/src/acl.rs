//! `tributary acl explain`: why a user can or cannot see one document.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use sync_core::StoredAcl;
use sync_core::identities::{Decision, Derived, Identities, explain};

use crate::commands::{load_identities, open_index};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Show a document's allow and deny entries, the user's principals with the path that
    /// gives each, and the decision with the entry that decided it
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The user (an email address)
    #[arg(long = "as", value_name = "USER")]
    user: String,
    /// The document, as SOURCE:DOC_ID (as `search` prints it)
    #[arg(long, value_name = "SOURCE:DOC_ID")]
    doc: String,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

pub fn run(config: &Config, command: AclCommand) -> anyhow::Result<ExitCode> {
    match command {
        AclCommand::Explain(args) => explain_cmd(config, args),
    }
}

/// `SOURCE:DOC_ID` split at its first colon (document ids may hold colons, source ids never).
pub(crate) fn split_doc(doc: &str) -> Option<(&str, &str)> {
    doc.split_once(':')
}

/// Why one user can or cannot see one document: what `acl explain` shows and
/// `GET /v1/acl/explain` returns.
#[derive(Debug, Clone)]
pub(crate) struct Explanation {
    pub source: String,
    pub doc_id: String,
    pub user: String,
    pub acl: StoredAcl,
    /// The user's principals, each with the path that gives it.
    pub derived: Vec<Derived>,
    pub decision: Decision,
}

impl Explanation {
    /// Decides for `user` and the document whose indexed ACL is `acl`.
    pub(crate) fn new(
        identities: &Identities,
        user: &str,
        source: &str,
        doc_id: &str,
        acl: StoredAcl,
    ) -> Self {
        let derived = identities.derive(user);
        let principals: Vec<String> = derived.iter().map(|d| d.principal.clone()).collect();
        let decision = explain(&acl.allow, &acl.deny, &principals);
        Explanation {
            source: source.to_string(),
            doc_id: doc_id.to_string(),
            user: user.to_string(),
            acl,
            derived,
            decision,
        }
    }

    /// The JSON of `acl explain --json`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let principals: Vec<serde_json::Value> = self
            .derived
            .iter()
            .map(|d| {
                serde_json::json!({
                    "principal": d.principal, "path": d.path,
                    "provider": d.provider.map(|p| p.as_str()),
                })
            })
            .collect();
        serde_json::json!({
            "source": self.source, "doc_id": self.doc_id, "title": self.acl.title,
            "user": self.user, "visible": self.decision.visible,
            "decided_by": self.decision.decided_by, "allow": self.acl.allow,
            "deny": self.acl.deny, "principals": principals,
        })
    }
}

fn explain_cmd(config: &Config, args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let Some((source, doc_id)) = split_doc(&args.doc) else {
        bail!("--doc takes SOURCE:DOC_ID (for example sample:public/handbook.md)");
    };
    let index = open_index(config)?;
    let Some(acl) = index.document_acl(source, doc_id)? else {
        bail!("no document {doc_id:?} of source {source:?} in the index");
    };
    let identities = load_identities(config)?;
    let explanation = Explanation::new(&identities, &args.user, source, doc_id, acl);
    if args.json {
        out!("{}", serde_json::to_string_pretty(&explanation.to_json())?);
        return Ok(ExitCode::SUCCESS);
    }
    let Explanation {
        acl,
        derived,
        decision,
        ..
    } = &explanation;
    out!("document {source}:{doc_id} ({})", acl.title);
    let entries = |list: &[String]| match list {
        [] => "(none)".to_string(),
        _ => list.join(", "),
    };
    out!("  allow: {}", entries(&acl.allow));
    out!("  deny:  {}", entries(&acl.deny));
    out!("user {} has {} principal(s):", args.user, derived.len());
    for d in derived {
        out!("  {}", describe(d));
    }
    let verdict = match (decision.visible, decision.decided_by.as_deref()) {
        (true, Some(entry)) => format!("visible: allowed by {entry}"),
        (false, Some("no allow entry")) => {
            "not visible: the document has no allow entry (nobody may read it)".to_string()
        }
        (false, Some(entry)) => format!("not visible: denied by {entry} (deny wins)"),
        (_, None) => "not visible: no allow entry matches the user's principals".to_string(),
    };
    out!("decision: {verdict}");
    Ok(ExitCode::SUCCESS)
}

/// `group:sample:all-staff  ← user:bob@example.com → group:sample:hr → … [identities file]`.
fn describe(d: &Derived) -> String {
    let mut line = d.principal.clone();
    if d.path.len() > 1 {
        line.push_str("  via ");
        line.push_str(&d.path.join(" → "));
    }
    if let Some(p) = d.provider {
        line.push_str(&format!("  [{}]", p.as_str()));
    }
    line
}
