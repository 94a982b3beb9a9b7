//! `nexus.channel.overwrites`: per-channel allow/deny adjustments.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::events::{EventContent, StateKey};
use crate::ids;
use crate::permissions::Permissions;

/// Most overwrites a channel may carry; keeps the event far below the
/// 64 KiB PDU limit.
pub const MAX_OVERWRITES: usize = 500;

/// One overwrite: bits to deny, then bits to allow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overwrite {
    /// Bits granted.
    #[serde(default)]
    pub allow: Permissions,
    /// Bits removed.
    #[serde(default)]
    pub deny: Permissions,
}

/// Content of `nexus.channel.overwrites` (state key `""`) in a channel room.
///
/// Two maps rather than Discord's list with a `type` field: a key's kind is
/// then never in doubt, and a role cannot have two entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelOverwritesContent {
    /// Role ID (including `everyone`) → overwrite.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, Overwrite>,
    /// User ID → overwrite.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, Overwrite>,
}

impl EventContent for ChannelOverwritesContent {
    const EVENT_TYPE: &'static str = super::CHANNEL_OVERWRITES;
    const STATE_KEY: StateKey = StateKey::Empty;

    fn validate(&self) -> Result<(), ValidationError> {
        ids::check_max_entries("roles + members", self.roles.len() + self.members.len(), MAX_OVERWRITES)?;
        for role in self.roles.keys() {
            ids::check_opaque_id("roles", role)?;
        }
        for user in self.members.keys() {
            ids::check_user_id("members", user)?;
        }
        for (target, overwrite) in self.roles.iter().chain(&self.members) {
            let overlap = overwrite.allow & overwrite.deny;
            if !overlap.is_empty() {
                return Err(ValidationError::AllowDenyOverlap { target: target.clone(), bits: overlap });
            }
            let guild_only = (overwrite.allow | overwrite.deny) & Permissions::GUILD_ONLY;
            if !guild_only.is_empty() {
                return Err(ValidationError::GuildOnlyInOverwrite { target: target.clone(), bits: guild_only });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn private_channel_overwrites_parse() {
        let o: ChannelOverwritesContent = serde_json::from_value(json!({
            "roles": {
                "everyone": {"deny": "1024"},
                "mods": {"allow": "1024"}
            },
            "members": {"@bob:example.org": {"allow": "2048", "deny": "0"}}
        }))
        .unwrap();
        assert!(o.validate().is_ok());
        assert_eq!(o.roles["everyone"].deny, Permissions::VIEW_CHANNEL);
        assert_eq!(o.roles["mods"].deny, Permissions::NONE);
    }

    #[test]
    fn allow_and_deny_must_not_overlap() {
        let mut o = ChannelOverwritesContent::default();
        o.roles.insert(
            "mods".into(),
            Overwrite { allow: Permissions::SEND_MESSAGES, deny: Permissions::SEND_MESSAGES | Permissions::CONNECT },
        );
        assert!(matches!(
            o.validate(),
            Err(ValidationError::AllowDenyOverlap { bits, .. }) if bits == Permissions::SEND_MESSAGES
        ));
    }

    #[test]
    fn server_wide_bits_are_refused() {
        let mut o = ChannelOverwritesContent::default();
        o.members.insert(
            "@bob:example.org".into(),
            Overwrite { allow: Permissions::ADMINISTRATOR, deny: Permissions::NONE },
        );
        assert!(matches!(o.validate(), Err(ValidationError::GuildOnlyInOverwrite { .. })));
    }

    #[test]
    fn member_keys_must_be_user_ids_and_role_keys_must_not() {
        let mut o = ChannelOverwritesContent::default();
        o.members.insert("mods".into(), Overwrite::default());
        assert!(o.validate().is_err());
        let mut o = ChannelOverwritesContent::default();
        o.roles.insert("@bob:example.org".into(), Overwrite::default());
        assert!(o.validate().is_err());
    }
}
