//! The built-in LiveKit token service for a user of another homeserver: a
//! Synapse user in a Nexus-hosted room gets a token with the OpenID token
//! Synapse issued, checked through Synapse's `/openid/userinfo` over
//! federation; Synapse is not a full-access server, so no LiveKit room is
//! created for them. RocksDB only: storage is not what this is about.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use nexus_complement::client::{Session, enc};
use nexus_complement::federation::invite_and_join;
use nexus_complement::push_gateway::PushGateway;
use nexus_complement::{Backend, Homeserver, Synapse, TestCa};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "fed-Passw0rd!";
const SERVICE: &str = "/_nexus/livekit/jwt";
const CREATE_ROOM: &str = "/twirp/livekit.RoomService/CreateRoom";

async fn token_request(user: &Session, room: &str, server_name: Option<&str>) -> Value {
    let path = format!("/user/{}/openid/request_token", enc(&user.user_id));
    let mut openid = user.post(&path, json!({})).await.expect_ok().clone();
    if let Some(name) = server_name {
        openid["matrix_server_name"] = json!(name);
    }
    json!({
        "room_id": room, "slot_id": "m.call#ROOM", "openid_token": openid,
        "member": {"id": "m1", "claimed_user_id": user.user_id, "claimed_device_id": user.device_id},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synapse_user_gets_a_token_through_federation_openid() {
    let ca = TestCa::new();
    let livekit = PushGateway::start_serving(CREATE_ROOM).await;
    let nexus_builder = Homeserver::builder(Backend::RocksDb)
        .federation(&ca)
        .env("NEXUS__MATRIX_RTC__LIVEKIT_URL", livekit.base_url().replacen("http://", "ws://", 1))
        .env("NEXUS__MATRIX_RTC__LIVEKIT_API_KEY", "APIfederation")
        .env("NEXUS__MATRIX_RTC__LIVEKIT_API_SECRET", "federation-secret-0123456789abcdef");
    let (synapse, nexus) = tokio::join!(Synapse::start(&ca), nexus_builder.start());
    let Some(synapse) = synapse else { return };
    let alice = nexus.api().register("alice", PASSWORD).await;
    let bob = synapse.register("bob", PASSWORD).await;
    let eve = synapse.register("eve", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "private_chat"})).await;
    invite_and_join(&alice, &bob, &room, &nexus.server_name()).await;
    let path = format!("{SERVICE}/get_token");

    let reply = nexus.api().post(&path, token_request(&bob, &room, None).await).await;
    let jwt = reply.expect_ok()["jwt"].as_str().unwrap().to_owned();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let identity = STANDARD_NO_PAD
        .encode(Sha256::digest(serde_json::to_vec(&[bob.user_id.as_str(), bob.device_id.as_str(), "m1"]).unwrap()));
    assert_eq!(claims["sub"], identity);
    assert_eq!(claims["video"]["roomJoin"], true);
    assert!(livekit.requests().is_empty(), "no LiveKit room is created for another server's user");

    // Synapse's token presented as if Nexus had issued it, and a Synapse
    // user who is not in the room.
    let forged = nexus.api().post(&path, token_request(&bob, &room, Some(&nexus.server_name())).await).await;
    forged.expect_error(401, "M_UNAUTHORIZED");
    let outsider = nexus.api().post(&path, token_request(&eve, &room, None).await).await;
    outsider.expect_error(403, "M_FORBIDDEN");
}
