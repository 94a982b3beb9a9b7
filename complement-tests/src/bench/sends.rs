//! Message sends: one user on one connection, and many users at once.
//! Latency is the time of one `PUT /rooms/{roomId}/send/...` from request to
//! full answer; throughput is completed sends per wall second of the
//! measured loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::http::{self, Http, Pool};
use super::{Bench, Figure};

/// Default measured sends.
const SEQUENTIAL_COUNT: u64 = 2_000;
const CONCURRENT_COUNT: u64 = 10_000;

/// (a) One user, one room, one send after another on one HTTP/1.1
/// connection (opened by an unmeasured warm-up send).
pub async fn sequential(bench: &Bench) -> Result<Figure> {
    let retries_before = bench.setup.retries();
    let user = bench.users("seq", 1).await?.remove(0);
    let room = http::create_public_room(&bench.setup, &user, "sequential sends").await?;
    let client = bench.client(Pool::Single)?;
    http::send_text(&client, &user, &room, &bench.txn_id(), "warm-up").await?;
    let setup_retries = bench.setup.retries() - retries_before + client.retries();

    let count = bench.config.count_or(SEQUENTIAL_COUNT);
    let txns: Vec<String> = (0..count).map(|_| bench.txn_id()).collect();
    let (mut samples, mut errors) = (Vec::with_capacity(txns.len()), 0);
    let retries_before = client.retries();
    let started = Instant::now();
    let deadline = started + bench.config.duration;
    for (i, txn) in txns.iter().enumerate() {
        if Instant::now() >= deadline {
            break;
        }
        let t0 = Instant::now();
        match http::send_text(&client, &user, &room, txn, &format!("message {i}")).await {
            Ok(_) => samples.push(t0.elapsed()),
            Err(e) => {
                errors += 1;
                eprintln!("nexus-bench: sequential send failed: {e:#}");
            }
        }
    }
    let wall = started.elapsed();
    let figure = Figure::from_latencies(&samples, wall, client.retries() - retries_before, errors)?;
    Ok(figure.with("connections", 1.0).with("setup_retries_429", setup_retries as f64))
}

/// (b) `--concurrency` users spread over `--rooms` rooms, each sending one
/// message after another, all at once, until `count` sends in total.
pub async fn concurrent(bench: &Bench) -> Result<Figure> {
    let senders = bench.config.concurrency;
    let room_count = bench.config.rooms.unwrap_or(senders / 4).clamp(1, senders);
    let retries_before = bench.setup.retries();
    let users = bench.users("conc", senders).await?;
    let mut rooms = Vec::with_capacity(room_count);
    // User r creates room r (one after another: see population.rs).
    for (r, creator) in users.iter().take(room_count).enumerate() {
        rooms.push(http::create_public_room(&bench.setup, creator, &format!("concurrent sends {r}")).await?);
    }
    let joins: Vec<_> = users
        .iter()
        .enumerate()
        .skip(room_count)
        .map(|(i, user)| {
            let (http, user, room) = (bench.setup.clone(), user.clone(), rooms[i % room_count].clone());
            async move { http::join(&http, &user, &room).await }
        })
        .collect();
    http::bounded(bench.config.setup_parallelism(), joins).await?;
    // Sender i talks to process i mod n (one process unless --also-url).
    let clients = bench.clients(Pool::Many(senders))?;
    let client_of = |i: usize| clients[i % clients.len()].clone();
    // Warm-up: open the connections (one send per user, unmeasured).
    let warmups: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let (client, user, room, txn) = (client_of(i), user.clone(), rooms[i % room_count].clone(), bench.txn_id());
            async move { http::send_text(&client, &user, &room, &txn, "warm-up").await }
        })
        .collect();
    http::bounded(senders, warmups).await?;
    let retries = || clients.iter().map(Http::retries).sum::<u64>();
    let setup_retries = bench.setup.retries() - retries_before + retries();

    let count = bench.config.count_or(CONCURRENT_COUNT);
    let issued = Arc::new(AtomicU64::new(0));
    let retries_before = retries();
    let started = Instant::now();
    let deadline = started + bench.config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, user) in users.iter().enumerate() {
        let (client, user, room, issued) = (client_of(i), user.clone(), rooms[i % room_count].clone(), issued.clone());
        let prefix = bench.txn_id();
        tasks.spawn(async move {
            let (mut samples, mut errors) = (Vec::<Duration>::new(), 0u64);
            let mut n = 0u64;
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < count {
                n += 1;
                let t0 = Instant::now();
                match http::send_text(&client, &user, &room, &format!("{prefix}-{n}"), "concurrent").await {
                    Ok(_) => samples.push(t0.elapsed()),
                    Err(e) => {
                        errors += 1;
                        eprintln!("nexus-bench: concurrent send failed: {e:#}");
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
    let figure = Figure::from_latencies(&samples, wall, retries() - retries_before, errors)?;
    Ok(figure
        .with("senders", senders as f64)
        .with("processes", clients.len() as f64)
        .with("rooms", room_count as f64)
        .with("setup_retries_429", setup_retries as f64))
}
