//! `nexus.thread`: name and lifecycle of an `m.thread` thread.

use serde::{Deserialize, Serialize};

use crate::error::{RuleViolation, ValidationError};
use crate::events::channel::{ChannelContent, ChannelType, check_auto_archive};
use crate::events::{EventContent, StateKey, is_false};
use crate::ids;
use crate::permissions::Permissions;

/// The auto-archive durations Discord offers, in minutes (1 h, 1 d, 3 d, 7 d).
pub const AUTO_ARCHIVE_DURATIONS: &[u64] = &[60, 1440, 4320, 10080];
/// Most tags a forum post may carry.
pub const MAX_APPLIED_TAGS: usize = 5;
/// Longest thread name.
pub const MAX_THREAD_NAME_LEN: usize = 100;

/// Content of `nexus.thread` in a channel room; the state key is the event ID
/// of the thread root. A thread without this event is a plain Matrix thread:
/// unnamed, public, never archived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadContent {
    /// Display name.
    pub name: String,
    /// Archived by hand (auto-archival is derived, see [`ThreadContent::is_archived`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
    /// Only members with MANAGE_THREADS may post, unarchive or edit.
    #[serde(default, skip_serializing_if = "is_false")]
    pub locked: bool,
    /// Minutes of inactivity after which the thread counts as archived.
    pub auto_archive_duration: u32,
    /// Private threads: whether non-moderators may add people.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub invitable: bool,
    /// Shown only to its members in Nexus clients (see the README: Matrix
    /// cannot hide events inside a room, so this is not confidentiality).
    #[serde(default, skip_serializing_if = "is_false")]
    pub private: bool,
    /// When `archived` last changed (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_timestamp: Option<u64>,
    /// Forum tag IDs this post carries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_tags: Vec<String>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// What accepting a post does to the thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostEffect {
    /// Nothing beyond the post.
    Posted,
    /// The post unarchives the thread; the updated content is what the
    /// poster's server publishes if the poster may (see the README).
    Unarchives(ThreadContent),
}

impl ThreadContent {
    /// Whether the thread is archived at `now_ms`.
    ///
    /// `posted_since_archival` says whether a post accepted into the thread
    /// comes after the `nexus.thread` event that set `archived` (that event is
    /// in the post's room state). Deriving archival this way means a member
    /// without MANAGE_THREADS can revive a thread without being able to write
    /// `nexus.thread`, and auto-archival needs nobody to send anything.
    pub fn is_archived(&self, last_activity_ms: u64, posted_since_archival: bool, now_ms: u64) -> bool {
        let by_hand = self.archived && !posted_since_archival;
        let idle_ms = u64::from(self.auto_archive_duration) * 60_000;
        by_hand || now_ms.saturating_sub(last_activity_ms) >= idle_ms
    }

    /// Decides whether a member whose thread permissions are `perms` may post
    /// now, and whether doing so unarchives the thread. `archived` is the
    /// thread's current state per [`ThreadContent::is_archived`].
    pub fn admit_post(&self, perms: Permissions, archived: bool, now_ms: u64) -> Result<PostEffect, RuleViolation> {
        if !perms.contains(Permissions::SEND_MESSAGES_IN_THREADS) {
            return Err(RuleViolation::MissingPermission(Permissions::SEND_MESSAGES_IN_THREADS));
        }
        if self.locked && !perms.contains(Permissions::MANAGE_THREADS) {
            return Err(RuleViolation::ThreadLocked);
        }
        if !archived {
            return Ok(PostEffect::Posted);
        }
        Ok(PostEffect::Unarchives(ThreadContent { archived: false, archive_timestamp: Some(now_ms), ..self.clone() }))
    }

    /// Checks `applied_tags` against the forum the thread lives in.
    pub fn validate_tags_against(&self, channel: &ChannelContent) -> Result<(), ValidationError> {
        if self.applied_tags.is_empty() {
            return Ok(());
        }
        if channel.kind != ChannelType::Forum {
            return Err(ValidationError::NotApplicable { field: "applied_tags", only: "on posts in forum channels" });
        }
        for tag in &self.applied_tags {
            if channel.tag(tag).is_none() {
                return Err(ValidationError::Unknown { field: "applied_tags", kind: "forum tag", value: tag.clone() });
            }
        }
        Ok(())
    }
}

impl EventContent for ThreadContent {
    const EVENT_TYPE: &'static str = super::THREAD;
    const STATE_KEY: StateKey = StateKey::EventId;

    fn validate(&self) -> Result<(), ValidationError> {
        ids::check_len("name", &self.name, 1, MAX_THREAD_NAME_LEN)?;
        check_auto_archive("auto_archive_duration", self.auto_archive_duration)?;
        ids::check_max_entries("applied_tags", self.applied_tags.len(), MAX_APPLIED_TAGS)?;
        for tag in &self.applied_tags {
            ids::check_opaque_id("applied_tags[]", tag)?;
        }
        ids::check_unique("applied_tags", self.applied_tags.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DAY_MS: u64 = 24 * 60 * 60 * 1000;

    fn thread() -> ThreadContent {
        serde_json::from_value(json!({"name": "Release plan", "auto_archive_duration": 1440})).unwrap()
    }

    fn poster() -> Permissions {
        Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES_IN_THREADS
    }

    #[test]
    fn defaults() {
        let t = thread();
        assert!(t.validate().is_ok());
        assert!(t.invitable && !t.archived && !t.locked && !t.private);
        assert_eq!(serde_json::to_value(&t).unwrap(), json!({"name": "Release plan", "auto_archive_duration": 1440}));
    }

    #[test]
    fn auto_archive_duration_must_be_one_of_discords() {
        for ok in [60, 1440, 4320, 10080] {
            let mut t = thread();
            t.auto_archive_duration = ok;
            assert!(t.validate().is_ok());
        }
        let mut t = thread();
        t.auto_archive_duration = 30;
        assert!(matches!(t.validate(), Err(ValidationError::NotAllowed { value: 30, .. })));
    }

    #[test]
    fn at_most_five_applied_tags() {
        let mut t = thread();
        t.applied_tags = (0..6).map(|i| format!("t{i}")).collect();
        assert!(matches!(t.validate(), Err(ValidationError::TooMany { len: 6, max: 5, .. })));
    }

    #[test]
    fn sending_into_an_archived_unlocked_thread_unarchives_it() {
        let mut t = thread();
        t.archived = true;
        let effect = t.admit_post(poster(), true, 5_000).unwrap();
        let PostEffect::Unarchives(updated) = effect else {
            panic!("expected unarchival, got {effect:?}");
        };
        assert!(!updated.archived);
        assert_eq!(updated.archive_timestamp, Some(5_000));
    }

    #[test]
    fn posting_into_an_open_thread_changes_nothing() {
        assert_eq!(thread().admit_post(poster(), false, 0), Ok(PostEffect::Posted));
    }

    #[test]
    fn locked_threads_refuse_members_without_manage_threads() {
        let mut t = thread();
        t.locked = true;
        t.archived = true;
        assert_eq!(t.admit_post(poster(), true, 0), Err(RuleViolation::ThreadLocked));
        let moderator = poster() | Permissions::MANAGE_THREADS;
        assert!(matches!(t.admit_post(moderator, true, 0), Ok(PostEffect::Unarchives(_))));
    }

    #[test]
    fn posting_needs_send_messages_in_threads_not_send_messages() {
        let channel_only = Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES;
        assert_eq!(
            thread().admit_post(channel_only, false, 0),
            Err(RuleViolation::MissingPermission(Permissions::SEND_MESSAGES_IN_THREADS))
        );
    }

    #[test]
    fn inactivity_archives_without_any_event() {
        let t = thread();
        assert!(!t.is_archived(0, false, DAY_MS - 1));
        assert!(t.is_archived(0, false, DAY_MS));
    }

    #[test]
    fn a_post_after_manual_archival_revives_the_thread() {
        let mut t = thread();
        t.archived = true;
        assert!(t.is_archived(10, false, 20));
        assert!(!t.is_archived(10, true, 20));
    }

    #[test]
    fn applied_tags_must_exist_in_the_forum() {
        let forum: ChannelContent = serde_json::from_value(json!({
            "type": "forum", "position": 0,
            "available_tags": [{"id": "bug", "name": "Bug"}]
        }))
        .unwrap();
        let mut t = thread();
        t.applied_tags = vec!["bug".into()];
        assert!(t.validate_tags_against(&forum).is_ok());
        t.applied_tags = vec!["feature".into()];
        assert!(matches!(t.validate_tags_against(&forum), Err(ValidationError::Unknown { .. })));
        let text: ChannelContent = serde_json::from_value(json!({"type": "text", "position": 0})).unwrap();
        assert!(t.validate_tags_against(&text).is_err());
    }
}
