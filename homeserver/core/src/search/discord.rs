//! `POST /_nexus/client/v1/search` (extensions-spec §24): search as Discord
//! users know it — in one server or channel, with `from:`, `mentions:`,
//! `has:`, `in:`, `before:`/`after:`/`during:`, `pinned:` and `is:thread`,
//! typo tolerance, search-as-you-type (`prefix`), and saved searches run by
//! name.

use nexus_search::{Order, ParsedQuery, TextQuery};
use ruma::{DeviceId, OwnedRoomId, RoomAliasId, RoomId, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Search;
use crate::rooms::SearchReader;
use crate::{Error, Result};

const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 100;
/// Longer queries are refused (`M_INVALID_PARAM`).
pub const MAX_QUERY_BYTES: usize = 1000;

#[derive(Debug, Default, Deserialize)]
pub struct NexusSearchRequest {
    /// What was typed. Absent: the saved search's.
    #[serde(default)]
    pub query: Option<String>,
    /// Run the saved search of this name (its query and scope).
    #[serde(default)]
    pub saved: Option<String>,
    /// Search one Nexus server: its space and channels.
    #[serde(default)]
    pub server_id: Option<OwnedRoomId>,
    /// Search one room.
    #[serde(default)]
    pub room_id: Option<OwnedRoomId>,
    /// `relevance` (default) or `recent`.
    #[serde(default)]
    pub order_by: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub next_batch: Option<String>,
    /// The last word is still being typed: match it as a prefix.
    #[serde(default)]
    pub prefix: bool,
}

pub(super) fn order(order_by: Option<&str>) -> Result<Order> {
    match order_by {
        None | Some("relevance") => Ok(Order::Rank),
        Some("recent") => Ok(Order::Recent),
        Some(other) => Err(Error::InvalidParam(format!("order_by must be relevance or recent, not {other:?}"))),
    }
}

pub(super) fn parse_query(query: &str) -> Result<ParsedQuery> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(Error::InvalidParam(format!("query is limited to {MAX_QUERY_BYTES} bytes")));
    }
    nexus_search::parse(query).map_err(Error::InvalidParam)
}

impl Search {
    pub async fn search_nexus(&self, user: &UserId, device: &DeviceId, request: NexusSearchRequest) -> Result<Value> {
        let mut request = request;
        if let Some(name) = &request.saved {
            let saved = self
                .saved_searches(user)
                .await?
                .into_iter()
                .find(|s| &s.name == name)
                .ok_or_else(|| Error::NotFound(format!("no saved search named {name:?}")))?;
            request.query = request.query.or(Some(saved.query));
            request.server_id = request.server_id.or(saved.server_id);
            request.room_id = request.room_id.or(saved.room_id);
            request.order_by = request.order_by.or(saved.order_by);
        }
        let query =
            request.query.as_deref().ok_or_else(|| Error::MissingParam("query (or saved) is required".to_owned()))?;
        let parsed = parse_query(query)?;
        let order = order(request.order_by.as_deref())?;
        let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::InvalidParam(format!("limit must be 1 to {MAX_LIMIT}")));
        }
        let cursor = request.next_batch.as_deref().map(nexus_search::Cursor::from_token).transpose()?;

        let mut scope = self.rooms.searchable_rooms(user).await?;
        if let Some(server) = &request.server_id {
            let mut server_rooms = self.rooms.space_children(server).await?;
            server_rooms.push(server.clone());
            scope.retain(|room| server_rooms.contains(room));
        }
        if let Some(room) = &request.room_id {
            scope.retain(|r| r == room);
        }
        let text = TextQuery {
            words: parsed.words.clone(),
            phrases: parsed.phrases.clone(),
            excluded: parsed.excluded.clone(),
            prefix: request.prefix,
        };
        let mut search = self.discord_filters(&parsed, &scope).await?;
        if !parsed.has_text() && !parsed.has_filters() {
            search.rooms.clear();
        }
        search.text = text.clone();
        search.order = order;
        search.cursor = cursor;
        search.now_ms = crate::values::now_ms();

        let mut reader = SearchReader::new(user, device);
        let found = self.collect(&mut reader, search, limit).await?;
        let highlights = self.highlights(&text, &found);
        let results: Vec<Value> = found
            .hits
            .iter()
            .map(|(hit, visible)| json!({ "rank": hit.rank, "room_id": hit.room_id, "event": visible.event }))
            .collect();
        let mut answer = json!({
            "count": found.count,
            "results": results,
            "highlights": highlights,
            "unsearchable_rooms": self.encrypted_rooms(&scope).await?,
        });
        if let Some(next) = &found.next {
            answer["next_batch"] = json!(next.to_token());
        }
        Ok(answer)
    }

    /// The index search for a parsed query's filters, over `scope` (the
    /// rooms the user may search, narrowed by `in:`).
    pub(super) async fn discord_filters(
        &self,
        parsed: &ParsedQuery,
        scope: &[OwnedRoomId],
    ) -> Result<nexus_search::Search> {
        let mut rooms: Vec<OwnedRoomId> = scope.to_vec();
        if !parsed.in_rooms.is_empty() {
            let mut named = Vec::new();
            for value in &parsed.in_rooms {
                named.extend(self.resolve_in(value, scope).await?);
            }
            rooms.retain(|room| named.contains(room));
        }
        let mut search = nexus_search::Search {
            senders: parsed.from.iter().map(|v| self.user_ref(v)).collect(),
            mentions: parsed.mentions.iter().map(|v| self.user_ref(v)).collect(),
            has: parsed.has.clone(),
            after_ms: parsed.after,
            before_ms: parsed.before,
            thread_only: parsed.thread,
            ..Default::default()
        };
        if let Some(pinned) = parsed.pinned {
            let mut ids = Vec::new();
            for room in &rooms {
                ids.extend(self.rooms.pinned_events(room).await?.into_iter().map(|id| id.to_string()));
            }
            if pinned {
                search.event_ids = Some(ids);
            } else {
                search.not_event_ids = ids;
            }
        }
        search.rooms = rooms.into_iter().map(|r| r.to_string()).collect();
        Ok(search)
    }

    /// `from:alice` is the local user `@alice:<this server>`; a full user
    /// id is taken as it is.
    fn user_ref(&self, value: &str) -> String {
        if value.starts_with('@') && value.contains(':') {
            value.to_owned()
        } else {
            format!("@{}:{}", value.trim_start_matches('@'), self.server_name)
        }
    }

    /// The rooms of `scope` an `in:` value names: a room id, an alias, or
    /// a channel's name (`general` or `#general`, any case).
    async fn resolve_in(&self, value: &str, scope: &[OwnedRoomId]) -> Result<Vec<OwnedRoomId>> {
        if value.starts_with('!') {
            return Ok(RoomId::parse(value).ok().filter(|r| scope.contains(r)).into_iter().collect());
        }
        if let Ok(alias) = RoomAliasId::parse(value) {
            return match self.rooms.resolve_alias(&alias).await {
                Ok(room) => Ok(scope.contains(&room).then_some(room).into_iter().collect()),
                Err(Error::NotFound(_)) => Ok(Vec::new()),
                Err(e) => Err(e),
            };
        }
        let wanted = value.trim_start_matches('#');
        let mut named = Vec::new();
        for room in scope {
            if self
                .rooms
                .room_name(room)
                .await?
                .is_some_and(|name| name.trim_start_matches('#').eq_ignore_ascii_case(wanted))
            {
                named.push(room.clone());
            }
        }
        Ok(named)
    }
}
