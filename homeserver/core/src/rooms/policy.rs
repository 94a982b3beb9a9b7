//! The seam through which a layer above plain Matrix (Nexus's Discord-style
//! servers, `crate::guilds`) takes part in the room pipeline without the
//! rooms service knowing about it: it may refuse a local user's event before
//! it is built, add its own bookkeeping to the batch that persists any event
//! (local or from another server), and hear that the batch was written.

use async_trait::async_trait;
use nexus_storage::WriteBatch;
use ruma::{RoomId, UserId};

use super::NewEvent;
use super::pdu::Pdu;
use super::state::StateIds;
use crate::Result;

#[async_trait]
pub trait RoomPolicy: Send + Sync {
    /// Judges a local user's event before it is built, under the room lock.
    /// An error refuses it and nothing is written.
    async fn check(&self, room_id: &RoomId, sender: &UserId, event: &NewEvent) -> Result<()>;

    /// Judges a state event from another server before it is placed, with
    /// the room's state before it; may add to the batch that places it.
    /// (The Matrix auth rules alone decide whether it is accepted.)
    async fn judge_remote(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        pdu: &Pdu,
        state_before: &StateIds,
    ) -> Result<()>;

    /// Adds to the batch that persists `pdu` (an event of the room's
    /// timeline, local or remote). Synchronous: it must only decide from the
    /// event itself.
    fn persisting(&self, batch: &mut WriteBatch, room_id: &RoomId, pdu: &Pdu);

    /// The stream ordering before which `viewer` (a local user joined to
    /// the room since `joined_at`) may not read its history, beyond what
    /// history visibility says.
    async fn history_floor(&self, room_id: &RoomId, viewer: &UserId, joined_at: u64) -> Result<Option<u64>>;

    /// Told after the batch holding `pdu` was written.
    fn persisted(&self, room_id: &RoomId, pdu: &Pdu);

    /// Whether thread listings leave out the thread rooted at `root` for
    /// `viewer` (a private thread they are not part of). Its events stay
    /// readable: a room has no per-event visibility.
    async fn hides_thread(&self, _room_id: &RoomId, _viewer: &UserId, _root: &ruma::EventId) -> Result<bool> {
        Ok(false)
    }
}

/// Told after any state event (local, or from another server) was written
/// into a room's timeline. For services that keep something keyed by a
/// piece of room state (`crate::delayed_events` cancels other users'
/// pending delayed events for the state just overwritten). Synchronous: it
/// must not block; work that waits goes to a task.
pub trait StateObserver: Send + Sync {
    fn state_written(&self, room_id: &RoomId, pdu: &Pdu);
}
