//! Pins: `m.room.pinned_events` in a server's channels needs PIN_MESSAGES
//! (Discord bit 1 << 51) for local users, and a channel's pins are served
//! with their events, each only as far as the reader's history visibility
//! lets them read it.

use nexus_extensions::Permissions;
use ruma::{DeviceId, EventId, RoomId, UserId};
use serde_json::{Value, json};

use super::Guilds;
use super::context::Scope;
use crate::{Error, Result};

/// The pinned-events state type.
pub(super) const PINNED_EVENTS: &str = "m.room.pinned_events";

impl Guilds {
    /// Changing a channel's pins needs PIN_MESSAGES there.
    pub(super) fn check_pins(&self, perms: Permissions) -> Result<()> {
        if perms.contains(Permissions::PIN_MESSAGES) {
            Ok(())
        } else {
            Err(Error::Forbidden("pinning and unpinning messages needs PIN_MESSAGES in this channel".to_owned()))
        }
    }

    /// A channel's pins in their pinned order, each `{event_id}` with
    /// `event` when the reader may read it.
    pub async fn pins(&self, viewer: &UserId, device: &DeviceId, room: &RoomId) -> Result<Vec<Value>> {
        let hidden = || Error::NotFound(format!("{room} is not a Nexus channel you are in"));
        let scope: Scope = self.scope(room).await?.ok_or_else(hidden)?;
        if scope.channel.is_none() {
            return Err(hidden());
        }
        // The state as the reader may read it (their membership and the
        // history visibility decide, as for GET /state).
        let pinned = match self.rooms.state_content(viewer, room, PINNED_EVENTS, "").await {
            Ok(content) => content,
            Err(Error::NotFound(_)) => return Ok(Vec::new()),
            Err(Error::Forbidden(_)) => return Err(hidden()),
            Err(e) => return Err(e),
        };
        let ids = pinned.get("pinned").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids.iter().filter_map(Value::as_str) {
            let Ok(event_id) = EventId::parse(id) else { continue };
            let mut entry = json!({ "event_id": event_id });
            match self.rooms.event_for_client(viewer, device, room, &event_id).await {
                Ok(event) => entry["event"] = event,
                Err(Error::NotFound(_) | Error::Forbidden(_)) => {}
                Err(e) => return Err(e),
            }
            out.push(entry);
        }
        Ok(out)
    }
}
