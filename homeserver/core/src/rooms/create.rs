//! `POST /createRoom`: the create event, then the spec's sequence of
//! initial events, each through the normal send path.

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::room_version_rules::RoomIdFormatVersion;
use ruma::{MilliSecondsSinceUnixEpoch, OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomId, RoomVersionId, UserId};
use serde_json::json;

use super::pdu::{self, Draft, Pdu};
use super::state::StateIds;
use super::timeline::StoredEvent;
use super::{NewEvent, RoomHead, RoomRecord, Rooms, room_lock, versions};
use crate::changes::Change;
use crate::values::encode;
use crate::{Error, Result};
use nexus_storage::WriteBatch;
use nexus_storage::catalog::{ROOM_HEADS, ROOMS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    PrivateChat,
    TrustedPrivateChat,
    PublicChat,
}

/// What a client asked of `POST /createRoom`, already parsed.
#[derive(Debug, Default)]
pub struct CreateRoom {
    pub room_version: Option<RoomVersionId>,
    pub creation_content: Option<CanonicalJsonObject>,
    /// `(type, state_key, content)`.
    pub initial_state: Vec<(String, String, CanonicalJsonObject)>,
    pub preset: Option<Preset>,
    pub public: bool,
    pub invite: Vec<OwnedUserId>,
    pub is_direct: bool,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub alias: Option<OwnedRoomAliasId>,
    pub power_level_content_override: Option<CanonicalJsonObject>,
    /// An application service asked (with its token, for itself or one of
    /// its users). It holds no Olm device unless it brings one, and then it
    /// puts `m.room.encryption` in `initial_state` itself (as mautrix does),
    /// so a direct room it makes is not encrypted by default: its messages
    /// would arrive in plaintext in a room that claims otherwise.
    pub by_appservice: bool,
}

fn object(value: serde_json::Value) -> CanonicalJsonObject {
    match CanonicalJsonValue::try_from(value) {
        Ok(CanonicalJsonValue::Object(o)) => o,
        _ => unreachable!("literal JSON objects below are canonical"),
    }
}

impl Rooms {
    pub async fn create_room(&self, creator: &UserId, request: CreateRoom) -> Result<OwnedRoomId> {
        self.moderation.refuse_if_suspended(creator, "create rooms").await?;
        let version = request.room_version.clone().unwrap_or(versions::DEFAULT);
        let rules = versions::rules(&version)?;
        let preset = request.preset.unwrap_or(if request.public { Preset::PublicChat } else { Preset::PrivateChat });
        // Other servers' invitees are checked by their server when the
        // invite is countersigned.
        for invitee in request.invite.iter().filter(|i| i.server_name() == self.server_name) {
            if !self.local_user_exists(invitee).await {
                return Err(Error::NotFound(format!("{invitee} is not a user of this server")));
            }
        }
        if let Some(alias) = &request.alias
            && self.aliases.resolve(alias).await?.is_some()
        {
            return Err(Error::RoomInUse(format!("{alias} already exists")));
        }
        if let Some(alias) = &request.alias {
            self.check_alias_namespace(creator, alias)?;
        }

        // 1. m.room.create
        let mut create = request.creation_content.clone().unwrap_or_default();
        create.insert("room_version".to_owned(), version.as_str().into());
        if rules.authorization.use_room_create_sender {
            create.remove("creator");
        } else {
            create.insert("creator".to_owned(), creator.as_str().into());
        }
        if rules.authorization.additional_room_creators && preset == Preset::TrustedPrivateChat {
            let mut extra: Vec<String> = create
                .get("additional_creators")
                .and_then(CanonicalJsonValue::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            for invitee in &request.invite {
                if !extra.iter().any(|e| e == invitee.as_str()) {
                    extra.push(invitee.to_string());
                }
            }
            create.insert(
                "additional_creators".to_owned(),
                CanonicalJsonValue::Array(extra.into_iter().map(Into::into).collect()),
            );
        }
        let room_id = self.persist_create(creator, &version, create).await?;

        // 2. the creator joins
        self.join(&room_id, creator, None, &[]).await?;

        // 3. power levels, with the client's override on top
        let mut power = self.initial_power_levels(creator, &rules, preset, &request.invite);
        if let Some(overrides) = &request.power_level_content_override {
            for (key, value) in overrides {
                power.insert(key.clone(), value.clone());
            }
        }
        self.send(&room_id, creator, NewEvent::state("m.room.power_levels", "", power)).await?;
        self.finish_room(&room_id, creator, request).await.map_err(|e| match e {
            // The client's own power level override left the creator unable
            // to set up the room (spec: M_INVALID_ROOM_STATE).
            Error::Forbidden(reason) => Error::InvalidRoomState(reason),
            other => other,
        })?;
        tracing::info!(%room_id, %version, %creator, "room created");
        Ok(room_id)
    }

    /// createRoom's steps after the power levels.
    async fn finish_room(&self, room_id: &OwnedRoomId, creator: &UserId, request: CreateRoom) -> Result<()> {
        let room_id = room_id.clone();
        let preset = request.preset.unwrap_or(if request.public { Preset::PublicChat } else { Preset::PrivateChat });

        // 4. the canonical alias
        if let Some(alias) = &request.alias {
            let _guard = self.store.lock(&super::aliases::Aliases::lock_name(alias)).await?;
            let mut batch = WriteBatch::new();
            // createRoom's answer for a taken alias is M_ROOM_IN_USE (400),
            // not the directory's 409.
            self.aliases.create(&mut batch, alias, &room_id, creator).await.map_err(|e| match e {
                Error::AliasExists(message) => Error::RoomInUse(message),
                other => other,
            })?;
            self.store.write(batch).await?;
            let content = object(json!({ "alias": alias }));
            self.send(&room_id, creator, NewEvent::state("m.room.canonical_alias", "", content)).await?;
        }

        // 5–6. the preset's state, which initial_state overrides
        let (join_rule, guest_access) = match preset {
            Preset::PublicChat => ("public", "forbidden"),
            Preset::PrivateChat | Preset::TrustedPrivateChat => ("invite", "can_join"),
        };
        let mut state: Vec<(String, String, CanonicalJsonObject)> = vec![
            ("m.room.join_rules".to_owned(), String::new(), object(json!({ "join_rule": join_rule }))),
            ("m.room.history_visibility".to_owned(), String::new(), object(json!({ "history_visibility": "shared" }))),
            ("m.room.guest_access".to_owned(), String::new(), object(json!({ "guest_access": guest_access }))),
        ];
        for (kind, key, content) in request.initial_state {
            if kind == "m.room.create" || kind == "m.room.member" {
                return Err(Error::BadJson(format!("initial_state may not contain {kind}")));
            }
            match state.iter_mut().find(|(k, s, _)| *k == kind && *s == key) {
                Some(entry) => entry.2 = content,
                None => state.push((kind, key, content)),
            }
        }
        // Nexus's promise: direct messages are end-to-end encrypted unless
        // the client chose otherwise (or cannot encrypt: `by_appservice`).
        if request.is_direct
            && self.encrypt_direct_messages
            && !request.by_appservice
            && !state.iter().any(|(k, _, _)| k == "m.room.encryption")
        {
            let content = object(json!({ "algorithm": "m.megolm.v1.aes-sha2" }));
            state.push(("m.room.encryption".to_owned(), String::new(), content));
        }
        // 7. name and topic win over initial_state
        if let Some(name) = request.name {
            state.retain(|(k, _, _)| k != "m.room.name");
            state.push(("m.room.name".to_owned(), String::new(), object(json!({ "name": name }))));
        }
        if let Some(topic) = request.topic {
            state.retain(|(k, _, _)| k != "m.room.topic");
            let content =
                json!({ "topic": topic, "m.topic": { "m.text": [{ "body": topic, "mimetype": "text/plain" }] } });
            state.push(("m.room.topic".to_owned(), String::new(), object(content)));
        }
        for (kind, key, content) in state {
            self.send(&room_id, creator, NewEvent::state(&kind, &key, content)).await?;
        }

        // 8. invites
        for invitee in &request.invite {
            self.invite(&room_id, creator, invitee, None, request.is_direct).await?;
        }
        if request.public {
            self.set_published(creator, &room_id, true).await?;
        }
        Ok(())
    }

    fn initial_power_levels(
        &self,
        creator: &UserId,
        rules: &ruma::room_version_rules::RoomVersionRules,
        preset: Preset,
        invite: &[OwnedUserId],
    ) -> CanonicalJsonObject {
        let mut users = serde_json::Map::new();
        // From version 12 creators outrank power levels and must not be
        // listed; before it they get 100.
        if !rules.authorization.explicitly_privilege_room_creators {
            users.insert(creator.to_string(), json!(100));
            if preset == Preset::TrustedPrivateChat {
                for invitee in invite {
                    users.insert(invitee.to_string(), json!(100));
                }
            }
        }
        // Version 12 asks that upgrading a room (tombstone) need more than
        // ordinary state.
        let tombstone = if rules.authorization.explicitly_privilege_room_creators { 150 } else { 100 };
        object(json!({
            "users": users,
            "users_default": 0,
            "events": {
                "m.room.name": 50,
                "m.room.power_levels": 100,
                "m.room.history_visibility": 100,
                "m.room.canonical_alias": 50,
                "m.room.avatar": 50,
                "m.room.tombstone": tombstone,
                "m.room.server_acl": 100,
                "m.room.encryption": 100,
            },
            "events_default": 0,
            "state_default": 50,
            "ban": 50,
            "kick": 50,
            "redact": 50,
            "invite": 0,
            "notifications": { "room": 50 },
        }))
    }

    /// The create event starts a room: no prev or auth events, and in
    /// version 12 the room id is derived from it.
    pub(super) async fn persist_create(
        &self,
        creator: &UserId,
        version: &RoomVersionId,
        content: CanonicalJsonObject,
    ) -> Result<OwnedRoomId> {
        let rules = versions::rules(version)?;
        let derived = rules.room_id_format == RoomIdFormatVersion::V2;
        let mut timestamp = MilliSecondsSinceUnixEpoch::now();
        // A version 12 room id is the create event's hash: the same creator
        // creating two identical rooms in the same millisecond would make
        // one room twice. A taken id moves the timestamp on by a millisecond.
        loop {
            let given = (!derived).then(|| RoomId::new_v1(&self.server_name));
            let draft = Draft {
                room_id: given.as_deref(),
                sender: creator,
                kind: "m.room.create",
                state_key: Some(""),
                content: content.clone(),
                prev_events: Vec::new(),
                auth_events: Vec::new(),
                depth: 1,
                redacts: None,
                origin_server_ts: Some(timestamp),
            };
            let built = pdu::build(draft, &rules, &self.server_name, self.keys.key_pair())?;
            let room_id = match given {
                Some(room_id) => room_id,
                None => RoomId::new_v2(&built.reference_hash).map_err(|e| Error::Internal(format!("room id: {e}")))?,
            };
            let guard = self.store.lock(&room_lock(&room_id)).await?;
            if self.version(&room_id).await?.is_some() {
                drop(guard);
                timestamp = MilliSecondsSinceUnixEpoch(timestamp.0.saturating_add(ruma::UInt::from(1u32)));
                continue;
            }
            return self.persist_new_room(creator, version, &rules, built, room_id, guard).await;
        }
    }

    async fn persist_new_room(
        &self,
        creator: &UserId,
        version: &RoomVersionId,
        rules: &ruma::room_version_rules::RoomVersionRules,
        built: pdu::Built,
        room_id: OwnedRoomId,
        _guard: nexus_storage::LockGuard,
    ) -> Result<OwnedRoomId> {
        let pdu = Pdu::from_canonical(&built.json, built.event_id.clone(), rules)?;
        ruma::state_res::check_state_independent_auth_rules(&rules.authorization, &pdu, |_| None::<Pdu>)
            .map_err(|e| Error::BadJson(format!("invalid create event: {e}")))?;

        let reservation = self.stream.reserve().await?;
        let stream_ordering = reservation.ordering;
        let mut batch = WriteBatch::new();
        let mut state = StateIds::new();
        state.insert(("m.room.create".to_owned(), String::new()), pdu.event_id.clone());
        self.state.apply(&mut batch, &room_id, None, 0, ("m.room.create", "", &pdu.event_id), Some(&state));
        let stored = StoredEvent {
            json: serde_json::to_string(&built.json).map_err(|e| Error::Internal(e.to_string()))?,
            room_id: room_id.clone(),
            stream_ordering,
            state_snapshot: 0,
            reference_hash: built.reference_hash.clone(),
            redacted_by: None,
            transaction: None,
            outlier: false,
            replaces_state: None,
        };
        self.timeline.append(&mut batch, &pdu.event_id, &stored, pdu.origin_server_ts.get().into());
        self.timeline.bump(&mut batch, &room_id, stream_ordering, &pdu.kind.to_string());
        let record = RoomRecord { version: version.clone(), created_ts: Self::created_now() };
        batch.put(&ROOMS, room_id.as_str().as_bytes(), encode(&record));
        let head = RoomHead {
            extremities: vec![(pdu.event_id.clone(), built.reference_hash)],
            depth: 1,
            snapshot: 0,
            next_snapshot: 1,
            state_entries: 1,
        };
        batch.put(&ROOM_HEADS, room_id.as_str().as_bytes(), encode(&head));
        self.changes.record(&mut batch, [creator], stream_ordering, &Change::Room(room_id.clone()));
        self.store.write(batch).await?;
        drop(reservation);
        self.changes.wake([creator]);
        Ok(room_id)
    }
}
