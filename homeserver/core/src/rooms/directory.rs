//! Alias management on behalf of users: who may create and delete aliases.

use nexus_storage::WriteBatch;
use ruma::{OwnedRoomId, RoomAliasId, RoomId, UserId};

use super::Rooms;
use super::aliases::Aliases;
use crate::{Error, Result};

impl Rooms {
    /// `PUT /directory/room/{alias}`: members may name a room.
    pub async fn create_alias(&self, caller: &UserId, alias: &RoomAliasId, room_id: &RoomId) -> Result<()> {
        if self.version(room_id).await?.is_none() {
            return Err(Error::NotFound(format!("this server does not know the room {room_id}")));
        }
        if !self.membership.is_joined(room_id, caller).await? {
            return Err(Error::Forbidden("only members of a room may give it an alias".to_owned()));
        }
        let _guard = self.store.lock(&Aliases::lock_name(alias)).await?;
        let mut batch = WriteBatch::new();
        self.aliases.create(&mut batch, alias, room_id, caller).await?;
        Ok(self.store.write(batch).await?)
    }

    /// `DELETE /directory/room/{alias}`: its creator, or a member with the
    /// power to change the room's canonical alias.
    pub async fn delete_alias(&self, caller: &UserId, alias: &RoomAliasId) -> Result<()> {
        let Some((creator, room_id)) = self.aliases.creator_and_room(alias).await? else {
            return Err(Error::NotFound(format!("{alias} does not exist")));
        };
        let may = creator == caller || {
            let power = self.power_levels(&room_id).await?;
            self.membership.is_joined(&room_id, caller).await?
                && power.user(caller) >= power.state_event("m.room.canonical_alias")
        };
        self.aliases.delete(alias, |_, _| may).await
    }

    /// `GET /directory/room/{alias}`: the room and the servers that know it.
    pub async fn alias_info(&self, alias: &RoomAliasId) -> Result<OwnedRoomId> {
        self.resolve_alias(alias).await
    }
}
