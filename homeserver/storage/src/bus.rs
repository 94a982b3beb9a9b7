//! The bus: "something changed for X" wake-ups (a sync long-poll waiting
//! for its user, later the federation sender and pushers).
//!
//! In-process by default. A wake-up carries no data: the woken reads what
//! changed from the store, so a missed or doubled wake-up costs a read,
//! never correctness.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

#[derive(Default)]
pub struct Bus {
    topics: Mutex<HashMap<String, Weak<Notify>>>,
}

/// A subscription to one topic.
pub struct Subscription {
    notify: Arc<Notify>,
}

impl Subscription {
    /// A future for the next wake-up. Call `enable()` on it (pinned)
    /// *before* checking for changes: a wake-up between the check and the
    /// wait then still completes it.
    pub fn next(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

impl Bus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn subscribe(&self, topic: &str) -> Subscription {
        let mut topics = self.topics.lock().expect("bus poisoned");
        if let Some(notify) = topics.get(topic).and_then(Weak::upgrade) {
            return Subscription { notify };
        }
        let notify = Arc::new(Notify::new());
        topics.insert(topic.to_owned(), Arc::downgrade(&notify));
        if topics.len() > 4096 {
            // Forget topics nobody listens to any more.
            topics.retain(|_, w| w.strong_count() > 0);
        }
        Subscription { notify }
    }

    /// Wakes every armed subscriber of each topic; how many topics had
    /// subscribers.
    pub fn wake<'a>(&self, topics: impl IntoIterator<Item = &'a str>) -> usize {
        let live: Vec<Arc<Notify>> = {
            let found = self.topics.lock().expect("bus poisoned");
            topics.into_iter().filter_map(|t| found.get(t).and_then(Weak::upgrade)).collect()
        };
        for notify in &live {
            notify.notify_waiters();
        }
        live.len()
    }

    /// Wakes every subscriber of every topic (after wake-ups may have been
    /// lost: each re-checks).
    pub fn wake_all(&self) {
        let live: Vec<Arc<Notify>> =
            self.topics.lock().expect("bus poisoned").values().filter_map(Weak::upgrade).collect();
        for notify in &live {
            notify.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_wake_up_between_check_and_wait_is_not_lost() {
        let bus = Bus::new();
        let subscription = bus.subscribe("@alice:x");
        let second = bus.subscribe("@alice:x");
        let next = subscription.next();
        let other = second.next();
        tokio::pin!(next, other);
        next.as_mut().enable();
        other.as_mut().enable();
        bus.wake(["@alice:x"]);
        tokio::time::timeout(Duration::from_secs(1), next).await.expect("the wake-up was kept");
        tokio::time::timeout(Duration::from_secs(1), other).await.expect("every subscriber is woken");
    }

    #[tokio::test]
    async fn other_topics_are_not_woken() {
        let bus = Bus::new();
        let subscription = bus.subscribe("@alice:x");
        let next = subscription.next();
        tokio::pin!(next);
        next.as_mut().enable();
        bus.wake(["@bob:x"]);
        assert!(tokio::time::timeout(Duration::from_millis(50), next).await.is_err());
    }
}
