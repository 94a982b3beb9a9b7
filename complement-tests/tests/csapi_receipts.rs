//! Receipts and read markers — mirrors Complement's `apidoc_room_receipts`
//! (receipts and read markers can be created); spec: client-server API
//! "Receipts" (`m.read`, `m.read.private`, threaded receipts), `POST
//! /rooms/{roomId}/receipt/{receiptType}/{eventId}`, "Fully read markers",
//! `POST /rooms/{roomId}/read_markers`, the `m.receipt` ephemeral event and
//! the `m.fully_read` room account data event in `/sync`.

use std::time::Duration;

use nexus_complement::{Backend, Homeserver, Session, both_backends};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

/// Alice's public room with bob joined and one message from alice.
async fn room_with_a_message(hs: &Homeserver) -> (String, Session, Session, String) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    let event_id = alice.send_message(&room_id, "please read").await;
    (room_id, alice, bob, event_id)
}

async fn post_receipt_can_create_receipts(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, event_id) = room_with_a_message(&hs).await;
    let alice_since = alice.sync_token().await;
    let bob_since = bob.sync_token().await;

    let reply = bob.send_receipt(&room_id, "m.read", &event_id, json!({})).await;

    assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");
    for (viewer, since) in [(&alice, alice_since), (&bob, bob_since)] {
        let synced = viewer
            .sync_until(&since, "", "bob's receipt", |s| !s.receipts_by(&room_id, "m.read", &bob.user_id).is_empty())
            .await;
        let receipts = synced.receipts_by(&room_id, "m.read", &bob.user_id);
        assert_eq!(receipts.len(), 1, "{receipts:?}");
        assert_eq!(receipts[0].event_id, event_id);
        // "The server will automatically set the ts field."
        assert!(receipts[0].ts.is_some(), "{receipts:?}");
        assert_eq!(receipts[0].thread_id, None, "an unthreaded receipt: {receipts:?}");
    }
}
both_backends!(post_receipt_can_create_receipts);

async fn a_newer_receipt_replaces_the_older_one(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, first) = room_with_a_message(&hs).await;
    let second = alice.send_message(&room_id, "and this").await;
    let since = alice.sync_token().await;

    bob.send_receipt(&room_id, "m.read", &first, json!({})).await.expect_ok();
    bob.send_receipt(&room_id, "m.read", &second, json!({})).await.expect_ok();
    let synced = alice
        .sync_until(&since, "", "bob's second receipt", |s| {
            s.receipts_by(&room_id, "m.read", &bob.user_id).iter().any(|r| r.event_id == second)
        })
        .await;

    // "Each user_id, receipt_type, and categorisation (unthreaded, or
    // thread_id) tuple must be associated with only a single event_id."
    let receipts = synced.receipts_by(&room_id, "m.read", &bob.user_id);
    assert_eq!(receipts.iter().map(|r| r.event_id.clone()).collect::<Vec<_>>(), [second.clone()], "{receipts:?}");
    // A later initial sync knows the latest receipt only.
    let initial = alice.initial_sync().await;
    for receipt in initial.receipts_by(&room_id, "m.read", &bob.user_id) {
        assert_eq!(receipt.event_id, second, "{:#}", initial.body);
    }
}
both_backends!(a_newer_receipt_replaces_the_older_one);

async fn private_read_receipts_are_only_visible_to_their_owner(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, first) = room_with_a_message(&hs).await;
    let second = alice.send_message(&room_id, "second").await;
    let alice_since = alice.sync_token().await;
    let bob_since = bob.sync_token().await;

    bob.send_receipt(&room_id, "m.read.private", &second, json!({})).await.expect_ok();
    // A public receipt afterwards marks the point by which alice would have
    // seen the private one.
    bob.send_receipt(&room_id, "m.read", &first, json!({})).await.expect_ok();

    let own = bob
        .sync_until(&bob_since, "", "bob's private receipt", |s| {
            !s.receipts_by(&room_id, "m.read.private", &bob.user_id).is_empty()
        })
        .await;
    assert_eq!(own.receipts_by(&room_id, "m.read.private", &bob.user_id)[0].event_id, second);
    // "Servers MUST NOT send the m.read.private receipt to any other user
    // than the one which originally sent it."
    let mut saw_public = false;
    for synced in alice.sync_for(&alice_since, "", Duration::from_millis(2000)).await {
        let receipts = synced.receipts(&room_id);
        assert!(receipts.iter().all(|r| r.receipt_type != "m.read.private"), "{:#}", synced.body);
        saw_public |= receipts.iter().any(|r| r.receipt_type == "m.read" && r.user_id == bob.user_id);
    }
    assert!(saw_public, "alice never saw bob's public receipt");
    let initial = alice.initial_sync().await;
    assert!(initial.receipts(&room_id).iter().all(|r| r.receipt_type != "m.read.private"), "{:#}", initial.body);
}
both_backends!(private_read_receipts_are_only_visible_to_their_owner);

async fn threaded_receipts_carry_their_thread_id(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, root) = room_with_a_message(&hs).await;
    let in_thread = alice
        .send_event(
            &room_id,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "threaded", "m.relates_to": {"rel_type": "m.thread", "event_id": root}}),
        )
        .await;
    let since = alice.sync_token().await;

    bob.send_receipt(&room_id, "m.read", &root, json!({"thread_id": "main"})).await.expect_ok();
    bob.send_receipt(&room_id, "m.read", &in_thread, json!({"thread_id": root})).await.expect_ok();

    // "Clients should replace older receipt acknowledgements based on
    // user_id, receipt_type, and the thread_id": both stay.
    let mut main = None;
    let mut thread = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut from = since;
    while (main.is_none() || thread.is_none()) && std::time::Instant::now() < deadline {
        let synced = alice.sync_with(Some(&from), "timeout=1000").await;
        for receipt in synced.receipts_by(&room_id, "m.read", &bob.user_id) {
            match receipt.thread_id.as_deref() {
                Some("main") => main = Some(receipt.event_id),
                Some(t) if t == root => thread = Some(receipt.event_id),
                _ => {}
            }
        }
        from = synced.next_batch;
    }
    assert_eq!(main.as_deref(), Some(root.as_str()), "the main-timeline receipt");
    assert_eq!(thread.as_deref(), Some(in_thread.as_str()), "the in-thread receipt");
}
both_backends!(threaded_receipts_carry_their_thread_id);

async fn invalid_thread_id_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, _alice, bob, event_id) = room_with_a_message(&hs).await;

    // "400: The thread_id is invalid in some way. For example: It is not a
    // string. It is empty."
    let mut accepted = Vec::new();
    for body in [json!({"thread_id": ""}), json!({"thread_id": 42})] {
        let reply = bob.send_receipt(&room_id, "m.read", &event_id, body.clone()).await;
        match reply.status {
            400 => {
                reply.expect_error_in(400, &["M_INVALID_PARAM", "M_BAD_JSON"]);
            }
            _ => accepted.push(format!("{body} -> {reply:?}")),
        }
    }
    assert!(accepted.is_empty(), "invalid thread ids were not refused with a 400: {accepted:#?}");
}
both_backends!(invalid_thread_id_is_rejected);

async fn unknown_receipt_type_is_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, _alice, bob, event_id) = room_with_a_message(&hs).await;

    // receiptType is one of m.read, m.read.private, m.fully_read.
    let reply = bob.send_receipt(&room_id, "com.example.seen", &event_id, json!({})).await;

    assert!(reply.status == 400 || reply.status == 404, "{reply:?}");
    reply.expect_standard_error();
}
both_backends!(unknown_receipt_type_is_rejected);

async fn post_read_markers_can_create_read_marker(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, event_id) = room_with_a_message(&hs).await;
    let alice_since = alice.sync_token().await;
    let bob_since = bob.sync_token().await;

    let reply = bob.set_read_markers(&room_id, json!({"m.fully_read": event_id, "m.read": event_id})).await;

    reply.expect_ok();
    // The fully read marker is room account data, pushed "down the event
    // stream when updated" ...
    let synced = bob
        .sync_until(&bob_since, "", "the m.fully_read marker", |s| {
            s.room_account_data_content(&room_id, "m.fully_read").is_some()
        })
        .await;
    assert_eq!(synced.room_account_data_content(&room_id, "m.fully_read").unwrap()["event_id"], event_id.as_str());
    // ... readable as usual ("Servers must allow clients to read the above
    // event types") ...
    let stored = bob.get_room_account_data(&room_id, "m.fully_read").await;
    assert_eq!(stored.expect_ok()["event_id"], event_id.as_str(), "{stored:?}");
    // ... and m.read is the same as POST /receipt/m.read.
    alice
        .sync_until(&alice_since, "", "bob's receipt", |s| {
            s.receipts_by(&room_id, "m.read", &bob.user_id).iter().any(|r| r.event_id == event_id)
        })
        .await;
}
both_backends!(post_read_markers_can_create_read_marker);

async fn read_markers_private_receipt_stays_private(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, event_id) = room_with_a_message(&hs).await;
    let alice_since = alice.sync_token().await;
    let bob_since = bob.sync_token().await;

    bob.set_read_markers(&room_id, json!({"m.read.private": event_id})).await.expect_ok();

    bob.sync_until(&bob_since, "", "bob's private receipt", |s| {
        s.receipts_by(&room_id, "m.read.private", &bob.user_id).iter().any(|r| r.event_id == event_id)
    })
    .await;
    for synced in alice.sync_for(&alice_since, "", Duration::from_millis(1500)).await {
        assert!(synced.receipts(&room_id).iter().all(|r| r.user_id != bob.user_id), "{:#}", synced.body);
    }
}
both_backends!(read_markers_private_receipt_stays_private);

async fn fully_read_receipt_type_moves_the_read_marker(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, event_id) = room_with_a_message(&hs).await;
    let alice_since = alice.sync_token().await;
    let bob_since = bob.sync_token().await;

    // "this endpoint effectively calls /read_markers internally when
    // presented with a receipt type of m.fully_read."
    bob.send_receipt(&room_id, "m.fully_read", &event_id, json!({})).await.expect_ok();

    let synced = bob
        .sync_until(&bob_since, "", "the m.fully_read marker", |s| {
            s.room_account_data_content(&room_id, "m.fully_read").is_some()
        })
        .await;
    assert_eq!(synced.room_account_data_content(&room_id, "m.fully_read").unwrap()["event_id"], event_id.as_str());
    // "Note that m.fully_read does not appear under m.receipt".
    assert!(synced.receipts(&room_id).iter().all(|r| r.receipt_type != "m.fully_read"), "{:#}", synced.body);
    for synced in alice.sync_for(&alice_since, "", Duration::from_millis(1000)).await {
        assert!(synced.receipts(&room_id).iter().all(|r| r.receipt_type != "m.fully_read"), "{:#}", synced.body);
    }
}
both_backends!(fully_read_receipt_type_moves_the_read_marker);

async fn fully_read_marker_cannot_be_set_as_account_data(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, _alice, bob, event_id) = room_with_a_message(&hs).await;

    // "The server MUST prevent clients from setting m.fully_read directly
    // in room account data."
    let reply = bob.put_room_account_data(&room_id, "m.fully_read", json!({"event_id": event_id})).await;

    reply.expect_error(405, "M_BAD_JSON");
    bob.get_room_account_data(&room_id, "m.fully_read").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(fully_read_marker_cannot_be_set_as_account_data);
