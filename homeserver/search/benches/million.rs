//! The index at a million messages: how fast documents go in, and how fast
//! each kind of query comes back, through the same `Index` the homeserver's
//! indexer and searches use (no HTTP, no store: the engine's own figures;
//! `scripts/bench.sh` with `NEXUS_BENCH_WORKLOAD=search` measures the whole
//! server beside Synapse).
//!
//! The corpus: `NEXUS_BENCH_DOCS` messages (default 1,000,000) in 200
//! rooms from 1,000 senders, one to three sentences of words drawn by a
//! Zipf law from a 5,000-word vocabulary, 10 % with a link; committed every
//! 1,000 documents, as the indexer commits its batches. Then, against the
//! on-disk index: `NEXUS_BENCH_QUERIES` (default 500) of each kind — one
//! common word; a two-word phrase; a misspelled word (one swap); a common
//! word filtered to one sender in 20 of the rooms, newest first; a
//! Discord-style filter alone (`has:link` in one room) — each allowed every
//! room as a user in 200 rooms would be, ten results a page.
//!
//! `cargo bench -p nexus-search --bench million`; prints a Markdown table.

use std::time::{Duration, Instant};

use nexus_search::{Document, Has, Index, Order, Search, TextQuery};

const ROOMS: u64 = 200;
const SENDERS: u64 = 1_000;
const VOCABULARY: usize = 5_000;
const COMMIT_EVERY: u64 = 1_000;
const DAY_MS: u64 = 86_400_000;
const NOW_MS: u64 = 1_780_000_000_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// SplitMix64: a fixed sequence from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Pronounceable made-up words, distinct, five to ten letters.
fn vocabulary() -> Vec<String> {
    const CONSONANTS: &[u8] = b"bcdfghklmnprstvz";
    const VOWELS: &[u8] = b"aeiou";
    let mut rng = Rng(7);
    let mut words = std::collections::BTreeSet::new();
    let mut ordered = Vec::with_capacity(VOCABULARY);
    while ordered.len() < VOCABULARY {
        let syllables = 2 + rng.below(3);
        let mut word = String::new();
        for _ in 0..syllables {
            word.push(CONSONANTS[rng.below(CONSONANTS.len() as u64) as usize] as char);
            word.push(VOWELS[rng.below(VOWELS.len() as u64) as usize] as char);
        }
        if rng.below(2) == 0 {
            word.push(CONSONANTS[rng.below(CONSONANTS.len() as u64) as usize] as char);
        }
        if words.insert(word.clone()) {
            ordered.push(word);
        }
    }
    ordered
}

/// Zipf's law over the vocabulary, as a cumulative table.
fn zipf_table() -> Vec<f64> {
    let weights: Vec<f64> = (0..VOCABULARY).map(|r| 1.0 / (r as f64 + 10.0).powf(1.1)).collect();
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect()
}

fn draw<'a>(rng: &mut Rng, words: &'a [String], table: &[f64]) -> &'a str {
    let u = rng.unit();
    let i = table.partition_point(|c| *c < u).min(words.len() - 1);
    &words[i]
}

fn message(i: u64, words: &[String], table: &[f64]) -> Document {
    let mut rng = Rng(i.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0xabcdef);
    let mut body = String::new();
    for _ in 0..1 + rng.below(3) {
        let length = 4 + rng.below(8);
        for w in 0..length {
            if w > 0 {
                body.push(' ');
            }
            body.push_str(draw(&mut rng, words, table));
        }
        body.push_str(". ");
    }
    let mut has = Vec::new();
    if rng.below(10) == 0 {
        body.push_str(&format!("https://example.org/{}", draw(&mut rng, words, table)));
        has.push(Has::Link);
    }
    Document {
        event_id: format!("$event{i}"),
        room_id: format!("!room{}:bench", i % ROOMS),
        sender: format!("@user{}:bench", rng.below(SENDERS)),
        kind: "m.room.message".to_owned(),
        ts: NOW_MS - 365 * DAY_MS + i * 31_000 % (365 * DAY_MS),
        ordering: (1 << 40) + i,
        body,
        has,
        ..Document::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn main() {
    let docs = env_or("NEXUS_BENCH_DOCS", 1_000_000);
    let queries = env_or("NEXUS_BENCH_QUERIES", 500);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let index = Index::open(Some(&dir.path().join("search")), "english").expect("the index opens");
    let words = vocabulary();
    let table = zipf_table();

    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..docs {
        let doc = message(i, &words, &table);
        bytes += doc.body.len();
        index.upsert(&doc).expect("indexing");
        if (i + 1) % COMMIT_EVERY == 0 {
            index.commit().expect("commit");
        }
    }
    index.commit().expect("commit");
    let indexing = started.elapsed();
    let size: u64 = std::fs::read_dir(dir.path().join("search"))
        .map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0);

    let rooms: Vec<String> = (0..ROOMS).map(|r| format!("!room{r}:bench")).collect();
    let base = || Search { rooms: rooms.clone(), limit: 10, now_ms: NOW_MS, ..Search::default() };
    let word = |rng: &mut Rng| draw(rng, &words, &table).to_owned();
    type Make<'a> = Box<dyn Fn(&mut Rng) -> Search + 'a>;
    let kinds: Vec<(&str, Make)> = vec![
        (
            "one common word",
            Box::new(|rng: &mut Rng| Search {
                text: TextQuery { words: vec![words[rng.below(50) as usize].clone()], ..TextQuery::default() },
                ..base()
            }),
        ),
        (
            "two-word phrase",
            Box::new(|rng: &mut Rng| {
                let doc = message(rng.below(docs), &words, &table);
                let pair: Vec<&str> = doc.body.split(' ').take(2).collect();
                Search { text: TextQuery { phrases: vec![pair.join(" ")], ..TextQuery::default() }, ..base() }
            }),
        ),
        (
            "one misspelled word",
            Box::new(|rng: &mut Rng| {
                let mut w: Vec<char> = word(rng).chars().collect();
                let at = 1 + rng.below(w.len() as u64 - 2) as usize;
                w.swap(at, at + 1);
                Search { text: TextQuery { words: vec![w.into_iter().collect()], ..TextQuery::default() }, ..base() }
            }),
        ),
        (
            "common word, one sender, 20 rooms, newest first",
            Box::new(|rng: &mut Rng| {
                let first = rng.below(ROOMS - 20);
                Search {
                    text: TextQuery { words: vec![words[rng.below(50) as usize].clone()], ..TextQuery::default() },
                    senders: vec![format!("@user{}:bench", rng.below(SENDERS))],
                    rooms: (first..first + 20).map(|r| format!("!room{r}:bench")).collect(),
                    order: Order::Recent,
                    ..base()
                }
            }),
        ),
        (
            "has:link in one room, no words",
            Box::new(|rng: &mut Rng| Search {
                has: vec![Has::Link],
                rooms: vec![format!("!room{}:bench", rng.below(ROOMS))],
                order: Order::Recent,
                ..base()
            }),
        ),
    ];

    println!(
        "Indexed {docs} messages ({:.0} MB of text) in {:.1} s: **{:.0} messages/s** on one writer thread, \
         committing every {COMMIT_EVERY}; index on disk {:.0} MB.\n",
        bytes as f64 / 1e6,
        indexing.as_secs_f64(),
        docs as f64 / indexing.as_secs_f64(),
        size as f64 / 1e6
    );
    println!("| query ({queries} of each) | p50 ms | p99 ms | queries with results | mean matches |");
    println!("|---|---:|---:|---:|---:|");
    for (name, make) in &kinds {
        let mut rng = Rng(99);
        let mut times = Vec::with_capacity(queries as usize);
        let (mut found, mut matches) = (0u64, 0u64);
        for _ in 0..queries {
            let search = make(&mut rng);
            let started = Instant::now();
            let page = index.search(&search).expect("search");
            times.push(started.elapsed());
            found += u64::from(!page.hits.is_empty());
            matches += page.count as u64;
        }
        times.sort();
        println!(
            "| {name} | {:.2} | {:.2} | {found}/{queries} | {:.0} |",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            matches as f64 / queries as f64
        );
    }
}
