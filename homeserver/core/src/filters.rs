//! Sync filters (spec: "Filtering"): stored per user, referenced by id.

use std::sync::Arc;

use nexus_storage::Store;
use nexus_storage::catalog::{FILTERS, STREAM_ORDERING};
use nexus_storage::codec::KeyBuilder;
use ruma::UserId;
use serde::Deserialize;
use serde_json::Value;

use crate::{Error, Result};

/// The parts of a filter that sync applies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Filter {
    pub event_fields: Option<Vec<String>>,
    pub event_format: Option<String>,
    pub account_data: EventFilter,
    pub presence: EventFilter,
    pub room: RoomFilter,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    pub limit: Option<usize>,
    pub types: Option<Vec<String>>,
    pub not_types: Vec<String>,
    pub senders: Option<Vec<String>>,
    pub not_senders: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RoomFilter {
    pub rooms: Option<Vec<String>>,
    pub not_rooms: Vec<String>,
    pub include_leave: bool,
    pub timeline: RoomEventFilter,
    pub state: RoomEventFilter,
    pub ephemeral: RoomEventFilter,
    pub account_data: RoomEventFilter,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RoomEventFilter {
    pub limit: Option<usize>,
    pub types: Option<Vec<String>>,
    pub not_types: Vec<String>,
    pub senders: Option<Vec<String>>,
    pub not_senders: Vec<String>,
    pub rooms: Option<Vec<String>>,
    pub not_rooms: Vec<String>,
    pub lazy_load_members: bool,
    pub include_redundant_members: bool,
    pub unread_thread_notifications: bool,
    /// Not applied by sync yet, but typed: a stored filter is served back
    /// as it was given, so what it holds must be what the spec allows.
    pub contains_url: Option<bool>,
}

/// `*` matches any run of characters (spec: filter `types`).
pub fn glob(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, rest)) => {
            let Some(remaining) = value.strip_prefix(head) else { return false };
            rest.is_empty()
                || (0..=remaining.len()).filter(|i| remaining.is_char_boundary(*i)).any(|i| glob(rest, &remaining[i..]))
        }
    }
}

fn allowed(value: &str, only: &Option<Vec<String>>, not: &[String], pattern: bool) -> bool {
    let matches = |p: &String| if pattern { glob(p, value) } else { p == value };
    only.as_ref().is_none_or(|list| list.iter().any(matches)) && !not.iter().any(matches)
}

impl EventFilter {
    pub fn allows(&self, kind: &str, sender: Option<&str>) -> bool {
        allowed(kind, &self.types, &self.not_types, true)
            && sender.is_none_or(|s| allowed(s, &self.senders, &self.not_senders, false))
    }
}

impl RoomEventFilter {
    pub fn allows(&self, kind: &str, sender: &str) -> bool {
        allowed(kind, &self.types, &self.not_types, true) && allowed(sender, &self.senders, &self.not_senders, false)
    }

    pub fn allows_room(&self, room: &str) -> bool {
        allowed(room, &self.rooms, &self.not_rooms, false)
    }
}

impl RoomFilter {
    pub fn allows_room(&self, room: &str) -> bool {
        allowed(room, &self.rooms, &self.not_rooms, false)
    }
}

pub struct Filters {
    store: Arc<dyn Store>,
}

impl Filters {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Filters { store }
    }

    /// `POST /user/{userId}/filter`: stores it and returns its id.
    pub async fn create(&self, user: &UserId, mut filter: Value) -> Result<String> {
        // A null field means the field is absent; it is read and stored that
        // way, so the filter handed back has no nulls where the spec's
        // schema has arrays, numbers or objects.
        drop_nulls(&mut filter);
        parse(&filter)?;
        // Ids need only be unique; the stream counter is.
        let id = self.store.next(&STREAM_ORDERING).await?;
        let bytes = serde_json::to_vec(&filter).map_err(|e| Error::BadJson(e.to_string()))?;
        self.store.put(&FILTERS, &KeyBuilder::new().str(user.as_str()).u64(id).build(), &bytes).await?;
        Ok(id.to_string())
    }

    pub async fn get(&self, user: &UserId, id: &str) -> Result<Value> {
        let not_found = || Error::NotFound("no such filter".to_owned());
        let id: u64 = id.parse().map_err(|_| not_found())?;
        let bytes = self.store.get(&FILTERS, &KeyBuilder::new().str(user.as_str()).u64(id).build()).await?;
        let bytes = bytes.ok_or_else(not_found)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Internal(format!("stored filter: {e}")))
    }

    /// The `filter` parameter of `/sync`: an id, or a filter as JSON.
    pub async fn resolve(&self, user: &UserId, param: Option<&str>) -> Result<Filter> {
        let Some(param) = param else { return Ok(Filter::default()) };
        let json = if param.trim_start().starts_with('{') {
            serde_json::from_str(param).map_err(|e| Error::BadJson(format!("filter is not JSON: {e}")))?
        } else {
            self.get(user, param).await?
        };
        parse(&json)
    }
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn parse(json: &Value) -> Result<Filter> {
    // serde would also read a struct from an array of its fields: every
    // filter and sub-filter must be an object (what the spec's answer says).
    const OBJECTS: &[&[&str]] = &[
        &[],
        &["presence"],
        &["account_data"],
        &["room"],
        &["room", "timeline"],
        &["room", "state"],
        &["room", "ephemeral"],
        &["room", "account_data"],
    ];
    for path in OBJECTS {
        let found = path.iter().try_fold(json, |value, key| value.get(key));
        if found.is_some_and(|value| !value.is_object() && !value.is_null()) {
            let place = if path.is_empty() { "the filter".to_owned() } else { path.join(".") };
            return Err(Error::BadJson(format!("{place} must be a JSON object")));
        }
    }
    let filter = Filter::deserialize(json).map_err(|e| Error::BadJson(format!("not a valid filter: {e}")))?;
    if filter.event_format.as_deref().is_some_and(|f| f != "client" && f != "federation") {
        return Err(Error::BadJson("event_format must be client or federation".to_owned()));
    }
    check_ids(&filter)?;
    Ok(filter)
}

/// The spec's schema holds room ids (`^!`) and user ids (`^@`) in the id
/// lists; a stored filter is served back, so one with anything else there
/// is refused rather than kept.
fn check_ids(filter: &Filter) -> Result<()> {
    fn each(list: Option<&[String]>, sigil: char, what: &str) -> Result<()> {
        match list.into_iter().flatten().find(|id| !id.starts_with(sigil)) {
            Some(bad) => Err(Error::BadJson(format!("{what} must hold ids starting with {sigil}, not {bad:?}"))),
            None => Ok(()),
        }
    }
    let senders = |only: &Option<Vec<String>>, not: &[String]| {
        each(only.as_deref(), '@', "senders").and_then(|()| each(Some(not), '@', "not_senders"))
    };
    let rooms = |only: &Option<Vec<String>>, not: &[String]| {
        each(only.as_deref(), '!', "rooms").and_then(|()| each(Some(not), '!', "not_rooms"))
    };
    for events in [&filter.presence, &filter.account_data] {
        senders(&events.senders, &events.not_senders)?;
    }
    let room = &filter.room;
    rooms(&room.rooms, &room.not_rooms)?;
    for events in [&room.timeline, &room.state, &room.ephemeral, &room.account_data] {
        senders(&events.senders, &events.not_senders)?;
        rooms(&events.rooms, &events.not_rooms)?;
    }
    Ok(())
}
