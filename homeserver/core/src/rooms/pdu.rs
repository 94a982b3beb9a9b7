//! PDUs: the signed, hashed events rooms are made of. Building one for any
//! room version, and the view of it that ruma's auth and state resolution
//! need.

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue, to_canonical_value};
use ruma::events::TimelineEventType;
use ruma::room_version_rules::{EventIdFormatVersion, EventsReferenceFormatVersion, RoomVersionRules};
use ruma::serde::Raw;
use ruma::signatures::{Ed25519KeyPair, JsonError};
use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, ServerName, UInt, UserId,
};
use serde_json::value::RawValue;

use crate::{Error, Result};

/// The most bytes a PDU may take, signatures included (spec: "Size limits").
pub const MAX_PDU_BYTES: usize = 65_536;

/// An event as auth rules and state resolution see it, parsed from its
/// canonical JSON.
#[derive(Clone, Debug)]
pub struct Pdu {
    pub event_id: OwnedEventId,
    /// `None` only for a v12 create event: its room id is derived from it.
    pub room_id: Option<OwnedRoomId>,
    pub sender: OwnedUserId,
    pub origin_server_ts: MilliSecondsSinceUnixEpoch,
    pub kind: TimelineEventType,
    pub state_key: Option<String>,
    pub content: Box<RawValue>,
    pub prev_events: Vec<OwnedEventId>,
    pub auth_events: Vec<OwnedEventId>,
    pub redacts: Option<OwnedEventId>,
    pub depth: u64,
    pub rejected: bool,
}

fn malformed(detail: impl std::fmt::Display) -> Error {
    Error::Internal(format!("malformed PDU: {detail}"))
}

impl Pdu {
    pub fn from_canonical(obj: &CanonicalJsonObject, event_id: OwnedEventId, rules: &RoomVersionRules) -> Result<Self> {
        let string = |k: &str| obj.get(k).and_then(CanonicalJsonValue::as_str);
        let ids = |k: &str| -> Result<Vec<OwnedEventId>> {
            let list = obj.get(k).and_then(CanonicalJsonValue::as_array).ok_or_else(|| malformed(format!("no {k}")))?;
            list.iter()
                .map(|v| {
                    let id = match rules.events_reference_format {
                        EventsReferenceFormatVersion::V1 => {
                            v.as_array().and_then(|pair| pair.first()).and_then(CanonicalJsonValue::as_str)
                        }
                        _ => v.as_str(),
                    };
                    OwnedEventId::try_from(id.ok_or_else(|| malformed(format!("bad {k}")))?).map_err(malformed)
                })
                .collect()
        };
        let redacts = if rules.redaction.content_field_redacts {
            obj.get("content")
                .and_then(CanonicalJsonValue::as_object)
                .and_then(|c| c.get("redacts"))
                .and_then(CanonicalJsonValue::as_str)
        } else {
            string("redacts")
        };
        let ts = obj.get("origin_server_ts").and_then(CanonicalJsonValue::as_integer).ok_or_else(|| malformed("ts"))?;
        let depth = obj.get("depth").and_then(CanonicalJsonValue::as_integer).ok_or_else(|| malformed("depth"))?;
        Ok(Pdu {
            event_id,
            room_id: string("room_id").map(OwnedRoomId::try_from).transpose().map_err(malformed)?,
            sender: OwnedUserId::try_from(string("sender").ok_or_else(|| malformed("sender"))?).map_err(malformed)?,
            origin_server_ts: MilliSecondsSinceUnixEpoch(UInt::try_from(i64::from(ts)).map_err(malformed)?),
            kind: TimelineEventType::from(string("type").ok_or_else(|| malformed("type"))?),
            state_key: string("state_key").map(str::to_owned),
            content: serde_json::value::to_raw_value(obj.get("content").ok_or_else(|| malformed("content"))?)
                .map_err(malformed)?,
            prev_events: ids("prev_events")?,
            auth_events: ids("auth_events")?,
            redacts: redacts.map(OwnedEventId::try_from).transpose().map_err(malformed)?,
            depth: u64::try_from(i64::from(depth)).map_err(malformed)?,
            rejected: false,
        })
    }

    pub fn is_state(&self) -> bool {
        self.state_key.is_some()
    }

    pub fn content_json(&self) -> serde_json::Value {
        serde_json::from_str(self.content.get()).unwrap_or(serde_json::Value::Null)
    }
}

impl ruma::state_res::Event for Pdu {
    type Id = OwnedEventId;

    fn event_id(&self) -> &OwnedEventId {
        &self.event_id
    }

    fn room_id(&self) -> Option<&RoomId> {
        self.room_id.as_deref()
    }

    fn sender(&self) -> &UserId {
        &self.sender
    }

    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }

    fn event_type(&self) -> &TimelineEventType {
        &self.kind
    }

    fn content(&self) -> &RawValue {
        &self.content
    }

    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &OwnedEventId> + '_> {
        Box::new(self.prev_events.iter())
    }

    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &OwnedEventId> + '_> {
        Box::new(self.auth_events.iter())
    }

    fn redacts(&self) -> Option<&OwnedEventId> {
        self.redacts.as_ref()
    }

    fn rejected(&self) -> bool {
        self.rejected
    }
}

/// A referenced event: its id and, for versions 1–2, its reference hash.
pub struct Reference {
    pub event_id: OwnedEventId,
    pub reference_hash: String,
}

/// What a local event is made of before it is hashed and signed.
pub struct Draft<'a> {
    pub room_id: Option<&'a RoomId>,
    pub sender: &'a UserId,
    pub kind: &'a str,
    pub state_key: Option<&'a str>,
    pub content: CanonicalJsonObject,
    pub prev_events: Vec<Reference>,
    pub auth_events: Vec<Reference>,
    pub depth: u64,
    pub redacts: Option<&'a EventId>,
    /// `None`: now.
    pub origin_server_ts: Option<MilliSecondsSinceUnixEpoch>,
}

/// A hashed and signed event, ready for auth checks and storage.
pub struct Built {
    pub json: CanonicalJsonObject,
    pub event_id: OwnedEventId,
    pub reference_hash: String,
}

pub(super) fn references(refs: Vec<Reference>, rules: &RoomVersionRules) -> CanonicalJsonValue {
    let list = refs.into_iter().map(|r| match rules.events_reference_format {
        EventsReferenceFormatVersion::V1 => {
            let mut hashes = CanonicalJsonObject::new();
            hashes.insert("sha256".to_owned(), r.reference_hash.into());
            CanonicalJsonValue::Array(vec![r.event_id.to_string().into(), hashes.into()])
        }
        _ => r.event_id.to_string().into(),
    });
    CanonicalJsonValue::Array(list.collect())
}

/// The JSON of `content` as a canonical object.
pub fn content_object<T: serde::Serialize>(content: &T) -> Result<CanonicalJsonObject> {
    match to_canonical_value(content) {
        Ok(CanonicalJsonValue::Object(object)) => Ok(object),
        Ok(_) => Err(Error::BadJson("event content must be an object".to_owned())),
        Err(e) => Err(Error::BadJson(format!("event content is not canonical JSON: {e}"))),
    }
}

/// Content from a client, which must be canonical JSON (no floats, no
/// integers beyond ±2^53).
pub fn client_content(raw: &Raw<serde_json::Value>) -> Result<CanonicalJsonObject> {
    let object: CanonicalJsonObject = serde_json::from_str(raw.json().get())
        .map_err(|e| Error::BadJson(format!("event content must be a canonical JSON object: {e}")))?;
    Ok(object)
}

/// Hashes, signs and names a draft as its room version says.
pub fn build(draft: Draft<'_>, rules: &RoomVersionRules, server: &ServerName, key: &Ed25519KeyPair) -> Result<Built> {
    let mut json = CanonicalJsonObject::new();
    if let Some(room_id) = draft.room_id {
        json.insert("room_id".to_owned(), room_id.as_str().into());
    }
    json.insert("sender".to_owned(), draft.sender.as_str().into());
    json.insert("type".to_owned(), draft.kind.into());
    if let Some(state_key) = draft.state_key {
        json.insert("state_key".to_owned(), state_key.into());
    }
    let mut content = draft.content;
    if let Some(redacts) = draft.redacts {
        // Where `redacts` lives changed in v11: under content from then on.
        if rules.redaction.content_field_redacts {
            content.insert("redacts".to_owned(), redacts.as_str().into());
        } else {
            json.insert("redacts".to_owned(), redacts.as_str().into());
        }
    }
    json.insert("content".to_owned(), content.into());
    let now = draft.origin_server_ts.unwrap_or_else(MilliSecondsSinceUnixEpoch::now);
    json.insert("origin_server_ts".to_owned(), CanonicalJsonValue::Integer(now.0.into()));
    json.insert("depth".to_owned(), CanonicalJsonValue::Integer(ruma::Int::try_from(draft.depth).map_err(malformed)?));
    json.insert("prev_events".to_owned(), references(draft.prev_events, rules));
    json.insert("auth_events".to_owned(), references(draft.auth_events, rules));
    if rules.event_id_format == EventIdFormatVersion::V1 {
        // Versions 1–2: the sender's server names the event, inside the
        // signed JSON.
        json.insert("event_id".to_owned(), EventId::new_v1(server).as_str().into());
    }
    ruma::signatures::hash_and_sign_event(server.as_str(), key, &mut json, &rules.redaction).map_err(|e| match e {
        JsonError::PduTooLarge => Error::TooLarge(format!("events are limited to {MAX_PDU_BYTES} bytes")),
        other => Error::BadJson(format!("event cannot be signed: {other}")),
    })?;
    if serde_json::to_vec(&json).map_or(0, |b| b.len()) > MAX_PDU_BYTES {
        return Err(Error::TooLarge(format!("events are limited to {MAX_PDU_BYTES} bytes")));
    }
    let reference_hash = ruma::signatures::reference_hash(&json, rules).map_err(malformed)?;
    let event_id = match rules.event_id_format {
        EventIdFormatVersion::V1 => {
            let id = json.get("event_id").and_then(CanonicalJsonValue::as_str).expect("inserted above");
            OwnedEventId::try_from(id).map_err(malformed)?
        }
        _ => EventId::new_v2_or_v3(&reference_hash).map_err(malformed)?,
    };
    Ok(Built { json, event_id, reference_hash })
}
