//! Reading a Nexus server's state out of its rooms: the space's
//! `nexus.server`, roles and members as a [`Guild`], and a channel's place
//! in it (its `nexus.channel` and overwrites).

use std::sync::Arc;

use nexus_extensions::Guild;
use nexus_extensions::events::channel::ChannelContent;
use nexus_extensions::events::member::MemberContent;
use nexus_extensions::events::overwrites::ChannelOverwritesContent;
use nexus_extensions::events::role::RoleContent;
use nexus_extensions::events::server::ServerContent;
use nexus_extensions::events::{self, EventContent, parse_state};
use nexus_extensions::ids::user_id_from_member_state_key;
use ruma::{OwnedRoomId, RoomId};
use serde_json::Value;

use super::Guilds;
use crate::Result;

/// A Nexus server as its space's current state says.
#[derive(Debug, Clone)]
pub struct Server {
    pub space: OwnedRoomId,
    pub content: ServerContent,
    pub guild: Guild,
}

/// A channel of a Nexus server.
#[derive(Debug, Clone)]
pub struct Channel {
    pub room: OwnedRoomId,
    /// `None` when the room has no valid `nexus.channel` yet.
    pub content: Option<ChannelContent>,
    pub overwrites: ChannelOverwritesContent,
}

/// Where a room sits in a Nexus server.
#[derive(Debug, Clone)]
pub struct Scope {
    pub server: Arc<Server>,
    /// `None` for the space itself.
    pub channel: Option<Channel>,
}

impl Scope {
    /// The room kind the permission model evaluates in.
    pub fn room(&self) -> nexus_extensions::Room<'_> {
        match &self.channel {
            Some(channel) => nexus_extensions::Room::Channel(&channel.overwrites),
            None => nexus_extensions::Room::Space,
        }
    }

    /// The room this scope is about.
    pub fn room_id(&self) -> &RoomId {
        self.channel.as_ref().map_or(&self.server.space, |c| &c.room)
    }
}

/// A state content as its Nexus type; invalid content counts as absent,
/// which is what §14 asks of receivers for the first event of a key (and a
/// locally sent event is never invalid: the gate refuses it).
pub(super) fn typed<T: EventContent>(content: Option<&Value>) -> Option<T> {
    content.and_then(|c| parse_state::<T>(c).ok().flatten())
}

impl Guilds {
    /// The Nexus server whose space is `space`, if it is one (cached until
    /// an event changes it).
    pub async fn server(&self, space: &RoomId) -> Result<Option<Arc<Server>>> {
        if let Some(server) = self.cached_server(space) {
            return Ok(Some(server));
        }
        let generation = self.servers_generation.load(std::sync::atomic::Ordering::SeqCst);
        let Some(server) = self.load_server(space).await? else { return Ok(None) };
        let server = Arc::new(server);
        self.cache_server(server.clone(), generation);
        Ok(Some(server))
    }

    async fn load_server(&self, space: &RoomId) -> Result<Option<Server>> {
        let content = self.effective(space, events::SERVER, "").await?;
        let Some(content) = typed::<ServerContent>(content.as_ref()) else { return Ok(None) };
        let mut guild = Guild::new(content.owner.clone());
        for (role_id, raw) in self.effective_of_type(space, events::ROLE).await? {
            if let Some(role) = typed::<RoleContent>(Some(&raw))
                && role.validate_as(&role_id).is_ok()
            {
                guild.roles.insert(role_id, role);
            }
        }
        for (state_key, raw) in self.effective_of_type(space, events::MEMBER).await? {
            let Some(user) = user_id_from_member_state_key(&state_key) else { continue };
            if let Some(member) = typed::<MemberContent>(Some(&raw)) {
                guild.members.insert(user.to_owned(), member);
            }
        }
        Ok(Some(Server { space: space.to_owned(), content, guild }))
    }

    /// The space a room is a channel of: a canonical `m.space.parent` whose
    /// space lists the room as a child (both directions, as §4.3 requires,
    /// so a room cannot adopt a server by naming it).
    pub async fn space_of(&self, room: &RoomId) -> Result<Option<OwnedRoomId>> {
        for (parent, content) in self.rooms.state_json_of_type(room, "m.space.parent").await? {
            let canonical = content.get("canonical").and_then(Value::as_bool) == Some(true);
            let Ok(space) = RoomId::parse(parent.as_str()) else { continue };
            if !canonical || self.rooms.version(&space).await?.is_none() {
                continue;
            }
            let child = self.rooms.state_json(&space, "m.space.child", room.as_str()).await?;
            if child.and_then(|c| c.get("via").and_then(Value::as_array).map(|v| !v.is_empty())) == Some(true) {
                return Ok(Some(space));
            }
        }
        Ok(None)
    }

    /// The channel record of a room of `server`.
    pub async fn channel(&self, room: &RoomId) -> Result<Channel> {
        let content = self.effective(room, events::CHANNEL, "").await?;
        let overwrites = self.effective(room, events::CHANNEL_OVERWRITES, "").await?;
        Ok(Channel {
            room: room.to_owned(),
            content: typed(content.as_ref()),
            overwrites: typed(overwrites.as_ref()).unwrap_or_default(),
        })
    }

    /// Where `room` sits in a Nexus server, or `None` for a room outside any.
    pub async fn scope(&self, room: &RoomId) -> Result<Option<Scope>> {
        self.scope_from(room, true).await
    }

    /// [`Guilds::scope`] read from the store, never the cache. The
    /// recompiler needs this: it wakes as soon as an event's batch (which
    /// holds its job) is written, which is before `persisted` forgets the
    /// cached server that event changed — compiled from the cache, the job
    /// would be done with the old roles and never run again.
    pub(super) async fn scope_uncached(&self, room: &RoomId) -> Result<Option<Scope>> {
        self.scope_from(room, false).await
    }

    async fn scope_from(&self, room: &RoomId, cached: bool) -> Result<Option<Scope>> {
        let server = |space: OwnedRoomId| async move {
            match cached {
                true => self.server(&space).await,
                false => Ok(self.load_server(&space).await?.map(Arc::new)),
            }
        };
        if let Some(server) = server(room.to_owned()).await? {
            return Ok(Some(Scope { server, channel: None }));
        }
        let Some(space) = self.space_of(room).await? else { return Ok(None) };
        let Some(server) = server(space).await? else { return Ok(None) };
        let channel = self.channel(room).await?;
        Ok(Some(Scope { server, channel: Some(channel) }))
    }

    /// The channels of a server: the space's children that name it as
    /// their canonical parent and that this server has.
    pub async fn channels(&self, space: &RoomId) -> Result<Vec<OwnedRoomId>> {
        let mut out = Vec::new();
        for (child, content) in self.rooms.state_json_of_type(space, "m.space.child").await? {
            let listed = content.get("via").and_then(Value::as_array).is_some_and(|v| !v.is_empty());
            let Ok(room) = RoomId::parse(child.as_str()) else { continue };
            if listed && self.rooms.version(&room).await?.is_some() {
                let parent = self.rooms.state_json(&room, "m.space.parent", space.as_str()).await?;
                if parent.and_then(|p| p.get("canonical").and_then(Value::as_bool)) == Some(true) {
                    out.push(room);
                }
            }
        }
        Ok(out)
    }
}
