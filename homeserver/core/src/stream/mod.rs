//! The stream: one ordering for everything a sync can return (events,
//! receipts, account data), and the position up to which it is complete.
//!
//! Orderings are handed out before a write commits, so a later ordering can
//! commit before an earlier one. Readers must not pass a hole that may
//! still fill: [`Stream::current`] is the highest position below which
//! every reserved ordering has committed or been abandoned.
//!
//! Wake-ups go through the stream too ([`Stream::wake`]): a wake-up for a
//! write is held until the position covers that write, so a woken sync
//! always finds what woke it — even when an earlier ordering was still
//! being written when it committed.
//!
//! With several processes on one store ([`cluster`]) the position is the
//! cluster's: this process's own in-flight orderings capped by the floor
//! every process publishes in the store, and wake-ups cross processes over
//! Redis.

mod cluster;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use nexus_storage::catalog::STREAM_ORDERING;
use nexus_storage::{Bus, Store};

use crate::Result;

/// Orderings start here, leaving room below each room's first event for
/// history backfilled from other servers (which takes the orderings just
/// below it, so that it reads as older and never as new in a sync).
const FIRST_ORDERING: u64 = 1 << 40;

pub struct Stream {
    store: Arc<dyn Store>,
    bus: Arc<Bus>,
    /// Serialises reservations, so that "reserved" and "in flight" never
    /// disagree about an ordering that `next()` returned (and, clustered,
    /// so that the floor this process publishes never passes one).
    allocate: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    /// Set when several processes share the store.
    cluster: Option<cluster::Link>,
}

struct State {
    in_flight: BTreeSet<u64>,
    max_reserved: u64,
    /// Wake-ups waiting for the position to reach their ordering.
    held: BTreeMap<u64, Vec<String>>,
    /// Clustered: the cluster-wide position last read from the store.
    cluster_floor: u64,
    /// Clustered: whether the store has this process marked busy.
    published_busy: bool,
}

impl State {
    fn current(&self, clustered: bool) -> u64 {
        match (self.in_flight.first(), clustered) {
            (Some(lowest), false) => lowest - 1,
            (None, false) => self.max_reserved,
            (Some(lowest), true) => (lowest - 1).min(self.cluster_floor),
            (None, true) => self.cluster_floor,
        }
    }

    /// Takes the held wake-ups the position now covers.
    fn due(&mut self, clustered: bool) -> Vec<String> {
        let current = self.current(clustered);
        let later = self.held.split_off(&(current + 1));
        std::mem::replace(&mut self.held, later).into_values().flatten().collect()
    }
}

/// An ordering being written; dropping it (after the write, or on failure)
/// lets readers pass it.
pub struct Reservation {
    pub ordering: u64,
    stream: Arc<Stream>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let due = {
            let mut state = self.stream.state.lock().expect("stream state poisoned");
            state.in_flight.remove(&self.ordering);
            state.due(self.stream.cluster.is_some())
        };
        self.stream.bus.wake(due.iter().map(String::as_str));
        if let Some(link) = &self.stream.cluster {
            link.floor_moved();
        }
    }
}

impl Stream {
    /// The stream of a store only this process uses.
    pub async fn start(store: Arc<dyn Store>) -> Result<Arc<Self>> {
        if store.cluster().is_some() {
            return Err(crate::Error::Internal("a clustered store needs Stream::start_clustered".to_owned()));
        }
        // Everything below a fresh value has committed: nothing is in
        // flight at start-up.
        let floor = FIRST_ORDERING + store.next(&STREAM_ORDERING).await?;
        Ok(Arc::new(Stream::at(store, floor, None)))
    }

    /// A stream whose position starts at `floor`, nothing in flight.
    fn at(store: Arc<dyn Store>, floor: u64, cluster: Option<cluster::Link>) -> Stream {
        Stream {
            store,
            bus: Arc::new(Bus::new()),
            allocate: tokio::sync::Mutex::new(()),
            state: Mutex::new(State {
                in_flight: BTreeSet::new(),
                max_reserved: floor,
                held: BTreeMap::new(),
                cluster_floor: floor,
                published_busy: false,
            }),
            cluster,
        }
    }

    pub async fn reserve(self: &Arc<Self>) -> Result<Reservation> {
        let _allocating = self.allocate.lock().await;
        if let Some(link) = &self.cluster {
            let published_busy = self.state.lock().expect("stream state poisoned").published_busy;
            if !published_busy {
                link.go_busy(&self.store).await?;
                self.state.lock().expect("stream state poisoned").published_busy = true;
            }
        }
        let ordering = FIRST_ORDERING + self.store.next(&STREAM_ORDERING).await?;
        let mut state = self.state.lock().expect("stream state poisoned");
        state.in_flight.insert(ordering);
        state.max_reserved = state.max_reserved.max(ordering);
        Ok(Reservation { ordering, stream: self.clone() })
    }

    /// Every ordering `<=` this has committed (or will never exist).
    pub fn current(&self) -> u64 {
        self.state.lock().expect("stream state poisoned").current(self.cluster.is_some())
    }

    /// Clustered: brings [`Stream::current`] up to what every process has
    /// committed by now (two reads of the store), so a request sees what
    /// was acknowledged on another process before it arrived. Alone: does
    /// nothing, the position is already exact.
    pub async fn catch_up(&self) -> Result<()> {
        match &self.cluster {
            Some(link) => link.refresh(self).await,
            None => Ok(()),
        }
    }

    /// Where waiters subscribe to wake-ups.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Wakes the topics' waiters once the position covers every ordering
    /// this process reserved so far (so, the write that calls this, which
    /// reserved before it committed). Clustered, the other processes'
    /// waiters too. How many local topics had waiters now.
    pub fn wake<'a>(&self, topics: impl IntoIterator<Item = &'a str>) -> usize {
        let topics: Vec<String> = topics.into_iter().map(str::to_owned).collect();
        if topics.is_empty() {
            return 0;
        }
        let clustered = self.cluster.is_some();
        let (now, at) = {
            let mut state = self.state.lock().expect("stream state poisoned");
            let at = state.max_reserved;
            if at <= state.current(clustered) {
                (true, at)
            } else {
                state.held.entry(at).or_default().extend(topics.iter().cloned());
                (false, at)
            }
        };
        if let Some(link) = &self.cluster {
            link.announce(at, topics.clone());
        }
        if now { self.bus.wake(topics.iter().map(String::as_str)) } else { 0 }
    }

    /// Clustered: wakes the topics' waiters in the other processes once
    /// what this process wrote so far is readable there (work queued here
    /// for the process that runs it). Alone: nothing to do.
    pub fn wake_others(&self, topics: &[&str]) {
        if let Some(link) = &self.cluster {
            let at = self.state.lock().expect("stream state poisoned").max_reserved;
            link.announce(at, topics.iter().map(|t| (*t).to_owned()).collect());
        }
    }

    /// Whether several processes share the store.
    pub fn is_clustered(&self) -> bool {
        self.cluster.is_some()
    }

    /// Wakes the held wake-ups the position now covers.
    fn release_due(&self) {
        let due = self.state.lock().expect("stream state poisoned").due(self.cluster.is_some());
        self.bus.wake(due.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use nexus_storage::backend::{Backend, StoreOptions};
    use nexus_storage::catalog::NEXUS;

    use super::*;

    async fn stream() -> (Arc<Stream>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            backend: Backend::RocksDb { path: dir.path().to_owned() },
            sync_writes: false,
            cluster: None,
        };
        (Stream::start(nexus_storage::open(&options, NEXUS).await.unwrap()).await.unwrap(), dir)
    }

    #[tokio::test]
    async fn readers_never_pass_an_ordering_still_being_written() {
        let (stream, _dir) = stream().await;
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

    #[tokio::test]
    async fn a_wake_up_waits_until_its_write_is_readable() {
        let (stream, _dir) = stream().await;
        let subscription = stream.bus().subscribe("@alice:x");
        let slow = stream.reserve().await.unwrap();
        let fast = stream.reserve().await.unwrap();
        drop(fast);
        let woken = subscription.next();
        tokio::pin!(woken);
        woken.as_mut().enable();
        stream.wake(["@alice:x"]);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), woken.as_mut()).await.is_err(),
            "woken while the later write was still hidden behind the earlier one"
        );
        drop(slow);
        tokio::time::timeout(Duration::from_secs(1), woken).await.expect("woken once the hole filled");
    }
}
