//! `POST /_matrix/client/v3/search` (spec: "Server Side Search"): the
//! `room_events` category, with `keys`, `filter`, `order_by`,
//! `event_context`, `include_state`, `groupings`, `highlights`, `count`
//! and `next_batch`.
//!
//! `search_term` is read with the same language as Nexus's own search
//! (words with typo tolerance, `"phrases"`, `-exclusions`, and the
//! Discord filters); a term that language refuses (`has:spaceship`) is
//! searched for as plain words instead, since a spec client cannot know
//! the language.

use std::collections::{BTreeMap, HashSet};

use nexus_search::{Cursor, Has, Key, Order, TextQuery};
use ruma::{DeviceId, OwnedRoomId, RoomId, UserId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::documents::INDEXED_TYPES;
use super::{Found, Search};
use crate::filters::{RoomEventFilter, glob};
use crate::rooms::SearchReader;
use crate::{Error, Result};

/// Results per page when the filter gives no `limit`, and the most a
/// filter may ask for.
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;
/// `event_context` limits: the spec's default, and a ceiling.
const DEFAULT_CONTEXT: usize = 5;
const MAX_CONTEXT: usize = 50;

#[derive(Debug, Deserialize)]
pub struct SearchRequest {
    pub search_categories: Categories,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Categories {
    pub room_events: Option<RoomEventsCriteria>,
}

#[derive(Debug, Deserialize)]
pub struct RoomEventsCriteria {
    pub search_term: String,
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    #[serde(default)]
    pub filter: Option<RoomEventFilter>,
    #[serde(default)]
    pub order_by: Option<String>,
    #[serde(default)]
    pub event_context: Option<EventContext>,
    #[serde(default)]
    pub include_state: Option<bool>,
    #[serde(default)]
    pub groupings: Option<Groupings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventContext {
    pub before_limit: Option<u64>,
    pub after_limit: Option<u64>,
    pub include_profile: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Groupings {
    pub group_by: Vec<Group>,
}

#[derive(Debug, Deserialize)]
pub struct Group {
    pub key: String,
}

impl Search {
    /// The whole answer to `POST /search`.
    pub async fn search_for_client(
        &self,
        user: &UserId,
        device: &DeviceId,
        request: SearchRequest,
        next_batch: Option<&str>,
    ) -> Result<Value> {
        let mut categories = Map::new();
        if let Some(criteria) = request.search_categories.room_events {
            categories.insert("room_events".to_owned(), self.room_events(user, device, criteria, next_batch).await?);
        }
        Ok(json!({ "search_categories": categories }))
    }

    async fn room_events(
        &self,
        user: &UserId,
        device: &DeviceId,
        criteria: RoomEventsCriteria,
        next_batch: Option<&str>,
    ) -> Result<Value> {
        let filter = criteria.filter.unwrap_or_default();
        let order = match criteria.order_by.as_deref() {
            None | Some("rank") => Order::Rank,
            Some("recent") => Order::Recent,
            Some(other) => return Err(Error::InvalidParam(format!("order_by must be rank or recent, not {other:?}"))),
        };
        let keys = criteria
            .keys
            .unwrap_or_default()
            .iter()
            .map(|key| match key.as_str() {
                "content.body" => Ok(Key::Body),
                "content.name" => Ok(Key::Name),
                "content.topic" => Ok(Key::Topic),
                other => Err(Error::InvalidParam(format!(
                    "keys: {other:?} is not content.body, content.name or content.topic"
                ))),
            })
            .collect::<Result<Vec<Key>>>()?;
        let group_by = criteria
            .groupings
            .unwrap_or_default()
            .group_by
            .into_iter()
            .map(|g| match g.key.as_str() {
                "room_id" | "sender" => Ok(g.key),
                other => Err(Error::InvalidParam(format!("group_by: {other:?} is not room_id or sender"))),
            })
            .collect::<Result<Vec<String>>>()?;
        let context = criteria.event_context.map(|c| {
            let bound = |v: Option<u64>| {
                v.map_or(DEFAULT_CONTEXT, |v| usize::try_from(v).unwrap_or(MAX_CONTEXT).min(MAX_CONTEXT))
            };
            (bound(c.before_limit), bound(c.after_limit), c.include_profile.unwrap_or(false))
        });
        let cursor = next_batch.map(Cursor::from_token).transpose()?;
        let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);

        let parsed = nexus_search::parse(&criteria.search_term).unwrap_or_else(|_| nexus_search::ParsedQuery {
            words: criteria.search_term.split_whitespace().map(str::to_owned).collect(),
            ..Default::default()
        });
        let text = TextQuery {
            words: parsed.words.clone(),
            phrases: parsed.phrases.clone(),
            excluded: parsed.excluded.clone(),
            prefix: false,
        };
        let rooms: Vec<OwnedRoomId> = self
            .rooms
            .searchable_rooms(user)
            .await?
            .into_iter()
            .filter(|room| filter.allows_room(room.as_str()))
            .collect();
        let mut search = self.discord_filters(&parsed, &rooms).await?;
        search.text = text.clone();
        search.keys = keys;
        search.order = order;
        search.cursor = cursor;
        search.now_ms = crate::values::now_ms();
        search.senders.extend(filter.senders.clone().unwrap_or_default());
        search.not_senders.extend(filter.not_senders.iter().cloned());
        if let Some(types) = &filter.types {
            search.types = expand_types(types);
            if search.types.is_empty() {
                search.rooms.clear();
            }
        }
        search.not_types = expand_types(&filter.not_types);
        match filter.contains_url {
            Some(true) => search.has.extend([Has::File, Has::Sticker]),
            Some(false) => search.not_has.extend([Has::File, Has::Sticker]),
            None => {}
        }
        if !parsed.has_text() && !parsed.has_filters() {
            // Nothing was asked for: nothing is found.
            search.rooms.clear();
        }

        let mut reader = SearchReader::new(user, device);
        let found = self.collect(&mut reader, search, limit).await?;
        let highlights = self.highlights(&text, &found);
        let mut results = Vec::with_capacity(found.hits.len());
        for (hit, visible) in &found.hits {
            let mut result = json!({ "rank": hit.rank, "result": visible.event });
            if let Some((before, after, include_profile)) = context {
                let room_id = &visible.stored.room_id;
                let around = self.rooms.search_context(&mut reader, room_id, &visible.stored, (before, after)).await?;
                let mut context = json!({
                    "start": around.start,
                    "end": around.end,
                    "events_before": around.events_before,
                    "events_after": around.events_after,
                });
                if include_profile {
                    context["profile_info"] = self
                        .profiles_of(
                            room_id,
                            [&visible.event].into_iter().chain(&around.events_before).chain(&around.events_after),
                        )
                        .await?;
                }
                result["context"] = context;
            }
            results.push(result);
        }
        let mut answer = json!({
            "count": found.count,
            "highlights": highlights,
            "results": results,
        });
        if let Some(next) = &found.next {
            answer["next_batch"] = json!(next.to_token());
        }
        if criteria.include_state == Some(true) {
            answer["state"] = self.state_of_rooms(user, device, &found).await?;
        }
        if !group_by.is_empty() {
            answer["groups"] = groups(&group_by, &found);
        }
        let encrypted = self.encrypted_rooms(&rooms).await?;
        answer["nexus.unsearchable_rooms"] = json!(encrypted);
        Ok(answer)
    }

    /// `profile_info`: each sender's name and avatar in the room now.
    async fn profiles_of(&self, room_id: &RoomId, events: impl Iterator<Item = &Value>) -> Result<Value> {
        let mut profiles = Map::new();
        for event in events {
            let Some(sender) = event["sender"].as_str() else { continue };
            if profiles.contains_key(sender) {
                continue;
            }
            let Ok(user) = UserId::parse(sender) else { continue };
            profiles.insert(sender.to_owned(), self.rooms.member_profile_in(room_id, &user).await?);
        }
        Ok(Value::Object(profiles))
    }

    /// `state`: the current state of each room with a result, as the
    /// searcher may read it.
    async fn state_of_rooms(&self, user: &UserId, device: &DeviceId, found: &Found) -> Result<Value> {
        let mut state = Map::new();
        let rooms: HashSet<&RoomId> = found.hits.iter().map(|(_, h)| h.stored.room_id.as_ref()).collect();
        for room in rooms {
            state.insert(room.to_string(), json!(self.rooms.state_for_client(user, device, room).await?));
        }
        Ok(Value::Object(state))
    }
}

/// The indexed event types a filter's `types` (with `*` wildcards) names.
fn expand_types(patterns: &[String]) -> Vec<String> {
    INDEXED_TYPES.iter().filter(|kind| patterns.iter().any(|p| glob(p, kind))).map(|k| (*k).to_owned()).collect()
}

/// `groups`: the page's results by room and by sender, in result order.
fn groups(group_by: &[String], found: &Found) -> Value {
    let mut groups = Map::new();
    for key in group_by {
        let mut by_value: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
        for (hit, visible) in &found.hits {
            let value = if key == "room_id" {
                hit.room_id.clone()
            } else {
                visible.event["sender"].as_str().unwrap_or_default().to_owned()
            };
            let order = by_value.len();
            by_value.entry(value).or_insert((order, Vec::new())).1.push(hit.event_id.clone());
        }
        let group: Map<String, Value> = by_value
            .into_iter()
            .map(|(value, (order, results))| {
                let mut group = json!({ "order": order, "results": results });
                if let Some(next) = &found.next {
                    group["next_batch"] = json!(next.to_token());
                }
                (value, group)
            })
            .collect();
        groups.insert(key.clone(), Value::Object(group));
    }
    Value::Object(groups)
}
