//! History visibility — mirrors Complement's `apidoc_room_history_visibility`
//! and the messages half of `room_leave`; spec: client-server API "Room
//! History Visibility" (`joined`, `shared`, `invited`, `world_readable`;
//! "After a user has left a room, they may see any events which they were
//! allowed to see before they left the room, but no events received after
//! they left"), `GET /rooms/{roomId}/event/{eventId}` (404 when not
//! permitted), `GET /rooms/{roomId}/messages`, and `/leave` (history stays
//! readable unless the server forgets on leave).

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, event_ids};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// Alice's public room with this history visibility, and bob (not joined).
async fn room_with_visibility(hs: &Homeserver, visibility: &str) -> (String, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "initial_state": [
                {"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": visibility}},
            ],
        }))
        .await;
    (room_id, alice, bob)
}

async fn visible_ids(viewer: &Session, room_id: &str) -> Vec<String> {
    event_ids(&viewer.paginate_all(room_id, "b", 5, None).await)
}

/// 404 M_NOT_FOUND: "The event was not found or you do not have permission
/// to read this event."
#[track_caller]
fn assert_hidden(reply: &Reply) {
    reply.expect_error(404, "M_NOT_FOUND");
}

async fn joined_visibility_hides_history_from_before_the_join(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_visibility(&hs, "joined").await;
    let before = alice.send_message(&room_id, "before bob").await;

    bob.join(&room_id).await;
    let after = alice.send_message(&room_id, "after bob").await;

    assert_hidden(&bob.get_event(&room_id, &before).await);
    assert_eq!(bob.get_event(&room_id, &after).await.expect_ok()["content"]["body"], "after bob");
    let seen = visible_ids(&bob, &room_id).await;
    assert!(seen.contains(&after), "{seen:?}");
    assert!(!seen.contains(&before), "{seen:?}");
    // Alice, joined throughout, sees both.
    let alice_sees = visible_ids(&alice, &room_id).await;
    assert!(alice_sees.contains(&before) && alice_sees.contains(&after));
}
both_backends!(joined_visibility_hides_history_from_before_the_join);

async fn shared_visibility_shows_history_from_before_the_join(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_visibility(&hs, "shared").await;
    let before = alice.send_message(&room_id, "before bob").await;

    bob.join(&room_id).await;
    let after = alice.send_message(&room_id, "after bob").await;

    // "Previous events are always accessible to newly joined members."
    assert_eq!(bob.get_event(&room_id, &before).await.expect_ok()["content"]["body"], "before bob");
    let seen = visible_ids(&bob, &room_id).await;
    assert!(seen.contains(&before) && seen.contains(&after), "{seen:?}");
}
both_backends!(shared_visibility_shows_history_from_before_the_join);

async fn invited_visibility_shows_history_from_the_invite(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_visibility(&hs, "invited").await;
    let before_invite = alice.send_message(&room_id, "before the invite").await;
    alice.invite(&room_id, &bob.user_id).await;
    let after_invite = alice.send_message(&room_id, "after the invite").await;

    bob.join(&room_id).await;
    let after_join = alice.send_message(&room_id, "after the join").await;

    // "Events are accessible to newly joined members from the point they were
    // invited onwards."
    assert_hidden(&bob.get_event(&room_id, &before_invite).await);
    bob.get_event(&room_id, &after_invite).await.expect_ok();
    bob.get_event(&room_id, &after_join).await.expect_ok();
    let seen = visible_ids(&bob, &room_id).await;
    assert!(!seen.contains(&before_invite), "{seen:?}");
    assert!(seen.contains(&after_invite) && seen.contains(&after_join), "{seen:?}");
}
both_backends!(invited_visibility_shows_history_from_the_invite);

async fn world_readable_events_are_visible_to_non_members(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_visibility(&hs, "world_readable").await;

    let event_id = alice.send_message(&room_id, "for everyone").await;

    // "All events while this is the m.room.history_visibility value may be
    // shared ... with any authenticated user, regardless of whether they have
    // ever joined the room."
    let reply = bob.get_event(&room_id, &event_id).await;
    assert_eq!(reply.expect_ok()["content"]["body"], "for everyone", "{reply:?}");
}
both_backends!(world_readable_events_are_visible_to_non_members);

async fn shared_events_are_hidden_from_non_members(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_visibility(&hs, "shared").await;

    let event_id = alice.send_message(&room_id, "members only").await;

    // The spec's answer for "not permitted" is 404; a non-member may also be
    // refused as one (403), as on the other room endpoints.
    let reply = bob.get_event(&room_id, &event_id).await;
    assert!(reply.status == 404 || reply.status == 403, "{reply:?}");
    reply.expect_error_in(reply.status, &["M_NOT_FOUND", "M_FORBIDDEN"]);
}
both_backends!(shared_events_are_hidden_from_non_members);

async fn events_after_leaving_are_hidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_visibility(&hs, "shared").await;
    bob.join(&room_id).await;
    let while_joined = alice.send_message(&room_id, "while bob was here").await;
    bob.leave(&room_id).await;

    let after_leaving = alice.send_message(&room_id, "after bob left").await;

    // The shared rule needs a join *after* the event; bob's last join is
    // before it and he has left since.
    assert_hidden(&bob.get_event(&room_id, &after_leaving).await);
    // A server may forget the room on leave if it says so
    // (m.forget_forced_upon_leave); otherwise "the user will still be allowed
    // to retrieve history from the room which they were previously allowed
    // to see".
    let capabilities = bob.get("/capabilities").await;
    let forced_forget = capabilities.expect_ok()["capabilities"]["m.forget_forced_upon_leave"]["enabled"] == true;
    let messages = bob.messages(&room_id, "dir=b&limit=50").await;
    if forced_forget && messages.status == 403 {
        return;
    }
    let chunk: Vec<Value> = messages.expect_ok()["chunk"].as_array().cloned().unwrap_or_default();
    let seen = event_ids(&chunk);
    assert!(seen.contains(&while_joined), "{messages:?}");
    assert!(!seen.contains(&after_leaving), "{messages:?}");
    bob.get_event(&room_id, &while_joined).await.expect_ok();
}
both_backends!(events_after_leaving_are_hidden);

async fn history_visibility_change_applies_from_that_point(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob) = room_with_visibility(&hs, "shared").await;
    let while_shared = alice.send_message(&room_id, "shared era").await;
    alice.set_state(&room_id, "m.room.history_visibility", "", json!({"history_visibility": "joined"})).await;
    let while_joined_only = alice.send_message(&room_id, "joined era").await;

    bob.join(&room_id).await;

    // "Checks are performed with the state of the m.room.history_visibility
    // event when the event in question is added to the DAG."
    bob.get_event(&room_id, &while_shared).await.expect_ok();
    assert_hidden(&bob.get_event(&room_id, &while_joined_only).await);
}
both_backends!(history_visibility_change_applies_from_that_point);
