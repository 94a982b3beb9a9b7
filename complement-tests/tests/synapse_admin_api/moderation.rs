//! Account moderation (spec v1.18 "Account moderation", and Synapse's
//! `locked` on the user page): a suspended user can read but not send,
//! join, create rooms or change their profile, yet may redact their own
//! events and leave; a locked user gets 401 `M_USER_LOCKED` with
//! `soft_logout` on everything but logout, keeps their token for when
//! the lock is lifted, and cannot log in meanwhile.

use super::*;

fn moderation_path(kind: &str, user: &str) -> String {
    format!("/_matrix/client/v1/admin/{kind}/{}", enc(user))
}

async fn suspended_users_read_but_do_not_act(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let room = bob.create_room(json!({"preset": "public_chat"})).await;
    let other = bob.create_room(json!({"preset": "public_chat"})).await;
    alice.join(&room).await;
    let earlier = alice.send_message(&room, "before the suspension").await;

    // Only admins see the capability and may moderate.
    let caps = root.get("/capabilities").await;
    assert_eq!(caps.expect_ok()["capabilities"]["m.account_moderation"], json!({"suspend": true, "lock": true}));
    let caps = alice.get("/capabilities").await;
    assert!(caps.expect_ok()["capabilities"].get("m.account_moderation").is_none(), "{caps:?}");
    let refused = alice.put(&moderation_path("suspend", &bob.user_id), json!({"suspended": true})).await;
    refused.expect_error(403, "M_FORBIDDEN");

    let suspend = moderation_path("suspend", &alice.user_id);
    assert_eq!(root.get(&suspend).await.expect_ok().clone(), json!({"suspended": false}));
    let done = root.put(&suspend, json!({"suspended": true})).await;
    assert_eq!(done.expect_ok().clone(), json!({"suspended": true}));
    assert_eq!(root.get(&suspend).await.expect_ok().clone(), json!({"suspended": true}));
    let page = root.get(&user_path(&alice.user_id)).await;
    assert_eq!(page.expect_ok()["suspended"], true);

    // Reading still works.
    alice.sync_reply("timeout=0").await.expect_ok();
    let history = alice.messages(&room, "dir=b&limit=10").await;
    assert!(history.expect_chunk().iter().any(|e| e["event_id"] == earlier.as_str()));
    // Acting does not.
    let sent = alice.send_event_reply(&room, "m.room.message", json!({"msgtype": "m.text", "body": "hi"})).await;
    sent.expect_error(403, "M_USER_SUSPENDED");
    let joined = alice.post(&format!("/join/{}", enc(&other)), json!({})).await;
    joined.expect_error(403, "M_USER_SUSPENDED");
    let created = alice.post("/createRoom", json!({})).await;
    created.expect_error(403, "M_USER_SUSPENDED");
    let renamed =
        alice.put(&format!("/profile/{}/displayname", enc(&alice.user_id)), json!({"displayname": "A"})).await;
    renamed.expect_error(403, "M_USER_SUSPENDED");
    let invited = alice.post(&format!("/rooms/{}/invite", enc(&room)), json!({"user_id": root.user_id})).await;
    invited.expect_error(403, "M_USER_SUSPENDED");
    // But a suspended user may take back their own words, and leave.
    alice.redact(&room, &earlier, json!({"reason": "mine"})).await.expect_ok();
    alice.leave(&room).await;

    // Admins are never suspended or locked; other servers' users and
    // unknown users are not this server's to moderate.
    let admin_target = root.put(&moderation_path("suspend", &root.user_id), json!({"suspended": true})).await;
    admin_target.expect_error(403, "M_FORBIDDEN");
    let remote = root.put(&moderation_path("lock", "@someone:elsewhere.example"), json!({"locked": true})).await;
    remote.expect_error(400, "M_INVALID_PARAM");
    let unknown = root.get(&moderation_path("lock", &hs.user_id("nobody"))).await;
    unknown.expect_error(404, "M_NOT_FOUND");
    let missing = root.put(&suspend, json!({})).await;
    assert_eq!(missing.status, 400, "{missing:?}");
    let not_bool = root.put(&suspend, json!({"suspended": "yes"})).await;
    not_bool.expect_error(400, "M_BAD_JSON");

    // Lifted: the user acts again.
    root.put(&suspend, json!({"suspended": false})).await.expect_ok();
    alice.join(&room).await;
    alice.send_message(&room, "back").await;
}
both_backends!(suspended_users_read_but_do_not_act);

async fn locked_users_are_refused_until_unlocked(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let bob = api.register("bob", PASSWORD).await;
    api.register("carol", PASSWORD).await;

    // synapse-admin's lock switch: the user page's save with `locked`.
    let saved = root.put(&user_path(&bob.user_id), json!({"locked": true, "displayname": "bob"})).await;
    assert_eq!(saved.expect_ok()["locked"], true);
    let locked = bob.whoami().await;
    locked.expect_error(401, "M_USER_LOCKED");
    assert_eq!(locked.json["soft_logout"], true, "{locked:?}");
    let login = api
        .login_with(json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bob"}, "password": PASSWORD}))
        .await;
    login.expect_error(401, "M_USER_LOCKED");
    assert_eq!(root.get(&moderation_path("lock", &bob.user_id)).await.expect_ok().clone(), json!({"locked": true}));

    // The users list leaves locked users out unless asked for.
    let default = root.get("/_synapse/admin/v2/users").await;
    assert_eq!(default.expect_ok()["total"], 2, "{default:?}");
    let with_locked = root.get("/_synapse/admin/v2/users?locked=true").await;
    let with_locked = with_locked.expect_ok().clone();
    assert_eq!(with_locked["total"], 3, "{with_locked}");
    let listed = with_locked["users"].as_array().unwrap().iter().find(|u| u["name"] == bob.user_id.as_str());
    assert_eq!(listed.unwrap()["locked"], true);

    // Lifted through the spec's endpoint: the same token works again.
    let unlocked = root.put(&moderation_path("lock", &bob.user_id), json!({"locked": false})).await;
    assert_eq!(unlocked.expect_ok().clone(), json!({"locked": false}));
    bob.expect_token_valid().await;

    // Locked again, the user may still log out.
    root.put(&moderation_path("lock", &bob.user_id), json!({"locked": true})).await.expect_ok();
    bob.post("/logout", json!({})).await.expect_ok();
    let deactivated_and_locked =
        root.put(&user_path(&hs.user_id("carol")), json!({"locked": true, "deactivated": true})).await;
    assert_eq!(deactivated_and_locked.status, 400, "{deactivated_and_locked:?}");
}
both_backends!(locked_users_are_refused_until_unlocked);

/// synapse-admin's suspend switch: Synapse's own endpoint and answer.
async fn synapse_suspend_switch(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let path = format!("/_synapse/admin/v1/suspend/{}", enc(&alice.user_id));
    let done = root.put(&path, json!({"suspend": true})).await;
    assert_eq!(done.expect_ok().clone(), json!({ format!("user_{}_suspended", alice.user_id): true }));
    let page = root.get(&user_path(&alice.user_id)).await;
    assert_eq!(page.expect_ok()["suspended"], true);
    let created = alice.post("/createRoom", json!({})).await;
    created.expect_error(403, "M_USER_SUSPENDED");
    root.put(&path, json!({"suspend": false})).await.expect_ok();
    alice.create_room(json!({})).await;
    let missing = root.put(&path, json!({})).await;
    missing.expect_error(400, "M_MISSING_PARAM");
    let remote = root.put("/_synapse/admin/v1/suspend/%40x%3Aelsewhere.example", json!({"suspend": true})).await;
    assert_eq!(remote.status, 400, "{remote:?}");
    let unknown =
        root.put(&format!("/_synapse/admin/v1/suspend/{}", enc(&hs.user_id("nobody"))), json!({"suspend": true})).await;
    unknown.expect_error(404, "M_NOT_FOUND");
    let refused = alice.put(&path, json!({"suspend": true})).await;
    refused.expect_error(403, "M_FORBIDDEN");
}
both_backends!(synapse_suspend_switch);
