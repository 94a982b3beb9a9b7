//! The audit log (extensions-spec §22, Discord's): who did what to whom,
//! when and why, in a server — kicks, bans and unbans, invites, deleted
//! messages, roles, member roles and timeouts, channels, overwrites,
//! pins, the server's settings. It is read from the events themselves, so
//! it holds whatever client or server made the change: each moderation
//! kind of event is indexed by room and time in the batch that persists
//! it (`persisting`), and a read merges the newest entries of the space
//! and its channels, describing each from the stored event and the state
//! it replaced. Readable with VIEW_AUDIT_LOG.

use nexus_extensions::Permissions;
use nexus_extensions::events;
use nexus_storage::catalog::GUILD_AUDIT_LOG;
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, WriteBatch};
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::{Value, json};

use super::Guilds;
use crate::rooms::pdu::Pdu;
use crate::values::corrupt;
use crate::{Error, Result};

/// The most entries one read returns.
pub const MAX_LIMIT: usize = 100;

/// State kinds whose changes are moderation or administration.
const AUDITED_STATE: [&str; 12] = [
    "m.room.power_levels",
    "m.room.name",
    "m.room.topic",
    "m.room.avatar",
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.pinned_events",
    "m.space.child",
    events::SERVER,
    events::CHANNEL,
    events::CHANNEL_OVERWRITES,
    events::ROLE,
];

fn audited(pdu: &Pdu) -> bool {
    let kind = pdu.kind.to_string();
    match (kind.as_str(), pdu.state_key.as_deref()) {
        ("m.room.member", Some(target)) => target != pdu.sender.as_str(),
        ("m.room.redaction", _) => true,
        (kind, Some(_)) if kind == events::MEMBER => true,
        (kind, Some(_)) => AUDITED_STATE.contains(&kind),
        _ => false,
    }
}

fn entry_key(room: &RoomId, ts: u64, event_id: &ruma::EventId) -> Vec<u8> {
    KeyBuilder::new().str(room.as_str()).u64(ts).str(event_id.as_str()).build()
}

/// What to read.
#[derive(Debug, Default)]
pub struct AuditQuery {
    pub limit: usize,
    /// Only entries older than this (milliseconds): the previous page's
    /// oldest `created_ts`.
    pub before: Option<u64>,
    /// Only this actor's.
    pub user_id: Option<OwnedUserId>,
    /// Only this action.
    pub action: Option<String>,
}

/// One entry.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: OwnedEventId,
    pub room_id: OwnedRoomId,
    pub action: &'static str,
    pub user_id: OwnedUserId,
    pub target_id: Option<String>,
    pub reason: Option<String>,
    pub created_ts: u64,
    /// `{new, old}` contents of a state change.
    pub changes: Option<Value>,
}

fn is_empty_content(content: &Value) -> bool {
    content.as_object().is_none_or(|o| o.is_empty())
}

impl Guilds {
    /// Indexes a moderation event in the batch that persists it.
    pub(super) fn record_audit(&self, batch: &mut WriteBatch, room_id: &RoomId, pdu: &Pdu) {
        if audited(pdu) {
            let ts = u64::from(pdu.origin_server_ts.get());
            batch.put(&GUILD_AUDIT_LOG, entry_key(room_id, ts, &pdu.event_id), Vec::new());
        }
    }

    /// A server's audit log, newest first, for a member with VIEW_AUDIT_LOG.
    pub async fn audit_log(&self, viewer: &UserId, space: &RoomId, query: AuditQuery) -> Result<Vec<AuditEntry>> {
        self.require_server(space).await?;
        let allowed =
            self.permissions(viewer, space).await?.is_some_and(|(_, p)| p.contains(Permissions::VIEW_AUDIT_LOG));
        if !allowed {
            return Err(Error::Forbidden("reading the audit log needs VIEW_AUDIT_LOG".to_owned()));
        }
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let mut rooms = vec![space.to_owned()];
        rooms.extend(self.channels(space).await?);
        // The newest candidates of each room, merged; a room contributes at
        // most a few pages' worth, so a read costs the same however long
        // the server's history.
        let mut candidates: Vec<(u64, OwnedRoomId, OwnedEventId)> = Vec::new();
        for room in &rooms {
            let prefix = KeyBuilder::new().str(room.as_str()).build();
            let range = match query.before {
                Some(before) => KeyRange::between(&prefix, &KeyBuilder::new().str(room.as_str()).u64(before).build()),
                None => KeyRange::prefix(&prefix),
            };
            let rows = self.store.scan(&GUILD_AUDIT_LOG, range, Direction::Backward, limit * 4).await?;
            for (key, _) in rows {
                let mut reader = KeyReader::new(&key[prefix.len()..]);
                let ts = reader.u64().map_err(|e| corrupt(&GUILD_AUDIT_LOG, e))?;
                let event_id = reader.str().map_err(|e| corrupt(&GUILD_AUDIT_LOG, e))?;
                let event_id = OwnedEventId::try_from(event_id).map_err(|e| corrupt(&GUILD_AUDIT_LOG, e))?;
                candidates.push((ts, room.clone(), event_id));
            }
        }
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.2.cmp(&a.2)));
        let mut entries = Vec::new();
        for (ts, room, event_id) in candidates {
            if entries.len() == limit {
                break;
            }
            let Some(entry) = self.describe(&room, &event_id, ts, space).await? else { continue };
            if query.user_id.as_ref().is_some_and(|u| *u != entry.user_id)
                || query.action.as_ref().is_some_and(|a| a != entry.action)
            {
                continue;
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    /// An indexed event as an entry; `None` for one that is not a
    /// moderation action after all (someone removing their own message).
    async fn describe(
        &self,
        room: &RoomId,
        event_id: &ruma::EventId,
        ts: u64,
        space: &RoomId,
    ) -> Result<Option<AuditEntry>> {
        let Some(stored) = self.rooms.timeline.get(event_id).await? else { return Ok(None) };
        let event = Value::from(ruma::CanonicalJsonValue::Object(stored.object()?));
        let Some(sender) = event["sender"].as_str().and_then(|s| OwnedUserId::try_from(s).ok()) else {
            return Ok(None);
        };
        let content = event["content"].clone();
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        let state_key = event["state_key"].as_str().map(str::to_owned);
        let old = match &stored.replaces_state {
            Some(previous) => match self.rooms.timeline.get(previous).await? {
                Some(previous) => Value::from(ruma::CanonicalJsonValue::Object(previous.object()?))["content"].clone(),
                None => Value::Null,
            },
            None => Value::Null,
        };
        let in_space = room == space;
        let mut target = state_key.clone().filter(|k| !k.is_empty());
        let action: &'static str = match kind.as_str() {
            "m.room.member" => {
                let now = content["membership"].as_str().unwrap_or_default();
                let before = old["membership"].as_str().unwrap_or_default();
                match (before, now) {
                    (_, "ban") => "member_ban_add",
                    ("ban", "leave") => "member_ban_remove",
                    ("invite", "leave") => "member_invite_revoke",
                    (_, "leave") => "member_kick",
                    (_, "invite") => "member_invite",
                    _ => "member_update",
                }
            }
            "m.room.redaction" => {
                let redacted = event["redacts"].as_str().or(content["redacts"].as_str()).unwrap_or_default();
                let Ok(redacted) = ruma::EventId::parse(redacted) else { return Ok(None) };
                let author = match self.rooms.timeline.get(&redacted).await? {
                    Some(original) => Value::from(ruma::CanonicalJsonValue::Object(original.object()?))["sender"]
                        .as_str()
                        .map(str::to_owned),
                    None => None,
                };
                if author.as_deref().is_none_or(|a| a == sender.as_str()) {
                    return Ok(None);
                }
                target = author;
                "message_delete"
            }
            kind if kind == events::ROLE => match (is_empty_content(&old), is_empty_content(&content)) {
                (true, false) => "role_create",
                (false, true) => "role_delete",
                _ => "role_update",
            },
            kind if kind == events::MEMBER => "member_update",
            "m.space.child" => {
                target = state_key.clone();
                match (is_empty_content(&old), is_empty_content(&content)) {
                    (true, false) => "channel_create",
                    (false, true) => "channel_delete",
                    _ => "channel_update",
                }
            }
            kind if kind == events::CHANNEL_OVERWRITES => "channel_overwrite_update",
            "m.room.pinned_events" => "message_pin",
            "m.room.power_levels" => "permissions_update",
            kind if kind == events::SERVER => "guild_update",
            _ if in_space => "guild_update",
            _ => "channel_update",
        };
        if target.is_none() && !in_space && action.starts_with("channel") {
            target = Some(room.to_string());
        }
        let changes = state_key.is_some().then(|| json!({ "new": content, "old": old }));
        Ok(Some(AuditEntry {
            id: event_id.to_owned(),
            room_id: room.to_owned(),
            action,
            user_id: sender,
            target_id: target,
            reason: content["reason"].as_str().map(str::to_owned),
            created_ts: ts,
            changes,
        }))
    }
}
