//! `nexus.member`: a member's roles, server nickname and timeout.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::events::role::{EVERYONE_ROLE_ID, MAX_ROLES};
use crate::events::{EventContent, StateKey};
use crate::ids;

/// Discord's nickname limit.
pub const MAX_NICK_LEN: usize = 32;
/// Discord's longest timeout: 28 days.
pub const MAX_TIMEOUT_MS: u64 = 28 * 24 * 60 * 60 * 1000;

/// Content of `nexus.member` in the space. The state key is `_` + user ID
/// (see [`ids::member_state_key`] for why not the bare user ID).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberContent {
    /// Role IDs held, besides the implicit @everyone. Order is irrelevant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Server nickname, overriding the space `m.room.member` display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
    /// Timed out until this time (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication_disabled_until: Option<u64>,
}

impl MemberContent {
    /// Whether the timeout is still running at `now_ms`.
    pub fn is_timed_out(&self, now_ms: u64) -> bool {
        self.communication_disabled_until.is_some_and(|until| until > now_ms)
    }
}

impl EventContent for MemberContent {
    const EVENT_TYPE: &'static str = super::MEMBER;
    const STATE_KEY: StateKey = StateKey::Member;

    fn validate(&self) -> Result<(), ValidationError> {
        ids::check_max_entries("roles", self.roles.len(), MAX_ROLES)?;
        for role in &self.roles {
            ids::check_opaque_id("roles[]", role)?;
            if role == EVERYONE_ROLE_ID {
                // Listing it would be harmless but makes "has no roles" two
                // different contents, so equal states would hash differently.
                return Err(ValidationError::Malformed {
                    field: "roles[]",
                    expected: "role other than the implicit @everyone",
                    value: role.clone(),
                });
            }
        }
        ids::check_unique("roles", self.roles.iter().map(String::as_str))?;
        if let Some(nick) = &self.nick {
            ids::check_len("nick", nick, 1, MAX_NICK_LEN)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timeout_runs_until_its_end() {
        let m = MemberContent { communication_disabled_until: Some(1_000), ..MemberContent::default() };
        assert!(m.is_timed_out(999));
        assert!(!m.is_timed_out(1_000));
        assert!(!MemberContent::default().is_timed_out(0));
    }

    #[test]
    fn roles_are_unique_and_exclude_everyone() {
        let m: MemberContent = serde_json::from_value(json!({"roles": ["a", "a"]})).unwrap();
        assert!(matches!(m.validate(), Err(ValidationError::Duplicate { .. })));
        let m: MemberContent = serde_json::from_value(json!({"roles": ["everyone"]})).unwrap();
        assert!(m.validate().is_err());
        let m: MemberContent = serde_json::from_value(json!({"roles": ["a", "b"]})).unwrap();
        assert!(m.validate().is_ok());
    }

    #[test]
    fn nick_is_at_most_32_characters() {
        let m = MemberContent { nick: Some("n".repeat(33)), ..MemberContent::default() };
        assert!(matches!(m.validate(), Err(ValidationError::Length { .. })));
    }

    #[test]
    fn empty_member_serialises_to_an_empty_object() {
        assert_eq!(serde_json::to_value(MemberContent::default()).unwrap(), json!({}));
    }
}
