//! Delayed events (MSC4140) and MatrixRTC transports (MSC4143): the
//! scheduling query parameter on `PUT /send` and `PUT /state`, the
//! management endpoints in both forms, the listing, limits, the overwrite
//! rule, durability across kill -9, and Element Call's leave-on-disconnect
//! pattern (schedule an empty membership, keep restarting it, vanish).

use std::time::{Duration, Instant};

use nexus_complement::client::{Session, enc, new_txn_id, room_path};
use nexus_complement::{Backend, Homeserver, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const UNSTABLE: &str = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events";
const CALL_MEMBER: &str = "org.matrix.msc3401.call.member";

async fn schedule_message(user: &Session, room_id: &str, delay_ms: u64, body: &str) -> String {
    let path = format!(
        "{}?org.matrix.msc4140.delay={delay_ms}",
        room_path(room_id, &format!("/send/m.room.message/{}", new_txn_id()))
    );
    let reply = user.put(&path, json!({"msgtype": "m.text", "body": body})).await;
    let answer = reply.expect_ok();
    assert!(answer.get("event_id").is_none(), "a delayed send has no event yet: {answer}");
    answer["delay_id"].as_str().expect("a delay_id").to_owned()
}

async fn schedule_state(
    user: &Session,
    room_id: &str,
    kind: &str,
    state_key: &str,
    delay_ms: u64,
    content: Value,
) -> String {
    let path = format!(
        "{}?org.matrix.msc4140.delay={delay_ms}",
        room_path(room_id, &format!("/state/{kind}/{}", enc(state_key)))
    );
    let reply = user.put(&path, content).await;
    reply.expect_ok()["delay_id"].as_str().expect("a delay_id").to_owned()
}

async fn scheduled(user: &Session) -> Vec<Value> {
    user.get(UNSTABLE).await.expect_ok()["scheduled"].as_array().expect("scheduled").clone()
}

async fn finalised(user: &Session) -> Vec<Value> {
    user.get(&format!("{UNSTABLE}?status=finalised")).await.expect_ok()["finalised"]
        .as_array()
        .expect("finalised")
        .clone()
}

/// The finalised list once it names `delay_id`: the record is written
/// just after the event is sent, so a client that saw the event may
/// look a moment before it.
async fn finalised_with(user: &Session, delay_id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let done = finalised(user).await;
        if done.iter().any(|f| f["delayed_event"]["delay_id"] == delay_id) || Instant::now() > deadline {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn messages_with_body(user: &Session, room_id: &str, body: &str) -> Vec<Value> {
    let reply = user.get(&room_path(room_id, "/messages?dir=b&limit=50")).await;
    let chunk = reply.expect_ok()["chunk"].as_array().expect("chunk").clone();
    chunk.into_iter().filter(|e| e["content"]["body"] == body).collect()
}

/// Waits (bounded) until the room has a message with `body`.
async fn wait_for_message(user: &Session, room_id: &str, body: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        if let Some(event) = messages_with_body(user, room_id, body).await.into_iter().next() {
            return event;
        }
        assert!(Instant::now() < deadline, "no message {body:?} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn room_of_two(hs: &Homeserver) -> (Session, Session, String) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    (alice, bob, room_id)
}

async fn a_delayed_message_is_sent_on_time_and_listed(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, bob, room_id) = room_of_two(&hs).await;
    let versions = hs.api().get("/_matrix/client/versions").await;
    assert_eq!(versions.expect_ok()["unstable_features"]["org.matrix.msc4140"], true);

    let scheduled_at = Instant::now();
    let delay_id = schedule_message(&alice, &room_id, 1500, "later").await;
    let list = scheduled(&alice).await;
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["delay_id"], delay_id);
    assert_eq!(list[0]["room_id"], room_id);
    assert_eq!(list[0]["type"], "m.room.message");
    assert_eq!(list[0]["delay"], 1500);
    assert_eq!(list[0]["content"]["body"], "later");
    assert!(list[0].get("state_key").is_none());
    assert!(scheduled(&bob).await.is_empty(), "a user lists only their own delayed events");
    assert!(messages_with_body(&bob, &room_id, "later").await.is_empty(), "not sent before its time");

    let event = wait_for_message(&bob, &room_id, "later", Duration::from_secs(10)).await;
    let waited = scheduled_at.elapsed();
    assert!(waited >= Duration::from_millis(1400), "sent early, after {waited:?}");
    assert!(waited < Duration::from_millis(4000), "sent late, after {waited:?}");
    assert_eq!(event["sender"], alice.user_id);

    let done = finalised_with(&alice, &delay_id).await;
    assert!(scheduled(&alice).await.is_empty());
    assert_eq!(done.len(), 1, "{done:#?}");
    assert_eq!(done[0]["delayed_event"]["delay_id"], delay_id);
    assert_eq!(done[0]["outcome"], "send");
    assert_eq!(done[0]["reason"], "delay");
    assert_eq!(done[0]["event_id"], event["event_id"]);
}
both_backends!(a_delayed_message_is_sent_on_time_and_listed);

async fn cancel_restart_and_send_in_both_forms(backend: Backend) {
    // More management requests than the default rate limit allows.
    let hs = Homeserver::builder(backend).env("NEXUS__DELAYED_EVENTS__MANAGEMENT_BURST", "50").start().await;
    let (alice, bob, room_id) = room_of_two(&hs).await;

    // Cancel (body form): never sent.
    let cancelled = schedule_message(&alice, &room_id, 800, "cancelled").await;
    alice.post(&format!("{UNSTABLE}/{cancelled}"), json!({"action": "cancel"})).await.expect_ok();
    // Send now (path form, unauthenticated: the id is the capability).
    let sent_now = schedule_message(&alice, &room_id, 60_000, "sent now").await;
    let reply = hs.api().post(&format!("{UNSTABLE}/{sent_now}/send"), json!({})).await;
    reply.expect_ok();
    wait_for_message(&bob, &room_id, "sent now", Duration::from_secs(5)).await;

    // Restart pushes the due time back by the whole delay each time.
    let restarted = schedule_message(&alice, &room_id, 1200, "restarted").await;
    let started = Instant::now();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        alice.post(&format!("{UNSTABLE}/{restarted}/restart"), json!({})).await.expect_ok();
    }
    assert!(messages_with_body(&bob, &room_id, "restarted").await.is_empty(), "restarts kept it from firing");
    wait_for_message(&bob, &room_id, "restarted", Duration::from_secs(10)).await;
    assert!(started.elapsed() >= Duration::from_millis(3600), "fired before the last restart's delay ran out");

    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(messages_with_body(&bob, &room_id, "cancelled").await.is_empty(), "a cancelled event is never sent");
    let done = finalised(&alice).await;
    let outcome = |id: &str| done.iter().find(|f| f["delayed_event"]["delay_id"] == id).cloned().expect(id);
    assert_eq!(outcome(&cancelled)["outcome"], "cancel");
    assert_eq!(outcome(&cancelled)["reason"], "action");
    assert_eq!(outcome(&sent_now)["outcome"], "send");
    assert_eq!(outcome(&sent_now)["reason"], "action");
    assert_eq!(outcome(&restarted)["reason"], "delay");

    // A finished, unknown or someone else's delayed event is not found.
    let bobs = schedule_message(&bob, &room_id, 60_000, "bob's").await;
    for (who, id) in [(&alice, cancelled.as_str()), (&alice, "syd_unknown"), (&alice, bobs.as_str())] {
        let reply = who.post(&format!("{UNSTABLE}/{id}"), json!({"action": "restart"})).await;
        reply.expect_error(404, "M_NOT_FOUND");
        let reply = who.post(&format!("{UNSTABLE}/{}/cancel", enc(id)), json!({})).await;
        reply.expect_error(404, "M_NOT_FOUND");
    }
    assert_eq!(scheduled(&bob).await.len(), 1, "bob's delayed event is untouched");
}
both_backends!(cancel_restart_and_send_in_both_forms);

async fn a_delayed_state_event_is_cancelled_when_someone_else_writes_that_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    // Bob may set the topic too.
    let power_levels = json!({"users": {bob.user_id.clone(): 50}});
    let room_id =
        alice.create_room(json!({"preset": "public_chat", "power_level_content_override": power_levels})).await;
    bob.join(&room_id).await;
    let content = json!({"topic": "from the delayed event"});
    // Alice's own write of the same state does not cancel it.
    let kept = schedule_state(&alice, &room_id, "m.room.topic", "", 1500, content.clone()).await;
    alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "alice now"})).await;
    assert_eq!(scheduled(&alice).await.len(), 1);
    let topic = wait_for_state(&alice, &room_id, "m.room.topic", "", "topic", "from the delayed event").await;
    assert_eq!(topic, "from the delayed event");
    let done = finalised_with(&alice, &kept).await;
    assert!(done.iter().any(|f| f["delayed_event"]["delay_id"] == kept && f["outcome"] == "send"), "{done:#?}");

    let superseded = schedule_state(&alice, &room_id, "m.room.topic", "", 1500, content).await;
    bob.set_state(&room_id, "m.room.topic", "", json!({"topic": "bob overwrote it"})).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let topic = alice.get_state(&room_id, "m.room.topic", "").await;
    assert_eq!(topic.expect_ok()["topic"], "bob overwrote it", "the superseded delayed event was not sent");
    assert!(scheduled(&alice).await.is_empty());
    let done = finalised(&alice).await;
    let entry = done.iter().find(|f| f["delayed_event"]["delay_id"] == superseded).expect("finalised");
    assert_eq!(entry["outcome"], "cancel");
    assert_eq!(entry["delayed_event"]["state_key"], "");
}
both_backends!(a_delayed_state_event_is_cancelled_when_someone_else_writes_that_state);

async fn wait_for_state(user: &Session, room_id: &str, kind: &str, key: &str, field: &str, value: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = user.get_state(room_id, kind, key).await;
        if reply.status == 200 && reply.expect_ok()[field] == value {
            return value.to_owned();
        }
        assert!(Instant::now() < deadline, "{kind} never became {value:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn limits_and_bad_input(backend: Backend) {
    let hs = Homeserver::builder(backend)
        .env("NEXUS__DELAYED_EVENTS__MAX_DELAY_MS", "10000")
        .env("NEXUS__DELAYED_EVENTS__MAX_PER_USER", "3")
        .env("NEXUS__DELAYED_EVENTS__MANAGEMENT_BURST", "4")
        .env("NEXUS__DELAYED_EVENTS__MANAGEMENT_PER_SECOND", "0.5")
        .start()
        .await;
    let (alice, bob, room_id) = room_of_two(&hs).await;

    let too_long = format!(
        "{}?org.matrix.msc4140.delay=10001",
        room_path(&room_id, &format!("/send/m.room.message/{}", new_txn_id()))
    );
    let reply = alice.put(&too_long, json!({"body": "x", "msgtype": "m.text"})).await;
    reply.expect_error(400, "M_MAX_DELAY_EXCEEDED");
    assert_eq!(reply.json["max_delay"], 10_000, "{:?}", reply.json);

    for bad in ["-1", "soon", "1.5"] {
        let path = format!(
            "{}?org.matrix.msc4140.delay={bad}",
            room_path(&room_id, &format!("/send/m.room.message/{}", new_txn_id()))
        );
        alice.put(&path, json!({"body": "x", "msgtype": "m.text"})).await.expect_error(400, "M_INVALID_PARAM");
    }

    // A room the user is not in.
    let elsewhere = bob.create_room(json!({"preset": "private_chat"})).await;
    let path = format!(
        "{}?org.matrix.msc4140.delay=1000",
        room_path(&elsewhere, &format!("/send/m.room.message/{}", new_txn_id()))
    );
    alice.put(&path, json!({"body": "x", "msgtype": "m.text"})).await.expect_error(403, "M_FORBIDDEN");

    // Three scheduled at once, no more.
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(schedule_message(&alice, &room_id, 9000, &format!("n{n}")).await);
    }
    let path = format!(
        "{}?org.matrix.msc4140.delay=9000",
        room_path(&room_id, &format!("/send/m.room.message/{}", new_txn_id()))
    );
    let reply = alice.put(&path, json!({"body": "fourth", "msgtype": "m.text"})).await;
    reply.expect_error(429, "M_LIMIT_EXCEEDED");
    assert!(reply.json["retry_after_ms"].as_u64().is_some(), "{:?}", reply.json);

    // Management: bad actions, then the rate limit.
    let reply = alice.post(&format!("{UNSTABLE}/{}", ids[0]), json!({"action": "explode"})).await;
    reply.expect_error(400, "M_INVALID_PARAM");
    let reply = alice.post(&format!("{UNSTABLE}/{}", ids[0]), json!({})).await;
    reply.expect_error(400, "M_MISSING_PARAM");
    let reply = alice.post(&format!("{UNSTABLE}/{}", ids[0]), json!({"action": 7})).await;
    reply.expect_error(400, "M_INVALID_PARAM");
    let reply = alice.request(Method::POST, &format!("{UNSTABLE}/{}/explode", ids[0]), Some(&json!({}))).await;
    reply.expect_error(404, "M_UNRECOGNIZED");
    let reply = alice.get(&format!("{UNSTABLE}?status=everything")).await;
    reply.expect_error(400, "M_INVALID_PARAM");
    let mut limited = None;
    for _ in 0..10 {
        let reply = alice.post(&format!("{UNSTABLE}/{}/restart", ids[1]), json!({})).await;
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
        reply.expect_ok();
    }
    let limited = limited.expect("management is rate limited");
    limited.expect_error(429, "M_LIMIT_EXCEEDED");
    assert!(limited.json["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0));

    // Listing filters by id.
    let reply = alice.get(&format!("{UNSTABLE}?delay_id={}&status=scheduled", ids[2])).await;
    let list = reply.expect_ok()["scheduled"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["delay_id"], ids[2]);
    // Listing needs a token.
    hs.api().get(UNSTABLE).await.expect_error(401, "M_MISSING_TOKEN");
}
both_backends!(limits_and_bad_input);

async fn a_pending_delayed_event_fires_after_kill_9(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let (alice, bob, room_id) = room_of_two(&hs).await;
    let delay_id = schedule_message(&alice, &room_id, 2000, "survived").await;
    let cancelled = schedule_message(&alice, &room_id, 2000, "cancelled before the crash").await;
    alice.post(&format!("{UNSTABLE}/{cancelled}/cancel"), json!({})).await.expect_ok();
    hs.kill9();
    hs.restart().await;
    wait_for_message(&bob, &room_id, "survived", Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(messages_with_body(&bob, &room_id, "survived").await.len(), 1, "sent exactly once");
    assert!(messages_with_body(&bob, &room_id, "cancelled before the crash").await.is_empty());
    let done = finalised_with(&alice, &delay_id).await;
    assert!(done.iter().any(|f| f["delayed_event"]["delay_id"] == delay_id && f["outcome"] == "send"), "{done:#?}");
}
both_backends!(a_pending_delayed_event_fires_after_kill_9);

async fn element_call_leaves_when_the_client_vanishes(backend: Backend) {
    let hs = Homeserver::builder(backend)
        .env("NEXUS__MATRIX_RTC__LIVEKIT_SERVICE_URL", "https://livekit-jwt.example.org")
        .start()
        .await;
    let (alice, bob, room_id) = room_of_two(&hs).await;
    // Element Call finds its transport both ways.
    let transports = alice.get("/_matrix/client/unstable/org.matrix.msc4143/rtc/transports").await;
    assert_eq!(
        transports.expect_ok()["rtc_transports"],
        json!([{"type": "livekit", "livekit_service_url": "https://livekit-jwt.example.org"}])
    );
    let well_known = hs.api().get("/.well-known/matrix/client").await;
    assert_eq!(
        well_known.expect_ok()["org.matrix.msc4143.rtc_foci"][0]["livekit_service_url"],
        "https://livekit-jwt.example.org"
    );
    let versions = hs.api().get("/_matrix/client/versions").await;
    assert_eq!(versions.expect_ok()["unstable_features"]["org.matrix.msc4143"], true);
    hs.api()
        .get("/_matrix/client/unstable/org.matrix.msc4143/rtc/transports")
        .await
        .expect_error(401, "M_MISSING_TOKEN");

    // Join the call, schedule the leave (10 s in Element Call; 1 s here),
    // restart it like a live client, then vanish.
    let state_key = format!("_{}_{}_m.call", alice.user_id, alice.device_id);
    let membership = json!({
        "application": "m.call", "call_id": "", "scope": "m.room", "device_id": alice.device_id,
        "focus_active": {"type": "livekit", "focus_selection": "oldest_membership"},
        "foci_preferred": [{"type": "livekit", "livekit_service_url": "https://livekit-jwt.example.org", "livekit_alias": room_id}],
    });
    let leave = schedule_state(&alice, &room_id, CALL_MEMBER, &state_key, 1000, json!({})).await;
    alice.set_state(&room_id, CALL_MEMBER, &state_key, membership).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        alice.post(&format!("{UNSTABLE}/{leave}/restart"), json!({})).await.expect_ok();
        let state = bob.get_state(&room_id, CALL_MEMBER, &state_key).await;
        assert_eq!(state.expect_ok()["application"], "m.call", "still in the call while the client lives");
    }
    let vanished = Instant::now();
    let deadline = vanished + Duration::from_secs(10);
    loop {
        let state = bob.get_state(&room_id, CALL_MEMBER, &state_key).await;
        if state.status == 200 && state.expect_ok().as_object().is_some_and(serde_json::Map::is_empty) {
            break;
        }
        assert!(Instant::now() < deadline, "the membership never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(vanished.elapsed() >= Duration::from_millis(900), "left early");
}
both_backends!(element_call_leaves_when_the_client_vanishes);

async fn without_a_configured_transport_none_is_offered(backend: Backend) {
    // The embedded SFU is the transport by default; switched off, with no
    // LiveKit configured, there is none.
    let hs = Homeserver::builder(backend).env("NEXUS__SFU__ENABLED", "false").start().await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let transports = alice.get("/_matrix/client/unstable/org.matrix.msc4143/rtc/transports").await;
    assert_eq!(transports.expect_ok()["rtc_transports"], json!([]));
    let well_known = hs.api().get("/.well-known/matrix/client").await;
    assert!(well_known.expect_ok().get("org.matrix.msc4143.rtc_foci").is_none());
    let versions = hs.api().get("/_matrix/client/versions").await;
    assert_eq!(versions.expect_ok()["unstable_features"]["org.matrix.msc4143"], false);
}
both_backends!(without_a_configured_transport_none_is_offered);
