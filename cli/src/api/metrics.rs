//! The daemon's Prometheus metrics: counters the daemon feeds after each run
//! ([`Metrics::record_run`]), and gauges computed at scrape time from the scheduler's statuses
//! and the data folder ([`Scrape`]).
//!
//! Built on `prometheus-client` rather than the `metrics` facade with its Prometheus exporter:
//! the facade records into one global recorder, so two daemons in a test process (or two
//! tests) would share counters, and gauges computed at scrape time fit its push model badly;
//! `prometheus-client` keeps a registry per [`Metrics`] value and encodes the Prometheus text
//! format directly.
//!
//! Stage durations (fetch, extract, index) are not in run reports (`sync_core::RunReport`
//! records counts, bytes, rate-limit pauses and start and end times only), so there is no
//! stage histogram: only the run's.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use sync_core::RunReport;

/// Prometheus' text format, version 0.0.4: the `Content-Type` of `/metrics`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Run durations span a no-op incremental run of a small folder (well under a second) to a
/// first full sync of a large drive (hours).
const DURATION_BUCKETS: [f64; 15] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    source: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    source: String,
    kind: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    source: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SuccessLabels {
    source: String,
    run: &'static str,
}

type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The daemon's counters and histograms; shared (`Arc`) between the daemon, which records
/// each run, and the API, which encodes them on each scrape.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    documents: Family<OutcomeLabels, Counter>,
    fetched_bytes: Family<SourceLabel, Counter>,
    duration: Family<KindLabels, Histogram, fn() -> Histogram>,
    rate_limited: Family<SourceLabel, FloatCounter>,
    rate_limit_pauses: Family<SourceLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every counter at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tributary");
        let runs = Family::<RunLabels, Counter>::default();
        let documents = Family::<OutcomeLabels, Counter>::default();
        let fetched_bytes = Family::<SourceLabel, Counter>::default();
        let duration = Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        let rate_limited = Family::<SourceLabel, FloatCounter>::default();
        let rate_limit_pauses = Family::<SourceLabel, Counter>::default();
        // Counter names get `_total` and units their suffix when encoded.
        registry.register(
            "runs",
            "Sync runs that ended, by source, kind and final state",
            runs.clone(),
        );
        registry.register(
            "documents",
            "Documents by what a run did with them (added, modified, deleted, acl_updated, unchanged, skipped, failed)",
            documents.clone(),
        );
        registry.register_with_unit(
            "fetched",
            "Bytes fetched from sources",
            Unit::Bytes,
            fetched_bytes.clone(),
        );
        registry.register_with_unit(
            "run_duration",
            "Duration of sync runs, by source and kind",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register_with_unit(
            "rate_limited",
            "Time runs spent waiting because a source asked them to slow down",
            Unit::Seconds,
            rate_limited.clone(),
        );
        registry.register(
            "rate_limit_pauses",
            "Times a source answered rate limited",
            rate_limit_pauses.clone(),
        );
        Metrics {
            registry,
            runs,
            documents,
            fetched_bytes,
            duration,
            rate_limited,
            rate_limit_pauses,
        }
    }

    /// Counts one run that ended. `kind` is the scheduler's kind that started it (`content`,
    /// `full`, `permissions`, `identities`); the daemon calls this after every run.
    pub fn record_run(&self, report: &RunReport, kind: &str) {
        let source = report.source.clone();
        self.runs
            .get_or_create(&RunLabels {
                source: source.clone(),
                kind: kind.to_string(),
                state: report.state.as_str().to_string(),
            })
            .inc();
        let c = &report.counts;
        for (outcome, n) in [
            ("added", c.added),
            ("modified", c.modified),
            ("deleted", c.deleted),
            ("acl_updated", c.acl_updated),
            ("unchanged", c.unchanged),
            ("skipped", c.skipped),
            ("failed", c.failed),
        ] {
            // Every outcome's series exists from the first run on, zero or not: a series that
            // appears at a value loses that first increase in `rate()`.
            self.documents
                .get_or_create(&OutcomeLabels {
                    source: source.clone(),
                    outcome,
                })
                .inc_by(n);
        }
        let by_source = SourceLabel {
            source: source.clone(),
        };
        self.fetched_bytes.get_or_create(&by_source).inc_by(c.bytes);
        self.rate_limited
            .get_or_create(&by_source)
            .inc_by(report.rate_limited.waited_ms as f64 / 1000.0);
        self.rate_limit_pauses
            .get_or_create(&by_source)
            .inc_by(report.rate_limited.pauses);
        // A report without an end did not end (the daemon records ended runs only).
        if let Some(finished) = report.finished_at {
            let secs = (finished - report.started_at).as_seconds_f64().max(0.0);
            self.duration
                .get_or_create(&KindLabels {
                    source,
                    kind: kind.to_string(),
                })
                .observe(secs);
        }
    }

    /// The counters, then the gauges of `scrape`, in Prometheus' text format.
    pub fn encode(&self, scrape: &Scrape) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoding error would be a bug in a label,
        // and a partial scrape is more use to an operator than none.
        if let Err(e) = prometheus_text::encode(&mut out, &self.registry)
            .and_then(|()| prometheus_text::encode(&mut out, &scrape.registry()))
        {
            tracing::error!("api: encoding metrics: {e}");
        }
        out
    }
}

/// One source as seen at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceGauges {
    pub source: String,
    /// From the scheduler; `None` when it does not know the source.
    pub healthy: Option<bool>,
    pub consecutive_failures: u32,
    /// Documents waiting for a retry (the store's retry list).
    pub pending_retries: u64,
    /// End of the newest document run (full or incremental) that completed its listing
    /// (succeeded or partial), as a Unix time.
    pub last_document_success: Option<f64>,
    /// End of the newest identity sync that succeeded, as a Unix time.
    pub last_identity_success: Option<f64>,
    /// Documents in the index.
    pub documents: u64,
}

/// The gauges computed at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    /// Every configured source.
    pub sources: Vec<SourceGauges>,
    /// Runs in progress.
    pub running_runs: u64,
    /// Runs in progress that made no progress for the stall time while not rate-limited.
    pub stalled_runs: u64,
    /// The index folder's size on disk.
    pub index_size_bytes: u64,
    /// The state store's size on disk.
    pub store_size_bytes: u64,
}

impl Scrape {
    /// A registry of fresh gauges: built per scrape, so a source removed by a reload
    /// disappears instead of reporting its last values forever.
    fn registry(&self) -> Registry {
        let mut registry = Registry::with_prefix("tributary");
        registry.register(
            "running_runs",
            "Sync runs in progress",
            gauge(self.running_runs),
        );
        registry.register(
            "stalled_runs",
            "Runs in progress with no progress for the stall time while not rate-limited",
            gauge(self.stalled_runs),
        );
        registry.register_with_unit(
            "index_size",
            "Size of the index on disk",
            Unit::Bytes,
            gauge(self.index_size_bytes),
        );
        registry.register_with_unit(
            "store_size",
            "Size of the state store on disk",
            Unit::Bytes,
            gauge(self.store_size_bytes),
        );
        let healthy = Family::<SourceLabel, Gauge>::default();
        let failures = Family::<SourceLabel, Gauge>::default();
        let retries = Family::<SourceLabel, Gauge>::default();
        let documents = Family::<SourceLabel, Gauge>::default();
        let success = Family::<SuccessLabels, FloatGauge>::default();
        for s in &self.sources {
            let label = SourceLabel {
                source: s.source.clone(),
            };
            if let Some(h) = s.healthy {
                healthy.get_or_create(&label).set(i64::from(h));
                failures
                    .get_or_create(&label)
                    .set(i64::from(s.consecutive_failures));
            }
            retries
                .get_or_create(&label)
                .set(i64::try_from(s.pending_retries).unwrap_or(i64::MAX));
            documents
                .get_or_create(&label)
                .set(i64::try_from(s.documents).unwrap_or(i64::MAX));
            for (run, at) in [
                ("documents", s.last_document_success),
                ("identities", s.last_identity_success),
            ] {
                if let Some(at) = at {
                    success
                        .get_or_create(&SuccessLabels {
                            source: s.source.clone(),
                            run,
                        })
                        .set(at);
                }
            }
        }
        registry.register(
            "source_healthy",
            "1 when the source's runs succeed, 0 when some kind failed too many times in a row",
            healthy,
        );
        registry.register(
            "source_consecutive_failures",
            "The longest current run of failures among the source's kinds",
            failures,
        );
        registry.register(
            "pending_retries",
            "Documents waiting to be tried again",
            retries,
        );
        registry.register("index_documents", "Documents in the index", documents);
        registry.register_with_unit(
            "last_success_timestamp",
            "Unix time the newest successful run of the source ended (run: documents or identities)",
            Unit::Seconds,
            success,
        );
        registry
    }
}

/// A gauge holding `v` (saturating: no count here comes near `i64::MAX`).
fn gauge(v: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(v).unwrap_or(i64::MAX));
    g
}
