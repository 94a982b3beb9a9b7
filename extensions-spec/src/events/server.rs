//! `nexus.server`: what makes a space a Nexus server.

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::events::{EventContent, StateKey};
use crate::ids;

/// Longest server description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Most categories a server may have.
pub const MAX_CATEGORIES: usize = 50;
/// Longest category name, in characters.
pub const MAX_CATEGORY_NAME_LEN: usize = 100;

/// Content of `nexus.server` (state key `""`) in the server's space.
///
/// The server's name stays in the space's `m.room.name`, which every Matrix
/// client shows; the icon and description live here and are mirrored into
/// `m.room.avatar` / `m.room.topic` for the same reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerContent {
    /// The owner: has every permission and outranks everyone.
    pub owner: String,
    /// Server icon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Banner image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// Free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Notification level for members who have not chosen one.
    #[serde(default)]
    pub default_notifications: DefaultNotifications,
    /// Channel room where join and boost notices go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_channel: Option<String>,
    /// Categories, in display order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Category>,
}

/// Server-wide default for notifications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultNotifications {
    /// Notify for every message (Discord's default).
    #[default]
    AllMessages,
    /// Notify only for mentions.
    OnlyMentions,
}

/// A channel category. Its place in `categories` is its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// Stable ID that channels refer to.
    pub id: String,
    /// Display name.
    pub name: String,
}

impl ServerContent {
    /// The category's index in display order.
    pub fn category_index(&self, category_id: &str) -> Option<usize> {
        self.categories.iter().position(|c| c.id == category_id)
    }
}

impl EventContent for ServerContent {
    const EVENT_TYPE: &'static str = super::SERVER;
    const STATE_KEY: StateKey = StateKey::Empty;

    fn validate(&self) -> Result<(), ValidationError> {
        ids::check_user_id("owner", &self.owner)?;
        if let Some(icon) = &self.icon {
            ids::check_mxc("icon", icon)?;
        }
        if let Some(banner) = &self.banner {
            ids::check_mxc("banner", banner)?;
        }
        if let Some(description) = &self.description {
            ids::check_len("description", description, 0, MAX_DESCRIPTION_LEN)?;
        }
        if let Some(room) = &self.system_channel {
            ids::check_room_id("system_channel", room)?;
        }
        ids::check_max_entries("categories", self.categories.len(), MAX_CATEGORIES)?;
        for category in &self.categories {
            ids::check_opaque_id("categories[].id", &category.id)?;
            ids::check_len("categories[].name", &category.name, 1, MAX_CATEGORY_NAME_LEN)?;
        }
        ids::check_unique("categories[].id", self.categories.iter().map(|c| c.id.as_str()))
    }
}

/// The `order` of a channel's `m.space.child` event, so that stock Matrix
/// clients list channels as Nexus does: uncategorised channels first, then
/// each category in order, each sorted by position. Fixed-width digits make
/// the lexicographic order the spec prescribes equal the numeric one.
pub fn space_child_order(category_index: Option<usize>, position: u32) -> String {
    let category = category_index.map_or(0, |i| i + 1);
    format!("{category:03}.{position:010}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server() -> ServerContent {
        serde_json::from_value(json!({
            "owner": "@alice:example.org",
            "categories": [{"id": "text", "name": "Text"}, {"id": "voice", "name": "Voice"}]
        }))
        .unwrap()
    }

    #[test]
    fn defaults_are_discords() {
        let s = server();
        assert_eq!(s.default_notifications, DefaultNotifications::AllMessages);
        assert!(s.validate().is_ok());
        assert_eq!(s.category_index("voice"), Some(1));
        assert_eq!(s.category_index("nope"), None);
    }

    #[test]
    fn owner_must_be_a_user_id() {
        let mut s = server();
        s.owner = "alice".into();
        assert!(matches!(s.validate(), Err(ValidationError::Malformed { field: "owner", .. })));
    }

    #[test]
    fn duplicate_category_ids_are_rejected() {
        let mut s = server();
        s.categories[1].id = "text".into();
        assert!(matches!(s.validate(), Err(ValidationError::Duplicate { .. })));
    }

    #[test]
    fn too_many_categories_are_rejected() {
        let mut s = server();
        s.categories = (0..=MAX_CATEGORIES).map(|i| Category { id: format!("c{i}"), name: "x".into() }).collect();
        assert!(matches!(s.validate(), Err(ValidationError::TooMany { .. })));
    }

    #[test]
    fn icon_must_be_mxc() {
        let mut s = server();
        s.icon = Some("https://example.org/icon.png".into());
        assert!(s.validate().is_err());
    }

    #[test]
    fn space_child_order_sorts_like_nexus() {
        let mut orders = [
            space_child_order(Some(1), 0),
            space_child_order(Some(0), 10),
            space_child_order(None, 5),
            space_child_order(Some(0), 2),
        ];
        orders.sort();
        assert_eq!(
            orders,
            [
                space_child_order(None, 5),
                space_child_order(Some(0), 2),
                space_child_order(Some(0), 10),
                space_child_order(Some(1), 0),
            ]
        );
        // The spec caps `order` at 50 printable ASCII characters.
        let longest = space_child_order(Some(MAX_CATEGORIES), u32::MAX);
        assert!(longest.len() <= 50 && longest.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    }
}
