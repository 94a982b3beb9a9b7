//! Notification levels per server and per channel (extensions-spec §22, notification levels,
//! §4.2 `default_notifications`), expressed as standard push rules: each
//! scenario reads the `/sync` counts and the push gateway's deliveries that
//! follow from them, and the rules a stock client would see.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nexus_complement::nexus_servers::{CreatedServer, create_server, invite_code, join_by_code, path};
use nexus_complement::push_gateway::{PUSH_WAIT, PushGateway, Unread, room_unread};
use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc, eventually};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";
const APP_ID: &str = "org.example.nexus.tests";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn server_setting_path(space: &str) -> String {
    path(&format!("/servers/{}/notifications", enc(space)))
}

fn channel_setting_path(room: &str) -> String {
    path(&format!("/channels/{}/notifications", enc(room)))
}

async fn set_server(user: &Session, space: &str, body: Value) -> Value {
    user.put(&server_setting_path(space), body).await.expect_ok().clone()
}

async fn set_channel(user: &Session, room: &str, body: Value) -> Value {
    user.put(&channel_setting_path(room), body).await.expect_ok().clone()
}

async fn unread(user: &Session, room: &str) -> Unread {
    room_unread(&user.sync_with(None, "").await, room)
}

fn mention(user: &Session, body: &str) -> Value {
    json!({"msgtype": "m.text", "body": body, "m.mentions": {"user_ids": [user.user_id.as_str()]}})
}

fn text(body: &str) -> Value {
    json!({"msgtype": "m.text", "body": body})
}

async fn rule(user: &Session, kind: &str, rule_id: &str) -> Reply {
    user.get(&format!("/_matrix/client/v3/pushrules/global/{kind}/{}", enc(rule_id))).await
}

/// Alice's server with bob (and the given others) joined through a code.
async fn server_with(hs: &Homeserver, others: &[&str]) -> (CreatedServer, Session, Vec<Session>) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Gardening").await;
    let code = invite_code(&alice, &server.space, json!({})).await;
    let mut members = Vec::new();
    for name in others {
        let member = hs.api().register(name, PASSWORD).await;
        join_by_code(&member, &code).await;
        members.push(member);
    }
    (server, alice, members)
}

async fn channel_setting_beats_server_setting_in_counts_and_pushes(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob"]).await;
    let bob = &members[0];
    let general = &server.general;
    let gateway = PushGateway::start().await;
    bob.add_pusher(&gateway.url(), APP_ID, "bob-key", json!({})).await;

    // The default (all messages): a message notifies and is pushed.
    let m1 = alice.send_event(general, "m.room.message", text("one")).await;
    gateway.wait_for_event(&m1, "bob-key", PUSH_WAIT).await;
    assert_eq!(unread(bob, general).await, Unread::new(1, 0));

    // Only mentions for the whole server, expressed as a room rule.
    let answer = set_server(bob, &server.space, json!({"level": "only_mentions"})).await;
    assert_eq!(answer["level"], "only_mentions", "{answer:#}");
    let room_rule = rule(bob, "room", general).await;
    assert_eq!(room_rule.expect_ok()["actions"], json!([]), "{room_rule:?}");
    let m2 = alice.send_event(general, "m.room.message", text("two")).await;
    let m3 = alice.send_event(general, "m.room.message", mention(bob, "bob: three")).await;
    let pushed = gateway.wait_for_event(&m3, "bob-key", PUSH_WAIT).await;
    assert_eq!(pushed.notification()["event_id"], m3.as_str());
    assert!(gateway.requests_for(&m2, "bob-key").is_empty(), "a plain message is not pushed at only_mentions");
    assert_eq!(unread(bob, general).await, Unread::new(2, 1));

    // The channel's own level beats the server's.
    let answer = set_channel(bob, general, json!({"level": "all_messages"})).await;
    assert_eq!(answer["effective"]["level"], "all_messages", "{answer:#}");
    let m4 = alice.send_event(general, "m.room.message", text("four")).await;
    gateway.wait_for_event(&m4, "bob-key", PUSH_WAIT).await;
    assert_eq!(unread(bob, general).await, Unread::new(3, 1));

    // Nothing: not even a mention notifies.
    set_channel(bob, general, json!({"level": "nothing"})).await;
    rule(bob, "override", &format!("nexus.mute.{general}")).await.expect_ok();
    let m5 = alice.send_event(general, "m.room.message", mention(bob, "bob: five")).await;
    // Back to the server's level (only mentions): the next mention counts.
    let answer = set_channel(bob, general, json!({"level": null})).await;
    assert_eq!(answer["effective"]["level"], "only_mentions", "{answer:#}");
    rule(bob, "override", &format!("nexus.mute.{general}")).await.expect_error(404, "M_NOT_FOUND");
    let m6 = alice.send_event(general, "m.room.message", mention(bob, "bob: six")).await;
    gateway.wait_for_event(&m6, "bob-key", PUSH_WAIT).await;
    assert!(gateway.requests_for(&m5, "bob-key").is_empty(), "nothing means no push, even for a mention");
    assert_eq!(unread(bob, general).await, Unread::new(4, 2));

    let read = bob.get(&channel_setting_path(general)).await;
    assert_eq!(read.expect_ok()["level"], Value::Null, "{read:?}");
    assert_eq!(read.json["effective"]["level"], "only_mentions", "{read:?}");
}

async fn the_server_default_applies_to_members_who_chose_nothing(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["carol"]).await;
    let carol = &members[0];
    let general = &server.general;
    let mut content = alice.state_content(&server.space, "nexus.server", "").await;
    content["default_notifications"] = json!("only_mentions");
    alice.set_state(&server.space, "nexus.server", "", content).await;

    // Carol, already a member, and bob, who joins after, both get the
    // default as a standard room rule.
    let bob = hs.api().register("bob", PASSWORD).await;
    let code = invite_code(&alice, &server.space, json!({})).await;
    join_by_code(&bob, &code).await;
    for member in [carol, &bob] {
        eventually("the default room rule", Duration::from_secs(20), || async {
            let reply = rule(member, "room", general).await;
            if reply.status == 200 { Ok(()) } else { Err(format!("{reply:?}")) }
        })
        .await;
    }
    alice.send_event(general, "m.room.message", text("plain")).await;
    alice.send_event(general, "m.room.message", mention(&bob, "bob: hello")).await;
    assert_eq!(unread(&bob, general).await, Unread::new(1, 1));
    assert_eq!(unread(carol, general).await, Unread::new(0, 0));

    // Choosing a level replaces the default.
    set_channel(&bob, general, json!({"level": "all_messages"})).await;
    rule(&bob, "room", general).await.expect_error(404, "M_NOT_FOUND");
    alice.send_event(general, "m.room.message", text("plain again")).await;
    assert_eq!(unread(&bob, general).await, Unread::new(2, 1));
}

async fn everyone_and_role_mentions_can_be_suppressed(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "carol"]).await;
    let (bob, carol) = (&members[0], &members[1]);
    let general = &server.general;
    set_server(bob, &server.space, json!({"suppress_everyone": true, "suppress_roles": true})).await;

    let everyone = json!({"msgtype": "m.text", "body": "@room water the plants", "m.mentions": {"room": true}});
    alice.send_event(general, "m.room.message", everyone.clone()).await;
    let role_mention = json!({
        "msgtype": "m.text",
        "body": "@gardeners: compost day",
        "m.mentions": {"user_ids": [bob.user_id.as_str(), carol.user_id.as_str()]},
        "nexus.role_mention": true
    });
    alice.send_event(general, "m.room.message", role_mention).await;
    // Bob still hears of both (all messages), without a highlight; carol,
    // who suppressed nothing, is highlighted by both.
    assert_eq!(unread(bob, general).await, Unread::new(2, 0));
    assert_eq!(unread(carol, general).await, Unread::new(2, 2));

    // A setting replaces the previous one whole: @room highlights again.
    set_server(bob, &server.space, json!({})).await;
    alice.send_event(general, "m.room.message", everyone).await;
    assert_eq!(unread(bob, general).await, Unread::new(3, 1));
}

async fn a_timed_mute_ends_on_time_across_a_restart(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob"]).await;
    let bob = &members[0];
    let general = server.general.clone();
    let until = now_ms() + 4_000;
    let answer = set_channel(bob, &general, json!({"muted_until": until})).await;
    assert_eq!(answer["effective"]["muted"], true, "{answer:#}");
    alice.send_event(&general, "m.room.message", mention(bob, "bob: while muted")).await;
    assert_eq!(unread(bob, &general).await, Unread::new(0, 0));

    hs.restart().await;
    let bob = hs.api().login("bob", PASSWORD).await;
    let alice = hs.api().login("alice", PASSWORD).await;
    let mute = format!("nexus.mute.{general}");
    eventually("the mute to end", Duration::from_secs(30), || async {
        let reply = rule(&bob, "override", &mute).await;
        if reply.status == 404 { Ok(()) } else { Err(format!("still muted at {}: {reply:?}", now_ms())) }
    })
    .await;
    assert!(now_ms() >= until, "the mute ended early");
    alice.send_event(&general, "m.room.message", text("after the mute")).await;
    assert_eq!(unread(&bob, &general).await, Unread::new(1, 0));
    let read = bob.get(&channel_setting_path(&general)).await;
    assert_eq!(read.expect_ok()["effective"]["muted"], false, "{read:?}");
}

async fn bad_settings_are_refused_with_the_field_named(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob"]).await;
    let bob = &members[0];
    for (body, field) in [
        (json!({"level": "loud"}), "level"),
        (json!({"level": 3}), "level"),
        (json!({"muted_until": "tomorrow"}), "muted_until"),
        (json!({"muted_until": -5}), "muted_until"),
        (json!({"suppress_everyone": "yes"}), "suppress_everyone"),
        (json!({"suppress_roles": 1}), "suppress_roles"),
        (json!({"colour": "blue"}), "colour"),
        (json!([]), "object"),
    ] {
        let reply = bob.put(&channel_setting_path(&server.general), body.clone()).await;
        reply.expect_error(400, "M_BAD_JSON");
        assert!(reply.json["error"].as_str().unwrap_or_default().contains(field), "{body}: {reply:?}");
    }
    // Not a server's room: unknown to this API.
    let plain = alice.create_room(json!({})).await;
    alice.put(&channel_setting_path(&plain), json!({})).await.expect_error(404, "M_NOT_FOUND");
    // Not a member.
    let stranger = hs.api().register("mallory", PASSWORD).await;
    stranger.get(&server_setting_path(&server.space)).await.expect_error(403, "M_FORBIDDEN");
}

both_backends!(
    channel_setting_beats_server_setting_in_counts_and_pushes,
    the_server_default_applies_to_members_who_chose_nothing,
    everyone_and_role_mentions_can_be_suppressed,
    a_timed_mute_ends_on_time_across_a_restart,
    bad_settings_are_refused_with_the_field_named,
);
