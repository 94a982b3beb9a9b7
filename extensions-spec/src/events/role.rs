//! `nexus.role`: one state event per role, in the server's space.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::events::channel::check_emoji;
use crate::events::{EventContent, StateKey, is_false};
use crate::ids;
use crate::permissions::Permissions;

/// The state key (role ID) of the role every member implicitly holds.
/// Discord uses the guild ID; a fixed word is simpler to refer to from
/// channel overwrites and survives a channel moving between servers.
pub const EVERYONE_ROLE_ID: &str = "everyone";
/// Discord's cap on roles per server.
pub const MAX_ROLES: usize = 250;
/// Longest role name.
pub const MAX_ROLE_NAME_LEN: usize = 100;
/// Largest RGB colour.
pub const MAX_COLOUR: u32 = 0xFF_FF_FF;

/// Content of `nexus.role` (state key = role ID) in the space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleContent {
    /// Display name (`@everyone` for the everyone role).
    pub name: String,
    /// Display colours.
    #[serde(default, skip_serializing_if = "RoleColours::is_none")]
    pub colours: RoleColours,
    /// Place in the hierarchy: higher outranks lower. @everyone is 0, every
    /// other role ≥ 1. Ties are broken by role ID (see [`crate::guild::Rank`]).
    pub position: u32,
    /// What the role grants server-wide.
    pub permissions: Permissions,
    /// Members are listed separately under this role.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hoist: bool,
    /// Anyone may @mention the role.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mentionable: bool,
    /// Role icon image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Role icon as a Unicode emoji (exclusive with `icon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicode_emoji: Option<String>,
}

/// Discord's role colours: a primary colour, optionally a gradient.
/// `0` means "no colour" as in Discord.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleColours {
    /// Main colour, `0xRRGGBB`.
    #[serde(default)]
    pub primary: u32,
    /// Second gradient stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<u32>,
    /// Third gradient stop (needs `secondary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tertiary: Option<u32>,
}

impl RoleColours {
    fn is_none(&self) -> bool {
        *self == RoleColours::default()
    }
}

impl RoleContent {
    /// Checks the content together with the state key it is stored under:
    /// @everyone alone sits at position 0.
    pub fn validate_as(&self, role_id: &str) -> Result<(), ValidationError> {
        ids::check_opaque_id("state_key", role_id)?;
        self.validate()?;
        let is_everyone = role_id == EVERYONE_ROLE_ID;
        if is_everyone != (self.position == 0) {
            return Err(ValidationError::RolePosition { role_id: role_id.to_owned(), position: self.position });
        }
        Ok(())
    }
}

impl EventContent for RoleContent {
    const EVENT_TYPE: &'static str = super::ROLE;
    const STATE_KEY: StateKey = StateKey::RoleId;

    fn validate(&self) -> Result<(), ValidationError> {
        ids::check_len("name", &self.name, 1, MAX_ROLE_NAME_LEN)?;
        for (field, colour) in [
            ("colours.primary", Some(self.colours.primary)),
            ("colours.secondary", self.colours.secondary),
            ("colours.tertiary", self.colours.tertiary),
        ] {
            if let Some(colour) = colour.filter(|c| *c > MAX_COLOUR) {
                return Err(ValidationError::OutOfRange {
                    field,
                    value: colour.into(),
                    min: 0,
                    max: MAX_COLOUR.into(),
                });
            }
        }
        if self.colours.tertiary.is_some() && self.colours.secondary.is_none() {
            return Err(ValidationError::Required {
                field: "colours.secondary",
                when: "when `colours.tertiary` is set",
            });
        }
        if self.icon.is_some() && self.unicode_emoji.is_some() {
            return Err(ValidationError::Conflict { first: "icon", second: "unicode_emoji" });
        }
        if let Some(icon) = &self.icon {
            ids::check_mxc("icon", icon)?;
        }
        if let Some(emoji) = &self.unicode_emoji {
            if emoji.starts_with("mxc://") {
                return Err(ValidationError::Malformed {
                    field: "unicode_emoji",
                    expected: "Unicode emoji (use `icon` for images)",
                    value: emoji.clone(),
                });
            }
            check_emoji("unicode_emoji", emoji)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn moderator() -> RoleContent {
        serde_json::from_value(json!({
            "name": "Moderator",
            "colours": {"primary": 0x3498db},
            "position": 5,
            "permissions": "1099511635970",
            "hoist": true,
            "unicode_emoji": "🛡️"
        }))
        .unwrap()
    }

    #[test]
    fn a_moderator_role_parses_with_its_permissions() {
        let role = moderator();
        assert!(role.validate_as("mods").is_ok());
        assert!(
            role.permissions
                .contains(Permissions::MODERATE_MEMBERS | Permissions::MANAGE_MESSAGES | Permissions::KICK_MEMBERS)
        );
    }

    #[test]
    fn everyone_alone_sits_at_zero() {
        let mut role = moderator();
        assert!(matches!(role.validate_as(EVERYONE_ROLE_ID), Err(ValidationError::RolePosition { position: 5, .. })));
        role.position = 0;
        assert!(role.validate_as(EVERYONE_ROLE_ID).is_ok());
        assert!(role.validate_as("mods").is_err());
    }

    #[test]
    fn role_ids_must_not_look_like_user_ids() {
        assert!(moderator().validate_as("@mods:example.org").is_err());
    }

    #[test]
    fn colours_are_24_bit() {
        let mut role = moderator();
        role.colours.primary = 0x1_000_000;
        assert!(matches!(role.validate(), Err(ValidationError::OutOfRange { .. })));
    }

    #[test]
    fn tertiary_colour_needs_secondary() {
        let mut role = moderator();
        role.colours.tertiary = Some(0xff0000);
        assert!(matches!(role.validate(), Err(ValidationError::Required { .. })));
        role.colours.secondary = Some(0x00ff00);
        assert!(role.validate().is_ok());
    }

    #[test]
    fn icon_and_emoji_are_exclusive() {
        let mut role = moderator();
        role.icon = Some("mxc://example.org/shield".into());
        assert!(matches!(role.validate(), Err(ValidationError::Conflict { .. })));
    }

    #[test]
    fn permissions_must_be_a_string() {
        let r: Result<RoleContent, _> = serde_json::from_value(json!({"name": "x", "position": 1, "permissions": 8}));
        assert!(r.is_err());
    }
}
