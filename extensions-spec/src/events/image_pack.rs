//! Custom emoji and stickers: MSC2545 image packs in the server's space.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ValidationError;
use crate::events::{EventContent, StateKey};
use crate::ids;

/// MSC2545's shortcode limit, in bytes.
pub const MAX_SHORTCODE_BYTES: usize = 100;
/// Discord's largest emoji allowance; also keeps a pack far below 64 KiB.
pub const MAX_IMAGES: usize = 250;

/// Content of `im.ponies.room_emotes` (stable: `m.image_pack`); the state key
/// names the pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImagePackContent {
    /// Shortcode → image.
    pub images: BTreeMap<String, PackImage>,
    /// Pack metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack: Option<PackInfo>,
}

/// One emoji or sticker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackImage {
    /// The image.
    pub url: String,
    /// Description (alt text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `ImageInfo` as in `m.sticker`; passed through untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Value>,
    /// Overrides the pack's usage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<Usage>,
}

/// Pack metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackInfo {
    /// Name (defaults to the room name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Icon (defaults to the room avatar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// Emoticons, stickers, or (when empty) both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<Usage>,
    /// Credits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
}

/// What an image is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    /// Inline custom emoji (and reactions).
    Emoticon,
    /// Sent on its own as `m.sticker`.
    Sticker,
}

/// MSC2545's shortcode grammar: 1–100 bytes, no `:`, `/` or space.
pub fn is_shortcode(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SHORTCODE_BYTES && !s.contains([':', '/', ' '])
}

impl EventContent for ImagePackContent {
    const EVENT_TYPE: &'static str = super::IMAGE_PACK;
    const STATE_KEY: StateKey = StateKey::Any;

    fn validate(&self) -> Result<(), ValidationError> {
        ids::check_max_entries("images", self.images.len(), MAX_IMAGES)?;
        for (shortcode, image) in &self.images {
            ids::check_grammar("images", shortcode, "MSC2545 shortcode", is_shortcode)?;
            ids::check_mxc("images[].url", &image.url)?;
        }
        if let Some(avatar) = self.pack.as_ref().and_then(|p| p.avatar_url.as_deref()) {
            ids::check_mxc("pack.avatar_url", avatar)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pack_parses() {
        let p: ImagePackContent = serde_json::from_value(json!({
            "images": {
                "partyparrot": {"url": "mxc://example.org/parrot", "usage": ["emoticon"]},
                "wave": {"url": "mxc://example.org/wave", "body": "A waving hand", "usage": ["sticker"]}
            },
            "pack": {"display_name": "Server emoji", "usage": ["emoticon", "sticker"]}
        }))
        .unwrap();
        assert!(p.validate().is_ok());
        assert_eq!(p.images["wave"].usage, [Usage::Sticker]);
    }

    #[test]
    fn shortcodes_follow_msc2545() {
        assert!(is_shortcode("blob_cat"));
        assert!(is_shortcode("ねこ"));
        assert!(!is_shortcode(":blob:"));
        assert!(!is_shortcode("pack/blob"));
        assert!(!is_shortcode("blob cat"));
        assert!(!is_shortcode(""));
        assert!(!is_shortcode(&"a".repeat(101)));
    }

    #[test]
    fn image_urls_must_be_mxc() {
        let p: ImagePackContent =
            serde_json::from_value(json!({"images": {"x": {"url": "https://example.org/x.png"}}})).unwrap();
        assert!(p.validate().is_err());
    }
}
