//! The stream: one ordering for everything a sync can return (events,
//! receipts, account data), and the position up to which it is complete.
//!
//! Orderings are handed out before a write commits, so a later ordering can
//! commit before an earlier one. Readers must not pass a hole that may
//! still fill: [`Stream::current`] is the highest position below which
//! every reserved ordering has committed or been abandoned.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use nexus_storage::Store;
use nexus_storage::catalog::STREAM_ORDERING;

use crate::Result;

/// Orderings start here, leaving room below each room's first event for
/// history backfilled from other servers (which takes the orderings just
/// below it, so that it reads as older and never as new in a sync).
const FIRST_ORDERING: u64 = 1 << 40;

pub struct Stream {
    store: Arc<dyn Store>,
    /// Serialises reservations, so that "reserved" and "in flight" never
    /// disagree about an ordering that `next()` returned.
    allocate: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

struct State {
    in_flight: BTreeSet<u64>,
    max_reserved: u64,
}

/// An ordering being written; dropping it (after the write, or on failure)
/// lets readers pass it.
pub struct Reservation {
    pub ordering: u64,
    stream: Arc<Stream>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.stream.state.lock().expect("stream state poisoned").in_flight.remove(&self.ordering);
    }
}

impl Stream {
    pub async fn start(store: Arc<dyn Store>) -> Result<Arc<Self>> {
        // Everything below a fresh value has committed: nothing is in
        // flight at start-up.
        let floor = FIRST_ORDERING + store.next(&STREAM_ORDERING).await?;
        Ok(Arc::new(Stream {
            store,
            allocate: tokio::sync::Mutex::new(()),
            state: Mutex::new(State { in_flight: BTreeSet::new(), max_reserved: floor }),
        }))
    }

    pub async fn reserve(self: &Arc<Self>) -> Result<Reservation> {
        let _allocating = self.allocate.lock().await;
        let ordering = FIRST_ORDERING + self.store.next(&STREAM_ORDERING).await?;
        let mut state = self.state.lock().expect("stream state poisoned");
        state.in_flight.insert(ordering);
        state.max_reserved = state.max_reserved.max(ordering);
        Ok(Reservation { ordering, stream: self.clone() })
    }

    /// Every ordering `<=` this has committed (or will never exist).
    pub fn current(&self) -> u64 {
        let state = self.state.lock().expect("stream state poisoned");
        match state.in_flight.first() {
            Some(lowest) => lowest - 1,
            None => state.max_reserved,
        }
    }
}

#[cfg(test)]
mod tests {
    use nexus_storage::backend::{Backend, StoreOptions};
    use nexus_storage::catalog::NEXUS;

    use super::*;

    #[tokio::test]
    async fn readers_never_pass_an_ordering_still_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions { backend: Backend::RocksDb { path: dir.path().to_owned() }, sync_writes: false };
        let stream = Stream::start(nexus_storage::open(&options, NEXUS).await.unwrap()).await.unwrap();
        let start = stream.current();
        let slow = stream.reserve().await.unwrap();
        let fast = stream.reserve().await.unwrap();
        assert!(fast.ordering > slow.ordering);
        drop(fast);
        assert_eq!(stream.current(), slow.ordering - 1, "the later write is hidden behind the earlier one");
        assert!(stream.current() >= start);
        let last = slow.ordering;
        drop(slow);
        assert!(stream.current() > last);
    }
}
