//! Delivery to push gateways — spec: push gateway API
//! (`POST /_matrix/push/v1/notify`, "Homeserver behaviour"), client-server
//! API "Push Notifications" (pushers, `data.format`, "Homeservers MUST NOT
//! notify the Push Gateway for events that the user has sent themselves")
//! and `POST /pushers/set` (`data` forwarded minus `url`). The gateway is
//! [`nexus_complement::push_gateway::PushGateway`].

use std::time::Duration;

use nexus_complement::push_gateway::{GatewayReply, GatewayRequest, NOTIFY_PATH, PUSH_WAIT, PushGateway};
use nexus_complement::{Backend, Homeserver, Session, both_backends};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const APP_ID: &str = "org.example.nexus.tests";

/// How long to keep watching for a request that must not come, once the
/// server has shown (through another pusher) that it handled the event.
const GRACE: Duration = Duration::from_millis(1500);

/// Alice's public room with bob and charlie joined (three members).
async fn room_of_three(hs: &Homeserver) -> (String, Session, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    charlie.join(&room_id).await;
    (room_id, alice, bob, charlie)
}

fn text(body: &str) -> Value {
    json!({"msgtype": "m.text", "body": body})
}

/// Asserts the push gateway API's shape of a notification about an event
/// for exactly one device, `pushkey` of [`APP_ID`], and returns
/// `notification`.
#[track_caller]
fn assert_event_notification(request: &GatewayRequest, event_id: &str, room_id: &str, pushkey: &str) -> Value {
    assert_eq!(request.method, "POST", "{request:#?}");
    assert_eq!(request.path, NOTIFY_PATH, "{request:#?}");
    assert!(request.body.is_object(), "the body is a JSON object: {request:#?}");
    let n = request.notification().clone();
    assert!(n.is_object(), "notification is required: {request:#?}");
    // "event_id: ... required if the notification is about a particular
    // Matrix event"; "room_id: Required if the notification relates to a
    // specific Matrix event."
    assert_eq!(n["event_id"], event_id, "{n:#}");
    assert_eq!(n["room_id"], room_id, "{n:#}");
    if let Some(prio) = n.get("prio") {
        assert!(prio == "high" || prio == "low", "prio is high or low: {n:#}");
    }
    if let Some(counts) = n.get("counts") {
        let counts = counts.as_object().unwrap_or_else(|| panic!("counts is an object: {n:#}"));
        for (name, count) in counts {
            // "Counts whose value is zero should be omitted."
            assert!(count.as_u64().is_some(), "{name} is an integer: {n:#}");
        }
    }
    for field in ["sender_display_name", "room_name", "room_alias"] {
        if let Some(value) = n.get(field) {
            assert!(value.is_string(), "{field} is a string: {n:#}");
        }
    }
    let devices = n["devices"].as_array().unwrap_or_else(|| panic!("devices is a required array: {n:#}"));
    assert_eq!(devices.len(), 1, "one pusher, one device: {n:#}");
    let device = &devices[0];
    assert_eq!(device["app_id"], APP_ID, "{n:#}");
    assert_eq!(device["pushkey"], pushkey, "{n:#}");
    if let Some(ts) = device.get("pushkey_ts") {
        assert!(ts.is_u64(), "pushkey_ts is an integer: {n:#}");
    }
    if let Some(tweaks) = device.get("tweaks") {
        assert!(tweaks.is_object(), "tweaks is an object: {n:#}");
    }
    n
}

/// `notification.devices[0].data`, `{}` when absent.
fn device_data(notification: &Value) -> Value {
    notification["devices"][0].get("data").cloned().unwrap_or(json!({}))
}

/// `notification.devices[0].tweaks`, `{}` when absent.
fn tweaks(notification: &Value) -> Value {
    notification["devices"][0].get("tweaks").cloned().unwrap_or(json!({}))
}

/// `notification.counts.unread`, if sent.
fn unread(notification: &Value) -> Option<u64> {
    notification.get("counts").and_then(|c| c.get("unread")).map(|u| u.as_u64().expect("unread is an integer"))
}

async fn pusher_is_notified_in_the_push_gateway_format(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, charlie) = room_of_three(&hs).await;
    let gateway = PushGateway::start().await;
    let custom = json!({"com.example.custom": {"nested": [1, 2]}, "com.example.flag": true});
    bob.add_pusher(&gateway.url(), APP_ID, "bob-key", custom.clone()).await;
    alice.add_pusher(&gateway.url(), APP_ID, "alice-key", json!({})).await;
    let content = json!({"msgtype": "m.text", "body": "Hello, bob", "com.example.extra": [true, null]});

    let event_id = alice.send_event(&room_id, "m.room.message", content.clone()).await;

    let request = gateway.wait_for_event(&event_id, "bob-key", PUSH_WAIT).await;
    let n = assert_event_notification(&request, &event_id, &room_id, "bob-key");
    // Without `format`, "the server is expected to populate all of the
    // event-related fields".
    assert_eq!(n["type"], "m.room.message", "{n:#}");
    assert_eq!(n["sender"], alice.user_id.as_str(), "{n:#}");
    assert_eq!(n["content"], content, "{n:#}");
    assert_eq!(unread(&n).unwrap_or(1), 1, "one unread notification: {n:#}");
    // "Servers MUST forward the entire content including format and any
    // custom keys but excluding url"; devices[].data is "the data
    // dictionary passed in at pusher creation minus the url key".
    assert_eq!(device_data(&n), custom, "{n:#}");
    // A plain message in a group room: no highlight, no sound.
    let tweaks = tweaks(&n);
    assert!(tweaks.get("highlight").is_none_or(|h| h == false), "{n:#}");

    // "Homeservers MUST NOT notify the Push Gateway for events that the user
    // has sent themselves" — alice's pusher works, for others' events.
    let charlies = charlie.send_message(&room_id, "hi all").await;
    gateway.wait_for_event(&charlies, "alice-key", PUSH_WAIT).await;
    tokio::time::sleep(GRACE).await;
    let to_alice = gateway.requests_for_pushkey("alice-key");
    assert!(to_alice.iter().all(|r| r.event_id() != Some(event_id.as_str())), "{to_alice:#?}");
}
both_backends!(pusher_is_notified_in_the_push_gateway_format);

async fn mention_is_pushed_with_highlight_and_sound_tweaks(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let gateway = PushGateway::start().await;
    bob.add_pusher(&gateway.url(), APP_ID, "bob-key", json!({})).await;

    let content = json!({"msgtype": "m.text", "body": "look", "m.mentions": {"user_ids": [bob.user_id]}});
    let event_id = alice.send_event(&room_id, "m.room.message", content).await;

    let request = gateway.wait_for_event(&event_id, "bob-key", PUSH_WAIT).await;
    let n = assert_event_notification(&request, &event_id, &room_id, "bob-key");
    // .m.rule.is_user_mention sets sound "default" and highlight (no value:
    // "its value is defined to be true"); tweaks are "added by push rules".
    let tweaks = tweaks(&n);
    assert_eq!(tweaks["sound"], "default", "{n:#}");
    assert_eq!(tweaks["highlight"], true, "{n:#}");
}
both_backends!(mention_is_pushed_with_highlight_and_sound_tweaks);

async fn event_id_only_pusher_is_notified_with_ids_and_counts(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let gateway = PushGateway::start().await;
    bob.add_pusher(&gateway.url(), APP_ID, "bob-key", json!({"format": "event_id_only"})).await;

    let event_id = alice.send_message(&room_id, "secret").await;

    // "only the event_id, room_id, counts, and devices are required to be
    // populated" (the rest may be, so it is not asserted absent).
    let request = gateway.wait_for_event(&event_id, "bob-key", PUSH_WAIT).await;
    let n = assert_event_notification(&request, &event_id, &room_id, "bob-key");
    assert_eq!(unread(&n).unwrap_or(1), 1, "{n:#}");
    assert_eq!(device_data(&n)["format"], "event_id_only", "format is forwarded: {n:#}");
}
both_backends!(event_id_only_pusher_is_notified_with_ids_and_counts);

async fn unread_count_covers_every_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (first_room, alice, bob, _charlie) = room_of_three(&hs).await;
    let second_room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&second_room).await;
    let gateway = PushGateway::start().await;
    bob.add_pusher(&gateway.url(), APP_ID, "bob-key", json!({})).await;

    let first = alice.send_message(&first_room, "one").await;
    gateway.wait_for_event(&first, "bob-key", PUSH_WAIT).await;
    let second = alice.send_message(&second_room, "two").await;

    // counts.unread: "The number of unread messages a user has across all of
    // the rooms they are a member of."
    let request = gateway.wait_for_event(&second, "bob-key", PUSH_WAIT).await;
    let n = assert_event_notification(&request, &second, &second_room, "bob-key");
    assert_eq!(unread(&n).unwrap_or(2), 2, "{n:#}");
}
both_backends!(unread_count_covers_every_room);

async fn failed_pushes_are_retried_with_backoff(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let gateway = PushGateway::start().await;
    bob.add_pusher(&gateway.url(), APP_ID, "bob-key", json!({})).await;
    gateway.fail_next(2);

    let event_id = alice.send_message(&room_id, "eventually").await;

    // "If the endpoint returns an HTTP error code, the homeserver SHOULD
    // retry for a reasonable amount of time using exponential backoff."
    let requests = gateway
        .wait_until("a successful delivery after two 500s", Duration::from_secs(30), |requests| {
            requests.iter().any(|r| r.is_for(&event_id, "bob-key") && r.reply == GatewayReply::Status(200))
        })
        .await;
    let attempts: Vec<&GatewayRequest> = requests.iter().filter(|r| r.is_for(&event_id, "bob-key")).collect();
    assert_eq!(attempts.len(), 3, "two failures, then success: {attempts:#?}");
    for attempt in &attempts {
        assert_event_notification(attempt, &event_id, &room_id, "bob-key");
    }
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].received - w[0].received).collect();
    assert!(gaps.iter().all(|gap| *gap >= Duration::from_millis(100)), "retries back off: {gaps:?}");
    assert!(gaps[1] >= gaps[0], "the backoff does not shrink: {gaps:?}");

    // Delivered: no more attempts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(gateway.requests_for(&event_id, "bob-key").len(), 3, "{:#?}", gateway.requests());
}
both_backends!(failed_pushes_are_retried_with_backoff);

async fn unreachable_push_gateway_is_retried(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let gateway = PushGateway::start().await;
    bob.add_pusher(&gateway.url(), APP_ID, "bob-key", json!({})).await;
    gateway.plan(1, GatewayReply::HangUp);

    let event_id = alice.send_message(&room_id, "after a hiccup").await;

    let requests = gateway
        .wait_until("a successful delivery after a dropped connection", Duration::from_secs(30), |requests| {
            requests.iter().any(|r| r.is_for(&event_id, "bob-key") && r.reply == GatewayReply::Status(200))
        })
        .await;
    let attempts: Vec<&GatewayRequest> = requests.iter().filter(|r| r.is_for(&event_id, "bob-key")).collect();
    assert_eq!(attempts[0].reply, GatewayReply::HangUp, "{attempts:#?}");
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
}
both_backends!(unreachable_push_gateway_is_retried);

async fn refused_push_does_not_disable_the_pusher(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let gateway = PushGateway::start().await;
    bob.add_pusher(&gateway.url(), APP_ID, "bob-key", json!({})).await;
    gateway.plan(1, GatewayReply::Status(400));

    let refused = alice.send_message(&room_id, "refused").await;
    gateway.wait_for_event(&refused, "bob-key", PUSH_WAIT).await;
    let next = alice.send_message(&room_id, "next").await;

    // The spec has the homeserver retry "an HTTP error code" (SHOULD), so
    // the refused notification may or may not be sent again; either way the
    // pusher stays and later notifications are delivered.
    let request = gateway.wait_for_event(&next, "bob-key", PUSH_WAIT).await;
    assert_event_notification(&request, &next, &room_id, "bob-key");
    assert_eq!(bob.pushers().await.len(), 1);
    tokio::time::sleep(GRACE).await;
    assert!(gateway.requests_for(&next, "bob-key").len() == 1, "{:#?}", gateway.requests());
}
both_backends!(refused_push_does_not_disable_the_pusher);

async fn deleted_pusher_is_no_longer_notified(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, charlie) = room_of_three(&hs).await;
    let gateway = PushGateway::start().await;
    // Charlie's pusher, on its own gateway, shows when an event was handled.
    let canary = PushGateway::start().await;
    bob.add_pusher(&gateway.url(), APP_ID, "bob-key", json!({})).await;
    charlie.add_pusher(&canary.url(), APP_ID, "charlie-key", json!({})).await;
    let before = alice.send_message(&room_id, "before").await;
    gateway.wait_for_event(&before, "bob-key", PUSH_WAIT).await;

    // `kind: null` deletes the pusher.
    bob.delete_pusher(APP_ID, "bob-key").await;
    assert!(bob.pushers().await.is_empty());
    let after = alice.send_message(&room_id, "after").await;

    canary.wait_for_event(&after, "charlie-key", PUSH_WAIT).await;
    tokio::time::sleep(GRACE).await;
    let requests = gateway.requests();
    assert!(requests.iter().all(|r| r.event_id() != Some(after.as_str())), "{requests:#?}");
}
both_backends!(deleted_pusher_is_no_longer_notified);

async fn rejected_pushkey_loses_its_pusher(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, charlie) = room_of_three(&hs).await;
    let gateway = PushGateway::start().await;
    let canary = PushGateway::start().await;
    bob.add_pusher(&gateway.url(), APP_ID, "bob-key", json!({})).await;
    charlie.add_pusher(&canary.url(), APP_ID, "charlie-key", json!({})).await;
    gateway.plan(1, GatewayReply::Json(200, json!({"rejected": ["bob-key"]})));

    let rejected = alice.send_message(&room_id, "rejected").await;
    gateway.wait_for_event(&rejected, "bob-key", PUSH_WAIT).await;

    // rejected: "Homeservers must cease sending notification requests for
    // these pushkeys and remove the associated pushers."
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !bob.pushers().await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rejected pusher is still listed: {:?}",
            bob.pushers().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = alice.send_message(&room_id, "after").await;
    canary.wait_for_event(&after, "charlie-key", PUSH_WAIT).await;
    tokio::time::sleep(GRACE).await;
    let requests = gateway.requests();
    assert!(requests.iter().all(|r| r.event_id() != Some(after.as_str())), "{requests:#?}");
}
both_backends!(rejected_pushkey_loses_its_pusher);

async fn events_that_do_not_notify_are_not_pushed(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = room_of_three(&hs).await;
    let gateway = PushGateway::start().await;
    bob.add_pusher(&gateway.url(), APP_ID, "bob-key", json!({})).await;

    let original = alice.send_message(&room_id, "original").await;
    let mut quiet = vec![
        alice.send_event(&room_id, "m.room.message", json!({"msgtype": "m.notice", "body": "bot"})).await,
        alice
            .send_event(
                &room_id,
                "m.reaction",
                json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": original, "key": "👍"}}),
            )
            .await,
    ];
    bob.put_push_rule("room", &room_id, "", json!({"actions": []})).await.expect_ok();
    quiet.push(alice.send_message(&room_id, "muted room").await);
    bob.delete_push_rule("room", &room_id).await.expect_ok();
    let last = alice.send_event(&room_id, "m.room.message", text("last")).await;

    // Only events whose actions notify reach the gateway (a count-only
    // update, without an event_id, would be allowed).
    gateway.wait_for_event(&last, "bob-key", PUSH_WAIT).await;
    tokio::time::sleep(GRACE).await;
    let requests = gateway.requests();
    for event_id in &quiet {
        assert!(requests.iter().all(|r| r.event_id() != Some(event_id.as_str())), "{event_id}: {requests:#?}");
    }
    assert!(requests.iter().any(|r| r.event_id() == Some(original.as_str())), "{requests:#?}");
}
both_backends!(events_that_do_not_notify_are_not_pushed);
