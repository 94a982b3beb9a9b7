//! Membership changes: each is one `m.room.member` event through the send
//! path, so the auth rules decide who may do what.

use ruma::canonical_json::CanonicalJsonObject;
use ruma::events::room::member::MembershipState;
use ruma::{OwnedEventId, RoomId, UserId};

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

    pub async fn join(&self, room_id: &RoomId, user: &UserId, reason: Option<&str>) -> Result<OwnedEventId> {
        if self.version(room_id).await?.is_none() {
            // Joining a room over federation arrives with that issue.
            return Err(Error::NotFound(format!("this server does not know the room {room_id}")));
        }
        if self.membership.is_joined(room_id, user).await? {
            // Joining again is allowed by the spec and changes nothing.
            if let Some(event_id) = self.state.get(room_id, "m.room.member", user.as_str()).await? {
                return Ok(event_id);
            }
        }
        self.member_event(room_id, user, user, member_content("join", reason), true).await
    }

    pub async fn invite(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &UserId,
        reason: Option<&str>,
        is_direct: bool,
    ) -> Result<OwnedEventId> {
        if target.server_name() != self.server_name || self.profiles.get(target).await.is_err() {
            return Err(Error::NotFound(format!("{target} is not a user of this server")));
        }
        match self.membership.of(room_id, target).await? {
            Some(MembershipState::Join) => return Err(Error::Forbidden(format!("{target} is already in the room"))),
            Some(MembershipState::Ban) => return Err(Error::Forbidden(format!("{target} is banned from the room"))),
            _ => {}
        }
        let mut content = member_content("invite", reason);
        if is_direct {
            content.insert("is_direct".to_owned(), true.into());
        }
        self.member_event(room_id, sender, target, content, true).await
    }

    pub async fn leave(&self, room_id: &RoomId, user: &UserId, reason: Option<&str>) -> Result<OwnedEventId> {
        match self.membership.of(room_id, user).await? {
            None | Some(MembershipState::Leave) | Some(MembershipState::Ban) => {
                Err(Error::Forbidden("you are not in this room".to_owned()))
            }
            Some(_) => self.member_event(room_id, user, user, member_content("leave", reason), false).await,
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
