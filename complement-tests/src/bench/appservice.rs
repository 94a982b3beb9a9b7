//! What a bridge costs a homeserver (issue 18), measured the same way on
//! any server: it must have been started with an appservice registration
//! (scripts/bench.sh writes it) whose `url` is the driver's own appservice
//! on `--as-port`, whose exclusive user namespace is `@{--as-prefix}.*`
//! and whose `rate_limited` is false, as bridges ask.
//!
//! - `appservice_ghost_sends`: the bridge's ghosts (registered with
//!   `m.login.application_service`) send messages with the `as_token` and
//!   `?user_id=` masquerading, `--concurrency` at once over `--rooms` rooms:
//!   what a busy bridge puts into Matrix. Latency per send.
//! - `appservice_delivery`: ordinary users send into rooms a ghost is in,
//!   `--concurrency` at once; throughput is the events the appservice
//!   received per second, from the first send to the last event delivered;
//!   latency is each event's, from its send to the arrival of the
//!   transaction carrying it; `events_per_transaction` shows the batching.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::json;
use tokio::net::TcpListener;

use super::http::{self, Account, Http, Pool};
use super::{Bench, Figure};
use crate::appservice::FakeAppservice;
use crate::client::enc;

const GHOST_SENDS_COUNT: u64 = 10_000;
const DELIVERY_COUNT: u64 = 10_000;
/// How long the driver waits for the last events after the last send.
const DELIVERY_GRACE: Duration = Duration::from_secs(60);

/// The appservice the server was started with.
#[derive(Clone, Debug)]
pub struct AppserviceConfig {
    /// The driver listens here; the registration's `url` points here.
    pub port: u16,
    pub as_token: String,
    pub hs_token: String,
    /// Ghosts are `@{prefix}…`: the registration's exclusive user namespace.
    pub prefix: String,
}

/// Both figures, on one appservice listener.
pub async fn appservice_workloads(bench: &Bench) -> Result<Vec<(&'static str, Figure)>> {
    let config = bench.config.appservice.clone().context("the appservice workload needs --as-port and --as-token")?;
    let listener = TcpListener::bind(("127.0.0.1", config.port))
        .await
        .with_context(|| format!("listen on the registration's port {}", config.port))?;
    let appservice = FakeAppservice::on(listener);
    let ghost_sends = ghost_sends(bench, &config).await.context("appservice ghost sends")?;
    let delivery = delivery(bench, &config, &appservice).await.context("appservice delivery")?;
    let foreign = appservice
        .transactions()
        .iter()
        .filter(|t| t.header("authorization") != Some(&format!("Bearer {}", config.hs_token)))
        .count();
    if foreign > 0 {
        bail!("{foreign} transactions came without the hs_token");
    }
    Ok(vec![("appservice_ghost_sends", ghost_sends), ("appservice_delivery", delivery)])
}

/// Registers `n` ghosts `@{prefix}{tag}-{nonce}-{i}`; as accounts whose
/// token is the `as_token` (masquerade with [`as_ghost`]).
async fn ghosts(bench: &Bench, config: &AppserviceConfig, tag: &str, n: usize) -> Result<Vec<Account>> {
    let jobs: Vec<_> = (0..n)
        .map(|_| {
            let http = bench.setup.clone();
            let localpart = format!("{}{tag}-{}", config.prefix, bench.txn_id());
            let token = config.as_token.clone();
            async move {
                let body = json!({"type": "m.login.application_service", "username": localpart, "inhibit_login": true});
                let answer = http.call(Method::POST, "/_matrix/client/v3/register", Some(&token), Some(&body)).await?;
                let user_id = answer["user_id"].as_str().context("register: no user_id")?.to_owned();
                Ok(Account { user_id, token })
            }
        })
        .collect();
    http::bounded(bench.config.setup_parallelism(), jobs).await.context("register the ghosts")
}

/// `path` masquerading as `ghost`.
fn as_ghost(path: &str, ghost: &Account) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}user_id={}", enc(&ghost.user_id))
}

async fn ghost_send(client: &Http, ghost: &Account, room_id: &str, txn_id: &str, text: &str) -> Result<()> {
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{}", enc(room_id), enc(txn_id));
    let body = json!({"msgtype": "m.text", "body": text});
    client.call(Method::PUT, &as_ghost(&path, ghost), Some(&ghost.token), Some(&body)).await.map(drop)
}

async fn ghost_join(client: &Http, ghost: &Account, room_id: &str) -> Result<()> {
    let path = as_ghost(&format!("/_matrix/client/v3/join/{}", enc(room_id)), ghost);
    client.call(Method::POST, &path, Some(&ghost.token), Some(&json!({}))).await.map(drop)
}

/// The rooms of a workload: `--rooms` (default concurrency / 4), each made
/// by one of `creators` in turn.
async fn rooms(bench: &Bench, creator: &Account, what: &str) -> Result<Vec<String>> {
    let count = bench.config.rooms.unwrap_or(bench.config.concurrency / 4).clamp(1, bench.config.concurrency);
    let mut rooms = Vec::with_capacity(count);
    for r in 0..count {
        rooms.push(http::create_public_room(&bench.setup, creator, &format!("{what} {r}")).await?);
    }
    Ok(rooms)
}

async fn ghost_sends(bench: &Bench, config: &AppserviceConfig) -> Result<Figure> {
    let senders = bench.config.concurrency;
    let owner = bench.users("as-owner", 1).await?.remove(0);
    let rooms = rooms(bench, &owner, "ghost sends").await?;
    let ghosts = ghosts(bench, config, "send", senders).await?;
    let joins: Vec<_> = ghosts
        .iter()
        .enumerate()
        .map(|(i, ghost)| {
            let (http, ghost, room) = (bench.setup.clone(), ghost.clone(), rooms[i % rooms.len()].clone());
            async move { ghost_join(&http, &ghost, &room).await }
        })
        .collect();
    http::bounded(bench.config.setup_parallelism(), joins).await?;
    let client = bench.client(Pool::Many(senders))?;
    let count = bench.config.count_or(GHOST_SENDS_COUNT);
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + bench.config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, ghost) in ghosts.into_iter().enumerate() {
        let (client, room, issued, prefix) =
            (client.clone(), rooms[i % rooms.len()].clone(), issued.clone(), bench.txn_id());
        tasks.spawn(async move {
            let (mut samples, mut errors, mut n) = (Vec::<Duration>::new(), 0u64, 0u64);
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < count {
                n += 1;
                let t0 = Instant::now();
                match ghost_send(&client, &ghost, &room, &format!("{prefix}-{n}"), "from the bridge").await {
                    Ok(()) => samples.push(t0.elapsed()),
                    Err(e) => {
                        errors += 1;
                        eprintln!("nexus-bench: ghost send failed: {e:#}");
                    }
                }
            }
            (samples, errors)
        });
    }
    let (mut samples, mut errors) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (s, e) = done.context("a ghost task panicked")?;
        samples.extend(s);
        errors += e;
    }
    let figure = Figure::from_latencies(&samples, started.elapsed(), client.retries(), errors)?;
    Ok(figure.with("ghosts", senders as f64).with("rooms", rooms.len() as f64))
}

async fn delivery(bench: &Bench, config: &AppserviceConfig, appservice: &FakeAppservice) -> Result<Figure> {
    let senders = bench.config.concurrency;
    let users = bench.users("as-deliver", senders).await?;
    let rooms = rooms(bench, &users[0], "delivery").await?;
    // One ghost in each room puts the room's events in the bridge's interest.
    let ghosts = ghosts(bench, config, "listen", rooms.len()).await?;
    for (ghost, room) in ghosts.iter().zip(&rooms) {
        ghost_join(&bench.setup, ghost, room).await?;
    }
    let joins: Vec<_> = users
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, user)| {
            let (http, user, room) = (bench.setup.clone(), user.clone(), rooms[i % rooms.len()].clone());
            async move { http::join(&http, &user, &room).await }
        })
        .collect();
    http::bounded(bench.config.setup_parallelism(), joins).await?;
    let transactions_before = appservice.transactions().len();

    let client = bench.client(Pool::Many(senders))?;
    let count = bench.config.count_or(DELIVERY_COUNT);
    let issued = Arc::new(AtomicU64::new(0));
    let marker = bench.marker("delivery");
    let started = Instant::now();
    let deadline = started + bench.config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, user) in users.into_iter().enumerate() {
        let (client, room, issued, prefix, marker) =
            (client.clone(), rooms[i % rooms.len()].clone(), issued.clone(), bench.txn_id(), marker.clone());
        tasks.spawn(async move {
            let (mut sent, mut errors) = (Vec::<(String, Instant)>::new(), 0u64);
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if Instant::now() >= deadline || n >= count {
                    break;
                }
                let body = format!("{marker} {n}");
                let t0 = Instant::now();
                match http::send_text(&client, &user, &room, &format!("{prefix}-{n}"), &body).await {
                    Ok(_) => sent.push((body, t0)),
                    Err(e) => {
                        errors += 1;
                        eprintln!("nexus-bench: delivery send failed: {e:#}");
                    }
                }
            }
            (sent, errors)
        });
    }
    let (mut sent, mut errors) = (HashMap::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (s, e) = done.context("a sender task panicked")?;
        sent.extend(s);
        errors += e;
    }

    // Wait for every acknowledged send to reach the appservice.
    let grace = Instant::now() + DELIVERY_GRACE;
    let arrivals = loop {
        let arrivals = arrivals_of(appservice, &marker, transactions_before);
        if arrivals.len() >= sent.len() || Instant::now() >= grace {
            break arrivals;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let lost = sent.keys().filter(|body| !arrivals.contains_key(*body)).count();
    if lost > 0 {
        bail!("{lost} of {} acknowledged events never reached the appservice", sent.len());
    }
    let samples: Vec<Duration> =
        sent.iter().map(|(body, t0)| arrivals[body].0.saturating_duration_since(*t0)).collect();
    let last = arrivals.values().map(|(at, _)| *at).max().unwrap_or(started);
    let duplicates = arrivals.values().map(|(_, n)| n - 1).sum::<u64>();
    let transactions = appservice.transactions()[transactions_before..].to_vec();
    let events: usize = transactions.iter().map(|t| t.events().len()).sum();
    let figure = Figure::from_latencies(&samples, last.saturating_duration_since(started), client.retries(), errors)?;
    Ok(figure
        .with("transactions", transactions.len() as f64)
        .with("events_per_transaction", events as f64 / transactions.len().max(1) as f64)
        .with("duplicates", duplicates as f64)
        .with("senders", senders as f64)
        .with("rooms", rooms.len() as f64))
}

/// Each delivered body carrying `marker`: its first arrival and how many
/// times it arrived (a transaction retried after success would count twice).
fn arrivals_of(appservice: &FakeAppservice, marker: &str, skip: usize) -> HashMap<String, (Instant, u64)> {
    let mut arrivals: HashMap<String, (Instant, u64)> = HashMap::new();
    for transaction in appservice.transactions().iter().skip(skip) {
        for event in transaction.events() {
            let Some(body) = event["content"]["body"].as_str().filter(|b| b.starts_with(marker)) else { continue };
            let slot = arrivals.entry(body.to_owned()).or_insert((transaction.received_at, 0));
            slot.1 += 1;
        }
    }
    arrivals
}
