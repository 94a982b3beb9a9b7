//! The actions Matrix auth rules (and push rules) can check, and which Discord
//! permissions allow each of them.
//!
//! Every field of `m.room.power_levels` that Nexus sets belongs to exactly
//! one capability. The compiler gives all fields of a capability the same
//! threshold, so "may the user do X according to the power levels" and "may
//! the user do X according to Nexus" are questions about the same thing.

use crate::compute;
use crate::events::overwrites::ChannelOverwritesContent;
use crate::events::{
    CHANNEL, CHANNEL_OVERWRITES, IMAGE_PACK, IMAGE_PACK_STABLE, MEMBER, POLL_END, POLL_END_STABLE, POLL_RESPONSE,
    POLL_RESPONSE_STABLE, POLL_START, POLL_START_STABLE, ROLE, SCHEDULED_EVENT, SCHEDULED_EVENT_RSVP, SERVER, THREAD,
};
use crate::guild::Guild;
use crate::permissions::Permissions as P;

/// A field of `m.room.power_levels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    /// `events_default`: message event types not listed in `events`.
    EventsDefault,
    /// `state_default`: state event types not listed in `events`.
    StateDefault,
    /// `invite`.
    Invite,
    /// `kick`.
    Kick,
    /// `ban`.
    Ban,
    /// `redact`: redacting other users' events.
    Redact,
    /// `notifications.room`: `@room` pings.
    NotificationsRoom,
    /// `events[type]`.
    Event(&'static str),
}

/// Which kind of room is being compiled.
#[derive(Debug, Clone, Copy)]
pub enum Room<'a> {
    /// The server's space.
    Space,
    /// A channel room with its overwrites.
    Channel(&'a ChannelOverwritesContent),
}

/// A Matrix-checkable action class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Redact one's own events (`m.room.redaction`).
    RedactOwn,
    /// Vote in polls.
    VotePoll,
    /// React to messages (`m.reaction`).
    React,
    /// Send messages: every message type not listed (`events_default`).
    SendMessages,
    /// Start polls.
    StartPoll,
    /// `@room` notifications (`notifications.room`).
    MentionRoom,
    /// End polls.
    EndPoll,
    /// Join calls (MatrixRTC membership state).
    JoinCall,
    /// Invite users into the room.
    Invite,
    /// Pin messages.
    PinMessages,
    /// Write `nexus.thread` (name, tags, archive, lock); which changes are
    /// valid is decided by the Nexus update rules.
    WriteThreads,
    /// Redact other users' events (`redact`).
    RedactOthers,
    /// Kick (target must be lower).
    Kick,
    /// Ban (target must be lower).
    Ban,
    /// Channel settings: name, topic, avatar, `nexus.channel`, other state.
    ManageChannel,
    /// Power levels, overwrites, join rules, history visibility.
    ManagePermissions,
    /// Server ACLs and encryption.
    Administer,
    /// Upgrading the room (`m.room.tombstone`).
    UpgradeRoom,
    /// Space: RSVP to scheduled events.
    Rsvp,
    /// Space: write `nexus.scheduled_event`; the update rules decide whose.
    WriteScheduledEvents,
    /// Space: edit image packs (custom emoji and stickers).
    ManageExpressions,
    /// Space: write `nexus.member` (roles, nicknames, timeouts); the update
    /// rules decide which changes are valid.
    WriteMembers,
    /// Space: add and remove channels (`m.space.child`).
    ManageChannels,
    /// Space: edit roles and power levels.
    ManageRoles,
    /// Space: server settings, name, icon, everything not listed.
    ManageServer,
}

/// Facts about the room that some conditions depend on.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The user is the server owner.
    pub is_owner: bool,
    /// A member with no roles can see the channel.
    pub public: bool,
}

const CHANNEL_CAPABILITIES: &[Capability] = {
    use Capability::*;
    &[
        RedactOwn,
        VotePoll,
        React,
        SendMessages,
        StartPoll,
        MentionRoom,
        EndPoll,
        JoinCall,
        Invite,
        PinMessages,
        WriteThreads,
        RedactOthers,
        Kick,
        Ban,
        ManageChannel,
        ManagePermissions,
        Administer,
        UpgradeRoom,
    ]
};

const SPACE_CAPABILITIES: &[Capability] = {
    use Capability::*;
    &[
        RedactOwn,
        Rsvp,
        Invite,
        WriteScheduledEvents,
        ManageExpressions,
        WriteMembers,
        RedactOthers,
        Kick,
        Ban,
        ManageChannels,
        ManageRoles,
        ManageServer,
        Administer,
        UpgradeRoom,
    ]
};

/// The MatrixRTC call membership state event type.
pub const CALL_MEMBER: &str = "org.matrix.msc3401.call.member";
/// Its newer name (MSC4143's `m.rtc.member`), which newer clients send.
pub const RTC_MEMBER: &str = "m.rtc.member";

impl Room<'_> {
    /// The capabilities of this kind of room, least privileged first. The
    /// order breaks ties in the compiler, so it is part of the spec.
    pub fn capabilities(self) -> &'static [Capability] {
        match self {
            Room::Space => SPACE_CAPABILITIES,
            Room::Channel(_) => CHANNEL_CAPABILITIES,
        }
    }

    /// The permissions `user` holds in this room: base permissions in the
    /// space, channel permissions in a channel.
    pub fn permissions(self, guild: &Guild, user: &str, now_ms: u64) -> P {
        match self {
            Room::Space => compute::base_permissions(guild, user, now_ms),
            Room::Channel(overwrites) => compute::channel_permissions(guild, user, overwrites, now_ms),
        }
    }

    /// What a member with no roles, no member overwrite and no timeout holds
    /// here — the level `users_default` stands for.
    pub fn everyone_permissions(self, guild: &Guild) -> P {
        match self {
            Room::Space if guild.everyone_permissions().contains(P::ADMINISTRATOR) => P::ALL,
            Room::Space => guild.everyone_permissions(),
            Room::Channel(overwrites) => compute::everyone_channel_permissions(guild, overwrites),
        }
    }

    /// Whether members without roles see the room.
    pub fn is_public(self, guild: &Guild) -> bool {
        match self {
            Room::Space => true,
            Room::Channel(overwrites) => {
                compute::everyone_channel_permissions(guild, overwrites).contains(P::VIEW_CHANNEL)
            }
        }
    }

    /// The fields of `m.room.power_levels` a capability governs in this room.
    pub fn slots(self, capability: Capability) -> &'static [Slot] {
        use Capability::*;
        use Slot::{Event, EventsDefault, NotificationsRoom, Redact, StateDefault};
        match (self, capability) {
            (_, RedactOwn) => &[Event("m.room.redaction")],
            (_, VotePoll) => &[Event(POLL_RESPONSE), Event(POLL_RESPONSE_STABLE)],
            (_, React) => &[Event("m.reaction")],
            (_, SendMessages) => &[EventsDefault],
            (_, StartPoll) => &[Event(POLL_START), Event(POLL_START_STABLE)],
            (_, MentionRoom) => &[NotificationsRoom],
            (_, EndPoll) => &[Event(POLL_END), Event(POLL_END_STABLE)],
            (_, JoinCall) => &[Event(CALL_MEMBER), Event(RTC_MEMBER)],
            (_, Capability::Invite) => &[Slot::Invite],
            (_, PinMessages) => &[Event("m.room.pinned_events")],
            (_, WriteThreads) => &[Event(THREAD)],
            (_, RedactOthers) => &[Redact],
            (_, Capability::Kick) => &[Slot::Kick],
            (_, Capability::Ban) => &[Slot::Ban],
            (_, ManageChannel) => {
                &[StateDefault, Event(CHANNEL), Event("m.room.name"), Event("m.room.topic"), Event("m.room.avatar")]
            }
            (Room::Channel(_), ManagePermissions) => &[
                Event("m.room.power_levels"),
                Event(CHANNEL_OVERWRITES),
                Event("m.room.join_rules"),
                Event("m.room.history_visibility"),
                Event("m.room.guest_access"),
            ],
            (_, Administer) => &[Event("m.room.server_acl"), Event("m.room.encryption")],
            (_, UpgradeRoom) => &[Event("m.room.tombstone")],
            (_, Rsvp) => &[Event(SCHEDULED_EVENT_RSVP)],
            (_, WriteScheduledEvents) => &[Event(SCHEDULED_EVENT)],
            (_, ManageExpressions) => &[Event(IMAGE_PACK), Event(IMAGE_PACK_STABLE)],
            (_, WriteMembers) => &[Event(MEMBER)],
            (_, ManageChannels) => &[Event("m.space.child")],
            (_, ManageRoles) => &[Event(ROLE), Event("m.room.power_levels")],
            (_, ManageServer) => &[
                StateDefault,
                EventsDefault,
                NotificationsRoom,
                Event(SERVER),
                Event("m.room.name"),
                Event("m.room.topic"),
                Event("m.room.avatar"),
                Event("m.room.canonical_alias"),
                Event("m.room.join_rules"),
                Event("m.room.history_visibility"),
                Event("m.room.guest_access"),
            ],
            (Room::Space, ManagePermissions) => &[],
        }
    }
}

impl Capability {
    /// Kick and ban also need the target to rank lower.
    pub fn is_targeted(self) -> bool {
        matches!(self, Capability::Kick | Capability::Ban)
    }

    /// Whether Discord permissions `p` (already computed for the room) allow
    /// this capability.
    pub fn allowed_by(self, p: P, room: Room<'_>, ctx: Context) -> bool {
        use Capability::*;
        let posts = p.intersects(P::SEND_MESSAGES | P::SEND_MESSAGES_IN_THREADS);
        match (room, self) {
            // Deleting one's own messages needs nothing in Discord; in a
            // channel one must at least see it.
            (Room::Space, RedactOwn) => true,
            (Room::Channel(_), RedactOwn) => p.contains(P::VIEW_CHANNEL),
            (_, VotePoll) => p.contains(P::VIEW_CHANNEL),
            // Adding a *new* reaction needs ADD_REACTIONS, joining an
            // existing one only history access; Matrix cannot tell them apart.
            (_, React) => p.contains(P::VIEW_CHANNEL | P::READ_MESSAGE_HISTORY),
            // Thread posts are m.room.message too, so either bit lets a
            // member send the event type; Nexus checks which one applies.
            (_, SendMessages) => posts,
            (_, StartPoll) => posts && p.contains(P::SEND_POLLS),
            (_, MentionRoom) => p.contains(P::MENTION_EVERYONE),
            (_, EndPoll) => (posts && p.contains(P::SEND_POLLS)) || p.contains(P::MANAGE_MESSAGES),
            (_, JoinCall) => p.contains(P::CONNECT),
            // Inviting someone into a private channel gives them what a
            // member overwrite would, so it also needs MANAGE_ROLES there.
            (Room::Channel(_), Invite) => {
                p.contains(P::CREATE_INSTANT_INVITE) && (ctx.public || p.contains(P::MANAGE_ROLES))
            }
            (Room::Space, Invite) => p.contains(P::CREATE_INSTANT_INVITE),
            (_, PinMessages) => p.contains(P::PIN_MESSAGES),
            // Only Nexus reads nexus.* state, and it applies the update
            // rules to every change, so the gate is "may make some change":
            // creators name and archive their own threads.
            (_, WriteThreads) => p.intersects(P::MANAGE_THREADS | P::CREATE_PUBLIC_THREADS | P::CREATE_PRIVATE_THREADS),
            (Room::Channel(_), RedactOthers) => p.contains(P::MANAGE_MESSAGES),
            // The space holds almost only state, and redacting state wipes
            // it; so only someone who could already change all of it may.
            (Room::Space, RedactOthers) => p.contains(
                P::MANAGE_GUILD | P::MANAGE_CHANNELS | P::MANAGE_ROLES | P::MANAGE_EVENTS | P::MANAGE_GUILD_EXPRESSIONS,
            ),
            (_, Kick) => p.contains(P::KICK_MEMBERS),
            (_, Ban) => p.contains(P::BAN_MEMBERS),
            (_, ManageChannel) => p.contains(P::MANAGE_CHANNELS),
            (_, ManagePermissions) => p.contains(P::MANAGE_ROLES),
            (_, Administer) => p.contains(P::ADMINISTRATOR),
            (_, UpgradeRoom) => ctx.is_owner,
            (_, Rsvp) => p.contains(P::VIEW_CHANNEL),
            (_, WriteScheduledEvents) => p.intersects(P::MANAGE_EVENTS | P::CREATE_EVENTS),
            (_, ManageExpressions) => p.contains(P::MANAGE_GUILD_EXPRESSIONS),
            (_, WriteMembers) => p.intersects(P::MANAGE_ROLES | P::MANAGE_NICKNAMES | P::MODERATE_MEMBERS),
            (_, ManageChannels) => p.contains(P::MANAGE_CHANNELS),
            (_, ManageRoles) => p.contains(P::MANAGE_ROLES),
            (_, ManageServer) => p.contains(P::MANAGE_GUILD),
        }
    }
}

/// Whether Nexus lets `user` exercise `capability` in `room` (on `target`,
/// for kick and ban). This is the reference the compiled power levels are
/// measured against.
pub fn nexus_allows(
    guild: &Guild,
    room: Room<'_>,
    user: &str,
    capability: Capability,
    target: Option<&str>,
    now_ms: u64,
) -> bool {
    let ctx = Context { is_owner: guild.is_owner(user), public: room.is_public(guild) };
    let permitted = capability.allowed_by(room.permissions(guild, user, now_ms), room, ctx);
    match (capability.is_targeted(), target) {
        (true, Some(target)) => permitted && guild.outranks(user, target),
        _ => permitted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_slot_belongs_to_exactly_one_capability() {
        let empty = ChannelOverwritesContent::default();
        for room in [Room::Space, Room::Channel(&empty)] {
            let mut owner: BTreeMap<Slot, Capability> = BTreeMap::new();
            for &cap in room.capabilities() {
                for &slot in room.slots(cap) {
                    assert_eq!(owner.insert(slot, cap), None, "{slot:?} claimed twice in {room:?}");
                }
            }
            for required in [
                Slot::EventsDefault,
                Slot::StateDefault,
                Slot::Invite,
                Slot::Kick,
                Slot::Ban,
                Slot::Redact,
                Slot::NotificationsRoom,
                Slot::Event("m.room.power_levels"),
            ] {
                assert!(owner.contains_key(&required), "{required:?} unset in {room:?}");
            }
        }
    }

    #[test]
    fn every_listed_capability_has_slots() {
        let empty = ChannelOverwritesContent::default();
        for room in [Room::Space, Room::Channel(&empty)] {
            for &cap in room.capabilities() {
                assert!(!room.slots(cap).is_empty(), "{cap:?} in {room:?}");
            }
        }
    }

    #[test]
    fn prerequisites_come_first_in_canonical_order() {
        // The Matrix check for these needs a second field; the compiler relies
        // on the prerequisite sorting first when holder counts tie.
        let position = |cap| CHANNEL_CAPABILITIES.iter().position(|c| *c == cap).unwrap();
        assert!(position(Capability::RedactOwn) < position(Capability::RedactOthers));
        assert!(position(Capability::SendMessages) < position(Capability::MentionRoom));
        let position = |cap| SPACE_CAPABILITIES.iter().position(|c| *c == cap).unwrap();
        assert!(position(Capability::RedactOwn) < position(Capability::RedactOthers));
    }

    #[test]
    fn invites_into_private_channels_need_manage_roles() {
        let empty = ChannelOverwritesContent::default();
        let room = Room::Channel(&empty);
        let inviter = P::VIEW_CHANNEL | P::CREATE_INSTANT_INVITE;
        let public = Context { is_owner: false, public: true };
        let private = Context { is_owner: false, public: false };
        assert!(Capability::Invite.allowed_by(inviter, room, public));
        assert!(!Capability::Invite.allowed_by(inviter, room, private));
        assert!(Capability::Invite.allowed_by(inviter | P::MANAGE_ROLES, room, private));
    }

    #[test]
    fn thread_only_posters_may_send_the_message_type() {
        let empty = ChannelOverwritesContent::default();
        let ctx = Context { is_owner: false, public: true };
        let p = P::VIEW_CHANNEL | P::SEND_MESSAGES_IN_THREADS;
        assert!(Capability::SendMessages.allowed_by(p, Room::Channel(&empty), ctx));
    }

    #[test]
    fn nexus_allows_applies_the_hierarchy_to_kicks() {
        let g = Guild::new("@o:x")
            .with_everyone(P::VIEW_CHANNEL)
            .with_role("mods", 2, P::KICK_MEMBERS)
            .with_role("vip", 3, P::NONE)
            .with_member("@mod:x", &["mods"])
            .with_member("@vip:x", &["vip"]);
        let empty = ChannelOverwritesContent::default();
        let room = Room::Channel(&empty);
        assert!(nexus_allows(&g, room, "@mod:x", Capability::Kick, Some("@n:x"), 0));
        assert!(!nexus_allows(&g, room, "@mod:x", Capability::Kick, Some("@vip:x"), 0));
        assert!(nexus_allows(&g, room, "@mod:x", Capability::Kick, None, 0));
        assert!(!nexus_allows(&g, room, "@vip:x", Capability::Kick, None, 0));
    }
}
