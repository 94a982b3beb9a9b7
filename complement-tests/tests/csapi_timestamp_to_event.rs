//! Jump to date — mirrors the single-server parts of Complement's
//! `room_timestamp_to_event` (`TestJumpToDateEndpoint`); spec: client-server
//! API `GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event` (`ts`,
//! `dir`; `event_id` and `origin_server_ts`; 404 when nothing is found).

use std::time::Duration;

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, room_path_v1};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

async fn timestamp_to_event(viewer: &Session, room_id: &str, ts: u64, dir: &str) -> Reply {
    viewer.get(&format!("{}?ts={ts}&dir={dir}", room_path_v1(room_id, "/timestamp_to_event"))).await
}

async fn origin_server_ts(viewer: &Session, room_id: &str, event_id: &str) -> u64 {
    let reply = viewer.get_event(room_id, event_id).await;
    reply.expect_ok()["origin_server_ts"].as_u64().unwrap_or_else(|| panic!("no origin_server_ts: {reply:?}"))
}

/// Sends a message after a pause, so that its `origin_server_ts` is later
/// than everything before it; returns its id and timestamp.
async fn send_later(author: &Session, room_id: &str, body: &str) -> (String, u64) {
    tokio::time::sleep(Duration::from_millis(25)).await;
    let event_id = author.send_message(room_id, body).await;
    let ts = origin_server_ts(author, room_id, &event_id).await;
    (event_id, ts)
}

#[track_caller]
fn assert_found(reply: &Reply, event_id: &str, ts: u64) {
    let body = reply.expect_ok();
    assert_eq!(body["event_id"], event_id, "{reply:?}");
    assert_eq!(body["origin_server_ts"], ts, "{reply:?}");
}

async fn timestamp_to_event_finds_the_event_after_a_timestamp(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    let (first, first_ts) = send_later(&alice, &room_id, "first").await;
    let (second, second_ts) = send_later(&alice, &room_id, "second").await;
    assert!(second_ts > first_ts);

    // "Get the ID of the event closest to the given timestamp, in the
    // direction specified by the dir parameter."
    let between = timestamp_to_event(&alice, &room_id, first_ts + 1, "f").await;
    let right_after_first = timestamp_to_event(&alice, &room_id, first_ts - 1, "f").await;

    assert_found(&between, &second, second_ts);
    // The room's creation events are all older than `first`.
    assert_found(&right_after_first, &first, first_ts);
}
both_backends!(timestamp_to_event_finds_the_event_after_a_timestamp);

async fn timestamp_to_event_finds_the_event_before_a_timestamp(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    let (first, first_ts) = send_later(&alice, &room_id, "first").await;
    let (second, second_ts) = send_later(&alice, &room_id, "second").await;

    let between = timestamp_to_event(&alice, &room_id, second_ts - 1, "b").await;
    let after_everything = timestamp_to_event(&alice, &room_id, second_ts + 60_000, "b").await;

    assert_found(&between, &first, first_ts);
    assert_found(&after_everything, &second, second_ts);
}
both_backends!(timestamp_to_event_finds_the_event_before_a_timestamp);

async fn timestamp_to_event_finds_nothing_outside_the_room_history(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    let (_last, last_ts) = send_later(&alice, &room_id, "the last word").await;

    // "404: No event was found."
    timestamp_to_event(&alice, &room_id, last_ts + 60_000, "f").await.expect_error(404, "M_NOT_FOUND");
    timestamp_to_event(&alice, &room_id, 1, "b").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(timestamp_to_event_finds_nothing_outside_the_room_history);

async fn timestamp_to_event_in_a_private_room_requires_membership(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "private_chat"})).await;
    let (_event, ts) = send_later(&alice, &room_id, "private").await;

    let reply = timestamp_to_event(&bob, &room_id, ts - 1, "f").await;

    // Bob may learn nothing about the room's events: a refusal (403), or
    // "No event was found" (404).
    assert!(reply.status == 403 || reply.status == 404, "{reply:?}");
    reply.expect_error_in(reply.status, &["M_FORBIDDEN", "M_NOT_FOUND"]);
}
both_backends!(timestamp_to_event_in_a_private_room_requires_membership);

async fn timestamp_to_event_in_a_world_readable_room_works_for_non_members(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "initial_state": [{"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "world_readable"}}],
        }))
        .await;
    let (event, ts) = send_later(&alice, &room_id, "for everyone").await;

    // world_readable: "All events while this is the m.room.history_visibility
    // value may be shared by any participating homeserver with anyone".
    let reply = timestamp_to_event(&bob, &room_id, ts - 1, "f").await;

    assert_found(&reply, &event, ts);
}
both_backends!(timestamp_to_event_in_a_world_readable_room_works_for_non_members);

async fn timestamp_to_event_rejects_missing_or_bad_parameters(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let path = room_path_v1(&room_id, "/timestamp_to_event");

    // `ts` and `dir` are required; `dir` is `f` or `b`; `ts` an integer.
    for query in ["dir=f", "ts=1000", "ts=1000&dir=sideways", "ts=yesterday&dir=f"] {
        let reply = alice.get(&format!("{path}?{query}")).await;
        reply.expect_error_in(400, &["M_MISSING_PARAM", "M_INVALID_PARAM"]);
    }
}
both_backends!(timestamp_to_event_rejects_missing_or_bad_parameters);
