//! Element X's engine against Nexus, the rest of issue 16's acceptance
//! (matrix-sdk-ui 0.18 over simplified sliding sync): invites, joins,
//! leaves, kicks and bans change the room's state as the SDK sees it, and a
//! message from someone else increments `num_unread_messages`; a forced
//! `M_UNKNOWN_POS` recovers with every room once; a room's timeline has no
//! gap or duplicate after the client was stopped while 50 messages
//! arrived; an encrypted DM between two SDK clients decrypts on both sides
//! through the encryption sync, and `NotificationClient` resolves an
//! encrypted event.

#![recursion_limit = "256"]

use std::collections::BTreeSet;
use std::time::Duration;

use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::{EventId, OwnedEventId, OwnedRoomId, RoomId};
use matrix_sdk::{Client, RoomState};
use matrix_sdk_ui::eyeball_im::Vector;
use matrix_sdk_ui::notification_client::{
    NotificationClient, NotificationEvent, NotificationProcessSetup, NotificationStatus, RawNotificationEvent,
};
use matrix_sdk_ui::room_list_service::RoomListItem;
use matrix_sdk_ui::room_list_service::filters::new_filter_non_left;
use matrix_sdk_ui::timeline::{RoomExt, Timeline, VirtualTimelineItem};
use nexus_complement::sdk_ui::{
    WAIT, count_expired_sessions, eventually, expired_sessions, ids, keep_running, list_until, running, sdk_client,
    until_running,
};
use nexus_complement::{Backend, Homeserver, Method, Session, both_backends, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

fn room_id(id: &str) -> OwnedRoomId {
    id.parse().expect("a room id")
}

/// The room's state as the SDK sees it, once it is `want`.
async fn sdk_state(client: &Client, room: &str, want: RoomState) {
    let id = room_id(room);
    eventually(&format!("the SDK seeing {room} as {want:?}"), || async {
        client.get_room(&id).filter(|r| r.state() == want).map(drop)
    })
    .await;
}

async fn membership_changes_and_unread_counts(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice: Session = hs.api().register("alice", PASSWORD).await;
    let bob: Session = hs.api().register("bob", PASSWORD).await;
    let client = sdk_client(&hs, "alice", PASSWORD).await;
    let sync_service = running(&client).await;

    // An invite, then a join (from another of alice's devices).
    let room = bob.create_room(json!({ "preset": "private_chat", "name": "comings and goings" })).await;
    bob.invite(&room, &alice.user_id).await;
    sdk_state(&client, &room, RoomState::Invited).await;
    alice.join(&room).await;
    sdk_state(&client, &room, RoomState::Joined).await;

    // Messages from bob count as unread, one by one.
    let sdk_room = client.get_room(&room_id(&room)).expect("the SDK knows the room");
    bob.send_message(&room, "one").await;
    let first = eventually("an unread message", || async {
        let n = sdk_room.num_unread_messages();
        (n >= 1).then_some(n)
    })
    .await;
    bob.send_message(&room, "two").await;
    eventually("the unread count going up by one", || async {
        (sdk_room.num_unread_messages() == first + 1).then_some(())
    })
    .await;

    // A kick, an invite back and a join, then a ban.
    bob.post(&room_path(&room, "/kick"), json!({ "user_id": alice.user_id })).await.expect_ok();
    sdk_state(&client, &room, RoomState::Left).await;
    bob.invite(&room, &alice.user_id).await;
    sdk_state(&client, &room, RoomState::Invited).await;
    alice.join(&room).await;
    sdk_state(&client, &room, RoomState::Joined).await;
    bob.post(&room_path(&room, "/ban"), json!({ "user_id": alice.user_id })).await.expect_ok();
    sdk_state(&client, &room, RoomState::Banned).await;

    // Alice leaves a room of her own accord.
    let other = bob.create_room(json!({ "preset": "public_chat", "name": "left behind" })).await;
    alice.join(&other).await;
    sdk_state(&client, &other, RoomState::Joined).await;
    alice.leave(&other).await;
    sdk_state(&client, &other, RoomState::Left).await;
    sync_service.stop().await;
}
both_backends!(membership_changes_and_unread_counts);

async fn forced_unknown_pos_recovers_without_duplicate_rooms(backend: Backend) {
    count_expired_sessions();
    let hs = Homeserver::start(backend).await;
    let alice: Session = hs.api().register("alice", PASSWORD).await;
    let mut rooms = Vec::new();
    for i in 0..6 {
        let room = alice.create_room(json!({ "name": format!("room {i}") })).await;
        alice.send_message(&room, &format!("hello {i}")).await;
        rooms.push(room);
    }
    let mut expected: Vec<String> = rooms.iter().rev().cloned().collect();

    let client = sdk_client(&hs, "alice", PASSWORD).await;
    let sync_service = running(&client).await;
    let all_rooms = sync_service.room_list_service().all_rooms().await.expect("all_rooms");
    let (stream, controller) = all_rooms.entries_with_dynamic_adapters(50);
    controller.set_filter(Box::new(new_filter_non_left()));
    let mut stream = Box::pin(stream);
    let mut list: Vector<RoomListItem> = Vector::new();
    let want = expected.clone();
    list_until(&mut stream, &mut list, |now| now == want).await;

    // Another request on the SDK's connection without `pos` starts it over
    // on the server: the SDK's `pos` is unknown from then on. A message
    // wakes its long-poll, which answers M_UNKNOWN_POS.
    let expired_before = expired_sessions();
    let token = client.access_token().expect("an access token");
    let reply = hs
        .api()
        .request(
            Method::POST,
            "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync?timeout=0",
            Some(&token),
            Some(&json!({ "conn_id": "room-list" })),
        )
        .await;
    reply.expect_ok();
    // As Element X does, the service is started again whenever it stops
    // on an error.
    let keeper = keep_running(sync_service.clone());
    alice.send_message(&rooms[0], "after the reset").await;
    // (The count is per test binary; the other backend's run expires too.)
    eventually("the SDK expiring its session", || async { (expired_sessions() > expired_before).then_some(()) }).await;

    // Every room once, the one with the new message first.
    expected.retain(|r| r != &rooms[0]);
    expected.insert(0, rooms[0].clone());
    let want = expected.clone();
    list_until(&mut stream, &mut list, |now| now == want).await;
    let unique: BTreeSet<OwnedRoomId> = ids(&list).into_iter().collect();
    assert_eq!(unique.len(), list.len(), "no room twice: {:?}", ids(&list));
    // And it keeps working: another message moves another room up.
    alice.send_message(&rooms[3], "still syncing").await;
    expected.retain(|r| r != &rooms[3]);
    expected.insert(0, rooms[3].clone());
    let want = expected.clone();
    list_until(&mut stream, &mut list, |now| now == want).await;
    keeper.abort();
    sync_service.stop().await;
}
both_backends!(forced_unknown_pos_recovers_without_duplicate_rooms);

/// The message bodies of the timeline, once it reached the room's start and
/// shows `want` (or the wait ended).
async fn paginated_bodies(timeline: &Timeline, want: &[String]) -> (Vec<String>, bool) {
    let reached_start = tokio::time::timeout(WAIT, async {
        loop {
            if timeline.paginate_backwards(20).await.expect("paginate") {
                return;
            }
        }
    })
    .await;
    assert!(reached_start.is_ok(), "pagination reaches the start");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let items = timeline.items().await;
        let at_start = items.iter().any(|item| matches!(item.as_virtual(), Some(VirtualTimelineItem::TimelineStart)));
        let bodies: Vec<String> = items
            .iter()
            .filter_map(|item| item.as_event())
            .filter_map(|event| event.content().as_message().map(|m| m.body().to_owned()))
            .collect();
        if (bodies == want && at_start) || tokio::time::Instant::now() >= deadline {
            return (bodies, at_start);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn timeline_has_no_gap_after_the_client_was_stopped(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice: Session = hs.api().register("alice", PASSWORD).await;
    let bob: Session = hs.api().register("bob", PASSWORD).await;
    let room = bob.create_room(json!({ "preset": "public_chat", "name": "busy" })).await;
    alice.join(&room).await;
    let mut want: Vec<String> = Vec::new();
    for i in 0..10 {
        let body = format!("before {i}");
        bob.send_message(&room, &body).await;
        want.push(body);
    }

    let client = sdk_client(&hs, "alice", PASSWORD).await;
    let sync_service = running(&client).await;
    let sdk_room = eventually("the SDK knowing the room", || async { client.get_room(&room_id(&room)) }).await;
    let timeline = sdk_room.timeline().await.expect("a timeline");
    let (bodies, at_start) = paginated_bodies(&timeline, &want).await;
    assert!(at_start, "the timeline starts at the room's creation");
    assert_eq!(bodies, want, "no gap, no duplicate before the stop");

    // The app is stopped; 50 messages arrive; the app comes back.
    sync_service.stop().await;
    for i in 0..50 {
        let body = format!("while stopped {i}");
        bob.send_message(&room, &body).await;
        want.push(body);
    }
    until_running(&sync_service).await;
    let last = want.last().cloned().expect("messages");
    eventually("the newest message in the timeline", || async {
        let items = timeline.items().await;
        items
            .iter()
            .filter_map(|item| item.as_event())
            .any(|event| event.content().as_message().is_some_and(|m| m.body() == last))
            .then_some(())
    })
    .await;
    let (bodies, at_start) = paginated_bodies(&timeline, &want).await;
    assert!(at_start, "the timeline still starts at the room's creation");
    assert_eq!(bodies, want, "no gap, no duplicate after the stop");

    // A fresh timeline of the room agrees.
    drop(timeline);
    let fresh = sdk_room.timeline().await.expect("a fresh timeline");
    let (bodies, at_start) = paginated_bodies(&fresh, &want).await;
    assert!(at_start);
    assert_eq!(bodies, want, "a fresh timeline: no gap, no duplicate");
    sync_service.stop().await;
}
both_backends!(timeline_has_no_gap_after_the_client_was_stopped);

/// The event decrypted by `client` (fetched or cached by the SDK).
async fn decrypted_body(client: &Client, room: &RoomId, event: &EventId) -> String {
    eventually(&format!("{} decrypting {event}", client.user_id().unwrap()), || async {
        let room = client.get_room(room)?;
        let event = room.event(event, None).await.ok()?;
        event.encryption_info()?;
        let plain: Value = event.raw().deserialize_as().ok()?;
        plain["content"]["body"].as_str().map(str::to_owned)
    })
    .await
}

async fn encrypted_dm_decrypts_on_both_sides_and_in_notifications(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let _alice: Session = hs.api().register("alice", PASSWORD).await;
    let bob_http: Session = hs.api().register("bob", PASSWORD).await;
    let alice = sdk_client(&hs, "alice", PASSWORD).await;
    let bob = sdk_client(&hs, "bob", PASSWORD).await;
    let alice_sync = running(&alice).await;
    let bob_sync = running(&bob).await;
    for client in [&alice, &bob] {
        client.encryption().wait_for_e2ee_initialization_tasks().await;
    }

    // Alice opens a DM with bob through the SDK; bob accepts it.
    let bob_id = bob.user_id().expect("bob's id").to_owned();
    let alice_room = alice.create_dm(&bob_id).await.expect("alice creates a DM");
    let room: OwnedRoomId = alice_room.room_id().to_owned();
    eventually("the DM being encrypted", || async {
        alice_room.latest_encryption_state().await.ok().filter(|s| s.is_encrypted()).map(drop)
    })
    .await;
    let bob_room = eventually("bob seeing the invite", || async {
        bob.get_room(&room).filter(|r| r.state() == RoomState::Invited)
    })
    .await;
    bob_room.join().await.expect("bob joins");
    eventually("alice seeing bob joined", || async {
        let member = alice_room.get_member_no_sync(&bob_id).await.ok()??;
        (*member.membership() == matrix_sdk::ruma::events::room::member::MembershipState::Join).then_some(())
    })
    .await;

    // Both ways, each side decrypts what the other sent.
    let from_alice: OwnedEventId = alice_room
        .send(RoomMessageEventContent::text_plain("hello bob, secretly"))
        .await
        .expect("alice sends")
        .response
        .event_id;
    let stored = bob_http.get_event(room.as_str(), from_alice.as_str()).await;
    assert_eq!(stored.expect_ok()["type"], "m.room.encrypted", "the server holds ciphertext: {stored:?}");
    assert_eq!(decrypted_body(&bob, &room, &from_alice).await, "hello bob, secretly");
    let bob_room = bob.get_room(&room).expect("bob's room");
    let from_bob: OwnedEventId = bob_room
        .send(RoomMessageEventContent::text_plain("hello alice, secretly"))
        .await
        .expect("bob sends")
        .response
        .event_id;
    assert_eq!(decrypted_body(&alice, &room, &from_bob).await, "hello alice, secretly");

    // A push for a new encrypted message from bob: alice's notification
    // client resolves and decrypts it.
    let notified: OwnedEventId = bob_room
        .send(RoomMessageEventContent::text_plain("a notification, secretly"))
        .await
        .expect("bob sends")
        .response
        .event_id;
    let notifications = NotificationClient::new(
        alice.clone(),
        NotificationProcessSetup::SingleProcess { sync_service: alice_sync.clone() },
    )
    .await
    .expect("a notification client");
    let body = eventually("the notification client resolving the event", || async {
        match notifications.get_notification(&room, &notified).await {
            Ok(NotificationStatus::Event(item)) => match (&item.event, &item.raw_event) {
                (NotificationEvent::Timeline(_), RawNotificationEvent::Timeline(raw)) => {
                    let plain: Value = raw.deserialize_as().ok()?;
                    (plain["type"] == "m.room.message").then_some(())?;
                    plain["content"]["body"].as_str().map(str::to_owned)
                }
                _ => None,
            },
            _ => None,
        }
    })
    .await;
    assert_eq!(body, "a notification, secretly");
    alice_sync.stop().await;
    bob_sync.stop().await;
}
both_backends!(encrypted_dm_decrypts_on_both_sides_and_in_notifications);
