//! Room aliases (`#name:server`) of this server.

use std::sync::Arc;

use nexus_storage::catalog::{ALIASES_BY_ROOM, ROOM_ALIASES};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store, WriteBatch};
use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedServerName, OwnedUserId, RoomAliasId, RoomId, UserId};
use serde::{Deserialize, Serialize};

use crate::values::{corrupt, decode, encode};
use crate::{Error, Result};

#[derive(Debug, Serialize, Deserialize)]
struct AliasRecord {
    room_id: OwnedRoomId,
    creator: OwnedUserId,
}

pub struct Aliases {
    store: Arc<dyn Store>,
    server_name: OwnedServerName,
}

fn by_room_key(room_id: &RoomId, alias: &RoomAliasId) -> Vec<u8> {
    KeyBuilder::new().str(room_id.as_str()).str(alias.as_str()).build()
}

impl Aliases {
    pub fn new(store: Arc<dyn Store>, server_name: OwnedServerName) -> Self {
        Aliases { store, server_name }
    }

    fn check_local(&self, alias: &RoomAliasId) -> Result<()> {
        if alias.server_name() != self.server_name {
            return Err(Error::InvalidParam("aliases of other servers cannot be managed here".to_owned()));
        }
        Ok(())
    }

    pub async fn resolve(&self, alias: &RoomAliasId) -> Result<Option<OwnedRoomId>> {
        let bytes = self.store.get(&ROOM_ALIASES, alias.as_str().as_bytes()).await?;
        Ok(bytes.map(|b| decode::<AliasRecord>(&ROOM_ALIASES, &b)).transpose()?.map(|r| r.room_id))
    }

    /// Adds a new alias to `batch`; the caller holds the alias lock.
    pub async fn create(
        &self,
        batch: &mut WriteBatch,
        alias: &RoomAliasId,
        room_id: &RoomId,
        creator: &UserId,
    ) -> Result<()> {
        self.check_local(alias)?;
        if self.resolve(alias).await?.is_some() {
            return Err(Error::AliasExists(format!("{alias} already exists")));
        }
        let record = AliasRecord { room_id: room_id.to_owned(), creator: creator.to_owned() };
        batch.put(&ROOM_ALIASES, alias.as_str().as_bytes(), encode(&record));
        batch.put(&ALIASES_BY_ROOM, by_room_key(room_id, alias), Vec::new());
        Ok(())
    }

    pub fn lock_name(alias: &RoomAliasId) -> Vec<u8> {
        format!("alias:{alias}").into_bytes()
    }

    /// Removes an alias; `may_delete` says whether the caller may, given the
    /// alias's creator (the room's power levels are the caller's business).
    pub async fn delete(&self, alias: &RoomAliasId, may_delete: impl FnOnce(&UserId, &RoomId) -> bool) -> Result<()> {
        self.check_local(alias)?;
        let _guard = self.store.lock(&Self::lock_name(alias)).await?;
        let Some(bytes) = self.store.get(&ROOM_ALIASES, alias.as_str().as_bytes()).await? else {
            return Err(Error::NotFound(format!("{alias} does not exist")));
        };
        let record: AliasRecord = decode(&ROOM_ALIASES, &bytes)?;
        if !may_delete(&record.creator, &record.room_id) {
            return Err(Error::Forbidden("you may not delete this alias".to_owned()));
        }
        let mut batch = WriteBatch::new();
        batch.delete(&ROOM_ALIASES, alias.as_str().as_bytes());
        batch.delete(&ALIASES_BY_ROOM, by_room_key(&record.room_id, alias));
        Ok(self.store.write(batch).await?)
    }

    /// Adds the move of an alias to another room to `batch` (room
    /// upgrades); its creator stays. The caller holds the alias lock.
    pub async fn repoint(&self, batch: &mut WriteBatch, alias: &RoomAliasId, to: &RoomId) -> Result<()> {
        let Some((creator, from)) = self.creator_and_room(alias).await? else { return Ok(()) };
        batch.delete(&ALIASES_BY_ROOM, by_room_key(&from, alias));
        let record = AliasRecord { room_id: to.to_owned(), creator };
        batch.put(&ROOM_ALIASES, alias.as_str().as_bytes(), encode(&record));
        batch.put(&ALIASES_BY_ROOM, by_room_key(to, alias), Vec::new());
        Ok(())
    }

    pub async fn creator_and_room(&self, alias: &RoomAliasId) -> Result<Option<(OwnedUserId, OwnedRoomId)>> {
        let bytes = self.store.get(&ROOM_ALIASES, alias.as_str().as_bytes()).await?;
        Ok(bytes.map(|b| decode::<AliasRecord>(&ROOM_ALIASES, &b)).transpose()?.map(|r| (r.creator, r.room_id)))
    }

    pub async fn of_room(&self, room_id: &RoomId) -> Result<Vec<OwnedRoomAliasId>> {
        let prefix = KeyBuilder::new().str(room_id.as_str()).build();
        let entries = self.store.scan_prefix(&ALIASES_BY_ROOM, &prefix, Direction::Forward, usize::MAX).await?;
        entries
            .into_iter()
            .map(|(key, _)| {
                let alias = KeyReader::new(&key[prefix.len()..]).str().map_err(|e| corrupt(&ALIASES_BY_ROOM, e))?;
                OwnedRoomAliasId::try_from(alias).map_err(|e| corrupt(&ALIASES_BY_ROOM, e))
            })
            .collect()
    }
}
