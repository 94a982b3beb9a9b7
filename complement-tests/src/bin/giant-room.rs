//! `giant-room`: what a room's size costs. A room is filled with `members`
//! joined users (appservice users: no password hashing), and the same
//! figures are taken in it and in a 10-member room on the same server:
//! send latency, `/members`, a lazy-loading initial sync and an incremental
//! sync of one of its members, the join latency as the room grows, and the
//! store's size per member.
//!
//! ```text
//! NEXUS_BIN=target/release/nexus giant-room [members] [--json]
//! ```
//!
//! The server is started by the test harness with fresh data; every phase
//! is bounded in time.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use nexus_complement::appservice::{Ghost, RegistrationFile, registration_files_env};
use nexus_complement::bench::stats::percentile;
use nexus_complement::{Backend, Homeserver, Session, enc, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "giant-room-Passw0rd!";
/// Members added at once while filling the room.
const FILL_CONCURRENCY: usize = 8;
/// The longest any one phase may take.
const PHASE_LIMIT: Duration = Duration::from_secs(1800);
/// Samples per figure.
const SENDS: usize = 200;
const READS: usize = 10;
const SMALL_ROOM: usize = 10;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(mut samples: Vec<f64>) -> Value {
    samples.sort_by(f64::total_cmp);
    json!({ "p50": percentile(&samples, 0.5), "p99": percentile(&samples, 0.99), "n": samples.len() })
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Joins ghosts `from..to` to the room, `FILL_CONCURRENCY` at once; the
/// join latencies in ms.
async fn fill(hs: &Homeserver, registration: &RegistrationFile, room_id: &str, from: usize, to: usize) -> Vec<f64> {
    let api = hs.api();
    let name = hs.server_name();
    let joins = stream::iter(from..to)
        .map(|i| {
            let ghost = Ghost::new(api.clone(), &registration.as_token, &format!("@giant_{i}:{name}"));
            async move {
                ghost.register(true).await.expect_ok();
                let started = Instant::now();
                ghost.post(&format!("/join/{}", enc(room_id)), json!({})).await.expect_ok();
                ms(started.elapsed())
            }
        })
        .buffer_unordered(FILL_CONCURRENCY)
        .collect::<Vec<f64>>();
    tokio::time::timeout(PHASE_LIMIT, joins).await.expect("filling the room took too long")
}

fn lazy_filter(room_id: &str) -> String {
    let filter = json!({"room": {"rooms": [room_id], "state": {"lazy_load_members": true}, "timeline": {"limit": 10}}});
    enc(&filter.to_string())
}

/// The figures of one room, read by `reader`, written by `writer`.
async fn measure(writer: &Session, reader: &Session, room_id: &str) -> Value {
    let mut sends = Vec::new();
    for i in 0..SENDS {
        let started = Instant::now();
        writer.send_message(room_id, &format!("message {i}")).await;
        sends.push(ms(started.elapsed()));
    }
    let mut members = Vec::new();
    let mut joined_members = Vec::new();
    let mut initial = Vec::new();
    let mut incremental = Vec::new();
    let filter = lazy_filter(room_id);
    for i in 0..READS {
        let started = Instant::now();
        reader.get(&room_path(room_id, "/members")).await.expect_ok();
        members.push(ms(started.elapsed()));
        let started = Instant::now();
        reader.get(&room_path(room_id, "/joined_members")).await.expect_ok();
        joined_members.push(ms(started.elapsed()));
        let started = Instant::now();
        let sync = reader.get(&format!("/sync?filter={filter}")).await;
        initial.push(ms(started.elapsed()));
        let since = sync.expect_ok()["next_batch"].as_str().expect("next_batch").to_owned();
        writer.send_message(room_id, &format!("read {i}")).await;
        let started = Instant::now();
        let next = reader.get(&format!("/sync?filter={filter}&since={since}&timeout=0")).await;
        incremental.push(ms(started.elapsed()));
        let events = next.expect_ok()["rooms"]["join"][room_id]["timeline"]["events"].as_array().cloned();
        assert!(
            events.unwrap_or_default().iter().any(|e| e["content"]["body"] == format!("read {i}")),
            "the incremental sync lacks the new message"
        );
    }
    json!({
        "send_ms": summary(sends),
        "members_ms": summary(members),
        "joined_members_ms": summary(joined_members),
        "lazy_initial_sync_ms": summary(initial),
        "incremental_sync_ms": summary(incremental),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json_out = args.iter().any(|a| a == "--json");
    let members: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let registration = RegistrationFile::new("giant", None);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = registration.write_to(dir.path());
    let hs = Homeserver::builder(Backend::RocksDb)
        .env("NEXUS__APPSERVICE__REGISTRATION_FILES", registration_files_env(&[file]))
        .start()
        .await;
    let writer = hs.api().register("writer", PASSWORD).await;
    let reader = hs.api().register("reader", PASSWORD).await;
    let small = writer.create_room(json!({"preset": "public_chat", "name": "Small room"})).await;
    let giant = writer.create_room(json!({"preset": "public_chat", "name": "Giant room"})).await;
    reader.join(&small).await;
    reader.join(&giant).await;
    fill(&hs, &registration, &small, 0, SMALL_ROOM - 2).await;

    let size_before = dir_size(&hs.data_path());
    let started = Instant::now();
    let steps = 10.min(members.max(1));
    let mut growth = Vec::new();
    let mut from = SMALL_ROOM;
    for step in 1..=steps {
        let to = SMALL_ROOM + members * step / steps;
        let step_started = Instant::now();
        let joins = fill(&hs, &registration, &giant, from, to).await;
        let rate = (to - from) as f64 / step_started.elapsed().as_secs_f64();
        let row = json!({ "members": to - SMALL_ROOM + 2, "joins_per_s": rate, "join_ms": summary(joins) });
        eprintln!("  {row}");
        growth.push(row);
        from = to;
    }
    let fill_s = started.elapsed().as_secs_f64();
    let size_after = dir_size(&hs.data_path());
    eprintln!("  {members} members in {fill_s:.0} s");

    let small_figures = measure(&writer, &reader, &small).await;
    eprintln!("  small: {small_figures}");
    let giant_figures = measure(&writer, &reader, &giant).await;
    eprintln!("  giant: {giant_figures}");
    let report = json!({
        "members": members + 2,
        "fill_s": fill_s,
        "bytes_per_member": (size_after.saturating_sub(size_before)) as f64 / members.max(1) as f64,
        "growth": growth,
        "small": small_figures,
        "giant": giant_figures,
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&report).expect("serialise"));
    } else {
        println!("| figure (ms, p50 / p99) | {SMALL_ROOM} members | {} members |\n|---|---|---|", members + 2);
        for figure in ["send_ms", "members_ms", "joined_members_ms", "lazy_initial_sync_ms", "incremental_sync_ms"] {
            let cell = |v: &Value| format!("{:.1} / {:.1}", v[figure]["p50"].as_f64().unwrap_or(f64::NAN), v[figure]["p99"].as_f64().unwrap_or(f64::NAN));
            println!("| {figure} | {} | {} |", cell(&report["small"]), cell(&report["giant"]));
        }
        println!("\nstore per member: {:.0} bytes; fill: {fill_s:.0} s", report["bytes_per_member"]);
    }
}
