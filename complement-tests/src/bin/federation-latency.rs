//! `federation-latency`: how long a message takes from `PUT /send` on one
//! server to the recipient's long-polling `/sync` on another, for every
//! pairing of Nexus and Synapse, measured in the same run on loopback TLS.
//!
//! ```text
//! NEXUS_BIN=target/release/nexus federation-latency [messages] [--json]
//! ```
//!
//! Servers are started by the test harness (a throwaway CA, Synapse from the
//! venv the harness finds or makes); each pairing gets fresh servers.

use std::time::{Duration, Instant};

use nexus_complement::federation::{Synapse, TestCa};
use nexus_complement::{Backend, Homeserver, Session, enc};
use serde_json::{Value, json};

const PASSWORD: &str = "latency-Passw0rd!";

enum Server {
    Nexus(Homeserver),
    Synapse(Synapse),
}

impl Server {
    async fn start(kind: &str, ca: &TestCa) -> Option<Server> {
        match kind {
            "nexus" => Some(Server::Nexus(Homeserver::builder(Backend::RocksDb).federation(ca).start().await)),
            _ => Synapse::start(ca).await.map(Server::Synapse),
        }
    }

    fn name(&self) -> String {
        match self {
            Server::Nexus(hs) => hs.server_name(),
            Server::Synapse(s) => s.server_name().to_owned(),
        }
    }

    async fn register(&self, localpart: &str) -> Session {
        match self {
            Server::Nexus(hs) => hs.api().register(localpart, PASSWORD).await,
            Server::Synapse(s) => s.register(localpart, PASSWORD).await,
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Sends `count` messages from `sender` one at a time and times each until
/// `receiver`'s long-poll returns it.
async fn measure(sender: &Server, receiver: &Server, count: usize) -> Vec<f64> {
    let alice = sender.register("alice").await;
    let bob = receiver.register("bob").await;
    let room_id = alice.create_room(json!({ "preset": "public_chat" })).await;
    let joined = bob.post(&format!("/join/{}?via={}", enc(&room_id), enc(&sender.name())), json!({})).await;
    joined.expect_ok();
    let filter = enc(&json!({ "room": { "timeline": { "limit": 50 } }, "presence": { "types": [] } }).to_string());
    let mut since = bob.sync_with(None, &format!("filter={filter}")).await.next_batch;
    // Warm up: the first message also opens connections and fetches keys.
    let mut latencies = Vec::with_capacity(count);
    for i in 0..=count {
        let body = format!("latency probe {i}");
        let started = Instant::now();
        alice.send_message(&room_id, &body).await;
        let deadline = started + Duration::from_secs(30);
        loop {
            let synced = bob.sync_with(Some(&since), &format!("filter={filter}&timeout=10000")).await;
            since = synced.next_batch.clone();
            let arrived = synced
                .timeline(&room_id)
                .iter()
                .any(|e: &Value| e["type"] == "m.room.message" && e["content"]["body"] == body.as_str());
            if arrived {
                if i > 0 {
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                break;
            }
            assert!(Instant::now() < deadline, "message {i} did not arrive within 30 s");
        }
    }
    latencies
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json_out = args.iter().any(|a| a == "--json");
    let count: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(50);
    let mut results = Vec::new();
    for (from, to) in [("nexus", "nexus"), ("nexus", "synapse"), ("synapse", "nexus"), ("synapse", "synapse")] {
        let ca = TestCa::new();
        let (Some(sender), Some(receiver)) = (Server::start(from, &ca).await, Server::start(to, &ca).await) else {
            eprintln!("federation-latency: no Synapse; skipping {from} → {to}");
            continue;
        };
        let mut latencies = measure(&sender, &receiver, count).await;
        latencies.sort_by(|a, b| a.total_cmp(b));
        let row = json!({
            "from": from,
            "to": to,
            "messages": latencies.len(),
            "p50_ms": percentile(&latencies, 50.0),
            "p95_ms": percentile(&latencies, 95.0),
            "p99_ms": percentile(&latencies, 99.0),
            "max_ms": latencies.last().copied().unwrap_or(f64::NAN),
        });
        eprintln!("{from} → {to}: {row}");
        results.push(row);
    }
    if json_out {
        println!("{}", serde_json::to_string_pretty(&json!({ "pairs": results })).expect("serialise"));
    } else {
        println!("| from → to | messages | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|");
        for r in &results {
            println!(
                "| {} → {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                r["from"].as_str().unwrap_or_default(),
                r["to"].as_str().unwrap_or_default(),
                r["messages"],
                r["p50_ms"].as_f64().unwrap_or(f64::NAN),
                r["p95_ms"].as_f64().unwrap_or(f64::NAN),
                r["p99_ms"].as_f64().unwrap_or(f64::NAN),
                r["max_ms"].as_f64().unwrap_or(f64::NAN),
            );
        }
    }
}
