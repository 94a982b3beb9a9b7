//! What a user may learn about a room without reading its timeline: its
//! local aliases (`GET /rooms/{roomId}/aliases`), its summary
//! (`GET /_matrix/client/v1/room_summary/{roomIdOrAlias}`, MSC3266, which
//! Element shows before joining), and the rooms two users share
//! (`GET /_matrix/client/v1/mutual_rooms`), and who is who
//! (`POST /user_directory/search`).

use ruma::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomAliasId, OwnedRoomId, RoomId, RoomVersionId, ServerName, UserId};
use serde_json::{Map, Value, json};

use std::collections::{HashMap, HashSet};

use super::Rooms;
use super::user_directory::{rank, split_words};
use crate::{Error, Result};

/// Who is asking to see a room: one of this server's users, or another
/// server (federation `/hierarchy`).
#[derive(Clone, Copy)]
pub(super) enum Asker<'a> {
    User(&'a UserId),
    Server(&'a ServerName),
}

/// The rooms whose members a restricted join rule admits
/// (`allow` entries of type `m.room_membership`).
fn allowed_room_ids(join_rules: &Option<CanonicalJsonObject>) -> Vec<OwnedRoomId> {
    let Some(CanonicalJsonValue::Array(allow)) = join_rules.as_ref().and_then(|c| c.get("allow")) else {
        return Vec::new();
    };
    allow
        .iter()
        .filter_map(|entry| {
            let CanonicalJsonValue::Object(entry) = entry else { return None };
            match (entry.get("type"), entry.get("room_id")) {
                (Some(CanonicalJsonValue::String(kind)), Some(CanonicalJsonValue::String(room_id)))
                    if kind == "m.room_membership" =>
                {
                    OwnedRoomId::try_from(room_id.as_str()).ok()
                }
                _ => None,
            }
        })
        .collect()
}

pub(super) fn text(content: &Option<CanonicalJsonObject>, field: &str) -> Option<String> {
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
        if !self.may_preview(Asker::User(viewer), room_id).await? {
            // The same answer as for an unknown room: no existence oracle.
            return Err(Error::NotFound("this server does not know that room".to_owned()));
        }
        let mut summary = self.summary_chunk(room_id, &version).await?;
        if let Some(membership) = self.membership.of(room_id, viewer).await? {
            summary.insert("membership".to_owned(), json!(membership.to_string()));
        }
        Ok(Value::Object(summary))
    }

    /// Whether `asker` may learn a room's summary without being in it (spec:
    /// "Spaces", MSC2946 with MSC3173): when the room is public, knockable or
    /// world-readable; for a user, when they are joined, invited or knocking,
    /// or could join it through a restricted rule's room they are in; for a
    /// server, when one of its users is joined or invited, or is in one of
    /// the rooms a restricted rule names (the server filters for its users).
    pub(super) async fn may_preview(&self, asker: Asker<'_>, room_id: &RoomId) -> Result<bool> {
        let join_rules = self.current_state_content(room_id, "m.room.join_rules", "").await?;
        let history = self.current_state_content(room_id, "m.room.history_visibility", "").await?;
        let join_rule = text(&join_rules, "join_rule").unwrap_or_else(|| "invite".to_owned());
        if matches!(join_rule.as_str(), "public" | "knock" | "knock_restricted")
            || text(&history, "history_visibility").as_deref() == Some("world_readable")
        {
            return Ok(true);
        }
        let allowed = if matches!(join_rule.as_str(), "restricted" | "knock_restricted") {
            allowed_room_ids(&join_rules)
        } else {
            Vec::new()
        };
        match asker {
            Asker::User(user) => {
                if matches!(
                    self.membership.of(room_id, user).await?,
                    Some(MembershipState::Join | MembershipState::Invite | MembershipState::Knock)
                ) {
                    return Ok(true);
                }
                for allowed in &allowed {
                    if self.membership.is_joined(allowed, user).await? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Asker::Server(server) => {
                let members = self.membership.members(room_id).await?;
                if members.iter().any(|(user, membership)| {
                    user.server_name() == server
                        && matches!(membership, MembershipState::Join | MembershipState::Invite)
                }) {
                    return Ok(true);
                }
                for allowed in &allowed {
                    if self.joined_servers(allowed).await?.iter().any(|s| s == server) {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }

    /// The spec's room summary fields of a local room (`room_id`,
    /// `num_joined_members`, `join_rule`, `world_readable`,
    /// `guest_can_join`, `room_version`, and the optional ones it has:
    /// name, topic, avatar, canonical alias, room type, encryption,
    /// `allowed_room_ids` for restricted rooms). Judging who may see it is
    /// the caller's business.
    pub(super) async fn summary_chunk(&self, room_id: &RoomId, version: &RoomVersionId) -> Result<Map<String, Value>> {
        let state = |kind: &'static str| self.current_state_content(room_id, kind, "");
        let join_rules = state("m.room.join_rules").await?;
        let history = state("m.room.history_visibility").await?;
        let join_rule = text(&join_rules, "join_rule").unwrap_or_else(|| "invite".to_owned());
        let world_readable = text(&history, "history_visibility").as_deref() == Some("world_readable");
        let create = state("m.room.create").await?;
        let guest = state("m.room.guest_access").await?;
        let joined = self.membership.members(room_id).await?;
        let joined_count = joined.iter().filter(|(_, m)| *m == MembershipState::Join).count();
        let mut summary = Map::new();
        summary.insert("room_id".to_owned(), json!(room_id));
        summary.insert("num_joined_members".to_owned(), json!(joined_count));
        summary.insert("world_readable".to_owned(), json!(world_readable));
        summary.insert("guest_can_join".to_owned(), json!(text(&guest, "guest_access").as_deref() == Some("can_join")));
        summary.insert("room_version".to_owned(), json!(version.as_str()));
        if matches!(join_rule.as_str(), "restricted" | "knock_restricted") {
            summary.insert("allowed_room_ids".to_owned(), json!(allowed_room_ids(&join_rules)));
        }
        summary.insert("join_rule".to_owned(), json!(join_rule));
        let optional = [
            ("name", text(&state("m.room.name").await?, "name")),
            ("topic", text(&state("m.room.topic").await?, "topic")),
            ("avatar_url", text(&state("m.room.avatar").await?, "url")),
            ("canonical_alias", text(&state("m.room.canonical_alias").await?, "alias")),
            ("room_type", text(&create, "type")),
            ("encryption", text(&state("m.room.encryption").await?, "algorithm")),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                summary.insert(key.to_owned(), json!(value));
            }
        }
        Ok(summary)
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
