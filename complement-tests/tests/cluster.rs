//! Several `nexus serve` processes on one PostgreSQL and one Redis (issue
//! 25, docs/scale-out.md): any process serves any request, a long-poll on
//! one wakes for a write on another, concurrent writes over all of them
//! read the same everywhere with no gap or duplicate, and a process killed
//! with SIGKILL mid-load holds nobody up past its lease and loses nothing
//! it acknowledged.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use nexus_complement::appservice::{FakeAppservice, Ghost, RegistrationFile, registration_files_env};
use nexus_complement::redis::RedisServer;
use nexus_complement::{Backend, Homeserver, Session, enc, inline_filter, new_txn_id, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const SECRET: &str = "cluster-test-secret";
const MAC_PY: &str = "import hashlib, hmac, sys\n\
print(hmac.new(sys.argv[1].encode(), '\\x00'.join(sys.argv[2:]).encode(), hashlib.sha1).hexdigest())";

/// Processes, stopped last to first (the first owns the database), then
/// their Redis.
struct Cluster {
    processes: Vec<Homeserver>,
    _redis: RedisServer,
    /// The search index every process shares (one writes, all read).
    _search: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        while let Some(process) = self.processes.pop() {
            drop(process);
        }
    }
}

async fn cluster(size: usize, lease_secs: u64) -> Option<Cluster> {
    cluster_with(size, lease_secs, &[]).await
}

/// A cluster whose processes all get these extra settings.
async fn cluster_with(size: usize, lease_secs: u64, env: &[(&str, String)]) -> Option<Cluster> {
    if nexus_complement::postgres::skip_without_postgres(module_path!()) {
        return None;
    }
    let redis = RedisServer::start();
    let search = tempfile::Builder::new().prefix("nexus-cluster-search-").tempdir().unwrap();
    let builder = || {
        let mut builder = Homeserver::builder(Backend::Postgres)
            .env("NEXUS__REGISTRATION__SHARED_SECRET", SECRET)
            // Neither runs in a cluster yet (a clustered process refuses them).
            .env("NEXUS__BOT_API__ENABLED", "false")
            .env("NEXUS__SFU__ENABLED", "false")
            .env("NEXUS__SEARCH__PATH", search.path().display().to_string());
        for (key, value) in env {
            builder = builder.env(*key, value.clone());
        }
        builder
    };
    let first = builder().clustered(&redis.url(), lease_secs, None).start().await;
    let mut processes = vec![first];
    for _ in 1..size {
        let next = builder().clustered(&redis.url(), lease_secs, Some(&processes[0])).start().await;
        processes.push(next);
    }
    Some(Cluster { processes, _redis: redis, _search: search })
}

/// The same login, talking to another process.
fn via(session: &Session, process: &Homeserver) -> Session {
    Session { api: process.api(), ..session.clone() }
}

/// An admin (for the forward extremities), registered with the shared secret.
async fn admin(hs: &Homeserver, localpart: &str) -> Session {
    let api = hs.api();
    let nonce = api.get("/_synapse/admin/v1/register").await;
    let nonce = nonce.expect_ok()["nonce"].as_str().unwrap().to_owned();
    let mac = tokio::process::Command::new("python3")
        .args(["-c", MAC_PY, SECRET, &nonce, localpart, PASSWORD, "admin"])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("python3 for the MAC");
    let mac = String::from_utf8(mac.stdout).unwrap().trim().to_owned();
    let body = json!({"nonce": nonce, "username": localpart, "password": PASSWORD, "admin": true, "mac": mac});
    let reply = api.post("/_synapse/admin/v1/register", body).await;
    api.session_from(reply.expect_ok(), PASSWORD, &reply)
}

/// Room timelines of up to 1,000 events, and nothing but rooms (presence
/// changes as clients move between processes would end long-polls early).
fn big_timeline() -> String {
    inline_filter(&json!({
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {"timeline": {"limit": 1000}},
    }))
}

/// Follows incremental syncs from `since` until `wanted` message ids of
/// `room` arrived (or `within` passed); every message id each sync
/// returned, in order, and whether any timeline was `limited` (a gap).
async fn messages_until(
    session: &Session,
    room: &str,
    since: &str,
    wanted: &HashSet<String>,
    within: Duration,
) -> (Vec<String>, bool) {
    let deadline = Instant::now() + within;
    let mut since = since.to_owned();
    let mut seen = Vec::new();
    let mut limited = false;
    while Instant::now() < deadline && !wanted.iter().all(|id| seen.contains(id)) {
        let synced = session.sync_with(Some(&since), &format!("timeout=2000&{}", big_timeline())).await;
        if let Some(joined) = synced.joined(room) {
            limited |= joined["timeline"]["limited"].as_bool() == Some(true);
        }
        for event in synced.timeline(room) {
            if event["type"] == "m.room.message" {
                seen.push(event["event_id"].as_str().unwrap().to_owned());
            }
        }
        since = synced.next_batch;
    }
    (seen, limited)
}

/// A measured figure, on the process's stderr (past the test harness's
/// capture), for docs/performance.md.
fn report(figure: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "cluster: {figure}");
}

fn duplicates(ids: &[String]) -> Vec<&String> {
    let mut once = HashSet::new();
    ids.iter().filter(|id| !once.insert(*id)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_on_one_process_wakes_for_a_send_on_another() {
    let Some(cluster) = cluster(3, 10).await else { return };
    let [one, two, three] = &cluster.processes[..] else { unreachable!() };
    let alice = one.api().register("alice", PASSWORD).await;
    let bob = two.api().register("bob", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    via(&bob, three).join(&room).await;

    for (reader, writer) in [(one, two), (two, three), (three, one)] {
        let alice_here = via(&alice, reader);
        let since = alice_here.sync_token().await;
        let poll = tokio::spawn(async move {
            alice_here.sync_with(Some(&since), &format!("timeout=10000&{}", big_timeline())).await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent_at = Instant::now();
        let sent = via(&bob, writer).send_message(&room, "across processes").await;
        let synced = poll.await.unwrap();
        let woken_after = sent_at.elapsed();
        assert!(synced.timeline_has(&room, &sent), "the long-poll returned without the message: {:?}", synced.body);
        report(&format!("cross-process wake {} -> {}: {woken_after:?}", writer.base_url(), reader.base_url()));
        assert!(
            woken_after < Duration::from_secs(1),
            "a long-poll on {} woke {woken_after:?} after a send on {}",
            reader.base_url(),
            writer.base_url()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_on_one_process_shows_in_a_sync_on_another() {
    let Some(cluster) = cluster(2, 10).await else { return };
    let [one, two] = &cluster.processes[..] else { unreachable!() };
    let alice = one.api().register("alice", PASSWORD).await;
    let bob = two.api().register("bob", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let since = bob.sync_token().await;

    let typing = room_path(&room, &format!("/typing/{}", enc(&alice.user_id)));
    alice.put(&typing, json!({"typing": true, "timeout": 30000})).await.expect_ok();
    let started = Instant::now();
    let synced = bob
        .sync_until(&since, "", "alice typing, seen through the other process", |s| {
            s.typing(&room).is_some_and(|users| users.contains(&alice.user_id))
        })
        .await;
    report(&format!("typing crossed processes in {:?}", started.elapsed()));
    alice.put(&typing, json!({"typing": false})).await.expect_ok();
    bob.sync_until(&synced.next_batch, "", "alice stopped typing", |s| {
        s.typing(&room).is_some_and(|users| users.is_empty())
    })
    .await;

    // Upgrading the schema beside running processes: `nexus migrate`.
    let migrated = one.run_binary(&["migrate"]).await;
    let said = String::from_utf8_lossy(&migrated.stdout);
    assert!(migrated.status.success() && said.contains("schema is version"), "{said} {:?}", migrated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_over_three_processes_read_the_same_on_each() {
    let Some(cluster) = cluster(3, 10).await else { return };
    let processes = &cluster.processes;
    let root = admin(&processes[0], "root").await;
    let alice = processes[0].api().register("alice", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    let mut tokens = Vec::new();
    for process in processes {
        tokens.push(via(&alice, process).sync_token().await);
    }

    // 3 × 100 sends, all in flight together, each process taking a third.
    let sends = (0..300).map(|i| {
        let sender = via(&alice, &processes[i % 3]);
        let room = room.clone();
        async move {
            let path = room_path(&room, &format!("/send/m.room.message/{}", new_txn_id()));
            let reply = sender.put(&path, json!({"msgtype": "m.text", "body": format!("message {i}")})).await;
            reply.expect_ok()["event_id"].as_str().unwrap().to_owned()
        }
    });
    let started = Instant::now();
    let sent: Vec<String> = futures_util::stream::iter(sends).buffer_unordered(300).collect().await;
    report(&format!("300 concurrent sends over 3 processes: {:?}", started.elapsed()));
    let wanted: HashSet<String> = sent.iter().cloned().collect();
    assert_eq!(wanted.len(), 300, "every send got its own event id");

    let path = format!("/_synapse/admin/v1/rooms/{}/forward_extremities", enc(&room));
    let extremities = root.get(&path).await;
    assert_eq!(extremities.expect_ok()["count"], 1, "one forward extremity after concurrent sends: {extremities:?}");

    let mut orders = Vec::new();
    for (process, since) in processes.iter().zip(&tokens) {
        let reader = via(&alice, process);
        let (seen, limited) = messages_until(&reader, &room, since, &wanted, Duration::from_secs(30)).await;
        assert!(!limited, "{}: an incremental sync skipped events (limited)", process.base_url());
        assert!(duplicates(&seen).is_empty(), "{}: delivered twice: {:?}", process.base_url(), duplicates(&seen));
        let missing: Vec<_> = wanted.iter().filter(|id| !seen.contains(id)).collect();
        assert!(missing.is_empty(), "{}: never delivered {} of 300: {missing:?}", process.base_url(), missing.len());
        assert_eq!(seen.len(), 300, "{}: delivered something else too", process.base_url());

        // The room's history reads the same on every process.
        let messages = reader.get(&room_path(&room, "/messages?dir=b&limit=1000")).await;
        let order: Vec<String> = messages
            .expect_chunk()
            .iter()
            .filter(|e| e["type"] == "m.room.message")
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect();
        orders.push(order);
    }
    assert_eq!(orders[0].len(), 300);
    assert!(orders.iter().all(|o| *o == orders[0]), "/messages orders the room differently on different processes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_load_holds_nobody_up_and_loses_nothing() {
    const LEASE_SECS: u64 = 3;
    let Some(mut cluster) = cluster(3, LEASE_SECS).await else { return };
    let alice = cluster.processes[0].api().register("alice", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    let since: Vec<String> = {
        let mut tokens = Vec::new();
        for process in &cluster.processes {
            tokens.push(via(&alice, process).sync_token().await);
        }
        tokens
    };

    // Senders on every process for four seconds; the third process is
    // killed after one and a half. What was acknowledged is kept.
    let senders: Vec<_> = (0..6)
        .map(|i| {
            let sender = via(&alice, &cluster.processes[i % 3]);
            let room = room.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let until = Instant::now() + Duration::from_secs(4);
                while Instant::now() < until {
                    let path = room_path(&room, &format!("/send/m.room.message/{}", new_txn_id()));
                    let body = json!({"msgtype": "m.text", "body": "under load"});
                    let request = sender.api.raw(reqwest::Method::PUT, &path).bearer_auth(&sender.access_token);
                    match request.json(&body).send().await {
                        Ok(response) if response.status() == 200 => {
                            let body: Value = response.json().await.unwrap();
                            acknowledged.push(body["event_id"].as_str().unwrap().to_owned());
                        }
                        // The killed process: refused, reset, or a failure
                        // while it died. Nothing acknowledged.
                        _ => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.processes[2].kill9();
    let killed_at = Instant::now();
    let mut wanted = HashSet::new();
    for sender in senders {
        wanted.extend(sender.await.unwrap());
    }
    assert!(wanted.len() > 30, "the load sent too little to mean anything: {}", wanted.len());

    // The survivors deliver everything acknowledged, by any process,
    // within the lease (and a margin) of the kill.
    for (process, since) in cluster.processes[..2].iter().zip(&since) {
        let reader = via(&alice, process);
        let (seen, _) = messages_until(&reader, &room, since, &wanted, Duration::from_secs(LEASE_SECS + 15)).await;
        let missing: Vec<_> = wanted.iter().filter(|id| !seen.contains(id)).collect();
        assert!(missing.is_empty(), "{}: lost {} acknowledged events: {missing:?}", process.base_url(), missing.len());
        assert!(duplicates(&seen).is_empty(), "{}: delivered twice", process.base_url());
    }
    report(&format!(
        "{} events acknowledged under load; survivors delivered them all {:?} after the kill (lease {LEASE_SECS} s)",
        wanted.len(),
        killed_at.elapsed()
    ));
    assert!(
        killed_at.elapsed() < Duration::from_secs(LEASE_SECS + 15),
        "the survivors took {:?} to deliver what was acknowledged",
        killed_at.elapsed()
    );

    // Nothing is stuck behind the dead process: a send on one survivor
    // wakes a long-poll on the other at once.
    let reader = via(&alice, &cluster.processes[0]);
    let token = reader.sync_token().await;
    let poll = tokio::spawn(async move { reader.sync_with(Some(&token), "timeout=10000").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent_at = Instant::now();
    let after = via(&alice, &cluster.processes[1]).send_message(&room, "after the kill").await;
    let synced = poll.await.unwrap();
    assert!(synced.timeline_has(&room, &after) && sent_at.elapsed() < Duration::from_secs(1), "{:?}", synced.body);

    // The restarted process catches up from where its client left off.
    cluster.processes[2].restart().await;
    wanted.insert(after);
    let reader = via(&alice, &cluster.processes[2]);
    let (seen, _) = messages_until(&reader, &room, &since[2], &wanted, Duration::from_secs(30)).await;
    let missing: Vec<_> = wanted.iter().filter(|id| !seen.contains(id)).collect();
    assert!(missing.is_empty(), "the restarted process never delivered {} events", missing.len());
}

/// The process that leads (the first one started) runs the appservice
/// senders. Killed with SIGKILL, another process takes its lease over once
/// it lapses and delivers what was queued meanwhile, whichever process
/// queued it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leader_dies_another_process_takes_over_appservice_delivery() {
    const LEASE_SECS: u64 = 3;
    let appservice = FakeAppservice::start().await;
    let registration = RegistrationFile::new("relay", Some(appservice.url()));
    let dir = tempfile::tempdir().unwrap();
    let files = registration_files_env(&[registration.write_to(dir.path())]);
    let env = [("NEXUS__APPSERVICE__REGISTRATION_FILES", files)];
    let Some(mut cluster) = cluster_with(3, LEASE_SECS, &env).await else { return };
    // The first process started leads; the scenario writes through the others.
    let second = &cluster.processes[1];
    let ghost = Ghost::new(second.api(), &registration.as_token, &second.user_id("relay_ghost"));
    ghost.register(true).await.expect_ok();
    let room = ghost.create_room(json!({"preset": "public_chat"})).await;
    let alice = second.api().register("alice", PASSWORD).await;
    alice.join(&room).await;

    // Queued on a process that does not lead: the leader delivers it.
    let before = alice.send_message(&room, "before").await;
    appservice.wait_for_event(&before, Duration::from_secs(10)).await;

    cluster.processes[0].kill9();
    let killed_at = Instant::now();
    let after = via(&alice, &cluster.processes[2]).send_message(&room, "after the leader died").await;
    appservice.wait_for_event(&after, Duration::from_secs(LEASE_SECS + 15)).await;
    report(&format!(
        "appservice delivery resumed {:?} after the leader was killed (lease {LEASE_SECS} s)",
        killed_at.elapsed()
    ));
}

/// Presence: a user active through one process stays online although the
/// process they used first (whose own record of them goes stale) runs its
/// offline sweep; activity is shared through Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_active_through_another_process_stays_online() {
    let env = [("NEXUS__PRESENCE__OFFLINE_AFTER_SECS", "3".to_owned())];
    let Some(cluster) = cluster_with(2, 10, &env).await else { return };
    let [one, two] = &cluster.processes[..] else { unreachable!() };
    let alice = one.api().register("alice", PASSWORD).await;
    alice.sync_with(None, "set_presence=online").await;
    let status = format!("/presence/{}/status", enc(&alice.user_id));
    assert_eq!(alice.get(&status).await.expect_ok()["presence"], "online");

    // Active through the second process only, past the first's sweep (every
    // 30 s) with an offline delay of 3 s.
    let through_two = via(&alice, two);
    let until = Instant::now() + Duration::from_secs(35);
    while Instant::now() < until {
        // Read before each sync: a sweep that marked her offline since the
        // last sync shows here (the sync would put her back online).
        let seen = alice.get(&status).await;
        assert_eq!(seen.expect_ok()["presence"], "online", "marked offline while active through another process");
        through_two.sync_with(None, "set_presence=online&filter=%7B%22room%22%3A%7B%22rooms%22%3A%5B%5D%7D%7D").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Rate limits: a client gets one allowance across the cluster, not one per
/// process (the buckets are in Redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_one_login_allowance_across_processes() {
    let env = [
        ("NEXUS__RATE_LIMITS__LOGIN_PER_SECOND", "0.01".to_owned()),
        ("NEXUS__RATE_LIMITS__LOGIN_BURST", "3".to_owned()),
    ];
    let Some(cluster) = cluster_with(2, 10, &env).await else { return };
    let [one, two] = &cluster.processes[..] else { unreachable!() };
    one.api().register("alice", PASSWORD).await;
    for _ in 0..3 {
        one.api().login_with(nexus_complement::password_login("alice", PASSWORD)).await.expect_ok();
    }
    let refused = two.api().login_with(nexus_complement::password_login("alice", PASSWORD)).await;
    refused.expect_error(429, "M_LIMIT_EXCEEDED");
    assert!(refused.json["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{refused:?}");
}

/// Search: one process writes the shared index, every process answers from
/// it; when the writer dies, another takes its lock and indexes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_searches_one_index_and_another_takes_over_its_writing() {
    let Some(mut cluster) = cluster(3, 3).await else { return };
    let alice = cluster.processes[0].api().register("alice", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    for (i, process) in cluster.processes.iter().enumerate() {
        via(&alice, process).send_message(&room, &format!("zebra crossing number {i}")).await;
    }
    let found = |session: Session, term: &'static str| async move {
        let body = json!({"search_categories": {"room_events": {"search_term": term}}});
        let reply = session.post("/search", body).await;
        reply.expect_ok()["search_categories"]["room_events"]["results"].as_array().map_or(0, Vec::len)
    };
    for process in &cluster.processes {
        let reader = via(&alice, process);
        let deadline = Instant::now() + Duration::from_secs(15);
        while found(reader.clone(), "zebra").await < 3 {
            assert!(Instant::now() < deadline, "{} does not find all three messages", process.base_url());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // The first process opened the index first: it writes. Killed, another
    // takes the lock over and indexes what is sent meanwhile.
    cluster.processes[0].kill9();
    let killed_at = Instant::now();
    via(&alice, &cluster.processes[1]).send_message(&room, "okapi after the writer died").await;
    let reader = via(&alice, &cluster.processes[2]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while found(reader.clone(), "okapi").await < 1 {
        assert!(Instant::now() < deadline, "nothing indexed after the writer died");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    report(&format!("search indexing resumed {:?} after the writer was killed", killed_at.elapsed()));
}
