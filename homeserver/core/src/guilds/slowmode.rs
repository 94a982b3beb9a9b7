//! When each local member last posted in each channel, for slowmode
//! (extensions-spec §7.5). Kept in memory: a restart forgets at most one
//! pacing interval (≤ 6 hours) per member, and a member's next post is
//! then simply allowed, which errs on the side Discord does after an outage.

use std::collections::HashMap;
use std::sync::Mutex;

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

/// Entries beyond which the oldest half is dropped (bounded memory).
const CAPACITY: usize = 100_000;
/// The longest slowmode (§5: 21600 s); older posts never matter.
const LONGEST_MS: u64 = 21_600_000;

#[derive(Default)]
pub struct LastPosts {
    posts: Mutex<HashMap<(OwnedRoomId, OwnedUserId), u64>>,
}

impl LastPosts {
    pub fn last_post(&self, room: &RoomId, user: &UserId) -> Option<u64> {
        let posts = self.posts.lock().expect("slowmode map poisoned");
        posts.get(&(room.to_owned(), user.to_owned())).copied()
    }

    pub fn record(&self, room: &RoomId, user: &UserId, at_ms: u64) {
        let mut posts = self.posts.lock().expect("slowmode map poisoned");
        if posts.len() >= CAPACITY {
            posts.retain(|_, t| at_ms.saturating_sub(*t) < LONGEST_MS);
            if posts.len() >= CAPACITY {
                posts.clear();
            }
        }
        posts.insert((room.to_owned(), user.to_owned()), at_ms);
    }
}
