//! What a Nexus homeserver refuses its own users before an event is built
//! (extensions-spec §14 and §16): `nexus.*` state that does not parse
//! (`M_BAD_JSON`, naming the field) or that the update rules forbid
//! (`M_FORBIDDEN`, naming the rule); and, in a server's rooms, what power
//! levels cannot say — posting at top level or in threads, attachments, new
//! reaction keys, slowmode (`M_LIMIT_EXCEEDED`), joining a channel one
//! cannot see, kicking or banning someone one does not outrank.
//!
//! Events from other homeservers are judged by the Matrix auth rules only
//! (§15): this gate never sees them.

use std::time::Duration;

use nexus_extensions::compute;
use nexus_extensions::events::channel::ChannelContent;
use nexus_extensions::events::member::MemberContent;
use nexus_extensions::events::overwrites::ChannelOverwritesContent;
use nexus_extensions::events::role::RoleContent;
use nexus_extensions::events::server::ServerContent;
use nexus_extensions::events::{self, parse_state, state_key_rule, validate_content};
use nexus_extensions::ids::user_id_from_member_state_key;
use nexus_extensions::update_rules;
use nexus_extensions::{Permissions, RuleViolation};
use ruma::{RoomId, UserId};
use serde_json::Value;

use super::Guilds;
use super::context::{Scope, typed};
use crate::rooms::NewEvent;
use crate::values::now_ms;
use crate::{Error, Result};

/// Message types that carry a file (ATTACH_FILES).
const ATTACHMENT_MSGTYPES: &[&str] = &["m.image", "m.file", "m.video", "m.audio"];

/// Event types that are posts (SEND_MESSAGES / SEND_MESSAGES_IN_THREADS,
/// slowmode).
const POST_TYPES: &[&str] =
    &["m.room.message", "m.sticker", "m.room.encrypted", events::POLL_START, events::POLL_START_STABLE];

/// Channel state a redaction would blank for every client (§18).
const PROTECTED_STATE: &[&str] = &["m.room.name", "m.room.topic", "m.room.avatar", "m.room.pinned_events"];

/// `nexus.*` types whose `{}` content means "deleted".
const DELETABLE: &[&str] = &[events::ROLE, events::MEMBER, events::THREAD, events::SCHEDULED_EVENT];

/// Whether an event type is a post (slowmode counts it).
pub(super) fn is_post(kind: &str) -> bool {
    POST_TYPES.contains(&kind)
}

fn refused(violation: RuleViolation) -> Error {
    Error::Forbidden(format!("Nexus update rules: {violation}"))
}

fn missing(permission: Permissions, what: &str) -> Error {
    Error::Forbidden(format!("{what} needs {permission:?} in this channel"))
}

impl Guilds {
    pub(super) async fn check_local(&self, room_id: &RoomId, sender: &UserId, event: &NewEvent) -> Result<()> {
        let content = Value::from(ruma::CanonicalJsonValue::Object(event.content.clone()));
        let scope = self.scope(room_id).await?;
        let now = now_ms();
        if event.state_key.is_some() && event.kind.starts_with("nexus.") {
            let state_key = event.state_key.as_deref();
            self.judge_nexus_state(scope.as_ref(), room_id, sender, &event.kind, state_key, &content, now).await?;
        }
        if event.kind == events::SCHEDULED_EVENT_RSVP && event.state_key.is_none() {
            self.check_rsvp(scope.as_ref(), &content).await?;
        }
        let Some(scope) = scope else { return Ok(()) };
        self.check_tier_two(&scope, sender, event, &content, now).await
    }

    /// §14 steps 1 and 2 for a `nexus.*` state event, under the state
    /// before it (`scope`, or no server yet) at time `now`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn judge_nexus_state(
        &self,
        scope: Option<&Scope>,
        room_id: &RoomId,
        sender: &UserId,
        kind: &str,
        state_key: Option<&str>,
        content: &Value,
        now: u64,
    ) -> Result<()> {
        check_shape(kind, state_key, content)?;
        match scope {
            Some(scope) => self.check_update(scope, sender, kind, state_key.unwrap_or_default(), content, now).await,
            None if kind == events::SERVER => self.check_new_server(room_id, sender, content).await,
            None => Ok(()),
        }
    }

    /// The first `nexus.server` of a space: only a space becomes a server,
    /// and only its sender can make themselves its owner.
    async fn check_new_server(&self, room_id: &RoomId, sender: &UserId, content: &Value) -> Result<()> {
        let Some(server) = typed::<ServerContent>(Some(content)) else { return Ok(()) };
        if !self.rooms.is_space(room_id).await? {
            return Err(Error::Forbidden("nexus.server belongs in a space (m.room.create type m.space)".to_owned()));
        }
        if server.owner != sender.as_str() {
            return Err(Error::Forbidden("owner: a new server is owned by whoever creates it".to_owned()));
        }
        Ok(())
    }

    /// §14: the change from the current content, under the sender's
    /// permissions before the event.
    async fn check_update(
        &self,
        scope: &Scope,
        sender: &UserId,
        kind: &str,
        state_key: &str,
        content: &Value,
        now: u64,
    ) -> Result<()> {
        let guild = &scope.server.guild;
        let sender_id = sender;
        let sender = sender.as_str();
        let in_space = scope.channel.is_none();
        let wrong_room = |what: &str| Error::Forbidden(format!("{kind} belongs in the server's {what}"));
        match kind {
            events::SERVER => {
                if !in_space {
                    return Err(wrong_room("space"));
                }
                let new = typed::<ServerContent>(Some(content)).expect("checked shape");
                update_rules::check_server_update(guild, sender, &scope.server.content, &new, now).map_err(refused)
            }
            events::ROLE => {
                if !in_space {
                    return Err(wrong_room("space"));
                }
                let new = parse_state::<RoleContent>(content).expect("checked shape");
                if let Some(role) = &new {
                    role.validate_as(state_key).map_err(|e| Error::BadJson(format!("nexus.role: {e}")))?;
                }
                if guild.roles.len() > nexus_extensions::events::role::MAX_ROLES
                    && new.is_some()
                    && !guild.roles.contains_key(state_key)
                {
                    return Err(Error::Forbidden("a server has at most 250 roles besides @everyone".to_owned()));
                }
                let old = guild.roles.get(state_key);
                update_rules::check_role_update(guild, sender, state_key, old, new.as_ref(), now).map_err(refused)
            }
            events::MEMBER => {
                if !in_space {
                    return Err(wrong_room("space"));
                }
                let target = user_id_from_member_state_key(state_key).expect("checked shape");
                let new = parse_state::<MemberContent>(content).expect("checked shape");
                if let Some(unknown) = new.iter().flat_map(|m| &m.roles).find(|r| !guild.roles.contains_key(*r)) {
                    return Err(Error::BadJson(format!("roles: unknown role {unknown:?}")));
                }
                let old = guild.members.get(target);
                update_rules::check_member_update(guild, sender, target, old, new.as_ref(), now).map_err(refused)
            }
            events::CHANNEL_OVERWRITES => {
                let Some(channel) = &scope.channel else { return Err(wrong_room("channels")) };
                let new = typed::<ChannelOverwritesContent>(Some(content)).expect("checked shape");
                update_rules::check_overwrites_update(guild, sender, &channel.overwrites, &new, now).map_err(refused)
            }
            events::CHANNEL => {
                let Some(channel) = &scope.channel else { return Err(wrong_room("channels")) };
                let new = typed::<ChannelContent>(Some(content)).expect("checked shape");
                if let Some(category) = &new.category
                    && !scope.server.content.categories.iter().any(|c| &c.id == category)
                {
                    return Err(Error::BadJson(format!("category: unknown category {category:?}")));
                }
                update_rules::check_channel_update(
                    guild,
                    sender,
                    &channel.overwrites,
                    channel.content.as_ref(),
                    &new,
                    now,
                )
                .map_err(refused)
            }
            events::THREAD => {
                let Some(channel) = &scope.channel else { return Err(wrong_room("channels")) };
                self.check_thread_state(scope, channel, sender_id, state_key, content, now).await
            }
            events::SCHEDULED_EVENT => {
                if !in_space {
                    return Err(wrong_room("space"));
                }
                self.check_scheduled_event_state(scope, sender_id, state_key, content, now).await
            }
            // Image packs: their rules come with that feature (§13).
            _ => Ok(()),
        }
    }

    /// §16's second tier, for the sender's own events in a server's rooms.
    async fn check_tier_two(
        &self,
        scope: &Scope,
        sender: &UserId,
        event: &NewEvent,
        content: &Value,
        now: u64,
    ) -> Result<()> {
        let guild = &scope.server.guild;
        let perms = scope.room().permissions(guild, sender.as_str(), now);
        let relation = content.get("m.relates_to");
        let rel_type = relation.and_then(|r| r.get("rel_type")).and_then(Value::as_str);
        if event.kind == "m.room.member" {
            return self.check_membership(scope, sender, event, content, perms, now).await;
        }
        self.check_expressions(scope, event, content, perms).await?;
        self.check_poll_limits(event, content)?;
        let Some(channel) = &scope.channel else { return Ok(()) };
        if event.kind == super::pins::PINNED_EVENTS && event.state_key.as_deref() == Some("") {
            return self.check_pins(perms);
        }
        if event.state_key.is_some() {
            return Ok(());
        }
        if let Some(target) = &event.redacts {
            return self.check_redaction(&channel.room, target).await;
        }
        if POST_TYPES.contains(&event.kind.as_str()) && rel_type != Some("m.replace") {
            let (needed, what) = if rel_type == Some("m.thread") {
                (Permissions::SEND_MESSAGES_IN_THREADS, "posting in a thread")
            } else {
                (Permissions::SEND_MESSAGES, "posting")
            };
            if !perms.contains(needed) {
                return Err(missing(needed, what));
            }
            if let Some(root) = super::threads::thread_root(content) {
                self.check_thread_post(scope, channel, sender, &root, now).await?;
            }
            // The first reply makes the thread: starting one is its own
            // permission (§7.3); private threads come with §10.5.
            if rel_type == Some("m.thread")
                && !perms.contains(Permissions::CREATE_PUBLIC_THREADS)
                && let Some(root) = relation.and_then(|r| r.get("event_id")).and_then(Value::as_str)
                && let Ok(root) = ruma::EventId::parse(root)
                && self.rooms.relations.thread(&channel.room, &root).await?.is_none()
            {
                return Err(missing(Permissions::CREATE_PUBLIC_THREADS, "starting a thread"));
            }
            let msgtype = content.get("msgtype").and_then(Value::as_str);
            if (msgtype.is_some_and(|t| ATTACHMENT_MSGTYPES.contains(&t)) || event.kind == "m.sticker")
                && !perms.contains(Permissions::ATTACH_FILES)
            {
                return Err(missing(Permissions::ATTACH_FILES, "attaching a file"));
            }
            let slowmode = channel.content.as_ref().map_or(0, |c| c.slowmode_seconds);
            let last = self.slowmode.last_post(&channel.room, sender);
            if let Some(wait) = compute::slowmode_wait_ms(perms, slowmode, last, now) {
                return Err(Error::LimitExceeded { retry_after: Duration::from_millis(wait) });
            }
        }
        if event.kind == "m.reaction"
            && let Some(key) = relation.and_then(|r| r.get("key")).and_then(Value::as_str)
            && let Some(parent) = relation.and_then(|r| r.get("event_id")).and_then(Value::as_str)
            && let Ok(parent) = ruma::EventId::parse(parent)
            && !perms.contains(Permissions::ADD_REACTIONS)
            && !self.rooms.relations.annotation_key_in_use(&channel.room, &parent, &event.kind, key).await?
        {
            return Err(missing(Permissions::ADD_REACTIONS, "adding a new reaction"));
        }
        Ok(())
    }

    /// §18: redacting a channel's name, topic, avatar or pins would blank
    /// them, which Discord never allows a moderator; and a redacted
    /// `nexus.*` event changes nothing (§14), so it is refused as pointless.
    async fn check_redaction(&self, room: &RoomId, target: &ruma::EventId) -> Result<()> {
        let Some(stored) = self.rooms.timeline.get(target).await? else { return Ok(()) };
        let object = stored.object()?;
        if !object.contains_key("state_key") {
            return Ok(());
        }
        let kind = object.get("type").and_then(|t| t.as_str()).unwrap_or_default();
        if PROTECTED_STATE.contains(&kind) || kind.starts_with("nexus.") {
            return Err(Error::Forbidden(format!(
                "{kind} in a channel is changed, not redacted (extensions-spec §18) — {room}"
            )));
        }
        Ok(())
    }

    /// §6.5: a per-room display name in a server's room is a server
    /// nickname; choosing one's own needs CHANGE_NICKNAME (or
    /// MANAGE_NICKNAMES). Taking one's global name, or the nickname a
    /// moderator set, needs nothing.
    async fn check_own_nickname(&self, scope: &Scope, sender: &UserId, content: &Value, now: u64) -> Result<()> {
        let Some(name) = content.get("displayname").and_then(Value::as_str) else { return Ok(()) };
        let room = scope.room_id();
        let current = self.rooms.state_json(room, "m.room.member", sender.as_str()).await?;
        let unchanged = current.as_ref().and_then(|c| c.get("displayname")).and_then(Value::as_str) == Some(name);
        let moderator_set = scope.server.guild.member(sender.as_str()).and_then(|m| m.nick.as_deref()) == Some(name);
        if unchanged || moderator_set {
            return Ok(());
        }
        let global = self.profiles.get(sender).await.ok();
        if global.as_ref().and_then(|p| p.get("displayname")).and_then(Value::as_str) == Some(name) {
            return Ok(());
        }
        let base = compute::base_permissions(&scope.server.guild, sender.as_str(), now);
        if base.intersects(Permissions::CHANGE_NICKNAME | Permissions::MANAGE_NICKNAMES) {
            Ok(())
        } else {
            Err(Error::Forbidden("a server nickname needs CHANGE_NICKNAME".to_owned()))
        }
    }

    /// Joining needs VIEW_CHANNEL; kicking and banning need the permission
    /// and a higher rank (§7.4).
    async fn check_membership(
        &self,
        scope: &Scope,
        sender: &UserId,
        event: &NewEvent,
        content: &Value,
        perms: Permissions,
        now: u64,
    ) -> Result<()> {
        let guild = &scope.server.guild;
        let target = event.state_key.as_deref().unwrap_or_default();
        let membership = content.get("membership").and_then(Value::as_str).unwrap_or_default();
        if membership == "join" && target == sender.as_str() {
            self.check_own_nickname(scope, sender, content, now).await?;
        }
        match membership {
            "join" if scope.channel.is_some() && !perms.contains(Permissions::VIEW_CHANNEL) => {
                Err(missing(Permissions::VIEW_CHANNEL, "joining"))
            }
            "ban" if !compute::can_ban(guild, sender.as_str(), target, now) => Err(Error::Forbidden(
                "banning needs BAN_MEMBERS and a higher place in the role hierarchy than the target".to_owned(),
            )),
            "leave" if target != sender.as_str() && !compute::can_kick(guild, sender.as_str(), target, now) => {
                Err(Error::Forbidden(
                    "kicking needs KICK_MEMBERS and a higher place in the role hierarchy than the target".to_owned(),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// State key and content of a `nexus.*` state event (§14 step 1).
pub(super) fn check_shape(kind: &str, state_key: Option<&str>, content: &Value) -> Result<()> {
    let Some(rule) = state_key_rule(kind) else {
        return Err(Error::BadJson(format!("{kind} is not an event type of the Nexus extensions")));
    };
    if !rule.accepts(state_key) {
        return Err(Error::BadJson(format!("{kind}: the state key {state_key:?} is not allowed ({rule:?})")));
    }
    if DELETABLE.contains(&kind) && content.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(());
    }
    validate_content(kind, content).map_err(|e| match field_of(kind, content) {
        Some(field) => Error::BadJson(format!("{kind}: `{field}`: {e}")),
        None => Error::BadJson(format!("{kind}: {e}")),
    })
}

/// Where in the content a shape error is (serde's own messages often omit
/// it, e.g. for an unknown enum variant).
fn field_of(kind: &str, content: &Value) -> Option<String> {
    use nexus_extensions::events::{channel, member, overwrites, role, server};
    fn path<T: serde::de::DeserializeOwned>(content: &Value) -> Option<String> {
        let error = serde_path_to_error::deserialize::<_, T>(content.clone()).err()?;
        let path = error.path().to_string();
        (path != ".").then_some(path)
    }
    match kind {
        events::SERVER => path::<server::ServerContent>(content),
        events::CHANNEL => path::<channel::ChannelContent>(content),
        events::CHANNEL_OVERWRITES => path::<overwrites::ChannelOverwritesContent>(content),
        events::ROLE => path::<role::RoleContent>(content),
        events::MEMBER => path::<member::MemberContent>(content),
        events::THREAD => path::<nexus_extensions::events::thread::ThreadContent>(content),
        events::SCHEDULED_EVENT => path::<nexus_extensions::events::scheduled_event::ScheduledEventContent>(content),
        _ => None,
    }
}
