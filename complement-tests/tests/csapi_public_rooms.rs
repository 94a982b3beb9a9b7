//! The published room directory — mirrors Complement's `public_rooms` and
//! the directory parts of `apidoc_room_state`; spec: client-server API
//! "Published room directory" (`GET`/`PUT /directory/list/room/{roomId}`,
//! `GET`/`POST /publicRooms` with `limit`, `since`, `filter`;
//! PublishedRoomsChunk) and `POST /createRoom` (`visibility`).

use std::collections::{BTreeSet, HashSet};

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

fn visibility_path(room_id: &str) -> String {
    format!("/directory/list/room/{}", enc(room_id))
}

async fn visibility(viewer: &Session, room_id: &str) -> String {
    let reply = viewer.get(&visibility_path(room_id)).await;
    reply.expect_ok()["visibility"].as_str().unwrap_or_else(|| panic!("no visibility: {reply:?}")).to_owned()
}

/// Asserts the shape of a PublishedRoomsChunk entry.
#[track_caller]
fn assert_chunk_entry(entry: &Value, reply: &Reply) {
    assert!(entry["room_id"].as_str().is_some_and(|id| id.starts_with('!')), "{reply:?}");
    assert!(entry["num_joined_members"].is_u64(), "{reply:?}");
    assert!(entry["world_readable"].is_boolean(), "{reply:?}");
    assert!(entry["guest_can_join"].is_boolean(), "{reply:?}");
}

/// Every room of `GET /publicRooms` (anonymous), following `next_batch`.
async fn all_public_rooms(hs: &Homeserver, limit: u32) -> Vec<Value> {
    let mut rooms = Vec::new();
    let mut since: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/publicRooms?limit={limit}");
        if let Some(since) = &since {
            path.push_str(&format!("&since={}", enc(since)));
        }
        let reply = hs.api().get(&path).await;
        let chunk = reply.expect_chunk();
        assert!(chunk.len() <= limit as usize, "{reply:?}");
        for entry in chunk {
            assert_chunk_entry(entry, &reply);
        }
        rooms.extend(chunk.iter().cloned());
        match reply.token("next_batch") {
            Some(next) => since = Some(next),
            None => return rooms,
        }
    }
    panic!("/publicRooms still returned a next_batch after 100 pages");
}

fn room_ids(rooms: &[Value]) -> Vec<String> {
    rooms.iter().map(|r| r["room_id"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn create_room_with_public_visibility_is_published(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let alias = format!("#cheese:{}", hs.server_name());
    let public = alice
        .create_room(json!({
            "visibility": "public",
            "name": "CHEESE",
            "topic": "Tasty tasty cheese",
            "room_alias_name": "cheese",
        }))
        .await;
    bob.join(&public).await;
    let unlisted = alice.create_room(json!({"preset": "public_chat", "name": "not listed"})).await;

    // "visibility: ... public will be published to the room directory";
    // without it, "private" (not published).
    assert_eq!(visibility(&alice, &public).await, "public");
    assert_eq!(visibility(&alice, &unlisted).await, "private");
    let rooms = all_public_rooms(&hs, 10).await;

    assert_eq!(room_ids(&rooms), [public.as_str()]);
    let entry = &rooms[0];
    assert_eq!(entry["name"], "CHEESE", "{entry:#}");
    assert_eq!(entry["topic"], "Tasty tasty cheese", "{entry:#}");
    assert_eq!(entry["canonical_alias"], alias.as_str(), "{entry:#}");
    assert_eq!(entry["num_joined_members"], 2, "{entry:#}");
    // public_chat: shared history, guests forbidden, public join rule.
    assert_eq!(entry["world_readable"], false, "{entry:#}");
    assert_eq!(entry["guest_can_join"], false, "{entry:#}");
    if let Some(join_rule) = entry.get("join_rule") {
        assert_eq!(join_rule, "public", "{entry:#}");
    }
}
both_backends!(create_room_with_public_visibility_is_published);

async fn directory_visibility_can_be_published_and_withdrawn(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat", "name": "Soon listed"})).await;
    assert!(all_public_rooms(&hs, 10).await.is_empty());

    // "200: The visibility was updated, or no change was needed."
    for _ in 0..2 {
        let reply = alice.put(&visibility_path(&room_id), json!({"visibility": "public"})).await;
        assert_eq!(reply.expect_ok(), &json!({}), "{reply:?}");
    }
    assert_eq!(visibility(&alice, &room_id).await, "public");
    // GET /directory/list/room/{roomId} has no security requirement.
    assert_eq!(hs.api().get(&visibility_path(&room_id)).await.expect_ok()["visibility"], "public");
    let listed = all_public_rooms(&hs, 10).await;
    assert_eq!(room_ids(&listed), [room_id.as_str()]);
    assert_eq!(listed[0]["name"], "Soon listed", "{listed:#?}");

    alice.put(&visibility_path(&room_id), json!({"visibility": "private"})).await.expect_ok();

    assert_eq!(visibility(&alice, &room_id).await, "private");
    assert!(all_public_rooms(&hs, 10).await.is_empty());
}
both_backends!(directory_visibility_can_be_published_and_withdrawn);

async fn directory_listing_follows_room_state(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let room_id = alice.create_room(json!({"visibility": "public", "name": "Old name"})).await;

    alice.set_state(&room_id, "m.room.name", "", json!({"name": "New name"})).await;
    alice.set_state(&room_id, "m.room.topic", "", json!({"topic": "Fresh topic"})).await;
    alice.set_state(&room_id, "m.room.history_visibility", "", json!({"history_visibility": "world_readable"})).await;
    bob.join(&room_id).await;

    let rooms = all_public_rooms(&hs, 10).await;
    assert_eq!(room_ids(&rooms), [room_id.as_str()]);
    assert_eq!(rooms[0]["name"], "New name", "{rooms:#?}");
    assert_eq!(rooms[0]["topic"], "Fresh topic", "{rooms:#?}");
    assert_eq!(rooms[0]["world_readable"], true, "{rooms:#?}");
    assert_eq!(rooms[0]["num_joined_members"], 2, "{rooms:#?}");
}
both_backends!(directory_listing_follows_room_state);

async fn directory_visibility_of_unknown_room_is_not_found(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let unknown = format!("!doesnotexist:{}", hs.server_name());

    // "404: The room is not known to the server."
    alice.get(&visibility_path(&unknown)).await.expect_error(404, "M_NOT_FOUND");
    alice.put(&visibility_path(&unknown), json!({"visibility": "public"})).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(directory_visibility_of_unknown_room_is_not_found);

async fn directory_visibility_refusal_is_forbidden_and_changes_nothing(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let stranger = hs.api().register("stranger", PASSWORD).await;
    let room_id =
        alice.create_room(json!({"preset": "public_chat", "power_level_content_override": {"users_default": 0}})).await;
    bob.join(&room_id).await;

    // "Servers MAY implement additional access control checks, for instance,
    // to ensure that a room's visibility can only be changed by the room
    // creator or a server administrator." A refusal is a 403 that changes
    // nothing; an acceptance takes effect.
    let mut expected = "private";
    for who in [&bob, &stranger] {
        let reply = who.put(&visibility_path(&room_id), json!({"visibility": "public"})).await;
        if reply.status == 200 {
            expected = "public";
        } else {
            reply.expect_error(403, "M_FORBIDDEN");
        }
        assert_eq!(visibility(&alice, &room_id).await, expected, "after {who:?}: {reply:?}");
        if expected == "public" {
            alice.put(&visibility_path(&room_id), json!({"visibility": "private"})).await.expect_ok();
            expected = "private";
        }
    }
    // The creator may.
    alice.put(&visibility_path(&room_id), json!({"visibility": "public"})).await.expect_ok();
    assert_eq!(visibility(&bob, &room_id).await, "public");
}
both_backends!(directory_visibility_refusal_is_forbidden_and_changes_nothing);

async fn public_rooms_paginate_with_since(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let mut created = BTreeSet::new();
    for i in 1..=5 {
        created.insert(alice.create_room(json!({"visibility": "public", "name": format!("room {i}")})).await);
    }

    let first = hs.api().get("/publicRooms?limit=2").await;
    let next = first.token("next_batch").unwrap_or_else(|| panic!("five rooms, two served: {first:?}"));
    let second = hs.api().get(&format!("/publicRooms?limit=2&since={}", enc(&next))).await;
    let all = all_public_rooms(&hs, 2).await;

    assert_eq!(first.expect_chunk().len(), 2, "{first:?}");
    if let Some(estimate) = first.json.get("total_room_count_estimate") {
        assert!(estimate.is_u64(), "{first:?}");
    }
    // "The absence of this token means there are no results before this
    // batch, i.e. this is the first batch": a second batch has one, and it
    // leads back to the first.
    let prev = second.token("prev_batch").unwrap_or_else(|| panic!("a second batch without prev_batch: {second:?}"));
    let back = hs.api().get(&format!("/publicRooms?limit=2&since={}", enc(&prev))).await;
    assert_eq!(room_ids(back.expect_chunk()), room_ids(first.expect_chunk()), "{back:?}");
    let ids = room_ids(&all);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a room was listed twice: {ids:?}");
    assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), created);
}
both_backends!(public_rooms_paginate_with_since);

async fn public_rooms_search_filter(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let by_name = alice.create_room(json!({"visibility": "public", "name": "The wombles of Wimbledon"})).await;
    let by_topic =
        alice.create_room(json!({"visibility": "public", "name": "Other", "topic": "All about wombles"})).await;
    alice.create_room(json!({"visibility": "public", "name": "Unrelated", "topic": "Nothing to see"})).await;
    // Matching, but not published.
    alice.create_room(json!({"preset": "public_chat", "name": "Secret wombles"})).await;

    // "generic_search_term: An optional string to search for in the room
    // metadata, e.g. name, topic, canonical alias, etc."
    let reply = alice.post("/publicRooms", json!({"filter": {"generic_search_term": "wombles"}})).await;
    let found: BTreeSet<String> = room_ids(reply.expect_chunk()).into_iter().collect();
    assert_eq!(found, BTreeSet::from([by_name.clone(), by_topic.clone()]), "{reply:?}");

    let limited = alice.post("/publicRooms", json!({"limit": 1, "filter": {"generic_search_term": "wombles"}})).await;
    assert_eq!(limited.expect_chunk().len(), 1, "{limited:?}");
    let next = limited.token("next_batch").unwrap_or_else(|| panic!("two matches, one served: {limited:?}"));
    let rest = alice
        .post("/publicRooms", json!({"limit": 1, "since": next, "filter": {"generic_search_term": "wombles"}}))
        .await;
    let mut both = room_ids(limited.expect_chunk());
    both.extend(room_ids(rest.expect_chunk()));
    assert_eq!(both.into_iter().collect::<BTreeSet<_>>(), found, "{rest:?}");

    let nothing = alice.post("/publicRooms", json!({"filter": {"generic_search_term": "zyzzyva"}})).await;
    assert_eq!(nothing.expect_chunk(), &Vec::<Value>::new(), "{nothing:?}");
    // Without a filter, every published room.
    let everything = alice.post("/publicRooms", json!({})).await;
    assert_eq!(everything.expect_chunk().len(), 3, "{everything:?}");
}
both_backends!(public_rooms_search_filter);

async fn public_rooms_post_requires_an_access_token(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    alice.create_room(json!({"visibility": "public"})).await;

    // POST /publicRooms has `security: accessTokenBearer`; GET has none.
    hs.api().post("/publicRooms", json!({})).await.expect_error(401, "M_MISSING_TOKEN");
    assert_eq!(hs.api().get("/publicRooms").await.expect_chunk().len(), 1);
    assert_eq!(alice.get("/publicRooms").await.expect_chunk().len(), 1);
}
both_backends!(public_rooms_post_requires_an_access_token);
