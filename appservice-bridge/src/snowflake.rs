//! Snowflakes: the 64-bit ids Discord clients expect, in Discord's layout
//! (milliseconds since the Discord epoch ≪ 22 | worker ≪ 17 | sequence),
//! allocated the first time the bridge sees a Matrix id and kept in a
//! bidirectional map. Events take their own timestamp, so messages sort by
//! when they were sent; everything else is allocated monotonically, so its
//! `created_at` is when the bridge first saw it.

use std::sync::Arc;

use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::store::{SNOWFLAKES, SNOWFLAKES_BY_MATRIX_ID};

/// 2015-01-01T00:00:00Z, in Unix milliseconds.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// The one worker id this bridge uses.
const WORKER: u64 = 1;

/// What a snowflake stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A Matrix user.
    User,
    /// A room: a guild (a Nexus server's space) or a channel.
    Room,
    /// A Matrix event: a message.
    Event,
    /// A Nexus role (`{space}|{role id}`) or category (`{space}#{category id}`).
    Role,
    Category,
    /// A bot application (no Matrix id: the snowflake is its own name).
    Application,
    /// An application command, or a version of one.
    Command,
    /// An interaction (someone invoking a command).
    Interaction,
    /// A message attachment: an `mxc://` URI.
    Attachment,
    /// A thread: `{root event}|{room}`.
    Thread,
    /// A channel webhook (no Matrix id: the snowflake is its own name).
    Webhook,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Room => "room",
            Kind::Event => "event",
            Kind::Role => "role",
            Kind::Category => "category",
            Kind::Application => "application",
            Kind::Command => "command",
            Kind::Interaction => "interaction",
            Kind::Attachment => "attachment",
            Kind::Thread => "thread",
            Kind::Webhook => "webhook",
        }
    }
}

/// The Matrix side of a snowflake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub kind: Kind,
    pub matrix_id: String,
}

/// The snowflake after `last` for a thing first seen at `now_ms`.
pub fn next(last: u64, now_ms: u64) -> u64 {
    let candidate = (now_ms.saturating_sub(DISCORD_EPOCH_MS) << 22) | (WORKER << 17);
    candidate.max(last + 1)
}

/// Unix milliseconds of a snowflake.
pub fn timestamp_ms(snowflake: u64) -> u64 {
    (snowflake >> 22) + DISCORD_EPOCH_MS
}

fn matrix_key(kind: Kind, matrix_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(matrix_id.len() + 12);
    key.extend_from_slice(kind.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(matrix_id.as_bytes());
    key
}

/// The bridge's snowflakes.
pub struct Snowflakes {
    store: Arc<dyn Store>,
    /// The last snowflake allocated; allocation holds it.
    last: Mutex<u64>,
}

impl Snowflakes {
    pub async fn open(store: Arc<dyn Store>) -> anyhow::Result<Snowflakes> {
        let newest = store.scan(&SNOWFLAKES, KeyRange::all(), Direction::Backward, 1).await?;
        let last = newest.first().and_then(|(key, _)| key.as_slice().try_into().ok()).map_or(0, u64::from_be_bytes);
        Ok(Snowflakes { store, last: Mutex::new(last) })
    }

    /// The snowflake of a Matrix id, allocated (durably) if new.
    pub async fn of(&self, kind: Kind, matrix_id: &str) -> anyhow::Result<u64> {
        let key = matrix_key(kind, matrix_id);
        if let Some(found) = self.lookup(&key).await? {
            return Ok(found);
        }
        let mut last = self.last.lock().await;
        // Someone may have allocated it while this waited.
        if let Some(found) = self.lookup(&key).await? {
            return Ok(found);
        }
        let mut snowflake = next(*last, now_ms());
        while self.store.get(&SNOWFLAKES, &snowflake.to_be_bytes()).await?.is_some() {
            snowflake += 1;
        }
        let named = Named { kind, matrix_id: matrix_id.to_owned() };
        let mut batch = WriteBatch::new();
        batch.put(&SNOWFLAKES, snowflake.to_be_bytes().to_vec(), serde_json::to_vec(&named)?);
        batch.put(&SNOWFLAKES_BY_MATRIX_ID, key, snowflake.to_be_bytes().to_vec());
        self.store.write(batch).await?;
        *last = snowflake;
        Ok(snowflake)
    }

    /// The snowflake of a Matrix event, allocated (durably) if new from the
    /// event's own timestamp, so that a channel's messages sort by when
    /// they were sent and `created_at` is that time, whenever the bridge
    /// first sees them (history read later included).
    pub async fn of_event(&self, event_id: &str, origin_server_ts: u64) -> anyhow::Result<u64> {
        let key = matrix_key(Kind::Event, event_id);
        if let Some(found) = self.lookup(&key).await? {
            return Ok(found);
        }
        let _allocating = self.last.lock().await;
        if let Some(found) = self.lookup(&key).await? {
            return Ok(found);
        }
        // The sequence bits come from the event id, so two events of one
        // millisecond rarely meet; when they do, the next free one is taken.
        let spread = event_id.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) & 0x1ffff;
        let mut snowflake = (origin_server_ts.saturating_sub(DISCORD_EPOCH_MS) << 22) | (WORKER << 17) | spread;
        while self.store.get(&SNOWFLAKES, &snowflake.to_be_bytes()).await?.is_some() {
            snowflake += 1;
        }
        let named = Named { kind: Kind::Event, matrix_id: event_id.to_owned() };
        let mut batch = WriteBatch::new();
        batch.put(&SNOWFLAKES, snowflake.to_be_bytes().to_vec(), serde_json::to_vec(&named)?);
        batch.put(&SNOWFLAKES_BY_MATRIX_ID, key, snowflake.to_be_bytes().to_vec());
        self.store.write(batch).await?;
        Ok(snowflake)
    }

    /// A fresh snowflake that names nothing in Matrix (an application).
    pub async fn fresh(&self, kind: Kind) -> anyhow::Result<u64> {
        let mut last = self.last.lock().await;
        let mut snowflake = next(*last, now_ms());
        while self.store.get(&SNOWFLAKES, &snowflake.to_be_bytes()).await?.is_some() {
            snowflake += 1;
        }
        let named = Named { kind, matrix_id: String::new() };
        self.store.put(&SNOWFLAKES, &snowflake.to_be_bytes(), &serde_json::to_vec(&named)?).await?;
        *last = snowflake;
        Ok(snowflake)
    }

    /// The Matrix id a snowflake names, if it names one of `kind`.
    pub async fn matrix_id(&self, kind: Kind, snowflake: u64) -> anyhow::Result<Option<String>> {
        let Some(value) = self.store.get(&SNOWFLAKES, &snowflake.to_be_bytes()).await? else { return Ok(None) };
        let named: Named = serde_json::from_slice(&value)?;
        Ok((named.kind == kind).then_some(named.matrix_id))
    }

    /// The snowflake already allocated to a Matrix id, if any.
    pub async fn existing(&self, kind: Kind, matrix_id: &str) -> anyhow::Result<Option<u64>> {
        self.lookup(&matrix_key(kind, matrix_id)).await
    }

    async fn lookup(&self, key: &[u8]) -> anyhow::Result<Option<u64>> {
        let found = self.store.get(&SNOWFLAKES_BY_MATRIX_ID, key).await?;
        Ok(found.and_then(|v| v.as_slice().try_into().ok()).map(u64::from_be_bytes))
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A snowflake from its JSON string (or a path segment).
pub fn parse(text: &str) -> Option<u64> {
    text.parse().ok()
}

/// A snowflake in a request body: a string, as Discord sends them, or a
/// number, as discord.py sends some.
pub fn from_json(value: &serde_json::Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_str().and_then(parse))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_monotonicity() {
        let now = DISCORD_EPOCH_MS + 1_000;
        let first = next(0, now);
        assert_eq!(timestamp_ms(first), now);
        assert_eq!((first >> 17) & 0x1f, WORKER);
        // Two in the same millisecond, and a clock that went back.
        let second = next(first, now);
        assert!(second > first);
        assert!(next(second, now - 500) > second);
    }
}
