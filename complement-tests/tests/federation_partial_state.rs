//! Partial-state joins — spec: server-server API, `PUT /send_join` v2's
//! `omit_members` (`members_omitted`, `servers_in_room`), MSC3706/MSC3902:
//! a server joins a big room without its member events, its user reads
//! and sends at once, and the full state arrives in the background.
//!
//! Both roles of Nexus: the joiner (against a resident the test plays, so
//! the full state is held back until the scenario releases it, and
//! against Nexus and Synapse residents) and the resident (answering a
//! reduced `send_join`, to the test's peer, to another Nexus and to
//! Synapse, which asks for one on every join).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nexus_complement::federation::{Synapse, eventually};
use nexus_complement::federation_peer::SigningPeer;
use nexus_complement::partial_resident::{PartialResident, join_path};
use nexus_complement::{Backend, Homeserver, Session, TestCa, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "partial-Passw0rd!";

async fn federating(ca: &TestCa) -> Homeserver {
    Homeserver::builder(Backend::RocksDb).federation(ca).start().await
}

/// The joined members `/joined_members` lists, once it answers.
async fn joined_members(session: &Session, room_id: &str) -> HashSet<String> {
    let reply = session.get(&room_path(room_id, "/joined_members")).await;
    reply.expect_ok()["joined"].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

/// Waits until `/joined_members` lists exactly `expected`.
async fn await_joined_members(session: &Session, room_id: &str, expected: &HashSet<String>, wait: Duration) {
    eventually("the joined members are complete", wait, || async {
        let seen = joined_members(session, room_id).await;
        if &seen == expected { Ok(()) } else { Err(format!("{} members, {} expected", seen.len(), expected.len())) }
    })
    .await;
}

/// The bodies of the room's newest messages, as `/messages` pages them.
async fn recent_bodies(session: &Session, room_id: &str) -> Vec<String> {
    let reply = session.messages(room_id, "dir=b&limit=50").await;
    reply.expect_ok()["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

// ----- Nexus joins: the full state held back by the resident -----

/// The joiner reads and sends before the full state arrives; members
/// known only from their events' auth events are accepted; `/members`
/// waits; a kill -9 while the state is being fetched, and the restarted
/// server fetches it again and completes the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joiner_reads_and_sends_at_once_and_completes_the_state_across_a_restart() {
    const MEMBERS: usize = 300;
    let ca = TestCa::new();
    let (resident, mut nexus) = tokio::join!(PartialResident::start(&ca, MEMBERS), federating(&ca));
    let room_id = resident.room_id();
    let peer = resident.peer.server_name().to_owned();
    let alice = nexus.api().register("alice", PASSWORD).await;

    let started = Instant::now();
    alice.post(&join_path(&room_id, &peer), json!({})).await.expect_ok();
    let joined_in = started.elapsed();
    // The joiner asked for the reduced answer.
    let send_join = resident.peer.requests().into_iter().find(|r| r.target.contains("/send_join/")).expect("send_join");
    assert!(send_join.target.ends_with("?omit_members=true"), "send_join asked for: {}", send_join.target);

    // Send and read at once, while the state is partial.
    alice.send_message(&room_id, "hello before the full state").await;
    assert!(recent_bodies(&alice, &room_id).await.contains(&"hello before the full state".to_owned()));
    let read_and_sent_in = started.elapsed();
    eprintln!("joined in {joined_in:?}; joined, sent and read in {read_and_sent_in:?}");
    // The message reached the resident, named in `servers_in_room` (the
    // joiner knows none of its members but the creator).
    eventually("the resident receives the joiner's message", Duration::from_secs(10), || async {
        let delivered = resident
            .peer
            .requests()
            .iter()
            .any(|r| r.target.contains("/send/") && r.body.to_string().contains("hello before the full state"));
        if delivered { Ok(()) } else { Err("not delivered".to_owned()) }
    })
    .await;
    // A member the joiner has never seen the member event of speaks: its
    // auth events vouch for it.
    let speaker = resident.member(7);
    resident.send_message(&nexus.server_name(), &nexus.federation_url(), &speaker, "from m7").await;
    eventually("the joiner shows the message of a member it has not seen join", Duration::from_secs(10), || async {
        let bodies = recent_bodies(&alice, &room_id).await;
        if bodies.contains(&"from m7".to_owned()) { Ok(()) } else { Err(format!("{bodies:?}")) }
    })
    .await;

    // `/joined_members` needs every member: it waits for the full state,
    // which the resident has been asked for and holds back.
    let waiting =
        tokio::time::timeout(Duration::from_millis(1500), alice.get(&room_path(&room_id, "/joined_members"))).await;
    assert!(waiting.is_err(), "/joined_members answered with partial state: {:?}", waiting.map(|r| r.status));
    eventually("the joiner asks for the state at its join", Duration::from_secs(10), || async {
        let asked = resident.peer.requests().iter().any(|r| r.target.starts_with("/_matrix/federation/v1/state/"));
        if asked { Ok(()) } else { Err("no /state request yet".to_owned()) }
    })
    .await;

    // Killed while fetching; the restarted server resumes the fetch.
    nexus.kill9();
    let asked_before = resident.peer.requests().iter().filter(|r| r.target.contains("/v1/state/")).count();
    nexus.restart().await;
    eventually("the restarted server asks for the state again", Duration::from_secs(15), || async {
        let asked = resident.peer.requests().iter().filter(|r| r.target.contains("/v1/state/")).count();
        if asked > asked_before { Ok(()) } else { Err(format!("{asked} requests")) }
    })
    .await;
    resident.release_state();

    let mut expected: HashSet<String> = resident.joined().into_iter().collect();
    expected.insert(alice.user_id.to_string());
    assert_eq!(expected.len(), MEMBERS + 2);
    await_joined_members(&alice, &room_id, &expected, Duration::from_secs(60)).await;
    // Both messages are still there, and the room goes on.
    let bodies = recent_bodies(&alice, &room_id).await;
    assert!(bodies.contains(&"hello before the full state".to_owned()) && bodies.contains(&"from m7".to_owned()));
    alice.send_message(&room_id, "after the full state").await;
    let members = alice.get(&room_path(&room_id, "/members")).await;
    let chunk = members.expect_ok()["chunk"].as_array().cloned().unwrap_or_default();
    assert_eq!(chunk.len(), MEMBERS + 2, "/members after completion");
}

// ----- Nexus as the resident -----

/// A `send_join` with `omit_members=true` leaves the member events out
/// (but the heroes' in an unnamed room), names the servers in the room,
/// and keeps an auth chain that authorises everything it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_answers_a_reduced_send_join() {
    let ca = TestCa::new();
    let (nexus, peer) = tokio::join!(federating(&ca), SigningPeer::start(&ca));
    let alice = nexus.api().register("alice", PASSWORD).await;
    let mut locals = Vec::new();
    for i in 0..8 {
        locals.push(nexus.api().register(&format!("member{i}"), PASSWORD).await);
    }
    for (name, preset) in [(Some("Named"), "public_chat"), (None, "public_chat")] {
        let mut body = json!({"preset": preset, "room_version": "11"});
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        let room_id = alice.create_room(body).await;
        for member in &locals {
            member.join(&room_id).await;
        }
        let fed = nexus.federation_url();
        let reduced = peer
            .join_with_query(
                &nexus.server_name(),
                &fed,
                &room_id,
                &peer.user_id(&format!("p{}", name.is_some())),
                "?omit_members=true",
            )
            .await
            .response;
        assert_eq!(reduced["members_omitted"], true, "{reduced:#}");
        assert_eq!(reduced["servers_in_room"], json!([nexus.server_name()]), "{reduced:#}");
        let state = reduced["state"].as_array().unwrap();
        let members: Vec<&Value> = state.iter().filter(|e| e["type"] == "m.room.member").collect();
        if name.is_some() {
            assert!(members.is_empty(), "a named room needs no heroes: {members:#?}");
        } else {
            // The heroes: up to five members, so clients can name the room.
            assert!(!members.is_empty() && members.len() <= 5, "{} member events", members.len());
        }
        for kind in ["m.room.create", "m.room.power_levels", "m.room.join_rules", "m.room.history_visibility"] {
            assert!(state.iter().any(|e| e["type"] == kind), "{kind} missing from {state:#?}");
        }
        // Nothing twice; every auth event of what was returned is returned.
        let ids = |events: &Value| -> HashSet<String> {
            events.as_array().unwrap().iter().map(nexus_complement::signing::reference_event_id).collect()
        };
        let (state_ids, chain_ids) = (ids(&reduced["state"]), ids(&reduced["auth_chain"]));
        assert!(state_ids.is_disjoint(&chain_ids), "auth_chain repeats state events");
        for event in state.iter().chain(reduced["auth_chain"].as_array().unwrap()) {
            for auth in event["auth_events"].as_array().unwrap() {
                let auth = auth.as_str().unwrap();
                assert!(state_ids.contains(auth) || chain_ids.contains(auth), "auth event {auth} not returned");
            }
        }

        // Asked for everything, everything comes.
        let full = peer
            .join_with_query(&nexus.server_name(), &fed, &room_id, &peer.user_id(&format!("q{}", name.is_some())), "")
            .await
            .response;
        assert_eq!(full["members_omitted"], false, "{full:#}");
        let full_members = full["state"].as_array().unwrap().iter().filter(|e| e["type"] == "m.room.member").count();
        // alice, eight members, and the first peer user.
        assert_eq!(full_members, 10, "{full:#}");
    }
}

// ----- real servers on both sides -----

/// Registers `count` users on a Nexus server and joins them to the room.
async fn fill_nexus_room(nexus: &Homeserver, room_id: &str, prefix: &str, count: usize) -> Vec<String> {
    let mut users = Vec::new();
    for i in 0..count {
        let user = nexus.api().register(&format!("{prefix}{i}"), PASSWORD).await;
        user.join(room_id).await;
        users.push(user.user_id.to_string());
    }
    users
}

/// Nexus joins another Nexus's room: reduced answer, read and send at
/// once, messages both ways, every member in the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexus_joins_a_nexus_room_with_partial_state() {
    let ca = TestCa::new();
    let (resident, joiner) = tokio::join!(federating(&ca), federating(&ca));
    let alice = resident.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "name": "Big room"})).await;
    let mut expected: HashSet<String> = fill_nexus_room(&resident, &room_id, "member", 40).await.into_iter().collect();
    expected.insert(alice.user_id.to_string());
    let bob = joiner.api().register("bob", PASSWORD).await;
    expected.insert(bob.user_id.to_string());

    let alice_since = alice.sync_token().await;
    let started = Instant::now();
    bob.post(&join_path(&room_id, &resident.server_name()), json!({})).await.expect_ok();
    bob.send_message(&room_id, "bob says hi").await;
    assert!(recent_bodies(&bob, &room_id).await.contains(&"bob says hi".to_owned()));
    eprintln!("joined, sent and read in {:?}", started.elapsed());
    assert!(joiner.log().contains("partial_state=true"), "the join was not a partial-state join");

    alice.await_message(&alice_since, &room_id, "bob says hi").await;
    alice.send_message(&room_id, "alice answers").await;
    eventually("bob sees alice's answer", Duration::from_secs(15), || async {
        let bodies = recent_bodies(&bob, &room_id).await;
        if bodies.contains(&"alice answers".to_owned()) { Ok(()) } else { Err(format!("{bodies:?}")) }
    })
    .await;
    await_joined_members(&bob, &room_id, &expected, Duration::from_secs(30)).await;
}

/// Synapse (which asks for a reduced answer on every join) joins a Nexus
/// room, and Nexus joins a Synapse room with the reduced answer Synapse
/// gives: both read, send and end with every member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_state_joins_between_nexus_and_synapse() {
    let ca = TestCa::new();
    let (synapse, nexus) = tokio::join!(Synapse::start(&ca), federating(&ca));
    let Some(synapse) = synapse else { return };

    // Synapse joins Nexus's room.
    let alice = nexus.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "name": "Nexus room"})).await;
    let mut expected: HashSet<String> = fill_nexus_room(&nexus, &room_id, "member", 25).await.into_iter().collect();
    expected.insert(alice.user_id.to_string());
    let bob = synapse.register("bob", PASSWORD).await;
    expected.insert(bob.user_id.to_string());
    let since = alice.sync_token().await;
    bob.post(&join_path(&room_id, &nexus.server_name()), json!({})).await.expect_ok();
    bob.send_message(&room_id, "synapse says hi").await;
    alice.await_message(&since, &room_id, "synapse says hi").await;
    alice.send_message(&room_id, "nexus answers").await;
    eventually("Synapse shows Nexus's answer", Duration::from_secs(30), || async {
        let bodies = recent_bodies(&bob, &room_id).await;
        if bodies.contains(&"nexus answers".to_owned()) { Ok(()) } else { Err(format!("{bodies:?}")) }
    })
    .await;
    await_joined_members(&bob, &room_id, &expected, Duration::from_secs(60)).await;

    // Nexus joins Synapse's room.
    let carol = synapse.register("carol", PASSWORD).await;
    let synapse_room = carol.create_room(json!({"preset": "public_chat", "name": "Synapse room"})).await;
    let mut expected: HashSet<String> = HashSet::from([carol.user_id.to_string()]);
    for i in 0..12 {
        let member = synapse.register(&format!("s{i}"), PASSWORD).await;
        member.join(&synapse_room).await;
        expected.insert(member.user_id.to_string());
    }
    let dave = nexus.api().register("dave", PASSWORD).await;
    expected.insert(dave.user_id.to_string());
    dave.post(&join_path(&synapse_room, &synapse.server_name()), json!({})).await.expect_ok();
    dave.send_message(&synapse_room, "nexus joined").await;
    assert!(recent_bodies(&dave, &synapse_room).await.contains(&"nexus joined".to_owned()));
    assert!(nexus.log().contains("partial_state=true"), "Synapse's answer did not omit the members");
    eventually("Synapse shows the Nexus user's message", Duration::from_secs(30), || async {
        let bodies = recent_bodies(&carol, &synapse_room).await;
        if bodies.contains(&"nexus joined".to_owned()) { Ok(()) } else { Err(format!("{bodies:?}")) }
    })
    .await;
    carol.send_message(&synapse_room, "synapse answers").await;
    eventually("Nexus shows Synapse's answer", Duration::from_secs(30), || async {
        let bodies = recent_bodies(&dave, &synapse_room).await;
        if bodies.contains(&"synapse answers".to_owned()) { Ok(()) } else { Err(format!("{bodies:?}")) }
    })
    .await;
    await_joined_members(&dave, &synapse_room, &expected, Duration::from_secs(60)).await;
}
