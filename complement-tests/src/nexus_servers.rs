//! The Nexus server API (`/_nexus/client/v1`, extensions-spec §22) for
//! scenarios: creating servers, channels and roles, invite codes, and
//! waiting until a room's power levels are the compiler's.

use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Reply, Session, enc};
use crate::federation::eventually;

/// The API's prefix.
pub const NEXUS_V1: &str = "/_nexus/client/v1";

/// How long recompilation may take in a scenario.
pub const RECOMPILE_WAIT: Duration = Duration::from_secs(20);

/// A created server: the space and its default channels (#general first).
pub struct CreatedServer {
    pub space: String,
    pub general: String,
    pub voice: String,
}

pub fn path(tail: &str) -> String {
    format!("{NEXUS_V1}{tail}")
}

pub fn server_path(space: &str, tail: &str) -> String {
    path(&format!("/servers/{}{tail}", enc(space)))
}

pub async fn create_server(owner: &Session, name: &str) -> CreatedServer {
    let body = owner.post(&path("/servers"), json!({ "name": name })).await.expect_ok().clone();
    let channels = body["channels"].as_array().expect("channels");
    CreatedServer {
        space: body["server_id"].as_str().expect("server_id").to_owned(),
        general: channels[0].as_str().unwrap().to_owned(),
        voice: channels[1].as_str().unwrap().to_owned(),
    }
}

pub async fn create_channel_reply(actor: &Session, space: &str, body: Value) -> Reply {
    actor.post(&server_path(space, "/channels"), body).await
}

pub async fn create_channel(actor: &Session, space: &str, body: Value) -> String {
    let reply = create_channel_reply(actor, space, body).await;
    reply.expect_ok()["room_id"].as_str().unwrap().to_owned()
}

pub async fn put_role_reply(actor: &Session, space: &str, role_id: &str, role: Value) -> Reply {
    actor.put(&server_path(space, &format!("/roles/{}", enc(role_id))), role).await
}

pub async fn put_role(actor: &Session, space: &str, role_id: &str, role: Value) {
    put_role_reply(actor, space, role_id, role).await.expect_ok();
}

pub async fn assign_role_reply(actor: &Session, space: &str, user: &str, role_id: &str) -> Reply {
    actor.put(&server_path(space, &format!("/members/{}/roles/{}", enc(user), enc(role_id))), json!({})).await
}

pub async fn assign_role(actor: &Session, space: &str, user: &str, role_id: &str) {
    assign_role_reply(actor, space, user, role_id).await.expect_ok();
}

pub async fn time_out(actor: &Session, space: &str, user: &str, until_ms: Option<u64>) -> Reply {
    actor.put(&server_path(space, &format!("/members/{}/timeout", enc(user))), json!({ "until_ms": until_ms })).await
}

/// A new invite code of `space` (unlimited unless `max_uses`).
pub async fn invite_code(actor: &Session, space: &str, body: Value) -> String {
    let reply = actor.post(&server_path(space, "/invites"), body).await;
    reply.expect_ok()["code"].as_str().unwrap().to_owned()
}

pub async fn join_by_code_reply(user: &Session, code: &str) -> Reply {
    user.post(&path(&format!("/invites/{}/join", enc(code))), json!({})).await
}

pub async fn join_by_code(user: &Session, code: &str) -> Value {
    join_by_code_reply(user, code).await.expect_ok().clone()
}

/// `user`'s effective permissions in a room, as a number.
pub async fn permissions(viewer: &Session, room: &str, user: &str) -> u64 {
    let reply = viewer.get(&path(&format!("/rooms/{}/permissions?user_id={}", enc(room), enc(user)))).await;
    reply.expect_ok()["permissions"].as_str().unwrap().parse().unwrap()
}

/// The compiler's power levels for a room (§9), as the server reports them.
pub async fn compiled(viewer: &Session, room: &str) -> Value {
    let reply = viewer.get(&path(&format!("/rooms/{}/power_levels", enc(room)))).await;
    reply.expect_ok().clone()
}

/// Waits until the room's `m.room.power_levels` equals the compiler's
/// output (the server recompiles after every change), and returns it.
pub async fn settled_power_levels(viewer: &Session, room: &str) -> Value {
    eventually("power levels recompiled", RECOMPILE_WAIT, || async {
        let wanted = compiled(viewer, room).await["content"].clone();
        let current = viewer.state_content(room, "m.room.power_levels", "").await;
        if current == wanted { Ok(current) } else { Err(format!("current {current}\nwanted {wanted}")) }
    })
    .await
}

/// Joins `room` once the server has invited `user` (private channels invite
/// those who may see them, §9.4).
pub async fn join_when_invited(user: &Session, room: &str) {
    eventually(&format!("{} invited to {room}", user.user_id), RECOMPILE_WAIT, || async {
        let reply = user.post(&format!("/rooms/{}/join", enc(room)), json!({})).await;
        if reply.status == 200 { Ok(()) } else { Err(format!("{reply:?}")) }
    })
    .await;
}

/// Waits until `user`'s membership of `room`, as `viewer` sees it, is `membership`.
pub async fn await_membership(viewer: &Session, room: &str, user: &str, membership: &str) {
    eventually(&format!("{user} {membership} in {room}"), RECOMPILE_WAIT, || async {
        let reply = viewer.get_state(room, "m.room.member", user).await;
        if reply.status == 200 && reply.json["membership"] == membership { Ok(()) } else { Err(format!("{reply:?}")) }
    })
    .await;
}
