//! Delayed events at scale (MSC4140, issue: "timers scale to 100,000
//! pending; fire within 100 ms of their due time").
//!
//! In process, on a fresh RocksDB store: one user schedules
//! `NEXUS_BENCH_PENDING` (default 100,000) delayed messages due in an hour,
//! then `NEXUS_BENCH_PROBES` (default 200) other users each schedule one
//! due over the next few seconds; each probe's lateness is the time from
//! its due time to its outcome being recorded (the event sent and
//! persisted). Also measured: scheduling throughput, resident memory per
//! pending event, and what a restart costs the service (its index reloaded
//! from the store). Prints a Markdown table (`scripts/bench.sh` puts it in
//! `docs/performance.md`).
//!
//! `cargo bench -p nexus-core --bench delayed_events`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use nexus_core::delayed_events::DelayedEvents;
use nexus_core::rooms::{CreateRoom, NewEvent};
use nexus_core::{Services, Settings};
use nexus_storage::backend::{Backend, StoreOptions};
use nexus_storage::catalog::NEXUS;
use nexus_storage::{Store, WriteBatch};
use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use serde_json::json;

const SERVER_NAME: &str = "bench.nexus";
/// Schedules in flight at once.
const IN_FLIGHT: usize = 16;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn user(localpart: &str) -> OwnedUserId {
    UserId::parse(format!("@{localpart}:{SERVER_NAME}")).expect("a valid user id")
}

fn message(body: &str) -> NewEvent {
    let content = json!({"msgtype": "m.text", "body": body});
    let ruma::CanonicalJsonValue::Object(content) = ruma::CanonicalJsonValue::try_from(content).unwrap() else {
        unreachable!()
    };
    NewEvent {
        kind: "m.room.message".to_owned(),
        state_key: None,
        content,
        redacts: None,
        transaction: None,
        origin_server_ts: None,
    }
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn start(dir: &std::path::Path) -> (Arc<Services>, Arc<dyn Store>) {
    let options =
        StoreOptions { backend: Backend::RocksDb { path: dir.join("db") }, sync_writes: false, cluster: None };
    let store = nexus_storage::open(&options, NEXUS).await.expect("opening the store");
    let mut settings = Settings::default();
    settings.server.server_name = SERVER_NAME.try_into().expect("a server name");
    settings.federation.enabled = false;
    settings.media.path = Some(dir.join("media"));
    settings.delayed_events.max_per_user = usize::MAX;
    let services = Services::start(settings, store.clone()).await.expect("starting services");
    tokio::spawn(services.delayed_events.clone().run());
    (services, store)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(run());
}

async fn run() {
    let pending = env_or("NEXUS_BENCH_PENDING", 100_000);
    let probes = env_or("NEXUS_BENCH_PROBES", 200);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (services, store) = start(dir.path()).await;
    let owner = user("owner");
    // One prober per probe: a user's listing keeps only their newest
    // finalised delayed events.
    let probers: Vec<OwnedUserId> = (0..probes).map(|i| user(&format!("prober{i}"))).collect();
    let device = OwnedDeviceId::from("BENCH");
    let mut batch = WriteBatch::new();
    services.profiles.create(&mut batch, owner.localpart(), "Owner");
    for prober in &probers {
        services.profiles.create(&mut batch, prober.localpart(), "Prober");
    }
    store.write(batch).await.expect("writing profiles");
    let request = CreateRoom { preset: Some(nexus_core::rooms::Preset::PublicChat), ..CreateRoom::default() };
    let room = services.rooms.create_room(&owner, request).await.expect("a room");
    for prober in &probers {
        services.rooms.join(&room, prober, None, &[]).await.expect("a prober joins");
    }

    let rss_before = resident_kib();
    let scheduling = Instant::now();
    let delayed = &services.delayed_events;
    futures::stream::iter(0..pending)
        .for_each_concurrent(IN_FLIGHT, |i| {
            let (owner, room, device) = (&owner, &room, &device);
            async move {
                let event = message(&format!("pending {i}"));
                delayed.schedule(owner, device, room, event, Duration::from_secs(3600)).await.expect("scheduled");
            }
        })
        .await;
    let scheduling = scheduling.elapsed();
    let rss_pending = resident_kib();
    assert_eq!(delayed.scheduled_count(), pending);

    // Probes due 1–5 s from now, while everything else is pending.
    for (i, prober) in probers.iter().enumerate() {
        let delay = Duration::from_millis(1000 + (i as u64 * 4000) / probes as u64);
        delayed.schedule(prober, &device, &room, message(&format!("probe {i}")), delay).await.expect("probe");
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut lateness = Vec::with_capacity(probes);
    for prober in &probers {
        let listing = delayed.list(prober, &[]).await.expect("a prober's delayed events");
        assert!(listing.scheduled.is_empty(), "a probe never fired");
        let event = listing.finalised.first().expect("the probe finalised");
        let done = event.finalised.as_ref().expect("finalised");
        assert!(done.event_id.is_some(), "probe {} failed: {:?}", event.delay_id, done.error);
        lateness.push(done.at_ms.saturating_sub(event.due_ms));
    }
    lateness.sort_unstable();

    // What a restart costs this service: loading every delayed event from
    // the store into the timer's index.
    let restart = Instant::now();
    let settings = services.settings.delayed_events.clone();
    let reloaded = DelayedEvents::start(store.clone(), services.rooms.clone(), settings).await.expect("reloaded");
    let restart = restart.elapsed();
    assert_eq!(reloaded.scheduled_count(), pending);

    let per_event_bytes = (rss_pending.saturating_sub(rss_before) * 1024) / pending.max(1) as u64;
    println!("| Measure | Value |\n|---|---|");
    println!("| Delayed events pending | {pending} |");
    println!(
        "| Scheduling ({IN_FLIGHT} in flight) | {:.1} s, {:.0} per second |",
        scheduling.as_secs_f64(),
        pending as f64 / scheduling.as_secs_f64()
    );
    println!(
        "| Resident memory per pending delayed event (index, allocator and store caches) | {per_event_bytes} bytes |"
    );
    println!(
        "| Lateness of {} probes due while all are pending: p50 / p99 / max | {} / {} / {} ms |",
        lateness.len(),
        percentile(&lateness, 0.5),
        percentile(&lateness, 0.99),
        lateness.last().unwrap()
    );
    println!(
        "| Loading all of them at start-up (the timer's index rebuilt from the store) | {:.2} s |",
        restart.as_secs_f64()
    );
}
