//! `cold-start`: how long `nexus serve` takes to answer after a restart,
//! with an empty store and then with `events` events and `users` users in
//! it — nothing at start-up may grow with history (issue 27, target 5).
//!
//! ```text
//! NEXUS_BIN=target/release/nexus cold-start [events] [--users N] [--json]
//! ```
//!
//! The server is started by the test harness (RocksDB, loopback); events
//! are sent over the client API by `--users` users, 16 at a time, in rooms
//! of 10. Each start is timed from spawning the process to its first
//! `/versions` answer: of the empty store, after a kill -9 straight after
//! the load, then after a clean stop.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use nexus_complement::{Backend, Homeserver, Session};
use serde_json::json;

const PASSWORD: &str = "cold-start-Passw0rd!";
const SENDERS: usize = 16;
const ROOM_SIZE: usize = 10;

/// Restarts the server (after `how`) and times it until it answers.
async fn timed_restart(server: &mut Homeserver, kill: bool) -> Duration {
    if kill {
        server.kill9();
    } else {
        server.stop();
    }
    let started = Instant::now();
    server.restart().await;
    started.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let json_out = args.iter().any(|a| a == "--json");
    let events: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let user_count: usize = value_of("--users").and_then(|v| v.parse().ok()).unwrap_or(1_000).max(SENDERS);

    let mut server = Homeserver::builder(Backend::RocksDb)
        .env("NEXUS__RATE_LIMITS__MESSAGE_PER_SECOND", "1000000")
        .env("NEXUS__RATE_LIMITS__MESSAGE_BURST", "1000000")
        .start()
        .await;
    let empty_ms = timed_restart(&mut server, false).await.as_secs_f64() * 1000.0;
    eprintln!("empty store: answered {empty_ms:.0} ms after the start");

    let filling = Instant::now();
    let api = server.api();
    let users: Vec<Session> = stream::iter(0..user_count)
        .map(|i| {
            let api = api.clone();
            async move { api.register(&format!("user{i}"), PASSWORD).await }
        })
        .buffered(4)
        .collect()
        .await;
    let mut rooms = Vec::new();
    for group in users.chunks(ROOM_SIZE) {
        let room_id = group[0].create_room(json!({"preset": "public_chat"})).await;
        for member in &group[1..] {
            member.join(&room_id).await;
        }
        rooms.push(room_id);
    }
    let sent = stream::iter(0..events)
        .map(|i| {
            let user = &users[(i * 7) % users.len()];
            let room = &rooms[((i * 7) % users.len()) / ROOM_SIZE];
            async move {
                user.send_message(room, &format!("message {i}")).await;
            }
        })
        .buffer_unordered(SENDERS)
        .count()
        .await;
    let fill_s = filling.elapsed().as_secs_f64();
    eprintln!("{sent} messages by {} users in {} rooms in {fill_s:.0} s", users.len(), rooms.len());

    // Killed straight after the load (what the log holds is replayed),
    // then stopped cleanly (nothing is).
    let killed_ms = timed_restart(&mut server, true).await.as_secs_f64() * 1000.0;
    let stopped_ms = timed_restart(&mut server, false).await.as_secs_f64() * 1000.0;
    // It serves: a message sent and read back at once.
    let user = &users[0];
    user.send_message(&rooms[0], "after the restart").await;
    let data_bytes = dir_size(&server.data_path());
    let figures = json!({
        "events": sent,
        "users": users.len(),
        "rooms": rooms.len(),
        "store_mib": data_bytes as f64 / 1024.0 / 1024.0,
        "fill_s": fill_s,
        "start_empty_ms": empty_ms,
        "start_after_stop_ms": stopped_ms,
        "start_after_kill9_ms": killed_ms,
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&figures).expect("serialise"));
    } else {
        println!("{figures:#}");
    }
}

fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
