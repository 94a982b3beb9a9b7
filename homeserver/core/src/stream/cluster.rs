//! The stream when several processes share the store (docs/scale-out.md).
//!
//! Each process publishes its floor in the store (`Cluster`) and reads the
//! cluster's: the lowest of every busy process's floor and the counter's
//! last value. One task per process publishes the floor after its
//! reservations end, then announces its wake-ups on Redis, then re-reads
//! the cluster's floor; in every process a listener holds each announced
//! wake-up until that floor covers the ordering it was announced at. So a
//! woken sync on any process finds the write that woke it, and a lost
//! Redis message costs only latency.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nexus_storage::Store;
use nexus_storage::catalog::STREAM_ORDERING;
use nexus_storage::redis_channel::{Heard, RedisChannel};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};

use super::{FIRST_ORDERING, Stream};
use crate::{Error, Result};

/// The Redis channel every process of a cluster shares.
const CHANNEL: &str = "nexus:stream";

/// How often held wake-ups re-read the cluster's floor: they wait on some
/// other process's earlier ordering, whose end that process may not
/// announce (a write with nothing to wake).
const HELD_POLL: Duration = Duration::from_millis(25);

pub(super) struct Link {
    instance: String,
    lease: Duration,
    redis: RedisChannel,
    /// Rung when a reservation ends or a wake-up is announced.
    dirty: Notify,
    outgoing: Mutex<Vec<(u64, Vec<String>)>>,
}

/// One Redis message: wake-ups, each at the ordering it waits for.
#[derive(Serialize, Deserialize)]
struct Announcement {
    from: String,
    wakes: Vec<(u64, Vec<String>)>,
}

fn cluster(store: &Arc<dyn Store>) -> &dyn nexus_storage::Cluster {
    store.cluster().expect("a clustered stream's store has a cluster")
}

impl Link {
    pub(super) fn floor_moved(&self) {
        self.dirty.notify_one();
    }

    pub(super) fn announce(&self, at: u64, topics: Vec<String>) {
        self.outgoing.lock().expect("stream outgoing poisoned").push((at, topics));
        self.dirty.notify_one();
    }

    pub(super) async fn go_busy(&self, store: &Arc<dyn Store>) -> Result<()> {
        Ok(cluster(store).go_busy(&STREAM_ORDERING).await?)
    }

    /// Re-reads the cluster's floor and wakes what it now covers.
    pub(super) async fn refresh(&self, stream: &Stream) -> Result<()> {
        let floor = FIRST_ORDERING + cluster(&stream.store).floor(&STREAM_ORDERING).await?;
        {
            let mut state = stream.state.lock().expect("stream state poisoned");
            state.cluster_floor = state.cluster_floor.max(floor);
        }
        stream.release_due();
        Ok(())
    }
}

impl Stream {
    /// The stream of a store several processes share, with wake-ups over
    /// the Redis at `redis_url`. Starts the tasks that keep this process's
    /// floor published and its lease renewed.
    pub async fn start_clustered(store: Arc<dyn Store>, redis_url: &str) -> Result<Arc<Self>> {
        let Some(shared) = store.cluster() else {
            return Err(Error::Internal("a clustered stream needs a clustered store".to_owned()));
        };
        let (instance, lease) = (shared.instance().to_owned(), shared.lease());
        let floor = FIRST_ORDERING + shared.floor(&STREAM_ORDERING).await?;
        let redis = RedisChannel::connect(redis_url, CHANNEL).await?;
        let heard = redis.subscribe();
        let link = Link { instance, lease, redis, dirty: Notify::new(), outgoing: Mutex::new(Vec::new()) };
        let stream = Arc::new(Stream::at(store, floor, Some(link)));
        tokio::spawn(publish_forever(stream.clone()));
        tokio::spawn(listen_forever(stream.clone(), heard));
        Ok(stream)
    }

    fn link(&self) -> &Link {
        self.cluster.as_ref().expect("only clustered streams run the cluster tasks")
    }

    /// Publishes this process's floor (renewing its lease).
    async fn publish_floor(&self) -> Result<(), nexus_storage::Error> {
        let _allocating = self.allocate.lock().await;
        let floor = {
            let state = self.state.lock().expect("stream state poisoned");
            state.in_flight.first().map(|lowest| lowest - 1 - FIRST_ORDERING)
        };
        cluster(&self.store).publish_floor(floor).await?;
        self.state.lock().expect("stream state poisoned").published_busy = floor.is_some();
        Ok(())
    }
}

/// Publishes the floor, then the wake-ups it covers, then re-reads the
/// cluster's floor; at least every quarter lease (the lease's renewal),
/// and reaps lapsed writers every half lease.
async fn publish_forever(stream: Arc<Stream>) {
    let link = stream.link();
    let mut reaped_at = Instant::now();
    loop {
        let holding = !stream.state.lock().expect("stream state poisoned").held.is_empty();
        let wait = if holding { HELD_POLL } else { link.lease / 4 };
        let _ = tokio::time::timeout(wait, link.dirty.notified()).await;
        let wakes = std::mem::take(&mut *link.outgoing.lock().expect("stream outgoing poisoned"));
        match stream.publish_floor().await {
            Ok(()) => {}
            Err(nexus_storage::Error::Fenced) => {
                // Other processes have passed this one's orderings: any
                // write it finished now would never reach their syncs.
                tracing::error!("this process's cluster lease lapsed and was taken; exiting so it restarts clean");
                std::process::exit(75);
            }
            Err(e) => tracing::warn!(error = %e, "could not publish this process's stream floor"),
        }
        if !wakes.is_empty() {
            let message = Announcement { from: link.instance.clone(), wakes };
            let payload = serde_json::to_vec(&message).expect("announcements serialise");
            if let Err(e) = link.redis.publish(&payload).await {
                tracing::warn!(error = %e, "could not announce wake-ups to the cluster");
            }
        }
        if reaped_at.elapsed() >= link.lease / 2 {
            reaped_at = Instant::now();
            if let Err(e) = cluster(&stream.store).reap().await {
                tracing::warn!(error = %e, "could not reap lapsed cluster writers");
            }
        }
        if let Err(e) = link.refresh(&stream).await {
            tracing::warn!(error = %e, "could not read the cluster's stream floor");
        }
    }
}

/// Holds the other processes' announced wake-ups until the cluster's floor
/// covers them; after a reconnect (messages may have been lost) wakes
/// every waiter to re-check.
async fn listen_forever(stream: Arc<Stream>, mut heard: mpsc::Receiver<Heard>) {
    let link = stream.link();
    while let Some(first) = heard.recv().await {
        let mut reconnected = false;
        let mut next = Some(first);
        while let Some(item) = next {
            match item {
                Heard::Reconnected => reconnected = true,
                Heard::Message(payload) => match serde_json::from_slice::<Announcement>(&payload) {
                    Ok(message) if message.from != link.instance => {
                        let mut state = stream.state.lock().expect("stream state poisoned");
                        for (at, topics) in message.wakes {
                            state.held.entry(at).or_default().extend(topics);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "ignored a malformed message on the cluster's channel"),
                },
            }
            next = heard.try_recv().ok();
        }
        if let Err(e) = link.refresh(&stream).await {
            tracing::warn!(error = %e, "could not read the cluster's stream floor");
        }
        if reconnected {
            stream.bus.wake_all();
        }
    }
}
