//! Room members — mirrors Complement's `room_members`, `rooms_members_local`,
//! the joined-members/joined-rooms parts of `apidoc_room_state` and the
//! members half of `room_leave`; spec: client-server API
//! `GET /rooms/{roomId}/members` (with `at`, `membership` / `not_membership`),
//! `GET /rooms/{roomId}/joined_members`, `GET /joined_rooms`.

use std::collections::BTreeSet;

use nexus_complement::{Backend, Homeserver, Session, both_backends, find_state, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// The `state_key`s of the member events in a `/members` answer, asserting
/// that each entry is an `m.room.member` event of the room.
async fn members(viewer: &Session, room_id: &str, query: &str) -> BTreeSet<String> {
    let path = room_path(room_id, "/members");
    let path = if query.is_empty() { path } else { format!("{path}?{query}") };
    let reply = viewer.get(&path).await;
    let chunk = reply.expect_ok()["chunk"].as_array().unwrap_or_else(|| panic!("no chunk array: {reply:?}"));
    chunk
        .iter()
        .map(|event| {
            assert_eq!(event["type"], "m.room.member", "{reply:?}");
            assert_eq!(event["room_id"], room_id, "{reply:?}");
            assert!(event["content"]["membership"].is_string(), "{reply:?}");
            event["state_key"]
                .as_str()
                .unwrap_or_else(|| panic!("a member event without state_key: {reply:?}"))
                .to_owned()
        })
        .collect()
}

fn ids(sessions: &[&Session]) -> BTreeSet<String> {
    sessions.iter().map(|s| s.user_id.clone()).collect()
}

async fn joined_members_lists_joined_users_with_their_room_names(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    alice.invite(&room_id, &charlie.user_id).await;
    // A per-room display name, set on bob's own member event.
    bob.set_state(&room_id, "m.room.member", &bob.user_id, json!({"membership": "join", "displayname": "Bobby"})).await;

    let reply = alice.get(&room_path(&room_id, "/joined_members")).await;

    let joined = reply.expect_ok()["joined"].as_object().unwrap_or_else(|| panic!("no joined map: {reply:?}"));
    let users: BTreeSet<String> = joined.keys().cloned().collect();
    assert_eq!(users, ids(&[&alice, &bob]), "only joined users, not the invited one: {reply:?}");
    assert_eq!(joined[&bob.user_id]["display_name"], "Bobby", "{reply:?}");
    for member in joined.values() {
        assert!(member.is_object(), "{reply:?}");
    }
}
both_backends!(joined_members_lists_joined_users_with_their_room_names);

async fn joined_members_requires_membership(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;

    // "403: You aren't a member of the room."
    bob.get(&room_path(&room_id, "/joined_members")).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(joined_members_requires_membership);

async fn members_lists_every_member_event(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    alice.invite(&room_id, &charlie.user_id).await;

    assert_eq!(members(&bob, &room_id, "").await, ids(&[&alice, &bob, &charlie]));
}
both_backends!(members_lists_every_member_event);

/// A room where alice and bob are joined, charlie invited, dave has left and
/// eve is banned.
async fn room_with_every_membership(hs: &Homeserver) -> (String, [Session; 5]) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let dave = hs.api().register("dave", PASSWORD).await;
    let eve = hs.api().register("eve", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    alice.invite(&room_id, &charlie.user_id).await;
    dave.join(&room_id).await;
    dave.leave(&room_id).await;
    eve.join(&room_id).await;
    alice.post(&room_path(&room_id, "/ban"), json!({"user_id": eve.user_id})).await.expect_ok();
    (room_id, [alice, bob, charlie, dave, eve])
}

async fn members_filters_by_membership(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, [alice, bob, charlie, dave, eve]) = room_with_every_membership(&hs).await;

    assert_eq!(members(&alice, &room_id, "membership=join").await, ids(&[&alice, &bob]));
    assert_eq!(members(&alice, &room_id, "membership=invite").await, ids(&[&charlie]));
    assert_eq!(members(&alice, &room_id, "membership=leave").await, ids(&[&dave]));
    assert_eq!(members(&alice, &room_id, "membership=ban").await, ids(&[&eve]));
}
both_backends!(members_filters_by_membership);

async fn members_filters_by_not_membership(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, [alice, bob, charlie, dave, eve]) = room_with_every_membership(&hs).await;

    assert_eq!(members(&alice, &room_id, "not_membership=join").await, ids(&[&charlie, &dave, &eve]));
    assert_eq!(members(&alice, &room_id, "not_membership=leave").await, ids(&[&alice, &bob, &charlie, &eve]));
    assert_eq!(members(&alice, &room_id, "not_membership=ban").await, ids(&[&alice, &bob, &charlie, &dave]));
}
both_backends!(members_filters_by_not_membership);

async fn members_membership_and_not_membership_combine_as_or(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (room_id, [alice, bob, _charlie, dave, eve]) = room_with_every_membership(&hs).await;

    // "When specified alongside not_membership, the two parameters create an
    // 'or' condition: either the membership is the same as membership or is
    // not the same as not_membership."
    let found = members(&alice, &room_id, "membership=join&not_membership=invite").await;

    assert_eq!(found, ids(&[&alice, &bob, &dave, &eve]));
}
both_backends!(members_membership_and_not_membership_combine_as_or);

async fn members_requires_membership(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;

    // "403: You aren't a member of the room and weren't previously a member".
    bob.get(&room_path(&room_id, "/members")).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(members_requires_membership);

async fn left_member_sees_members_as_of_leaving(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    bob.leave(&room_id).await;

    charlie.join(&room_id).await;

    // "If you have left the room then this will be the members of the room
    // when you left."
    let seen = members(&bob, &room_id, "").await;
    assert_eq!(seen, ids(&[&alice, &bob]));
    assert_eq!(members(&alice, &room_id, "").await, ids(&[&alice, &bob, &charlie]));
}
both_backends!(left_member_sees_members_as_of_leaving);

async fn joined_rooms_tracks_joins_and_leaves(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    assert!(bob.joined_rooms().await.is_empty());
    let public = alice.create_room(json!({"preset": "public_chat"})).await;
    let private = alice.create_room(json!({"preset": "private_chat"})).await;

    alice.invite(&private, &bob.user_id).await;
    assert!(bob.joined_rooms().await.is_empty(), "an invite is not a join");
    bob.join(&public).await;
    bob.join(&private).await;
    let mut joined = bob.joined_rooms().await;
    joined.sort();
    let mut expected = vec![public.clone(), private.clone()];
    expected.sort();
    assert_eq!(joined, expected);

    bob.leave(&public).await;
    assert_eq!(bob.joined_rooms().await, vec![private.clone()]);
    let mut alice_rooms = alice.joined_rooms().await;
    alice_rooms.sort();
    assert_eq!(alice_rooms, expected);
}
both_backends!(joined_rooms_tracks_joins_and_leaves);

async fn joining_member_sees_own_join_event(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;

    bob.join(&room_id).await;

    for viewer in [&alice, &bob] {
        let state = viewer.room_state(&room_id).await;
        let member: &Value = find_state(&state, "m.room.member", &bob.user_id).expect("bob's member event");
        assert_eq!(member["content"]["membership"], "join", "{member:#}");
        assert_eq!(member["sender"], bob.user_id.as_str(), "{member:#}");
    }
    let timeline = bob.paginate_all(&room_id, "b", 10, None).await;
    assert!(
        timeline.iter().any(|e| e["type"] == "m.room.member"
            && e["state_key"] == bob.user_id.as_str()
            && e["content"]["membership"] == "join"),
        "bob's join is in his /messages"
    );
}
both_backends!(joining_member_sees_own_join_event);

/// A `/messages` token for "now": the `start` of a backwards page without
/// `from`, i.e. the point after everything sent so far.
async fn token_for_now(viewer: &Session, room_id: &str) -> String {
    let reply = viewer.messages(room_id, "dir=b&limit=1").await;
    reply.token("start").unwrap_or_else(|| panic!("/messages without start: {reply:?}"))
}

fn memberships(viewer_reply: &nexus_complement::Reply) -> BTreeSet<(String, String)> {
    viewer_reply
        .expect_chunk()
        .iter()
        .map(|e| {
            let user = e["state_key"].as_str().unwrap_or_default().to_owned();
            let membership = e["content"]["membership"].as_str().unwrap_or_default().to_owned();
            (user, membership)
        })
        .collect()
}

fn pairs(list: &[(&Session, &str)]) -> BTreeSet<(String, String)> {
    list.iter().map(|(s, m)| (s.user_id.clone(), (*m).to_owned())).collect()
}

async fn members_at_a_pagination_token_is_the_membership_at_that_point(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let charlie = hs.api().register("charlie", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    alice.send_message(&room_id, "with bob").await;
    let then = token_for_now(&alice, &room_id).await;
    // The `end` of a backwards page of one event sits just before that event.
    let page = alice.messages(&room_id, "dir=b&limit=1").await;
    let before_message = page.token("end").unwrap_or_else(|| panic!("no end: {page:?}"));

    charlie.join(&room_id).await;
    bob.leave(&room_id).await;
    alice.send_message(&room_id, "bob has gone").await;

    // "at: The point in time (pagination token) to return members for in the
    // room."
    let path = room_path(&room_id, "/members");
    let at_then = alice.get(&format!("{path}?at={}", nexus_complement::enc(&then))).await;
    let at_before_message = alice.get(&format!("{path}?at={}", nexus_complement::enc(&before_message))).await;
    let now = alice.get(&path).await;

    let back_then = pairs(&[(&alice, "join"), (&bob, "join")]);
    assert_eq!(memberships(&at_then), back_then, "{at_then:?}");
    assert_eq!(memberships(&at_before_message), back_then, "{at_before_message:?}");
    assert_eq!(memberships(&now), pairs(&[(&alice, "join"), (&bob, "leave"), (&charlie, "join")]), "{now:?}");
    // `at` combines with the membership filters.
    let joined_then = alice.get(&format!("{path}?at={}&membership=join", nexus_complement::enc(&then))).await;
    assert_eq!(memberships(&joined_then), back_then, "{joined_then:?}");
    let left_then = alice.get(&format!("{path}?at={}&membership=leave", nexus_complement::enc(&then))).await;
    assert!(memberships(&left_then).is_empty(), "{left_then:?}");
}
both_backends!(members_at_a_pagination_token_is_the_membership_at_that_point);

/// `joined_members`' `display_name` and `avatar_url` are strings when
/// present and absent otherwise — never `null` (the schema's type is
/// string).
async fn joined_members_leave_out_absent_profile_fields(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    let reply = alice.get(&room_path(&room_id, "/joined_members")).await;

    let me = &reply.expect_ok()["joined"][&alice.user_id];
    assert_eq!(me["display_name"], "alice", "{reply:?}");
    assert!(me.as_object().is_some_and(|m| !m.contains_key("avatar_url")), "no avatar, no key: {reply:?}");
}
both_backends!(joined_members_leave_out_absent_profile_fields);
