//! Room tags (Complement has no tag test; named after the spec) — spec:
//! client-server API "Room Tagging", `GET /user/{userId}/rooms/{roomId}/tags`,
//! `PUT`/`DELETE /user/{userId}/rooms/{roomId}/tags/{tag}`, the `m.tag`
//! room account data event in `/sync`.

use nexus_complement::{Backend, Homeserver, both_backends};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

/// The `order` of a tag, as a float.
fn order(tags: &Value, tag: &str) -> Option<f64> {
    tags[tag]["order"].as_f64()
}

async fn can_add_and_list_tags(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    let empty = alice.get_tags(&room_id).await;
    assert_eq!(empty.expect_ok()["tags"], json!({}), "no tags yet: {empty:?}");

    let reply = alice.put_tag(&room_id, "m.favourite", json!({"order": 0.25})).await;
    assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");
    alice.put_tag(&room_id, "u.work", json!({})).await.expect_ok();

    let listed = alice.get_tags(&room_id).await;
    let tags = &listed.expect_ok()["tags"];
    assert_eq!(tags.as_object().map(|t| t.len()), Some(2), "{listed:?}");
    assert_eq!(order(tags, "m.favourite"), Some(0.25), "{listed:?}");
    assert!(tags["u.work"].is_object() && tags["u.work"].get("order").is_none(), "{listed:?}");
}
both_backends!(can_add_and_list_tags);

async fn adding_a_tag_again_replaces_its_content(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    alice.put_tag(&room_id, "u.work", json!({"order": 0.5})).await.expect_ok();
    alice.put_tag(&room_id, "u.work", json!({"order": 0.75})).await.expect_ok();

    let listed = alice.get_tags(&room_id).await;
    let tags = &listed.expect_ok()["tags"];
    assert_eq!(tags.as_object().map(|t| t.len()), Some(1), "{listed:?}");
    assert_eq!(order(tags, "u.work"), Some(0.75), "{listed:?}");
}
both_backends!(adding_a_tag_again_replaces_its_content);

async fn can_remove_tag(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    alice.put_tag(&room_id, "m.favourite", json!({})).await.expect_ok();
    alice.put_tag(&room_id, "m.lowpriority", json!({})).await.expect_ok();

    let reply = alice.delete_tag(&room_id, "m.favourite").await;

    assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");
    let listed = alice.get_tags(&room_id).await;
    assert_eq!(listed.expect_ok()["tags"], json!({"m.lowpriority": {}}), "{listed:?}");
}
both_backends!(can_remove_tag);

async fn tags_are_per_room(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let tagged = alice.create_room(json!({})).await;
    let untagged = alice.create_room(json!({})).await;

    alice.put_tag(&tagged, "u.only_here", json!({})).await.expect_ok();

    assert_eq!(alice.get_tags(&untagged).await.expect_ok()["tags"], json!({}));
}
both_backends!(tags_are_per_room);

async fn tags_appear_in_an_initial_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    alice.put_tag(&room_id, "m.favourite", json!({"order": 0.5})).await.expect_ok();
    alice.put_tag(&room_id, "u.work", json!({})).await.expect_ok();

    let synced = alice.initial_sync().await;

    // "The tags on a room are received as single m.tag event in the
    // account_data section of a room."
    let tag_events: Vec<Value> =
        synced.room_account_data(&room_id).into_iter().filter(|e| e["type"] == "m.tag").collect();
    assert_eq!(tag_events.len(), 1, "{:#}", synced.body);
    let tags = &tag_events[0]["content"]["tags"];
    assert_eq!(order(tags, "m.favourite"), Some(0.5), "{tags:#}");
    assert!(tags["u.work"].is_object(), "{tags:#}");
}
both_backends!(tags_appear_in_an_initial_sync);

async fn updated_and_deleted_tags_appear_in_an_incremental_sync(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    alice.put_tag(&room_id, "u.old", json!({})).await.expect_ok();
    let since = alice.sync_token().await;

    alice.put_tag(&room_id, "u.new", json!({"order": 0.1})).await.expect_ok();
    let added = alice
        .sync_until(&since, "", "the new tag", |s| {
            s.room_account_data_content(&room_id, "m.tag").is_some_and(|c| c["tags"].get("u.new").is_some())
        })
        .await;
    let tags = added.room_account_data_content(&room_id, "m.tag").unwrap()["tags"].clone();
    assert!(tags.get("u.old").is_some(), "the m.tag event carries all tags: {tags:#}");

    alice.delete_tag(&room_id, "u.old").await.expect_ok();
    let deleted = alice
        .sync_until(&added.next_batch, "", "the deletion", |s| {
            s.room_account_data_content(&room_id, "m.tag").is_some_and(|c| c["tags"].get("u.old").is_none())
        })
        .await;
    let tags = &deleted.room_account_data_content(&room_id, "m.tag").unwrap()["tags"];
    assert_eq!(tags.as_object().map(|t| t.keys().cloned().collect::<Vec<_>>()), Some(vec!["u.new".to_owned()]));
}
both_backends!(updated_and_deleted_tags_appear_in_an_incremental_sync);

async fn tags_of_another_user_are_forbidden(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;
    bob.join(&room_id).await;
    alice.put_tag(&room_id, "u.mine", json!({})).await.expect_ok();

    // "Tags are only visible to the user that set them"; the token "must be
    // authorised to make requests for this user ID".
    let path = alice.tags_path(&room_id);
    bob.get(&path).await.expect_error(403, "M_FORBIDDEN");
    bob.put(&format!("{path}/u.theirs"), json!({})).await.expect_error(403, "M_FORBIDDEN");
    bob.request(nexus_complement::Method::DELETE, &format!("{path}/u.mine"), None)
        .await
        .expect_error(403, "M_FORBIDDEN");
    assert_eq!(bob.get_tags(&room_id).await.expect_ok()["tags"], json!({}));
    assert_eq!(alice.get_tags(&room_id).await.expect_ok()["tags"], json!({"u.mine": {}}));
}
both_backends!(tags_of_another_user_are_forbidden);

async fn tag_names_over_255_bytes_are_rejected(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;

    // "The name of a tag MUST NOT exceed 255 bytes."
    let long = format!("u.{}", "x".repeat(260));
    let reply = alice.put_tag(&room_id, &long, json!({})).await;

    assert_eq!(reply.status, 400, "{reply:?}");
    reply.expect_standard_error();
    // 255 bytes exactly is fine.
    let max = format!("u.{}", "y".repeat(253));
    alice.put_tag(&room_id, &max, json!({})).await.expect_ok();
}
both_backends!(tag_names_over_255_bytes_are_rejected);
