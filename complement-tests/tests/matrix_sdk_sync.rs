//! Syncing through a real client library: two matrix-sdk clients (alice and
//! bob, in-memory stores, pointed straight at the base URL) follow an invite,
//! a join, a message, a typing notice and a read receipt through their own
//! `/sync` loops and event handlers; and `sync_once` in a row advances the
//! `next_batch` token without re-delivering events.
//!
//! matrix-sdk is built with end-to-end encryption, so it also uploads and
//! queries device keys along the way; every call asserted here must succeed.

#![recursion_limit = "256"]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::receipt::create_receipt::v3::ReceiptType as SendReceiptType;
use matrix_sdk::ruma::events::receipt::{ReceiptThread, ReceiptType};
use matrix_sdk::ruma::events::room::member::{MembershipState, StrippedRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::{OriginalSyncRoomMessageEvent, RoomMessageEventContent};
use matrix_sdk::ruma::events::typing::SyncTypingEvent;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId};
use matrix_sdk::{Client, LoopCtrl, Room, RoomState};
use nexus_complement::{Backend, Homeserver, Session, both_backends};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

const PASSWORD: &str = "sUp3r-secret";

/// How long anything may take to travel from one client to the other.
const WAIT: Duration = Duration::from_secs(20);

/// Registers `localpart` through the harness and logs a matrix-sdk client in
/// as that user.
async fn sdk_user(hs: &Homeserver, localpart: &str) -> (Client, Session) {
    let session = hs.api().register(localpart, PASSWORD).await;
    let client = Client::builder().homeserver_url(hs.base_url()).build().await.expect("build a matrix-sdk client");
    client
        .matrix_auth()
        .login_username(localpart, PASSWORD)
        .initial_device_display_name("matrix-sdk")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{localpart} logs in with matrix-sdk: {e:?}"));
    (client, session)
}

/// Receives from `rx` until `matches` holds (panics after [`WAIT`]).
async fn receive_until<T: std::fmt::Debug>(
    rx: &mut UnboundedReceiver<T>,
    what: &str,
    matches: impl Fn(&T) -> bool,
) -> T {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(item) = rx.recv().await {
            if matches(&item) {
                return Some(item);
            }
            seen.push(format!("{item:?}"));
        }
        None
    })
    .await;
    match found {
        Ok(Some(item)) => item,
        Ok(None) => panic!("the event handler channel closed before {what}"),
        Err(_) => panic!("no {what} within {WAIT:?}; saw instead: {seen:#?}"),
    }
}

/// Polls `check` every 100 ms until it yields a value (panics after
/// [`WAIT`]).
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, check: impl Fn() -> F) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A message as bob's handler saw it.
#[derive(Debug)]
struct Seen {
    room_id: OwnedRoomId,
    event_id: OwnedEventId,
    sender: OwnedUserId,
    body: String,
}

/// Registers bob's handlers: invites addressed to him, messages, typing.
fn watch(
    client: &Client,
) -> (
    UnboundedReceiver<(OwnedRoomId, StrippedRoomMemberEvent)>,
    UnboundedReceiver<Seen>,
    UnboundedReceiver<(OwnedRoomId, Vec<OwnedUserId>)>,
) {
    let (invite_tx, invites) = unbounded_channel();
    client.add_event_handler(move |event: StrippedRoomMemberEvent, room: Room| {
        let tx: UnboundedSender<_> = invite_tx.clone();
        async move {
            let _ = tx.send((room.room_id().to_owned(), event));
        }
    });
    let (message_tx, messages) = unbounded_channel();
    client.add_event_handler(move |event: OriginalSyncRoomMessageEvent, room: Room| {
        let tx: UnboundedSender<_> = message_tx.clone();
        async move {
            let _ = tx.send(Seen {
                room_id: room.room_id().to_owned(),
                event_id: event.event_id.clone(),
                sender: event.sender.clone(),
                body: event.content.body().to_owned(),
            });
        }
    });
    let (typing_tx, typing) = unbounded_channel();
    client.add_event_handler(move |event: SyncTypingEvent, room: Room| {
        let tx: UnboundedSender<_> = typing_tx.clone();
        async move {
            let _ = tx.send((room.room_id().to_owned(), event.content.user_ids.clone()));
        }
    });
    (invites, messages, typing)
}

async fn matrix_sdk_clients_follow_invite_join_message_typing_and_receipt(backend: Backend) {
    nexus_complement::sdk_log::capture_sdk_warnings();
    let hs = Homeserver::start(backend).await;
    let (alice, alice_http) = sdk_user(&hs, "alice").await;
    let (bob, _bob_http) = sdk_user(&hs, "bob").await;
    let alice_id = alice.user_id().expect("alice is logged in").to_owned();
    let bob_id = bob.user_id().expect("bob is logged in").to_owned();
    let (mut invites, mut messages, mut typing) = watch(&bob);

    // Bob's client syncs in a loop, as an application would; any error
    // ends the loop and is kept for the end of the scenario.
    let sync_errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let bob_sync = tokio::spawn({
        let bob = bob.clone();
        let errors = sync_errors.clone();
        async move {
            bob.sync_with_result_callback(SyncSettings::default().timeout(Duration::from_secs(2)), |result| {
                let errors = errors.clone();
                async move {
                    if let Err(e) = &result {
                        errors.lock().unwrap().push(format!("{e:?}"));
                    }
                    result.map(|_| LoopCtrl::Continue)
                }
            })
            .await
        }
    });

    // Setup over raw HTTP: alice's room, and bob invited to it.
    let room_id_str = alice_http.create_room(json!({"name": "SDK room", "preset": "private_chat"})).await;
    let room_id = RoomId::parse(&room_id_str).expect("a valid room id");
    alice_http.invite(&room_id_str, &bob_id.to_string()).await;

    // Bob's sync loop sees the invite, and the SDK knows the room as invited.
    let (_, invite) = receive_until(&mut invites, "bob's invite", |(room, event)| {
        room == &room_id && event.state_key == bob_id && event.content.membership == MembershipState::Invite
    })
    .await;
    assert_eq!(invite.sender, alice_id);
    let bob_room = eventually("bob's client knowing the invited room", || {
        let room = bob.get_room(&room_id);
        async move { room.filter(|r| r.state() == RoomState::Invited) }
    })
    .await;

    // Bob accepts through the SDK.
    bob_room.join().await.expect("bob joins through matrix-sdk");
    eventually("bob's client seeing the room as joined", || {
        let state = bob.get_room(&room_id).map(|r| r.state());
        async move { (state == Some(RoomState::Joined)).then_some(()) }
    })
    .await;

    // Alice's client learns about the room (and bob's join) by syncing.
    let alice_settings = || SyncSettings::default().timeout(Duration::from_millis(500));
    let alice_room = eventually("alice's client seeing bob joined", || {
        let alice = alice.clone();
        let room_id = room_id.clone();
        let bob_id = bob_id.clone();
        let settings = alice_settings();
        async move {
            alice.sync_once(settings).await.expect("alice's sync_once");
            let room = alice.get_room(&room_id)?;
            let bob_member = room.get_member_no_sync(&bob_id).await.expect("read bob's membership")?;
            (room.state() == RoomState::Joined && *bob_member.membership() == MembershipState::Join).then_some(room)
        }
    })
    .await;
    assert_eq!(alice_room.name().as_deref(), Some("SDK room"));

    // A message from alice reaches bob's event handler.
    let sent = alice_room
        .send(RoomMessageEventContent::text_plain("hello bob, from matrix-sdk"))
        .await
        .expect("alice sends through matrix-sdk");
    let seen = receive_until(&mut messages, "alice's message", |m| m.event_id == sent.response.event_id).await;
    assert_eq!(seen.room_id, room_id);
    assert_eq!(seen.sender, alice_id);
    assert_eq!(seen.body, "hello bob, from matrix-sdk");

    // Alice types; bob's client is told.
    alice_room.typing_notice(true).await.expect("alice's typing notice");
    receive_until(&mut typing, "alice typing", |(room, users)| room == &room_id && users.contains(&alice_id)).await;

    // Bob reads the message; alice's client records his receipt.
    bob_room
        .send_single_receipt(SendReceiptType::Read, ReceiptThread::Unthreaded, sent.response.event_id.clone())
        .await
        .expect("bob's read receipt");
    let (receipt_event, _) = eventually("alice's client seeing bob's receipt", || {
        let alice = alice.clone();
        let room = alice_room.clone();
        let bob_id = bob_id.clone();
        let settings = alice_settings();
        let wanted = sent.response.event_id.clone();
        async move {
            alice.sync_once(settings).await.expect("alice's sync_once");
            let receipt = room
                .load_user_receipt(ReceiptType::Read, ReceiptThread::Unthreaded, &bob_id)
                .await
                .expect("read the receipt store")?;
            (receipt.0 == wanted).then_some(receipt)
        }
    })
    .await;
    assert_eq!(receipt_event, sent.response.event_id);

    // Bob pages back through the room with matrix-sdk and finds alice's
    // message (the rooms issue's two-user flow: create, invite, join, send,
    // paginate).
    let page = bob_room.messages(matrix_sdk::room::MessagesOptions::backward()).await.expect("bob paginates");
    let ids: Vec<OwnedEventId> = page.chunk.iter().filter_map(|event| event.event_id()).collect();
    assert!(ids.contains(&sent.response.event_id), "alice's message is on bob's backward page: {ids:?}");
    assert!(page.end.is_some() || ids.len() < 10, "a full page carries a token to continue from");

    // The bar: the SDK met no errors, and no warnings about what
    // the server answered. (It does warn about its own state — no backup
    // key configured, a key query racing its own key upload — which says
    // nothing about the server.)
    let complaints = nexus_complement::sdk_log::sdk_complaints_about_responses();
    assert!(complaints.is_empty(), "matrix-sdk complained about responses: {complaints:#?}");

    // Bob's sync loop ran throughout without an error.
    assert!(sync_errors.lock().unwrap().is_empty(), "bob's sync loop failed: {:?}", sync_errors.lock().unwrap());
    assert!(!bob_sync.is_finished(), "bob's sync loop stopped: {:?}", bob_sync.await);
    bob_sync.abort();
}
both_backends!(matrix_sdk_clients_follow_invite_join_message_typing_and_receipt);

/// The bodies of the `m.room.message` events in a room's timeline of a
/// matrix-sdk sync answer.
fn sdk_bodies(response: &matrix_sdk::sync::SyncResponse, room_id: &RoomId) -> Vec<String> {
    let Some(room) = response.rooms.joined.get(room_id) else { return Vec::new() };
    room.timeline
        .events
        .iter()
        .filter_map(|event| {
            let raw: Value = event.raw().deserialize_as().ok()?;
            (raw["type"] == "m.room.message").then(|| raw["content"]["body"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

async fn matrix_sdk_sync_once_advances_the_next_batch_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (alice, alice_http) = sdk_user(&hs, "alice").await;
    let short = || SyncSettings::default().timeout(Duration::from_millis(300));

    let first = alice.sync_once(SyncSettings::default()).await.expect("the initial sync_once");
    let room_id_str = alice_http.create_room(json!({})).await;
    let room_id = RoomId::parse(&room_id_str).expect("a valid room id");
    alice_http.send_message(&room_id_str, "one").await;

    // Each sync_once continues from the previous answer's next_batch.
    let second = alice.sync_once(short()).await.expect("the second sync_once");
    assert_ne!(second.next_batch, first.next_batch, "new events, yet the same token");
    assert!(second.rooms.joined.contains_key(&room_id), "the new room: {:?}", second.rooms.joined.keys());
    assert_eq!(sdk_bodies(&second, &room_id), ["one"]);
    assert!(alice.get_room(&room_id).is_some_and(|r| r.state() == RoomState::Joined));

    // Nothing new: nothing delivered again (the token may stay the same).
    let third = alice.sync_once(short()).await.expect("the third sync_once");
    assert!(sdk_bodies(&third, &room_id).is_empty(), "re-delivered: {:?}", sdk_bodies(&third, &room_id));

    alice_http.send_message(&room_id_str, "two").await;
    let fourth = alice.sync_once(short()).await.expect("the fourth sync_once");
    assert_eq!(sdk_bodies(&fourth, &room_id), ["two"], "only the newest message");
    assert_ne!(fourth.next_batch, third.next_batch);
    assert_ne!(fourth.next_batch, second.next_batch);
    assert_ne!(fourth.next_batch, first.next_batch);
}
both_backends!(matrix_sdk_sync_once_advances_the_next_batch_token);
