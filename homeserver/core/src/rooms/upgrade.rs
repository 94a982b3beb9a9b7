//! Room upgrades (spec: client-server API, "Room upgrades"): a new room of
//! the new version carrying the old one's state, a tombstone in the old
//! room pointing at it, and the old room quietened.

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, RoomVersionId, UserId};

use super::{NewEvent, Rooms, versions};
use crate::{Error, Result};

/// State that moves to the new room, in the order it is sent; power levels
/// last, so the upgrader (the new room's creator) can send the rest.
const TRANSFERRED: [&str; 8] = [
    "m.room.server_acl",
    "m.room.encryption",
    "m.room.name",
    "m.room.avatar",
    "m.room.topic",
    "m.room.guest_access",
    "m.room.history_visibility",
    "m.room.join_rules",
];

impl Rooms {
    /// `POST /rooms/{roomId}/upgrade`.
    pub async fn upgrade(
        &self,
        user: &UserId,
        old: &RoomId,
        new_version: &RoomVersionId,
        additional_creators: Vec<OwnedUserId>,
    ) -> Result<OwnedRoomId> {
        let new_rules = versions::rules(new_version)?;
        if self.version(old).await?.is_none() || !self.membership.is_joined(old, user).await? {
            return Err(Error::Forbidden("you are not in this room".to_owned()));
        }
        let power = self.power_levels(old).await?;
        if power.user(user) < power.state_event("m.room.tombstone") {
            return Err(Error::Forbidden("you may not upgrade this room".to_owned()));
        }
        if self.state.get(old, "m.room.tombstone", "").await?.is_some() {
            return Err(Error::BadRequest("this room has already been upgraded".to_owned()));
        }

        // The new room: its create event names its predecessor.
        let old_create = self.current_state_content(old, "m.room.create", "").await?.unwrap_or_default();
        let mut create = CanonicalJsonObject::new();
        if let Some(room_type) = old_create.get("type") {
            create.insert("type".to_owned(), room_type.clone());
        }
        if let Some(federate) = old_create.get("m.federate") {
            create.insert("m.federate".to_owned(), federate.clone());
        }
        let mut predecessor = CanonicalJsonObject::new();
        predecessor.insert("room_id".to_owned(), old.as_str().into());
        create.insert("predecessor".to_owned(), predecessor.into());
        create.insert("room_version".to_owned(), new_version.as_str().into());
        if new_rules.authorization.use_room_create_sender {
            create.remove("creator");
        } else {
            create.insert("creator".to_owned(), user.as_str().into());
        }
        if new_rules.authorization.additional_room_creators && !additional_creators.is_empty() {
            let list = additional_creators.iter().map(|u| CanonicalJsonValue::from(u.to_string())).collect();
            create.insert("additional_creators".to_owned(), CanonicalJsonValue::Array(list));
        }
        let new = self.persist_create(user, new_version, create).await?;
        self.join(&new, user, None, &[]).await?;

        for kind in TRANSFERRED {
            if let Some(content) = self.current_state_content(old, kind, "").await? {
                self.send(&new, user, NewEvent::state(kind, "", content)).await?;
            }
        }
        for (member, membership) in self.membership.members(old).await? {
            if membership == MembershipState::Ban {
                let mut content = CanonicalJsonObject::new();
                content.insert("membership".to_owned(), "ban".into());
                self.send(&new, user, NewEvent::state("m.room.member", member.as_str(), content)).await?;
            }
        }
        if let Some(mut levels) = self.current_state_content(old, "m.room.power_levels", "").await? {
            if let Some(CanonicalJsonValue::Object(users)) = levels.get_mut("users") {
                if new_rules.authorization.explicitly_privilege_room_creators {
                    // Version 12: creators outrank power levels and must not
                    // be listed.
                    users.remove(user.as_str());
                    for creator in &additional_creators {
                        users.remove(creator.as_str());
                    }
                } else {
                    let own = power.user(user).clamp(100, i64::from(u32::MAX));
                    users.insert(user.to_string(), CanonicalJsonValue::Integer(ruma::Int::from(own as u32)));
                }
            }
            self.send(&new, user, NewEvent::state("m.room.power_levels", "", levels)).await?;
        }

        // Local aliases follow the room.
        let aliases = self.aliases.of_room(old).await?;
        for alias in &aliases {
            let _guard = self.store.lock(&super::aliases::Aliases::lock_name(alias)).await?;
            let mut batch = nexus_storage::WriteBatch::new();
            self.aliases.repoint(&mut batch, alias, &new).await?;
            self.store.write(batch).await?;
        }
        if let Some(canonical) = self.current_state_content(old, "m.room.canonical_alias", "").await? {
            self.send(&new, user, NewEvent::state("m.room.canonical_alias", "", canonical)).await?;
            self.send(old, user, NewEvent::state("m.room.canonical_alias", "", CanonicalJsonObject::new())).await?;
        }
        if self.is_published(old).await? {
            self.set_published(user, &new, true).await?;
            self.set_published(user, old, false).await?;
        }

        let mut tombstone = CanonicalJsonObject::new();
        tombstone.insert("body".to_owned(), "This room has been replaced".into());
        tombstone.insert("replacement_room".to_owned(), new.as_str().into());
        self.send(old, user, NewEvent::state("m.room.tombstone", "", tombstone)).await?;

        // Quieten the old room: ordinary members can no longer talk or invite.
        if let Some(mut levels) = self.current_state_content(old, "m.room.power_levels", "").await? {
            let users_default = levels.get("users_default").and_then(|v| v.as_integer()).map_or(0, i64::from);
            let restricted = CanonicalJsonValue::Integer(ruma::Int::from(50.max(users_default + 1) as u32));
            levels.insert("events_default".to_owned(), restricted.clone());
            levels.insert("invite".to_owned(), restricted);
            self.send(old, user, NewEvent::state("m.room.power_levels", "", levels)).await?;
        }
        tracing::info!(old = %old, new = %new, version = %new_version, "room upgraded");
        Ok(new)
    }
}
