//! Notification levels per server and per channel (Discord's "All
//! messages / Only @mentions / Nothing", timed mutes, suppressing @everyone
//! and role mentions), stored per user and expressed as standard push rules
//! in the user's `m.push_rules`, so stock clients and push gateways honour
//! them and `/sync` counts follow them (extensions-spec §22, notification levels).
//!
//! For a user in a room of a server, the effective setting is the channel's
//! where it says something, else the user's setting for the server, else
//! the server's `default_notifications` (§4.2). It becomes, per room:
//!
//! * "nothing", or muted: the override rule `nexus.mute.<room>`
//!   (`room_id` matches → no actions), highest of the user's overrides;
//! * "only mentions": the room rule `<room>` with no actions (what Element
//!   writes for "Mentions and keywords");
//! * "all messages": no room rule (the spec's defaults notify);
//! * suppressing @everyone/@here (`@room` in Matrix) or role mentions:
//!   override rules that take such events before the spec's mention rules
//!   and give them the level's plain actions (notify without highlight, or
//!   nothing).
//!
//! Rules are re-expressed when a setting changes, when a local user joins a
//! room of a server or a server's default changes (a durable job written
//! in the event's batch), and when a timed mute ends (a durable timer), all
//! driven by the upkeep tick, so they survive restarts.

use std::sync::Arc;

use nexus_extensions::events::server::DefaultNotifications;
use nexus_storage::catalog::{NOTIFICATION_JOBS, NOTIFICATION_MUTE_ENDS, NOTIFICATION_SETTINGS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::events::TimelineEventType;
use ruma::events::room::member::MembershipState;
use ruma::push::{
    Action, EventMatchConditionData, EventPropertyIsConditionData, NewConditionalPushRule, NewPushRule,
    NewSimplePushRule, PushCondition, RuleKind, Ruleset, ScalarJsonValue,
};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, ServerName, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Guilds;
use crate::push::Push;
use crate::rooms::Rooms;
use crate::rooms::pdu::Pdu;
use crate::values::{corrupt, decode, encode, now_ms};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    AllMessages,
    OnlyMentions,
    Nothing,
}

impl Level {
    fn parse(value: &str) -> Option<Level> {
        match value {
            "all_messages" => Some(Level::AllMessages),
            "only_mentions" => Some(Level::OnlyMentions),
            "nothing" => Some(Level::Nothing),
            _ => None,
        }
    }
}

/// One user's setting for a server (its space) or a channel. `None` fields
/// say nothing: a channel's inherit the server's, the server's its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    #[serde(default)]
    pub level: Option<Level>,
    #[serde(default)]
    pub muted_until: Option<u64>,
    #[serde(default)]
    pub suppress_everyone: Option<bool>,
    #[serde(default)]
    pub suppress_roles: Option<bool>,
}

impl Setting {
    fn muted(&self, now: u64) -> bool {
        self.muted_until.is_some_and(|until| until > now)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "level": self.level,
            "muted_until": self.muted_until,
            "suppress_everyone": self.suppress_everyone,
            "suppress_roles": self.suppress_roles,
        })
    }

    /// A request body: every field optional, `null` clears it.
    pub fn from_body(body: &Value) -> Result<Setting> {
        let Some(object) = body.as_object() else {
            return Err(Error::BadJson("the body must be an object".to_owned()));
        };
        let mut setting = Setting::default();
        for (field, value) in object {
            let bad = |expected: &str| Error::BadJson(format!("`{field}` must be {expected}"));
            match field.as_str() {
                "level" => {
                    setting.level = match value {
                        Value::Null => None,
                        Value::String(s) => Some(
                            Level::parse(s).ok_or_else(|| bad("\"all_messages\", \"only_mentions\" or \"nothing\""))?,
                        ),
                        _ => return Err(bad("\"all_messages\", \"only_mentions\", \"nothing\" or null")),
                    }
                }
                "muted_until" => {
                    setting.muted_until = match value {
                        Value::Null => None,
                        v => Some(
                            v.as_u64()
                                .filter(|ms| *ms <= 1 << 53)
                                .ok_or_else(|| bad("a timestamp in milliseconds or null"))?,
                        ),
                    }
                }
                "suppress_everyone" | "suppress_roles" => {
                    let flag = match value {
                        Value::Null => None,
                        Value::Bool(b) => Some(*b),
                        _ => return Err(bad("a boolean or null")),
                    };
                    if field == "suppress_everyone" {
                        setting.suppress_everyone = flag;
                    } else {
                        setting.suppress_roles = flag;
                    }
                }
                _ => return Err(Error::BadJson(format!("`{field}` is not a notification setting"))),
            }
        }
        Ok(setting)
    }
}

/// What a user's rules for one room say, all settings applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub level: Level,
    pub muted: bool,
    pub suppress_everyone: bool,
    pub suppress_roles: bool,
}

impl Effective {
    /// `channel` beats `server` where it says something; a server mute
    /// covers channels that chose no level of their own.
    pub fn of(default: Level, server: &Setting, channel: Option<&Setting>, now: u64) -> Effective {
        let channel_level = channel.and_then(|c| c.level);
        let level = channel_level.or(server.level).unwrap_or(default);
        let muted = channel.is_some_and(|c| c.muted(now)) || (channel_level.is_none() && server.muted(now));
        let flag = |pick: fn(&Setting) -> Option<bool>| channel.and_then(pick).or(pick(server)).unwrap_or(false);
        Effective {
            level,
            muted,
            suppress_everyone: flag(|s| s.suppress_everyone),
            suppress_roles: flag(|s| s.suppress_roles),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "level": self.level,
            "muted": self.muted,
            "suppress_everyone": self.suppress_everyone,
            "suppress_roles": self.suppress_roles,
        })
    }
}

fn mute_rule_id(room: &RoomId) -> String {
    format!("nexus.mute.{room}")
}
fn everyone_rule_id(room: &RoomId) -> String {
    format!("nexus.suppress_everyone.{room}")
}
fn everyone_body_rule_id(room: &RoomId) -> String {
    format!("nexus.suppress_everyone_body.{room}")
}
fn roles_rule_id(room: &RoomId) -> String {
    format!("nexus.suppress_roles.{room}")
}

/// The content flag Nexus clients set on a role mention (§22, notification levels), beside
/// `m.mentions.user_ids` naming the role's members.
pub const ROLE_MENTION_FLAG: &str = "nexus.role_mention";

fn in_room(room: &RoomId) -> PushCondition {
    PushCondition::EventMatch(EventMatchConditionData::new("room_id".to_owned(), room.to_string()))
}

/// Rewrites one room's rules in `ruleset` to say `effective`.
pub fn express(ruleset: &mut Ruleset, room: &RoomId, effective: Option<&Effective>) {
    for (kind, id) in [
        (RuleKind::Override, mute_rule_id(room)),
        (RuleKind::Override, everyone_rule_id(room)),
        (RuleKind::Override, everyone_body_rule_id(room)),
        (RuleKind::Override, roles_rule_id(room)),
        (RuleKind::Room, room.to_string()),
    ] {
        let _ = ruleset.remove(kind, id);
    }
    let Some(effective) = effective else { return };
    if effective.level == Level::OnlyMentions {
        let _ = ruleset.insert(NewPushRule::Room(NewSimplePushRule::new(room.to_owned(), Vec::new())), None, None);
    }
    // What a suppressed mention still gets: the level's plain notification.
    let plain = if effective.level == Level::AllMessages { vec![Action::Notify] } else { Vec::new() };
    let mut overrides: Vec<NewConditionalPushRule> = Vec::new();
    if effective.suppress_roles {
        let flag = EventPropertyIsConditionData::new(
            format!("content.{}", ROLE_MENTION_FLAG.replace('.', "\\.")),
            ScalarJsonValue::Bool(true),
        );
        overrides.push(NewConditionalPushRule::new(
            roles_rule_id(room),
            vec![in_room(room), PushCondition::EventPropertyIs(flag)],
            plain.clone(),
        ));
    }
    if effective.suppress_everyone {
        let mention =
            EventPropertyIsConditionData::new("content.m\\.mentions.room".to_owned(), ScalarJsonValue::Bool(true));
        overrides.push(NewConditionalPushRule::new(
            everyone_rule_id(room),
            vec![in_room(room), PushCondition::EventPropertyIs(mention)],
            plain.clone(),
        ));
        let body = EventMatchConditionData::new("content.body".to_owned(), "@room".to_owned());
        overrides.push(NewConditionalPushRule::new(
            everyone_body_rule_id(room),
            vec![in_room(room), PushCondition::EventMatch(body)],
            plain,
        ));
    }
    if effective.muted || effective.level == Level::Nothing {
        overrides.push(NewConditionalPushRule::new(mute_rule_id(room), vec![in_room(room)], Vec::new()));
    }
    // Each insert goes first among the user's overrides: the mute ends on top.
    for rule in overrides {
        let _ = ruleset.insert(NewPushRule::Override(rule), None, None);
    }
}

fn default_level(scope: &super::Scope) -> Level {
    match scope.server.content.default_notifications {
        DefaultNotifications::OnlyMentions => Level::OnlyMentions,
        _ => Level::AllMessages,
    }
}

/// The server default last expressed for a space's members (no user id is
/// empty, so it cannot meet a user's setting).
fn applied_default_key(space: &RoomId) -> Vec<u8> {
    KeyBuilder::new().str("").str(space.as_str()).build()
}

fn setting_key(user: &UserId, room: &RoomId) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(room.as_str()).build()
}

fn mute_end_key(ends_at: u64, user: &UserId, room: &RoomId) -> Vec<u8> {
    KeyBuilder::new().u64(ends_at).str(user.as_str()).str(room.as_str()).build()
}

/// A job: re-express `user`'s rules for `room` (every local joined member's
/// when `user` is empty).
fn job_key(room: &RoomId, user: &str) -> Vec<u8> {
    KeyBuilder::new().str(room.as_str()).str(user).build()
}

/// Records, in the batch persisting `pdu`, what makes rules need
/// re-expressing: a local user joining a room, a server's state changing.
/// (Decided from the event alone, as `RoomPolicy::persisting` requires.)
pub(super) fn record_inputs(batch: &mut WriteBatch, local: &ServerName, room: &RoomId, pdu: &Pdu) {
    match (&pdu.kind, pdu.state_key.as_deref()) {
        (TimelineEventType::RoomMember, Some(key)) => {
            let Ok(user) = UserId::parse(key) else { return };
            let joined = pdu.content_json().get("membership").and_then(Value::as_str) == Some("join");
            if joined && user.server_name() == local {
                batch.put(&NOTIFICATION_JOBS, job_key(room, user.as_str()), Vec::new());
            }
        }
        (kind, Some("")) if kind.to_string() == nexus_extensions::events::SERVER => {
            batch.put(&NOTIFICATION_JOBS, job_key(room, ""), Vec::new());
        }
        _ => {}
    }
}

pub struct NotificationLevels {
    store: Arc<dyn Store>,
    guilds: Arc<Guilds>,
    rooms: Arc<Rooms>,
    push: Arc<Push>,
}

/// Jobs and ended mutes handled per tick.
const BATCH: usize = 256;

impl NotificationLevels {
    pub fn new(store: Arc<dyn Store>, guilds: Arc<Guilds>, rooms: Arc<Rooms>, push: Arc<Push>) -> Self {
        NotificationLevels { store, guilds, rooms, push }
    }

    async fn setting(&self, user: &UserId, room: &RoomId) -> Result<Setting> {
        let bytes = self.store.get(&NOTIFICATION_SETTINGS, &setting_key(user, room)).await?;
        Ok(bytes.map(|b| decode(&NOTIFICATION_SETTINGS, &b)).transpose()?.unwrap_or_default())
    }

    /// The server (space) a room belongs to, the room being the space or
    /// one of its channels; `M_NOT_FOUND` otherwise.
    async fn space_for(&self, room: &RoomId) -> Result<super::Scope> {
        self.guilds.scope(room).await?.ok_or_else(|| Error::NotFound("not a Nexus server or channel".to_owned()))
    }

    async fn require_joined(&self, user: &UserId, room: &RoomId) -> Result<()> {
        if self.rooms.membership_of(room, user).await? != Some(MembershipState::Join) {
            return Err(Error::Forbidden("you are not a member of this server or channel".to_owned()));
        }
        Ok(())
    }

    /// `GET`: the user's own setting for a server or channel, and what is in
    /// force there (for a server: in channels that chose nothing).
    pub async fn get(&self, user: &UserId, room: &RoomId) -> Result<Value> {
        let scope = self.space_for(room).await?;
        self.require_joined(user, room).await?;
        let setting = self.setting(user, room).await?;
        let effective = self.effective(user, &scope, room).await?;
        let mut answer = setting.to_json();
        answer["effective"] = effective.to_json();
        Ok(answer)
    }

    /// `PUT`: replaces the user's setting for a server or channel and
    /// re-expresses their push rules before answering.
    pub async fn set(&self, user: &UserId, room: &RoomId, body: &Value) -> Result<Value> {
        let setting = Setting::from_body(body)?;
        let scope = self.space_for(room).await?;
        self.require_joined(user, room).await?;
        let old = self.setting(user, room).await?;
        let mut batch = WriteBatch::new();
        if let Some(until) = old.muted_until {
            batch.delete(&NOTIFICATION_MUTE_ENDS, mute_end_key(until, user, room));
        }
        if let Some(until) = setting.muted_until.filter(|until| *until > now_ms()) {
            batch.put(&NOTIFICATION_MUTE_ENDS, mute_end_key(until, user, room), Vec::new());
        }
        if setting == Setting::default() {
            batch.delete(&NOTIFICATION_SETTINGS, setting_key(user, room));
        } else {
            batch.put(&NOTIFICATION_SETTINGS, setting_key(user, room), encode(&setting));
        }
        self.store.write(batch).await?;
        self.reexpress(user, &scope, room).await?;
        self.get(user, room).await
    }

    async fn effective(&self, user: &UserId, scope: &super::Scope, room: &RoomId) -> Result<Effective> {
        let default = default_level(scope);
        let server = self.setting(user, &scope.server.space).await?;
        let channel = if room == scope.server.space { None } else { Some(self.setting(user, room).await?) };
        Ok(Effective::of(default, &server, channel.as_ref(), now_ms()))
    }

    /// Re-expresses `user`'s rules for `room`, or for the whole server when
    /// `room` is its space (every room of it the user is joined to).
    async fn reexpress(&self, user: &UserId, scope: &super::Scope, room: &RoomId) -> Result<()> {
        let space = scope.server.space.clone();
        let mut rooms: Vec<OwnedRoomId> = vec![room.to_owned()];
        if room == space {
            rooms.extend(self.guilds.channels(&space).await?);
        }
        let mut wanted = Vec::new();
        for room in rooms {
            let joined = self.rooms.membership_of(&room, user).await? == Some(MembershipState::Join);
            let effective = if joined { Some(self.effective(user, scope, &room).await?) } else { None };
            wanted.push((room, effective));
        }
        // Most joins change nothing: leave the account data alone then.
        let current = self.push.ruleset(user).await?;
        let mut next = (*current).clone();
        for (room, effective) in &wanted {
            express(&mut next, room, effective.as_ref());
        }
        if serde_json::to_value(&next).ok() == serde_json::to_value(&*current).ok() {
            return Ok(());
        }
        self.push
            .modify(user, |ruleset| {
                for (room, effective) in &wanted {
                    express(ruleset, room, effective.as_ref());
                }
                Ok(())
            })
            .await
    }

    /// One upkeep round: ended mutes and waiting jobs. Returns how many.
    pub async fn upkeep(&self) -> Result<usize> {
        let mut done = 0;
        let now = now_ms();
        let ended = KeyRange::between(&[], &KeyBuilder::new().u64(now.saturating_add(1)).build());
        for (key, _) in self.store.scan(&NOTIFICATION_MUTE_ENDS, ended, Direction::Forward, BATCH).await? {
            let mut reader = KeyReader::new(&key);
            reader.u64().map_err(|e| corrupt(&NOTIFICATION_MUTE_ENDS, e))?;
            let user = reader.str().map_err(|e| corrupt(&NOTIFICATION_MUTE_ENDS, e))?;
            let room = reader.str().map_err(|e| corrupt(&NOTIFICATION_MUTE_ENDS, e))?;
            if let (Ok(user), Ok(room)) = (UserId::parse(&user), RoomId::parse(&room))
                && let Some(scope) = self.guilds.scope(&room).await?
            {
                self.reexpress(&user, &scope, &room).await?;
            }
            self.store.delete(&NOTIFICATION_MUTE_ENDS, &key).await?;
            done += 1;
        }
        let jobs = self.store.scan(&NOTIFICATION_JOBS, KeyRange::all(), Direction::Forward, BATCH).await?;
        for (key, _) in jobs {
            let mut reader = KeyReader::new(&key);
            let room = reader.str().map_err(|e| corrupt(&NOTIFICATION_JOBS, e))?;
            let user = reader.str().map_err(|e| corrupt(&NOTIFICATION_JOBS, e))?;
            if let Ok(room) = RoomId::parse(&room) {
                self.run_job(&room, &user).await?;
            }
            self.store.delete(&NOTIFICATION_JOBS, &key).await?;
            done += 1;
        }
        Ok(done)
    }

    async fn run_job(&self, room: &RoomId, user: &str) -> Result<()> {
        let Some(scope) = self.guilds.scope(room).await? else { return Ok(()) };
        let users: Vec<OwnedUserId> = if user.is_empty() {
            // `nexus.server` changed (categories, icon, …): only a new
            // default changes rules, and then every local member's.
            let default = default_level(&scope);
            let applied_key = applied_default_key(&scope.server.space);
            let applied: Option<Level> = match self.store.get(&NOTIFICATION_SETTINGS, &applied_key).await? {
                Some(bytes) => decode(&NOTIFICATION_SETTINGS, &bytes)?,
                None => None,
            };
            if applied.unwrap_or(Level::AllMessages) == default {
                return Ok(());
            }
            let mut rooms = vec![scope.server.space.clone()];
            rooms.extend(self.guilds.channels(&scope.server.space).await?);
            let mut users: Vec<OwnedUserId> = Vec::new();
            for room in rooms {
                for (member, membership) in self.rooms.membership.members(&room).await? {
                    if membership == MembershipState::Join
                        && member.server_name() == self.rooms.server_name()
                        && !users.contains(&member)
                    {
                        users.push(member);
                    }
                }
            }
            let space = scope.server.space.clone();
            for user in users {
                self.reexpress(&user, &scope, &space).await?;
            }
            self.store.put(&NOTIFICATION_SETTINGS, &applied_key, &encode(&Some(default))).await?;
            return Ok(());
        } else {
            UserId::parse(user).map(|u| vec![u]).unwrap_or_default()
        };
        for user in users {
            self.reexpress(&user, &scope, room).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_setting_beats_the_server_and_the_default() {
        let server = Setting { level: Some(Level::Nothing), ..Default::default() };
        let channel = Setting { level: Some(Level::AllMessages), ..Default::default() };
        assert_eq!(Effective::of(Level::OnlyMentions, &server, Some(&channel), 0).level, Level::AllMessages);
        assert_eq!(Effective::of(Level::OnlyMentions, &server, Some(&Setting::default()), 0).level, Level::Nothing);
        let none = Setting::default();
        assert_eq!(Effective::of(Level::OnlyMentions, &none, Some(&none), 0).level, Level::OnlyMentions);
    }

    #[test]
    fn a_mute_ends_at_its_time() {
        let muted = Setting { muted_until: Some(100), ..Default::default() };
        assert!(Effective::of(Level::AllMessages, &muted, None, 99).muted);
        assert!(!Effective::of(Level::AllMessages, &muted, None, 100).muted);
        // A channel with its own level is not covered by the server's mute.
        let own = Setting { level: Some(Level::AllMessages), ..Default::default() };
        assert!(!Effective::of(Level::AllMessages, &muted, Some(&own), 0).muted);
    }

    #[test]
    fn bodies_name_the_bad_field() {
        let e = Setting::from_body(&json!({"level": "loud"})).unwrap_err();
        assert!(e.to_string().contains("level"));
        let e = Setting::from_body(&json!({"muted_until": "soon"})).unwrap_err();
        assert!(e.to_string().contains("muted_until"));
        let e = Setting::from_body(&json!({"suppress_roles": 1})).unwrap_err();
        assert!(e.to_string().contains("suppress_roles"));
        assert!(Setting::from_body(&json!({"colour": 1})).is_err());
    }

    #[test]
    fn levels_become_standard_rules() {
        let user = UserId::parse("@u:x").unwrap();
        let room = RoomId::parse("!r:x").unwrap();
        let mut rules = Ruleset::server_default(&user);
        let mentions =
            Effective { level: Level::OnlyMentions, muted: false, suppress_everyone: true, suppress_roles: false };
        express(&mut rules, &room, Some(&mentions));
        assert!(rules.get(RuleKind::Room, room.as_str()).is_some());
        assert!(rules.get(RuleKind::Override, everyone_rule_id(&room)).is_some());
        assert!(rules.get(RuleKind::Override, mute_rule_id(&room)).is_none());
        let muted = Effective { muted: true, ..mentions };
        express(&mut rules, &room, Some(&muted));
        // Right after `.m.rule.master`.
        assert_eq!(rules.override_.get_index(1).map(|r| r.rule_id.clone()), Some(mute_rule_id(&room)));
        express(&mut rules, &room, None);
        assert!(rules.get(RuleKind::Room, room.as_str()).is_none());
        assert!(rules.get(RuleKind::Override, mute_rule_id(&room)).is_none());
    }
}
