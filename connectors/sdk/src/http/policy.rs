//! [`Politeness`]: retries, backoff, `Retry-After`, rate and concurrency limits and one token
//! refresh, around attempts made with any HTTP client.

use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::attempt::{Attempt, Outcome, Permit, TransportError, TransportKind};
use super::classify::{Classifier, Classifiers, Reply, Verdict, status_message};
use super::quota::QuotaPacer;
use crate::auth::TokenSource;
use crate::{ConfigProblem, ConnectorError, ErrorKind};

/// How polite one source is. One [`Politeness`] built from it is shared by every call to
/// the source, so its limits are the source's, not one call's.
#[derive(Debug, Clone, PartialEq)]
pub struct PolitenessConfig {
    /// Attempts per call, the first included (a token refresh after a 401 adds one).
    pub max_attempts: u32,
    /// No retry starts once this much time has passed since the call began; with the
    /// attempt timeout this bounds a call at `max_elapsed + request_timeout`.
    pub max_elapsed: Duration,
    /// The backoff ceiling before the first retry; it doubles with each retry.
    pub initial_backoff: Duration,
    /// The largest backoff ceiling. Each wait is drawn uniformly from zero to the ceiling
    /// ("full jitter"), so that clients throttled together do not retry together.
    pub max_backoff: Duration,
    /// Retries (with backoff) of a throttling reply that names no delay (a 429 or 503
    /// without `Retry-After`, Google's rate-limit 403s) before the call fails with
    /// `RateLimited { retry_after: None }` and the engine pauses the run.
    pub throttle_retries: u32,
    /// The deadline of one attempt, from sending the request to the end of what the attempt
    /// reads (the whole body of a JSON call; the headers of a download).
    pub request_timeout: Duration,
    /// Requests per second to the source (fractions allowed: `0.5` is one every 2 s);
    /// `None` for no limit. Retries count.
    pub requests_per_second: Option<f64>,
    /// How many requests may go at once after an idle period, within the rate.
    pub burst: u32,
    /// Requests in flight at once (a download counts until its stream is dropped); `None`
    /// for no limit.
    pub max_concurrency: Option<usize>,
}

impl Default for PolitenessConfig {
    fn default() -> Self {
        PolitenessConfig {
            max_attempts: 5,
            max_elapsed: Duration::from_secs(120),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            throttle_retries: 3,
            request_timeout: Duration::from_secs(60),
            requests_per_second: None,
            burst: 1,
            max_concurrency: Some(8),
        }
    }
}

impl PolitenessConfig {
    /// Every problem with the values, without doing anything (keys are the field names).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: &str| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message: message.to_string(),
            })
        };
        if self.max_attempts == 0 {
            problem("max_attempts", "must be at least 1");
        }
        if self.request_timeout.is_zero() {
            problem("request_timeout", "must be more than zero");
        }
        if self.initial_backoff > self.max_backoff {
            problem("initial_backoff", "must not exceed max_backoff");
        }
        if let Some(rate) = self.requests_per_second
            && !(rate.is_finite() && rate > 0.0 && 1.0 / rate < 86_400.0 * 365.0)
        {
            problem("requests_per_second", "must be a positive number");
        }
        if self.burst == 0 {
            problem("burst", "must be at least 1");
        }
        if self.max_concurrency == Some(0) {
            problem("max_concurrency", "must be at least 1");
        }
        problems
    }
}

/// governor's clock on tokio's time, so that a paused test clock paces the limiter too.
#[derive(Debug, Clone)]
struct TokioClock {
    start: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// What every clone of a [`Politeness`] shares.
struct Shared {
    config: PolitenessConfig,
    clock: TokioClock,
    limiter: Option<Limiter>,
    permits: Option<Arc<Semaphore>>,
    /// The pacing the source's quota headers ask for.
    quota: QuotaPacer,
}

/// The politeness policy of one source: rate limit, concurrency limit, retries with full
/// jitter, `Retry-After`, vendor classifiers, and one token refresh on a 401, around any
/// client's attempts. Clones share the limits.
///
/// ```no_run
/// # async fn demo() -> Result<(), connector_sdk::ConnectorError> {
/// use connector_sdk::http::{Outcome, Politeness, PolitenessConfig, Reply};
///
/// let policy = Politeness::new(PolitenessConfig::default())?;
/// let answer: u32 = policy
///     .call("GET https://api.example.com/things", None, |attempt| async move {
///         // Any client: make one request, report what came back.
///         let _ = attempt.number();
///         let reply = Reply::head(http::StatusCode::OK, http::HeaderMap::new());
///         Outcome::Success { reply, value: 42 }
///     })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Politeness {
    shared: Arc<Shared>,
    classifiers: Classifiers,
}

impl fmt::Debug for Politeness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Politeness")
            .field("config", &self.shared.config)
            .field("classifiers", &self.classifiers)
            .finish_non_exhaustive()
    }
}

impl Politeness {
    /// A policy with `config`'s limits. Fails as `Permanent` when the configuration does
    /// not validate.
    pub fn new(config: PolitenessConfig) -> Result<Self, ConnectorError> {
        let problems = config.validate();
        if !problems.is_empty() {
            let mut refusal = ConfigProblem::refusal(&problems);
            refusal.message = format!("invalid politeness configuration: {}", refusal.message);
            return Err(refusal);
        }
        let clock = TokioClock {
            start: Instant::now(),
        };
        let limiter = config.requests_per_second.and_then(|rate| {
            let burst = NonZeroU32::new(config.burst)?;
            let quota = Quota::with_period(Duration::from_secs_f64(1.0 / rate))?;
            Some(RateLimiter::new(
                quota.allow_burst(burst),
                InMemoryState::default(),
                clock.clone(),
            ))
        });
        let permits = config.max_concurrency.map(|n| Arc::new(Semaphore::new(n)));
        Ok(Politeness {
            shared: Arc::new(Shared {
                config,
                clock,
                limiter,
                permits,
                quota: QuotaPacer::new(),
            }),
            classifiers: Classifiers::default(),
        })
    }

    /// The same policy (sharing its limits) that also consults `classifier`, after the ones
    /// it had. [`GoogleThrottling`](super::GoogleThrottling) and
    /// [`SlackThrottling`](super::SlackThrottling) are ready-made.
    pub fn with_classifier(mut self, classifier: impl Classifier + 'static) -> Self {
        self.classifiers.0.push(Arc::new(classifier));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &PolitenessConfig {
        &self.shared.config
    }

    /// What the policy's classifiers (then the status line) make of `reply`.
    pub fn classify(&self, reply: &Reply) -> Verdict {
        self.classifiers.classify(reply)
    }

    /// Makes a call: runs `attempt` until it succeeds or the policy gives up, and returns
    /// its value. `label` names the call in error messages (`GET https://host/path`; it
    /// must hold no secret: see [`redact_url`](super::redact_url)). With `auth`, each
    /// attempt gets its current token; a 401 invalidates it and retries once with a fresh
    /// one, and a second 401 fails as `Unauthorized`.
    ///
    /// Errors: `RateLimited` (with the source's `Retry-After`, at once; without one, after
    /// `throttle_retries` backoffs), `Transient`/`Timeout` once attempts or time are spent,
    /// and whatever the classifiers or the attempt decide. A `RateLimited` call can simply
    /// be made again later; the engine pauses the run in between.
    pub async fn call<T, F, Fut>(
        &self,
        label: &str,
        auth: Option<&dyn TokenSource>,
        attempt: F,
    ) -> Result<T, ConnectorError>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Outcome<T>>,
    {
        let (value, _permit) = self.call_holding_permit(label, auth, attempt).await?;
        Ok(value)
    }

    /// [`call`](Self::call), returning the concurrency slot with the value, for a value
    /// that keeps using the connection (a download's stream holds the permit until dropped).
    pub async fn call_holding_permit<T, F, Fut>(
        &self,
        label: &str,
        auth: Option<&dyn TokenSource>,
        mut attempt: F,
    ) -> Result<(T, Permit), ConnectorError>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Outcome<T>>,
    {
        let config = &self.shared.config;
        let started = Instant::now();
        let mut backoff = Backoff::new(config, fastrand::Rng::new());
        let mut attempts = 0u32;
        let mut refreshed = false;
        let mut throttled = 0u32;
        let fail = |kind: ErrorKind, message: String| {
            ConnectorError::new(kind, format!("{label}: {message}"))
        };
        loop {
            // The token comes first, outside the limits: a refresh may itself be a call
            // through this policy, and must not wait for a slot its caller holds.
            let credential = match auth {
                Some(source) => Some((source.scheme(), source.token().await?)),
                None => None,
            };
            self.wait_for_rate().await;
            let paced = self.shared.quota.slot();
            if !paced.is_zero() {
                tokio::time::sleep(paced).await;
            }
            let permit = match &self.shared.permits {
                Some(permits) => Arc::clone(permits).acquire_owned().await.ok(),
                None => None,
            };
            attempts += 1;
            let this = Attempt {
                number: attempts,
                credential,
            };
            let outcome = match tokio::time::timeout(config.request_timeout, attempt(this)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Transport(TransportError::new(
                    TransportKind::Timeout,
                    format!("no response within {:?}", config.request_timeout),
                )),
            };
            if let Outcome::Success { reply, .. } | Outcome::Failure(reply) = &outcome {
                self.shared.quota.observe(&reply.headers);
            }
            let verdict = match outcome {
                Outcome::Success { reply, value } => match self.classify(&reply) {
                    Verdict::Accept => {
                        return Ok((value, Permit { _permit: permit }));
                    }
                    verdict => verdict,
                },
                Outcome::Failure(reply) => match self.classify(&reply) {
                    Verdict::Accept => Verdict::Fail {
                        kind: ErrorKind::InvalidResponse,
                        message: format!("{} was not usable", status_message(reply.status)),
                    },
                    verdict => verdict,
                },
                Outcome::Transport(err) => err.verdict(),
                Outcome::Fatal(err) => return Err(err),
            };
            drop(permit);
            match verdict {
                // Cannot happen (an accepted success has returned, an accepted failure is
                // a `Fail` above); answered like the latter rather than with a panic.
                Verdict::Accept => {
                    return Err(fail(
                        ErrorKind::InvalidResponse,
                        "the reply was not usable".into(),
                    ));
                }
                Verdict::Unauthorized { message } => match auth {
                    Some(source) if !refreshed => {
                        source.invalidate();
                        refreshed = true;
                    }
                    Some(_) => {
                        return Err(fail(
                            ErrorKind::Unauthorized,
                            format!("{message}, again after a token refresh"),
                        ));
                    }
                    None => return Err(fail(ErrorKind::Unauthorized, message)),
                },
                Verdict::RateLimited {
                    retry_after: Some(delay),
                    message,
                } => {
                    return Err(fail(
                        ErrorKind::RateLimited {
                            retry_after: Some(delay),
                        },
                        format!("{message}, retry after {delay:?}"),
                    ));
                }
                Verdict::RateLimited {
                    retry_after: None,
                    message,
                } => {
                    let delay = (throttled < config.throttle_retries)
                        .then(|| backoff.next_within(config, attempts, started))
                        .flatten();
                    let Some(delay) = delay else {
                        return Err(fail(
                            ErrorKind::RateLimited { retry_after: None },
                            format!("{message} after {attempts} attempts"),
                        ));
                    };
                    throttled += 1;
                    tokio::time::sleep(delay).await;
                }
                Verdict::Retry { kind, message } => {
                    let Some(delay) = backoff.next_within(config, attempts, started) else {
                        return Err(fail(kind, format!("{message} after {attempts} attempts")));
                    };
                    tokio::time::sleep(delay).await;
                }
                Verdict::Fail { kind, message } => return Err(fail(kind, message)),
            }
        }
    }

    /// Waits until the rate limiter lets one more request go.
    async fn wait_for_rate(&self) {
        let Some(limiter) = &self.shared.limiter else {
            return;
        };
        while let Err(not_until) = limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(self.shared.clock.now())).await;
        }
    }
}

/// Exponential backoff ceilings (from backon, without its jitter, which adds up to 100%
/// of the delay instead of drawing below it) with full jitter on top.
struct Backoff {
    ceilings: backon::ExponentialBackoff,
    rng: fastrand::Rng,
    max: Duration,
}

impl Backoff {
    fn new(config: &PolitenessConfig, rng: fastrand::Rng) -> Self {
        let ceilings = backon::ExponentialBuilder::new()
            .with_min_delay(config.initial_backoff)
            .with_max_delay(config.max_backoff)
            .with_factor(2.0)
            .without_max_times()
            .build();
        Backoff {
            ceilings,
            rng,
            max: config.max_backoff,
        }
    }

    /// The next wait: uniform in [0, ceiling].
    fn next(&mut self) -> Duration {
        let ceiling = self.ceilings.next().unwrap_or(self.max);
        ceiling.mul_f64(self.rng.f64())
    }

    /// The next wait, if another attempt is allowed and would start within the time budget.
    fn next_within(
        &mut self,
        config: &PolitenessConfig,
        attempts: u32,
        started: Instant,
    ) -> Option<Duration> {
        if attempts >= config.max_attempts {
            return None;
        }
        let delay = self.next();
        (started.elapsed() + delay <= config.max_elapsed).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_draws_below_the_doubling_ceiling() {
        let config = PolitenessConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(800),
            ..PolitenessConfig::default()
        };
        let ceilings = [100u64, 200, 400, 800, 800, 800];
        let mut below_half = 0;
        for seed in 0..200 {
            let mut backoff = Backoff::new(&config, fastrand::Rng::with_seed(seed));
            for ceiling in ceilings {
                let delay = backoff.next();
                assert!(
                    delay <= Duration::from_millis(ceiling),
                    "{delay:?} > {ceiling} ms"
                );
                if delay < Duration::from_millis(ceiling / 2) {
                    below_half += 1;
                }
            }
        }
        // Full jitter draws from [0, ceiling]: about half of the draws are below half of it
        // (backon's own jitter draws from [ceiling, 2 × ceiling], never below).
        assert!((450..=750).contains(&below_half), "{below_half} of 1200");
    }

    #[test]
    fn validate_names_every_bad_field() {
        let config = PolitenessConfig {
            max_attempts: 0,
            request_timeout: Duration::ZERO,
            initial_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(1),
            requests_per_second: Some(f64::NAN),
            burst: 0,
            max_concurrency: Some(0),
            ..PolitenessConfig::default()
        };
        let keys: Vec<String> = config.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "max_attempts",
                "request_timeout",
                "initial_backoff",
                "requests_per_second",
                "burst",
                "max_concurrency"
            ]
        );
        assert!(PolitenessConfig::default().validate().is_empty());
        let err = Politeness::new(config).expect_err("invalid");
        assert_eq!(err.kind, ErrorKind::Permanent);
        assert!(err.message.contains("burst: must be at least 1"), "{err}");
    }
}
