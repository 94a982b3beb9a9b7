//! Events as clients see them (the spec's `ClientEvent`): the PDU without
//! its federation fields, plus `unsigned` data for this viewer.

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::{DeviceId, EventId, UserId};
use serde_json::{Map, Value, json};

use super::timeline::StoredEvent;
use crate::values::now_ms;

const CLIENT_FIELDS: [&str; 6] = ["content", "origin_server_ts", "sender", "type", "state_key", "redacts"];

/// An event as an application service receives it in a transaction: the
/// client format, with no viewer-specific `unsigned` data.
pub fn for_appservice(object: &CanonicalJsonObject, event_id: &EventId, room_id: &ruma::RoomId) -> Value {
    let mut event = Map::new();
    for field in CLIENT_FIELDS {
        if let Some(value) = object.get(field) {
            event.insert(field.to_owned(), Value::from(value.clone()));
        }
    }
    event.insert("event_id".to_owned(), json!(event_id));
    event.insert("room_id".to_owned(), json!(room_id));
    event.insert("unsigned".to_owned(), json!({}));
    Value::Object(event)
}

/// `viewer` gets `unsigned.transaction_id` on events their device sent.
pub fn client_event(
    object: &CanonicalJsonObject,
    event_id: &EventId,
    stored: &StoredEvent,
    viewer: Option<(&UserId, &DeviceId)>,
    redacted_because: Option<Value>,
) -> Value {
    let mut event = Map::new();
    for field in CLIENT_FIELDS {
        if let Some(value) = object.get(field) {
            event.insert(field.to_owned(), Value::from(value.clone()));
        }
    }
    // From room version 11 `redacts` moved into content; clients written for
    // older rooms still read it at the top.
    if !event.contains_key("redacts")
        && let Some(CanonicalJsonValue::String(target)) =
            object.get("content").and_then(CanonicalJsonValue::as_object).and_then(|c| c.get("redacts"))
    {
        event.insert("redacts".to_owned(), json!(target));
    }
    event.insert("event_id".to_owned(), json!(event_id));
    event.insert("room_id".to_owned(), json!(stored.room_id));

    let mut unsigned = Map::new();
    if let Some(ts) = object.get("origin_server_ts").and_then(CanonicalJsonValue::as_integer) {
        let age = now_ms() as i64 - i64::from(ts);
        unsigned.insert("age".to_owned(), json!(age.max(0)));
    }
    if let (Some((user, device)), Some((sent_by_device, txn_id))) = (viewer, &stored.transaction)
        && object.get("sender").and_then(CanonicalJsonValue::as_str) == Some(user.as_str())
        && device.as_str() == sent_by_device
    {
        unsigned.insert("transaction_id".to_owned(), json!(txn_id));
    }
    if let Some(because) = redacted_because {
        unsigned.insert("redacted_because".to_owned(), because);
    }
    event.insert("unsigned".to_owned(), Value::Object(unsigned));
    Value::Object(event)
}
