//! Application services (spec: application service API; MSC2409, MSC3202,
//! MSC4190, MSC2659): bridges and bots that own namespaces of users,
//! aliases and rooms, act through the client-server API with their
//! `as_token`, and receive what concerns them in transactions.
//!
//! - `registration`: the YAML files, validated; reloaded on SIGHUP.
//! - `queue`: what waits for each appservice, durably, and the transaction
//!   in flight.
//! - `sender`: one delivery task per appservice, with backoff, so a slow
//!   bridge never delays another or the homeserver.
//! - `client`: the HTTP requests to appservices.
//! - `masquerade`: who a request made with an `as_token` acts as.
//! - `msc3202`: one-time key counts and fallback keys in transactions.

pub mod client;
pub mod masquerade;
mod msc3202;
pub mod queue;
pub mod registration;
mod sender;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use nexus_storage::{Store, WriteBatch};
use ruma::{OwnedRoomAliasId, OwnedServerName, RoomAliasId, RoomId, UserId};
use serde_json::{Value, json};
use tokio::sync::Notify;

use self::client::{AppserviceClient, Failure};
use self::queue::{Item, Queue};
pub use self::registration::{Registration, RegistrationError};
use crate::{Error, Result};

/// The registrations in force; replaced whole on reload.
#[derive(Default)]
pub struct Registry {
    list: Vec<Arc<Registration>>,
}

impl Registry {
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Registration>> {
        self.list.iter()
    }

    pub fn by_id(&self, id: &str) -> Option<&Arc<Registration>> {
        self.list.iter().find(|r| r.id == id)
    }

    fn any_alias_namespace(&self) -> bool {
        self.list.iter().any(|r| !r.namespaces.aliases.is_empty())
    }
}

pub struct Appservices {
    server_name: OwnedServerName,
    files: Vec<PathBuf>,
    registry: RwLock<Arc<Registry>>,
    queue: Queue,
    client: AppserviceClient,
    /// One wake-up per appservice: a new item in its queue.
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
    /// Appservices whose delivery task runs (started by `run`).
    delivering: Mutex<Option<HashSet<String>>>,
    /// For MSC3202's key counts; set once at start (they are built after
    /// this service).
    devices: std::sync::OnceLock<Arc<crate::devices::Devices>>,
    e2ee: std::sync::OnceLock<Arc<crate::e2ee::E2ee>>,
    stream: std::sync::OnceLock<Arc<crate::stream::Stream>>,
}

/// The bus topic on which the process delivering to appservices hears that
/// another process of the cluster queued work.
pub const QUEUE_TOPIC: &str = "\u{1}appservice-queue";

/// What an event's interest is judged on.
pub struct EventFacts<'a> {
    pub room_id: &'a RoomId,
    pub sender: &'a UserId,
    pub state_key_user: Option<&'a UserId>,
    /// The room's joined local members (and the target of a membership
    /// change): the users whose namespaces make the room interesting.
    pub members: &'a [ruma::OwnedUserId],
}

impl Appservices {
    /// Reads every registration file; start-up fails on the first bad one.
    pub fn load(
        store: Arc<dyn Store>,
        server_name: OwnedServerName,
        files: Vec<PathBuf>,
    ) -> std::result::Result<Self, RegistrationError> {
        let registry = read_all(&files, &server_name)?;
        Ok(Appservices {
            server_name,
            files,
            registry: RwLock::new(Arc::new(registry)),
            queue: Queue::new(store),
            client: AppserviceClient::default(),
            wakers: Mutex::default(),
            delivering: Mutex::new(None),
            devices: std::sync::OnceLock::new(),
            e2ee: std::sync::OnceLock::new(),
            stream: std::sync::OnceLock::new(),
        })
    }

    /// Gives MSC3202 the services it reads key counts from (once).
    /// In a cluster, work queued here wakes the process that delivers it.
    pub fn set_stream(&self, stream: Arc<crate::stream::Stream>) {
        let _ = self.stream.set(stream);
    }

    /// Wakes every delivery task of this process (another process of the
    /// cluster queued work).
    pub fn wake_all(&self) {
        for waker in self.wakers.lock().expect("wakers poisoned").values() {
            waker.notify_one();
        }
    }

    pub fn set_key_sources(&self, devices: Arc<crate::devices::Devices>, e2ee: Arc<crate::e2ee::E2ee>) {
        let _ = self.devices.set(devices);
        let _ = self.e2ee.set(e2ee);
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().expect("registry lock poisoned").clone()
    }

    /// Reads the registration files again (SIGHUP). On any error the
    /// registrations in force stay as they were.
    pub fn reload(self: &Arc<Self>) -> std::result::Result<usize, RegistrationError> {
        let registry = read_all(&self.files, &self.server_name)?;
        let count = registry.list.len();
        *self.registry.write().expect("registry lock poisoned") = Arc::new(registry);
        self.start_senders();
        // A changed URL or token may unblock a queue.
        for waker in self.wakers.lock().expect("wakers poisoned").values() {
            waker.notify_one();
        }
        Ok(count)
    }

    /// The appservice whose `as_token` this is.
    pub fn by_token(&self, token: &str) -> Option<Arc<Registration>> {
        let hash = registration::token_hash(token);
        let registry = self.registry();
        // Every registration is compared, in constant time.
        let mut found = None;
        for r in registry.iter() {
            if bool::from(subtle::ConstantTimeEq::ct_eq(&r.as_token_hash[..], &hash[..])) {
                found = Some(r.clone());
            }
        }
        found
    }

    /// Whether a request with this token skips the per-address rate limits:
    /// an appservice registered with `rate_limited: false`.
    pub fn exempt_from_rate_limits(&self, token: Option<&str>) -> bool {
        token.and_then(|t| self.by_token(t)).is_some_and(|r| !r.rate_limited)
    }

    /// The appservice that claims `user_id` exclusively, if any: no one
    /// else may register it.
    pub fn exclusive_owner_of_user(&self, user_id: &UserId) -> Option<Arc<Registration>> {
        self.registry().iter().find(|r| r.owns_user_exclusively(user_id)).cloned()
    }

    pub fn exclusive_owner_of_alias(&self, alias: &RoomAliasId) -> Option<Arc<Registration>> {
        self.registry().iter().find(|r| r.owns_alias_exclusively(alias.as_str())).cloned()
    }

    /// Whether room aliases matter for interest (one read per event saved
    /// when no appservice has an alias namespace).
    pub fn wants_aliases(&self) -> bool {
        self.registry().any_alias_namespace()
    }

    fn interested_in_room(
        r: &Registration,
        room_id: &RoomId,
        members: &[ruma::OwnedUserId],
        aliases: &[OwnedRoomAliasId],
    ) -> bool {
        r.owns_room(room_id.as_str())
            || members.iter().any(|m| r.owns_user(m))
            || aliases.iter().any(|a| r.owns_alias(a.as_str()))
    }

    /// Adds `event` (client format) to the queue of every appservice it
    /// concerns, in the batch that persists it. Returns their ids, to wake
    /// once the batch is written.
    pub async fn persisting(
        &self,
        batch: &mut WriteBatch,
        facts: &EventFacts<'_>,
        aliases: &[OwnedRoomAliasId],
        event: &Value,
    ) -> Result<Vec<String>> {
        let registry = self.registry();
        let mut woken = Vec::new();
        for r in registry.iter().filter(|r| r.url.is_some()) {
            let interested = r.owns_user(facts.sender)
                || facts.state_key_user.is_some_and(|u| r.owns_user(u))
                || Self::interested_in_room(r, facts.room_id, facts.members, aliases);
            if interested {
                let sequence = self.queue.next_sequence().await?;
                self.queue.enqueue(batch, &r.id, sequence, &Item::Event(event.clone()));
                woken.push(r.id.clone());
            }
        }
        Ok(woken)
    }

    /// Queues an ephemeral event (typing, receipt) of a room for the
    /// appservices that asked for them (MSC2409) and are in the room.
    pub async fn room_ephemeral(
        &self,
        room_id: &RoomId,
        members: &[ruma::OwnedUserId],
        aliases: &[OwnedRoomAliasId],
        edu: Value,
    ) -> Result<()> {
        let registry = self.registry();
        let wanted: Vec<&Arc<Registration>> = registry
            .iter()
            .filter(|r| r.url.is_some() && r.receive_ephemeral)
            .filter(|r| Self::interested_in_room(r, room_id, members, aliases))
            .collect();
        self.enqueue_alone(&wanted, &Item::Ephemeral(edu)).await
    }

    /// Adds a presence change (`m.presence`, MSC2409) to the queues of the
    /// appservices that asked for ephemeral events and own the user or one
    /// of the local users who share a room with them. Returns their ids.
    pub async fn presence(
        &self,
        batch: &mut WriteBatch,
        user: &UserId,
        local_audience: &[&UserId],
        event: &Value,
    ) -> Result<Vec<String>> {
        let registry = self.registry();
        let mut woken = Vec::new();
        for r in registry.iter().filter(|r| r.url.is_some() && r.receive_ephemeral) {
            if r.owns_user(user) || local_audience.iter().any(|m| r.owns_user(m)) {
                let sequence = self.queue.next_sequence().await?;
                self.queue.enqueue(batch, &r.id, sequence, &Item::Ephemeral(event.clone()));
                woken.push(r.id.clone());
            }
        }
        Ok(woken)
    }

    /// MSC3202: `user`'s device list changed; the appservices that manage
    /// encryption and own the user or a user sharing a room with them
    /// (`audience`) hear of it in `device_lists.changed`. Returns their ids.
    pub async fn device_list_changed(
        &self,
        batch: &mut WriteBatch,
        user: &UserId,
        audience: &[ruma::OwnedUserId],
    ) -> Result<Vec<String>> {
        let registry = self.registry();
        let mut woken = Vec::new();
        for r in registry.iter().filter(|r| r.url.is_some() && r.device_masquerading_and_e2ee) {
            if r.owns_user(user) || audience.iter().any(|m| r.owns_user(m)) {
                let sequence = self.queue.next_sequence().await?;
                self.queue.enqueue(batch, &r.id, sequence, &Item::DeviceListChanged(user.to_string()));
                woken.push(r.id.clone());
            }
        }
        Ok(woken)
    }

    /// MSC3202: `user` no longer shares a room with the users of the
    /// appservices in `no_longer_shared`; they hear of it in
    /// `device_lists.left`. Returns their ids.
    pub async fn device_list_left(
        &self,
        batch: &mut WriteBatch,
        user: &UserId,
        no_longer_shared: &[String],
    ) -> Result<Vec<String>> {
        let registry = self.registry();
        let mut woken = Vec::new();
        for r in registry.iter().filter(|r| r.url.is_some() && no_longer_shared.contains(&r.id)) {
            let sequence = self.queue.next_sequence().await?;
            self.queue.enqueue(batch, &r.id, sequence, &Item::DeviceListLeft(user.to_string()));
            woken.push(r.id.clone());
        }
        Ok(woken)
    }

    /// The MSC3202 appservices (those managing encryption).
    pub fn tracking_device_lists(&self) -> Vec<Arc<Registration>> {
        self.registry().iter().filter(|r| r.url.is_some() && r.device_masquerading_and_e2ee).cloned().collect()
    }

    /// Adds a to-device message for one of an appservice's users to its
    /// queue, in the batch that delivers it (MSC2409 `to_device`, for
    /// appservices with MSC3202 on). Returns the ids to wake.
    pub async fn to_device(&self, batch: &mut WriteBatch, recipient: &UserId, message: &Value) -> Result<Vec<String>> {
        let registry = self.registry();
        let mut woken = Vec::new();
        for r in registry.iter().filter(|r| r.url.is_some() && r.device_masquerading_and_e2ee && r.owns_user(recipient))
        {
            let sequence = self.queue.next_sequence().await?;
            self.queue.enqueue(batch, &r.id, sequence, &Item::ToDevice(message.clone()));
            woken.push(r.id.clone());
        }
        Ok(woken)
    }

    async fn enqueue_alone(&self, wanted: &[&Arc<Registration>], item: &Item) -> Result<()> {
        if wanted.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        let mut ids = Vec::new();
        for r in wanted {
            let sequence = self.queue.next_sequence().await?;
            self.queue.enqueue(&mut batch, &r.id, sequence, item);
            ids.push(r.id.clone());
        }
        self.queue.write(batch).await?;
        self.wake(&ids);
        Ok(())
    }

    /// Wakes the delivery tasks of `ids` (after their items were written).
    pub fn wake(&self, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        if let Some(stream) = self.stream.get() {
            stream.wake_others(&[QUEUE_TOPIC]);
        }
        let wakers = self.wakers.lock().expect("wakers poisoned");
        for id in ids {
            if let Some(waker) = wakers.get(id) {
                waker.notify_one();
            }
        }
    }

    /// `POST /_matrix/client/v1/appservice/{appserviceId}/ping` (MSC2659).
    pub async fn ping(
        &self,
        caller: &Registration,
        appservice_id: &str,
        transaction_id: Option<&str>,
    ) -> Result<Duration> {
        if caller.id != appservice_id {
            return Err(Error::Forbidden("you may only ping your own appservice".to_owned()));
        }
        self.client.ping(caller, transaction_id).await.map_err(|failure| match failure {
            Failure::NoUrl => Error::AppserviceUrlNotSet,
            Failure::Status { status, body } => Error::AppserviceBadStatus { status, body },
            Failure::Timeout => Error::AppserviceTimeout,
            Failure::Connection(detail) => Error::AppserviceConnectionFailed(detail),
        })
    }

    /// Asks the appservices whose user namespace holds `user_id` whether
    /// it exists (`GET /_matrix/app/v1/users/{userId}`): true when one
    /// created it.
    pub async fn query_user(&self, user_id: &UserId) -> bool {
        let registry = self.registry();
        for r in registry
            .iter()
            .filter(|r| r.url.is_some() && r.namespaces.users.iter().any(|n| n.matches(user_id.as_str())))
        {
            if self.client.query(r, "users", user_id.as_str()).await {
                return true;
            }
        }
        false
    }

    /// `GET /_matrix/app/v1/rooms/{roomAlias}` for an unknown alias.
    pub async fn query_alias(&self, alias: &RoomAliasId) -> bool {
        let registry = self.registry();
        for r in registry.iter().filter(|r| r.url.is_some() && r.owns_alias(alias.as_str())) {
            if self.client.query(r, "rooms", alias.as_str()).await {
                return true;
            }
        }
        false
    }

    /// `GET /thirdparty/protocols`: each protocol an appservice declares,
    /// with the appservice's own description of it (or an empty one).
    pub async fn third_party_protocols(&self) -> Value {
        let mut protocols = serde_json::Map::new();
        let registry = self.registry();
        for r in registry.iter() {
            for protocol in &r.protocols {
                if protocols.contains_key(protocol) {
                    continue;
                }
                let description = self.protocol_of(r, protocol).await;
                protocols.insert(protocol.clone(), description);
            }
        }
        Value::Object(protocols)
    }

    /// `GET /thirdparty/protocol/{protocol}`.
    pub async fn third_party_protocol(&self, protocol: &str) -> Result<Value> {
        let registry = self.registry();
        let Some(r) = registry.iter().find(|r| r.protocols.iter().any(|p| p == protocol)) else {
            return Err(Error::NotFound(format!("no appservice provides the protocol {protocol:?}")));
        };
        Ok(self.protocol_of(r, protocol).await)
    }

    /// The appservice's description of `protocol`, each instance given the
    /// `instance_id` clients pass back as `/publicRooms`'s
    /// `third_party_instance_id` to list that network's rooms.
    async fn protocol_of(&self, r: &Registration, protocol: &str) -> Value {
        match self.client.third_party(r, &["protocol", protocol], &[]).await {
            Ok(mut description @ Value::Object(_)) => {
                if let Some(instances) = description.get_mut("instances").and_then(Value::as_array_mut) {
                    for instance in instances.iter_mut().filter_map(Value::as_object_mut) {
                        if let Some(network_id) = instance.get("network_id").and_then(Value::as_str) {
                            let id = crate::rooms::directory::network_instance_id(&r.id, network_id);
                            instance.insert("instance_id".to_owned(), Value::String(id));
                        }
                    }
                }
                description
            }
            Ok(_) | Err(_) => {
                json!({ "user_fields": [], "location_fields": [], "icon": "", "field_types": {}, "instances": [] })
            }
        }
    }

    /// `GET /thirdparty/{location|user}/{protocol}` (and, with no protocol,
    /// the reverse lookups): the answers of every appservice asked, joined.
    pub async fn third_party_lookup(
        &self,
        kind: &str,
        protocol: Option<&str>,
        query: &[(String, String)],
    ) -> Result<Value> {
        let registry = self.registry();
        let providers: Vec<&Arc<Registration>> = match protocol {
            Some(p) => registry.iter().filter(|r| r.protocols.iter().any(|q| q == p)).collect(),
            None => registry.iter().filter(|r| !r.protocols.is_empty()).collect(),
        };
        if protocol.is_some() && providers.is_empty() {
            return Err(Error::NotFound(format!("no appservice provides the protocol {:?}", protocol.unwrap_or(""))));
        }
        let mut found = Vec::new();
        for r in providers {
            let path: Vec<&str> = match protocol {
                Some(p) => vec![kind, p],
                None => vec![kind],
            };
            match self.client.third_party(r, &path, query).await {
                Ok(Value::Array(items)) => found.extend(items),
                Ok(_) => {}
                Err(e) => tracing::info!(appservice = %r.id, error = %e, "third-party lookup failed"),
            }
        }
        Ok(Value::Array(found))
    }
}

fn read_all(files: &[PathBuf], server_name: &ruma::ServerName) -> std::result::Result<Registry, RegistrationError> {
    let mut list: Vec<Arc<Registration>> = Vec::new();
    for file in files {
        let r = registration::load_file(file, server_name)?;
        let clash = |key: &str, what: &str, other: &Registration| RegistrationError {
            file: r.source.clone(),
            key: key.to_owned(),
            problem: format!("{what} is also used by {}", other.source),
        };
        if let Some(other) = list.iter().find(|o| o.id == r.id) {
            return Err(clash("id", "this id", other));
        }
        if let Some(other) = list.iter().find(|o| o.as_token_hash == r.as_token_hash) {
            return Err(clash("as_token", "this token", other));
        }
        list.push(Arc::new(r));
    }
    Ok(Registry { list })
}
