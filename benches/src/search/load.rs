//! Load: N concurrent clients for a round of fixed length, either closed loop (each sends
//! its next request as soon as the previous one answered: throughput, and latency at
//! saturation) or paced (a fixed rate in all, open loop as wrk2 measures: latency at a load
//! the machine can carry); per-request latency and throughput.
//! Three ways to search, the same requests in the same order (query i of the mix, as user j),
//! and the HTTP round trip alone:
//!
//! - `http`: `GET /v1/search` of the running daemon (reqwest, keep-alive, bearer token);
//! - `http-bare`: the same with `snippets=false`: what `raw` does (hits and their stored
//!   fields), over HTTP;
//! - `raw`: plain tantivy in this process on the same index folder: the same query parser
//!   and boost, the same ACL filter (must: any allowed principal, scoring nothing; must not:
//!   any denied one),
//!   the same limit, each hit's stored document loaded; its reader reloads on commits
//!   (tantivy's default policy); the users' principals computed once up front;
//! - `raw-snip`: the same with tantivy's `SnippetGenerator` making each hit's snippet: plain
//!   tantivy giving the answer `http` gives;
//! - `lib`: `sync_core::TantivyIndex::search` in this process, what the API's handler calls
//!   (the check for a new commit, snippets), to tell the API's own cost from the library's;
//! - `lib-bare`: the same without snippets (what `http-bare` asks the library for);
//! - `ping`: `GET /healthz` on the same client: the floor any HTTP request pays (two
//!   processes, the loopback, hyper on both sides), no search.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sync_core::{SearchOptions, TantivyIndex};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, TantivyDocument, Term};

use crate::corpus::TOKEN;

/// What every mode searches: query `i % queries` as user `(i * 7919) % users`.
pub struct Work {
    pub queries: Vec<String>,
    pub users: Vec<String>,
    /// Each user's principals (index terms), as the daemon derives them.
    pub principals: Vec<Vec<String>>,
    pub limit: usize,
}

impl Work {
    fn request(&self, i: u64) -> (usize, usize) {
        let q = (i % self.queries.len() as u64) as usize;
        let u = (i.wrapping_mul(7919) % self.users.len() as u64) as usize;
        (q, u)
    }
}

/// Plain tantivy on the index folder the daemon serves.
pub struct RawIndex {
    index: Index,
    reader: IndexReader,
    title: Field,
    text: Field,
    section: Field,
    allow: Field,
    deny: Field,
    source: Field,
    chunk_id: Field,
}

impl RawIndex {
    pub fn open(dir: &std::path::Path) -> RawIndex {
        let index = Index::open_in_dir(dir).expect("open the index");
        let reader = index.reader().expect("reader");
        let field = |name: &str| index.schema().get_field(name).expect(name);
        RawIndex {
            title: field("title"),
            text: field("text"),
            section: field("section"),
            allow: field("acl_allow"),
            deny: field("acl_deny"),
            source: field("source"),
            chunk_id: field("chunk_id"),
            reader,
            index,
        }
    }

    pub fn chunks(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// `(source, chunk_id)` of the hits, best first.
    pub fn search(
        &self,
        query: &str,
        principals: &[String],
        limit: usize,
    ) -> Vec<(String, String)> {
        self.search_with(query, principals, limit, false)
    }

    /// The same, with each hit's snippet made by tantivy's `SnippetGenerator` (200
    /// characters of the text field, the library's width) when `snippets`: what plain
    /// tantivy does to give the answer `http` gives.
    pub fn search_with(
        &self,
        query: &str,
        principals: &[String],
        limit: usize,
        snippets: bool,
    ) -> Vec<(String, String)> {
        let searcher = self.reader.searcher();
        let mut parser =
            QueryParser::for_index(&self.index, vec![self.title, self.text, self.section]);
        parser.set_field_boost(self.title, 2.0);
        let (user_query, _) = parser.parse_query_lenient(query);
        let term = |field: Field, p: &String| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, p),
                IndexRecordOption::Basic,
            ))
        };
        let allow = principals
            .iter()
            .map(|p| (Occur::Should, term(self.allow, p)))
            .collect();
        let mut clauses = vec![
            (Occur::Must, user_query),
            // A filter, not a scorer: the principals a chunk matched must not change its
            // rank (as in the library; `ConstScoreQuery` reads them with scoring off).
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(
                    Box::new(BooleanQuery::new(allow)),
                    0.0,
                )) as Box<dyn Query>,
            ),
        ];
        clauses.extend(
            principals
                .iter()
                .map(|p| (Occur::MustNot, term(self.deny, p))),
        );
        let query = BooleanQuery::new(clauses);
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit).order_by_score())
            .expect("search");
        let mut snippets = snippets.then(|| {
            let mut g =
                SnippetGenerator::create(&searcher, &query, self.text).expect("snippet generator");
            g.set_max_num_chars(200);
            g
        });
        let text = |doc: &TantivyDocument, f: Field| {
            doc.get_first(f)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        top.into_iter()
            .map(|(_, addr)| {
                let doc: TantivyDocument = searcher.doc(addr).expect("stored document");
                if let Some(g) = snippets.as_mut() {
                    std::hint::black_box(g.snippet_from_doc(&doc).fragment().len());
                }
                (text(&doc, self.source), text(&doc, self.chunk_id))
            })
            .collect()
    }
}

/// The HTTP side: a keep-alive client for the daemon's API.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    pub fn new(base: &str) -> Http {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .expect("client");
        Http {
            client,
            base: base.to_string(),
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }

    /// One search; the body read whole (not parsed: that is the caller's cost, not the API's).
    pub async fn search(&self, query: &str, user: &str, limit: usize, snippets: bool) -> Vec<u8> {
        let (status, body) = self.try_search(query, user, limit, snippets).await;
        assert!(status.is_success(), "search: {status}: {body:?}");
        body
    }

    pub async fn try_search(
        &self,
        query: &str,
        user: &str,
        limit: usize,
        snippets: bool,
    ) -> (reqwest::StatusCode, Vec<u8>) {
        let limit = limit.to_string();
        let mut request =
            self.get("/v1/search")
                .query(&[("q", query), ("as", user), ("limit", &limit)]);
        if !snippets {
            request = request.query(&[("snippets", "false")]);
        }
        let response = request.send().await.expect("search request");
        let status = response.status();
        let body = response.bytes().await.expect("search body");
        (status, body.to_vec())
    }

    /// `GET /healthz`, the body read whole.
    pub async fn ping(&self) {
        let response = self
            .client
            .get(format!("{}/healthz", self.base))
            .send()
            .await
            .expect("healthz request");
        assert!(
            response.status().is_success(),
            "healthz: {}",
            response.status()
        );
        response.bytes().await.expect("healthz body");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Http,
    HttpBare,
    Raw,
    RawSnippets,
    Lib,
    LibBare,
    Ping,
}

impl Mode {
    pub const ALL: [Mode; 7] = [
        Mode::Http,
        Mode::HttpBare,
        Mode::Raw,
        Mode::RawSnippets,
        Mode::Lib,
        Mode::LibBare,
        Mode::Ping,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Http => "http",
            Mode::HttpBare => "http-bare",
            Mode::Raw => "raw",
            Mode::RawSnippets => "raw-snip",
            Mode::Lib => "lib",
            Mode::LibBare => "lib-bare",
            Mode::Ping => "ping",
        }
    }
}

/// Everything a round may search with.
pub struct Searchers {
    pub work: Arc<Work>,
    /// The number of the next request, shared by every client of every round.
    pub next: Arc<AtomicU64>,
    pub raw: RawIndex,
    pub lib: TantivyIndex,
    pub http: Http,
    pub runtime: tokio::runtime::Runtime,
}

/// The latencies (µs) and wall time of one or more rounds of one mode.
#[derive(Debug, Default, Clone)]
pub struct Sample {
    pub micros: Vec<u32>,
    pub wall: Duration,
}

impl Sample {
    pub fn add(&mut self, other: Sample) {
        self.micros.extend(other.micros);
        self.wall += other.wall;
    }

    /// The `p`-th percentile in ms (nearest rank).
    pub fn percentile(&self, p: f64) -> f64 {
        let mut v = self.micros.clone();
        v.sort_unstable();
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len());
        f64::from(v[rank - 1]) / 1000.0
    }

    pub fn per_second(&self) -> f64 {
        self.micros.len() as f64 / self.wall.as_secs_f64()
    }
}

fn micros(started: Instant) -> u32 {
    started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32
}

/// How many clients a round runs, and at what pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    pub clients: usize,
    /// Requests a second across all clients (each sends one every `clients / rate` s, the
    /// clients' schedules evenly staggered); `None`: closed loop, each sends its next request
    /// as soon as the previous one answered.
    pub rate: Option<f64>,
}

impl Load {
    /// `8` (closed loop) or `8@1000` (8 clients, 1,000 requests a second in all).
    pub fn parse(s: &str) -> Load {
        let (clients, rate) = match s.trim().split_once('@') {
            Some((c, r)) => (c, Some(r.trim().parse().expect("clients@rate: a rate"))),
            None => (s.trim(), None),
        };
        Load {
            clients: clients.trim().parse().expect("clients: a number"),
            rate,
        }
    }

    pub fn label(&self) -> String {
        match self.rate {
            Some(rate) => format!("{} clients @ {rate:.0}/s", self.clients),
            None => format!("{} clients", self.clients),
        }
    }
}

/// One client's schedule in a round. Paced (open loop, as wrk2 measures): request k is
/// due at `first + k × period`; a request sent late because the one before it was still
/// running counts its latency from when it was due, so that a server that stalls is not
/// flattered by the requests it kept from being sent, and one sent late because the
/// client's own timer overslept counts from when it was sent. Closed loop: every request
/// is due at once.
struct Pace {
    due: Instant,
    period: Option<Duration>,
    deadline: Instant,
}

/// What a client does next.
enum Next {
    /// Send now; the latency counts from this instant.
    Send(Instant),
    /// Wait this long, then send (the latency counts from then).
    Wait(Duration),
}

impl Pace {
    fn new(load: Load, client: usize, started: Instant, deadline: Instant) -> Pace {
        let period = load
            .rate
            .map(|rate| Duration::from_secs_f64(load.clients as f64 / rate));
        let offset = period.map_or(Duration::ZERO, |p| {
            p.mul_f64(client as f64 / load.clients as f64)
        });
        Pace {
            due: started + offset,
            period,
            deadline,
        }
    }

    /// The next request, or `None` once the round is over.
    fn next(&mut self) -> Option<Next> {
        let now = Instant::now();
        let Some(period) = self.period else {
            return (now < self.deadline).then_some(Next::Send(now));
        };
        let due = self.due;
        if now >= self.deadline || due >= self.deadline {
            return None;
        }
        self.due += period;
        Some(if now < due {
            Next::Wait(due - now)
        } else {
            Next::Send(due)
        })
    }
}

impl Searchers {
    /// `load.clients` concurrent clients of `mode` for `length`.
    pub fn round(&self, mode: Mode, load: Load, length: Duration) -> Sample {
        let started = Instant::now();
        let deadline = started + length;
        let micros = match mode {
            Mode::Http | Mode::HttpBare | Mode::Ping => {
                self.http_round(mode, load, started, deadline)
            }
            Mode::Raw | Mode::RawSnippets | Mode::Lib | Mode::LibBare => std::thread::scope(|s| {
                let workers: Vec<_> = (0..load.clients)
                    .map(|c| {
                        s.spawn(move || {
                            let mut pace = Pace::new(load, c, started, deadline);
                            let mut out = Vec::new();
                            while let Some(step) = pace.next() {
                                let t = match step {
                                    Next::Send(t) => t,
                                    Next::Wait(wait) => {
                                        std::thread::sleep(wait);
                                        Instant::now()
                                    }
                                };
                                let (q, u) =
                                    self.work.request(self.next.fetch_add(1, Ordering::Relaxed));
                                let (query, principals) =
                                    (&self.work.queries[q], &self.work.principals[u]);
                                if matches!(mode, Mode::Raw | Mode::RawSnippets) {
                                    self.raw.search_with(
                                        query,
                                        principals,
                                        self.work.limit,
                                        mode == Mode::RawSnippets,
                                    );
                                } else {
                                    let snippets = mode == Mode::Lib;
                                    self.lib
                                        .search_with(
                                            query,
                                            principals,
                                            self.work.limit,
                                            SearchOptions { snippets },
                                        )
                                        .expect("library search");
                                }
                                out.push(micros(t));
                            }
                            out
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|w| w.join().expect("worker"))
                    .collect()
            }),
        };
        Sample {
            micros,
            wall: started.elapsed(),
        }
    }

    fn http_round(&self, mode: Mode, load: Load, started: Instant, deadline: Instant) -> Vec<u32> {
        self.runtime.block_on(async {
            let tasks: Vec<_> = (0..load.clients)
                .map(|c| {
                    let (http, work, next) = (
                        self.http.clone(),
                        Arc::clone(&self.work),
                        Arc::clone(&self.next),
                    );
                    tokio::spawn(async move {
                        let mut pace = Pace::new(load, c, started, deadline);
                        let mut out = Vec::new();
                        while let Some(step) = pace.next() {
                            let t = match step {
                                Next::Send(t) => t,
                                Next::Wait(wait) => {
                                    tokio::time::sleep(wait).await;
                                    Instant::now()
                                }
                            };
                            let (q, u) = work.request(next.fetch_add(1, Ordering::Relaxed));
                            if mode == Mode::Ping {
                                http.ping().await;
                            } else {
                                let (query, user) = (&work.queries[q], &work.users[u]);
                                http.search(query, user, work.limit, mode == Mode::Http)
                                    .await;
                            }
                            out.push(micros(t));
                        }
                        out
                    })
                })
                .collect();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("client task"));
            }
            all
        })
    }
}
