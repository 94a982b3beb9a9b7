//! The application service API (spec: "Application Service API", and the
//! client-server API's appservice sections; MSC2409, MSC3202, MSC4190,
//! MSC2659), black-box: a fake appservice on loopback receives what the
//! server pushes, and the scenarios act with its `as_token` as bridges do.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::FutureExt;
use nexus_complement::appservice::{FakeAppservice, Ghost, RegistrationFile, TransactionReply, registration_files_env};
use nexus_complement::{Backend, Homeserver, Method, both_backends, enc, room_path};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const WAIT: Duration = Duration::from_secs(20);

/// A server with these registrations (files in a directory that lives as
/// long as the returned guard), and `extra` environment.
async fn start_with_env(
    backend: Backend,
    registrations: &[&RegistrationFile],
    extra: &[(&str, &str)],
) -> (Homeserver, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a directory for registrations");
    let paths: Vec<PathBuf> = registrations.iter().map(|r| r.write_to(dir.path())).collect();
    let mut builder =
        Homeserver::builder(backend).env("NEXUS__APPSERVICE__REGISTRATION_FILES", registration_files_env(&paths));
    for (key, value) in extra {
        builder = builder.env(*key, *value);
    }
    (builder.start().await, dir)
}

async fn start_with(backend: Backend, registrations: &[&RegistrationFile]) -> (Homeserver, tempfile::TempDir) {
    start_with_env(backend, registrations, &[]).await
}

fn ghost(hs: &Homeserver, r: &RegistrationFile, name: &str) -> Ghost {
    Ghost::new(hs.api(), &r.as_token, &hs.user_id(&format!("{}_{name}", r.id)))
}

/// The appservice's own user (`sender_localpart`), as the bare token acts.
fn bot(hs: &Homeserver, r: &RegistrationFile) -> nexus_complement::Session {
    nexus_complement::Session {
        api: hs.api(),
        user_id: hs.user_id(&r.sender_localpart),
        device_id: String::new(),
        access_token: r.as_token.clone(),
        password: String::new(),
        refresh_token: None,
    }
}

async fn registered_ghost(hs: &Homeserver, r: &RegistrationFile, name: &str) -> Ghost {
    let g = ghost(hs, r, name);
    g.register(true).await.expect_ok();
    g
}

/// A room made by a ghost, with `alice` invited and joined.
async fn shared_room(g: &Ghost, alice: &nexus_complement::Session) -> String {
    let room_id = g.create_room(json!({"preset": "private_chat"})).await;
    g.post(&room_path(&room_id, "/invite"), json!({"user_id": alice.user_id})).await.expect_ok();
    alice.join(&room_id).await;
    room_id
}

/// What mautrix-python does when it starts (`/versions` ≥ v1.7, whoami as
/// the bot, whoami 403 → register → whoami for a ghost, ping), with open
/// registration off: appservices do not need it.
async fn bridge_start_up_handshake_as_mautrix_does_it(backend: Backend) {
    let appservice = FakeAppservice::start().await;
    let r = RegistrationFile::new("telegram", Some(appservice.url()));
    let (hs, _dir) = start_with_env(backend, &[&r], &[("NEXUS__REGISTRATION__ENABLED", "false")]).await;

    let versions = hs.api().get("/_matrix/client/versions").await;
    let listed: Vec<&str> =
        versions.expect_ok()["versions"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(listed.contains(&"v1.7"), "mautrix pings only from v1.7: {listed:?}");

    // The bot exists from the start, as on Synapse; no device is named.
    let whoami = bot(&hs, &r).whoami().await;
    assert_eq!(whoami.expect_ok()["user_id"], hs.user_id("telegrambot"), "{whoami:?}");
    assert!(whoami.json.get("device_id").is_none(), "{whoami:?}");

    let g = ghost(&hs, &r, "12345");
    g.get("/account/whoami").await.expect_error(403, "M_FORBIDDEN");
    let registered = g.register(true).await;
    assert_eq!(registered.expect_ok()["user_id"], g.user_id, "{registered:?}");
    assert!(registered.json.get("access_token").is_none(), "inhibit_login: {registered:?}");
    assert_eq!(g.get("/account/whoami").await.expect_ok()["user_id"], g.user_id);
    g.register(true).await.expect_error(400, "M_USER_IN_USE");

    let ping = hs
        .api()
        .post_as(
            &r.as_token,
            "/_matrix/client/v1/appservice/telegram/ping",
            json!({"transaction_id": "mautrix-ping-1"}),
        )
        .await;
    assert!(ping.expect_ok()["duration_ms"].is_u64(), "{ping:?}");
    let pinged = appservice.requests().into_iter().find(|q| q.path == "/_matrix/app/v1/ping").expect("a ping");
    assert_eq!(pinged.method, "POST");
    assert_eq!(pinged.body["transaction_id"], "mautrix-ping-1");
    assert_eq!(pinged.header("authorization"), Some(format!("Bearer {}", r.hs_token).as_str()));
}
both_backends!(bridge_start_up_handshake_as_mautrix_does_it);

/// Events a ghost is part of reach the appservice in transactions, with
/// the hs_token; events of rooms without its users do not.
async fn events_of_interest_reach_the_appservice_and_others_do_not(backend: Backend) {
    let appservice = FakeAppservice::start().await;
    let r = RegistrationFile::new("slack", Some(appservice.url()));
    let (hs, _dir) = start_with(backend, &[&r]).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let g = registered_ghost(&hs, &r, "bob").await;

    let room_id = shared_room(&g, &alice).await;
    let private = alice.create_room(json!({"preset": "private_chat"})).await;
    let secret = alice.send_message(&private, "not for bridges").await;
    let reply = alice.send_message(&room_id, "hello bridge").await;

    let delivered = appservice.wait_for_event(&reply, WAIT).await;
    assert_eq!(delivered["room_id"], room_id);
    assert_eq!(delivered["sender"], alice.user_id);
    assert_eq!(delivered["type"], "m.room.message");
    assert_eq!(delivered["content"]["body"], "hello bridge");
    let events = appservice.delivered_events();
    let ids: Vec<&str> = events.iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert!(!ids.contains(&secret.as_str()), "an event of a room without the appservice's users was sent");
    // The invite of alice by the ghost and her join came first, in order.
    let joined = events.iter().position(|e| e["type"] == "m.room.member" && e["state_key"] == alice.user_id.as_str());
    assert!(joined.is_some_and(|j| j < ids.iter().position(|i| *i == reply).unwrap()), "{events:#?}");

    // MSC3316: a bridged message keeps the time it had on its network.
    let path =
        room_path(&room_id, &format!("/send/m.room.message/{}?ts=1234567890123", nexus_complement::new_txn_id()));
    let old = g.put(&path, json!({"msgtype": "m.text", "body": "from 2009"})).await;
    let old = old.expect_ok()["event_id"].as_str().unwrap().to_owned();
    assert_eq!(appservice.wait_for_event(&old, WAIT).await["origin_server_ts"], 1_234_567_890_123_u64);
    let seen = alice.get(&room_path(&room_id, &format!("/event/{}", enc(&old)))).await;
    assert_eq!(seen.expect_ok()["origin_server_ts"], 1_234_567_890_123_u64);
    // A person's `ts` is not honoured.
    let path = room_path(&room_id, &format!("/send/m.room.message/{}?ts=1000", nexus_complement::new_txn_id()));
    let now = alice.put(&path, json!({"msgtype": "m.text", "body": "now"})).await;
    let now = now.expect_ok()["event_id"].as_str().unwrap().to_owned();
    assert_ne!(appservice.wait_for_event(&now, WAIT).await["origin_server_ts"], 1000);

    for t in appservice.transactions() {
        assert_eq!(t.header("authorization"), Some(format!("Bearer {}", r.hs_token).as_str()));
        assert!(t.body["events"].is_array(), "always an events array: {:?}", t.body);
    }
}
both_backends!(events_of_interest_reach_the_appservice_and_others_do_not);

/// A transaction the appservice fails is sent again with the same id and
/// the same body until it succeeds.
async fn failed_transaction_is_retried_with_the_same_id(backend: Backend) {
    let appservice = FakeAppservice::start().await;
    let r = RegistrationFile::new("discord", Some(appservice.url()));
    let (hs, _dir) = start_with(backend, &[&r]).await;
    let g = registered_ghost(&hs, &r, "carol").await;
    let room_id = g.create_room(json!({})).await;
    let first = g.send_message(&room_id, "first").await;
    appservice.wait_for_event(&first, WAIT).await;

    appservice.plan(1, TransactionReply::Status(500));
    appservice.plan(1, TransactionReply::HangUp);
    let second = g.send_message(&room_id, "second").await;
    appservice.wait_for_event(&second, WAIT).await;

    let carrying: Vec<_> = appservice
        .transactions()
        .into_iter()
        .filter(|t| t.events().iter().any(|e| e["event_id"] == second.as_str()))
        .collect();
    assert_eq!(carrying.len(), 3, "two failures and a success: {carrying:#?}");
    assert!(carrying.iter().all(|t| t.txn_id() == carrying[0].txn_id() && t.body == carrying[0].body), "{carrying:#?}");
    assert_eq!(carrying.iter().map(|t| t.status).collect::<Vec<_>>(), vec![Some(500), None, Some(200)]);
}
both_backends!(failed_transaction_is_retried_with_the_same_id);

/// MSC2409: typing, receipts and presence of a room with the appservice's
/// users, under both `ephemeral` and `de.sorunome.msc2409.ephemeral`.
async fn typing_and_receipts_arrive_as_ephemeral_under_both_names(backend: Backend) {
    let appservice = FakeAppservice::start().await;
    let mut r = RegistrationFile::new("whatsapp", Some(appservice.url()));
    r.receive_ephemeral = true;
    let (hs, _dir) = start_with(backend, &[&r]).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let g = registered_ghost(&hs, &r, "dave").await;
    let room_id = shared_room(&g, &alice).await;
    let message = g.send_message(&room_id, "read me").await;

    let typing_path = room_path(&room_id, &format!("/typing/{}", enc(&alice.user_id)));
    alice.put(&typing_path, json!({"typing": true, "timeout": 30000})).await.expect_ok();
    alice.post(&room_path(&room_id, &format!("/receipt/m.read/{}", enc(&message))), json!({})).await.expect_ok();

    let has = |kind: &'static str| {
        let alice = alice.user_id.clone();
        let room_id = room_id.clone();
        move |t: &nexus_complement::appservice::AppserviceRequest| {
            t.status == Some(200)
                && t.body["ephemeral"].as_array().is_some_and(|list| {
                    list.iter().any(|e| {
                        e["type"] == kind
                            && (kind == "m.presence" || e["room_id"] == room_id.as_str())
                            && e.to_string().contains(&alice)
                    })
                })
        }
    };
    let (typing, receipt) = (has("m.typing"), has("m.receipt"));
    let requests = appservice
        .wait_until("typing and a receipt", WAIT, |rs| rs.iter().any(&typing) && rs.iter().any(&receipt))
        .await;
    for t in requests.iter().filter(|t| typing(*t) || receipt(*t)) {
        assert_eq!(t.body["ephemeral"], t.body["de.sorunome.msc2409.ephemeral"], "{:?}", t.body);
    }
    let receipt_edu = requests.iter().find(|t| receipt(*t)).unwrap().body["ephemeral"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.receipt")
        .cloned()
        .unwrap();
    assert!(receipt_edu["content"][&message]["m.read"][&alice.user_id]["ts"].is_u64(), "{receipt_edu}");

    let presence_path = format!("/presence/{}/status", enc(&alice.user_id));
    alice.put(&presence_path, json!({"presence": "unavailable", "status_msg": "bridging"})).await.expect_ok();
    let presence = has("m.presence");
    let sender_is_alice = |t: &nexus_complement::appservice::AppserviceRequest| {
        presence(t)
            && t.body["ephemeral"].as_array().unwrap().iter().any(|e| {
                e["type"] == "m.presence"
                    && e["sender"] == alice.user_id.as_str()
                    && e["content"]["status_msg"] == "bridging"
            })
    };
    appservice.wait_until("alice's presence", WAIT, |rs| rs.iter().any(&sender_is_alice)).await;
}
both_backends!(typing_and_receipts_arrive_as_ephemeral_under_both_names);

/// Durability: events acknowledged while the appservice was down survive a
/// `kill -9` of the server and arrive after the restart, each in exactly one
/// transaction id.
async fn pending_transactions_survive_kill9_and_arrive_exactly_once(backend: Backend) {
    let appservice = FakeAppservice::start().await;
    appservice.set_default(TransactionReply::Status(503));
    let r = RegistrationFile::new("signal", Some(appservice.url()));
    let (mut hs, _dir) = start_with(backend, &[&r]).await;
    let g = registered_ghost(&hs, &r, "erin").await;
    let room_id = g.create_room(json!({})).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(g.send_message(&room_id, &format!("message {i}")).await);
    }
    appservice.wait_until("a failed attempt", WAIT, |rs| rs.iter().any(|t| t.status == Some(503))).await;

    hs.kill9();
    hs.restart().await;
    appservice.set_default(TransactionReply::Status(200));

    for id in &sent {
        appservice.wait_for_event(id, Duration::from_secs(40)).await;
    }
    let acked: Vec<_> = appservice.transactions().into_iter().filter(|t| t.status == Some(200)).collect();
    let mut acked_ids: Vec<&str> = acked.iter().filter_map(|t| t.txn_id()).collect();
    let total = acked_ids.len();
    acked_ids.sort();
    acked_ids.dedup();
    assert_eq!(acked_ids.len(), total, "a transaction id was acknowledged twice");
    for id in &sent {
        let carrying: std::collections::HashSet<_> = appservice
            .transactions()
            .into_iter()
            .filter(|t| t.events().iter().any(|e| e["event_id"] == id.as_str()))
            .filter_map(|t| t.txn_id().map(str::to_owned))
            .collect();
        assert_eq!(carrying.len(), 1, "{id} travelled under several transaction ids: {carrying:?}");
        let times = appservice.delivered_events().iter().filter(|e| e["event_id"] == id.as_str()).count();
        assert_eq!(times, 1, "{id} was acknowledged {times} times");
    }
}
both_backends!(pending_transactions_survive_kill9_and_arrive_exactly_once);

/// Bad input gets the spec's errors: wrong tokens, users outside the
/// namespace, unregistered ghosts, unknown devices, pings of another
/// appservice or of one that cannot be reached.
async fn wrong_tokens_and_foreign_namespaces_get_the_spec_errors(backend: Backend) {
    let appservice = FakeAppservice::start().await;
    let r = RegistrationFile::new("irc", Some(appservice.url()));
    let silent = RegistrationFile::new("nourl", None);
    let closed_port = nexus_complement::homeserver::free_port();
    let unreachable = RegistrationFile::new("gone", Some(format!("http://127.0.0.1:{closed_port}")));
    let (hs, _dir) = start_with(backend, &[&r, &silent, &unreachable]).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;

    api.get_as("not-a-token", "/account/whoami").await.expect_error(401, "M_UNKNOWN_TOKEN");
    let as_alice = Ghost::new(api.clone(), &r.as_token, &alice.user_id);
    as_alice.get("/account/whoami").await.expect_error(403, "M_FORBIDDEN");
    let other_bridge = Ghost::new(api.clone(), &r.as_token, &hs.user_id("nourl_someone"));
    other_bridge.get("/account/whoami").await.expect_error(403, "M_FORBIDDEN");
    ghost(&hs, &r, "unregistered").get("/account/whoami").await.expect_error(403, "M_FORBIDDEN");
    let g = registered_ghost(&hs, &r, "frank").await;
    g.on_device("NOSUCHDEVICE").get("/account/whoami").await.expect_error(400, "M_UNKNOWN_DEVICE");
    api.get_as(&r.as_token, "/account/whoami?user_id=not-a-user-id").await.expect_error(400, "M_INVALID_PARAM");

    let register = json!({"type": "m.login.application_service", "username": "irc_grace"});
    api.post("/register", register.clone()).await.expect_error(401, "M_MISSING_TOKEN");
    api.post_as("wrong", "/register", register.clone()).await.expect_error(401, "M_UNKNOWN_TOKEN");
    let outside = json!({"type": "m.login.application_service", "username": "grace"});
    api.post_as(&r.as_token, "/register", outside).await.expect_error(400, "M_EXCLUSIVE");
    // The hs_token is the server's secret towards the appservice, not a
    // client token.
    api.get_as(&r.hs_token, "/account/whoami").await.expect_error(401, "M_UNKNOWN_TOKEN");

    let ping = |token: &str, id: &str| {
        let request = api.raw(Method::POST, &format!("/_matrix/client/v1/appservice/{id}/ping")).bearer_auth(token);
        request.json(&json!({})).send()
    };
    let answer = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (status, body) = answer(ping(&r.as_token, "nourl").await.unwrap()).await;
    assert_eq!((status, body["errcode"].as_str()), (403, Some("M_FORBIDDEN")), "{body}");
    let (status, body) = answer(ping(&alice.access_token, "irc").await.unwrap()).await;
    assert_eq!((status, body["errcode"].as_str()), (403, Some("M_FORBIDDEN")), "{body}");
    let (status, body) = answer(ping(&silent.as_token, "nourl").await.unwrap()).await;
    assert_eq!((status, body["errcode"].as_str()), (400, Some("M_URL_NOT_SET")), "{body}");
    let (status, body) = answer(ping(&unreachable.as_token, "gone").await.unwrap()).await;
    assert_eq!((status, body["errcode"].as_str()), (502, Some("M_CONNECTION_FAILED")), "{body}");
    appservice.set_handler(|_| async { (500, json!({"errcode": "M_UNKNOWN", "error": "bridge broke"})) }.boxed());
    let (status, body) = answer(ping(&r.as_token, "irc").await.unwrap()).await;
    assert_eq!(
        (status, body["errcode"].as_str(), body["status"].as_u64()),
        (502, Some("M_BAD_STATUS"), Some(500)),
        "{body}"
    );
    assert!(body["body"].as_str().is_some_and(|b| b.contains("bridge broke")), "{body}");
    assert!(!hs.log().contains(&r.as_token) && !hs.log().contains(&r.hs_token), "a token reached the log");
}
both_backends!(wrong_tokens_and_foreign_namespaces_get_the_spec_errors);

/// Exclusive namespaces: people may not register an appservice's user ids
/// or create its aliases; the appservice's users may.
async fn exclusive_namespaces_are_refused_to_other_users(backend: Backend) {
    let r = RegistrationFile::new("matrix", None);
    let (hs, _dir) = start_with(backend, &[&r]).await;
    let api = hs.api();
    let reply = api.register_with(json!({"username": "matrix_mallory", "password": PASSWORD})).await;
    reply.expect_error(400, "M_EXCLUSIVE");
    let reply = api.register_with(json!({"username": "matrixbot", "password": PASSWORD})).await;
    reply.expect_error(400, "M_EXCLUSIVE");
    let alice = api.register("alice", PASSWORD).await;
    let room_id = alice.create_room(json!({})).await;
    let alias = format!("#matrix_lobby:{}", hs.server_name());
    let path = format!("/directory/room/{}", enc(&alias));
    alice.put(&path, json!({"room_id": room_id})).await.expect_error(400, "M_EXCLUSIVE");
    alice.post("/createRoom", json!({"room_alias_name": "matrix_other"})).await.expect_error(400, "M_EXCLUSIVE");

    let g = registered_ghost(&hs, &r, "owner").await;
    let ghost_room = g.create_room(json!({"room_alias_name": "matrix_lobby"})).await;
    let resolved = api.get(&path).await;
    assert_eq!(resolved.expect_ok()["room_id"], ghost_room, "{resolved:?}");
}
both_backends!(exclusive_namespaces_are_refused_to_other_users);

/// MSC4190: an appservice that manages devices itself registers without
/// logging in, creates and deletes its users' devices, and acts as them
/// (`org.matrix.msc3202.device_id`), including uploading their keys. One
/// without MSC4190 logs its users in with `m.login.application_service`.
async fn msc4190_appservice_manages_devices_and_masquerades_as_them(backend: Backend) {
    let mut r = RegistrationFile::new("e2b", None);
    r.msc4190 = true;
    let classic = RegistrationFile::new("classic", None);
    let (hs, _dir) = start_with(backend, &[&r, &classic]).await;
    let api = hs.api();

    let g = ghost(&hs, &r, "henry");
    g.register(false).await.expect_error(400, "M_APPSERVICE_LOGIN_UNSUPPORTED");
    g.register(true).await.expect_ok();
    let login = json!({"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": g.user_id}});
    api.post_as(&r.as_token, "/login", login).await.expect_error(400, "M_APPSERVICE_LOGIN_UNSUPPORTED");

    let created = g.put("/devices/BRIDGEDEV", json!({"display_name": "Bridge"})).await;
    assert!(created.status == 200 || created.status == 201, "{created:?}");
    let on_device = g.on_device("BRIDGEDEV");
    assert_eq!(on_device.get("/account/whoami").await.expect_ok()["device_id"], "BRIDGEDEV");
    let devices = g.get("/devices").await;
    assert!(devices.expect_ok()["devices"].to_string().contains("BRIDGEDEV"), "{devices:?}");
    let upload =
        on_device.post("/keys/upload", json!({"one_time_keys": {"curve25519:AAAAAQ": "c2VjcmV0a2V5MQ"}})).await;
    assert_eq!(upload.expect_ok()["one_time_key_counts"]["curve25519"], 1, "{upload:?}");
    // A second PUT renames; it does not create another device.
    g.put("/devices/BRIDGEDEV", json!({"display_name": "Renamed"})).await.expect_ok();
    g.delete("/devices/BRIDGEDEV", json!({})).await.expect_ok();
    on_device.get("/account/whoami").await.expect_error(400, "M_UNKNOWN_DEVICE");

    let c = ghost(&hs, &classic, "ivy");
    c.register(true).await.expect_ok();
    let login = json!({"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": c.user_id}});
    let session = api.post_as(&classic.as_token, "/login", login).await;
    let token = session.expect_ok()["access_token"].as_str().expect("an access token").to_owned();
    assert_eq!(api.get_as(&token, "/account/whoami").await.expect_ok()["user_id"], c.user_id);
    let foreign = json!({"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": "alice"}});
    api.post_as(&classic.as_token, "/login", foreign).await.expect_error(400, "M_EXCLUSIVE");
}
both_backends!(msc4190_appservice_manages_devices_and_masquerades_as_them);

/// Querying (spec: "Querying"): an unknown alias in the appservice's
/// namespace is asked of it, which creates the room, and the join goes on;
/// an unknown ghost invited is asked for the same way.
async fn unknown_alias_and_user_are_created_on_demand_by_the_appservice(backend: Backend) {
    let appservice = FakeAppservice::start().await;
    let r = RegistrationFile::new("gitter", Some(appservice.url()));
    let (hs, _dir) = start_with(backend, &[&r]).await;
    let api = hs.api();
    let alice = api.register("alice", PASSWORD).await;

    let (as_api, as_token) = (api.clone(), r.as_token.clone());
    let ghost_on_demand = ghost(&hs, &r, "kate");
    appservice.set_handler(move |request| {
        let (as_api, as_token, kate) = (as_api.clone(), as_token.clone(), ghost_on_demand.clone());
        async move {
            if request.path.starts_with("/_matrix/app/v1/rooms/") && request.path.contains("gitter_lobby") {
                let body = json!({"room_alias_name": "gitter_lobby", "preset": "public_chat"});
                as_api.post_as(&as_token, "/createRoom", body).await.expect_ok();
                return (200, json!({}));
            }
            if request.path.starts_with("/_matrix/app/v1/users/") && request.path.contains("gitter_kate") {
                kate.register(true).await.expect_ok();
                return (200, json!({}));
            }
            (404, json!({"errcode": "M_NOT_FOUND", "error": "no such thing"}))
        }
        .boxed()
    });

    let alias = format!("#gitter_lobby:{}", hs.server_name());
    let joined = alice.post(&format!("/join/{}", enc(&alias)), json!({})).await;
    let room_id = joined.expect_ok()["room_id"].as_str().unwrap().to_owned();
    let query = appservice.requests().into_iter().find(|q| q.path.starts_with("/_matrix/app/v1/rooms/")).unwrap();
    assert_eq!(query.header("authorization"), Some(format!("Bearer {}", r.hs_token).as_str()));

    let missing = format!("#gitter_nothing:{}", hs.server_name());
    api.get(&format!("/directory/room/{}", enc(&missing))).await.expect_error(404, "M_NOT_FOUND");

    let kate = hs.user_id("gitter_kate");
    alice.post(&room_path(&room_id, "/invite"), json!({"user_id": kate})).await.expect_ok();
    let nobody = hs.user_id("gitter_nobody");
    alice.post(&room_path(&room_id, "/invite"), json!({"user_id": nobody})).await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(unknown_alias_and_user_are_created_on_demand_by_the_appservice);

/// Third-party networks: the protocols appservices declare, and lookups
/// passed to them.
async fn third_party_lookups_are_answered_by_the_appservice(backend: Backend) {
    let appservice = FakeAppservice::start().await;
    let mut r = RegistrationFile::new("xmpp", Some(appservice.url()));
    r.protocols = vec!["xmpp".to_owned()];
    let (hs, _dir) = start_with(backend, &[&r]).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let protocol = json!({
        "user_fields": ["jid"], "location_fields": ["room"], "icon": "mxc://example.org/xmpp",
        "field_types": {"jid": {"regexp": ".*", "placeholder": "user@host"}, "room": {"regexp": ".*", "placeholder": "room@host"}},
        "instances": [{"desc": "XMPP", "fields": {}, "network_id": "xmpp"}],
    });
    let answer = protocol.clone();
    appservice.set_handler(move |request| {
        let answer = answer.clone();
        async move {
            match request.path.split('?').next().unwrap_or_default() {
                "/_matrix/app/v1/thirdparty/protocol/xmpp" => (200, answer),
                "/_matrix/app/v1/thirdparty/user/xmpp" => (
                    200,
                    json!([{"userid": "@xmpp_romeo:x", "protocol": "xmpp", "fields": {"jid": "romeo@montague.lit"}}]),
                ),
                _ => (404, json!({"errcode": "M_NOT_FOUND", "error": "no"})),
            }
        }
        .boxed()
    });

    // Each instance gains the instance_id that names its network's directory.
    let protocols = alice.get("/thirdparty/protocols").await;
    let mut with_instance_id = protocol.clone();
    with_instance_id["instances"][0]["instance_id"] = json!("xmpp|xmpp");
    assert_eq!(protocols.expect_ok()["xmpp"], with_instance_id, "{protocols:?}");
    let users = alice.get("/thirdparty/user/xmpp?jid=romeo%40montague.lit").await;
    assert_eq!(users.expect_status(200)[0]["fields"]["jid"], "romeo@montague.lit", "{users:?}");
    let asked =
        appservice.requests().into_iter().find(|q| q.path.starts_with("/_matrix/app/v1/thirdparty/user/")).unwrap();
    assert!(asked.path.contains("jid=romeo%40montague.lit"), "{asked:?}");
    alice.get("/thirdparty/protocol/irc").await.expect_error(404, "M_NOT_FOUND");
}
both_backends!(third_party_lookups_are_answered_by_the_appservice);

/// `PUT /directory/list/appservice/{networkId}/{roomId}`: a bridge lists a
/// room in its network's directory, which `/publicRooms` shows with
/// `third_party_instance_id` or `include_all_networks` and not by default.
async fn an_appservice_publishes_rooms_in_its_network_directory(backend: Backend) {
    let r = RegistrationFile::new("irc", None);
    let (hs, _dir) = start_with(backend, &[&r]).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let g = registered_ghost(&hs, &r, "channel").await;
    let bridged = g.create_room(json!({"preset": "public_chat", "name": "#nexus on libera"})).await;
    let main = alice.create_room(json!({"preset": "public_chat", "name": "main list", "visibility": "public"})).await;
    let publish = |visibility: &str| json!({ "visibility": visibility });
    let path = format!("/directory/list/appservice/libera/{}", enc(&bridged));
    bot(&hs, &r).put(&path, publish("public")).await.expect_ok();

    let rooms_of = |answer: &Value| -> Vec<String> {
        answer["chunk"].as_array().unwrap().iter().map(|room| room["room_id"].as_str().unwrap().to_owned()).collect()
    };
    let default = rooms_of(alice.get("/publicRooms").await.expect_ok());
    assert_eq!(default, vec![main.clone()], "the main list only");
    let network = alice.get(&format!("/publicRooms?third_party_instance_id={}", enc("irc|libera"))).await;
    assert_eq!(rooms_of(network.expect_ok()), vec![bridged.clone()]);
    let all = alice.post("/publicRooms", json!({"include_all_networks": true})).await;
    let mut all = rooms_of(all.expect_ok());
    all.sort();
    let mut expected = vec![main.clone(), bridged.clone()];
    expected.sort();
    assert_eq!(all, expected);
    let other = alice.post("/publicRooms", json!({"third_party_instance_id": "irc|oftc"})).await;
    assert!(rooms_of(other.expect_ok()).is_empty(), "another network's list is its own");

    // Only the appservice may, for rooms that exist, with a visibility.
    alice.put(&path, publish("private")).await.expect_error(403, "M_FORBIDDEN");
    let unknown = format!("/directory/list/appservice/libera/{}", enc(&format!("!nowhere:{}", hs.server_name())));
    bot(&hs, &r).put(&unknown, publish("public")).await.expect_error(404, "M_NOT_FOUND");
    bot(&hs, &r).put(&path, json!({})).await.expect_error(400, "M_BAD_JSON");
    bot(&hs, &r).put(&path, publish("secret")).await.expect_error(400, "M_INVALID_PARAM");
    alice.get("/publicRooms?third_party_instance_id=no-bar").await.expect_error(400, "M_INVALID_PARAM");

    bot(&hs, &r).put(&path, publish("private")).await.expect_ok();
    let network = alice.get(&format!("/publicRooms?third_party_instance_id={}", enc("irc|libera"))).await;
    assert!(rooms_of(network.expect_ok()).is_empty(), "unpublished");
}
both_backends!(an_appservice_publishes_rooms_in_its_network_directory);

/// A registration file that cannot be used stops start-up (and
/// `check-config`) with an error naming the file and the key.
#[test]
fn malformed_registration_is_refused_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = RegistrationFile::new("broken", None);
    r.users = "@broken_(".to_owned();
    let path = r.write_to(dir.path());
    let missing = dir.path().join("missing.yaml");
    let not_yaml = dir.path().join("list.yaml");
    std::fs::write(&not_yaml, "- just\n- a list\n").unwrap();
    for (file, key) in [(&path, "namespaces.users[0].regex"), (&missing, "(file)"), (&not_yaml, "(document)")] {
        for command in ["check-config", "serve"] {
            let output = std::process::Command::new(nexus_complement::nexus_binary())
                .arg(command)
                .env("NEXUS__APPSERVICE__REGISTRATION_FILES", registration_files_env(std::slice::from_ref(file)))
                .env("NEXUS__STORAGE__PATH", dir.path().join("data"))
                .env("NEXUS__LISTENERS__CLIENT", format!("127.0.0.1:{}", nexus_complement::homeserver::free_port()))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{command} accepted {}", file.display());
            assert!(stderr.contains(&file.display().to_string()) && stderr.contains(key), "{command}: {stderr}");
            assert!(!stderr.contains(&r.as_token), "{stderr}");
        }
    }
}

/// SIGHUP reads the registration files again: a changed token takes effect
/// without a restart, and a broken file keeps what was in force.
async fn sighup_reloads_the_registrations(backend: Backend) {
    let mut r = RegistrationFile::new("reload", None);
    let (hs, dir) = start_with(backend, &[&r]).await;
    let api = hs.api();
    api.get_as(&r.as_token, "/account/whoami").await.expect_ok();
    let old_token = r.as_token.clone();
    r.as_token = format!("{old_token}-rotated");
    r.write_to(dir.path());
    let hangup = |hs: &Homeserver| {
        // SAFETY: signalling the child this harness started, by its pid.
        unsafe { libc::kill(hs.pid().expect("running") as i32, libc::SIGHUP) };
    };
    hangup(&hs);
    nexus_complement::eventually("the new token", WAIT, || async {
        let reply = api.get_as(&r.as_token, "/account/whoami").await;
        if reply.status == 200 { Ok(()) } else { Err(format!("{reply:?}")) }
    })
    .await;
    api.get_as(&old_token, "/account/whoami").await.expect_error(401, "M_UNKNOWN_TOKEN");

    std::fs::write(dir.path().join("reload.yaml"), "id: [").unwrap();
    hangup(&hs);
    nexus_complement::eventually("the refusal in the log", WAIT, || async {
        if hs.log().contains("not reloaded") { Ok(()) } else { Err("not yet".to_owned()) }
    })
    .await;
    api.get_as(&r.as_token, "/account/whoami").await.expect_ok();
}
both_backends!(sighup_reloads_the_registrations);

/// MSC2409 with MSC3202: to-device messages for an appservice's users'
/// devices reach it, under `to_device` and `de.sorunome.msc2409.to_device`,
/// with the one-time key counts and unused fallback key types of those
/// devices, and the device list changes of users in its users' rooms.
async fn to_device_messages_for_ghosts_reach_the_appservice(backend: Backend) {
    let appservice = FakeAppservice::start().await;
    let mut r = RegistrationFile::new("e2bridge", Some(appservice.url()));
    r.msc3202 = true;
    r.msc4190 = true;
    let (hs, _dir) = start_with(backend, &[&r]).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let g = ghost(&hs, &r, "jane");
    g.register(true).await.expect_ok();
    g.put("/devices/GHOSTDEV", json!({"display_name": "Bridge"})).await;
    let keys = json!({"one_time_keys": {"curve25519:AAAAAQ": "b25ldGltZWtleQ", "curve25519:AAAAAg": "c2Vjb25ka2V5"}});
    g.on_device("GHOSTDEV").post("/keys/upload", keys).await.expect_ok();

    let path = format!("/sendToDevice/m.room_key_request/{}", nexus_complement::new_txn_id());
    let body = json!({"messages": {g.user_id.as_str(): {"GHOSTDEV": {"action": "request", "request_id": "r1"}}}});
    alice.put(&path, body).await.expect_ok();

    let carries = |t: &nexus_complement::appservice::AppserviceRequest| {
        t.status == Some(200) && t.body["to_device"].as_array().is_some_and(|list| !list.is_empty())
    };
    let requests = appservice.wait_until("a to-device message", WAIT, |rs| rs.iter().any(carries)).await;
    let transaction = requests.iter().find(|t| carries(t)).unwrap();
    assert_eq!(transaction.body["to_device"], transaction.body["de.sorunome.msc2409.to_device"]);
    let message = &transaction.body["to_device"][0];
    assert_eq!(message["type"], "m.room_key_request", "{message}");
    assert_eq!(message["sender"], alice.user_id, "{message}");
    assert_eq!(message["to_user_id"], g.user_id, "{message}");
    assert_eq!(message["to_device_id"], "GHOSTDEV", "{message}");
    assert_eq!(message["content"]["request_id"], "r1", "{message}");
    // MSC3202: the key counts of the devices the transaction concerns.
    let counts = &transaction.body["device_one_time_keys_count"];
    assert_eq!(counts[&g.user_id]["GHOSTDEV"]["curve25519"], 2, "{:#}", transaction.body);
    assert_eq!(counts, &transaction.body["org.matrix.msc3202.device_one_time_keys_count"]);
    let fallbacks = &transaction.body["device_unused_fallback_key_types"];
    assert_eq!(fallbacks[&g.user_id]["GHOSTDEV"], json!([]), "{:#}", transaction.body);
    assert_eq!(fallbacks, &transaction.body["org.matrix.msc3202.device_unused_fallback_key_types"]);

    // MSC3202: device list changes of users who share a room with a ghost.
    let room_id = g.create_room(json!({})).await;
    g.post(&room_path(&room_id, "/invite"), json!({"user_id": alice.user_id})).await.expect_ok();
    alice.join(&room_id).await;
    let device_keys = nexus_complement::e2ee_client::DeviceKeys::for_session(&alice).signed();
    alice.upload_keys(json!({"device_keys": device_keys})).await.expect_ok();
    let lists_alice = |t: &nexus_complement::appservice::AppserviceRequest| {
        t.status == Some(200)
            && t.body["device_lists"]["changed"]
                .as_array()
                .is_some_and(|c| c.iter().any(|u| u == alice.user_id.as_str()))
    };
    let requests = appservice.wait_until("alice's device list change", WAIT, |rs| rs.iter().any(lists_alice)).await;
    let transaction = requests.iter().find(|t| lists_alice(t)).unwrap();
    assert_eq!(transaction.body["device_lists"], transaction.body["org.matrix.msc3202.device_lists"]);

    // MSC3202: alice leaves the only room she shared with a ghost.
    alice.post(&room_path(&room_id, "/leave"), json!({})).await.expect_ok();
    let left_alice = |t: &nexus_complement::appservice::AppserviceRequest| {
        t.status == Some(200)
            && t.body["device_lists"]["left"].as_array().is_some_and(|l| l.iter().any(|u| u == alice.user_id.as_str()))
    };
    let requests = appservice.wait_until("alice in device_lists.left", WAIT, |rs| rs.iter().any(left_alice)).await;
    let transaction = requests.iter().find(|t| left_alice(t)).unwrap();
    assert_eq!(transaction.body["device_lists"], transaction.body["org.matrix.msc3202.device_lists"]);

    // A ghost leaving keeps alice tracked while another ghost still shares a
    // room with her, and tells of her when the last one goes.
    let shared = g.create_room(json!({"preset": "public_chat"})).await;
    let other = ghost(&hs, &r, "joan");
    other.register(true).await.expect_ok();
    other.post(&format!("/join/{}", enc(&shared)), json!({})).await.expect_ok();
    alice.join(&shared).await;
    g.post(&room_path(&shared, "/leave"), json!({})).await.expect_ok();
    let left_count =
        |rs: &[nexus_complement::appservice::AppserviceRequest]| rs.iter().filter(|t| left_alice(t)).count();
    let before = left_count(&appservice.requests());
    other.post(&room_path(&shared, "/leave"), json!({})).await.expect_ok();
    let requests = appservice.wait_until("alice left again", WAIT, |rs| left_count(rs) > before).await;
    assert_eq!(left_count(&requests), 2, "the first ghost's leaving did not end the sharing");
}
both_backends!(to_device_messages_for_ghosts_reach_the_appservice);

/// An appservice registered with `rate_limited: false` registers its users
/// in a burst that the per-address limit refuses to a person.
async fn unlimited_appservice_registers_past_the_rate_limit(backend: Backend) {
    let r = RegistrationFile::new("burst", None);
    let limits = [("NEXUS__RATE_LIMITS__REGISTER_PER_SECOND", "0.01"), ("NEXUS__RATE_LIMITS__REGISTER_BURST", "2")];
    let (hs, _dir) = start_with_env(backend, &[&r], &limits).await;
    for i in 0..6 {
        ghost(&hs, &r, &format!("n{i}")).register(true).await.expect_ok();
    }
    let api = hs.api();
    let mut statuses = Vec::new();
    for name in ["p1", "p2", "p3"] {
        statuses.push(api.register_with(json!({"username": name, "password": PASSWORD})).await.status);
    }
    assert!(statuses.contains(&429), "people are still limited: {statuses:?}");
}
both_backends!(unlimited_appservice_registers_past_the_rate_limit);

/// A direct room an appservice makes is not encrypted by default (it has
/// no Olm device unless it brings one, and then it asks for encryption in
/// `initial_state`, as mautrix does); a person's direct room still is.
async fn an_appservice_direct_room_is_encrypted_only_when_it_asks(backend: Backend) {
    let r = RegistrationFile::new("discord", None);
    let (hs, _dir) = start_with(backend, &[&r]).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let g = registered_ghost(&hs, &r, "dicebot").await;
    let encryption = |room_id: String| {
        let g = g.clone();
        async move { g.get(&room_path(&room_id, "/state/m.room.encryption/")).await }
    };

    let plain =
        g.create_room(json!({"preset": "trusted_private_chat", "is_direct": true, "invite": [alice.user_id]})).await;
    encryption(plain).await.expect_error(404, "M_NOT_FOUND");

    let asked = g
        .create_room(json!({
            "preset": "trusted_private_chat", "is_direct": true, "invite": [alice.user_id],
            "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
        }))
        .await;
    assert_eq!(encryption(asked).await.expect_ok()["algorithm"], "m.megolm.v1.aes-sha2");

    let persons = alice.create_room(json!({"preset": "trusted_private_chat", "is_direct": true})).await;
    let reply = alice.get(&room_path(&persons, "/state/m.room.encryption/")).await;
    assert_eq!(reply.expect_ok()["algorithm"], "m.megolm.v1.aes-sha2", "a person's direct room is encrypted");
}
both_backends!(an_appservice_direct_room_is_encrypted_only_when_it_asks);
