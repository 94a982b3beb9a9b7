//! What members may read about a server: its overview, a member's
//! effective permissions, the compiler's report, an invite code's preview.
//! Readers must be in the space (or the room); the preview needs the code.

use std::sync::Arc;

use nexus_extensions::Permissions;
use ruma::events::room::member::MembershipState;
use ruma::{RoomId, UserId};
use serde_json::{Value, json};

use super::Guilds;
use super::context::{Scope, Server};
use super::invites::InviteCode;
use crate::values::now_ms;
use crate::{Error, Result};

/// An invite code with the server it leads to.
#[derive(Debug)]
pub struct InvitePreview {
    pub code: InviteCode,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub avatar_url: Option<String>,
    pub joined_members: usize,
}

impl Guilds {
    /// The server of `room` (its space or a channel), if `viewer` is joined
    /// to the space or the room; otherwise the same 404 as for a room that
    /// is no server, so that membership is not revealed.
    async fn visible_scope(&self, viewer: &UserId, room: &RoomId) -> Result<Scope> {
        let hidden = || Error::NotFound(format!("{room} is not a Nexus server room you are in"));
        let scope = self.scope(room).await?.ok_or_else(hidden)?;
        let in_space = self.rooms.membership.is_joined(&scope.server.space, viewer).await?;
        if in_space || self.rooms.membership.is_joined(room, viewer).await? { Ok(scope) } else { Err(hidden()) }
    }

    /// `user`'s permissions in `room`, as seen by `viewer` (a member).
    pub async fn visible_permissions(
        &self,
        viewer: &UserId,
        user: &UserId,
        room: &RoomId,
    ) -> Result<(Scope, Permissions)> {
        let scope = self.visible_scope(viewer, room).await?;
        let perms = scope.room().permissions(&scope.server.guild, user.as_str(), now_ms());
        Ok((scope, perms))
    }

    /// The compiler's output and report for `room` (§9.3).
    pub async fn compiler_report(&self, viewer: &UserId, room: &RoomId) -> Result<nexus_extensions::Compiled> {
        let scope = self.visible_scope(viewer, room).await?;
        self.compiled_power_levels(&scope).await
    }

    /// The overview a Nexus client draws its sidebar from.
    pub async fn overview(&self, viewer: &UserId, space: &RoomId) -> Result<Value> {
        let scope = self.visible_scope(viewer, space).await?;
        if scope.channel.is_some() {
            return Err(Error::NotFound(format!("{space} is a channel, not a server")));
        }
        let server: &Arc<Server> = &scope.server;
        let name = self.rooms.state_json(space, "m.room.name", "").await?.and_then(|n| n.get("name").cloned());
        let mut channels = Vec::new();
        for room in self.channels(space).await? {
            let channel = self.channel(&room).await?;
            let room_name = self.rooms.state_json(&room, "m.room.name", "").await?.and_then(|n| n.get("name").cloned());
            let scope = Scope { server: server.clone(), channel: Some(channel.clone()) };
            let visible =
                scope.room().permissions(&server.guild, viewer.as_str(), now_ms()).contains(Permissions::VIEW_CHANNEL);
            let joined = self.rooms.membership.of(&room, viewer).await? == Some(MembershipState::Join);
            if !visible && !joined {
                continue;
            }
            channels.push(json!({
                "room_id": room,
                "name": room_name,
                "channel": channel.content,
                "joined": joined,
            }));
        }
        Ok(json!({
            "server_id": space,
            "name": name,
            "server": server.content,
            "roles": server.guild.roles,
            "channels": channels,
            "you": {
                "permissions": scope.room().permissions(&server.guild, viewer.as_str(), now_ms()).to_string(),
                "member": server.guild.member(viewer.as_str()),
            },
        }))
    }

    /// A usable code with what a would-be member may know of its server.
    pub async fn invite_preview(&self, code: &str) -> Result<InvitePreview> {
        let code = self.invite_code(code).await?;
        let space = code.space.clone();
        let text = |v: Option<Value>, key: &str| v.and_then(|v| v.get(key).and_then(Value::as_str).map(str::to_owned));
        let name = text(self.rooms.state_json(&space, "m.room.name", "").await?, "name");
        let topic = text(self.rooms.state_json(&space, "m.room.topic", "").await?, "topic");
        let avatar_url = text(self.rooms.state_json(&space, "m.room.avatar", "").await?, "url");
        let members = self.rooms.membership.members(&space).await?;
        let joined_members = members.iter().filter(|(_, m)| *m == MembershipState::Join).count();
        Ok(InvitePreview { code, name, topic, avatar_url, joined_members })
    }
}
