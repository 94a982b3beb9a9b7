//! Things that happen on time with nobody sending anything: a thread
//! archives after its inactivity period (§10.3), a scheduled event starts
//! and ends (§12.1).
//!
//! Each is an entry in `guild_timers`, keyed by when it is due. An entry is
//! written in the batch of the event that makes it necessary (a thread post,
//! a `nexus.thread` or `nexus.scheduled_event` change), due at the next
//! whole second (so a burst of posts shares one entry); the upkeep tick
//! then looks at the thread or event, does what is due, and writes the
//! entry again for the next moment it must look. Entries survive
//! restarts, and looking twice is harmless (the handlers read current state
//! and send only when something must change), so a crash between sending
//! and deleting costs nothing.

use nexus_storage::catalog::GUILD_TIMERS;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, WriteBatch};
use ruma::RoomId;

use super::Guilds;
use crate::Result;
use crate::values::now_ms;

/// What a timer is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimerKind {
    /// A thread's archival; the key is the root's event ID.
    Thread,
    /// A scheduled event's status; the key is its state key.
    Event,
}

impl TimerKind {
    fn name(self) -> &'static str {
        match self {
            TimerKind::Thread => "thread",
            TimerKind::Event => "event",
        }
    }

    fn parse(name: &str) -> Option<TimerKind> {
        match name {
            "thread" => Some(TimerKind::Thread),
            "event" => Some(TimerKind::Event),
            _ => None,
        }
    }
}

/// Timers handled per tick, so one tick's work is bounded.
const TIMERS_PER_TICK: usize = 64;
/// A timer whose handler failed is looked at again after this long.
const RETRY_MS: u64 = 30_000;

fn timer_key(due_ms: u64, kind: TimerKind, room: &str, key: &str) -> Vec<u8> {
    KeyBuilder::new().u64(due_ms).str(kind.name()).str(room).str(key).build()
}

/// The first whole second after `now_ms`: "look soon" timers written in
/// the same second share one key, so a busy thread costs one look per
/// second, not one per post.
pub(super) fn soon(now_ms: u64) -> u64 {
    (now_ms / 1000 + 1) * 1000
}

/// Adds a timer to `batch`.
pub(super) fn schedule(batch: &mut WriteBatch, due_ms: u64, kind: TimerKind, room: &RoomId, key: &str) {
    batch.put(&GUILD_TIMERS, timer_key(due_ms, kind, room.as_str(), key), Vec::new());
}

impl Guilds {
    /// Handles the timers that are due (called every second by the
    /// upkeep loop), a bounded number of rounds at a time.
    pub(super) async fn run_due_timers(&self) -> Result<()> {
        for _ in 0..16 {
            if self.run_timer_round().await? < TIMERS_PER_TICK {
                break;
            }
        }
        Ok(())
    }

    /// One round of due timers; returns how many were handled.
    async fn run_timer_round(&self) -> Result<usize> {
        let now = now_ms();
        let end = KeyBuilder::new().u64(now + 1).build();
        let due =
            self.store.scan(&GUILD_TIMERS, KeyRange::between(&[], &end), Direction::Forward, TIMERS_PER_TICK).await?;
        for (key, _) in &due {
            let mut reader = KeyReader::new(key);
            let corrupt = |e| nexus_storage::Error::corrupt(GUILD_TIMERS.name, e);
            let _due = reader.u64().map_err(corrupt)?;
            let kind = reader.str().map_err(corrupt)?;
            let room = reader.str().map_err(corrupt)?;
            let subject = reader.str().map_err(corrupt)?;
            let mut batch = WriteBatch::new();
            batch.delete(&GUILD_TIMERS, key.clone());
            if let (Some(kind), Ok(room)) = (TimerKind::parse(&kind), RoomId::parse(&room)) {
                let next = match kind {
                    TimerKind::Thread => self.thread_timer(&room, &subject, now).await,
                    TimerKind::Event => self.scheduled_event_timer(&room, &subject, now).await,
                };
                let next = next.unwrap_or_else(|e| {
                    tracing::warn!(%room, %subject, kind = kind.name(), error = %e, "a timer failed; trying again later");
                    Some(now + RETRY_MS)
                });
                if let Some(next) = next {
                    // Never in the past: a handler that keeps saying "now"
                    // must not spin.
                    schedule(&mut batch, next.max(now + 1), kind, &room, &subject);
                }
            }
            self.store.write(batch).await?;
        }
        Ok(due.len())
    }
}
