//! Knocking and restricted joins — the single-server parts of Complement's
//! `knocking`, `knock_restricted` and `restricted_rooms`; spec:
//! client-server API "Knocking on rooms" (`POST /knock/{roomIdOrAlias}`),
//! "Restricted rooms" (`m.room_membership` allow conditions), the join rules
//! `knock`, `restricted` and `knock_restricted` of `m.room.join_rules`, and
//! `join_authorised_via_users_server` of `m.room.member`.

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

async fn knock(actor: &Session, room_id_or_alias: &str, body: Value) -> Reply {
    actor.post(&format!("/knock/{}", enc(room_id_or_alias)), body).await
}

/// Knocks and asserts "The knocked room ID must be returned in the room_id
/// field."
async fn knocked(actor: &Session, room_id_or_alias: &str, room_id: &str) {
    let reply = knock(actor, room_id_or_alias, json!({"reason": "Looking for support"})).await;
    assert_eq!(reply.expect_ok()["room_id"], room_id, "{reply:?}");
}

/// A room of `version` by alice with this join rule (and allow list).
async fn room_with_join_rule(alice: &Session, version: &str, join_rules: Value) -> String {
    alice
        .create_room(json!({
            "room_version": version,
            "preset": "private_chat",
            "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": join_rules}],
        }))
        .await
}

async fn join_reply(actor: &Session, room_id: &str) -> Reply {
    actor.post(&format!("/join/{}", enc(room_id)), json!({})).await
}

// ----- knocking -----

async fn knocking_on_a_knock_room_is_seen_by_the_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    for version in ["7", "12"] {
        let room_id = room_with_join_rule(&alice, version, json!({"join_rule": "knock"})).await;

        knocked(&bob, &room_id, &room_id).await;

        // "Optional reason to be included as the reason on the subsequent
        // membership event."
        let member = alice.state_content(&room_id, "m.room.member", &bob.user_id).await;
        assert_eq!(member["membership"], "knock", "v{version}: {member:#}");
        assert_eq!(member["reason"], "Looking for support", "v{version}: {member:#}");
        let members = alice.get(&format!("{}?membership=knock", room_path(&room_id, "/members"))).await;
        let chunk = members.expect_chunk();
        assert_eq!(chunk.len(), 1, "v{version}: {members:?}");
        assert_eq!(chunk[0]["state_key"], bob.user_id.as_str(), "v{version}: {members:?}");
        // A knock is not a join.
        assert!(!bob.joined_rooms().await.contains(&room_id));
        let reply = bob.send_event_reply(&room_id, "m.room.message", json!({"msgtype": "m.text", "body": "hi"})).await;
        reply.expect_error(403, "M_FORBIDDEN");
    }
}
both_backends!(knocking_on_a_knock_room_is_seen_by_the_room);

async fn knocking_by_alias(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "private_chat",
            "room_alias_name": "knockknock",
            "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}],
        }))
        .await;

    // "Note that this API takes either a room ID or alias".
    knocked(&bob, &format!("#knockknock:{}", hs.server_name()), &room_id).await;

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("knock"));
    // "404: The room could not be found or resolved to a room ID."
    knock(&bob, &format!("#nowhere:{}", hs.server_name()), json!({})).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(knocking_by_alias);

async fn knock_accepted_by_invite_then_joined(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = room_with_join_rule(&alice, "12", json!({"join_rule": "knock"})).await;
    knocked(&bob, &room_id, &room_id).await;

    // "Users with appropriate permissions within the room can then approve
    // (/invite) ... the knock."
    alice.invite(&room_id, &bob.user_id).await;
    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("invite"));
    bob.join(&room_id).await;

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("join"));
}
both_backends!(knock_accepted_by_invite_then_joined);

async fn knock_rejected_by_kick_or_retracted_by_leave(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = room_with_join_rule(&alice, "12", json!({"join_rule": "knock"})).await;
    knocked(&bob, &room_id, &room_id).await;
    knocked(&charlie, &room_id, &room_id).await;

    // "deny (/kick, ...) the knock"; "Knocks can be retracted by calling
    // /leave".
    alice.post(&room_path(&room_id, "/kick"), json!({"user_id": bob.user_id})).await.expect_ok();
    charlie.leave(&room_id).await;

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("leave"));
    assert_eq!(alice.membership_of(&room_id, &charlie.user_id).await.as_deref(), Some("leave"));
    // Knocking again after a rejection is allowed by the join rule.
    knocked(&bob, &room_id, &room_id).await;
    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("knock"));
}
both_backends!(knock_rejected_by_kick_or_retracted_by_leave);

async fn knocking_on_an_invite_only_room_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "private_chat"})).await;

    // "403: ... The room is not set up for knocking."
    knock(&bob, &room_id, json!({})).await.expect_error(403, "M_FORBIDDEN");

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await, None);
}
both_backends!(knocking_on_an_invite_only_room_is_forbidden);

async fn knocking_in_a_room_version_without_knocking_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    // Knocking arrived in room version 7: before it, `knock` is not a join
    // rule the authorisation rules know.
    // A server may refuse to create such a room at all.
    let created = alice
        .post(
            "/createRoom",
            json!({
                "room_version": "6",
                "preset": "private_chat",
                "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "knock"}}],
            }),
        )
        .await;
    if created.status != 200 {
        created.expect_status(400);
        created.expect_standard_error();
        return;
    }
    let room_id = created.json["room_id"].as_str().expect("a room_id").to_owned();

    knock(&bob, &room_id, json!({})).await.expect_error(403, "M_FORBIDDEN");

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await, None);
}
both_backends!(knocking_in_a_room_version_without_knocking_is_forbidden);

async fn members_invitees_and_banned_users_cannot_knock(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = room_with_join_rule(&alice, "12", json!({"join_rule": "knock"})).await;
    alice.invite(&room_id, &bob.user_id).await;
    alice.post(&room_path(&room_id, "/ban"), json!({"user_id": charlie.user_id})).await.expect_ok();

    // "Users who are currently in the room, already invited, or banned
    // cannot knock on the room."
    for (who, membership) in [(&alice, "join"), (&bob, "invite"), (&charlie, "ban")] {
        knock(who, &room_id, json!({})).await.expect_error(403, "M_FORBIDDEN");
        assert_eq!(alice.membership_of(&room_id, &who.user_id).await.as_deref(), Some(membership));
    }
}
both_backends!(members_invitees_and_banned_users_cannot_knock);

async fn knocking_user_cannot_join_without_an_invite(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = room_with_join_rule(&alice, "12", json!({"join_rule": "knock"})).await;
    knocked(&bob, &room_id, &room_id).await;

    // `knock` is not `public`: the join needs the invite that accepts it.
    join_reply(&bob, &room_id).await.expect_error(403, "M_FORBIDDEN");

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("knock"));
}
both_backends!(knocking_user_cannot_join_without_an_invite);

// ----- restricted rooms -----

/// Alice's public room `allowed`, and her room of `version` with `join_rule`
/// allowing its members in.
async fn restricted_pair(alice: &Session, version: &str, join_rule: &str) -> (String, String) {
    let allowed = alice.create_room(json!({"preset": "public_chat", "name": "the lobby"})).await;
    let restricted = room_with_join_rule(
        alice,
        version,
        json!({"join_rule": join_rule, "allow": [{"type": "m.room_membership", "room_id": allowed}]}),
    )
    .await;
    (allowed, restricted)
}

async fn restricted_join_by_a_member_of_an_allowed_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    for version in ["8", "12"] {
        let (allowed, restricted) = restricted_pair(&alice, version, "restricted").await;
        bob.join(&allowed).await;

        // "This room can be joined if you ... are a member of another room
        // listed in the join rules."
        assert_eq!(bob.join(&restricted).await, restricted);

        let member = alice.state_content(&restricted, "m.room.member", &bob.user_id).await;
        assert_eq!(member["membership"], "join", "v{version}: {member:#}");
        // "this field is used to denote which homeserver (through
        // representation of a user with sufficient power level) authorised
        // the user's join": here only alice can invite.
        assert_eq!(member["join_authorised_via_users_server"], alice.user_id.as_str(), "v{version}: {member:#}");
    }
}
both_backends!(restricted_join_by_a_member_of_an_allowed_room);

async fn restricted_join_by_others_is_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let (allowed, restricted) = restricted_pair(&alice, "12", "restricted").await;
    // Charlie only *was* a member; bob is merely invited to the allowed room.
    charlie.join(&allowed).await;
    charlie.leave(&allowed).await;
    alice.invite(&allowed, &bob.user_id).await;

    // "If no conditions can be verified or no conditions are satisfied, the
    // user will not be able to join." — the condition is being *joined*.
    for outsider in [&bob, &charlie] {
        join_reply(outsider, &restricted).await.expect_error(403, "M_FORBIDDEN");
        assert_eq!(alice.membership_of(&restricted, &outsider.user_id).await, None);
    }
    // Restricted is not knockable.
    knock(&bob, &restricted, json!({})).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(restricted_join_by_others_is_forbidden);

async fn restricted_join_with_an_invite_needs_no_condition(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let (_allowed, restricted) = restricted_pair(&alice, "12", "restricted").await;

    // "If the user has an invite to the room then the restrictions will not
    // affect them."
    alice.invite(&restricted, &bob.user_id).await;
    bob.join(&restricted).await;

    assert_eq!(alice.membership_of(&restricted, &bob.user_id).await.as_deref(), Some("join"));
}
both_backends!(restricted_join_with_an_invite_needs_no_condition);

async fn restricted_membership_need_not_be_kept(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let (allowed, restricted) = restricted_pair(&alice, "12", "restricted").await;
    bob.join(&allowed).await;
    bob.join(&restricted).await;

    bob.leave(&allowed).await;

    // "The user does not need to maintain the conditions in order to stay a
    // member of the room".
    assert_eq!(alice.membership_of(&restricted, &bob.user_id).await.as_deref(), Some("join"));
    bob.send_message(&restricted, "still here").await;
    // ...but they are checked again on the next join.
    bob.leave(&restricted).await;
    join_reply(&bob, &restricted).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(restricted_membership_need_not_be_kept);

async fn knock_restricted_room_allows_both_knocking_and_restricted_joins(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let (allowed, room_id) = restricted_pair(&alice, "10", "knock_restricted").await;
    bob.join(&allowed).await;

    // "This room can be joined as though it was restricted or knock."
    assert_eq!(bob.join(&room_id).await, room_id);
    join_reply(&charlie, &room_id).await.expect_error(403, "M_FORBIDDEN");
    knocked(&charlie, &room_id, &room_id).await;

    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("join"));
    assert_eq!(alice.membership_of(&room_id, &charlie.user_id).await.as_deref(), Some("knock"));
}
both_backends!(knock_restricted_room_allows_both_knocking_and_restricted_joins);
