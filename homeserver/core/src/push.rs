//! Push rules and notification counts (spec: "Push notifications").
//!
//! Every event is evaluated against each local recipient's push rules as it
//! is persisted (in the same batch), so unread counts are exact and cost a
//! scan of the unread notifications only. Rules live in the user's
//! `m.push_rules` account data, as the spec says, and are cached here.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use nexus_storage::catalog::{NOTIFICATIONS, READ_POSITIONS, ROOM_NOTIFICATIONS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::canonical_json::CanonicalJsonObject;
use ruma::push::{
    Action, AnyPushRuleRef, FlattenedJson, PredefinedOverrideRuleId, PushConditionPowerLevelsCtx, PushConditionRoomCtx,
    RuleKind, Ruleset,
};
use ruma::serde::Raw;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UInt, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::account_data::AccountData;
use crate::profiles::Profiles;
use crate::values::{corrupt, decode, encode};
use crate::{Error, Result};

pub const PUSH_RULES: &str = "m.push_rules";
const MAIN_TIMELINE: &str = "main";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    pub room_id: OwnedRoomId,
    pub event_id: OwnedEventId,
    pub actions: Vec<Action>,
    pub highlight: bool,
    pub thread: Option<OwnedEventId>,
    pub ts: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Counted {
    highlight: bool,
    thread: Option<OwnedEventId>,
}

/// Unread counts of one room for one user.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub notifications: u64,
    pub highlights: u64,
    /// Per thread root, when threaded receipts are in use.
    pub threads: BTreeMap<OwnedEventId, (u64, u64)>,
}

/// Whom an event may notify: the room's local joined members, and an
/// invitee of this server.
#[derive(Clone, Copy)]
pub struct Recipients<'a> {
    pub joined: &'a [OwnedUserId],
    pub invitee: Option<&'a UserId>,
}

/// The room facts push conditions read.
pub struct RoomFacts {
    pub member_count: u64,
    pub power_levels: Option<PushConditionPowerLevelsCtx>,
}

pub struct Push {
    store: Arc<dyn Store>,
    account_data: Arc<AccountData>,
    profiles: Arc<Profiles>,
    /// Users' stored rules; `None`: the server's defaults (kept as such,
    /// not as a copy each: a big server has many such users).
    rulesets: Mutex<HashMap<OwnedUserId, Option<Arc<Ruleset>>>>,
    /// The server's default rules without the two that name their user
    /// (`.m.rule.invite_for_me`, `.m.rule.is_user_mention`): what every
    /// user with default rules gets when an event names none of them.
    unnamed_default: Ruleset,
}

fn notification_key(user: &UserId, ordering: u64) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).u64(ordering).build()
}

fn counted_key(user: &UserId, room: &RoomId, ordering: u64) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(room.as_str()).u64(ordering).build()
}

fn read_key(user: &UserId, room: &RoomId, thread: &str) -> Vec<u8> {
    KeyBuilder::new().str(user.as_str()).str(room.as_str()).str(thread).build()
}

impl Push {
    /// Forgets a user's unread counts and read positions in a purged room.
    pub async fn purge_room(&self, user: &UserId, room_id: &RoomId) -> Result<()> {
        let prefix = KeyBuilder::new().str(user.as_str()).str(room_id.as_str()).build();
        crate::values::delete_prefix(self.store.as_ref(), &ROOM_NOTIFICATIONS, &prefix).await?;
        crate::values::delete_prefix(self.store.as_ref(), &READ_POSITIONS, &prefix).await.map(drop)
    }

    pub fn new(store: Arc<dyn Store>, account_data: Arc<AccountData>, profiles: Arc<Profiles>) -> Self {
        let mut unnamed_default = Ruleset::server_default(ruma::user_id!("@nobody:nexus.invalid"));
        for rule in [PredefinedOverrideRuleId::InviteForMe, PredefinedOverrideRuleId::IsUserMention] {
            unnamed_default
                .set_enabled(RuleKind::Override, rule.as_ref(), false)
                .expect("the server's default rules have it");
        }
        Push { store, account_data, profiles, rulesets: Mutex::new(HashMap::new()), unnamed_default }
    }

    /// The user's rules: stored ones, or the spec's defaults.
    pub async fn ruleset(&self, user: &UserId) -> Result<Arc<Ruleset>> {
        Ok(self.stored_rules(user).await?.unwrap_or_else(|| Arc::new(Ruleset::server_default(user))))
    }

    /// The user's rules if they changed them; `None`: the defaults.
    async fn stored_rules(&self, user: &UserId) -> Result<Option<Arc<Ruleset>>> {
        // In a cluster another process may change the rules: no cache.
        let cached = self.store.cluster().is_none();
        if cached && let Some(cached) = self.rulesets.lock().expect("ruleset cache poisoned").get(user) {
            return Ok(cached.clone());
        }
        let stored = self.account_data.get(user, None, PUSH_RULES).await?;
        let rules = match stored.and_then(|c| c.get("global").cloned()) {
            Some(global) => Some(Arc::new(
                serde_json::from_value(global)
                    .map_err(|e| Error::Internal(format!("stored push rules of {user} do not parse: {e}")))?,
            )),
            None => None,
        };
        if cached {
            self.rulesets.lock().expect("ruleset cache poisoned").insert(user.to_owned(), rules.clone());
        }
        Ok(rules)
    }

    pub(crate) async fn lock_rules(&self, user: &UserId) -> Result<nexus_storage::LockGuard> {
        Ok(self.store.lock(format!("push_rules:{user}").as_bytes()).await?)
    }

    /// Replaces the user's rules (after a push rule endpoint changed them).
    pub async fn save_ruleset(&self, user: &UserId, ruleset: Ruleset) -> Result<()> {
        let mut content = serde_json::Map::new();
        content
            .insert("global".to_owned(), serde_json::to_value(&ruleset).map_err(|e| Error::Internal(e.to_string()))?);
        self.account_data.set_unchecked(user, None, PUSH_RULES, content).await?;
        self.rulesets.lock().expect("ruleset cache poisoned").insert(user.to_owned(), Some(Arc::new(ruleset)));
        Ok(())
    }

    /// Evaluates an event for each recipient and adds the notifications it
    /// causes to `batch`. Returns them, for delivery to pushers once the
    /// batch has committed.
    #[allow(clippy::too_many_arguments)]
    pub async fn evaluate(
        &self,
        batch: &mut WriteBatch,
        room_id: &RoomId,
        event_id: &OwnedEventId,
        event: &CanonicalJsonObject,
        ordering: u64,
        recipients: Recipients<'_>,
        facts: &RoomFacts,
        thread: Option<OwnedEventId>,
    ) -> Result<Vec<(OwnedUserId, Notification)>> {
        let raw: Raw<Value> = Raw::new(&Value::from(ruma::CanonicalJsonValue::Object(event.clone())))
            .map_err(|e| Error::Internal(e.to_string()))?;
        // Flattened once for every recipient (a big room has thousands).
        let flattened = FlattenedJson::from_raw(&raw);
        let sender = event.get("sender").and_then(|s| s.as_str()).unwrap_or_default();
        let named = NamedUsers::of(event);
        let mut notifications = Vec::new();
        // One context, its user fields set per recipient.
        let mut context = None::<PushConditionRoomCtx>;
        let new_context = |user: &UserId, display_name: String| {
            let mut new = PushConditionRoomCtx::new(
                room_id.to_owned(),
                UInt::try_from(facts.member_count).unwrap_or(UInt::MAX),
                user.to_owned(),
                display_name,
            );
            if let Some(levels) = &facts.power_levels {
                new = new.with_power_levels(levels.clone());
            }
            new
        };
        // What the default rules do for a user the event does not name:
        // the same for all of them, so found once (a big room has
        // thousands of recipients, nearly all of them such users).
        let nobody = ruma::user_id!("@nobody:nexus.invalid");
        let unnamed = first_match(&self.unnamed_default, &flattened, &new_context(nobody, String::new())).await;
        let unnamed_actions = unnamed.map_or(&[][..], |rule| rule.actions());
        let unnamed_notify = unnamed_actions.iter().any(Action::should_notify);
        // Who gets that answer, sorted out under one hold of the rules
        // cache; the others are evaluated one by one.
        let mut shared = Vec::new();
        let mut own_rules = Vec::new();
        {
            let cached = self.rulesets.lock().expect("ruleset cache poisoned");
            for user in recipients.joined.iter().map(AsRef::as_ref).chain(recipients.invitee) {
                if user.as_str() == sender {
                    continue;
                }
                match cached.get(user) {
                    Some(None) if !named.names(user) => {
                        if unnamed_notify {
                            shared.push(user);
                        }
                    }
                    _ => own_rules.push(user),
                }
            }
        }
        let ts = crate::values::now_ms();
        // A notification and its two stored forms, the same for every
        // recipient with the same actions.
        let notify = |actions: &[Action]| {
            let highlight = actions.iter().any(Action::is_highlight);
            let notification = Notification {
                room_id: room_id.to_owned(),
                event_id: event_id.clone(),
                actions: actions.to_vec(),
                highlight,
                thread: thread.clone(),
                ts,
            };
            let counted = encode(&Counted { highlight, thread: thread.clone() });
            (encode(&notification), counted, notification)
        };
        let mut notify_user = |user: &UserId, (stored, counted, notification): &(Vec<u8>, Vec<u8>, Notification)| {
            batch.put(&NOTIFICATIONS, notification_key(user, ordering), stored.clone());
            batch.put(&ROOM_NOTIFICATIONS, counted_key(user, room_id, ordering), counted.clone());
            notifications.push((user.to_owned(), notification.clone()));
        };
        let unnamed_notification = unnamed_notify.then(|| notify(unnamed_actions));
        if let Some(unnamed_notification) = &unnamed_notification {
            for user in shared {
                notify_user(user, unnamed_notification);
            }
        }
        for user in own_rules {
            let stored_rules = self.stored_rules(user).await?;
            if stored_rules.is_none() && !named.names(user) {
                // Not in the cache before: the defaults after all.
                if let Some(unnamed_notification) = &unnamed_notification {
                    notify_user(user, unnamed_notification);
                }
                continue;
            }
            let display_name = self
                .profiles
                .get(user)
                .await
                .ok()
                .and_then(|p| p.get("displayname").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| user.localpart().to_owned());
            let context = match &mut context {
                Some(context) => {
                    context.user_id = user.to_owned();
                    context.user_display_name = display_name;
                    context
                }
                None => context.insert(new_context(user, display_name)),
            };
            let ruleset = stored_rules.unwrap_or_else(|| Arc::new(Ruleset::server_default(user)));
            let actions = first_match(&ruleset, &flattened, context).await.map_or(&[][..], |rule| rule.actions());
            if actions.iter().any(Action::should_notify) {
                notify_user(user, &notify(actions));
            }
        }
        Ok(notifications)
    }

    /// Adds "read up to `ordering`" to `batch`: `thread` is `None` for an
    /// unthreaded receipt, `Some("main")` for the main timeline, or a root.
    pub async fn mark_read(
        &self,
        batch: &mut WriteBatch,
        user: &UserId,
        room: &RoomId,
        thread: Option<&str>,
        ordering: u64,
    ) -> Result<()> {
        let key = read_key(user, room, thread.unwrap_or(""));
        let current = self.read_position(&key).await?;
        if current.is_none_or(|c| c < ordering) {
            batch.put(&READ_POSITIONS, key, encode(&ordering));
        }
        Ok(())
    }

    /// `mark_read`, written at once (for receipts).
    pub async fn read_up_to(&self, user: &UserId, room: &RoomId, thread: Option<&str>, ordering: u64) -> Result<()> {
        let mut batch = WriteBatch::new();
        self.mark_read(&mut batch, user, room, thread, ordering).await?;
        Ok(self.store.write(batch).await?)
    }

    async fn read_position(&self, key: &[u8]) -> Result<Option<u64>> {
        let bytes = self.store.get(&READ_POSITIONS, key).await?;
        bytes.map(|b| decode(&READ_POSITIONS, &b)).transpose()
    }

    /// Unread notification and highlight counts of a room.
    pub async fn counts(&self, user: &UserId, room: &RoomId) -> Result<Counts> {
        let unthreaded = self.read_position(&read_key(user, room, "")).await?.unwrap_or(0);
        let main = self.read_position(&read_key(user, room, MAIN_TIMELINE)).await?.unwrap_or(0);
        let prefix = KeyBuilder::new().str(user.as_str()).str(room.as_str()).build();
        let mut range = KeyRange::prefix(&prefix);
        range.start = std::ops::Bound::Excluded(counted_key(user, room, unthreaded));
        let entries = self.store.scan(&ROOM_NOTIFICATIONS, range, Direction::Forward, usize::MAX).await?;
        let mut counts = Counts::default();
        let mut thread_reads: HashMap<OwnedEventId, u64> = HashMap::new();
        for (key, value) in entries {
            let ordering = KeyReader::new(&key[prefix.len()..]).u64().map_err(|e| corrupt(&ROOM_NOTIFICATIONS, e))?;
            let counted: Counted = decode(&ROOM_NOTIFICATIONS, &value)?;
            let read_upto = match &counted.thread {
                None => main,
                Some(root) => match thread_reads.get(root) {
                    Some(read) => *read,
                    None => {
                        let read = self.read_position(&read_key(user, room, root.as_str())).await?.unwrap_or(0);
                        thread_reads.insert(root.clone(), read);
                        read
                    }
                },
            };
            if ordering <= read_upto {
                continue;
            }
            counts.notifications += 1;
            counts.highlights += u64::from(counted.highlight);
            if let Some(root) = counted.thread {
                let entry = counts.threads.entry(root).or_default();
                entry.0 += 1;
                entry.1 += u64::from(counted.highlight);
            }
        }
        Ok(counts)
    }

    /// Unread notifications across all of a user's rooms (the push
    /// gateway's `counts.unread`).
    pub async fn total_unread(&self, user: &UserId) -> Result<u64> {
        let prefix = KeyBuilder::new().str(user.as_str()).build();
        let entries = self.store.scan_prefix(&ROOM_NOTIFICATIONS, &prefix, Direction::Forward, usize::MAX).await?;
        let mut rooms = BTreeMap::new();
        for (key, _) in entries {
            let room = KeyReader::new(&key[prefix.len()..]).str().map_err(|e| corrupt(&ROOM_NOTIFICATIONS, e))?;
            rooms.entry(room).or_insert(());
        }
        let mut total = 0;
        for room in rooms.keys() {
            if let Ok(room_id) = <&RoomId>::try_from(room.as_str()) {
                total += self.counts(user, room_id).await?.notifications;
            }
        }
        Ok(total)
    }

    /// `GET /notifications`: newest first, before position `from`.
    pub async fn list(
        &self,
        user: &UserId,
        from: Option<u64>,
        limit: usize,
        only_highlight: bool,
    ) -> Result<Vec<(u64, Notification, bool)>> {
        let prefix = KeyBuilder::new().str(user.as_str()).build();
        let mut range = KeyRange::prefix(&prefix);
        if let Some(from) = from {
            range.end = std::ops::Bound::Excluded(notification_key(user, from));
        }
        let entries = self.store.scan(&NOTIFICATIONS, range, Direction::Backward, usize::MAX).await?;
        let mut out = Vec::new();
        for (key, value) in entries {
            let ordering = KeyReader::new(&key[prefix.len()..]).u64().map_err(|e| corrupt(&NOTIFICATIONS, e))?;
            let notification: Notification = decode(&NOTIFICATIONS, &value)?;
            if only_highlight && !notification.highlight {
                continue;
            }
            let unthreaded = self.read_position(&read_key(user, &notification.room_id, "")).await?.unwrap_or(0);
            let scoped = match &notification.thread {
                None => MAIN_TIMELINE.to_owned(),
                Some(root) => root.to_string(),
            };
            let scoped = self.read_position(&read_key(user, &notification.room_id, &scoped)).await?.unwrap_or(0);
            let read = ordering <= unthreaded.max(scoped);
            out.push((ordering, notification, read));
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }
}

/// The users an event names, whom the default rules treat apart: the
/// target of a member event (`.m.rule.invite_for_me`) and those in its
/// `m.mentions` (`.m.rule.is_user_mention`).
struct NamedUsers<'a> {
    state_key: Option<&'a str>,
    mentioned: Vec<&'a str>,
}

impl<'a> NamedUsers<'a> {
    fn of(event: &'a CanonicalJsonObject) -> Self {
        use ruma::CanonicalJsonValue as J;
        let state_key = event.get("state_key").and_then(|k| k.as_str());
        let mentioned = match event.get("content") {
            Some(J::Object(content)) => match content.get("m.mentions") {
                Some(J::Object(mentions)) => match mentions.get("user_ids") {
                    Some(J::Array(ids)) => ids.iter().filter_map(J::as_str).collect(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        NamedUsers { state_key, mentioned }
    }

    fn names(&self, user: &UserId) -> bool {
        self.state_key == Some(user.as_str()) || self.mentioned.contains(&user.as_str())
    }
}

/// The counts as `/sync` renders them.
pub fn counts_json(counts: &Counts, threaded: bool) -> (Value, Option<Value>) {
    if !threaded {
        return (json!({ "notification_count": counts.notifications, "highlight_count": counts.highlights }), None);
    }
    let (thread_n, thread_h) = counts.threads.values().fold((0, 0), |(n, h), (tn, th)| (n + tn, h + th));
    let main = json!({
        "notification_count": counts.notifications - thread_n,
        "highlight_count": counts.highlights - thread_h,
    });
    let threads: serde_json::Map<String, Value> = counts
        .threads
        .iter()
        .map(|(root, (n, h))| (root.to_string(), json!({ "notification_count": n, "highlight_count": h })))
        .collect();
    (main, Some(Value::Object(threads)))
}

/// The first of a user's rules that applies to an event: ruma's
/// `Ruleset::get_match` without flattening the event again (and opening a
/// tracing span) for every recipient.
async fn first_match<'a>(
    ruleset: &'a Ruleset,
    event: &FlattenedJson,
    context: &PushConditionRoomCtx,
) -> Option<AnyPushRuleRef<'a>> {
    for rule in ruleset {
        if rule.applies(event, context).await {
            return Some(rule);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use ruma::push::{NewPushRule, NewSimplePushRule};
    use ruma::{owned_event_id, owned_room_id, owned_server_name};

    use super::*;
    use crate::changes::Changes;
    use crate::stream::Stream;

    async fn push() -> (Push, Arc<dyn Store>, tempfile::TempDir) {
        let (store, dir) = crate::testing::temp_store().await;
        let stream = Stream::start(store.clone()).await.unwrap();
        let changes = Arc::new(Changes::new(store.clone(), stream.clone()));
        let account_data = Arc::new(AccountData::new(store.clone(), stream, changes));
        let profiles = Arc::new(Profiles::new(store.clone(), owned_server_name!("x")));
        (Push::new(store.clone(), account_data, profiles), store, dir)
    }

    fn message(mentions: &[&str]) -> CanonicalJsonObject {
        let event = json!({
            "type": "m.room.message",
            "sender": "@sender:x",
            "room_id": "!r:x",
            "content": { "msgtype": "m.text", "body": "hello", "m.mentions": { "user_ids": mentions } },
        });
        serde_json::from_value(event).unwrap()
    }

    /// The default rules' answer, found once for the users an event does
    /// not name, is the answer each user's own default rules give.
    #[tokio::test]
    async fn users_with_default_rules_get_what_their_own_rules_say() {
        let (push, _store, _dir) = push().await;
        let room = owned_room_id!("!r:x");
        let users: Vec<OwnedUserId> =
            ["@a:x", "@b:x", "@c:x", "@sender:x"].iter().map(|u| OwnedUserId::try_from(*u).unwrap()).collect();
        // c mutes the room: their own rules, evaluated apart.
        let mut rules = Ruleset::server_default(&users[2]);
        rules.insert(NewPushRule::Room(NewSimplePushRule::new(room.clone(), vec![])), None, None).unwrap();
        push.save_ruleset(&users[2], rules).await.unwrap();
        let facts = RoomFacts { member_count: 10, power_levels: None };
        let mut batch = WriteBatch::new();
        let event = message(&["@b:x"]);
        let recipients = Recipients { joined: &users, invitee: None };
        let notified = push
            .evaluate(&mut batch, &room, &owned_event_id!("$e:x"), &event, 5, recipients, &facts, None)
            .await
            .unwrap();
        let by_user: BTreeMap<&str, bool> = notified.iter().map(|(u, n)| (u.as_str(), n.highlight)).collect();
        assert_eq!(
            by_user,
            BTreeMap::from([("@a:x", false), ("@b:x", true)]),
            "muted c and the sender are not notified"
        );
        // Again, everyone's rules now known to the cache: the same answer.
        let again = push
            .evaluate(&mut batch, &room, &owned_event_id!("$f:x"), &event, 6, recipients, &facts, None)
            .await
            .unwrap();
        let again: BTreeMap<&str, bool> = again.iter().map(|(u, n)| (u.as_str(), n.highlight)).collect();
        assert_eq!(again, by_user);
    }
}
