//! The built-in LiveKit token service (lk-jwt-service's API, MSC4195):
//! tokens judged by LiveKit's own verifier (PyPI `livekit-api`
//! `TokenVerifier`), identities and room names derived as lk-jwt-service
//! derives them, room creation through the LiveKit server's Twirp API (a
//! recording stand-in here), and the refusals: a non-member, a bad or
//! foreign OpenID token, malformed bodies.
//!
//! The verifier lives in `NEXUS_LIVEKIT_VENV` (default
//! `~/.cache/nexus-bench/livekit-venv`, made by `scripts/test.sh`); without
//! it the verifier checks are skipped with a SKIP line, unless
//! `NEXUS_TEST_REQUIRE_LIVEKIT=1`.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use nexus_complement::client::{Session, enc};
use nexus_complement::nexus_servers::{create_server, invite_code, join_by_code};
use nexus_complement::push_gateway::{GatewayReply, PushGateway};
use nexus_complement::{Backend, Homeserver, both_backends};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "sUp3r-secret";
const API_KEY: &str = "APInexustest";
const API_SECRET: &str = "a-secret-long-enough-for-livekit-0123456789";
const SERVICE: &str = "/_nexus/livekit/jwt";
const CREATE_ROOM: &str = "/twirp/livekit.RoomService/CreateRoom";

fn verifier_python() -> Option<PathBuf> {
    let venv = std::env::var_os("NEXUS_LIVEKIT_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/nexus-bench/livekit-venv")))?;
    let python = venv.join("bin/python");
    let installed = std::process::Command::new(&python)
        .args(["-c", "import livekit.api"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Some(python);
    }
    if std::env::var("NEXUS_TEST_REQUIRE_LIVEKIT").as_deref() == Ok("1") {
        panic!("livekit-api is not installed in {} (scripts/test.sh installs it)", venv.display());
    }
    None
}

/// LiveKit's own reading of a token: its claims, or the verifier's error.
fn livekit_verify(jwt: &str, secret: &str) -> Option<Result<Value, String>> {
    let python = verifier_python()?;
    let script = r#"
import json, sys
from livekit.api import TokenVerifier
try:
    c = TokenVerifier(sys.argv[1], sys.argv[2]).verify(sys.argv[3])
except Exception as e:
    print(json.dumps({"error": repr(e)}))
    sys.exit(0)
v = c.video
print(json.dumps({"identity": c.identity, "room": v.room, "room_join": v.room_join,
  "room_create": v.room_create, "can_publish": v.can_publish, "can_subscribe": v.can_subscribe}))
"#;
    let output = std::process::Command::new(python)
        .args(["-c", script, API_KEY, secret, jwt])
        .output()
        .expect("run the LiveKit verifier");
    let answer: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("verifier output: {e}: {}", String::from_utf8_lossy(&output.stderr)));
    Some(match answer.get("error") {
        Some(error) => Err(error.to_string()),
        None => Ok(answer),
    })
}

fn hash_strings(parts: &[&str]) -> String {
    STANDARD_NO_PAD.encode(Sha256::digest(serde_json::to_vec(parts).unwrap()))
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn openid_token(user: &Session) -> Value {
    let reply = user.post(&format!("/user/{}/openid/request_token", enc(&user.user_id)), json!({})).await;
    reply.expect_ok().clone()
}

async fn start(backend: Backend, livekit: &PushGateway) -> Homeserver {
    Homeserver::builder(backend)
        .env("NEXUS__MATRIX_RTC__LIVEKIT_URL", livekit.base_url().replacen("http://", "ws://", 1))
        .env("NEXUS__MATRIX_RTC__LIVEKIT_API_KEY", API_KEY)
        .env("NEXUS__MATRIX_RTC__LIVEKIT_API_SECRET", API_SECRET)
        .start()
        .await
}

async fn members_get_tokens_livekit_accepts(backend: Backend) {
    let livekit = PushGateway::start_serving(CREATE_ROOM).await;
    livekit.set_default(GatewayReply::Json(200, json!({"sid": "RM_test", "name": "room"})));
    let hs = start(backend, &livekit).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "public_chat"})).await;

    // The transport Element Call finds is this server's own service.
    let transports = alice.get("/_matrix/client/unstable/org.matrix.msc4143/rtc/transports").await;
    let service_url = transports.expect_ok()["rtc_transports"][0]["livekit_service_url"].as_str().unwrap().to_owned();
    assert!(service_url.ends_with(SERVICE), "{service_url}");
    hs.api().get(&format!("{SERVICE}/healthz")).await.expect_ok();

    let openid = openid_token(&alice).await;
    let reply = hs
        .api()
        .post(
            &format!("{SERVICE}/get_token"),
            json!({
                "room_id": room_id, "slot_id": "m.call#ROOM", "openid_token": openid,
                "member": {"id": "member-1", "claimed_user_id": alice.user_id, "claimed_device_id": alice.device_id},
            }),
        )
        .await;
    let answer = reply.expect_ok().clone();
    assert_eq!(answer["url"], livekit.base_url().replacen("http://", "ws://", 1));
    let jwt = answer["jwt"].as_str().unwrap();
    let alias = hash_strings(&[&room_id, "m.call#ROOM"]);
    let identity = hash_strings(&[&alice.user_id, &alice.device_id, "member-1"]);
    let claims = claims_of(jwt);
    assert_eq!(claims["sub"], identity);
    assert_eq!(claims["video"]["room"], alias);
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["nbf"].as_u64().unwrap(), 3600);
    match livekit_verify(jwt, API_SECRET) {
        Some(verified) => {
            let verified = verified.expect("LiveKit's verifier accepts the token");
            assert_eq!(verified["identity"], identity);
            assert_eq!(verified["room"], alias);
            assert_eq!(verified["room_join"], true);
            assert_eq!(verified["can_publish"], true);
            assert_eq!(verified["can_subscribe"], true);
            let forged = livekit_verify(jwt, "another-secret-entirely-0123456789abcdef").unwrap();
            assert!(forged.is_err(), "a token checks out only with the configured secret");
        }
        None => eprintln!("SKIP livekit_token_service verifier checks: livekit-api is not installed"),
    }

    // A member of this server gets the room created on the LiveKit server.
    let created = livekit.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(created[0].path, CREATE_ROOM);
    assert_eq!(created[0].body["name"], alias);
    let bearer = created[0].header("authorization").unwrap().strip_prefix("Bearer ").unwrap().to_owned();
    assert_eq!(claims_of(&bearer)["video"]["roomCreate"], true);
    if let Some(verified) = livekit_verify(&bearer, API_SECRET) {
        assert_eq!(verified.unwrap()["room_create"], true);
    }

    // The legacy form: identity `user:device`, room from the Matrix room.
    let reply = hs
        .api()
        .post(
            &format!("{SERVICE}/sfu/get"),
            json!({"room": room_id, "openid_token": openid_token(&alice).await, "device_id": alice.device_id}),
        )
        .await;
    let claims = claims_of(reply.expect_ok()["jwt"].as_str().unwrap());
    assert_eq!(claims["sub"], format!("{}:{}", alice.user_id, alice.device_id));
    assert_eq!(claims["video"]["room"], alias);
}
both_backends!(members_get_tokens_livekit_accepts);

async fn outsiders_and_bad_input_are_refused(backend: Backend) {
    let livekit = PushGateway::start_serving(CREATE_ROOM).await;
    let hs = start(backend, &livekit).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let carol = hs.api().register("carol", PASSWORD).await;
    let room_id = alice.create_room(json!({"preset": "private_chat"})).await;
    let get_token = |openid: Value, claimed: &str, device: &str| {
        json!({
            "room_id": room_id, "slot_id": "m.call#ROOM", "openid_token": openid,
            "member": {"id": "m", "claimed_user_id": claimed, "claimed_device_id": device},
        })
    };
    let path = format!("{SERVICE}/get_token");

    // Not in the room.
    let reply = hs.api().post(&path, get_token(openid_token(&carol).await, &carol.user_id, &carol.device_id)).await;
    reply.expect_error(403, "M_FORBIDDEN");
    // An OpenID token nobody issued, or one claiming someone else.
    let forged = json!({"access_token": "nope", "token_type": "Bearer", "matrix_server_name": hs.server_name(), "expires_in": 3600});
    hs.api().post(&path, get_token(forged, &alice.user_id, &alice.device_id)).await.expect_error(401, "M_UNAUTHORIZED");
    let carols = openid_token(&carol).await;
    hs.api().post(&path, get_token(carols, &alice.user_id, &alice.device_id)).await.expect_error(401, "M_UNAUTHORIZED");
    // An access token is not an OpenID token.
    let access = json!({"access_token": alice.access_token, "matrix_server_name": hs.server_name()});
    hs.api().post(&path, get_token(access, &alice.user_id, &alice.device_id)).await.expect_error(401, "M_UNAUTHORIZED");

    // Malformed bodies are 400, never 500.
    let openid = openid_token(&alice).await;
    for body in [
        json!({}),
        json!({"room_id": room_id, "slot_id": "m.call#ROOM", "openid_token": openid}),
        json!({"room_id": 7, "slot_id": "m.call#ROOM", "openid_token": openid, "member": {"id": "m", "claimed_user_id": alice.user_id, "claimed_device_id": "D"}}),
        get_token(json!({"access_token": "", "matrix_server_name": ""}), &alice.user_id, "D"),
        get_token(openid.clone(), &alice.user_id, "D")
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o["room_id"] = json!("not a room id");
                Value::Object(o)
            })
            .unwrap(),
    ] {
        let reply = hs.api().post(&path, body.clone()).await;
        assert_eq!(reply.status, 400, "{body} -> {reply:?}");
        reply.expect_error_in(400, &["M_BAD_JSON", "M_NOT_JSON", "M_MISSING_PARAM"]);
    }
    let reply = hs.api().send(hs.api().raw(reqwest::Method::POST, &path).body("not json")).await;
    reply.expect_error_in(400, &["M_NOT_JSON", "M_BAD_JSON"]);
    assert!(livekit.requests().is_empty(), "nothing refused reached the LiveKit server");
}
both_backends!(outsiders_and_bad_input_are_refused);

async fn without_a_livekit_server_there_is_no_token_service(backend: Backend) {
    // No LiveKit configured and the embedded SFU switched off.
    let hs = Homeserver::builder(backend).env("NEXUS__SFU__ENABLED", "false").start().await;
    hs.api().post(&format!("{SERVICE}/get_token"), json!({})).await.expect_error(404, "M_UNRECOGNIZED");
}
both_backends!(without_a_livekit_server_there_is_no_token_service);

/// The `/get_token` body for `user` in `room`.
async fn token_request(user: &Session, room: &str) -> Value {
    json!({
        "room_id": room, "slot_id": "m.call#ROOM", "openid_token": openid_token(user).await,
        "member": {"id": format!("{}-member", user.device_id), "claimed_user_id": user.user_id, "claimed_device_id": user.device_id},
    })
}

async fn nexus_voice_channels_need_connect_and_keep_their_user_limit(backend: Backend) {
    let livekit = PushGateway::start_serving(CREATE_ROOM).await;
    let hs = start(backend, &livekit).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Voice").await;
    let code = invite_code(&alice, &server.space, json!({})).await;
    let mut members = Vec::new();
    for name in ["bob", "carol"] {
        let member = hs.api().register(name, PASSWORD).await;
        join_by_code(&member, &code).await;
        member.join(&server.voice).await;
        members.push(member);
    }
    let [bob, carol] = &members[..] else { unreachable!() };
    let path = format!("{SERVICE}/get_token");

    // One member at a time in the call.
    let mut channel = alice.state_content(&server.voice, "nexus.channel", "").await;
    channel["user_limit"] = json!(1);
    alice.set_state(&server.voice, "nexus.channel", "", channel.clone()).await;
    // Only voice channels have a user limit (§5).
    let mut general = alice.state_content(&server.general, "nexus.channel", "").await;
    general["user_limit"] = json!(1);
    alice.set_state_reply(&server.general, "nexus.channel", "", general).await.expect_error(400, "M_BAD_JSON");

    hs.api().post(&path, token_request(bob, &server.voice).await).await.expect_ok();
    let state_key = format!("_{}_{}_m.call", bob.user_id, bob.device_id);
    let membership = json!({"application": "m.call", "call_id": "", "scope": "m.room", "device_id": bob.device_id,
        "focus_active": {"type": "livekit", "focus_selection": "oldest_membership"}, "foci_preferred": []});
    bob.set_state(&server.voice, "org.matrix.msc3401.call.member", &state_key, membership).await;

    let full = hs.api().post(&path, token_request(carol, &server.voice).await).await;
    full.expect_error(403, "M_FORBIDDEN");
    assert!(full.json["error"].as_str().unwrap().contains("full"), "{full:?}");
    // Bob himself is not counted against his own place; the owner (MOVE_MEMBERS) may always join.
    hs.api().post(&path, token_request(bob, &server.voice).await).await.expect_ok();
    hs.api().post(&path, token_request(&alice, &server.voice).await).await.expect_ok();
    // Bob leaves the call: room for Carol.
    bob.set_state(&server.voice, "org.matrix.msc3401.call.member", &state_key, json!({})).await;
    hs.api().post(&path, token_request(carol, &server.voice).await).await.expect_ok();

    // Without CONNECT (an overwrite denying it to @everyone): refused.
    let deny_connect = (1u64 << 20).to_string();
    alice
        .set_state(
            &server.voice,
            "nexus.channel.overwrites",
            "",
            json!({"roles": {"everyone": {"deny": deny_connect}}}),
        )
        .await;
    let refused = hs.api().post(&path, token_request(carol, &server.voice).await).await;
    refused.expect_error(403, "M_FORBIDDEN");
    assert!(refused.json["error"].as_str().unwrap().contains("CONNECT"), "{refused:?}");
}
both_backends!(nexus_voice_channels_need_connect_and_keep_their_user_limit);

fn voice_path(room: &str, tail: &str) -> String {
    format!("/_nexus/client/v1/channels/{}/voice{tail}", enc(room))
}

async fn moderators_mute_deafen_and_disconnect_in_voice_channels(backend: Backend) {
    let livekit = PushGateway::start_serving(CREATE_ROOM).await;
    let hs = start(backend, &livekit).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Voice").await;
    let code = invite_code(&alice, &server.space, json!({})).await;
    let mut members = Vec::new();
    for name in ["bob", "carol"] {
        let member = hs.api().register(name, PASSWORD).await;
        join_by_code(&member, &code).await;
        member.join(&server.voice).await;
        members.push(member);
    }
    let [bob, carol] = &members[..] else { unreachable!() };
    let state_key = format!("_{}_{}_m.call", bob.user_id, bob.device_id);
    let membership = json!({"application": "m.call", "call_id": "", "scope": "m.room", "device_id": bob.device_id,
        "focus_active": {"type": "livekit", "focus_selection": "oldest_membership"}, "foci_preferred": []});
    bob.set_state(&server.voice, "org.matrix.msc3401.call.member", &state_key, membership).await;

    let listed = carol.get(&voice_path(&server.voice, "")).await;
    let participants = listed.expect_ok()["participants"].as_array().unwrap().clone();
    assert_eq!(participants.len(), 1, "{participants:?}");
    assert_eq!(participants[0]["user_id"], bob.user_id);
    assert_eq!(participants[0]["devices"], json!([bob.device_id]));
    assert_eq!(participants[0]["server_mute"], false);

    let grants = |jwt: &str| claims_of(jwt)["video"].clone();
    let token = |who: &Session| {
        let who = who.clone();
        let hs_api = hs.api();
        let voice = server.voice.clone();
        async move {
            let reply = hs_api.post(&format!("{SERVICE}/get_token"), token_request(&who, &voice).await).await;
            reply.expect_ok()["jwt"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(grants(&token(bob).await)["canPublish"], true);

    // Only moderators.
    let refused =
        carol.put(&voice_path(&server.voice, &format!("/{}", enc(&bob.user_id))), json!({"mute": true})).await;
    refused.expect_error(403, "M_FORBIDDEN");
    assert!(refused.json["error"].as_str().unwrap().contains("MUTE_MEMBERS"), "{refused:?}");
    let target = voice_path(&server.voice, &format!("/{}", enc(&bob.user_id)));
    alice.put(&target, json!({})).await.expect_error(400, "M_MISSING_PARAM");
    alice.put(&target, json!({"mute": "yes"})).await.expect_error(400, "M_BAD_JSON");

    alice.put(&target, json!({"mute": true})).await.expect_ok();
    let video = grants(&token(bob).await);
    assert_eq!((video["canPublish"].clone(), video["canSubscribe"].clone()), (json!(false), json!(true)));
    let listed = carol.get(&voice_path(&server.voice, "")).await;
    assert_eq!(listed.expect_ok()["participants"][0]["server_mute"], true);
    alice.put(&target, json!({"deaf": true})).await.expect_ok();
    let video = grants(&token(bob).await);
    assert_eq!((video["canPublish"].clone(), video["canSubscribe"].clone()), (json!(false), json!(false)));
    if let Some(verified) = livekit_verify(&token(bob).await, API_SECRET) {
        let verified = verified.expect("LiveKit's verifier accepts it");
        assert_eq!((verified["can_publish"].clone(), verified["can_subscribe"].clone()), (json!(false), json!(false)));
    }
    alice.put(&target, json!({"mute": false, "deaf": false})).await.expect_ok();
    assert_eq!(grants(&token(bob).await)["canPublish"], true);

    // Not a voice channel.
    let text = alice.put(&voice_path(&server.general, &format!("/{}", enc(&bob.user_id))), json!({"mute": true})).await;
    text.expect_error(400, "M_UNKNOWN");

    // Disconnect: MOVE_MEMBERS; the membership becomes empty.
    let disconnect = voice_path(&server.voice, &format!("/{}/disconnect", enc(&bob.user_id)));
    carol.post(&disconnect, json!({})).await.expect_error(403, "M_FORBIDDEN");
    let ended = alice.post(&disconnect, json!({})).await;
    assert_eq!(ended.expect_ok()["ended_memberships"], 1);
    let left = bob.get_state(&server.voice, "org.matrix.msc3401.call.member", &state_key).await;
    assert_eq!(left.expect_ok(), &json!({}));
    let listed = carol.get(&voice_path(&server.voice, "")).await;
    assert_eq!(listed.expect_ok()["participants"], json!([]));
}
both_backends!(moderators_mute_deafen_and_disconnect_in_voice_channels);

const GET_PARTICIPANT: &str = "/twirp/livekit.RoomService/GetParticipant";

async fn a_delegated_delayed_leave_is_held_while_present_and_sent_when_gone(backend: Backend) {
    let livekit = PushGateway::start_serving(GET_PARTICIPANT).await;
    livekit.plan(4, GatewayReply::Json(200, json!({"identity": "present"})));
    livekit.set_default(GatewayReply::Json(404, json!({"code": "not_found", "msg": "participant not found"})));
    let hs = start(backend, &livekit).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let room = alice.create_room(json!({"preset": "private_chat"})).await;
    let state_key = format!("_{}_{}_m.call", alice.user_id, alice.device_id);
    let kind = "org.matrix.msc3401.call.member";
    let schedule = format!("/rooms/{}/state/{kind}/{}?org.matrix.msc4140.delay=2000", enc(&room), enc(&state_key));
    let delay_id = alice.put(&schedule, json!({})).await.expect_ok()["delay_id"].as_str().unwrap().to_owned();
    alice.set_state(&room, kind, &state_key, json!({"application": "m.call", "device_id": alice.device_id})).await;
    let delegate = |delay_id: &str, claimed: &str| {
        json!({
            "room_id": room, "slot_id": "m.call#ROOM", "delay_id": delay_id, "delay_timeout": 2000,
            "delay_cs_api_url": hs.base_url(),
            "member": {"id": "m1", "claimed_user_id": claimed, "claimed_device_id": alice.device_id},
        })
    };
    let path = format!("{SERVICE}/delegate_delayed_leave");
    let mut body = delegate(&delay_id, &alice.user_id);
    body["openid_token"] = openid_token(&alice).await;
    hs.api().post(&path, body).await.expect_ok();

    // Present for four looks (one a second): the delay (2 s) passes
    // without the leave firing.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let state = alice.get_state(&room, kind, &state_key).await;
    assert_eq!(state.expect_ok()["application"], "m.call", "held while the participant is present");
    // Then gone: the leave is sent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alice.get_state(&room, kind, &state_key).await.expect_ok() != &json!({}) {
        assert!(std::time::Instant::now() < deadline, "the delegated leave was never sent");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let looks = livekit.requests();
    assert!(looks.len() >= 5, "{} looks", looks.len());
    assert_eq!(looks[0].body["room"], hash_strings(&[&room, "m.call#ROOM"]));
    assert_eq!(looks[0].body["identity"], hash_strings(&[&alice.user_id, &alice.device_id, "m1"]));
    let bearer = looks[0].header("authorization").unwrap().strip_prefix("Bearer ").unwrap().to_owned();
    assert_eq!(claims_of(&bearer)["video"]["roomAdmin"], true);

    // A delayed event that is not (any more) the caller's: 404; another
    // user's claim: 401.
    let mut body = delegate(&delay_id, &alice.user_id);
    body["openid_token"] = openid_token(&alice).await;
    hs.api().post(&path, body).await.expect_error(404, "M_NOT_FOUND");
    let mut body = delegate(&delay_id, "@mallory:example.org");
    body["openid_token"] = openid_token(&alice).await;
    hs.api().post(&path, body).await.expect_error(401, "M_UNAUTHORIZED");
}
both_backends!(a_delegated_delayed_leave_is_held_while_present_and_sent_when_gone);
