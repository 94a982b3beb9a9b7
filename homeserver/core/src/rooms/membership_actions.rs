//! Membership changes: each is one `m.room.member` event through the send
//! path, so the auth rules decide who may do what.

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedEventId, OwnedUserId, RoomId, UserId};

use super::{NewEvent, Rooms};
use crate::{Error, Result};

fn member_content(membership: &str, reason: Option<&str>) -> CanonicalJsonObject {
    let mut content = CanonicalJsonObject::new();
    content.insert("membership".to_owned(), membership.into());
    if let Some(reason) = reason {
        content.insert("reason".to_owned(), reason.into());
    }
    content
}

impl Rooms {
    async fn member_event(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        mut content: CanonicalJsonObject,
        with_profile: bool,
    ) -> Result<OwnedEventId> {
        if with_profile {
            let (displayname, avatar_url) = self.member_profile(target).await;
            if let Some(name) = displayname {
                content.insert("displayname".to_owned(), name.into());
            }
            if let Some(url) = avatar_url {
                content.insert("avatar_url".to_owned(), url.into());
            }
        }
        self.send(room_id, sender, NewEvent::state("m.room.member", target.as_str(), content)).await
    }

    /// The content of the user's current join event; `None` unless joined.
    pub async fn joined_member_content(&self, room_id: &RoomId, user: &UserId) -> Result<Option<CanonicalJsonObject>> {
        if !self.membership.is_joined(room_id, user).await? {
            return Ok(None);
        }
        self.current_state_content(room_id, "m.room.member", user.as_str()).await
    }

    /// Joins a room; through `via` (and other servers that may know it)
    /// when this server does not take part in it.
    pub async fn join(
        &self,
        room_id: &RoomId,
        user: &UserId,
        reason: Option<&str>,
        via: &[ruma::OwnedServerName],
    ) -> Result<OwnedEventId> {
        self.moderation.refuse_if_suspended(user, "join rooms").await?;
        self.refuse_if_blocked(room_id).await?;
        if !self.participating(room_id).await? {
            let servers = self.join_candidates(room_id, user, via).await?;
            if servers.is_empty() {
                return Err(Error::NotFound(format!("this server does not know the room {room_id}")));
            }
            return self.join_remote(room_id, user, &servers, reason).await;
        }
        if self.membership.is_joined(room_id, user).await? {
            // Joining again is allowed by the spec and changes nothing.
            if let Some(event_id) = self.state.get(room_id, "m.room.member", user.as_str()).await? {
                return Ok(event_id);
            }
        }
        let mut content = member_content("join", reason);
        if let Some(authoriser) = self.restricted_join_authoriser(room_id, user).await? {
            content.insert("join_authorised_via_users_server".to_owned(), authoriser.as_str().into());
        }
        self.member_event(room_id, user, user, content, true).await
    }

    /// For a restricted room (spec: "Restricted rooms"): when the user
    /// is not invited but is in one of the rooms the join rule allows, a
    /// member of ours who may invite vouches for the join. `None` when no
    /// vouching is needed; the auth rules reject the join if it was.
    pub(super) async fn restricted_join_authoriser(
        &self,
        room_id: &RoomId,
        user: &UserId,
    ) -> Result<Option<OwnedUserId>> {
        let Some(content) = self.current_state_content(room_id, "m.room.join_rules", "").await? else {
            return Ok(None);
        };
        let content = serde_json::Value::from(CanonicalJsonValue::Object(content));
        let rule = content.get("join_rule").and_then(|v| v.as_str()).unwrap_or_default();
        if !matches!(rule, "restricted" | "knock_restricted") {
            return Ok(None);
        }
        if matches!(self.membership.of(room_id, user).await?, Some(MembershipState::Invite | MembershipState::Join)) {
            return Ok(None);
        }
        let allowed_rooms = content.get("allow").and_then(|a| a.as_array()).into_iter().flatten().filter_map(|entry| {
            (entry.get("type")?.as_str()? == "m.room_membership").then(|| entry.get("room_id")?.as_str())?
        });
        let mut qualifies = false;
        for allowed in allowed_rooms {
            if let Ok(allowed) = <&RoomId>::try_from(allowed)
                && self.membership.is_joined(allowed, user).await?
            {
                qualifies = true;
                break;
            }
        }
        if !qualifies {
            return Err(Error::Forbidden("you are not in any of the rooms this room admits members of".to_owned()));
        }
        let power = self.power_levels(room_id).await?;
        let needed = power.action("invite");
        for (member, membership) in self.membership.members(room_id).await? {
            if membership == MembershipState::Join
                && member.server_name() == self.server_name
                && power.user(&member) >= needed
            {
                return Ok(Some(member));
            }
        }
        Err(Error::Forbidden("no member of this server can admit you to the room".to_owned()))
    }

    /// `POST /knock/{roomIdOrAlias}`: ask to be let in.
    pub async fn knock(&self, room_id: &RoomId, user: &UserId, reason: Option<&str>) -> Result<OwnedEventId> {
        self.moderation.refuse_if_suspended(user, "knock on rooms").await?;
        self.refuse_if_blocked(room_id).await?;
        if self.version(room_id).await?.is_none() {
            return Err(Error::NotFound(format!("this server does not know the room {room_id}")));
        }
        self.member_event(room_id, user, user, member_content("knock", reason), true).await
    }

    pub async fn invite(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
        is_direct: bool,
    ) -> Result<OwnedEventId> {
        self.refuse_if_blocked(room_id).await?;
        if target.server_name() == self.server_name && !self.local_user_exists(target).await {
            return Err(Error::NotFound(format!("{target} is not a user of this server")));
        }
        match self.membership.of(room_id, target).await? {
            Some(MembershipState::Join) => return Err(Error::Forbidden(format!("{target} is already in the room"))),
            Some(MembershipState::Ban) => return Err(Error::Forbidden(format!("{target} is banned from the room"))),
            _ => {}
        }
        if self.moderation.restrictions(sender).await?.shadow_banned {
            return Ok(super::shadow_event_id());
        }
        let mut content = member_content("invite", reason);
        if is_direct {
            content.insert("is_direct".to_owned(), true.into());
        }
        self.member_event(room_id, sender, target, content, true).await
    }

    pub async fn leave(&self, room_id: &RoomId, user: &UserId, reason: Option<&str>) -> Result<()> {
        let through_resident =
            self.remote_invite(user, room_id).await?.is_some() || !self.participating(room_id).await?;
        if through_resident && self.membership.of(room_id, user).await?.is_some_and(|m| m != MembershipState::Leave) {
            return self.leave_remote(room_id, user, reason).await;
        }
        match self.membership.of(room_id, user).await? {
            None | Some(MembershipState::Leave) | Some(MembershipState::Ban) => {
                Err(Error::Forbidden("you are not in this room".to_owned()))
            }
            Some(_) => self.member_event(room_id, user, user, member_content("leave", reason), false).await.map(|_| ()),
        }
    }

    pub async fn kick(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> Result<OwnedEventId> {
        match self.membership.of(room_id, target).await? {
            Some(MembershipState::Join | MembershipState::Invite | MembershipState::Knock) => {
                self.member_event(room_id, sender, target, member_content("leave", reason), false).await
            }
            _ => Err(Error::Forbidden(format!("{target} is not in the room"))),
        }
    }

    pub async fn ban(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> Result<OwnedEventId> {
        self.member_event(room_id, sender, target, member_content("ban", reason), false).await
    }

    pub async fn unban(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
    ) -> Result<OwnedEventId> {
        if self.membership.of(room_id, target).await? != Some(MembershipState::Ban) {
            return Err(Error::Forbidden(format!("{target} is not banned")));
        }
        self.member_event(room_id, sender, target, member_content("leave", reason), false).await
    }

    pub async fn forget(&self, room_id: &RoomId, user: &UserId) -> Result<()> {
        if self.membership.forget(room_id, user).await? {
            Ok(())
        } else {
            Err(Error::BadRequest("leave the room before forgetting it".to_owned()))
        }
    }
}
