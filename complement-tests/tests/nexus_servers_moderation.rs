//! A Nexus server's moderation tools (issue 22, extensions-spec §22): the
//! audit log — who kicked, banned, deleted, changed roles and channels,
//! when and why, whatever client did it (the Nexus API or a plain Matrix
//! request) — readable with VIEW_AUDIT_LOG only, filtered and paged; and
//! deleting a member's recent messages across every channel (MANAGE_MESSAGES),
//! alone or with a ban's `delete_message_seconds`.

use nexus_complement::nexus_servers::{
    assign_role, create_channel, create_server, invite_code, join_by_code, put_role, server_path, settled_power_levels,
};
use nexus_complement::{Backend, Homeserver, Session, both_backends, enc};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const KICK_MEMBERS: u64 = 1 << 1;
const BAN_MEMBERS: u64 = 1 << 2;
const VIEW_AUDIT_LOG: u64 = 1 << 7;
const MANAGE_MESSAGES: u64 = 1 << 13;

fn role(name: &str, position: u32, permissions: u64) -> Value {
    json!({ "name": name, "position": position, "permissions": permissions.to_string() })
}

async fn audit(viewer: &Session, space: &str, query: &str) -> Vec<Value> {
    let reply = viewer.get(&format!("{}{query}", server_path(space, "/audit_log"))).await;
    reply.expect_ok()["entries"].as_array().cloned().unwrap_or_default()
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries.iter().filter_map(|e| e["action"].as_str()).collect()
}

async fn moderation_is_logged_and_purges_reach_every_channel(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Moderated").await;
    let random = create_channel(&alice, &server.space, json!({"name": "random"})).await;
    let code = invite_code(&alice, &server.space, json!({})).await;
    let mut members = Vec::new();
    for name in ["bob", "carol", "dave", "erin"] {
        let member = hs.api().register(name, PASSWORD).await;
        join_by_code(&member, &code).await;
        members.push(member);
    }
    let [bob, carol, dave, erin] = &members[..] else { unreachable!() };
    let moderator = KICK_MEMBERS | BAN_MEMBERS | MANAGE_MESSAGES | VIEW_AUDIT_LOG;
    put_role(&alice, &server.space, "mod", role("Moderator", 5, moderator)).await;
    assign_role(&alice, &server.space, &bob.user_id, "mod").await;
    for room in [&server.space, &server.general, &random] {
        settled_power_levels(&alice, room).await;
    }
    let member_path =
        |user: &str, action: &str| server_path(&server.space, &format!("/members/{}/{action}", enc(user)));

    // Carol spams two channels; bob purges her last hour everywhere.
    let mut spam = Vec::new();
    for room in [&server.general, &random] {
        for n in 0..3 {
            spam.push((room.clone(), carol.send_message(room, &format!("spam {n}")).await));
        }
    }
    let kept = dave.send_message(&server.general, "not spam").await;
    let refused = dave.post(&member_path(&carol.user_id, "purge"), json!({"seconds": 3600})).await;
    refused.expect_error(403, "M_FORBIDDEN");
    let purged = bob.post(&member_path(&carol.user_id, "purge"), json!({"seconds": 3600, "reason": "spam"})).await;
    assert_eq!(purged.expect_ok()["redacted"], 6, "{purged:?}");
    for (room, event_id) in &spam {
        let event = alice.get_event(room, event_id).await;
        assert!(event.expect_ok()["content"].as_object().is_some_and(|c| c.is_empty()), "redacted: {event:?}");
    }
    let untouched = alice.get_event(&server.general, &kept).await;
    assert_eq!(untouched.expect_ok()["content"]["body"], "not spam");
    let too_long = bob.post(&member_path(&carol.user_id, "purge"), json!({"seconds": 8 * 24 * 3600})).await;
    too_long.expect_error(400, "M_BAD_JSON");

    // A ban through the Nexus API that also deletes the last day's messages.
    let doomed = dave.send_message(&random, "last words").await;
    let banned =
        bob.post(&member_path(&dave.user_id, "ban"), json!({"reason": "raid", "delete_message_seconds": 86400})).await;
    banned.expect_ok();
    let gone = alice.get_event(&random, &doomed).await;
    assert!(gone.expect_ok()["content"].as_object().is_some_and(|c| c.is_empty()), "{gone:?}");
    // A kick through plain Matrix, by the owner.
    alice
        .post(&format!("/rooms/{}/kick", enc(&server.space)), json!({"user_id": erin.user_id, "reason": "bye"}))
        .await
        .expect_ok();

    // The log, newest first, whoever did what through whichever API.
    let log = audit(&alice, &server.space, "?limit=100").await;
    let kinds = actions(&log);
    assert!(kinds.contains(&"member_kick") && kinds.contains(&"member_ban_add"), "{kinds:?}");
    assert!(kinds.contains(&"message_delete") && kinds.contains(&"role_create"), "{kinds:?}");
    assert!(kinds.contains(&"member_update"), "the role assignment: {kinds:?}");
    let kick = log.iter().find(|e| e["action"] == "member_kick").unwrap();
    assert_eq!(
        (kick["user_id"].as_str(), kick["target_id"].as_str(), kick["reason"].as_str()),
        (Some(alice.user_id.as_str()), Some(erin.user_id.as_str()), Some("bye")),
        "{kick}"
    );
    let ban = log.iter().find(|e| e["action"] == "member_ban_add" && e["room_id"] == server.space.as_str()).unwrap();
    assert_eq!((ban["user_id"].as_str(), ban["reason"].as_str()), (Some(bob.user_id.as_str()), Some("raid")));
    let deletes = log.iter().filter(|e| e["action"] == "message_delete" && e["target_id"] == carol.user_id.as_str());
    assert_eq!(deletes.count(), 6);
    let times: Vec<u64> = log.iter().filter_map(|e| e["created_ts"].as_u64()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");

    // Filters and paging.
    let bobs = audit(&alice, &server.space, &format!("?user_id={}", enc(&bob.user_id))).await;
    assert!(!bobs.is_empty() && bobs.iter().all(|e| e["user_id"] == bob.user_id.as_str()), "{bobs:?}");
    let bans = audit(&alice, &server.space, "?action=member_ban_add").await;
    assert!(!bans.is_empty() && bans.iter().all(|e| e["action"] == "member_ban_add"));
    let first = audit(&alice, &server.space, "?limit=2").await;
    assert_eq!(first.len(), 2);
    let before = first[1]["created_ts"].as_u64().unwrap();
    let older = audit(&alice, &server.space, &format!("?limit=100&before={before}")).await;
    assert!(older.iter().all(|e| e["created_ts"].as_u64().unwrap() < before), "{older:?}");
    // Moderators with VIEW_AUDIT_LOG read it; members without do not.
    assert!(!audit(bob, &server.space, "").await.is_empty());
    let refused = carol.get(&server_path(&server.space, "/audit_log")).await;
    refused.expect_error(403, "M_FORBIDDEN");
}
both_backends!(moderation_is_logged_and_purges_reach_every_channel);
