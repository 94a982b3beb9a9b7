//! What the REST API asks of nearly every request, remembered: the rooms
//! each bot is in (kept in step by the bots' membership events; a room not
//! found is looked up once more, in case its join is still on its way) and
//! the guild of each room (forgotten when its `m.space.parent` changes).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::Bridge;

#[derive(Default)]
pub struct RoomsCache {
    joined: Mutex<HashMap<String, HashSet<String>>>,
    guilds: Mutex<HashMap<String, Option<u64>>>,
}

impl Bridge {
    /// Whether `bot` is joined to `room`.
    pub async fn bot_in_room(&self, bot: &str, room: &str) -> anyhow::Result<bool> {
        if self.rooms_cache.joined.lock().unwrap().get(bot).is_some_and(|rooms| rooms.contains(room)) {
            return Ok(true);
        }
        let rooms: HashSet<String> = self.homeserver.joined_rooms(bot).await?.into_iter().collect();
        let found = rooms.contains(room);
        self.rooms_cache.joined.lock().unwrap().insert(bot.to_owned(), rooms);
        Ok(found)
    }

    /// A bot's membership changed.
    pub(crate) fn note_membership(&self, bot: &str, room: &str, joined: bool) {
        let mut cache = self.rooms_cache.joined.lock().unwrap();
        if let Some(rooms) = cache.get_mut(bot) {
            if joined {
                rooms.insert(room.to_owned());
            } else {
                rooms.remove(room);
            }
        }
    }

    pub(crate) fn cached_guild(&self, room: &str) -> Option<Option<u64>> {
        self.rooms_cache.guilds.lock().unwrap().get(room).copied()
    }

    pub(crate) fn remember_guild(&self, room: &str, guild: Option<u64>) {
        let mut cache = self.rooms_cache.guilds.lock().unwrap();
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(room.to_owned(), guild);
    }

    /// A room's `m.space.parent` changed.
    pub(crate) fn forget_guild(&self, room: &str) {
        self.rooms_cache.guilds.lock().unwrap().remove(room);
    }
}
