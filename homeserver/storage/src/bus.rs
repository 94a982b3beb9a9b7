//! The bus: "something changed for X" wake-ups (a sync long-poll waiting
//! for its user, later the federation sender and pushers).
//!
//! In-process by default. A wake-up carries no data: the woken reads what
//! changed from the store, so a missed or doubled wake-up costs a read,
//! never correctness.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

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

/// Subscriptions to several topics, woken by any of them.
pub struct Subscriptions {
    each: Vec<Subscription>,
}

impl Subscriptions {
    /// A future for the next wake-up of any topic, armed already: a
    /// wake-up after this call and before the wait still completes it.
    pub fn armed(&self) -> Armed<'_> {
        let mut each: Vec<Pin<Box<Notified<'_>>>> = self.each.iter().map(|s| Box::pin(s.next())).collect();
        for notified in &mut each {
            notified.as_mut().enable();
        }
        Armed { each }
    }
}

/// See [`Subscriptions::armed`].
pub struct Armed<'a> {
    each: Vec<Pin<Box<Notified<'a>>>>,
}

impl Future for Armed<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Every one is polled, so each registers its waker.
        let mut woken = false;
        for notified in &mut self.each {
            woken |= notified.as_mut().poll(cx).is_ready();
        }
        if woken { Poll::Ready(()) } else { Poll::Pending }
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

    pub fn subscribe_all<'a>(&self, topics: impl IntoIterator<Item = &'a str>) -> Subscriptions {
        Subscriptions { each: topics.into_iter().map(|t| self.subscribe(t)).collect() }
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
    async fn any_of_several_topics_wakes() {
        let bus = Bus::new();
        let subscriptions = bus.subscribe_all(["@alice:x", "room:!a:x"]);
        let armed = subscriptions.armed();
        bus.wake(["room:!a:x"]);
        tokio::time::timeout(Duration::from_secs(1), armed).await.expect("the room's wake-up reached the user");
        let armed = subscriptions.armed();
        bus.wake(["@bob:x"]);
        assert!(tokio::time::timeout(Duration::from_millis(50), armed).await.is_err());
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
