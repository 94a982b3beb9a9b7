//! What a user may learn about a room without reading its timeline: its
//! local aliases (`GET /rooms/{roomId}/aliases`), its summary
//! (`GET /_matrix/client/v1/room_summary/{roomIdOrAlias}`, MSC3266, which
//! Element shows before joining), and the rooms two users share
//! (`GET /_matrix/client/v1/mutual_rooms`), and who is who
//! (`POST /user_directory/search`).

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomAliasId, OwnedRoomId, RoomId, UserId};
use serde_json::{Map, Value, json};

use std::collections::{HashMap, HashSet};

use super::Rooms;
use super::user_directory::{rank, split_words};
use crate::{Error, Result};

fn text(content: &Option<CanonicalJsonObject>, field: &str) -> Option<String> {
    match content.as_ref()?.get(field)? {
        CanonicalJsonValue::String(value) => Some(value.clone()),
        _ => None,
    }
}

impl Rooms {
    /// Members (and anyone, for a world-readable room) may list a room's
    /// aliases; others are told nothing (403, as the spec says).
    pub async fn local_aliases(&self, viewer: &UserId, room_id: &RoomId) -> Result<Vec<OwnedRoomAliasId>> {
        let history = self.current_state_content(room_id, "m.room.history_visibility", "").await?;
        let world_readable = text(&history, "history_visibility").as_deref() == Some("world_readable");
        if !world_readable && !self.membership.is_joined(room_id, viewer).await? {
            return Err(Error::Forbidden("you are not in this room".to_owned()));
        }
        self.aliases.of_room(room_id).await
    }

    /// The room's summary, for a viewer who may see it: a member or invitee,
    /// or anyone when the room can be joined, knocked on or read without
    /// joining (spec, MSC3266: the hierarchy's visibility rules).
    pub async fn room_summary(&self, viewer: &UserId, room_id: &RoomId) -> Result<Value> {
        let Some(version) = self.version(room_id).await? else {
            return Err(Error::NotFound("this server does not know that room".to_owned()));
        };
        let state = |kind: &'static str| self.current_state_content(room_id, kind, "");
        let join_rules = state("m.room.join_rules").await?;
        let history = state("m.room.history_visibility").await?;
        let join_rule = text(&join_rules, "join_rule").unwrap_or_else(|| "invite".to_owned());
        let world_readable = text(&history, "history_visibility").as_deref() == Some("world_readable");
        let membership = self.membership.of(room_id, viewer).await?;
        let visible =
            matches!(membership, Some(MembershipState::Join | MembershipState::Invite | MembershipState::Knock))
                || world_readable
                || matches!(join_rule.as_str(), "public" | "knock" | "knock_restricted")
                || (matches!(join_rule.as_str(), "restricted" | "knock_restricted")
                    && self.restricted_join_authoriser(room_id, viewer).await.is_ok());
        if !visible {
            // The same answer as for an unknown room: no existence oracle.
            return Err(Error::NotFound("this server does not know that room".to_owned()));
        }
        let create = state("m.room.create").await?;
        let guest = state("m.room.guest_access").await?;
        let joined = self.membership.members(room_id).await?;
        let joined_count = joined.iter().filter(|(_, m)| *m == MembershipState::Join).count();
        let mut summary = Map::new();
        summary.insert("room_id".to_owned(), json!(room_id));
        summary.insert("num_joined_members".to_owned(), json!(joined_count));
        summary.insert("join_rule".to_owned(), json!(join_rule));
        summary.insert("world_readable".to_owned(), json!(world_readable));
        summary.insert("guest_can_join".to_owned(), json!(text(&guest, "guest_access").as_deref() == Some("can_join")));
        summary.insert("room_version".to_owned(), json!(version.as_str()));
        let optional = [
            ("name", text(&state("m.room.name").await?, "name")),
            ("topic", text(&state("m.room.topic").await?, "topic")),
            ("avatar_url", text(&state("m.room.avatar").await?, "url")),
            ("canonical_alias", text(&state("m.room.canonical_alias").await?, "alias")),
            ("room_type", text(&create, "type")),
            ("encryption", text(&state("m.room.encryption").await?, "algorithm")),
            ("membership", membership.map(|m| m.to_string())),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                summary.insert(key.to_owned(), json!(value));
            }
        }
        Ok(Value::Object(summary))
    }

    /// The rooms both users are joined to.
    pub async fn mutual_rooms(&self, viewer: &UserId, other: &UserId) -> Result<Vec<OwnedRoomId>> {
        if viewer == other {
            return Err(Error::InvalidParam("that is you".to_owned()));
        }
        let mut shared = Vec::new();
        for room_id in self.membership.rooms_of(viewer, &MembershipState::Join).await? {
            if self.membership.is_joined(&room_id, other).await? {
                shared.push(room_id);
            }
        }
        Ok(shared)
    }
}

impl Rooms {
    /// `POST /user_directory/search`: users found by `search` whom the
    /// searcher shares a room with or who are in a public room, best match
    /// first, at most `limit`; `true` when there were more.
    pub async fn search_users(&self, searcher: &UserId, search: &str, limit: usize) -> Result<(Vec<Value>, bool)> {
        let terms = split_words(search);
        let (mut candidates, capped) = self.user_directory.candidates(&terms).await?;
        rank(&mut candidates, search);
        let mine: HashSet<OwnedRoomId> =
            self.membership.rooms_of(searcher, &MembershipState::Join).await?.into_iter().collect();
        let mut public: HashMap<OwnedRoomId, bool> = HashMap::new();
        let mut results = Vec::new();
        let mut limited = capped;
        for candidate in candidates {
            if !self.visible_in_directory(searcher, &candidate.user_id, &mine, &mut public).await? {
                continue;
            }
            if results.len() == limit {
                limited = true;
                break;
            }
            let mut hit = Map::new();
            hit.insert("user_id".to_owned(), json!(candidate.user_id));
            if let Some(name) = candidate.entry.display_name {
                hit.insert("display_name".to_owned(), json!(name));
            }
            if let Some(avatar) = candidate.entry.avatar_url {
                hit.insert("avatar_url".to_owned(), json!(avatar));
            }
            results.push(Value::Object(hit));
        }
        Ok((results, limited))
    }

    async fn visible_in_directory(
        &self,
        searcher: &UserId,
        user: &UserId,
        searchers_rooms: &HashSet<OwnedRoomId>,
        public: &mut HashMap<OwnedRoomId, bool>,
    ) -> Result<bool> {
        if user == searcher {
            return Ok(true);
        }
        for room_id in self.membership.rooms_of(user, &MembershipState::Join).await? {
            if searchers_rooms.contains(&room_id) {
                return Ok(true);
            }
            let is_public = match public.get(&room_id) {
                Some(known) => *known,
                None => {
                    let rules = self.current_state_content(&room_id, "m.room.join_rules", "").await?;
                    let known = text(&rules, "join_rule").as_deref() == Some("public");
                    public.insert(room_id.clone(), known);
                    known
                }
            };
            if is_public {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
