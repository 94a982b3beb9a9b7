//! The `m.room.power_levels` content, and the checks Matrix's auth rules
//! (and the `sender_notification_permission` push condition) make with it.
//!
//! The checks here are the yardstick for the compiler's guarantees, so they
//! follow the Matrix spec rather than anything Nexus-specific.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::capabilities::Slot;

/// Content of `m.room.power_levels`, with every field written out so that
/// no homeserver has to apply defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerLevelsContent {
    /// Level to ban.
    pub ban: i64,
    /// Per-event-type levels.
    pub events: BTreeMap<String, i64>,
    /// Level for message event types not in `events`.
    pub events_default: i64,
    /// Level to invite.
    pub invite: i64,
    /// Level to kick.
    pub kick: i64,
    /// Notification levels.
    pub notifications: NotificationLevels,
    /// Level to redact other users' events.
    pub redact: i64,
    /// Level for state event types not in `events`.
    pub state_default: i64,
    /// Per-user levels.
    pub users: BTreeMap<String, i64>,
    /// Level of users not in `users`.
    pub users_default: i64,
}

/// `notifications` in power levels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationLevels {
    /// Level to trigger `@room` notifications.
    pub room: i64,
}

/// A user's power: a number, or infinite for room creators from room
/// version 12 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// An ordinary level.
    Finite(i64),
    /// A room creator in room version 12+.
    Infinite,
}

/// Who created the room, and whether that makes them all-powerful.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Creators {
    /// The create event's sender plus `additional_creators`.
    pub users: BTreeSet<String>,
    /// Room version 12 or later: creators have infinite power and must not
    /// appear in `users`.
    pub infinite: bool,
}

impl Creators {
    /// Creators of a room whose version predates infinite creator power.
    pub fn none() -> Creators {
        Creators::default()
    }

    /// Room-version-12 creators.
    pub fn v12<'a>(users: impl IntoIterator<Item = &'a str>) -> Creators {
        Creators { users: users.into_iter().map(str::to_owned).collect(), infinite: true }
    }

    /// Whether `user` has infinite power.
    pub fn is_infinite(&self, user: &str) -> bool {
        self.infinite && self.users.contains(user)
    }
}

/// Something the Matrix auth rules or push rules check against power levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatrixAction<'a> {
    /// Send a message event of this type.
    SendMessage(&'a str),
    /// Send a state event of this type (state key not starting with `@`).
    SendState(&'a str),
    /// Invite someone.
    Invite,
    /// Kick this user.
    Kick(&'a str),
    /// Ban this user.
    Ban(&'a str),
    /// Redact another user's event.
    RedactOthers,
    /// Have an `@room` mention notify the room.
    NotifyRoom,
}

/// Message event type used to probe `events_default` (nobody lists it).
pub const UNLISTED_MESSAGE_TYPE: &str = "nexus.probe.unlisted_message";
/// State event type used to probe `state_default`.
pub const UNLISTED_STATE_TYPE: &str = "nexus.probe.unlisted_state";

impl PowerLevelsContent {
    /// The level of `user`.
    pub fn user_level(&self, user: &str, creators: &Creators) -> Level {
        if creators.is_infinite(user) {
            return Level::Infinite;
        }
        Level::Finite(*self.users.get(user).unwrap_or(&self.users_default))
    }

    /// The level required to send `event_type`.
    pub fn event_level(&self, event_type: &str, is_state: bool) -> i64 {
        match self.events.get(event_type) {
            Some(level) => *level,
            None if is_state => self.state_default,
            None => self.events_default,
        }
    }

    /// Whether the auth rules (or push rules, for `NotifyRoom`) let `sender`
    /// do `action`. Membership preconditions (being joined, the target's
    /// current membership) are outside power levels and assumed satisfied.
    pub fn allows(&self, action: MatrixAction<'_>, sender: &str, creators: &Creators) -> bool {
        let level = self.user_level(sender, creators);
        let at_least = |required: i64| level >= Level::Finite(required);
        match action {
            MatrixAction::SendMessage(t) => at_least(self.event_level(t, false)),
            MatrixAction::SendState(t) => at_least(self.event_level(t, true)),
            MatrixAction::Invite => at_least(self.invite),
            MatrixAction::Kick(target) => at_least(self.kick) && self.user_level(target, creators) < level,
            MatrixAction::Ban(target) => at_least(self.ban) && self.user_level(target, creators) < level,
            // A redaction is itself an event, so its type's level applies too.
            MatrixAction::RedactOthers => {
                at_least(self.redact) && at_least(self.event_level("m.room.redaction", false))
            }
            // The @room message has to be sendable for the ping to matter.
            MatrixAction::NotifyRoom => {
                at_least(self.notifications.room) && at_least(self.event_level("m.room.message", false))
            }
        }
    }

    /// The value of a field.
    pub fn slot(&self, slot: Slot) -> i64 {
        match slot {
            Slot::EventsDefault => self.events_default,
            Slot::StateDefault => self.state_default,
            Slot::Invite => self.invite,
            Slot::Kick => self.kick,
            Slot::Ban => self.ban,
            Slot::Redact => self.redact,
            Slot::NotificationsRoom => self.notifications.room,
            Slot::Event(t) => *self.events.get(t).unwrap_or(&self.state_default),
        }
    }

    /// The action a field gates (acting on `target` for kick and ban). A
    /// listed event type is checked the same way whether it is a state or a
    /// message type, so `Event` slots probe as state.
    pub fn action_for(slot: Slot, target: &str) -> MatrixAction<'_> {
        match slot {
            Slot::EventsDefault => MatrixAction::SendMessage(UNLISTED_MESSAGE_TYPE),
            Slot::StateDefault => MatrixAction::SendState(UNLISTED_STATE_TYPE),
            Slot::Invite => MatrixAction::Invite,
            Slot::Kick => MatrixAction::Kick(target),
            Slot::Ban => MatrixAction::Ban(target),
            Slot::Redact => MatrixAction::RedactOthers,
            Slot::NotificationsRoom => MatrixAction::NotifyRoom,
            Slot::Event(t) => MatrixAction::SendState(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn levels() -> PowerLevelsContent {
        serde_json::from_value(json!({
            "ban": 50, "kick": 50, "redact": 50, "invite": 0,
            "events_default": 0, "state_default": 50, "users_default": 0,
            "events": {"m.room.redaction": 0, "m.reaction": -1},
            "notifications": {"room": 50},
            "users": {"@mod:x": 50, "@muted:x": -1, "@admin:x": 100}
        }))
        .unwrap()
    }

    #[test]
    fn event_levels_fall_back_to_the_defaults() {
        let pl = levels();
        assert_eq!(pl.event_level("m.room.message", false), 0);
        assert_eq!(pl.event_level("m.room.name", true), 50);
        assert_eq!(pl.event_level("m.reaction", false), -1);
    }

    #[test]
    fn kicking_needs_a_strictly_higher_level() {
        let pl = levels();
        let none = Creators::none();
        assert!(pl.allows(MatrixAction::Kick("@user:x"), "@mod:x", &none));
        let mut pl2 = pl.clone();
        pl2.users.insert("@mod2:x".into(), 50);
        assert!(!pl2.allows(MatrixAction::Kick("@mod2:x"), "@mod:x", &none));
        assert!(!pl.allows(MatrixAction::Kick("@admin:x"), "@mod:x", &none));
        assert!(!pl.allows(MatrixAction::Kick("@user:x"), "@muted:x", &none));
    }

    #[test]
    fn v12_creators_are_infinite_and_untouchable() {
        let pl = levels();
        let creators = Creators::v12(["@creator:x"]);
        assert_eq!(pl.user_level("@creator:x", &creators), Level::Infinite);
        assert!(pl.allows(MatrixAction::Ban("@admin:x"), "@creator:x", &creators));
        assert!(!pl.allows(MatrixAction::Ban("@creator:x"), "@admin:x", &creators));
        // Before v12 the same user is just a user.
        assert_eq!(pl.user_level("@creator:x", &Creators::none()), Level::Finite(0));
    }

    #[test]
    fn redacting_others_also_needs_the_redaction_event_level() {
        let mut pl = levels();
        assert!(pl.allows(MatrixAction::RedactOthers, "@mod:x", &Creators::none()));
        pl.events.insert("m.room.redaction".into(), 60);
        assert!(!pl.allows(MatrixAction::RedactOthers, "@mod:x", &Creators::none()));
    }

    #[test]
    fn round_trips_as_matrix_json() {
        let pl = levels();
        let v = serde_json::to_value(&pl).unwrap();
        assert_eq!(v["notifications"]["room"], 50);
        assert_eq!(serde_json::from_value::<PowerLevelsContent>(v).unwrap(), pl);
    }
}
