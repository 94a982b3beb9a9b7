//! synapse-admin's user actions: log in as the user (a session of its own
//! the user can see), their account data, shadow-banning (what they send is
//! answered as sent and reaches nobody), and the create form's username
//! check.

use super::*;

async fn user_actions(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let carol = api.register("carol", PASSWORD).await;
    let login = |user: &str| format!("/_synapse/admin/v1/users/{}/login", enc(user));

    // Log in as alice: the token is hers; she sees the session in her list.
    let token = root.post(&login(&alice.user_id), json!({})).await;
    let token = token.expect_ok()["access_token"].as_str().unwrap().to_owned();
    let whoami = api.get_as(&token, "/account/whoami").await;
    assert_eq!(whoami.expect_ok()["user_id"], alice.user_id.as_str());
    let devices = alice.get("/devices").await;
    let names: Vec<String> = devices.expect_ok()["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["display_name"].as_str().map(str::to_owned))
        .collect();
    assert!(names.iter().any(|n| n == &format!("Admin login by {}", root.user_id)), "{names:?}");
    let expired = root.post(&login(&alice.user_id), json!({"valid_until_ms": 1})).await;
    let expired = expired.expect_ok()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(api.get_as(&expired, "/account/whoami").await.status, 401);
    root.post(&login(&root.user_id), json!({})).await.expect_error(400, "M_UNKNOWN");
    root.post(&login(&hs.user_id("nobody")), json!({})).await.expect_error(404, "M_NOT_FOUND");
    alice.post(&login(&bob.user_id), json!({})).await.expect_error(403, "M_FORBIDDEN");
    let bad = root.post(&login(&alice.user_id), json!({"valid_until_ms": "soon"})).await;
    assert_eq!(bad.status, 400, "{bad:?}");

    // Account data, global and per room.
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    alice.put(&format!("/user/{}/account_data/org.example.a", enc(&alice.user_id)), json!({"x": 1})).await.expect_ok();
    alice
        .put(&format!("/user/{}/rooms/{}/account_data/org.example.b", enc(&alice.user_id), enc(&room)), json!({"y": 2}))
        .await
        .expect_ok();
    let data = root.get(&format!("/_synapse/admin/v1/users/{}/accountdata", enc(&alice.user_id))).await;
    let data = data.expect_ok()["account_data"].clone();
    assert_eq!(data["global"]["org.example.a"], json!({"x": 1}), "{data}");
    assert_eq!(data["rooms"][room.as_str()]["org.example.b"], json!({"y": 2}), "{data}");

    // The create form's username check.
    let available = |name: &str| format!("/_synapse/admin/v1/username_available?username={}", enc(name));
    assert_eq!(root.get(&available("dave")).await.expect_ok().clone(), json!({"available": true}));
    root.get(&available("alice")).await.expect_error(400, "M_USER_IN_USE");
    root.get(&available("no spaces")).await.expect_error(400, "M_INVALID_USERNAME");
    root.get("/_synapse/admin/v1/username_available").await.expect_error(400, "M_MISSING_PARAM");

    // Shadow-banned: bob's message and invite are answered, and go nowhere.
    bob.join(&room).await;
    let ban = format!("/_synapse/admin/v1/users/{}/shadow_ban", enc(&bob.user_id));
    assert_eq!(root.post(&ban, json!({})).await.expect_ok().clone(), json!({}));
    let shown = root.get(&user_path(&bob.user_id)).await;
    assert_eq!(shown.expect_ok()["shadow_banned"], true);
    let sent = bob.send_event_reply(&room, "m.room.message", json!({"msgtype": "m.text", "body": "spam"})).await;
    assert!(sent.expect_ok()["event_id"].as_str().is_some_and(|id| id.starts_with('$')), "{sent:?}");
    bob.post(&format!("/rooms/{}/invite", enc(&room)), json!({"user_id": carol.user_id})).await.expect_ok();
    let seen = alice.messages(&room, "dir=b&limit=20").await;
    assert!(seen.expect_chunk().iter().all(|e| e["content"]["body"] != "spam"), "{seen:?}");
    let carol_sync = carol.sync_reply("timeout=0").await;
    assert!(carol_sync.expect_ok()["rooms"]["invite"].get(&room).is_none(), "no invite reached carol");
    root.request(reqwest::Method::DELETE, &ban, None).await.expect_ok();
    bob.send_message(&room, "hello again").await;
    let seen = alice.messages(&room, "dir=b&limit=20").await;
    assert!(seen.expect_chunk().iter().any(|e| e["content"]["body"] == "hello again"));
    let remote = root.post("/_synapse/admin/v1/users/%40x%3Aelsewhere.example/shadow_ban", json!({})).await;
    assert_eq!(remote.status, 400, "{remote:?}");
}
both_backends!(user_actions);

/// A per-user message rate limit, and synapse-admin's rate limit tab
/// overriding it for one user (0 and 0: unlimited).
async fn message_rate_limits_and_their_overrides(backend: Backend) {
    let hs = Homeserver::builder(backend)
        .env("NEXUS__REGISTRATION__SHARED_SECRET", SECRET)
        .env("NEXUS__BOT_API__ENABLED", "false")
        .env("NEXUS__RATE_LIMITS__MESSAGE_PER_SECOND", "0.2")
        .env("NEXUS__RATE_LIMITS__MESSAGE_BURST", "3")
        .start()
        .await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room).await;
    let send = |who: &Session| {
        let who = who.clone();
        let room = room.clone();
        async move { who.send_event_reply(&room, "m.room.message", json!({"msgtype": "m.text", "body": "hi"})).await }
    };
    for _ in 0..3 {
        send(&alice).await.expect_ok();
    }
    let limited = send(&alice).await;
    limited.expect_error(429, "M_LIMIT_EXCEEDED");
    assert!(limited.json["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{limited:?}");

    let path = |user: &str| format!("/_synapse/admin/v1/users/{}/override_ratelimit", enc(user));
    assert_eq!(root.get(&path(&alice.user_id)).await.expect_ok().clone(), json!({}));
    let unlimited = root.post(&path(&alice.user_id), json!({})).await;
    assert_eq!(unlimited.expect_ok().clone(), json!({"messages_per_second": 0, "burst_count": 0}));
    for _ in 0..10 {
        send(&alice).await.expect_ok();
    }
    let tight = root.post(&path(&bob.user_id), json!({"messages_per_second": 1, "burst_count": 2})).await;
    assert_eq!(tight.expect_ok().clone(), json!({"messages_per_second": 1, "burst_count": 2}));
    assert_eq!(root.get(&path(&bob.user_id)).await.expect_ok()["burst_count"], 2);
    send(&bob).await.expect_ok();
    send(&bob).await.expect_ok();
    send(&bob).await.expect_error(429, "M_LIMIT_EXCEEDED");
    assert_eq!(root.request(reqwest::Method::DELETE, &path(&alice.user_id), None).await.expect_ok().clone(), json!({}));
    assert_eq!(root.get(&path(&alice.user_id)).await.expect_ok().clone(), json!({}));

    root.post(&path(&alice.user_id), json!({"messages_per_second": -1})).await.expect_error(400, "M_INVALID_PARAM");
    assert_eq!(root.get(&path("@x:elsewhere.example")).await.status, 400);
    root.get(&path(&hs.user_id("nobody"))).await.expect_error(404, "M_NOT_FOUND");
    alice.get(&path(&bob.user_id)).await.expect_error(403, "M_FORBIDDEN");
}
both_backends!(message_rate_limits_and_their_overrides);

/// synapse-admin's "redact all events" button: the user's messages in
/// every room they were in go (their state stays), polled to completion —
/// in their own name where they are still joined, else by a local member
/// with the power to.
async fn a_users_messages_are_redacted_everywhere(backend: Backend) {
    let hs = server(backend).await;
    let api = hs.api();
    let root = admin(&hs, "root").await;
    let alice = api.register("alice", PASSWORD).await;
    let bob = api.register("bob", PASSWORD).await;
    let first = bob.create_room(json!({"preset": "public_chat"})).await;
    let second = alice.create_room(json!({"preset": "public_chat"})).await;
    alice.join(&first).await;
    bob.join(&second).await;
    let mut hers = Vec::new();
    for (room, body) in [(&first, "one"), (&first, "two"), (&second, "three")] {
        hers.push((room.clone(), alice.send_message(room, body).await));
    }
    let topic = alice.set_state(&second, "m.room.topic", "", json!({"topic": "mine"})).await;
    let his = bob.send_message(&first, "bob's").await;
    // Gone from bob's room: there bob (its creator) redacts for her.
    alice.leave(&first).await;

    let started = root
        .post(
            &format!("/_synapse/admin/v1/user/{}/redact", enc(&alice.user_id)),
            json!({"rooms": [], "reason": "spam"}),
        )
        .await;
    let redact_id = started.expect_ok()["redact_id"].as_str().unwrap().to_owned();
    let status =
        nexus_complement::eventually("the redaction to complete", std::time::Duration::from_secs(20), || async {
            let status = root.get(&format!("/_synapse/admin/v1/user/redact_status/{redact_id}")).await;
            let status = status.expect_ok().clone();
            if status["status"] == "complete" { Ok(status) } else { Err(status.to_string()) }
        })
        .await;
    assert_eq!(status["failed_redactions"], json!({}), "{status}");
    for (room, event_id) in &hers {
        let event = bob.get_event(room, event_id).await;
        assert!(event.expect_ok()["content"].as_object().is_some_and(|c| c.is_empty()), "{event:?}");
    }
    assert_eq!(bob.get_event(&first, &his).await.expect_ok()["content"]["body"], "bob's");
    assert_eq!(bob.get_event(&second, &topic).await.expect_ok()["content"]["topic"], "mine");

    root.get("/_synapse/admin/v1/user/redact_status/nothing").await.expect_error(404, "M_NOT_FOUND");
    let missing = root.post(&format!("/_synapse/admin/v1/user/{}/redact", enc(&alice.user_id)), json!({})).await;
    missing.expect_error(400, "M_MISSING_PARAM");
    let remote = root.post("/_synapse/admin/v1/user/%40x%3Aelsewhere.example/redact", json!({"rooms": []})).await;
    assert_eq!(remote.status, 400, "{remote:?}");
    let refused =
        bob.post(&format!("/_synapse/admin/v1/user/{}/redact", enc(&alice.user_id)), json!({"rooms": []})).await;
    refused.expect_error(403, "M_FORBIDDEN");
}
both_backends!(a_users_messages_are_redacted_everywhere);
