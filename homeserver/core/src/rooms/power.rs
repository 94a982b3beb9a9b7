//! Power levels as the server needs them outside the auth rules: may this
//! user redact someone else's event, delete an alias, …

use std::collections::HashSet;

use ruma::room_version_rules::AuthorizationRules;
use ruma::{OwnedUserId, UserId};
use serde_json::Value;

/// The power levels of a room at some point, with its creators.
pub struct PowerLevels {
    content: Option<Value>,
    /// Room version 12: creators outrank every power level.
    privileged_creators: HashSet<OwnedUserId>,
    /// Versions 1–11: the creator's level when no power levels exist.
    creator: Option<OwnedUserId>,
}

fn int(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        // Versions before 10 allowed numeric strings.
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl PowerLevels {
    /// `create` is the create event's sender and content; `content` the
    /// current `m.room.power_levels` content, if any.
    pub fn new(
        rules: &AuthorizationRules,
        create_sender: &UserId,
        create_content: &Value,
        content: Option<Value>,
    ) -> Self {
        let mut privileged_creators = HashSet::new();
        if rules.explicitly_privilege_room_creators {
            privileged_creators.insert(create_sender.to_owned());
            if rules.additional_room_creators
                && let Some(extra) = create_content.get("additional_creators").and_then(Value::as_array)
            {
                privileged_creators
                    .extend(extra.iter().filter_map(Value::as_str).filter_map(|u| UserId::parse(u).ok()));
            }
        }
        let creator = if rules.use_room_create_sender {
            Some(create_sender.to_owned())
        } else {
            create_content.get("creator").and_then(Value::as_str).and_then(|u| UserId::parse(u).ok())
        };
        PowerLevels { content, privileged_creators, creator }
    }

    pub fn user(&self, user: &UserId) -> i64 {
        if self.privileged_creators.contains(user) {
            return i64::MAX;
        }
        match &self.content {
            Some(content) => int(content.get("users").and_then(|u| u.get(user.as_str())))
                .or_else(|| int(content.get("users_default")))
                .unwrap_or(0),
            None if self.creator.as_deref() == Some(user) => 100,
            None => 0,
        }
    }

    /// A top-level action level (`redact`, `kick`, `ban`, `invite`) with the
    /// spec's default.
    pub fn action(&self, name: &str) -> i64 {
        let default = if name == "invite" { 0 } else { 50 };
        self.content.as_ref().and_then(|c| int(c.get(name))).unwrap_or(default)
    }

    /// The power levels as push conditions read them (`@room` mentions
    /// need `notifications.room`).
    pub fn push_context(&self, rules: &AuthorizationRules) -> ruma::push::PushConditionPowerLevelsCtx {
        let users = self
            .content
            .as_ref()
            .and_then(|c| c.get("users"))
            .and_then(Value::as_object)
            .map(|users| {
                users
                    .iter()
                    .filter_map(|(user, level)| Some((UserId::parse(user).ok()?, ruma::Int::new(int(Some(level))?)?)))
                    .collect()
            })
            .unwrap_or_default();
        let content = self.content.as_ref();
        let users_default =
            ruma::Int::new(content.and_then(|c| int(c.get("users_default"))).unwrap_or(0)).unwrap_or_default();
        let mut notifications = ruma::power_levels::NotificationPowerLevels::new();
        if let Some(room) =
            content.and_then(|c| int(c.get("notifications").and_then(|n| n.get("room")))).and_then(ruma::Int::new)
        {
            notifications.room = room;
        }
        let power_rules =
            ruma::room_version_rules::RoomPowerLevelsRules::new(rules, self.privileged_creators.iter().cloned());
        ruma::push::PushConditionPowerLevelsCtx::new(users, users_default, notifications, power_rules)
    }

    /// The level needed to send a state event of `kind`.
    pub fn state_event(&self, kind: &str) -> i64 {
        let Some(content) = &self.content else { return 0 };
        int(content.get("events").and_then(|e| e.get(kind))).or_else(|| int(content.get("state_default"))).unwrap_or(50)
    }
}
