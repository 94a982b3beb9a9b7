//! Listing threads — mirrors Complement's `room_threads`
//! (`TestThreadsEndpoint`); spec: client-server API "Threading" ("Querying
//! threads in a room", `GET /_matrix/client/v1/rooms/{roomId}/threads` with
//! `include`, `limit`, `from`/`next_batch`) and the `m.thread` aggregation.

use std::collections::HashSet;

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc, event_ids, room_path_v1};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// Alice's public room with bob and charlie joined.
async fn room_with_bob_and_charlie(hs: &Homeserver) -> (String, Session, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    charlie.join(&room_id).await;
    (room_id, alice, bob, charlie)
}

async fn reply_in_thread(author: &Session, room_id: &str, root: &str, body: &str) -> String {
    author.send_relation(room_id, "m.room.message", "m.thread", root, json!({"msgtype": "m.text", "body": body})).await
}

async fn threads(viewer: &Session, room_id: &str, query: &str) -> Reply {
    viewer.get(&format!("{}?{query}", room_path_v1(room_id, "/threads"))).await
}

/// Every thread root served with `query`, following `next_batch` until it
/// is left out, asserting no root is served twice.
async fn all_threads(viewer: &Session, room_id: &str, query: &str) -> Vec<Value> {
    let mut roots = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..100 {
        let mut full = query.to_owned();
        if let Some(from) = &from {
            full.push_str(&format!("&from={}", enc(from)));
        }
        let reply = threads(viewer, room_id, &full).await;
        roots.extend(reply.expect_chunk().iter().cloned());
        match reply.token("next_batch") {
            Some(next) => from = Some(next),
            None => {
                let ids = event_ids(&roots);
                let unique: HashSet<&String> = ids.iter().collect();
                assert_eq!(unique.len(), ids.len(), "a thread root was served twice: {ids:?}");
                return roots;
            }
        }
    }
    panic!("/threads still returned a next_batch after 100 pages");
}

async fn threads_lists_roots_by_most_recent_activity(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_with_bob_and_charlie(&hs).await;
    let a = alice.send_message(&room_id, "thread a").await;
    let b = alice.send_message(&room_id, "thread b").await;
    let c = alice.send_message(&room_id, "thread c").await;
    alice.send_message(&room_id, "not a thread").await;
    reply_in_thread(&bob, &room_id, &a, "a1").await;
    reply_in_thread(&bob, &room_id, &b, "b1").await;
    reply_in_thread(&bob, &room_id, &c, "c1").await;
    let latest_in_a = reply_in_thread(&alice, &room_id, &a, "a2").await;

    let roots = all_threads(&bob, &room_id, "").await;

    // "The thread roots, ordered by the latest_event in each event's
    // aggregated children."
    assert_eq!(event_ids(&roots), [a.as_str(), c.as_str(), b.as_str()]);
    // "All events returned include bundled aggregations."
    let thread = &roots[0]["unsigned"]["m.relations"]["m.thread"];
    assert_eq!(thread["count"], 2, "{:#}", roots[0]);
    assert_eq!(thread["latest_event"]["event_id"], latest_in_a.as_str(), "{:#}", roots[0]);
    assert_eq!(thread["current_user_participated"], true, "{:#}", roots[0]);
    for root in &roots {
        assert_eq!(root["room_id"], room_id.as_str(), "{root:#}");
        assert_eq!(root["sender"], alice.user_id.as_str(), "{root:#}");
        assert!(root["unsigned"]["m.relations"]["m.thread"].is_object(), "{root:#}");
    }
}
both_backends!(threads_lists_roots_by_most_recent_activity);

async fn threads_include_participated_only_lists_own_threads(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, charlie) = room_with_bob_and_charlie(&hs).await;
    let by_alice = alice.send_message(&room_id, "alice's").await;
    reply_in_thread(&bob, &room_id, &by_alice, "bob answers alice").await;
    let by_bob = bob.send_message(&room_id, "bob's").await;
    reply_in_thread(&charlie, &room_id, &by_bob, "charlie answers bob").await;
    let by_charlie = charlie.send_message(&room_id, "charlie's").await;
    reply_in_thread(&charlie, &room_id, &by_charlie, "charlie talks to himself").await;

    let everything = all_threads(&alice, &room_id, "include=all").await;
    let default = all_threads(&alice, &room_id, "").await;

    assert_eq!(event_ids(&everything), [by_charlie.as_str(), by_bob.as_str(), by_alice.as_str()]);
    assert_eq!(event_ids(&default), event_ids(&everything), "include defaults to all");
    // "participated": the sender of the root or of an m.thread child.
    let expected = [
        (&alice, vec![by_alice.as_str()]),
        (&bob, vec![by_bob.as_str(), by_alice.as_str()]),
        (&charlie, vec![by_charlie.as_str(), by_bob.as_str()]),
    ];
    for (viewer, roots) in expected {
        let participated = all_threads(viewer, &room_id, "include=participated").await;
        assert_eq!(event_ids(&participated), roots, "{viewer:?}");
        for root in &participated {
            assert_eq!(root["unsigned"]["m.relations"]["m.thread"]["current_user_participated"], true, "{root:#}");
        }
    }
}
both_backends!(threads_include_participated_only_lists_own_threads);

async fn threads_paginate_with_next_batch(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_with_bob_and_charlie(&hs).await;
    let mut roots = Vec::new();
    for i in 1..=5 {
        let root = alice.send_message(&room_id, &format!("root {i}")).await;
        reply_in_thread(&bob, &room_id, &root, &format!("reply {i}")).await;
        roots.push(root);
    }

    let first = threads(&alice, &room_id, "limit=2").await;
    let paged = all_threads(&alice, &room_id, "limit=2").await;

    let newest_first: Vec<String> = roots.iter().rev().cloned().collect();
    assert_eq!(event_ids(first.expect_chunk()), newest_first[0..2], "{first:?}");
    assert!(first.token("next_batch").is_some(), "five threads, two served: {first:?}");
    assert_eq!(event_ids(&paged), newest_first);
}
both_backends!(threads_paginate_with_next_batch);

async fn threads_of_an_empty_room_is_an_empty_chunk(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob, _charlie) = room_with_bob_and_charlie(&hs).await;
    alice.send_message(&room_id, "no threads here").await;

    let reply = threads(&alice, &room_id, "").await;

    assert_eq!(reply.expect_chunk(), &Vec::<Value>::new(), "{reply:?}");
    assert_eq!(reply.token("next_batch"), None, "{reply:?}");
}
both_backends!(threads_of_an_empty_room_is_an_empty_chunk);

async fn threads_requires_access_to_the_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let stranger = hs.api().register("stranger", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "private_chat"})).await;
    let root = alice.send_message(&room_id, "secret").await;
    reply_in_thread(&alice, &room_id, &root, "still secret").await;

    // "403: The user cannot view or peek on the room."
    threads(&stranger, &room_id, "").await.expect_error(403, "M_FORBIDDEN");
    // "400: ... The from token is unknown to the server."
    let reply = threads(&alice, &room_id, "from=not-a-real-token").await;
    reply.expect_error(400, "M_INVALID_PARAM");
}
both_backends!(threads_requires_access_to_the_room);

async fn threads_hides_threads_from_invisible_history(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "initial_state": [{"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "joined"}}],
        }))
        .await;
    let hidden = alice.send_message(&room_id, "before bob").await;
    reply_in_thread(&alice, &room_id, &hidden, "still before bob").await;
    bob.join(&room_id).await;
    let visible = alice.send_message(&room_id, "after bob").await;
    reply_in_thread(&alice, &room_id, &visible, "bob can see this").await;

    // "the server starts paginating from the most recent event visible to the
    // user (as per history visibility rules)".
    assert_eq!(event_ids(&all_threads(&bob, &room_id, "").await), [visible.as_str()]);
    assert_eq!(event_ids(&all_threads(&alice, &room_id, "").await), [visible.as_str(), hidden.as_str()]);
}
both_backends!(threads_hides_threads_from_invisible_history);
