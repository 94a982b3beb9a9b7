//! Saved searches: a user's named queries, kept as account data of type
//! `nexus.saved_searches` (extensions-spec §24.3) so every session of the
//! user sees them (they arrive in `/sync` like any account data) and any
//! client can edit them; the API here validates what it writes and skips
//! what it cannot read.

use ruma::{OwnedRoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Search;
use super::discord::{order, parse_query};
use crate::{Error, Result};

pub const ACCOUNT_DATA_TYPE: &str = "nexus.saved_searches";
pub const MAX_SAVED: usize = 100;
const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedSearch {
    pub name: String,
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<OwnedRoomId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<OwnedRoomId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
}

/// What a client sends to save a search under a name.
#[derive(Debug, Deserialize)]
pub struct SavedSearchBody {
    pub query: String,
    #[serde(default)]
    pub server_id: Option<OwnedRoomId>,
    #[serde(default)]
    pub room_id: Option<OwnedRoomId>,
    #[serde(default)]
    pub order_by: Option<String>,
}

impl Search {
    /// The user's saved searches, in the order they were saved; entries
    /// another client wrote in a shape this server cannot read are skipped.
    pub async fn saved_searches(&self, user: &UserId) -> Result<Vec<SavedSearch>> {
        let content = self.account_data.get(user, None, ACCOUNT_DATA_TYPE).await?.unwrap_or_default();
        let list = content.get("searches").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok(list.into_iter().filter_map(|entry| serde_json::from_value(entry).ok()).collect())
    }

    /// Saves (or replaces) the search called `name`.
    pub async fn save_search(&self, user: &UserId, name: &str, body: SavedSearchBody) -> Result<SavedSearch> {
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(Error::InvalidParam(format!("a saved search's name is 1 to {MAX_NAME_CHARS} characters")));
        }
        parse_query(&body.query)?;
        order(body.order_by.as_deref())?;
        let saved = SavedSearch {
            name: name.to_owned(),
            query: body.query,
            server_id: body.server_id,
            room_id: body.room_id,
            order_by: body.order_by,
        };
        let mut list = self.saved_searches(user).await?;
        match list.iter().position(|s| s.name == name) {
            Some(existing) => list[existing] = saved.clone(),
            None if list.len() >= MAX_SAVED => {
                return Err(Error::InvalidParam(format!("at most {MAX_SAVED} searches can be saved")));
            }
            None => list.push(saved.clone()),
        }
        self.write_saved(user, &list).await?;
        Ok(saved)
    }

    pub async fn delete_saved_search(&self, user: &UserId, name: &str) -> Result<()> {
        let mut list = self.saved_searches(user).await?;
        let before = list.len();
        list.retain(|s| s.name != name);
        if list.len() == before {
            return Err(Error::NotFound(format!("no saved search named {name:?}")));
        }
        self.write_saved(user, &list).await
    }

    async fn write_saved(&self, user: &UserId, list: &[SavedSearch]) -> Result<()> {
        let mut content = Map::new();
        content.insert("searches".to_owned(), json!(list));
        self.account_data.set(user, None, ACCOUNT_DATA_TYPE, content).await
    }
}
