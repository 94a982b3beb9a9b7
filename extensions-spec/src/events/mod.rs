//! Contents of the events Nexus adds to Matrix, one module per event type.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ContentError, ValidationError};
use crate::ids;

pub mod channel;
pub mod image_pack;
pub mod member;
pub mod overwrites;
pub mod poll;
pub mod role;
pub mod scheduled_event;
pub mod server;
pub mod thread;

/// `nexus.server`, in the space.
pub const SERVER: &str = "nexus.server";
/// `nexus.channel`, in each channel room.
pub const CHANNEL: &str = "nexus.channel";
/// `nexus.channel.overwrites`, in each channel room.
pub const CHANNEL_OVERWRITES: &str = "nexus.channel.overwrites";
/// `nexus.role`, in the space, one per role.
pub const ROLE: &str = "nexus.role";
/// `nexus.member`, in the space, one per member with roles, a nickname or a timeout.
pub const MEMBER: &str = "nexus.member";
/// `nexus.thread`, in a channel room, one per thread root.
pub const THREAD: &str = "nexus.thread";
/// `nexus.scheduled_event`, in the space, one per event.
pub const SCHEDULED_EVENT: &str = "nexus.scheduled_event";
/// `nexus.scheduled_event.rsvp`, a message event in the space.
pub const SCHEDULED_EVENT_RSVP: &str = "nexus.scheduled_event.rsvp";
/// MSC3381 poll start, unstable name (usable in every room version).
pub const POLL_START: &str = "org.matrix.msc3381.poll.start";
/// MSC3381 poll response, unstable name.
pub const POLL_RESPONSE: &str = "org.matrix.msc3381.poll.response";
/// MSC3381 poll end, unstable name.
pub const POLL_END: &str = "org.matrix.msc3381.poll.end";
/// MSC3381 stable names, gated in power levels alongside the unstable ones so
/// that a client switching names cannot slip past a restriction.
pub const POLL_START_STABLE: &str = "m.poll.start";
/// See [`POLL_START_STABLE`].
pub const POLL_RESPONSE_STABLE: &str = "m.poll.response";
/// See [`POLL_START_STABLE`].
pub const POLL_END_STABLE: &str = "m.poll.end";
/// MSC2545 image pack, the unstable name clients implement today.
pub const IMAGE_PACK: &str = "im.ponies.room_emotes";
/// MSC2545 image pack, stable name.
pub const IMAGE_PACK_STABLE: &str = "m.image_pack";

/// What the `state_key` of an event type must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKey {
    /// A message event: no state key.
    None,
    /// Exactly `""`.
    Empty,
    /// A role ID (`everyone` for @everyone).
    RoleId,
    /// `_` followed by the member's user ID (see [`ids::member_state_key`]).
    Member,
    /// The event ID of the thread's root event.
    EventId,
    /// An opaque Nexus ID.
    OpaqueId,
    /// Any string (image pack IDs are free-form in MSC2545).
    Any,
}

impl StateKey {
    /// Whether `state_key` (absent for message events) fits this rule.
    pub fn accepts(self, state_key: Option<&str>) -> bool {
        match (self, state_key) {
            (StateKey::None, None) => true,
            (StateKey::Empty, Some(k)) => k.is_empty(),
            (StateKey::RoleId, Some(k)) => ids::is_opaque_id(k),
            (StateKey::Member, Some(k)) => ids::user_id_from_member_state_key(k).is_some(),
            (StateKey::EventId, Some(k)) => ids::is_event_id(k),
            (StateKey::OpaqueId, Some(k)) => ids::is_opaque_id(k),
            (StateKey::Any, Some(_)) => true,
            _ => false,
        }
    }
}

/// A typed event content.
pub trait EventContent: Serialize + DeserializeOwned {
    /// The Matrix event type.
    const EVENT_TYPE: &'static str;
    /// The state key rule.
    const STATE_KEY: StateKey;
    /// Checks every limit that can be checked from the content alone.
    fn validate(&self) -> Result<(), ValidationError>;
}

/// Parses and validates a content.
pub fn parse<T: EventContent>(content: &Value) -> Result<T, ContentError> {
    let parsed: T = serde_json::from_value(content.clone())?;
    parsed.validate()?;
    Ok(parsed)
}

/// Parses a state content where `{}` means "deleted" (Matrix cannot remove
/// state, so Nexus deletes roles, members, threads and scheduled events by
/// replacing their content with an empty object).
pub fn parse_state<T: EventContent>(content: &Value) -> Result<Option<T>, ContentError> {
    if content.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(None);
    }
    parse(content).map(Some)
}

/// The state key rule of a known event type.
pub fn state_key_rule(event_type: &str) -> Option<StateKey> {
    Some(match event_type {
        SERVER => server::ServerContent::STATE_KEY,
        CHANNEL => channel::ChannelContent::STATE_KEY,
        CHANNEL_OVERWRITES => overwrites::ChannelOverwritesContent::STATE_KEY,
        ROLE => role::RoleContent::STATE_KEY,
        MEMBER => member::MemberContent::STATE_KEY,
        THREAD => thread::ThreadContent::STATE_KEY,
        SCHEDULED_EVENT => scheduled_event::ScheduledEventContent::STATE_KEY,
        SCHEDULED_EVENT_RSVP => scheduled_event::RsvpContent::STATE_KEY,
        POLL_START => poll::PollStartContent::STATE_KEY,
        POLL_RESPONSE => poll::PollResponseContent::STATE_KEY,
        POLL_END => poll::PollEndContent::STATE_KEY,
        IMAGE_PACK | IMAGE_PACK_STABLE => image_pack::ImagePackContent::STATE_KEY,
        _ => return None,
    })
}

/// Parses and validates the content of any event type this crate describes,
/// for servers that receive content without knowing its type statically.
pub fn validate_content(event_type: &str, content: &Value) -> Result<(), ContentError> {
    fn check<T: EventContent>(content: &Value) -> Result<(), ContentError> {
        parse::<T>(content).map(drop)
    }
    match event_type {
        SERVER => check::<server::ServerContent>(content),
        CHANNEL => check::<channel::ChannelContent>(content),
        CHANNEL_OVERWRITES => check::<overwrites::ChannelOverwritesContent>(content),
        ROLE => check::<role::RoleContent>(content),
        MEMBER => check::<member::MemberContent>(content),
        THREAD => check::<thread::ThreadContent>(content),
        SCHEDULED_EVENT => check::<scheduled_event::ScheduledEventContent>(content),
        SCHEDULED_EVENT_RSVP => check::<scheduled_event::RsvpContent>(content),
        POLL_START => check::<poll::PollStartContent>(content),
        POLL_RESPONSE => check::<poll::PollResponseContent>(content),
        POLL_END => check::<poll::PollEndContent>(content),
        IMAGE_PACK | IMAGE_PACK_STABLE => check::<image_pack::ImagePackContent>(content),
        other => Err(ContentError::UnknownType(other.to_owned())),
    }
}

/// Re-serialises a content through its Rust type, for round-trip checks and
/// for servers that want to normalise what they store.
pub fn normalise(event_type: &str, content: &Value) -> Result<Value, ContentError> {
    fn through<T: EventContent>(content: &Value) -> Result<Value, ContentError> {
        Ok(serde_json::to_value(parse::<T>(content)?)?)
    }
    match event_type {
        SERVER => through::<server::ServerContent>(content),
        CHANNEL => through::<channel::ChannelContent>(content),
        CHANNEL_OVERWRITES => through::<overwrites::ChannelOverwritesContent>(content),
        ROLE => through::<role::RoleContent>(content),
        MEMBER => through::<member::MemberContent>(content),
        THREAD => through::<thread::ThreadContent>(content),
        SCHEDULED_EVENT => through::<scheduled_event::ScheduledEventContent>(content),
        SCHEDULED_EVENT_RSVP => through::<scheduled_event::RsvpContent>(content),
        POLL_START => through::<poll::PollStartContent>(content),
        POLL_RESPONSE => through::<poll::PollResponseContent>(content),
        POLL_END => through::<poll::PollEndContent>(content),
        IMAGE_PACK | IMAGE_PACK_STABLE => through::<image_pack::ImagePackContent>(content),
        other => Err(ContentError::UnknownType(other.to_owned())),
    }
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_content_means_deleted() {
        let deleted = parse_state::<role::RoleContent>(&json!({})).unwrap();
        assert!(deleted.is_none());
    }

    #[test]
    fn state_key_rules() {
        assert!(StateKey::Empty.accepts(Some("")));
        assert!(!StateKey::Empty.accepts(None));
        assert!(StateKey::None.accepts(None));
        assert!(!StateKey::None.accepts(Some("")));
        assert!(StateKey::Member.accepts(Some("_@a:b.c")));
        assert!(!StateKey::Member.accepts(Some("@a:b.c")));
        assert!(StateKey::RoleId.accepts(Some("everyone")));
        assert!(!StateKey::RoleId.accepts(Some("")));
        assert!(StateKey::EventId.accepts(Some("$root")));
    }

    #[test]
    fn unknown_types_are_reported() {
        assert!(matches!(
            validate_content("m.room.message", &json!({})),
            Err(ContentError::UnknownType(t)) if t == "m.room.message"
        ));
        assert_eq!(state_key_rule("m.room.message"), None);
        assert_eq!(state_key_rule(MEMBER), Some(StateKey::Member));
    }
}
