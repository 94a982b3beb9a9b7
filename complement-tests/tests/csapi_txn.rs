//! Transaction ids — mirrors Complement's `txnid` and the idempotency part
//! of `room_messages`; spec: client-server API "Transaction identifiers"
//! (scope: one device and one HTTP endpoint; retransmissions answered with
//! the original response; refreshed tokens keep the device) and the
//! `unsigned.transaction_id` of ClientEvent.

use nexus_complement::{Backend, Homeserver, Session, both_backends, enc, expect_event_id, password_login, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

fn send_path(room_id: &str, event_type: &str, txn_id: &str) -> String {
    room_path(room_id, &format!("/send/{}/{}", enc(event_type), enc(txn_id)))
}

/// Sends `body` as an `m.room.message` with this txn id and returns the
/// event id.
async fn send_with_txn(session: &Session, room_id: &str, txn_id: &str, body: &str) -> String {
    let reply =
        session.put(&send_path(room_id, "m.room.message", txn_id), json!({"msgtype": "m.text", "body": body})).await;
    expect_event_id(&reply)
}

/// How many `m.room.message` events with this body the room holds.
async fn count_bodies(viewer: &Session, room_id: &str, body: &str) -> usize {
    let events = viewer.paginate_all(room_id, "b", 20, Some(&json!({"types": ["m.room.message"]}))).await;
    events.iter().filter(|e| e["content"]["body"] == body).count()
}

async fn same_txn_id_from_the_same_device_is_one_event(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    let first = send_with_txn(&alice, &room_id, "txn-1", "once").await;
    let again = send_with_txn(&alice, &room_id, "txn-1", "once").await;

    // "Where a retransmission has been identified, the homeserver should
    // return the same HTTP response code and content as the original".
    assert_eq!(first, again);
    assert_eq!(count_bodies(&alice, &room_id, "once").await, 1);
}
both_backends!(same_txn_id_from_the_same_device_is_one_event);

async fn same_txn_id_with_different_content_is_still_the_original(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    let first = send_with_txn(&alice, &room_id, "txn-1", "original").await;
    let again = send_with_txn(&alice, &room_id, "txn-1", "changed").await;

    // Retransmission is identified by transaction id and path alone.
    assert_eq!(first, again);
    assert_eq!(count_bodies(&alice, &room_id, "original").await, 1);
    assert_eq!(count_bodies(&alice, &room_id, "changed").await, 0);
}
both_backends!(same_txn_id_with_different_content_is_still_the_original);

async fn same_txn_id_from_another_device_is_a_new_event(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let laptop = alice.login_again().await;
    let room_id = alice.create_room(json!({})).await;

    let from_phone = send_with_txn(&alice, &room_id, "txn-1", "twice").await;
    let from_laptop = send_with_txn(&laptop, &room_id, "txn-1", "twice").await;

    // "The scope of a transaction ID is for a single device".
    assert_ne!(from_phone, from_laptop);
    assert_eq!(count_bodies(&alice, &room_id, "twice").await, 2);
}
both_backends!(same_txn_id_from_another_device_is_a_new_event);

async fn same_txn_id_from_another_user_is_a_new_event(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;

    let from_alice = send_with_txn(&alice, &room_id, "txn-1", "hello").await;
    let from_bob = send_with_txn(&bob, &room_id, "txn-1", "hello").await;

    assert_ne!(from_alice, from_bob);
    assert_eq!(count_bodies(&alice, &room_id, "hello").await, 2);
}
both_backends!(same_txn_id_from_another_user_is_a_new_event);

async fn same_txn_id_on_another_path_is_a_new_event(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let first_room = alice.create_room(json!({})).await;
    let second_room = alice.create_room(json!({})).await;

    // "...if the transaction ID is the same as a previous request, and the
    // path of the HTTP request is the same": another room or another event
    // type is another path.
    let in_first = send_with_txn(&alice, &first_room, "txn-1", "here").await;
    let in_second = send_with_txn(&alice, &second_room, "txn-1", "here").await;
    let other_type = alice.put(&send_path(&first_room, "com.example.other", "txn-1"), json!({"n": 1})).await;
    let other_type = expect_event_id(&other_type);

    assert_ne!(in_first, in_second);
    assert_ne!(in_first, other_type);
    assert_eq!(count_bodies(&alice, &first_room, "here").await, 1);
    assert_eq!(count_bodies(&alice, &second_room, "here").await, 1);
    let other = alice.get_event(&first_room, &other_type).await;
    assert_eq!(other.expect_ok()["type"], "com.example.other");
}
both_backends!(same_txn_id_on_another_path_is_a_new_event);

async fn same_txn_id_after_refreshing_the_token_is_a_retransmission(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    api.register("alice", PASSWORD).await;
    let mut login = password_login("alice", PASSWORD);
    login["refresh_token"] = json!(true);
    let reply = api.login_with(login).await;
    let alice = api.session_from(reply.expect_ok(), PASSWORD, &reply);
    let room_id = alice.create_room(json!({})).await;
    let first = send_with_txn(&alice, &room_id, "txn-1", "refreshed").await;

    let refreshed =
        api.post("/refresh", json!({"refresh_token": alice.refresh_token.clone().expect("refresh token")})).await;
    let refreshed = Session {
        access_token: refreshed.expect_ok()["access_token"].as_str().expect("access_token").to_owned(),
        ..alice.clone()
    };
    let again = send_with_txn(&refreshed, &room_id, "txn-1", "refreshed").await;

    // "if a client re-uses a transaction ID for the same endpoint after
    // refreshing an access token, it will be assumed to be a duplicate".
    assert_eq!(first, again);
    assert_eq!(count_bodies(&refreshed, &room_id, "refreshed").await, 1);
}
both_backends!(same_txn_id_after_refreshing_the_token_is_a_retransmission);

async fn transaction_id_is_only_echoed_to_the_sending_device(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let laptop = alice.login_again().await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;

    let event_id = send_with_txn(&alice, &room_id, "my-txn", "echo").await;

    // unsigned.transaction_id: "if the client being given the event is the
    // same one which sent it" — never to anyone else.
    let txn_of = |event: &Value| event["unsigned"]["transaction_id"].clone();
    let own = alice.get_event(&room_id, &event_id).await;
    let own = txn_of(own.expect_ok());
    assert!(own.is_null() || own == "my-txn", "{own}");
    for other in [&laptop, &bob] {
        let reply = other.get_event(&room_id, &event_id).await;
        assert!(txn_of(reply.expect_ok()).is_null(), "{other:?} sees the sender's txn id: {reply:?}");
        let timeline = other.paginate_all(&room_id, "b", 20, None).await;
        let event = timeline.iter().find(|e| e["event_id"] == event_id.as_str()).expect("the event in /messages");
        assert!(txn_of(event).is_null(), "{other:?} sees the sender's txn id in /messages: {event:#}");
    }
}
both_backends!(transaction_id_is_only_echoed_to_the_sending_device);
