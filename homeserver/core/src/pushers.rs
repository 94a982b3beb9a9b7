//! Pushers and delivery to push gateways (spec: "Push notifications",
//! push gateway API): each notification is posted to every HTTP pusher of
//! its user, retried with exponential backoff.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use nexus_storage::catalog::PUSHERS;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, Store};
use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::outbound::AddressPolicy;
use crate::push::{Notification, Push};
use crate::values::{decode, encode};
use crate::{Error, Result};

/// Attempts per delivery, and the first wait between them (doubling).
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Deliveries waiting beyond this are dropped (with a warning): a stuck
/// gateway must not grow memory without bound.
const QUEUE: usize = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pusher {
    pub pushkey: String,
    pub kind: String,
    pub app_id: String,
    pub app_display_name: String,
    pub device_display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_tag: Option<String>,
    pub lang: String,
    pub data: serde_json::Map<String, Value>,
}

/// A notification on its way to a user's gateways.
pub struct Delivery {
    pub user: OwnedUserId,
    pub notification: Notification,
    pub event: Value,
}

pub struct Pushers {
    store: Arc<dyn Store>,
    queue: mpsc::Sender<Delivery>,
    /// The users who have a pusher (read once, then kept in step by `set`
    /// and `delete`): most users have none, and their notifications must
    /// not fill the queue that real deliveries wait in.
    with_pushers: RwLock<Option<HashSet<OwnedUserId>>>,
    /// Bumped by every change of pushers, so a first read that raced one
    /// is read again rather than kept.
    changes: AtomicU64,
    /// A pusher's URL is user input: where it may lead (`crate::outbound`).
    policy: AddressPolicy,
}

fn key(user: &UserId, app_id: &str, pushkey: &str) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(app_id).str(pushkey).build()
}

impl Pushers {
    /// The service and the receiving end of its delivery queue, which
    /// [`Pushers::deliver_forever`] drains.
    pub fn new(store: Arc<dyn Store>, policy: AddressPolicy) -> (Self, mpsc::Receiver<Delivery>) {
        let (queue, receiver) = mpsc::channel(QUEUE);
        (Pushers { store, queue, with_pushers: RwLock::new(None), changes: AtomicU64::new(0), policy }, receiver)
    }

    pub async fn list(&self, user: &UserId) -> Result<Vec<Pusher>> {
        let prefix = KeyBuilder::new().str(user.as_str()).build();
        let entries = self.store.scan_prefix(&PUSHERS, &prefix, Direction::Forward, usize::MAX).await?;
        entries.into_iter().map(|(_, v)| decode(&PUSHERS, &v)).collect()
    }

    /// `POST /pushers/set`: adds or replaces a pusher; with `append` false,
    /// other users' pushers with the same app and key are removed, as the
    /// spec says.
    pub async fn set(&self, user: &UserId, mut pusher: Pusher, append: bool) -> Result<()> {
        if pusher.kind != "http" {
            return Err(Error::InvalidParam("only http pushers are supported".to_owned()));
        }
        let url = pusher.data.get("url").and_then(Value::as_str).unwrap_or_default();
        let valid_url = reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/_matrix/push/v1/notify");
        if !valid_url {
            return Err(Error::InvalidParam(
                "data.url must be a push gateway's /_matrix/push/v1/notify URL".to_owned(),
            ));
        }
        // `format` is a string when present (spec: PusherData); a null one
        // means "not set" and is not stored, so `GET /pushers` never echoes
        // a value its schema forbids.
        match pusher.data.get("format") {
            Some(Value::Null) => {
                pusher.data.remove("format");
            }
            Some(Value::String(_)) | None => {}
            Some(_) => return Err(Error::BadJson("data.format must be a string".to_owned())),
        }
        if pusher.pushkey.len() > 512 || pusher.app_id.len() > 64 {
            return Err(Error::InvalidParam("pushkey is at most 512 bytes and app_id at most 64".to_owned()));
        }
        let mut lost = Vec::new();
        if !append {
            // The same device registered by another user now belongs here.
            // Pushers are few; a scan is fine.
            let all = self.store.scan(&PUSHERS, nexus_storage::KeyRange::all(), Direction::Forward, usize::MAX).await?;
            for (k, v) in all {
                let other: Pusher = decode(&PUSHERS, &v)?;
                if other.app_id == pusher.app_id && other.pushkey == pusher.pushkey {
                    self.store.delete(&PUSHERS, &k).await?;
                    lost.extend(KeyReader::new(&k).str().ok().and_then(|u| UserId::parse(u).ok()));
                }
            }
        }
        self.store.put(&PUSHERS, &key(user, &pusher.app_id, &pusher.pushkey), &encode(&pusher)).await?;
        for other in lost {
            self.recount(&other).await?;
        }
        self.changes.fetch_add(1, Ordering::SeqCst);
        if let Some(users) = self.with_pushers.write().unwrap().as_mut() {
            users.insert(user.to_owned());
        }
        Ok(())
    }

    pub async fn delete(&self, user: &UserId, app_id: &str, pushkey: &str) -> Result<()> {
        self.store.delete(&PUSHERS, &key(user, app_id, pushkey)).await?;
        self.recount(user).await
    }

    /// Whether `user` still has a pusher, after one of theirs went.
    async fn recount(&self, user: &UserId) -> Result<()> {
        self.changes.fetch_add(1, Ordering::SeqCst);
        let has = !self.list(user).await?.is_empty();
        if let Some(users) = self.with_pushers.write().unwrap().as_mut() {
            if has {
                users.insert(user.to_owned());
            } else {
                users.remove(user);
            }
        }
        Ok(())
    }

    /// Whether `user` has a pusher; the first call reads who does.
    async fn has_pushers(&self, user: &UserId) -> Result<bool> {
        if self.store.cluster().is_some() {
            // Another process may add or remove one: ask the store.
            let prefix = KeyBuilder::new().str(user.as_str()).build();
            return Ok(!self.store.scan_prefix(&PUSHERS, &prefix, Direction::Forward, 1).await?.is_empty());
        }
        if let Some(users) = self.with_pushers.read().unwrap().as_ref() {
            return Ok(users.contains(user));
        }
        loop {
            let before = self.changes.load(Ordering::SeqCst);
            let all = self.store.scan(&PUSHERS, nexus_storage::KeyRange::all(), Direction::Forward, usize::MAX).await?;
            let users: HashSet<OwnedUserId> = all
                .iter()
                .filter_map(|(key, _)| KeyReader::new(key).str().ok().and_then(|u| UserId::parse(u).ok()))
                .collect();
            let found = users.contains(user);
            let mut known = self.with_pushers.write().unwrap();
            if self.changes.load(Ordering::SeqCst) == before {
                known.get_or_insert(users);
                return Ok(found);
            }
        }
    }

    /// Queues a delivery for a user who has a pusher; never waits (a full
    /// queue drops it).
    pub async fn enqueue(&self, delivery: Delivery) {
        match self.has_pushers(&delivery.user).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!(error = %e, "could not read who has pushers"),
        }
        if let Err(e) = self.queue.try_send(delivery) {
            tracing::warn!(error = %e, "push delivery queue is full; a notification was not pushed");
        }
    }

    /// Drains the queue, each delivery in its own task so that one slow
    /// gateway does not hold up the others.
    pub async fn deliver_forever(self: Arc<Self>, push: Arc<Push>, mut receiver: mpsc::Receiver<Delivery>) {
        let client = reqwest::Client::builder()
            .dns_resolver(self.policy.resolver())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .user_agent("nexus")
            .build()
            .expect("an HTTP client with default TLS settings builds");
        while let Some(delivery) = receiver.recv().await {
            let pushers = match self.list(&delivery.user).await {
                Ok(pushers) => pushers,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read pushers");
                    continue;
                }
            };
            if pushers.is_empty() {
                continue;
            }
            let counts = push.total_unread(&delivery.user).await.unwrap_or_default();
            for pusher in pushers {
                let client = client.clone();
                let body = gateway_body(&pusher, &delivery, counts);
                let pushers = self.clone();
                let user = delivery.user.clone();
                let url = pusher.data.get("url").and_then(Value::as_str).unwrap_or_default();
                let host = reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned));
                if host.is_none_or(|host| self.policy.check_host(&host).is_err()) {
                    tracing::info!(%url, "a pusher's URL is not a permitted destination; not pushed");
                    continue;
                }
                tokio::spawn(async move {
                    if post_with_retries(&client, &pusher, &body).await {
                        // The gateway says this pushkey is dead (spec: remove it).
                        if let Err(e) = pushers.delete(&user, &pusher.app_id, &pusher.pushkey).await {
                            tracing::warn!(error = %e, "could not remove a rejected pusher");
                        }
                    }
                });
            }
        }
    }
}

fn gateway_body(pusher: &Pusher, delivery: &Delivery, unread: u64) -> Value {
    let n = &delivery.notification;
    // The gateway gets the pusher's data minus its own url (spec).
    let mut data = pusher.data.clone();
    data.remove("url");
    let mut device = json!({
        "app_id": pusher.app_id,
        "pushkey": pusher.pushkey,
        "data": data,
    });
    let tweaks: serde_json::Map<String, Value> = n
        .actions
        .iter()
        .filter_map(|a| match a {
            ruma::push::Action::SetTweak(tweak) => serde_json::to_value(tweak).ok(),
            _ => None,
        })
        .filter_map(|t| {
            Some((t.get("set_tweak")?.as_str()?.to_owned(), t.get("value").cloned().unwrap_or(json!(true))))
        })
        .collect();
    device["tweaks"] = Value::Object(tweaks);
    let mut notification = json!({
        "event_id": n.event_id,
        "room_id": n.room_id,
        "counts": { "unread": unread },
        "devices": [device],
        "prio": if n.highlight { "high" } else { "low" },
    });
    // `event_id_only` keeps message content off the gateway (and so off
    // Apple's and Google's servers).
    if pusher.data.get("format").and_then(Value::as_str) != Some("event_id_only") {
        for field in ["type", "sender", "content"] {
            if let Some(value) = delivery.event.get(field) {
                notification[field] = value.clone();
            }
        }
    }
    json!({ "notification": notification })
}

/// Posts a notification, retrying failures with exponential backoff.
/// Returns whether the gateway rejected this pusher's pushkey.
async fn post_with_retries(client: &reqwest::Client, pusher: &Pusher, body: &Value) -> bool {
    let url = pusher.data.get("url").and_then(Value::as_str).unwrap_or_default();
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        match client.post(url).json(body).send().await {
            Ok(response) if response.status().is_success() => {
                metrics::counter!(crate::metric_names::PUSHES_PROCESSED).increment(1);
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                let rejected = answer.get("rejected").and_then(Value::as_array).into_iter().flatten();
                return rejected.filter_map(Value::as_str).any(|key| key == pusher.pushkey);
            }
            Ok(response) => tracing::debug!(%url, status = %response.status(), attempt, "push gateway failed"),
            Err(e) => tracing::debug!(%url, error = %e, attempt, "push gateway unreachable"),
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    tracing::warn!(%url, "gave up pushing a notification");
    metrics::counter!(crate::metric_names::PUSHES_FAILED).increment(1);
    false
}

#[cfg(test)]
mod tests {
    use nexus_storage::backend::{Backend, StoreOptions};
    use nexus_storage::catalog::NEXUS;

    use super::*;

    fn delivery(user: &str) -> Delivery {
        let notification = Notification {
            room_id: ruma::owned_room_id!("!r:example.org"),
            event_id: ruma::owned_event_id!("$e"),
            actions: Vec::new(),
            highlight: false,
            thread: None,
            ts: 0,
        };
        Delivery { user: UserId::parse(user).unwrap(), notification, event: json!({}) }
    }

    /// Notifications of users without a pusher never take a place in the
    /// queue that real deliveries wait in; a pusher set later counts.
    #[tokio::test]
    async fn only_users_with_pushers_are_queued() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            backend: Backend::RocksDb { path: dir.path().to_owned() },
            sync_writes: false,
            cluster: None,
        };
        let store = nexus_storage::open(&options, NEXUS).await.unwrap();
        let (pushers, mut queue) = Pushers::new(store, AddressPolicy::new(&[], &[]));
        for _ in 0..(QUEUE + 10) {
            pushers.enqueue(delivery("@nobody:example.org")).await;
        }
        assert!(queue.try_recv().is_err(), "nobody has a pusher");
        let mut data = serde_json::Map::new();
        data.insert("url".to_owned(), json!("https://push.example.org/_matrix/push/v1/notify"));
        let pusher = Pusher {
            pushkey: "k".to_owned(),
            kind: "http".to_owned(),
            app_id: "a".to_owned(),
            app_display_name: "A".to_owned(),
            device_display_name: "D".to_owned(),
            profile_tag: None,
            lang: "en".to_owned(),
            data,
        };
        let alice = UserId::parse("@alice:example.org").unwrap();
        pushers.set(&alice, pusher, false).await.unwrap();
        pushers.enqueue(delivery("@alice:example.org")).await;
        assert_eq!(queue.try_recv().unwrap().user, alice);
        pushers.delete(&alice, "a", "k").await.unwrap();
        pushers.enqueue(delivery("@alice:example.org")).await;
        assert!(queue.try_recv().is_err(), "alice's pusher is gone");
    }
}
