//! A poll's tally served, and a vote counted, as the poll grows from 10 to
//! 10,000 voters (extensions-spec §11.2; `rooms::polls`).
//!
//! In process, on a fresh RocksDB store: one room, one disclosed poll. The
//! voters' responses are written through the same `Polls::respond` the
//! persist path calls (sending 10,000 real member joins first would only
//! time joins), then at each size the bench times
//!
//! * serving the start event with its tally (`GET /event`'s
//!   `Rooms::event_for_client`: the event, its bundle and the tally's one
//!   point read), and
//! * a real vote: `Rooms::send` of a response, which updates the tally in
//!   the event's batch.
//!
//! Prints a Markdown table for `docs/performance.md`.
//! `cargo bench -p nexus-core --bench poll_tally`
//! (`NEXUS_BENCH_ROUNDS`, default 1,000 serves and reads and 250 votes per
//! size; medians).

use std::sync::Arc;
use std::time::{Duration, Instant};

use nexus_core::rooms::NewEvent;
use nexus_core::rooms::polls::Related;
use nexus_core::{Services, Settings};
use nexus_storage::backend::{Backend, StoreOptions};
use nexus_storage::catalog::NEXUS;
use nexus_storage::{Store, WriteBatch};
use ruma::{DeviceId, EventId, OwnedEventId, RoomId, UserId};
use serde_json::{Value, json};

const SERVER_NAME: &str = "bench.nexus";
const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn object(value: Value) -> ruma::CanonicalJsonObject {
    match ruma::CanonicalJsonValue::try_from(value) {
        Ok(ruma::CanonicalJsonValue::Object(o)) => o,
        other => panic!("not a JSON object: {other:?}"),
    }
}

fn message(kind: &str, content: Value) -> NewEvent {
    NewEvent {
        kind: kind.to_owned(),
        state_key: None,
        content: object(content),
        redacts: None,
        transaction: None,
        origin_server_ts: None,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let rounds = env_or("NEXUS_BENCH_ROUNDS", 1000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options =
        StoreOptions { backend: Backend::RocksDb { path: dir.path().join("db") }, sync_writes: false, cluster: None };
    let store = nexus_storage::open(&options, NEXUS).await.expect("opening the store");
    let mut settings = Settings::default();
    settings.server.server_name = SERVER_NAME.try_into().expect("a server name");
    settings.federation.enabled = false;
    settings.media.path = Some(dir.path().join("media"));
    let services = Services::start(settings, store.clone()).await.expect("starting services");

    let owner = UserId::parse(format!("@owner:{SERVER_NAME}")).unwrap();
    let mut batch = WriteBatch::new();
    services.profiles.create(&mut batch, owner.localpart(), "Owner");
    store.write(batch).await.unwrap();
    let room = services.rooms.create_room(&owner, Default::default()).await.expect("a room");
    let answers: Vec<Value> =
        (0..20).map(|i| json!({"id": format!("a{i}"), "org.matrix.msc1767.text": format!("Answer {i}")})).collect();
    let start = services
        .rooms
        .send(
            &room,
            &owner,
            message(
                "org.matrix.msc3381.poll.start",
                json!({
                    "org.matrix.msc1767.text": "Which?",
                    "org.matrix.msc3381.poll.start": {
                        "question": {"org.matrix.msc1767.text": "Which?"},
                        "kind": "org.matrix.msc3381.poll.disclosed",
                        "max_selections": 3,
                        "answers": answers
                    }
                }),
            ),
        )
        .await
        .expect("the poll");
    let device: &DeviceId = ruma::device_id!("BENCH");

    let mut table = String::from(
        "| voters | `GET /event` of the start, tally included | the tally's read alone | one vote sent and counted |\n",
    );
    table.push_str("|---:|---:|---:|---:|\n");
    let mut voters = 0usize;
    for size in SIZES {
        add_voters(&services, &store, &room, &start, voters, size).await;
        voters = size;
        let tally = services.rooms.polls.get(&room, &start).await.unwrap().expect("the tally");
        // Every injected voter counts (and the owner, once they have voted).
        assert!(tally.voters as usize >= voters, "{} counted of {voters}", tally.voters);

        let mut serves = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let began = Instant::now();
            let event = services.rooms.event_for_client(&owner, device, &room, &start).await.expect("the event");
            serves.push(began.elapsed());
            assert!(event["unsigned"]["nexus.poll.tally"]["counts"].is_object());
        }
        let mut reads = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let began = Instant::now();
            let tally = services.rooms.polls.get(&room, &start).await.unwrap().expect("the tally").for_client();
            reads.push(began.elapsed());
            assert!(tally["counts"].is_object());
        }
        let mut votes = Vec::new();
        for i in 0..(rounds / 4).max(5) {
            let content = json!({
                "m.relates_to": {"rel_type": "m.reference", "event_id": start},
                "org.matrix.msc3381.poll.response": {"answers": [format!("a{}", i % 20)]}
            });
            let began = Instant::now();
            services.rooms.send(&room, &owner, message("org.matrix.msc3381.poll.response", content)).await.unwrap();
            votes.push(began.elapsed());
        }
        let (serve, read, vote) = (median(serves), median(reads), median(votes));
        eprintln!("{voters} voters: serve {}, tally read {}, vote {}", micros(serve), micros(read), micros(vote));
        table.push_str(&format!("| {voters} | {} | {} | {} |\n", micros(serve), micros(read), micros(vote)));
    }
    println!("{table}");
    services.shutdown().await.expect("shutdown");
}

/// Voters `from..to` each vote once, through the tally's own entry point.
async fn add_voters(
    services: &Services,
    store: &Arc<dyn Store>,
    room: &RoomId,
    poll: &EventId,
    from: usize,
    to: usize,
) {
    let mut batch = WriteBatch::new();
    for i in from..to {
        let voter = UserId::parse(format!("@v{i:05}:{SERVER_NAME}")).unwrap();
        let event_id = OwnedEventId::try_from(format!("$vote{i:05}")).unwrap();
        let vote = Related { room_id: room, poll, event_id: &event_id, sender: &voter, origin_server_ts: 1 + i as u64 };
        let content = json!({"org.matrix.msc3381.poll.response": {"answers": [format!("a{}", i % 20), "a0"]}});
        services.rooms.polls.respond(&mut batch, &vote, &content).await.expect("a vote");
        // Each vote reads the tally the previous one wrote.
        store.write(std::mem::take(&mut batch)).await.expect("writing a vote");
    }
}
