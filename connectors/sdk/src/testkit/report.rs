//! What a run of the kit found: each scenario passed, failed (with what differed) or was
//! skipped (with the reason), never silently passed.

use std::fmt;
use std::time::Duration;

/// How one scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every MUST check held. `notes` has what SHOULD checks found and facts worth knowing
    /// (`should: ...` marks a SHOULD the connector does not keep).
    Passed {
        /// Notes, in the order they were made.
        notes: Vec<String>,
    },
    /// At least one MUST check failed, or the scenario could not go on (a hang, a first
    /// sync that went wrong, a handle failure).
    Failed {
        /// Every problem found, each saying what was expected and what happened.
        problems: Vec<String>,
        /// Notes, as for a pass.
        notes: Vec<String>,
    },
    /// The source cannot do what the scenario needs.
    Skipped {
        /// Why, in the handle's words.
        reason: String,
    },
}

/// One scenario's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioReport {
    /// The scenario's name (`kill_and_resume`, `misbehaving_server/malformed_body`).
    pub name: String,
    /// What it checks, in one sentence.
    pub checks: &'static str,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// The kit's findings for one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// What was tested (`filesystem`, `s3 (moto)`).
    pub subject: String,
    /// Every scenario run, in order.
    pub scenarios: Vec<ScenarioReport>,
}

impl Report {
    /// The scenarios that failed.
    pub fn failed(&self) -> Vec<&ScenarioReport> {
        self.scenarios
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Failed { .. }))
            .collect()
    }

    /// The scenarios that were skipped.
    pub fn skipped(&self) -> Vec<&ScenarioReport> {
        self.scenarios
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Skipped { .. }))
            .collect()
    }

    /// The scenarios that passed.
    pub fn passed(&self) -> Vec<&ScenarioReport> {
        self.scenarios
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Passed { .. }))
            .collect()
    }

    /// The outcome of the scenario called `name`.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.scenarios
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.outcome)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "conformance of {}: {} passed, {} failed, {} skipped",
            self.subject,
            self.passed().len(),
            self.failed().len(),
            self.skipped().len()
        )?;
        for s in &self.scenarios {
            let secs = s.elapsed.as_secs_f64();
            match &s.outcome {
                Outcome::Passed { notes } => {
                    writeln!(f, "  PASS {} ({secs:.1} s)", s.name)?;
                    for n in notes {
                        writeln!(f, "       note: {n}")?;
                    }
                }
                Outcome::Failed { problems, notes } => {
                    writeln!(f, "  FAIL {} ({secs:.1} s): {}", s.name, s.checks)?;
                    for p in problems {
                        writeln!(f, "       - {p}")?;
                    }
                    for n in notes {
                        writeln!(f, "       note: {n}")?;
                    }
                }
                Outcome::Skipped { reason } => writeln!(f, "  SKIP {}: {reason}", s.name)?,
            }
        }
        Ok(())
    }
}

/// Panics with the whole report unless every scenario passed or was skipped, and at least
/// one passed.
pub fn assert_conformant(report: &Report) {
    if !report.failed().is_empty() || report.passed().is_empty() {
        panic!("{report}");
    }
}
