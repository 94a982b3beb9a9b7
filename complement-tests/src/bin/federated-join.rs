//! `federated-join`: joining a big room over federation — how long until
//! the joiner's user can send and read, and until the joining server has
//! every member — for each pairing of resident and joining server (Nexus,
//! Synapse), measured in the same run on loopback TLS.
//!
//! ```text
//! NEXUS_BIN=target/release/nexus federated-join [members] [--synapse-members N] [--pairs nexus-nexus,...] [--json]
//! ```
//!
//! The resident's room gets `members` joined users (appservice users, so
//! generating them costs no password hashing), `--synapse-members` of them
//! when Synapse is the resident (it adds members far more slowly). Servers
//! are started by the test harness with fresh data for each pairing;
//! every wait is bounded.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use nexus_complement::appservice::{Ghost, RegistrationFile, registration_files_env};
use nexus_complement::client::Api;
use nexus_complement::federation::{Synapse, TestCa};
use nexus_complement::{Backend, Homeserver, Session, enc, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "join-bench-Passw0rd!";
/// Members added at once while filling the room.
const FILL_CONCURRENCY: usize = 8;
/// The longest any one phase may take.
const PHASE_LIMIT: Duration = Duration::from_secs(900);

enum Server {
    Nexus(Homeserver),
    Synapse(Synapse),
}

impl Server {
    async fn start(kind: &str, ca: &TestCa, registration: &RegistrationFile, dir: &std::path::Path) -> Option<Server> {
        let file = registration.write_to(dir);
        match kind {
            "nexus" => Some(Server::Nexus(
                Homeserver::builder(Backend::RocksDb)
                    .federation(ca)
                    .env("NEXUS__APPSERVICE__REGISTRATION_FILES", registration_files_env(&[file]))
                    .start()
                    .await,
            )),
            _ => Synapse::start_configured(ca, None, |config| {
                config["app_service_config_files"] = json!([file.display().to_string()]);
            })
            .await
            .map(Server::Synapse),
        }
    }

    fn name(&self) -> String {
        match self {
            Server::Nexus(hs) => hs.server_name(),
            Server::Synapse(s) => s.server_name().to_owned(),
        }
    }

    fn api(&self) -> Api {
        match self {
            Server::Nexus(hs) => hs.api(),
            Server::Synapse(s) => s.api(),
        }
    }

    async fn register(&self, localpart: &str) -> Session {
        match self {
            Server::Nexus(hs) => hs.api().register(localpart, PASSWORD).await,
            Server::Synapse(s) => s.register(localpart, PASSWORD).await,
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Adds `members` appservice users to the room, `FILL_CONCURRENCY` at once.
async fn fill(resident: &Server, registration: &RegistrationFile, room_id: &str, members: usize) {
    let api = resident.api();
    let name = resident.name();
    let filled = stream::iter(0..members)
        .map(|i| {
            let ghost = Ghost::new(api.clone(), &registration.as_token, &format!("@bench_{i}:{name}"));
            async move {
                ghost.register(true).await.expect_ok();
                ghost.post(&format!("/join/{}", enc(room_id)), json!({})).await.expect_ok();
            }
        })
        .buffer_unordered(FILL_CONCURRENCY)
        .count();
    tokio::time::timeout(PHASE_LIMIT, filled).await.expect("filling the room took too long");
}

/// How many members `/joined_members` lists (waiting for it to answer).
async fn joined_count(session: &Session, room_id: &str) -> usize {
    let reply = session.get(&room_path(room_id, "/joined_members")).await;
    reply.json["joined"].as_object().map_or(0, |o| o.len())
}

async fn measure(resident: &Server, joiner: &Server, registration: &RegistrationFile, members: usize) -> Value {
    let creator = resident.register("creator").await;
    let room_id = creator.create_room(json!({"preset": "public_chat", "name": "Big room"})).await;
    let filling = Instant::now();
    fill(resident, registration, &room_id, members).await;
    let fill_s = filling.elapsed().as_secs_f64();
    eprintln!("  {members} members in {fill_s:.0} s");

    let user = joiner.register("joiner").await;
    let started = Instant::now();
    let join = tokio::time::timeout(
        PHASE_LIMIT,
        user.post(
            &format!("/join/{}?via={}&server_name={}", enc(&room_id), enc(&resident.name()), enc(&resident.name())),
            json!({}),
        ),
    )
    .await
    .expect("the join took too long");
    join.expect_ok();
    let joined = started.elapsed();
    user.send_message(&room_id, "hello, big room").await;
    let sent = started.elapsed();
    loop {
        let reply = user.messages(&room_id, "dir=b&limit=20").await;
        let read =
            reply.json["chunk"].as_array().into_iter().flatten().any(|e| e["content"]["body"] == "hello, big room");
        if read {
            break;
        }
        assert!(started.elapsed() < PHASE_LIMIT, "the joiner never read its own message");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let read = started.elapsed();
    let expected = members + 2;
    loop {
        if joined_count(&user, &room_id).await >= expected {
            break;
        }
        assert!(started.elapsed() < PHASE_LIMIT, "the joiner never had every member");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let complete = started.elapsed();
    json!({
        "members": members,
        "fill_s": fill_s,
        "join_ms": ms(joined),
        "send_ms": ms(sent),
        "read_ms": ms(read),
        "all_members_ms": ms(complete),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let json_out = args.iter().any(|a| a == "--json");
    let members: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let synapse_members: usize = value_of("--synapse-members").and_then(|v| v.parse().ok()).unwrap_or(members);
    let pairs =
        value_of("--pairs").unwrap_or_else(|| "nexus-nexus,nexus-synapse,synapse-nexus,synapse-synapse".to_owned());
    let mut results = Vec::new();
    for pair in pairs.split(',') {
        let Some((resident_kind, joiner_kind)) = pair.split_once('-') else { continue };
        let ca = TestCa::new();
        let registration = RegistrationFile::new("bench", None);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (resident, joiner) = tokio::join!(
            Server::start(resident_kind, &ca, &registration, dir.path()),
            Server::start(joiner_kind, &ca, &registration, dir.path())
        );
        let (Some(resident), Some(joiner)) = (resident, joiner) else {
            eprintln!("federated-join: no Synapse; skipping {pair}");
            continue;
        };
        let count = if resident_kind == "synapse" { synapse_members } else { members };
        eprintln!("{resident_kind} resident, {joiner_kind} joiner:");
        let mut row = measure(&resident, &joiner, &registration, count).await;
        row["resident"] = json!(resident_kind);
        row["joiner"] = json!(joiner_kind);
        eprintln!("  {row}");
        results.push(row);
    }
    if json_out {
        println!("{}", serde_json::to_string_pretty(&json!({ "pairs": results })).expect("serialise"));
    } else {
        println!(
            "| resident → joiner | members | join ms | + send ms | + read ms | every member ms |\n|---|---|---|---|---|---|"
        );
        for r in &results {
            println!(
                "| {} → {} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
                r["resident"].as_str().unwrap_or_default(),
                r["joiner"].as_str().unwrap_or_default(),
                r["members"],
                r["join_ms"].as_f64().unwrap_or(f64::NAN),
                r["send_ms"].as_f64().unwrap_or(f64::NAN),
                r["read_ms"].as_f64().unwrap_or(f64::NAN),
                r["all_members_ms"].as_f64().unwrap_or(f64::NAN),
            );
        }
    }
}
