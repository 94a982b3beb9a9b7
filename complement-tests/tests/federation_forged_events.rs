//! Forged federation traffic — spec: server-server API "Authentication"
//! (request authentication with `X-Matrix`) and "Checks performed on
//! receipt of a PDU": a PDU must pass signature checks "otherwise it is
//! dropped", and hash checks "otherwise it is redacted before being
//! processed further".
//!
//! The other side is [`SigningPeer`]: a tiny federation peer with its own
//! ed25519 key and key server, which joins a Nexus room through
//! `make_join`/`send_join` and then pushes PDUs it signed itself — correctly
//! (the control: the peer's machinery is right) or not.

use nexus_complement::Backend;
use nexus_complement::federation_peer::{PeerJoin, SigningPeer, now_ms};
use nexus_complement::signing::{KeyPair, reference_event_id};
use nexus_complement::{FEDERATION_WAIT, Homeserver, Method, Reply, Session, TestCa, enc, eventually, find_state};
use serde_json::{Value, json};

const PASSWORD: &str = "fed-Passw0rd!";

/// A federating Nexus with alice's public room, and a signing peer whose
/// user `mallory` has joined it over federation.
struct Fixture {
    _ca: TestCa,
    hs: Homeserver,
    alice: Session,
    peer: SigningPeer,
    room_id: String,
    mallory: String,
    join: PeerJoin,
    /// The ids of the room's `m.room.create` and `m.room.power_levels`.
    create_id: String,
    power_levels_id: String,
    /// alice's own `m.room.member` event id.
    alice_member_id: String,
}

impl Fixture {
    async fn new(room_version: &str) -> Fixture {
        let ca = TestCa::new();
        let (hs, peer) =
            tokio::join!(Homeserver::builder(Backend::RocksDb).federation(&ca).start(), SigningPeer::start(&ca));
        let alice = hs.api().register("alice", PASSWORD).await;
        let room_id = alice.create_room(json!({"preset": "public_chat", "room_version": room_version})).await;
        let mallory = peer.user_id("mallory");

        let join = peer.join(&hs.server_name(), &hs.federation_url(), &room_id, &mallory).await;
        assert_eq!(join.room_version, room_version);
        // The resident state sent with the join holds the room's creation
        // and alice's membership.
        let state = &join.response["state"];
        assert!(
            state.as_array().unwrap().iter().any(|e| e["type"] == "m.room.create"),
            "send_join state without m.room.create: {:#}",
            join.response
        );
        assert!(
            find_state(state, "m.room.member", &alice.user_id).is_some_and(|e| e["content"]["membership"] == "join"),
            "send_join state without alice's join: {:#}",
            join.response
        );
        alice.await_membership(&room_id, &mallory, "join").await;

        let room_state = alice.room_state(&room_id).await;
        let id_of = |event_type: &str, state_key: &str| {
            find_state(&room_state, event_type, state_key)
                .and_then(|e| e["event_id"].as_str())
                .unwrap_or_else(|| panic!("no {event_type} in the room state: {room_state:#}"))
                .to_owned()
        };
        let (create_id, power_levels_id, alice_member_id) =
            (id_of("m.room.create", ""), id_of("m.room.power_levels", ""), id_of("m.room.member", &alice.user_id));
        assert_eq!(id_of("m.room.member", &mallory), join.event_id, "Nexus computed another id for the peer's join");

        Fixture { _ca: ca, hs, alice, peer, room_id, mallory, join, create_id, power_levels_id, alice_member_id }
    }

    /// The `auth_events` of a message by a sender whose membership event is
    /// `member_id`: create (not in room version 12, where the create event
    /// is implied by the room id), power levels, the sender's membership.
    fn message_auth_events(&self, member_id: &str) -> Vec<String> {
        let mut auth = vec![self.power_levels_id.clone(), member_id.to_owned()];
        if self.join.room_version != "12" {
            auth.insert(0, self.create_id.clone());
        }
        auth
    }

    /// An unsigned `m.room.message` PDU by `sender` after `prev`.
    fn message(&self, sender: &str, member_id: &str, prev: &str, depth: u64, body: &str) -> Value {
        json!({
            "type": "m.room.message",
            "room_id": self.room_id,
            "sender": sender,
            "origin": self.peer.server_name(),
            "origin_server_ts": now_ms(),
            "depth": depth,
            "prev_events": [prev],
            "auth_events": self.message_auth_events(member_id),
            "content": {"msgtype": "m.text", "body": body},
        })
    }

    /// A correctly signed message by mallory after `prev`; returns its id.
    fn good_message(&self, prev: &str, depth: u64, body: &str) -> (String, Value) {
        let mut pdu = self.message(&self.mallory, &self.join.event_id, prev, depth, body);
        let id = self.peer.sign_pdu(&mut pdu);
        (id, pdu)
    }

    async fn send(&self, pdus: Vec<Value>) -> Reply {
        self.peer.send_transaction(&self.hs.server_name(), &self.hs.federation_url(), pdus).await
    }

    /// Sends a correctly signed message after `prev` and waits until alice
    /// can read it: after that, anything sent before it has been processed.
    async fn send_good_and_wait(&self, prev: &str, depth: u64, body: &str) -> String {
        let (id, pdu) = self.good_message(prev, depth, body);
        let reply = self.send(vec![pdu]).await;
        let result = pdu_result(&reply, &id);
        assert!(result.get("error").is_none(), "a correctly signed PDU was refused: {reply:?}");
        let event = self.alice.await_event(&self.room_id, &id).await;
        assert_eq!(event["content"]["body"], body, "{event:#}");
        assert_eq!(event["sender"], self.mallory.as_str(), "{event:#}");
        id
    }
}

/// `pdus[event_id]` of a `/send` answer ("The PDUs from the original
/// transaction. The string key is the event ID that was processed.").
#[track_caller]
fn pdu_result<'a>(reply: &'a Reply, event_id: &str) -> &'a Value {
    let result = &reply.expect_ok()["pdus"][event_id];
    assert!(result.is_object(), "the /send answer has no result for {event_id}: {reply:?}");
    result
}

#[track_caller]
fn expect_pdu_error(reply: &Reply, event_id: &str) {
    let result = pdu_result(reply, event_id);
    assert!(
        result.get("error").is_some_and(Value::is_string),
        "the forged PDU {event_id} must come back with an error: {reply:?}"
    );
}

/// alice cannot see `event_id`: `GET /rooms/{roomId}/event/{eventId}` is 404.
async fn expect_invisible(fx: &Fixture, event_id: &str) {
    fx.alice.get_event(&fx.room_id, event_id).await.expect_error(404, "M_NOT_FOUND");
}

// ----- the control: a correctly signed peer is accepted -----

async fn correctly_signed_pdus_are_accepted(room_version: &str) {
    let fx = Fixture::new(room_version).await;
    let since = fx.alice.sync_token().await;

    let first = fx.send_good_and_wait(&fx.join.event_id, fx.join.depth() + 1, "hello from the peer").await;
    let seen = fx.alice.await_timeline_event(&since, &fx.room_id, &first).await;
    assert_eq!(seen["content"]["body"], "hello from the peer", "{seen:#}");
    fx.send_good_and_wait(&first, fx.join.depth() + 2, "and again").await;

    // Nexus pushes its own users' events to the joined peer.
    let from_alice = fx.alice.send_message(&fx.room_id, "hello peer").await;
    let fx = &fx;
    eventually("Nexus sends alice's message to the peer", FEDERATION_WAIT, move || async move {
        let pushed = fx.peer.requests().into_iter().any(|r| {
            r.method == "PUT"
                && r.target.starts_with("/_matrix/federation/v1/send/")
                && r.body["pdus"].as_array().is_some_and(|pdus| {
                    pdus.iter()
                        .any(|p| p["content"]["body"] == "hello peer" && p["sender"] == fx.alice.user_id.as_str())
                })
        });
        if pushed { Ok(()) } else { Err(format!("not yet among {} requests", fx.peer.requests().len())) }
    })
    .await;
    assert!(from_alice.starts_with('$'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correctly_signed_pdus_from_a_joined_peer_are_accepted_room_v11() {
    correctly_signed_pdus_are_accepted("11").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correctly_signed_pdus_from_a_joined_peer_are_accepted_room_v12() {
    correctly_signed_pdus_are_accepted("12").await;
}

// ----- forged PDUs -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdu_with_a_bad_signature_is_dropped() {
    let fx = Fixture::new("11").await;
    let depth = fx.join.depth() + 1;

    // Signed with another key under the peer's key id.
    let impostor = KeyPair::generate(&fx.peer.key().key_id);
    let mut forged = fx.message(&fx.mallory, &fx.join.event_id, &fx.join.event_id, depth, "forged signature");
    let forged_id = nexus_complement::signing::sign_pdu(&mut forged, fx.peer.server_name(), &impostor);
    let reply = fx.send(vec![forged]).await;
    expect_pdu_error(&reply, &forged_id);

    // A good event sent afterwards arrives; the forged one never does.
    fx.send_good_and_wait(&fx.join.event_id, depth, "after the forgery").await;
    expect_invisible(&fx, &forged_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdu_without_its_origin_signature_is_dropped() {
    let fx = Fixture::new("11").await;
    let depth = fx.join.depth() + 1;

    let mut unsigned = fx.message(&fx.mallory, &fx.join.event_id, &fx.join.event_id, depth, "no signature");
    let unsigned_id = fx.peer.sign_pdu(&mut unsigned);
    unsigned.as_object_mut().unwrap().insert("signatures".to_owned(), json!({}));
    let reply = fx.send(vec![unsigned]).await;
    expect_pdu_error(&reply, &unsigned_id);

    fx.send_good_and_wait(&fx.join.event_id, depth, "after the unsigned one").await;
    expect_invisible(&fx, &unsigned_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdu_claiming_a_user_of_another_server_is_dropped() {
    let fx = Fixture::new("11").await;
    let depth = fx.join.depth() + 1;

    // "alice" says something — but only the peer signed it, not alice's
    // server (which is the very server receiving it).
    let mut forged = fx.message(&fx.alice.user_id, &fx.alice_member_id, &fx.join.event_id, depth, "I am alice");
    let forged_id = fx.peer.sign_pdu(&mut forged);
    let reply = fx.send(vec![forged]).await;
    expect_pdu_error(&reply, &forged_id);

    fx.send_good_and_wait(&fx.join.event_id, depth, "after the impersonation").await;
    expect_invisible(&fx, &forged_id).await;
    let bodies = nexus_complement::message_bodies(&fx.alice.paginate_all(&fx.room_id, "b", 50, None).await);
    assert!(!bodies.iter().any(|b| b == "I am alice"), "the impersonation is in the room: {bodies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdu_with_a_bad_content_hash_is_redacted_or_dropped() {
    let fx = Fixture::new("11").await;
    let depth = fx.join.depth() + 1;

    // Signed over the redacted form (which has no message content), then the
    // content is changed: the signature still verifies, the hash does not.
    let (tampered_id, mut tampered) = fx.good_message(&fx.join.event_id, depth, "original words");
    tampered["content"]["body"] = json!("tampered words");
    let reply = fx.send(vec![tampered]).await;
    let result = pdu_result(&reply, &tampered_id).clone();

    fx.send_good_and_wait(&fx.join.event_id, depth, "after the tampering").await;
    let seen = fx.alice.get_event(&fx.room_id, &tampered_id).await;
    match seen.status {
        // Dropped: then the transaction said so.
        404 => assert!(result.get("error").is_some(), "dropped without an error in /send: {reply:?}"),
        // "Passes hash checks, otherwise it is redacted before being
        // processed further": kept, but without the content that failed
        // the hash.
        200 => {
            let content = &seen.json["content"];
            assert!(
                content.get("body").is_none() && content.get("msgtype").is_none(),
                "an event whose content hash does not match must be redacted: {seen:?}"
            );
        }
        _ => panic!("unexpected answer for the tampered event: {seen:?}"),
    }
    let bodies = nexus_complement::message_bodies(&fx.alice.paginate_all(&fx.room_id, "b", 50, None).await);
    assert!(
        !bodies.iter().any(|b| b == "tampered words" || b == "original words"),
        "the tampered content is readable: {bodies:?}"
    );
}

// ----- request authentication -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_matrix_requests_are_verified_against_the_origin_key() {
    let ca = TestCa::new();
    let (hs, peer) =
        tokio::join!(Homeserver::builder(Backend::RocksDb).federation(&ca).start(), SigningPeer::start(&ca));
    let alice = hs.api().register("alice", PASSWORD).await;
    alice.set_displayname("Alice").await;
    let path = format!("/_matrix/federation/v1/query/profile?user_id={}", enc(&alice.user_id));
    let (dest, url) = (hs.server_name(), hs.federation_url());

    // Correctly signed by the peer (whose key Nexus fetches from it).
    let reply = peer.request(&dest, &url, Method::GET, &path, None).await;
    assert_eq!(reply.expect_ok()["displayname"], "Alice", "{reply:?}");

    // Signed with a key the peer does not publish, under its key id.
    let impostor = KeyPair::generate(&peer.key().key_id);
    let reply = peer.request_as(&impostor, peer.server_name(), &dest, &url, Method::GET, &path, None).await;
    reply.expect_error(401, "M_UNAUTHORIZED");

    // Signed correctly but for another destination.
    let reply =
        peer.request_as(peer.key(), peer.server_name(), "other.example.org", &url, Method::GET, &path, None).await;
    assert_eq!(reply.status, 401, "a request for another destination must be refused: {reply:?}");
    reply.expect_standard_error();

    // A signed body that was changed on the way.
    let txn = format!("/_matrix/federation/v1/send/{}", enc("forged-txn"));
    let signed_body = json!({"origin": peer.server_name(), "origin_server_ts": now_ms(), "pdus": [], "edus": []});
    let header = nexus_complement::signing::x_matrix_authorization(
        peer.key(),
        peer.server_name(),
        &dest,
        "PUT",
        &txn,
        Some(&signed_body),
    );
    let mut changed = signed_body.clone();
    changed["edus"] = json!([{"edu_type": "m.typing", "content": {}}]);
    let api = hs.federation_api();
    let reply = api.send(api.raw(Method::PUT, &txn).header("Authorization", header).json(&changed)).await;
    reply.expect_error(401, "M_UNAUTHORIZED");

    // Nexus fetched the peer's key from the peer's key server.
    assert!(
        peer.requests().iter().any(|r| r.method == "GET" && r.target.starts_with("/_matrix/key/v2/server")),
        "Nexus never asked the peer for its key: {:?}",
        peer.requests()
    );
}

// ----- history visibility for servers -----

/// A server whose users could not see an event gets it redacted: in a room
/// with `history_visibility: joined`, a message sent before the peer's user
/// joined comes back from `/backfill` and `/event` without its content,
/// while one sent after the join comes back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_get_history_their_users_could_not_see_redacted() {
    let ca = TestCa::new();
    let (hs, peer) =
        tokio::join!(Homeserver::builder(Backend::RocksDb).federation(&ca).start(), SigningPeer::start(&ca));
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice
        .create_room(json!({
            "preset": "public_chat",
            "room_version": "11",
            "initial_state": [{ "type": "m.room.history_visibility", "state_key": "", "content": { "history_visibility": "joined" } }],
        }))
        .await;
    let secret = alice.send_message(&room_id, "before you came: secret").await;
    let mallory = peer.user_id("mallory");
    let join = peer.join(&hs.server_name(), &hs.federation_url(), &room_id, &mallory).await;
    alice.await_membership(&room_id, &mallory, "join").await;
    let later = alice.send_message(&room_id, "after you came").await;

    let path = format!("/_matrix/federation/v1/backfill/{}?v={}&limit=50", enc(&room_id), enc(&later));
    let reply = peer.request(&hs.server_name(), &hs.federation_url(), Method::GET, &path, None).await;
    let pdus = reply.expect_ok()["pdus"].as_array().cloned().unwrap_or_default();
    let body_of =
        |id: &str| -> Option<Value> { pdus.iter().find(|p| reference_event_id(p) == id).map(|p| p["content"].clone()) };
    assert!(!pdus.is_empty(), "/backfill returned nothing: {reply:?}");
    let secret_content =
        body_of(&secret).unwrap_or_else(|| panic!("the earlier message is not in /backfill: {reply:?}"));
    assert!(secret_content.get("body").is_none(), "the earlier message's content reached the server: {secret_content}");
    let later_content = body_of(&later).unwrap_or_else(|| panic!("the later message is not in /backfill: {reply:?}"));
    assert_eq!(later_content["body"], "after you came", "{reply:?}");
    assert!(pdus.iter().any(|p| reference_event_id(p) == join.event_id), "the peer's join is not in /backfill");

    let path = format!("/_matrix/federation/v1/event/{}", enc(&secret));
    let reply = peer.request(&hs.server_name(), &hs.federation_url(), Method::GET, &path, None).await;
    let pdu = reply.expect_ok()["pdus"][0].clone();
    assert!(pdu["content"].get("body").is_none(), "/event gave the earlier message whole: {pdu}");
}
