//! The spaces hierarchy on one server — the local parts of Complement's
//! `room_hierarchy` (`TestClientSpacesSummary`,
//! `TestClientSpacesSummaryJoinRules`) and `restricted_room_hierarchy`
//! (`TestRestrictedRoomsSpacesSummaryLocal`); spec: client-server API
//! "Spaces" and `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`.

use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc, room_path_v1};
use serde_json::{Value, json};

const PASSWORD: &str = "sp4ce-Passw0rd";

async fn space(owner: &Session, name: &str, preset: &str) -> String {
    owner
        .create_room(json!({
            "preset": preset,
            "name": name,
            "creation_content": {"type": "m.space"},
        }))
        .await
}

async fn room(owner: &Session, name: &str, preset: &str) -> String {
    owner.create_room(json!({"preset": preset, "name": name})).await
}

/// Makes `child` a child of `parent` (`m.space.child` with this content
/// besides `via`).
async fn add_child(owner: &Session, parent: &str, child: &str, server: &str, extra: Value) {
    let mut content = json!({"via": [server]});
    for (key, value) in extra.as_object().into_iter().flatten() {
        content[key] = value.clone();
    }
    owner.set_state(parent, "m.space.child", child, content).await;
}

async fn hierarchy(session: &Session, root: &str, query: &str) -> Reply {
    session.get(&format!("{}{query}", room_path_v1(root, "/hierarchy"))).await
}

fn room_ids(page: &Value) -> Vec<String> {
    page["rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("no rooms array: {page:#}"))
        .iter()
        .map(|r| r["room_id"].as_str().unwrap_or_else(|| panic!("a room without room_id: {page:#}")).to_owned())
        .collect()
}

fn ids(rooms: &[&String]) -> Vec<String> {
    rooms.iter().map(|r| (*r).clone()).collect()
}

fn chunk<'a>(page: &'a Value, room_id: &str) -> &'a Value {
    page["rooms"]
        .as_array()
        .and_then(|rooms| rooms.iter().find(|r| r["room_id"] == room_id))
        .unwrap_or_else(|| panic!("{room_id} is not in the page: {page:#}"))
}

/// Every page with `limit`, following `next_batch`.
async fn all_pages(session: &Session, root: &str, limit: u32) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let mut query = format!("?limit={limit}");
        if let Some(from) = &from {
            query.push_str(&format!("&from={}", enc(from)));
        }
        let reply = hierarchy(session, root, &query).await;
        let page = reply.expect_ok().clone();
        pages.push(room_ids(&page));
        assert!(pages.len() < 20, "pagination does not end: {pages:?}");
        match page["next_batch"].as_str() {
            Some(next) => from = Some(next.to_owned()),
            None => return pages,
        }
    }
}

/// The tree of Complement's `TestClientSpacesSummary`, smaller:
///
/// ```text
/// root (space) ─┬─ sub (space, order "a") ── deep (room)
///               ├─ lobby (room, order "b", suggested)
///               └─ gone (room; its child event has no via: removed)
/// ```
struct Tree {
    root: String,
    sub: String,
    deep: String,
    lobby: String,
    gone: String,
}

async fn tree(alice: &Session, server: &str) -> Tree {
    let root = space(alice, "Root", "public_chat").await;
    let sub = space(alice, "Sub", "public_chat").await;
    let deep = room(alice, "Deep", "public_chat").await;
    let lobby = room(alice, "Lobby", "public_chat").await;
    let gone = room(alice, "Gone", "public_chat").await;
    add_child(alice, &root, &lobby, server, json!({"order": "b", "suggested": true})).await;
    add_child(alice, &root, &sub, server, json!({"order": "a"})).await;
    add_child(alice, &sub, &deep, server, json!({})).await;
    alice.set_state(&root, "m.space.child", &gone, json!({})).await;
    Tree { root, sub, deep, lobby, gone }
}

async fn space_hierarchy_walks_children_in_order(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let t = tree(&alice, &hs.server_name()).await;

    let reply = hierarchy(&alice, &t.root, "").await;
    let page = reply.expect_ok();
    // Depth first, children by `order`: the sub-space and its room before
    // the lobby; a child without `via` is no child.
    assert_eq!(room_ids(page), ids(&[&t.root, &t.sub, &t.deep, &t.lobby]), "{page:#}");
    assert!(page.get("next_batch").is_none(), "one page holds everything: {page:#}");

    let root = chunk(page, &t.root);
    assert_eq!(root["name"], "Root");
    assert_eq!(root["room_type"], "m.space");
    assert_eq!(root["num_joined_members"], 1);
    assert_eq!(root["join_rule"], "public");
    assert_eq!(root["world_readable"], false);
    assert_eq!(root["guest_can_join"], false);
    assert!(root["room_version"].is_string(), "{root:#}");
    // children_state: stripped m.space.child events with origin_server_ts,
    // in the spec's order, without the removed child.
    let children = root["children_state"].as_array().unwrap_or_else(|| panic!("no children_state: {root:#}"));
    let keys: Vec<&str> = children.iter().map(|c| c["state_key"].as_str().unwrap()).collect();
    assert_eq!(keys, [t.sub.as_str(), t.lobby.as_str()], "{root:#}");
    for child in children {
        assert_eq!(child["type"], "m.space.child", "{child:#}");
        assert_eq!(child["sender"], alice.user_id.as_str(), "{child:#}");
        assert!(child["origin_server_ts"].as_u64().is_some_and(|ts| ts > 0), "{child:#}");
        assert_eq!(child["content"]["via"], json!([hs.server_name()]), "{child:#}");
        assert!(child.get("event_id").is_none(), "stripped events carry no event_id: {child:#}");
    }
    assert!(!keys.contains(&t.gone.as_str()));
    // A room that is not a space has no children.
    assert_eq!(chunk(page, &t.lobby)["children_state"], json!([]), "{page:#}");
    assert_eq!(chunk(page, &t.lobby)["name"], "Lobby");
    assert!(chunk(page, &t.lobby).get("room_type").is_none(), "{page:#}");

    // A redacted link (its content, `via` included, stripped) is no link.
    let redacted = room(&alice, "Redacted", "public_chat").await;
    let link =
        alice.set_state(&t.root, "m.space.child", &redacted, json!({"via": [hs.server_name()], "order": "0"})).await;
    let reply = hierarchy(&alice, &t.root, "").await;
    assert_eq!(room_ids(reply.expect_ok()).get(1), Some(&redacted), "{reply:?}");
    alice.redact(&t.root, &link, json!({})).await.expect_ok();
    let reply = hierarchy(&alice, &t.root, "").await;
    assert_eq!(room_ids(reply.expect_ok()), ids(&[&t.root, &t.sub, &t.deep, &t.lobby]), "{reply:?}");
}
both_backends!(space_hierarchy_walks_children_in_order);

async fn space_hierarchy_pages_with_limit_and_from(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let t = tree(&alice, &hs.server_name()).await;

    // One room a page, in the same order as one page of everything.
    let pages = all_pages(&alice, &t.root, 1).await;
    assert_eq!(pages, [vec![t.root.clone()], vec![t.sub.clone()], vec![t.deep.clone()], vec![t.lobby.clone()]]);
    let pages = all_pages(&alice, &t.root, 3).await;
    assert_eq!(pages, [vec![t.root.clone(), t.sub.clone(), t.deep.clone()], vec![t.lobby.clone()]]);

    // "from: A pagination token from a previous result": an unknown one is
    // M_INVALID_PARAM, and so is one used with another max_depth or
    // suggested_only.
    hierarchy(&alice, &t.root, "?from=not-a-token").await.expect_error(400, "M_INVALID_PARAM");
    let reply = hierarchy(&alice, &t.root, "?limit=1").await;
    let next =
        reply.expect_ok()["next_batch"].as_str().unwrap_or_else(|| panic!("no next_batch: {reply:?}")).to_owned();
    let changed = format!("?limit=1&from={}&max_depth=1", enc(&next));
    hierarchy(&alice, &t.root, &changed).await.expect_error(400, "M_INVALID_PARAM");
    let changed = format!("?limit=1&from={}&suggested_only=true", enc(&next));
    hierarchy(&alice, &t.root, &changed).await.expect_error(400, "M_INVALID_PARAM");
    // The same token again gives the same page.
    let again = hierarchy(&alice, &t.root, &format!("?limit=1&from={}", enc(&next))).await;
    assert_eq!(room_ids(again.expect_ok()), ids(&[&t.sub]));
    // "limit: Must be an integer greater than zero."
    hierarchy(&alice, &t.root, "?limit=0").await.expect_error(400, "M_INVALID_PARAM");
    hierarchy(&alice, &t.root, "?max_depth=-1").await.expect_error(400, "M_INVALID_PARAM");
}
both_backends!(space_hierarchy_pages_with_limit_and_from);

async fn space_hierarchy_honours_max_depth_and_suggested_only(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let t = tree(&alice, &hs.server_name()).await;

    let reply = hierarchy(&alice, &t.root, "?max_depth=0").await;
    assert_eq!(room_ids(reply.expect_ok()), ids(&[&t.root]), "{reply:?}");
    let reply = hierarchy(&alice, &t.root, "?max_depth=1").await;
    let page = reply.expect_ok();
    assert_eq!(room_ids(page), ids(&[&t.root, &t.sub, &t.lobby]), "{reply:?}");
    // The sub-space at the depth limit still lists its children.
    assert_eq!(chunk(page, &t.sub)["children_state"].as_array().map(Vec::len), Some(1), "{page:#}");

    // suggested_only: only children whose m.space.child says "suggested".
    let reply = hierarchy(&alice, &t.root, "?suggested_only=true").await;
    let page = reply.expect_ok();
    assert_eq!(room_ids(page), ids(&[&t.root, &t.lobby]), "{reply:?}");
    let keys: Vec<&Value> = chunk(page, &t.root)["children_state"].as_array().unwrap().iter().collect();
    assert_eq!(keys.len(), 1, "{page:#}");
    assert_eq!(keys[0]["state_key"], t.lobby.as_str());
}
both_backends!(space_hierarchy_honours_max_depth_and_suggested_only);

async fn space_hierarchy_shows_rooms_by_join_rule(backend: Backend) {
    // TestClientSpacesSummaryJoinRules: an invite-only child is hidden from
    // a non-member until they are invited; a world-readable one is shown.
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let server = hs.server_name();
    let root = space(&alice, "Root", "public_chat").await;
    let private = room(&alice, "Private", "private_chat").await;
    let readable = alice
        .create_room(json!({
            "preset": "private_chat",
            "name": "Readable",
            "initial_state": [{"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "world_readable"}}],
        }))
        .await;
    add_child(&alice, &root, &private, &server, json!({"order": "1"})).await;
    add_child(&alice, &root, &readable, &server, json!({"order": "2"})).await;

    let reply = hierarchy(&bob, &root, "").await;
    assert_eq!(room_ids(reply.expect_ok()), ids(&[&root, &readable]), "{reply:?}");
    assert_eq!(chunk(reply.expect_ok(), &readable)["world_readable"], true);
    // The parent still names the hidden child: it is the parent's state.
    let children = &chunk(reply.expect_ok(), &root)["children_state"];
    assert_eq!(children.as_array().map(Vec::len), Some(2), "{children:#}");

    alice.invite(&private, &bob.user_id).await;
    let reply = hierarchy(&bob, &root, "").await;
    assert_eq!(room_ids(reply.expect_ok()), ids(&[&root, &private, &readable]), "{reply:?}");
    assert_eq!(chunk(reply.expect_ok(), &private)["join_rule"], "invite");

    // The members see everything.
    let reply = hierarchy(&alice, &root, "").await;
    assert_eq!(room_ids(reply.expect_ok()), ids(&[&root, &private, &readable]), "{reply:?}");
}
both_backends!(space_hierarchy_shows_rooms_by_join_rule);

async fn a_hidden_sub_space_hides_its_children(backend: Backend) {
    // TestClientSpacesSummaryJoinRules: invited to a room under an
    // invite-only sub-space, bob does not see it until he is invited to the
    // sub-space too — the walk goes through rooms he may see.
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let server = hs.server_name();
    let root = space(&alice, "Root", "public_chat").await;
    let sub = space(&alice, "Sub", "private_chat").await;
    let inner = room(&alice, "Inner", "private_chat").await;
    add_child(&alice, &root, &sub, &server, json!({})).await;
    add_child(&alice, &sub, &inner, &server, json!({})).await;

    alice.invite(&inner, &bob.user_id).await;
    let reply = hierarchy(&bob, &root, "").await;
    assert_eq!(room_ids(reply.expect_ok()), ids(&[&root]), "{reply:?}");

    alice.invite(&sub, &bob.user_id).await;
    let reply = hierarchy(&bob, &root, "").await;
    assert_eq!(room_ids(reply.expect_ok()), ids(&[&root, &sub, &inner]), "{reply:?}");
}
both_backends!(a_hidden_sub_space_hides_its_children);

async fn space_hierarchy_root_must_be_visible(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let secret = space(&alice, "Secret", "private_chat").await;

    // "403: The user cannot view or peek on the room."
    hierarchy(&bob, &secret, "").await.expect_error(403, "M_FORBIDDEN");
    // A room this server does not know gets the same answer (Synapse's).
    let unknown = format!("!nowhere:{}", hs.server_name());
    hierarchy(&bob, &unknown, "").await.expect_error(403, "M_FORBIDDEN");
    // Not a room id at all.
    hierarchy(&bob, "not-a-room", "").await.expect_error(400, "M_INVALID_PARAM");

    alice.invite(&secret, &bob.user_id).await;
    let reply = hierarchy(&bob, &secret, "").await;
    assert_eq!(room_ids(reply.expect_ok()), ids(&[&secret]), "{reply:?}");
}
both_backends!(space_hierarchy_root_must_be_visible);

async fn restricted_child_is_seen_by_members_of_an_allowed_room(backend: Backend) {
    // TestRestrictedRoomsSpacesSummaryLocal: a room restricted to the
    // space's members is shown to them, not to others.
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let server = hs.server_name();
    let root = space(&alice, "Root", "public_chat").await;
    let restricted = alice
        .create_room(json!({
            "preset": "private_chat",
            "name": "Members only",
            "room_version": "10",
            "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": {
                "join_rule": "restricted",
                "allow": [{"type": "m.room_membership", "room_id": root}],
            }}],
        }))
        .await;
    add_child(&alice, &root, &restricted, &server, json!({})).await;

    let reply = hierarchy(&bob, &root, "").await;
    assert_eq!(room_ids(reply.expect_ok()), ids(&[&root]), "not in the space, bob cannot see the room: {reply:?}");

    bob.join(&root).await;
    let reply = hierarchy(&bob, &root, "").await;
    assert_eq!(room_ids(reply.expect_ok()), ids(&[&root, &restricted]), "{reply:?}");
    let chunk = chunk(reply.expect_ok(), &restricted);
    assert_eq!(chunk["join_rule"], "restricted");
    assert_eq!(chunk["allowed_room_ids"], json!([root]), "{chunk:#}");
    // And the room can be joined from there.
    bob.join(&restricted).await;
}
both_backends!(restricted_child_is_seen_by_members_of_an_allowed_room);

async fn space_hierarchy_visits_a_room_once(backend: Backend) {
    // A cycle (the sub-space names the root) and a room named twice: each
    // room is shown once.
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = hs.server_name();
    let root = space(&alice, "Root", "public_chat").await;
    let sub = space(&alice, "Sub", "public_chat").await;
    let shared = room(&alice, "Shared", "public_chat").await;
    add_child(&alice, &root, &sub, &server, json!({"order": "1"})).await;
    add_child(&alice, &root, &shared, &server, json!({"order": "2"})).await;
    add_child(&alice, &sub, &root, &server, json!({"order": "1"})).await;
    add_child(&alice, &sub, &shared, &server, json!({"order": "2"})).await;

    let reply = hierarchy(&alice, &root, "").await;
    assert_eq!(room_ids(reply.expect_ok()), ids(&[&root, &sub, &shared]), "{reply:?}");
    let pages = all_pages(&alice, &root, 1).await;
    assert_eq!(pages, [vec![root.clone()], vec![sub.clone()], vec![shared.clone()]]);
}
both_backends!(space_hierarchy_visits_a_room_once);

async fn a_page_is_capped_and_work_per_page_is_bounded(backend: Backend) {
    // "Servers should apply a default value, and impose a maximum value to
    // avoid resource exhaustion": at most 50 rooms a page, whatever the
    // limit; and a page stops after looking at 200 rooms, shown or not, so
    // a space full of rooms the user may not see costs a bounded amount per
    // request — the walk goes on from next_batch.
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    let server = hs.server_name();
    let root = space(&alice, "Root", "public_chat").await;
    let mut public = Vec::new();
    for i in 0..60 {
        let child = room(&alice, &format!("Public {i}"), "public_chat").await;
        add_child(&alice, &root, &child, &server, json!({"order": format!("a{i:03}")})).await;
        public.push(child);
    }
    let reply = hierarchy(&alice, &root, "?limit=1000").await;
    let page = reply.expect_ok();
    assert_eq!(room_ids(page).len(), 50, "{page:#}");
    let next = page["next_batch"].as_str().unwrap_or_else(|| panic!("no next_batch: {page:#}"));
    let reply = hierarchy(&alice, &root, &format!("?limit=1000&from={}", enc(next))).await;
    assert_eq!(room_ids(reply.expect_ok()), public[49..].to_vec(), "{reply:?}");
    assert!(reply.expect_ok().get("next_batch").is_none(), "{reply:?}");

    // 200 rooms bob may not see, ordered before a public one.
    let hidden_root = space(&alice, "Hidden", "public_chat").await;
    for i in 0..200 {
        let child = room(&alice, &format!("Private {i}"), "private_chat").await;
        add_child(&alice, &hidden_root, &child, &server, json!({"order": format!("a{i:03}")})).await;
    }
    add_child(&alice, &hidden_root, &public[0], &server, json!({"order": "b"})).await;
    let mut pages = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..5 {
        let query = from.as_ref().map_or(String::new(), |f| format!("?from={}", enc(f)));
        let reply = hierarchy(&bob, &hidden_root, &query).await;
        pages.push(room_ids(reply.expect_ok()));
        from = reply.expect_ok()["next_batch"].as_str().map(str::to_owned);
        if from.is_none() {
            break;
        }
    }
    // The first page gave up before reaching the public room.
    assert_eq!(pages, [vec![hidden_root.clone()], vec![public[0].clone()]]);
}
both_backends!(a_page_is_capped_and_work_per_page_is_bounded);
