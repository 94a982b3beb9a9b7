//! The request body of simplified sliding sync, in the wire format of
//! ruma's `sync_events::v5` (what Synapse serves and matrix-sdk sends),
//! plus the `spaces`/`tags`/`not_tags` filters Synapse also reads.
//! Unknown fields and extensions are ignored; known ones of the wrong
//! shape are `M_BAD_JSON` (serde), contradictory ones `M_INVALID_PARAM`.

use std::collections::BTreeMap;

use ruma::OwnedRoomId;
use serde::Deserialize;

use crate::{Error, Result};

/// The longest timeline a room is sent with, whatever is asked.
pub const MAX_TIMELINE_LIMIT: u64 = 100;
/// Longest `conn_id` accepted.
const MAX_CONN_ID: usize = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Request {
    pub conn_id: Option<String>,
    pub txn_id: Option<String>,
    pub lists: BTreeMap<String, ListConfig>,
    pub room_subscriptions: BTreeMap<OwnedRoomId, RoomConfig>,
    pub extensions: Extensions,
}

/// How rooms are sent: shared by lists and room subscriptions.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RoomConfig {
    pub required_state: Vec<(String, String)>,
    pub timeline_limit: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListConfig {
    pub ranges: Vec<(u64, u64)>,
    #[serde(flatten)]
    pub room: RoomConfig,
    pub filters: Option<ListFilters>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ListFilters {
    pub is_dm: Option<bool>,
    pub is_encrypted: Option<bool>,
    pub is_invite: Option<bool>,
    /// `null` stands for rooms without a type.
    pub room_types: Vec<Option<String>>,
    pub not_room_types: Vec<Option<String>>,
    pub spaces: Vec<OwnedRoomId>,
    pub tags: Vec<String>,
    pub not_tags: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Extensions {
    pub to_device: ToDeviceConfig,
    pub e2ee: Enabled,
    pub account_data: RoomsExtension,
    pub receipts: RoomsExtension,
    pub typing: RoomsExtension,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Enabled {
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ToDeviceConfig {
    pub enabled: Option<bool>,
    pub limit: Option<u64>,
    pub since: Option<String>,
}

/// An extension that covers rooms: those of the named lists and room
/// subscriptions (`*`: all of them, the default).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoomsExtension {
    pub enabled: Option<bool>,
    pub lists: Option<Vec<String>>,
    pub rooms: Option<Vec<String>>,
}

impl RoomsExtension {
    pub fn on(&self) -> bool {
        self.enabled == Some(true)
    }

    /// Whether the extension covers a room shown by `lists` and/or
    /// subscribed (`subscribed`).
    pub fn covers(&self, room_id: &str, in_lists: &[&str], subscribed: bool) -> bool {
        let by_list = match &self.lists {
            None => !in_lists.is_empty(),
            Some(names) => names.iter().any(|n| n == "*" || in_lists.contains(&n.as_str())),
        };
        let by_room = subscribed
            && match &self.rooms {
                None => true,
                Some(rooms) => rooms.iter().any(|r| r == "*" || r == room_id),
            };
        by_list || by_room
    }
}

impl Request {
    /// Checks what serde cannot: ranges that run backwards, oversized ids.
    pub fn validate(&self) -> Result<()> {
        if self.conn_id.as_ref().is_some_and(|c| c.len() > MAX_CONN_ID) {
            return Err(Error::InvalidParam(format!("conn_id is longer than {MAX_CONN_ID} bytes")));
        }
        for (name, list) in &self.lists {
            for (start, end) in &list.ranges {
                if start > end {
                    return Err(Error::InvalidParam(format!("list {name:?}: range [{start}, {end}] runs backwards")));
                }
            }
        }
        Ok(())
    }
}
