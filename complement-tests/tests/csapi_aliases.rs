//! Room aliases from createRoom — mirrors the resolution and join parts of
//! Complement's `apidoc_room_alias` and `apidoc_room_members` (join by
//! alias); spec: client-server API `POST /createRoom` (`room_alias_name`,
//! `M_ROOM_IN_USE`), "Room aliases" (`GET /directory/room/{roomAlias}`),
//! `POST /join/{roomIdOrAlias}`.

use nexus_complement::{Backend, Homeserver, both_backends, enc};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

fn directory_path(alias: &str) -> String {
    format!("/directory/room/{}", enc(alias))
}

async fn room_alias_name_creates_a_resolvable_canonical_alias(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let alias = format!("#thepub:{}", hs.server_name());

    let room_id = alice.create_room(json!({"preset": "public_chat", "room_alias_name": "thepub"})).await;

    // "The complete room alias will become the canonical alias for the room
    // and an m.room.canonical_alias event will be sent into the room."
    let canonical = alice.state_content(&room_id, "m.room.canonical_alias", "").await;
    assert_eq!(canonical["alias"], alias.as_str(), "{canonical:#}");
    let reply = alice.get(&directory_path(&alias)).await;
    let body = reply.expect_ok();
    assert_eq!(body["room_id"], room_id.as_str(), "{reply:?}");
    if let Some(servers) = body.get("servers") {
        let servers = servers.as_array().unwrap_or_else(|| panic!("servers is not an array: {reply:?}"));
        assert!(servers.iter().any(|s| s == hs.server_name().as_str()), "{reply:?}");
    }
}
both_backends!(room_alias_name_creates_a_resolvable_canonical_alias);

async fn alias_resolution_needs_no_membership_or_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let alias = format!("#lobby:{}", hs.server_name());
    let room_id = alice.create_room(json!({"room_alias_name": "lobby"})).await;

    // GET /directory/room/{roomAlias} has no security requirement.
    let by_bob = bob.get(&directory_path(&alias)).await;
    let anonymous = hs.api().get(&directory_path(&alias)).await;

    assert_eq!(by_bob.expect_ok()["room_id"], room_id.as_str(), "{by_bob:?}");
    assert_eq!(anonymous.expect_ok()["room_id"], room_id.as_str(), "{anonymous:?}");
}
both_backends!(alias_resolution_needs_no_membership_or_token);

async fn room_alias_name_already_taken_is_room_in_use(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let alias = format!("#taken:{}", hs.server_name());
    let room_id = alice.create_room(json!({"room_alias_name": "taken"})).await;

    // "The room alias specified is already taken (errcode set to
    // M_ROOM_IN_USE)."
    bob.post("/createRoom", json!({"room_alias_name": "taken"})).await.expect_error(400, "M_ROOM_IN_USE");
    alice.post("/createRoom", json!({"room_alias_name": "taken"})).await.expect_error(400, "M_ROOM_IN_USE");

    assert_eq!(bob.get(&directory_path(&alias)).await.expect_ok()["room_id"], room_id.as_str());
    assert!(bob.joined_rooms().await.is_empty(), "the refused createRoom left a room behind");
}
both_backends!(room_alias_name_already_taken_is_room_in_use);

async fn unknown_alias_is_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    // "404: There is no mapped room ID for this room alias."
    alice.get(&directory_path(&format!("#nowhere:{}", hs.server_name()))).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(unknown_alias_is_not_found);

async fn invalid_alias_is_bad_request(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;

    // "400: The given roomAlias is not a valid room alias."
    for alias in ["nosigil", "#no-domain", "!room:example.org"] {
        alice.get(&directory_path(alias)).await.expect_error(400, "M_INVALID_PARAM");
    }
}
both_backends!(invalid_alias_is_bad_request);

async fn join_by_alias(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let alias = format!("#openroom:{}", hs.server_name());
    let room_id = alice.create_room(json!({"preset": "public_chat", "room_alias_name": "openroom"})).await;

    let reply = bob.post(&format!("/join/{}", enc(&alias)), json!({})).await;

    // "The joined room ID must be returned in the room_id field."
    assert_eq!(reply.expect_ok()["room_id"], room_id.as_str(), "{reply:?}");
    assert_eq!(alice.membership_of(&room_id, &bob.user_id).await.as_deref(), Some("join"));
    assert!(bob.joined_rooms().await.contains(&room_id));
}
both_backends!(join_by_alias);

async fn join_by_unknown_alias_fails(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let bob = hs.api().register("bob", PASSWORD).await;

    let reply = bob.post(&format!("/join/{}", enc(&format!("#nowhere:{}", hs.server_name()))), json!({})).await;

    assert!(reply.status == 404 || reply.status == 403, "{reply:?}");
    reply.expect_error_in(reply.status, &["M_NOT_FOUND", "M_FORBIDDEN"]);
    assert!(bob.joined_rooms().await.is_empty());
}
both_backends!(join_by_unknown_alias_fails);

/// Spec: `PUT /directory/room/{roomAlias}` — "409: A room alias with that
/// name already exists."
async fn putting_an_alias_that_exists_is_a_conflict(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let first = alice.create_room(json!({})).await;
    let second = alice.create_room(json!({})).await;
    let alias = format!("#taken:{}", hs.server_name());
    alice.put(&directory_path(&alias), json!({"room_id": first})).await.expect_ok();

    let again = alice.put(&directory_path(&alias), json!({"room_id": second})).await;

    assert_eq!(again.status, 409, "{again:?}");
    again.expect_standard_error();
    let resolved = alice.get(&directory_path(&alias)).await;
    assert_eq!(resolved.expect_ok()["room_id"], first.as_str(), "the first mapping stands: {resolved:?}");
}
both_backends!(putting_an_alias_that_exists_is_a_conflict);
