//! Membership changes — mirrors Complement's `apidoc_room_members`,
//! `rooms_invite`, `room_ban` / `room_kick` and `apidoc_room_forget`; spec:
//! client-server API "Room membership" (`/rooms/{roomId}/invite`,
//! `/join/{roomIdOrAlias}`, `/rooms/{roomId}/join`, `/leave`, `/forget`,
//! `/kick`, `/ban`, `/unban`) and the authorisation rules for
//! `m.room.member`.

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc, find_state, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

async fn post_membership(actor: &Session, room_id: &str, action: &str, body: Value) -> Reply {
    actor.post(&room_path(room_id, &format!("/{action}")), body).await
}

/// A public room by alice where bob and charlie are joined; power levels
/// are explicit so the scenarios do not depend on server defaults.
async fn public_room_with_bob_and_charlie(hs: &Homeserver) -> (String, Session, Session, Session) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "power_level_content_override": {"kick": 50, "ban": 50, "invite": 0, "users_default": 0},
        }))
        .await;
    bob.join(&room_id).await;
    charlie.join(&room_id).await;
    (room_id, alice, bob, charlie)
}

fn member_content(reply: &Reply) -> &Value {
    reply.expect_ok()
}

// ----- join -----

async fn join_public_room_by_id_via_rooms_join(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;

    let reply = post_membership(&bob, &room_id, "join", json!({})).await;

    // "The joined room ID must be returned in the room_id field."
    assert_eq!(reply.expect_ok()["room_id"], room_id.as_str(), "{reply:?}");
    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("join"));
    assert!(bob.joined_rooms().await.contains(&room_id));
}
both_backends!(join_public_room_by_id_via_rooms_join);

async fn join_public_room_by_id_via_join(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;

    let reply = bob.post(&format!("/join/{}", enc(&room_id)), json!({})).await;

    assert_eq!(reply.expect_ok()["room_id"], room_id.as_str(), "{reply:?}");
    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("join"));
}
both_backends!(join_public_room_by_id_via_join);

async fn join_with_reason_records_the_reason(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;

    post_membership(&bob, &room_id, "join", json!({"reason": "Looking for tea"})).await.expect_ok();

    // "Optional reason to be included as the reason on the subsequent
    // membership event."
    let member = alice.get_state(&room_id, "m.room.member", &bob.user_id).await;
    assert_eq!(member_content(&member)["membership"], "join");
    assert_eq!(member_content(&member)["reason"], "Looking for tea");
}
both_backends!(join_with_reason_records_the_reason);

async fn joining_again_is_harmless(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;

    assert_eq!(bob.join(&room_id).await, room_id);
    assert_eq!(alice.join(&room_id).await, room_id);

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("join"));
    assert_eq!(bob.joined_rooms().await, vec![room_id]);
}
both_backends!(joining_again_is_harmless);

async fn uninvited_user_cannot_join_invite_only_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "private_chat"})).await;

    // "403: The room is invite-only and the user was not invited."
    post_membership(&bob, &room_id, "join", json!({})).await.expect_error(403, "M_FORBIDDEN");
    bob.post(&format!("/join/{}", enc(&room_id)), json!({})).await.expect_error(403, "M_FORBIDDEN");
    assert!(bob.joined_rooms().await.is_empty());
    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await, None);
}
both_backends!(uninvited_user_cannot_join_invite_only_room);

async fn invited_user_can_join_invite_only_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "private_chat"})).await;

    alice.invite(&room_id, &bob.user_id).await;
    assert_eq!(bob.join(&room_id).await, room_id);

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("join"));
    bob.send_message(&room_id, "thanks for the invite").await;
}
both_backends!(invited_user_can_join_invite_only_room);

async fn joining_an_unknown_room_fails(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let unknown = format!("!doesnotexist:{}", hs.server_name());

    // Not a room this server knows and no federation to ask: the spec lists
    // 403 for refused joins; 404 is the usual answer for "no such room".
    let reply = post_membership(&bob, &unknown, "join", json!({})).await;
    assert!(reply.status == 403 || reply.status == 404, "{reply:?}");
    reply.expect_error_in(reply.status, &["M_FORBIDDEN", "M_NOT_FOUND"]);
    let reply = bob.post(&format!("/join/{}", enc(&unknown)), json!({})).await;
    assert!(reply.status == 403 || reply.status == 404, "{reply:?}");
    reply.expect_error_in(reply.status, &["M_FORBIDDEN", "M_NOT_FOUND"]);
    assert!(bob.joined_rooms().await.is_empty());
}
both_backends!(joining_an_unknown_room_fails);

// ----- invite -----

async fn invite_creates_an_invite_membership_with_reason(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    let reply = post_membership(&alice, &room_id, "invite", json!({"user_id": bob.user_id, "reason": "Welcome"})).await;

    reply.expect_ok();
    let state = alice.room_state(&room_id).await;
    let member = find_state(&state, "m.room.member", &bob.user_id).expect("bob's member event");
    assert_eq!(member["content"]["membership"], "invite", "{member:#}");
    assert_eq!(member["content"]["reason"], "Welcome", "{member:#}");
    assert_eq!(member["sender"], alice.user_id.as_str(), "{member:#}");
    assert_eq!(member["state_key"], bob.user_id.as_str(), "{member:#}");
}
both_backends!(invite_creates_an_invite_membership_with_reason);

async fn inviting_an_already_invited_user_succeeds(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    alice.invite(&room_id, &bob.user_id).await;

    // "200: The user has been invited to join the room, or was already
    // invited to the room."
    post_membership(&alice, &room_id, "invite", json!({"user_id": bob.user_id})).await.expect_ok();

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("invite"));
}
both_backends!(inviting_an_already_invited_user_succeeds);

async fn inviting_a_joined_member_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = public_room_with_bob_and_charlie(&hs).await;

    // "403: The invitee is already a member of the room."
    post_membership(&alice, &room_id, "invite", json!({"user_id": bob.user_id})).await.expect_error(403, "M_FORBIDDEN");
    // Including oneself.
    post_membership(&alice, &room_id, "invite", json!({"user_id": alice.user_id}))
        .await
        .expect_error(403, "M_FORBIDDEN");
    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("join"));
    assert_eq!(alice.membership_of(&room_id, &alice.user_id).await.as_deref(), Some("join"));
}
both_backends!(inviting_a_joined_member_is_forbidden);

async fn non_member_cannot_invite(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;

    // "403: The inviter is not currently in the room."
    post_membership(&bob, &room_id, "invite", json!({"user_id": charlie.user_id}))
        .await
        .expect_error(403, "M_FORBIDDEN");
    assert_eq!(alice.membership_of(&room_id, &charlie.user_id).await, None);
}
both_backends!(non_member_cannot_invite);

async fn invite_requires_the_invite_power_level(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id =
        alice.create_room(json!({"preset": "public_chat", "power_level_content_override": {"invite": 50}})).await;
    bob.join(&room_id).await;

    // "403: The inviter's power level is insufficient to invite users".
    post_membership(&bob, &room_id, "invite", json!({"user_id": charlie.user_id}))
        .await
        .expect_error(403, "M_FORBIDDEN");

    alice.invite(&room_id, &charlie.user_id).await;
    assert_eq!(alice.membership_of(&room_id, &charlie.user_id).await.as_deref(), Some("invite"));
}
both_backends!(invite_requires_the_invite_power_level);

async fn invited_user_can_reject_the_invite_by_leaving(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "private_chat"})).await;
    alice.invite(&room_id, &bob.user_id).await;

    // "If the user was invited to the room, but had not joined, this call
    // serves to reject the invite."
    bob.leave(&room_id).await;

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("leave"));
    post_membership(&bob, &room_id, "join", json!({})).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(invited_user_can_reject_the_invite_by_leaving);

// ----- leave -----

async fn leaving_stops_participation(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = public_room_with_bob_and_charlie(&hs).await;

    bob.leave(&room_id).await;

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("leave"));
    assert!(!bob.joined_rooms().await.contains(&room_id));
    let send = bob.send_event_reply(&room_id, "m.room.message", json!({"msgtype": "m.text", "body": "ghost"})).await;
    send.expect_error(403, "M_FORBIDDEN");
    // The room is public: bob may come back.
    assert_eq!(bob.join(&room_id).await, room_id);
}
both_backends!(leaving_stops_participation);

async fn leaving_with_reason_records_the_reason(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = public_room_with_bob_and_charlie(&hs).await;

    post_membership(&bob, &room_id, "leave", json!({"reason": "Saying farewell"})).await.expect_ok();

    let member = alice.state_content(&room_id, "m.room.member", &bob.user_id).await;
    assert_eq!(member["membership"], "leave");
    assert_eq!(member["reason"], "Saying farewell");
}
both_backends!(leaving_with_reason_records_the_reason);

async fn rejoining_an_invite_only_room_needs_a_new_invite(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "private_chat", "invite": [bob.user_id]})).await;
    bob.join(&room_id).await;
    bob.leave(&room_id).await;

    // "If the room requires an invite to join, they will need to be
    // re-invited before they can re-join."
    post_membership(&bob, &room_id, "join", json!({})).await.expect_error(403, "M_FORBIDDEN");
    alice.invite(&room_id, &bob.user_id).await;
    assert_eq!(bob.join(&room_id).await, room_id);
}
both_backends!(rejoining_an_invite_only_room_needs_a_new_invite);

// ----- kick -----

async fn kick_sets_membership_to_leave_with_reason(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = public_room_with_bob_and_charlie(&hs).await;

    let reply =
        post_membership(&alice, &room_id, "kick", json!({"user_id": bob.user_id, "reason": "Unfunny jokes"})).await;

    reply.expect_ok();
    let state = alice.room_state(&room_id).await;
    let member = find_state(&state, "m.room.member", &bob.user_id).expect("bob's member event");
    assert_eq!(member["content"]["membership"], "leave", "{member:#}");
    assert_eq!(member["content"]["reason"], "Unfunny jokes", "{member:#}");
    assert_eq!(member["sender"], alice.user_id.as_str(), "{member:#}");
    let send =
        bob.send_event_reply(&room_id, "m.room.message", json!({"msgtype": "m.text", "body": "still here?"})).await;
    send.expect_error(403, "M_FORBIDDEN");
    assert!(!bob.joined_rooms().await.contains(&room_id));
    // A kick is not a ban: the room is public, bob may join again.
    assert_eq!(bob.join(&room_id).await, room_id);
}
both_backends!(kick_sets_membership_to_leave_with_reason);

async fn kick_requires_the_kick_power_level(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, charlie) = public_room_with_bob_and_charlie(&hs).await;

    // "403: The kicker's power level is insufficient to kick users".
    post_membership(&bob, &room_id, "kick", json!({"user_id": charlie.user_id})).await.expect_error(403, "M_FORBIDDEN");

    assert_eq!(alice.membership_of(&room_id, &charlie.user_id).await.as_deref(), Some("join"));
}
both_backends!(kick_requires_the_kick_power_level);

async fn kick_cannot_target_a_more_powerful_user(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "room_version": "11",
            "power_level_content_override": {"kick": 50, "users": {alice.user_id.clone(): 100, bob.user_id.clone(): 50}},
        }))
        .await;
    bob.join(&room_id).await;

    // Auth rules: a kick needs the target's level below the sender's.
    post_membership(&bob, &room_id, "kick", json!({"user_id": alice.user_id})).await.expect_error(403, "M_FORBIDDEN");

    assert_eq!(bob.membership_of(&room_id, &alice.user_id).await.as_deref(), Some("join"));
}
both_backends!(kick_cannot_target_a_more_powerful_user);

async fn cannot_kick_a_user_who_never_joined(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob, _charlie) = public_room_with_bob_and_charlie(&hs).await;
    let dave = hs.api().register("dave", PASSWORD).await;

    // "403: The kickee is not currently in the room."
    post_membership(&alice, &room_id, "kick", json!({"user_id": dave.user_id})).await.expect_error(403, "M_FORBIDDEN");

    assert_eq!(alice.membership_of(&room_id, &dave.user_id).await, None);
}
both_backends!(cannot_kick_a_user_who_never_joined);

async fn cannot_kick_a_user_who_left(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = public_room_with_bob_and_charlie(&hs).await;
    bob.leave(&room_id).await;

    post_membership(&alice, &room_id, "kick", json!({"user_id": bob.user_id, "reason": "too late"}))
        .await
        .expect_error(403, "M_FORBIDDEN");

    let member = alice.state_content(&room_id, "m.room.member", &bob.user_id).await;
    assert_eq!(member["membership"], "leave");
    assert!(member.get("reason").is_none(), "the refused kick must not replace bob's own leave: {member:#}");
}
both_backends!(cannot_kick_a_user_who_left);

// ----- ban / unban -----

async fn ban_removes_the_user_and_blocks_rejoining(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = public_room_with_bob_and_charlie(&hs).await;

    post_membership(&alice, &room_id, "ban", json!({"user_id": bob.user_id, "reason": "Spam"})).await.expect_ok();

    let member = alice.state_content(&room_id, "m.room.member", &bob.user_id).await;
    assert_eq!(member["membership"], "ban", "{member:#}");
    assert_eq!(member["reason"], "Spam", "{member:#}");
    assert!(!bob.joined_rooms().await.contains(&room_id));
    // "When a user is banned from a room, they may not join it or be invited
    // to it until they are unbanned."
    post_membership(&bob, &room_id, "join", json!({})).await.expect_error(403, "M_FORBIDDEN");
    post_membership(&alice, &room_id, "invite", json!({"user_id": bob.user_id})).await.expect_error(403, "M_FORBIDDEN");
    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("ban"));
}
both_backends!(ban_removes_the_user_and_blocks_rejoining);

async fn banning_a_user_who_never_joined_prevents_their_join(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, _bob, _charlie) = public_room_with_bob_and_charlie(&hs).await;
    let dave = hs.api().register("dave", PASSWORD).await;

    // Only the banner's presence and power are preconditions of a ban.
    post_membership(&alice, &room_id, "ban", json!({"user_id": dave.user_id})).await.expect_ok();

    assert_eq!(alice.membership_of(&room_id, &dave.user_id).await.as_deref(), Some("ban"));
    post_membership(&dave, &room_id, "join", json!({})).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(banning_a_user_who_never_joined_prevents_their_join);

async fn ban_requires_the_ban_power_level(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, charlie) = public_room_with_bob_and_charlie(&hs).await;

    // "403: The banner's power level is insufficient to ban users".
    post_membership(&bob, &room_id, "ban", json!({"user_id": charlie.user_id})).await.expect_error(403, "M_FORBIDDEN");

    assert_eq!(alice.membership_of(&room_id, &charlie.user_id).await.as_deref(), Some("join"));
}
both_backends!(ban_requires_the_ban_power_level);

async fn unban_lets_the_user_join_again(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = public_room_with_bob_and_charlie(&hs).await;
    post_membership(&alice, &room_id, "ban", json!({"user_id": bob.user_id})).await.expect_ok();

    post_membership(&alice, &room_id, "unban", json!({"user_id": bob.user_id, "reason": "Served time"}))
        .await
        .expect_ok();

    let member = alice.state_content(&room_id, "m.room.member", &bob.user_id).await;
    assert_eq!(member["membership"], "leave", "an unban leaves the user at leave: {member:#}");
    assert_eq!(member["reason"], "Served time", "{member:#}");
    assert_eq!(bob.join(&room_id).await, room_id);
}
both_backends!(unban_lets_the_user_join_again);

async fn unban_requires_the_ban_power_level(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, charlie) = public_room_with_bob_and_charlie(&hs).await;
    post_membership(&alice, &room_id, "ban", json!({"user_id": charlie.user_id})).await.expect_ok();

    // "403: The unbanner's power level is insufficient to unban users".
    post_membership(&bob, &room_id, "unban", json!({"user_id": charlie.user_id}))
        .await
        .expect_error(403, "M_FORBIDDEN");

    assert_eq!(alice.membership_of(&room_id, &charlie.user_id).await.as_deref(), Some("ban"));
}
both_backends!(unban_requires_the_ban_power_level);

// ----- forget -----

async fn forget_requires_leaving_first(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, _alice, bob, _charlie) = public_room_with_bob_and_charlie(&hs).await;

    // "400: The user has not left the room".
    let reply = post_membership(&bob, &room_id, "forget", json!({})).await;

    reply.expect_status(400);
    reply.expect_standard_error();
    assert!(bob.joined_rooms().await.contains(&room_id));
}
both_backends!(forget_requires_leaving_first);

async fn forgotten_room_history_is_no_longer_available(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, alice, bob, _charlie) = public_room_with_bob_and_charlie(&hs).await;
    let event_id = alice.send_message(&room_id, "seen before leaving").await;
    bob.leave(&room_id).await;

    post_membership(&bob, &room_id, "forget", json!({})).await.expect_ok();

    // "After this API is called, however, a user will no longer be able to
    // retrieve history for this room."
    let messages = bob.messages(&room_id, "dir=b").await;
    assert!(messages.status == 403 || messages.status == 404, "{messages:?}");
    messages.expect_standard_error();
    let event = bob.get_event(&room_id, &event_id).await;
    assert!(event.status == 403 || event.status == 404, "{event:?}");
    event.expect_standard_error();
    assert!(!bob.joined_rooms().await.contains(&room_id));
}
both_backends!(forgotten_room_history_is_no_longer_available);

async fn forgotten_room_can_be_rejoined_after_a_new_invite(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "private_chat", "invite": [bob.user_id]})).await;
    bob.join(&room_id).await;
    bob.leave(&room_id).await;
    post_membership(&bob, &room_id, "forget", json!({})).await.expect_ok();

    alice.invite(&room_id, &bob.user_id).await;
    assert_eq!(bob.join(&room_id).await, room_id);

    let event_id = alice.send_message(&room_id, "welcome back").await;
    let event = bob.get_event(&room_id, &event_id).await;
    assert_eq!(event.expect_ok()["content"]["body"], "welcome back");
    assert!(bob.joined_rooms().await.contains(&room_id));
}
both_backends!(forgotten_room_can_be_rejoined_after_a_new_invite);
