//! The operations Nexus clients and bots call (the `/_nexus/client/v1` API):
//! creating servers and channels, roles, member roles and timeouts, and
//! effective permissions. Each is carried out as Matrix events sent by the
//! acting user, so the gate (§14) judges it exactly as it would the same
//! event sent by hand, and every other homeserver sees ordinary state.

use nexus_extensions::Permissions;
use nexus_extensions::events;
use nexus_extensions::events::channel::ChannelContent;
use nexus_extensions::events::member::MemberContent;
use nexus_extensions::events::role::EVERYONE_ROLE_ID;
use nexus_extensions::ids::{is_opaque_id, member_state_key};
use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, RoomId, UserId};
use serde_json::{Value, json};

use super::Guilds;
use super::context::{Scope, typed};
use crate::rooms::{CreateRoom, NewEvent, Preset};
use crate::values::{now_ms, random_string};
use crate::{Error, Result};

/// What @everyone may do in a new server: Discord's defaults for a new
/// guild (talk, read, react, attach, embed, invite, threads, polls, voice).
pub const DEFAULT_EVERYONE: Permissions = Permissions::from_bits(
    Permissions::CREATE_INSTANT_INVITE.bits()
        | Permissions::ADD_REACTIONS.bits()
        | Permissions::STREAM.bits()
        | Permissions::VIEW_CHANNEL.bits()
        | Permissions::SEND_MESSAGES.bits()
        | Permissions::EMBED_LINKS.bits()
        | Permissions::ATTACH_FILES.bits()
        | Permissions::READ_MESSAGE_HISTORY.bits()
        | Permissions::USE_EXTERNAL_EMOJIS.bits()
        | Permissions::CONNECT.bits()
        | Permissions::SPEAK.bits()
        | Permissions::USE_VAD.bits()
        | Permissions::CHANGE_NICKNAME.bits()
        | Permissions::USE_APPLICATION_COMMANDS.bits()
        | Permissions::CREATE_PUBLIC_THREADS.bits()
        | Permissions::SEND_MESSAGES_IN_THREADS.bits()
        | Permissions::USE_EXTERNAL_STICKERS.bits()
        | Permissions::SEND_VOICE_MESSAGES.bits()
        | Permissions::SEND_POLLS.bits()
        | Permissions::CREATE_EVENTS.bits(),
);

/// Longest server or channel name (§4: the space's `m.room.name`; Discord: 100).
const MAX_NAME_LEN: usize = 100;
/// Opaque ids are 16 characters from this alphabet (~95 bits).
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A new server, as asked for.
#[derive(Debug, Default)]
pub struct NewServer {
    pub name: String,
    pub topic: Option<String>,
    pub icon: Option<String>,
    /// Anyone may join the space (join rule `public`); otherwise by invite
    /// or invite code.
    pub public: bool,
}

/// A new channel, as asked for.
#[derive(Debug, Default)]
pub struct NewChannel {
    pub name: String,
    /// `text`, `voice`, `announcement`, `forum` or `stage`.
    pub kind: String,
    pub topic: Option<String>,
    pub category: Option<String>,
    pub position: Option<u32>,
    /// Hidden from @everyone (an overwrite denying VIEW_CHANNEL).
    pub private: bool,
}

#[derive(Debug)]
pub struct CreatedServer {
    pub space: OwnedRoomId,
    pub channels: Vec<OwnedRoomId>,
}

pub(super) fn object(value: Value) -> Result<CanonicalJsonObject> {
    match CanonicalJsonValue::try_from(value) {
        Ok(CanonicalJsonValue::Object(o)) => Ok(o),
        Ok(_) => Err(Error::BadJson("expected a JSON object".to_owned())),
        Err(e) => Err(Error::BadJson(format!("not canonical JSON: {e}"))),
    }
}

pub(super) fn check_name(field: &str, name: &str) -> Result<()> {
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_LEN || name.trim().is_empty() {
        return Err(Error::BadJson(format!("{field}: must be 1–{MAX_NAME_LEN} characters, got {len}")));
    }
    Ok(())
}

/// A fresh opaque id (§2) for a role.
pub fn new_opaque_id() -> String {
    random_string(ID_ALPHABET, 16)
}

impl Guilds {
    /// The server at `space`, or 404.
    pub async fn require_server(&self, space: &RoomId) -> Result<std::sync::Arc<super::Server>> {
        self.server(space).await?.ok_or_else(|| Error::NotFound(format!("{space} is not a Nexus server")))
    }

    /// Creates a server in one call: the space, `nexus.server` with a text
    /// and a voice category, @everyone, a #general text channel (the system
    /// channel) and a General voice channel.
    pub async fn create_server(&self, owner: &UserId, request: NewServer) -> Result<CreatedServer> {
        check_name("name", &request.name)?;
        if request.topic.as_ref().is_some_and(|t| t.chars().count() > 1024) {
            return Err(Error::BadJson("topic: at most 1024 characters".to_owned()));
        }
        let space = self
            .rooms
            .create_room(
                owner,
                CreateRoom {
                    creation_content: Some(object(json!({ "type": "m.space" }))?),
                    name: Some(request.name.clone()),
                    topic: request.topic.clone(),
                    preset: Some(if request.public { Preset::PublicChat } else { Preset::PrivateChat }),
                    ..CreateRoom::default()
                },
            )
            .await?;
        if let Some(icon) = &request.icon {
            self.send_state(&space, owner, "m.room.avatar", "", json!({ "url": icon })).await?;
        }
        let mut server = json!({
            "owner": owner,
            "categories": [
                { "id": "text", "name": "Text channels" },
                { "id": "voice", "name": "Voice channels" },
            ],
        });
        if let Some(topic) = &request.topic {
            server["description"] = json!(topic);
        }
        if let Some(icon) = &request.icon {
            server["icon"] = json!(icon);
        }
        self.send_state(&space, owner, events::SERVER, "", server.clone()).await?;
        let everyone = json!({ "name": "@everyone", "position": 0, "permissions": DEFAULT_EVERYONE.to_string() });
        self.send_state(&space, owner, events::ROLE, EVERYONE_ROLE_ID, everyone).await?;
        let text = NewChannel {
            name: "general".to_owned(),
            kind: "text".to_owned(),
            category: Some("text".to_owned()),
            ..NewChannel::default()
        };
        let general = self.create_channel(owner, &space, text).await?;
        let voice = NewChannel {
            name: "General".to_owned(),
            kind: "voice".to_owned(),
            category: Some("voice".to_owned()),
            ..NewChannel::default()
        };
        let lounge = self.create_channel(owner, &space, voice).await?;
        server["system_channel"] = json!(general);
        self.send_state(&space, owner, events::SERVER, "", server).await?;
        Ok(CreatedServer { space, channels: vec![general, lounge] })
    }

    /// Creates a channel: a room created by the owner when the owner is a
    /// local user (so room-version-12 creators and owner coincide, §9.5),
    /// linked both ways with the space, with `nexus.channel`, the join rule
    /// §9.4 asks for and, for a private channel, an overwrite hiding it from
    /// @everyone. Needs MANAGE_CHANNELS.
    pub async fn create_channel(&self, actor: &UserId, space: &RoomId, request: NewChannel) -> Result<OwnedRoomId> {
        let server = self.require_server(space).await?;
        let held = nexus_extensions::compute::base_permissions(&server.guild, actor.as_str(), now_ms());
        if !held.contains(Permissions::MANAGE_CHANNELS) {
            return Err(Error::Forbidden("creating a channel needs MANAGE_CHANNELS".to_owned()));
        }
        check_name("name", &request.name)?;
        if let Some(id) = &request.category
            && !server.content.categories.iter().any(|c| &c.id == id)
        {
            return Err(Error::BadJson(format!("category: unknown category {id:?}")));
        }
        let position = match request.position {
            Some(p) => p,
            None => self.next_position(space, request.category.as_deref()).await?,
        };
        let mut channel = json!({ "type": request.kind, "position": position });
        if let Some(category) = &request.category {
            channel["category"] = json!(category);
        }
        if let Some(topic) = &request.topic {
            channel["topic"] = json!(topic);
        }
        super::gate::check_shape(events::CHANNEL, Some(""), &channel)?;

        let everyone_reads = server.guild.everyone_permissions().contains(Permissions::READ_MESSAGE_HISTORY);
        let join_rule = if request.private {
            json!({ "join_rule": "invite" })
        } else {
            json!({ "join_rule": "restricted", "allow": [{ "type": "m.room_membership", "room_id": space }] })
        };
        let via = json!([self.rooms.server_name()]);
        let mut initial_state = vec![
            ("m.space.parent".to_owned(), space.to_string(), object(json!({ "via": via, "canonical": true }))?),
            ("m.room.join_rules".to_owned(), String::new(), object(join_rule)?),
            (
                "m.room.history_visibility".to_owned(),
                String::new(),
                object(json!({ "history_visibility": if everyone_reads { "shared" } else { "joined" } }))?,
            ),
            (events::CHANNEL.to_owned(), String::new(), object(channel)?),
        ];
        if request.private {
            let hidden = json!({ "roles": { EVERYONE_ROLE_ID: { "allow": "0", "deny": Permissions::VIEW_CHANNEL.to_string() } } });
            initial_state.push((events::CHANNEL_OVERWRITES.to_owned(), String::new(), object(hidden)?));
        }
        let owner = ruma::UserId::parse(server.guild.owner.as_str()).ok();
        let creator = match &owner {
            Some(owner) if owner.server_name() == self.rooms.server_name() => owner.clone(),
            _ => actor.to_owned(),
        };
        let room = self
            .rooms
            .create_room(
                &creator,
                CreateRoom {
                    room_version: self.rooms.version(space).await?,
                    name: Some(request.name.clone()),
                    topic: request.topic.clone(),
                    preset: Some(Preset::PrivateChat),
                    initial_state,
                    ..CreateRoom::default()
                },
            )
            .await?;
        let order = super::channels::child_order(&server.content, request.category.as_deref(), position);
        self.send_state(
            space,
            actor,
            "m.space.child",
            room.as_str(),
            json!({ "via": via, "order": order, "suggested": true }),
        )
        .await?;
        if creator != actor && !request.private {
            self.rooms.join(&room, actor, None, &[]).await?;
        }
        Ok(room)
    }

    /// One past the highest position in the category.
    async fn next_position(&self, space: &RoomId, category: Option<&str>) -> Result<u32> {
        let mut next = 0;
        for room in self.channels(space).await? {
            let content = self.effective(&room, events::CHANNEL, "").await?;
            if let Some(channel) = typed::<ChannelContent>(content.as_ref())
                && channel.category.as_deref() == category
            {
                next = next.max(channel.position.saturating_add(1));
            }
        }
        Ok(next)
    }

    /// Creates a role with a fresh id; returns the id.
    pub async fn create_role(&self, actor: &UserId, space: &RoomId, role: Value) -> Result<String> {
        let id = new_opaque_id();
        self.put_role(actor, space, &id, role).await?;
        Ok(id)
    }

    /// Writes a role (creating or editing it), judged by §14.
    pub async fn put_role(&self, actor: &UserId, space: &RoomId, role_id: &str, role: Value) -> Result<()> {
        self.require_server(space).await?;
        if !is_opaque_id(role_id) {
            return Err(Error::InvalidParam(format!("{role_id:?} is not a role id (1–64 of [A-Za-z0-9._~-])")));
        }
        self.send_state(space, actor, events::ROLE, role_id, role).await
    }

    /// Deletes a role (its content becomes `{}`).
    pub async fn delete_role(&self, actor: &UserId, space: &RoomId, role_id: &str) -> Result<()> {
        let server = self.require_server(space).await?;
        if !server.guild.roles.contains_key(role_id) {
            return Err(Error::NotFound(format!("no role {role_id:?} in this server")));
        }
        self.send_state(space, actor, events::ROLE, role_id, json!({})).await
    }

    /// Adds (`assign`) or removes a role of a member.
    pub async fn set_member_role(
        &self,
        actor: &UserId,
        space: &RoomId,
        member: &UserId,
        role_id: &str,
        assign: bool,
    ) -> Result<()> {
        let server = self.require_server(space).await?;
        if !server.guild.roles.contains_key(role_id) || role_id == EVERYONE_ROLE_ID {
            return Err(Error::NotFound(format!("no assignable role {role_id:?} in this server")));
        }
        let mut entry = server.guild.member(member.as_str()).cloned().unwrap_or_default();
        let held = entry.roles.iter().any(|r| r == role_id);
        match (assign, held) {
            (true, false) => entry.roles.push(role_id.to_owned()),
            (false, true) => entry.roles.retain(|r| r != role_id),
            _ => return Ok(()),
        }
        self.write_member(actor, space, member, &entry).await
    }

    /// Times a member out until `until_ms`, or ends their timeout (`None`).
    pub async fn set_timeout(
        &self,
        actor: &UserId,
        space: &RoomId,
        member: &UserId,
        until_ms: Option<u64>,
    ) -> Result<()> {
        let server = self.require_server(space).await?;
        let mut entry = server.guild.member(member.as_str()).cloned().unwrap_or_default();
        entry.communication_disabled_until = until_ms;
        self.write_member(actor, space, member, &entry).await
    }

    async fn write_member(&self, actor: &UserId, space: &RoomId, member: &UserId, entry: &MemberContent) -> Result<()> {
        let content = if *entry == MemberContent::default() {
            json!({})
        } else {
            serde_json::to_value(entry).map_err(|e| Error::Internal(e.to_string()))?
        };
        self.send_state(space, actor, events::MEMBER, &member_state_key(member.as_str()), content).await
    }

    /// `user`'s effective permissions in `room` (a server's space or one of
    /// its channels) now; `None` outside Nexus servers.
    pub async fn permissions(&self, user: &UserId, room: &RoomId) -> Result<Option<(Scope, Permissions)>> {
        let Some(scope) = self.scope(room).await? else { return Ok(None) };
        let perms = scope.room().permissions(&scope.server.guild, user.as_str(), now_ms());
        Ok(Some((scope, perms)))
    }

    pub(super) async fn send_state(
        &self,
        room: &RoomId,
        sender: &UserId,
        kind: &str,
        key: &str,
        content: Value,
    ) -> Result<()> {
        self.rooms.send(room, sender, NewEvent::state(kind, key, object(content)?)).await.map(drop)
    }
}

impl Guilds {
    /// Kicks (or bans) a member from the server: from the space, judged by
    /// §7.4 (KICK_MEMBERS / BAN_MEMBERS and outranking them), then from
    /// every channel they are in — as the actor where the channel's power
    /// levels let them, otherwise as a local member who may.
    pub async fn remove_member(
        &self,
        actor: &UserId,
        space: &RoomId,
        member: &UserId,
        ban: bool,
        reason: Option<&str>,
    ) -> Result<()> {
        let server = self.require_server(space).await?;
        let now = now_ms();
        let allowed = if ban {
            nexus_extensions::compute::can_ban(&server.guild, actor.as_str(), member.as_str(), now)
        } else {
            nexus_extensions::compute::can_kick(&server.guild, actor.as_str(), member.as_str(), now)
        };
        if !allowed {
            let (permission, verb) = if ban { ("BAN_MEMBERS", "banning") } else { ("KICK_MEMBERS", "kicking") };
            return Err(Error::Forbidden(format!(
                "{verb} needs {permission} and a higher place in the role hierarchy than {member}"
            )));
        }
        if ban {
            self.rooms.ban(space, actor, member, reason).await?;
        } else {
            self.rooms.kick(space, actor, member, reason).await?;
        }
        for room in self.channels(space).await? {
            let present = self.rooms.membership.of(&room, member).await?;
            let in_room =
                matches!(present, Some(MembershipState::Join | MembershipState::Invite | MembershipState::Knock));
            if !in_room {
                continue;
            }
            let outcome = if ban {
                self.rooms.ban(&room, actor, member, reason).await.map(drop)
            } else {
                self.rooms.kick(&room, actor, member, reason).await.map(drop)
            };
            if let Err(e) = outcome {
                // Leaving the space takes them out of its channels anyway
                // (`visibility`), through a local member who may.
                tracing::info!(%room, %member, error = %e, "could not remove a member from a channel directly");
            }
        }
        Ok(())
    }
}
