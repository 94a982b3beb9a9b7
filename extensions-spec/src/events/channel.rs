//! `nexus.channel`: what kind of channel a room is and how it behaves.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::events::thread::AUTO_ARCHIVE_DURATIONS;
use crate::events::{EventContent, StateKey, is_false, is_zero};
use crate::ids;

/// Discord's slowmode ceiling: six hours.
pub const MAX_SLOWMODE_SECONDS: u32 = 21_600;
/// Longest topic of a non-forum channel.
pub const MAX_TOPIC_LEN: usize = 1024;
/// Forum guidelines may be longer.
pub const MAX_FORUM_TOPIC_LEN: usize = 4096;
/// Most tags a forum may offer.
pub const MAX_FORUM_TAGS: usize = 20;
/// Longest tag name.
pub const MAX_TAG_NAME_LEN: usize = 20;

/// Content of `nexus.channel` (state key `""`) in a channel room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelContent {
    /// What kind of channel this is.
    #[serde(rename = "type")]
    pub kind: ChannelType,
    /// Topic (mirrored into `m.room.topic` for stock clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Order within its category (ties broken by room ID).
    pub position: u32,
    /// ID of a category in the server's `nexus.server`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Seconds a member must wait between messages (0 = off).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub slowmode_seconds: u32,
    /// Age-restricted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub nsfw: bool,
    /// Tags forum posts may carry (forum channels only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub available_tags: Vec<ForumTag>,
    /// Auto-archive duration (minutes) new threads start with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_auto_archive_duration: Option<u32>,
    /// Most members in the call at once (voice and stage; 0 = no limit).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub user_limit: u32,
    /// Audio bitrate, bits per second, clients aim for (voice and stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u32>,
    /// Camera video quality (voice and stage): `auto`, or `full` (720p+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_quality: Option<VideoQuality>,
}

/// How a voice channel's cameras are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoQuality {
    /// The client (or the SFU) adapts to the connection.
    Auto,
    /// 720p or better whatever the connection.
    Full,
}

/// Discord's ceiling on a voice channel's members.
pub const MAX_USER_LIMIT: u32 = 99;
/// Bitrate bounds (Discord's: 8 kbps up to 384 kbps).
pub const MIN_BITRATE: u32 = 8_000;
pub const MAX_BITRATE: u32 = 384_000;

/// Discord's guild channel types that Nexus maps to rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    /// Ordinary text chat.
    Text,
    /// Voice (and its text chat).
    Voice,
    /// Announcements that other servers can follow.
    Announcement,
    /// Every top-level message is a thread ("post").
    Forum,
    /// Stage: speakers and an audience.
    Stage,
}

impl ChannelType {
    /// Whether members join a call in it.
    pub fn is_voice(self) -> bool {
        matches!(self, ChannelType::Voice | ChannelType::Stage)
    }
}

/// A tag a forum post can carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForumTag {
    /// Stable ID referenced by `nexus.thread.applied_tags`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Only members with MANAGE_THREADS may apply it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub moderated: bool,
    /// A Unicode emoji or an `mxc://` custom emoji.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
}

impl ChannelContent {
    /// The tag with this ID, if the forum offers it.
    pub fn tag(&self, id: &str) -> Option<&ForumTag> {
        self.available_tags.iter().find(|t| t.id == id)
    }
}

impl EventContent for ChannelContent {
    const EVENT_TYPE: &'static str = super::CHANNEL;
    const STATE_KEY: StateKey = StateKey::Empty;

    fn validate(&self) -> Result<(), ValidationError> {
        if let Some(topic) = &self.topic {
            let max = if self.kind == ChannelType::Forum { MAX_FORUM_TOPIC_LEN } else { MAX_TOPIC_LEN };
            ids::check_len("topic", topic, 0, max)?;
        }
        if let Some(category) = &self.category {
            ids::check_opaque_id("category", category)?;
        }
        if self.slowmode_seconds > MAX_SLOWMODE_SECONDS {
            return Err(ValidationError::OutOfRange {
                field: "slowmode_seconds",
                value: self.slowmode_seconds.into(),
                min: 0,
                max: MAX_SLOWMODE_SECONDS.into(),
            });
        }
        if let Some(duration) = self.default_auto_archive_duration {
            check_auto_archive("default_auto_archive_duration", duration)?;
        }
        let voice_only = [
            ("user_limit", self.user_limit != 0),
            ("bitrate", self.bitrate.is_some()),
            ("video_quality", self.video_quality.is_some()),
        ];
        for (field, present) in voice_only {
            if present && !self.kind.is_voice() {
                return Err(ValidationError::NotApplicable { field, only: "on voice and stage channels" });
            }
        }
        if self.user_limit > MAX_USER_LIMIT {
            return Err(ValidationError::OutOfRange {
                field: "user_limit",
                value: self.user_limit.into(),
                min: 0,
                max: MAX_USER_LIMIT.into(),
            });
        }
        if let Some(bitrate) = self.bitrate
            && !(MIN_BITRATE..=MAX_BITRATE).contains(&bitrate)
        {
            return Err(ValidationError::OutOfRange {
                field: "bitrate",
                value: bitrate.into(),
                min: MIN_BITRATE.into(),
                max: MAX_BITRATE.into(),
            });
        }
        if !self.available_tags.is_empty() && self.kind != ChannelType::Forum {
            return Err(ValidationError::NotApplicable { field: "available_tags", only: "on forum channels" });
        }
        ids::check_max_entries("available_tags", self.available_tags.len(), MAX_FORUM_TAGS)?;
        for tag in &self.available_tags {
            ids::check_opaque_id("available_tags[].id", &tag.id)?;
            ids::check_len("available_tags[].name", &tag.name, 1, MAX_TAG_NAME_LEN)?;
            if let Some(emoji) = &tag.emoji {
                check_emoji("available_tags[].emoji", emoji)?;
            }
        }
        ids::check_unique("available_tags[].id", self.available_tags.iter().map(|t| t.id.as_str()))
    }
}

pub(crate) fn check_auto_archive(field: &'static str, minutes: u32) -> Result<(), ValidationError> {
    if AUTO_ARCHIVE_DURATIONS.contains(&u64::from(minutes)) {
        Ok(())
    } else {
        Err(ValidationError::NotAllowed { field, value: minutes.into(), allowed: AUTO_ARCHIVE_DURATIONS })
    }
}

/// A Unicode emoji is 1–32 characters with no spaces; anything starting with
/// `mxc://` must be a valid custom emoji URI.
pub(crate) fn check_emoji(field: &'static str, emoji: &str) -> Result<(), ValidationError> {
    if emoji.starts_with("mxc://") {
        return ids::check_mxc(field, emoji);
    }
    ids::check_len(field, emoji, 1, 32)?;
    if emoji.chars().any(char::is_whitespace) {
        return Err(ValidationError::Malformed { field, expected: "emoji", value: emoji.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn forum() -> ChannelContent {
        serde_json::from_value(json!({
            "type": "forum",
            "position": 3,
            "available_tags": [
                {"id": "bug", "name": "Bug", "emoji": "🐛"},
                {"id": "solved", "name": "Solved", "moderated": true}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_forum_with_tags_is_valid() {
        let f = forum();
        assert!(f.validate().is_ok());
        assert!(f.tag("solved").unwrap().moderated);
        assert_eq!(f.slowmode_seconds, 0);
        assert!(!f.nsfw);
    }

    #[test]
    fn slowmode_is_capped_at_six_hours() {
        let mut c = forum();
        c.slowmode_seconds = MAX_SLOWMODE_SECONDS;
        assert!(c.validate().is_ok());
        c.slowmode_seconds = MAX_SLOWMODE_SECONDS + 1;
        assert!(matches!(
            c.validate(),
            Err(ValidationError::OutOfRange { field: "slowmode_seconds", value: 21_601, .. })
        ));
    }

    #[test]
    fn voice_settings_belong_to_voice_channels_within_bounds() {
        let voice: ChannelContent = serde_json::from_value(
            json!({"type": "voice", "position": 0, "user_limit": 5, "bitrate": 64000, "video_quality": "full"}),
        )
        .unwrap();
        assert!(voice.validate().is_ok());
        assert_eq!(voice.video_quality, Some(VideoQuality::Full));
        let mut text = voice.clone();
        text.kind = ChannelType::Text;
        assert!(matches!(text.validate(), Err(ValidationError::NotApplicable { field: "user_limit", .. })));
        let mut crowded = voice.clone();
        crowded.user_limit = MAX_USER_LIMIT + 1;
        assert!(matches!(crowded.validate(), Err(ValidationError::OutOfRange { field: "user_limit", .. })));
        let mut loud = voice.clone();
        loud.bitrate = Some(MAX_BITRATE + 1);
        assert!(matches!(loud.validate(), Err(ValidationError::OutOfRange { field: "bitrate", .. })));
        loud.bitrate = Some(MIN_BITRATE - 1);
        assert!(loud.validate().is_err());
        let unlimited: ChannelContent = serde_json::from_value(json!({"type": "stage", "position": 1})).unwrap();
        assert_eq!(unlimited.user_limit, 0);
        assert!(serde_json::to_value(&unlimited).unwrap().get("user_limit").is_none());
    }

    #[test]
    fn at_most_twenty_tags() {
        let mut c = forum();
        c.available_tags = (0..=MAX_FORUM_TAGS)
            .map(|i| ForumTag { id: format!("t{i}"), name: format!("Tag {i}"), moderated: false, emoji: None })
            .collect();
        assert!(matches!(c.validate(), Err(ValidationError::TooMany { len: 21, .. })));
    }

    #[test]
    fn tags_only_on_forums() {
        let mut c = forum();
        c.kind = ChannelType::Text;
        assert!(matches!(c.validate(), Err(ValidationError::NotApplicable { .. })));
    }

    #[test]
    fn tag_names_are_short() {
        let mut c = forum();
        c.available_tags[0].name = "x".repeat(21);
        assert!(matches!(c.validate(), Err(ValidationError::Length { .. })));
    }

    #[test]
    fn unknown_channel_types_do_not_parse() {
        let r: Result<ChannelContent, _> = serde_json::from_value(json!({"type": "category", "position": 0}));
        assert!(r.is_err());
    }

    #[test]
    fn default_auto_archive_must_be_a_discord_value() {
        let mut c = forum();
        c.default_auto_archive_duration = Some(4320);
        assert!(c.validate().is_ok());
        c.default_auto_archive_duration = Some(120);
        assert!(matches!(c.validate(), Err(ValidationError::NotAllowed { .. })));
    }

    #[test]
    fn emoji_rules() {
        assert!(check_emoji("e", "🔥").is_ok());
        assert!(check_emoji("e", "mxc://example.org/abc").is_ok());
        assert!(check_emoji("e", "mxc://bad").is_err());
        assert!(check_emoji("e", "two words").is_err());
        assert!(check_emoji("e", "").is_err());
    }
}
