//! Voice state of a Nexus voice channel: who is in its call (from the
//! MatrixRTC membership state, either name), and what moderators set on
//! them — server mute (MUTE_MEMBERS), server deafen (DEAFEN_MEMBERS),
//! disconnect (MOVE_MEMBERS). Mute and deafen are kept in
//! `voice_moderation` and enforced in the LiveKit token grants
//! ([`super::MatrixRtc::join_token`]), and for a call in progress through
//! the media server's API (`UpdateParticipant`, `RemoveParticipant`) —
//! the embedded SFU's or an external LiveKit's alike.

use std::collections::BTreeMap;

use nexus_extensions::Permissions;
use nexus_extensions::capabilities::{CALL_MEMBER, RTC_MEMBER};
use nexus_storage::catalog::VOICE_MODERATION;
use nexus_storage::codec::KeyBuilder;
use ruma::{OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{MatrixRtc, livekit};
use crate::rooms::NewEvent;
use crate::values::{decode, encode, now_ms};
use crate::{Error, Result};

/// What moderators set on a member of a voice channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moderation {
    #[serde(default)]
    pub mute: bool,
    #[serde(default)]
    pub deaf: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<OwnedUserId>,
    #[serde(default)]
    pub at_ms: u64,
}

/// A moderator's change: `None` leaves a flag as it is.
pub struct ModerationChange {
    pub mute: Option<bool>,
    pub deaf: Option<bool>,
}

/// One member of a channel's call.
pub struct Participant {
    pub user_id: OwnedUserId,
    /// The devices they are in the call with.
    pub devices: Vec<String>,
    pub moderation: Moderation,
}

fn key(room: &RoomId, user: &UserId) -> Vec<u8> {
    KeyBuilder::new().str(room.as_str()).str(user.as_str()).build()
}

impl MatrixRtc {
    /// The moderation set on `user` in `room` (defaults when none).
    pub async fn moderation(&self, room: &RoomId, user: &UserId) -> Result<Moderation> {
        let bytes = self.store.get(&VOICE_MODERATION, &key(room, user)).await?;
        Ok(bytes.map(|b| decode(&VOICE_MODERATION, &b)).transpose()?.unwrap_or_default())
    }

    /// Who is in `room`'s call, with their moderation; for its joined
    /// members.
    pub async fn voice_state(&self, viewer: &UserId, room: &RoomId) -> Result<Vec<Participant>> {
        if !self.rooms.membership.is_joined(room, viewer).await? {
            return Err(Error::Forbidden("you are not joined to this room".to_owned()));
        }
        let mut devices: BTreeMap<OwnedUserId, Vec<String>> = BTreeMap::new();
        for (sender, state_key, content) in self.call_memberships(room).await? {
            let device = content["device_id"].as_str().map_or(state_key, str::to_owned);
            devices.entry(sender).or_default().push(device);
        }
        let mut participants = Vec::with_capacity(devices.len());
        for (user_id, devices) in devices {
            let moderation = self.moderation(room, &user_id).await?;
            participants.push(Participant { user_id, devices, moderation });
        }
        Ok(participants)
    }

    /// Server-mutes or deafens `target` in a voice channel.
    pub async fn moderate(
        &self,
        actor: &UserId,
        room: &RoomId,
        target: &UserId,
        change: ModerationChange,
    ) -> Result<()> {
        let permissions = self.voice_channel_permissions(actor, room).await?;
        for (asked, needed, name) in [
            (change.mute.is_some(), Permissions::MUTE_MEMBERS, "MUTE_MEMBERS"),
            (change.deaf.is_some(), Permissions::DEAFEN_MEMBERS, "DEAFEN_MEMBERS"),
        ] {
            if asked && !permissions.contains(needed) {
                return Err(Error::Forbidden(format!("{name} is needed")));
            }
        }
        if !self.rooms.membership.is_joined(room, target).await? {
            return Err(Error::NotFound("that user is not in this channel".to_owned()));
        }
        let mut moderation = self.moderation(room, target).await?;
        moderation.mute = change.mute.unwrap_or(moderation.mute);
        moderation.deaf = change.deaf.unwrap_or(moderation.deaf);
        moderation.by = Some(actor.to_owned());
        moderation.at_ms = now_ms();
        if moderation.mute || moderation.deaf {
            self.store.put(&VOICE_MODERATION, &key(room, target), &encode(&moderation)).await?;
        } else {
            self.store.delete(&VOICE_MODERATION, &key(room, target)).await?;
        }
        // Stored, it holds for every token from now on; told to the media
        // server, it holds for the call in progress too.
        let permission = json!({
            "can_publish": !moderation.mute,
            "can_subscribe": !moderation.deaf,
            "can_publish_data": true,
            "can_update_metadata": true,
        });
        self.each_participant_of(room, target, "UpdateParticipant", json!({ "permission": permission })).await;
        Ok(())
    }

    /// Calls a `RoomService` method for every participant `user` has in
    /// the media server's rooms of `room`'s calls (found by the user id
    /// their token carries). Failures are logged: the stored moderation
    /// still applies when they next get a token.
    async fn each_participant_of(&self, room: &RoomId, user: &UserId, method: &'static str, body: Value) {
        let Some(livekit) = &self.livekit else { return };
        let mut slots: Vec<String> = vec!["m.call#ROOM".to_owned()];
        if let Ok(memberships) = self.call_memberships(room).await {
            for (_, _, content) in memberships {
                if let Some(slot) = content["slot_id"].as_str().filter(|s| !slots.iter().any(|known| known == s)) {
                    slots.push(slot.to_owned());
                }
            }
        }
        let now_secs = now_ms() / 1000;
        for slot in slots {
            let alias = livekit::room_alias(room.as_str(), &slot);
            let call = |method: &'static str, body: Value| {
                livekit::room_admin_call(&self.http, &livekit.api_url, &livekit.key, method, &alias, body, now_secs)
            };
            let Ok(listed) = call("ListParticipants", json!({ "room": alias })).await else { continue };
            let theirs = listed["participants"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["attributes"][livekit::USER_ID_ATTRIBUTE].as_str() == Some(user.as_str()));
            for participant in theirs {
                let Some(identity) = participant["identity"].as_str() else { continue };
                let mut request = body.clone();
                request["room"] = json!(alias);
                request["identity"] = json!(identity);
                if let Err(e) = call(method, request).await {
                    tracing::warn!(%room, method, error = %e, "the media server did not apply a moderation");
                }
            }
        }
    }

    /// Ends a member's call memberships in a voice channel (MOVE_MEMBERS):
    /// for a user of this server, the server writes their memberships
    /// empty, as they would on leaving. Another server's user cannot be
    /// written for; refused.
    pub async fn disconnect(&self, actor: &UserId, room: &RoomId, target: &UserId) -> Result<usize> {
        let permissions = self.voice_channel_permissions(actor, room).await?;
        if !permissions.contains(Permissions::MOVE_MEMBERS) && actor != target {
            return Err(Error::Forbidden("MOVE_MEMBERS is needed".to_owned()));
        }
        if target.server_name() != self.server_name {
            return Err(Error::Forbidden("only users of this server can be disconnected by it".to_owned()));
        }
        let mut ended = 0;
        for (sender, state_key, _) in self.call_memberships(room).await? {
            if sender != target {
                continue;
            }
            for kind in [CALL_MEMBER, RTC_MEMBER] {
                let current = self.rooms.state_json(room, kind, &state_key).await?;
                if current.as_ref().and_then(Value::as_object).is_some_and(|c| !c.is_empty()) {
                    let leave = NewEvent::state(kind, &state_key, ruma::CanonicalJsonObject::new());
                    self.rooms.send(room, target, leave).await?;
                    ended += 1;
                }
            }
        }
        // Their media connections end now, not when their client notices.
        self.each_participant_of(room, target, "RemoveParticipant", json!({})).await;
        Ok(ended)
    }

    /// The actor's permissions in a Nexus voice or stage channel.
    async fn voice_channel_permissions(&self, actor: &UserId, room: &RoomId) -> Result<Permissions> {
        let not_voice = || Error::BadRequest("this room is not a Nexus voice channel".to_owned());
        let (scope, permissions) = self.guilds.permissions(actor, room).await?.ok_or_else(not_voice)?;
        let channel = scope.channel.as_ref().ok_or_else(not_voice)?;
        if !channel.content.as_ref().is_some_and(|c| c.kind.is_voice()) {
            return Err(not_voice());
        }
        Ok(permissions)
    }

    /// The call memberships in force: `(sender, state key, content)` of
    /// either event name whose content is not empty.
    pub(super) async fn call_memberships(&self, room: &RoomId) -> Result<Vec<(OwnedUserId, String, Value)>> {
        let mut out = Vec::new();
        for kind in [CALL_MEMBER, RTC_MEMBER] {
            for event in self.rooms.state_events_of_type(room, kind).await? {
                let in_call = event["content"].as_object().is_some_and(|c| !c.is_empty());
                let sender = event["sender"].as_str().and_then(|s| OwnedUserId::try_from(s).ok());
                let state_key = event["state_key"].as_str().unwrap_or_default().to_owned();
                if let (true, Some(sender)) = (in_call, sender) {
                    out.push((sender, state_key, event["content"].clone()));
                }
            }
        }
        Ok(out)
    }
}
