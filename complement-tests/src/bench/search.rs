//! Full-text search over a generated corpus, the same on any server: what
//! indexing costs the sends, how soon everything sent is searchable, and
//! how fast queries are answered — the spec's `POST /search` on both
//! servers, Nexus's own `POST /_nexus/client/v1/search` where it exists.
//!
//! Setup (not measured): `--concurrency` users (at least 2), all in
//! `--rooms` rooms (default 20) created by the first of them, the searcher.
//! The corpus is 1,000,000 × `--scale` messages (`NEXUS_BENCH_SEARCH_MESSAGES`
//! overrides); message i is generated from i alone (a fixed PRNG), so every
//! server gets the same text: one to three sentences of words drawn from a
//! 3,000-word vocabulary (common English words first, then made-up ones) by
//! a Zipf law, with short function words between (about 70 bytes in all);
//! 10% end with an `https://` link, 5% start by mentioning another user
//! (`m.mentions`).
//! The figures, in the order they are measured:
//!
//! - `search_corpus_sends`: `--concurrency` workers send the corpus (each
//!   message by its sender into its room) all at once, until every message
//!   is sent or [`CORPUS_TIME_LIMIT`]; the server indexes meanwhile, so the
//!   throughput is the send rate with indexing. Latency is one `PUT /send`.
//! - `search_indexed`: after the corpus, one more message carrying a word
//!   never sent before; the searcher repeats a search for that word until
//!   it is found. `duration_ms` runs from the first corpus send to that
//!   answer and `indexed_per_s` is the messages sent over it (what becomes
//!   searchable per second, sending included); `after_last_send_ms` runs
//!   from the last send's answer. Nexus indexes from a durable feed behind
//!   the sends (and a search waits up to 2 s for the index to hold what was
//!   persisted before it); Synapse writes an event's search row in the
//!   transaction that stores the event.
//! - `search_common_word`, `search_phrase`, `search_misspelled`,
//!   `search_filtered`: the searcher's `POST /_matrix/client/v3/search`, one
//!   request after another, [`QUERY_COUNT`] of each kind (`--count`) or
//!   `--duration-secs`, [`PAGE`] results a page, after one unmeasured
//!   warm-up request: one of the 50 most common words (`rank`); a two-word
//!   phrase in quotes from a sent message; a word of a sent message with two
//!   neighbouring letters swapped (one typo); the most common word of a sent
//!   message with `filter.senders` = its sender and `filter.rooms` = its
//!   room, `order_by: recent`.
//! - `search_nexus_filtered` (only where `/_nexus/client/v1/search`
//!   exists): the filtered query in Nexus's language,
//!   `from:<sender> has:link <word>` with `room_id`, recent first, on sent
//!   messages that have a link.
//!
//! Each query figure also has `queries_with_results`, `hits_mean` (the
//! answers' `count`: the server's estimate of all matches) and
//! `results_mean` (results on the page). Latency runs until the answer's
//! last byte was read.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use super::http::{self, Account, Http, Pool};
use super::{Bench, Figure, Report};
use crate::client::enc;

/// Corpus messages at scale 1, and never fewer than this.
const PROFILE_MESSAGES: f64 = 1_000_000.0;
const MIN_MESSAGES: u64 = 100;
/// Overrides the corpus size.
const MESSAGES_VAR: &str = "NEXUS_BENCH_SEARCH_MESSAGES";
const DEFAULT_ROOMS: usize = 20;
/// The time bounds of sending the corpus and of waiting for it to be found.
pub const CORPUS_TIME_LIMIT: Duration = Duration::from_secs(30 * 60);
const INDEX_TIME_LIMIT: Duration = Duration::from_secs(10 * 60);
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Default measured queries of each kind, and results a page.
pub const QUERY_COUNT: u64 = 200;
pub const PAGE: usize = 10;
/// The common-word queries cycle through this many most common words.
const COMMON_QUERY_WORDS: usize = 50;

const SPEC_PATH: &str = "/_matrix/client/v3/search";
const NEXUS_PATH: &str = "/_nexus/client/v1/search";

/// The corpus's shape.
const VOCABULARY: usize = 3_000;
const LINK_SHARE: f64 = 0.10;
const MENTION_SHARE: f64 = 0.05;
/// The share of a sentence's tokens that are function words.
const GLUE_SHARE: f64 = 0.3;
/// Word r is drawn with weight (r + offset)^-exponent (Zipf–Mandelbrot):
/// the most common word is in about a fifth of the messages, the 50th in
/// about one in forty, and three words in four are from [`COMMON_WORDS`].
const ZIPF_OFFSET: f64 = 10.0;
const ZIPF_EXPONENT: f64 = 1.2;
const VOCABULARY_SEED: u64 = 0x5ea2_c4b0_0c0a_b001;
const MESSAGE_SEED: u64 = 0x0c02_9a55_e4d5_0001;
const QUERY_SEED: u64 = 0x9e4e_5ee0_0000_0001;

/// Function words between the vocabulary's (all PostgreSQL English stop
/// words, so no query is made of them).
const GLUE: &[&str] = &[
    "the", "a", "to", "and", "of", "in", "is", "for", "on", "with", "that", "it", "we", "you", "this", "be", "are",
    "was", "at", "as", "but", "so", "if", "or",
];

/// The head of the vocabulary, roughly most common first (none of them a
/// PostgreSQL English stop word); made-up words follow up to [`VOCABULARY`].
const COMMON_WORDS: &str = "
time people year day way thing world life hand part child eye woman place work week case point company number
group problem fact team project meeting server release build test issue change update message room channel friend
family music game movie book story picture photo video phone email code bug feature design plan idea question
answer reason result system program computer network data file document report review comment branch commit
deploy version support service customer user account password window screen button page image sound voice light
night morning evening today tomorrow yesterday weekend holiday lunch dinner breakfast coffee water food pizza dog
cat house home city country street road car train flight ticket hotel trip travel weather rain snow summer winter
spring autumn birthday party gift price money budget market sale office school class lesson teacher student
doctor health sleep dream garden tree flower river mountain beach ocean island forest park bridge tower station
airport hospital library museum theatre concert festival think know want need like love help start finish read
write watch listen play talk call meet check ship merge push pull open close share move bring learn cook clean
drive walk fly buy sell pay break wait remember forget decide agree explain notice good great new old big small
long short early late quick slow easy hard happy tired busy free ready simple strange important different possible
likely sure clear quiet loud warm cold bright dark fresh heavy table chair kitchen window door floor wall garage
letter paper pencil camera laptop keyboard monitor printer cable battery charger speaker guitar piano drum song
album artist painting drawing poem novel chapter author editor journal paper article headline interview podcast
stream episode season series trailer actor director studio stage audience crowd player score match league coach
stadium runner cyclist swimmer hiker climber sailor pilot driver farmer baker chef waiter nurse lawyer engineer
manager founder investor partner neighbour cousin uncle aunt brother sister mother father daughter son baby puppy
kitten horse rabbit bird fish whale shark turtle spider insect butterfly apple banana orange lemon cherry grape
melon potato tomato carrot onion garlic pepper cheese bread butter sugar salt honey cookie cake soup salad burger
sandwich noodle rice pasta steak chicken bacon egg milk juice wine beer tea
";

/// Made-up words: syllables of these, the last one ending in a vowel and a
/// consonant that no English stemmer rule strips.
const ONSETS: &[&str] = &[
    "b", "br", "d", "dr", "f", "fl", "g", "gr", "k", "kr", "l", "m", "n", "p", "pr", "r", "s", "sk", "t", "tr", "v",
    "z",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u"];
const LAST_VOWELS: &[&str] = &["a", "o", "u"];
const CODAS: &[&str] = &["n", "k", "m", "x", "r"];
const LINK_HOSTS: &[&str] = &["github.com", "docs.example.org", "news.example.com", "www.youtube.com"];

/// Every figure of the workload.
pub async fn search_workloads(bench: &Bench) -> Result<Report> {
    let messages = corpus_size(bench.config.scale)?;
    let setup = Arc::new(Setup::build(bench).await.context("search setup")?);
    let corpus = Arc::new(Corpus::new(setup.users.len(), setup.rooms.len()));
    let mut report = Report::default();

    let sent = send_corpus(bench, &corpus, &setup, messages).await.context("search corpus")?;
    if sent.delivered == 0 {
        bail!("no corpus message was sent");
    }
    report.add(
        "search_corpus_sends",
        sent.figure
            .with("messages", messages as f64)
            .with("users", setup.users.len() as f64)
            .with("rooms", setup.rooms.len() as f64)
            .with("vocabulary", corpus.words.len() as f64)
            .with("links_percent", LINK_SHARE * 100.0)
            .with("mentions_percent", MENTION_SHARE * 100.0)
            .with("setup_ms", setup.setup_ms)
            .with("setup_retries_429", setup.setup_retries as f64),
    );

    // The last message: one more, with a word no message had.
    let client = bench.client(Pool::Single)?;
    let searcher = &setup.users[0];
    let sentinel = sentinel_word();
    let last = corpus.message(messages);
    let content = corpus.content(&last, &setup.users, Some(&sentinel));
    send(&client, &setup.users[last.sender], &setup.rooms[last.room], &bench.txn_id(), &content)
        .await
        .context("the last message")?;
    let last_sent = Instant::now();
    let (found, polls) = poll_until_found(&client, searcher, &sentinel).await?;
    let indexed = sent.delivered + 1;
    let since_first = found - sent.first_send;
    report.add(
        "search_indexed",
        Figure::default()
            .with("messages", indexed as f64)
            .with("duration_ms", since_first.as_secs_f64() * 1e3)
            .with("indexed_per_s", indexed as f64 / since_first.as_secs_f64().max(1e-9))
            .with("after_last_send_ms", (found - last_sent).as_secs_f64() * 1e3)
            .with("polls", polls as f64),
    );

    let count = usize::try_from(bench.config.count_or(QUERY_COUNT)).unwrap_or(usize::MAX);
    let queries = Queries { corpus: &corpus, setup: &setup, sent: sent.attempted, count };
    let kinds = [
        ("search_common_word", SPEC_PATH, queries.common_word()),
        ("search_phrase", SPEC_PATH, queries.phrase()),
        ("search_misspelled", SPEC_PATH, queries.misspelled()),
        ("search_filtered", SPEC_PATH, queries.filtered()),
        ("search_nexus_filtered", NEXUS_PATH, queries.nexus_filtered()),
    ];
    for (name, path, bodies) in kinds {
        let measured = measure(bench, &client, searcher, name, path, &bodies).await.with_context(|| name.to_owned())?;
        if let Some(figure) = measured {
            report.add(name, figure.with("messages", indexed as f64));
        }
    }
    Ok(report)
}

/// 1,000,000 × scale, or the environment's override.
fn corpus_size(scale: f64) -> Result<u64> {
    match std::env::var(MESSAGES_VAR) {
        Ok(value) => Ok(value.trim().parse::<u64>().with_context(|| format!("bad {MESSAGES_VAR}: {value:?}"))?.max(1)),
        Err(_) => Ok(((PROFILE_MESSAGES * scale).round() as u64).max(MIN_MESSAGES)),
    }
}

/// The users (the first is the searcher) and the rooms they are all in.
struct Setup {
    users: Vec<Account>,
    rooms: Vec<String>,
    setup_ms: f64,
    setup_retries: u64,
}

impl Setup {
    async fn build(bench: &Bench) -> Result<Setup> {
        let user_count = bench.config.concurrency.max(2);
        let room_count = bench.config.rooms.unwrap_or(DEFAULT_ROOMS).max(1);
        let started = Instant::now();
        eprintln!("nexus-bench: setting up {user_count} users, all in {room_count} rooms (not measured)");
        let retries_before = bench.setup.retries();
        let users = bench.users("search", user_count).await?;
        // One room after another (see population.rs).
        let mut rooms = Vec::with_capacity(room_count);
        for r in 0..room_count {
            rooms.push(http::create_public_room(&bench.setup, &users[0], &format!("search {r}")).await?);
        }
        let mut joins = Vec::new();
        for room in &rooms {
            for user in &users[1..] {
                let (http, user, room) = (bench.setup.clone(), user.clone(), room.clone());
                joins.push(async move { http::join(&http, &user, &room).await });
            }
        }
        http::bounded(bench.config.setup_parallelism(), joins).await.context("join the rooms")?;
        Ok(Setup {
            users,
            rooms,
            setup_ms: started.elapsed().as_secs_f64() * 1e3,
            setup_retries: bench.setup.retries() - retries_before,
        })
    }
}

/// The corpus send's figure, the messages it sent (and tried), and when it
/// began.
struct Sent {
    figure: Figure,
    delivered: u64,
    attempted: u64,
    first_send: Instant,
}

async fn send_corpus(bench: &Bench, corpus: &Arc<Corpus>, setup: &Arc<Setup>, messages: u64) -> Result<Sent> {
    let workers = bench.config.concurrency.max(1);
    let client = bench.client(Pool::Many(workers))?;
    eprintln!("nexus-bench: sending {messages} messages, {workers} at a time (measured; the server indexes meanwhile)");
    let issued = Arc::new(AtomicU64::new(0));
    let retries_before = client.retries();
    let started = Instant::now();
    let deadline = started + CORPUS_TIME_LIMIT;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (client, corpus, setup, issued) = (client.clone(), corpus.clone(), setup.clone(), issued.clone());
        let prefix = bench.txn_id();
        tasks.spawn(async move {
            let (mut samples, mut errors) = (Vec::<Duration>::new(), 0u64);
            let mut n = 0u64;
            while Instant::now() < deadline {
                let i = issued.fetch_add(1, Ordering::Relaxed);
                if i >= messages {
                    break;
                }
                let message = corpus.message(i);
                let content = corpus.content(&message, &setup.users, None);
                let (sender, room) = (&setup.users[message.sender], &setup.rooms[message.room]);
                n += 1;
                let t0 = Instant::now();
                match send(&client, sender, room, &format!("{prefix}-{n}"), &content).await {
                    Ok(()) => samples.push(t0.elapsed()),
                    Err(e) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("nexus-bench: corpus send failed: {e:#}");
                        }
                    }
                }
            }
            (samples, errors)
        });
    }
    let (mut samples, mut errors) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (s, e) = done.context("a sender task panicked")?;
        samples.extend(s);
        errors += e;
    }
    let wall = started.elapsed();
    let attempted = issued.load(Ordering::Relaxed).min(messages);
    if attempted < messages {
        eprintln!("nexus-bench: the corpus stopped at the time limit, {attempted} of {messages} messages");
    }
    eprintln!("nexus-bench: corpus sent in {:.1} s", wall.as_secs_f64());
    let delivered = samples.len() as u64;
    let figure = Figure::from_latencies(&samples, wall, client.retries() - retries_before, errors)?
        .with("senders", workers as f64);
    Ok(Sent { figure, delivered, attempted, first_send: started })
}

/// `PUT /rooms/{roomId}/send/m.room.message/{txnId}` with `content`.
async fn send(http: &Http, who: &Account, room_id: &str, txn_id: &str, content: &Value) -> Result<()> {
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{}", enc(room_id), enc(txn_id));
    http.call(Method::PUT, &path, Some(&who.token), Some(content)).await.map(drop)
}

/// Twelve random letters: a word no corpus message has.
fn sentinel_word() -> String {
    let mut rng = Rng::new(rand::random::<u64>());
    (0..12).map(|_| char::from(b'a' + rng.below(26) as u8)).collect()
}

/// Searches for `word` until something is found; when, and the searches made.
async fn poll_until_found(http: &Http, who: &Account, word: &str) -> Result<(Instant, u64)> {
    let body = spec_body(word, json!({"limit": 1}), "recent");
    let deadline = Instant::now() + INDEX_TIME_LIMIT;
    let mut polls = 0u64;
    loop {
        polls += 1;
        let answer = http.call(Method::POST, SPEC_PATH, Some(&who.token), Some(&body)).await?;
        if hits(SPEC_PATH, &answer).1 > 0 {
            return Ok((Instant::now(), polls));
        }
        if Instant::now() >= deadline {
            bail!("a search did not find the last message within {} s", INDEX_TIME_LIMIT.as_secs());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A spec `/search` body for the `room_events` category.
fn spec_body(term: &str, filter: Value, order_by: &str) -> Value {
    json!({"search_categories": {"room_events": {"search_term": term, "filter": filter, "order_by": order_by}}})
}

/// An answer's `count` (the results on the page when it has none) and
/// the results on the page.
fn hits(path: &str, answer: &Value) -> (f64, usize) {
    let found = if path == SPEC_PATH { &answer["search_categories"]["room_events"] } else { answer };
    let results = found["results"].as_array().map_or(0, Vec::len);
    (found["count"].as_f64().unwrap_or(results as f64), results)
}

/// Runs `bodies` one after another (after one unmeasured warm-up). `None`
/// when the server has no such endpoint (Nexus's search on Synapse).
async fn measure(
    bench: &Bench,
    http: &Http,
    who: &Account,
    name: &str,
    path: &str,
    bodies: &[Value],
) -> Result<Option<Figure>> {
    let Some(first) = bodies.first() else {
        eprintln!("nexus-bench: {name}: no query could be made from the corpus; skipped");
        return Ok(None);
    };
    let (status, answer, _) = http.call_timed(Method::POST, path, Some(&who.token), Some(first)).await?;
    if status != 200 {
        let unknown = status == 404 || status == 405 || answer["errcode"] == "M_UNRECOGNIZED";
        if path == NEXUS_PATH && unknown {
            eprintln!("nexus-bench: {name}: this server has no {path}; skipped");
            return Ok(None);
        }
        bail!("POST {path} -> {status}: {answer}");
    }
    let (mut samples, mut errors) = (Vec::with_capacity(bodies.len()), 0u64);
    let (mut counts, mut results, mut with_results) = (0.0, 0usize, 0u64);
    let retries = http.retries();
    let started = Instant::now();
    for body in bodies {
        if started.elapsed() >= bench.config.duration {
            break;
        }
        match http.call_timed(Method::POST, path, Some(&who.token), Some(body)).await {
            Ok((200, answer, elapsed)) => {
                samples.push(elapsed);
                let (count, on_page) = hits(path, &answer);
                counts += count;
                results += on_page;
                with_results += u64::from(on_page > 0);
            }
            Ok((status, answer, _)) => {
                errors += 1;
                eprintln!("nexus-bench: {name}: POST {path} -> {status}: {answer}");
            }
            Err(e) => {
                errors += 1;
                eprintln!("nexus-bench: {name} failed: {e:#}");
            }
        }
    }
    let figure = Figure::from_latencies(&samples, started.elapsed(), http.retries() - retries, errors)?;
    let answered = samples.len() as f64;
    Ok(Some(
        figure
            .with("queries_with_results", with_results as f64)
            .with("hits_mean", counts / answered)
            .with("results_mean", results as f64 / answered),
    ))
}

/// The queries of each kind, with terms taken from the corpus as sent.
struct Queries<'a> {
    corpus: &'a Corpus,
    setup: &'a Setup,
    /// Messages 0..sent were sent (or tried).
    sent: u64,
    count: usize,
}

impl Queries<'_> {
    fn page() -> Value {
        json!({"limit": PAGE})
    }

    /// One of the most common words, in turn.
    fn common_word(&self) -> Vec<Value> {
        let words = COMMON_QUERY_WORDS.min(self.corpus.words.len());
        (0..self.count).map(|q| spec_body(&self.corpus.words[q % words], Self::page(), "rank")).collect()
    }

    /// Two neighbouring vocabulary words of a sent message, in quotes.
    fn phrase(&self) -> Vec<Value> {
        self.sampled(1, |message, rng| {
            let pairs: Vec<(usize, usize)> = message
                .sentences
                .iter()
                .flat_map(|(tokens, _)| tokens.windows(2))
                .filter_map(|pair| match (pair[0], pair[1]) {
                    (Token::Word(a), Token::Word(b)) => Some((a, b)),
                    _ => None,
                })
                .collect();
            if pairs.is_empty() {
                return None;
            }
            let (a, b) = pairs[rng.below(pairs.len())];
            let words = &self.corpus.words;
            Some(spec_body(&format!("\"{} {}\"", words[a], words[b]), Self::page(), "rank"))
        })
    }

    /// A word of a sent message with one typo (no vocabulary word).
    fn misspelled(&self) -> Vec<Value> {
        self.sampled(2, |message, rng| {
            let words = message.words();
            if words.is_empty() {
                return None;
            }
            let start = rng.below(words.len());
            let typo = (0..words.len())
                .find_map(|k| misspell(&self.corpus.words[words[(start + k) % words.len()]], rng))
                .filter(|typo| !self.corpus.known.contains(typo))?;
            Some(spec_body(&typo, Self::page(), "rank"))
        })
    }

    /// A sent message's most common word, from its sender, in its room.
    fn filtered(&self) -> Vec<Value> {
        self.sampled(3, |message, _| {
            let word = message.words().into_iter().min()?;
            let filter = json!({
                "limit": PAGE,
                "senders": [self.setup.users[message.sender].user_id],
                "rooms": [self.setup.rooms[message.room]],
            });
            Some(spec_body(&self.corpus.words[word], filter, "recent"))
        })
    }

    /// The same in Nexus's language, on messages with a link.
    fn nexus_filtered(&self) -> Vec<Value> {
        self.sampled(4, |message, _| {
            message.link.as_ref()?;
            let word = message.words().into_iter().min()?;
            let sender = &self.setup.users[message.sender].user_id;
            Some(json!({
                "query": format!("from:{sender} has:link {}", self.corpus.words[word]),
                "room_id": self.setup.rooms[message.room],
                "order_by": "recent",
                "limit": PAGE,
            }))
        })
    }

    /// Up to `count` queries made by `pick` from randomly chosen sent
    /// messages (`None`: try another message), in a bounded number of tries.
    fn sampled(&self, kind: u64, mut pick: impl FnMut(&Message, &mut Rng) -> Option<Value>) -> Vec<Value> {
        let mut rng = Rng::new(QUERY_SEED ^ kind);
        let mut out = Vec::with_capacity(self.count);
        for _ in 0..self.count.saturating_mul(100) {
            if out.len() == self.count {
                break;
            }
            let i = rng.below(usize::try_from(self.sent).unwrap_or(usize::MAX)) as u64;
            if let Some(query) = pick(&self.corpus.message(i), &mut rng) {
                out.push(query);
            }
        }
        out
    }
}

/// `word` with two different neighbouring letters of the same kind (both
/// vowels or both consonants) swapped, away from its last three letters:
/// one typo that leaves what a stemmer strips alone. Only words of six to
/// eight letters (Nexus allows them one typo); `None` when there is no such
/// pair.
fn misspell(word: &str, rng: &mut Rng) -> Option<String> {
    let mut letters: Vec<char> = word.chars().collect();
    if !(6..=8).contains(&letters.len()) {
        return None;
    }
    let vowel = |c: char| "aeiou".contains(c);
    let spots: Vec<usize> = (1..letters.len() - 4)
        .filter(|&i| {
            let (a, b) = (letters[i], letters[i + 1]);
            a != b && vowel(a) == vowel(b) && a != 'y' && b != 'y'
        })
        .collect();
    if spots.is_empty() {
        return None;
    }
    let spot = spots[rng.below(spots.len())];
    letters.swap(spot, spot + 1);
    Some(letters.into_iter().collect())
}

/// The vocabulary and how often each word is drawn.
struct Corpus {
    /// Most common first.
    words: Vec<String>,
    /// Every word a message may have (the function words too).
    known: HashSet<String>,
    /// The words' Zipf weights, summed up to each.
    cumulative: Vec<f64>,
    users: usize,
    rooms: usize,
}

#[derive(Clone, Copy, Debug)]
enum Token {
    /// An index into [`GLUE`].
    Glue(usize),
    /// An index into the vocabulary.
    Word(usize),
}

/// One corpus message.
struct Message {
    sender: usize,
    room: usize,
    /// Each sentence's tokens and its closing punctuation.
    sentences: Vec<(Vec<Token>, char)>,
    link: Option<String>,
    /// The user mentioned first (never the sender).
    mention: Option<usize>,
}

impl Message {
    /// The vocabulary words, in order.
    fn words(&self) -> Vec<usize> {
        self.sentences
            .iter()
            .flat_map(|(tokens, _)| tokens.iter())
            .filter_map(|token| match token {
                Token::Word(w) => Some(*w),
                Token::Glue(_) => None,
            })
            .collect()
    }
}

impl Corpus {
    fn new(users: usize, rooms: usize) -> Corpus {
        let mut known: HashSet<String> = GLUE.iter().map(|w| (*w).to_owned()).collect();
        let mut words: Vec<String> = Vec::with_capacity(VOCABULARY);
        for word in COMMON_WORDS.split_whitespace() {
            if known.insert(word.to_owned()) {
                words.push(word.to_owned());
            }
        }
        let mut rng = Rng::new(VOCABULARY_SEED);
        while words.len() < VOCABULARY {
            let mut word = String::new();
            for _ in 0..1 + rng.below(2) {
                word.push_str(ONSETS[rng.below(ONSETS.len())]);
                word.push_str(VOWELS[rng.below(VOWELS.len())]);
            }
            word.push_str(ONSETS[rng.below(ONSETS.len())]);
            word.push_str(LAST_VOWELS[rng.below(LAST_VOWELS.len())]);
            word.push_str(CODAS[rng.below(CODAS.len())]);
            if known.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut total = 0.0;
        let cumulative = (0..words.len())
            .map(|rank| {
                total += (rank as f64 + ZIPF_OFFSET).powf(-ZIPF_EXPONENT);
                total
            })
            .collect();
        Corpus { words, known, cumulative, users: users.max(2), rooms: rooms.max(1) }
    }

    /// A vocabulary index drawn by the Zipf law.
    fn zipf(&self, rng: &mut Rng) -> usize {
        let x = rng.unit() * self.cumulative[self.cumulative.len() - 1];
        self.cumulative.partition_point(|&c| c <= x).min(self.words.len() - 1)
    }

    /// Message `i`: the same for every run and every server.
    fn message(&self, i: u64) -> Message {
        let mut rng = Rng::new(MESSAGE_SEED ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let sender = rng.below(self.users);
        let room = rng.below(self.rooms);
        let sentence_count = [1, 1, 1, 1, 1, 1, 2, 2, 2, 3][rng.below(10)];
        let mut sentences = Vec::with_capacity(sentence_count);
        for _ in 0..sentence_count {
            let length = 4 + rng.below(9);
            let mut tokens = Vec::with_capacity(length);
            for _ in 0..length {
                tokens.push(if rng.unit() < GLUE_SHARE {
                    Token::Glue(rng.below(GLUE.len()))
                } else {
                    Token::Word(self.zipf(&mut rng))
                });
            }
            sentences.push((tokens, ['.', '.', '.', '.', '?', '!'][rng.below(6)]));
        }
        let link = (rng.unit() < LINK_SHARE).then(|| {
            let host = LINK_HOSTS[rng.below(LINK_HOSTS.len())];
            let path = &self.words[self.zipf(&mut rng)];
            format!("https://{host}/{path}/{}", rng.below(100_000))
        });
        let mention = (rng.unit() < MENTION_SHARE).then(|| (sender + 1 + rng.below(self.users - 1)) % self.users);
        Message { sender, room, sentences, link, mention }
    }

    /// The message's `m.room.message` content, `extra` appended to its body.
    fn content(&self, message: &Message, users: &[Account], extra: Option<&str>) -> Value {
        let mut body = String::new();
        if let Some(other) = message.mention {
            body.push_str(&users[other].user_id);
            body.push_str(": ");
        }
        for (s, (tokens, end)) in message.sentences.iter().enumerate() {
            if s > 0 {
                body.push(' ');
            }
            for (k, token) in tokens.iter().enumerate() {
                let word = match token {
                    Token::Glue(g) => GLUE[*g],
                    Token::Word(w) => self.words[*w].as_str(),
                };
                if k == 0 {
                    body.push_str(&word[..1].to_ascii_uppercase());
                    body.push_str(&word[1..]);
                } else {
                    body.push(' ');
                    body.push_str(word);
                }
            }
            body.push(*end);
        }
        for tail in message.link.as_deref().into_iter().chain(extra) {
            body.push(' ');
            body.push_str(tail);
        }
        let mut content = json!({"msgtype": "m.text", "body": body});
        if let Some(other) = message.mention {
            content["m.mentions"] = json!({"user_ids": [users[other].user_id]});
        }
        content
    }
}

/// SplitMix64: small, fast, and the same everywhere (the corpus must not
/// change with a dependency's version).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_same_every_time() {
        let (a, b) = (Corpus::new(8, 20), Corpus::new(8, 20));
        assert_eq!(a.words.len(), VOCABULARY);
        assert_eq!(a.words, b.words);
        let users: Vec<Account> =
            (0..8).map(|i| Account { user_id: format!("@u{i}:hs"), token: String::new() }).collect();
        for i in [0, 1, 999, 123_456] {
            assert_eq!(a.content(&a.message(i), &users, None), b.content(&b.message(i), &users, None));
        }
        let (mut links, mut mentions) = (0, 0);
        for i in 0..2_000 {
            let m = a.message(i);
            assert!(m.sender < 8 && m.room < 20 && m.mention != Some(m.sender));
            links += usize::from(m.link.is_some());
            mentions += usize::from(m.mention.is_some());
        }
        assert!((100..300).contains(&links), "{links} links");
        assert!((40..170).contains(&mentions), "{mentions} mentions");
    }

    #[test]
    fn a_misspelling_is_one_swap_away_from_its_end() {
        let mut rng = Rng::new(1);
        assert_eq!(misspell("street", &mut rng).as_deref(), Some("srteet"));
        assert_eq!(misspell("meeting", &mut rng), None);
        assert_eq!(misspell("cat", &mut rng), None);
    }
}
