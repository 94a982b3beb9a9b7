//! Client-server endpoints that used to answer `M_UNRECOGNIZED`: a room's
//! aliases, room summaries (MSC3266), mutual rooms, TURN credentials,
//! user reports, login tokens (`m.login.token` and `login/get_token`),
//! third-party lookups with no bridges, and 3PID removal on a server that
//! has no 3PIDs.

use nexus_complement::{Backend, Homeserver, Method, both_backends, enc, room_path};
use serde_json::json;

const PASSWORD: &str = "sUp3r-secret";

async fn a_rooms_aliases_are_listed_for_members_only(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let eve = api.register("eve", PASSWORD).await;
    let room_id = alice.create_room(json!({"room_alias_name": "first"})).await;
    let second = format!("#second:{}", hs.server_name());
    alice.put(&format!("/directory/room/{}", enc(&second)), json!({"room_id": room_id})).await.expect_ok();

    let reply = alice.get(&room_path(&room_id, "/aliases")).await;
    let mut aliases: Vec<String> =
        reply.expect_ok()["aliases"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect();
    aliases.sort();
    assert_eq!(aliases, vec![format!("#first:{}", hs.server_name()), second], "{reply:?}");
    eve.get(&room_path(&room_id, "/aliases")).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(a_rooms_aliases_are_listed_for_members_only);

async fn room_summaries_show_public_rooms_and_hide_private_ones(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let public = alice
        .create_room(json!({"preset": "public_chat", "name": "Lobby", "topic": "say hi", "room_alias_name": "lobby"}))
        .await;
    let private = alice.create_room(json!({"preset": "private_chat", "name": "Secret"})).await;

    let by_alias =
        bob.get(&format!("/_matrix/client/v1/room_summary/{}", enc(&format!("#lobby:{}", hs.server_name())))).await;
    let summary = by_alias.expect_ok();
    assert_eq!(summary["room_id"], public.as_str(), "{by_alias:?}");
    assert_eq!(summary["name"], "Lobby");
    assert_eq!(summary["topic"], "say hi");
    assert_eq!(summary["join_rule"], "public");
    assert_eq!(summary["num_joined_members"], 1);
    assert!(summary.get("membership").is_none(), "bob has no membership: {by_alias:?}");

    // A private room is not there for a stranger, and is for its member.
    let hidden = bob.get(&format!("/_matrix/client/v1/room_summary/{}", enc(&private))).await;
    hidden.expect_error(404, "M_NOT_FOUND");
    let own = alice.get(&format!("/_matrix/client/v1/room_summary/{}", enc(&private))).await;
    assert_eq!(own.expect_ok()["membership"], "join", "{own:?}");
    assert_eq!(own.json["name"], "Secret");
}
both_backends!(room_summaries_show_public_rooms_and_hide_private_ones);

async fn mutual_rooms_are_the_rooms_both_users_joined(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let shared = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&shared).await;
    alice.create_room(json!({"preset": "public_chat"})).await;

    let reply = alice.get(&format!("/_matrix/client/v1/mutual_rooms?user_id={}", enc(&bob.user_id))).await;
    assert_eq!(reply.expect_ok()["joined"], json!([shared]), "{reply:?}");
    assert_eq!(reply.json["count"], 1, "{reply:?}");
}
both_backends!(mutual_rooms_are_the_rooms_both_users_joined);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_credentials_follow_the_shared_secret_scheme() {
    let unconfigured = Homeserver::start(Backend::RocksDb).await;
    let alice = unconfigured.api().register("alice", PASSWORD).await;
    alice.get("/voip/turnServer").await.expect_error(404, "M_NOT_FOUND");

    let hs = Homeserver::builder(Backend::RocksDb)
        .env("NEXUS__TURN__URIS", "[\"turn:turn.example.org:3478?transport=udp\"]")
        .env("NEXUS__TURN__SHARED_SECRET", "s3cret")
        .env("NEXUS__TURN__TTL_SECS", "600")
        .start()
        .await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let reply = alice.get("/voip/turnServer").await;
    let body = reply.expect_ok();
    assert_eq!(body["uris"], json!(["turn:turn.example.org:3478?transport=udp"]));
    assert_eq!(body["ttl"], 600);
    let username = body["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, alice.user_id);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expiry: u64 = expiry.parse().unwrap();
    assert!(expiry > now && expiry <= now + 601, "{username}");
    assert_eq!(body["password"].as_str().unwrap().len(), 28, "base64 of an HMAC-SHA1: {body}");
}

async fn users_can_be_reported(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    alice.post(&format!("/users/{}/report", enc(&bob.user_id)), json!({"reason": "spam"})).await.expect_ok();
    alice.post(&format!("/users/{}/report", enc(&bob.user_id)), json!({})).await.expect_error(400, "M_MISSING_PARAM");
}
both_backends!(users_can_be_reported);

async fn a_login_token_signs_in_another_device_once(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let flows = api.get("/login").await;
    let token_flow =
        flows.expect_ok()["flows"].as_array().unwrap().iter().find(|f| f["type"] == "m.login.token").cloned();
    assert_eq!(token_flow.expect("m.login.token is offered")["get_login_token"], true);

    // Behind user-interactive auth with the password.
    let reply = alice.with_password_uia(Method::POST, "/_matrix/client/v1/login/get_token", json!({})).await;
    let body = reply.expect_ok();
    let token = body["login_token"].as_str().unwrap().to_owned();
    assert!(body["expires_in_ms"].as_u64().unwrap() > 0);

    let login = api.login_with(json!({"type": "m.login.token", "token": token})).await;
    assert_eq!(login.expect_ok()["user_id"], alice.user_id.as_str(), "{login:?}");
    assert_ne!(login.json["device_id"], alice.device_id.as_str(), "a new device");
    // Once only.
    api.login_with(json!({"type": "m.login.token", "token": token})).await.expect_error(403, "M_FORBIDDEN");
    api.login_with(json!({"type": "m.login.token", "token": "nxl_made-up"})).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(a_login_token_signs_in_another_device_once);

async fn third_party_lookups_find_nothing_without_bridges(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    assert_eq!(alice.get("/thirdparty/protocols").await.expect_ok(), &json!({}));
    alice.get("/thirdparty/protocol/irc").await.expect_error(404, "M_NOT_FOUND");
    alice.get("/thirdparty/location/irc?searchFields=x").await.expect_error(404, "M_NOT_FOUND");
    alice.get("/thirdparty/user/irc").await.expect_error(404, "M_NOT_FOUND");
    assert_eq!(alice.get("/thirdparty/location?alias=%23a%3Ab").await.expect_status(200), &json!([]));
    assert_eq!(alice.get("/thirdparty/user?userid=%40a%3Ab").await.expect_status(200), &json!([]));
    let removed = alice.post("/account/3pid/delete", json!({"medium": "email", "address": "a@example.org"})).await;
    assert_eq!(removed.expect_ok()["id_server_unbind_result"], "no-support");
}
both_backends!(third_party_lookups_find_nothing_without_bridges);

/// The user directory finds people the searcher shares a room with and
/// members of public rooms, by any word of their display name or their
/// user id, best match first; a stranger in a private room stays hidden.
async fn the_user_directory_finds_shared_and_public_members_only(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let carol = api.register("carol", PASSWORD).await;
    let dave = api.register("dave", PASSWORD).await;
    for (who, name) in [(&bob, "Bob Marley"), (&carol, "Carol Marley"), (&dave, "Dave Marley")] {
        who.put(&format!("/profile/{}/displayname", enc(&who.user_id)), json!({"displayname": name})).await.expect_ok();
    }
    // Alice shares a private room with Bob; Carol is in a public room;
    // Dave only in a private room of his own.
    let private = alice.create_room(json!({"preset": "private_chat", "invite": [bob.user_id]})).await;
    bob.join(&private).await;
    carol.create_room(json!({"preset": "public_chat"})).await;
    dave.create_room(json!({"preset": "private_chat"})).await;

    let search = |term: &str| alice.post("/user_directory/search", json!({"search_term": term}));
    let reply = search("marley").await;
    let found: Vec<&str> =
        reply.expect_ok()["results"].as_array().unwrap().iter().map(|r| r["user_id"].as_str().unwrap()).collect();
    assert!(found.contains(&bob.user_id.as_str()) && found.contains(&carol.user_id.as_str()), "{reply:?}");
    assert!(!found.contains(&dave.user_id.as_str()), "a stranger in a private room is hidden: {reply:?}");
    assert_eq!(reply.json["limited"], false);

    // By a word of the name, by user id, best match first, with the name.
    let reply = search("bob").await;
    let first = &reply.expect_ok()["results"][0];
    assert_eq!(first["user_id"], bob.user_id.as_str(), "{reply:?}");
    assert_eq!(first["display_name"], "Bob Marley");
    let by_id = search(&format!("carol:{}", hs.server_name().split(':').next().unwrap())).await;
    assert_eq!(by_id.expect_ok()["results"][0]["user_id"], carol.user_id.as_str(), "{by_id:?}");

    // A limit of one says there were more.
    let limited = alice.post("/user_directory/search", json!({"search_term": "marley", "limit": 1})).await;
    assert_eq!(limited.expect_ok()["results"].as_array().unwrap().len(), 1);
    assert_eq!(limited.json["limited"], true, "{limited:?}");

    // A new name is found at once, the old one no more.
    bob.put(&format!("/profile/{}/displayname", enc(&bob.user_id)), json!({"displayname": "Robert"})).await.expect_ok();
    let reply = search("robert").await;
    assert_eq!(reply.expect_ok()["results"][0]["user_id"], bob.user_id.as_str(), "{reply:?}");
    let stale = search("bob marley").await;
    assert!(
        stale.expect_ok()["results"].as_array().unwrap().iter().all(|r| r["user_id"] != bob.user_id.as_str()),
        "{stale:?}"
    );
}
both_backends!(the_user_directory_finds_shared_and_public_members_only);

/// `GET /admin/whois/{userId}`: a user sees their own devices and where they
/// were last seen; others' are for admins only (403 here: no admins yet).
async fn whois_shows_a_users_own_sessions(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    alice.whoami().await.expect_ok();

    let reply = alice.get(&format!("/admin/whois/{}", enc(&alice.user_id))).await;
    let body = reply.expect_ok();
    assert_eq!(body["user_id"], alice.user_id.as_str());
    let sessions = &body["devices"][&alice.device_id]["sessions"];
    assert!(sessions.as_array().is_some_and(|s| !s.is_empty()), "{reply:?}");
    alice.get(&format!("/admin/whois/{}", enc(&bob.user_id))).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(whois_shows_a_users_own_sessions);
