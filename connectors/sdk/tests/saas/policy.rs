//! The generic policy around a client that is not reqwest: scripted outcomes, on tokio's
//! paused clock, so that backoffs, budgets and rates are exact and instant.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use connector_sdk::auth::TokenSource;
use connector_sdk::http::{
    Outcome, Politeness, PolitenessConfig, Reply, TransportError, TransportKind,
};
use connector_sdk::{ConnectorError, ErrorKind, Secret};
use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

use crate::fast;

/// What a scripted attempt does.
#[derive(Debug, Clone, Copy)]
enum Act {
    Status(u16),
    Reset,
    Other,
    Hang,
    Undecodable,
}

fn reply(status: u16) -> Reply {
    let status = StatusCode::from_u16(status).expect("status");
    Reply::new(status, HeaderMap::new(), Bytes::new())
}

/// Runs one call whose attempts play `acts` (the last repeats) with `config`; returns
/// `ok` or the error kind, the number of attempts, and the time it took on the paused clock.
async fn check(config: PolitenessConfig, acts: &[Act]) -> (String, u32, Duration) {
    let policy = Politeness::new(config).expect("policy");
    let script = Mutex::new(acts.iter().copied().collect::<VecDeque<_>>());
    let attempts = AtomicUsize::new(0);
    let started = Instant::now();
    let result = policy
        .call("CALL scripted", None, |attempt| {
            attempts.store(attempt.number() as usize, Ordering::SeqCst);
            let act = {
                let mut script = script.lock().expect("script");
                if script.len() > 1 {
                    script.pop_front()
                } else {
                    script.front().copied()
                }
            };
            async move {
                match act.expect("an act") {
                    Act::Status(status) if status < 300 => Outcome::Success {
                        reply: reply(status),
                        value: (),
                    },
                    Act::Status(status) => Outcome::Failure(reply(status)),
                    Act::Reset => Outcome::Transport(TransportError::from_io(
                        &std::io::Error::from(std::io::ErrorKind::ConnectionReset),
                    )),
                    Act::Other => Outcome::Transport(TransportError::new(
                        TransportKind::Other,
                        "tls handshake failed",
                    )),
                    Act::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        Outcome::Failure(reply(500))
                    }
                    Act::Undecodable => Outcome::Fatal(ConnectorError::new(
                        ErrorKind::InvalidResponse,
                        "CALL scripted: unexpected JSON",
                    )),
                }
            }
        })
        .await;
    let outcome = match result {
        Ok(()) => "ok".to_string(),
        Err(err) => err.kind.as_str().to_string(),
    };
    (
        outcome,
        attempts.load(Ordering::SeqCst) as u32,
        started.elapsed(),
    )
}

#[tokio::test(start_paused = true)]
async fn any_client_gets_retries_and_verdicts() {
    use Act::*;
    let cases: &[(&[Act], &str, u32)] = &[
        (&[Status(200)], "ok", 1),
        (&[Status(503), Reset, Status(502), Status(200)], "ok", 4),
        (&[Reset], "transient", 5),
        (&[Other], "transient", 1),
        (&[Status(404)], "not_found", 1),
        (&[Status(401)], "unauthorized", 1),
        (&[Undecodable], "invalid_response", 1),
        // Two 10 s attempts spend the 20 s budget.
        (&[Hang], "timeout", 2),
        (&[Status(429)], "rate_limited", 4),
    ];
    for (acts, expected, attempts) in cases {
        let (outcome, made, _) = check(fast(), acts).await;
        assert_eq!((outcome.as_str(), made), (*expected, *attempts), "{acts:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn retries_stop_when_the_time_budget_is_spent() {
    let config = PolitenessConfig {
        max_attempts: 1000,
        max_elapsed: Duration::from_secs(60),
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(16),
        ..fast()
    };
    let (outcome, attempts, took) = check(config, &[Act::Status(500)]).await;
    assert_eq!(outcome, "transient");
    assert!(took <= Duration::from_secs(60), "{took:?}");
    // Waits average half their ceiling (1, 2, 4, 8, then 16 s): well over a handful of
    // attempts fit in a minute, and far fewer than the attempt cap.
    assert!((4..1000).contains(&attempts), "{attempts} attempts");
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_paces_any_client() {
    let config = PolitenessConfig {
        requests_per_second: Some(2.0),
        burst: 1,
        ..fast()
    };
    let policy = Politeness::new(config).expect("policy");
    let started = Instant::now();
    for _ in 0..5 {
        policy
            .call("CALL paced", None, |_| async {
                Outcome::Success {
                    reply: reply(200),
                    value: (),
                }
            })
            .await
            .expect("ok");
    }
    // Five requests at 2/s: the first at once, then one every 500 ms.
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(2000)..Duration::from_millis(2100)).contains(&took),
        "{took:?}"
    );
}

/// Issues `t1`, `t2`, … and counts fetches and invalidations.
#[derive(Debug, Default)]
struct Counting {
    issued: AtomicUsize,
    invalidated: AtomicUsize,
    valid: AtomicUsize,
}

#[async_trait]
impl TokenSource for Counting {
    async fn token(&self) -> Result<Secret, ConnectorError> {
        if self.valid.load(Ordering::SeqCst) == 0 {
            let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
            self.valid.store(n, Ordering::SeqCst);
        }
        Ok(Secret::new(format!(
            "t{}",
            self.valid.load(Ordering::SeqCst)
        )))
    }

    fn invalidate(&self) {
        self.invalidated.fetch_add(1, Ordering::SeqCst);
        self.valid.store(0, Ordering::SeqCst);
    }
}

/// A call whose API accepts only `accepted` tokens; returns what it came to and the
/// `Authorization` values the attempts sent.
async fn call_with(auth: &Counting, accepted: &[&str]) -> (String, Vec<String>) {
    let policy = Politeness::new(fast()).expect("policy");
    let sent = Mutex::new(Vec::new());
    let result = policy
        .call("CALL authed", Some(auth), |attempt| {
            let header = attempt.authorization().expect("a credential");
            sent.lock().expect("sent").push(header.expose().to_string());
            let ok = accepted.contains(&attempt.token().expect("token").expose());
            async move {
                if ok {
                    Outcome::Success {
                        reply: reply(200),
                        value: (),
                    }
                } else {
                    Outcome::Failure(reply(401))
                }
            }
        })
        .await;
    let outcome = match result {
        Ok(()) => "ok".to_string(),
        Err(err) => err.kind.as_str().to_string(),
    };
    (outcome, sent.into_inner().expect("sent"))
}

#[tokio::test]
async fn a_401_refreshes_the_token_once() {
    let auth = Counting::default();
    let (outcome, sent) = call_with(&auth, &["t2"]).await;
    assert_eq!(outcome, "ok");
    assert_eq!(sent, ["Bearer t1", "Bearer t2"]);
    assert_eq!(auth.invalidated.load(Ordering::SeqCst), 1);

    let auth = Counting::default();
    let (outcome, sent) = call_with(&auth, &[]).await;
    assert_eq!(outcome, "unauthorized");
    assert_eq!(sent, ["Bearer t1", "Bearer t2"]);
    assert_eq!(auth.issued.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn quota_headers_spread_what_is_left_before_the_source_throttles() {
    let policy = Politeness::new(fast()).expect("policy");
    let started = Instant::now();
    let starts = Mutex::new(Vec::new());
    // Graph's headers once 80% of the resource units are used: 4, then 3, then 0 left.
    for remaining in ["4", "3", "0", "9"] {
        policy
            .call("CALL quota", None, |_| {
                starts.lock().expect("starts").push(started.elapsed());
                let mut headers = HeaderMap::new();
                headers.insert("RateLimit-Remaining", remaining.parse().expect("value"));
                headers.insert("RateLimit-Reset", "10".parse().expect("value"));
                async move {
                    Outcome::Success {
                        reply: Reply::new(StatusCode::OK, headers, Bytes::new()),
                        value: (),
                    }
                }
            })
            .await
            .expect("ok");
    }
    let secs: Vec<f64> = starts
        .into_inner()
        .expect("starts")
        .iter()
        .map(Duration::as_secs_f64)
        .collect();
    // 4 left in 10 s: 2 s apart, then 3 left: 2.5 s apart; none left: wait for the reset.
    assert_eq!(secs, [0.0, 0.0, 2.0, 12.0]);
}
