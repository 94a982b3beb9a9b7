//! Discord's permission bitfield, bit for bit.
//!
//! Nexus deliberately reuses Discord's bit values so that bots, bridges and
//! people moving a community over can carry role permissions across verbatim.
//! On the wire a bitfield is a decimal string (as in Discord's API v8+): JSON
//! numbers above 2^53 are not portable, and canonical JSON forbids them.

use std::fmt;
use std::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not, Sub};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::PermissionsParseError;

/// A set of Discord permissions.
///
/// Unknown bits are kept rather than dropped, so that a server running an
/// older release passes a newer role through unchanged instead of silently
/// revoking a permission it does not know yet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Permissions(u64);

macro_rules! discord_flags {
    ($( $(#[$doc:meta])* $name:ident = $bit:literal; )*) => {
        impl Permissions {
            $(
                $(#[$doc])*
                #[doc = concat!("Discord bit `1 << ", stringify!($bit), "`.")]
                pub const $name: Permissions = Permissions(1u64 << $bit);
            )*

            /// Every flag this crate knows, by its Discord name, in bit order.
            pub const NAMED: &'static [(&'static str, Permissions)] =
                &[$( (stringify!($name), Permissions::$name), )*];

            /// The union of every known flag: what the owner and administrators get.
            pub const ALL: Permissions = Permissions(0 $( | (1u64 << $bit) )*);
        }
    };
}

discord_flags! {
    /// Create invites to the server.
    CREATE_INSTANT_INVITE = 0;
    /// Kick members (subject to role hierarchy).
    KICK_MEMBERS = 1;
    /// Ban members (subject to role hierarchy).
    BAN_MEMBERS = 2;
    /// Every permission; channel overwrites are skipped.
    ADMINISTRATOR = 3;
    /// Create, edit and delete channels.
    MANAGE_CHANNELS = 4;
    /// Edit the server itself.
    MANAGE_GUILD = 5;
    /// Add new reactions (reacting with an existing one needs only read access).
    ADD_REACTIONS = 6;
    /// Read the audit log.
    VIEW_AUDIT_LOG = 7;
    /// Priority speaker in voice channels.
    PRIORITY_SPEAKER = 8;
    /// Go live in voice channels.
    STREAM = 9;
    /// See a channel at all; without it every other channel permission is void.
    VIEW_CHANNEL = 10;
    /// Post in a channel (threads use SEND_MESSAGES_IN_THREADS instead).
    SEND_MESSAGES = 11;
    /// Send text-to-speech messages.
    SEND_TTS_MESSAGES = 12;
    /// Delete other members' messages.
    MANAGE_MESSAGES = 13;
    /// Links get previews.
    EMBED_LINKS = 14;
    /// Upload files.
    ATTACH_FILES = 15;
    /// Read messages sent before one joined / opened the channel.
    READ_MESSAGE_HISTORY = 16;
    /// Use @everyone / @here (`@room` in Matrix).
    MENTION_EVERYONE = 17;
    /// Use custom emoji from other servers.
    USE_EXTERNAL_EMOJIS = 18;
    /// See server insights.
    VIEW_GUILD_INSIGHTS = 19;
    /// Join voice channels.
    CONNECT = 20;
    /// Speak in voice channels.
    SPEAK = 21;
    /// Server-mute others in voice.
    MUTE_MEMBERS = 22;
    /// Server-deafen others in voice.
    DEAFEN_MEMBERS = 23;
    /// Move members between voice channels.
    MOVE_MEMBERS = 24;
    /// Use voice activity detection.
    USE_VAD = 25;
    /// Change one's own nickname.
    CHANGE_NICKNAME = 26;
    /// Change other members' nicknames.
    MANAGE_NICKNAMES = 27;
    /// Manage roles below one's own; in a channel, edit its overwrites.
    MANAGE_ROLES = 28;
    /// Manage webhooks.
    MANAGE_WEBHOOKS = 29;
    /// Edit and delete custom emoji, stickers and sounds (formerly MANAGE_EMOJIS_AND_STICKERS).
    MANAGE_GUILD_EXPRESSIONS = 30;
    /// Use application (slash) commands.
    USE_APPLICATION_COMMANDS = 31;
    /// Request to speak in stage channels.
    REQUEST_TO_SPEAK = 32;
    /// Edit and delete any scheduled event.
    MANAGE_EVENTS = 33;
    /// Rename, archive, lock and delete threads.
    MANAGE_THREADS = 34;
    /// Create public and announcement threads.
    CREATE_PUBLIC_THREADS = 35;
    /// Create private threads.
    CREATE_PRIVATE_THREADS = 36;
    /// Use stickers from other servers.
    USE_EXTERNAL_STICKERS = 37;
    /// Post in threads.
    SEND_MESSAGES_IN_THREADS = 38;
    /// Launch embedded activities.
    USE_EMBEDDED_ACTIVITIES = 39;
    /// Time members out.
    MODERATE_MEMBERS = 40;
    /// See creator monetisation analytics.
    VIEW_CREATOR_MONETIZATION_ANALYTICS = 41;
    /// Use the soundboard.
    USE_SOUNDBOARD = 42;
    /// Create emoji, stickers and sounds, and edit one's own.
    CREATE_GUILD_EXPRESSIONS = 43;
    /// Create scheduled events, and edit one's own.
    CREATE_EVENTS = 44;
    /// Use soundboard sounds from other servers.
    USE_EXTERNAL_SOUNDS = 45;
    /// Send voice messages.
    SEND_VOICE_MESSAGES = 46;
    // Bit 47 is not assigned in Discord's documented list.
    /// Set a voice channel's status.
    SET_VOICE_CHANNEL_STATUS = 48;
    /// Create polls.
    SEND_POLLS = 49;
    /// Let user-installed apps post public responses.
    USE_EXTERNAL_APPS = 50;
    /// Pin and unpin messages.
    PIN_MESSAGES = 51;
    /// Ignore slowmode.
    BYPASS_SLOWMODE = 52;
}

impl Permissions {
    /// No permissions.
    pub const NONE: Permissions = Permissions(0);

    /// Permissions that only make sense server-wide. Discord shows no channel
    /// type for them; Nexus refuses them in channel overwrites so that kick,
    /// ban and administration can never differ between channels.
    pub const GUILD_ONLY: Permissions = Permissions(
        Self::KICK_MEMBERS.0
            | Self::BAN_MEMBERS.0
            | Self::ADMINISTRATOR.0
            | Self::MANAGE_GUILD.0
            | Self::VIEW_AUDIT_LOG.0
            | Self::VIEW_GUILD_INSIGHTS.0
            | Self::CHANGE_NICKNAME.0
            | Self::MANAGE_NICKNAMES.0
            | Self::MANAGE_GUILD_EXPRESSIONS.0
            | Self::MODERATE_MEMBERS.0
            | Self::VIEW_CREATOR_MONETIZATION_ANALYTICS.0
            | Self::CREATE_GUILD_EXPRESSIONS.0,
    );

    /// What a timed-out member keeps (Discord: everything else is lost).
    pub const TIMEOUT_KEEPS: Permissions = Permissions(Self::VIEW_CHANNEL.0 | Self::READ_MESSAGE_HISTORY.0);

    /// What Discord implicitly strips when SEND_MESSAGES is missing.
    pub const NEEDS_SEND_MESSAGES: Permissions =
        Permissions(Self::MENTION_EVERYONE.0 | Self::SEND_TTS_MESSAGES.0 | Self::ATTACH_FILES.0 | Self::EMBED_LINKS.0);

    /// Wraps raw bits, keeping unknown ones.
    pub const fn from_bits(bits: u64) -> Permissions {
        Permissions(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// True when no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when `self` and `other` share at least one bit.
    pub const fn intersects(self, other: Permissions) -> bool {
        self.0 & other.0 != 0
    }

    /// `self ∪ other`.
    pub const fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }

    /// `self ∩ other`.
    pub const fn intersection(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }

    /// `self \ other`.
    pub const fn difference(self, other: Permissions) -> Permissions {
        Permissions(self.0 & !other.0)
    }

    /// Sets the bits of `other`.
    pub fn insert(&mut self, other: Permissions) {
        self.0 |= other.0;
    }

    /// Clears the bits of `other`.
    pub fn remove(&mut self, other: Permissions) {
        self.0 &= !other.0;
    }

    /// Bits set here that this crate has no name for.
    pub const fn unknown_bits(self) -> Permissions {
        Permissions(self.0 & !Self::ALL.0)
    }

    /// Looks a flag up by its Discord name (`"MANAGE_CHANNELS"`).
    pub fn from_name(name: &str) -> Option<Permissions> {
        Self::NAMED.iter().find(|(flag, _)| *flag == name).map(|(_, bits)| *bits)
    }

    /// The Discord names of the known flags set here, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED.iter().filter(move |(_, flag)| self.contains(*flag)).map(|(name, _)| *name)
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<String> = self.names().map(str::to_owned).collect();
        if !self.unknown_bits().is_empty() {
            names.push(format!("{:#x}", self.unknown_bits().0));
        }
        if names.is_empty() {
            names.push("NONE".to_owned());
        }
        write!(f, "Permissions({})", names.join(" | "))
    }
}

/// The decimal wire form.
impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Permissions {
    type Err = PermissionsParseError;

    /// Only the canonical decimal form is accepted (no sign, no spaces, no
    /// leading zeros), so that equal bitfields are equal strings and event
    /// hashes do not depend on who serialised them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
        if !canonical {
            return Err(PermissionsParseError::NotDecimal(s.to_owned()));
        }
        s.parse::<u64>().map(Permissions).map_err(|_| PermissionsParseError::TooLarge(s.to_owned()))
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DecimalString;
        impl Visitor<'_> for DecimalString {
            type Value = Permissions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a u64 permission bitfield as a decimal string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Permissions, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(DecimalString)
    }
}

impl BitOr for Permissions {
    type Output = Permissions;
    fn bitor(self, rhs: Permissions) -> Permissions {
        self.union(rhs)
    }
}

impl BitOrAssign for Permissions {
    fn bitor_assign(&mut self, rhs: Permissions) {
        self.insert(rhs);
    }
}

impl BitAnd for Permissions {
    type Output = Permissions;
    fn bitand(self, rhs: Permissions) -> Permissions {
        self.intersection(rhs)
    }
}

impl BitAndAssign for Permissions {
    fn bitand_assign(&mut self, rhs: Permissions) {
        self.0 &= rhs.0;
    }
}

impl Sub for Permissions {
    type Output = Permissions;
    fn sub(self, rhs: Permissions) -> Permissions {
        self.difference(rhs)
    }
}

impl Not for Permissions {
    type Output = Permissions;
    fn not(self) -> Permissions {
        Permissions(!self.0)
    }
}

impl FromIterator<Permissions> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permissions>>(iter: I) -> Self {
        iter.into_iter().fold(Permissions::NONE, Permissions::union)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Discord's documented table, written out independently of the macro
    /// so that a typo in one place cannot hide in both.
    const DISCORD_TABLE: &[(&str, u64)] = &[
        ("CREATE_INSTANT_INVITE", 0x1),
        ("KICK_MEMBERS", 0x2),
        ("BAN_MEMBERS", 0x4),
        ("ADMINISTRATOR", 0x8),
        ("MANAGE_CHANNELS", 0x10),
        ("MANAGE_GUILD", 0x20),
        ("ADD_REACTIONS", 0x40),
        ("VIEW_AUDIT_LOG", 0x80),
        ("PRIORITY_SPEAKER", 0x100),
        ("STREAM", 0x200),
        ("VIEW_CHANNEL", 0x400),
        ("SEND_MESSAGES", 0x800),
        ("SEND_TTS_MESSAGES", 0x1000),
        ("MANAGE_MESSAGES", 0x2000),
        ("EMBED_LINKS", 0x4000),
        ("ATTACH_FILES", 0x8000),
        ("READ_MESSAGE_HISTORY", 0x10000),
        ("MENTION_EVERYONE", 0x20000),
        ("USE_EXTERNAL_EMOJIS", 0x40000),
        ("VIEW_GUILD_INSIGHTS", 0x80000),
        ("CONNECT", 0x100000),
        ("SPEAK", 0x200000),
        ("MUTE_MEMBERS", 0x400000),
        ("DEAFEN_MEMBERS", 0x800000),
        ("MOVE_MEMBERS", 0x1000000),
        ("USE_VAD", 0x2000000),
        ("CHANGE_NICKNAME", 0x4000000),
        ("MANAGE_NICKNAMES", 0x8000000),
        ("MANAGE_ROLES", 0x10000000),
        ("MANAGE_WEBHOOKS", 0x20000000),
        ("MANAGE_GUILD_EXPRESSIONS", 0x40000000),
        ("USE_APPLICATION_COMMANDS", 0x80000000),
        ("REQUEST_TO_SPEAK", 0x100000000),
        ("MANAGE_EVENTS", 0x200000000),
        ("MANAGE_THREADS", 0x400000000),
        ("CREATE_PUBLIC_THREADS", 0x800000000),
        ("CREATE_PRIVATE_THREADS", 0x1000000000),
        ("USE_EXTERNAL_STICKERS", 0x2000000000),
        ("SEND_MESSAGES_IN_THREADS", 0x4000000000),
        ("USE_EMBEDDED_ACTIVITIES", 0x8000000000),
        ("MODERATE_MEMBERS", 0x10000000000),
        ("VIEW_CREATOR_MONETIZATION_ANALYTICS", 0x20000000000),
        ("USE_SOUNDBOARD", 0x40000000000),
        ("CREATE_GUILD_EXPRESSIONS", 0x80000000000),
        ("CREATE_EVENTS", 0x100000000000),
        ("USE_EXTERNAL_SOUNDS", 0x200000000000),
        ("SEND_VOICE_MESSAGES", 0x400000000000),
        ("SET_VOICE_CHANNEL_STATUS", 0x1000000000000),
        ("SEND_POLLS", 0x2000000000000),
        ("USE_EXTERNAL_APPS", 0x4000000000000),
        ("PIN_MESSAGES", 0x8000000000000),
        ("BYPASS_SLOWMODE", 0x10000000000000),
    ];

    #[test]
    fn every_flag_has_discords_documented_bit() {
        assert_eq!(Permissions::NAMED.len(), DISCORD_TABLE.len());
        for ((name, flag), (doc_name, doc_bits)) in Permissions::NAMED.iter().zip(DISCORD_TABLE) {
            assert_eq!(name, doc_name);
            assert_eq!(flag.bits(), *doc_bits, "{name}");
        }
    }

    #[test]
    fn spot_check_bits_named_in_the_issue() {
        assert_eq!(Permissions::ADMINISTRATOR.bits(), 1 << 3);
        assert_eq!(Permissions::MANAGE_CHANNELS.bits(), 1 << 4);
        assert_eq!(Permissions::SEND_POLLS.bits(), 1 << 49);
        assert_eq!(Permissions::USE_EXTERNAL_APPS.bits(), 1 << 50);
        assert_eq!(Permissions::PIN_MESSAGES.bits(), 1 << 51);
        assert_eq!(Permissions::BYPASS_SLOWMODE.bits(), 1 << 52);
    }

    #[test]
    fn bit_47_is_left_unassigned() {
        assert!(!Permissions::ALL.contains(Permissions::from_bits(1 << 47)));
        assert_eq!(Permissions::ALL.bits().count_ones(), 52);
    }

    #[test]
    fn serialises_as_a_decimal_string() {
        let p = Permissions::SEND_MESSAGES | Permissions::ADD_REACTIONS;
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"2112\"");
        let back: Permissions = serde_json::from_str("\"2112\"").unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn largest_u64_round_trips() {
        let max: Permissions = serde_json::from_str("\"18446744073709551615\"").unwrap();
        assert_eq!(max.bits(), u64::MAX);
        assert_eq!(serde_json::to_value(max).unwrap(), "18446744073709551615");
    }

    #[test]
    fn rejects_json_numbers_and_non_canonical_strings() {
        for bad in ["2112", "\"\"", "\"+1\"", "\"-1\"", "\" 1\"", "\"01\"", "\"0x10\"", "\"1.0\""] {
            assert!(serde_json::from_str::<Permissions>(bad).is_err(), "{bad}");
        }
        assert!(matches!("18446744073709551616".parse::<Permissions>(), Err(PermissionsParseError::TooLarge(_))));
        assert_eq!("0".parse::<Permissions>().unwrap(), Permissions::NONE);
    }

    #[test]
    fn unknown_bits_survive_a_round_trip() {
        let p = Permissions::from_bits((1 << 60) | 1);
        assert_eq!(p.unknown_bits().bits(), 1 << 60);
        let back: Permissions = serde_json::from_value(serde_json::to_value(p).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn names_and_lookup_agree() {
        let p = Permissions::KICK_MEMBERS | Permissions::PIN_MESSAGES;
        assert_eq!(p.names().collect::<Vec<_>>(), ["KICK_MEMBERS", "PIN_MESSAGES"]);
        assert_eq!(Permissions::from_name("PIN_MESSAGES"), Some(Permissions::PIN_MESSAGES));
        assert_eq!(Permissions::from_name("MANAGE_EMOJIS"), None);
        assert_eq!(format!("{p:?}"), "Permissions(KICK_MEMBERS | PIN_MESSAGES)");
        assert_eq!(format!("{:?}", Permissions::NONE), "Permissions(NONE)");
    }

    #[test]
    fn set_operations() {
        let mut p = Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES;
        assert!(p.contains(Permissions::VIEW_CHANNEL));
        assert!(!p.contains(Permissions::VIEW_CHANNEL | Permissions::CONNECT));
        assert!(p.intersects(Permissions::SEND_MESSAGES | Permissions::CONNECT));
        p.remove(Permissions::SEND_MESSAGES);
        assert_eq!(p, Permissions::VIEW_CHANNEL);
        p |= Permissions::CONNECT;
        assert_eq!(p - Permissions::CONNECT, Permissions::VIEW_CHANNEL);
        assert_eq!((!Permissions::NONE) & Permissions::ALL, Permissions::ALL);
        let collected: Permissions = [Permissions::SPEAK, Permissions::STREAM].into_iter().collect();
        assert_eq!(collected, Permissions::SPEAK | Permissions::STREAM);
    }

    #[test]
    fn guild_only_bits_exclude_channel_management() {
        assert!(
            !Permissions::GUILD_ONLY
                .intersects(Permissions::MANAGE_ROLES | Permissions::MANAGE_CHANNELS | Permissions::VIEW_CHANNEL)
        );
        assert!(Permissions::GUILD_ONLY.contains(Permissions::ADMINISTRATOR | Permissions::BAN_MEMBERS));
    }
}
