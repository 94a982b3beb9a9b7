//! Rooms: building, authorising and persisting events, and the services
//! that own a room's data (timeline, state, membership, aliases).
//!
//! Every local event goes through [`Rooms::send`]: under the room's lock it
//! is built on the room's single forward extremity, hashed and signed,
//! checked by ruma's auth rules against the current state (which, for a
//! local event, is also the state before it), and persisted in one atomic
//! batch. The work is a handful of point reads, whatever the room's
//! history.

pub mod aliases;
mod backfill;
mod client_format;
mod content_rules;
mod create;
pub mod directory;
mod discovery;
pub mod hierarchy;
mod incoming;
pub mod membership;
mod membership_actions;
pub mod overview;
pub mod partial_state;
pub mod pdu;
mod placement;
pub mod policy;
pub mod polls;
pub mod power;
mod purge;
mod read;
mod read_relations;
pub mod relations;
mod remote;
mod resident;
mod resolve;
mod search_read;
pub mod server_acl;
pub mod state;
mod state_json;
mod sync_view;
pub mod timeline;
mod upgrade;
pub mod user_directory;
pub mod versions;

use std::collections::HashMap;
use std::sync::Arc;

use nexus_storage::catalog::{ROOM_HEADS, ROOMS};
use nexus_storage::{Store, WriteBatch};
use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue, redact_in_place};
use ruma::events::TimelineEventType;
use ruma::events::room::member::MembershipState;
use ruma::room_version_rules::RoomVersionRules;
use ruma::state_res;
use ruma::{EventId, OwnedDeviceId, OwnedEventId, OwnedServerName, RoomId, RoomVersionId, UserId};
use serde::{Deserialize, Serialize};

pub use create::{CreateRoom, Preset};
pub use incoming::{Checked, encode_path, event_id_of};
pub use nexus_storage::Direction;
pub use placement::Outcome;
pub use policy::{RoomPolicy, StateObserver};
pub use read::{Context, Messages, MessagesQuery, RoomEventFilter};
pub use read_relations::RelatedPage;
pub use remote::RemoteInvite;
pub use search_read::{SearchContext, SearchHit, SearchReader};
pub use state_json::Creators;
pub use sync_view::SyncTimeline;

use self::aliases::Aliases;
use self::membership::{Membership, RoomMembers};
use self::pdu::{Draft, Pdu, Reference};
use self::power::PowerLevels;
use self::relations::{Relations, relation_of};
use self::state::{RoomState, StateIds};
use self::timeline::{StoredEvent, Timeline};
use self::user_directory::UserDirectory;
use crate::account_data::AccountData;
use crate::changes::{Change, Changes};
use crate::federation::client::FederationClient;
use crate::federation::keys::RemoteKeys;
use crate::federation::outbox::{Item, Outbox};
use crate::profiles::Profiles;
use crate::push::{Push, RoomFacts};
use crate::pushers::{Delivery, Pushers};
use crate::server_keys::ServerKeys;
use crate::stream::Stream;
use crate::values::{decode, encode, now_ms};
use crate::{Error, Result};

/// Who an event's commit wakes.
struct Wakeups {
    /// The room's members before the event.
    members: Arc<RoomMembers>,
    /// Whose syncs to wake.
    topics: crate::changes::Topics,
    destinations: Vec<OwnedServerName>,
    notifications: Vec<(ruma::OwnedUserId, crate::push::Notification)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoomRecord {
    version: RoomVersionId,
    created_ts: u64,
}

/// Where a room's DAG ends: what the next event builds on.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoomHead {
    /// `(event id, reference hash)`; one entry while the room is local.
    extremities: Vec<(OwnedEventId, String)>,
    depth: u64,
    /// The state snapshot after the last event.
    snapshot: u64,
    next_snapshot: u64,
    /// About how many entries the current state has (exact at each full
    /// copy; 0 in a head written before this was kept): how often the
    /// room's snapshots are full copies.
    #[serde(default)]
    state_entries: u64,
}

/// An event a local user asks to send.
pub struct NewEvent {
    pub kind: String,
    pub state_key: Option<String>,
    pub content: CanonicalJsonObject,
    pub redacts: Option<OwnedEventId>,
    /// `(device, transaction id)` for `PUT /send` idempotency.
    pub transaction: Option<(OwnedDeviceId, String)>,
    /// `origin_server_ts` chosen by an application service (`?ts=`,
    /// MSC3316), for messages bridged from a network with their own time.
    pub origin_server_ts: Option<u64>,
}

impl NewEvent {
    pub fn state(kind: &str, state_key: &str, content: CanonicalJsonObject) -> Self {
        NewEvent {
            kind: kind.to_owned(),
            state_key: Some(state_key.to_owned()),
            content,
            redacts: None,
            transaction: None,
            origin_server_ts: None,
        }
    }

    /// A redaction of `target`, with the reason given (the room version
    /// decides where `redacts` goes when the event is built).
    pub fn redaction(target: OwnedEventId, reason: Option<&str>) -> Self {
        let mut content = CanonicalJsonObject::new();
        if let Some(reason) = reason {
            content.insert("reason".to_owned(), reason.into());
        }
        NewEvent {
            kind: "m.room.redaction".to_owned(),
            state_key: None,
            content,
            redacts: Some(target),
            transaction: None,
            origin_server_ts: None,
        }
    }
}

pub struct Rooms {
    store: Arc<dyn Store>,
    server_name: OwnedServerName,
    keys: Arc<ServerKeys>,
    profiles: Arc<Profiles>,
    stream: Arc<Stream>,
    changes: Arc<Changes>,
    push: Arc<Push>,
    pushers: Arc<Pushers>,
    account_data: Arc<AccountData>,
    federation: Arc<FederationClient>,
    remote_keys: Arc<RemoteKeys>,
    outbox: Arc<Outbox>,
    /// New direct-message rooms are encrypted (`e2ee.encrypt_direct_messages`).
    encrypt_direct_messages: bool,
    pub timeline: Timeline,
    pub state: RoomState,
    pub membership: Membership,
    pub aliases: Aliases,
    pub relations: Relations,
    pub polls: polls::Polls,
    pub user_directory: UserDirectory,
    /// Set once at start by the layer above (`crate::guilds`); weak, as that
    /// layer holds the rooms service.
    policy: std::sync::OnceLock<std::sync::Weak<dyn RoomPolicy>>,
    /// Services told of every state event written (weak, as they hold the
    /// rooms service).
    state_observers: std::sync::RwLock<Vec<std::sync::Weak<dyn StateObserver>>>,
    /// Set once at start: events concerning an application service join
    /// its queue in the batch that persists them.
    appservices: std::sync::OnceLock<Arc<crate::appservice::Appservices>>,
    /// Set once at start: events search must look at join its feed in the
    /// batch that persists them.
    search_feed: std::sync::OnceLock<Arc<crate::search::feed::Feed>>,
    /// Suspended accounts may not join, invite or send (spec: "Account
    /// suspension").
    moderation: Arc<crate::moderation::Moderation>,
    /// Rooms joined with partial state, until their state is complete.
    partial_states: partial_state::PartialStates,
}

/// What a shadow-banned sender is told its dropped event is called: shaped
/// like a real event id (room version 4 and later), known to nobody.
fn shadow_event_id() -> OwnedEventId {
    let id = crate::values::random_string(crate::values::ALPHANUMERIC, 43);
    OwnedEventId::try_from(format!("${id}")).expect("a valid event id")
}

fn room_lock(room_id: &RoomId) -> Vec<u8> {
    format!("room:{room_id}").into_bytes()
}

impl Rooms {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        server_name: OwnedServerName,
        keys: Arc<ServerKeys>,
        profiles: Arc<Profiles>,
        stream: Arc<Stream>,
        changes: Arc<Changes>,
        push: Arc<Push>,
        pushers: Arc<Pushers>,
        account_data: Arc<AccountData>,
        federation: (Arc<FederationClient>, Arc<RemoteKeys>, Arc<Outbox>),
        encrypt_direct_messages: bool,
        moderation: Arc<crate::moderation::Moderation>,
    ) -> Self {
        let (federation, remote_keys, outbox) = federation;
        Rooms {
            federation,
            remote_keys,
            outbox,
            account_data,
            encrypt_direct_messages,
            stream,
            changes,
            push,
            pushers,
            timeline: Timeline::new(store.clone()),
            state: RoomState::new(store.clone()),
            membership: Membership::new(store.clone(), server_name.clone()),
            aliases: Aliases::new(store.clone(), server_name.clone()),
            relations: Relations::new(store.clone()),
            polls: polls::Polls::new(store.clone()),
            user_directory: UserDirectory::new(store.clone()),
            policy: std::sync::OnceLock::new(),
            state_observers: std::sync::RwLock::new(Vec::new()),
            appservices: std::sync::OnceLock::new(),
            search_feed: std::sync::OnceLock::new(),
            moderation,
            partial_states: partial_state::PartialStates::new(store.clone()),
            store,
            server_name,
            keys,
            profiles,
        }
    }

    /// Installs the room policy (once; later calls are ignored).
    pub fn set_policy(&self, policy: std::sync::Weak<dyn RoomPolicy>) {
        let _ = self.policy.set(policy);
    }

    /// Adds a service told of every state event written.
    pub fn observe_state(&self, observer: std::sync::Weak<dyn StateObserver>) {
        self.state_observers.write().expect("state observers poisoned").push(observer);
    }

    fn tell_state_observers(&self, room_id: &RoomId, pdu: &Pdu) {
        let observers = self.state_observers.read().expect("state observers poisoned");
        for observer in observers.iter().filter_map(std::sync::Weak::upgrade) {
            observer.state_written(room_id, pdu);
        }
    }

    /// Installs the application services (once; later calls are ignored).
    pub fn set_appservices(&self, appservices: Arc<crate::appservice::Appservices>) {
        let _ = self.appservices.set(appservices);
    }

    /// Installs the search feed (once; later calls are ignored).
    pub fn set_search_feed(&self, feed: Arc<crate::search::feed::Feed>) {
        let _ = self.search_feed.set(feed);
    }

    /// Adds an event persisted in `batch` to the search feed.
    fn queue_for_search(&self, batch: &mut WriteBatch, ordering: u64, kind: &str, event_id: &EventId) {
        if let Some(feed) = self.search_feed.get() {
            feed.enqueue_event(batch, ordering, kind, event_id);
        }
    }

    fn policy(&self) -> Option<Arc<dyn RoomPolicy>> {
        self.policy.get().and_then(std::sync::Weak::upgrade)
    }

    async fn record(&self, room_id: &RoomId) -> Result<Option<RoomRecord>> {
        let bytes = self.store.get(&ROOMS, room_id.as_str().as_bytes()).await?;
        bytes.map(|b| decode(&ROOMS, &b)).transpose()
    }

    /// The room's version, or `None` for a room this server does not have.
    pub async fn version(&self, room_id: &RoomId) -> Result<Option<RoomVersionId>> {
        Ok(self.record(room_id).await?.map(|r| r.version))
    }

    async fn rules_of(&self, room_id: &RoomId) -> Result<RoomVersionRules> {
        let version = self.version(room_id).await?.ok_or_else(|| unknown_room(room_id))?;
        versions::rules(&version)
    }

    async fn head(&self, room_id: &RoomId) -> Result<RoomHead> {
        let bytes = self.store.get(&ROOM_HEADS, room_id.as_str().as_bytes()).await?;
        let bytes =
            bytes.ok_or_else(|| nexus_storage::Error::corrupt(ROOM_HEADS.name, format!("no head for {room_id}")))?;
        decode(&ROOM_HEADS, &bytes)
    }

    /// The events nothing in the room refers to yet (the next event's
    /// `prev_events`); empty for a room this server does not hold.
    pub async fn forward_extremities(&self, room_id: &RoomId) -> Result<Vec<OwnedEventId>> {
        if self.record(room_id).await?.is_none() {
            return Ok(Vec::new());
        }
        Ok(self.head(room_id).await?.extremities.into_iter().map(|(event_id, _)| event_id).collect())
    }

    /// The PDU of a stored event.
    pub async fn pdu(&self, event_id: &EventId, rules: &RoomVersionRules) -> Result<Option<(Pdu, StoredEvent)>> {
        let Some(stored) = self.timeline.get(event_id).await? else { return Ok(None) };
        let pdu = Pdu::from_canonical(&stored.object()?, event_id.to_owned(), rules)?;
        Ok(Some((pdu, stored)))
    }

    async fn state_pdu(
        &self,
        room_id: &RoomId,
        kind: &str,
        key: &str,
        rules: &RoomVersionRules,
    ) -> Result<Option<Pdu>> {
        let Some(event_id) = self.state.get(room_id, kind, key).await? else { return Ok(None) };
        Ok(self.pdu(&event_id, rules).await?.map(|(pdu, _)| pdu))
    }

    /// The content of a current state event, if the room has one.
    pub(super) async fn current_state_content(
        &self,
        room_id: &RoomId,
        kind: &str,
        key: &str,
    ) -> Result<Option<CanonicalJsonObject>> {
        let Some(event_id) = self.state.get(room_id, kind, key).await? else { return Ok(None) };
        let Some(stored) = self.timeline.get(&event_id).await? else { return Ok(None) };
        Ok(match stored.object()?.remove("content") {
            Some(CanonicalJsonValue::Object(content)) => Some(content),
            _ => None,
        })
    }

    /// The power levels in force now.
    pub async fn power_levels(&self, room_id: &RoomId) -> Result<PowerLevels> {
        let rules = self.rules_of(room_id).await?;
        let create = self
            .state_pdu(room_id, "m.room.create", "", &rules)
            .await?
            .ok_or_else(|| Error::Internal(format!("{room_id} has no create event")))?;
        let levels = self.state_pdu(room_id, "m.room.power_levels", "", &rules).await?.map(|p| p.content_json());
        Ok(PowerLevels::new(&rules.authorization, &create.sender, &create.content_json(), levels))
    }

    /// Builds, authorises and persists a local event. Returns its id (the
    /// earlier one, for a repeated transaction).
    pub async fn send(&self, room_id: &RoomId, sender: &UserId, event: NewEvent) -> Result<OwnedEventId> {
        self.send_as(room_id, sender, event, true).await
    }

    /// Sends an event the server writes for `sender` on its own initiative
    /// (a thread archived for inactivity, a scheduled event starting): the
    /// same checks as [`Rooms::send`], but it is not the user's reading, so
    /// their read positions (and unread counts) stay where they were.
    pub async fn send_automatic(&self, room_id: &RoomId, sender: &UserId, event: NewEvent) -> Result<OwnedEventId> {
        self.send_as(room_id, sender, event, false).await
    }

    async fn send_as(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        event: NewEvent,
        sender_reads: bool,
    ) -> Result<OwnedEventId> {
        let _guard = self.store.lock(&room_lock(room_id)).await?;
        let transaction = event.transaction.as_ref().map(|(device, txn_id)| {
            // A transaction id is scoped to the device and the endpoint: the
            // same id in another room or for another event type is another
            // request.
            (device.clone(), format!("{room_id}\u{0}{}\u{0}{txn_id}", event.kind))
        });
        if let Some((device, scoped)) = &transaction
            && let Some(existing) = self.timeline.transaction(sender.localpart(), device, scoped).await?
        {
            return Ok(existing);
        }
        let record = self.record(room_id).await?.ok_or_else(|| unknown_room(room_id))?;
        let rules = versions::rules(&record.version)?;
        if event.kind == "m.room.create" {
            return Err(Error::Forbidden("a room has exactly one create event".to_owned()));
        }
        let mut event = event;
        // A redaction may arrive through /send with `redacts` in its
        // content, in every room version (spec: "Redactions").
        if event.kind == "m.room.redaction" && event.redacts.is_none() {
            let target = event.content.get("redacts").and_then(|v| v.as_str()).map(EventId::parse).transpose();
            event.redacts = target.map_err(|e| Error::BadJson(format!("redacts: {e}")))?;
        }
        let restrictions = self.moderation.restrictions(sender).await?;
        if restrictions.suspended {
            self.refuse_if_suspended(sender, &event, &rules).await?;
        }
        if restrictions.shadow_banned && event.kind != "m.room.member" {
            return Ok(shadow_event_id());
        }
        if let Some(target) = &event.redacts {
            self.check_redaction(room_id, sender, target, &rules).await?;
        }
        if event.content.contains_key("m.relates_to") {
            let content = serde_json::Value::from(CanonicalJsonValue::Object(event.content.clone()));
            self.refuse_duplicate_annotation(room_id, sender, &event.kind, &content).await?;
        }
        if event.state_key.is_some() {
            content_rules::check(&event.kind, &event.content, &rules.authorization)?;
        }
        if let Some(policy) = self.policy() {
            policy.check(room_id, sender, &event).await?;
        }
        let head = self.head(room_id).await?;

        let content_raw = serde_json::value::to_raw_value(&event.content).map_err(|e| Error::BadJson(e.to_string()))?;
        let kind = TimelineEventType::from(event.kind.as_str());
        let auth_types = state_res::auth_types_for_event(
            &kind,
            sender,
            event.state_key.as_deref(),
            &content_raw,
            &rules.authorization,
        )
        .map_err(|e| Error::BadJson(format!("invalid event: {e}")))?;
        // The auth events are the current state's events of those types;
        // for a local event the current state is the state before it.
        let mut auth_pdus: HashMap<OwnedEventId, Pdu> = HashMap::new();
        let mut auth_refs = Vec::new();
        for (kind, key) in auth_types {
            let Some(event_id) = self.state.get(room_id, &kind.to_string(), &key).await? else { continue };
            let (pdu, stored) = self
                .pdu(&event_id, &rules)
                .await?
                .ok_or_else(|| Error::Internal(format!("state event {event_id} is missing")))?;
            auth_refs.push(Reference { event_id: event_id.clone(), reference_hash: stored.reference_hash });
            auth_pdus.insert(event_id, pdu);
        }
        let create = self
            .state_pdu(room_id, "m.room.create", "", &rules)
            .await?
            .ok_or_else(|| Error::Internal(format!("{room_id} has no create event")))?;

        let prev_events = head
            .extremities
            .iter()
            .map(|(event_id, hash)| Reference { event_id: event_id.clone(), reference_hash: hash.clone() })
            .collect();
        let draft = Draft {
            room_id: Some(room_id),
            sender,
            kind: &event.kind,
            state_key: event.state_key.as_deref(),
            content: event.content,
            prev_events,
            auth_events: auth_refs,
            depth: head.depth + 1,
            redacts: event.redacts.as_deref(),
            origin_server_ts: event
                .origin_server_ts
                .map(|ts| ruma::MilliSecondsSinceUnixEpoch(ruma::UInt::new_saturating(ts))),
        };
        let built = pdu::build(draft, &rules, &self.server_name, self.keys.key_pair())?;
        state_res::check_pdu_format(&built.json, &rules.event_format)
            .map_err(|e| Error::BadJson(format!("the event is malformed: {e}")))?;
        let pdu = Pdu::from_canonical(&built.json, built.event_id.clone(), &rules)?;
        authorize(&rules, &pdu, &create, &auth_pdus)?;
        // An invite of another server's user is countersigned by that
        // server before it exists (spec: "Inviting to a room").
        let built = match self.remote_invitee(&pdu) {
            Some(invitee) => self.exchange_invite(room_id, &record.version, &rules, built, &invitee).await?,
            None => built,
        };

        self.persist(room_id, &rules, head, built, &pdu, event.transaction, transaction, (sender, sender_reads))
            .await?;
        Ok(pdu.event_id)
    }

    /// The spec's "Avoiding duplicate annotations": one live annotation per
    /// sender, event type and key on an event.
    async fn refuse_duplicate_annotation(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        kind: &str,
        content: &serde_json::Value,
    ) -> Result<()> {
        let Some((rel_type, parent)) = relation_of(content) else { return Ok(()) };
        let Some(key) = relations::annotation_key(content).filter(|_| rel_type == relations::ANNOTATION) else {
            return Ok(());
        };
        let annotation = relations::Annotation { parent: &parent, kind, key, sender };
        if self.relations.existing_annotation(room_id, &annotation).await?.is_some() {
            return Err(Error::DuplicateAnnotation(
                "you already annotated that event with this key; redact the first to send it again".to_owned(),
            ));
        }
        Ok(())
    }

    /// A redaction of someone else's event needs the `redact` power level;
    /// its target must be in the same room.
    /// A suspended account may still leave and redact its own events;
    /// nothing else it sends is written (spec: "Account suspension").
    async fn refuse_if_suspended(&self, sender: &UserId, event: &NewEvent, rules: &RoomVersionRules) -> Result<()> {
        let own_leave = event.kind == "m.room.member"
            && event.state_key.as_deref() == Some(sender.as_str())
            && matches!(event.content.get("membership"), Some(CanonicalJsonValue::String(m)) if m == "leave");
        let own_redaction = match &event.redacts {
            Some(target) => self.pdu(target, rules).await?.is_some_and(|(pdu, _)| pdu.sender == sender),
            None => false,
        };
        if own_leave || own_redaction {
            return Ok(());
        }
        Err(Error::UserSuspended(format!("Your account is suspended: you may not send {}", event.kind)))
    }

    async fn check_redaction(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        target: &EventId,
        rules: &RoomVersionRules,
    ) -> Result<()> {
        let Some((target_pdu, stored)) = self.pdu(target, rules).await? else {
            return Err(Error::NotFound("the event to redact does not exist".to_owned()));
        };
        if stored.room_id != room_id {
            return Err(Error::NotFound("the event to redact is not in this room".to_owned()));
        }
        if target_pdu.sender != sender {
            let power = self.power_levels(room_id).await?;
            if power.user(sender) < power.action("redact") {
                return Err(Error::Forbidden("you may not redact other users' events".to_owned()));
            }
        }
        Ok(())
    }

    /// Writes an authorised event and everything it changes, atomically.
    #[allow(clippy::too_many_arguments)]
    async fn persist(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        head: RoomHead,
        built: pdu::Built,
        pdu: &Pdu,
        transaction: Option<(OwnedDeviceId, String)>,
        scoped_transaction: Option<(OwnedDeviceId, String)>,
        (sender, sender_reads): (&UserId, bool),
    ) -> Result<()> {
        let reservation = self.stream.reserve().await?;
        let stream_ordering = reservation.ordering;
        let mut batch = WriteBatch::new();
        let mut snapshot = head.snapshot;
        let mut next_snapshot = head.next_snapshot;
        let mut state_entries = head.state_entries;
        let mut replaces_state = None;
        if let Some(state_key) = &pdu.state_key {
            snapshot = next_snapshot;
            next_snapshot += 1;
            let kind = pdu.kind.to_string();
            replaces_state = self.state.get(room_id, &kind, state_key).await?;
            state_entries += u64::from(replaces_state.is_none());
            let state_after =
                self.state_after(room_id, snapshot, state_entries, (&kind, state_key, &pdu.event_id)).await?;
            if let Some(state) = &state_after {
                state_entries = state.len() as u64;
            }
            self.state.apply(
                &mut batch,
                room_id,
                Some(head.snapshot),
                snapshot,
                (&kind, state_key, &pdu.event_id),
                state_after.as_ref(),
            );
            if pdu.kind == TimelineEventType::RoomMember {
                self.apply_membership(&mut batch, room_id, pdu, state_key).await?;
            }
        }
        if let Some(target) = &pdu.redacts {
            self.apply_redaction(&mut batch, rules, target, &pdu.event_id).await?;
        }
        self.index_relation(&mut batch, room_id, pdu, stream_ordering).await?;
        let stored = StoredEvent {
            json: serde_json::to_string(&built.json).map_err(|e| Error::Internal(e.to_string()))?,
            room_id: room_id.to_owned(),
            stream_ordering,
            state_snapshot: snapshot,
            reference_hash: built.reference_hash.clone(),
            redacted_by: None,
            transaction: transaction.as_ref().map(|(d, t)| (d.to_string(), t.clone())),
            outlier: false,
            replaces_state,
        };
        self.timeline.append(&mut batch, &pdu.event_id, &stored, pdu.origin_server_ts.get().into());
        self.timeline.bump(&mut batch, room_id, stream_ordering, &pdu.kind.to_string());
        if let Some((device, scoped)) = &scoped_transaction {
            self.timeline.record_transaction(&mut batch, sender.localpart(), device, scoped, &pdu.event_id);
        }
        let head = RoomHead {
            extremities: vec![(pdu.event_id.clone(), built.reference_hash)],
            depth: pdu.depth,
            snapshot,
            next_snapshot,
            state_entries,
        };
        batch.put(&ROOM_HEADS, room_id.as_str().as_bytes(), encode(&head));
        // The members before this event (the index is updated in the same
        // batch, after this read).
        let members = self.membership.room_members(room_id).await?;
        let topics = self.record_change(&mut batch, room_id, &members, pdu, stream_ordering).await?;
        let notifications =
            self.evaluate_push(&mut batch, room_id, rules, &built.json, pdu, stream_ordering, &members).await?;
        let destinations = self.destinations(&members, pdu, None, self.partial_state_servers(room_id).await?);
        if !destinations.is_empty() {
            let item = Item::Pdu(serde_json::Value::from(ruma::CanonicalJsonValue::Object(built.json.clone())));
            self.outbox.enqueue(&mut batch, &destinations, stream_ordering, &item);
        }
        // Sending is reading: the sender has seen everything up to here.
        if sender_reads {
            self.push.mark_read(&mut batch, sender, room_id, None, stream_ordering).await?;
        }
        let wakeups = Wakeups { members, topics, destinations, notifications };
        self.commit_event(batch, reservation, pdu, &built.json, wakeups, stored.replaces_state.as_ref()).await
    }

    /// Writes an event's batch, then tells whoever waits on it: syncs, the
    /// other servers' senders, push gateways.
    async fn commit_event(
        &self,
        batch: WriteBatch,
        reservation: crate::stream::Reservation,
        pdu: &Pdu,
        json: &CanonicalJsonObject,
        wakeups: Wakeups,
        replaces_state: Option<&OwnedEventId>,
    ) -> Result<()> {
        let mut batch = batch;
        let policy = self.policy();
        let room_id = pdu.room_id.clone();
        if let (Some(policy), Some(room_id)) = (&policy, &room_id) {
            policy.persisting(&mut batch, room_id, pdu);
        }
        self.queue_for_search(&mut batch, reservation.ordering, &pdu.kind.to_string(), &pdu.event_id);
        let appservices = self.appservices.get();
        let mut for_appservices = Vec::new();
        if let (Some(appservices), Some(room_id)) = (appservices, &room_id) {
            // The event as appservices get it: client format, with what it replaced.
            let mut event = client_format::for_appservice(json, &pdu.event_id, room_id);
            if let Some(replaced) = replaces_state {
                self.add_prev_content(&mut event, replaced).await?;
            }
            for_appservices =
                self.queue_for_appservices(appservices, &mut batch, room_id, pdu, &event, &wakeups).await?;
        }
        self.store.write(batch).await?;
        metrics::counter!(crate::metric_names::EVENTS_PERSISTED).increment(1);
        if let Some(appservices) = appservices {
            appservices.wake(&for_appservices);
        }
        if let Some(feed) = self.search_feed.get() {
            feed.wake();
        }
        if let (Some(policy), Some(room_id)) = (&policy, &room_id) {
            policy.persisted(room_id, pdu);
        }
        if let (Some(room_id), Some(_)) = (&room_id, &pdu.state_key) {
            self.tell_state_observers(room_id, pdu);
        }
        if let Some(target) = &pdu.redacts {
            self.timeline.forget(target);
        }
        drop(reservation);
        self.outbox.wake(&wakeups.destinations);
        self.changes.wake_topics(&wakeups.topics);
        let event = serde_json::Value::from(ruma::CanonicalJsonValue::Object(json.clone()));
        for (user, notification) in wakeups.notifications {
            self.pushers.enqueue(Delivery { user, notification, event: event.clone() }).await;
        }
        Ok(())
    }

    /// Adds the event to the queues of the application services it
    /// concerns; returns their ids.
    async fn queue_for_appservices(
        &self,
        appservices: &crate::appservice::Appservices,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        pdu: &Pdu,
        event: &serde_json::Value,
        wakeups: &Wakeups,
    ) -> Result<Vec<String>> {
        if appservices.registry().iter().next().is_none() {
            return Ok(Vec::new());
        }
        let aliases = if appservices.wants_aliases() { self.aliases.of_room(room_id).await? } else { Vec::new() };
        let state_key_user = match pdu.kind {
            TimelineEventType::RoomMember => pdu.state_key.as_deref().and_then(|k| UserId::parse(k).ok()),
            _ => None,
        };
        let facts = crate::appservice::EventFacts {
            room_id,
            sender: &pdu.sender,
            state_key_user: state_key_user.as_deref(),
            members: wakeups.members.local_joined(),
        };
        let mut woken = appservices.persisting(batch, &facts, &aliases, event).await?;
        let membership = pdu.content_json()["membership"].as_str().map(str::to_owned);
        if let Some(departed) = state_key_user.as_deref()
            && matches!(membership.as_deref(), Some("leave" | "ban"))
        {
            woken.extend(self.device_lists_left(appservices, batch, room_id, departed).await?);
        }
        Ok(woken)
    }

    /// MSC3202 `device_lists.left`: who stops sharing a room with an
    /// appservice's users when `departed` leaves `room_id` — `departed`, if
    /// no other room of theirs has one of its users; or, when `departed` was
    /// the appservice's last user in the room, each member who now shares
    /// no room with its users. Read before the departure is written, so
    /// `room_id` is left out of every "other room".
    async fn device_lists_left(
        &self,
        appservices: &crate::appservice::Appservices,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        departed: &UserId,
    ) -> Result<Vec<String>> {
        let tracking = appservices.tracking_device_lists();
        if tracking.is_empty() {
            return Ok(Vec::new());
        }
        let remaining: Vec<ruma::OwnedUserId> = self
            .membership
            .members(room_id)
            .await?
            .into_iter()
            .filter(|(user, membership)| *membership == MembershipState::Join && user != departed)
            .map(|(user, _)| user)
            .collect();
        let mut woken = Vec::new();
        for r in &tracking {
            let ids = std::slice::from_ref(&r.id);
            if r.owns_user(departed) {
                if remaining.iter().any(|m| r.owns_user(m)) {
                    continue;
                }
                for member in remaining.iter().filter(|m| !r.owns_user(m)) {
                    if !self.shares_a_room_with(member, r, room_id).await? {
                        woken.extend(appservices.device_list_left(batch, member, ids).await?);
                    }
                }
            } else if remaining.iter().any(|m| r.owns_user(m)) && !self.shares_a_room_with(departed, r, room_id).await?
            {
                woken.extend(appservices.device_list_left(batch, departed, ids).await?);
            }
        }
        Ok(woken)
    }

    /// Whether `user` is joined to a room other than `except` with one of
    /// the appservice's users.
    async fn shares_a_room_with(
        &self,
        user: &UserId,
        appservice: &crate::appservice::registration::Registration,
        except: &RoomId,
    ) -> Result<bool> {
        for room in self.membership.rooms_of(user, &MembershipState::Join).await? {
            if room == except {
                continue;
            }
            let members = self.membership.members(&room).await?;
            if members.iter().any(|(m, state)| *state == MembershipState::Join && appservice.owns_user(m)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Adds an event's relation (if it has one) to `batch`.
    async fn index_relation(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        pdu: &Pdu,
        stream_ordering: u64,
    ) -> Result<()> {
        let content = pdu.content_json();
        if let Some((rel_type, parent)) = relation_of(&content) {
            let kind = pdu.kind.to_string();
            self.relations
                .index(batch, room_id, &pdu.event_id, &kind, &pdu.sender, &rel_type, &parent, stream_ordering)
                .await?;
            if let Some(key) = relations::annotation_key(&content) {
                let annotation = relations::Annotation { parent: &parent, kind: &kind, key, sender: &pdu.sender };
                self.relations.index_annotation(batch, room_id, &annotation, &pdu.event_id);
            }
        }
        self.tally_poll(batch, room_id, pdu).await
    }

    /// Runs the joined local members' push rules on a new event.
    #[allow(clippy::too_many_arguments)]
    async fn evaluate_push(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        json: &CanonicalJsonObject,
        pdu: &Pdu,
        stream_ordering: u64,
        members: &RoomMembers,
    ) -> Result<Vec<(ruma::OwnedUserId, crate::push::Notification)>> {
        // An invitee is notified of their invite.
        let invitee = (pdu.kind == TimelineEventType::RoomMember)
            .then(|| pdu.state_key.as_deref().and_then(|k| UserId::parse(k).ok()))
            .flatten()
            .filter(|target| target.server_name() == self.server_name && !members.is_local_joined(target));
        // Nobody else to notify (the sender is never notified): the room's
        // facts need not be read.
        if invitee.is_none() && members.local_joined().iter().all(|user| *user == pdu.sender) {
            return Ok(Vec::new());
        }
        let facts = RoomFacts {
            member_count: members.joined_count as u64,
            power_levels: Some(self.power_levels(room_id).await?.push_context(&rules.authorization)),
        };
        let thread = self.thread_of(&pdu.content_json()).await?;
        let recipients = crate::push::Recipients { joined: members.local_joined(), invitee: invitee.as_deref() };
        self.push.evaluate(batch, room_id, &pdu.event_id, json, stream_ordering, recipients, &facts, thread).await
    }

    /// The thread an event belongs to: the root it replies to, or the thread
    /// of the event it relates to (a reaction to a thread reply is in the
    /// thread).
    async fn thread_of(&self, content: &serde_json::Value) -> Result<Option<OwnedEventId>> {
        let Some((rel_type, parent)) = relation_of(content) else { return Ok(None) };
        if rel_type == relations::THREAD {
            return Ok(Some(parent));
        }
        let Some(stored) = self.timeline.get(&parent).await? else { return Ok(None) };
        let parent_content =
            stored.object()?.remove("content").map(serde_json::Value::from).unwrap_or(serde_json::Value::Null);
        Ok(relation_of(&parent_content).filter(|(t, _)| t == relations::THREAD).map(|(_, root)| root))
    }

    /// Records an event in the change feed of the local users it concerns:
    /// the room's joined members (`members`: before the event) and the
    /// target of a membership change (an invitee, a user who leaves or is
    /// kicked). Returns whose syncs to wake.
    async fn record_change(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        members: &RoomMembers,
        pdu: &Pdu,
        ordering: u64,
    ) -> Result<crate::changes::Topics> {
        let target = (pdu.kind == TimelineEventType::RoomMember)
            .then(|| pdu.state_key.as_deref().and_then(|k| UserId::parse(k).ok()))
            .flatten()
            .filter(|target| target.server_name() == self.server_name);
        let concerned: Vec<(&UserId, bool)> =
            target.iter().map(|t| (t.as_ref(), membership_of(pdu) == MembershipState::Join)).collect();
        let change = Change::Room(room_id.to_owned());
        self.changes.record_in_room(batch, room_id, members.local_joined(), &concerned, ordering, &change).await
    }

    /// The full state after a change, when the new snapshot is a full
    /// copy (of a state of about `entries` entries); otherwise none: the
    /// change suffices.
    async fn state_after(
        &self,
        room_id: &RoomId,
        snapshot: u64,
        entries: u64,
        change: (&str, &str, &OwnedEventId),
    ) -> Result<Option<StateIds>> {
        if !state::is_checkpoint(snapshot, entries) {
            return Ok(None);
        }
        let mut state = self.state.current(room_id).await?;
        state.insert((change.0.to_owned(), change.1.to_owned()), change.2.clone());
        Ok(Some(state))
    }

    /// The indexes a member event changes: who is in the room, and (for a
    /// join) how the user directory finds them.
    async fn apply_membership(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        pdu: &Pdu,
        state_key: &str,
    ) -> Result<()> {
        let target = UserId::parse(state_key).map_err(|e| Error::BadJson(format!("member state key: {e}")))?;
        let content = pdu.content_json();
        let membership: MembershipState =
            serde_json::from_value(content.get("membership").cloned().unwrap_or(serde_json::Value::Null))
                .map_err(|e| Error::BadJson(format!("membership: {e}")))?;
        self.membership.set(batch, room_id, &target, &membership).await?;
        if target.server_name() == self.server_name {
            let joined = membership == MembershipState::Join;
            self.changes.note_membership(batch, room_id, &target, joined).await?;
        }
        if membership == MembershipState::Join {
            let text = |field: &str| content.get(field).and_then(|v| v.as_str()).map(str::to_owned);
            let (name, avatar) = (text("displayname"), text("avatar_url"));
            self.user_directory.record(batch, &target, name.as_deref(), avatar.as_deref()).await?;
        }
        Ok(())
    }

    /// Servers keep only the redacted form of a redacted event: its content
    /// is gone for good.
    async fn apply_redaction(
        &self,
        batch: &mut WriteBatch,
        rules: &RoomVersionRules,
        target: &EventId,
        redaction: &EventId,
    ) -> Result<()> {
        let Some(mut stored) = self.timeline.get(target).await? else { return Ok(()) };
        let mut object = stored.object()?;
        if stored.redacted_by.is_none() {
            self.untally_poll(batch, &stored.room_id, target, &object).await?;
        }
        let content = object.get("content").cloned().map(serde_json::Value::from).unwrap_or_default();
        if let Some((rel_type, parent)) = relation_of(&content) {
            self.relations.unindex(batch, &stored.room_id, &rel_type, &parent, stored.stream_ordering).await?;
            let kind = object.get("type").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let sender = object.get("sender").and_then(|v| v.as_str()).and_then(|s| UserId::parse(s).ok());
            if let (Some(key), Some(sender)) = (relations::annotation_key(&content), sender) {
                let annotation = relations::Annotation { parent: &parent, kind: &kind, key, sender: &sender };
                self.relations.unindex_annotation(batch, &stored.room_id, &annotation);
            }
        }
        redact_in_place(&mut object, &rules.redaction, None).map_err(|e| Error::Internal(format!("redaction: {e}")))?;
        stored.json = serde_json::to_string(&object).map_err(|e| Error::Internal(e.to_string()))?;
        stored.redacted_by = Some(redaction.to_owned());
        self.timeline.replace(batch, target, &stored);
        Ok(())
    }

    /// The user's membership now, from the index.
    pub async fn membership_of(&self, room_id: &RoomId, user_id: &UserId) -> Result<Option<MembershipState>> {
        self.membership.of(room_id, user_id).await
    }

    /// The display name and avatar a member event of `user` carries.
    async fn member_profile(&self, user: &UserId) -> (Option<String>, Option<String>) {
        match self.profiles.get(user).await {
            Ok(profile) => (
                profile.get("displayname").and_then(|v| v.as_str()).map(str::to_owned),
                profile.get("avatar_url").and_then(|v| v.as_str()).map(str::to_owned),
            ),
            Err(_) => (None, None),
        }
    }

    fn created_now() -> u64 {
        now_ms()
    }

    /// The room's joined members on this server.
    pub async fn local_members(&self, room_id: &RoomId) -> Result<Vec<ruma::OwnedUserId>> {
        Ok(self.membership.room_members(room_id).await?.local_joined().to_vec())
    }

    pub fn server_name(&self) -> &ruma::ServerName {
        &self.server_name
    }
}

fn unknown_room(room_id: &RoomId) -> Error {
    Error::Forbidden(format!("this server does not know the room {room_id}, or you are not in it"))
}

/// Runs ruma's auth rules on a local event: against its auth events (which
/// are the current state's events of the types it needs).
fn authorize(rules: &RoomVersionRules, pdu: &Pdu, create: &Pdu, auth_pdus: &HashMap<OwnedEventId, Pdu>) -> Result<()> {
    check_independent(rules, pdu, create, auth_pdus)?;
    authorize_against(rules, pdu, create, auth_pdus)
}

fn forbidden(reason: String) -> Error {
    Error::Forbidden(format!("the event is not allowed: {reason}"))
}

/// The auth rules that need only the event and its own auth events.
pub(crate) fn check_independent(
    rules: &RoomVersionRules,
    pdu: &Pdu,
    create: &Pdu,
    auth_events: &HashMap<OwnedEventId, Pdu>,
) -> Result<()> {
    let fetch = |id: &EventId| {
        if id == create.event_id { Some(create.clone()) } else { auth_events.get(id).cloned() }
    };
    state_res::check_state_independent_auth_rules(&rules.authorization, pdu, fetch).map_err(forbidden)
}

/// The auth rules that read the room's state, with `state_events` (keyed by
/// id) as that state.
pub(crate) fn authorize_against(
    rules: &RoomVersionRules,
    pdu: &Pdu,
    create: &Pdu,
    state_events: &HashMap<OwnedEventId, Pdu>,
) -> Result<()> {
    let mut state: HashMap<(String, String), &Pdu> = HashMap::new();
    for event in state_events.values() {
        state.insert((event.kind.to_string(), event.state_key.clone().unwrap_or_default()), event);
    }
    // Room version 12 leaves the create event out of auth_events, but the
    // rules still read it.
    state.insert(("m.room.create".to_owned(), String::new()), create);
    state_res::check_state_dependent_auth_rules(&rules.authorization, pdu, |kind, key| {
        state.get(&(kind.to_string(), key.to_owned())).map(|p| (*p).clone())
    })
    .map_err(forbidden)
}

#[cfg(test)]
mod tests;

/// The membership a member event sets (leave when it says nothing valid).
fn membership_of(pdu: &Pdu) -> MembershipState {
    pdu.content_json()
        .get("membership")
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or(MembershipState::Leave)
}
