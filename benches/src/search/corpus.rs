//! The generated world the search bench runs in: text files (~10 chunks of ~1.4 KB each)
//! drawn from a Zipf-like vocabulary with a few planted phrases, spread over folders that an
//! ACL file gives to teams, divisions and single users (with a few denials), an identities
//! file that puts users in teams, teams in divisions and divisions in `all-staff`, the
//! daemon's config, and the query mix.

use std::path::{Path, PathBuf};

/// Folders of each source; each has its own ACL prefix.
const FOLDERS: usize = 400;
/// Teams (users' direct groups), divisions (teams' parents) and users.
const TEAMS: usize = 200;
const DIVISIONS: usize = 20;
pub const USERS: usize = 2000;
/// Distinct words; drawn log-uniformly, so a word's frequency falls as 1/rank.
const VOCABULARY: usize = 20_000;
/// Two ~640-byte paragraphs and the 150-byte overlap fill one 1,500-byte chunk (the default
/// chunk settings), a third paragraph does not fit: a file of 2 × CHUNKS_PER_FILE paragraphs
/// makes about CHUNKS_PER_FILE chunks.
pub const CHUNKS_PER_FILE: usize = 10;
const PARAGRAPH_BYTES: usize = 630;
/// The planted phrases and how often (1 in N paragraphs) each appears.
const PHRASES: [(&str, u64); 3] = [
    ("quarterly revenue forecast", 40),
    ("incident review board", 400),
    ("legacy billing migration", 4000),
];

/// The bench's API token (any non-empty string: the daemon compares hashes).
pub const TOKEN: &str = "search-bench-token";

/// splitmix64: a small, fast, deterministic generator (the bench needs no `rand`).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A vocabulary rank, 0 the most frequent, with P(rank) ∝ 1/(rank + 1).
    fn zipf(&mut self, n: usize) -> usize {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64 + 1.0).powf(u) as usize)
            .saturating_sub(1)
            .min(n - 1)
    }
}

/// The word of a vocabulary rank: two to four syllables, unique per rank.
pub fn word(rank: usize) -> String {
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "ren", "tu", "sa", "vor", "eth", "pi", "dun", "gal", "so", "ber", "ni",
        "quo", "zet", "ar", "fel", "mo", "tiv", "ul", "rax", "dem", "yo",
    ];
    let mut n = rank;
    let mut w = String::new();
    loop {
        w.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
        if n == 0 {
            break;
        }
    }
    // One-syllable words would collide with stop-word-like tokens; every word has two or more.
    if rank < SYLLABLES.len() {
        w.push_str("ta");
    }
    w
}

fn paragraph(rng: &mut Rng, out: &mut String) {
    let start = out.len();
    for (phrase, one_in) in PHRASES {
        if rng.next_u64().is_multiple_of(one_in) {
            out.push_str(phrase);
            out.push(' ');
        }
    }
    while out.len() - start < PARAGRAPH_BYTES {
        out.push_str(&word(rng.zipf(VOCABULARY)));
        out.push(' ');
    }
    out.pop();
}

pub fn user(i: usize) -> String {
    format!("u{i:04}@bench.example")
}

fn folder(i: usize) -> String {
    format!("f{i:03}")
}

/// The folder's ACL entries: two teams, every fourth folder a division, every fortieth
/// `all-staff`, one user; every fifth folder denies another user.
fn folder_acl(k: usize) -> serde_json::Value {
    let entry = |name: String, kind: &str, access: &str| serde_json::json!({"Name": name, "Type": kind, "Access": access});
    let mut entries = vec![
        entry(format!("team-{}", k % TEAMS), "GROUP", "ALLOW"),
        entry(format!("team-{}", (k * 7 + 3) % TEAMS), "GROUP", "ALLOW"),
        entry(user(k * 13 % USERS), "USER", "ALLOW"),
    ];
    if k.is_multiple_of(4) {
        entries.push(entry(format!("div-{}", k % DIVISIONS), "GROUP", "ALLOW"));
    }
    if k.is_multiple_of(40) {
        entries.push(entry("all-staff".into(), "GROUP", "ALLOW"));
    }
    if k.is_multiple_of(5) {
        entries.push(entry(user(k * 17 % USERS), "USER", "DENY"));
    }
    serde_json::json!({"keyPrefix": format!("{}/", folder(k)), "aclEntries": entries})
}

/// Users in two teams each, teams in a division, divisions in `all-staff`.
fn identities() -> serde_json::Value {
    let users: serde_json::Map<String, serde_json::Value> = (0..USERS)
        .map(|i| {
            let teams = [
                format!("team-{}", i % TEAMS),
                format!("team-{}", (i * 31 + 5) % TEAMS),
            ];
            (user(i), serde_json::json!(teams))
        })
        .collect();
    let mut groups = serde_json::Map::new();
    for t in 0..TEAMS {
        groups.insert(
            format!("team-{t}"),
            serde_json::json!([format!("div-{}", t % DIVISIONS)]),
        );
    }
    for d in 0..DIVISIONS {
        groups.insert(format!("div-{d}"), serde_json::json!(["all-staff"]));
    }
    serde_json::json!({"users": users, "groups": groups})
}

/// Writes `files` files under `root` (in [`FOLDERS`] folders); returns their bytes.
pub fn write_files(root: &Path, files: usize, seed: u64) -> u64 {
    let mut rng = Rng::new(seed);
    let mut total = 0;
    let mut text = String::with_capacity(PARAGRAPH_BYTES * 2 * CHUNKS_PER_FILE + 1024);
    for i in 0..files {
        text.clear();
        for p in 0..2 * CHUNKS_PER_FILE {
            if p > 0 {
                text.push_str("\n\n");
            }
            paragraph(&mut rng, &mut text);
        }
        let dir = root.join(folder(i % FOLDERS));
        if i < FOLDERS {
            std::fs::create_dir_all(&dir).expect("mkdir");
        }
        std::fs::write(dir.join(format!("{i:07}.txt")), &text).expect("write");
        total += text.len() as u64;
    }
    total
}

/// The bench's folder: `corpus/` (indexed before measuring), `incoming/` (what the daemon
/// syncs while searches run), the ACL and identities files, and `tributary.toml`.
pub struct World {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub identities: PathBuf,
}

impl World {
    pub fn create(dir: &Path) -> World {
        let acl: Vec<_> = (0..FOLDERS).map(folder_acl).collect();
        let write_json = |name: &str, v: &serde_json::Value| {
            let path = dir.join(name);
            std::fs::write(&path, serde_json::to_vec_pretty(v).expect("json")).expect("write");
            path
        };
        write_json("acl.json", &serde_json::json!(acl));
        let identities = write_json("identities.json", &identities());
        // Both sources run only when asked: `tributary sync` builds the corpus, the bench
        // triggers `incoming` through the API. (Interval kinds need a period: a day.)
        let schedule =
            r#"schedule = { content = "24h", full = "off", run_at_start = false, jitter = "off" }"#;
        let config = dir.join("tributary.toml");
        std::fs::write(
            &config,
            format!(
                r#"[index]
path = "data"

[identities]
file = "identities.json"

[daemon]
listen = "127.0.0.1:0"
api_token = "{TOKEN}"

[[sources]]
id = "corpus"
type = "filesystem"
root = "corpus"
acl_file = "acl.json"
watch = true
{schedule}

[[sources]]
id = "incoming"
type = "filesystem"
root = "incoming"
acl_file = "acl.json"
watch = true
{schedule}
"#
            ),
        )
        .expect("config");
        World {
            dir: dir.to_path_buf(),
            config,
            identities,
        }
    }

    pub fn index_dir(&self) -> PathBuf {
        self.dir.join("data").join("index")
    }
}

/// The query mix: frequent words (long posting lists), rare words (short ones), two-word
/// OR queries, and phrases (positions), each as the API's query parser reads them.
pub fn queries() -> Vec<String> {
    let mut q = Vec::new();
    for rank in [0, 1, 2, 5, 9] {
        q.push(word(rank));
    }
    for rank in [40, 150] {
        q.push(format!("{} {}", word(rank), word(rank + 7)));
    }
    for rank in [900, 3_000, 7_500, 12_000, 19_000] {
        q.push(word(rank));
    }
    for (phrase, _) in PHRASES {
        q.push(format!("\"{phrase}\""));
    }
    q.push(format!("{} {}", word(3), word(5_000)));
    q
}
