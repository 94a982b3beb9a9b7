//! The room directory: aliases (who may create and delete them) and the
//! public room list.

use std::collections::BTreeSet;

use nexus_storage::catalog::{APPSERVICE_ROOM_LIST, PUBLIC_ROOMS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, WriteBatch};
use ruma::events::room::member::MembershipState;
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
        self.check_alias_namespace(caller, alias)?;
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

    /// An alias an application service claims exclusively is only its
    /// users' to create (`M_EXCLUSIVE`).
    pub(crate) fn check_alias_namespace(&self, caller: &UserId, alias: &RoomAliasId) -> Result<()> {
        if let Some(appservices) = self.appservices.get()
            && let Some(owner) = appservices.exclusive_owner_of_alias(alias)
            && !owner.owns_user(caller)
        {
            return Err(Error::Exclusive(format!("{alias} is reserved by an application service")));
        }
        Ok(())
    }

    /// `GET /directory/room/{alias}`: the room and the servers that know it.
    pub async fn alias_info(&self, alias: &RoomAliasId) -> Result<OwnedRoomId> {
        self.resolve_alias(alias).await
    }
}

/// One room as the public room directory lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublicRoom {
    pub room_id: OwnedRoomId,
    pub num_joined_members: u64,
    pub world_readable: bool,
    pub guest_can_join: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical_alias: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    pub join_rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_type: Option<String>,
}

/// Which published rooms a directory page lists (`/publicRooms`'s
/// `include_all_networks` and `third_party_instance_id`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DirectoryScope<'a> {
    /// The homeserver's own list (the default).
    #[default]
    Main,
    /// The homeserver's list and every appservice network's.
    AllNetworks,
    /// One appservice network's list, by its instance id
    /// `{appservice id}|{network id}` (as `/thirdparty/protocols` names it).
    Network(&'a str),
}

impl<'a> DirectoryScope<'a> {
    /// The scope a `/publicRooms` request asks for; an instance id wins
    /// over `include_all_networks`, as the spec says they are exclusive.
    pub fn of_request(instance_id: Option<&'a str>, include_all_networks: bool) -> DirectoryScope<'a> {
        match instance_id {
            Some(id) => DirectoryScope::Network(id),
            None if include_all_networks => DirectoryScope::AllNetworks,
            None => DirectoryScope::Main,
        }
    }
}

/// One `/publicRooms` request: a page of published rooms in `scope`
/// whose name, topic or alias contains `search`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectoryRequest<'a> {
    pub limit: Option<usize>,
    /// An offset token (`o<n>`) from an earlier page.
    pub since: Option<&'a str>,
    pub search: Option<&'a str>,
    pub scope: DirectoryScope<'a>,
}

/// The instance id of an appservice's network, as `/thirdparty/protocols`
/// gives it to clients and `third_party_instance_id` gives it back.
pub fn network_instance_id(appservice_id: &str, network_id: &str) -> String {
    format!("{appservice_id}|{network_id}")
}

fn network_prefix(appservice_id: &str, network_id: &str) -> Vec<u8> {
    KeyBuilder::new().str(appservice_id).str(network_id).build()
}

/// A page of the public room directory.
#[derive(Debug)]
pub struct PublicRoomsPage {
    pub chunk: Vec<PublicRoom>,
    pub next_batch: Option<String>,
    pub prev_batch: Option<String>,
    pub total: usize,
}

impl Rooms {
    /// `PUT /directory/list/room/{roomId}`: members who may set the
    /// canonical alias may publish or unpublish the room.
    pub async fn set_published(&self, caller: &UserId, room_id: &RoomId, published: bool) -> Result<()> {
        if self.version(room_id).await?.is_none() {
            return Err(Error::NotFound(format!("this server does not know the room {room_id}")));
        }
        let power = self.power_levels(room_id).await?;
        if !self.membership.is_joined(room_id, caller).await?
            || power.user(caller) < power.state_event("m.room.canonical_alias")
        {
            return Err(Error::Forbidden("you may not change whether this room is published".to_owned()));
        }
        let key = room_id.as_str().as_bytes();
        if published {
            self.store.put(&PUBLIC_ROOMS, key, &[]).await?;
        } else {
            self.store.delete(&PUBLIC_ROOMS, key).await?;
        }
        Ok(())
    }

    /// `PUT /directory/list/appservice/{networkId}/{roomId}`: only an
    /// application service (its own `as_token`) publishes rooms, and only in
    /// its own networks' lists.
    pub async fn set_published_in_network(
        &self,
        appservice_id: Option<&str>,
        network_id: &str,
        room_id: &RoomId,
        published: bool,
    ) -> Result<()> {
        let Some(appservice_id) = appservice_id else {
            return Err(Error::Forbidden(
                "only an application service may publish in a network's directory".to_owned(),
            ));
        };
        if self.version(room_id).await?.is_none() {
            return Err(Error::NotFound(format!("this server does not know the room {room_id}")));
        }
        let key = KeyBuilder::new().str(appservice_id).str(network_id).str(room_id.as_str()).build();
        if published {
            self.store.put(&APPSERVICE_ROOM_LIST, &key, &[]).await?;
        } else {
            self.store.delete(&APPSERVICE_ROOM_LIST, &key).await?;
        }
        Ok(())
    }

    /// The published rooms of `scope`, each once.
    async fn published_rooms(&self, scope: DirectoryScope<'_>) -> Result<BTreeSet<OwnedRoomId>> {
        let mut rooms = BTreeSet::new();
        let network_rooms = match scope {
            DirectoryScope::Main | DirectoryScope::AllNetworks => {
                for (key, _) in self.store.scan(&PUBLIC_ROOMS, KeyRange::all(), Direction::Forward, usize::MAX).await? {
                    if let Ok(room_id) = OwnedRoomId::try_from(String::from_utf8_lossy(&key).into_owned()) {
                        rooms.insert(room_id);
                    }
                }
                if scope == DirectoryScope::Main {
                    return Ok(rooms);
                }
                self.store.scan(&APPSERVICE_ROOM_LIST, KeyRange::all(), Direction::Forward, usize::MAX).await?
            }
            DirectoryScope::Network(instance_id) => {
                let Some((appservice_id, network_id)) = instance_id.split_once('|') else {
                    return Err(Error::InvalidParam(format!("{instance_id:?} is not a third-party instance id")));
                };
                let prefix = network_prefix(appservice_id, network_id);
                self.store
                    .scan(&APPSERVICE_ROOM_LIST, KeyRange::prefix(&prefix), Direction::Forward, usize::MAX)
                    .await?
            }
        };
        for (key, _) in network_rooms {
            let mut reader = KeyReader::new(&key);
            let room = reader.str().and_then(|_| reader.str()).and_then(|_| reader.str());
            if let Some(room_id) = room.ok().and_then(|r| OwnedRoomId::try_from(r).ok()) {
                rooms.insert(room_id);
            }
        }
        Ok(rooms)
    }

    /// `GET /directory/list/room/{roomId}`.
    pub async fn is_published(&self, room_id: &RoomId) -> Result<bool> {
        if self.version(room_id).await?.is_none() {
            return Err(Error::NotFound(format!("this server does not know the room {room_id}")));
        }
        Ok(self.store.get(&PUBLIC_ROOMS, room_id.as_str().as_bytes()).await?.is_some())
    }

    async fn state_string(&self, room_id: &RoomId, kind: &str, field: &str) -> Result<Option<String>> {
        let content = self.current_state_content(room_id, kind, "").await?;
        Ok(content.and_then(|c| c.get(field)?.as_str().map(str::to_owned)))
    }

    async fn public_room(&self, room_id: &RoomId) -> Result<PublicRoom> {
        let joined = self.membership.members(room_id).await?.into_iter().filter(|(_, m)| *m == MembershipState::Join);
        Ok(PublicRoom {
            room_id: room_id.to_owned(),
            num_joined_members: joined.count() as u64,
            world_readable: self
                .state_string(room_id, "m.room.history_visibility", "history_visibility")
                .await?
                .as_deref()
                == Some("world_readable"),
            guest_can_join: self.state_string(room_id, "m.room.guest_access", "guest_access").await?.as_deref()
                == Some("can_join"),
            name: self.state_string(room_id, "m.room.name", "name").await?,
            topic: self.state_string(room_id, "m.room.topic", "topic").await?,
            canonical_alias: self.state_string(room_id, "m.room.canonical_alias", "alias").await?,
            avatar_url: self.state_string(room_id, "m.room.avatar", "url").await?,
            join_rule: self
                .state_string(room_id, "m.room.join_rules", "join_rule")
                .await?
                .unwrap_or_else(|| "invite".to_owned()),
            room_type: self.state_string(room_id, "m.room.create", "type").await?,
        })
    }

    /// `GET`/`POST /publicRooms`: published rooms, largest first, filtered
    /// by a search term over name, topic and alias. `since` is an offset
    /// token (`o<n>`).
    pub async fn public_rooms(&self, request: &DirectoryRequest<'_>) -> Result<PublicRoomsPage> {
        let DirectoryRequest { limit, since, search, scope } = *request;
        let published = self.published_rooms(scope).await?;
        let needle = search.map(str::to_lowercase).filter(|s| !s.is_empty());
        let mut rooms = Vec::with_capacity(published.len());
        for room_id in published {
            let room = self.public_room(&room_id).await?;
            let matches = needle.as_ref().is_none_or(|needle| {
                [&room.name, &room.topic, &room.canonical_alias]
                    .into_iter()
                    .flatten()
                    .any(|text| text.to_lowercase().contains(needle.as_str()))
            });
            if matches {
                rooms.push(room);
            }
        }
        rooms.sort_by(|a, b| b.num_joined_members.cmp(&a.num_joined_members).then_with(|| a.room_id.cmp(&b.room_id)));
        let total = rooms.len();
        let offset = match since {
            Some(token) => token
                .strip_prefix('o')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| Error::InvalidParam(format!("{token:?} is not a directory token of this server")))?,
            None => 0,
        };
        let limit = limit.unwrap_or(usize::MAX).max(1);
        let chunk: Vec<PublicRoom> = rooms.into_iter().skip(offset).take(limit).collect();
        let next = offset + chunk.len();
        Ok(PublicRoomsPage {
            next_batch: (next < total).then(|| format!("o{next}")),
            prev_batch: (offset > 0).then(|| format!("o{}", offset.saturating_sub(limit))),
            chunk,
            total,
        })
    }
}
