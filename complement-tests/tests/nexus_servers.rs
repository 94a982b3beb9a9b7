//! Nexus servers (extensions-spec §4–§9, §14, §16) run by the homeserver,
//! proven through real requests: a server made in one call, the spec's
//! worked example compiled to its tables, each Nexus-enforced permission
//! with a member who may and one who may not, the update rules, invite
//! codes, and malformed input answered with the field named.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nexus_complement::nexus_servers::{
    assign_role, assign_role_reply, await_membership, compiled, create_channel, create_channel_reply, create_server,
    invite_code, join_by_code, join_by_code_reply, join_when_invited, path, permissions, put_role, put_role_reply,
    server_path, settled_power_levels, time_out,
};
use nexus_complement::{Backend, Homeserver, Reply, Session, both_backends, enc, eventually, relates_to};
use serde_json::{Value, json};

const PASSWORD: &str = "sUp3r-secret";

const VIEW_CHANNEL: u64 = 1 << 10;
const SEND_MESSAGES: u64 = 1 << 11;
const ADD_REACTIONS: u64 = 1 << 6;
const ATTACH_FILES: u64 = 1 << 15;
const KICK_MEMBERS: u64 = 1 << 1;
const BAN_MEMBERS: u64 = 1 << 2;
const ADMINISTRATOR: u64 = 1 << 3;
const MANAGE_ROLES: u64 = 1 << 28;
const BYPASS_SLOWMODE: u64 = 1 << 52;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn role(name: &str, position: u32, permissions: u64) -> Value {
    json!({ "name": name, "position": position, "permissions": permissions.to_string() })
}

#[track_caller]
fn expect_refusal(reply: &Reply, status: u16, errcode: &str, names: &str) {
    reply.expect_error(status, errcode);
    let error = reply.json["error"].as_str().unwrap_or_default();
    assert!(error.contains(names), "the refusal should name {names:?}: {reply:?}");
}

/// Alice's server with the given members joined through an invite code.
async fn server_with(
    hs: &Homeserver,
    members: &[&str],
) -> (nexus_complement::nexus_servers::CreatedServer, Session, Vec<Session>) {
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Gardening").await;
    let code = invite_code(&alice, &server.space, json!({})).await;
    let mut sessions = Vec::new();
    for name in members {
        let member = hs.api().register(name, PASSWORD).await;
        join_by_code(&member, &code).await;
        sessions.push(member);
    }
    (server, alice, sessions)
}

fn image() -> Value {
    json!({ "msgtype": "m.image", "body": "cat.png", "url": "mxc://example.org/cat" })
}

async fn a_server_is_created_in_one_call(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob"]).await;
    let bob = &members[0];

    let create = alice.state_content(&server.space, "m.room.create", "").await;
    assert_eq!(create["type"], "m.space", "the server is a space: {create}");
    let nexus_server = alice.state_content(&server.space, "nexus.server", "").await;
    assert_eq!(nexus_server["owner"], alice.user_id.as_str());
    assert_eq!(nexus_server["system_channel"], server.general.as_str());
    let everyone = alice.state_content(&server.space, "nexus.role", "everyone").await;
    assert_eq!(everyone["position"], 0);
    for (channel, order, kind) in
        [(&server.general, "001.0000000000", "text"), (&server.voice, "002.0000000000", "voice")]
    {
        let child = alice.state_content(&server.space, "m.space.child", channel).await;
        assert_eq!(child["order"], order, "stock clients order channels as Nexus does: {child}");
        let parent = alice.state_content(channel, "m.space.parent", &server.space).await;
        assert_eq!(parent["canonical"], true);
        let join_rules = alice.state_content(channel, "m.room.join_rules", "").await;
        assert_eq!(join_rules["join_rule"], "restricted", "public channels admit the space's members: {join_rules}");
        assert_eq!(alice.state_content(channel, "nexus.channel", "").await["type"], kind);
    }
    // Bob came in by code: member of the space and of both channels.
    for room in [&server.space, &server.general, &server.voice] {
        let member = bob.state_content(room, "m.room.member", &bob.user_id).await;
        assert_eq!(member["membership"], "join", "{room}");
    }
    let overview = bob.get(&server_path(&server.space, "")).await.expect_ok().clone();
    assert_eq!(overview["channels"].as_array().unwrap().len(), 2, "{overview:#}");
    // Every room's power levels are the compiler's, and bob may post.
    for room in [&server.space, &server.general, &server.voice] {
        let levels = settled_power_levels(&alice, room).await;
        assert!(levels["users"].get(alice.user_id.as_str()).is_none(), "v12 creators are not listed: {levels}");
    }
    bob.send_message(&server.general, "hello").await;
}

/// extensions-spec §9.6, built through the Nexus API: the compiled power
/// levels of the space, #general and #mods-only equal the spec's tables.
async fn the_worked_example_compiles_to_the_spec_tables(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "carol", "dave", "erin", "frank"]).await;
    let [bob, carol, dave, erin, frank] = &members[..] else { unreachable!() };
    let example = |name: &str| -> Value {
        let path = format!("{}/../extensions-spec/examples/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
    };
    for role_id in ["everyone", "admin", "moderator", "muted"] {
        put_role(&alice, &server.space, role_id, example(&format!("nexus.role.{role_id}.json"))["content"].clone())
            .await;
    }
    assign_role(&alice, &server.space, &bob.user_id, "moderator").await;
    assign_role(&alice, &server.space, &carol.user_id, "admin").await;
    assign_role(&alice, &server.space, &carol.user_id, "moderator").await;
    assign_role(&alice, &server.space, &dave.user_id, "muted").await;
    time_out(&alice, &server.space, &frank.user_id, Some(now_ms() + 3_600_000)).await.expect_ok();
    alice
        .set_state(
            &server.general,
            "nexus.channel.overwrites",
            "",
            example("nexus.channel.overwrites.general.json")["content"].clone(),
        )
        .await;
    let mods_only = create_channel(&alice, &server.space, json!({ "name": "mods-only", "private": true })).await;
    let mut overwrites = example("nexus.channel.overwrites.mods-only.json")["content"].clone();
    let erin_overwrite = overwrites["members"]["@erin:example.org"].take();
    overwrites["members"] = json!({ erin.user_id.as_str(): erin_overwrite });
    alice.set_state(&mods_only, "nexus.channel.overwrites", "", overwrites).await;
    // Those who may see the private channel are invited by the server (§9.4).
    for member in [bob, carol, erin] {
        join_when_invited(member, &mods_only).await;
    }
    assert_eq!(alice.get_state(&mods_only, "m.room.member", &dave.user_id).await.status, 404, "dave is not invited");

    let ids: Vec<(String, &str)> =
        [("alice", &alice), ("bob", bob), ("carol", carol), ("dave", dave), ("erin", erin), ("frank", frank)]
            .into_iter()
            .map(|(name, s)| (format!("@{name}:example.org"), s.user_id.as_str()))
            .collect();
    for (room, file) in [(&server.space, "space"), (&server.general, "general"), (&mods_only, "mods-only")] {
        let mut wanted = example(&format!("compiled/{file}.power_levels.json"))["content"].clone();
        let users: serde_json::Map<String, Value> = wanted["users"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(user, level)| (ids.iter().find(|(e, _)| e == user).unwrap().1.to_owned(), level.clone()))
            .collect();
        wanted["users"] = Value::Object(users);
        let levels = settled_power_levels(&alice, room).await;
        assert_eq!(levels, wanted, "{file}: the compiled power levels differ from extensions-spec §9.6");
        let report = compiled(&alice, room).await;
        assert_eq!(report["lost"], json!([]), "{file}: the worked example is exact");
        assert_eq!(report["excess"], json!([]), "{file}");
    }
}

async fn attachments_and_new_reactions_follow_the_channel(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "dave"]).await;
    let [bob, dave] = &members[..] else { unreachable!() };
    put_role(&alice, &server.space, "quiet", role("Quiet", 1, 0)).await;
    assign_role(&alice, &server.space, &dave.user_id, "quiet").await;
    let deny = (ATTACH_FILES | ADD_REACTIONS).to_string();
    alice
        .set_state(
            &server.general,
            "nexus.channel.overwrites",
            "",
            json!({ "roles": { "quiet": { "allow": "0", "deny": deny } } }),
        )
        .await;

    bob.send_event(&server.general, "m.room.message", image()).await;
    let refused = dave.send_event_reply(&server.general, "m.room.message", image()).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "ATTACH_FILES");
    let refused = dave
        .send_event_reply(&server.general, "m.sticker", json!({ "body": "s", "url": "mxc://x/y", "info": {} }))
        .await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "ATTACH_FILES");
    let post = dave.send_message(&server.general, "words are fine").await;

    let reaction = |key: &str| json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": post, "key": key } });
    let refused = dave.send_event_reply(&server.general, "m.reaction", reaction("🌱")).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "ADD_REACTIONS");
    bob.send_event(&server.general, "m.reaction", reaction("🌱")).await;
    // Joining an existing reaction needs only history access (§7.1).
    dave.send_event(&server.general, "m.reaction", reaction("🌱")).await;

    assert_eq!(permissions(dave, &server.general, &dave.user_id).await & ATTACH_FILES, 0);
    assert_ne!(permissions(dave, &server.general, &bob.user_id).await & ATTACH_FILES, 0);
}

async fn slowmode_paces_posts_unless_bypassed(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "carol"]).await;
    let [bob, carol] = &members[..] else { unreachable!() };
    alice
        .set_state(
            &server.general,
            "nexus.channel",
            "",
            json!({ "type": "text", "position": 0, "category": "text", "slowmode_seconds": 30 }),
        )
        .await;
    put_role(&alice, &server.space, "regular", role("Regular", 1, BYPASS_SLOWMODE)).await;
    assign_role(&alice, &server.space, &carol.user_id, "regular").await;

    bob.send_message(&server.general, "first").await;
    let second =
        bob.send_event_reply(&server.general, "m.room.message", json!({ "msgtype": "m.text", "body": "second" })).await;
    second.expect_error(429, "M_LIMIT_EXCEEDED");
    let retry = second.json["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!(retry > 0 && retry <= 30_000, "{second:?}");
    // A thread post counts too (§7.5).
    let root = alice.send_message(&server.general, "a thread").await;
    let in_thread = json!({ "msgtype": "m.text", "body": "reply", "m.relates_to": relates_to("m.thread", &root) });
    bob.send_event_reply(&server.general, "m.room.message", in_thread).await.expect_error(429, "M_LIMIT_EXCEEDED");
    carol.send_message(&server.general, "one").await;
    carol.send_message(&server.general, "two: BYPASS_SLOWMODE").await;
}

async fn muted_and_timed_out_members_only_read(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "dave", "frank"]).await;
    let [bob, dave, frank] = &members[..] else { unreachable!() };
    put_role(&alice, &server.space, "muted", role("Muted", 1, 0)).await;
    assign_role(&alice, &server.space, &dave.user_id, "muted").await;
    alice
        .set_state(
            &server.general,
            "nexus.channel.overwrites",
            "",
            json!({ "roles": { "muted": { "deny": SEND_MESSAGES.to_string() } } }),
        )
        .await;
    let refused =
        dave.send_event_reply(&server.general, "m.room.message", json!({ "msgtype": "m.text", "body": "hi" })).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "SEND_MESSAGES");
    bob.send_message(&server.general, "bob may post").await;

    // A timeout of a few seconds: frank reads but cannot post, then can again.
    time_out(&alice, &server.space, &frank.user_id, Some(now_ms() + 4_000)).await.expect_ok();
    let refused =
        frank.send_event_reply(&server.general, "m.room.message", json!({ "msgtype": "m.text", "body": "hi" })).await;
    refused.expect_error(403, "M_FORBIDDEN");
    frank.messages(&server.general, "dir=b&limit=5").await.expect_ok();
    let levels = settled_power_levels(&alice, &server.general).await;
    assert!(levels["users"][frank.user_id.as_str()].as_i64().unwrap() < 0, "timed out: below users_default {levels}");
    // The timeout ends on time, and the power levels follow.
    eventually("the timeout ends", Duration::from_secs(20), || async {
        let reply = frank
            .send_event_reply(&server.general, "m.room.message", json!({ "msgtype": "m.text", "body": "back" }))
            .await;
        if reply.status == 200 { Ok(()) } else { Err(format!("{reply:?}")) }
    })
    .await;
    eventually("power levels without the timeout", Duration::from_secs(20), || async {
        let levels = alice.state_content(&server.general, "m.room.power_levels", "").await;
        if levels["users"].get(frank.user_id.as_str()).is_none() { Ok(()) } else { Err(levels.to_string()) }
    })
    .await;
}

async fn private_channels_need_view_channel(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "dave"]).await;
    let [bob, dave] = &members[..] else { unreachable!() };
    let staff = create_channel(&alice, &server.space, json!({ "name": "staff", "private": true })).await;
    assert_eq!(alice.state_content(&staff, "m.room.join_rules", "").await["join_rule"], "invite");
    put_role(&alice, &server.space, "staff", role("Staff", 2, 0)).await;
    assign_role(&alice, &server.space, &bob.user_id, "staff").await;
    alice
        .set_state(&staff, "nexus.channel.overwrites", "", json!({ "roles": { "everyone": { "deny": VIEW_CHANNEL.to_string() }, "staff": { "allow": VIEW_CHANNEL.to_string() } } }))
        .await;
    join_when_invited(bob, &staff).await;
    alice.invite(&staff, &dave.user_id).await;
    let refused = dave.post(&format!("/rooms/{}/join", enc(&staff)), json!({})).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "VIEW_CHANNEL");
    let listed =
        |overview: &Value| overview["channels"].as_array().unwrap().iter().any(|c| c["room_id"] == staff.as_str());
    assert!(listed(bob.get(&server_path(&server.space, "")).await.expect_ok()));
    assert!(!listed(dave.get(&server_path(&server.space, "")).await.expect_ok()), "dave does not see #staff");
    assert_eq!(permissions(dave, &staff, &dave.user_id).await, 0, "no VIEW_CHANNEL: nothing at all (§7.2 step 5)");
}

async fn kicks_and_bans_follow_the_role_hierarchy(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "carol", "dave"]).await;
    let [bob, carol, dave] = &members[..] else { unreachable!() };
    put_role(&alice, &server.space, "mod", role("Moderator", 5, KICK_MEMBERS | BAN_MEMBERS)).await;
    put_role(&alice, &server.space, "admin", role("Admin", 10, ADMINISTRATOR)).await;
    assign_role(&alice, &server.space, &bob.user_id, "mod").await;
    assign_role(&alice, &server.space, &carol.user_id, "admin").await;
    settled_power_levels(&alice, &server.space).await;

    let kick = |target: &str| json!({ "user_id": target, "reason": "test" });
    let refused = bob.post(&format!("/rooms/{}/kick", enc(&server.space)), kick(&carol.user_id)).await;
    refused.expect_error(403, "M_FORBIDDEN");
    let refused = bob.post(&format!("/rooms/{}/ban", enc(&server.space)), kick(&carol.user_id)).await;
    refused.expect_error(403, "M_FORBIDDEN");
    bob.post(&format!("/rooms/{}/kick", enc(&server.space)), kick(&dave.user_id)).await.expect_ok();
    carol.post(&format!("/rooms/{}/ban", enc(&server.space)), kick(&bob.user_id)).await.expect_ok();
    let refused = carol.post(&format!("/rooms/{}/kick", enc(&server.space)), kick(&alice.user_id)).await;
    refused.expect_error(403, "M_FORBIDDEN");
}

async fn update_rules_guard_roles_and_ownership(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "dave"]).await;
    let [bob, dave] = &members[..] else { unreachable!() };
    put_role(&alice, &server.space, "manager", role("Manager", 5, MANAGE_ROLES)).await;
    put_role(&alice, &server.space, "senior", role("Senior", 8, 0)).await;
    assign_role(&alice, &server.space, &bob.user_id, "manager").await;
    settled_power_levels(&alice, &server.space).await;

    // Below him, with what he holds: allowed.
    put_role(bob, &server.space, "helper", role("Helper", 2, SEND_MESSAGES)).await;
    assign_role(bob, &server.space, &dave.user_id, "helper").await;
    // At or above him, or granting what he lacks: refused, nothing changes.
    let refused = put_role_reply(bob, &server.space, "senior", role("Senior", 8, SEND_MESSAGES)).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "senior");
    let refused = put_role_reply(bob, &server.space, "helper", role("Helper", 2, ADMINISTRATOR)).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "ADMINISTRATOR");
    let refused = put_role_reply(bob, &server.space, "boss", role("Boss", 9, 0)).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "boss");
    let refused = assign_role_reply(bob, &server.space, &dave.user_id, "senior").await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "senior");
    assert_eq!(alice.state_content(&server.space, "nexus.role", "senior").await["permissions"], "0");
    // Without MANAGE_ROLES at all.
    let refused = put_role_reply(dave, &server.space, "dave", role("Dave", 1, 0)).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "MANAGE_ROLES");
    // Only the owner hands the server over, also when written by hand.
    let mut content = alice.state_content(&server.space, "nexus.server", "").await;
    content["owner"] = json!(bob.user_id);
    let refused = bob.set_state_reply(&server.space, "nexus.server", "", content.clone()).await;
    refused.expect_error(403, "M_FORBIDDEN");
    // @everyone stays at position 0 and cannot be deleted.
    let refused = alice.delete(&server_path(&server.space, "/roles/everyone"), json!({})).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "@everyone");
}

async fn malformed_input_is_refused_with_the_field_named(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob"]).await;
    let bob = &members[0];
    let space = &server.space;

    let numeric = json!({ "name": "N", "position": 1, "permissions": 8 });
    expect_refusal(&put_role_reply(&alice, space, "n", numeric).await, 400, "M_BAD_JSON", "nexus.role");
    let too_big = json!({ "name": "Big", "position": 1, "permissions": "18446744073709551616" });
    expect_refusal(&put_role_reply(&alice, space, "big", too_big).await, 400, "M_BAD_JSON", "18446744073709551616");
    let long_name = json!({ "name": "x".repeat(101), "position": 1, "permissions": "0" });
    expect_refusal(&put_role_reply(&alice, space, "long", long_name).await, 400, "M_BAD_JSON", "name");
    let at_zero = json!({ "name": "Zero", "position": 0, "permissions": "0" });
    expect_refusal(&put_role_reply(&alice, space, "zero", at_zero).await, 400, "M_BAD_JSON", "position");
    let reply = put_role_reply(&alice, space, "@bob", role("x", 1, 0)).await;
    reply.expect_error(400, "M_INVALID_PARAM");
    let reply =
        alice.set_state_reply(space, "nexus.member", &format!("_{}", bob.user_id), json!({ "roles": ["nope"] })).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "nope");
    let reply = alice.set_state_reply(space, "nexus.member", "bob", json!({ "roles": [] })).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "state key");
    let reply = alice.set_state_reply(space, "nexus.server", "", json!({ "categories": [] })).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "owner");
    let reply = assign_role_reply(&alice, space, &bob.user_id, "no-such-role").await;
    reply.expect_error(404, "M_NOT_FOUND");

    let reply = create_channel_reply(&alice, space, json!({ "name": "c", "category": "nowhere" })).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "category");
    let reply = create_channel_reply(&alice, space, json!({ "name": "c", "type": "podcast" })).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "type");
    let reply = create_channel_reply(&alice, space, json!({ "name": "" })).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "name");
    let reply = alice.post(&path("/servers"), json!({ "name": "x".repeat(101) })).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "name");
    let reply = alice.post(&path("/servers"), json!({ "name": "ok", "colour": 3 })).await;
    reply.expect_error(400, "M_BAD_JSON");
    let reply = alice.post(&server_path(space, "/invites"), json!({ "max_uses": 100000 })).await;
    expect_refusal(&reply, 400, "M_BAD_JSON", "max_uses");
    let reply = alice
        .put(&server_path(space, &format!("/members/{}/timeout", enc(&bob.user_id))), json!({ "until_ms": "soon" }))
        .await;
    reply.expect_error(400, "M_BAD_JSON");
    let raw = alice
        .api
        .raw(nexus_complement::Method::POST, &path("/servers"))
        .bearer_auth(&alice.access_token)
        .body("{not json");
    alice.api.send(raw).await.expect_error(400, "M_NOT_JSON");
    let reply = alice.post(&server_path("!nowhere:example.org", "/channels"), json!({ "name": "c" })).await;
    reply.expect_error(404, "M_NOT_FOUND");
    let reply = alice.get(&server_path("not-a-room", "")).await;
    reply.expect_error(400, "M_INVALID_PARAM");
}

async fn invite_codes_join_expire_and_revoke(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["dave"]).await;
    let dave = &members[0];
    let bob = hs.api().register("bob", PASSWORD).await;
    let carol = hs.api().register("carol", PASSWORD).await;

    let once = invite_code(&alice, &server.space, json!({ "max_uses": 1, "max_age": 3600 })).await;
    let preview = bob.get(&path(&format!("/invites/{once}"))).await.expect_ok().clone();
    assert_eq!(preview["server"]["name"], "Gardening", "{preview}");
    assert_eq!(preview["server_id"], server.space.as_str());
    let joined = join_by_code(&bob, &once).await;
    assert_eq!(joined["channels"].as_array().unwrap().len(), 2, "default channels joined: {joined}");
    join_by_code_reply(&carol, &once).await.expect_error(404, "M_NOT_FOUND");

    let code = invite_code(&alice, &server.space, json!({ "max_age": 0 })).await;
    dave.get(&server_path(&server.space, "/invites")).await.expect_error(403, "M_FORBIDDEN");
    let listed = alice.get(&server_path(&server.space, "/invites")).await.expect_ok().clone();
    assert!(listed["invites"].as_array().unwrap().iter().any(|i| i["code"] == code.as_str()), "{listed}");
    dave.delete(&path(&format!("/invites/{code}")), json!({})).await.expect_error(403, "M_FORBIDDEN");
    alice.delete(&path(&format!("/invites/{code}")), json!({})).await.expect_ok();
    join_by_code_reply(&carol, &code).await.expect_error(404, "M_NOT_FOUND");

    // Without CREATE_INSTANT_INVITE for @everyone, members cannot make codes.
    put_role(&alice, &server.space, "everyone", role("@everyone", 0, VIEW_CHANNEL | SEND_MESSAGES)).await;
    let reply = dave.post(&server_path(&server.space, "/invites"), json!({})).await;
    expect_refusal(&reply, 403, "M_FORBIDDEN", "CREATE_INSTANT_INVITE");
    join_by_code_reply(&carol, "no-such-code").await.expect_error(404, "M_NOT_FOUND");
}

both_backends!(
    a_server_is_created_in_one_call,
    the_worked_example_compiles_to_the_spec_tables,
    attachments_and_new_reactions_follow_the_channel,
    slowmode_paces_posts_unless_bypassed,
    muted_and_timed_out_members_only_read,
    private_channels_need_view_channel,
    kicks_and_bans_follow_the_role_hierarchy,
    update_rules_guard_roles_and_ownership,
    malformed_input_is_refused_with_the_field_named,
    invite_codes_join_expire_and_revoke,
);

async fn channels_categories_and_roles_are_rearranged(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob"]).await;
    let bob = &members[0];
    let space = &server.space;
    let channel_path = |room: &str| path(&format!("/channels/{}", enc(room)));

    // Categories: a new one first; #general moves into it and is renamed.
    let categories = json!({ "categories": [
        { "id": "news", "name": "News" }, { "id": "text", "name": "Text channels" }, { "id": "voice", "name": "Voice channels" },
    ] });
    alice.put(&server_path(space, "/categories"), categories).await.expect_ok();
    assert_eq!(alice.state_content(space, "m.space.child", &server.voice).await["order"], "003.0000000000");
    let edit = json!({ "name": "announcements", "topic": "Read me", "category": "news", "position": 4, "slowmode_seconds": 5 });
    alice.request(nexus_complement::Method::PATCH, &channel_path(&server.general), Some(&edit)).await.expect_ok();
    let channel = alice.state_content(&server.general, "nexus.channel", "").await;
    assert_eq!(
        channel,
        json!({ "type": "text", "topic": "Read me", "position": 4, "category": "news", "slowmode_seconds": 5 })
    );
    assert_eq!(alice.state_content(&server.general, "m.room.name", "").await["name"], "announcements");
    assert_eq!(alice.state_content(&server.general, "m.room.topic", "").await["topic"], "Read me");
    assert_eq!(alice.state_content(space, "m.space.child", &server.general).await["order"], "001.0000000004");
    // null: uncategorised.
    let uncategorised = json!({ "category": null });
    alice
        .request(nexus_complement::Method::PATCH, &channel_path(&server.general), Some(&uncategorised))
        .await
        .expect_ok();
    assert_eq!(alice.state_content(space, "m.space.child", &server.general).await["order"], "000.0000000004");
    // Without MANAGE_CHANNELS.
    let refused = bob
        .request(nexus_complement::Method::PATCH, &channel_path(&server.general), Some(&json!({ "name": "mine" })))
        .await;
    refused.expect_error(403, "M_FORBIDDEN");
    bob.delete(&channel_path(&server.voice), json!({})).await.expect_error(403, "M_FORBIDDEN");
    let refused = alice
        .request(
            nexus_complement::Method::PATCH,
            &channel_path(&server.general),
            Some(&json!({ "slowmode_seconds": 99999 })),
        )
        .await;
    expect_refusal(&refused, 400, "M_BAD_JSON", "slowmode_seconds");

    // Removing a channel unlinks it from the server.
    alice.delete(&channel_path(&server.voice), json!({})).await.expect_ok();
    assert_eq!(alice.state_content(space, "m.space.child", &server.voice).await, json!({}));
    let overview = bob.get(&server_path(space, "")).await.expect_ok().clone();
    assert_eq!(overview["channels"].as_array().unwrap().len(), 1, "{overview:#}");

    // Role order, judged role by role.
    put_role(&alice, space, "a", role("A", 1, 0)).await;
    put_role(&alice, space, "b", role("B", 2, 0)).await;
    alice.put(&server_path(space, "/role_positions"), json!({ "positions": { "a": 3, "b": 1 } })).await.expect_ok();
    assert_eq!(alice.state_content(space, "nexus.role", "a").await["position"], 3);
    assert_eq!(alice.state_content(space, "nexus.role", "b").await["position"], 1);
    let refused = bob.put(&server_path(space, "/role_positions"), json!({ "positions": { "a": 4 } })).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "MANAGE_ROLES");
    let refused = alice.put(&server_path(space, "/role_positions"), json!({ "positions": { "nope": 4 } })).await;
    expect_refusal(&refused, 400, "M_BAD_JSON", "nope");
}

both_backends!(channels_categories_and_roles_are_rearranged);

async fn membership_follows_view_channel_and_the_space(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "dave"]).await;
    let [bob, dave] = &members[..] else { unreachable!() };
    let before = bob.send_message(&server.general, "said before leaving").await;

    // Losing VIEW_CHANNEL takes a local member out of the channel.
    put_role(&alice, &server.space, "exiled", role("Exiled", 1, 0)).await;
    alice
        .set_state(
            &server.general,
            "nexus.channel.overwrites",
            "",
            json!({ "roles": { "exiled": { "deny": VIEW_CHANNEL.to_string() } } }),
        )
        .await;
    assign_role(&alice, &server.space, &bob.user_id, "exiled").await;
    await_membership(&alice, &server.general, &bob.user_id, "leave").await;
    // What bob could read stays readable to him (membership is not history).
    bob.get_event(&server.general, &before).await.expect_ok();

    // Gaining it in a private channel brings an invite.
    let staff = create_channel(&alice, &server.space, json!({ "name": "staff", "private": true })).await;
    put_role(&alice, &server.space, "staff", role("Staff", 2, 0)).await;
    alice
        .set_state(&staff, "nexus.channel.overwrites", "", json!({ "roles": { "everyone": { "deny": VIEW_CHANNEL.to_string() }, "staff": { "allow": VIEW_CHANNEL.to_string() } } }))
        .await;
    assign_role(&alice, &server.space, &dave.user_id, "staff").await;
    join_when_invited(dave, &staff).await;

    // Leaving the server clears the member's entry (§6.4).
    dave.leave(&server.space).await;
    let key = format!("_{}", dave.user_id);
    eventually("dave's entry cleared", Duration::from_secs(20), || async {
        let entry = alice.state_content(&server.space, "nexus.member", &key).await;
        if entry == json!({}) { Ok(()) } else { Err(entry.to_string()) }
    })
    .await;
}

both_backends!(membership_follows_view_channel_and_the_space);

async fn kicking_and_banning_from_a_server_reaches_its_channels(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "carol", "dave"]).await;
    let [bob, carol, dave] = &members[..] else { unreachable!() };
    put_role(&alice, &server.space, "mod", role("Moderator", 5, KICK_MEMBERS | BAN_MEMBERS)).await;
    put_role(&alice, &server.space, "admin", role("Admin", 10, ADMINISTRATOR)).await;
    assign_role(&alice, &server.space, &bob.user_id, "mod").await;
    assign_role(&alice, &server.space, &carol.user_id, "admin").await;
    settled_power_levels(&alice, &server.space).await;
    let member_path =
        |user: &str, action: &str| server_path(&server.space, &format!("/members/{}/{action}", enc(user)));

    let refused = bob.post(&member_path(&carol.user_id, "ban"), json!({ "reason": "no" })).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "BAN_MEMBERS");
    let refused = dave.post(&member_path(&bob.user_id, "kick"), json!({})).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "KICK_MEMBERS");
    bob.post(&member_path(&dave.user_id, "ban"), json!({ "reason": "spam" })).await.expect_ok();
    for room in [&server.space, &server.general, &server.voice] {
        await_membership(&alice, room, &dave.user_id, "ban").await;
    }
    join_by_code_reply(dave, &invite_code(&alice, &server.space, json!({})).await)
        .await
        .expect_error(403, "M_FORBIDDEN");

    // Leaving the server (here: kicked from the space alone, through the
    // Matrix API) takes a member out of its channels too.
    carol.post(&format!("/rooms/{}/kick", enc(&server.space)), json!({ "user_id": bob.user_id })).await.expect_ok();
    for room in [&server.general, &server.voice] {
        await_membership(&alice, room, &bob.user_id, "leave").await;
    }
}

async fn channel_metadata_is_changed_not_redacted(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob"]).await;
    let bob = &members[0];
    put_role(&alice, &server.space, "mod", role("Moderator", 5, 1 << 13)).await;
    assign_role(&alice, &server.space, &bob.user_id, "mod").await;
    settled_power_levels(&alice, &server.general).await;
    let name_event = alice.set_state(&server.general, "m.room.name", "", json!({ "name": "general" })).await;
    let refused = bob.redact(&server.general, &name_event, json!({})).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "m.room.name");
    let channel_event =
        alice.set_state(&server.general, "nexus.channel", "", json!({ "type": "text", "position": 0 })).await;
    alice.redact(&server.general, &channel_event, json!({})).await.expect_error(403, "M_FORBIDDEN");
    // Ordinary messages are still redacted by moderators (MANAGE_MESSAGES).
    let message = alice.send_message(&server.general, "oops").await;
    bob.redact(&server.general, &message, json!({})).await.expect_ok();
}

both_backends!(kicking_and_banning_from_a_server_reaches_its_channels, channel_metadata_is_changed_not_redacted);

async fn history_and_threads_follow_their_permissions(backend: Backend) {
    const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
    let hs = Homeserver::start(backend).await;
    let alice = hs.api().register("alice", PASSWORD).await;
    let server = create_server(&alice, "Quiet history").await;
    let old = alice.send_message(&server.general, "before bob").await;
    let everyone = VIEW_CHANNEL | SEND_MESSAGES | SEND_MESSAGES_IN_THREADS | 1;
    put_role(&alice, &server.space, "everyone", role("@everyone", 0, everyone)).await;
    let bob = hs.api().register("bob", PASSWORD).await;
    join_by_code(&bob, &invite_code(&alice, &server.space, json!({})).await).await;
    let new = alice.send_message(&server.general, "after bob").await;

    // Without READ_MESSAGE_HISTORY bob reads from his join on, on every path.
    let page = bob.messages(&server.general, "dir=b&limit=50").await.expect_ok().clone();
    let ids: Vec<&str> = page["chunk"].as_array().unwrap().iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert!(ids.contains(&new.as_str()) && !ids.contains(&old.as_str()), "{ids:?}");
    bob.get_event(&server.general, &old).await.expect_error(404, "M_NOT_FOUND");
    bob.get(&format!("/rooms/{}/context/{}", enc(&server.general), enc(&old))).await.expect_error(404, "M_NOT_FOUND");
    // Granted, the shared history opens up.
    put_role(&alice, &server.space, "everyone", role("@everyone", 0, everyone | READ_MESSAGE_HISTORY)).await;
    bob.get_event(&server.general, &old).await.expect_ok();

    // Starting a thread needs CREATE_PUBLIC_THREADS; replying in one does not.
    let reply =
        |root: &str| json!({ "msgtype": "m.text", "body": "in thread", "m.relates_to": relates_to("m.thread", root) });
    let refused = bob.send_event_reply(&server.general, "m.room.message", reply(&new)).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "CREATE_PUBLIC_THREADS");
    alice.send_event(&server.general, "m.room.message", reply(&new)).await;
    bob.send_event(&server.general, "m.room.message", reply(&new)).await;
}

both_backends!(history_and_threads_follow_their_permissions);

/// Acknowledged changes are recompiled after a kill -9, and a timeout that
/// ends while the server is down ends when it is back (§9.7).
async fn recompilation_and_timeouts_survive_kill_9(backend: Backend) {
    let mut hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "frank"]).await;
    let [bob, frank] = &members[..] else { unreachable!() };
    settled_power_levels(&alice, &server.general).await;
    time_out(&alice, &server.space, &frank.user_id, Some(now_ms() + 3_000)).await.expect_ok();
    put_role(&alice, &server.space, "muted", role("Muted", 1, 0)).await;
    let deny = (SEND_MESSAGES | (1 << 38)).to_string();
    alice
        .set_state(&server.general, "nexus.channel.overwrites", "", json!({ "roles": { "muted": { "deny": deny } } }))
        .await;
    assign_role(&alice, &server.space, &bob.user_id, "muted").await;
    hs.kill9();
    tokio::time::sleep(Duration::from_secs(4)).await;
    hs.restart().await;

    let levels = settled_power_levels(&alice, &server.general).await;
    assert!(levels["users"][bob.user_id.as_str()].as_i64().is_some_and(|l| l < 0), "bob muted: {levels}");
    assert!(levels["users"].get(frank.user_id.as_str()).is_none(), "frank's timeout is over: {levels}");
    frank.send_message(&server.general, "back after the restart").await;
}

both_backends!(recompilation_and_timeouts_survive_kill_9);

async fn server_nicknames_need_change_nickname(backend: Backend) {
    const CHANGE_NICKNAME: u64 = 1 << 26;
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob"]).await;
    let bob = &members[0];
    put_role(&alice, &server.space, "everyone", role("@everyone", 0, VIEW_CHANNEL | SEND_MESSAGES)).await;
    let member = |name: &str| json!({ "membership": "join", "displayname": name });
    let refused = bob.set_state_reply(&server.space, "m.room.member", &bob.user_id, member("Bobby")).await;
    expect_refusal(&refused, 403, "M_FORBIDDEN", "CHANGE_NICKNAME");
    // A global display name change still reaches the server's rooms.
    bob.put(&format!("/profile/{}/displayname", enc(&bob.user_id)), json!({ "displayname": "Robert" }))
        .await
        .expect_ok();
    eventually("bob's new global name in #general", Duration::from_secs(20), || async {
        let content = alice.state_content(&server.general, "m.room.member", &bob.user_id).await;
        if content["displayname"] == "Robert" { Ok(()) } else { Err(content.to_string()) }
    })
    .await;
    put_role(&alice, &server.space, "everyone", role("@everyone", 0, VIEW_CHANNEL | SEND_MESSAGES | CHANGE_NICKNAME))
        .await;
    bob.set_state(&server.space, "m.room.member", &bob.user_id, member("Bobby")).await;
}

both_backends!(server_nicknames_need_change_nickname);

/// §7.2, Discord's order: @everyone's overwrite, then all of a member's role
/// overwrites merged (an allow beats a deny, whatever the ranks), then the
/// member's own overwrite; administrators skip overwrites; without
/// SEND_MESSAGES, attaching goes too. Each step with a member who may post
/// and one who may not.
async fn permissions_are_evaluated_in_discords_order(backend: Backend) {
    let hs = Homeserver::start(backend).await;
    let (server, alice, members) = server_with(&hs, &["bob", "carol", "dave", "erin"]).await;
    let [bob, carol, dave, erin] = &members[..] else { unreachable!() };
    let posting = (SEND_MESSAGES | (1 << 38)).to_string();
    put_role(&alice, &server.space, "deny", role("Denied", 1, 0)).await;
    put_role(&alice, &server.space, "allow", role("Allowed", 2, 0)).await;
    put_role(&alice, &server.space, "admin", role("Admin", 3, ADMINISTRATOR)).await;
    assign_role(&alice, &server.space, &bob.user_id, "deny").await;
    assign_role(&alice, &server.space, &carol.user_id, "deny").await;
    assign_role(&alice, &server.space, &carol.user_id, "allow").await;
    assign_role(&alice, &server.space, &dave.user_id, "allow").await;
    assign_role(&alice, &server.space, &erin.user_id, "admin").await;
    let overwrites = json!({
        "roles": {
            "everyone": { "deny": posting },
            "deny": { "deny": posting },
            "allow": { "allow": posting },
        },
        "members": { dave.user_id.as_str(): { "deny": posting } },
    });
    alice.set_state(&server.general, "nexus.channel.overwrites", "", overwrites).await;
    settled_power_levels(&alice, &server.general).await;

    let post = |who: &Session| {
        let who = who.clone();
        let room = server.general.clone();
        async move {
            who.send_event_reply(&room, "m.room.message", json!({ "msgtype": "m.text", "body": "hi" })).await.status
        }
    };
    assert_eq!(post(bob).await, 403, "@everyone's deny and a role's deny");
    assert_eq!(post(carol).await, 200, "a role's allow beats another role's deny (4b)");
    assert_eq!(post(dave).await, 403, "the member overwrite comes last (4c)");
    assert_eq!(post(erin).await, 200, "administrators skip overwrites");
    let perms = permissions(&alice, &server.general, &bob.user_id).await;
    assert_eq!(perms & (SEND_MESSAGES | ATTACH_FILES), 0, "no SEND_MESSAGES: no ATTACH_FILES either (step 5): {perms}");
    assert_ne!(perms & VIEW_CHANNEL, 0);
}

both_backends!(permissions_are_evaluated_in_discords_order);
