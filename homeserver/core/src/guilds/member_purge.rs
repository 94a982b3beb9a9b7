//! Deleting a member's recent messages across a server (Discord's "delete
//! message history" on a ban, and a moderator's purge): every message the
//! member sent in the space and its channels since a time — at most seven
//! days back, as on Discord — is redacted by the moderator, channel by
//! channel, where their power lets them. Walks the rooms' time index from
//! that moment, so the work is bounded by the window, not by history.

use std::collections::HashSet;

use nexus_extensions::Permissions;
use ruma::{OwnedEventId, RoomId, UserId};
use serde_json::Value;

use super::Guilds;
use crate::rooms::{Direction, NewEvent};
use crate::values::now_ms;
use crate::{Error, Result};

/// The longest window a purge reaches back (Discord's seven days).
pub const MAX_WINDOW_MS: u64 = 7 * 24 * 3600 * 1000;
/// Events read per page of a room's time index.
const PAGE: usize = 200;

impl Guilds {
    /// Redacts `member`'s messages sent since `since_ms` in the server; how
    /// many. Needs MANAGE_MESSAGES in the server.
    pub async fn purge_member_messages(
        &self,
        actor: &UserId,
        space: &RoomId,
        member: &UserId,
        since_ms: u64,
        reason: Option<&str>,
    ) -> Result<usize> {
        self.require_server(space).await?;
        let allowed =
            self.permissions(actor, space).await?.is_some_and(|(_, p)| p.contains(Permissions::MANAGE_MESSAGES));
        if !allowed {
            return Err(Error::Forbidden("deleting a member's messages needs MANAGE_MESSAGES".to_owned()));
        }
        let since = since_ms.max(now_ms().saturating_sub(MAX_WINDOW_MS));
        let mut rooms = vec![space.to_owned()];
        rooms.extend(self.channels(space).await?);
        let mut redacted = 0;
        for room in rooms {
            for event_id in self.messages_since(&room, member, since).await? {
                match self.rooms.send(&room, actor, NewEvent::redaction(event_id, reason)).await {
                    Ok(_) => redacted += 1,
                    Err(Error::Forbidden(why)) => {
                        tracing::info!(%room, %member, why, "a purge could not redact in this channel");
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(redacted)
    }

    /// The member's unredacted message events in a room since `since`.
    async fn messages_since(&self, room: &RoomId, member: &UserId, since: u64) -> Result<Vec<OwnedEventId>> {
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        let mut from = since;
        loop {
            let page = self.rooms.timeline.by_time(room, from, Direction::Forward, PAGE).await?;
            let full = page.len() == PAGE;
            let mut newest = from;
            for (ts, event_id) in page {
                newest = newest.max(ts);
                if !seen.insert(event_id.clone()) {
                    continue;
                }
                let Some(stored) = self.rooms.timeline.get(&event_id).await? else { continue };
                if stored.redacted_by.is_some() {
                    continue;
                }
                let event = Value::from(ruma::CanonicalJsonValue::Object(stored.object()?));
                let is_message = event.get("state_key").is_none() && event["type"] != "m.room.redaction";
                if is_message && event["sender"] == member.as_str() {
                    found.push(event_id);
                }
            }
            if !full {
                return Ok(found);
            }
            // Events sharing the page's last millisecond are read again and
            // skipped; a page all of one millisecond moves past it.
            from = if newest == from { from + 1 } else { newest };
        }
    }
}
