//! `/sync`: long-poll wake-up, initial sync and incremental sync.
//!
//! Every measured `/sync` carries an inline filter with a `not_types` entry
//! unique to that request (a type no event has), so a server's response
//! cache (Synapse keeps identical `/sync` answers for a while) cannot answer
//! a repetition without doing the work.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::http::{self, Account, Http, Pool};
use super::population::Population;
use super::{Bench, Figure, Report};

/// Default measured repetitions.
const WAKE_COUNT: u64 = 100;
const INITIAL_SYNC_COUNT: u64 = 20;
const INCREMENTAL_SYNC_COUNT: u64 = 1_000;
/// The timeline limits of the initial-sync profiles.
pub const TIMELINE_LIMITS: [u64; 3] = [1, 5, 20];
/// How long the waiting user's `/sync` gets to reach the server and park
/// before the other user sends (not measured).
pub const PARK_DELAY: Duration = Duration::from_millis(50);
/// The long-poll timeout of the waiting `/sync`.
const LONG_POLL_MS: u64 = 30_000;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The measured filter: lazy-loaded members, a timeline limit, and a unique
/// `not_types` entry.
fn sync_filter(bench: &Bench, limit: u64) -> Value {
    json!({"room": {
        "state": {"lazy_load_members": true},
        "timeline": {"limit": limit, "not_types": [format!("bench.nonce.{}", bench.txn_id())]},
    }})
}

/// Whether any joined room's timeline in a `/sync` answer has an event with this body.
fn has_body(answer: &Value, body: &str) -> bool {
    answer["rooms"]["join"].as_object().is_some_and(|rooms| {
        rooms.values().any(|room| {
            room["timeline"]["events"]
                .as_array()
                .is_some_and(|events| events.iter().any(|e| e["content"]["body"] == body))
        })
    })
}

/// Counts joined rooms, timeline events and state events in a `/sync` answer.
fn sync_shape(answer: &Value) -> (usize, usize, usize) {
    let Some(rooms) = answer["rooms"]["join"].as_object() else { return (0, 0, 0) };
    let count = |room: &Value, section: &str| room[section]["events"].as_array().map_or(0, Vec::len);
    let timeline = rooms.values().map(|r| count(r, "timeline")).sum();
    let state = rooms.values().map(|r| count(r, "state")).sum();
    (rooms.len(), timeline, state)
}

/// Long-polls from `since` until an answer holds the event with `body`; the
/// instant that answer was complete, and its `next_batch`.
async fn wait_for_body(
    http: Http,
    who: Account,
    mut since: String,
    filter: Value,
    body: String,
) -> Result<(Instant, String)> {
    let give_up = Instant::now() + Duration::from_millis(LONG_POLL_MS + 10_000);
    loop {
        let answer = http::sync(&http, &who, Some(&since), LONG_POLL_MS, &filter).await?;
        let done = Instant::now();
        since = http::next_batch(&answer);
        if has_body(&answer, &body) {
            return Ok((done, since));
        }
        if done >= give_up {
            bail!("the waiting /sync never returned the event {body:?}");
        }
    }
}

/// (c) User B waits in `/sync?timeout=30000&since=X`; user A sends. The
/// percentiles are from just before A's send is issued until B's `/sync`
/// answer holding the event is complete (so they include the send);
/// `after_send_*` measure from A's send returning instead (0 when B woke
/// first, which `woke_before_send_returned` counts).
pub async fn long_poll_wake(bench: &Bench) -> Result<Figure> {
    let retries_before = bench.setup.retries();
    let users = bench.users("wake", 2).await?;
    let (a, b) = (users[0].clone(), users[1].clone());
    let room = http::create_public_room(&bench.setup, &a, "long-poll wake").await?;
    http::join(&bench.setup, &b, &room).await?;
    let filter = json!({
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "rooms": [room],
            "timeline": {"limit": 50},
            "state": {"lazy_load_members": true},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
    });
    // The sender talks to the last process, the waiter to the first (the
    // same one unless --also-url: then the wake-up crosses processes).
    let a_http = bench.clients(Pool::Single)?.pop().expect("at least --url");
    let b_http = bench.client(Pool::Single)?;
    let mut since = http::next_batch(&http::sync(&b_http, &b, None, 0, &filter).await?);

    let count = bench.config.count_or(WAKE_COUNT);
    let mut from_send = Vec::new();
    let mut after_send = Vec::new();
    let mut send_latency = Vec::new();
    let mut woke_first = 0u64;
    let mut measured_retries = 0;
    let mut setup_retries = 0;
    let mut started = Instant::now();
    // Iteration 0 is a warm-up (opens both connections), not measured.
    for i in 0..=count {
        if i == 1 {
            setup_retries = bench.setup.retries() - retries_before + a_http.retries() + b_http.retries();
            measured_retries = a_http.retries() + b_http.retries();
            started = Instant::now();
        }
        if i > 0 && started.elapsed() >= bench.config.duration {
            break;
        }
        let body = bench.marker("wake");
        let waiter =
            tokio::spawn(wait_for_body(b_http.clone(), b.clone(), since.clone(), filter.clone(), body.clone()));
        tokio::time::sleep(PARK_DELAY).await;
        let t0 = Instant::now();
        let sent = http::send_text(&a_http, &a, &room, &bench.txn_id(), &body).await;
        let t1 = Instant::now();
        if let Err(e) = sent {
            waiter.abort();
            return Err(e.context("long-poll-wake: the send failed"));
        }
        let (woke, next) = waiter.await.context("the waiting /sync panicked")??;
        since = next;
        if i > 0 {
            from_send.push(woke.saturating_duration_since(t0));
            after_send.push(woke.saturating_duration_since(t1));
            send_latency.push(t1 - t0);
            woke_first += u64::from(woke < t1);
        }
    }
    let wall = started.elapsed();
    measured_retries = a_http.retries() + b_http.retries() - measured_retries;
    let after = Figure::from_latencies(&after_send, wall, 0, 0)?;
    let send = Figure::from_latencies(&send_latency, wall, 0, 0)?;
    let mut figure = Figure::from_latencies(&from_send, wall, measured_retries, 0)?;
    for key in ["p50_ms", "p90_ms", "p99_ms"] {
        figure.set(&format!("after_send_{key}"), after.get(key).unwrap_or(f64::NAN));
    }
    figure.set("send_p50_ms", send.get("p50_ms").unwrap_or(f64::NAN));
    figure.set("woke_before_send_returned", woke_first as f64);
    figure.set("park_delay_ms", ms(PARK_DELAY));
    figure.set("setup_retries_429", setup_retries as f64);
    Ok(figure)
}

/// (d) The population's subject syncs from scratch with lazy-loaded members
/// and a timeline limit of 1, 5 and 20: one unmeasured first sync per limit
/// (`first_ms`), then the measured repetitions. Each request's latency runs
/// until the whole answer has been read.
pub async fn initial_sync(bench: &Bench, population: &Population) -> Result<Report> {
    let client = bench.client(Pool::Single)?;
    let who = &population.subject;
    let shape = population.shape;
    let mut report = Report::default();
    for limit in TIMELINE_LIMITS {
        let t0 = Instant::now();
        let first = http::sync(&client, who, None, 0, &sync_filter(bench, limit)).await?;
        let first_ms = ms(t0.elapsed());
        let (rooms, timeline, state) = sync_shape(&first);
        if rooms != population.rooms.len() {
            bail!("the initial /sync holds {rooms} joined rooms, not {}", population.rooms.len());
        }
        let size = first.to_string().len();

        let count = bench.config.count_or(INITIAL_SYNC_COUNT);
        let (mut samples, mut errors) = (Vec::new(), 0);
        let retries_before = client.retries();
        let started = Instant::now();
        for _ in 0..count {
            if started.elapsed() >= bench.config.duration {
                break;
            }
            let filter = sync_filter(bench, limit);
            let t0 = Instant::now();
            match http::sync(&client, who, None, 0, &filter).await {
                Ok(_) => samples.push(t0.elapsed()),
                Err(e) => {
                    errors += 1;
                    eprintln!("nexus-bench: initial sync failed: {e:#}");
                }
            }
        }
        let figure = Figure::from_latencies(&samples, started.elapsed(), client.retries() - retries_before, errors)?
            .with("timeline_limit", limit as f64)
            .with("first_ms", first_ms)
            .with("users", shape.users as f64)
            .with("rooms", shape.rooms as f64)
            .with("members_per_room", shape.members_per_room as f64)
            .with("events_per_room", shape.events_per_room as f64)
            .with("timeline_events", timeline as f64)
            .with("state_events", state as f64)
            .with("response_kib", size as f64 / 1024.0)
            .with("setup_ms", population.setup_ms)
            .with("setup_retries_429", population.setup_retries as f64);
        report.add(&format!("initial_sync_limit_{limit}"), figure);
    }
    Ok(report)
}

/// (e) `/sync?since=<latest>&timeout=0` with nothing new, over and over
/// (each answer's `next_batch` is the next `since`).
pub async fn incremental_sync(bench: &Bench, population: &Population) -> Result<Figure> {
    let client = bench.client(Pool::Single)?;
    let who = &population.subject;
    let mut since = http::next_batch(&http::sync(&client, who, None, 0, &sync_filter(bench, 1)).await?);
    let count = bench.config.count_or(INCREMENTAL_SYNC_COUNT);
    let (mut samples, mut errors, mut non_empty) = (Vec::new(), 0, 0u64);
    let retries_before = client.retries();
    let started = Instant::now();
    for _ in 0..count {
        if started.elapsed() >= bench.config.duration {
            break;
        }
        let filter = sync_filter(bench, 10);
        let t0 = Instant::now();
        match http::sync(&client, who, Some(&since), 0, &filter).await {
            Ok(answer) => {
                samples.push(t0.elapsed());
                non_empty += u64::from(sync_shape(&answer).1 > 0);
                since = http::next_batch(&answer);
            }
            Err(e) => {
                errors += 1;
                eprintln!("nexus-bench: incremental sync failed: {e:#}");
            }
        }
    }
    let figure = Figure::from_latencies(&samples, started.elapsed(), client.retries() - retries_before, errors)?;
    Ok(figure.with("rooms", population.rooms.len() as f64).with("answers_with_events", non_empty as f64))
}
