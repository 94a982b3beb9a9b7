//! The spaces hierarchy across servers — the federated parts of
//! Complement's `room_hierarchy` (`TestFederatedClientSpaces`) and
//! `restricted_room_hierarchy` (`TestRestrictedRoomsSpacesSummaryFederation`);
//! spec: client-server API "Spaces" ("Server behaviour": children the server
//! does not have are asked for over federation) and server-server API
//! `GET /_matrix/federation/v1/hierarchy/{roomId}`.
//!
//! A space lives on one server with its children; a user of the other
//! server joins only the space and walks it, so every child is learnt
//! through the federation `/hierarchy` of the space's server. Nexus↔Nexus,
//! and Nexus↔Synapse in both directions (Synapse skips as in
//! `federation_synapse.rs` when it cannot be had).

use nexus_complement::federation_peer::SigningPeer;
use nexus_complement::{
    Backend, FEDERATION_WAIT, Homeserver, Method, Session, Synapse, TestCa, enc, eventually, room_path_v1,
};
use serde_json::{Value, json};

const PASSWORD: &str = "fed-Sp4ces!";

/// The tree, on the owner's server:
///
/// ```text
/// space ─┬─ sub (space, order "a") ── deep (room)
///        ├─ lobby (public room, order "b")
///        ├─ secret (invite-only room, order "c")
///        └─ members (restricted to the space, order "d")
/// ```
struct Tree {
    space: String,
    sub: String,
    deep: String,
    lobby: String,
    secret: String,
    members: String,
}

impl Tree {
    /// What a member of the space (only) may see, in walk order.
    fn visible_to_space_members(&self) -> Vec<String> {
        [&self.space, &self.sub, &self.deep, &self.lobby, &self.members].map(|r| r.clone()).to_vec()
    }
}

async fn tree(owner: &Session, server: &str) -> Tree {
    let space = |name: &'static str| {
        owner.create_room(json!({"preset": "public_chat", "name": name, "room_version": "11", "creation_content": {"type": "m.space"}}))
    };
    let space_id = space("Space").await;
    let sub = space("Sub").await;
    let deep = owner.create_room(json!({"preset": "public_chat", "name": "Deep"})).await;
    let lobby = owner.create_room(json!({"preset": "public_chat", "name": "Lobby"})).await;
    let secret = owner.create_room(json!({"preset": "private_chat", "name": "Secret"})).await;
    let members = owner
        .create_room(json!({
            "preset": "private_chat",
            "name": "Members",
            "room_version": "11",
            "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": {
                "join_rule": "restricted",
                "allow": [{"type": "m.room_membership", "room_id": space_id}],
            }}],
        }))
        .await;
    for (parent, child, order) in
        [(&space_id, &sub, "a"), (&space_id, &lobby, "b"), (&space_id, &secret, "c"), (&space_id, &members, "d")]
    {
        owner.set_state(parent, "m.space.child", child, json!({"via": [server], "order": order})).await;
    }
    owner.set_state(&sub, "m.space.child", &deep, json!({"via": [server]})).await;
    Tree { space: space_id, sub, deep, lobby, secret, members }
}

fn room_ids(page: &Value) -> Vec<String> {
    page["rooms"].as_array().into_iter().flatten().filter_map(|r| r["room_id"].as_str().map(str::to_owned)).collect()
}

/// Walks the hierarchy from `viewer`'s server until it shows `expected`
/// (remote answers may need the servers to learn each other's keys).
async fn walk_until(viewer: &Session, root: &str, expected: &[String]) -> Value {
    eventually("the hierarchy shows the remote space's rooms", FEDERATION_WAIT, || async {
        let reply = viewer.get(&room_path_v1(root, "/hierarchy")).await;
        if reply.status != 200 {
            return Err(format!("{reply:?}"));
        }
        let page = reply.json.clone();
        match room_ids(&page) == expected {
            true => Ok(page),
            false => Err(format!("{page:#}")),
        }
    })
    .await
}

fn chunk<'a>(page: &'a Value, room_id: &str) -> &'a Value {
    page["rooms"]
        .as_array()
        .and_then(|rooms| rooms.iter().find(|r| r["room_id"] == room_id))
        .unwrap_or_else(|| panic!("{room_id} is not in the page: {page:#}"))
}

/// The remote children carry the summary fields their server gave.
fn assert_summaries(page: &Value, t: &Tree) {
    assert_eq!(chunk(page, &t.sub)["room_type"], "m.space", "{page:#}");
    assert_eq!(chunk(page, &t.sub)["name"], "Sub", "{page:#}");
    assert_eq!(chunk(page, &t.lobby)["name"], "Lobby", "{page:#}");
    assert_eq!(chunk(page, &t.lobby)["join_rule"], "public", "{page:#}");
    assert_eq!(chunk(page, &t.deep)["num_joined_members"], 1, "{page:#}");
    assert_eq!(chunk(page, &t.members)["join_rule"], "restricted", "{page:#}");
    // The sub-space's children_state came from its server.
    let children = chunk(page, &t.sub)["children_state"].as_array().cloned().unwrap_or_default();
    assert_eq!(children.len(), 1, "{page:#}");
    assert_eq!(children[0]["state_key"], t.deep.as_str(), "{page:#}");
    assert!(children[0]["origin_server_ts"].is_u64(), "{page:#}");
    // The space lists all four children, the hidden one included.
    assert_eq!(chunk(page, &t.space)["children_state"].as_array().map(Vec::len), Some(4), "{page:#}");
}

async fn federating(ca: &TestCa) -> Homeserver {
    Homeserver::builder(Backend::RocksDb).federation(ca).start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexus_user_walks_a_space_on_another_nexus() {
    let ca = TestCa::new();
    let (a, b) = tokio::join!(federating(&ca), federating(&ca));
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let t = tree(&bob, &b.server_name()).await;

    alice.join_via(&t.space, &[&b.server_name()]).await;
    let page = walk_until(&alice, &t.space, &t.visible_to_space_members()).await;
    assert_summaries(&page, &t);
    assert!(!room_ids(&page).contains(&t.secret), "{page:#}");

    // Paging works over remote children too.
    let first = alice.get(&format!("{}?limit=2", room_path_v1(&t.space, "/hierarchy"))).await;
    assert_eq!(room_ids(first.expect_ok()), [t.space.clone(), t.sub.clone()], "{first:?}");
    let next =
        first.expect_ok()["next_batch"].as_str().unwrap_or_else(|| panic!("no next_batch: {first:?}")).to_owned();
    let second = alice.get(&format!("{}?limit=10&from={}", room_path_v1(&t.space, "/hierarchy"), enc(&next))).await;
    assert_eq!(room_ids(second.expect_ok()), [t.deep.clone(), t.lobby.clone(), t.members.clone()], "{second:?}");

    // A user of A who is not in the space (nor in A's copy of it) sees the
    // public rooms only: the restricted one asks for the space.
    let carol = a.api().register("carol", PASSWORD).await;
    let page = walk_until(&carol, &t.space, &[t.space.clone(), t.sub.clone(), t.deep.clone(), t.lobby.clone()]).await;
    assert!(!room_ids(&page).contains(&t.members), "{page:#}");
}

/// TestFederatedClientSpaces: the tree spans both servers, and a remote
/// sub-space has a child back on the viewer's server:
///
/// ```text
/// ROOT ─┬─ R1
///       ├─ SS1 ─┬─ ss2 ── R4
///       │       └─ r3
///       └─ r2
/// ```
/// (capitals on A, the viewer's server; lower case on B). A knows only its
/// own rooms, so ss2, r3 and r2 come from B's `/hierarchy`, and R4 from A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexus_user_walks_a_space_spread_over_two_nexus_servers() {
    let ca = TestCa::new();
    let (a, b) = tokio::join!(federating(&ca), federating(&ca));
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = b.api().register("bob", PASSWORD).await;
    let (on_a, on_b) = (a.server_name(), b.server_name());
    let public = |name: &str, space: bool| {
        let mut body = json!({"preset": "public_chat", "name": name});
        if space {
            body["creation_content"] = json!({"type": "m.space"});
        }
        body
    };
    let root = alice.create_room(public("ROOT", true)).await;
    let r1 = alice.create_room(public("R1", false)).await;
    let ss1 = alice.create_room(public("SS1", true)).await;
    let r4 = alice.create_room(public("R4", false)).await;
    let r2 = bob.create_room(public("r2", false)).await;
    let ss2 = bob.create_room(public("ss2", true)).await;
    let r3 = bob.create_room(public("r3", false)).await;
    let link = |owner: &'static str, parent: &String, child: &String, server: &String, order: &str| {
        let session = if owner == "alice" { &alice } else { &bob };
        let content = json!({"via": [server], "order": order});
        let (parent, child) = (parent.clone(), child.clone());
        async move { session.set_state(&parent, "m.space.child", &child, content).await }
    };
    link("alice", &root, &r1, &on_a, "1").await;
    link("alice", &root, &ss1, &on_a, "2").await;
    link("alice", &root, &r2, &on_b, "3").await;
    link("alice", &ss1, &ss2, &on_b, "1").await;
    link("alice", &ss1, &r3, &on_b, "2").await;
    link("bob", &ss2, &r4, &on_a, "1").await;

    let expected = [&root, &r1, &ss1, &ss2, &r4, &r3, &r2].map(|r| r.clone()).to_vec();
    let page = walk_until(&alice, &root, &expected).await;
    assert_eq!(chunk(&page, &ss2)["name"], "ss2", "{page:#}");
    assert_eq!(chunk(&page, &ss2)["room_type"], "m.space", "{page:#}");
    assert_eq!(chunk(&page, &ss2)["children_state"][0]["state_key"], r4.as_str(), "{page:#}");
    assert_eq!(chunk(&page, &r3)["name"], "r3", "{page:#}");
    assert_eq!(chunk(&page, &r2)["num_joined_members"], 1, "{page:#}");
}

/// TestRestrictedRoomsSpacesSummaryFederation: the space on A, a room on B
/// restricted to the space's members. B cannot tell who is in a space it
/// does not have, so the room shows for no one until a user of B joins the
/// space; then it shows for A's members of the space only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_room_on_another_server_shows_once_that_server_knows_the_space() {
    let ca = TestCa::new();
    let (a, b) = tokio::join!(federating(&ca), federating(&ca));
    let alice = a.api().register("alice", PASSWORD).await;
    let bob = a.api().register("bob", PASSWORD).await;
    let charlie = b.api().register("charlie", PASSWORD).await;
    let space = alice
        .create_room(json!({
            "preset": "public_chat",
            "name": "Space",
            "creation_content": {"type": "m.space"},
            "initial_state": [{"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "world_readable"}}],
        }))
        .await;
    let room = charlie
        .create_room(json!({
            "preset": "public_chat",
            "name": "Room",
            "room_version": "8",
            "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content": {
                "join_rule": "restricted",
                "allow": [{"type": "m.room_membership", "room_id": space, "via": [a.server_name()]}],
            }}],
        }))
        .await;
    alice.set_state(&space, "m.space.child", &room, json!({"via": [b.server_name()]})).await;

    // B does not know the space: the room is hidden from everyone.
    for viewer in [&alice, &bob] {
        let reply = viewer.get(&room_path_v1(&space, "/hierarchy")).await;
        assert_eq!(room_ids(reply.expect_ok()), [space.clone()], "{reply:?}");
    }

    charlie.join_via(&space, &[&a.server_name()]).await;
    let page = walk_until(&alice, &space, &[space.clone(), room.clone()]).await;
    assert_eq!(chunk(&page, &room)["allowed_room_ids"], json!([space]), "{page:#}");
    let reply = bob.get(&room_path_v1(&space, "/hierarchy")).await;
    assert_eq!(room_ids(reply.expect_ok()), [space.clone()], "bob is not in the space: {reply:?}");
}

async fn nexus_and_synapse() -> Option<(TestCa, Homeserver, Synapse)> {
    let ca = TestCa::new();
    let (synapse, nexus) = tokio::join!(Synapse::start(&ca), federating(&ca));
    Some((ca, nexus, synapse?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexus_user_walks_a_space_on_synapse() {
    let Some((_ca, nexus, synapse)) = nexus_and_synapse().await else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let t = tree(&bob, &synapse.server_name()).await;

    alice.join_via(&t.space, &[&synapse.server_name()]).await;
    let page = walk_until(&alice, &t.space, &t.visible_to_space_members()).await;
    assert_summaries(&page, &t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synapse_user_walks_a_space_on_nexus() {
    let Some((_ca, nexus, synapse)) = nexus_and_synapse().await else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let t = tree(&alice, &nexus.server_name()).await;

    // Synapse has the space once bob joins it, and asks Nexus's
    // federation /hierarchy for each child.
    bob.join_via(&t.space, &[&nexus.server_name()]).await;
    let page = walk_until(&bob, &t.space, &t.visible_to_space_members()).await;
    assert_summaries(&page, &t);
}

/// The federation endpoint itself, asked by a signing peer: one level
/// (the room with its `children_state`, its children's summaries), each
/// child judged for the asking server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_hierarchy_answers_one_level_for_the_asking_server() {
    let ca = TestCa::new();
    let (hs, peer) = tokio::join!(federating(&ca), SigningPeer::start(&ca));
    let alice = hs.api().register("alice", PASSWORD).await;
    let t = tree(&alice, &hs.server_name()).await;
    let (server, base) = (hs.server_name(), hs.federation_url());
    let ask = |room_id: String, query: &'static str| {
        let path = format!("/_matrix/federation/v1/hierarchy/{}{query}", enc(&room_id));
        let (peer, server, base) = (&peer, server.clone(), base.clone());
        async move { peer.request(&server, &base, Method::GET, &path, None).await }
    };

    // Unauthenticated: refused.
    let path = format!("/_matrix/federation/v1/hierarchy/{}", enc(&t.space));
    hs.federation_api().get(&path).await.expect_error(401, "M_UNAUTHORIZED");

    let reply = ask(t.space.clone(), "").await;
    let body = reply.expect_ok();
    assert_eq!(body["room"]["room_id"], t.space.as_str(), "{reply:?}");
    assert_eq!(body["room"]["room_type"], "m.space", "{reply:?}");
    let children_state = body["room"]["children_state"].as_array().unwrap_or_else(|| panic!("{reply:?}"));
    let keys: Vec<&str> = children_state.iter().filter_map(|c| c["state_key"].as_str()).collect();
    assert_eq!(keys, [&t.sub, &t.lobby, &t.secret, &t.members].map(String::as_str), "{reply:?}");
    assert!(children_state.iter().all(|c| c["origin_server_ts"].is_u64() && c["type"] == "m.space.child"));
    // One level: the sub-space's summary, not its child.
    let children: Vec<&str> =
        body["children"].as_array().into_iter().flatten().filter_map(|c| c["room_id"].as_str()).collect();
    assert_eq!(children, [t.sub.as_str(), t.lobby.as_str()], "{reply:?}");
    assert_eq!(body["children"][0]["name"], "Sub", "{reply:?}");
    // The peer has no one in the space: the restricted room is as closed to
    // it as the invite-only one.
    let mut inaccessible: Vec<&str> =
        body["inaccessible_children"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    inaccessible.sort();
    let mut expected = [t.secret.as_str(), t.members.as_str()];
    expected.sort();
    assert_eq!(inaccessible, expected, "{reply:?}");

    // suggested_only: no child is suggested.
    let reply = ask(t.space.clone(), "?suggested_only=true").await;
    assert_eq!(reply.expect_ok()["room"]["children_state"], json!([]), "{reply:?}");
    assert_eq!(reply.expect_ok()["children"], json!([]), "{reply:?}");

    // "404: The room is not known to the server or the requesting server is
    // unable to peek/join it."
    ask(t.secret.clone(), "").await.expect_error(404, "M_NOT_FOUND");
    ask(format!("!nowhere:{server}"), "").await.expect_error(404, "M_NOT_FOUND");

    // Once a user of the peer is in the space, the restricted room opens.
    peer.join(&server, &base, &t.space, &peer.user_id("pat")).await;
    let reply = ask(t.space.clone(), "").await;
    let children: Vec<&str> =
        reply.expect_ok()["children"].as_array().into_iter().flatten().filter_map(|c| c["room_id"].as_str()).collect();
    assert_eq!(children, [t.sub.as_str(), t.lobby.as_str(), t.members.as_str()], "{reply:?}");
    assert_eq!(reply.expect_ok()["children"][2]["allowed_room_ids"], json!([t.space]), "{reply:?}");
    assert_eq!(reply.expect_ok()["inaccessible_children"], json!([t.secret]), "{reply:?}");
}
